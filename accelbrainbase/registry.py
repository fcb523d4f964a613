"""The model registry: every model of the zoo by name.

Example:
    >>> import accelbrainbase as abb
    >>> "autoencoder" in abb.list_models()
    True
    >>> ae = abb.get_model("autoencoder", input_dim=64, hidden_dims=[32])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["ModelEntry", "register_model", "get_model", "list_models", "model_entry"]

# An example factory returns (constructor kwargs, x, y) of a small instance; the shared contract
# tests train and check every registered model through it, and it documents a minimal use.
ExampleFactory = Callable[[np.random.RandomState], Tuple[Dict[str, Any], np.ndarray, Optional[np.ndarray]]]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows of one model."""

    name: str
    cls: type
    example: ExampleFactory


_REGISTRY: Dict[str, ModelEntry] = {}


def register_model(name: str, example: ExampleFactory) -> Callable[[type], type]:
    """Class decorator adding a model to the registry under ``name``.

    Args:
        name: lower-case registry name (``get_model(name)``).
        example: ``rng -> (kwargs, x, y)`` building a small instance and data for it.
    """

    def decorate(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].cls.__name__}")
        _REGISTRY[name] = ModelEntry(name, cls, example)
        cls.registry_name = name
        return cls

    return decorate


def _ensure_loaded() -> None:
    # Models register themselves on import; importing the subpackages fills the registry.
    import accelbrainbase.controllers  # noqa: F401
    import accelbrainbase.models  # noqa: F401


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; unknown names raise ``ValueError`` listing the valid ones."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None


def get_model(name: str, **kwargs: Any) -> Any:
    """Construct the registered model ``name`` with ``kwargs``.

    Example:
        >>> rbm = get_model("autoencoder", input_dim=64, hidden_dims=[16], seed=0)
    """
    return model_entry(name).cls(**kwargs)


def list_models() -> List[str]:
    """Sorted names of all registered models."""
    _ensure_loaded()
    return sorted(_REGISTRY)
