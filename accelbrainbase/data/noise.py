"""Noise (`NoiseableData`): corrupt a batch for denoising auto-encoders or data augmentation.

Every noise works on NDArrays (``F=None``) and on symbols inside ``hybrid_forward`` (``F=mx.sym``).
Symbols have no known shape, so the implementations only use shape-free operators: the ``*_like``
random generators, ``contrib.arange_like`` and broadcasting. The random draws come from MXNet's
generator on the array's context (seed it with `accelbrainbase.context.seed_everything`).
"""
from __future__ import annotations

from typing import Any, Dict

import mxnet as mx
import numpy as np

from ..interfaces import NoiseableData

__all__ = ["GaussNoise", "MaskingNoise", "CutoutNoise"]


class GaussNoise(NoiseableData):
    """Additive Gaussian noise: ``x + sigma * eps`` with ``eps ~ N(0, 1)`` element-wise.

    Args:
        sigma: standard deviation of the noise (``0`` returns the input unchanged in distribution).

    Shapes:
        any shape in, the same shape out.

    Example:
        >>> noisy = GaussNoise(sigma=0.2).noise(mx.nd.zeros((4, 8)))
        >>> noisy.shape
        (4, 8)
    """

    def __init__(self, sigma: float = 0.1) -> None:
        if not np.isfinite(sigma) or sigma < 0:
            raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
        self.sigma = float(sigma)

    def noise(self, arr: Any, F: Any = None) -> Any:
        F = mx.nd if F is None else F
        return arr + F.random.normal_like(arr, loc=0.0, scale=self.sigma)

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-able dict."""
        return {"sigma": self.sigma}


class MaskingNoise(NoiseableData):
    """Masking noise (Vincent et al. 2008): each element is set to 0 with probability ``p``.

    The survivors are not rescaled (unlike dropout): the auto-encoder must restore the missing values,
    not their expected sum.

    Args:
        p: probability of zeroing an element, within ``[0, 1]``.

    Shapes:
        any shape in, the same shape out.

    Example:
        >>> masked = MaskingNoise(p=0.5).noise(mx.nd.ones((4, 8)))
        >>> set(np.unique(masked.asnumpy())) <= {0.0, 1.0}
        True
    """

    def __init__(self, p: float = 0.3) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be within [0, 1], got {p!r}")
        self.p = float(p)

    def noise(self, arr: Any, F: Any = None) -> Any:
        F = mx.nd if F is None else F
        # uniform_like draws from [0, 1), so P(u < p) = p exactly: those elements are dropped.
        keep = F.random.uniform_like(arr) >= self.p
        return arr * keep

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-able dict."""
        return {"p": self.p}


class CutoutNoise(NoiseableData):
    """Cutout (DeVries & Taylor 2017): zero one random ``size x size`` square per sample.

    The square lies entirely inside the image (its top-left corner is uniform over the valid
    positions) and covers every channel of the sample. When ``size`` exceeds an image side, the whole
    side is covered.

    Args:
        size: side of the square in pixels.

    Shapes:
        ``(N, H, W)`` or ``(N, C, H, W)`` in, the same shape out. Rank-2 input (vectors) has no
        spatial axes and raises ``ValueError`` (checked for NDArrays; symbols carry no rank).

    Example:
        >>> out = CutoutNoise(size=4).noise(mx.nd.ones((2, 1, 16, 16)))
        >>> (out == 0).sum(axis=(1, 2, 3)).asnumpy()
        array([16., 16.], dtype=float32)
    """

    def __init__(self, size: int = 4) -> None:
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = int(size)

    def noise(self, arr: Any, F: Any = None) -> Any:
        F = mx.nd if F is None else F
        if isinstance(arr, mx.nd.NDArray) and arr.ndim not in (3, 4):
            raise ValueError(
                f"CutoutNoise needs images of shape (N, H, W) or (N, C, H, W), got shape {arr.shape}"
            )
        # One anchor element per sample, (N, 1, 1) or (N, 1, 1, 1), without knowing the rank: cut the
        # two spatial axes to length 1 first, then axis 1 (channels, or an already-cut axis).
        anchor = F.slice_axis(F.slice_axis(arr, axis=-1, begin=0, end=1), axis=-2, begin=0, end=1)
        anchor = F.slice_axis(anchor, axis=1, begin=0, end=1)
        rows = F.contrib.arange_like(arr, axis=-2)  # (H,): 0 .. H-1
        cols = F.contrib.arange_like(arr, axis=-1)  # (W,)
        top = self._corner(F, anchor, rows)
        left = self._corner(F, anchor, cols)
        # Broadcasting aligns shapes from the right: (H, 1) against (N, 1, 1, 1) gives (N, 1, H, 1).
        rows = F.reshape(rows, shape=(-1, 1))
        in_rows = F.broadcast_greater_equal(rows, top) * F.broadcast_lesser(rows, top + self.size)
        in_cols = F.broadcast_greater_equal(cols, left) * F.broadcast_lesser(cols, left + self.size)
        return F.broadcast_mul(arr, 1.0 - F.broadcast_mul(in_rows, in_cols))

    def _corner(self, F: Any, anchor: Any, positions: Any) -> Any:
        """Uniform random start in ``0 .. len(positions) - size`` per sample (0 if the square is larger)."""
        n_starts = F.maximum(F.max(positions) + (2.0 - self.size), 1.0)  # (1,): len - size + 1
        return F.floor(F.broadcast_mul(F.random.uniform_like(anchor), n_starts))

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-able dict."""
        return {"size": self.size}
