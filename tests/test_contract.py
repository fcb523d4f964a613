"""The shared contract every registered model and controller passes.

A model joins by registering itself with an ``example`` factory; nothing here names a model. A
model may opt out of a check only by declaring it, with the reason, in its registration
(``register_model(..., opt_outs={check: reason})``); such checks are reported as skipped with that
reason, never silently.
"""
from __future__ import annotations

import ast
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import accelbrainbase as abb
from accelbrainbase import IteratableData, controllers, models
from accelbrainbase.gluon_internals import structural_params
from accelbrainbase.registry import CONTRACT_CHECKS, learn_on_arrays, model_entry

from .conftest import CPU_CONTEXTS, GPU_AVAILABLE

MODELS = abb.list_models()
PACKAGE = pathlib.Path(abb.__file__).parent


def _entry(name, check):
    entry = model_entry(name)
    assert check in CONTRACT_CHECKS
    if check in entry.opt_outs:
        pytest.skip(f"{name} opts out of {check}: {entry.opt_outs[check]}")
    return entry


def _build(name, check, ctx=None, seed=0, factory=None):
    entry = _entry(name, check)
    kwargs, x, y = (factory or entry.example)(np.random.RandomState(0))
    return entry, entry.cls(**kwargs, ctx=ctx, seed=seed), x, y


def _train(entry, model, x, y, epochs, **kwargs):
    return entry.learn(model, x, y, epochs=epochs, **kwargs)


def _out(model, x):
    out = model(mx.nd.array(x, ctx=model.ctx[0]))
    return [o.asnumpy() for o in out] if isinstance(out, (list, tuple)) else [out.asnumpy()]


def _params(model):
    return {k: v.data(model.ctx[0]).asnumpy() for k, v in structural_params(model).items()}


