"""Everything a Gluon user already has, as an `IteratableData`: the one door into `training.fit`.

`as_iteratable` accepts, and ``model.learn(...)`` / `training.fit` pass through it:

- any `IteratableData` (the zoo's iterators or your own subclass), used as it is;
- a Gluon ``DataLoader`` (`LoaderData`): every batch it yields is a training batch, ``(x, y)``
  pairs or bare ``x``; a Gluon ``Dataset`` is batched by a seeded ``DataLoader`` of ``batch_size``;
- an ``mx.io.DataIter`` such as ``mx.io.NDArrayIter`` (`DataIterData`), reset every epoch, its
  padding rows dropped;
- numpy arrays, NDArrays, lists and pandas DataFrames/Series (`data.ArrayIterator`), with
  ``y``, ``test_size``, ``batch_size`` and ``epochs``.

``test_data=`` takes held-out data in any of those forms: an iterator, a loader, a dataset, a
DataIter, an array ``x`` or a pair ``(x, y)``.

Two wrappers give any iterator what the zoo's iterators have built in: `NoisyData` corrupts inputs
(denoising, augmentation) and `ShardedData` cuts every batch into equal parts for data-parallel
workers.
"""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..checks import as_numpy
from ..context import CtxLike, derive_seed
from ..interfaces import Batch, IteratableData, NoiseableData

__all__ = ["as_iteratable", "LoaderData", "DataIterData", "NoisyData", "ShardedData", "apply_noise",
           "ACCEPTED_DATA"]

#: What `as_iteratable` accepts, as named in its errors.
ACCEPTED_DATA = ("an IteratableData (e.g. accelbrainbase.data.ArrayIterator), a gluon.data.DataLoader, a "
                 "gluon.data.Dataset (with batch_size), an mx.io.DataIter (e.g. mx.io.NDArrayIter), or numpy "
                 "arrays / NDArrays / lists / pandas DataFrames or Series (x, and y when supervised)")


def apply_noise(noiseable_data: Optional[NoiseableData], x: Any, y: Any, training: bool) -> Batch:
    """The one rule for corrupting a batch with a `NoiseableData`.

    Without targets (denoising) the input is corrupted and the *clean* batch becomes the target,
    on held-out batches too, so the test loss measures denoising. With targets (augmentation) only
    training inputs are corrupted. ``noiseable_data=None`` returns the batch unchanged.

    Example:
        >>> from accelbrainbase.data import MaskingNoise
        >>> x = mx.nd.ones((2, 4))
        >>> noisy, target = apply_noise(MaskingNoise(0.5), x, None, training=True)
        >>> target is x
        True
    """
    if noiseable_data is None:
        return x, y
    if y is None:
        return noiseable_data.noise(x), x
    return (noiseable_data.noise(x) if training else x), y


def _is_pandas(obj: Any) -> bool:
    # pandas is optional: recognise its objects without importing it.
    return type(obj).__module__.split(".")[0] == "pandas"


def _is_array_like(obj: Any) -> bool:
    return isinstance(obj, (np.ndarray, mx.nd.NDArray, list)) or _is_pandas(obj)


def _as_nd(value: Any, name: str) -> mx.nd.NDArray:
    if isinstance(value, mx.nd.NDArray):
        return value
    if _is_pandas(value):
        value = value.to_numpy()
    try:
        return mx.nd.array(np.asarray(value, dtype=np.float32))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be numeric arrays (NDArray or numpy), "
                        f"got {type(value).__name__}: {err}") from None


def _split_batch(batch: Any, source: str) -> Batch:
    """``(x, y)`` from what a loader yields: a pair ``(x, y)``, a 1-tuple ``(x,)`` or a bare ``x``."""
    if isinstance(batch, (list, tuple)):
        if len(batch) == 1:
            return _as_nd(batch[0], f"the x of a {source} batch"), None
        if len(batch) == 2:
            return _as_nd(batch[0], f"the x of a {source} batch"), _as_nd(batch[1], f"the y of a {source} batch")
        raise ValueError(f"a {source} batch must be x or (x, y); got a {type(batch).__name__} of {len(batch)} items")
    return _as_nd(batch, f"a {source} batch"), None


