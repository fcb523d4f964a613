"""What the controllers share: `ControllerModel`, a model made of parts with one optimizer per
phase, and `seed_for`, the seeds of the parts a controller builds.

A controller is an ordinary model of the zoo (`models.ObservableModel`) whose training step is
several gradient steps, one per *phase*, each updating some of its parts: a GAN's discriminator
phase and generator phase, an AAE's reconstruction, discriminator and generator phases, a domain
adaptation model's classification and reconstruction phases. `training.fit` drives it like any
other model: ``configure_trainers`` gives the ``gluon.Trainer`` s (one per phase, or one per part
when a part is shared by several phases), ``train_step`` runs the phases through
`training.gradient_step` and returns their summed losses by name, and ``state_dict`` holds every
trainer's optimizer state. So checkpoints, ``save``/``load``, resume and data-parallel training
(on several devices or a parameter server) are those of every model.

Parts: any Gluon ``HybridBlock`` - a model of the zoo or a plain block (its deferred shapes are
resolved on the first batch, its parameters initialized on the controller's contexts). A trainer
uses the optimizer settings of the part it names (`ObservableModel.optimizer_settings`): a model
of the zoo's own, the controller's for a plain block.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..context import CtxLike, derive_seed, seed_mxnet
from ..gluon_internals import has_deferred_shape
from ..interfaces import ControllableModel, IteratableData
from ..models.base import ObservableModel
from ..registry import not_registered
from ..training import apply_gradients, gradient_step

__all__ = ["ControllerModel", "seed_for"]

#: What a trainer updates: a block (all its parameters) or parameters by name.
Updated = Union[gluon.Block, Mapping[str, gluon.Parameter]]


def seed_for(seed: Optional[int], *salt: object) -> Optional[int]:
    """The seed of a part a controller builds, derived from the controller's ``seed`` and a name
    (``None`` stays ``None``): parts start differently from each other, and the same every time.

    Example:
        >>> seed_for(0, "generator") == seed_for(0, "generator") != seed_for(0, "discriminator")
        True
        >>> seed_for(None, "generator") is None
        True
    """
    return None if seed is None else derive_seed(seed, *salt)


@not_registered("the base of the controllers (no phases of its own); every concrete controller is registered")
class ControllerModel(ObservableModel, ControllableModel):
    """A model made of parts, trained in phases with one optimizer each.

    A subclass adds its parts (`add_part`), says which trainers it owns (`trainer_plan`) and which
    trainers each phase steps (`phases`), and writes ``train_step`` as a sequence of
    `phase_step` calls, returning the summed loss of each phase by name plus ``"loss"``, the one
    `training.fit` monitors (``train_loss``, ``loss_arr[:, 0]``). A phase that does not run on a
    step (a GAN's generator with ``k > 1``) leaves its key out; `fit` averages every key over the
    samples of the steps that reported it.

    A phase must not move parts it does not train: what it only reads from another part is made
    without recording (``autograd.pause(train_mode=True)``), so no gradient flows back into that
    part - e.g. the generated samples of a GAN's discriminator phase.

    ``_step_count`` counts the training steps so far (subclasses advance it); it is part of
    ``extra_state``, so a resumed run continues a step cycle (a GAN's ``k``, the position in a
    stream of target batches) where the uninterrupted run would be.

    Args:
        ctx: context(s) of every part (parts built elsewhere are moved there); a list trains data
            parallel.
        seed: seeds training (and the initialization of plain parts that are not yet initialized).
        initializer: initializer of plain parts that arrive uninitialized.
        optimizer, learning_rate, optimizer_params: the optimizer of trainers whose part is a plain
            Gluon block; a part that is a model of the zoo trains with its own settings.

    Example:
        >>> from mxnet import gluon
        >>> from accelbrainbase.training import gradient_step
        >>> class TwoHeads(ControllerModel):      # two regressions on one input, one optimizer each
        ...     input_shape = (3,)
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.add_part("left", gluon.nn.Dense(1))
        ...         self.add_part("right", gluon.nn.Dense(1))
        ...     def trainer_plan(self):
        ...         return {"left": (self.left, self.left), "right": (self.right, self.right)}
        ...     def hybrid_forward(self, F, x):
        ...         return self.left(x) + self.right(x)
        ...     def train_step(self, x, y, clip_norm=None):
        ...         left = self.phase_step("left", lambda a, b: (self.left(a)[:, 0] - b) ** 2, x, y)
        ...         right = self.phase_step("right", lambda a, b: (self.right(a)[:, 0] + b) ** 2, x, y)
        ...         return {"loss": left + right, "left_loss": left, "right_loss": right}
        >>> x = np.random.RandomState(0).rand(32, 3).astype(np.float32)
        >>> model = TwoHeads(seed=0, learning_rate=0.05).learn(x, x.sum(axis=1), epochs=5, verbose=0)
        >>> sorted(model.trainers), sorted(model.history.keys())
        (['left', 'right'], ['left_loss', 'right_loss', 'train_loss'])
    """

    #: phase name -> the trainers one step of that phase updates (by default, a phase steps the
    #: trainer of its own name). Several trainers share a phase when a part is trained in several
    #: phases and keeps one optimizer state (a shared encoder).
    phases: Dict[str, Tuple[str, ...]] = {}

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
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        self._step_count = 0

    def add_part(self, name: str, part: Any, kind: type = gluon.HybridBlock) -> Any:
        """Make ``part`` (a ``kind``) the child ``name`` of this controller and return it; its
        parameters move to the controller's contexts when the constructor returns."""
        if not isinstance(part, kind):
            raise TypeError(f"{name} must be a {kind.__name__}, got {type(part).__name__}")
        with self.name_scope():
            setattr(self, name, part)
        return part

    # ------------------------------------------------------------------ trainers and phases
    def trainer_plan(self) -> Dict[str, Tuple[Updated, Any]]:
        """``{trainer name: (what it updates, the part whose optimizer settings it uses)}``."""
        raise NotImplementedError(f"{type(self).__name__} must say which trainers it owns (trainer_plan)")

    def configure_trainers(self, lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None
                           ) -> Dict[str, gluon.Trainer]:
        """One ``gluon.Trainer`` per entry of `trainer_plan`, with the optimizer settings of its part."""
        trainers = {}
        for name, (updated, settings_of) in self.trainer_plan().items():
            params = updated.collect_params() if isinstance(updated, gluon.Block) else updated
            # A Trainer orders a dict's parameters by key, and saved optimizer states are matched to
            # parameters by that position. Parameter names carry the global creation counters of
            # the parts' blocks ("neuralnetworks9_" sorts after "neuralnetworks10_"), which differ
            # between two identically built controllers: keys in definition order keep the
            # position of every parameter the same in both.
            ordered = {f"{i:06d}": p for i, p in enumerate(params.values())}
            trainers[name] = self.make_trainer(ordered, lr_scheduler, settings_of=settings_of)
        return trainers

    def phase_step(self, phase: str, loss_fn: Callable[..., mx.nd.NDArray], *arrays: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> mx.nd.NDArray:
        """One gradient step of ``phase``: `training.gradient_step` of ``loss_fn`` on the batch
        ``arrays`` (split over ``ctx``), updating the trainers of ``phases[phase]`` (default: the
        trainer named ``phase``). With several trainers each clips its own gradients to
        ``clip_norm``. Returns the summed loss of the batch, on the first context."""
        names = self.phases.get(phase, (phase,))
        loss = gradient_step(self, loss_fn, *arrays, trainer=names[0], clip_norm=clip_norm)
        first = arrays[0]
        assert first is not None  # gradient_step raises on a batch without its samples
        for name in names[1:]:
            # The same backward pass filled these gradients: only the update is left.
            apply_gradients(self, first.shape[0], clip_norm, trainer=name)
        return loss

    # ------------------------------------------------------------------ state
    def extra_state(self) -> Dict[str, np.ndarray]:
        """The number of training steps so far (the position in a step cycle)."""
        return dict(super().extra_state(), step_count=np.array([self._step_count], np.int64))

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        state = dict(state)
        self._step_count = int(state.pop("step_count", np.zeros(1))[0])
        super().set_extra_state(state)

    def prepare(self, data: IteratableData) -> None:
        """`ObservableModel.prepare`; parameters whose shapes the first batch resolves are
        initialized from the controller's seed (not from whatever the global generator holds)."""
        if self.seed is not None and any(has_deferred_shape(p) for p in self.collect_params().values()):
            seed_mxnet(derive_seed(self.seed, "build"), self.ctx)
        super().prepare(data)

    # ------------------------------------------------------------------ inference graph
    def forward(self, x: Any, *args: Any) -> Any:
        # ``self(x)`` uses some of the parts (a GAN's generator): the hybridized graph leaves the
        # others out on purpose, which Gluon would warn about.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is not used by any computation.*")
            return super().forward(x, *args)

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> Tuple[str, str]:
        """Write the hybridized inference graph (``self(x)``); the parts it does not use are left out."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is not used by any computation.*")
            return super().export(path, epoch, remove_amp_cast)
