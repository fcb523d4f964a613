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
from typing import Any, Dict, Iterator, Optional, Tuple

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
]


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
    """Yields mini-batches already placed on the model's context.

    Attributes every implementation exposes: ``epochs``, ``batch_size`` and ``iter_n`` (mini-batches
    per epoch).
    """

    epochs: int
    batch_size: int
    iter_n: int

    @abstractmethod
    def generate_learned_samples(self) -> Iterator[Tuple[Any, Any, Any, Any]]:
        """Yield ``(x, y, test_x, test_y)`` for every training mini-batch of every epoch."""

    @abstractmethod
    def generate_inferenced_samples(self) -> Iterator[Tuple[Any, Any, Any, Any]]:
        """Yield ``(test_x, test_y, test_x, test_y)`` once over the held-out data."""


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
    """Every trainable model: it learns from an `IteratableData` and infers on new observations."""

    @abstractmethod
    def learn(self, iteratable_data: IteratableData, **kwargs: Any) -> "ObservableData":
        """Train on ``iteratable_data`` and return ``self``."""

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
    """Orchestrates several `ObservableData` (GAN, AAE, EBGAN, DQN, ...)."""

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
