"""The one mini-batch training loop behind every model's ``learn()``: `fit`.

`fit` owns epochs, mini-batches, the test pass, the learning-rate schedule, early stopping, gradient
clipping, regularizers, the NaN/Inf guard, progress, logging, callbacks, atomic checkpoints with
resume, and data-parallel training on a parameter server. It knows no particular model: it talks to
the model through the contract `models.ObservableModel` documents (``prepare``, ``configure_trainers``,
``train_epoch`` / ``train_step``, ``test_step``, ``state_dict``) and to the data through
`IteratableData` (``train_batches``, ``test_batches``, ``epochs``, ``iter_n``, ``shard``). The design is
written up for contributors in ``docs/design.md``.

Loss values leave the device once per epoch, never per batch.
"""
from __future__ import annotations

import contextvars
import json
import logging
import math
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd

from .context import derive_seed, seed_mxnet, split_batch
from .distributed import attach_parameter_servers, dist_kvstore, global_sums, shard_for_worker
from .gluon_internals import trainer_params
from .interfaces import Batch, IteratableData, RegularizatableData

__all__ = [
    "History",
    "TrainingDivergedError",
    "Callback",
    "StepSums",
    "Progress",
    "TaskProgress",
    "fit",
    "gradient_step",
    "apply_gradients",
    "clip_gradients",
    "sum_on",
    "atomic_write",
    "optimizer_state_bytes",
    "load_optimizer_state_bytes",
    "read_checkpoint",
    "save_checkpoint",
    "CHECKPOINT_FILE",
]

logger = logging.getLogger("accelbrainbase")

CHECKPOINT_FILE = "checkpoint.json"

#: What a model's ``train_epoch`` returns: per loss name, its summed per-sample value (an NDArray
#: still on the device) and the number of samples it sums over (an int, or an NDArray on the device).
StepSums = Dict[str, Tuple[mx.nd.NDArray, Any]]


class TrainingDivergedError(FloatingPointError):
    """Raised when a loss becomes NaN/Inf; the model keeps its last finite parameters."""


