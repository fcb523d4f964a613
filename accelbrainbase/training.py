"""The one mini-batch training loop behind every model's ``learn()`` (SPEC §4.4).

`fit` owns epochs, mini-batches, the test pass, the learning-rate schedule, early stopping, gradient
clipping, regularizers, the NaN/Inf guard, the progress bar, logging, callbacks and atomic
checkpoints with resume. A model supplies only what is its own:

- ``learn_step(x, y, clip_norm) -> NDArray``: one optimisation step on a mini-batch, returning the
  *summed* per-sample loss as a one-element NDArray (no host sync). `ObservableModel` provides the
  autograd version; models with explicit updates (RBMs) write their own.
- ``test_step(x, y) -> NDArray``: the summed per-sample loss of a held-out batch.
- optionally ``learn_epoch(batches, clip_norm, regularizers) -> (loss_sum, n)`` to run a whole
  epoch at once (e.g. many batches inside one graph call); the default is `learn_epoch` below.
- optionally ``epoch_metrics(iteratable_data) -> dict`` with extra per-epoch figures (accuracy, ...).

Loss values leave the device once per epoch, never per batch.

``fit(..., kvstore="dist_sync")`` trains data-parallel on MXNet's parameter server (SPEC §9): every
worker process runs the same script under the DMLC_* environment, trains on its shard of the data
(`ArrayIterator.shard`) and the server sums the gradients of all workers each step.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
from itertools import islice
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd
from tqdm import tqdm

from .context import derive_seed, seed_mxnet, split_batch
from .interfaces import IteratableData, RegularizatableData

__all__ = [
    "History",
    "TrainingDivergedError",
    "Callback",
    "fit",
    "learn_epoch",
    "gradient_step",
    "apply_gradients",
    "clip_gradients",
    "atomic_write",
    "optimizer_state_bytes",
    "load_optimizer_state_bytes",
    "CHECKPOINT_FILE",
]

logger = logging.getLogger("accelbrainbase")

CHECKPOINT_FILE = "checkpoint.json"

Batch = Tuple[mx.nd.NDArray, Optional[mx.nd.NDArray]]


class TrainingDivergedError(FloatingPointError):
    """Raised when a loss becomes NaN/Inf; the model keeps its last finite parameters."""


class History:
    """Per-epoch metrics of a training run.

    Example:
        >>> h = History()
        >>> h.append({"train_loss": 0.5, "test_loss": 0.6})
        >>> h.loss_arr
        array([[0.5, 0.6]])
    """

    def __init__(self, metrics: Optional[Dict[str, List[float]]] = None) -> None:
        self.metrics: Dict[str, List[float]] = {k: list(v) for k, v in (metrics or {}).items()}

    def append(self, logs: Dict[str, float]) -> None:
        n = len(self)
        for key, value in logs.items():
            # A metric that appears late is NaN-padded so every column has one value per epoch.
            self.metrics.setdefault(key, [math.nan] * n).append(float(value))
        for key, values in self.metrics.items():
            if len(values) == n:
                values.append(math.nan)

    def __len__(self) -> int:
        return max((len(v) for v in self.metrics.values()), default=0)

    def __getitem__(self, key: str) -> np.ndarray:
        return np.asarray(self.metrics[key], dtype=np.float64)

    def __contains__(self, key: str) -> bool:
        return key in self.metrics

    @property
    def loss_arr(self) -> np.ndarray:
        """``(epochs, 2)``: train and test loss per epoch (test is NaN without test data)."""
        n = len(self)
        cols = [self.metrics.get(k, [math.nan] * n) for k in ("train_loss", "test_loss")]
        return np.asarray(cols, dtype=np.float64).T.reshape(n, 2)

    def to_dict(self) -> Dict[str, List[float]]:
        return {k: list(v) for k, v in self.metrics.items()}

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, metrics={sorted(self.metrics)})"


class Callback:
    """Hooks called by `fit`. Return ``True`` from `on_epoch_end` to stop training.

    A plain function ``f(model, epoch, logs)`` works as an ``on_epoch_end`` callback too.
    """

    def on_train_begin(self, model: Any) -> None:
        pass

    def on_epoch_end(self, model: Any, epoch: int, logs: Dict[str, float]) -> Optional[bool]:
        return None

    def on_train_end(self, model: Any, history: History) -> None:
        pass


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``: readers see the old file
    or the complete new one, never half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def clip_gradients(params: Sequence[mx.gluon.Parameter], max_norm: float, batch_size: int) -> None:
    """Rescale gradients in place so the global L2 norm of the *mean* gradient is at most
    ``max_norm``. Works on every context's copy and never syncs with the host."""
    params = [p for p in params if p.grad_req != "null"]
    if not params:
        return
    grads = [p.list_grad()[0] for p in params]
    device = grads[0].context
    if all(g.context == device for g in grads):
        # One fused operator for all squared norms: small models pay per operator, not per FLOP.
        sq = mx.nd.multi_sum_sq(*grads, num_arrays=len(grads)).sum()
    else:
        sq = mx.nd.add_n(*[(g.as_in_context(device) ** 2).sum() for g in grads])
    norm = mx.nd.sqrt(sq) / batch_size
    # min(1, max_norm / (norm + eps)) in fewer operators
    scale = max_norm / mx.nd.maximum(norm + 1e-12, max_norm)
    for p in params:
        for g in p.list_grad():
            g *= scale.as_in_context(g.context)


