"""Temporal RBMs (RTRBM, RNN-RBM, LSTM-RTRBM): they compute what the papers define, predict the next
frame of chord piano rolls better than both naive predictors, reconstruct frames better than a
frame-by-frame RBM, generate sequences, and refuse bad input."""
from __future__ import annotations

import numpy as np
import pytest

from accelbrainbase.data import ArrayIterator, chord_rolls, next_frame_baselines
from accelbrainbase.gluon_internals import structural_params
from accelbrainbase.models import LSTMRTRBM, RNNRBM, RTRBM, RestrictedBoltzmannMachines

MODELS = {"rtrbm": RTRBM, "rnn_rbm": RNNRBM, "lstm_rtrbm": LSTMRTRBM}
HIDDEN, EPOCHS, T = 32, 20, 16


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _numpy_reference(model, x):
    """Per-step hidden probabilities and mean-field reconstructions from the definitions, in numpy."""
    p = {name: param.data().asnumpy().astype(np.float64) for name, param in structural_params(model).items()}
    n, steps, _ = x.shape
    u = np.tile(p["initial_state"], (n, 1))
    cell = np.zeros_like(u)
    features, recon = [], []
    for t in range(steps):
        v = x[:, t].astype(np.float64)
        hidden_path = p["recurrent_weight"] if model.mode == "rtrbm" else p["state_hidden_weight"]
        b_v = p["visible_bias"] + u @ p["state_visible_weight"].T
        h = _sigmoid(v @ p["weight"].T + p["hidden_bias"] + u @ hidden_path.T)
        features.append(h)
        recon.append(_sigmoid(h @ p["weight"] + b_v))
        if model.mode == "rtrbm":
            u = h  # r_t is the RBM's own mean-field hidden vector
        elif model.mode == "rnn_tanh":
            u = np.tanh(v @ p["input_weight"].T + u @ p["recurrent_weight"].T + p["recurrent_bias"])
        else:
            z = v @ p["input_weight"].T + u @ p["recurrent_weight"].T + p["recurrent_bias"]
            i, f, g, o = np.split(z, 4, axis=1)  # MXNet's gate order
            cell = _sigmoid(f) * cell + _sigmoid(i) * np.tanh(g)
            u = _sigmoid(o) * np.tanh(cell)
    return np.stack(features, axis=1), np.stack(recon, axis=1)


@pytest.fixture(scope="module")
def rolls():
    x = chord_rolls(500, T, seed=0)
    return x[:300], x[300:]


@pytest.fixture(scope="module")
def small_models(rolls):
    """Each model after two quick epochs (away from its initial point)."""
    x_train, _ = rolls
    models = {}
    for name, cls in MODELS.items():
        # The RNN/LSTM state gets a size of its own (the RTRBM's state is its hidden layer).
        kwargs = {} if cls is RTRBM else {"recurrent_dim": 6}
        models[name] = cls(x_train.shape[2], 8, seed=0, **kwargs).learn(
            ArrayIterator(x_train[:60, :6], batch_size=20, epochs=2, seed=0), verbose=False)
    return models


