"""The players of adversarial training: generator, discriminator, energy-based discriminator.

Each player wraps a network - a model of the zoo (`NeuralNetworks`, `AutoEncoder`, ...) or any
plain Gluon ``HybridBlock`` - and gives it the interface the controllers of
`accelbrainbase.controllers.gan` use:

- `GenerativeModel`: ``G(z)``, noise in, samples out; draws its noise from a `SamplableData`.
- `DiscriminativeModel`: ``D(x)``, the *logit* of "x is real" (``sigmoid`` of it is the probability);
  ``features(x)`` gives an intermediate layer for feature matching.
- `EBDiscriminativeModel`: an energy ``D(x)`` = the squared reconstruction error of an auto-encoder
  (low on real data), with ``codes(x)`` for the pull-away term (Zhao, Mathieu & LeCun 2017).

All three are `ObservableModel` s: hybridizable, savable, and each learns on its own too (the
generator as a decoder from given inputs to targets, the discriminators as a real/fake classifier
and an auto-encoder energy), so they are registered models.

**Optimizer settings - one rule.** A controller trains each player with a ``gluon.Trainer`` of the
*player's* settings (``optimizer``, ``learning_rate``, ``optimizer_params``); the settings of the
network a player wraps are not used (a `NeuralNetworks` inside a `GenerativeModel` trains with the
`GenerativeModel` 's settings). Every player and controller defaults to the settings of the
``for_vectors`` constructors: Adam, learning rate 1e-3, ``beta1 = 0.5`` (Radford, Metz & Chintala
2016), so a hand-built player learns as well as a ``for_vectors`` one.

**Plain blocks.** A wrapped network needs no declared shapes: Dense layers without ``in_units``
get them from the first batch (`ObservableModel.build`). A generator's input shape is its noise
sampler's per-sample shape (plus ``condition_dim``); a discriminator that wraps a plain block
learns its input shape from the data (its ``input_shape`` is ``None`` until then).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from ..checks import check_unit_range
from ..context import CtxLike, derive_seed, seed_mxnet
from ..data.samplers import DeviceSampler, NormalNoiseSampler, draw_rows
from ..gluon_internals import has_deferred_shape
from ..interfaces import IteratableData, SamplableData
from ..losses import BinaryCrossEntropyLoss, L2NormLoss
from ..registry import not_registered, register_model
from .activations import ACTIVATIONS
from .base import ObservableModel
from .dense import AutoEncoder, NeuralNetworks

__all__ = ["GenerativeModel", "DiscriminativeModel", "EBDiscriminativeModel", "adversarial_optimizer_params",
           "draw_rows"]


def adversarial_optimizer_params(optimizer: str, optimizer_params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The optimizer arguments of the adversarial players and controllers: ``optimizer_params`` as
    given; by default (``None``) Adam's ``beta1 = 0.5``, the short momentum memory of the GAN
    literature (Radford, Metz & Chintala 2016), and nothing for other optimizers.

    Example:
        >>> adversarial_optimizer_params("adam", None), adversarial_optimizer_params("sgd", None)
        ({'beta1': 0.5}, {})
    """
    if optimizer_params is not None:
        return dict(optimizer_params)
    return {"beta1": 0.5} if optimizer.lower() == "adam" else {}


def _check_block(model: Any, name: str) -> gluon.HybridBlock:
    if not isinstance(model, gluon.HybridBlock):
        raise TypeError(f"{name} must be a HybridBlock (a model of the zoo such as NeuralNetworks, or a plain "
                        f"gluon.nn.HybridSequential), got {type(model).__name__}")
    return model


def _zoo_input_shape(model: Any) -> Optional[Tuple[Optional[int], ...]]:
    """The input shape a wrapped model declares (models of the zoo), ``None`` for a plain block."""
    if isinstance(model, ObservableModel) and model.input_shape is not None:
        return tuple(model.input_shape)
    return None