def gradient_step(model: Any, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                  clip_norm: Optional[float] = None) -> mx.nd.NDArray:
    """One data-parallel autograd step: split the batch over ``model.ctx``, record
    ``model.compute_loss`` per slice, backpropagate, all-reduce, clip, update.

    Returns the summed per-sample loss of the batch on the first context.
    """
    ctx_list = model.ctx
    xs, ys = split_batch(x, ctx_list), split_batch(y, ctx_list)
    with autograd.record():
        losses = [model.compute_loss(xi, yi) for xi, yi in zip(xs, ys)]
        # A batch smaller than the device count leaves devices idle; they join with a
        # zero-weighted sample so their gradient is a fresh zero and every copy gets one update.
        idle = [model.compute_loss(x[:1].as_in_context(c), None if y is None else y[:1].as_in_context(c)) * 0
                for c in ctx_list[len(xs):]]
    autograd.backward(losses + idle)
    apply_gradients(model, x.shape[0], clip_norm)
    return _sum_on(losses, ctx_list[0])


def apply_gradients(model: Any, batch_size: int, clip_norm: Optional[float] = None) -> None:
    """Sum the gradient buffers over devices, clip them, and let ``model.trainer`` update.

    The gradients are sums over the batch; the optimizer rescales them by ``1 / batch_size``.
    Models with explicit (non-autograd) gradients write them into the buffers and call this.
    """
    trainer = model.trainer
    trainer.allreduce_grads()
    sync = getattr(trainer, "parameter_server", None)
    if sync is not None:
        # Now sum over every worker's (equally large) batch; rescale by the global batch size.
        sync.allreduce()
        batch_size *= sync.num_workers
    if clip_norm is not None:
        clip_gradients(list(model.collect_params().values()), clip_norm, batch_size)
    trainer.update(batch_size)


# --------------------------------------------------------------------------- parameter server
_DIST_KVSTORES = ("dist_sync", "dist_device_sync")
_DMLC_ENV = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER")
#: the process's parameter-server connection, ``type -> {"kv", "next_key"}`` (made once)
_DIST: Dict[str, Dict[str, Any]] = {}


