"""`ObservableModel`: what every model of the zoo shares (SPEC §4).

A model is a `HybridBlock` implementing `ObservableData`. This base class gives it, once for all:
contexts and seeding, initialization, the optimizer, ``learn`` (through `training.fit`), batched
``inference`` that mirrors its input type, input checks, and persistence (``save``/``load`` with
hyper-parameters, ``export`` for deployment).

A subclass defines its layers in ``__init__`` (ending with ``self._finish_init()``), a pure
``hybrid_forward``, ``input_shape`` and ``compute_loss(x, y)`` (per-sample losses, recorded by
autograd), or its own ``learn_step`` when it does not learn by gradient descent.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
from typing import Any, Dict, Optional, Tuple, Type, TypeVar

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..checks import check_array, check_feature_shape
from ..context import CtxLike, as_ctx_list, seed_everything
from ..interfaces import IteratableData, ObservableData
from ..training import _sum_on, atomic_write, fit, gradient_step

__all__ = ["ObservableModel", "encode_config", "decode_config", "momentum_optimizer_params", "schedule_from"]

M = TypeVar("M", bound="ObservableModel")

_CONFIG_KEY = "__accelbrainbase_config__"
# Prefix of the `extra_state` arrays in a saved file.
_STATE_PREFIX = "__accelbrainbase_state__:"
# Constructor arguments that describe where and how to start, not what the model is.
_NOT_SAVED = ("ctx", "initializer")


def encode_config(value: Any, name: str = "config") -> Any:
    """Turn a constructor argument into JSON: plain values as they are, parts of the zoo (anything
    with ``get_config()``) as their class path and config."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [encode_config(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_config(v, f"{name}.{k}") for k, v in value.items()}
    if hasattr(value, "get_config"):
        cls = type(value)
        return {"__class__": f"{cls.__module__}:{cls.__qualname__}",
                "config": encode_config(value.get_config(), name)}
    raise TypeError(f"cannot save argument {name!r} of type {type(value).__name__}: "
                    "give it a get_config() method or pass a plain value")


def _import(path: str) -> Any:
    """The object named ``"package.module:Qual.Name"``."""
    module, qualname = path.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def decode_config(value: Any) -> Any:
    """Inverse of `encode_config`."""
    if isinstance(value, list):
        return [decode_config(v) for v in value]
    if isinstance(value, dict):
        if "__class__" in value:
            return _import(value["__class__"])(**decode_config(value["config"]))
        return {k: decode_config(v) for k, v in value.items()}
    return value


def schedule_from(lr_scheduler: mx.lr_scheduler.LRScheduler, learning_rate: float) -> mx.lr_scheduler.LRScheduler:
    """Make ``lr_scheduler`` start from ``learning_rate`` (a model's own rate) and return it.

    MXNet keeps the starting rate in several attributes: ``base_lr`` (which the optimizer would
    otherwise overwrite, with a warning), ``base_lr_orig`` (read by the cosine and polynomial
    schedules) and ``warmup_final_lr`` (where a warm-up ends).

    Example:
        >>> schedule = schedule_from(mx.lr_scheduler.CosineScheduler(max_update=100), 0.01)
        >>> round(schedule(50), 6)
        0.005
    """
    lr_scheduler.base_lr = learning_rate
    for name in ("base_lr_orig", "warmup_final_lr"):
        if hasattr(lr_scheduler, name):
            setattr(lr_scheduler, name, learning_rate)
    return lr_scheduler


