"""The players of adversarial training: generator, discriminator, energy-based discriminator (SPEC §6.4).

Each player wraps any model of the zoo (an `ObservableData` / `HybridBlock`, e.g. `NeuralNetworks`,
`AutoEncoder`) and gives it the interface the controllers of `accelbrainbase.controllers.gan` use:

- `GenerativeModel`: ``G(z)``, noise in, samples out; draws its noise from a `SamplableData`.
- `DiscriminativeModel`: ``D(x)``, the *logit* of "x is real" (``sigmoid`` of it is the probability);
  ``features(x)`` gives an intermediate layer for feature matching.
- `EBDiscriminativeModel`: an energy ``D(x)`` = the squared reconstruction error of an auto-encoder
  (low on real data), with ``codes(x)`` for the pull-away term (Zhao, Mathieu & LeCun 2017).

All three are `ObservableModel` s: hybridizable, savable, with their own optimizer settings (the
controller trains each player with its own `gluon.Trainer`). The two discriminators also learn on
their own (a real/fake classifier, an auto-encoder energy), so they are registered models.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..context import CtxLike
from ..interfaces import IteratableData, SamplableData
from ..losses import BinaryCrossEntropyLoss
from ..registry import register_model
from .base import ObservableModel, encode_config
from .dense import ACTIVATIONS, AutoEncoder, NeuralNetworks

__all__ = ["GenerativeModel", "DiscriminativeModel", "EBDiscriminativeModel", "move_to_ctx", "draw_rows"]


def move_to_ctx(block: gluon.Block, ctx_list: Sequence[mx.Context]) -> None:
    """Put every parameter of ``block`` on ``ctx_list`` and tell every model inside (anything with a
    ``ctx`` list attribute) where it now lives. A no-op when they are there already."""
    ctx_list = list(ctx_list)
    params = block.collect_params()
    if any(p._data is not None and set(p.list_ctx()) != set(ctx_list) for p in params.values()):
        params.reset_ctx(ctx_list)

    def visit(b: gluon.Block) -> None:
        if isinstance(getattr(b, "ctx", None), list):
            b.ctx = ctx_list
        for child in b._children.values():
            visit(child)

    visit(block)


def draw_rows(sampler: SamplableData, n: int, ctx: mx.Context) -> mx.nd.NDArray:
    """``n`` rows drawn from ``sampler`` (as many draws as needed, the surplus dropped) on ``ctx``.

    A sampler that can draw on a device itself (``draw_rows(n, ctx)``, as `NormalNoiseSampler` and
    `UniformNoiseSampler` do with MXNet's generator, seeded by the model's seed) does so, without a
    host-to-device copy that would synchronise with the engine at every mini-batch (SPEC §7). Any
    other sampler is asked to ``draw()``.
    """
    if hasattr(sampler, "draw_rows"):
        return sampler.draw_rows(n, ctx)
    parts, have = [], 0
    while have < n:
        part = sampler.draw()
        if part.shape[0] == 0:
            raise ValueError(f"{type(sampler).__name__}.draw() returned an empty batch")
        parts.append(part)
        have += part.shape[0]
    rows = parts[0] if len(parts) == 1 else mx.nd.concat(*parts, dim=0)
    return rows[:n].as_in_context(ctx)


def _check_block(model: Any, name: str) -> gluon.HybridBlock:
    if not isinstance(model, gluon.HybridBlock):
        raise TypeError(f"{name} must be a HybridBlock (an ObservableData of the zoo such as NeuralNetworks), "
                        f"got {type(model).__name__}")
    return model


def _inner_input_shape(model: Any, fallback: Optional[int]) -> Tuple[Optional[int], ...]:
    shape = getattr(model, "input_shape", None)
    if shape:
        return tuple(shape)
    if fallback is None:
        raise ValueError(f"cannot tell the input shape of a {type(model).__name__}: give input_dim")
    return (int(fallback),)


class _Player(ObservableModel):
    """Shared construction of the players: the wrapped model lives on the player's contexts."""

    def get_config(self) -> Dict[str, Any]:
        """Hyper-parameters, the wrapped model and sampler as their class path and config (JSON-able,
        comparable, what `save` stores)."""
        return encode_config(super().get_config())

    def _wrap(self, model: Any, name: str) -> None:
        _check_block(model, name)
        with self.name_scope():
            self.model = model
        move_to_ctx(self.model, self.ctx)

    def _finish_init(self) -> None:
        # The wrapped model arrives initialized (ObservableModels initialize themselves); only what
        # is still bare gets the initializer.
        from ..context import seed_everything

        seed_everything(self.seed, self.ctx)
        bare = {k: p for k, p in self.collect_params().items() if p._data is None}
        for p in bare.values():
            p.initialize(None, ctx=self.ctx, default_init=self.initializer)