class _ParameterServerSync:
    """Sums a trainer's gradients over every worker on a dist kvstore, after the local all-reduce.

    MXNet 1.9.1's own route (``gluon.Trainer(kvstore=dist_kv, update_on_kvstore=False)``) was
    measured to corrupt a weight now and then: the store kept a reference to a parameter array
    and pulled summed gradients into it (pure Gluon reproduces it). So the store only ever sees
    buffers of its own: gradients are copied in, summed on the server, and copied back.
    """

    def __init__(self, dist: Dict[str, Any], params: Sequence[mx.gluon.Parameter]) -> None:
        self.kv = dist["kv"]
        self.num_workers = self.kv.num_workers
        self.params = [p for p in params if p.grad_req != "null"]
        # Every worker runs the same script, so every worker hands out the same keys in turn.
        start = dist["next_key"]
        dist["next_key"] += len(params)
        keys = list(range(start, start + len(params)))
        # Every worker starts from worker 0's values (init stores worker 0's arrays, pull reads them).
        values = [p.list_data()[0].copy() for p in params]
        self.kv.init(keys, values)
        self.kv.pull(keys, out=values)
        for param, value in zip(params, values):
            param.set_data(value)
        self.keys = [k for k, p in zip(keys, params) if p.grad_req != "null"]
        self.buffers = [p.list_grad()[0].copy() for p in self.params]
        # Values no gradient updates (BatchNorm's running statistics) drift apart per shard.
        self.states = [(k, p) for k, p in zip(keys, params) if p.grad_req == "null"]

    def allreduce(self) -> None:
        for param, buf in zip(self.params, self.buffers):
            param.list_grad()[0].copyto(buf)
        self.kv.pushpull(self.keys, self.buffers)
        for param, buf in zip(self.params, self.buffers):
            for grad in param.list_grad():
                buf.copyto(grad)

    def average_states(self) -> None:
        """Replace the values no gradient updates by their mean over the workers (after each
        epoch), so that every worker tests, stops and saves the same model."""
        if not self.states:
            return
        keys = [k for k, _ in self.states]
        values = [p.list_data()[0].copy() for _, p in self.states]
        self.kv.pushpull(keys, values)
        for (_, param), value in zip(self.states, values):
            param.set_data(value / self.num_workers)


def _dist_kvstore(kvstore: Any) -> Optional[Dict[str, Any]]:
    """Validate ``fit``'s ``kvstore``: ``None`` for training in this process, else the process's
    parameter-server state."""
    if isinstance(kvstore, mx.kv.KVStore):
        name = kvstore.type
    elif isinstance(kvstore, str):
        name = kvstore
    else:
        raise TypeError(f"kvstore must be a name or an mx.kv.KVStore, got {type(kvstore).__name__}")
    if name == "device":
        return None
    if name.startswith("dist") and "async" in name:
        raise ValueError(f"kvstore={name!r} is not supported: fit sums the gradients, clips them and "
                         "updates on every worker, which needs a synchronous store; use 'dist_sync'")
    if name not in _DIST_KVSTORES:
        raise ValueError(f"unknown kvstore {name!r}; use None or 'device' (this process) or "
                         f"{' or '.join(repr(k) for k in _DIST_KVSTORES)} (MXNet's parameter server)")
    if name not in _DIST:
        if isinstance(kvstore, str):
            missing = [k for k in _DMLC_ENV if not os.environ.get(k)]
            if missing:
                raise RuntimeError(
                    f"kvstore={name!r} needs the parameter-server environment; missing {', '.join(missing)}. "
                    "Launch every process with DMLC_ROLE (scheduler, server or worker), DMLC_PS_ROOT_URI and "
                    "DMLC_PS_ROOT_PORT (the scheduler's address), DMLC_NUM_SERVER and DMLC_NUM_WORKER; a "
                    "scheduler and each server are `python -c 'import mxnet'` under DMLC_ROLE=scheduler/server")
            if os.environ["DMLC_ROLE"] != "worker":
                raise RuntimeError(f"kvstore={name!r}: this process has DMLC_ROLE="
                                   f"{os.environ['DMLC_ROLE']!r}; only workers train")
            kvstore = mx.kv.create(name)
        _DIST[name] = {"kv": kvstore, "next_key": 0, "logs_key": None}
    elif isinstance(kvstore, mx.kv.KVStore) and kvstore is not _DIST[name]["kv"]:
        raise RuntimeError(f"this process already trains on another {name!r} kvstore; use one per process")
    return _DIST[name]


