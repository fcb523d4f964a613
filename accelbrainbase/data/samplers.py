"""Samplers (`SamplableData`): draw one batch from a distribution.

GANs draw their noise from `NormalNoiseSampler`/`UniformNoiseSampler`, an AAE draws its prior from one,
`TrueSampler` draws real batches, and `ConditionSampler` draws class conditions for a conditional GAN.
The random samplers use a private ``numpy.random.RandomState``: two samplers with the same seed give
the same draws whatever else touched the global generators in between.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np

from ..context import CtxLike, as_ctx_list
from ..interfaces import IteratableData, SamplableData

__all__ = ["NormalNoiseSampler", "UniformNoiseSampler", "TrueSampler", "ConditionSampler"]

DimOrShape = Union[int, Sequence[int]]


def _check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _as_shape(dim_or_shape: DimOrShape) -> Tuple[int, ...]:
    shape = (dim_or_shape,) if isinstance(dim_or_shape, (int, np.integer)) else tuple(dim_or_shape)
    valid = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape)
    if not shape or not valid:
        raise ValueError(f"dim_or_shape must be a positive integer or a tuple of them, got {dim_or_shape!r}")
    return tuple(int(d) for d in shape)


class _RandomSampler(SamplableData):
    """Shared state of the numpy-backed samplers: batch shape, private generator, device."""

    def __init__(self, batch_size: int, dim_or_shape: DimOrShape, ctx: CtxLike, seed: Optional[int]) -> None:
        self.batch_size = _check_batch_size(batch_size)
        self.shape: Tuple[int, ...] = _as_shape(dim_or_shape)
        self.ctx: mx.Context = as_ctx_list(ctx)[0]
        self.seed = seed
        self._rng = np.random.RandomState(seed)

    @property
    def batch_shape(self) -> Tuple[int, ...]:
        """Shape of one draw: ``(batch_size, *shape)``."""
        return (self.batch_size,) + self.shape

    def _to_ctx(self, arr: np.ndarray) -> mx.nd.NDArray:
        return mx.nd.array(arr, ctx=self.ctx, dtype=np.float32)

    def _base_config(self) -> Dict[str, Any]:
        # ctx is a device, not a hyper-parameter: the loader passes it again.
        shape: Union[int, List[int]] = self.shape[0] if len(self.shape) == 1 else list(self.shape)
        return {"batch_size": self.batch_size, "dim_or_shape": shape, "seed": self.seed}


class NormalNoiseSampler(_RandomSampler):
    """Gaussian noise ``N(loc, scale^2)``: the usual GAN input and AAE prior.

    Args:
        batch_size: samples per draw.
        dim_or_shape: per-sample shape, e.g. ``16`` or ``(1, 8, 8)``.
        loc, scale: mean and standard deviation.
        ctx: device of the draws (the first context of a list).
        seed: seeds this sampler's private generator (``None``: fresh entropy).

    Shapes:
        ``draw()`` returns ``(batch_size, *dim_or_shape)`` float32 on ``ctx``.

    Example:
        >>> z = NormalNoiseSampler(batch_size=16, dim_or_shape=8, seed=0).draw()
        >>> z.shape
        (16, 8)
    """

    def __init__(
        self,
        batch_size: int,
        dim_or_shape: DimOrShape,
        loc: float = 0.0,
        scale: float = 1.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(batch_size, dim_or_shape, ctx, seed)
        if not np.isfinite(loc) or not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"loc must be finite and scale finite and > 0, got loc={loc!r}, scale={scale!r}")
        self.loc = float(loc)
        self.scale = float(scale)

    def draw(self) -> mx.nd.NDArray:
        return self._to_ctx(self._rng.normal(self.loc, self.scale, size=self.batch_shape))

    def draw_rows(self, n: int, ctx: mx.Context) -> mx.nd.NDArray:
        """``n`` draws ``(n, *shape)`` made on ``ctx`` by MXNet's generator (seeded by
        `seed_everything`, not by this sampler's ``seed``): no host-to-device copy, which would
        synchronise a training loop with the engine at every mini-batch (SPEC §7)."""
        return mx.nd.random.normal(self.loc, self.scale, shape=(n,) + self.shape, ctx=ctx)

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments (except ``ctx``) as a JSON-able dict."""
        return {**self._base_config(), "loc": self.loc, "scale": self.scale}


