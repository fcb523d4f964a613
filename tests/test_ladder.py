"""Ladder networks: semi-supervised digits with 100 labels, the gain from unlabeled data, the conv
ladder learns, the combinator and the statistics are what the paper says, ``-1`` marks unlabeled."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from accelbrainbase.data import ArrayIterator
from accelbrainbase.models import ConvolutionalLadderNetworks, LadderNetworks, NeuralNetworks
from accelbrainbase.models.ladder import UNLABELED, _combinator

# The acceptance protocol (also `benchmarks/bench_ladder.py`, which averages 3 label seeds).
LABELS_PER_CLASS = 10
EPOCHS = 150
BATCH = 100
CONV_EPOCHS = 30
CONV_TARGET = 0.09  # seed 0: 7.8 % (AVX-512 CPU), 8.3 % (AVX2); chance 0.90; logistic regression on the labels 9.7 %
# Seed 0 alone vs with the unlabeled digits: 9.7 % vs 7.8 % on an AVX-512 CPU, 9.4 % vs 8.3 % on an AVX2
# one (4 of the 360 test digits). A single seed's gain moves with the CPU's rounding, so the bar is two
# test digits; the claim rests on the 3-seed means of benchmarks/bench_ladder.py (11.5 % vs 8.6 %).
CONV_GAIN = 0.005


def choose_labels(y_train: np.ndarray, seed: int, per_class: int = LABELS_PER_CLASS) -> np.ndarray:
    """``y_train`` with all but ``per_class`` labels per class (chosen by ``seed``) set to -1."""
    rng = np.random.RandomState(seed)
    partial = np.full(len(y_train), UNLABELED, dtype=np.float32)
    for k in np.unique(y_train):
        partial[rng.choice(np.flatnonzero(y_train == k), per_class, replace=False)] = k
    return partial


def test_error(model, x_test, y_test) -> float:
    return float((model.inference(x_test).argmax(axis=1) != y_test).mean())


test_error.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def labels_seed0(digits):
    return choose_labels(digits[2], seed=0)


@pytest.fixture(scope="module")
def semi_supervised(digits, labels_seed0):
    """The dense ladder on 100 labels + 1337 unlabeled training digits (label seed 0)."""
    x_train, x_test, _, y_test = digits
    ladder = LadderNetworks(input_dim=64, num_classes=10, seed=0)
    ladder.hybridize()
    ladder.learn(ArrayIterator(x_train, labels_seed0, test_x=x_test, test_y=y_test, batch_size=BATCH,
                               epochs=EPOCHS, seed=0), verbose=False)
    return ladder


@pytest.fixture(scope="module")
def supervised_only(digits, labels_seed0):
    """The same network trained on the 100 labeled digits alone; batch 20 visits every label once per
    epoch, as the semi-supervised run does."""
    x_train, _, _, _ = digits
    labeled = labels_seed0 >= 0
    ladder = LadderNetworks(input_dim=64, num_classes=10, seed=0)
    ladder.hybridize()
    ladder.learn(ArrayIterator(x_train[labeled], labels_seed0[labeled], batch_size=20, epochs=EPOCHS, seed=0),
                 verbose=False)
    return ladder


@pytest.mark.slow
def test_ladder_reaches_5_percent_error_with_100_labels(digits, semi_supervised):
    _, x_test, _, y_test = digits
    error = test_error(semi_supervised, x_test, y_test)
    assert error <= 0.05, error
    assert semi_supervised.history["test_accuracy"][-1] == pytest.approx(1 - error)
    probs = semi_supervised.inference(x_test)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_unlabeled_data_is_what_helps(digits, semi_supervised, supervised_only):
    _, x_test, _, y_test = digits
    with_unlabeled = test_error(semi_supervised, x_test, y_test)
    labels_alone = test_error(supervised_only, x_test, y_test)
    assert labels_alone >= with_unlabeled + 0.02, (labels_alone, with_unlabeled)


def _conv_ladder(images, labels, batch_size):
    ladder = ConvolutionalLadderNetworks(in_channels=1, num_classes=10, channels=(16, 32), seed=0)
    ladder.hybridize()
    return ladder.learn(ArrayIterator(images, labels, batch_size=batch_size, epochs=CONV_EPOCHS, seed=0),
                        verbose=False)


@pytest.mark.slow
def test_conv_ladder_learns_digits_from_100_labels(digits, labels_seed0):
    """The conv ladder beats the same network trained on the 100 labeled images alone."""
    x_train, x_test, _, y_test = digits
    images, test_images = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    labeled = labels_seed0 >= 0
    error = test_error(_conv_ladder(images, labels_seed0, BATCH), test_images, y_test)
    alone = test_error(_conv_ladder(images[labeled], labels_seed0[labeled], 20), test_images, y_test)
    assert error <= CONV_TARGET, error
    assert alone >= error + CONV_GAIN, (alone, error)


def test_combinator_is_the_vanilla_ten_parameter_form():
    rng = np.random.RandomState(0)
    z, u = rng.randn(5, 3).astype(np.float32), rng.randn(5, 3).astype(np.float32)
    a = rng.randn(10, 3).astype(np.float32)
    out = _combinator(mx.nd, mx.nd.array(z), mx.nd.array(u), mx.nd.array(a), 2).asnumpy()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    mu = a[0] * sig(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * sig(a[6] * u + a[7]) + a[8] * u + a[9]
    np.testing.assert_allclose(out, (z - mu) * v + mu, rtol=1e-5, atol=1e-6)
    # Per channel on feature maps: the same form, shared over space.
    maps_z, maps_u = rng.randn(2, 3, 4, 4).astype(np.float32), rng.randn(2, 3, 4, 4).astype(np.float32)
    out = _combinator(mx.nd, mx.nd.array(maps_z), mx.nd.array(maps_u), mx.nd.array(a.reshape(10, 3, 1, 1)), 4)
    a4 = a.reshape(10, 1, 3, 1, 1)
    mu = a4[0] * sig(a4[1] * maps_u + a4[2]) + a4[3] * maps_u + a4[4]
    v = a4[5] * sig(a4[6] * maps_u + a4[7]) + a4[8] * maps_u + a4[9]
    np.testing.assert_allclose(out.asnumpy(), (maps_z - mu) * v + mu, rtol=1e-5, atol=1e-6)


def test_cost_at_start_is_the_paper_formula():
    """At initialization the combinator outputs 0, so without noise and labels the cost is
    ``λ_0 mean(x²) + Σ_l λ_l mean(((0 - μ_l) / σ_l - z_l)²)`` with the clean batch statistics."""
    rng = np.random.RandomState(1)
    x = rng.rand(32, 6).astype(np.float32)
    ladder = LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[5], noise_std=0.0,
                            denoising_weights=[2.0, 3.0, 0.5], seed=0)
    w1, w2 = ladder.w1.data().asnumpy(), ladder.w2.data().asnumpy()
    with autograd.record():
        cost = ladder.compute_loss(mx.nd.array(x), None).asnumpy()

    def bn(z):
        mean, var = z.mean(axis=0), z.var(axis=0)
        return (z - mean) / np.sqrt(var + 1e-5), mean, np.sqrt(var + 1e-5)

    z1, m1, s1 = bn(x @ w1.T)
    z2, m2, s2 = bn(np.maximum(z1, 0) @ w2.T)  # beta starts at 0
    expected = (2.0 * (x ** 2).mean(axis=1) + 3.0 * (((0 - m1) / s1 - z1) ** 2).mean(axis=1)
                + 0.5 * (((0 - m2) / s2 - z2) ** 2).mean(axis=1))
    np.testing.assert_allclose(cost, expected, rtol=1e-4)


def test_supervised_cost_averages_over_the_labeled_samples_only():
    x = np.random.RandomState(2).rand(8, 4).astype(np.float32)
    ladder = LadderNetworks(input_dim=4, num_classes=2, hidden_dims=[3], noise_std=0.0,
                            denoising_weights=[0, 0, 0], seed=0)
    labels = np.array([0, 1, -1, -1, -1, -1, -1, -1], dtype=np.float32)
    with autograd.record():
        cost = ladder.compute_loss(mx.nd.array(x), mx.nd.array(labels)).asnumpy()
        # Without noise the corrupted path is the clean path with batch statistics (training mode).
        probs = ladder._predict_graph(mx.nd, mx.nd.array(x), {k: p.data() for k, p in ladder._reg_params.items()})
    nll = -np.log(probs.asnumpy()[[0, 1], [0, 1]])
    # Two labeled samples of eight: each weighs 8 / 2, so the batch mean is their mean cross-entropy.
    np.testing.assert_allclose(cost[:2], nll * 4, rtol=1e-4)
    assert not cost[2:].any()
    assert cost.mean() == pytest.approx(nll.mean(), rel=1e-4)


def test_batches_without_labels_train_on_the_denoising_cost():
    rng = np.random.RandomState(3)
    x = rng.rand(40, 6).astype(np.float32)
    ladder = LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[8], learning_rate=0.01, seed=0)
    before = ladder.w1.data().asnumpy().copy()
    ladder.learn(ArrayIterator(x, np.full(40, -1.0), batch_size=10, epochs=5, seed=0), verbose=False)
    assert np.isfinite(ladder.loss_arr[:, 0]).all() and ladder.loss_arr[-1, 0] < ladder.loss_arr[0, 0]
    assert not np.allclose(before, ladder.w1.data().asnumpy())
    # No y at all is the same: every sample unlabeled.
    LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[8], seed=0).learn(
        ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)


def test_prediction_uses_running_statistics():
    rng = np.random.RandomState(4)
    x = rng.rand(64, 6).astype(np.float32)
    ladder = LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[8], seed=0)
    ladder.learn(ArrayIterator(x, rng.randint(-1, 3, 64), batch_size=16, epochs=3, seed=0), verbose=False)
    assert ladder.running_var1.data().asnumpy().std() > 0  # updated by training
    together = ladder.inference(x)
    one_by_one = np.concatenate([ladder.inference(x[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(together[:4], one_by_one, rtol=1e-5, atol=1e-6)


def test_labels_minus_one_only_mark_unlabeled_samples():
    x = np.random.RandomState(5).rand(20, 6).astype(np.float32)
    ladder = LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[4], seed=0)
    for bad in (3, -2, 0.5):
        y = np.zeros(20)
        y[0] = bad
        with pytest.raises(ValueError, match="outside 0..2 and -1"):
            ladder.learn(ArrayIterator(x, y, batch_size=10, epochs=1), verbose=False)
    with pytest.raises(ValueError, match="shape"):
        ladder.learn(ArrayIterator(x, np.zeros((20, 2)), batch_size=10, epochs=1), verbose=False)
    with pytest.raises(ValueError, match=r"expects \(6,\)"):
        ladder.learn(ArrayIterator(np.zeros((20, 5)), np.zeros(20), batch_size=10, epochs=1), verbose=False)
    # -1 stays an error for the supervised classifiers.
    with pytest.raises(ValueError, match="outside"):
        NeuralNetworks(input_dim=6, num_classes=3).learn(ArrayIterator(x, -np.ones(20), batch_size=10), verbose=False)


def test_constructor_checks():
    with pytest.raises(ValueError, match="one weight per layer"):
        LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[4], denoising_weights=[1, 1])
    with pytest.raises(ValueError, match="noise_std"):
        LadderNetworks(input_dim=6, num_classes=3, noise_std=-1)
    with pytest.raises(ValueError, match="num_classes"):
        LadderNetworks(input_dim=6, num_classes=1)
    with pytest.raises(ValueError, match="pool needs one flag"):
        ConvolutionalLadderNetworks(in_channels=1, num_classes=3, channels=[4, 8], pool=[True])
    with pytest.raises(ValueError, match="odd"):
        ConvolutionalLadderNetworks(in_channels=1, num_classes=3, kernel_size=4)


def test_zero_weights_switch_off_the_unused_decoder():
    ladder = LadderNetworks(input_dim=6, num_classes=3, hidden_dims=[4], denoising_weights=[0, 0, 1.0], seed=0)
    assert ladder.v1.grad_req == "null" and ladder.v2.grad_req == "null" and ladder.a1.grad_req == "null"
    assert ladder.a2.grad_req == "write"
    x = np.random.RandomState(6).rand(20, 6).astype(np.float32)
    ladder.learn(ArrayIterator(x, np.arange(20) % 3, batch_size=10, epochs=2, seed=0), verbose=False)
    assert np.isfinite(ladder.loss_arr).all() or np.isnan(ladder.loss_arr[:, 1]).all()


def test_conv_ladder_handles_odd_image_sizes():
    rng = np.random.RandomState(7)
    x = rng.rand(12, 2, 7, 5).astype(np.float32)
    ladder = ConvolutionalLadderNetworks(in_channels=2, num_classes=3, channels=[4, 6], seed=0)
    ladder.hybridize()
    ladder.learn(ArrayIterator(x, rng.randint(-1, 3, 12), batch_size=6, epochs=2, seed=0), verbose=False)
    assert np.isfinite(ladder.loss_arr[:, 0]).all()
    assert ladder.inference(x).shape == (12, 3)


def test_conv_decoder_is_the_transposed_convolution():
    ladder = ConvolutionalLadderNetworks(in_channels=2, num_classes=3, channels=[5], pool=[False], seed=0)
    z_hat = mx.nd.random.normal(shape=(3, 5, 6, 6))
    params = {k: p.data() for k, p in ladder._reg_params.items()}
    ours = ladder._decode(mx.nd, 1, z_hat, None, params)
    reference = mx.nd.Deconvolution(z_hat, params["v1"], kernel=(3, 3), pad=(1, 1), num_filter=2, no_bias=True)
    np.testing.assert_allclose(ours.asnumpy(), reference.asnumpy(), rtol=1e-4, atol=1e-5)
