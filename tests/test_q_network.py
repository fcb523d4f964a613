"""FunctionApproximator: any model of the zoo as a Q-network (MLP, CNN, LSTM, plain Gluon blocks)."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from accelbrainbase.data import ArrayIterator
from accelbrainbase.models import ConvolutionalNeuralNetworks, FunctionApproximator, LSTMNetworks, NeuralNetworks


def _mlp(**kw):
    return NeuralNetworks(input_dim=4, hidden_dims=[16, 16], output_dim=3, seed=0, **kw)


def test_wraps_an_mlp_whose_output_is_the_q_vector():
    q = FunctionApproximator(_mlp(), seed=0)
    x = np.random.RandomState(0).randn(5, 4).astype(np.float32)
    assert q.n_actions == 3 and q.input_shape == (4,) and q.head is None
    np.testing.assert_allclose(q.inference(x), q.model(mx.nd.array(x)).asnumpy(), rtol=1e-6)
    assert q.greedy_actions(x).shape == (5,)


def test_wraps_the_zoo_cnn_and_lstm():
    rng = np.random.RandomState(0)
    cnn = ConvolutionalNeuralNetworks(output_dim=4, in_channels=1, channels=[4], batch_norm=False, dropout=0.0,
                                      seed=0)
    q_cnn = FunctionApproximator(cnn, input_shape=(1, 6, 6), seed=0)
    assert q_cnn.inference(rng.rand(3, 1, 6, 6)).shape == (3, 4)
    lstm = LSTMNetworks(input_dim=2, hidden_dim=8, output_dim=3, output="last", seed=0)
    q_lstm = FunctionApproximator(lstm, input_shape=(5, 2), seed=0)
    assert q_lstm.inference(rng.rand(3, 5, 2)).shape == (3, 3)
    q_lstm.hybridize()
    assert q_lstm.inference(rng.rand(2, 5, 2)).shape == (2, 3)


def test_a_q_head_on_a_feature_extractor():
    # A plain (uninitialized) Gluon CNN: the wrapper initializes it and adds Dense(n_actions).
    features = nn.HybridSequential()
    features.add(nn.Conv2D(4, 3, padding=1, in_channels=1, activation="relu"), nn.MaxPool2D(2))
    q = FunctionApproximator(features, n_actions=2, input_shape=(1, 6, 6), seed=0)
    x = np.random.RandomState(0).rand(3, 1, 6, 6).astype(np.float32)
    out = q.inference(x)
    assert out.shape == (3, 2) and np.isfinite(out).all()
    assert q.head is not None and q.head.weight.shape == (2, 4 * 3 * 3)
    q.hybridize()
    np.testing.assert_allclose(q.inference(x), out, rtol=1e-5, atol=1e-6)


def test_a_plain_block_with_deferred_shapes_is_built_on_its_contexts_and_learns():
    block = nn.HybridSequential()
    block.add(nn.Dense(16, activation="relu"), nn.Dense(3))  # no in_units: shapes known on the first batch
    q = FunctionApproximator(block, input_shape=(4,), ctx=mx.cpu(1), learning_rate=0.01, seed=0)
    assert q.n_actions == 3 and block[0].weight.shape == (16, 4)  # resolved when the wrapper was built
    assert all(p.list_ctx() == [mx.cpu(1)] for p in q.collect_params().values())
    rng = np.random.RandomState(0)
    x = rng.randn(128, 4).astype(np.float32)
    y = (x @ rng.randn(4, 3)).astype(np.float32)
    q.learn(ArrayIterator(x, y, batch_size=32, epochs=30, seed=0), verbose=False)
    assert q.loss_arr[-1, 0] < 0.2 * q.loss_arr[0, 0]
    np.testing.assert_allclose(q.host_policy()(x), q.inference(x), rtol=1e-5, atol=1e-5)


def test_host_policy_matches_the_network():
    x = np.random.RandomState(1).randn(7, 4).astype(np.float32)
    for q in (FunctionApproximator(_mlp(activation="tanh"), seed=0),
              FunctionApproximator(_mlp(), seed=0)):
        host = q.host_policy()
        assert host is not None
        np.testing.assert_allclose(host(x), q.inference(x), rtol=1e-5, atol=1e-5)
    seq = nn.HybridSequential()
    seq.add(nn.Dense(8, activation="relu", in_units=4), nn.Dropout(0.5), nn.Dense(3, in_units=8))
    q = FunctionApproximator(seq, input_shape=(4,), n_actions=2, seed=0)  # dense chain + Q-head
    np.testing.assert_allclose(q.host_policy()(x), q.inference(x), rtol=1e-5, atol=1e-5)
    cnn = ConvolutionalNeuralNetworks(output_dim=2, channels=[2], seed=0)
    assert FunctionApproximator(cnn, input_shape=(1, 4, 4)).host_policy() is None


def test_td_loss_is_the_huber_loss_of_the_chosen_action():
    q = FunctionApproximator(_mlp(), seed=0)
    rng = np.random.RandomState(0)
    x = rng.randn(6, 4).astype(np.float32)
    actions = np.array([0, 1, 2, 0, 1, 2])
    targets = q.inference(x)[np.arange(6), actions] + np.array([0.1, -0.5, 2.0, -3.0, 0.0, 1.0])
    loss = q.td_loss(mx.nd.array(x), mx.nd.array(actions), mx.nd.array(targets)).asnumpy()
    err = np.abs(np.array([0.1, -0.5, 2.0, -3.0, 0.0, 1.0]))
    np.testing.assert_allclose(loss, np.where(err > 1, err - 0.5, 0.5 * err ** 2), rtol=1e-4, atol=1e-5)


def test_learn_regresses_onto_given_action_values():
    rng = np.random.RandomState(0)
    x = rng.randn(256, 4).astype(np.float32)
    y = (x @ rng.randn(4, 3)).astype(np.float32)
    q = FunctionApproximator(_mlp(), learning_rate=0.01, seed=0)
    q.learn(ArrayIterator(x, y, test_size=0.25, batch_size=32, epochs=40, seed=0), verbose=False)
    assert q.loss_arr[-1, 1] < 0.05 * q.loss_arr[0, 1]


def test_save_load_keeps_the_wrapped_model(tmp_path):
    q = FunctionApproximator(_mlp(), seed=0)
    path = str(tmp_path / "q.params")
    q.save(path)
    loaded = FunctionApproximator.load(path, ctx=mx.cpu(1))
    assert isinstance(loaded.model, NeuralNetworks) and loaded.model.ctx == [mx.cpu(1)]
    x = np.random.RandomState(0).randn(4, 4).astype(np.float32)
    np.testing.assert_allclose(loaded.inference(x), q.inference(x), rtol=1e-6)


def test_bad_input_is_refused_clearly(tmp_path):
    with pytest.raises(TypeError, match="HybridBlock"):
        FunctionApproximator(object())
    with pytest.raises(ValueError, match="input_shape"):
        FunctionApproximator(nn.Dense(2))
    with pytest.raises(ValueError, match="n_actions"):
        FunctionApproximator(nn.Conv2D(2, 3, in_channels=1), input_shape=(1, 5, 5))
    q = FunctionApproximator(_mlp(), seed=0)
    with pytest.raises(ValueError, match=r"\(5,\) but the model expects \(4,\)"):
        q.inference(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="y"):
        q.learn(ArrayIterator(np.zeros((8, 4), np.float32), np.zeros((8, 2), np.float32), batch_size=4,
                              epochs=1), verbose=False)
    plain = FunctionApproximator(nn.Dense(2, in_units=4), input_shape=(4,))
    with pytest.raises(TypeError, match="get_config"):
        plain.save(str(tmp_path / "plain.params"))