class _EpochSampler(gluon.data.Sampler):
    """Indices ``0..n-1`` in an order that depends only on ``(seed, epoch)``: a resumed run sees the
    batches an uninterrupted one would have seen."""

    def __init__(self, length: int, seed: int, shuffle: bool) -> None:
        self.length, self.seed, self.shuffle, self.epoch = length, seed, shuffle, 0

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.length))
        order = np.random.RandomState(derive_seed(self.seed, "shuffle", self.epoch)).permutation(self.length)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.length


class LoaderData(IteratableData):
    """A Gluon ``DataLoader`` (or a ``Dataset`` batched by one) as an `IteratableData`.

    Every batch the training loader yields is a training batch; ``(x, y)`` pairs are supervised,
    bare ``x`` (or ``(x,)``) unsupervised. The loader's own sampler decides the order: give a
    ``Dataset`` instead to get an order seeded per epoch (`training.fit` then resumes exactly).

    Args:
        loader: a ``gluon.data.DataLoader``, or a ``gluon.data.Dataset`` batched with
            ``batch_size`` (shuffled per epoch with ``seed`` when ``shuffle``).
        test_loader: held-out data, a ``DataLoader`` or a ``Dataset``; optional.
        epochs: passes `fit` makes unless told otherwise.
        batch_size, shuffle, seed: for a ``Dataset``.

    Shapes:
        ``x`` and ``y`` batches as the loader yields them, as float32 NDArrays (``(B, ...)``).

    Example:
        >>> ds = gluon.data.ArrayDataset(np.zeros((10, 3), np.float32), np.arange(10))
        >>> data = LoaderData(gluon.data.DataLoader(ds, batch_size=4))
        >>> data.iter_n, data.sample_shape
        (3, (3,))
    """

    def __init__(self, loader: Any, test_loader: Any = None, *, epochs: int = 10, batch_size: Optional[int] = None,
                 shuffle: bool = True, seed: Optional[int] = None) -> None:
        self.seed = seed if seed is not None else int(np.random.randint(0, 2 ** 31 - 1))
        self._sampler: Optional[_EpochSampler] = None
        self.loader = self._as_loader(loader, batch_size, shuffle, "data", sampled=True)
        self.test_loader = None if test_loader is None else self._as_loader(test_loader, batch_size, False,
                                                                              "test_data", sampled=False)
        self.epochs = _positive(epochs, "epochs")
        self.batch_size = batch_size

    def _as_loader(self, data: Any, batch_size: Optional[int], shuffle: bool, name: str,
                   sampled: bool) -> gluon.data.DataLoader:
        if isinstance(data, gluon.data.DataLoader):
            return data
        if not isinstance(data, gluon.data.Dataset):
            raise TypeError(f"{name} must be a gluon DataLoader or Dataset, got {type(data).__name__}")
        if batch_size is None:
            raise ValueError(f"a gluon Dataset as {name} needs batch_size=")
        if len(data) == 0:
            raise ValueError(f"{name} is an empty Dataset; nothing to learn from")
        sampler = _EpochSampler(len(data), self.seed, shuffle)
        if sampled:
            self._sampler = sampler
        batches = gluon.data.BatchSampler(sampler, _positive(batch_size, "batch_size"), last_batch="keep")
        return gluon.data.DataLoader(data, batch_sampler=batches)

    @property
    def iter_n(self) -> Optional[int]:
        try:
            return len(self.loader)
        except TypeError:
            return None

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        if self._sampler is not None:
            self._sampler.epoch = epoch
        empty = True
        for batch in self.loader:
            empty = False
            yield _split_batch(batch, "DataLoader")
        if empty:
            raise ValueError("the DataLoader yielded no batch: there is nothing to learn from")

    def test_batches(self) -> Iterator[Batch]:
        if self.test_loader is None:
            return
        for batch in self.test_loader:
            yield _split_batch(batch, "test DataLoader")


