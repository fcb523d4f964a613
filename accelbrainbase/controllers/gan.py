"""Adversarial controllers: GAN, conditional GAN, AAE, EBGAN, EBAAE (SPEC §6.4).

A controller (`ControllableModel`) holds the players of `accelbrainbase.models.adversarial` and
trains them against each other through the project's one training loop, `training.fit`: it supplies
``learn_epoch`` (the adversarial phases of every mini-batch), ``test_step``, ``epoch_metrics`` and a
trainer per player (`PlayerTrainers`, which fit checkpoints as one). Each player keeps its own
optimizer settings; every phase splits the batch over ``ctx`` (data parallel), sums the gradients
over the devices and updates only the parameters of the player it trains.

Per epoch ``history`` records ``discriminator_loss`` and ``generator_loss`` (plus
``reconstruction_loss`` for the auto-encoders); ``loss_arr[:, 0]`` is the discriminator loss of the
GANs and the reconstruction loss of the AAEs, ``loss_arr[:, 1]`` the same on held-out data.
"""
from __future__ import annotations

import copy
import math
import pickle
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..checks import check_feature_shape
from ..context import CtxLike, derive_seed, seed_everything
from ..data.samplers import ConditionSampler, NormalNoiseSampler
from ..interfaces import ControllableModel, IteratableData, RegularizatableData, SamplableData
from ..losses import (DiscriminatorLoss, EBGANDiscriminatorLoss, EBGANGeneratorLoss, FeatureMatchingLoss,
                      GeneratorLoss, L2NormLoss)
from ..models.adversarial import (DiscriminativeModel, EBDiscriminativeModel, GenerativeModel, draw_rows,
                                  move_to_ctx)
from ..models.base import ObservableModel, encode_config, schedule_from
from ..models.dense import AutoEncoder, NeuralNetworks
from ..registry import register_model
from ..training import clip_gradients, load_optimizer_state_bytes, optimizer_state_bytes

__all__ = ["GANController", "ConditionalGANController", "AAEController", "EBGANController", "EBAAEController",
           "PlayerTrainers"]

Batch = Tuple[mx.nd.NDArray, Optional[mx.nd.NDArray]]
#: Adam settings of the GAN literature (Radford et al. 2016): a short momentum memory.
_GAN_ADAM = {"beta1": 0.5}


class PlayerTrainers:
    """One `gluon.Trainer` per player, as one object: what `training.fit` stores as ``model.trainer``
    and checkpoints with ``save_states``/``load_states``.

    Example:
        >>> trainers = PlayerTrainers({})
        >>> len(trainers.trainers)
        0
    """

    def __init__(self, trainers: Dict[str, gluon.Trainer]) -> None:
        self.trainers = dict(trainers)

    def __getitem__(self, name: str) -> gluon.Trainer:
        return self.trainers[name]

    def save_states(self, fname: str) -> None:
        """Write every trainer's optimizer state into one file."""
        states = {name: optimizer_state_bytes(trainer) for name, trainer in self.trainers.items()}
        with open(fname, "wb") as f:
            pickle.dump(states, f)

    def load_states(self, fname: str) -> None:
        """Read a file written by `save_states` back into the trainers."""
        with open(fname, "rb") as f:
            states = pickle.load(f)
        if set(states) != set(self.trainers):
            raise ValueError(f"{fname} holds optimizer states of {sorted(states)}, expected {sorted(self.trainers)}")
        for name, trainer in self.trainers.items():
            load_optimizer_state_bytes(trainer, states[name])


def _seed_for(seed: Optional[int], *salt: object) -> Optional[int]:
    return None if seed is None else derive_seed(seed, *salt)


def _accumulate(total: Optional[mx.nd.NDArray], value: mx.nd.NDArray) -> mx.nd.NDArray:
    return value if total is None else total + value


class _Slice:
    """The part of a batch one device computes: rows ``start:stop`` on ``ctx``; ``weight`` 0 marks a
    device without rows of its own, which joins with one zero-weighted row so every copy of the
    parameters gets a fresh gradient (as `training.gradient_step` does)."""

    __slots__ = ("ctx", "start", "stop", "weight")

    def __init__(self, ctx: mx.Context, start: int, stop: int, weight: float) -> None:
        self.ctx, self.start, self.stop, self.weight = ctx, start, stop, weight

    @property
    def n(self) -> int:
        return self.stop - self.start

    def take(self, arr: Optional[mx.nd.NDArray]) -> Optional[mx.nd.NDArray]:
        if arr is None:
            return None
        if self.start == 0 and self.stop == arr.shape[0]:
            return arr.as_in_context(self.ctx)  # the whole batch: no copy on its own device
        return mx.nd.slice_axis(arr, axis=0, begin=self.start, end=self.stop).as_in_context(self.ctx)


