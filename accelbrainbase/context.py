"""Device contexts and seeding: the one place that knows about devices.

Every model, iterator and sampler takes ``ctx``: ``None`` (CPU), one `mx.Context`, or a list of them.
A list means data-parallel training: each batch is split across the contexts and the gradients are
summed. Nothing in the library ever defaults to a GPU.
"""
from __future__ import annotations

import hashlib
import random
from typing import List, Optional, Sequence, Union

import mxnet as mx
import numpy as np

__all__ = [
    "CtxLike",
    "as_ctx_list",
    "check_gpu",
    "available_ctx",
    "split_batch",
    "seed_everything",
    "seed_mxnet",
    "derive_seed",
]

CtxLike = Union[None, mx.Context, Sequence[mx.Context]]


def as_ctx_list(ctx: CtxLike) -> List[mx.Context]:
    """Normalise ``ctx`` to a non-empty list of contexts (``None`` means ``[mx.cpu()]``).

    Example:
        >>> as_ctx_list(None)
        [cpu(0)]
        >>> as_ctx_list([mx.cpu(0), mx.cpu(1)])
        [cpu(0), cpu(1)]
    """
    if ctx is None:
        return [mx.cpu()]
    ctx_list = [ctx] if isinstance(ctx, mx.Context) else list(ctx)
    if not ctx_list:
        raise ValueError("ctx must be a context or a non-empty list of contexts, got an empty list")
    for c in ctx_list:
        if not isinstance(c, mx.Context):
            raise TypeError(f"ctx entries must be mx.Context, got {type(c).__name__}: {c!r}")
    if len(set(ctx_list)) != len(ctx_list):
        raise ValueError(f"ctx lists a device twice: {ctx_list}")
    for c in ctx_list:
        if c.device_type == "gpu":
            check_gpu(c)
    return ctx_list


def check_gpu(ctx: mx.Context) -> None:
    """Raise a clear error when ``ctx`` names a GPU this MXNet build or machine cannot use
    (instead of MXNet's "GPU is not enabled" / "Compile with USE_CUDA=1" at the first operation).

    Example:
        >>> check_gpu(mx.gpu(0))   # doctest: +SKIP
    """
    from mxnet.runtime import Features

    if not Features().is_enabled("CUDA"):
        raise RuntimeError(
            f"ctx={ctx} needs a GPU build of MXNet, but this one is CPU-only. Use "
            "accelbrainbase.available_ctx() (a GPU when there is one, else the CPU), or install the GPU wheel "
            "matching your CUDA (e.g. pip install mxnet-cu112==1.9.1 in place of mxnet==1.9.1)")
    count = mx.context.num_gpus()
    if ctx.device_id >= count:
        raise RuntimeError(f"ctx={ctx}: this machine has {count} GPU(s) visible to MXNet (ids 0..{count - 1}). "
                           "Use accelbrainbase.available_ctx() or a device id that exists")


def available_ctx() -> mx.Context:
    """Return ``mx.gpu(0)`` when MXNet sees a GPU, else ``mx.cpu()`` (for notebooks and demos).

    Example:
        >>> ctx = available_ctx()
    """
    return mx.gpu(0) if mx.context.num_gpus() > 0 else mx.cpu()


def split_batch(arr: Optional[mx.nd.NDArray], ctx_list: List[mx.Context]) -> List[Optional[mx.nd.NDArray]]:
    """Split a batch along axis 0 into one slice per context (uneven sizes allowed).

    A single context gets the batch itself (moved if needed), so one-device training pays nothing.
    ``None`` (a batch without targets) gives ``[None] * len(ctx_list)``.
    """
    if arr is None:
        return [None] * len(ctx_list)
    if len(ctx_list) == 1:
        return [arr.as_in_context(ctx_list[0])]
    if arr.shape[0] < len(ctx_list):
        # Fewer samples than devices: the extra devices sit this batch out.
        return [arr[i:i + 1].as_in_context(c) for i, c in enumerate(ctx_list[: arr.shape[0]])]
    return mx.gluon.utils.split_and_load(arr, ctx_list, batch_axis=0, even_split=False)


def derive_seed(seed: int, *salt: object) -> int:
    """A 31-bit seed derived deterministically from ``seed`` and ``salt`` (e.g. an epoch number)."""
    digest = hashlib.sha256(repr((seed,) + salt).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: Optional[int], ctx: CtxLike = None) -> None:
    """Seed Python's, NumPy's and MXNet's generators (MXNet's on every context of ``ctx``).

    ``None`` leaves every generator as it is.

    Example:
        >>> seed_everything(0, [mx.cpu(0), mx.cpu(1)])
    """
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed)
    seed_mxnet(seed, ctx)


def seed_mxnet(seed: int, ctx: CtxLike = None) -> None:
    """Seed MXNet's generators: one call seeds every device (``ctx`` is checked, not needed)."""
    as_ctx_list(ctx)
    mx.random.seed(seed)
