"""Mini-batch iterators (`IteratableData`).

`ArrayIterator` is the workhorse: arrays of rank 2-5 in, shuffled mini-batches on the model's context
out, created with one gather per batch and no per-sample Python loop. The shuffle order of an epoch
depends only on ``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one
would have seen.

The other iterators only turn a source into arrays and hand them to `ArrayIterator`: a time series
(`SequenceIterator`), a folder of images (`LabeledImageIterator`, `UnlabeledImageIterator`) or a CSV
file (`LabeledCSVIterator`, `UnlabeledCSVIterator`).
"""
from __future__ import annotations

import copy
import math
import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np

from ..checks import check_array
from ..context import CtxLike, as_ctx_list, derive_seed
from ..interfaces import Batch, ExtractableData, IteratableData, NoiseableData
from .adapters import apply_noise
from .extractors import CSVExtractor
from .series import sliding_windows

__all__ = [
    "ArrayIterator",
    "SequenceIterator",
    "LabeledImageIterator",
    "UnlabeledImageIterator",
    "LabeledCSVIterator",
    "UnlabeledCSVIterator",
]


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
        noiseable_data: a `NoiseableData` corrupting input batches. Without ``y`` (denoising) the
            target is the *clean* batch - never the other way round - and held-out batches are
            corrupted too; with ``y`` (augmentation) only training inputs are corrupted.
        num_parts, part_index: data-parallel sharding (`shard`): this iterator yields part
            ``part_index`` of every global mini-batch of ``batch_size * num_parts`` samples.

    Yields (`train_batches`, `test_batches`):
        ``(x, y)``: ``x`` ``(batch_size, ...)``; ``y`` ``(batch_size, ...)`` or ``None``.

    Attributes:
        x, y, test_x, test_y: the training and held-out arrays (NDArrays on ``ctx``).
        train_index, test_index: for every row of ``x`` / ``test_x``, its row in the data given
            (``None`` when ``test_x`` was given separately): after a ``test_size`` split, the
            source of each row (a CSV line, an image file of ``paths``) stays known.

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
        num_parts: int = 1,
        part_index: int = 0,
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
        train_index: np.ndarray = np.arange(len(x))
        test_index: Optional[np.ndarray] = None
        if test_size:
            split_seed = seed if seed is not None else int(np.random.randint(0, 2**31 - 1))
            order = np.random.RandomState(derive_seed(split_seed, "split")).permutation(len(x))
            n_test = int(round(len(x) * test_size))
            if n_test == 0 or n_test == len(x):
                raise ValueError(f"test_size={test_size} leaves an empty split of {len(x)} samples")
            test_index, train_index = np.sort(order[:n_test]), np.sort(order[n_test:])
            test_x, x = x[test_index], x[train_index]
            if y is not None:
                test_y, y = y[test_index], y[train_index]
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
        self.batch_size: int = int(batch_size)
        self.epochs = int(epochs)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.noiseable_data = noiseable_data
        self.train_index, self.test_index = train_index, test_index
        # Without a seed each iterator still shuffles reproducibly within itself.
        self._base_seed = seed if seed is not None else int(np.random.randint(0, 2**31 - 1))
        self.num_parts, self.part_index = 1, 0
        if (num_parts, part_index) != (1, 0):
            self._set_shard(num_parts, part_index)

    def _set_shard(self, num_parts: int, part_index: int) -> None:
        if not isinstance(num_parts, (int, np.integer)) or num_parts < 1:
            raise ValueError(f"num_parts must be a positive integer, got {num_parts!r}")
        if not isinstance(part_index, (int, np.integer)) or not 0 <= part_index < num_parts:
            raise ValueError(f"part_index must be within 0..{num_parts - 1}, got {part_index!r}")
        if self.batch_size * num_parts > self.n_train:
            raise ValueError(f"{num_parts} workers x batch_size={self.batch_size} need at least "
                             f"{num_parts * self.batch_size} training samples, got {self.n_train}")
        self.num_parts, self.part_index = int(num_parts), int(part_index)

    def shard(self, num_parts: int, part_index: int) -> "ArrayIterator":
        """This iterator's part ``part_index`` of ``num_parts`` for data-parallel workers.

        Every worker draws the same global order (same seed) and cuts it into global mini-batches
        of ``batch_size * num_parts``; part ``k`` yields rows ``k * b .. (k + 1) * b`` of each, so
        the parts of one step together are exactly the global batch one process with
        ``batch_size * num_parts`` would see. Every part yields the same number of batches of the
        same sizes (a synchronous parameter server would wait forever otherwise): a last, short
        global batch is split evenly and its ``< num_parts`` leftover samples are skipped.
        Held-out data is not sharded. Returns a shallow copy sharing the arrays.

        Example:
            >>> it = ArrayIterator(np.arange(20.0).reshape(10, 2), batch_size=2, shuffle=False)
            >>> [x[:, 0].asnumpy().tolist() for x, _ in it.shard(2, 1).train_batches()]
            [[4.0, 6.0], [12.0, 14.0], [18.0]]
        """
        part = copy.copy(self)
        part.num_parts, part.part_index = 1, 0
        part._set_shard(num_parts, part_index)
        return part

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
        if self.num_parts > 1:
            rows = self._part_rows()
            return len(rows)
        n = self.n_train / self.batch_size
        return int(n) if self.drop_last else math.ceil(n)

    def _part_rows(self) -> List[Tuple[int, int]]:
        """``(start, end)`` positions in the epoch's order of this part's batches."""
        n, g, p = self.n_train, self.batch_size * self.num_parts, self.num_parts
        stop = (n // g) * g if self.drop_last else n
        rows = []
        for start in range(0, stop, g):
            m = (min(start + g, n) - start) // p
            if m == 0:
                break
            rows.append((start + self.part_index * m, start + (self.part_index + 1) * m))
        return rows

    def _with_noise(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray], training: bool) -> Batch:
        return apply_noise(self.noiseable_data, x, y, training)

    def training_arrays(self) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """``(x, y)`` of the training data as numpy arrays (clean, before any noise)."""
        return self.x.asnumpy(), None if self.y is None else self.y.asnumpy()

    def test_arrays(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """``(test_x, test_y)`` as numpy arrays; ``(None, None)`` without held-out data."""
        if self.test_x is None:
            return None, None
        return self.test_x.asnumpy(), None if self.test_y is None else self.test_y.asnumpy()

    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        """Yield ``(x, y)`` for every mini-batch of training epoch ``epoch`` (0-based)."""
        n, b = self.n_train, self.batch_size
        stop = (n // b) * b if self.drop_last else n
        if self.shuffle:
            order = np.random.RandomState(derive_seed(self._base_seed, "shuffle", epoch)).permutation(n)
            order_nd = mx.nd.array(order, ctx=self.x.context, dtype=np.int64)
        rows = self._part_rows() if self.num_parts > 1 else \
            [(start, min(start + b, n)) for start in range(0, stop, b)]
        for start, end in rows:
            if self.shuffle:
                idx = order_nd[start:end]
                x = mx.nd.take(self.x, idx)
                y = None if self.y is None else mx.nd.take(self.y, idx)
            else:
                x = self.x[start:end]
                y = None if self.y is None else self.y[start:end]
            yield self._with_noise(x, y, training=True)

    def test_batches(self) -> Iterator[Batch]:
        """Yield ``(x, y)`` over the held-out data in order (nothing when there is none)."""
        if self.test_x is None:
            return
        for start in range(0, self.n_test, self.batch_size):
            end = min(start + self.batch_size, self.n_test)
            y = None if self.test_y is None else self.test_y[start:end]
            yield self._with_noise(self.test_x[start:end], y, training=False)


class SequenceIterator(ArrayIterator):
    """Sliding windows of a time series, for recurrent models and sequence auto-encoders.

    A series of ``T`` steps is cut into windows of ``seq_len`` steps, starting every ``stride`` steps,
    with one strided view of the series (no per-window Python loop).

    ``test_size`` holds out the *last* windows (a chronological split, not a random one) and drops the
    training windows that share time steps with them, so no test point is seen during training.

    Args:
        series: ``(T,)`` (univariate) or ``(T, F)`` (``F`` features per step).
        seq_len: steps per window.
        stride: steps between the starts of two consecutive windows.
        target: ``"reconstruct"``: ``y`` is the window itself (auto-encoders); ``"next"``: ``y`` is the
            window shifted one step ahead, ``y[:, t] = series[start + t + 1]`` (next-step prediction;
            each window then needs ``seq_len + 1`` steps).
        test_size: fraction of the windows held out at the end of the series (0.0-0.5).
        **kwargs: the other `ArrayIterator` arguments (``batch_size``, ``epochs``, ``ctx``, ``seed``...).

    Shapes:
        ``x`` and ``y`` batches are ``(batch_size, seq_len, F)``, with ``F = 1`` for a 1-D series.
        The number of windows is ``(T - width) // stride + 1`` with ``width = seq_len`` (+1 for
        ``"next"``).

    Example:
        >>> it = SequenceIterator(np.sin(np.arange(200) / 10), seq_len=20, target="next", batch_size=16)
        >>> x, y = next(it.train_batches(epoch=0))
        >>> x.shape, y.shape
        ((16, 20, 1), (16, 20, 1))
    """

    def __init__(
        self,
        series: Any,
        seq_len: int,
        *,
        stride: int = 1,
        target: str = "reconstruct",
        test_size: float = 0.0,
        **kwargs: Any,
    ) -> None:
        series = check_array(series, "series", min_rank=1, max_rank=2)
        for name, value in (("seq_len", seq_len), ("stride", stride)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if target not in ("reconstruct", "next"):
            raise ValueError(f"target must be 'reconstruct' or 'next', got {target!r}")
        if test_size and kwargs.get("test_x") is not None:
            raise ValueError("give either test_x/test_y or test_size, not both")
        if not 0.0 <= test_size <= 0.5:
            raise ValueError(f"test_size must be within 0.0..0.5, got {test_size}")
        if series.ndim == 1:
            series = series[:, np.newaxis]
        width = seq_len + (1 if target == "next" else 0)
        if len(series) < width:
            need = f"seq_len + 1 = {width}" if target == "next" else f"seq_len = {width}"
            raise ValueError(f"series has {len(series)} time steps, but one window needs {need}")
        windows = sliding_windows(series, width, stride)  # (N, width, F)
        x = windows[:, :seq_len]
        y = windows if target == "reconstruct" else windows[:, 1:]

        if test_size:
            n = len(windows)
            n_test = int(round(n * test_size))
            # Training window i covers steps [i*stride, i*stride + width); keep those ending before the
            # first test window starts.
            n_train = ((n - n_test) * stride - width) // stride + 1
            if n_test == 0 or n_train < 1:
                raise ValueError(
                    f"test_size={test_size} leaves an empty split of the {n} windows "
                    f"(series of {len(series)} steps, window of {width}, stride {stride})"
                )
            kwargs.update(test_x=x[n - n_test:], test_y=y[n - n_test:])
            x, y = x[:n_train], y[:n_train]

        super().__init__(x, y, **kwargs)
        self.seq_len = int(seq_len)
        self.stride = int(stride)
        self.target = target
        self.n_features = series.shape[1]


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _is_image_file(folder: str, name: str) -> bool:
    return (
        not name.startswith(".")
        and name.lower().endswith(_IMAGE_SUFFIXES)
        and os.path.isfile(os.path.join(folder, name))
    )


def _check_directory(directory: Any) -> str:
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image directory not found: {directory}")
    return directory


def _check_extractor(extractor: Any) -> ExtractableData:
    if not isinstance(extractor, ExtractableData):
        raise TypeError(
            f"extractor must be an ExtractableData (e.g. ImageExtractor), got {type(extractor).__name__}"
        )
    return extractor


def _extract_all(paths: Sequence[str], extractor: ExtractableData) -> np.ndarray:
    """Extract every file into one preallocated ``(len(paths), ...)`` float32 array."""
    first = np.asarray(extractor.extract(paths[0]), dtype=np.float32)
    out = np.empty((len(paths),) + first.shape, dtype=np.float32)
    out[0] = first
    for i, path in enumerate(paths[1:], start=1):
        arr = np.asarray(extractor.extract(path), dtype=np.float32)
        if arr.shape != first.shape:
            raise ValueError(
                f"{path} was extracted to shape {arr.shape} but {paths[0]} to {first.shape}; "
                "every file must give the same shape"
            )
        out[i] = arr
    return out


class _FileRows:
    """The image files behind the training and held-out rows of an image iterator."""

    paths: List[str]
    train_index: np.ndarray
    test_index: Optional[np.ndarray]

    @property
    def train_paths(self) -> List[str]:
        """The file of every training row, in row order."""
        return [self.paths[i] for i in self.train_index]

    @property
    def test_paths(self) -> List[str]:
        """The file of every held-out row (``test_size`` split), in row order; empty without one."""
        return [] if self.test_index is None else [self.paths[i] for i in self.test_index]


class LabeledImageIterator(_FileRows, ArrayIterator):
    """Labelled images from a folder per class: ``directory/class_name/*.{png,jpg,jpeg,bmp,gif}``.

    Class folders are sorted by name and labelled ``0 .. K-1`` in that order; files are sorted within a
    class. Hidden files and folders (``.ipynb_checkpoints``...) are skipped. Every image is read once,
    up front, with ``extractor``; the iterator then behaves as ``ArrayIterator(images, labels)``.

    Args:
        directory: the folder holding one sub-folder per class.
        extractor: reads one file, usually an `ImageExtractor` (which gives every image the same size).
        **kwargs: the `ArrayIterator` arguments (``test_size``, ``batch_size``, ``epochs``, ``ctx``...).

    Attributes:
        class_names: the class folder names; ``class_names[label]`` names a label.
        paths: the image files, in the order of the rows of ``x`` before any ``test_size`` split.
        train_paths, test_paths: the file of every training / held-out row after the split.

    Shapes:
        ``x`` batches are ``(batch_size, C, H, W)`` for an `ImageExtractor`; ``y`` is ``(batch_size,)``.

    Example:
        >>> it = LabeledImageIterator("digits/", ImageExtractor(28, 28), batch_size=64)   # doctest: +SKIP
        >>> it.class_names   # doctest: +SKIP
        ['0', '1', '2', ...]
    """

    def __init__(self, directory: Any, extractor: ExtractableData, **kwargs: Any) -> None:
        directory = _check_directory(directory)
        extractor = _check_extractor(extractor)
        class_names = sorted(
            name
            for name in os.listdir(directory)
            if not name.startswith(".") and os.path.isdir(os.path.join(directory, name))
        )
        if not class_names:
            raise ValueError(f"{directory} has no class folders (expected {directory}/class_name/*.png)")
        paths: List[str] = []
        labels: List[int] = []
        for label, name in enumerate(class_names):
            folder = os.path.join(directory, name)
            files = sorted(f for f in os.listdir(folder) if _is_image_file(folder, f))
            if not files:
                raise ValueError(f"class folder {folder} holds no image files ({', '.join(_IMAGE_SUFFIXES)})")
            paths.extend(os.path.join(folder, f) for f in files)
            labels.extend([label] * len(files))

        super().__init__(_extract_all(paths, extractor), np.asarray(labels, dtype=np.float32), **kwargs)
        self.directory = directory
        self.class_names = class_names
        self.paths = paths


class UnlabeledImageIterator(_FileRows, ArrayIterator):
    """Every image file under a folder, searched recursively, for unsupervised models.

    Files (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``) are sorted by path; hidden files and
    folders are skipped. Every image is read once, up front, with ``extractor``.

    Args:
        directory: the folder to search.
        extractor: reads one file, usually an `ImageExtractor`.
        **kwargs: the `ArrayIterator` arguments (``test_size``, ``batch_size``, ``noiseable_data``...).

    Attributes:
        paths: the image files, in the order of the rows of ``x`` before any ``test_size`` split.
        train_paths, test_paths: the file of every training / held-out row after the split.

    Shapes:
        ``x`` batches are ``(batch_size, C, H, W)`` for an `ImageExtractor`; ``y`` is ``None`` (or the
        clean batch with a ``noiseable_data``).

    Example:
        >>> it = UnlabeledImageIterator("frames/", ImageExtractor(32, 32), batch_size=16)   # doctest: +SKIP
    """

    def __init__(self, directory: Any, extractor: ExtractableData, **kwargs: Any) -> None:
        directory = _check_directory(directory)
        extractor = _check_extractor(extractor)
        paths: List[str] = []
        for root, dirs, files in os.walk(directory):
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # prune hidden folders from the walk
            paths.extend(os.path.join(root, f) for f in files if _is_image_file(root, f))
        if not paths:
            raise ValueError(f"{directory} holds no image files ({', '.join(_IMAGE_SUFFIXES)})")
        paths.sort()

        super().__init__(_extract_all(paths, extractor), **kwargs)
        self.directory = directory
        self.paths = paths


class LabeledCSVIterator(ArrayIterator):
    """Features and labels from one numeric CSV file (one sample per row).

    Args:
        path: the CSV file.
        label_column: index of the label column (negative counts from the end); the other columns
            are the features.
        extractor: reads the file; default ``CSVExtractor()`` (comma separated, header detected).
        **kwargs: the `ArrayIterator` arguments (``test_size``, ``batch_size``, ``epochs``...).

    Shapes:
        ``x`` batches are ``(batch_size, columns - 1)``, ``y`` batches ``(batch_size,)``.

    Example:
        >>> it = LabeledCSVIterator("iris.csv", label_column=-1, test_size=0.2)   # doctest: +SKIP
    """

    def __init__(
        self,
        path: Any,
        *,
        label_column: int = -1,
        extractor: Optional[ExtractableData] = None,
        **kwargs: Any,
    ) -> None:
        path = os.fspath(path)
        extractor = CSVExtractor() if extractor is None else _check_extractor(extractor)
        table = np.asarray(extractor.extract(path))
        if table.ndim != 2 or table.shape[1] < 2:
            raise ValueError(
                f"CSV file {path} must have at least two columns (features and a label), "
                f"got a table of shape {table.shape}"
            )
        n_cols = table.shape[1]
        if not isinstance(label_column, (int, np.integer)) or not -n_cols <= label_column < n_cols:
            raise ValueError(
                f"label_column={label_column!r} is out of range for the {n_cols} columns of {path}"
            )
        label_column = int(label_column) % n_cols

        super().__init__(np.delete(table, label_column, axis=1), table[:, label_column], **kwargs)
        self.path = path
        self.label_column = label_column


class UnlabeledCSVIterator(ArrayIterator):
    """Features from one numeric CSV file (one sample per row, every column a feature).

    Args:
        path: the CSV file.
        extractor: reads the file; default ``CSVExtractor()`` (comma separated, header detected).
        **kwargs: the `ArrayIterator` arguments (``test_size``, ``batch_size``, ``noiseable_data``...).

    Shapes:
        ``x`` batches are ``(batch_size, columns)``.

    Example:
        >>> it = UnlabeledCSVIterator("sensors.csv", batch_size=64, test_size=0.1)   # doctest: +SKIP
    """

    def __init__(self, path: Any, *, extractor: Optional[ExtractableData] = None, **kwargs: Any) -> None:
        path = os.fspath(path)
        extractor = CSVExtractor() if extractor is None else _check_extractor(extractor)
        super().__init__(extractor.extract(path), **kwargs)
        self.path = path
