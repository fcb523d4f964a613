"""Samplers (`SamplableData`): draw one batch from a distribution.

GANs draw their noise from `NormalNoiseSampler`/`UniformNoiseSampler`, an AAE draws its prior from one,
`TrueSampler` draws real batches, and `ConditionSampler` draws class conditions for a conditional GAN.

Two ways to draw:

- ``draw()`` (`SamplableData`): one batch of ``batch_size`` from the sampler's private
  ``numpy.random.RandomState`` (seeded by its ``seed``): two samplers with the same seed give the same
  draws whatever else touched the global generators in between.
- ``draw_rows(n, ctx)`` (`DeviceSampler`): any number of rows made on a device by MXNet's generator.
  This is what the controllers use while training: no host-to-device copy (which would make the
  training loop wait for the engine at every mini-batch), and the draws follow MXNet's generator,
  which `training.fit` reseeds from the model's seed at every epoch - so a run resumed from a
  checkpoint draws what the uninterrupted run drew. `draw_rows` (the function) takes any sampler.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np

from ..context import CtxLike, as_ctx_list
from ..interfaces import IteratableData, SamplableData

__all__ = ["DeviceSampler", "NormalNoiseSampler", "UniformNoiseSampler", "TrueSampler", "ConditionSampler",
           "draw_rows"]

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


class DeviceSampler(SamplableData):
    """A sampler that also draws any number of rows on a device with MXNet's generator.

    Attributes:
        shape: the per-sample shape of a draw (batch axis excluded), e.g. a generator's noise
            width.

    Example:
        >>> rows = NormalNoiseSampler(batch_size=8, dim_or_shape=3).draw_rows(5, mx.cpu())
        >>> rows.shape
        (5, 3)
    """

    shape: Tuple[int, ...] = ()

    @abstractmethod
    def draw_rows(self, n: int, ctx: mx.Context) -> mx.nd.NDArray:
        """``n`` draws ``(n, *shape)`` made on ``ctx`` by MXNet's generator (seeded by
        `seed_everything` and, while training, by `training.fit` at every epoch; not by this
        sampler's ``seed``)."""


def draw_rows(sampler: SamplableData, n: int, ctx: mx.Context) -> mx.nd.NDArray:
    """``n`` rows from ``sampler`` on ``ctx``.

    A `DeviceSampler` makes them on the device (see the module docstring); any other sampler is
    asked to ``draw()`` as often as needed (the surplus rows are dropped) and its rows are copied
    to ``ctx``.

    Example:
        >>> draw_rows(ConditionSampler(3, batch_size=4, seed=0), 10, mx.cpu()).shape
        (10, 3)
    """
    if isinstance(sampler, DeviceSampler):
        return sampler.draw_rows(n, ctx)
    parts, have = [], 0
    while have < n:
        part = sampler.draw()
        if part.shape[0] == 0:
            raise ValueError(f"{type(sampler).__name__}.draw() returned an empty batch")
        parts.append(part)
        have += part.shape[0]
    rows = parts[0] if len(parts) == 1 else mx.nd.concat(*parts, dim=0)
    return rows[:n].as_in_context(ctx)


class _RandomSampler(DeviceSampler):
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
        """``n`` draws ``(n, *shape)`` made on ``ctx`` by MXNet's generator; see `DeviceSampler`."""
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
        """``n`` draws ``(n, *shape)`` made on ``ctx`` by MXNet's generator; see `DeviceSampler`."""
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
        iteratable_data: an `IteratableData`, cycled epoch by epoch through ``train_batches(epoch)``.

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
    def batch_size(self) -> Optional[int]:
        """The data's batch size (``None`` when it does not know it)."""
        return self.iteratable_data.batch_size

    def _cycle(self) -> Iterator[Any]:
        it = self.iteratable_data
        while True:
            n = 0
            for x, _ in it.train_batches(self.epoch):
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


class ConditionSampler(DeviceSampler):
    """Uniformly random class conditions for a conditional GAN: one-hot rows or plain labels.

    ``draw()`` uses the sampler's private generator; ``draw_rows(n, ctx)`` (what a conditional GAN
    uses while training) MXNet's, on the device - see `DeviceSampler`.

    Args:
        num_classes: number of classes ``K`` (labels ``0 .. K-1``).
        batch_size: samples per draw.
        one_hot: return one-hot rows ``(batch_size, K)``; ``False`` returns labels ``(batch_size,)``.
        ctx: device of the draws (the first context of a list).
        seed: seeds this sampler's private generator.

    Attributes:
        last_labels: the labels of the last draw, float32 ``(batch_size,)`` on ``ctx`` (``None``
            before the first draw), e.g. the class targets of the generated samples.
        shape: ``(num_classes,)`` for one-hot rows, ``()`` for labels.

    Shapes:
        ``draw()`` returns float32 ``(batch_size, num_classes)`` or ``(batch_size,)`` on ``ctx``;
        ``draw_rows(n, ctx)`` ``(n, num_classes)`` or ``(n,)`` on ``ctx``.

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
        self.shape = (self.num_classes,) if self.one_hot else ()
        self.ctx: mx.Context = as_ctx_list(ctx)[0]
        self.seed = seed
        self._rng = np.random.RandomState(seed)
        self.last_labels: Optional[mx.nd.NDArray] = None

    def draw(self) -> mx.nd.NDArray:
        labels = self._rng.randint(0, self.num_classes, size=self.batch_size)
        labels = mx.nd.array(labels, ctx=self.ctx, dtype=np.float32)
        self.last_labels = labels
        return mx.nd.one_hot(labels, self.num_classes) if self.one_hot else labels

    def draw_rows(self, n: int, ctx: mx.Context) -> mx.nd.NDArray:
        """``n`` uniformly random conditions made on ``ctx`` by MXNet's generator; see `DeviceSampler`."""
        labels = mx.nd.random.randint(0, self.num_classes, shape=(n,), ctx=ctx).astype(np.float32)
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
