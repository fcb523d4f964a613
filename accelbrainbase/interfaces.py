"""The small interfaces every part of the zoo implements.

A deep-learning system here is a composition of functionally equivalent, substitutable parts: an
extractor reads data, an iterator batches it, a noise corrupts it, a sampler draws from a
distribution, a model observes it, a loss scores it, a regularizer constrains it and a controller
orchestrates several models. Each part implements exactly one of the classes below, so any two
parts with the same interface can be swapped without touching the rest. A ninth, `PolicySampler`,
is the decision problem a reinforcement-learning controller (DQN) interacts with when it is not a
gymnasium environment.

The names are the vocabulary of the predecessor library (`accel-brain-base`) and are kept as they
are, spelling included.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as _np

__all__ = [
    "ExtractableData",
    "NoiseableData",
    "IteratableData",
    "SamplableData",
    "ObservableData",
    "ComputableLoss",
    "RegularizatableData",
    "ControllableModel",
    "PolicySampler",
    "Batch",
]

#: One mini-batch: inputs ``x`` and targets ``y`` (``None`` for unsupervised data), as NDArrays.
Batch = Tuple[Any, Optional[Any]]


class ExtractableData(ABC):
    """Reads one source (an image file, a CSV file, ...) into an array.

    Example:
        >>> from accelbrainbase.data import CSVExtractor
        >>> arr = CSVExtractor().extract("table.csv")   # doctest: +SKIP
    """

    @abstractmethod
    def extract(self, path: str) -> Any:
        """Return the contents of ``path`` as a ``numpy.ndarray``; raise naming ``path`` on failure."""


class NoiseableData(ABC):
    """Corrupts a batch: the input of denoising auto-encoders, or data augmentation.

    ``noise`` works on NDArrays and, given ``F``, on symbols inside ``hybrid_forward``.

    Example:
        >>> from accelbrainbase.data import GaussNoise
        >>> noisy = GaussNoise(0.1).noise(mx.nd.zeros((4, 8)))   # doctest: +SKIP
    """

    @abstractmethod
    def noise(self, arr: Any, F: Any = None) -> Any:
        """Return a corrupted copy of ``arr`` (same shape)."""


class IteratableData(ABC):
    """Mini-batches for training: the one contract between data and `training.fit`.

    `fit` uses exactly these members and nothing else; models use the last four before training.
    Only `train_batches` is required: everything else has a working default, so an iterator written
    from this docstring gets test losses and accuracies, shape checks, noise, sharding over workers
    and layer-wise pre-training like the zoo's own iterators.

    Required:
        ``train_batches(epoch)``: yield ``(x, y)`` for every training mini-batch of epoch ``epoch``
        (0-based, counted over the model's whole training history, so that shuffles can depend on
        it). ``x`` is an ``mx.nd.NDArray`` ``(B, *sample_shape)``; ``y`` an NDArray ``(B, ...)``
        (labels ``(B,)``, targets of any shape) or ``None`` for unsupervised data. Batches may live
        on any device: the model moves them to its own contexts.

    Optional (defaults in brackets):
        ``test_batches()``: yield the held-out ``(x, y)`` batches once, in order [none: `fit`
        records no test loss]. Labelled held-out data gives classifiers a ``test_accuracy``.
        ``epochs``: passes `fit` makes when it is not given ``epochs`` [10].
        ``batch_size``: samples per training batch, or ``None`` when unknown [None]; the default
        batch size of work that re-batches the data (the DBM's layer-wise pre-training).
        ``iter_n``: training batches per epoch, or ``None`` when unknown [None]; the progress
        bar's length. ``len(data)`` is ``iter_n``.
        ``sample_shape``: per-sample shape of ``x`` (batch axis excluded) [read off the first
        training batch]; checked against the model's input shape before any work.
        ``training_arrays()`` / ``test_arrays()``: ``(x, y)`` of all the training (held-out) data
        as numpy arrays, clean and in order [one pass over ``train_batches(0)`` /
        ``test_batches()``]. Called before training by models that need the whole data or check
        its values (value ranges, labels, data-dependent initialisation, layer-wise
        pre-training); override them when a pass over your data is expensive.
        ``shard(num_parts, part_index)``: this worker's part of the data for data-parallel
        training on a parameter server [a `data.ShardedData`: every training batch cut into
        ``num_parts`` equal slices]. ``num_parts`` / ``part_index`` say which part an iterator
        already is [1 / 0].

    To corrupt inputs (denoising, augmentation), wrap any iterator in `data.NoisyData` (or give
    `data.ArrayIterator` a ``noiseable_data``). `data.as_iteratable` turns a Gluon ``DataLoader``
    or ``Dataset``, an ``mx.io.DataIter``, arrays and DataFrames into an `IteratableData`;
    ``learn()`` does that for you.

    ``generate_learned_samples()`` / ``generate_inferenced_samples()`` are the predecessor
    library's generator interface, kept as thin adapters over the methods above.

    Example:
        >>> import numpy as np, mxnet as mx
        >>> class Halves(IteratableData):
        ...     epochs = 3
        ...     def __init__(self, x, y):
        ...         self.x, self.y = x, y
        ...     def train_batches(self, epoch):
        ...         for part in np.array_split(np.arange(len(self.x)), 2):
        ...             yield mx.nd.array(self.x[part]), mx.nd.array(self.y[part])
        >>> data = Halves(np.zeros((10, 4)), np.arange(10) % 2)
        >>> data.sample_shape, data.training_arrays()[0].shape
        ((4,), (10, 4))
    """

    epochs: int = 10
    batch_size: Optional[int] = None
    num_parts: int = 1
    part_index: int = 0

    @abstractmethod
    def train_batches(self, epoch: int = 0) -> Iterator[Batch]:
        """Yield ``(x, y)`` for every training mini-batch of epoch ``epoch`` (0-based)."""

    def test_batches(self) -> Iterator[Batch]:
        """Yield the held-out ``(x, y)`` batches once, in order (none by default)."""
        return iter(())

    @property
    def iter_n(self) -> Optional[int]:
        """Training mini-batches per epoch, ``None`` when unknown."""
        return None

    def __len__(self) -> int:
        n = self.iter_n
        if n is None:
            raise TypeError(f"{type(self).__name__} does not know how many batches an epoch has (iter_n is None)")
        return n

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        """Per-sample shape of ``x`` (batch axis excluded), read off the first training batch."""
        for x, _ in self.train_batches(0):
            return tuple(x.shape[1:])
        raise ValueError(f"{type(self).__name__}.train_batches(0) yielded no batch: there is nothing to learn from")

    def training_arrays(self) -> Tuple[Any, Any]:
        """``(x, y)`` of all the training data as numpy arrays (``y`` is ``None`` without targets)."""
        x, y = _concatenate(self.train_batches(0))
        if x is None:
            raise ValueError(f"{type(self).__name__}.train_batches(0) yielded no batch: there is nothing to learn from")
        return x, y

    def test_arrays(self) -> Tuple[Any, Any]:
        """``(x, y)`` of all the held-out data as numpy arrays; ``(None, None)`` when there is none."""
        return _concatenate(self.test_batches())

    def shard(self, num_parts: int, part_index: int) -> "IteratableData":
        """Part ``part_index`` of ``num_parts`` for data-parallel workers (see `data.ShardedData`)."""
        from .data.adapters import ShardedData  # the data layer builds on this module

        return ShardedData(self, num_parts, part_index)

    def generate_learned_samples(self) -> Iterator[Tuple[Any, Any, Any, Any]]:
        """Yield ``(x, y, test_x, test_y)`` for every training batch of every epoch; the held-out
        batches cycle alongside (``None`` when there are none). The predecessor's interface."""
        tests = list(self.test_batches())
        for epoch in range(int(self.epochs)):
            for i, (x, y) in enumerate(self.train_batches(epoch)):
                test_x, test_y = tests[i % len(tests)] if tests else (None, None)
                yield x, y, test_x, test_y

    def generate_inferenced_samples(self) -> Iterator[Tuple[Any, Any, Any, Any]]:
        """Yield ``(x, y, x, y)`` over the held-out data (the training data when there is none)."""
        tests = list(self.test_batches())
        for x, y in tests or self.train_batches(0):
            yield x, y, x, y


def _concatenate(batches: Iterable[Batch]) -> Tuple[Any, Any]:
    xs: List[Any] = []
    ys: List[Any] = []
    for x, y in batches:
        xs.append(x.asnumpy() if hasattr(x, "asnumpy") else x)
        ys.append(None if y is None else (y.asnumpy() if hasattr(y, "asnumpy") else y))
    if not xs:
        return None, None
    labelled = all(y is not None for y in ys)
    return _np.concatenate(xs), (_np.concatenate(ys) if labelled else None)


class SamplableData(ABC):
    """Draws one batch from a distribution: GAN noise, real data, conditions.

    Example:
        >>> from accelbrainbase.data import NormalNoiseSampler
        >>> z = NormalNoiseSampler(batch_size=16, dim_or_shape=8, seed=0).draw()   # doctest: +SKIP
    """

    @abstractmethod
    def draw(self) -> Any:
        """Return one batch as an NDArray on the sampler's context."""


class ObservableData(ABC):
    """Every trainable model: it learns from data and infers on new observations.

    Towards `training.fit` a model offers one explicit contract - how it steps on a batch (named
    losses), how it evaluates, which trainers it owns, and its state - implemented with defaults by
    `models.ObservableModel`, the base of every model of the zoo (see its docstring and
    ``docs/design.md``).
    """

    @abstractmethod
    def learn(self, data: Any, **kwargs: Any) -> "ObservableData":
        """Train on ``data`` (an `IteratableData`, or anything `data.as_iteratable` accepts) and
        return ``self``."""

    @abstractmethod
    def inference(self, observed_arr: Any) -> Any:
        """Return the model's output for ``observed_arr`` (prediction mode)."""


class ComputableLoss(ABC):
    """A loss function. Implementations are also `gluon.loss.Loss` blocks usable in a graph."""

    @abstractmethod
    def compute(self, pred_arr: Any, real_arr: Any) -> Any:
        """Return the mean loss of a batch as a one-element NDArray."""


class RegularizatableData(ABC):
    """A constraint applied to the parameters after each optimizer step."""

    @abstractmethod
    def regularize(self, params_dict: Dict[str, Any]) -> None:
        """Modify the parameters of ``params_dict`` (name -> `gluon.Parameter`) in place."""


class ControllableModel(ABC):
    """Orchestrates several `ObservableData` (GAN, AAE, EBGAN, DQN, DRCN...).

    The zoo's controllers are ordinary models (`models.ObservableModel`) with several optimizers:
    one trainer per phase, each phase one gradient step of `training.gradient_step`, so `fit`,
    checkpoints, resume and ``save``/``load`` treat them like any model. Any Gluon ``HybridBlock``
    can be one of their parts.
    """

    @abstractmethod
    def learn(self, *args: Any, **kwargs: Any) -> "ControllableModel":
        """Train every model the controller holds and return ``self``."""

    @abstractmethod
    def inference(self, *args: Any, **kwargs: Any) -> Any:
        """Return the controller's output (generated samples, actions, ...)."""


class PolicySampler(ABC):
    """A custom decision problem (not a gymnasium environment) that a controller learns to act in.

    The agent sees a state, picks one of ``n_actions`` discrete actions, and the problem samples the
    consequence: the next state, a reward, and whether the episode ended. It is the gymnasium
    contract without spaces and info dicts: implement it for a simulator, a game, a scheduling or
    routing problem, and `controllers.DQNController` trains on it exactly as on an environment.

    ``terminated`` means a terminal state was reached (no future reward: the TD target is masked);
    ``truncated`` means the episode was cut short (time limit): learning bootstraps through it.

    Attributes every implementation exposes: ``n_actions`` (int) and ``state_shape`` (per-state
    shape, a tuple).

    Example:
        >>> dqn = DQNController.for_env(MyChainProblem(), seed=0)   # doctest: +SKIP
        >>> dqn.learn(MyChainProblem(), total_steps=5000)             # doctest: +SKIP
    """

    n_actions: int
    state_shape: Tuple[int, ...]

    @abstractmethod
    def reset(self, seed: Optional[int] = None) -> Any:
        """Start an episode (seeded when ``seed`` is given) and return its first state."""

    @abstractmethod
    def step(self, action: int) -> Tuple[Any, float, bool, bool]:
        """Apply ``action``; return ``(next_state, reward, terminated, truncated)``."""