class GenerativeModel(_Player):
    """A generator ``G(z)``: any model mapping noise (and optionally conditions) to samples.

    ``G(z) = output_activation(model(z))``; noise comes from ``noise_sampler`` (`SamplableData`).
    For a conditional GAN the controller concatenates the condition to the noise, so ``model`` takes
    ``noise_dim + condition_dim`` inputs.

    Args:
        model: the wrapped network (e.g. ``NeuralNetworks(16, [128], output_dim=64)``).
        noise_sampler: draws the noise batches (e.g. ``NormalNoiseSampler(64, 16)``); its
            per-sample shape plus ``condition_dim`` must be the model's input shape. The library's
            normal and uniform samplers are drawn on the device by MXNet's generator, seeded by the
            model's (or controller's) ``seed`` - see `draw_rows`.
        output_activation: applied to the model's output (``sigmoid`` for data in [0, 1],
            ``identity`` for real values), one of `ACTIVATIONS`.
        condition_dim: width of the conditions appended to the noise (0: unconditional).
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`
            (the generator's own optimizer; the GAN default is Adam with ``beta1=0.5``).

    Shapes:
        input ``(N, noise_dim + condition_dim)`` -> samples ``(N, *data_shape)``;
        ``draw(n)`` -> ``n`` samples from fresh noise (NDArray on ``ctx[0]``).

    Example:
        >>> from accelbrainbase.data import NormalNoiseSampler
        >>> g = GenerativeModel(NeuralNetworks(4, [8], output_dim=6, seed=0),
        ...                     NormalNoiseSampler(batch_size=5, dim_or_shape=4, seed=0), seed=0)
        >>> g.draw(5).shape
        (5, 6)
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
        learning_rate: float = 2e-4,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
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
        noise_shape = tuple(getattr(noise_sampler, "shape", ()) or ())
        self.input_shape = _inner_input_shape(model, None)
        if noise_shape and len(noise_shape) == 1 and self.input_shape[0] is not None:
            if noise_shape[0] + self.condition_dim != self.input_shape[0]:
                raise ValueError(f"the model takes {self.input_shape[0]} inputs but the noise has {noise_shape[0]} "
                                 f"features and the conditions {self.condition_dim}")
        self.noise_dim = (self.input_shape[0] - self.condition_dim) if self.input_shape[0] is not None else None
        self._finish_init()

    def hybrid_forward(self, F, z):  # noqa: D102
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

    def compute_loss(self, x: Any, y: Any) -> Any:
        raise NotImplementedError("a GenerativeModel learns inside a GAN/AAE controller "
                                  "(accelbrainbase.controllers), not on its own")


def _example_discriminator(rng: np.random.RandomState):
    real = rng.rand(12, 6) * 0.5 + 0.5
    fake = rng.rand(12, 6) * 0.5
    x = np.concatenate([real, fake]).astype(np.float32)
    y = np.r_[np.ones(12), np.zeros(12)].astype(np.float32)
    return dict(model=NeuralNetworks(6, [8], output_dim=1, seed=0), learning_rate=0.01), x, y


@register_model("discriminative_model", example=_example_discriminator)
class DiscriminativeModel(_Player):
    """A GAN discriminator ``D(x)``: the logit of "x is a real sample" for any wrapped model.

    ``D(x) = model(x)`` flattened to ``(N,)``; ``sigmoid(D(x))`` is the probability of real. On its
    own it learns as a binary classifier (targets 1 = real, 0 = generated) with the binary
    cross-entropy; inside a GAN the controller trains it with `DiscriminatorLoss`.

    ``features(x)`` - an intermediate layer, for feature matching - is the wrapped model's ``hidden``
    part when it has one (`NeuralNetworks`), else its ``encoder``.

    Args:
        model: the wrapped network with one output per sample (e.g. ``NeuralNetworks(64, [128],
            output_dim=1)``); for a conditional GAN its input is the sample and the condition side
            by side.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

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
        learning_rate: float = 2e-4,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        self._wrap(model, "model")
        self.input_shape = _inner_input_shape(model, None)
        with self.name_scope():
            self.loss = BinaryCrossEntropyLoss()
        self._finish_init()

    def hybrid_forward(self, F, x):  # noqa: D102
        return F.reshape(self.model(x), (-1,))

    def features(self, x: Any) -> Any:
        """The wrapped model's intermediate representation of ``x`` (autograd-recordable)."""
        for name in ("hidden", "encoder"):
            part = getattr(self.model, name, None)
            if part is not None:
                return part(x)
        raise ValueError(f"feature matching needs an intermediate layer: {type(self.model).__name__} has "
                         "neither a 'hidden' nor an 'encoder' part")

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            raise ValueError("DiscriminativeModel needs targets 1 (real) / 0 (generated): give y to the iterator")
        return self.loss(self(x), y.reshape((-1,)))

    def check_data(self, iteratable_data: IteratableData) -> None:
        super().check_data(iteratable_data)
        for name in ("y", "test_y"):
            y = getattr(iteratable_data, name, None)
            if y is not None:
                values = y.asnumpy()
                if values.min() < 0 or values.max() > 1:
                    raise ValueError(f"{name} must hold targets in [0, 1] (1 = real), got "
                                     f"min {values.min():g}, max {values.max():g}")

    def _predict(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        return mx.nd.sigmoid(self(x))


def _example_eb_discriminator(rng: np.random.RandomState):
    x = rng.rand(24, 6).astype(np.float32)
    ae = AutoEncoder(6, [4], seed=0)
    return dict(auto_encoder=ae, learning_rate=0.02), x, None


@register_model("eb_discriminative_model", example=_example_eb_discriminator)
class EBDiscriminativeModel(_Player):
    """An energy-based discriminator: ``D(x) = mean((Dec(Enc(x)) - x)**2)``, an auto-encoder's
    per-sample reconstruction error (Zhao, Mathieu & LeCun 2017, EBGAN).

    Low energy means "looks like the data". On its own it learns as the auto-encoder (minimising the
    energy of the data); in an EBGAN the controller adds the margin term that raises the energy of
    generated samples (`EBGANDiscriminatorLoss`).

    Args:
        auto_encoder: any model with ``encoder`` and ``decoder`` parts (e.g. `AutoEncoder`, a
            convolutional auto-encoder).
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

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
        learning_rate: float = 2e-4,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        for part in ("encoder", "decoder"):
            if not isinstance(getattr(auto_encoder, part, None), gluon.Block):
                raise TypeError(f"auto_encoder must have '{part}' part (an AutoEncoder, ...), "
                                f"got {type(auto_encoder).__name__}")
        self._wrap(auto_encoder, "auto_encoder")
        self.input_shape = _inner_input_shape(auto_encoder, None)
        self._finish_init()

    def hybrid_forward(self, F, x):  # noqa: D102
        return self.energy_and_codes(F, x)[0]

    def energy_and_codes(self, F: Any, x: Any) -> Tuple[Any, Any]:
        """Energies ``(N,)`` and codes of ``x`` from one encoder pass (``F``: ``mx.nd`` or a symbol API)."""
        codes = self.model.encoder(x)
        recon = F.reshape_like(self.model.decoder(codes), x)
        return F.mean(F.square(recon - x), axis=0, exclude=True), codes

    def codes(self, x: Any) -> Any:
        """The encoder's codes of ``x`` (autograd-recordable)."""
        return self.model.encoder(x)

    def reconstruct(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Reconstructions of ``observed_arr`` (numpy in, numpy out)."""
        return self._batched(lambda x: self.model.decoder(self.model.encoder(x)).reshape(x.shape),
                             observed_arr, batch_size)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes of ``observed_arr``."""
        return self._batched(self.model.encoder, observed_arr, batch_size)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        return self(x)
