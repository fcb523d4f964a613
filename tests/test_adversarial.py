"""The adversarial players: what they compute, that they wrap any model of the zoo, and bad input."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

import accelbrainbase as abb
from accelbrainbase.data import ArrayIterator, ConditionSampler, NormalNoiseSampler, UniformNoiseSampler
from accelbrainbase.models import (
    AutoEncoder,
    DiscriminativeModel,
    EBDiscriminativeModel,
    GenerativeModel,
    NeuralNetworks,
)
from accelbrainbase.models.adversarial import draw_rows


def _generator(**kw):
    return GenerativeModel(NeuralNetworks(4, [8], output_dim=6, seed=0),
                           NormalNoiseSampler(batch_size=5, dim_or_shape=4, seed=0), seed=0, **kw)


def test_players_are_registered_where_they_stand_alone():
    assert {"discriminative_model", "eb_discriminative_model"} <= set(abb.list_models())


def test_generator_maps_noise_through_the_wrapped_model():
    g = _generator()
    z = mx.nd.array(np.random.RandomState(0).randn(7, 4))
    expected = 1 / (1 + np.exp(-g.model(z).asnumpy()))
    np.testing.assert_allclose(g(z).asnumpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(g.inference(z.asnumpy()), expected, rtol=1e-5)
    g.hybridize()
    np.testing.assert_allclose(g(z).asnumpy(), expected, rtol=1e-5)
    assert g.draw(11).shape == (11, 6)  # more rows than one draw of the sampler
    identity = GenerativeModel(NeuralNetworks(4, [8], output_dim=6, seed=0), NormalNoiseSampler(5, 4),
                               output_activation="identity")
    np.testing.assert_allclose(identity(z).asnumpy(), identity.model(z).asnumpy(), rtol=1e-6)


def test_noise_samplers_draw_their_distribution_on_the_device():
    mx.random.seed(0)
    normal = draw_rows(NormalNoiseSampler(8, 3, loc=2.0, scale=0.5), 20000, mx.cpu(1))
    assert normal.context == mx.cpu(1) and normal.shape == (20000, 3)
    assert abs(normal.asnumpy().mean() - 2.0) < 0.01 and abs(normal.asnumpy().std() - 0.5) < 0.01
    uniform = draw_rows(UniformNoiseSampler(8, 2, low=1.0, high=3.0), 20000, mx.cpu()).asnumpy()
    assert 1.0 <= uniform.min() and uniform.max() < 3.0 and abs(uniform.mean() - 2.0) < 0.02
    # Any other sampler is asked to draw() as often as needed.
    labels = draw_rows(ConditionSampler(3, batch_size=4, seed=0), 10, mx.cpu()).asnumpy()
    assert labels.shape == (10, 3) and (labels.sum(axis=1) == 1).all()


def test_conditional_generator_needs_its_conditions():
    g = GenerativeModel(NeuralNetworks(7, [8], output_dim=6, seed=0), NormalNoiseSampler(5, 4), condition_dim=3)
    assert g.draw(2, mx.nd.one_hot(mx.nd.array([0, 2]), 3)).shape == (2, 6)
    with pytest.raises(ValueError, match="conditions of shape"):
        g.draw(2)


def test_generator_refuses_mismatched_noise_and_bad_arguments():
    with pytest.raises(ValueError, match="takes 4 inputs but the noise has 3"):
        GenerativeModel(NeuralNetworks(4, [8], output_dim=6), NormalNoiseSampler(5, 3))
    with pytest.raises(TypeError, match="SamplableData"):
        GenerativeModel(NeuralNetworks(4, [8], output_dim=6), np.zeros(3))
    with pytest.raises(TypeError, match="HybridBlock"):
        GenerativeModel(object(), NormalNoiseSampler(5, 4))
    with pytest.raises(ValueError, match="output_activation"):
        GenerativeModel(NeuralNetworks(4, [8], output_dim=6), NormalNoiseSampler(5, 4), output_activation="nope")
    with pytest.raises(ValueError, match="the data has no y"):
        _generator().learn(ArrayIterator(np.zeros((8, 4)), batch_size=4, epochs=1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):  # a sigmoid output cannot reach the targets
        _generator().learn(ArrayIterator(np.zeros((8, 4)), np.full((8, 6), 2.0), batch_size=4, epochs=1))


def test_generator_learns_on_its_own_as_a_decoder():
    rng = np.random.RandomState(0)
    z = rng.randn(256, 4).astype(np.float32)
    targets = 1 / (1 + np.exp(-z @ rng.randn(4, 6))).astype(np.float32)
    g = _generator(learning_rate=0.01)
    baseline = float(((targets - targets.mean(axis=0)) ** 2).mean())
    g.learn(ArrayIterator(z[:192], targets[:192], test_x=z[192:], test_y=targets[192:], batch_size=32, epochs=40,
                          seed=0), verbose=False)
    # The squared error of G(z) against the targets, well below predicting their mean.
    assert g.loss_arr[-1, 1] < 0.1 * baseline, (g.loss_arr[-1], baseline)
    np.testing.assert_allclose(g.loss_arr[-1, 1], ((g.inference(z[192:]) - targets[192:]) ** 2).mean(), rtol=1e-4)


def test_players_default_to_the_settings_of_for_vectors():
    from accelbrainbase.controllers import GANController

    gan = GANController.for_vectors(data_dim=6, noise_dim=4, hidden_dims=[8], seed=0)
    plain = mx.gluon.nn.HybridSequential()
    plain.add(mx.gluon.nn.Dense(8, activation="relu"), mx.gluon.nn.Dense(1))
    pairs = ((_generator(), gan.generative_model), (DiscriminativeModel(plain), gan.discriminative_model),
             (EBDiscriminativeModel(AutoEncoder(6, [4])), None))
    for hand_built, built in pairs:
        assert hand_built.optimizer_settings(hand_built) == ("adam", {"beta1": 0.5, "learning_rate": 1e-3})
        if built is not None:
            assert hand_built.optimizer_settings(hand_built) == built.optimizer_settings(built)
    # An explicit choice wins; other optimizers get no Adam argument.
    assert _generator(optimizer_params={}).optimizer_params == {}
    assert _generator(optimizer="sgd").optimizer_params == {}


def test_players_wrap_plain_blocks_with_deferred_shapes():
    rng = np.random.RandomState(0)
    real, fake = rng.rand(200, 6) * 0.5 + 0.5, rng.rand(200, 6) * 0.5
    x, y = np.concatenate([real, fake]).astype(np.float32), np.r_[np.ones(200), np.zeros(200)]
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(16, activation="relu"), mx.gluon.nn.Dense(1))   # no in_units
    d = DiscriminativeModel(net, learning_rate=0.01, seed=0)
    assert d.input_shape is None
    d.learn(ArrayIterator(x, y, batch_size=32, epochs=20, seed=0), verbose=False)
    assert ((d.inference(x) > 0.5) == (y == 1)).mean() > 0.97
    assert d.features(mx.nd.array(x[:3])).shape == (3, 16)  # all layers but the last
    # The generator's input shape comes from its noise sampler (and the conditions).
    g_net = mx.gluon.nn.HybridSequential()
    g_net.add(mx.gluon.nn.Dense(8, activation="relu"), mx.gluon.nn.Dense(6))
    g = GenerativeModel(g_net, NormalNoiseSampler(5, 4), condition_dim=3)
    assert g.input_shape == (7,) and g.noise_dim == 4
    # An auto-encoder energy from a plain [encoder, decoder] pair.
    enc, dec, pair = mx.gluon.nn.HybridSequential(), mx.gluon.nn.HybridSequential(), mx.gluon.nn.HybridSequential()
    enc.add(mx.gluon.nn.Dense(4, activation="relu"))
    dec.add(mx.gluon.nn.Dense(6))
    pair.add(enc, dec)
    e = EBDiscriminativeModel(pair, seed=0)
    energy, codes = e.energy_and_codes(mx.nd, mx.nd.array(x[:5]))
    assert energy.shape == (5,) and codes.shape == (5, 4)
    np.testing.assert_allclose(energy.asnumpy(), ((e.reconstruct(x[:5]) - x[:5]) ** 2).mean(axis=1), rtol=1e-5)


def test_generator_save_load_keeps_wrapped_model_and_sampler(tmp_path):
    g = _generator(learning_rate=1e-3)
    path = str(tmp_path / "g.params")
    g.save(path)
    loaded = GenerativeModel.load(path, ctx=mx.cpu(1))
    assert loaded.ctx == [mx.cpu(1)] and loaded.model.ctx == [mx.cpu(1)]
    assert isinstance(loaded.noise_sampler, NormalNoiseSampler) and loaded.noise_sampler.shape == (4,)
    assert loaded.get_config() == g.get_config()
    z = np.random.RandomState(0).randn(3, 4).astype(np.float32)
    np.testing.assert_allclose(loaded.inference(z), g.inference(z), rtol=1e-6)


def test_discriminator_gives_logits_and_learns_real_from_fake():
    rng = np.random.RandomState(0)
    real, fake = rng.rand(200, 6) * 0.5 + 0.5, rng.rand(200, 6) * 0.5
    x = np.concatenate([real, fake]).astype(np.float32)
    y = np.r_[np.ones(200), np.zeros(200)]
    d = DiscriminativeModel(NeuralNetworks(6, [16], output_dim=1, seed=0), learning_rate=0.01, seed=0)
    logits = d(mx.nd.array(x[:5]))
    assert logits.shape == (5,)
    np.testing.assert_allclose(d.inference(x[:5]), 1 / (1 + np.exp(-logits.asnumpy())), rtol=1e-5)
    d.learn(ArrayIterator(x, y, batch_size=32, epochs=20, seed=0), verbose=False)
    accuracy = ((d.inference(x) > 0.5) == (y == 1)).mean()
    assert accuracy > 0.97, accuracy
    assert d.features(mx.nd.array(x[:3])).shape == (3, 16)  # the MLP's hidden layer
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        d.learn(ArrayIterator(x, y * 2, batch_size=32, epochs=1), verbose=False)
    with pytest.raises(ValueError, match="needs targets"):
        d.learn(ArrayIterator(x, batch_size=32, epochs=1), verbose=False)
    with pytest.raises(ValueError, match="6"):
        d.inference(np.zeros((2, 5)))


def test_discriminator_features_need_an_intermediate_layer():
    class Plain(mx.gluon.HybridBlock):

        def __init__(self):
            super().__init__()
            self.dense = mx.gluon.nn.Dense(1, in_units=3)

        def hybrid_forward(self, F, x):
            return self.dense(x)

    d = DiscriminativeModel(Plain(), seed=0)
    assert d(mx.nd.zeros((2, 3))).shape == (2,)
    assert d.input_shape is None  # a plain block declares none: the data tells
    with pytest.raises(ValueError, match="intermediate layer"):
        d.features(mx.nd.zeros((2, 3)))


def test_energy_is_the_auto_encoders_reconstruction_error():
    ae = AutoEncoder(6, [4], seed=0)
    d = EBDiscriminativeModel(ae, learning_rate=0.01, seed=0)
    x = np.random.RandomState(0).rand(5, 6).astype(np.float32)
    expected = ((ae.inference(x) - x) ** 2).mean(axis=1)
    np.testing.assert_allclose(d.inference(x), expected, rtol=1e-5)
    np.testing.assert_allclose(d.reconstruct(x), ae.inference(x), rtol=1e-6)
    energy, codes = d.energy_and_codes(mx.nd, mx.nd.array(x))
    np.testing.assert_allclose(energy.asnumpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(codes.asnumpy(), d.extract_feature_points(x), rtol=1e-6)
    # Learning alone lowers the energy of the data (the auto-encoder's loss).
    before = d.inference(x).mean()
    d.learn(ArrayIterator(np.tile(x, (20, 1)), batch_size=20, epochs=10, seed=0), verbose=False)
    assert d.inference(x).mean() < 0.5 * before
    with pytest.raises(TypeError, match="encoder"):
        EBDiscriminativeModel(NeuralNetworks(6, [4], output_dim=6))


def test_players_move_the_wrapped_model_to_their_contexts():
    net = NeuralNetworks(6, [8], output_dim=1, seed=0)
    d = DiscriminativeModel(net, ctx=[mx.cpu(0), mx.cpu(1)], seed=0)
    assert net.ctx == [mx.cpu(0), mx.cpu(1)]
    for p in d.collect_params().values():
        assert set(p.list_ctx()) == {mx.cpu(0), mx.cpu(1)}
