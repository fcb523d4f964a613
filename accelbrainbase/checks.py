"""Input validation shared by iterators and models: bad input fails before any work, with a message
that says what was expected and what was received."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np

__all__ = ["as_numpy", "check_array", "check_feature_shape", "check_labels", "check_unit_range"]


def as_numpy(arr: Any, name: str = "array") -> np.ndarray:
    """``arr`` (NDArray, list, numpy, pandas DataFrame/Series) as a numpy array; other types raise
    ``TypeError``."""
    if isinstance(arr, mx.nd.NDArray):
        return arr.asnumpy()
    if isinstance(arr, np.ndarray):
        return arr
    if isinstance(arr, (list, tuple)):
        return np.asarray(arr)
    if type(arr).__module__.split(".")[0] == "pandas" and hasattr(arr, "to_numpy"):
        # pandas is optional: a DataFrame/Series is recognised without importing it.
        return arr.to_numpy()
    raise TypeError(f"{name} must be a numpy array, an mx.nd.NDArray, a list or a pandas DataFrame/Series, "
                    f"got {type(arr).__name__}")


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


def check_labels(labels: Optional[np.ndarray], num_classes: int, name: str = "y") -> None:
    """Check class labels: shape ``(N,)``, whole numbers in ``0..num_classes-1`` (``None`` passes).

    Example:
        >>> check_labels(np.array([0, 2, 1]), 3)
        >>> check_labels(np.array([0, 3]), 3)
        Traceback (most recent call last):
        ...
        ValueError: y holds labels outside 0..2 (min 0, max 3)
    """
    if labels is None:
        return
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be class labels of shape (N,), got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes or (labels != np.round(labels)).any():
        raise ValueError(f"{name} holds labels outside 0..{num_classes - 1} "
                         f"(min {labels.min():g}, max {labels.max():g})")


def check_unit_range(values: Optional[np.ndarray], name: str, why: str) -> None:
    """Refuse data outside [0, 1] where the model needs it (Bernoulli units, sigmoid outputs),
    naming the observed range and ``why`` (``None`` passes).

    Example:
        >>> check_unit_range(np.array([0.0, 0.5, 1.0]), "x", "Bernoulli visible units")
        >>> check_unit_range(np.array([0.0, 255.0]), "x", "Bernoulli visible units")
        Traceback (most recent call last):
        ...
        ValueError: x holds values in [0, 255] but [0, 1] is expected for Bernoulli visible units:
        scale it (e.g. x / x.max()) or binarize it
    """
    if values is None:
        return
    low, high = float(np.min(values)), float(np.max(values))
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name} holds values in [{low:g}, {high:g}] but [0, 1] is expected for {why}: "
                         "scale it (e.g. x / x.max()) or binarize it")


__all__ += ["check_positive_integers"]


def check_positive_integers(**values: Any) -> None:
    """Refuse hyper-parameters that must be positive integers (layer sizes, counts), naming the
    first one that is not (``bool`` is refused too: ``True`` is no size).

    Example:
        >>> check_positive_integers(hidden_dim=8, num_layers=2)
        >>> check_positive_integers(hidden_dim=0)
        Traceback (most recent call last):
        ...
        ValueError: hidden_dim must be a positive integer, got 0
    """
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
