"""Dense models: they learn digits, tie weights for real, denoise, sparsify, and refuse bad input."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

import accelbrainbase as abb
from accelbrainbase.data import ArrayIterator
from accelbrainbase.interfaces import NoiseableData
from accelbrainbase.models import AutoEncoder, NeuralNetworks

MEAN_PREDICTOR_MSE = 0.074  # predicting the per-pixel training mean on the digits test split


@pytest.mark.slow
def test_tied_autoencoder_reconstructs_digits(digits):
    x_train, x_test, _, _ = digits
    mean_mse = float(((x_test - x_train.mean(axis=0)) ** 2).mean())
    assert abs(mean_mse - MEAN_PREDICTOR_MSE) < 0.005
    ae = AutoEncoder(input_dim=64, hidden_dims=[32], tied_weights=True, seed=0)
    ae.hybridize()
    ae.learn(ArrayIterator(x_train, test_x=x_test, batch_size=32, epochs=50, seed=0), verbose=False)
    test_mse = float(((ae.inference(x_test) - x_test) ** 2).mean())
    assert test_mse <= 0.015, test_mse
    assert ae.loss_arr[-1, 1] == pytest.approx(test_mse, rel=1e-3)


@pytest.mark.slow
def test_mlp_classifies_digits(digits):
    x_train, x_test, y_train, y_test = digits
    clf = NeuralNetworks(input_dim=64, hidden_dims=[128], num_classes=10, seed=0)
    clf.hybridize()
    clf.learn(ArrayIterator(x_train, y_train, test_x=x_test, test_y=y_test, batch_size=32, epochs=30, seed=0),
              verbose=False)
    probs = clf.inference(x_test)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = float((probs.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.95, accuracy
    assert clf.history["test_accuracy"][-1] == pytest.approx(accuracy)
    assert clf.extract_feature_points(x_test).shape == (len(x_test), 128)


def test_mlp_regression_learns_a_linear_map():
    rng = np.random.RandomState(0)
    x = rng.randn(400, 5).astype(np.float32)
    y = x @ rng.randn(5, 2).astype(np.float32)
    reg = NeuralNetworks(input_dim=5, hidden_dims=[32], output_dim=2, learning_rate=0.01, seed=0)
    reg.learn(ArrayIterator(x, y, test_size=0.2, batch_size=32, epochs=40, seed=0), verbose=False)
    assert reg.loss_arr[-1, 1] < 0.05 * y.var()


def test_tied_weights_are_shared_not_copied():
    ae = AutoEncoder(input_dim=6, hidden_dims=[4, 3], tied_weights=True, seed=0)
    untied = AutoEncoder(input_dim=6, hidden_dims=[4, 3], seed=0)
    weights = [k for k in ae.collect_params() if k.endswith("weight")]
    assert len(weights) == 2 and len([k for k in untied.collect_params() if k.endswith("weight")]) == 4
    x = np.random.RandomState(0).rand(32, 6).astype(np.float32)
    ae.learn(ArrayIterator(x, batch_size=8, epochs=2, seed=0), verbose=False)
    # The decoder computes with the transposed encoder weights as they are after training.
    w0, w1 = (ae.encoder.l0_weight.data().asnumpy(), ae.encoder.l1_weight.data().asnumpy())
    b = [getattr(ae.decoder, f"l{i}_bias").data().asnumpy() for i in range(2)]
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    code = ae.extract_feature_points(x)
    expected = sigmoid(sigmoid(code @ w1 + b[1]) @ w0 + b[0])
    np.testing.assert_allclose(ae.inference(x), expected, rtol=1e-4, atol=1e-5)


def test_model_side_denoising_corrupts_only_during_training():
    class Zeroing(NoiseableData):
        def noise(self, arr, F=None):
            return arr * 0.0

    x = np.random.RandomState(0).rand(16, 6).astype(np.float32)
    ae = AutoEncoder(input_dim=6, hidden_dims=[4], noiseable_data=Zeroing(), seed=0)
    clean = mx.nd.array(x)
    with mx.autograd.record():
        trained = ae.compute_loss(clean, None)
    predicted = ae.compute_loss(clean, None)
    zero_input = ((ae.inference(np.zeros_like(x)) - x) ** 2).mean(axis=1)
    np.testing.assert_allclose(trained.asnumpy(), zero_input, rtol=1e-5)
    np.testing.assert_allclose(predicted.asnumpy(), ((ae.inference(x) - x) ** 2).mean(axis=1), rtol=1e-5)


def test_sparse_penalty_lowers_mean_code_activation(digits):
    x_train = digits[0][:600]
    codes = {}
    for weight in (0.0, 1.0):
        ae = AutoEncoder(input_dim=64, hidden_dims=[32], sparse_weight=weight, sparse_target=0.05, seed=0)
        ae.learn(ArrayIterator(x_train, batch_size=50, epochs=15, seed=0), verbose=False)
        codes[weight] = ae.extract_feature_points(x_train).mean()
    assert codes[1.0] < 0.5 * codes[0.0], codes
    assert codes[1.0] < 0.15


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_dim=6, hidden_dims=[4], num_classes=3, output_dim=2), "exactly one"),
    (dict(input_dim=6, hidden_dims=[4]), "exactly one"),
    (dict(input_dim=6, hidden_dims=[4], num_classes=3, activation="bogus"), "unknown activation"),
    (dict(input_dim=6, hidden_dims=[0], num_classes=3), "positive"),
    (dict(input_dim=6, hidden_dims=[4], num_classes=3, optimizer="bogus"), "unknown optimizer"),
    (dict(input_dim=6, hidden_dims=[4], num_classes=3, learning_rate=0), "learning_rate"),
])
def test_bad_hyper_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeuralNetworks(**kwargs)


def test_sparse_penalty_needs_sigmoid_codes():
    with pytest.raises(ValueError, match="sigmoid"):
        AutoEncoder(input_dim=6, hidden_dims=[4], activation="relu", sparse_weight=0.1)


def test_wrong_feature_size_names_both_shapes():
    ae = AutoEncoder(input_dim=64, hidden_dims=[8])
    x = np.zeros((10, 63), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(63,\).*\(64,\)"):
        ae.learn(ArrayIterator(x, batch_size=5, epochs=1), verbose=False)
    with pytest.raises(ValueError, match=r"\(63,\).*\(64,\)"):
        ae.inference(x)
    with pytest.raises(ValueError, match=r"rank"):
        ae.inference(np.zeros((2, 8, 8)))


def test_labels_out_of_range_are_refused_before_training():
    clf = NeuralNetworks(input_dim=4, hidden_dims=[4], num_classes=3)
    x = np.zeros((10, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        clf.learn(ArrayIterator(x, np.arange(10) % 4, batch_size=5, epochs=1), verbose=False)
    with pytest.raises(ValueError, match="needs targets"):
        clf.learn(ArrayIterator(x, batch_size=5, epochs=1), verbose=False)
    assert clf.trainers == {} and len(clf.history) == 0  # refused before any work


@pytest.mark.parametrize("make, message", [
    (lambda: ArrayIterator(np.full((4, 3), np.nan)), "NaN"),
    (lambda: ArrayIterator(np.zeros((0, 3))), "empty"),
    (lambda: ArrayIterator(np.zeros((4, 3)), batch_size=5), "larger than the 4"),
    (lambda: ArrayIterator(np.zeros((4, 3)), np.zeros(3)), "4 samples but y has 3"),
])
def test_bad_data_gets_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_nan_at_inference_is_refused():
    ae = AutoEncoder(input_dim=3, hidden_dims=[2])
    with pytest.raises(ValueError, match="NaN"):
        ae.inference(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        ae.inference(mx.nd.array([[0.0, np.inf, 1.0]]))


def test_registry():
    assert {"autoencoder", "neural_networks"} <= set(abb.list_models())
    model = abb.get_model("autoencoder", input_dim=8, hidden_dims=[3], seed=0)
    assert isinstance(model, AutoEncoder)
    with pytest.raises(ValueError, match="unknown model 'rmb'.*autoencoder"):
        abb.get_model("rmb")
    with pytest.raises(ValueError, match="already registered"):
        abb.register_model("autoencoder", example=None)(NeuralNetworks)


def test_load_refuses_foreign_files(tmp_path):
    path = tmp_path / "bare.params"
    ae = AutoEncoder(input_dim=3, hidden_dims=[2])
    ae.save_parameters(str(path))
    with pytest.raises(ValueError, match="not written by save"):
        AutoEncoder.load(str(path))
    (tmp_path / "junk.params").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.params"):
        AutoEncoder.load(str(tmp_path / "junk.params"))
    ae.save(str(tmp_path / "ae.params"))
    with pytest.raises(TypeError, match="not a NeuralNetworks"):
        NeuralNetworks.load(str(tmp_path / "ae.params"))


def test_save_keeps_parts_of_the_zoo_in_the_config(tmp_path):
    from accelbrainbase.interfaces import NoiseableData

    ae = AutoEncoder(input_dim=3, hidden_dims=[2], noiseable_data=_Scale(0.5), seed=1)
    ae.save(str(tmp_path / "ae.params"))
    with pytest.raises(TypeError, match="_Scale.*custom_objects"):
        AutoEncoder.load(str(tmp_path / "ae.params"))  # a class outside the library: only when named
    loaded = AutoEncoder.load(str(tmp_path / "ae.params"), custom_objects={"_Scale": _Scale})
    assert isinstance(loaded.noiseable_data, _Scale) and loaded.noiseable_data.factor == 0.5
    assert isinstance(loaded.noiseable_data, NoiseableData)


class _Scale(NoiseableData):
    def __init__(self, factor):
        self.factor = factor

    def noise(self, arr, F=None):
        return arr * self.factor

    def get_config(self):
        return {"factor": self.factor}
