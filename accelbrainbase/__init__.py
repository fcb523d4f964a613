"""accelbrainbase: a model zoo of energy-based, reconstruction, generative and reinforcement-learning
models, each an MXNet Gluon `HybridBlock` built from small interchangeable parts.

Example:
    >>> import accelbrainbase as abb
    >>> abb.list_models()                                   # doctest: +SKIP
    ['autoencoder', 'neural_networks']
    >>> ae = abb.get_model("autoencoder", input_dim=64, hidden_dims=[32])
"""
__version__ = "0.1.0"

from .context import available_ctx, seed_everything
from .interfaces import (
    ComputableLoss,
    ControllableModel,
    ExtractableData,
    IteratableData,
    NoiseableData,
    ObservableData,
    PolicySampler,
    RegularizatableData,
    SamplableData,
)
from .registry import get_model, list_models, register_model
from .training import History, TrainingDivergedError, fit

__all__ = [
    "__version__",
    "ExtractableData",
    "NoiseableData",
    "IteratableData",
    "SamplableData",
    "ObservableData",
    "ComputableLoss",
    "RegularizatableData",
    "ControllableModel",
    "PolicySampler",
    "get_model",
    "list_models",
    "register_model",
    "fit",
    "History",
    "TrainingDivergedError",
    "available_ctx",
    "seed_everything",
]
