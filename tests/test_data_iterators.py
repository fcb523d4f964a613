"""Iterators: ArrayIterator, SequenceIterator, the image-folder and the CSV iterators."""
import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from accelbrainbase.data import (
    ArrayIterator,
    GaussNoise,
    ImageExtractor,
    LabeledCSVIterator,
    LabeledImageIterator,
    SequenceIterator,
    UnlabeledCSVIterator,
    UnlabeledImageIterator,
)
from accelbrainbase.interfaces import IteratableData


def _data(n=50, d=4, seed=0):
    rs = np.random.RandomState(seed)
    return rs.rand(n, d).astype(np.float32), (np.arange(n) % 3).astype(np.float32)


def _epoch_x(it, epoch):
    return np.concatenate([x.asnumpy() for x, _ in it.train_batches(epoch)])


# ----------------------------------------------------------------------------------------- ArrayIterator


def test_batch_shapes_iter_n_and_partial_last_batch():
    x, y = _data(50)
    it = ArrayIterator(x, y, batch_size=16, epochs=2, seed=0)
    assert isinstance(it, IteratableData)
    batches = list(it.train_batches(0))
    assert it.iter_n == len(batches) == 4
    assert [b[0].shape for b in batches] == [(16, 4), (16, 4), (16, 4), (2, 4)]
    assert [b[1].shape for b in batches] == [(16,), (16,), (16,), (2,)]
    assert batches[0][0].dtype == np.float32
    # An epoch visits every sample exactly once.
    seen = np.sort(_epoch_x(it, 0), axis=0)
    np.testing.assert_array_equal(seen, np.sort(x, axis=0))


def test_drop_last():
    x, _ = _data(50)
    it = ArrayIterator(x, batch_size=16, drop_last=True, seed=0)
    batches = list(it.train_batches(0))
    assert it.iter_n == len(batches) == 3
    assert all(b[0].shape == (16, 4) for b in batches)
    assert all(b[1] is None for b in batches)


@pytest.mark.parametrize("shape", [(20, 3, 5), (20, 1, 6, 6), (20, 4, 1, 3, 3)])
def test_ranks_3_to_5(shape):
    x = np.random.RandomState(0).rand(*shape)
    x_batch, _ = next(ArrayIterator(x, batch_size=8, seed=0).train_batches(0))
    assert x_batch.shape == (8,) + shape[1:]


def test_generate_learned_samples_covers_every_epoch_with_test_batches():
    x, y = _data(50)
    it = ArrayIterator(x, y, test_size=0.2, batch_size=8, epochs=3, seed=0)
    samples = list(it.generate_learned_samples())
    assert len(samples) == it.iter_n * it.epochs == 5 * 3
    for _bx, _by, tx, ty in samples:
        assert tx is not None and ty is not None and tx.shape[1:] == (4,) and len(tx) == len(ty)
    inferenced = list(it.generate_inferenced_samples())
    assert sum(len(b[0]) for b in inferenced) == it.n_test == 10


def test_test_size_split_sizes_and_disjointness():
    x, y = _data(50)
    it = ArrayIterator(x, y, test_size=0.2, batch_size=8, seed=0)
    assert (it.n_train, it.n_test) == (40, 10)
    assert it.test_y.shape == (10,)
    train_rows = {tuple(r) for r in it.x.asnumpy()}
    test_rows = {tuple(r) for r in it.test_x.asnumpy()}
    assert not train_rows & test_rows
    assert len(train_rows | test_rows) == 50


def test_same_seed_same_batches_and_epochs_differ():
    x, y = _data(50)
    a = ArrayIterator(x, y, batch_size=8, seed=3)
    b = ArrayIterator(x, y, batch_size=8, seed=3)
    np.testing.assert_array_equal(_epoch_x(a, 0), _epoch_x(b, 0))
    np.testing.assert_array_equal(_epoch_x(a, 1), _epoch_x(b, 1))
    assert not np.array_equal(_epoch_x(a, 0), _epoch_x(a, 1))
    c = ArrayIterator(x, y, batch_size=8, seed=4)
    assert not np.array_equal(_epoch_x(a, 0), _epoch_x(c, 0))


def test_no_shuffle_keeps_order():
    x, _ = _data(20)
    it = ArrayIterator(x, batch_size=8, shuffle=False)
    np.testing.assert_array_equal(_epoch_x(it, 0), x)


def test_noise_gives_noisy_input_and_clean_target():
    x, _ = _data(40)
    mx.random.seed(0)
    it = ArrayIterator(x, batch_size=8, seed=0, noiseable_data=GaussNoise(0.5))
    rows = {tuple(r) for r in x}
    for noisy, clean in it.train_batches(0):
        assert clean is not None and noisy.shape == clean.shape
        assert all(tuple(r) in rows for r in clean.asnumpy())  # the target is real, clean data
        assert np.abs(noisy.asnumpy() - clean.asnumpy()).mean() > 0.1