class _AdversarialController(ObservableModel, ControllableModel):
    """What the adversarial controllers share: players on the controller's contexts, a trainer per
    player, data-parallel phases, per-epoch loss records, persistence of every player."""

    #: names of the trainers: ``name -> (player attributes whose parameters it updates, attribute
    #: of the player whose optimizer settings it uses)``.
    _trainer_plan: Dict[str, Tuple[Tuple[str, ...], str]] = {}

    def __init__(self, *, ctx: CtxLike = None, seed: Optional[int] = None) -> None:
        super().__init__(ctx=ctx, seed=seed)
        self._epoch_sums: Dict[str, Any] = {}
        self._epoch_values: Dict[str, float] = {}
        self._step_count = 0

    def get_config(self) -> Dict[str, Any]:
        """Hyper-parameters with every player (and sampler) as its class path and config: JSON-able,
        comparable, what `save` stores with the weights of all players."""
        return encode_config(super().get_config())

    def extra_state(self) -> Dict[str, np.ndarray]:
        """The position in the k-step cycle (discriminator steps so far), kept by `save` and by `fit`
        checkpoints: a resumed run updates the generator on the same batches as an uninterrupted one."""
        return dict(super().extra_state(), step_count=np.array([self._step_count], np.int64))

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:  # noqa: D102
        state = dict(state)
        self._step_count = int(state.pop("step_count", np.zeros(1))[0])
        super().set_extra_state(state)

    def forward(self, x: Any, *args: Any) -> Any:  # noqa: D102
        # ``self(x)`` is the generator (or the auto-encoder): the hybridized graph leaves the
        # discriminator out on purpose, which Gluon would warn about.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is not used by any computation.*")
            return super().forward(x, *args)

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> Tuple[str, str]:
        """Write the hybridized inference graph (``self(x)``: the generator, or the auto-encoder);
        the players it does not use (the discriminator) are left out."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is not used by any computation.*")
            return super().export(path, epoch, remove_amp_cast)

    def _adopt(self, name: str, player: Any, kind: type) -> None:
        if not isinstance(player, kind):
            raise TypeError(f"{name} must be a {kind.__name__}, got {type(player).__name__}")
        with self.name_scope():
            setattr(self, name, player)
        move_to_ctx(player, self.ctx)

    def _finish_init(self) -> None:
        # The players arrive initialized; the controller has no parameters of its own.
        seed_everything(self.seed, self.ctx)

    # ------------------------------------------------------------------ trainers
    def make_trainer(self, lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None) -> PlayerTrainers:
        """A `PlayerTrainers` with one `gluon.Trainer` per phase, each with its player's optimizer."""
        trainers = {}
        for name, (parts, settings_of) in self._trainer_plan.items():
            owner = getattr(self, settings_of)
            params = gluon.ParameterDict()
            for part in parts:
                params.update(getattr(self, part).collect_params())
            opt = dict(owner.optimizer_params, learning_rate=owner.learning_rate)
            if lr_scheduler is not None:
                # Each trainer counts its own updates, so each gets its own copy, starting from its
                # player's learning rate.
                opt["lr_scheduler"] = schedule_from(copy.deepcopy(lr_scheduler), owner.learning_rate)
            trainers[name] = gluon.Trainer(params, owner.optimizer, opt, update_on_kvstore=False)
        return PlayerTrainers(trainers)

    def _slices(self, n: int) -> List[_Slice]:
        ctx_list = self.ctx
        if len(ctx_list) == 1:
            return [_Slice(ctx_list[0], 0, n, 1.0)]
        bounds = np.linspace(0, n, len(ctx_list) + 1).round().astype(int)
        slices = [_Slice(c, int(a), int(b), 1.0) for c, a, b in zip(ctx_list, bounds[:-1], bounds[1:]) if b > a]
        used = {s.ctx for s in slices}
        slices += [_Slice(c, 0, 1, 0.0) for c in ctx_list if c not in used]
        return slices

    def _phase(self, trainer_name: str, loss_fn: Callable[[_Slice], mx.nd.NDArray], slices: List[_Slice],
               batch_size: int, clip_norm: Optional[float]) -> mx.nd.NDArray:
        """One update of one trainer: ``loss_fn(slice)`` gives per-sample losses of a device's rows;
        returns their sum over the batch (on the first device)."""
        trainer = self.trainer[trainer_name]
        with autograd.record():
            losses = [loss_fn(s) if s.weight else loss_fn(s) * 0.0 for s in slices]
        autograd.backward(losses)
        trainer.allreduce_grads()
        if clip_norm is not None:
            clip_gradients(list(trainer._params), clip_norm, batch_size)
        trainer.update(batch_size)
        device = self.ctx[0]
        sums = [loss.sum().as_in_context(device) for loss, s in zip(losses, slices) if s.weight]
        return sums[0] if len(sums) == 1 else mx.nd.add_n(*sums)

    def _add(self, name: str, value: mx.nd.NDArray, count: int) -> None:
        total, n = self._epoch_sums.get(name, (None, 0))
        self._epoch_sums[name] = (_accumulate(total, value), n + count)

    def learn_epoch(self, batches: Iterable[Batch], clip_norm: Optional[float] = None,
                    regularizers: Sequence[RegularizatableData] = ()) -> Tuple[Optional[mx.nd.NDArray], int]:
        """Every mini-batch of an epoch through the adversarial phases (called by `training.fit`).

        Returns the summed monitored loss (device-side) and the sample count; a NaN in any other
        recorded loss makes the returned total NaN too, so fit's NaN guard sees it.
        """
        self._epoch_sums = {}
        params = self.collect_params() if regularizers else None
        for x, y in batches:
            self._learn_batch(x, y, clip_norm)
            for regularizer in regularizers:
                regularizer.regularize(params)
        monitored, count = self._epoch_sums.get(self._monitored, (None, 0))
        if monitored is None:
            return None, 0
        for name, (total, _) in self._epoch_sums.items():
            if name != self._monitored:
                monitored = monitored + 0.0 * total
        return monitored, count

    def epoch_metrics(self, iteratable_data: IteratableData) -> Dict[str, float]:
        """The mean per-sample loss of every phase in the last epoch (one host sync per epoch)."""
        return {name: float(total.asscalar()) / n if n else math.nan
                for name, (total, n) in self._epoch_sums.items()}

    # ------------------------------------------------------------------ shared helpers
    def _learn_batch(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray], clip_norm: Optional[float]) -> None:
        raise NotImplementedError

    def _numpy_rows(self, fn: Callable[[int], mx.nd.NDArray], n: int, batch_size: int) -> np.ndarray:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        parts = [fn(min(batch_size, n - i)).asnumpy() for i in range(0, n, batch_size)]
        return np.concatenate(parts)

    def inference(self, observed_arr: Any, batch_size: int = 1024) -> Any:  # noqa: D102
        return super().inference(observed_arr, batch_size)