class UniformNoiseSampler(_RandomSampler):
    """Uniform noise on ``[low, high)``.

    Args:
        batch_size: samples per draw.
        dim_or_shape: per-sample shape, e.g. ``16`` or ``(1, 8, 8)``.
        low, high: bounds of the interval (``low < high``).
        ctx: device of the draws (the first context of a list).
        seed: seeds this sampler's private generator (``None``: fresh entropy).

    Shapes:
        ``draw()`` returns ``(batch_size, *dim_or_shape)`` float32 on ``ctx``.

    Example:
        >>> z = UniformNoiseSampler(batch_size=4, dim_or_shape=(2, 3), seed=0).draw()
        >>> z.shape
        (4, 2, 3)
    """

    def __init__(
        self,
        batch_size: int,
        dim_or_shape: DimOrShape,
        low: float = -1.0,
        high: float = 1.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(batch_size, dim_or_shape, ctx, seed)
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
        self.low = float(low)
        self.high = float(high)

    def draw(self) -> mx.nd.NDArray:
        return self._to_ctx(self._rng.uniform(self.low, self.high, size=self.batch_shape))

    def draw_rows(self, n: int, ctx: mx.Context) -> mx.nd.NDArray:
        """``n`` draws made on ``ctx`` by MXNet's generator; see `NormalNoiseSampler.draw_rows`."""
        return mx.nd.random.uniform(self.low, self.high, shape=(n,) + self.shape, ctx=ctx)

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments (except ``ctx``) as a JSON-able dict."""
        return {**self._base_config(), "low": self.low, "high": self.high}


class TrueSampler(SamplableData):
    """Real training batches (inputs only) drawn from an iterator, e.g. the "real" side of a GAN.

    Each ``draw()`` returns the next training batch ``x``; after the last batch of an epoch it moves on
    to the next epoch (a new shuffle), forever. The batches live where the iterator puts them.
    When the iterator has a noise, ``x`` is the noised batch, as the iterator yields it; an epoch's
    last batch is smaller unless the iterator has ``drop_last=True``.

    Args:
        iteratable_data: an `IteratableData`; one with ``train_batches(epoch)`` (every
            `ArrayIterator`) is cycled epoch by epoch, others through ``generate_learned_samples()``.

    Shapes:
        ``draw()`` returns the iterator's ``x`` batch, ``(batch_size, ...)``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> it = ArrayIterator(np.random.rand(100, 8), batch_size=32, seed=0)
        >>> TrueSampler(it).draw().shape
        (32, 8)
    """

    def __init__(self, iteratable_data: IteratableData) -> None:
        if not isinstance(iteratable_data, IteratableData):
            raise TypeError(
                f"iteratable_data must be an IteratableData, got {type(iteratable_data).__name__}"
            )
        self.iteratable_data = iteratable_data
        self.epoch = 0
        self._batches: Iterator[Any] = self._cycle()

    @property
    def batch_size(self) -> int:
        return self.iteratable_data.batch_size

    def _cycle(self) -> Iterator[Any]:
        it = self.iteratable_data
        while True:
            if hasattr(it, "train_batches"):
                batches = (x for x, _ in it.train_batches(self.epoch))
            else:
                batches = (sample[0] for sample in it.generate_learned_samples())
            n = 0
            for x in batches:
                n += 1
                yield x
            if n == 0:
                raise ValueError("iteratable_data yielded no training batches")
            self.epoch += 1

    def draw(self) -> mx.nd.NDArray:
        return next(self._batches)

    def get_config(self) -> Dict[str, Any]:
        """An empty dict: the only argument is the data itself, which is not a hyper-parameter."""
        return {}


class ConditionSampler(SamplableData):
    """Uniformly random class conditions for a conditional GAN: one-hot rows or plain labels.

    Args:
        num_classes: number of classes ``K`` (labels ``0 .. K-1``).
        batch_size: samples per draw.
        one_hot: return one-hot rows ``(batch_size, K)``; ``False`` returns labels ``(batch_size,)``.
        ctx: device of the draws (the first context of a list).
        seed: seeds this sampler's private generator.

    Attributes:
        last_labels: the labels of the last draw, float32 ``(batch_size,)`` on ``ctx`` (``None``
            before the first draw), e.g. the class targets of the generated samples.

    Shapes:
        ``draw()`` returns float32 ``(batch_size, num_classes)`` or ``(batch_size,)`` on ``ctx``.

    Example:
        >>> sampler = ConditionSampler(num_classes=10, batch_size=4, seed=0)
        >>> sampler.draw().sum(axis=1).asnumpy()
        array([1., 1., 1., 1.], dtype=float32)
    """

    def __init__(
        self,
        num_classes: int,
        batch_size: int,
        one_hot: bool = True,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.batch_size = _check_batch_size(batch_size)
        self.one_hot = bool(one_hot)
        self.ctx: mx.Context = as_ctx_list(ctx)[0]
        self.seed = seed
        self._rng = np.random.RandomState(seed)
        self.last_labels: Optional[mx.nd.NDArray] = None

    def draw(self) -> mx.nd.NDArray:
        labels = self._rng.randint(0, self.num_classes, size=self.batch_size)
        labels = mx.nd.array(labels, ctx=self.ctx, dtype=np.float32)
        self.last_labels = labels
        return mx.nd.one_hot(labels, self.num_classes) if self.one_hot else labels

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments (except ``ctx``) as a JSON-able dict."""
        return {
            "num_classes": self.num_classes,
            "batch_size": self.batch_size,
            "one_hot": self.one_hot,
            "seed": self.seed,
        }