def _attach_parameter_server(model: Any, dist: Dict[str, Any]) -> None:
    """Make ``apply_gradients`` sum ``model.trainer``'s gradients over the workers."""
    trainer = model.trainer
    if not isinstance(trainer, mx.gluon.Trainer):
        raise NotImplementedError(
            f"{type(model).__name__} does not support kvstore={dist['kv'].type!r}: it trains several "
            f"optimizers ({type(trainer).__name__}, a trainer per player or part) with updates of its own; "
            "train it in one process (kvstore=None)")
    sync = getattr(trainer, "parameter_server", None)
    if sync is None or sync.kv is not dist["kv"]:
        params = [p for _, p in sorted(model.collect_params().items())]
        trainer.parameter_server = _ParameterServerSync(dist, params)


def _shard(iteratable_data: IteratableData, kv: Any) -> IteratableData:
    parts, index = kv.num_workers, kv.rank
    if getattr(iteratable_data, "num_parts", 1) == parts and getattr(iteratable_data, "part_index", 0) == index:
        return iteratable_data
    if getattr(iteratable_data, "num_parts", 1) != 1:
        raise ValueError(f"the data is part {iteratable_data.part_index} of {iteratable_data.num_parts}, "
                         f"but this is worker {index} of {parts}")
    if not hasattr(iteratable_data, "shard"):
        raise NotImplementedError(f"{type(iteratable_data).__name__} cannot be sharded over workers "
                                  "(no shard(num_parts, part_index) method); use an ArrayIterator")
    return iteratable_data.shard(parts, index)


def _global_sums(dist: Dict[str, Any], total: float, count: int) -> Tuple[float, int]:
    """Sum a worker's epoch loss total and sample count over every worker, so that all take the
    same early-stopping and divergence decisions (one stopping alone would stall the others)."""
    kv = dist["kv"]
    if dist["logs_key"] is None:
        dist["logs_key"] = dist["next_key"]
        dist["next_key"] += 1
        kv.init(dist["logs_key"], mx.nd.zeros(2, dtype=np.float64))
    out = mx.nd.array([total, count], dtype=np.float64)
    kv.pushpull(dist["logs_key"], out)
    summed = out.asnumpy()
    return float(summed[0]), int(round(summed[1]))


def _sum_on(losses: List[mx.nd.NDArray], device: mx.Context) -> mx.nd.NDArray:
    total = [loss.sum().as_in_context(device) for loss in losses]
    return total[0] if len(total) == 1 else mx.nd.add_n(*total)


def learn_epoch(model: Any, batches: Iterable[Batch], clip_norm: Optional[float] = None,
                regularizers: Sequence[RegularizatableData] = ()) -> Tuple[Optional[mx.nd.NDArray], int]:
    """Default epoch: ``model.learn_step`` per batch, regularizers after each step.

    Returns the summed loss (NDArray, still on the device) and the number of samples.
    """
    total, count = None, 0
    params = model.collect_params() if regularizers else None
    for x, y in batches:
        loss = model.learn_step(x, y, clip_norm)
        total = loss if total is None else total + loss
        count += x.shape[0]
        for regularizer in regularizers:
            regularizer.regularize(params)
    return total, count


def evaluate(model: Any, batches: Iterable[Batch]) -> Tuple[Optional[mx.nd.NDArray], int]:
    """Summed test loss (on the device) and sample count over ``batches``."""
    total, count = None, 0
    for x, y in batches:
        loss = model.test_step(x, y)
        total = loss if total is None else total + loss
        count += x.shape[0]
    return total, count