class History:
    """Per-epoch metrics of a model's whole training (every ``learn`` call appends to it).

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
        for values in self.metrics.values():
            if len(values) == n:
                values.append(math.nan)

    def __len__(self) -> int:
        return max((len(v) for v in self.metrics.values()), default=0)

    def __getitem__(self, key: str) -> np.ndarray:
        return np.asarray(self.metrics[key], dtype=np.float64)

    def __contains__(self, key: str) -> bool:
        return key in self.metrics

    def keys(self) -> List[str]:
        return sorted(self.metrics)

    def since(self, epoch: int) -> "History":
        """The epochs from ``epoch`` on (e.g. what one ``learn`` call added)."""
        return History({k: v[epoch:] for k, v in self.metrics.items()})

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


def sum_on(losses: Sequence[mx.nd.NDArray], device: mx.Context) -> mx.nd.NDArray:
    """The sum of every element of ``losses`` (arrays on any devices), on ``device``."""
    total = [loss.sum().as_in_context(device) for loss in losses]
    return total[0] if len(total) == 1 else mx.nd.add_n(*total)


def gradient_step(model: Any, loss_fn: Callable[..., mx.nd.NDArray], *arrays: Optional[mx.nd.NDArray],
                  trainer: str = "model", clip_norm: Optional[float] = None) -> mx.nd.NDArray:
    """One data-parallel autograd step of one of ``model``'s trainers.

    The batch ``arrays`` (all with the same first axis; ``None`` entries stay ``None``) are split
    over ``model.ctx``; ``loss_fn(*slices)`` runs on each device's slice under autograd and returns
    per-sample losses; the gradients are summed over the devices (and the workers of a parameter
    server), clipped, and ``model.trainers[trainer]`` takes its step. A batch with fewer samples
    than devices leaves devices idle: they join with a zero-weighted sample so every copy of the
    parameters gets a fresh gradient.

    Returns the summed per-sample loss of the batch, on the first context (no host sync).

    Example:
        >>> loss = gradient_step(model, model.compute_loss, x, y, clip_norm=1.0)   # doctest: +SKIP
    """
    first = arrays[0] if arrays else None
    if first is None:
        raise ValueError("gradient_step: the first of the batch arrays (the samples) is missing")
    ctx_list = model.ctx
    parts = [split_batch(a, ctx_list) for a in arrays]
    used = len(parts[0]) if parts else 1
    with autograd.record():
        losses = [loss_fn(*slices) for slices in zip(*parts)]
        idle = [loss_fn(*[None if a is None else a[:1].as_in_context(c) for a in arrays]) * 0
                for c in ctx_list[used:]]
    autograd.backward(losses + idle)
    apply_gradients(model, first.shape[0], clip_norm, trainer=trainer)
    return sum_on(losses, ctx_list[0])


def apply_gradients(model: Any, batch_size: int, clip_norm: Optional[float] = None, *,
                    trainer: str = "model") -> None:
    """Sum the gradient buffers of one trainer over devices (and parameter-server workers), clip
    them, and let ``model.trainers[trainer]`` update.

    The gradients are sums over the batch; the optimizer rescales them by ``1 / batch_size``.
    Models with explicit (non-autograd) gradients write them into the buffers and call this.
    """
    gluon_trainer = model.trainers[trainer]
    gluon_trainer.allreduce_grads()
    sync = model.parameter_servers.get(trainer)
    if sync is not None:
        # Now sum over every worker's (equally large) batch; rescale by the global batch size.
        sync.allreduce()
        batch_size *= sync.num_workers
    if clip_norm is not None:
        clip_gradients(trainer_params(gluon_trainer), clip_norm, batch_size)
    gluon_trainer.update(batch_size)


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


# --------------------------------------------------------------------------- checkpoints
def read_checkpoint(directory: str) -> Optional[Dict[str, Any]]:
    """The record of the checkpoint in ``directory`` (``None`` when there is none); its ``file``
    entry is the full path of the model file it names."""
    path = os.path.join(directory, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        record["file"] = os.path.join(directory, record["file"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from None
    return record


def save_checkpoint(model: Any, directory: str, epoch: int, call: Dict[str, Any], stopper: Dict[str, Any],
                    save: Optional[Callable[[str], None]] = None) -> None:
    """Write ``model`` (`ObservableModel.save`, or ``save(path)``) as the checkpoint of ``epoch``
    (0-based, over the model's history) into ``directory``, atomically; ``call`` (what the
    interrupted call needs to resume, e.g. its first epoch and length) and ``stopper``
    (early-stopping state) go into ``checkpoint.json`` for `read_checkpoint`."""
    name = f"epoch-{epoch:04d}.params"
    (save or model.save)(os.path.join(directory, name))
    record = {"epoch": epoch, "file": name, "call": call, "early_stopping": stopper}

    def write_json(path: str) -> None:
        with open(path, "w") as f:
            json.dump(record, f)

    # The JSON is written last and names the model file: a crash before it leaves the previous
    # checkpoint in force, a crash after it a complete new one.
    atomic_write(os.path.join(directory, CHECKPOINT_FILE), write_json)
    for old in os.listdir(directory):
        if old.startswith("epoch-") and old != name:
            os.remove(os.path.join(directory, old))


# --------------------------------------------------------------------------- progress
def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _format(logs: Dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in logs.items())


class Progress:
    """What `fit` shows while it trains, Keras-like.

    ``verbose=1`` (or ``True``, the default): in Jupyter and on terminals, a progress bar over each
    epoch's batches that stays as one line per epoch with the epoch's figures; when the output is
    piped or logged to a file, one plain line per epoch. ``verbose=2``: one plain line per epoch
    always; ``verbose=0`` (``False``): nothing. Both go to standard error, so that a script's own
    output stays clean, and every epoch is also logged to the ``accelbrainbase`` logger at INFO level:
    ``AutoEncoder epoch 3/20 train_loss=0.0123 test_loss=0.0131 (0.4 s)``. The bars are tqdm's
    text bars, which render in a notebook's output (and in a stored notebook) without widgets.
    """

    def __init__(self, verbose: Any, name: str, total_epochs: int, batches_per_epoch: Optional[int],
                 enabled: bool = True) -> None:
        level = int(verbose) if enabled else 0
        if level not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2 (or a bool), got {verbose!r}")
        self.name, self.total_epochs, self.batches_per_epoch = name, total_epochs, batches_per_epoch
        interactive = _in_notebook() or sys.stderr.isatty()
        self.bars = level == 1 and interactive
        self.lines = level == 2 or (level == 1 and not interactive)
        self.bar: Any = None
        self.started = time.perf_counter()

    def batches(self, batches: Iterable[Batch], epoch: int) -> Iterator[Batch]:
        if self.bars:
            from tqdm import tqdm  # the text bar: no widget needed in Jupyter

            self.bar = tqdm(total=self.batches_per_epoch, desc=f"{self.name} {epoch + 1}/{self.total_epochs}",
                            leave=True, unit="batch", file=sys.stderr, dynamic_ncols=True)
        for batch in batches:
            yield batch
            if self.bar is not None:
                self.bar.update(1)

    def epoch_end(self, epoch: int, logs: Dict[str, float]) -> None:
        elapsed = time.perf_counter() - self.started
        self.started = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix_str(_format(logs), refresh=False)
            self.bar.close()
            self.bar = None
        if self.lines:
            print(f"{self.name} epoch {epoch + 1}/{self.total_epochs} {_format(logs)} ({elapsed:.1f} s)",
                  file=sys.stderr, flush=True)
        logger.info("%s epoch %d/%d %s", self.name, epoch + 1, self.total_epochs, _format(logs))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


#: The verbosity of the `fit` call running now (1 outside any): long work a model does inside `fit`
#: (pre-training in ``prepare``) shows progress by the caller's choice without being told.
_VERBOSITY: contextvars.ContextVar = contextvars.ContextVar("accelbrainbase_verbosity", default=1)


def _verbose_level(verbose: Any) -> int:
    level = int(verbose)
    if level not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2 (or a bool), got {verbose!r}")
    return level


def verbosity() -> int:
    """The ``verbose`` level of the enclosing `fit` call (1 when there is none)."""
    return _VERBOSITY.get()


class TaskProgress:
    """Progress of long work outside `fit`'s epochs (AIS, DQN's environment steps, layer-wise
    pre-training), by the rules of `Progress`: a text bar in Jupyter and on terminals; when piped,
    one line when the work is done; nothing with ``verbose=0``. ``verbose=None`` takes the level of
    the enclosing `fit` call (see `verbosity`).

    Example:
        >>> with TaskProgress(100, "AIS", verbose=0) as progress:
        ...     for _ in range(100):
        ...         progress.update(1)
    """

    def __init__(self, total: Optional[int], desc: str, verbose: Any = None, unit: str = "it") -> None:
        level = verbosity() if verbose is None else int(verbose)
        if level not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2 (or a bool), got {verbose!r}")
        interactive = _in_notebook() or sys.stderr.isatty()
        self.desc, self.unit, self.done = desc, unit, 0
        self.line = level == 2 or (level == 1 and not interactive)
        self.bar: Any = None
        if level == 1 and interactive:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stderr, dynamic_ncols=True)
        self.started = time.perf_counter()
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.line:
            self.line = False
            print(f"{self.desc}: {self.done} {self.unit} in {time.perf_counter() - self.started:.1f} s"
                  + (f" ({self.postfix})" if self.postfix else ""), file=sys.stderr, flush=True)

    def __enter__(self) -> "TaskProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------- the loop
def _snapshot(model: Any) -> Dict[str, mx.nd.NDArray]:
    # Copies, not references: the NaN guard must restore the values of before the epoch.
    return {name: p.list_data()[0].copy() for name, p in model.collect_params().items()}


def _restore(model: Any, snapshot: Dict[str, mx.nd.NDArray]) -> None:
    for name, p in model.collect_params().items():
        p.set_data(snapshot[name])


def _call_callback(cb: Any, model: Any, epoch: int, logs: Dict[str, float]) -> bool:
    if isinstance(cb, Callback):
        return bool(cb.on_epoch_end(model, epoch, logs))
    return bool(cb(model, epoch, logs))


def _accumulate(sums: StepSums, step: Dict[str, Any], count: int) -> None:
    """Add a step's figures: an NDArray is a sum over the batch's ``count`` samples; a pair
    ``(sum, n)`` brings its own sample count (an int or an NDArray, e.g. the labelled samples)."""
    for key, value in step.items():
        value, n_new = value if isinstance(value, tuple) else (value, count)
        total, n = sums.get(key, (None, 0))
        sums[key] = (value if total is None else total + value, n_new if total is None else n + n_new)


def _to_host(sums: StepSums) -> Dict[str, Tuple[float, float]]:
    """Every summed figure of an epoch (and its sample count when that is on the device) to the host
    in one transfer."""
    keys = [k for k, (total, n) in sums.items() if total is not None]
    if not keys:
        return {}
    device = sums[keys[0]][0].context
    parts = [sums[k][0].reshape((1,)).astype(np.float64).as_in_context(device) for k in keys]
    device_counts = [k for k in keys if isinstance(sums[k][1], mx.nd.NDArray)]
    parts += [sums[k][1].reshape((1,)).astype(np.float64).as_in_context(device) for k in device_counts]
    values = mx.nd.concat(*parts, dim=0).asnumpy()
    counts = {k: float(sums[k][1]) for k in keys if k not in device_counts}
    counts.update({k: float(v) for k, v in zip(device_counts, values[len(keys):])})
    return {k: (float(v), counts[k]) for k, v in zip(keys, values[:len(keys)]) if counts[k]}


def evaluate(model: Any, data: IteratableData) -> Dict[str, float]:
    """Mean held-out figures of ``model`` over ``data.test_batches()``: ``test_loss`` and whatever
    else the model's ``test_step`` reports (``test_accuracy``, ...). Empty without held-out data."""
    sums: StepSums = {}
    for x, y in data.test_batches():
        _accumulate(sums, model.test_step(x, y), x.shape[0])
    return {("test_loss" if k == "loss" else f"test_{k}"): total / n for k, (total, n) in _to_host(sums).items()}