class DataIterData(IteratableData):
    """An ``mx.io.DataIter`` (``mx.io.NDArrayIter``, a record iterator...) as an `IteratableData`.

    The iterator is reset at the start of every epoch; rows a final batch is padded with
    (``batch.pad``) are dropped. ``y`` is the first label array, ``None`` without labels.

    Args:
        data_iter: the training ``DataIter``.
        test_iter: held-out data, another ``DataIter``; optional.
        epochs: passes `fit` makes unless told otherwise.

    Example:
        >>> it = mx.io.NDArrayIter(np.zeros((10, 3)), np.arange(10), batch_size=4, last_batch_handle="pad")
        >>> [x.shape[0] for x, _ in DataIterData(it).train_batches(0)]
        [4, 4, 2]
    """

    def __init__(self, data_iter: mx.io.DataIter, test_iter: Optional[mx.io.DataIter] = None, *,
                 epochs: int = 10) -> None:
        for name, value in (("data", data_iter), ("test_data", test_iter)):
            if value is not None and not isinstance(value, mx.io.DataIter):
                raise TypeError(f"{name} must be an mx.io.DataIter, got {type(value).__name__}")
        self.data_iter, self.test_iter = data_iter, test_iter
        self.epochs = _positive(epochs, "epochs")
        self.batch_size = int(data_iter.batch_size) or None

    @staticmethod
    def _batches(data_iter: mx.io.DataIter) -> Iterator[Batch]:
        data_iter.reset()
        for batch in data_iter:
            keep = batch.data[0].shape[0] - (batch.pad or 0)
            x = batch.data[0][:keep]
            y = batch.label[0][:keep] if batch.label else None
            yield x.astype(np.float32, copy=False), None if y is None else y.astype(np.float32, copy=False)

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        return self._batches(self.data_iter)

    def test_batches(self) -> Iterator[Batch]:
        return iter(()) if self.test_iter is None else self._batches(self.test_iter)


class _Wrapper(IteratableData):
    """Another `IteratableData` seen through a change: every member passes through to ``data``
    unless the subclass says otherwise."""

    def __init__(self, data: IteratableData) -> None:
        if not isinstance(data, IteratableData):
            raise TypeError(f"data must be an IteratableData, got {type(data).__name__}")
        self.data = data
        self.epochs, self.batch_size = data.epochs, data.batch_size
        self.num_parts, self.part_index = data.num_parts, data.part_index

    @property
    def iter_n(self) -> Optional[int]:
        return self.data.iter_n

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        return self.data.sample_shape

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        return self.data.train_batches(epoch)

    def test_batches(self) -> Iterator[Batch]:
        return self.data.test_batches()

    def training_arrays(self) -> Tuple[Any, Any]:
        return self.data.training_arrays()

    def test_arrays(self) -> Tuple[Any, Any]:
        return self.data.test_arrays()


class NoisyData(_Wrapper):
    """Any `IteratableData` with its inputs corrupted by a `NoiseableData` (see `apply_noise`):
    denoising without targets (noisy input, clean target, held-out batches too), augmentation with
    targets (training inputs only).

    Example:
        >>> from accelbrainbase.data import ArrayIterator, GaussNoise
        >>> data = NoisyData(ArrayIterator(np.zeros((8, 3)), batch_size=4), GaussNoise(0.1))
        >>> x, y = next(data.train_batches(0))
        >>> float(y.abs().sum().asscalar()), x.shape
        (0.0, (4, 3))
    """

    def __init__(self, data: IteratableData, noiseable_data: NoiseableData) -> None:
        super().__init__(data)
        if not isinstance(noiseable_data, NoiseableData):
            raise TypeError(f"noiseable_data must be a NoiseableData, got {type(noiseable_data).__name__}")
        self.noiseable_data = noiseable_data

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        for x, y in self.data.train_batches(epoch):
            yield apply_noise(self.noiseable_data, x, y, training=True)

    def test_batches(self) -> Iterator[Batch]:
        for x, y in self.data.test_batches():
            yield apply_noise(self.noiseable_data, x, y, training=False)

    def shard(self, num_parts: int, part_index: int) -> IteratableData:
        return NoisyData(self.data.shard(num_parts, part_index), self.noiseable_data)