def _epoch_batches(it: IteratableData, epoch: int, state: Dict[str, Any]) -> Iterator[Batch]:
    if hasattr(it, "train_batches"):
        return it.train_batches(epoch)
    # A bare IteratableData: take iter_n tuples of its running generator per epoch.
    if "gen" not in state:
        state["gen"] = it.generate_learned_samples()
    tuples = list(islice(state["gen"], it.iter_n))
    state["tests"] = [(t[2], t[3]) for t in tuples if t[2] is not None]
    return iter([(t[0], t[1]) for t in tuples])


def _test_batches(it: IteratableData, state: Dict[str, Any]) -> Iterator[Batch]:
    if hasattr(it, "test_batches"):
        return it.test_batches()
    return iter(state.get("tests", []))


def _has_test(it: IteratableData) -> bool:
    return getattr(it, "n_test", 1) > 0


class _ProgressBatches:
    """Passes batches through while ticking the progress bar (works for per-epoch steps too)."""

    def __init__(self, batches: Iterator[Batch], bar: Optional[tqdm]) -> None:
        self.batches, self.bar = batches, bar

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.batches:
            yield batch
            if self.bar is not None:
                self.bar.update(1)


def optimizer_state_bytes(trainer: mx.gluon.Trainer) -> bytes:
    """A `gluon.Trainer`'s optimizer state (what ``save_states`` writes) as bytes, to keep inside
    another file."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "states")
        trainer.save_states(path)
        with open(path, "rb") as f:
            return f.read()


def load_optimizer_state_bytes(trainer: mx.gluon.Trainer, data: bytes) -> None:
    """Give ``trainer`` the optimizer state `optimizer_state_bytes` returned."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "states")
        with open(path, "wb") as f:
            f.write(data)
        trainer.load_states(path)


def _snapshot(model: Any) -> Dict[str, mx.nd.NDArray]:
    # Copies, not references: the NaN guard must restore the values of before the epoch.
    return {name: p.list_data()[0].copy() for name, p in model.collect_params().items()}


def _restore(model: Any, snapshot: Dict[str, mx.nd.NDArray]) -> None:
    for name, p in model.collect_params().items():
        p.set_data(snapshot[name])


def _save_checkpoint(model: Any, directory: str, epoch: int, history: History,
                     stopper: Dict[str, Any]) -> None:
    params_file = f"epoch-{epoch:04d}.params"
    states_file = f"epoch-{epoch:04d}.states"
    atomic_write(os.path.join(directory, params_file), model.save_parameters)
    atomic_write(os.path.join(directory, states_file), model.trainer.save_states)
    record = {"epoch": epoch, "params": params_file, "states": states_file,
              "history": history.to_dict(), "early_stopping": stopper}
    # State that is not a parameter but shapes what comes next (persistent Gibbs chains, a GAN's
    # position in its k-step cycle): without it a resumed run would not be the uninterrupted one.
    extra = model.extra_state() if hasattr(model, "extra_state") else {}
    if extra:
        record["extra"] = f"epoch-{epoch:04d}.extra.npz"

        def write_extra(path: str) -> None:
            with open(path, "wb") as f:
                np.savez(f, **extra)

        atomic_write(os.path.join(directory, record["extra"]), write_extra)

    def write_json(path: str) -> None:
        with open(path, "w") as f:
            json.dump(record, f)

    # The JSON is written last and names the files: a crash before it leaves the previous
    # checkpoint in force, a crash after it leaves a complete new one.
    atomic_write(os.path.join(directory, CHECKPOINT_FILE), write_json)
    for name in os.listdir(directory):
        if name.startswith("epoch-") and name not in (params_file, states_file, record.get("extra")):
            os.remove(os.path.join(directory, name))


