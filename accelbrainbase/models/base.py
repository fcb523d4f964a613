"""`ObservableModel`: what every model and controller of the zoo shares, and its training contract.

A model is a Gluon `HybridBlock` implementing `ObservableData`. This base class gives it, once for
all: contexts and seeding, parameter initialization, optimizers, ``learn`` (through
`training.fit`), batched ``inference`` that mirrors its input type, input checks, and persistence
(``save``/``load`` with hyper-parameters, optimizer and extra state; ``export`` and ``export_onnx``
for deployment).

**The training contract** - the one surface between a model and `training.fit`, `save`/`load`,
checkpoints, resume and distributed training. Every hook has a default; a model overrides what is
its own:

- ``prepare(data)``: check the data before any work (`check_data`: shapes, value ranges, labels)
  and resolve deferred parameter shapes from a first batch (`build`).
- ``configure_trainers(lr_scheduler)``: the ``gluon.Trainer`` s the model owns, by name - one
  (``"model"``) by default, one per phase for controllers (a GAN's ``"discriminator"`` and
  ``"generator"``). `fit` keeps them in ``model.trainers``.
- ``train_step(x, y, clip_norm)``: one step on a batch; returns named *summed* per-sample losses
  as NDArrays on the device (``{"loss": ...}``; a GAN adds ``"discriminator_loss"``...). The
  default records ``compute_loss(x, y)`` with autograd and takes one `training.gradient_step`.
- ``train_epoch(batches, clip_norm, regularizers)``: a whole epoch (default: ``train_step`` per
  batch, regularizers after each step); override it to run many batches in one graph call.
- ``test_step(x, y)``: named summed figures of a held-out batch (``{"loss": ...}``, a classifier
  adds ``"accuracy"``, the count of correct predictions); `fit` records their means as
  ``test_loss``, ``test_accuracy``...
- ``state_dict()`` / ``load_state_dict(state)``: everything a run needs to carry on - parameters,
  each trainer's optimizer state, the model's ``extra_state()`` (persistent chains, a detector,
  a k-step position, a replay buffer) and the history.

A subclass defines its layers in ``__init__`` (parameters are initialized on ``ctx`` when the
outermost constructor returns; call `initialize_parameters` earlier if ``__init__`` needs them),
a pure ``hybrid_forward``, ``input_shape`` and ``compute_loss(x, y)``, and overrides the hooks
above only where its training differs.
"""
from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Type, TypeVar

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .. import __version__
from ..checks import check_array, check_feature_shape
from ..context import CtxLike, as_ctx_list, derive_seed, seed_everything
from ..gluon_internals import has_deferred_shape, is_initialized, structural_params
from ..interfaces import Batch, IteratableData, ObservableData, RegularizatableData
from ..persistence import (
    UntrustedClassError,
    class_path,
    decode_config,
    encode_config,
    read_model_file,
    resolve_class,
    write_model_file,
)
from ..registry import not_registered
from ..training import (
    History,
    StepSums,
    fit,
    gradient_step,
    load_optimizer_state_bytes,
    optimizer_state_bytes,
    read_checkpoint,
    sum_on,
)

__all__ = ["ObservableModel", "momentum_optimizer_params", "schedule_from"]

M = TypeVar("M", bound="ObservableModel")

# Constructor arguments that describe where and how to start, not what the model is.
_NOT_SAVED = ("ctx", "initializer")


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


def _check_optimizer(optimizer: str) -> None:
    try:
        mx.optimizer.Optimizer.create_optimizer(optimizer)
    except (ValueError, mx.MXNetError):
        raise ValueError(f"unknown optimizer {optimizer!r}; use a Gluon optimizer name such as "
                         "'adam', 'sgd', 'nag', 'rmsprop', 'adagrad', 'nadam'") from None


