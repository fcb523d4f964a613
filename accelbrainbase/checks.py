"""Input validation shared by iterators and models: bad input fails before any work, with a message
that says what was expected and what was received (SPEC §4.7)."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np

__all__ = ["as_numpy", "check_array", "check_feature_shape"]


def as_numpy(arr: Any, name: str = "array") -> np.ndarray:
    """``arr`` (NDArray, list, numpy) as a numpy array; other types raise ``TypeError``."""
    if isinstance(arr, mx.nd.NDArray):
        return arr.asnumpy()
    if isinstance(arr, np.ndarray):
        return arr
    if isinstance(arr, (list, tuple)):
        return np.asarray(arr)
    raise TypeError(f"{name} must be a numpy array or an mx.nd.NDArray, got {type(arr).__name__}")


def check_array(
    arr: Any,
    name: str = "x",
    *,
    min_rank: int = 1,
    max_rank: int = 5,
    dtype: Optional[type] = np.float32,
    finite: bool = True,
) -> np.ndarray:
    """Validate and convert ``arr``: not empty, rank in range, numeric, finite.

    Returns a numpy array cast to ``dtype`` (``None`` keeps the dtype).

    Example:
        >>> check_array(np.zeros((4, 3))).dtype
        dtype('float32')
    """
    a = as_numpy(arr, name)
    if a.size == 0 or a.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); nothing to learn from")
    if not min_rank <= a.ndim <= max_rank:
        raise ValueError(
            f"{name} must have rank {min_rank}..{max_rank}, got rank {a.ndim} (shape {a.shape})"
        )
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    if finite and np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{name} contains {bad} NaN/Inf value(s); clean or impute the data first")
    return a


def check_feature_shape(
    received: Tuple[int, ...], expected: Sequence[Optional[int]], name: str = "x"
) -> None:
    """Check a per-sample shape against an expected one (``None`` = any size on that axis).

    ``received`` and ``expected`` exclude the batch axis.

    Example:
        >>> check_feature_shape((64,), (64,))
        >>> check_feature_shape((8, 8), (64,))
        Traceback (most recent call last):
        ...
        ValueError: x has per-sample shape (8, 8) but the model expects (64,) (batch axis excluded)
    """
    expected = tuple(expected)
    ok = len(received) == len(expected) and all(e is None or e == r for r, e in zip(received, expected))
    if not ok:
        shown = tuple("*" if e is None else e for e in expected)
        raise ValueError(
            f"{name} has per-sample shape {tuple(received)} but the model expects "
            f"{shown if None in expected else expected} (batch axis excluded)"
        )