@not_registered("the shared base of the three players; each player is registered")
class _Player(ObservableModel):
    """Shared construction of the players: the wrapped network, the optimizer defaults, seeded
    shape resolution."""

    def _wrap(self, model: Any, name: str) -> None:
        _check_block(model, name)
        with self.name_scope():
            self.model = model

    def prepare(self, data: IteratableData) -> None:
        """`ObservableModel.prepare`; shapes resolved on the first batch are initialized from the
        player's seed (not from whatever the global generator holds by then)."""
        if self.seed is not None and any(has_deferred_shape(p) for p in self.collect_params().values()):
            seed_mxnet(derive_seed(self.seed, "build"), self.ctx)
        super().prepare(data)


def _example_generator(rng: np.random.RandomState):
    z = rng.randn(24, 4).astype(np.float32)
    y = 1 / (1 + np.exp(-z @ rng.randn(4, 6))).astype(np.float32)
    noise = NormalNoiseSampler(8, 4, seed=0)
    return dict(model=NeuralNetworks(4, [8], output_dim=6, seed=0), noise_sampler=noise, learning_rate=0.01), z, y


def _plain_generator(rng: np.random.RandomState):
    kwargs, z, y = _example_generator(rng)
    net = nn.HybridSequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(6))
    return dict(kwargs, model=net), z, y