def momentum_optimizer_params(optimizer: str, momentum: float, weight_decay: float,
                              optimizer_params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Optimizer arguments of the models that expose ``momentum`` and ``weight_decay`` (the
    Boltzmann machines): momentum for SGD/NAG, weight decay for any optimizer; explicit
    ``optimizer_params`` win."""
    if not 0 <= momentum < 1 or weight_decay < 0:
        raise ValueError(f"need 0 <= momentum < 1 and weight_decay >= 0, got {momentum}, {weight_decay}")
    params = dict(optimizer_params or {})
    if optimizer in ("sgd", "nag"):
        params.setdefault("momentum", momentum)
    params.setdefault("wd", weight_decay)
    return params


class ObservableModel(gluon.HybridBlock, ObservableData):
    """Base of every trainable model: a `HybridBlock` implementing `ObservableData`.

    Args (shared by every model):
        ctx: ``None`` (CPU), a context, or a list of contexts for data-parallel training.
        seed: seeds initialization and training; the same seed gives the same model on CPU.
        initializer: an ``mx.initializer`` (default ``Xavier()``).
        optimizer: any Gluon optimizer name (``adam``, ``sgd``, ``nag``, ``rmsprop``, ...).
        learning_rate: the optimizer's learning rate.
        optimizer_params: further optimizer arguments (``momentum``, ``wd``, ...).

    Attributes after ``learn``: ``history`` (`training.History`) and ``loss_arr``
    (``(epochs, 2)`` numpy array of train and test loss).
    """

    #: per-sample input shape (batch axis excluded); ``None`` marks a free axis.
    input_shape: Tuple[Optional[int], ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args: Any, **kw: Any) -> None:
            # The outermost (most derived) constructor records its arguments: they are the
            # hyper-parameters `save` stores and `load` passes back.
            if "_init_args" not in self.__dict__:
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop("self")
                for name, param in signature.parameters.items():
                    if param.kind is inspect.Parameter.VAR_KEYWORD:
                        arguments.update(arguments.pop(name))
                object.__setattr__(self, "_init_args", arguments)
            init(self, *args, **kw)

        cls.__init__ = recording_init

    def __init__(
        self,
        *,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        self.ctx = as_ctx_list(ctx)
        self.seed = seed
        self.initializer = initializer if initializer is not None else mx.init.Xavier()
        self.optimizer = optimizer
        self.learning_rate = float(learning_rate)
        self.optimizer_params = dict(optimizer_params or {})
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        try:
            mx.optimizer.Optimizer.create_optimizer(optimizer)
        except (ValueError, mx.MXNetError):
            raise ValueError(f"unknown optimizer {optimizer!r}; use a Gluon optimizer name such as "
                             "'adam', 'sgd', 'nag', 'rmsprop', 'adagrad', 'nadam'") from None
        self.trainer: Optional[gluon.Trainer] = None
        self.history = None
        self.loss_arr = np.zeros((0, 2))

    def _finish_init(self) -> None:
        """Initialize every parameter on ``self.ctx`` (seeded): call at the end of ``__init__``."""
        seed_everything(self.seed, self.ctx)
        self.initialize(self.initializer, ctx=self.ctx)

    # ------------------------------------------------------------------ training
    def make_trainer(self, lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None) -> gluon.Trainer:
        """A `gluon.Trainer` over this model's parameters with its optimizer settings."""
        params = dict(self.optimizer_params, learning_rate=self.learning_rate)
        if lr_scheduler is not None:
            # The rate must still be passed: some optimizers have their own default.
            params["lr_scheduler"] = schedule_from(lr_scheduler, self.learning_rate)
        # update_on_kvstore=False lets the loop all-reduce, clip, then update on every device.
        return gluon.Trainer(self.collect_params(), self.optimizer, params, update_on_kvstore=False)

    def compute_loss(self, x: Any, y: Any) -> Any:
        """Per-sample training losses ``(N,)`` of a batch (recorded by autograd)."""
        raise NotImplementedError(f"{type(self).__name__} must define compute_loss or learn_step")

    def learn_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> mx.nd.NDArray:
        """One gradient step on a mini-batch; returns the summed per-sample loss (on the device)."""
        return gradient_step(self, x, y, clip_norm)

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        """Summed per-sample loss of a held-out batch (prediction mode, no gradient)."""
        return _sum_on([self.compute_loss(x.as_in_context(self.ctx[0]),
                                          None if y is None else y.as_in_context(self.ctx[0]))],
                       self.ctx[0])

    def check_data(self, iteratable_data: IteratableData) -> None:
        """Raise before training when the data does not fit the model."""
        shape = getattr(iteratable_data, "sample_shape", None)
        if shape is not None:
            check_feature_shape(shape, self.input_shape, "x")

    def learn(self: M, iteratable_data: IteratableData, **fit_kwargs: Any) -> M:
        """Train with `training.fit` (see it for ``epochs``, ``patience``, ``checkpoint_dir``, ...).

        Returns ``self``.
        """
        fit(self, iteratable_data, **fit_kwargs)
        return self

    # ------------------------------------------------------------------ inference
    def _as_input(self, observed_arr: Any, name: str = "observed_arr") -> mx.nd.NDArray:
        if isinstance(observed_arr, mx.nd.NDArray):
            x = observed_arr.astype(np.float32, copy=False)
            if x.size == 0:
                raise ValueError(f"{name} is empty (shape {x.shape})")
            if not bool(mx.nd.contrib.isfinite(x).min().asscalar()):
                raise ValueError(f"{name} contains NaN/Inf values")
        else:
            x = mx.nd.array(check_array(observed_arr, name, min_rank=1 + len(self.input_shape),
                                        max_rank=1 + len(self.input_shape)))
        check_feature_shape(tuple(x.shape[1:]), self.input_shape, name)
        return x

    def _batched(self, fn: Any, observed_arr: Any, batch_size: int) -> Any:
        """Apply ``fn`` to ``observed_arr`` in chunks on ``ctx[0]``; numpy in -> numpy out."""
        x = self._as_input(observed_arr)
        device = self.ctx[0]
        outs = [fn(x[i:i + batch_size].as_in_context(device)) for i in range(0, x.shape[0], batch_size)]
        out = outs[0] if len(outs) == 1 else mx.nd.concat(*outs, dim=0)
        return out if isinstance(observed_arr, mx.nd.NDArray) else out.asnumpy()

    def inference(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """The model's prediction for ``observed_arr`` ``(N, *input_shape)``.

        Returns a numpy array for numpy input and an NDArray (on ``ctx[0]``) for NDArray input.
        """
        return self._batched(self._predict, observed_arr, batch_size)

    def _predict(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        return self(x)

    # ------------------------------------------------------------------ persistence
    def get_config(self) -> Dict[str, Any]:
        """The hyper-parameters this model was built with (without ``ctx`` and ``initializer``)."""
        return {k: v for k, v in self._init_args.items() if k not in _NOT_SAVED}

    def save(self, path: str) -> None:
        """Write hyper-parameters and weights to one file (atomically); see `load`."""
        config = {"class": f"{type(self).__module__}:{type(self).__qualname__}",
                  "config": encode_config(self.get_config())}
        arrays = {name: p.data(self.ctx[0]).copyto(mx.cpu())
                  for name, p in self._collect_params_with_prefix().items()}
        for name, value in self.extra_state().items():
            value = np.asarray(value)
            arrays[_STATE_PREFIX + name] = mx.nd.array(value, dtype=value.dtype)
        arrays[_CONFIG_KEY] = mx.nd.array(np.frombuffer(json.dumps(config).encode(), dtype=np.uint8),
                                          dtype=np.uint8)
        atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))

    @classmethod
    def load(cls: Type[M], path: str, ctx: CtxLike = None) -> M:
        """Rebuild a model written by `save` on ``ctx``.

        Example:
            >>> model = AutoEncoder.load("ae.params", ctx=mx.cpu())   # doctest: +SKIP
        """
        try:
            arrays = mx.nd.load(path)
        except mx.MXNetError as err:
            raise ValueError(f"cannot read model file {path}: {err}") from None
        if not isinstance(arrays, dict) or _CONFIG_KEY not in arrays:
            raise ValueError(f"{path} was not written by save() (no hyper-parameters in it); "
                             "use load_parameters() for a bare parameter file")
        record = json.loads(arrays.pop(_CONFIG_KEY).asnumpy().tobytes().decode())
        model_cls = _import(record["class"])
        if not issubclass(model_cls, cls):
            raise TypeError(f"{path} holds a {model_cls.__name__}, not a {cls.__name__}")
        model = model_cls(**decode_config(record["config"]), ctx=ctx)
        state = {key[len(_STATE_PREFIX):]: arrays.pop(key).asnumpy()
                 for key in list(arrays) if key.startswith(_STATE_PREFIX)}
        params = model._collect_params_with_prefix()
        missing, extra = set(params) - set(arrays), set(arrays) - set(params)
        if missing or extra:
            raise ValueError(f"{path} does not match {model_cls.__name__}: "
                             f"missing {sorted(missing)}, unexpected {sorted(extra)}")
        for name, p in params.items():
            if p.shape != arrays[name].shape:
                raise ValueError(f"{path}: parameter {name} has shape {arrays[name].shape}, "
                                 f"the model expects {p.shape}")
            p.set_data(arrays[name])
        model.set_extra_state(state)
        return model

    def extra_state(self) -> Dict[str, np.ndarray]:
        """Fitted state that is not a parameter (e.g. an anomaly detector), as named numpy arrays:
        `save` stores it with the weights and `load` hands it to `set_extra_state`. None by default."""
        return {}

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        """Restore what `extra_state` returned (called by `load`)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no extra state, but the file holds {sorted(state)}")

    def example_input(self, batch_size: int = 2) -> mx.nd.NDArray:
        """A zero batch of the model's input shape (free axes set to 4), e.g. to export."""
        shape = tuple(4 if d is None else d for d in self.input_shape)
        return mx.nd.zeros((batch_size,) + shape, ctx=self.ctx[0])

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> Tuple[str, str]:
        """Write ``path-symbol.json`` and ``path-%04d.params`` of the hybridized inference graph.

        Returns the two file names. Load with ``gluon.SymbolBlock.imports``.
        """
        self.hybridize()
        self(self.example_input(1))
        super().export(path, epoch, remove_amp_cast=remove_amp_cast)
        return f"{path}-symbol.json", f"{path}-{epoch:04d}.params"