class GANController(_AdversarialController):
    """Generative adversarial network (Goodfellow et al. 2014) with the non-saturating generator loss.

    For every mini-batch of real data the discriminator takes a step on `DiscriminatorLoss` (real
    samples labelled 1, generated ones 0); after every ``k``-th discriminator step the generator takes
    a step on `GeneratorLoss` (``-log D(G(z))``), plus ``feature_matching_weight`` times the
    `FeatureMatchingLoss` between the mean intermediate discriminator features of the generated and
    of the current real batch (Salimans et al. 2016). Feature matching is a *generator* loss: the
    discriminator's objective does not change.

    Args:
        generative_model: the generator (`GenerativeModel`, with its noise sampler).
        discriminative_model: the discriminator (`DiscriminativeModel`).
        k: discriminator steps per generator step.
        feature_matching_weight: weight of feature matching in the generator loss (0: off).
        ctx: context(s) of both players (they are moved there); a list trains data parallel.
        seed: seeds training (each player's initialization has its own seed).

    Shapes:
        real data ``(N, *data_shape)``; ``self(z)`` / ``inference(z)`` -> ``G(z)``;
        ``generate(n)`` -> numpy ``(n, *data_shape)``.

    Example:
        >>> import numpy as np
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = np.random.RandomState(0).normal(3.0, 0.5, (512, 1)).astype(np.float32)
        >>> gan = GANController.for_vectors(data_dim=1, noise_dim=4, hidden_dims=[16],
        ...                                 output_activation="identity", seed=0)
        >>> gan = gan.learn(ArrayIterator(x, batch_size=64, epochs=2, seed=0), verbose=False)
        >>> gan.generate(10).shape, gan.loss_arr.shape
        ((10, 1), (2, 2))
    """

    _trainer_plan = {"discriminator": (("discriminative_model",), "discriminative_model"),
                     "generator": (("generative_model",), "generative_model")}
    _monitored = "discriminator_loss"

    def __init__(
        self,
        generative_model: GenerativeModel,
        discriminative_model: DiscriminativeModel,
        *,
        k: int = 1,
        feature_matching_weight: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (discriminator steps per generator step) must be a positive integer, got {k!r}")
        if feature_matching_weight < 0:
            raise ValueError(f"feature_matching_weight must be >= 0, got {feature_matching_weight}")
        self.k = int(k)
        self.feature_matching_weight = float(feature_matching_weight)
        self._adopt("generative_model", generative_model, GenerativeModel)
        self._adopt("discriminative_model", discriminative_model, self._discriminator_type)
        self.input_shape = generative_model.input_shape
        with self.name_scope():
            self._make_losses()
        self._check_players()
        self._finish_init()

    _discriminator_type: type = DiscriminativeModel

    def _make_losses(self) -> None:
        self.discriminator_loss = DiscriminatorLoss()
        self.generator_loss = GeneratorLoss()
        self.feature_matching_loss = FeatureMatchingLoss()

    def _check_players(self) -> None:
        if self.generative_model.condition_dim:
            raise ValueError("this generator takes conditions: use ConditionalGANController")

    @classmethod
    def for_vectors(
        cls,
        data_dim: int,
        noise_dim: int = 16,
        hidden_dims: Sequence[int] = (256, 256),
        *,
        activation: str = "relu",
        output_activation: str = "sigmoid",
        learning_rate: float = 1e-3,
        discriminator_learning_rate: Optional[float] = None,
        dropout: float = 0.0,
        batch_size: int = 64,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> "GANController":
        """A GAN of two MLPs (`NeuralNetworks`) for vector data of ``data_dim`` features.

        Generator ``noise_dim -> hidden_dims -> data_dim`` (``output_activation``: ``sigmoid`` for
        data in [0, 1], ``identity`` for real values) with standard normal noise; discriminator
        ``data_dim -> reversed(hidden_dims) -> 1`` with ``dropout``. Both Adam with ``beta1=0.5``;
        further keyword arguments (``k``, ``feature_matching_weight``) go to the constructor.
        """
        generator, discriminator = _mlp_players(data_dim, noise_dim, 0, hidden_dims, activation, output_activation,
                                                learning_rate, discriminator_learning_rate, dropout,
                                                batch_size, ctx, seed)
        return cls(generator, discriminator, ctx=ctx, seed=seed, **kwargs)

    # ------------------------------------------------------------------ data
    def check_data(self, iteratable_data: IteratableData) -> None:
        shape = getattr(iteratable_data, "sample_shape", None)
        if shape is not None:
            check_feature_shape(shape, self.discriminative_model.input_shape, "x (real samples)")

    # ------------------------------------------------------------------ phases
    def _real_condition(self, y: Optional[mx.nd.NDArray]) -> Optional[mx.nd.NDArray]:
        return None

    def _fake_condition(self, n: int) -> Optional[mx.nd.NDArray]:
        return None

    def _with_condition(self, arr: mx.nd.NDArray, cond: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if cond is None:
            return arr
        return mx.nd.concat(arr.reshape((arr.shape[0], -1)), cond.as_in_context(arr.context), dim=1)

    def _fakes(self, s: _Slice, cond: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        n = max(s.n, 1)
        z = self._with_condition(self.generative_model.noise(n, s.ctx), s.take(cond))
        return self.generative_model(z)

    def _discriminator_objective(self, real_in: mx.nd.NDArray, fake_in: mx.nd.NDArray) -> mx.nd.NDArray:
        # One discriminator call on real and fake rows side by side: half the operator calls.
        n = real_in.shape[0]
        logits = self.discriminative_model(mx.nd.concat(real_in, fake_in, dim=0))
        return self.discriminator_loss(mx.nd.slice_axis(logits, axis=0, begin=0, end=n),
                                       mx.nd.slice_axis(logits, axis=0, begin=n, end=None))

    def _generator_objective(self, fake_in: mx.nd.NDArray, real_in: mx.nd.NDArray) -> mx.nd.NDArray:
        loss = self.generator_loss(self.discriminative_model(fake_in))
        if self.feature_matching_weight:
            d = self.discriminative_model
            loss = loss + self.feature_matching_weight * self.feature_matching_loss(d.features(fake_in),
                                                                                    d.features(real_in))
        return loss

    def _learn_batch(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray], clip_norm: Optional[float]) -> None:
        n = x.shape[0]
        slices = self._slices(n)
        real_cond, fake_cond = self._real_condition(y), self._fake_condition(n)

        def real_in(s: _Slice) -> mx.nd.NDArray:
            return self._with_condition(s.take(x), s.take(real_cond))

        # The generator runs in training mode without recording: its output is a constant here.
        with autograd.train_mode():
            fakes = [self._with_condition(self._fakes(s, fake_cond), s.take(fake_cond)) for s in slices]
        by_ctx = {id(s): f for s, f in zip(slices, fakes)}
        d_loss = self._phase("discriminator", lambda s: self._discriminator_objective(real_in(s), by_ctx[id(s)]),
                             slices, n, clip_norm)
        self._add("discriminator_loss", d_loss, n)
        self._step_count += 1
        if self._step_count % self.k:
            return
        fake_cond = self._fake_condition(n)

        def generator_objective(s: _Slice) -> mx.nd.NDArray:
            fake_in = self._with_condition(self._fakes(s, fake_cond), s.take(fake_cond))
            return self._generator_objective(fake_in, real_in(s))

        self._add("generator_loss", self._phase("generator", generator_objective, slices, n, clip_norm), n)

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        """Summed discriminator loss on held-out real samples against as many fresh fakes."""
        device = self.ctx[0]
        x = x.as_in_context(device)
        y = None if y is None else y.as_in_context(device)
        s = _Slice(device, 0, x.shape[0], 1.0)
        fake_cond = self._fake_condition(x.shape[0])
        fake_in = self._with_condition(self._fakes(s, fake_cond), fake_cond)
        return self._discriminator_objective(self._with_condition(x, self._real_condition(y)), fake_in).sum()

    # ------------------------------------------------------------------ generation
    def hybrid_forward(self, F, z):  # noqa: D102
        return self.generative_model(z)

    def _predict(self, z: mx.nd.NDArray) -> mx.nd.NDArray:
        # The generator's own graph: the controller's would carry the idle discriminator along.
        return self.generative_model(z)

    def generate(self, n: int, batch_size: int = 1024) -> np.ndarray:
        """``n`` samples of the generator from fresh noise, as a numpy array."""
        return self._numpy_rows(lambda m: self.generative_model.draw(m), n, batch_size)


def _mlp_players(data_dim: int, noise_dim: int, condition_dim: int, hidden_dims: Sequence[int],
                 activation: str, output_activation: str, learning_rate: float,
                 discriminator_learning_rate: Optional[float],
                 dropout: float, batch_size: int, ctx: CtxLike,
                 seed: Optional[int]) -> Tuple[GenerativeModel, DiscriminativeModel]:
    hidden_dims = [int(h) for h in hidden_dims]
    noise = NormalNoiseSampler(batch_size, noise_dim, ctx=ctx, seed=_seed_for(seed, "noise"))
    g_net = NeuralNetworks(noise_dim + condition_dim, hidden_dims, output_dim=data_dim, activation=activation,
                           ctx=ctx, seed=_seed_for(seed, "generator"))
    d_net = NeuralNetworks(data_dim + condition_dim, hidden_dims[::-1], output_dim=1, dropout=dropout,
                           activation=activation, ctx=ctx, seed=_seed_for(seed, "discriminator"))
    generator = GenerativeModel(g_net, noise, output_activation=output_activation, condition_dim=condition_dim,
                                ctx=ctx, seed=_seed_for(seed, "generator"), learning_rate=learning_rate,
                                optimizer_params=_GAN_ADAM)
    discriminator = DiscriminativeModel(d_net, ctx=ctx, seed=_seed_for(seed, "discriminator"),
                                        learning_rate=discriminator_learning_rate or learning_rate,
                                        optimizer_params=_GAN_ADAM)
    return generator, discriminator


class ConditionalGANController(GANController):
    """Conditional GAN (Mirza & Osindero 2014): both players see a class condition.

    The generator gets ``[z, c]`` with ``c`` a one-hot condition drawn by ``condition_sampler``
    (`ConditionSampler`); the discriminator gets ``[x, c]``, with the one-hot of the real label ``y``
    for real samples and the generator's condition for generated ones. So the generator must make
    samples that look real *for their class*. The real data needs labels ``y`` in ``0..K-1``; samples
    are vectors (flattened before the condition is appended).

    Args:
        generative_model: a `GenerativeModel` with ``condition_dim = num_classes``.
        discriminative_model: a `DiscriminativeModel` taking ``data_dim + num_classes`` inputs.
        condition_sampler: a `ConditionSampler` (``one_hot=True``) of the ``num_classes`` classes.
        k, feature_matching_weight, ctx, seed: see `GANController`.

    Shapes:
        real data ``(N, data_dim)`` with labels ``(N,)``; ``self(zc)`` with ``zc = [z, one_hot(c)]``;
        ``generate(n, labels)`` -> numpy ``(n, data_dim)``.

    Example:
        >>> import numpy as np
        >>> from accelbrainbase.data import ArrayIterator
        >>> x, y = np.random.RandomState(0).rand(64, 4).astype(np.float32), np.arange(64) % 2
        >>> cgan = ConditionalGANController.for_vectors(data_dim=4, num_classes=2, noise_dim=2,
        ...                                             hidden_dims=[8], seed=0)
        >>> cgan = cgan.learn(ArrayIterator(x, y, batch_size=32, epochs=1, seed=0), verbose=False)
        >>> cgan.generate(3, labels=[0, 1, 1]).shape
        (3, 4)
    """

    def __init__(
        self,
        generative_model: GenerativeModel,
        discriminative_model: DiscriminativeModel,
        condition_sampler: ConditionSampler,
        *,
        k: int = 1,
        feature_matching_weight: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        if not isinstance(condition_sampler, ConditionSampler) or not condition_sampler.one_hot:
            raise TypeError("condition_sampler must be a ConditionSampler with one_hot=True")
        self.condition_sampler = condition_sampler
        self.num_classes = condition_sampler.num_classes
        super().__init__(generative_model, discriminative_model, k=k,
                         feature_matching_weight=feature_matching_weight, ctx=ctx, seed=seed)

    def _check_players(self) -> None:
        if self.generative_model.condition_dim != self.num_classes:
            raise ValueError(f"the generator takes conditions of width {self.generative_model.condition_dim}, "
                             f"the condition sampler draws {self.num_classes} classes")

    @classmethod
    def for_vectors(  # type: ignore[override]
        cls,
        data_dim: int,
        num_classes: int,
        noise_dim: int = 16,
        hidden_dims: Sequence[int] = (256, 256),
        *,
        activation: str = "relu",
        output_activation: str = "sigmoid",
        learning_rate: float = 1e-3,
        discriminator_learning_rate: Optional[float] = None,
        dropout: float = 0.0,
        batch_size: int = 64,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> "ConditionalGANController":
        """A conditional GAN of two MLPs; see `GANController.for_vectors` (the players take
        ``num_classes`` more inputs)."""
        generator, discriminator = _mlp_players(data_dim, noise_dim, num_classes, hidden_dims, activation,
                                                output_activation,
                                                learning_rate, discriminator_learning_rate, dropout,
                                                batch_size, ctx, seed)
        sampler = ConditionSampler(num_classes, batch_size, one_hot=True, ctx=ctx, seed=_seed_for(seed, "conditions"))
        return cls(generator, discriminator, sampler, ctx=ctx, seed=seed, **kwargs)

    def check_data(self, iteratable_data: IteratableData) -> None:
        shape = getattr(iteratable_data, "sample_shape", None)
        if shape is not None:
            data_dim = self.discriminative_model.input_shape[0] - self.num_classes
            check_feature_shape((int(np.prod(shape)),), (data_dim,), "x (real samples, flattened)")
        for name in ("y", "test_y"):
            if not hasattr(iteratable_data, name):
                continue
            y = getattr(iteratable_data, name)
            if y is None:
                if name == "y":
                    raise ValueError("ConditionalGANController needs class labels: give y to the iterator")
                continue
            labels = y.asnumpy()
            if labels.ndim != 1 or labels.min() < 0 or labels.max() >= self.num_classes \
                    or (labels != np.round(labels)).any():
                raise ValueError(f"{name} must be labels (N,) in 0..{self.num_classes - 1}, got shape {labels.shape}, "
                                 f"min {labels.min():g}, max {labels.max():g}")

    def _real_condition(self, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            raise ValueError("ConditionalGANController needs class labels y with the real samples")
        return mx.nd.one_hot(y.reshape((-1,)), self.num_classes)

    def _fake_condition(self, n: int) -> mx.nd.NDArray:
        return draw_rows(self.condition_sampler, n, self.ctx[0])

    def generate(self, n: int, labels: Any = None, batch_size: int = 1024) -> np.ndarray:  # type: ignore[override]
        """``n`` samples for the classes ``labels`` (default: ``0, 1, ..., K-1, 0, 1, ...``), numpy."""
        labels = np.arange(n) % self.num_classes if labels is None else np.asarray(labels)
        if labels.shape != (n,) or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be ({n},) in 0..{self.num_classes - 1}, got shape {labels.shape}")
        onehot = mx.nd.one_hot(mx.nd.array(labels, ctx=self.ctx[0]), self.num_classes)
        done = [0]

        def part(m: int) -> mx.nd.NDArray:
            c = onehot[done[0]:done[0] + m]
            done[0] += m
            return self.generative_model.draw(m, c)

        return self._numpy_rows(part, n, batch_size)


class EBGANController(GANController):
    """Energy-based GAN (Zhao, Mathieu & LeCun 2017): the discriminator is an energy, an
    auto-encoder's reconstruction error (`EBDiscriminativeModel`).

    Discriminator loss (`EBGANDiscriminatorLoss`): ``D(x) + max(0, m - D(G(z)))`` - low energy on
    real data, energy at least ``m`` on generated data. Generator loss (`EBGANGeneratorLoss`):
    ``D(G(z)) + pull_away_weight * PT`` with PT the pull-away term of the discriminator's codes of
    the generated batch (it keeps the samples apart).

    Args:
        generative_model: a `GenerativeModel`.
        discriminative_model: an `EBDiscriminativeModel`.
        margin: ``m``, in the units of the energy (a mean squared error per feature).
        pull_away_weight: weight of the pull-away term (0 turns it off; the paper uses 0.1).
        k, ctx, seed: see `GANController`.

    Example:
        >>> import numpy as np
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = np.random.RandomState(0).rand(64, 6).astype(np.float32)
        >>> ebgan = EBGANController.for_vectors(data_dim=6, noise_dim=2, hidden_dims=[8], code_dim=4, seed=0)
        >>> ebgan.learn(ArrayIterator(x, batch_size=32, epochs=1, seed=0), verbose=False).generate(2).shape
        (2, 6)
    """

    _discriminator_type = EBDiscriminativeModel

    def __init__(
        self,
        generative_model: GenerativeModel,
        discriminative_model: EBDiscriminativeModel,
        *,
        margin: float = 0.1,
        pull_away_weight: float = 0.1,
        k: int = 1,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        self.margin = float(margin)
        self.pull_away_weight = float(pull_away_weight)
        super().__init__(generative_model, discriminative_model, k=k, ctx=ctx, seed=seed)

    def _make_losses(self) -> None:
        self.discriminator_loss = EBGANDiscriminatorLoss(self.margin)
        self.generator_loss = EBGANGeneratorLoss(self.pull_away_weight)

    @classmethod
    def for_vectors(  # type: ignore[override]
        cls,
        data_dim: int,
        noise_dim: int = 16,
        hidden_dims: Sequence[int] = (256, 256),
        *,
        code_dim: int = 32,
        activation: str = "relu",
        output_activation: str = "sigmoid",
        learning_rate: float = 1e-3,
        discriminator_learning_rate: Optional[float] = None,
        batch_size: int = 64,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> "EBGANController":
        """An EBGAN with an MLP generator and a dense auto-encoder ``data_dim -> code_dim -> data_dim``
        (ReLU code, ``output_activation`` reconstruction) as the energy; further keyword arguments
        (``margin``, ``pull_away_weight``, ``k``) go to the constructor."""
        generator, _ = _mlp_players(data_dim, noise_dim, 0, hidden_dims, activation, output_activation, learning_rate,
                                    None, 0.0, batch_size, ctx, seed)
        ae = AutoEncoder(data_dim, [code_dim], activation="relu", output_activation=output_activation, ctx=ctx,
                         seed=_seed_for(seed, "discriminator"))
        discriminator = EBDiscriminativeModel(ae, ctx=ctx, seed=_seed_for(seed, "discriminator"),
                                              learning_rate=discriminator_learning_rate or learning_rate,
                                              optimizer_params=_GAN_ADAM)
        return cls(generator, discriminator, ctx=ctx, seed=seed, **kwargs)

    def _generator_objective(self, fake_in: mx.nd.NDArray, real_in: mx.nd.NDArray) -> mx.nd.NDArray:
        energy, codes = self.discriminative_model.energy_and_codes(mx.nd, fake_in)
        # The pull-away term needs two samples; a one-sample slice (the tail of an epoch on one
        # device) learns from its energy alone.
        return self.generator_loss(energy, codes) if fake_in.shape[0] > 1 else energy


def _example_aae(rng: np.random.RandomState, energy_based: bool = False):
    x = rng.rand(24, 6).astype(np.float32)
    prior = NormalNoiseSampler(8, 2, seed=0)
    encoder = NeuralNetworks(6, [8], output_dim=2, seed=0, learning_rate=0.01)
    decoder = GenerativeModel(NeuralNetworks(2, [8], output_dim=6, seed=0), prior, seed=0, learning_rate=0.01)
    if energy_based:
        discriminator = EBDiscriminativeModel(AutoEncoder(2, [4], activation="relu", output_activation="identity",
                                                          seed=0), seed=0, learning_rate=0.01)
    else:
        discriminator = DiscriminativeModel(NeuralNetworks(2, [8], output_dim=1, seed=0), seed=0, learning_rate=0.01)
    return dict(encoder=encoder, decoder=decoder, discriminative_model=discriminator, prior=prior), x, None


@register_model("aae", example=_example_aae)
class AAEController(_AdversarialController):
    """Adversarial auto-encoder (Makhzani et al. 2016): an auto-encoder whose code distribution is
    matched to a prior by an adversarial game on the codes.

    Every mini-batch: (1) *reconstruction phase* - encoder and decoder take a step on the squared
    reconstruction error; (2) *regularization phase* - the discriminator takes a step on
    `DiscriminatorLoss` with draws of the ``prior`` (`SamplableData`) as real and the encoder's codes
    as fake, then the encoder (the generator of codes) takes a step on `GeneratorLoss`.

    Args:
        encoder: maps data to codes (e.g. ``NeuralNetworks(64, [256], output_dim=2)``, linear codes).
        decoder: maps codes to data; a `GenerativeModel` (whose noise sampler is best the prior) or
            any model of the zoo.
        discriminative_model: a `DiscriminativeModel` on codes.
        prior: the target code distribution, e.g. ``NormalNoiseSampler(64, 2, seed=0)``.
        ctx, seed: see `GANController`.

    Optimizers: the reconstruction phase uses the decoder's settings, the generator phase the
    encoder's, the discriminator phase the discriminator's.

    Shapes:
        input ``(N, *data_shape)``; ``self(x)`` / ``inference(x)`` -> reconstruction;
        ``extract_feature_points(x)`` -> codes ``(N, code_dim)``; ``generate(n)`` -> decoded prior draws.

    Example:
        >>> import numpy as np
        >>> from accelbrainbase.data import ArrayIterator, NormalNoiseSampler
        >>> x = np.random.RandomState(0).rand(64, 6).astype(np.float32)
        >>> aae = AAEController.for_vectors(data_dim=6, code_dim=2, hidden_dims=[8],
        ...                                 prior=NormalNoiseSampler(32, 2, seed=0), seed=0)
        >>> aae = aae.learn(ArrayIterator(x, batch_size=32, epochs=2, seed=0), verbose=False)
        >>> aae.extract_feature_points(x).shape
        (64, 2)
    """

    _trainer_plan = {"reconstruction": (("encoder", "decoder"), "decoder"),
                     "discriminator": (("discriminative_model",), "discriminative_model"),
                     "generator": (("encoder",), "encoder")}
    _monitored = "reconstruction_loss"
    _discriminator_type: type = DiscriminativeModel

    def __init__(
        self,
        encoder: Any,
        decoder: Any,
        discriminative_model: DiscriminativeModel,
        prior: SamplableData,
        *,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed)
        if not isinstance(prior, SamplableData):
            raise TypeError(f"prior must be a SamplableData, got {type(prior).__name__}")
        self.prior = prior
        self._adopt("encoder", encoder, gluon.HybridBlock)
        self._adopt("decoder", decoder, gluon.HybridBlock)
        if not getattr(encoder, "input_shape", None):
            raise ValueError(f"the encoder ({type(encoder).__name__}) must tell its per-sample input_shape")
        self._adopt("discriminative_model", discriminative_model, self._discriminator_type)
        self.input_shape = tuple(encoder.input_shape)
        code_shape = tuple(getattr(prior, "shape", ()) or ())
        if code_shape and tuple(discriminative_model.input_shape) != code_shape:
            raise ValueError(f"the prior draws codes of shape {code_shape} but the discriminator takes "
                             f"{tuple(discriminative_model.input_shape)}")
        with self.name_scope():
            self.reconstruction_loss = L2NormLoss()
            self._make_losses()
        self._finish_init()

    def _make_losses(self) -> None:
        self.discriminator_loss = DiscriminatorLoss()
        self.generator_loss = GeneratorLoss()

    @classmethod
    def for_vectors(
        cls,
        data_dim: int,
        code_dim: int = 2,
        hidden_dims: Sequence[int] = (256, 256),
        *,
        prior: Optional[SamplableData] = None,
        output_activation: str = "sigmoid",
        learning_rate: float = 1e-3,
        discriminator_hidden_dims: Sequence[int] = (128, 128),
        discriminator_learning_rate: Optional[float] = None,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> "AAEController":
        """An AAE of MLPs: encoder ``data_dim -> hidden_dims -> code_dim`` (linear codes), decoder
        back (``output_activation``), discriminator ``code_dim -> discriminator_hidden_dims -> 1``;
        Adam everywhere (``beta1=0.5``). ``prior`` defaults to a standard normal."""
        prior = prior if prior is not None else NormalNoiseSampler(64, code_dim, ctx=ctx, seed=_seed_for(seed, "prior"))
        hidden_dims = [int(h) for h in hidden_dims]
        encoder = NeuralNetworks(data_dim, hidden_dims, output_dim=code_dim, ctx=ctx, seed=_seed_for(seed, "encoder"),
                                 learning_rate=learning_rate, optimizer_params=_GAN_ADAM)
        decoder = GenerativeModel(NeuralNetworks(code_dim, hidden_dims[::-1], output_dim=data_dim, ctx=ctx,
                                                 seed=_seed_for(seed, "decoder")),
                                  prior, output_activation=output_activation, ctx=ctx, seed=_seed_for(seed, "decoder"),
                                  learning_rate=learning_rate, optimizer_params=_GAN_ADAM)
        discriminator = cls._code_discriminator(code_dim, discriminator_hidden_dims,
                                                discriminator_learning_rate or learning_rate, ctx, seed)
        return cls(encoder, decoder, discriminator, prior, ctx=ctx, seed=seed, **kwargs)

    @staticmethod
    def _code_discriminator(code_dim: int, hidden_dims: Sequence[int], learning_rate: float, ctx: CtxLike,
                            seed: Optional[int]) -> Any:
        net = NeuralNetworks(code_dim, [int(h) for h in hidden_dims], output_dim=1, ctx=ctx,
                             seed=_seed_for(seed, "discriminator"))
        return DiscriminativeModel(net, ctx=ctx, seed=_seed_for(seed, "discriminator"), learning_rate=learning_rate,
                                   optimizer_params=_GAN_ADAM)

    def check_data(self, iteratable_data: IteratableData) -> None:
        shape = getattr(iteratable_data, "sample_shape", None)
        if shape is not None:
            check_feature_shape(shape, self.input_shape, "x")

    # ------------------------------------------------------------------ phases
    def _reconstruction(self, x: mx.nd.NDArray, target: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.reconstruction_loss(self.decoder(self.encoder(x)).reshape(target.shape), target)

    def _discriminator_objective(self, prior_codes: mx.nd.NDArray, codes: mx.nd.NDArray) -> mx.nd.NDArray:
        n = prior_codes.shape[0]
        out = self.discriminative_model(mx.nd.concat(prior_codes, codes, dim=0))
        return self.discriminator_loss(mx.nd.slice_axis(out, axis=0, begin=0, end=n),
                                       mx.nd.slice_axis(out, axis=0, begin=n, end=None))

    def _generator_objective(self, codes: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.generator_loss(self.discriminative_model(codes))

    def _learn_batch(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray], clip_norm: Optional[float]) -> None:
        n = x.shape[0]
        slices = self._slices(n)
        # A denoising iterator yields the clean batch as y: reconstruct that.
        target = y if y is not None and y.shape == x.shape else x
        loss = self._phase("reconstruction", lambda s: self._reconstruction(s.take(x), s.take(target)),
                           slices, n, clip_norm)
        self._add("reconstruction_loss", loss, n)
        with autograd.train_mode():
            codes = {id(s): self.encoder(s.take(x)) for s in slices}
        loss = self._phase("discriminator",
                           lambda s: self._discriminator_objective(draw_rows(self.prior, s.n, s.ctx), codes[id(s)]),
                           slices, n, clip_norm)
        self._add("discriminator_loss", loss, n)
        loss = self._phase("generator", lambda s: self._generator_objective(self.encoder(s.take(x))),
                           slices, n, clip_norm)
        self._add("generator_loss", loss, n)

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        """Summed reconstruction error of a held-out batch."""
        x = x.as_in_context(self.ctx[0])
        target = y.as_in_context(self.ctx[0]) if y is not None and y.shape == x.shape else x
        return self._reconstruction(x, target).sum()

    # ------------------------------------------------------------------ inference
    def hybrid_forward(self, F, x):  # noqa: D102
        return F.reshape_like(self.decoder(self.encoder(x)), x)

    def _predict(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.decoder(self.encoder(x)).reshape(x.shape)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes of ``observed_arr`` ``(N, code_dim)``."""
        return self._batched(self.encoder, observed_arr, batch_size)

    def generate(self, n: int, batch_size: int = 1024) -> np.ndarray:
        """``n`` samples: the decoder applied to draws of the prior, numpy."""
        return self._numpy_rows(lambda m: self.decoder(draw_rows(self.prior, m, self.ctx[0])), n, batch_size)


@register_model("ebaae", example=lambda rng: _example_aae(rng, energy_based=True))
class EBAAEController(AAEController):
    """Energy-based adversarial auto-encoder: an `AAEController` whose code discriminator is an
    energy (`EBDiscriminativeModel`, an auto-encoder on codes) trained with the EBGAN margin loss
    (prior draws: low energy; the encoder's codes: energy at least ``margin``), while the encoder
    lowers the energy of its codes plus ``pull_away_weight`` times the pull-away term of the
    discriminator's codes of them (Zhao, Mathieu & LeCun 2017, applied to the AAE's code game).

    Args:
        encoder, decoder, prior, ctx, seed: see `AAEController`.
        discriminative_model: an `EBDiscriminativeModel` on codes.
        margin: the EBGAN margin (units of the energy: mean squared error per code dimension).
        pull_away_weight: weight of the pull-away term in the encoder's adversarial loss.

    Example:
        >>> import numpy as np
        >>> from accelbrainbase.data import ArrayIterator, NormalNoiseSampler
        >>> x = np.random.RandomState(0).rand(64, 6).astype(np.float32)
        >>> ebaae = EBAAEController.for_vectors(data_dim=6, code_dim=2, hidden_dims=[8],
        ...                                     prior=NormalNoiseSampler(32, 2, seed=0), seed=0)
        >>> ebaae.learn(ArrayIterator(x, batch_size=32, epochs=1, seed=0), verbose=False).generate(3).shape
        (3, 6)
    """

    _discriminator_type = EBDiscriminativeModel

    def __init__(
        self,
        encoder: Any,
        decoder: Any,
        discriminative_model: EBDiscriminativeModel,
        prior: SamplableData,
        *,
        margin: float = 0.5,
        pull_away_weight: float = 0.1,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        self.margin = float(margin)
        self.pull_away_weight = float(pull_away_weight)
        super().__init__(encoder, decoder, discriminative_model, prior, ctx=ctx, seed=seed)

    def _make_losses(self) -> None:
        self.discriminator_loss = EBGANDiscriminatorLoss(self.margin)
        self.generator_loss = EBGANGeneratorLoss(self.pull_away_weight)

    @staticmethod
    def _code_discriminator(code_dim: int, hidden_dims: Sequence[int], learning_rate: float, ctx: CtxLike,
                            seed: Optional[int]) -> Any:
        ae = AutoEncoder(code_dim, [int(h) for h in hidden_dims], activation="relu", output_activation="identity",
                         ctx=ctx, seed=_seed_for(seed, "discriminator"))
        return EBDiscriminativeModel(ae, ctx=ctx, seed=_seed_for(seed, "discriminator"), learning_rate=learning_rate,
                                     optimizer_params=_GAN_ADAM)

    def _generator_objective(self, codes: mx.nd.NDArray) -> mx.nd.NDArray:
        energy, d_codes = self.discriminative_model.energy_and_codes(mx.nd, codes)
        return self.generator_loss(energy, d_codes) if codes.shape[0] > 1 else energy
