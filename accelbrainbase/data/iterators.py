"""Mini-batch iterators (`IteratableData`).

`ArrayIterator` is the workhorse: arrays of rank 2-5 in, shuffled mini-batches on the model's context
out, created with one gather per batch and no per-sample Python loop. The shuffle order of an epoch
depends only on ``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one
would have seen.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, List, Optional, Tuple

import mxnet as mx
import numpy as np

from ..checks import check_array
from ..context import CtxLike, as_ctx_list, derive_seed
from ..interfaces import IteratableData, NoiseableData

__all__ = ["ArrayIterator"]

Batch = Tuple[mx.nd.NDArray, Optional[mx.nd.NDArray]]


class ArrayIterator(IteratableData):
    """Shuffled mini-batches of in-memory arrays, already on the model's context.

    Args:
        x: inputs, shape ``(N, ...)`` of rank 2-5 (vectors, sequences, images, videos).
        y: optional targets with ``N`` rows: class labels ``(N,)`` or arrays of any shape.
        test_x, test_y: held-out data; or let ``test_size`` (0.0-0.5) split it off ``x``/``y``.
        batch_size: samples per mini-batch (at most the number of training samples).
        epochs: passes over the training data (`training.fit` reads it).
        shuffle: reshuffle the training data every epoch.
        drop_last: drop the last, smaller mini-batch of an epoch.
        ctx: where batches are created (the first context of a list); models move slices on.
        seed: seeds the split and every epoch's shuffle.
        noiseable_data: a `NoiseableData` corrupting every input batch. The target is then ``y``
            when given (augmentation), otherwise the *clean* batch (denoising) - never the other way.

    Yields (`generate_learned_samples`):
        ``(x, y, test_x, test_y)``: ``x`` ``(batch_size, ...)``; ``y`` ``(batch_size, ...)`` or
        ``None``; a test batch (cycled) or ``None`` when there is no test data.

    Example:
        >>> it = ArrayIterator(np.random.rand(100, 8), np.arange(100) % 2, test_size=0.2,
        ...                    batch_size=16, epochs=3, seed=0)
        >>> x, y = next(it.train_batches(epoch=0))
        >>> x.shape, y.shape
        ((16, 8), (16,))
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        *,
        test_x: Any = None,
        test_y: Any = None,
        test_size: float = 0.0,
        batch_size: int = 32,
        epochs: int = 10,
        shuffle: bool = True,
        drop_last: bool = False,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        noiseable_data: Optional[NoiseableData] = None,
    ) -> None:
        x = check_array(x, "x", min_rank=2)
        y = None if y is None else check_array(y, "y")
        if y is not None and len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if test_x is not None and test_size:
            raise ValueError("give either test_x/test_y or test_size, not both")
        if not 0.0 <= test_size <= 0.5:
            raise ValueError(f"test_size must be within 0.0..0.5, got {test_size}")
        if test_y is not None and test_x is None:
            raise ValueError("test_y was given without test_x")
        if test_size:
            order = np.random.RandomState(derive_seed(seed or 0, "split")).permutation(len(x))
            n_test = int(round(len(x) * test_size))
            if n_test == 0 or n_test == len(x):
                raise ValueError(f"test_size={test_size} leaves an empty split of {len(x)} samples")
            test_idx, train_idx = order[:n_test], order[n_test:]
            test_x, x = x[test_idx], x[train_idx]
            if y is not None:
                test_y, y = y[test_idx], y[train_idx]
        elif test_x is not None:
            test_x = check_array(test_x, "test_x", min_rank=2)
            if test_x.shape[1:] != x.shape[1:]:
                raise ValueError(f"test_x has per-sample shape {test_x.shape[1:]}, x has {x.shape[1:]}")
            if test_y is not None:
                test_y = check_array(test_y, "test_y")
                if len(test_y) != len(test_x):
                    raise ValueError(f"test_x has {len(test_x)} samples but test_y has {len(test_y)}")
                if y is not None and test_y.shape[1:] != y.shape[1:]:
                    raise ValueError(f"test_y has per-sample shape {test_y.shape[1:]}, y has {y.shape[1:]}")
            if (y is None) != (test_y is None):
                raise ValueError("give targets for both x and test_x (y and test_y) or for neither")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > len(x):
            raise ValueError(f"batch_size={batch_size} is larger than the {len(x)} training samples")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        if noiseable_data is not None and not isinstance(noiseable_data, NoiseableData):
            raise TypeError(f"noiseable_data must be a NoiseableData, got {type(noiseable_data).__name__}")

        self.ctx: List[mx.Context] = as_ctx_list(ctx)
        device = self.ctx[0]
        self.x = mx.nd.array(x, ctx=device, dtype=np.float32)
        self.y = None if y is None else mx.nd.array(y, ctx=device, dtype=np.float32)
        self.test_x = None if test_x is None else mx.nd.array(test_x, ctx=device, dtype=np.float32)
        self.test_y = None if test_y is None else mx.nd.array(test_y, ctx=device, dtype=np.float32)
        self.batch_size = int(batch_size)
        self.epochs = int(epochs)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.noiseable_data = noiseable_data
        # Without a seed each iterator still shuffles reproducibly within itself.
        self._base_seed = seed if seed is not None else int(np.random.randint(0, 2**31 - 1))

    @property
    def n_train(self) -> int:
        return self.x.shape[0]

    @property
    def n_test(self) -> int:
        return 0 if self.test_x is None else self.test_x.shape[0]

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        """Per-sample input shape (batch axis excluded)."""
        return tuple(self.x.shape[1:])

    @property
    def iter_n(self) -> int:
        """Mini-batches per epoch."""
        n = self.n_train / self.batch_size
        return int(n) if self.drop_last else math.ceil(n)

    def _with_noise(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Batch:
        if self.noiseable_data is None:
            return x, y
        return self.noiseable_data.noise(x), (x if y is None else y)

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        """Yield ``(x, y)`` for every mini-batch of training epoch ``epoch`` (0-based)."""
        n, b = self.n_train, self.batch_size
        stop = (n // b) * b if self.drop_last else n
        if self.shuffle:
            order = np.random.RandomState(derive_seed(self._base_seed, "shuffle", epoch)).permutation(n)
            order_nd = mx.nd.array(order, ctx=self.x.context, dtype=np.int64)
        for start in range(0, stop, b):
            end = min(start + b, n)
            if self.shuffle:
                idx = order_nd[start:end]
                x = mx.nd.take(self.x, idx)
                y = None if self.y is None else mx.nd.take(self.y, idx)
            else:
                x = self.x[start:end]
                y = None if self.y is None else self.y[start:end]
            yield self._with_noise(x, y)

    def test_batches(self) -> Iterator[Batch]:
        """Yield ``(x, y)`` over the held-out data in order (nothing when there is none)."""
        if self.test_x is None:
            return
        for start in range(0, self.n_test, self.batch_size):
            end = min(start + self.batch_size, self.n_test)
            y = None if self.test_y is None else self.test_y[start:end]
            yield self._with_noise(self.test_x[start:end], y)

    def generate_learned_samples(self) -> Iterator[Tuple[Any, Any, Any, Any]]:
        for epoch in range(self.epochs):
            tests = self.test_batches()
            for x, y in self.train_batches(epoch):
                test = next(tests, None)
                if test is None and self.test_x is not None:
                    tests = self.test_batches()
                    test = next(tests)
                yield (x, y) + (test if test is not None else (None, None))

    def generate_inferenced_samples(self) -> Iterator[Tuple[Any, Any, Any, Any]]:
        batches = self.test_batches() if self.test_x is not None else self._ordered_train_batches()
        for x, y in batches:
            yield x, y, x, y

    def _ordered_train_batches(self) -> Iterator[Batch]:
        for start in range(0, self.n_train, self.batch_size):
            end = min(start + self.batch_size, self.n_train)
            yield self.x[start:end], None if self.y is None else self.y[start:end]