def _assert_same_params(a, b, exact=True):
    pa, pb = _params(a), _params(b)
    assert sorted(pa) == sorted(pb)
    for key in pa:
        if exact:
            np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)
        else:
            np.testing.assert_allclose(pa[key], pb[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_registry_is_not_empty():
    assert {"autoencoder", "neural_networks", "gan", "dqn", "generative_model"} <= set(MODELS)


def _public_model_classes():
    for package in (models, controllers):
        for name in package.__all__:
            obj = getattr(package, name)
            if isinstance(obj, type) and (issubclass(obj, abb.ObservableData) or issubclass(obj, abb.ControllableModel)
                                          or issubclass(obj, mx.gluon.Block)):
                yield obj


def test_every_public_model_class_is_registered_or_says_why_not():
    unaccounted = [cls.__name__ for cls in _public_model_classes()
                   if not (cls.__dict__.get("registry_name") or cls.__dict__.get("not_registered_reason"))]
    assert not unaccounted, f"register these or mark them @not_registered(reason): {unaccounted}"


def _imported_private_names(path):
    """``(module, name)`` of every ``from <package module> import _private`` in a source file."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("accelbrainbase")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append((node.module, alias.name))
    return found


@pytest.mark.parametrize("folder", ["models", "controllers"])
def test_no_family_imports_another_modules_private_names(folder):
    offenders = {str(path.relative_to(PACKAGE)): names
                 for path in sorted((PACKAGE / folder).glob("*.py"))
                 if (names := _imported_private_names(path))}
    assert not offenders, offenders


def test_the_repository_stands_alone():
    mentions = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "SPEC" in path.read_text()]
    assert not mentions, f"these files cite a document outside the repository: {mentions}"


@pytest.mark.parametrize("name", MODELS)
def test_output_shapes(name):
    _, model, x, _ = _build(name, "output_shapes")
    for out in _out(model, x):
        assert out.shape[0] == len(x) and np.isfinite(out).all()
    pred = model.inference(x)
    assert isinstance(pred, np.ndarray) and pred.shape[0] == len(x)
    nd_pred = model.inference(mx.nd.array(x))
    assert isinstance(nd_pred, mx.nd.NDArray)
    np.testing.assert_allclose(nd_pred.asnumpy(), pred, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_hybridized_equals_imperative(name):
    entry, model, x, y = _build(name, "hybridize")
    _train(entry, model, x, y, epochs=2)  # away from the initial point
    imperative = _out(model, x)
    model.hybridize()
    hybridized = _out(model, x)
    for a, b in zip(imperative, hybridized):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name, tmp_path):
    entry, model, x, y = _build(name, "save_load")
    _train(entry, model, x, y, epochs=2)
    path = str(tmp_path / "model.params")
    model.save(path)
    loaded = type(model).load(path, ctx=mx.cpu(1))
    assert loaded.get_config() == model.get_config()
    assert loaded.ctx == [mx.cpu(1)]
    assert len(loaded.history) == len(model.history) and sorted(loaded.trainers) == sorted(model.trainers)
    for a, b in zip(_out(model, x), _out(loaded, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # Gluon's own pair works as well.
    model.save_parameters(str(tmp_path / "bare.params"))
    _, fresh, _, _ = _build(name, "save_load", seed=1)
    fresh.load_parameters(str(tmp_path / "bare.params"))
    for a, b in zip(_out(model, x), _out(fresh, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_export_gives_the_same_outputs(name, tmp_path):
    _, model, x, _ = _build(name, "export")
    symbol_file, params_file = model.export(str(tmp_path / "exported"))
    assert os.path.exists(symbol_file) and os.path.exists(params_file)
    block = mx.gluon.SymbolBlock.imports(symbol_file, ["data"], params_file)
    out = block(mx.nd.array(x))
    out = out[0] if isinstance(out, (list, tuple)) else out
    # The exported graph runs in another executor (operator fusion, oneDNN kernels may differ):
    # the tolerance of the hybridized-vs-imperative check.
    np.testing.assert_allclose(out.asnumpy(), _out(model, x)[0], rtol=1e-4, atol=1e-5)


def _randomize_running_statistics(model, seed=1):
    """Batch-normalization statistics away from their initial (0, 1), so that an export that
    ignored them would show."""
    rng = np.random.RandomState(seed)
    for param in model.collect_params().values():
        if re.search(r"running_(mean|var)\d*$", param.name):
            shape = param.shape
            value = rng.uniform(0.5, 1.5, shape) if param.name.rstrip("0123456789").endswith("var") \
                else rng.normal(0.0, 0.1, shape)
            param.set_data(mx.nd.array(value))


@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_equals_inference(name, tmp_path):
    """ONNX Runtime runs the exported file to ``model.inference``'s outputs, for two batch sizes
    and, on every axis the file leaves free, another size."""
    ort = pytest.importorskip("onnxruntime")
    _, model, x, _ = _build(name, "onnx")
    _randomize_running_statistics(model)
    x = np.asarray(x, dtype=np.float32)
    path = model.export_onnx(str(tmp_path / "model.onnx"), example=x[:2], verify=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (source,), (sink,) = session.get_inputs(), session.get_outputs()
    assert (source.name, sink.name, source.type, source.shape[0]) == ("input", "output", "tensor(float)", "batch")
    batches = [x, x[:1]]
    # Every other free axis (a sequence's length, an image's sides): the samples repeated along it.
    batches += [np.concatenate([x[:3], x[:3]], axis=axis) for axis, size in enumerate(source.shape) if axis
                and isinstance(size, str)]
    for batch in batches:
        got = session.run(["output"], {"input": batch})[0]
        np.testing.assert_allclose(got, model.inference(batch), rtol=1e-4, atol=1e-5, err_msg=str(batch.shape))


_RUN_WITHOUT_MXNET = """
import json, sys
import numpy as np
import onnxruntime as ort
cases = json.load(open(sys.argv[1]))
for case in cases:
    session = ort.InferenceSession(case["model"], providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": np.load(case["x"])})[0]
    np.testing.assert_allclose(got, np.load(case["expected"]), rtol=1e-4, atol=1e-5, err_msg=case["model"])
assert "mxnet" not in sys.modules and "accelbrainbase" not in sys.modules, sorted(sys.modules)
print("ran", len(cases))
"""


def test_an_exported_model_runs_in_a_process_without_mxnet(tmp_path):
    """Exported files run in a fresh interpreter that imports only onnxruntime and numpy."""
    pytest.importorskip("onnxruntime")
    names = [name for name in MODELS if "onnx" not in model_entry(name).opt_outs][::8]
    cases = []
    for name in names:
        _, model, x, _ = _build(name, "onnx")
        x = np.asarray(x, dtype=np.float32)[:5]
        files = {key: str(tmp_path / f"{name}.{key}") for key in ("model", "x", "expected")}
        model.export_onnx(files["model"], example=x[:2], verify=False)
        np.save(files["x"] + ".npy", x)
        np.save(files["expected"] + ".npy", model.inference(x))
        cases.append({"model": files["model"], "x": files["x"] + ".npy", "expected": files["expected"] + ".npy"})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    # -I: no user site, no PYTHONPATH, no current directory on sys.path (the package cannot sneak in).
    done = subprocess.run([sys.executable, "-I", "-c", _RUN_WITHOUT_MXNET, str(tmp_path / "cases.json")],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ran {len(cases)}"


@pytest.mark.parametrize("name", MODELS)
def test_learning_steps_give_a_finite_falling_loss(name):
    entry, model, x, y = _build(name, "learning")
    _train(entry, model, x, y, epochs=6)
    train = model.loss_arr[:, 0]
    assert model.loss_arr.shape == (6, 2)
    assert np.isfinite(train).all()
    assert train[-1] < train[0], train


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_model(name):
    results = []
    for _ in range(2):
        entry, model, x, y = _build(name, "same_seed", seed=3)
        _train(entry, model, x, y, epochs=2, batch_size=8)
        results.append(_params(model))
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key])


class _Interrupt(Exception):
    pass


def _interrupt_after(epoch):
    def callback(model, done, logs):
        if done == epoch:
            raise _Interrupt

    return callback


@pytest.mark.parametrize("name", MODELS)
def test_a_resumed_run_equals_the_uninterrupted_run(name, tmp_path):
    """Trained 2 epochs with a checkpoint, interrupted, resumed in a fresh model to 4 epochs: the
    uninterrupted run's parameters and losses, bit for bit."""
    entry, full, x, y = _build(name, "resume")
    _train(entry, full, x, y, epochs=4, batch_size=8)

    ckpt = str(tmp_path / "ckpt")
    _, interrupted, _, _ = _build(name, "resume")
    with pytest.raises(_Interrupt):
        _train(entry, interrupted, x, y, epochs=4, batch_size=8, checkpoint_dir=ckpt, callbacks=[_interrupt_after(1)])
    _, resumed, _, _ = _build(name, "resume")
    _train(entry, resumed, x, y, epochs=4, batch_size=8, checkpoint_dir=ckpt, resume=True)
    _assert_same_params(full, resumed)
    np.testing.assert_array_equal(resumed.loss_arr, full.loss_arr)


@pytest.mark.parametrize("name", MODELS)
def test_a_saved_loaded_and_retrained_model_equals_the_uninterrupted_run(name, tmp_path):
    """Trained 2 epochs, saved, loaded, trained 2 more in a second call: the 4-epoch run, bit for bit."""
    entry, full, x, y = _build(name, "reload")
    _train(entry, full, x, y, epochs=4, batch_size=8)
    _, stepwise, _, _ = _build(name, "reload")
    _train(entry, stepwise, x, y, epochs=2, batch_size=8)
    stepwise.save(str(tmp_path / "half.params"))
    reloaded = type(stepwise).load(str(tmp_path / "half.params"))
    _train(entry, reloaded, x, y, epochs=2, batch_size=8)
    _assert_same_params(full, reloaded)
    assert len(reloaded.loss_arr) == 4
    np.testing.assert_array_equal(reloaded.loss_arr, full.loss_arr)


class _MinimalData(IteratableData):
    """An iterator written only from `IteratableData`'s docstring: training and held-out batches."""

    epochs = 3

    def __init__(self, x, y):
        n = len(x) * 3 // 4
        self.parts = [(x[:n], None if y is None else y[:n]), (x[n:], None if y is None else y[n:])]

    @staticmethod
    def _batches(x, y, size):
        for i in range(0, len(x), size):
            yield mx.nd.array(x[i:i + size]), None if y is None else mx.nd.array(y[i:i + size])

    def train_batches(self, epoch=0):
        return self._batches(*self.parts[0], 8)

    def test_batches(self):
        return self._batches(*self.parts[1], 8)


@pytest.mark.parametrize("name", MODELS)
def test_user_parts_and_user_data_train_save_and_load(name, tmp_path):
    """A model whose parts are plain Gluon blocks (when it takes parts) trains on a user's minimal
    `IteratableData`, with a finite held-out loss; Gluon's parameter files always round-trip, and
    ``save()`` either round-trips or refuses, at save time, saying what to do."""
    entry = _entry(name, "user_parts")
    factory = entry.user_parts or entry.example
    _, model, x, y = _build(name, "user_parts", factory=factory)
    if entry.learn is not learn_on_arrays:  # a model trained on something else than batches
        _train(entry, model, x, y, epochs=2)
    else:
        model.learn(_MinimalData(x, y), verbose=0)
        assert np.isfinite(model.loss_arr).all(), model.loss_arr
    model.save_parameters(str(tmp_path / "bare.params"))
    _, twin, _, _ = _build(name, "user_parts", factory=factory, seed=1)
    twin.load_parameters(str(tmp_path / "bare.params"))
    for a, b in zip(_out(model, x), _out(twin, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    try:
        model.save(str(tmp_path / "model.params"))
    except TypeError as err:
        assert entry.user_parts is not None and "save_parameters" in str(err)
    else:
        loaded = type(model).load(str(tmp_path / "model.params"))
        for a, b in zip(_out(model, x), _out(loaded, x)):
            np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("ctx_name", sorted(CPU_CONTEXTS))
@pytest.mark.parametrize("name", MODELS)
def test_runs_on_distinct_cpu_contexts(name, ctx_name):
    ctx = CPU_CONTEXTS[ctx_name]
    entry, model, x, y = _build(name, "contexts", ctx=ctx)
    model.hybridize()
    # The data lives on another device than the model: batches must be moved, not mixed.
    _train(entry, model, x, y, epochs=2, batch_size=8, ctx=mx.cpu(2))
    assert model.loss_arr.shape == (2, 2) and np.isfinite(model.loss_arr[:, 0]).all()
    contexts = ctx if isinstance(ctx, list) else [ctx]
    for p in model.collect_params().values():
        assert set(p.list_ctx()) == set(contexts)
    pred = model.inference(x)
    assert np.isfinite(pred).all()


@pytest.mark.skipif(not GPU_AVAILABLE, reason="no GPU on this machine")
@pytest.mark.parametrize("name", MODELS)
def test_runs_on_gpu(name):
    entry, model, x, y = _build(name, "gpu", ctx=mx.gpu(0))
    model.hybridize()
    _train(entry, model, x, y, epochs=2, ctx=mx.gpu(0))
    assert np.isfinite(model.loss_arr[:, 0]).all()
    assert np.isfinite(model.inference(x)).all()


def test_opt_outs_are_declared_with_reasons():
    for name in MODELS:
        for check, reason in model_entry(name).opt_outs.items():
            assert check in CONTRACT_CHECKS and len(reason) >= 10, (name, check, reason)


def test_learn_signatures_take_any_data():
    # Every fit-driven model's learn() forwards (data, y, **fit options) to training.fit.
    for name in MODELS:
        entry = model_entry(name)
        if entry.learn is learn_on_arrays:
            params = inspect.signature(entry.cls.learn).parameters
            assert "data" in params or "iteratable_data" in params, name