def _load_checkpoint(model: Any, directory: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(directory, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        model.load_parameters(os.path.join(directory, record["params"]), ctx=model.ctx)
        model.trainer.load_states(os.path.join(directory, record["states"]))
        if record.get("extra"):
            with np.load(os.path.join(directory, record["extra"])) as arrays:
                model.set_extra_state({name: arrays[name] for name in arrays.files})
    except (OSError, ValueError, KeyError, mx.MXNetError) as err:
        raise ValueError(f"cannot resume from checkpoint {path}: {err}") from err
    return record


def _call_callback(cb: Any, model: Any, epoch: int, logs: Dict[str, float]) -> bool:
    if hasattr(cb, "on_epoch_end"):
        return bool(cb.on_epoch_end(model, epoch, logs))
    return bool(cb(model, epoch, logs))


def fit(
    model: Any,
    iteratable_data: IteratableData,
    *,
    epochs: Optional[int] = None,
    lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None,
    tol: float = 0.0,
    patience: Optional[int] = None,
    clip_norm: Optional[float] = None,
    regularizers: Sequence[RegularizatableData] = (),
    callbacks: Sequence[Any] = (),
    checkpoint_dir: Optional[str] = None,
    resume: bool = False,
    verbose: bool = True,
    kvstore: Optional[Any] = None,
) -> History:
    """Train ``model`` on ``iteratable_data``; the loop behind every ``learn()``.

    Args:
        model: an `ObservableModel` (or anything with ``ctx``, ``trainer``, ``learn_step``,
            ``test_step``, ``collect_params``).
        iteratable_data: the batches; its ``epochs`` is used unless ``epochs`` is given.
        lr_scheduler: an ``mx.lr_scheduler`` scheduler (it counts optimizer updates, i.e. batches).
        tol, patience: stop when the monitored loss (test loss, or train loss without test data)
            has not improved by more than ``tol`` for ``patience`` epochs (``None``: never stop early).
        clip_norm: clip the global L2 norm of the mean gradient to this value.
        regularizers: `RegularizatableData` applied after every optimizer step.
        callbacks: `Callback` objects or functions ``f(model, epoch, logs)``; a ``True`` return stops.
        checkpoint_dir: write an atomic checkpoint (parameters, optimizer state, history) each epoch.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one.
        verbose: show a progress bar (only on a terminal) and log each epoch at INFO level.
        kvstore: ``None`` (or ``"device"``): sum gradients over ``model.ctx`` in this process.
            ``"dist_sync"`` (or an ``mx.kv.create("dist_sync")`` store): data-parallel training
            on MXNet's parameter server - run the same script in every worker process under the
            DMLC_* environment (next to a scheduler and the servers). Each worker
            trains on its shard of ``iteratable_data`` (`ArrayIterator.shard`; ``batch_size`` is
            per worker), the server sums every worker's gradients each step, the optimizer
            rescales by the global batch size, and the workers stay identical. ``train_loss``
            is over all workers; only worker 0 logs and writes checkpoints (``checkpoint_dir``
            on a shared file system to resume). Controllers with a trainer per player or part
            (GAN, AAE, DRCN families) are refused.

    Returns:
        The `History`; it is also stored as ``model.history``, with ``model.loss_arr`` its
        ``(epochs, 2)`` train/test losses.

    Raises:
        TrainingDivergedError: a loss became NaN/Inf; the parameters of the last finite epoch are
            restored and the epoch is named.

    Example:
        >>> history = fit(model, ArrayIterator(x, batch_size=32, epochs=5), patience=3)  # doctest: +SKIP
    """
    epochs = int(iteratable_data.epochs if epochs is None else epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be a positive number of epochs, got {patience}")
    dist = None if kvstore is None else _dist_kvstore(kvstore)
    if dist is not None:
        iteratable_data = _shard(iteratable_data, dist["kv"])
    if hasattr(model, "check_data"):
        model.check_data(iteratable_data)
    if model.trainer is None or lr_scheduler is not None:
        model.trainer = model.make_trainer(lr_scheduler=lr_scheduler)
    if dist is not None:
        _attach_parameter_server(model, dist)
    rank = 0 if dist is None else dist["kv"].rank
    writer = rank == 0  # on a parameter server only worker 0 logs and writes checkpoints

    history = History()
    stopper = {"best": math.inf, "bad_epochs": 0}
    start = 0
    if checkpoint_dir is not None:
        os.makedirs(checkpoint_dir, exist_ok=True)
        if resume:
            record = _load_checkpoint(model, checkpoint_dir)
            if record is not None:
                start = record["epoch"] + 1
                history = History(record["history"])
                stopper = record["early_stopping"]
                if writer:
                    logger.info("resuming from %s after epoch %d", checkpoint_dir, record["epoch"])

    run_epoch = getattr(model, "learn_epoch", None)
    show_bar = verbose and writer and sys.stderr.isatty()
    bar = tqdm(total=(epochs - start) * iteratable_data.iter_n, desc=type(model).__name__,
               disable=not show_bar, leave=False)
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)
    state: Dict[str, Any] = {}
    seed = getattr(model, "seed", None)
    try:
        for epoch in range(start, epochs):
            if seed is not None:
                # Reseeding per epoch makes dropout/noise of epoch k independent of how we got
                # there, so a resumed run matches an uninterrupted one.
                # Workers draw independent noise (dropout, sampling) for their shards.
                seed_mxnet(derive_seed(seed, "epoch", epoch) if dist is None
                           else derive_seed(seed, "epoch", epoch, "worker", rank), model.ctx)
            snapshot = _snapshot(model)
            batches = _ProgressBatches(_epoch_batches(iteratable_data, epoch, state), bar)
            if run_epoch is not None:
                total, count = run_epoch(batches, clip_norm, regularizers)
            else:
                total, count = learn_epoch(model, batches, clip_norm, regularizers)
            train_total = float(total.asscalar()) if count else math.nan
            if dist is not None:
                model.trainer.parameter_server.average_states()
                train_total, count = _global_sums(dist, train_total, count)
            logs = {"train_loss": train_total / count if count else math.nan}
            if _has_test(iteratable_data):
                test_total, test_count = evaluate(model, _test_batches(iteratable_data, state))
                if test_count:
                    logs["test_loss"] = float(test_total.asscalar()) / test_count
            if not all(math.isfinite(v) for v in logs.values()):
                _restore(model, snapshot)
                model.trainer = None  # its optimizer state is poisoned too
                raise TrainingDivergedError(
                    f"training diverged at epoch {epoch + 1}/{epochs}: "
                    + ", ".join(f"{k}={v}" for k, v in logs.items())
                    + f"; parameters restored to the end of epoch {epoch}. "
                    "Lower the learning rate or set clip_norm."
                )
            if hasattr(model, "epoch_metrics"):
                logs.update(model.epoch_metrics(iteratable_data))
            history.append(logs)
            model.history, model.loss_arr = history, history.loss_arr
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if verbose and writer:
                logger.info("%s epoch %d/%d %s", type(model).__name__, epoch + 1, epochs,
                            " ".join(f"{k}={v:.5g}" for k, v in logs.items()))

            monitored = logs.get("test_loss", logs["train_loss"])
            if monitored < stopper["best"] - tol:
                stopper = {"best": monitored, "bad_epochs": 0}
            else:
                stopper = {"best": stopper["best"], "bad_epochs": stopper["bad_epochs"] + 1}
            if checkpoint_dir is not None and writer:
                _save_checkpoint(model, checkpoint_dir, epoch, history, stopper)
            stop = any([_call_callback(cb, model, epoch, logs) for cb in callbacks])
            if patience is not None and stopper["bad_epochs"] >= patience:
                if writer:
                    logger.info("early stopping after epoch %d: no improvement above tol=%g for %d epochs",
                                epoch + 1, tol, patience)
                stop = True
            if stop:
                break
    finally:
        bar.close()
    model.history, model.loss_arr = history, history.loss_arr
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(model, history)
    return history
