"""The shared contract every registered model passes (SPEC §4).

A model joins by registering itself with an ``example`` factory; nothing here names a model.
"""
from __future__ import annotations

import os

import mxnet as mx
import numpy as np
import pytest

import accelbrainbase as abb
from accelbrainbase.data import ArrayIterator
from accelbrainbase.registry import model_entry

from .conftest import CPU_CONTEXTS, GPU_AVAILABLE

MODELS = abb.list_models()


def _build(name, ctx=None, seed=0):
    entry = model_entry(name)
    kwargs, x, y = entry.example(np.random.RandomState(0))
    return entry.cls(**kwargs, ctx=ctx, seed=seed), x, y


def _iterator(x, y, ctx=None, epochs=5, batch_size=None):
    return ArrayIterator(x, y, batch_size=batch_size or len(x), epochs=epochs, ctx=ctx, seed=0)


def _out(model, x):
    out = model(mx.nd.array(x, ctx=model.ctx[0]))
    return [o.asnumpy() for o in out] if isinstance(out, (list, tuple)) else [out.asnumpy()]


def _params(model):
    return {k: v.data(model.ctx[0]).asnumpy() for k, v in model._collect_params_with_prefix().items()}


def test_registry_is_not_empty():
    assert {"autoencoder", "neural_networks"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_output_shapes(name):
    model, x, _ = _build(name)
    for out in _out(model, x):
        assert out.shape[0] == len(x) and np.isfinite(out).all()
    pred = model.inference(x)
    assert isinstance(pred, np.ndarray) and pred.shape[0] == len(x)
    nd_pred = model.inference(mx.nd.array(x))
    assert isinstance(nd_pred, mx.nd.NDArray)
    np.testing.assert_allclose(nd_pred.asnumpy(), pred, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_hybridized_equals_imperative(name):
    model, x, y = _build(name)
    model.learn(_iterator(x, y, epochs=2), verbose=False)  # away from the initial point
    imperative = _out(model, x)
    model.hybridize()
    hybridized = _out(model, x)
    for a, b in zip(imperative, hybridized):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name, tmp_path):
    model, x, y = _build(name)
    model.learn(_iterator(x, y, epochs=2), verbose=False)
    path = str(tmp_path / "model.params")
    model.save(path)
    loaded = type(model).load(path, ctx=mx.cpu(1))
    assert loaded.get_config() == model.get_config()
    assert loaded.ctx == [mx.cpu(1)]
    for a, b in zip(_out(model, x), _out(loaded, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # Gluon's own pair works as well.
    model.save_parameters(str(tmp_path / "bare.params"))
    fresh, _, _ = _build(name, seed=1)
    fresh.load_parameters(str(tmp_path / "bare.params"))
    for a, b in zip(_out(model, x), _out(fresh, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_export_gives_the_same_outputs(name, tmp_path):
    model, x, _ = _build(name)
    symbol_file, params_file = model.export(str(tmp_path / "exported"))
    assert os.path.exists(symbol_file) and os.path.exists(params_file)
    block = mx.gluon.SymbolBlock.imports(symbol_file, ["data"], params_file)
    out = block(mx.nd.array(x))
    out = out[0] if isinstance(out, (list, tuple)) else out
    # The exported graph runs in another executor (operator fusion, oneDNN kernels may differ):
    # the tolerance of the hybridized-vs-imperative check.
    np.testing.assert_allclose(out.asnumpy(), _out(model, x)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_learning_steps_give_a_finite_falling_loss(name):
    model, x, y = _build(name)
    model.learn(_iterator(x, y, epochs=6), verbose=False)
    train = model.loss_arr[:, 0]
    assert model.loss_arr.shape == (6, 2)
    assert np.isfinite(train).all()
    assert train[-1] < train[0], train


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_model(name):
    results = []
    for _ in range(2):
        model, x, y = _build(name, seed=3)
        model.learn(_iterator(x, y, epochs=2, batch_size=8), verbose=False)
        results.append(_params(model))
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key])


@pytest.mark.parametrize("ctx_name", sorted(CPU_CONTEXTS))
@pytest.mark.parametrize("name", MODELS)
def test_runs_on_distinct_cpu_contexts(name, ctx_name):
    ctx = CPU_CONTEXTS[ctx_name]
    model, x, y = _build(name, ctx=ctx)
    model.hybridize()
    # The iterator lives on another device than the model: batches must be moved, not mixed.
    model.learn(_iterator(x, y, ctx=mx.cpu(2), epochs=2, batch_size=8), verbose=False)
    assert model.loss_arr.shape == (2, 2) and np.isfinite(model.loss_arr[:, 0]).all()
    contexts = ctx if isinstance(ctx, list) else [ctx]
    for p in model.collect_params().values():
        assert set(p.list_ctx()) == set(contexts)
    pred = model.inference(x)
    assert np.isfinite(pred).all()


@pytest.mark.skipif(not GPU_AVAILABLE, reason="no GPU on this machine")
@pytest.mark.parametrize("name", MODELS)
def test_runs_on_gpu(name):
    model, x, y = _build(name, ctx=mx.gpu(0))
    model.hybridize()
    model.learn(_iterator(x, y, ctx=mx.gpu(0), epochs=2), verbose=False)
    assert np.isfinite(model.loss_arr[:, 0]).all()
    assert np.isfinite(model.inference(x)).all()
