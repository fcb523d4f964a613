"""The registry: every model and controller of the zoo by name, with what the contract suite
needs to check it.

A model joins with `register_model`: a name, an ``example`` factory building a small instance and
data for it, and - like scikit-learn's estimator tags - the contract checks it opts out of, each
with its reason. A public model class that is deliberately not registered (an abstract base, a
building block) says why with `not_registered`; a test checks that every public class of
``accelbrainbase.models`` and ``accelbrainbase.controllers`` is one or the other.

Example:
    >>> import accelbrainbase as abb
    >>> "autoencoder" in abb.list_models()
    True
    >>> ae = abb.get_model("autoencoder", input_dim=64, hidden_dims=[32])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

__all__ = ["ModelEntry", "CONTRACT_CHECKS", "register_model", "not_registered", "get_model", "list_models",
           "model_entry", "learn_on_arrays"]

#: The checks of the contract suite (``tests/test_contract.py``) a model may opt out of.
CONTRACT_CHECKS = ("output_shapes", "hybridize", "save_load", "export", "onnx", "learning", "same_seed", "contexts",
                   "resume", "reload", "user_parts", "gpu")

# An example factory returns (constructor kwargs, x, y) of a small instance; the contract suite
# trains and checks every registered model through it, and it documents a minimal use.
ExampleFactory = Callable[[np.random.RandomState], Tuple[Dict[str, Any], Any, Any]]
# How the suite trains a model for ``epochs`` epochs on an example's data (default: ``learn``).
LearnFunction = Callable[..., Any]


def learn_on_arrays(model: Any, x: Any, y: Any, *, epochs: int, batch_size: Optional[int] = None,
                    ctx: Any = None, **fit_kwargs: Any) -> Any:
    """How the contract suite trains a model by default: ``model.learn`` on an ``ArrayIterator`` of
    ``(x, y)`` (batches made on ``ctx``, one batch of all samples unless ``batch_size``)."""
    from .data import ArrayIterator

    data = ArrayIterator(x, y, batch_size=batch_size or len(x), epochs=epochs, ctx=ctx, seed=0)
    return model.learn(data, verbose=0, **fit_kwargs)


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows of one model.

    Attributes:
        name: the registry name.
        cls: the class.
        example: ``rng -> (kwargs, x, y)``: a small instance's constructor arguments and data.
        opt_outs: contract check -> the reason the model does not take it (see `CONTRACT_CHECKS`).
        learn: ``learn(model, x, y, epochs=, batch_size=, ctx=, **fit_kwargs)``: how the suite
            trains it (default: `learn_on_arrays`); ``fit_kwargs`` may hold ``checkpoint_dir``,
            ``resume`` and ``callbacks`` with `training.fit`'s meaning.
        user_parts: like ``example``, but the instance's parts are plain Gluon blocks (for models
            that take sub-models); ``None`` for models without parts.
    """

    name: str
    cls: type
    example: ExampleFactory
    opt_outs: Mapping[str, str] = field(default_factory=dict)
    learn: LearnFunction = learn_on_arrays
    user_parts: Optional[ExampleFactory] = None


_REGISTRY: Dict[str, ModelEntry] = {}


def register_model(name: str, example: ExampleFactory, *, opt_outs: Optional[Mapping[str, str]] = None,
                   learn: Optional[LearnFunction] = None,
                   user_parts: Optional[ExampleFactory] = None) -> Callable[[type], type]:
    """Class decorator adding a model to the registry under ``name``.

    Args:
        name: lower-case registry name (``get_model(name)``).
        example: ``rng -> (kwargs, x, y)`` building a small instance and data for it.
        opt_outs: ``{check: reason}`` for contract checks that do not apply (`CONTRACT_CHECKS`).
        learn: how the contract suite trains it, when not ``model.learn(iterator)``.
        user_parts: an example whose parts are plain Gluon blocks (models that take parts).
    """
    opt_outs = dict(opt_outs or {})
    unknown = set(opt_outs) - set(CONTRACT_CHECKS)
    if unknown:
        raise ValueError(f"unknown contract checks {sorted(unknown)}; the checks are {', '.join(CONTRACT_CHECKS)}")
    for check, reason in opt_outs.items():
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise ValueError(f"opting out of {check!r} needs a reason, got {reason!r}")

    def decorate(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].cls.__name__}")
        _REGISTRY[name] = ModelEntry(name, cls, example, opt_outs, learn or learn_on_arrays, user_parts)
        cls.registry_name = name  # type: ignore[attr-defined]  # the decorator gives any class this attribute
        return cls

    return decorate


def not_registered(reason: str) -> Callable[[type], type]:
    """Class decorator for a public model class that is deliberately not in the registry (an
    abstract base, a building block without a training loop of its own); ``reason`` says why."""
    if not isinstance(reason, str) or len(reason.strip()) < 10:
        raise ValueError(f"not_registered needs a reason, got {reason!r}")

    def decorate(cls: type) -> type:
        cls.not_registered_reason = reason  # type: ignore[attr-defined]  # the decorator gives any class this attribute
        return cls

    return decorate


def _ensure_loaded() -> None:
    # Models register themselves on import; importing the subpackages fills the registry.
    import accelbrainbase.controllers
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
        >>> ae = get_model("autoencoder", input_dim=64, hidden_dims=[16], seed=0)
    """
    return model_entry(name).cls(**kwargs)


def list_models() -> List[str]:
    """Sorted names of all registered models."""
    _ensure_loaded()
    return sorted(_REGISTRY)
