"""Every snippet of USAGE.md (the public API as users type it), run as written.

Each test runs one family's snippet with USAGE.md's class, argument and method names and call
shapes. Only the inputs USAGE.md leaves undefined (``x_train``, ``x_binary``, ``sequences``,
``windows``, ``videos``, ``images``, ``mask``, ``env``, ``state``, ...) and its ``...``
placeholders are supplied here, from tiny bundled data; where a snippet would train for long,
only its numbers (``epochs=``, ``total_steps=``, ``steps=``, ``episodes=``) are smaller. Each
test then checks what the snippet returned (shapes, types, finite values, files, round trips).
"""
from __future__ import annotations

import math
import os

import mxnet as mx
import numpy as np
import pytest

import accelbrainbase as abb
from accelbrainbase.data import ArrayIterator

# USAGE.md's header line, as written.
ctx = mx.gpu(0) if mx.context.num_gpus() else mx.cpu()   # nothing else in the code mentions a device


def _finite(a) -> bool:
    return bool(np.all(np.isfinite(np.asarray(a, dtype=np.float64))))


@pytest.fixture(scope="module")
def digit_split():
    """``x_train, x_test, y_train, y_test``: scikit-learn digits in [0, 1], split 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.2, random_state=0)


@pytest.fixture(scope="module")
def binary_digits(digit_split):
    """``x_binary`` (training digits thresholded at 0.5) and the binary test digits."""
    x_train, x_test, _, _ = digit_split
    return (x_train > 0.5).astype(np.float32), (x_test > 0.5).astype(np.float32)


@pytest.fixture(scope="module")
def labeled_it(digit_split):
    """USAGE.md's ``it`` (the Data snippet's labeled iterator), with fewer epochs."""
    x_train, x_test, y_train, y_test = digit_split
    return ArrayIterator(x_train, y_train, test_x=x_test, test_y=y_test, batch_size=64, epochs=3, ctx=ctx, seed=0)


def test_registry():
    from accelbrainbase.models import RestrictedBoltzmannMachines

    rbm = abb.get_model("rbm", visible_dim=64, hidden_dim=100)
    assert isinstance(rbm, RestrictedBoltzmannMachines) and (rbm.visible_dim, rbm.hidden_dim) == (64, 100)
    assert rbm.inference(np.zeros((2, 64), dtype=np.float32)).shape == (2, 64)


# ---------------------------------------------------------------------------------------- Data
def test_data(digit_split):
    from accelbrainbase.data import GaussNoise

    x_train, x_test, y_train, y_test = digit_split

    it = ArrayIterator(x_train, y_train, test_x=x_test, test_y=y_test,   # y optional; or test_size=0.2
                       batch_size=64, epochs=30, ctx=ctx, seed=0)
    assert (it.n_train, it.n_test, it.epochs, it.iter_n) == (len(x_train), len(x_test), 30,
                                                             math.ceil(len(x_train) / 64))
    xb, yb = next(it.train_batches(epoch=0))
    assert xb.shape == (64, 64) and yb.shape == (64,) and xb.context == ctx
    # the held-out data is the given test set, in order
    tx, ty = next(it.test_batches())
    np.testing.assert_allclose(tx.asnumpy(), x_test[:64], rtol=0, atol=0)
    np.testing.assert_array_equal(ty.asnumpy(), y_test[:64])

    # "y optional; or test_size=0.2"
    split = ArrayIterator(x_train, y_train, test_size=0.2, batch_size=64, epochs=30, ctx=ctx, seed=0)
    assert split.n_test == round(0.2 * len(x_train)) and split.n_train + split.n_test == len(x_train)
    unlabeled = ArrayIterator(x_train, batch_size=64, epochs=30, ctx=ctx, seed=0)
    assert next(unlabeled.train_batches(0))[1] is None

    it = ArrayIterator(x_train, batch_size=64, epochs=30, noiseable_data=GaussNoise(0.2))  # denoising
    noisy, clean = next(it.train_batches(epoch=0))
    assert noisy.shape == clean.shape == (64, 64)
    # the target is the clean batch: rows of x_train; the input is it plus N(0, 0.2^2) noise
    clean_np = clean.asnumpy()
    assert np.isin(clean_np.round(6), x_train.round(6)).all()
    assert 0.15 < float((noisy.asnumpy() - clean_np).std()) < 0.25


# ---------------------------------------------------------------------------- Boltzmann machines
@pytest.mark.slow
def test_boltzmann_machines_rbm(binary_digits):
    from accelbrainbase.models import RestrictedBoltzmannMachines

    x_binary, x_test = binary_digits

    rbm = RestrictedBoltzmannMachines(visible_dim=64, hidden_dim=100, k=1, persistent=True, ctx=ctx, seed=0)
    rbm.learn(ArrayIterator(x_binary, batch_size=20, epochs=5, ctx=ctx, seed=0))
    features = rbm.extract_feature_points(x_binary)      # hidden probabilities
    samples = rbm.sample(16, steps=100)
    log_z = rbm.log_partition(method="ais")              # or "exact" for <= 20 hidden units
    ll = rbm.log_likelihood(x_test)                      # per-sample, nats
    rbm.loss_arr                                         # (epochs, 2): train, test reconstruction error  # noqa: B018 - USAGE.md's line

    # hidden probabilities: sigmoid(W v + b_h)
    weight, hidden_bias = rbm.weight.data().asnumpy(), rbm.hidden_bias.data().asnumpy()
    expected = 1.0 / (1.0 + np.exp(-(x_binary @ weight.T + hidden_bias)))
    assert features.shape == (len(x_binary), 100)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    assert samples.shape == (16, 64) and 0 <= samples.min() and samples.max() <= 1
    assert isinstance(log_z, float) and math.isfinite(log_z)
    # per-sample log p(v) = -F(v) - log Z, with the same (seeded) AIS estimate of log Z
    assert ll.shape == (len(x_test),) and _finite(ll) and (ll < 0).all()
    np.testing.assert_allclose(ll, -rbm.free_energy(x_test) - log_z, rtol=1e-6)
    assert rbm.loss_arr.shape == (5, 2) and _finite(rbm.loss_arr[:, 0])
    assert rbm.loss_arr[-1, 0] < rbm.loss_arr[0, 0]


@pytest.mark.slow
def test_boltzmann_machines_dbm(digit_split, labeled_it):
    from accelbrainbase.models import DeepBoltzmannMachines

    x_train, x_test, _, _ = digit_split
    x = np.concatenate([x_train, x_test])
    x_test = x_test[:40]          # log-likelihood by AIS per sample costs ~0.1 s a sample
    it = labeled_it

    dbm = DeepBoltzmannMachines([64, 100, 50], ctx=ctx, seed=0)   # pre-training, then joint training
    dbm.learn(it)
    codes = dbm.extract_feature_points(x, layer=2)
    ll = dbm.log_likelihood(x_test, method="ais")

    assert codes.shape == (len(x), 50) and 0 <= codes.min() and codes.max() <= 1
    assert ll.shape == (len(x_test),) and _finite(ll)
    assert dbm.loss_arr.shape == (3, 2) and _finite(dbm.loss_arr)


# --------------------------------------------------------- Temporal and shape Boltzmann machines
def test_temporal_boltzmann_machines():
    from accelbrainbase.data import moving_digit_sprites
    from accelbrainbase.models import LSTMRTRBM, RNNRBM, RTRBM, ShapeBoltzmannMachine
    from accelbrainbase.models.base import ObservableModel

    assert all(issubclass(cls, ObservableModel) for cls in (RTRBM, RNNRBM, LSTMRTRBM, ShapeBoltzmannMachine))

    # 16x16 binary videos of a moving digit: V = 256 as in USAGE.md
    sequences = moving_digit_sprites(40, 6, canvas=16, binarize=0.5, seed=0).reshape(40, 6, 256)

    rt = LSTMRTRBM(visible_dim=256, hidden_dim=100, seed=0)       # sequences (N, T, V)
    rt.learn(ArrayIterator(sequences, batch_size=20, epochs=3))
    next_frames = rt.predict_next(sequences[:, :-1])               # (N, T-1, V)
    generated = rt.sample(steps=20)

    assert next_frames.shape == (40, 5, 256) and 0 <= next_frames.min() and next_frames.max() <= 1
    assert generated.shape == (16, 20, 256) and _finite(generated)
    assert rt.loss_arr.shape == (3, 2) and _finite(rt.loss_arr[:, 0])


def test_shape_boltzmann_machine():
    from accelbrainbase.data import horse_silhouettes
    from accelbrainbase.models import ShapeBoltzmannMachine

    binary_images = horse_silhouettes(40, 32, seed=0)
    images = horse_silhouettes(4, 32, seed=1)
    mask = np.zeros((32, 32), dtype=bool)
    mask[16:, :] = True                                            # the lower half is unknown

    sbm = ShapeBoltzmannMachine(height=32, width=32, filter_size=18, overlap_n=4, seed=0)
    sbm.learn(ArrayIterator(binary_images, batch_size=20, epochs=2))
    restored = sbm.inpaint(images, mask)                           # mask: (H, W) bool, True = unknown

    assert restored.shape == (4, 32, 32) and 0 <= restored.min() and restored.max() <= 1
    # known pixels are clamped to the input
    np.testing.assert_array_equal(restored[:, ~mask], images[:, ~mask])


# -------------------------------------------------------------- Dense, convolutional and ladder
def test_dense_models(digit_split, labeled_it):
    from accelbrainbase.models import AutoEncoder, NeuralNetworks

    it = labeled_it
    x_test = digit_split[1]

    clf = NeuralNetworks(input_dim=64, hidden_dims=[128], num_classes=10, ctx=ctx).learn(it)
    ae = AutoEncoder(input_dim=64, hidden_dims=[32], tied_weights=True).learn(it)

    assert isinstance(clf, NeuralNetworks) and isinstance(ae, AutoEncoder)
    probs = clf.inference(x_test)
    assert probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs.argmax(axis=1) == digit_split[3]).mean() > 0.8
    assert ae.inference(x_test).shape == x_test.shape and ae.extract_feature_points(x_test).shape == (len(x_test), 32)
    assert ae.loss_arr[-1, 1] < ae.loss_arr[0, 1]


def test_convolutional_models(digit_split):
    from accelbrainbase.models import ContractiveCAE, ConvolutionalNeuralNetworks

    x_train, x_test, y_train, y_test = digit_split
    x, y = x_train[:320], y_train[:320]
    images = x_train[:64].reshape(-1, 1, 8, 8)

    cnn = ConvolutionalNeuralNetworks(num_classes=10).learn(ArrayIterator(x.reshape(-1, 1, 8, 8), y))
    probs = cnn.inference(x_test.reshape(-1, 1, 8, 8))            # (N, 10)
    cae = ContractiveCAE(in_channels=1, contractive_weight=0.1).learn(ArrayIterator(images))

    assert isinstance(cnn, ConvolutionalNeuralNetworks) and isinstance(cae, ContractiveCAE)
    assert probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs.argmax(axis=1) == y_test).mean() > 0.8            # 10 epochs on 320 digits: ~0.97
    assert cae.loss_arr.shape == (10, 2) and _finite(cae.loss_arr[:, 0])
    assert cae.inference(images).shape == images.shape


def test_ladder_networks(digit_split):
    from accelbrainbase.models import LadderNetworks

    x_train, x_test, y_train, y_test = digit_split
    x = x_train
    y_with_minus_ones = np.where(np.arange(len(y_train)) < 100, y_train, -1)   # 100 labels

    ladder = LadderNetworks(input_dim=64, num_classes=10)          # y == -1 marks an unlabeled sample
    ladder.learn(ArrayIterator(x, y_with_minus_ones, batch_size=100, epochs=3))

    probs = ladder.inference(x_test)
    assert probs.shape == (len(x_test), 10) and _finite(probs)
    assert (probs.argmax(axis=1) == y_test).mean() > 0.5             # 3 epochs, 100 labels: ~0.75
    assert ladder.loss_arr.shape == (3, 2)


# ----------------------------------------------------- Recurrent models and anomaly detection
def test_encoder_decoder_anomaly_detection():
    from accelbrainbase.data import co2_windows, inject_anomalies
    from accelbrainbase.models import EncoderDecoder

    windows, normal_validation_windows, normal_test = co2_windows(52, stride=8)
    windows_test = np.concatenate([normal_test, inject_anomalies(normal_test, seed=0)[0]])

    encdec = EncoderDecoder(input_dim=1, hidden_dim=64, attention=False, seed=0)
    encdec.learn(ArrayIterator(windows, windows, batch_size=32, epochs=5))   # (N, T, F)
    encdec.fit_anomaly_detector(normal_validation_windows)         # EncDec-AD: error distribution, threshold
    scores = encdec.anomaly_score(windows_test)                    # (N,)
    flags = encdec.predict_anomaly(windows_test)                   # (N,) bool

    n = len(windows_test)
    assert scores.shape == (n,) and _finite(scores)
    assert flags.shape == (n,) and flags.dtype == np.bool_
    # the injected anomalies score higher than the normal windows they were made of
    assert scores[len(normal_test):].mean() > scores[:len(normal_test)].mean()


def test_conv_lstm_encoder_decoder():
    from accelbrainbase.data import moving_digit_sprites
    from accelbrainbase.models import ConvLSTMEncoderDecoder

    videos = moving_digit_sprites(32, 5, canvas=12, seed=0)        # (N, T, 1, 12, 12)
    videos_test = moving_digit_sprites(4, 5, canvas=12, seed=1)

    conv = ConvLSTMEncoderDecoder(in_channels=1, hidden_channels=16, seed=0)
    conv.learn(ArrayIterator(videos[:, :-1], videos[:, 1:]))       # (N, T, C, H, W)
    next_frames = conv.inference(videos_test[:, :-1])

    assert next_frames.shape == videos_test[:, 1:].shape and _finite(next_frames)
    assert conv.loss_arr.shape == (10, 2) and conv.loss_arr[-1, 0] < conv.loss_arr[0, 0]


# ------------------------------------------------------------------------ Adversarial models
def test_adversarial_models(digit_split, labeled_it):
    from accelbrainbase.controllers import AAEController, ConditionalGANController, GANController
    from accelbrainbase.data import NormalNoiseSampler

    x = digit_split[0]
    it = labeled_it

    gan = GANController.for_vectors(data_dim=64, noise_dim=16, ctx=ctx, seed=0)   # MLP players; or pass your own
    gan.learn(ArrayIterator(x, batch_size=64, epochs=3))
    fake = gan.generate(100)
    aae = AAEController.for_vectors(data_dim=64, code_dim=2, prior=NormalNoiseSampler(64, 2, seed=0), seed=0).learn(it)
    codes = aae.extract_feature_points(x)

    assert issubclass(ConditionalGANController, GANController)
    assert fake.shape == (100, 64) and _finite(fake)
    assert 0 <= fake.min() and fake.max() <= 1                    # sigmoid outputs, like the digits
    assert isinstance(aae, AAEController)
    assert codes.shape == (len(x), 2) and _finite(codes)


# ---------------------------------------------------------------------- Reinforcement learning
def test_reinforcement_learning():
    import gymnasium as gym

    from accelbrainbase.controllers import DQNController

    env = gym.make("CartPole-v1")
    dqn = DQNController.for_env(env, seed=0)          # MLP Q-network sized from the spaces; or pass your own
    dqn.learn(env, total_steps=1_500)
    mean_return = dqn.evaluate(gym.make("CartPole-v1"), episodes=5)
    state, _ = env.reset(seed=0)
    action = dqn.act(state)

    assert dqn.num_timesteps == 1_500 and dqn.num_updates > 0      # past learning_starts: it trained
    assert len(dqn.episode_returns) > 0 and dqn.episode_lengths.sum() <= 1_500
    assert isinstance(mean_return, float) and 1 <= mean_return <= 500
    assert len(dqn.last_evaluation) == 5 and mean_return == pytest.approx(dqn.last_evaluation.mean())
    assert isinstance(action, (int, np.integer)) and action in (0, 1)


# ------------------------------------------------------------------ Saving, loading, exporting
def test_saving_loading_exporting(tmp_path, monkeypatch, binary_digits):
    from accelbrainbase.models import RestrictedBoltzmannMachines

    monkeypatch.chdir(tmp_path)
    x_binary, x_test = binary_digits
    it = ArrayIterator(x_binary, batch_size=20, epochs=2, ctx=ctx, seed=0)
    model = RestrictedBoltzmannMachines(visible_dim=64, hidden_dim=100, ctx=ctx, seed=0).learn(it)
    before = model.inference(x_test)

    model.save("rbm.params")                          # hyper-parameters + weights
    model = RestrictedBoltzmannMachines.load("rbm.params", ctx=ctx)
    assert os.path.isfile(tmp_path / "rbm.params")
    np.testing.assert_array_equal(model.inference(x_test), before)
    assert (model.visible_dim, model.hidden_dim) == (64, 100)

    model.learn(it, checkpoint_dir="ckpt/", resume=True)
    assert (tmp_path / "ckpt" / "checkpoint.json").is_file()
    # the loaded model keeps its history: this call's 2 epochs follow the saved 2
    assert model.loss_arr.shape == (4, 2) and _finite(model.loss_arr[:, 0])
    after = model.inference(x_test)
    assert not np.array_equal(after, before)          # it trained on
    # run again, it resumes after the last checkpointed epoch: nothing left to do, history kept
    history = model.loss_arr.copy()
    model.learn(it, checkpoint_dir="ckpt/", resume=True)
    np.testing.assert_array_equal(model.loss_arr, history)
    np.testing.assert_array_equal(model.inference(x_test), after)

    model.export("rbm")                               # hybridized symbol + params for deployment
    assert (tmp_path / "rbm-symbol.json").is_file() and (tmp_path / "rbm-0000.params").is_file()
    deployed = mx.gluon.SymbolBlock.imports("rbm-symbol.json", ["data"], "rbm-0000.params", ctx=ctx)
    np.testing.assert_allclose(deployed(mx.nd.array(x_test, ctx=ctx)).asnumpy(), after, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------- Your own data and parts
def test_your_own_data_and_parts(digit_split, tmp_path, monkeypatch):
    from mxnet import gluon

    from accelbrainbase.controllers import GANController
    from accelbrainbase.data import NormalNoiseSampler
    from accelbrainbase.models import AutoEncoder, DiscriminativeModel, GenerativeModel, NeuralNetworks

    monkeypatch.chdir(tmp_path)
    x_train, x_test, y_train, y_test = digit_split
    y_train, y_test = y_train.astype(np.float32), y_test.astype(np.float32)
    clf = NeuralNetworks(input_dim=64, hidden_dims=[128], num_classes=10, ctx=ctx)
    ae = AutoEncoder(input_dim=64, hidden_dims=[32], tied_weights=True)

    train = gluon.data.DataLoader(gluon.data.ArrayDataset(x_train, y_train), batch_size=64, shuffle=True)
    test = gluon.data.DataLoader(gluon.data.ArrayDataset(x_test, y_test), batch_size=256)
    clf.learn(train, test_data=test, epochs=3)                    # same history as with ArrayIterator
    ae.learn(x_train, epochs=3, batch_size=32, test_size=0.2)     # arrays directly
    assert clf.history.keys() == ["test_accuracy", "test_loss", "train_loss"]
    assert clf.history["test_accuracy"][-1] > 0.8
    assert ae.loss_arr.shape == (3, 2) and _finite(ae.loss_arr)

    g = gluon.nn.HybridSequential(); g.add(gluon.nn.Dense(128, activation="relu"), gluon.nn.Dense(64))  # noqa: E702
    d = gluon.nn.HybridSequential(); d.add(gluon.nn.Dense(128, activation="relu"), gluon.nn.Dense(1))   # noqa: E702
    gan = GANController(GenerativeModel(g, NormalNoiseSampler(64, 16)), DiscriminativeModel(d), seed=0)
    gan.learn(train, epochs=2)
    gan.save_parameters("gan.params")                              # into an identically built controller
    assert gan.loss_arr.shape == (2, 2) and _finite(gan.loss_arr[:, 0])
    g2 = gluon.nn.HybridSequential(); g2.add(gluon.nn.Dense(128, activation="relu"), gluon.nn.Dense(64))  # noqa: E702
    d2 = gluon.nn.HybridSequential(); d2.add(gluon.nn.Dense(128, activation="relu"), gluon.nn.Dense(1))   # noqa: E702
    twin = GANController(GenerativeModel(g2, NormalNoiseSampler(64, 16)), DiscriminativeModel(d2), seed=1)
    twin.learn(train, epochs=1)  # shapes resolved, then the saved weights replace its own
    twin.load_parameters("gan.params")
    z = mx.nd.random.normal(shape=(4, 16))
    np.testing.assert_allclose(twin(z).asnumpy(), gan(z).asnumpy(), rtol=1e-6)


def test_your_own_series_tools():
    from accelbrainbase.data import sliding_windows
    from accelbrainbase.models import EncoderDecoder

    rng = np.random.RandomState(0)
    series = (np.sin(np.arange(1200) / 6.0) + 0.05 * rng.randn(1200)).astype(np.float32)
    normal_windows = sliding_windows(series[800:1100], seq_len=40, stride=1)
    encdec = EncoderDecoder(input_dim=1, hidden_dim=16, attention=False, seed=0)

    windows = sliding_windows(series[:800], seq_len=40, stride=1)  # (N, 40, F) from a (T,) or (T, F) series
    encdec.learn(windows, epochs=2)
    encdec.fit_anomaly_detector(normal_windows, false_alarm_rate=0.01)
    step_scores = encdec.series_anomaly_score(series)              # (T,): one score per time step

    assert windows.shape == (761, 40, 1)
    assert step_scores.shape == series.shape and _finite(step_scores)


# --------------------------------------------------------------------------- Training in steps
def test_training_in_steps(digit_split, tmp_path, monkeypatch):
    from accelbrainbase.models import AutoEncoder

    monkeypatch.chdir(tmp_path)
    x_train = digit_split[0]
    it = ArrayIterator(x_train, batch_size=64, ctx=ctx, seed=0)
    model = AutoEncoder(input_dim=64, hidden_dims=[32], seed=0)

    model.learn(it, epochs=3)
    model.learn(it, epochs=3)          # continues: model.history and loss_arr cover all 6 epochs
    assert model.loss_arr.shape == (6, 2)
    model.save("m.params")             # weights, hyper-parameters and optimizer state
    model = AutoEncoder.load("m.params").learn(it, epochs=2)   # carries on where it stopped
    assert model.loss_arr.shape == (8, 2)
    model.learn(it, epochs=1, checkpoint_dir="ckpt/")
    model = AutoEncoder.load("ckpt/")   # a checkpoint directory opens the same way
    assert model.loss_arr.shape == (9, 2) and _finite(model.loss_arr[:, 0])
