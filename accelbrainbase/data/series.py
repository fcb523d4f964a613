"""Tools for raw time series: cut windows for sequence models, and map per-window figures back
to time steps (e.g. an anomaly score per step from the scores of the windows that contain it)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_array

__all__ = ["sliding_windows", "windows_to_steps"]


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def sliding_windows(series: Any, seq_len: int, stride: int = 1) -> np.ndarray:
    """Windows of ``seq_len`` consecutive steps of ``series``, starting every ``stride`` steps.

    Args:
        series: ``(T,)`` (univariate) or ``(T, F)`` (``F`` features per step): numpy, NDArray, list
            or a pandas Series/DataFrame.
        seq_len: steps per window.
        stride: steps between the starts of two consecutive windows.

    Returns:
        float32 ``(N, seq_len, F)`` with ``N = (T - seq_len) // stride + 1``; window ``i`` covers
        steps ``i * stride .. i * stride + seq_len - 1`` (a copy, not a view).

    Example:
        >>> sliding_windows(np.arange(6), seq_len=3, stride=2)[:, :, 0]
        array([[0., 1., 2.],
               [2., 3., 4.]], dtype=float32)
    """
    arr = check_array(series, "series", min_rank=1, max_rank=2)
    seq_len, stride = _positive(seq_len, "seq_len"), _positive(stride, "stride")
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if len(arr) < seq_len:
        raise ValueError(f"series has {len(arr)} time steps, fewer than seq_len={seq_len}")
    windows = np.lib.stride_tricks.sliding_window_view(arr, seq_len, axis=0)[::stride]  # (N, F, seq_len)
    return np.ascontiguousarray(windows.transpose(0, 2, 1), dtype=np.float32)


def windows_to_steps(window_values: Any, n_steps: int, seq_len: int, stride: int = 1,
                     reduce: str = "mean") -> np.ndarray:
    """Per-step values from per-window values of `sliding_windows` (``n_steps`` = the series' T).

    Each step gets the ``reduce`` (``"mean"`` or ``"max"``) of the values of the windows that
    contain it. Windows may also give one value per step of the window (``(N, seq_len)``, e.g. a
    per-step reconstruction error): each step then combines the values at its own position in
    every window covering it. Steps no window covers (a tail shorter than ``stride``) are NaN.

    Returns:
        float64 ``(n_steps,)``.

    Example:
        >>> windows_to_steps([1.0, 3.0], n_steps=5, seq_len=3, stride=2)
        array([1., 1., 2., 3., 3.])
    """
    values = np.asarray(window_values, dtype=np.float64)
    n_steps, seq_len, stride = _positive(n_steps, "n_steps"), _positive(seq_len, "seq_len"), _positive(stride, "stride")
    if reduce not in ("mean", "max"):
        raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
    n_windows = (n_steps - seq_len) // stride + 1 if n_steps >= seq_len else 0
    if values.ndim not in (1, 2) or len(values) != n_windows or (values.ndim == 2 and values.shape[1] != seq_len):
        raise ValueError(f"{n_windows} windows of {seq_len} steps (stride {stride}) cover a series of {n_steps} "
                         f"steps; got window values of shape {values.shape}")
    per_step = values if values.ndim == 2 else np.repeat(values[:, None], seq_len, axis=1)
    steps = (np.arange(n_windows)[:, None] * stride + np.arange(seq_len)[None, :]).ravel()
    flat = per_step.ravel()
    counts = np.bincount(steps, minlength=n_steps).astype(np.float64)
    if reduce == "mean":
        out = np.bincount(steps, weights=flat, minlength=n_steps) / np.maximum(counts, 1)
    else:
        out = np.full(n_steps, -np.inf)
        np.maximum.at(out, steps, flat)
    out[counts == 0] = np.nan
    return out
