"""training.fit: resume, NaN guard, early stopping, callbacks, clipping, regularizers, schedules."""
from __future__ import annotations

import json
import os

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase import IteratableData
from accelbrainbase.data import ArrayIterator
from accelbrainbase.models import AutoEncoder, NeuralNetworks
from accelbrainbase.regularizers import ConstrainWeights
from accelbrainbase.training import CHECKPOINT_FILE, Callback, History, TrainingDivergedError, clip_gradients


def _blobs(n=120, dim=6, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(classes, dim) * 3
    y = rng.randint(0, classes, n)
    return (centers[y] + rng.randn(n, dim)).astype(np.float32), y


def _params(model):
    return {k: v.data(model.ctx[0]).asnumpy() for k, v in model._collect_params_with_prefix().items()}


def _mlp(**kw):
    kw.setdefault("seed", 0)
    kw.setdefault("learning_rate", 0.01)
    return NeuralNetworks(input_dim=6, hidden_dims=[16], num_classes=3, **kw)


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    x, y = _blobs()
    # Dropout makes the run depend on MXNet's random stream, which resume must reproduce too.
    it = ArrayIterator(x, y, test_size=0.2, batch_size=16, epochs=6, seed=0)
    full = _mlp(dropout=0.3).learn(it, verbose=False, checkpoint_dir=str(tmp_path / "full"))

    def crash_after_third(model, epoch, logs):
        if epoch == 2:
            raise _Interrupt

    ckpt = str(tmp_path / "interrupted")
    with pytest.raises(_Interrupt):
        _mlp(dropout=0.3).learn(it, verbose=False, checkpoint_dir=ckpt, callbacks=[crash_after_third])
    with open(os.path.join(ckpt, CHECKPOINT_FILE)) as f:
        assert json.load(f)["epoch"] == 2
    # A new process: a fresh model with the same seed picks up from the checkpoint.
    resumed = _mlp(dropout=0.3).learn(it, verbose=False, checkpoint_dir=ckpt, resume=True)
    assert resumed.loss_arr.shape == (6, 2)
    np.testing.assert_allclose(resumed.loss_arr, full.loss_arr, rtol=1e-6)
    expected = _params(full)
    for key, value in _params(resumed).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


def test_checkpoints_keep_only_the_latest_complete_set(tmp_path):
    x, y = _blobs()
    _mlp().learn(ArrayIterator(x, y, batch_size=32, epochs=3, seed=0), verbose=False,
                 checkpoint_dir=str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert names == [CHECKPOINT_FILE, "epoch-0002.params"]


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    x, y = _blobs()
    model = _mlp().learn(ArrayIterator(x, y, batch_size=32, epochs=2, seed=0), verbose=False,
                         checkpoint_dir=str(tmp_path / "new"), resume=True)
    assert model.loss_arr.shape == (2, 2)


def test_nan_stops_with_the_epoch_named_and_keeps_last_finite_parameters():
    x, y = _blobs()
    model = NeuralNetworks(input_dim=6, hidden_dims=[16], output_dim=1, seed=0, optimizer="sgd",
                           learning_rate=0.01)
    target = x.sum(axis=1, keepdims=True)
    it = ArrayIterator(x, target, batch_size=16, epochs=2, seed=0)
    model.learn(it, verbose=False)
    before = _params(model)
    model.learning_rate = 1e6
    model.trainers = {}  # new trainers with the new rate
    with pytest.raises(TrainingDivergedError, match=r"epoch 3/4"):  # the third epoch of the model
        model.learn(it, verbose=False)
    after = _params(model)
    for key, value in after.items():
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(value, before[key])


def test_early_stopping_waits_patience_epochs():
    x, y = _blobs()
    it = ArrayIterator(x, y, test_size=0.2, batch_size=16, epochs=50, seed=0)
    # No improvement can beat a tolerance of 100: epoch 1 sets the best, 2 and 3 are bad -> stop.
    model = _mlp().learn(it, verbose=False, tol=100.0, patience=2)
    assert model.loss_arr.shape == (3, 2)


def test_callbacks_are_called_and_can_stop():
    x, y = _blobs()
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, model):
            calls.append("begin")

        def on_epoch_end(self, model, epoch, logs):
            calls.append(("epoch", epoch, sorted(logs)))

        def on_train_end(self, model, history):
            calls.append(("end", len(history)))

    stop_at_second = lambda model, epoch, logs: epoch == 1  # noqa: E731
    _mlp().learn(ArrayIterator(x, y, test_size=0.2, batch_size=16, epochs=10, seed=0), verbose=False,
                 callbacks=[Recorder(), stop_at_second])
    assert calls[0] == "begin" and calls[-1] == ("end", 2)
    assert calls[1] == ("epoch", 0, ["test_accuracy", "test_loss", "train_loss"])


def test_history_and_loss_arr_without_test_data():
    x, y = _blobs()
    model = _mlp().learn(ArrayIterator(x, y, batch_size=16, epochs=3, seed=0), verbose=False)
    assert isinstance(model.history, History)
    assert model.loss_arr.shape == (3, 2)
    assert np.isnan(model.loss_arr[:, 1]).all() and np.isfinite(model.loss_arr[:, 0]).all()
    np.testing.assert_array_equal(model.history["train_loss"], model.loss_arr[:, 0])


def test_learning_continues_across_learn_calls():
    x, y = _blobs()
    it = ArrayIterator(x, y, batch_size=16, epochs=2, seed=0)
    model = _mlp().learn(it, verbose=False)
    first = model.loss_arr[-1, 0]
    model.learn(it, verbose=False)
    assert model.loss_arr[-1, 0] < first
    assert model.loss_arr.shape == (4, 2) and len(model.history) == 4


def test_two_learn_calls_equal_one_longer_call():
    """Epoch numbers, shuffles, noise and the optimizer state carry on across calls."""
    x, y = _blobs()
    it = ArrayIterator(x, y, batch_size=16, epochs=2, seed=0)
    stepwise = _mlp(dropout=0.3).learn(it, verbose=False).learn(it, verbose=False)
    straight = _mlp(dropout=0.3).learn(it, epochs=4, verbose=False)
    np.testing.assert_array_equal(stepwise.loss_arr, straight.loss_arr)
    expected = _params(straight)
    for key, value in _params(stepwise).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


def test_clip_gradients_bounds_the_mean_gradient_norm():
    param = mx.gluon.Parameter("w", shape=(3, 4))
    param.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    for g in param.list_grad():
        g[:] = 10.0  # summed gradient of a batch of 2 -> mean gradient norm = 5 * sqrt(12)
    clip_gradients([param], max_norm=1.0, batch_size=2)
    for g in param.list_grad():
        assert abs(float(mx.nd.norm(g).asscalar()) / 2 - 1.0) < 1e-4
    for g in param.list_grad():
        g[:] = 0.1
    clip_gradients([param], max_norm=1.0, batch_size=2)  # already small: untouched
    np.testing.assert_allclose(param.list_grad()[0].asnumpy(), 0.1)


def test_clip_norm_limits_each_update():
    x, y = _blobs()
    model = _mlp()
    model.optimizer, model.learning_rate = "sgd", 1.0
    before = _params(model)
    model.learn(ArrayIterator(x, y, batch_size=len(x), epochs=1, seed=0), verbose=False, clip_norm=0.01)
    step = np.sqrt(sum(((v - before[k]) ** 2).sum() for k, v in _params(model).items()))
    assert step <= 0.01 + 1e-5


def test_max_norm_regularizer_is_applied_after_each_step():
    x, y = _blobs()
    model = _mlp(learning_rate=0.1)
    model.learn(ArrayIterator(x, y, batch_size=16, epochs=3, seed=0), verbose=False,
                regularizers=[ConstrainWeights(0.5)])
    for name, value in _params(model).items():
        if name.endswith("weight"):
            assert np.linalg.norm(value, axis=1).max() <= 0.5 + 1e-4, name


def test_lr_scheduler_is_used():
    x, y = _blobs()
    it = ArrayIterator(x, y, batch_size=30, epochs=2, seed=0)  # 4 updates per epoch
    model = _mlp().learn(it, verbose=False, lr_scheduler=mx.lr_scheduler.FactorScheduler(step=4, factor=0.5))
    assert model.trainers["model"].learning_rate == pytest.approx(0.01 * 0.5 ** 1)


def test_data_parallel_training_equals_single_device_training():
    x, y = _blobs()
    it = ArrayIterator(x, y, batch_size=20, epochs=3, seed=0)
    single = _mlp(ctx=mx.cpu(0)).learn(it, verbose=False)
    double = _mlp(ctx=[mx.cpu(0), mx.cpu(1)]).learn(it, verbose=False)
    expected = _params(single)
    for key, value in _params(double).items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_batch_smaller_than_the_device_count_uses_only_its_own_gradient():
    x, y = _blobs(n=41)  # batches of 20, 20 and a last one of a single sample
    it = ArrayIterator(x, y, batch_size=20, epochs=2, seed=0)
    single = _mlp(ctx=mx.cpu(0)).learn(it, verbose=False)
    triple = _mlp(ctx=[mx.cpu(0), mx.cpu(1), mx.cpu(2)]).learn(it, verbose=False)
    expected = _params(single)
    for key, value in _params(triple).items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_no_host_sync_per_batch(monkeypatch):
    """Loss values leave the device once per epoch, however many batches there are."""
    x, y = _blobs(n=400)
    counts = {}
    for batch_size in (100, 10):
        calls = []
        for method in ("asnumpy", "asscalar"):
            original = getattr(mx.nd.NDArray, method)

            def counting(self, _original=original, _calls=calls):
                _calls.append(1)
                return _original(self)

            monkeypatch.setattr(mx.nd.NDArray, method, counting)
        model = NeuralNetworks(input_dim=6, hidden_dims=[8], output_dim=1, seed=0)
        model.learn(ArrayIterator(x, y[:, None], batch_size=batch_size, epochs=3, seed=0), verbose=False)
        monkeypatch.undo()
        counts[batch_size] = len(calls)
    assert counts[10] == counts[100], counts  # 40 vs 4 batches per epoch: same number of syncs


class _OldStyleIterator(IteratableData):
    """The predecessor's interface only: generate_learned_samples, no train_batches."""

    def generate_learned_samples(self):
        yield from ()


def test_an_iterator_without_train_batches_is_refused_naming_the_method():
    with pytest.raises(TypeError, match="train_batches"):
        _OldStyleIterator()


class _DocstringIterator(IteratableData):
    """Written from IteratableData's docstring alone: required train_batches, optional test_batches."""

    epochs = 4

    def __init__(self, x, y, x_test, y_test):
        self.x, self.y, self.x_test, self.y_test = x, y, x_test, y_test

    def train_batches(self, epoch=0):
        order = np.random.RandomState(epoch).permutation(len(self.x))
        for part in np.array_split(order, 6):
            yield mx.nd.array(self.x[part]), mx.nd.array(self.y[part])

    def test_batches(self):
        yield mx.nd.array(self.x_test), mx.nd.array(self.y_test)


def test_a_minimal_iteratable_data_gets_test_loss_accuracy_shape_checks_and_sharding():
    x, y = _blobs()
    data = _DocstringIterator(x[:100], y[:100], x[100:], y[100:])
    model = _mlp().learn(data, verbose=False)
    assert model.loss_arr.shape == (4, 2) and np.isfinite(model.loss_arr).all()
    assert model.loss_arr[-1, 0] < model.loss_arr[0, 0]
    assert model.history["test_accuracy"][-1] > 0.8
    with pytest.raises(ValueError, match=r"per-sample shape \(6,\)"):
        NeuralNetworks(input_dim=5, hidden_dims=[4], num_classes=3).learn(data, verbose=False)
    with pytest.raises(ValueError, match="labels outside 0..1"):
        NeuralNetworks(input_dim=6, hidden_dims=[4], num_classes=2).learn(data, verbose=False)
    parts = [data.shard(2, i) for i in range(2)]
    halves = [[b[0].shape[0] for b in part.train_batches(0)] for part in parts]
    assert halves[0] == halves[1] and sum(halves[0]) * 2 <= 100


def test_bad_fit_arguments():
    x, y = _blobs()
    it = ArrayIterator(x, y, batch_size=16, epochs=2)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _mlp().learn(it, resume=True)
    with pytest.raises(ValueError, match="patience"):
        _mlp().learn(it, patience=0)


def test_autoencoder_denoising_through_the_iterator_uses_clean_targets():
    from accelbrainbase.interfaces import NoiseableData

    class Shift(NoiseableData):
        """A deterministic 'noise' that makes the target visible: input + 1 against the clean input."""

        def noise(self, arr, F=None):
            return arr + 1.0

    x = np.random.RandomState(0).rand(50, 6).astype(np.float32)
    it = ArrayIterator(x, batch_size=50, epochs=1, shuffle=False, noiseable_data=Shift())
    noisy, clean = next(it.train_batches(0))
    np.testing.assert_allclose(noisy.asnumpy(), x + 1.0)
    np.testing.assert_allclose(clean.asnumpy(), x)
    ae = AutoEncoder(input_dim=6, hidden_dims=[4], seed=0)
    loss = ae.compute_loss(noisy, clean).asnumpy()
    expected = ((ae.inference(x + 1.0) - x) ** 2).mean(axis=1)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