class ShardedData(_Wrapper):
    """Part ``part_index`` of ``num_parts`` of an `IteratableData`, for data-parallel workers.

    Every training batch of ``B`` rows is cut into ``num_parts`` slices of ``B // num_parts`` rows
    (the ``B % num_parts`` surplus rows are skipped) and this part yields slice ``part_index``: the
    workers together see each global batch, every worker gets the same number of batches of the
    same size (a synchronous parameter server waits for all), and summing their gradients gives
    the global batch's. A batch with fewer rows than parts is skipped by every worker. Held-out
    data is not sharded.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> whole = ArrayIterator(np.arange(12.0).reshape(6, 2), batch_size=4, shuffle=False)
        >>> [x[:, 0].asnumpy().tolist() for x, _ in ShardedData(whole, 2, 1).train_batches(0)]
        [[4.0, 6.0], [10.0]]
    """

    def __init__(self, data: IteratableData, num_parts: int, part_index: int) -> None:
        super().__init__(data)
        num_parts = _positive(num_parts, "num_parts")
        if not isinstance(part_index, (int, np.integer)) or not 0 <= part_index < num_parts:
            raise ValueError(f"part_index must be within 0..{num_parts - 1}, got {part_index!r}")
        if data.num_parts != 1:
            raise ValueError(f"the data is already part {data.part_index} of {data.num_parts}")
        self.num_parts, self.part_index = int(num_parts), int(part_index)
        self.batch_size = None if data.batch_size is None else data.batch_size // self.num_parts

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        for x, y in self.data.train_batches(epoch):
            m = x.shape[0] // self.num_parts
            if m == 0:
                continue
            begin, end = self.part_index * m, (self.part_index + 1) * m
            yield x[begin:end], None if y is None else y[begin:end]


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _array_pair(data: Any, name: str) -> Tuple[Any, Any]:
    """``(x, y)`` from held-out arrays given as ``x`` or ``(x, y)``."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"{name} as a tuple must be (x, y), got {len(data)} items")
        return data
    return data, None


def as_iteratable(
    data: Any,
    y: Any = None,
    *,
    test_data: Any = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    test_size: float = 0.0,
    shuffle: bool = True,
    noiseable_data: Optional[NoiseableData] = None,
    ctx: CtxLike = None,
    seed: Optional[int] = None,
) -> IteratableData:
    """``data`` (and ``y``, ``test_data``) as an `IteratableData` (see the module docstring for the
    accepted kinds; anything else raises ``TypeError`` listing them).

    Args:
        data: the training data.
        y: targets for array ``data`` (``None``: unsupervised).
        test_data: held-out data in any accepted form (an iterator's, loader's or DataIter's
            training batches are the held-out batches); an array is ``x`` or a pair ``(x, y)``.
        epochs: passes `fit` makes (default: the iterator's own, 10 for arrays and loaders).
        batch_size: for arrays and a ``Dataset`` (default 32).
        test_size: for arrays, the fraction held out (0.0-0.5), instead of ``test_data``.
        shuffle: for arrays and a ``Dataset``: reshuffle every epoch.
        noiseable_data: corrupt inputs (`NoisyData`); for arrays, `ArrayIterator`'s own.
        ctx, seed: where array batches are made; seeds splits and shuffles.

    Example:
        >>> data = as_iteratable(np.zeros((20, 3)), np.arange(20) % 2, batch_size=8, test_size=0.2, seed=0)
        >>> type(data).__name__, data.iter_n, data.n_test
        ('ArrayIterator', 2, 4)
    """
    from .iterators import ArrayIterator  # iterators build on this module's helpers

    if isinstance(data, IteratableData):
        _refuse_array_options(type(data).__name__, y=y, batch_size=batch_size, test_size=test_size)
        it = data if test_data is None else _with_test(data, test_data, batch_size, ctx, seed)
        if epochs is not None:
            it.epochs = _positive(epochs, "epochs")
        return it if noiseable_data is None else NoisyData(it, noiseable_data)
    if isinstance(data, (gluon.data.DataLoader, gluon.data.Dataset)):
        _refuse_array_options("DataLoader/Dataset", y=y, test_size=test_size)
        it = LoaderData(data, _loader_test(test_data, batch_size), epochs=epochs or 10,
                        batch_size=batch_size if batch_size is not None or isinstance(data, gluon.data.DataLoader)
                        else 32, shuffle=shuffle, seed=seed)
        return it if noiseable_data is None else NoisyData(it, noiseable_data)
    if isinstance(data, mx.io.DataIter):
        _refuse_array_options("mx.io.DataIter", y=y, batch_size=batch_size, test_size=test_size)
        if test_data is not None and not isinstance(test_data, mx.io.DataIter):
            raise TypeError(f"with an mx.io.DataIter, test_data must be one too, got {type(test_data).__name__}")
        it = DataIterData(data, test_data, epochs=epochs or 10)
        return it if noiseable_data is None else NoisyData(it, noiseable_data)
    if _is_array_like(data):
        test_x, test_y = (None, None) if test_data is None else _array_pair(test_data, "test_data")
        if test_x is not None and not _is_array_like(test_x):
            raise TypeError(f"with array data, test_data must be arrays x or (x, y), got {type(test_x).__name__}")
        return ArrayIterator(data, y, test_x=test_x, test_y=test_y, test_size=test_size,
                             batch_size=32 if batch_size is None else batch_size,
                             epochs=10 if epochs is None else epochs, shuffle=shuffle, ctx=ctx, seed=seed,
                             noiseable_data=noiseable_data)
    raise TypeError(f"cannot learn from a {type(data).__name__}; give {ACCEPTED_DATA}")


def _refuse_array_options(kind: str, **options: Any) -> None:
    given = [name for name, value in options.items() if value not in (None, 0.0)]
    if given:
        raise ValueError(f"{', '.join(given)} only apply to array data; a {kind} brings its own "
                         "(set them where you build it)")


def _loader_test(test_data: Any, batch_size: Optional[int]) -> Any:
    if test_data is None or isinstance(test_data, (gluon.data.DataLoader, gluon.data.Dataset)):
        if isinstance(test_data, gluon.data.Dataset):
            return gluon.data.DataLoader(test_data, batch_size=batch_size or 256)
        return test_data
    if _is_array_like(test_data) or isinstance(test_data, tuple):
        test_x, test_y = _array_pair(test_data, "test_data")
        arrays: List[Any] = [as_numpy(test_x.to_numpy() if _is_pandas(test_x) else test_x, "test_data x")]
        if test_y is not None:
            arrays.append(as_numpy(test_y.to_numpy() if _is_pandas(test_y) else test_y, "test_data y"))
        return gluon.data.DataLoader(gluon.data.ArrayDataset(*arrays), batch_size=batch_size or 256)
    raise TypeError(f"test_data must be a DataLoader, a Dataset or arrays, got {type(test_data).__name__}")


class _WithTest(_Wrapper):
    """An iterator's training batches with held-out batches of another source."""

    def __init__(self, data: IteratableData, test: IteratableData) -> None:
        super().__init__(data)
        self.test = test

    def test_batches(self) -> Iterator[Batch]:
        return self.test.test_batches()

    def test_arrays(self) -> Tuple[Any, Any]:
        return self.test.test_arrays()

    def shard(self, num_parts: int, part_index: int) -> IteratableData:
        return _WithTest(self.data.shard(num_parts, part_index), self.test)


def _with_test(data: IteratableData, test_data: Any, batch_size: Optional[int], ctx: CtxLike,
               seed: Optional[int]) -> IteratableData:
    if isinstance(test_data, IteratableData):
        test = _TrainAsTest(test_data)
    elif isinstance(test_data, (gluon.data.DataLoader, gluon.data.Dataset)):
        test = _TrainAsTest(LoaderData(test_data, batch_size=batch_size or 256, shuffle=False, seed=seed))
    elif isinstance(test_data, mx.io.DataIter):
        test = _TrainAsTest(DataIterData(test_data))
    else:
        from .iterators import ArrayIterator

        test_x, test_y = _array_pair(test_data, "test_data")
        test = _TrainAsTest(ArrayIterator(test_x, test_y, batch_size=min(256, len(test_x)), shuffle=False,
                                          ctx=ctx, seed=seed))
    return _WithTest(data, test)


class _TrainAsTest(IteratableData):
    """Another source's training batches (epoch 0, unshuffled) served as held-out batches."""

    def __init__(self, data: IteratableData) -> None:
        self.data = data

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        return iter(())

    def test_batches(self) -> Iterator[Batch]:
        return self.data.train_batches(0)

    def test_arrays(self) -> Tuple[Any, Any]:
        return self.data.training_arrays()