@pytest.fixture(scope="module")
def trained(rolls):
    """The three models and a frame-by-frame RBM, same hidden size, same epochs and updates."""
    x_train, x_test = rolls
    V = x_train.shape[2]
    models = {name: cls(V, HIDDEN, seed=0).learn(ArrayIterator(x_train, batch_size=20, epochs=EPOCHS, seed=0),
                                                 verbose=False)
              for name, cls in MODELS.items()}
    # Same number of updates per epoch: a batch of 20 sequences is 20 * T frames.
    rbm = RestrictedBoltzmannMachines(V, HIDDEN, seed=0).learn(
        ArrayIterator(x_train.reshape(-1, V), batch_size=20 * T, epochs=EPOCHS, seed=0), verbose=False)
    return models, rbm


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_the_definitions(name, small_models, rolls):
    """States, bias paths, hidden probabilities and reconstructions equal a numpy transcription of
    the papers' equations (this pins the RTRBM's tanh rewrite and the fused operator's layouts)."""
    model = small_models[name]
    x = rolls[1][:5, :7]
    features, recon = _numpy_reference(model, x)
    np.testing.assert_allclose(model.extract_feature_points(x), features, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.inference(x), recon, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_any_batch_size_and_length(name, small_models, rolls):
    model = small_models[name]
    x = rolls[1]
    model.hybridize()
    for n, steps in ((1, 1), (3, 2), (5, 11)):
        part = x[:n, :steps]
        assert model.inference(part).shape == (n, steps, 30)
        assert model.predict_next(part).shape == (n, steps, 30)
        features = model.extract_feature_points(part)
        assert features.shape == (n, steps, 8) and ((features >= 0) & (features <= 1)).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predictions_use_only_the_past(name, small_models, rolls):
    model = small_models[name]
    x = rolls[1][:4, :8].copy()
    before = model.predict_next(x, seed=5)
    x[:, 5:] = 1 - x[:, 5:]  # change the future of step 4
    after = model.predict_next(x, seed=5)
    np.testing.assert_array_equal(before[:, :5], after[:, :5])
    assert np.abs(before[:, 5:] - after[:, 5:]).max() > 0  # the same random numbers: the state differs


def test_imperative_graphs_match_the_compiled_ones(rolls):
    x_train, x_test = rolls
    model = RNNRBM(30, 8, seed=0).learn(ArrayIterator(x_train[:40, :5], batch_size=20, epochs=1, seed=0),
                                        verbose=False)
    compiled = model.extract_feature_points(x_test[:4]), model.predict_next(x_test[:4], seed=1)
    model.hybridize(active=False)
    imperative = model.extract_feature_points(x_test[:4]), model.predict_next(x_test[:4], seed=1)
    for a, b in zip(compiled, imperative):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model.learn(ArrayIterator(x_train[:40, :5], batch_size=20, epochs=1, seed=0), verbose=False)
    assert np.isfinite(model.loss_arr[:, 0]).all()  # imperative training runs too


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sample_generates_sequences(name, small_models, rolls):
    model = small_models[name]
    probabilities = model.sample(steps=6, n=3, gibbs_steps=5, seed=0)
    assert probabilities.shape == (3, 6, 30) and ((probabilities >= 0) & (probabilities <= 1)).all()
    states = model.sample(steps=4, n=2, gibbs_steps=5, return_probabilities=False, seed=0)
    assert states.shape == (2, 4, 30) and set(np.unique(states)) <= {0.0, 1.0}
    np.testing.assert_array_equal(states, model.sample(steps=4, n=2, gibbs_steps=5, return_probabilities=False,
                                                       seed=0))
    continued = model.sample(steps=3, prefix=rolls[1][:5, :4], gibbs_steps=5, seed=0)
    assert continued.shape == (5, 3, 30)
    with pytest.raises(ValueError, match="positive"):
        model.sample(steps=0)


def test_bad_input_is_refused(small_models, rolls):
    model = small_models["rnn_rbm"]
    with pytest.raises(ValueError, match=r"expects \(.\*., 30\)"):
        model.inference(np.zeros((2, 3, 31), dtype=np.float32))
    with pytest.raises(ValueError):
        model.predict_next(np.zeros((2, 30), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        model.extract_feature_points(np.full((1, 2, 30), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expects \(.\*., 30\)"):
        model.learn(ArrayIterator(np.zeros((4, 3, 12), dtype=np.float32), batch_size=2, epochs=1))
    with pytest.raises(ValueError, match=r"x holds values in \[0, 2\].*Bernoulli visible units"):
        model.learn(ArrayIterator(rolls[0][:4] * 2, batch_size=2, epochs=1))
    with pytest.raises(ValueError, match="k"):
        RTRBM(30, 8, k=0)
    with pytest.raises(ValueError, match="positive"):
        LSTMRTRBM(30, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_next_frame_prediction_beats_both_naive_predictors(name, trained, rolls):
    x_train, x_test = rolls
    models, _ = trained
    baselines = next_frame_baselines(x_train, x_test)
    error = float(np.mean(np.square(models[name].predict_next(x_test[:, :-1], seed=0) - x_test[:, 1:])))
    # Measured (seed 0): repeat-last 0.125, mean frame 0.103; RTRBM ~0.07, RNN-RBM / LSTM-RTRBM ~0.06.
    assert error < 0.9 * baselines["mean frame"], (error, baselines)
    assert error < 0.9 * baselines["repeat last frame"], (error, baselines)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_reconstruction_beats_a_frame_by_frame_rbm(name, trained, rolls):
    _, x_test = rolls
    models, rbm = trained
    V = x_test.shape[2]
    rbm_error = float(np.mean(np.square(rbm.inference(x_test.reshape(-1, V)) - x_test.reshape(-1, V))))
    error = float(np.mean(np.square(models[name].inference(x_test) - x_test)))
    assert error < 0.8 * rbm_error, (error, rbm_error)
    # The tracked test loss is this very figure on held-out data.
    assert models[name].loss_arr.shape == (EPOCHS, 2)