def test_labelled_data_with_noise_keeps_the_labels():
    x = np.repeat(np.arange(30, dtype=np.float32)[:, None], 4, axis=1)  # row i is all i
    y = np.arange(30, dtype=np.float32)
    mx.random.seed(0)
    it = ArrayIterator(x, y, batch_size=10, seed=0, noiseable_data=GaussNoise(0.01))
    for noisy, labels in it.train_batches(0):
        assert labels.shape == (10,)
        np.testing.assert_allclose(noisy.asnumpy().mean(axis=1), labels.asnumpy(), atol=0.05)
        assert not np.array_equal(noisy.asnumpy()[:, 0], labels.asnumpy())


def test_batches_are_created_on_the_given_context():
    x, y = _data(30)
    it = ArrayIterator(x, y, test_size=0.2, batch_size=8, ctx=mx.cpu(1), seed=0)
    bx, by, tx, ty = next(it.generate_learned_samples())
    assert {a.context for a in (bx, by, tx, ty)} == {mx.cpu(1)}
    it = ArrayIterator(x, batch_size=8, ctx=[mx.cpu(1), mx.cpu(0)], seed=0)
    assert next(it.train_batches(0))[0].context == mx.cpu(1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=np.array([[1.0, np.nan], [0.0, 1.0]])), "NaN"),
        (dict(x=np.zeros((0, 4))), "empty"),
        (dict(x=np.zeros((10, 4)), batch_size=11), "larger than the 10"),
        (dict(x=np.zeros((10, 4)), y=np.zeros(9)), "y has 9"),
        (dict(x=np.zeros(10)), "rank"),
        (dict(x=np.zeros((10, 4)), test_x=np.zeros((5, 3))), r"\(3,\)"),
        (dict(x=np.zeros((10, 4)), test_size=0.9), "test_size"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    kwargs.setdefault("batch_size", 2)
    with pytest.raises(ValueError, match=message):
        ArrayIterator(**kwargs)


# -------------------------------------------------------------------------------------- SequenceIterator


def test_sequence_iterator_univariate_reconstruct():
    series = np.arange(10, dtype=np.float32)
    it = SequenceIterator(series, seq_len=4, batch_size=3, shuffle=False)
    assert it.x.shape == (7, 4, 1) and it.n_features == 1
    np.testing.assert_array_equal(it.x.asnumpy()[:, :, 0], [np.arange(i, i + 4) for i in range(7)])
    np.testing.assert_array_equal(it.y.asnumpy(), it.x.asnumpy())
    x, y = next(it.train_batches(0))
    assert x.shape == y.shape == (3, 4, 1)


def test_sequence_iterator_multivariate_stride_and_next_target():
    t = np.arange(20, dtype=np.float32)
    series = np.stack([t, 100 + t, -t], axis=1)  # (20, 3)
    it = SequenceIterator(series, seq_len=5, stride=3, target="next", batch_size=2, shuffle=False)
    # Windows of 6 points starting at 0, 3, ..., 12.
    assert it.x.shape == it.y.shape == (5, 5, 3)
    x, y = it.x.asnumpy(), it.y.asnumpy()
    np.testing.assert_array_equal(x[:, 0, 0], [0, 3, 6, 9, 12])
    np.testing.assert_array_equal(x[1, :, 1], 100 + np.arange(3, 8))
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # y is x one step ahead
    np.testing.assert_array_equal(y[:, -1, 0], x[:, -1, 0] + 1)


def test_sequence_iterator_chronological_split_without_overlap():
    it = SequenceIterator(np.arange(100.0), seq_len=10, test_size=0.2, batch_size=4, seed=0)
    last_train_step = it.x.asnumpy().max()
    first_test_step = it.test_x.asnumpy().min()
    assert last_train_step < first_test_step
    assert it.n_test == round(91 * 0.2)


def test_sequence_iterator_errors():
    with pytest.raises(ValueError, match="5 time steps"):
        SequenceIterator(np.arange(5.0), seq_len=6, batch_size=1)
    with pytest.raises(ValueError, match="seq_len \\+ 1"):
        SequenceIterator(np.arange(5.0), seq_len=5, target="next", batch_size=1)
    with pytest.raises(ValueError, match="target"):
        SequenceIterator(np.arange(5.0), seq_len=2, target="previous", batch_size=1)
    with pytest.raises(ValueError, match="rank"):
        SequenceIterator(np.zeros((5, 2, 2)), seq_len=2, batch_size=1)


# ---------------------------------------------------------------------------------------- image folders


@pytest.fixture
def image_folder(tmp_path):
    rs = np.random.RandomState(0)
    for name, count in (("cat", 3), ("dog", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            pixels = rs.randint(0, 256, size=(8, 8)).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / name / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_labeled_image_iterator(image_folder):
    it = LabeledImageIterator(image_folder, ImageExtractor(8, 8), batch_size=5, shuffle=False)
    assert it.class_names == ["cat", "dog"]
    assert len(it.paths) == 5 and it.x.shape == (5, 1, 8, 8)
    np.testing.assert_array_equal(it.y.asnumpy(), [0, 0, 0, 1, 1])
    expected = np.asarray(Image.open(image_folder / "dog" / "1.png"), dtype=np.float32) / 255
    np.testing.assert_allclose(it.x.asnumpy()[4, 0], expected, rtol=1e-6)
    x, y = next(it.train_batches(0))
    assert x.shape == (5, 1, 8, 8) and y.shape == (5,)


def test_unlabeled_image_iterator_is_recursive(image_folder):
    it = UnlabeledImageIterator(image_folder, ImageExtractor(4, 4, channels=3), batch_size=2, seed=0)
    assert it.x.shape == (5, 3, 4, 4)
    assert it.paths == sorted(it.paths)
    assert next(it.train_batches(0))[1] is None


def test_image_iterators_on_empty_or_missing_folders(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path)):
        UnlabeledImageIterator(tmp_path, ImageExtractor(8, 8))
    with pytest.raises(ValueError, match=str(tmp_path)):
        LabeledImageIterator(tmp_path, ImageExtractor(8, 8))
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="empty_class"):
        LabeledImageIterator(tmp_path, ImageExtractor(8, 8))
    with pytest.raises(FileNotFoundError, match="missing"):
        UnlabeledImageIterator(tmp_path / "missing", ImageExtractor(8, 8))


def test_corrupt_image_error_names_the_file(image_folder):
    bad = image_folder / "dog" / "x.png"
    bad.write_bytes(b"\x89PNG this is not really a png")
    with pytest.raises(ValueError, match="x.png"):
        LabeledImageIterator(image_folder, ImageExtractor(8, 8), batch_size=2)


# ------------------------------------------------------------------------------------------ CSV files


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b,label,c\n1,2,0,3\n4,5,1,6\n7,8,1,9\n10,11,0,12\n")
    return path


def test_labeled_csv_iterator(csv_file):
    it = LabeledCSVIterator(csv_file, label_column=2, batch_size=2, shuffle=False)
    np.testing.assert_array_equal(it.x.asnumpy(), [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])
    np.testing.assert_array_equal(it.y.asnumpy(), [0, 1, 1, 0])
    x, y = next(it.train_batches(0))
    assert x.shape == (2, 3) and y.shape == (2,)
    last = LabeledCSVIterator(csv_file, batch_size=2)  # default: the last column is the label
    np.testing.assert_array_equal(np.sort(last.y.asnumpy()), [3, 6, 9, 12])
    with pytest.raises(ValueError, match="label_column"):
        LabeledCSVIterator(csv_file, label_column=4, batch_size=2)


def test_unlabeled_csv_iterator(csv_file):
    it = UnlabeledCSVIterator(csv_file, batch_size=3, test_size=0.25, seed=0)
    assert (it.n_train, it.n_test) == (3, 1)
    assert it.sample_shape == (4,)
    assert next(it.train_batches(0))[0].shape == (3, 4)


def test_split_rows_stay_matched_to_their_files_and_lines(image_folder, csv_file):
    it = LabeledImageIterator(image_folder, ImageExtractor(8, 8), test_size=0.4, batch_size=2, seed=0)
    assert len(it.train_paths) == 3 and len(it.test_paths) == 2
    assert sorted(it.train_paths + it.test_paths) == sorted(it.paths)
    for row, path in enumerate(it.test_paths):
        expected = np.asarray(Image.open(path), dtype=np.float32) / 255
        np.testing.assert_allclose(it.test_x.asnumpy()[row, 0], expected, rtol=1e-6)
    assert UnlabeledImageIterator(image_folder, ImageExtractor(8, 8), batch_size=2).test_paths == []
    table = UnlabeledCSVIterator(csv_file, batch_size=1, test_size=0.25, seed=0)
    lines = np.loadtxt(csv_file, delimiter=",", skiprows=1, dtype=np.float32)
    np.testing.assert_array_equal(table.test_x.asnumpy(), lines[table.test_index])
    np.testing.assert_array_equal(table.x.asnumpy(), lines[table.train_index])


def test_sliding_windows_and_back_to_steps():
    from accelbrainbase.data import sliding_windows, windows_to_steps

    series = np.stack([np.arange(10.0), -np.arange(10.0)], axis=1)
    windows = sliding_windows(series, seq_len=4, stride=3)
    assert windows.shape == (3, 4, 2)
    np.testing.assert_array_equal(windows[1, :, 0], [3, 4, 5, 6])
    np.testing.assert_array_equal(sliding_windows(list(range(5)), 5)[0, :, 0], np.arange(5))
    steps = windows_to_steps([1.0, 2.0, 4.0], n_steps=10, seq_len=4, stride=3, reduce="max")
    np.testing.assert_array_equal(steps, [1, 1, 1, 2, 2, 2, 4, 4, 4, 4])
    per_step = windows_to_steps(np.arange(12.0).reshape(3, 4), n_steps=11, seq_len=4, stride=3)
    assert np.isnan(per_step[-1]) and per_step[3] == (3 + 4) / 2
    with pytest.raises(ValueError, match="fewer than seq_len"):
        sliding_windows(np.zeros(3), 4)
    with pytest.raises(ValueError, match="3 windows"):
        windows_to_steps([1.0, 2.0], n_steps=10, seq_len=4, stride=3)