@not_registered("the abstract base of every model; every concrete model is registered")
class ObservableModel(gluon.HybridBlock, ObservableData):
    """Base of every trainable model and controller: a `HybridBlock` implementing `ObservableData`.

    Args (shared by every model):
        ctx: ``None`` (CPU), a context, or a list of contexts for data-parallel training.
        seed: seeds initialization and training; the same seed gives the same model on CPU.
        initializer: an ``mx.initializer`` (default ``Xavier()``).
        optimizer: any Gluon optimizer name (``adam``, ``sgd``, ``nag``, ``rmsprop``, ...).
        learning_rate: the optimizer's learning rate.
        optimizer_params: further optimizer arguments (``momentum``, ``wd``, ``beta1``...).

    Attributes: ``history`` (`training.History` of every epoch so far), ``loss_arr``
    (``(epochs, 2)`` numpy array of train and test loss), ``trainers`` (the ``gluon.Trainer`` s,
    by name, once training started).

    Example:
        >>> class Linear(ObservableModel):
        ...     input_shape = (4,)
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.dense = gluon.nn.Dense(1, in_units=4)
        ...     def hybrid_forward(self, F, x):
        ...         return self.dense(x)
        ...     def compute_loss(self, x, y):
        ...         return ((self(x).reshape((-1,)) - y) ** 2)
        >>> x = np.random.RandomState(0).rand(64, 4).astype(np.float32)
        >>> model = Linear(seed=0, learning_rate=0.05).learn(x, x.sum(axis=1), epochs=20, verbose=0)
        >>> bool(model.loss_arr[-1, 0] < model.loss_arr[0, 0])
        True
    """

    #: per-sample input shape (batch axis excluded); ``None`` entries are free axes, and
    #: ``input_shape = None`` means not known before the first batch (deferred shapes).
    input_shape: Optional[Tuple[Optional[int], ...]] = ()

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
            outermost = "_init_args" not in self.__dict__
            if outermost:
                try:
                    bound = signature.bind(self, *args, **kw)
                except TypeError as err:
                    names = [n for n, p in signature.parameters.items() if n != "self"
                             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
                    raise TypeError(f"{type(self).__name__}: {err}; its arguments are {', '.join(names)}") from None
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop("self")
                for name, param in signature.parameters.items():
                    if param.kind is inspect.Parameter.VAR_KEYWORD:
                        arguments.update(arguments.pop(name))
                object.__setattr__(self, "_init_args", arguments)
            init(self, *args, **kw)
            if outermost:
                self.initialize_parameters()

        # Wraps each subclass's own __init__ to record its arguments: mypy forbids assigning to a method.
        cls.__init__ = recording_init  # type: ignore[method-assign]

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
        _check_optimizer(optimizer)
        self.trainers: Dict[str, gluon.Trainer] = {}
        self.parameter_servers: Dict[str, Any] = {}
        self.history = History()
        self.loss_arr = np.zeros((0, 2))

    def initialize_parameters(self) -> None:
        """Initialize every parameter that is not yet (seeded, with ``initializer``) on ``ctx``, and
        move parts that arrive initialized elsewhere to ``ctx``. Parameters of unknown shape wait
        for the first batch. Idempotent; called when the outermost constructor returns."""
        params = list(self.collect_params().values())
        if any(not (is_initialized(p) or has_deferred_shape(p)) for p in params):
            seed_everything(self.seed, self.ctx)
        for param in params:
            if is_initialized(param) or has_deferred_shape(param):
                if set(param.list_ctx()) != set(self.ctx):
                    param.reset_ctx(self.ctx)
            else:
                param.initialize(None, ctx=self.ctx, default_init=self.initializer)

        def follow(block: gluon.Block) -> None:
            if isinstance(block, ObservableModel):
                block.ctx = self.ctx  # a part's own inference/learn now run where its parameters are

        self.apply(follow)

    # ------------------------------------------------------------------ the training contract
    def check_data(self, data: IteratableData) -> None:
        """Raise before training when the data does not fit the model (default: the per-sample
        shape against ``input_shape``)."""
        if self.input_shape is not None:
            check_feature_shape(data.sample_shape, self.input_shape, "x")

    def build(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> None:
        """Resolve deferred parameter shapes (plain Gluon parts) from an example batch (default: one
        forward pass on its first rows). Called by `prepare` only when some shape is unknown."""
        with autograd.predict_mode():
            self(x[:2].as_in_context(self.ctx[0]))

    def prepare(self, data: IteratableData) -> None:
        """Everything before the first step: `check_data`, then `build` from the first training
        batch if a parameter's shape is still unknown."""
        self.check_data(data)
        if any(has_deferred_shape(p) for p in self.collect_params().values()):
            if self.seed is not None:
                # Deferred parameters are drawn at the first forward: seed it, so that the same seed
                # gives the same model whatever ran between construction and training.
                seed_everything(derive_seed(self.seed, "build"), self.ctx)
            for x, y in data.train_batches(0):
                self.build(x, y)
                break

    def optimizer_settings(self, part: Any = None) -> Tuple[str, Dict[str, Any]]:
        """``(optimizer name, optimizer arguments with learning_rate)`` a trainer of ``part`` uses:
        the part's own settings when it is a model of the zoo, else this model's (a plain Gluon
        block inside a controller trains with the controller's settings)."""
        owner = part if isinstance(part, ObservableModel) else self
        return owner.optimizer, dict(owner.optimizer_params, learning_rate=owner.learning_rate)

    def make_trainer(self, params: Optional[Mapping[str, gluon.Parameter]] = None,
                     lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None,
                     settings_of: Any = None) -> gluon.Trainer:
        """A ``gluon.Trainer`` over ``params`` (default: all of this model's) with the optimizer
        settings of ``settings_of`` (see `optimizer_settings`)."""
        optimizer, options = self.optimizer_settings(settings_of)
        if lr_scheduler is not None:
            # Each trainer counts its own updates, so each gets its own copy, starting from its
            # own learning rate (the rate must still be passed: some optimizers have a default).
            import copy

            options["lr_scheduler"] = schedule_from(copy.deepcopy(lr_scheduler), options["learning_rate"])
        # A list, not a dict: gluon.Trainer sorts a dict by parameter name, and names carry global
        # block counters (neuralnetworks9_ sorts after neuralnetworks10_), while saved optimizer states
        # are restored by position. Structural order is the same in every identically built model.
        ordered = list(structural_params(self).values()) if params is None else list(params.values())
        ordered = list({id(p): p for p in ordered}.values())  # a shared (tied) parameter once
        # update_on_kvstore=False lets the loop all-reduce, clip, then update on every device.
        return gluon.Trainer(ordered, optimizer, options, update_on_kvstore=False)

    def configure_trainers(self, lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None
                           ) -> Dict[str, gluon.Trainer]:
        """The trainers this model owns, by name (default: ``{"model": one over every parameter}``)."""
        return {"model": self.make_trainer(lr_scheduler=lr_scheduler)}

    def compute_loss(self, x: Any, y: Any) -> Any:
        """Per-sample training losses ``(N,)`` of a batch (recorded by autograd)."""
        raise NotImplementedError(f"{type(self).__name__} must define compute_loss or train_step")

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """One gradient step on a mini-batch; returns ``{"loss": summed per-sample loss}`` (on the device)."""
        return {"loss": gradient_step(self, self.compute_loss, x, y, clip_norm=clip_norm)}

    def train_epoch(self, batches: Iterable[Batch], clip_norm: Optional[float] = None,
                    regularizers: Sequence[RegularizatableData] = ()) -> StepSums:
        """Every batch of an epoch: ``train_step`` each, regularizers after each step. Returns, per
        loss name, the summed loss (still on the device) and the number of samples it covers."""
        sums: StepSums = {}
        params = self.collect_params() if regularizers else {}
        for x, y in batches:
            for name, value in self.train_step(x, y, clip_norm).items():
                total, n = sums.get(name, (None, 0))
                sums[name] = (value if total is None else total + value, n + x.shape[0])
            for regularizer in regularizers:
                regularizer.regularize(params)
        return sums

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed figures of a held-out batch (prediction mode): ``{"loss": ...}``."""
        device = self.ctx[0]
        loss = self.compute_loss(x.as_in_context(device), None if y is None else y.as_in_context(device))
        return {"loss": sum_on([loss], device)}

    def learn(self: M, data: Any, y: Any = None, **fit_kwargs: Any) -> M:
        """Train with `training.fit` and return ``self``.

        ``data`` is an `IteratableData`, a Gluon ``DataLoader``/``Dataset``, an ``mx.io.DataIter``,
        or arrays/DataFrames with targets ``y``; ``fit_kwargs`` are `training.fit`'s (``epochs``,
        ``batch_size``, ``test_data``, ``test_size``, ``patience``, ``checkpoint_dir``...). A second
        call continues training.
        """
        fit(self, data, y, **fit_kwargs)
        return self

    # ------------------------------------------------------------------ inference
    def _as_input(self, observed_arr: Any, name: str = "observed_arr") -> mx.nd.NDArray:
        shape = self.input_shape
        if isinstance(observed_arr, mx.nd.NDArray):
            x = observed_arr.astype(np.float32, copy=False)
            if x.size == 0:
                raise ValueError(f"{name} is empty (shape {x.shape})")
            if not bool(mx.nd.contrib.isfinite(x).min().asscalar()):
                raise ValueError(f"{name} contains NaN/Inf values")
        elif shape is None:
            x = mx.nd.array(check_array(observed_arr, name, min_rank=2))
        else:
            x = mx.nd.array(check_array(observed_arr, name, min_rank=1 + len(shape), max_rank=1 + len(shape)))
        if shape is not None:
            check_feature_shape(tuple(x.shape[1:]), shape, name)
        return x

    def _batched(self, fn: Callable[[mx.nd.NDArray], mx.nd.NDArray], observed_arr: Any, batch_size: int) -> Any:
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

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """What `inference` computes on a batch ``x`` ``(N, *input_shape)``, written with ``F``
        (``mx.nd`` or ``mx.sym``): `inference` runs it on NDArrays, `export_onnx` builds the
        exported graph from it on a symbol. Default: the forward pass ``self(x)``; a model whose
        prediction is something else (a classifier's probabilities, a controller's generator)
        overrides this, not `inference`.

        ``sample_shape`` is given when the graph is built for inputs of that per-sample shape only
        (an export to a format without symbolic loops): a model may then unroll a loop over it.
        """
        return self(x)

    def _predict(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.inference_graph(mx.nd, x)

    # ------------------------------------------------------------------ state and persistence
    def get_config(self) -> Dict[str, Any]:
        """The hyper-parameters this model was built with (without ``ctx`` and ``initializer``), as
        JSON-ready values: parts appear as ``{"__class__", "config"}`` records. A part that cannot be
        described (a plain Gluon block without ``get_config``) raises ``TypeError`` saying what to do."""
        return encode_config({k: v for k, v in self._init_args.items() if k not in _NOT_SAVED}, type(self).__name__)

    def extra_state(self) -> Dict[str, np.ndarray]:
        """Fitted state that is not a parameter (persistent chains, an anomaly detector...), as
        named numpy arrays; part of `state_dict`. None by default."""
        return {}

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        """Restore what `extra_state` returned."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no extra state, but got {sorted(state)}")

    def state_dict(self, optimizer: bool = True) -> Dict[str, Any]:
        """Everything a run needs to carry on: ``{"params": {structural name: numpy},
        "optimizer": {trainer name: bytes}, "extra": extra_state(), "history": {...}}``.

        Example:
            >>> state = model.state_dict()          # doctest: +SKIP
            >>> twin.load_state_dict(state)         # doctest: +SKIP
        """
        device = self.ctx[0]
        return {
            "params": {name: p.data(device).asnumpy() for name, p in structural_params(self).items()},
            "optimizer": {name: optimizer_state_bytes(t) for name, t in sorted(self.trainers.items())}
            if optimizer else {},
            "extra": {k: np.asarray(v) for k, v in self.extra_state().items()},
            "history": self.history.to_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any], source: str = "the state") -> None:
        """Take a `state_dict` (of an identically built model): parameters (names and shapes must
        match; errors name the parameter and both shapes), optimizer state, extra state, history."""
        name_of = type(self).__name__
        params = structural_params(self)
        arrays = state.get("params", {})
        missing, unexpected = sorted(set(params) - set(arrays)), sorted(set(arrays) - set(params))
        if missing or unexpected:
            raise ValueError(f"{source} does not match this {name_of}: missing parameters {missing}, "
                             f"unexpected {unexpected} (was it saved from another architecture?)")
        for key, p in params.items():
            value = arrays[key]
            if len(p.shape) != len(value.shape) or any(a and a != b for a, b in zip(p.shape, value.shape)):
                raise ValueError(f"{source}: parameter {key} has shape {tuple(value.shape)}, this {name_of} "
                                 f"expects {p.shape} (another architecture or hyper-parameters?)")
        for key, p in params.items():
            value = arrays[key]
            p.set_data(value if isinstance(value, mx.nd.NDArray) else mx.nd.array(value, dtype=value.dtype))
        self.set_extra_state(dict(state.get("extra", {})))
        self.history = History(state.get("history") or {})
        self.loss_arr = self.history.loss_arr
        optimizer = state.get("optimizer") or {}
        if optimizer:
            self.trainers = self.configure_trainers()
            if set(optimizer) != set(self.trainers):
                raise ValueError(f"{source} holds optimizer states of {sorted(optimizer)}; this {name_of} trains "
                                 f"{sorted(self.trainers)}")
            for key, data in optimizer.items():
                load_optimizer_state_bytes(self.trainers[key], data)
        else:
            self.trainers = {}

    def save(self, path: str) -> None:
        """Write hyper-parameters, weights, optimizer state, extra state and history to one file
        (atomically); `load` rebuilds the model from it and ``learn`` carries on as if never stopped."""
        record = {"class": class_path(type(self)), "config": self.get_config(), "version": __version__}
        state = self.state_dict()
        record["history"] = state["history"]
        params = {name: p.data(self.ctx[0]) for name, p in structural_params(self).items()}
        write_model_file(os.fspath(path), record, params, state["optimizer"], state["extra"])

    def load_parameters(self, filename: str, ctx: CtxLike = None, *args: Any, **kwargs: Any) -> None:
        """Gluon's ``load_parameters`` (a bare parameter file of an identically built model, on this
        model's contexts by default), with errors that name the file, the parameter and both shapes."""
        path = os.fspath(filename)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no parameter file at {path}")
        try:
            super().load_parameters(path, self.ctx if ctx is None else ctx, *args, **kwargs)
        except mx.MXNetError:
            raise ValueError(f"cannot read {path}: it is truncated or not an MXNet parameter file") from None
        except AssertionError as err:
            # Gluon asserts: "Failed loading Parameter 'x' from saved params: shape incompatible
            # expected (a, b) vs saved (c, d)", or names missing/extra parameters.
            raise ValueError(f"{path} does not fit this {type(self).__name__}: {err}. Was it saved from a model "
                             "built with other hyper-parameters?") from None

    def restore(self, path: str) -> None:
        """Take the state saved in ``path`` (a `save` file of an identically built model)."""
        record, params, optimizer, extra = read_model_file(path)
        if record.get("class") != class_path(type(self)):
            raise ValueError(f"{path} holds a {record.get('class')}, not a {class_path(type(self))}")
        self.load_state_dict({"params": params, "optimizer": optimizer, "extra": extra,
                              "history": record.get("history")}, source=os.fspath(path))

    @classmethod
    def load(cls: Type[M], path: str, ctx: CtxLike = None, custom_objects: Optional[Mapping[str, type]] = None) -> M:
        """Rebuild a model from a `save` file or a checkpoint directory of `training.fit`, on ``ctx``.

        Only classes of the library and those named in ``custom_objects`` (``{"MyBlock": MyBlock}``)
        are constructed; a file naming any other class is refused before anything is imported or
        called.

        Example:
            >>> model = AutoEncoder.load("ae.params", ctx=mx.cpu())   # doctest: +SKIP
            >>> model = AutoEncoder.load("ckpt/")                       # doctest: +SKIP
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            checkpoint = read_checkpoint(path)
            if checkpoint is None:
                raise FileNotFoundError(f"{path} is a directory without a checkpoint of training.fit")
            path = checkpoint["file"]
        record, params, optimizer, extra = read_model_file(path)
        try:
            model_cls = resolve_class(record.get("class"), custom_objects)
        except UntrustedClassError as err:
            raise UntrustedClassError(f"{path}: {err}") from None
        if not (isinstance(model_cls, type) and issubclass(model_cls, cls)):
            raise TypeError(f"{path} holds a {record.get('class')}, not a {cls.__name__}")
        try:
            config = decode_config(record.get("config", {}), custom_objects)
        except UntrustedClassError as err:
            raise UntrustedClassError(f"{path}: {err}") from None
        model = model_cls(**config, ctx=ctx)
        model.load_state_dict({"params": params, "optimizer": optimizer, "extra": extra,
                               "history": record.get("history")}, source=path)
        return model

    # ------------------------------------------------------------------ deployment
    def example_input(self, batch_size: int = 2) -> mx.nd.NDArray:
        """A zero batch of the model's input shape (free axes set to 4), e.g. to export."""
        if self.input_shape is None:
            raise ValueError(f"{type(self).__name__} does not know its input shape before its first batch")
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

    def export_onnx(self, path: str, example: Any = None, *, verify: bool = True) -> str:
        """Write what `inference` computes (`inference_graph`) as an ONNX file, float32, with a
        free batch axis (and the free axes of ``input_shape`` the graph allows), input ``"input"``
        and output ``"output"``; returns ``path``. Run it with ONNX Runtime, without MXNet. See
        `accelbrainbase.onnx.export_onnx` for ``example`` and ``verify``; needs the ``[onnx]``
        extra. A graph ONNX cannot express raises ``NotImplementedError`` naming the operator.

        Example:
            >>> path = model.export_onnx("model.onnx")                                   # doctest: +SKIP
            >>> session = onnxruntime.InferenceSession(path)                              # doctest: +SKIP
            >>> session.run(["output"], {"input": x.astype(np.float32)})[0]              # doctest: +SKIP
        """
        from ..onnx import export_onnx

        return export_onnx(self, path, example, verify=verify)
