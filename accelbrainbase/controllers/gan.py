"""Adversarial controllers: GAN, conditional GAN, AAE, EBGAN, EBAAE.

Each controller is an ordinary model with several optimizers (`controllers.base.ControllerModel`):
it holds the players of `accelbrainbase.models.adversarial` (and, for the auto-encoders, an encoder
and a decoder that may be plain Gluon blocks), owns one ``gluon.Trainer`` per phase
(``configure_trainers``), and its ``train_step`` plays the phases of a mini-batch in turn, each one
`training.gradient_step` (split over ``ctx``, gradients summed over the devices, one trainer
updated). `training.fit` drives it like any model: checkpoints, ``save``/``load``, resume and
data-parallel training are those of every model.

**Optimizer settings.** Each phase trains with the settings of one part (named in the class's
docstring): a player's own settings (every player defaults to Adam, learning rate 1e-3,
``beta1 = 0.5``), or the controller's when the part is a plain Gluon block (same defaults). The
settings of a network a player wraps are not used.

Per epoch ``history`` records ``discriminator_loss`` and ``generator_loss`` (plus
``reconstruction_loss`` for the auto-encoders); ``train_loss`` (``loss_arr[:, 0]``) is the
discriminator loss of the GANs and the reconstruction loss of the AAEs, ``test_loss``
(``loss_arr[:, 1]``) the same on held-out data. With ``k > 1`` an epoch without a generator step
records no ``generator_loss``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd
from mxnet.gluon import nn

from ..checks import check_feature_shape, check_labels
from ..context import CtxLike
from ..data.samplers import ConditionSampler, DeviceSampler, NormalNoiseSampler, draw_rows
from ..interfaces import IteratableData, SamplableData
from ..losses import (
    DiscriminatorLoss,
    EBGANDiscriminatorLoss,
    EBGANGeneratorLoss,
    FeatureMatchingLoss,
    GeneratorLoss,
    L2NormLoss,
)
from ..models.adversarial import (
    DiscriminativeModel,
    EBDiscriminativeModel,
    GenerativeModel,
    adversarial_optimizer_params,
)
from ..models.base import ObservableModel
from ..models.dense import AutoEncoder, NeuralNetworks
from ..registry import not_registered, register_model
from .base import ControllerModel, seed_for

__all__ = ["GANController", "ConditionalGANController", "AAEController", "EBGANController", "EBAAEController"]


def _plain_mlp(hidden: int, out: int, out_activation: Optional[str] = None) -> nn.HybridSequential:
    """A user's plain two-layer block (no declared input size): the parts of the ``user_parts``
    examples."""
    net = nn.HybridSequential()
    net.add(nn.Dense(hidden, activation="relu"), nn.Dense(out, activation=out_activation))
    return net


def _plain_auto_encoder(hidden: int, code: int, out: int) -> nn.HybridSequential:
    auto_encoder = nn.HybridSequential()
    auto_encoder.add(_plain_mlp(hidden, code, "relu"), _plain_mlp(hidden, out))
    return auto_encoder


@not_registered("the shared base of the GAN and AAE controllers; each concrete controller is registered")
class _AdversarialController(ControllerModel):
    """What the GANs and AAEs share: the discriminator's loss on real and fake rows in one call,
    sampling in batches."""

    def _discriminator_objective(self, real_in: mx.nd.NDArray, fake_in: mx.nd.NDArray) -> mx.nd.NDArray:
        # One discriminator call on real and fake rows side by side: half the operator calls.
        n = real_in.shape[0]
        out = self.discriminative_model(mx.nd.concat(real_in, fake_in, dim=0))
        return self.discriminator_loss(mx.nd.slice_axis(out, axis=0, begin=0, end=n),
                                       mx.nd.slice_axis(out, axis=0, begin=n, end=None))

    def _numpy_rows(self, fn: Callable[[int], mx.nd.NDArray], n: int, batch_size: int) -> np.ndarray:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        parts = [fn(min(batch_size, n - i)).asnumpy() for i in range(0, n, batch_size)]
        return np.concatenate(parts)


def _example_gan(rng: np.random.RandomState, condition_dim: int = 0):
    # The noise is as wide as the data, so that self(x) - the generator - also takes the data.
    x = rng.rand(24, 4).astype(np.float32)
    noise = NormalNoiseSampler(8, 4 - condition_dim, seed=0)
    g = GenerativeModel(NeuralNetworks(4, [8], output_dim=4, seed=0), noise, condition_dim=condition_dim, seed=0,
                        learning_rate=0.01)
    d = DiscriminativeModel(NeuralNetworks(4 + condition_dim, [8], output_dim=1, seed=0), seed=0, learning_rate=0.01)
    return dict(generative_model=g, discriminative_model=d), x, None


def _plain_gan(rng: np.random.RandomState, condition_dim: int = 0):
    x = rng.rand(24, 4).astype(np.float32)
    g = GenerativeModel(_plain_mlp(8, 4), NormalNoiseSampler(8, 4 - condition_dim), condition_dim=condition_dim)
    return dict(generative_model=g, discriminative_model=DiscriminativeModel(_plain_mlp(8, 1))), x, None


@register_model("gan", example=_example_gan, user_parts=_plain_gan)
class GANController(_AdversarialController):
    """Generative adversarial network (Goodfellow et al. 2014) with the non-saturating generator loss.

    For every mini-batch of real data the discriminator takes a step on `DiscriminatorLoss` (real
    samples labelled 1, generated ones 0); after every ``k``-th discriminator step the generator takes
    a step on `GeneratorLoss` (``-log D(G(z))``), plus ``feature_matching_weight`` times the
    `FeatureMatchingLoss` between the mean intermediate discriminator features of the generated and
    of the current real batch (Salimans et al. 2016). Feature matching is a *generator* loss: the
    discriminator's objective does not change.

    The players may wrap plain Gluon blocks with shapes left to the first batch:
    ``GANController(GenerativeModel(g, NormalNoiseSampler(64, 16)), DiscriminativeModel(d))``.

    Args:
        generative_model: the generator (`GenerativeModel`, with its noise sampler).
        discriminative_model: the discriminator (`DiscriminativeModel`).
        k: discriminator steps per generator step (the position in the cycle is saved with the
            model, so a resumed run steps the generator on the same batches).
        feature_matching_weight: weight of feature matching in the generator loss (0: off).
        ctx: context(s) of both players (they are moved there); a list trains data parallel.
        seed: seeds training (each player's initialization has its own seed).
        initializer, optimizer, learning_rate, optimizer_params: see `ControllerModel`. The phases
            train with the players' own settings (the discriminator phase with the discriminator's,
            the generator phase with the generator's), so a GAN's own settings are not used by
            them.

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
        >>> gan.generate(10).shape, gan.loss_arr.shape, sorted(gan.trainers)
        ((10, 1), (2, 2), ['discriminator', 'generator'])
    """

    _discriminator_type: type = DiscriminativeModel

    def __init__(
        self,
        generative_model: GenerativeModel,
        discriminative_model: DiscriminativeModel,
        *,
        k: int = 1,
        feature_matching_weight: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate,
                         optimizer_params=adversarial_optimizer_params(optimizer, optimizer_params))
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (discriminator steps per generator step) must be a positive integer, got {k!r}")
        if feature_matching_weight < 0:
            raise ValueError(f"feature_matching_weight must be >= 0, got {feature_matching_weight}")
        self.k = int(k)
        self.feature_matching_weight = float(feature_matching_weight)
        self.add_part("generative_model", generative_model, GenerativeModel)
        self.add_part("discriminative_model", discriminative_model, self._discriminator_type)
        self.input_shape = generative_model.input_shape
        with self.name_scope():
            self._make_losses()
        self._check_players()

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
    def check_data(self, data: IteratableData) -> None:
        """Real samples of the discriminator's input shape (when it declares one)."""
        shape = self.discriminative_model.input_shape
        if shape is not None:
            check_feature_shape(data.sample_shape, shape, "x (real samples)")

    def build(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> None:
        """Resolve the players' deferred shapes: the generator on noise, the discriminator on real rows."""
        device, n = self.ctx[0], min(2, x.shape[0])
        x = x[:n].as_in_context(device)
        y = None if y is None else y[:n].as_in_context(device)
        with autograd.predict_mode():
            self._fake_input(n, self._fake_condition(n), device)
            self.discriminative_model(self._with_condition(x, self._real_condition(y)))

    def trainer_plan(self) -> Dict[str, Tuple[Any, Any]]:
        """The discriminator's and the generator's trainers, each with its player's settings."""
        return {"discriminator": (self.discriminative_model, self.discriminative_model),
                "generator": (self.generative_model, self.generative_model)}

    # ------------------------------------------------------------------ phases
    def _real_condition(self, y: Optional[mx.nd.NDArray]) -> Optional[mx.nd.NDArray]:
        return None

    def _fake_condition(self, n: int) -> Optional[mx.nd.NDArray]:
        return None

    @staticmethod
    def _with_condition(arr: mx.nd.NDArray, cond: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if cond is None:
            return arr
        return mx.nd.concat(arr.reshape((arr.shape[0], -1)), cond.as_in_context(arr.context), dim=1)

    def _fake_input(self, n: int, cond: Optional[mx.nd.NDArray], ctx: mx.Context) -> mx.nd.NDArray:
        """What the discriminator sees of ``n`` generated samples: ``G([z, c])`` (with ``c``
        appended), from fresh noise drawn on ``ctx``."""
        fakes = self.generative_model(self._with_condition(self.generative_model.noise(n, ctx), cond))
        return self._with_condition(fakes, cond)

    def _discriminator_phase(self, x: mx.nd.NDArray, real_cond: Optional[mx.nd.NDArray],
                             fake_cond: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        # The generated samples are data of this phase: made in training mode without recording,
        # so no gradient reaches the generator (and no graph of it is kept).
        with autograd.pause(train_mode=True):
            fake_in = self._fake_input(x.shape[0], fake_cond, x.context)
        return self._discriminator_objective(self._with_condition(x, real_cond), fake_in)

    def _generator_objective(self, fake_in: mx.nd.NDArray, real_in: mx.nd.NDArray) -> mx.nd.NDArray:
        loss = self.generator_loss(self.discriminative_model(fake_in))
        if self.feature_matching_weight:
            d = self.discriminative_model
            loss = loss + self.feature_matching_weight * self.feature_matching_loss(d.features(fake_in),
                                                                                    d.features(real_in))
        return loss

    def _generator_phase(self, x: mx.nd.NDArray, real_cond: Optional[mx.nd.NDArray],
                         fake_cond: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        fake_in = self._fake_input(x.shape[0], fake_cond, x.context)
        return self._generator_objective(fake_in, self._with_condition(x, real_cond))

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """A discriminator step on the batch and, every ``k``-th step, a generator step; returns
        ``{"loss", "discriminator_loss"[, "generator_loss"]}`` (sums over the batch)."""
        n = x.shape[0]
        real_cond = self._real_condition(y)
        d_loss = self.phase_step("discriminator", self._discriminator_phase, x, real_cond, self._fake_condition(n),
                                 clip_norm=clip_norm)
        losses = {"loss": d_loss, "discriminator_loss": d_loss}
        self._step_count += 1
        if self._step_count % self.k == 0:
            losses["generator_loss"] = self.phase_step("generator", self._generator_phase, x, real_cond,
                                                       self._fake_condition(n), clip_norm=clip_norm)
        return losses

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed discriminator loss on held-out real samples against as many fresh fakes."""
        device = self.ctx[0]
        x = x.as_in_context(device)
        y = None if y is None else y.as_in_context(device)
        n = x.shape[0]
        fake_in = self._fake_input(n, self._fake_condition(n), device)
        return {"loss": self._discriminator_objective(self._with_condition(x, self._real_condition(y)),
                                                      fake_in).sum()}

    # ------------------------------------------------------------------ generation
    def hybrid_forward(self, F, z):
        return self.generative_model(z)

    def inference_graph(self, F: Any, z: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """Samples of the generator from noise ``z``. The generator's own graph: the controller's
        would carry the idle discriminator along."""
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
    noise = NormalNoiseSampler(batch_size, noise_dim, ctx=ctx, seed=seed_for(seed, "noise"))
    g_net = NeuralNetworks(noise_dim + condition_dim, hidden_dims, output_dim=data_dim, activation=activation,
                           ctx=ctx, seed=seed_for(seed, "generator"))
    d_net = NeuralNetworks(data_dim + condition_dim, hidden_dims[::-1], output_dim=1, dropout=dropout,
                           activation=activation, ctx=ctx, seed=seed_for(seed, "discriminator"))
    generator = GenerativeModel(g_net, noise, output_activation=output_activation, condition_dim=condition_dim,
                                ctx=ctx, seed=seed_for(seed, "generator"), learning_rate=learning_rate)
    discriminator = DiscriminativeModel(d_net, ctx=ctx, seed=seed_for(seed, "discriminator"),
                                        learning_rate=discriminator_learning_rate or learning_rate)
    return generator, discriminator


def _example_cgan(rng: np.random.RandomState):
    kwargs, x, _ = _example_gan(rng, condition_dim=2)
    return dict(kwargs, condition_sampler=ConditionSampler(2, 8, seed=0)), x, rng.randint(0, 2, len(x))


def _plain_cgan(rng: np.random.RandomState):
    kwargs, x, _ = _plain_gan(rng, condition_dim=2)
    return dict(kwargs, condition_sampler=ConditionSampler(2, 8)), x, rng.randint(0, 2, len(x))


@register_model("cgan", example=_example_cgan, user_parts=_plain_cgan)
class ConditionalGANController(GANController):
    """Conditional GAN (Mirza & Osindero 2014): both players see a class condition.

    The generator gets ``[z, c]`` with ``c`` a one-hot condition drawn by ``condition_sampler``
    (`ConditionSampler`); the discriminator gets ``[x, c]``, with the one-hot of the real label ``y``
    for real samples and the generator's condition for generated ones. So the generator must make
    samples that look real *for their class*. The real data needs labels ``y`` in ``0..K-1``; samples
    are vectors (flattened before the condition is appended). While training the conditions are
    drawn on the device by MXNet's generator (`ConditionSampler.draw_rows`).

    Args:
        generative_model: a `GenerativeModel` with ``condition_dim = num_classes``.
        discriminative_model: a `DiscriminativeModel` taking ``data_dim + num_classes`` inputs.
        condition_sampler: a `ConditionSampler` (``one_hot=True``) of the ``num_classes`` classes.
        k, feature_matching_weight, ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see
            `GANController`.

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
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        if not isinstance(condition_sampler, ConditionSampler) or not condition_sampler.one_hot:
            raise TypeError("condition_sampler must be a ConditionSampler with one_hot=True")
        self.condition_sampler = condition_sampler
        self.num_classes = condition_sampler.num_classes
        super().__init__(generative_model, discriminative_model, k=k, feature_matching_weight=feature_matching_weight,
                         ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)

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
        sampler = ConditionSampler(num_classes, batch_size, one_hot=True, ctx=ctx, seed=seed_for(seed, "conditions"))
        return cls(generator, discriminator, sampler, ctx=ctx, seed=seed, **kwargs)

    def check_data(self, data: IteratableData) -> None:
        """Real samples (flattened) of ``data_dim`` features with labels in ``0..num_classes-1``."""
        shape = self.discriminative_model.input_shape
        if shape is not None:
            data_dim = shape[0] - self.num_classes
            check_feature_shape((int(np.prod(data.sample_shape)),), (data_dim,), "x (real samples, flattened)")
        _, y = data.training_arrays()
        if y is None:
            raise ValueError("ConditionalGANController needs class labels: the data has no y")
        check_labels(y, self.num_classes, "y")
        check_labels(data.test_arrays()[1], self.num_classes, "test y")

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


def _example_ebgan(rng: np.random.RandomState):
    kwargs, x, _ = _example_gan(rng)
    ae = AutoEncoder(4, [3], activation="relu", output_activation="identity", seed=0)
    return dict(kwargs, discriminative_model=EBDiscriminativeModel(ae, seed=0, learning_rate=0.01)), x, None


def _plain_ebgan(rng: np.random.RandomState):
    kwargs, x, _ = _plain_gan(rng)
    return dict(kwargs, discriminative_model=EBDiscriminativeModel(_plain_auto_encoder(8, 3, 4))), x, None


@register_model("ebgan", example=_example_ebgan, user_parts=_plain_ebgan)
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
        k, ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `GANController`.

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
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.margin = float(margin)
        self.pull_away_weight = float(pull_away_weight)
        super().__init__(generative_model, discriminative_model, k=k, ctx=ctx, seed=seed, initializer=initializer,
                         optimizer=optimizer, learning_rate=learning_rate, optimizer_params=optimizer_params)

    def _make_losses(self) -> None:
        self.discriminator_loss = EBGANDiscriminatorLoss(self.margin)
        self.generator_loss = EBGANGeneratorLoss(self.pull_away_weight)

    @classmethod
    def for_vectors(
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
                         seed=seed_for(seed, "discriminator"))
        discriminator = EBDiscriminativeModel(ae, ctx=ctx, seed=seed_for(seed, "discriminator"),
                                              learning_rate=discriminator_learning_rate or learning_rate)
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


def _plain_aae(rng: np.random.RandomState, energy_based: bool = False):
    x = rng.rand(24, 6).astype(np.float32)
    discriminator = (EBDiscriminativeModel(_plain_auto_encoder(4, 2, 2)) if energy_based
                     else DiscriminativeModel(_plain_mlp(8, 1)))
    return dict(encoder=_plain_mlp(8, 2), decoder=_plain_mlp(8, 6, "sigmoid"), discriminative_model=discriminator,
                prior=NormalNoiseSampler(8, 2), learning_rate=0.01), x, None


@register_model("aae", example=_example_aae, user_parts=_plain_aae)
class AAEController(_AdversarialController):
    """Adversarial auto-encoder (Makhzani et al. 2016): an auto-encoder whose code distribution is
    matched to a prior by an adversarial game on the codes.

    Every mini-batch: (1) *reconstruction phase* - encoder and decoder take a step on the squared
    reconstruction error; (2) *regularization phase* - the discriminator takes a step on
    `DiscriminatorLoss` with draws of the ``prior`` (`SamplableData`) as real and the encoder's codes
    as fake, then the encoder (the generator of codes) takes a step on `GeneratorLoss`.

    Args:
        encoder: maps data to codes: a model of the zoo (e.g. ``NeuralNetworks(64, [256],
            output_dim=2)``, linear codes) or any ``HybridBlock`` (shapes may be left to the first
            batch).
        decoder: maps codes to data: a `GenerativeModel` (whose noise sampler is best the prior), a
            model of the zoo, or any ``HybridBlock``.
        discriminative_model: a `DiscriminativeModel` on codes.
        prior: the target code distribution, e.g. ``NormalNoiseSampler(64, 2, seed=0)``.
        ctx, seed, initializer: see `ControllerModel`.
        optimizer, learning_rate, optimizer_params: the settings of the encoder and the decoder when
            they are plain blocks (Adam, 1e-3, ``beta1 = 0.5`` by default, as the players').

    Optimizers: the reconstruction phase (encoder and decoder) uses the decoder's settings, the
    generator phase (encoder) the encoder's, the discriminator phase the discriminator's - each
    part's own when it is a model of the zoo, the controller's when it is a plain block.

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
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate,
                         optimizer_params=adversarial_optimizer_params(optimizer, optimizer_params))
        if not isinstance(prior, SamplableData):
            raise TypeError(f"prior must be a SamplableData, got {type(prior).__name__}")
        self.prior = prior
        self.add_part("encoder", encoder)
        self.add_part("decoder", decoder)
        self.add_part("discriminative_model", discriminative_model, self._discriminator_type)
        self.input_shape = encoder.input_shape if isinstance(encoder, ObservableModel) else None
        code_shape = tuple(prior.shape) if isinstance(prior, DeviceSampler) else None
        d_shape = discriminative_model.input_shape
        if code_shape and d_shape is not None and tuple(d_shape) != code_shape:
            raise ValueError(f"the prior draws codes of shape {code_shape} but the discriminator takes "
                             f"{tuple(d_shape)}")
        with self.name_scope():
            self.reconstruction_loss = L2NormLoss()
            self._make_losses()

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
        prior = prior if prior is not None else NormalNoiseSampler(64, code_dim, ctx=ctx, seed=seed_for(seed, "prior"))
        hidden_dims = [int(h) for h in hidden_dims]
        encoder = NeuralNetworks(data_dim, hidden_dims, output_dim=code_dim, ctx=ctx, seed=seed_for(seed, "encoder"),
                                 learning_rate=learning_rate, optimizer_params={"beta1": 0.5})
        decoder = GenerativeModel(NeuralNetworks(code_dim, hidden_dims[::-1], output_dim=data_dim, ctx=ctx,
                                                 seed=seed_for(seed, "decoder")),
                                  prior, output_activation=output_activation, ctx=ctx, seed=seed_for(seed, "decoder"),
                                  learning_rate=learning_rate)
        discriminator = cls._code_discriminator(code_dim, discriminator_hidden_dims,
                                                discriminator_learning_rate or learning_rate, ctx, seed)
        return cls(encoder, decoder, discriminator, prior, ctx=ctx, seed=seed, **kwargs)

    @staticmethod
    def _code_discriminator(code_dim: int, hidden_dims: Sequence[int], learning_rate: float, ctx: CtxLike,
                            seed: Optional[int]) -> Any:
        net = NeuralNetworks(code_dim, [int(h) for h in hidden_dims], output_dim=1, ctx=ctx,
                             seed=seed_for(seed, "discriminator"))
        return DiscriminativeModel(net, ctx=ctx, seed=seed_for(seed, "discriminator"), learning_rate=learning_rate)

    def build(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> None:
        """Resolve deferred shapes: encoder and decoder on real rows, the discriminator on prior draws."""
        device, n = self.ctx[0], min(2, x.shape[0])
        with autograd.predict_mode():
            codes = self.encoder(x[:n].as_in_context(device))
            self.decoder(codes)
            prior = draw_rows(self.prior, n, device)
            if tuple(codes.shape[1:]) != tuple(prior.shape[1:]):
                raise ValueError(f"the encoder makes codes of shape {tuple(codes.shape[1:])} but the prior draws "
                                 f"{tuple(prior.shape[1:])}")
            self.discriminative_model(prior)

    def trainer_plan(self) -> Dict[str, Tuple[Any, Any]]:
        """Reconstruction (encoder and decoder, the decoder's settings), discriminator, generator
        (the encoder, its settings)."""
        reconstruction = dict(self.encoder.collect_params())
        reconstruction.update(self.decoder.collect_params())
        return {"reconstruction": (reconstruction, self.decoder),
                "discriminator": (self.discriminative_model, self.discriminative_model),
                "generator": (self.encoder, self.encoder)}

    # ------------------------------------------------------------------ phases
    def _reconstruction(self, x: mx.nd.NDArray, target: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.reconstruction_loss(self.decoder(self.encoder(x)).reshape(target.shape), target)

    def _discriminator_phase(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        # The codes are data of this phase: made in training mode without recording, so no
        # gradient reaches the encoder.
        with autograd.pause(train_mode=True):
            codes = self.encoder(x)
        return self._discriminator_objective(draw_rows(self.prior, x.shape[0], x.context), codes)

    def _generator_objective(self, codes: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.generator_loss(self.discriminative_model(codes))

    def _generator_phase(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        return self._generator_objective(self.encoder(x))

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """The reconstruction, discriminator and generator phases on the batch; returns their
        summed losses (``"loss"`` is the reconstruction's)."""
        # A denoising iterator yields the clean batch as y: reconstruct that.
        target = y if y is not None and y.shape == x.shape else x
        reconstruction = self.phase_step("reconstruction", self._reconstruction, x, target, clip_norm=clip_norm)
        discriminator = self.phase_step("discriminator", self._discriminator_phase, x, clip_norm=clip_norm)
        generator = self.phase_step("generator", self._generator_phase, x, clip_norm=clip_norm)
        self._step_count += 1
        return {"loss": reconstruction, "reconstruction_loss": reconstruction,
                "discriminator_loss": discriminator, "generator_loss": generator}

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed reconstruction error of a held-out batch."""
        x = x.as_in_context(self.ctx[0])
        target = y.as_in_context(self.ctx[0]) if y is not None and y.shape == x.shape else x
        return {"loss": self._reconstruction(x, target).sum()}

    # ------------------------------------------------------------------ inference
    def hybrid_forward(self, F, x):
        return F.reshape_like(self.decoder(self.encoder(x)), x)

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """Reconstructions of ``x``: the decoder applied to the encoder's codes, in ``x``'s shape."""
        return F.reshape_like(self.decoder(self.encoder(x)), x)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes of ``observed_arr`` ``(N, code_dim)``."""
        return self._batched(self.encoder, observed_arr, batch_size)

    def generate(self, n: int, batch_size: int = 1024) -> np.ndarray:
        """``n`` samples: the decoder applied to draws of the prior, numpy."""
        return self._numpy_rows(lambda m: self.decoder(draw_rows(self.prior, m, self.ctx[0])), n, batch_size)


@register_model("ebaae", example=lambda rng: _example_aae(rng, energy_based=True),
                user_parts=lambda rng: _plain_aae(rng, energy_based=True))
class EBAAEController(AAEController):
    """Energy-based adversarial auto-encoder: an `AAEController` whose code discriminator is an
    energy (`EBDiscriminativeModel`, an auto-encoder on codes) trained with the EBGAN margin loss
    (prior draws: low energy; the encoder's codes: energy at least ``margin``), while the encoder
    lowers the energy of its codes plus ``pull_away_weight`` times the pull-away term of the
    discriminator's codes of them (Zhao, Mathieu & LeCun 2017, applied to the AAE's code game).

    Args:
        encoder, decoder, prior, ctx, seed, initializer, optimizer, learning_rate, optimizer_params:
            see `AAEController`.
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
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.margin = float(margin)
        self.pull_away_weight = float(pull_away_weight)
        super().__init__(encoder, decoder, discriminative_model, prior, ctx=ctx, seed=seed, initializer=initializer,
                         optimizer=optimizer, learning_rate=learning_rate, optimizer_params=optimizer_params)

    def _make_losses(self) -> None:
        self.discriminator_loss = EBGANDiscriminatorLoss(self.margin)
        self.generator_loss = EBGANGeneratorLoss(self.pull_away_weight)

    @staticmethod
    def _code_discriminator(code_dim: int, hidden_dims: Sequence[int], learning_rate: float, ctx: CtxLike,
                            seed: Optional[int]) -> Any:
        ae = AutoEncoder(code_dim, [int(h) for h in hidden_dims], activation="relu", output_activation="identity",
                         ctx=ctx, seed=seed_for(seed, "discriminator"))
        return EBDiscriminativeModel(ae, ctx=ctx, seed=seed_for(seed, "discriminator"), learning_rate=learning_rate)

    def _generator_objective(self, codes: mx.nd.NDArray) -> mx.nd.NDArray:
        energy, d_codes = self.discriminative_model.energy_and_codes(mx.nd, codes)
        return self.generator_loss(energy, d_codes) if codes.shape[0] > 1 else energy
