"""ConvLSTM models: next-frame prediction on moving digit sprites against both baselines,
reconstruction, the spatio-temporal auto-encoder's anomaly scores, variable shapes, bad input."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.data import ArrayIterator, moving_digit_sprites, next_frame_baselines
from accelbrainbase.models import ConvLSTMCell, ConvLSTMEncoderDecoder, ConvLSTMNetworks, SpatioTemporalAutoEncoder


@pytest.fixture(scope="module")
def sprites():
    return moving_digit_sprites(128, 10, canvas=24, seed=0), moving_digit_sprites(64, 10, canvas=24, seed=1)


@pytest.mark.slow
def test_conv_lstm_next_frame_beats_copy_last_and_mean_frame(sprites):
    train, test = sprites
    model = ConvLSTMEncoderDecoder(in_channels=1, hidden_channels=16, kernel_size=3, patch_size=4,
                                   learning_rate=0.02, seed=0)
    model.hybridize()
    model.learn(ArrayIterator(train[:, :-1], train[:, 1:], batch_size=8, epochs=20, seed=0), verbose=False)
    pred = model.inference(test[:, :-1])
    assert pred.shape == test[:, 1:].shape
    mse = float(((pred - test[:, 1:]) ** 2).mean())
    naive = next_frame_baselines(train.reshape(len(train), 10, -1), test.reshape(len(test), 10, -1))
    copy_last, mean_frame = naive["repeat last frame"], naive["mean frame"]
    # Measured: MSE 0.0139, copy last frame 0.0274, mean frame 0.0241.
    assert mse <= 0.7 * copy_last, (mse, copy_last, mean_frame)
    assert mse <= 0.7 * mean_frame, (mse, copy_last, mean_frame)


@pytest.mark.parametrize("cls, kwargs", [
    (ConvLSTMNetworks, dict(hidden_channels=[4, 3], patch_size=2)),
    (ConvLSTMNetworks, dict(hidden_channels=[4], patch_size=1, output="last", loss="mse")),
    (ConvLSTMEncoderDecoder, dict(hidden_channels=[4, 3], patch_size=2, task="predict")),
    (ConvLSTMEncoderDecoder, dict(hidden_channels=4, patch_size=2, task="reconstruct")),
    (SpatioTemporalAutoEncoder, dict(channels=[4, 4], hidden_channels=3)),
])
def test_video_models_take_any_batch_length_and_frame_size_after_hybridize(cls, kwargs):
    rng = np.random.RandomState(0)
    model = cls(in_channels=1, seed=0, **kwargs)
    x = rng.rand(3, 4, 1, 8, 8).astype(np.float32)
    imperative = model.inference(x)
    model.hybridize()
    np.testing.assert_allclose(model.inference(x), imperative, rtol=1e-4, atol=1e-5)
    for n, t, side in ((1, 2, 8), (5, 7, 16), (2, 3, 12 if cls is not SpatioTemporalAutoEncoder else 8)):
        out = model.inference(rng.rand(n, t, 1, side, side))
        expected = (n, 1, side, side) if kwargs.get("output") == "last" else (n, t, 1, side, side)
        assert out.shape == expected and np.isfinite(out).all()
    y = None if cls is SpatioTemporalAutoEncoder or kwargs.get("task") == "reconstruct" else \
        (rng.rand(6, 1, 8, 8) if kwargs.get("output") == "last" else rng.rand(6, 5, 1, 8, 8))
    model.learn(ArrayIterator(rng.rand(6, 5, 1, 8, 8), y, batch_size=3, epochs=2, seed=0), verbose=False)
    assert np.isfinite(model.loss_arr[:, 0]).all()


@pytest.mark.slow
def test_spatio_temporal_autoencoder_scores_corrupted_frames_higher(sprites):
    from sklearn.metrics import roc_auc_score

    train, test = sprites
    model = SpatioTemporalAutoEncoder(in_channels=1, channels=[8, 16], hidden_channels=8, seed=0)
    model.hybridize()
    model.learn(ArrayIterator(train[:96], batch_size=8, epochs=4, seed=0), verbose=False)
    corrupted = test.copy()
    rng = np.random.RandomState(3)
    labels = np.zeros(test.shape[:2], bool)
    for n in range(len(test)):  # a bright 6x6 blob appears in one frame of each video
        t, r, c = rng.randint(10), rng.randint(0, 18), rng.randint(0, 18)
        corrupted[n, t, 0, r:r + 6, c:c + 6] = 1.0
        labels[n, t] = True
    scores = model.anomaly_score(corrupted)
    assert scores.shape == (64, 10)
    assert roc_auc_score(labels.ravel(), scores.ravel()) > 0.9
    regular = model.regularity_score(corrupted)
    assert regular.min() >= 0 and regular.max() <= 1


def test_conv_lstm_cell_is_a_gluon_recurrent_cell():
    cell = ConvLSTMCell(in_channels=2, hidden_channels=3, kernel_size=3)
    cell.initialize()
    x = mx.nd.random.uniform(shape=(4, 5, 2, 6, 7))   # (N, T, C, H, W)
    frames = [x[:, t] for t in range(5)]
    states = cell.begin_state_like(mx.nd, frames[0])
    for frame in frames:
        out, states = cell(frame, states)
    hs, cs, final = cell.unroll_sequence(mx.nd, x)
    assert hs.shape == (4, 5, 3, 6, 7)
    np.testing.assert_allclose(final[0].asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hs[:, -1].asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final[1].asnumpy(), states[1].asnumpy(), rtol=1e-5, atol=1e-6)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(1, 4, kernel_size=4)
    with pytest.raises(ValueError, match="bce"):
        ConvLSTMNetworks(in_channels=1, output_activation="identity", loss="bce")
    model = ConvLSTMEncoderDecoder(in_channels=1, hidden_channels=4, patch_size=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        model.inference(np.zeros((2, 3, 1, 10, 10)))
    with pytest.raises(ValueError, match=r"\(3, 2, 8, 8\).*'\*', 1"):
        model.inference(np.zeros((2, 3, 2, 8, 8)))
    with pytest.raises(ValueError, match="task"):
        ConvLSTMEncoderDecoder(in_channels=1, task="dream")


def test_hybridized_graphs_are_kept_per_sequence_length_and_export_for_one(tmp_path):
    rng = np.random.RandomState(1)
    model = ConvLSTMEncoderDecoder(in_channels=1, hidden_channels=3, patch_size=2, task="reconstruct", seed=0)
    videos = {t: rng.rand(2, t, 1, 8, 8).astype(np.float32) for t in (3, 5)}
    imperative = {t: model.inference(v) for t, v in videos.items()}
    model.hybridize()
    first = {}
    for t in (3, 5, 3, 5):   # alternating lengths reuse the graph built for each
        out = model.inference(videos[t])
        np.testing.assert_allclose(out, imperative[t], rtol=1e-4, atol=1e-5)
        first.setdefault(t, model._cached_op)
        assert model._cached_op is first[t]
    assert first[3] is not first[5]
    # The exported graph is unrolled for one length, chosen by `steps`.
    symbol_file, params_file = model.export(str(tmp_path / "video"), steps=5)
    block = mx.gluon.SymbolBlock.imports(symbol_file, ["data"], params_file)
    np.testing.assert_allclose(block(mx.nd.array(videos[5])).asnumpy(), imperative[5], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="steps"):
        model.export(str(tmp_path / "bad"), steps=0)
    with pytest.raises(ValueError, match="steps"):
        model.encoder[0].unroll_sequence(mx.sym, mx.sym.var("x"))
