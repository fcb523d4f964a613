"""Any data a Gluon user has goes into learn(): DataLoader, Dataset, DataIter, arrays, DataFrames."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from accelbrainbase.data import (
    ArrayIterator,
    GaussNoise,
    LoaderData,
    NoisyData,
    ShardedData,
    apply_noise,
    as_iteratable,
)
from accelbrainbase.models import AutoEncoder, NeuralNetworks


def _clf(**kw):
    return NeuralNetworks(input_dim=64, hidden_dims=[64], num_classes=10, seed=0, learning_rate=3e-3, **kw)


def test_a_labelled_dataloader_gives_the_history_of_an_array_iterator(digits):
    x_train, x_test, y_train, y_test = digits
    train = gluon.data.DataLoader(gluon.data.ArrayDataset(x_train, y_train.astype(np.float32)), batch_size=64,
                                  shuffle=True)
    test = gluon.data.DataLoader(gluon.data.ArrayDataset(x_test, y_test.astype(np.float32)), batch_size=256)
    from_loader = _clf().learn(train, test_data=test, epochs=8, verbose=0)
    from_arrays = _clf().learn(ArrayIterator(x_train, y_train, test_x=x_test, test_y=y_test, batch_size=64, epochs=8,
                                             seed=0), verbose=0)
    assert from_loader.history.keys() == from_arrays.history.keys() == ["test_accuracy", "test_loss", "train_loss"]
    assert from_loader.loss_arr.shape == from_arrays.loss_arr.shape == (8, 2)
    assert from_loader.history["test_accuracy"][-1] > 0.9 and from_arrays.history["test_accuracy"][-1] > 0.9
    assert abs(from_loader.history["test_accuracy"][-1] - from_arrays.history["test_accuracy"][-1]) < 0.04


@pytest.mark.parametrize("kind", ["arrays", "lists", "ndarrays", "dataframe", "dataset", "ndarrayiter"])
def test_every_kind_of_data_trains(kind, digits):
    pd = pytest.importorskip("pandas")
    x, _, y, _ = digits
    x, y = x[:400], y[:400]
    model = _clf()
    if kind == "arrays":
        model.learn(x, y, epochs=3, batch_size=32, test_size=0.2, verbose=0)
    elif kind == "lists":
        model.learn(x.tolist(), y.tolist(), epochs=3, batch_size=32, verbose=0)
    elif kind == "ndarrays":
        model.learn(mx.nd.array(x), mx.nd.array(y), epochs=3, batch_size=32, test_data=(x[:50], y[:50]), verbose=0)
    elif kind == "dataframe":
        model.learn(pd.DataFrame(x), pd.Series(y), epochs=3, batch_size=32, verbose=0)
    elif kind == "dataset":
        model.learn(gluon.data.ArrayDataset(x, y.astype(np.float32)), batch_size=32, epochs=3,
                    test_data=gluon.data.ArrayDataset(x[:50], y[:50].astype(np.float32)), verbose=0)
    else:
        model.learn(mx.io.NDArrayIter(x, y, batch_size=32, shuffle=True, last_batch_handle="pad"), epochs=3,
                    test_data=mx.io.NDArrayIter(x[:50], y[:50], batch_size=32), verbose=0)
    assert model.loss_arr.shape == (3, 2)
    assert np.isfinite(model.loss_arr[:, 0]).all() and model.loss_arr[-1, 0] < model.loss_arr[0, 0]


def test_unsupported_data_is_refused_naming_the_accepted_kinds():
    with pytest.raises(TypeError, match="DataLoader.*Dataset.*DataIter.*numpy"):
        _clf().learn({"x": 1})
    with pytest.raises(TypeError, match="test_data"):
        _clf().learn(np.zeros((8, 64)), np.zeros(8), test_data="held-out.csv")
    with pytest.raises(ValueError, match="only apply to array data"):
        _clf().learn(ArrayIterator(np.zeros((8, 64)), np.zeros(8), batch_size=4), batch_size=2)


def test_a_dataset_is_shuffled_per_epoch_so_two_calls_equal_one():
    rng = np.random.RandomState(0)
    x = rng.rand(96, 6).astype(np.float32)
    ds = gluon.data.ArrayDataset(x)
    stepwise = AutoEncoder(6, [3], seed=0).learn(ds, batch_size=16, epochs=2, verbose=0)
    stepwise.learn(ds, batch_size=16, epochs=2, verbose=0)
    straight = AutoEncoder(6, [3], seed=0).learn(ds, batch_size=16, epochs=4, verbose=0)
    np.testing.assert_array_equal(stepwise.loss_arr, straight.loss_arr)


def test_test_data_in_any_form_gives_a_test_loss(digits):
    x, x_test, y, y_test = digits
    it = ArrayIterator(x[:200], y[:200], batch_size=50, epochs=2, seed=0)
    forms = [(x_test[:60], y_test[:60]), ArrayIterator(x_test[:60], y_test[:60], batch_size=60),
             gluon.data.ArrayDataset(x_test[:60], y_test[:60].astype(np.float32)),
             gluon.data.DataLoader(gluon.data.ArrayDataset(x_test[:60], y_test[:60].astype(np.float32)), batch_size=20),
             mx.io.NDArrayIter(x_test[:60], y_test[:60], batch_size=20)]
    results = [_clf().learn(it, test_data=form, verbose=0).history["test_loss"] for form in forms]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-5)


def test_noisy_data_wraps_any_iterator_with_the_denoising_rule():
    x = np.random.RandomState(0).rand(32, 5).astype(np.float32)
    loader = LoaderData(gluon.data.DataLoader(gluon.data.ArrayDataset(x), batch_size=8))
    noisy = NoisyData(loader, GaussNoise(0.5))
    for (nx, target), (clean, _) in zip(noisy.train_batches(0), loader.train_batches(0)):
        np.testing.assert_array_equal(target.asnumpy(), clean.asnumpy())
        assert np.abs(nx.asnumpy() - clean.asnumpy()).mean() > 0.1
    labelled_x, labels = apply_noise(GaussNoise(0.5), mx.nd.array(x), mx.nd.ones(32), training=False)
    np.testing.assert_array_equal(labelled_x.asnumpy(), x)  # augmentation leaves held-out inputs alone
    ae = AutoEncoder(5, [3], seed=0).learn(noisy, epochs=2, verbose=0)
    assert np.isfinite(ae.loss_arr[:, 0]).all()


def test_sharded_data_cuts_every_batch_into_equal_parts():
    whole = ArrayIterator(np.arange(22.0).reshape(11, 2), batch_size=5, shuffle=False)
    parts = [ShardedData(whole, 2, i) for i in range(2)]
    rows = [[x[:, 0].asnumpy().tolist() for x, _ in part.train_batches(0)] for part in parts]
    assert rows == [[[0.0, 2.0], [10.0, 12.0]], [[4.0, 6.0], [14.0, 16.0]]]  # the last row alone is skipped
    with pytest.raises(ValueError, match="part_index"):
        ShardedData(whole, 2, 2)


def test_array_iterator_keeps_the_source_rows_of_its_split():
    x = np.arange(40.0).reshape(20, 2)
    it = as_iteratable(x, np.arange(20), test_size=0.25, batch_size=4, seed=0)
    np.testing.assert_array_equal(it.x.asnumpy(), x[it.train_index])
    np.testing.assert_array_equal(it.test_x.asnumpy(), x[it.test_index])
    assert sorted(np.r_[it.train_index, it.test_index].tolist()) == list(range(20))
