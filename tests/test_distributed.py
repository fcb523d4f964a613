"""Data-parallel training on MXNet's parameter server: ``fit(..., kvstore="dist_sync")``.

The end-to-end test launches a scheduler, a server and two workers as local processes on
127.0.0.1 and checks the workers against a single process that sees the same global batches.
"""
import os
import socket
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase import distributed
from accelbrainbase.data import ArrayIterator
from accelbrainbase.gluon_internals import structural_params
from accelbrainbase.models import NeuralNetworks, RestrictedBoltzmannMachines
from accelbrainbase.registry import model_entry

DIST_ENV = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER")

# Plain SGD (no momentum): the two workers' summed gradients over their shards equal the
# gradient of the union batch, so the run is exactly one process with a twice larger batch.
SETTINGS = dict(hidden_dims=(32,), num_classes=10, seed=3, optimizer="sgd", learning_rate=0.5)
BATCH, EPOCHS = 32, 3


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target


def _iterator(x, y, batch_size):
    return ArrayIterator(x, y, test_size=0.2, batch_size=batch_size, epochs=EPOCHS, drop_last=True, seed=5)


WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_distributed import BATCH, SETTINGS, _digits, _iterator
    from accelbrainbase.data import ArrayIterator
    from accelbrainbase.models import NeuralNetworks, RestrictedBoltzmannMachines

    x, y = _digits()
    model = NeuralNetworks(64, **SETTINGS)
    model.learn(_iterator(x, y, BATCH), kvstore="dist_sync", verbose=False,
                checkpoint_dir={out!r} + "/ckpt")
    rank = model.parameter_servers["model"].kv.rank
    model.save_parameters({out!r} + f"/worker{{rank}}.params")
    np.save({out!r} + f"/history{{rank}}.npy", model.loss_arr)

    # A second model in the same process: an RBM, whose fused fast path steps aside.
    rbm = RestrictedBoltzmannMachines(64, 16, seed=1, learning_rate=0.3)
    rbm.learn(ArrayIterator(x, batch_size=50, epochs=3, seed=2), kvstore="dist_sync", verbose=False)
    rbm.save_parameters({out!r} + f"/rbm{{rank}}.params")
    np.save({out!r} + f"/rbm_history{{rank}}.npy", rbm.loss_arr)

    # A controller: a trainer per player, each summing its gradients through the store.
    from accelbrainbase.controllers import GANController
    gan = GANController.for_vectors(64, noise_dim=8, hidden_dims=[32], seed=4)
    gan.learn(ArrayIterator(x, batch_size=32, epochs=2, seed=6), kvstore="dist_sync", verbose=False)
    gan.save_parameters({out!r} + f"/gan{{rank}}.params")
    np.save({out!r} + f"/gan_history{{rank}}.npy", gan.loss_arr)

    # BatchNorm's running statistics (no gradient) are averaged over the workers every epoch.
    bn = NeuralNetworks(64, (16,), num_classes=10, batch_norm=True, seed=0)
    bn.learn(_iterator(x, y, BATCH), kvstore="dist_sync", verbose=False, epochs=1)
    bn.save_parameters({out!r} + f"/bn{{rank}}.params")
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, script, workers=2, timeout=120):
    """Run ``script`` in ``workers`` worker processes next to a scheduler and a server; every
    process is killed on the way out, whatever happens."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DMLC_")}
    base.update(DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(_free_port()), DMLC_NUM_SERVER="1",
                DMLC_NUM_WORKER=str(workers), OMP_NUM_THREADS="1", PS_VERBOSE="0")
    script_file = tmp_path / "worker.py"
    script_file.write_text(script)
    procs, logs = [], []
    try:
        for role in ["scheduler", "server"] + ["worker"] * workers:
            # A scheduler or server runs inside `import mxnet` and exits when the workers are done.
            cmd = [sys.executable, "-c", "import mxnet"] if role != "worker" else [sys.executable, str(script_file)]
            logs.append(open(tmp_path / f"{role}{len(procs)}.log", "w"))
            procs.append(subprocess.Popen(cmd, env=dict(base, DMLC_ROLE=role), stdout=logs[-1],
                                          stderr=subprocess.STDOUT))
        # Poll: a worker that fails leaves the others waiting on the server, so stop at once.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    output = "\n".join(f.read_text() for f in sorted(tmp_path.glob("*.log")))
    assert all(p.returncode == 0 for p in procs), \
        f"a process failed or timed out (return codes {[p.returncode for p in procs]}):\n{output}"


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


@pytest.mark.slow
def test_two_workers_equal_one_process_with_the_global_batch(tmp_path):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    _launch(tmp_path, WORKER.format(tests=tests_dir, out=str(tmp_path)))
    w0, w1 = _params(tmp_path / "worker0.params"), _params(tmp_path / "worker1.params")
    # (1) the workers stay identical
    for name in w0:
        np.testing.assert_array_equal(w0[name], w1[name])
    # (2) ... and equal one process whose batches are the union of theirs
    x, y = _digits()
    single = NeuralNetworks(64, **SETTINGS).learn(_iterator(x, y, 2 * BATCH), verbose=False)
    for name, value in structural_params(single).items():
        np.testing.assert_allclose(w0[name], value.data().asnumpy(), rtol=1e-5, atol=1e-6)
    # the logged train loss is over both shards: the single run's, and both workers agree
    h0, h1 = np.load(tmp_path / "history0.npy"), np.load(tmp_path / "history1.npy")
    np.testing.assert_array_equal(h0, h1)
    np.testing.assert_allclose(h0, single.loss_arr, rtol=1e-5)
    # (3) it learned: test accuracy of the distributed model
    model = NeuralNetworks(64, **SETTINGS)
    model.load_parameters(str(tmp_path / "worker0.params"))
    it = _iterator(x, y, BATCH)
    accuracy = (model.inference(it.test_x.asnumpy()).argmax(axis=1) == it.test_y.asnumpy()).mean()
    assert accuracy > 0.9, accuracy
    # the RBM trained after it on the same store: identical workers, falling reconstruction error
    r0, r1 = _params(tmp_path / "rbm0.params"), _params(tmp_path / "rbm1.params")
    for name in r0:
        np.testing.assert_array_equal(r0[name], r1[name])
    rbm_loss = np.load(tmp_path / "rbm_history0.npy")[:, 0]
    np.testing.assert_array_equal(rbm_loss, np.load(tmp_path / "rbm_history1.npy")[:, 0])
    assert rbm_loss[-1] < 0.8 * rbm_loss[0]
    # the GAN's two trainers went through the store: identical players, one shared loss record
    g0, g1 = _params(tmp_path / "gan0.params"), _params(tmp_path / "gan1.params")
    for name in g0:
        np.testing.assert_array_equal(g0[name], g1[name], err_msg=name)
    gan_loss = np.load(tmp_path / "gan_history0.npy")
    np.testing.assert_array_equal(gan_loss, np.load(tmp_path / "gan_history1.npy"))
    assert np.isfinite(gan_loss[:, 0]).all()
    b0, b1 = _params(tmp_path / "bn0.params"), _params(tmp_path / "bn1.params")
    assert any("running_mean" in name for name in b0)
    for name in b0:
        np.testing.assert_array_equal(b0[name], b1[name])
    # only worker 0 wrote the checkpoint, of the last epoch
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["checkpoint.json", "epoch-0002.params"]


# ---------------------------------------------------------------------------------- fast tests
def test_shards_partition_each_global_batch():
    x = np.arange(46, dtype=np.float32).reshape(23, 2)
    whole = ArrayIterator(x, batch_size=2, epochs=1, seed=1)
    parts = [whole.shard(3, k) for k in range(3)]
    assert [p.iter_n for p in parts] == [4, 4, 4]  # 3 global batches of 3 x 2 + a tail of 5 -> 1 each
    for epoch in range(2):
        batches = [[b[:, 0].asnumpy() for b, _ in p.train_batches(epoch)] for p in parts]
        assert all(len(b) == 4 for b in batches)
        assert [len(b) for b in batches[0]] == [2, 2, 2, 1]
        order = [np.concatenate([batches[k][step] for k in range(3)]) for step in range(3)]
        # the union of the parts at each step is one batch of a single iterator of batch_size 6
        reference = ArrayIterator(x, batch_size=6, epochs=1, seed=1)
        for got, (want, _) in zip(order, reference.train_batches(epoch)):
            np.testing.assert_array_equal(got, want[:, 0].asnumpy())
        seen = np.concatenate([np.concatenate(b) for b in batches])
        assert len(np.unique(seen)) == len(seen) == 21  # 2 leftovers of the tail are skipped
    # shard() leaves the original alone; drop_last drops the tail on every part
    assert whole.iter_n == 12 and whole.num_parts == 1
    assert ArrayIterator(x, batch_size=2, drop_last=True).shard(3, 2).iter_n == 3
    assert ArrayIterator(x, batch_size=2, num_parts=3, part_index=1).iter_n == 4


def test_shard_errors():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="3 workers x batch_size=4 need at least 12 training samples, got 10"):
        ArrayIterator(x, batch_size=4).shard(3, 0)
    with pytest.raises(ValueError, match="part_index must be within 0..1"):
        ArrayIterator(x, batch_size=2, num_parts=2, part_index=2)


def test_kvstore_errors(monkeypatch):
    x, y = np.random.RandomState(0).rand(40, 4), np.arange(40) % 2
    model = NeuralNetworks(4, (4,), num_classes=2, seed=0)
    it = ArrayIterator(x, y, batch_size=8, epochs=1, seed=0)
    with pytest.raises(ValueError, match="unknown kvstore 'dist_syn'"):
        model.learn(it, kvstore="dist_syn")
    with pytest.raises(ValueError, match="use 'dist_sync'"):
        model.learn(it, kvstore="dist_async")
    for key in DIST_ENV:
        monkeypatch.delenv(key, raising=False)
    missing = "missing DMLC_ROLE, DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER, DMLC_NUM_WORKER"
    with pytest.raises(RuntimeError, match=missing):
        model.learn(it, kvstore="dist_sync")
    assert model.trainers == {}  # nothing was touched
    monkeypatch.setenv("DMLC_ROLE", "server")
    for key, value in zip(DIST_ENV[1:], ("127.0.0.1", "9000", "1", "2")):
        monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError, match="DMLC_ROLE='server'; only workers train"):
        model.learn(it, kvstore="dist_sync")
    # fit shards the data by the store's rank and worker count: too little data is refused
    worker = SimpleNamespace(num_workers=3, rank=1)
    with pytest.raises(ValueError, match="3 workers x batch_size=16 need at least 48 training samples, got 40"):
        distributed.shard_for_worker(ArrayIterator(x, y, batch_size=16), worker)
    assert distributed.shard_for_worker(it, worker).part_index == 1
    with pytest.raises(ValueError, match="the data is part 0 of 2, but this is worker 1 of 3"):
        distributed.shard_for_worker(it.shard(2, 0), worker)
    # a local store name is today's behaviour
    model.learn(it, kvstore="device", verbose=False)
    assert np.isfinite(model.loss_arr[:, 0]).all()


@pytest.mark.parametrize("name", ["aae", "gan", "drcn"])
def test_controllers_sum_every_trainers_gradients_through_the_store(name):
    """A controller with a trainer per phase gets a store sync per trainer; on a one-worker store the
    sums change nothing, so training equals training without it."""
    entry = model_entry(name)
    results = []
    for attach in (False, True):
        kwargs, x, y = entry.example(np.random.RandomState(0))
        controller = entry.cls(**kwargs, seed=0)
        if attach:
            controller.trainers = controller.configure_trainers()
            distributed.attach_parameter_servers(controller, {"kv": mx.kv.create("local"), "next_key": 0})
            assert sorted(controller.parameter_servers) == sorted(controller.trainers)
        controller.learn(ArrayIterator(x, y, batch_size=8, epochs=2, seed=0), verbose=False)
        results.append({k: v.data().asnumpy() for k, v in structural_params(controller).items()})
    for key in results[0]:
        np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_rbm_fast_path_steps_aside_for_a_parameter_server():
    """The RBM's fused epoch updates its parameters itself; with a store attached (as
    fit(kvstore="dist_sync") does) it takes the per-batch path, whose gradients go through the store."""
    x = (np.random.RandomState(0).rand(40, 6) > 0.5).astype(np.float32)
    results = []
    for attach in (False, True):
        rbm = RestrictedBoltzmannMachines(6, 4, seed=0)
        rbm.trainers = rbm.configure_trainers()
        if attach:
            distributed.attach_parameter_servers(rbm, {"kv": mx.kv.create("local"), "next_key": 0})
            calls = []
            sync = rbm.parameter_servers["model"]
            original = sync.allreduce
            sync.allreduce = lambda calls=calls, original=original: (calls.append(1), original())[1]
        rbm.learn(ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False)
        results.append(rbm.loss_arr)
    assert len(calls) == 8  # every batch's gradients went through the store
    # (the fused path draws its random numbers in another order: close, not equal)
    np.testing.assert_allclose(results[1][:, 0], results[0][:, 0], rtol=5e-3)