@register_model("generative_model", example=_example_generator, user_parts=_plain_generator)
class GenerativeModel(_Player):
    """A generator ``G(z)``: any network mapping noise (and optionally conditions) to samples.

    ``G(z) = output_activation(model(z))``; noise comes from ``noise_sampler`` (`SamplableData`).
    For a conditional GAN the controller concatenates the condition to the noise, so ``model`` takes
    ``noise_dim + condition_dim`` inputs.

    On its own it learns as a *decoder*: given inputs ``z`` (codes, noise, features) and targets
    ``y``, it minimises the squared error ``mean((G(z) - y)**2)`` per sample - e.g. to pre-train a
    generator, or to fit the decoder of a known code. Inside a controller it learns by the
    controller's game.

    Args:
        model: the wrapped network: a model of the zoo (e.g. ``NeuralNetworks(16, [128],
            output_dim=64)``) or any ``HybridBlock`` (e.g. a ``gluon.nn.HybridSequential`` of Dense
            layers without ``in_units``: shapes come from the first batch).
        noise_sampler: draws the noise (e.g. ``NormalNoiseSampler(64, 16)``); its per-sample shape
            plus ``condition_dim`` is the generator's input shape. While training, the library's
            samplers draw on the device with MXNet's generator (see `data.samplers.draw_rows`).
        output_activation: applied to the model's output (``sigmoid`` for data in [0, 1],
            ``identity`` for real values), one of `ACTIVATIONS`.
        condition_dim: width of the conditions appended to the noise (0: unconditional).
        ctx, seed, initializer: see `ObservableModel`.
        optimizer, learning_rate, optimizer_params: the generator's optimizer, inside a controller
            too (Adam, 1e-3, ``beta1 = 0.5`` by default, see `adversarial_optimizer_params`); the
            wrapped model's own settings are not used.

    Shapes:
        input ``(N, noise_dim + condition_dim)`` -> samples ``(N, *data_shape)``;
        ``draw(n)`` -> ``n`` samples from fresh noise (NDArray on ``ctx[0]``);
        targets for learning on its own: ``(N, *data_shape)``.

    Example:
        >>> from accelbrainbase.data import NormalNoiseSampler
        >>> g = GenerativeModel(NeuralNetworks(4, [8], output_dim=6, seed=0),
        ...                     NormalNoiseSampler(batch_size=5, dim_or_shape=4, seed=0), seed=0)
        >>> g.draw(5).shape
        (5, 6)
        >>> z = np.random.RandomState(0).randn(64, 4).astype(np.float32)   # as a decoder
        >>> g = g.learn(z, 1 / (1 + np.exp(-z[:, :2].repeat(3, axis=1))), epochs=20, verbose=0)
        >>> bool(g.loss_arr[-1, 0] < g.loss_arr[0, 0])
        True
    """

    def __init__(
        self,
        model: Any,
        noise_sampler: SamplableData,
        *,
        output_activation: str = "sigmoid",
        condition_dim: int = 0,
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
        if not isinstance(noise_sampler, SamplableData):
            raise TypeError(f"noise_sampler must be a SamplableData, got {type(noise_sampler).__name__}")
        if output_activation not in ACTIVATIONS:
            raise ValueError(f"unknown output_activation {output_activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if condition_dim < 0:
            raise ValueError(f"condition_dim must be >= 0, got {condition_dim}")
        self.noise_sampler = noise_sampler
        self.output_activation = output_activation
        self.condition_dim = int(condition_dim)
        self._wrap(model, "model")
        self.input_shape = self._input_shape(model)
        shape = self.input_shape
        first = shape[0] if shape is not None and len(shape) == 1 else None
        self.noise_dim = first - self.condition_dim if first is not None else None
        with self.name_scope():
            self.loss = L2NormLoss()

    def _input_shape(self, model: Any) -> Optional[Tuple[Optional[int], ...]]:
        declared = _zoo_input_shape(model)
        noise = tuple(self.noise_sampler.shape) if isinstance(self.noise_sampler, DeviceSampler) else None
        if noise is None:  # a sampler of the user's: the wrapped model tells, or the first batch
            return declared
        if self.condition_dim and len(noise) != 1:
            raise ValueError(f"conditions are appended to vector noise, but the noise has per-sample shape {noise}")
        from_noise = (noise[0] + self.condition_dim,) if self.condition_dim else noise
        if declared is not None and len(declared) == 1 and len(noise) == 1 and declared[0] is not None \
                and declared != from_noise:
            raise ValueError(f"the model takes {declared[0]} inputs but the noise has {noise[0]} "
                             f"features and the conditions {self.condition_dim}")
        return declared if declared is not None else from_noise

    def hybrid_forward(self, F, z):
        out = self.model(z)
        return out if self.output_activation == "identity" else F.Activation(out, act_type=self.output_activation)

    def noise(self, n: int, ctx: Optional[mx.Context] = None) -> mx.nd.NDArray:
        """``n`` rows of noise from ``noise_sampler`` on ``ctx`` (default ``ctx[0]``)."""
        return draw_rows(self.noise_sampler, n, ctx or self.ctx[0])

    def draw(self, n: int, conditions: Optional[mx.nd.NDArray] = None) -> mx.nd.NDArray:
        """``n`` generated samples (prediction mode) from fresh noise and the given conditions."""
        z = self.noise(n)
        if self.condition_dim:
            if conditions is None or conditions.shape != (n, self.condition_dim):
                raise ValueError(f"a conditional generator needs conditions of shape {(n, self.condition_dim)}, "
                                 f"got {None if conditions is None else conditions.shape}")
            z = mx.nd.concat(z, conditions.as_in_context(z.context), dim=1)
        return self(z)

    def check_data(self, data: IteratableData) -> None:
        """Learning on its own: inputs of the generator's input shape and targets ``y``, in [0, 1]
        for a sigmoid output."""
        super().check_data(data)
        for name, (_, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is None:
                if name == "y":
                    raise ValueError("a GenerativeModel learns on its own as a decoder from inputs x to targets y: "
                                     "the data has no y (inside a GAN/AAE controller it learns by the game)")
            elif self.output_activation == "sigmoid":
                check_unit_range(y, name, "a GenerativeModel with output_activation='sigmoid' (the default)")

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        """Squared error ``mean((G(x) - y)**2)`` per sample: learning as a decoder."""
        if y is None:
            raise ValueError("a GenerativeModel learns on its own from inputs x to targets y: give y")
        return self.loss(self(x).reshape(y.shape), y)


def _example_discriminator(rng: np.random.RandomState):
    real = rng.rand(12, 6) * 0.5 + 0.5
    fake = rng.rand(12, 6) * 0.5
    x = np.concatenate([real, fake]).astype(np.float32)
    y = np.r_[np.ones(12), np.zeros(12)].astype(np.float32)
    return dict(model=NeuralNetworks(6, [8], output_dim=1, seed=0), learning_rate=0.01), x, y


def _plain_discriminator(rng: np.random.RandomState):
    kwargs, x, y = _example_discriminator(rng)
    net = nn.HybridSequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(1))
    return dict(kwargs, model=net), x, y


@register_model("discriminative_model", example=_example_discriminator, user_parts=_plain_discriminator)
class DiscriminativeModel(_Player):
    """A GAN discriminator ``D(x)``: the logit of "x is a real sample" for any wrapped network.

    ``D(x) = model(x)`` flattened to ``(N,)``; ``sigmoid(D(x))`` is the probability of real. On its
    own it learns as a binary classifier (targets 1 = real, 0 = generated) with the binary
    cross-entropy; inside a GAN the controller trains it with `DiscriminatorLoss`.

    ``features(x)`` - an intermediate layer, for feature matching - is the wrapped model's ``hidden``
    part when it has one (`NeuralNetworks`), else its ``encoder``, else, for a
    ``HybridSequential``, the output of all its layers but the last.

    Args:
        model: the wrapped network with one output per sample: a model of the zoo (e.g.
            ``NeuralNetworks(64, [128], output_dim=1)``) or any ``HybridBlock`` (shapes may be left
            to the first batch); for a conditional GAN its input is the sample and the condition
            side by side.
        ctx, seed, initializer: see `ObservableModel`.
        optimizer, learning_rate, optimizer_params: the discriminator's optimizer, inside a
            controller too (Adam, 1e-3, ``beta1 = 0.5`` by default); the wrapped model's own
            settings are not used.

    Shapes:
        input ``(N, *input_shape)`` -> logits ``(N,)``; ``inference(x)`` -> probabilities ``(N,)``.

    Example:
        >>> d = DiscriminativeModel(NeuralNetworks(6, [8], output_dim=1, seed=0), seed=0)
        >>> d(mx.nd.zeros((3, 6))).shape
        (3,)
    """

    def __init__(
        self,
        model: Any,
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
        self._wrap(model, "model")
        self.input_shape = _zoo_input_shape(model)
        with self.name_scope():
            self.loss = BinaryCrossEntropyLoss()

    def hybrid_forward(self, F, x):
        return F.reshape(self.model(x), (-1,))

    def features(self, x: Any) -> Any:
        """The wrapped model's intermediate representation of ``x`` (autograd-recordable)."""
        for name in ("hidden", "encoder"):
            part = getattr(self.model, name, None)
            if isinstance(part, gluon.Block):
                return part(x)
        if isinstance(self.model, nn.HybridSequential) and len(self.model) > 1:
            for i in range(len(self.model) - 1):
                x = self.model[i](x)
            return x
        raise ValueError(f"feature matching needs an intermediate layer: {type(self.model).__name__} has "
                         "neither a 'hidden' nor an 'encoder' part and is not a HybridSequential of several layers")

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            raise ValueError("DiscriminativeModel needs targets 1 (real) / 0 (generated): give y to the iterator")
        return self.loss(self(x), y.reshape((-1,)))

    def check_data(self, data: IteratableData) -> None:
        """Inputs of the discriminator's shape and targets in [0, 1] (1 = real)."""
        super().check_data(data)
        for name, (_, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is None:
                if name == "y":
                    raise ValueError("DiscriminativeModel needs targets 1 (real) / 0 (generated): the data has no y")
            elif y.min() < 0 or y.max() > 1:
                raise ValueError(f"{name} must hold targets in [0, 1] (1 = real), got "
                                 f"min {y.min():g}, max {y.max():g}")

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """The probability that ``x`` is real: the sigmoid of the logit."""
        return F.sigmoid(self(x))


def _example_eb_discriminator(rng: np.random.RandomState):
    x = rng.rand(24, 6).astype(np.float32)
    ae = AutoEncoder(6, [4], seed=0)
    return dict(auto_encoder=ae, learning_rate=0.02), x, None




def _plain_eb_discriminator(rng: np.random.RandomState):
    kwargs, x, y = _example_eb_discriminator(rng)
    encoder, decoder, auto_encoder = nn.HybridSequential(), nn.HybridSequential(), nn.HybridSequential()
    encoder.add(nn.Dense(8, activation="relu"), nn.Dense(4, activation="relu"))
    decoder.add(nn.Dense(8, activation="relu"), nn.Dense(6))
    auto_encoder.add(encoder, decoder)
    return dict(kwargs, auto_encoder=auto_encoder), x, y


@register_model("eb_discriminative_model", example=_example_eb_discriminator, user_parts=_plain_eb_discriminator)
class EBDiscriminativeModel(_Player):
    """An energy-based discriminator: ``D(x) = mean((Dec(Enc(x)) - x)**2)``, an auto-encoder's
    per-sample reconstruction error (Zhao, Mathieu & LeCun 2017, EBGAN).

    Low energy means "looks like the data". On its own it learns as the auto-encoder (minimising the
    energy of the data); in an EBGAN the controller adds the margin term that raises the energy of
    generated samples (`EBGANDiscriminatorLoss`).

    Args:
        auto_encoder: any model with ``encoder`` and ``decoder`` parts (e.g. `AutoEncoder`, a
            convolutional auto-encoder), or a plain ``gluon.nn.HybridSequential`` of two blocks,
            the encoder then the decoder.
        ctx, seed, initializer: see `ObservableModel`.
        optimizer, learning_rate, optimizer_params: the discriminator's optimizer, inside a
            controller too (Adam, 1e-3, ``beta1 = 0.5`` by default); the wrapped auto-encoder's own
            settings are not used.

    Shapes:
        input ``(N, *input_shape)`` -> energies ``(N,)``; ``codes(x)`` -> the encoder's codes;
        ``reconstruct(x)`` -> ``(N, *input_shape)``.

    Example:
        >>> d = EBDiscriminativeModel(AutoEncoder(6, [4], seed=0), seed=0)
        >>> d(mx.nd.zeros((3, 6))).shape
        (3,)
    """

    def __init__(
        self,
        auto_encoder: Any,
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
        pair = isinstance(auto_encoder, nn.HybridSequential) and len(auto_encoder) == 2
        if not pair:
            for part in ("encoder", "decoder"):
                if not isinstance(getattr(auto_encoder, part, None), gluon.Block):
                    raise TypeError(f"auto_encoder must have an '{part}' part (an AutoEncoder, ...) or be a "
                                    f"HybridSequential of an encoder and a decoder, got {type(auto_encoder).__name__}")
        self._wrap(auto_encoder, "auto_encoder")
        self._pair = pair
        self.input_shape = _zoo_input_shape(auto_encoder)

    @property
    def encoder(self) -> gluon.Block:
        """The wrapped auto-encoder's encoder."""
        return self.model[0] if self._pair else self.model.encoder

    @property
    def decoder(self) -> gluon.Block:
        """The wrapped auto-encoder's decoder."""
        return self.model[1] if self._pair else self.model.decoder

    def hybrid_forward(self, F, x):
        return self.energy_and_codes(F, x)[0]

    def energy_and_codes(self, F: Any, x: Any) -> Tuple[Any, Any]:
        """Energies ``(N,)`` and codes of ``x`` from one encoder pass (``F``: ``mx.nd`` or a symbol API)."""
        codes = self.encoder(x)
        recon = F.reshape_like(self.decoder(codes), x)
        return F.mean(F.square(recon - x), axis=0, exclude=True), codes

    def codes(self, x: Any) -> Any:
        """The encoder's codes of ``x`` (autograd-recordable)."""
        return self.encoder(x)

    def reconstruct(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Reconstructions of ``observed_arr`` (numpy in, numpy out)."""
        return self._batched(lambda x: self.decoder(self.encoder(x)).reshape(x.shape), observed_arr, batch_size)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes of ``observed_arr``."""
        return self._batched(self.encoder, observed_arr, batch_size)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        return self(x)
