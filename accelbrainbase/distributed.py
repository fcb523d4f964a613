"""Data-parallel training over processes or machines on MXNet's parameter server.

``fit(model, data, kvstore="dist_sync")``: every worker process runs the same script under the
DMLC_* environment (next to a scheduler and the servers), trains on its shard of the data
(``IteratableData.shard``; ``batch_size`` is per worker), and the server sums every worker's
gradients at each step of every trainer the model owns, so the workers stay identical and equal one
process with the global batch. Loss totals are summed too, so all workers take the same stopping
decisions; only worker 0 logs and writes checkpoints.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import mxnet as mx
import numpy as np

from .gluon_internals import trainer_params
from .interfaces import IteratableData

__all__ = ["DIST_KVSTORES", "ParameterServerSync", "dist_kvstore", "attach_parameter_servers", "shard_for_worker",
           "global_sums"]

DIST_KVSTORES = ("dist_sync", "dist_device_sync")
_DMLC_ENV = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER")
#: the process's parameter-server connection, ``type -> {"kv", "next_key"}`` (made once)
_DIST: Dict[str, Dict[str, Any]] = {}


class ParameterServerSync:
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


def dist_kvstore(kvstore: Any) -> Optional[Dict[str, Any]]:
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
    if name not in DIST_KVSTORES:
        raise ValueError(f"unknown kvstore {name!r}; use None or 'device' (this process) or "
                         f"{' or '.join(repr(k) for k in DIST_KVSTORES)} (MXNet's parameter server)")
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
        _DIST[name] = {"kv": kvstore, "next_key": 0, "logs_keys": {}}
    elif isinstance(kvstore, mx.kv.KVStore) and kvstore is not _DIST[name]["kv"]:
        raise RuntimeError(f"this process already trains on another {name!r} kvstore; use one per process")
    return _DIST[name]


def attach_parameter_servers(model: Any, dist: Dict[str, Any]) -> None:
    """Give every trainer of ``model`` a `ParameterServerSync` (in ``model.parameter_servers``), so
    that `training.apply_gradients` sums its gradients over the workers."""
    for name, trainer in sorted(model.trainers.items()):
        sync = model.parameter_servers.get(name)
        if sync is None or sync.kv is not dist["kv"]:
            model.parameter_servers[name] = ParameterServerSync(dist, trainer_params(trainer))


def shard_for_worker(data: IteratableData, kv: Any) -> IteratableData:
    """This worker's part of ``data`` (``data.shard(num_workers, rank)``, unless it already is it)."""
    parts, index = kv.num_workers, kv.rank
    if (data.num_parts, data.part_index) == (parts, index):
        return data
    if data.num_parts != 1:
        raise ValueError(f"the data is part {data.part_index} of {data.num_parts}, "
                         f"but this is worker {index} of {parts}")
    return data.shard(parts, index)


def global_sums(dist: Dict[str, Any], values: Sequence[float]) -> List[float]:
    """Sum per-worker numbers (epoch loss totals and sample counts) over every worker, so that all
    take the same early-stopping and divergence decisions (one stopping alone would stall the others)."""
    kv = dist["kv"]
    n = len(values)
    key = ("logs", n)
    if key not in dist["logs_keys"]:
        dist["logs_keys"][key] = dist["next_key"]
        dist["next_key"] += 1
        kv.init(dist["logs_keys"][key], mx.nd.zeros(n, dtype=np.float64))
    out = mx.nd.array(list(values), dtype=np.float64)
    kv.pushpull(dist["logs_keys"][key], out)
    return [float(v) for v in out.asnumpy()]