def fit(
    model: Any,
    data: Any,
    y: Any = None,
    *,
    test_data: Any = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    test_size: float = 0.0,
    shuffle: bool = True,
    noiseable_data: Any = None,
    lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None,
    tol: float = 0.0,
    patience: Optional[int] = None,
    clip_norm: Optional[float] = None,
    regularizers: Sequence[RegularizatableData] = (),
    callbacks: Sequence[Any] = (),
    checkpoint_dir: Optional[str] = None,
    resume: bool = False,
    verbose: Any = 1,
    kvstore: Optional[Any] = None,
) -> History:
    """Train ``model`` on ``data`` for ``epochs`` more epochs; the loop behind every ``learn()``.

    A second call continues where the first stopped: epoch numbers, ``model.history`` and the
    optimizer state carry on (`ObservableModel.save` keeps them too).

    Args:
        model: an `models.ObservableModel` (or anything with its training contract).
        data: an `IteratableData`, a Gluon ``DataLoader`` or ``Dataset``, an ``mx.io.DataIter``, or
            arrays / DataFrames (see `data.as_iteratable`); anything else raises ``TypeError``.
        y: targets for array ``data``.
        test_data: held-out data in any of those forms (arrays: ``x`` or ``(x, y)``).
        epochs: epochs of this call (default: the iterator's ``epochs``).
        batch_size, test_size, shuffle, noiseable_data: for array data (see `data.as_iteratable`).
        lr_scheduler: an ``mx.lr_scheduler`` scheduler (it counts optimizer updates, i.e. batches).
        tol, patience: stop when the monitored loss (test loss, or train loss without test data)
            has not improved by more than ``tol`` for ``patience`` epochs (``None``: never stop early).
        clip_norm: clip the global L2 norm of the mean gradient to this value.
        regularizers: `RegularizatableData` applied after every optimizer step.
        callbacks: `Callback` objects or functions ``f(model, epoch, logs)``; a ``True`` return stops.
        checkpoint_dir: after every epoch, write the model (`ObservableModel.save`: weights,
            optimizer state, extra state, history) atomically into this directory.
        resume: continue the call whose checkpoint is in ``checkpoint_dir`` (when there is one):
            the model takes the checkpoint's state and trains up to that call's last epoch.
        verbose: 1 (``True``): a progress bar in Jupyter and on terminals, a line per epoch when
            piped; 2: a line per epoch; 0 (``False``): silent. See `Progress`.
        kvstore: ``None`` (or ``"device"``): sum gradients over ``model.ctx`` in this process.
            ``"dist_sync"`` (or an ``mx.kv.create("dist_sync")`` store): data-parallel training on
            MXNet's parameter server (see `distributed`).

    Returns:
        This call's epochs as a `History`; ``model.history`` holds every epoch so far and
        ``model.loss_arr`` its ``(epochs, 2)`` train/test losses.

    Raises:
        TrainingDivergedError: a loss became NaN/Inf; the parameters of the last finite epoch are
            restored and the epoch is named.
        TypeError: ``data`` is of a kind `fit` cannot learn from.

    Example:
        >>> history = fit(model, x, y, epochs=5, batch_size=32, test_size=0.2, patience=3)  # doctest: +SKIP
    """
    from .data.adapters import as_iteratable  # the data layer imports this module's helpers

    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be a positive number of epochs, got {patience}")
    it = as_iteratable(data, y, test_data=test_data, batch_size=batch_size, test_size=test_size, shuffle=shuffle,
                       noiseable_data=noiseable_data, ctx=model.ctx[0], seed=model.seed)
    epochs = int(it.epochs if epochs is None else epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    dist = None if kvstore is None else dist_kvstore(kvstore)
    if dist is not None:
        it = shard_for_worker(it, dist["kv"])

    rank = 0 if dist is None else dist["kv"].rank
    # Long work inside this call (a model's pre-training in prepare) shows progress at this level.
    token = _VERBOSITY.set(_verbose_level(verbose) if rank == 0 else 0)
    try:
        stopper: Dict[str, Any] = {"best": math.inf, "bad_epochs": 0}
        record = read_checkpoint(checkpoint_dir) if resume and checkpoint_dir is not None else None
        if record is not None:
            # Restored first, so that prepare() sees the resumed state (e.g. layers already pre-trained).
            model.restore(record["file"])
            call = record["call"]
            stopper = record["early_stopping"]
        else:
            call = {"start": len(model.history), "epochs": epochs}
        model.prepare(it)
        call["epochs"] = epochs
        start, end = len(model.history), call["start"] + epochs
        # A resumed run keeps its restored trainers: their saved optimizer carries the schedule's position.
        if not model.trainers or (lr_scheduler is not None and record is None):
            model.trainers = model.configure_trainers(lr_scheduler=lr_scheduler)
        if dist is not None:
            attach_parameter_servers(model, dist)
        writer = rank == 0  # on a parameter server only worker 0 logs and writes checkpoints
        if checkpoint_dir is not None and writer:
            os.makedirs(checkpoint_dir, exist_ok=True)
        if record is not None and writer:
            logger.info("resuming from %s after epoch %d", checkpoint_dir, record["epoch"] + 1)

        progress = Progress(verbose, type(model).__name__, end, it.iter_n, enabled=writer)
        for cb in callbacks:
            if isinstance(cb, Callback):
                cb.on_train_begin(model)
        seed = model.seed
        try:
            for epoch in range(start, end):
                if seed is not None:
                    # Reseeding per epoch makes dropout/noise of epoch k independent of how we got
                    # there, so a resumed run matches an uninterrupted one. Workers draw independent
                    # noise (dropout, sampling) for their shards.
                    seed_mxnet(derive_seed(seed, "epoch", epoch) if dist is None
                               else derive_seed(seed, "epoch", epoch, "worker", rank), model.ctx)
                snapshot = _snapshot(model)
                sums = model.train_epoch(progress.batches(it.train_batches(epoch), epoch), clip_norm, regularizers)
                host = _to_host(sums)
                if dist is not None:
                    for sync in model.parameter_servers.values():
                        sync.average_states()
                    keys = sorted(host)
                    flat = global_sums(dist, [v for k in keys for v in host[k]])
                    host = {k: (flat[2 * i], int(round(flat[2 * i + 1]))) for i, k in enumerate(keys)}
                if "loss" not in host:
                    raise ValueError(f"{type(model).__name__}.train_epoch reported no 'loss': the data yielded "
                                     "no training batch")
                logs = {("train_loss" if k == "loss" else k): total / n for k, (total, n) in host.items()}
                logs = dict(sorted(logs.items(), key=lambda kv: kv[0] != "train_loss"))
                logs.update(evaluate(model, it))
                if not all(math.isfinite(v) for v in logs.values()):
                    _restore(model, snapshot)
                    model.trainers = {}  # their optimizer state is poisoned too
                    raise TrainingDivergedError(
                        f"training diverged at epoch {epoch + 1}/{end}: {_format(logs)}; parameters restored "
                        f"to the end of epoch {epoch}. Lower the learning rate or set clip_norm.")
                model.history.append(logs)
                model.loss_arr = model.history.loss_arr
                if writer:
                    progress.epoch_end(epoch, logs)

                monitored = logs.get("test_loss", logs["train_loss"])
                if monitored < stopper["best"] - tol:
                    stopper = {"best": monitored, "bad_epochs": 0}
                else:
                    stopper = {"best": stopper["best"], "bad_epochs": stopper["bad_epochs"] + 1}
                if checkpoint_dir is not None and writer:
                    save_checkpoint(model, checkpoint_dir, epoch, call, stopper)
                stop = any([_call_callback(cb, model, epoch, logs) for cb in callbacks])
                if patience is not None and stopper["bad_epochs"] >= patience:
                    if writer:
                        logger.info("early stopping after epoch %d: no improvement above tol=%g for %d epochs",
                                    epoch + 1, tol, patience)
                    stop = True
                if stop:
                    break
        finally:
            progress.close()
        history = model.history.since(start)
        for cb in callbacks:
            if isinstance(cb, Callback):
                cb.on_train_end(model, history)
        return history
    finally:
        _VERBOSITY.reset(token)
