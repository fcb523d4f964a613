"""Model files: safe loading, clear errors, optimizer state kept, checkpoints opened with load()."""
from __future__ import annotations

import json
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from accelbrainbase.data import ArrayIterator
from accelbrainbase.models import AutoEncoder, NeuralNetworks
from accelbrainbase.persistence import CONFIG_KEY, UntrustedClassError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _x(n=200, dim=8, seed=0):
    return np.random.RandomState(seed).rand(n, dim).astype(np.float32)


def _crafted_file(path, config):
    record = {"class": "accelbrainbase.models.dense:AutoEncoder", "config": config}
    arrays = {CONFIG_KEY: mx.nd.array(np.frombuffer(json.dumps(record).encode(), np.uint8), dtype=np.uint8)}
    mx.nd.save(str(path), arrays)


def test_a_file_naming_a_foreign_class_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "owned"
    payload = {"__class__": "os:system", "config": {"command": f"touch {marker}"}}
    path = tmp_path / "evil.params"
    _crafted_file(path, {"input_dim": 8, "hidden_dims": [4], "noiseable_data": payload})
    with pytest.raises(UntrustedClassError, match="'os:system'.*not a class of accelbrainbase"):
        AutoEncoder.load(str(path))
    assert not marker.exists()
    top = tmp_path / "evil_top.params"
    record = {"class": "subprocess:Popen", "config": {"args": ["touch", str(marker)]}}
    mx.nd.save(str(top), {CONFIG_KEY: mx.nd.array(np.frombuffer(json.dumps(record).encode(), np.uint8),
                                                  dtype=np.uint8)})
    with pytest.raises(UntrustedClassError, match="subprocess:Popen"):
        AutoEncoder.load(str(top))
    assert not marker.exists()


class Shift:
    """A user's noise (outside the library) that describes itself."""

    def __init__(self, amount=0.1):
        self.amount = amount

    def get_config(self):
        return {"amount": self.amount}

    def noise(self, arr, F=None):
        return arr + self.amount


def test_custom_objects_let_the_caller_trust_a_class(tmp_path):
    from accelbrainbase.interfaces import NoiseableData

    class UserNoise(Shift, NoiseableData):
        pass

    model = AutoEncoder(8, [4], noiseable_data=UserNoise(0.2), seed=0).learn(_x(), epochs=1, verbose=0)
    path = str(tmp_path / "m.params")
    model.save(path)
    with pytest.raises(UntrustedClassError, match="UserNoise"):
        AutoEncoder.load(path)
    loaded = AutoEncoder.load(path, custom_objects={"UserNoise": UserNoise})
    assert loaded.noiseable_data.amount == 0.2


def test_save_load_learn_carries_on_with_the_optimizer_state(tmp_path):
    x = _x(400)
    model = AutoEncoder(8, [4], seed=0, learning_rate=0.01).learn(x, epochs=15, batch_size=32, verbose=0)
    path = str(tmp_path / "ae.params")
    model.save(path)
    loaded = AutoEncoder.load(path)
    before = model.loss_arr[-1, 0]
    loaded.learn(x, epochs=1, batch_size=32, verbose=0)
    assert len(loaded.loss_arr) == 16
    assert abs(loaded.loss_arr[-1, 0] - before) / before < 0.05, (before, loaded.loss_arr[-1, 0])
    model.learn(x, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_allclose(loaded.loss_arr, model.loss_arr, rtol=1e-6)


def test_a_checkpoint_directory_opens_with_load(tmp_path):
    x = _x()
    ckpt = str(tmp_path / "ckpt")
    model = AutoEncoder(8, [4], seed=0).learn(x, epochs=3, verbose=0, checkpoint_dir=ckpt)
    loaded = AutoEncoder.load(ckpt)
    assert len(loaded.history) == 3
    np.testing.assert_allclose(loaded.inference(x), model.inference(x), rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="without a checkpoint"):
        AutoEncoder.load(str(tmp_path))


def test_unreadable_files_get_clear_errors(tmp_path):
    missing = str(tmp_path / "nowhere.params")
    with pytest.raises(FileNotFoundError, match="nowhere.params"):
        AutoEncoder.load(missing)
    model = AutoEncoder(8, [4], seed=0)
    path = str(tmp_path / "m.params")
    model.save(path)
    truncated = str(tmp_path / "truncated.params")
    with open(path, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:200])
    with pytest.raises(ValueError, match="truncated.params.*truncated or not an MXNet"):
        AutoEncoder.load(truncated)
    foreign = tmp_path / "notes.params"
    foreign.write_text("not a model")
    with pytest.raises(ValueError, match="notes.params"):
        AutoEncoder.load(str(foreign))
    bare = str(tmp_path / "bare.params")
    model.save_parameters(bare)
    with pytest.raises(ValueError, match="not written by save.*load_parameters"):
        AutoEncoder.load(bare)
    with pytest.raises(TypeError, match="holds a .*AutoEncoder, not a NeuralNetworks"):
        NeuralNetworks.load(path)


def test_resuming_into_another_architecture_names_the_parameter_and_both_shapes(tmp_path):
    x = _x()
    ckpt = str(tmp_path / "ckpt")
    AutoEncoder(8, [4], seed=0).learn(x, epochs=1, verbose=0, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match=r"parameter encoder\.l0_weight has shape \(4, 8\).*expects \(6, 8\)"):
        AutoEncoder(8, [6], seed=0).learn(x, epochs=2, verbose=0, checkpoint_dir=ckpt, resume=True)


def test_constructor_keyword_errors_name_the_class_and_its_arguments():
    with pytest.raises(TypeError, match=r"AutoEncoder: .*'hiden_dims'.*its arguments are input_dim, hidden_dims"):
        AutoEncoder(8, hiden_dims=[4])


def test_a_part_without_get_config_is_refused_at_save_time(tmp_path):
    from accelbrainbase.models import FunctionApproximator

    block = gluon.nn.HybridSequential()
    block.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(2))
    q = FunctionApproximator(block, input_shape=(4,), seed=0)
    with pytest.raises(TypeError, match="save_parameters"):
        q.save(str(tmp_path / "q.params"))
    assert not os.path.exists(tmp_path / "q.params")


def test_gluon_parameter_files_get_clear_errors_too(tmp_path):
    small, large = AutoEncoder(8, [4], seed=0), AutoEncoder(8, [6], seed=0)
    path = str(tmp_path / "small.params")
    small.save_parameters(path)
    with pytest.raises(FileNotFoundError, match="missing.params"):
        small.load_parameters(str(tmp_path / "missing.params"))
    with pytest.raises(ValueError, match=r"small.params does not fit this AutoEncoder.*l0_weight.*\(6, 8\).*\(4, 8\)"):
        large.load_parameters(path)
    truncated = str(tmp_path / "cut.params")
    with open(path, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:100])
    with pytest.raises(ValueError, match="cut.params.*truncated"):
        small.load_parameters(truncated)


def test_a_gpu_context_without_a_gpu_says_what_to_do():
    if mx.context.num_gpus():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="available_ctx"):
        AutoEncoder(8, [4], ctx=mx.gpu(0))
    with pytest.raises(RuntimeError, match="available_ctx"):
        ArrayIterator(np.zeros((40, 2)), ctx=mx.gpu(0))
