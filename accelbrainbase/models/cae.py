"""Convolutional auto-encoders: plain or tied, denoising, contractive and repelling.

The encoder is a stack of stride-2 convolutions (each halves the image), the decoder the mirrored
stack of transposed convolutions. With an even kernel size ``k`` and padding ``k/2 - 1`` a layer
maps ``H`` to exactly ``H/2`` and its transposed convolution maps ``H/2`` back to ``H``, so the
decoder restores the input size without output padding and the transposed convolution is the exact
adjoint (transpose) of the convolution - which is what tied weights and the exact encoder Jacobian
rely on. The transposed convolutions run as ordinary convolutions
(`accelbrainbase.models.convolution.transposed_convolution`): MXNet 1.9.1's oneDNN ``Deconvolution``
fails for channel counts that depend on the CPU.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..context import CtxLike
from ..interfaces import IteratableData, NoiseableData
from ..losses import L2NormLoss, pull_away_term
from ..checks import check_unit_range
from ..registry import not_registered, register_model
from .base import ObservableModel
from .convolution import transposed_convolution
from .activations import activate as _activate
from .activations import check_activation as _check_activation

__all__ = ["ConvolutionalAutoEncoder", "ContractiveCAE", "RepellingCAE", "ConvEncoder", "ConvDecoder",
           "EncoderJacobian"]


def _activation_derivative(F: Any, pre: Any, out: Any, name: str) -> Any:
    """d act(pre) / d pre, element-wise, from the pre-activation and the activation."""
    if name == "identity":
        return F.ones_like(pre)
    if name == "relu":
        return pre > 0
    if name == "sigmoid":
        return out * (1 - out)
    if name == "tanh":
        return 1 - F.square(out)
    if name == "softrelu":
        return F.Activation(pre, act_type="sigmoid")
    if name == "softsign":
        return 1 / F.square(1 + F.abs(pre))
    raise ValueError(f"no derivative for activation {name!r}")


class _ConvLayers(gluon.HybridBlock):
    """What the encoder and its Jacobian share: layer sizes and the convolution arguments."""

    def __init__(self, channels: Sequence[int], kernel_size: int, activation: str, code_activation: str) -> None:
        super().__init__()
        self.channels = [int(c) for c in channels]  # [in_channels, c_1, ..., c_L]
        self.kernel_size, self.activation, self.code_activation = kernel_size, activation, code_activation
        self.conv_args = dict(kernel=(kernel_size, kernel_size), stride=(2, 2),
                              pad=(kernel_size // 2 - 1,) * 2)

    def _act_name(self, i: int) -> str:
        return self.code_activation if i == len(self.channels) - 2 else self.activation

    def _share(self, encoder: "ConvEncoder") -> None:
        for i in range(len(self.channels) - 1):
            for kind in ("weight", "bias"):
                shared = getattr(encoder, f"l{i}_{kind}")
                setattr(self, f"l{i}_{kind}", shared)
                # Listing it in this block's own parameters lets it hybridize on its own.
                self.params.update({shared.name: shared})


@not_registered("a building block of the convolutional auto-encoders (no training loop of its own)")
class ConvEncoder(_ConvLayers):
    """Stride-2 convolutions ``channels[0] -> ... -> channels[-1]``, each halving the image.

    Hidden layers use ``activation``, the last one (the code) ``code_activation``.

    Shapes: ``(N, channels[0], H, W)`` -> ``(N, channels[-1], H / 2**L, W / 2**L)``.
    """

    def __init__(self, channels: Sequence[int], kernel_size: int = 4, activation: str = "relu",
                 code_activation: str = "identity") -> None:
        super().__init__(channels, kernel_size, activation, code_activation)
        k = kernel_size
        for i, (n_in, n_out) in enumerate(zip(self.channels[:-1], self.channels[1:])):
            setattr(self, f"l{i}_weight", self.params.get(f"l{i}_weight", shape=(n_out, n_in, k, k)))
            setattr(self, f"l{i}_bias", self.params.get(f"l{i}_bias", shape=(n_out,), init=mx.init.Zero()))

    def hybrid_forward(self, F, x, **p):  # noqa: D102
        h = x
        for i, n_out in enumerate(self.channels[1:]):
            h = F.Convolution(h, p[f"l{i}_weight"], p[f"l{i}_bias"], num_filter=n_out, **self.conv_args)
            h = _activate(F, h, self._act_name(i))
        return h


@not_registered("a building block of the convolutional auto-encoders (no training loop of its own)")
class EncoderJacobian(_ConvLayers):
    """The code of a `ConvEncoder` and the exact squared Frobenius norm of its Jacobian.

    ``||J(x)||_F^2 = sum_i ||d code / d x_i||^2`` (Rifai et al. 2011), computed in forward mode
    without double back-propagation: the encoder is ``code = a_L(W_L a_{L-1}(... a_1(W_1 x)))``
    with linear convolutions ``W_l`` and element-wise activations ``a_l``, so

        J = D_L W_L ... D_2 W_2 D_1 W_1,   D_l = diag(a_l'(pre-activation l)).

    All input directions are pushed through at once: the one-hot basis images ``e_i`` (``D = C*H*W``
    of them) go through the encoder's own convolutions without bias (``W_1 e_i`` is the same for
    every sample) and are scaled by each sample's activation derivatives ``D_l``. Every step is an
    ordinary convolution or product, so the penalty is differentiable with first-order autograd and
    hybridizes; its cost is about ``D`` forward passes of the layers after the first. (Reverse mode,
    ``code size`` passes back through the transposed layers, would be cheaper for codes smaller than
    the input; it is not implemented.)

    Shares the encoder's parameters (no copies). Shapes: ``(N, C, H, W)`` ->
    ``(code (N, C_L, h, w), squared norm (N,))``.
    """

    def __init__(self, encoder: ConvEncoder) -> None:
        super().__init__(encoder.channels, encoder.kernel_size, encoder.activation, encoder.code_activation)
        self._share(encoder)

    def hybrid_forward(self, F, x, **p):  # noqa: D102
        h, derivatives = x, []
        for i, n_out in enumerate(self.channels[1:]):
            pre = F.Convolution(h, p[f"l{i}_weight"], p[f"l{i}_bias"], num_filter=n_out, **self.conv_args)
            h = _activate(F, pre, self._act_name(i))
            derivatives.append(_activation_derivative(F, pre, h, self._act_name(i)))
        flat = F.flatten(x)                                                   # (N, D)
        units = F.contrib.arange_like(flat, axis=1)                           # (D,)
        eye = F.broadcast_equal(F.reshape(units, shape=(-1, 1)), F.reshape(units, shape=(1, -1)))
        tangents = F.reshape_like(eye, x, lhs_begin=1, lhs_end=None, rhs_begin=1, rhs_end=None)  # (D, C, H, W)
        n_by_d = F.zeros_like(flat)                                           # (N, D): the leading axes
        for i, n_out in enumerate(self.channels[1:]):
            tangents = F.Convolution(tangents, p[f"l{i}_weight"], num_filter=n_out, no_bias=True, **self.conv_args)
            if i == 0:  # (D, ...) -> (N, D, ...): the first product is the same for every sample
                tangents = F.broadcast_mul(F.expand_dims(tangents, axis=0), F.expand_dims(derivatives[0], axis=1))
            else:       # (N * D, ...) -> (N, D, ...)
                tangents = F.reshape_like(tangents, n_by_d, lhs_begin=0, lhs_end=1, rhs_begin=0, rhs_end=2)
                tangents = F.broadcast_mul(tangents, F.expand_dims(derivatives[i], axis=1))
            if i < len(self.channels) - 2:
                tangents = F.reshape(tangents, shape=(-3, -2))                # (N * D, C_l, h_l, w_l)
        return h, F.sum(F.square(tangents), axis=(1, 2, 3, 4))


@not_registered("a building block of the convolutional auto-encoders (no training loop of its own)")
class ConvDecoder(gluon.HybridBlock):
    """Stride-2 transposed convolutions mirroring a `ConvEncoder`: ``channels[-1] -> ... -> channels[0]``.

    With ``tied_to`` (a `ConvEncoder`) the decoder has no kernels of its own: layer ``i`` is the
    transposed convolution with the encoder's kernel ``i`` - the same `Parameter`, so one gradient
    updates both (the convolutional analogue of ``W^T`` in a tied dense auto-encoder).

    Shapes: ``(N, channels[-1], h, w)`` -> ``(N, channels[0], h * 2**L, w * 2**L)``.
    """

    def __init__(self, channels: Sequence[int], kernel_size: int = 4, activation: str = "relu",
                 output_activation: str = "sigmoid", tied_to: Optional[ConvEncoder] = None) -> None:
        super().__init__()
        self.channels = [int(c) for c in channels]
        self.activation, self.output_activation = activation, output_activation
        self.conv_args = dict(kernel=kernel_size, stride=2, pad=kernel_size // 2 - 1)
        self.tied = tied_to is not None
        k = kernel_size
        for i, (n_out, n_in) in enumerate(zip(self.channels[:-1], self.channels[1:])):
            if self.tied:
                shared = getattr(tied_to, f"l{i}_weight")
                setattr(self, f"tied{i}_weight", shared)
                self.params.update({shared.name: shared})
            else:
                # Transposed-convolution kernels are (input channels, output channels, k, k): the
                # layout of the encoder's kernel for the same pair of layers.
                setattr(self, f"l{i}_weight", self.params.get(f"l{i}_weight", shape=(n_in, n_out, k, k)))
            setattr(self, f"l{i}_bias", self.params.get(f"l{i}_bias", shape=(n_out,), init=mx.init.Zero()))

    def hybrid_forward(self, F, h, **p):  # noqa: D102
        for i in reversed(range(len(self.channels) - 1)):
            weight = p[f"tied{i}_weight"] if self.tied else p[f"l{i}_weight"]
            h = transposed_convolution(F, h, weight, p[f"l{i}_bias"], num_filter=self.channels[i], **self.conv_args)
            h = _activate(F, h, self.output_activation if i == 0 else self.activation)
        return h


def _example_cae(rng: np.random.RandomState, **extra: Any):
    x = rng.rand(24, 1, 8, 8).astype(np.float32)
    return dict(in_channels=1, channels=[4, 8], learning_rate=0.01, **extra), x, None


@register_model("conv_autoencoder", example=lambda rng: _example_cae(rng, tied_weights=True))
class ConvolutionalAutoEncoder(ObservableModel):
    """Convolutional auto-encoder: stride-2 convolutions down to a code map, transposed convolutions
    back (Masci et al. 2011, "Stacked convolutional auto-encoders"); trained on the squared
    reconstruction error.

    Options:

    - ``tied_weights``: the decoder's transposed convolutions use the encoder's kernels - shared
      `Parameter` objects, not copies.
    - ``noiseable_data``: corrupt inputs during training and reconstruct the clean ones (denoising
      CAE); an `ArrayIterator` with ``noiseable_data`` does the same from the data side (its ``y`` is
      the clean batch, which becomes the target).

    Every layer halves the image, so ``H`` and ``W`` must be multiples of ``2 ** len(channels)``;
    the code has ``channels[-1] * (H / 2**L) * (W / 2**L)`` values (digits 8x8 with three layers:
    a ``1 x 1`` map of ``channels[-1]`` values).

    Args:
        in_channels: channels of the input images.
        channels: output channels of the encoder layers; the last is the code's.
        kernel_size: even kernel size of every (transposed) convolution (padding ``k/2 - 1``).
        activation: hidden activation of encoder and decoder.
        code_activation: activation of the code layer (``identity``: linear codes).
        output_activation: activation of the reconstruction (``sigmoid`` for data in [0, 1]).
        tied_weights, noiseable_data: see above.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, in_channels, H, W)``; ``inference(x)`` -> reconstruction of the same shape;
        ``extract_feature_points(x)`` -> codes ``(N, channels[-1], H / 2**L, W / 2**L)``;
        ``encoder_jacobian_norm(x)`` -> ``(N,)`` squared Frobenius norms of d code / d x.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = (load_digits().data / 16).reshape(-1, 1, 8, 8)
        >>> cae = ConvolutionalAutoEncoder(in_channels=1, channels=[8, 12], tied_weights=True, seed=0)
        >>> cae = cae.learn(ArrayIterator(x, batch_size=64, epochs=2, seed=0))
        >>> cae.inference(x[:5]).shape, cae.extract_feature_points(x[:5]).shape
        ((5, 1, 8, 8), (5, 12, 2, 2))
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (24, 48, 32),
        *,
        kernel_size: int = 4,
        activation: str = "relu",
        code_activation: str = "identity",
        output_activation: str = "sigmoid",
        tied_weights: bool = False,
        noiseable_data: Optional[NoiseableData] = None,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 3e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        channels = [int(c) for c in channels]
        if not channels or in_channels < 1 or any(c < 1 for c in channels):
            raise ValueError(f"in_channels and channels must be positive, got {in_channels}, {channels}")
        if kernel_size < 2 or kernel_size % 2:
            raise ValueError(f"kernel_size must be even and >= 2 (each layer halves the image), got {kernel_size}")
        for name in (activation, code_activation, output_activation):
            _check_activation(name)
        if noiseable_data is not None and not isinstance(noiseable_data, NoiseableData):
            raise TypeError(f"noiseable_data must be a NoiseableData, got {type(noiseable_data).__name__}")
        self.input_shape = (int(in_channels), None, None)
        self.tied_weights = tied_weights
        self.noiseable_data = noiseable_data
        dims = [int(in_channels)] + channels
        with self.name_scope():
            self.encoder = ConvEncoder(dims, kernel_size, activation, code_activation)
            self.decoder = ConvDecoder(dims, kernel_size, activation, output_activation,
                                       tied_to=self.encoder if tied_weights else None)
            self.jacobian = EncoderJacobian(self.encoder)
            self.loss = L2NormLoss()

    @property
    def downscale(self) -> int:
        """Factor by which the encoder shrinks each side of the image (``2 ** layers``)."""
        return 2 ** (len(self.encoder.channels) - 1)

    def _check_spatial(self, shape: Tuple[int, ...], name: str) -> None:
        h, w = shape[-2:]
        if h % self.downscale or w % self.downscale:
            raise ValueError(f"{name} has images of {h}x{w} pixels but this auto-encoder halves them "
                             f"{len(self.encoder.channels) - 1} times: H and W must be multiples of "
                             f"{self.downscale} (pad or crop the images, or use fewer layers)")

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        self._check_spatial(data.sample_shape, "x")
        if self.decoder.output_activation == "sigmoid":
            # A sigmoid reconstruction lives in (0, 1): targets outside it cannot be learned.
            for name, (x, y) in (("x", data.training_arrays()), ("test x", data.test_arrays())):
                target = y if y is not None and x is not None and y.shape == x.shape else x
                check_unit_range(target, name, f"a {type(self).__name__} with output_activation='sigmoid' (the default)")

    def _as_input(self, observed_arr: Any, name: str = "observed_arr") -> mx.nd.NDArray:
        x = super()._as_input(observed_arr, name)
        self._check_spatial(x.shape, name)
        return x

    def hybrid_forward(self, F, x):  # noqa: D102
        return self.decoder(self.encoder(x))

    def _target_and_input(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        target = y if y is not None and y.shape == x.shape else x
        if self.noiseable_data is not None and autograd.is_training():
            x = self.noiseable_data.noise(x)
        return target, x

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        target, x = self._target_and_input(x, y)
        code = self.encoder(x)
        loss = self.loss(self.decoder(code), target)
        return loss

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes ``(N, channels[-1], H / 2**L, W / 2**L)`` of ``observed_arr``."""
        return self._batched(self.encoder, observed_arr, batch_size)

    def encoder_jacobian_norm(self, observed_arr: Any, batch_size: int = 256) -> Any:
        """Exact squared Frobenius norm ``||d code / d x||_F^2`` per sample, ``(N,)`` (see
        `EncoderJacobian`)."""
        return self._batched(lambda x: self.jacobian(x)[1], observed_arr, batch_size)


@register_model("contractive_cae", example=lambda rng: _example_cae(rng, contractive_weight=0.1))
class ContractiveCAE(ConvolutionalAutoEncoder):
    """Contractive convolutional auto-encoder (Rifai et al. 2011, "Contractive auto-encoders"):
    the reconstruction error plus ``contractive_weight * ||d code / d x||_F^2``, the exact squared
    Frobenius norm of the encoder's Jacobian at each training input (`EncoderJacobian`: forward mode
    through the encoder's convolutions, no approximation). The penalty makes the code insensitive
    to small changes of the input in every direction the reconstruction does not need.

    Args:
        contractive_weight: the weight λ of the Jacobian penalty (``>= 0``).
        the others: see `ConvolutionalAutoEncoder`.

    Shapes: as `ConvolutionalAutoEncoder`.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> images = (load_digits().data[:256] / 16).reshape(-1, 1, 8, 8)
        >>> cae = ContractiveCAE(in_channels=1, contractive_weight=0.1, seed=0)
        >>> cae = cae.learn(ArrayIterator(images, batch_size=64, epochs=2, seed=0))
        >>> cae.encoder_jacobian_norm(images[:4]).shape
        (4,)
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (24, 48, 32), *,
                 contractive_weight: float = 0.1, **kwargs: Any) -> None:
        super().__init__(in_channels, channels, **kwargs)
        if not np.isfinite(contractive_weight) or contractive_weight < 0:
            raise ValueError(f"contractive_weight must be a finite number >= 0, got {contractive_weight!r}")
        self.contractive_weight = float(contractive_weight)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        target, x = self._target_and_input(x, y)
        code, jacobian = self.jacobian(x)
        return self.loss(self.decoder(code), target) + self.contractive_weight * jacobian


@register_model("repelling_cae", example=lambda rng: _example_cae(rng, repelling_weight=0.1))
class RepellingCAE(ConvolutionalAutoEncoder):
    """Repelling convolutional auto-encoder: the reconstruction error plus
    ``repelling_weight * PT(codes)``, the pull-away term of Zhao, Mathieu & LeCun 2016 (EBGAN) -
    the mean squared cosine similarity between the codes of different samples of a batch
    (`accelbrainbase.losses.pull_away_term`). It pushes the codes of a batch towards orthogonal
    directions, spreading them over the code space.

    Args:
        repelling_weight: weight of the pull-away term (``>= 0``).
        the others: see `ConvolutionalAutoEncoder`.

    Shapes: as `ConvolutionalAutoEncoder`.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> images = (load_digits().data[:256] / 16).reshape(-1, 1, 8, 8)
        >>> cae = RepellingCAE(in_channels=1, repelling_weight=0.1, seed=0)
        >>> cae = cae.learn(ArrayIterator(images, batch_size=64, epochs=2, seed=0))
        >>> cae.extract_feature_points(images[:4]).shape
        (4, 32, 1, 1)
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (24, 48, 32), *,
                 repelling_weight: float = 0.1, **kwargs: Any) -> None:
        super().__init__(in_channels, channels, **kwargs)
        if not np.isfinite(repelling_weight) or repelling_weight < 0:
            raise ValueError(f"repelling_weight must be a finite number >= 0, got {repelling_weight!r}")
        self.repelling_weight = float(repelling_weight)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        target, x = self._target_and_input(x, y)
        code = self.encoder(x)
        loss = self.loss(self.decoder(code), target)
        if x.shape[0] < 2:  # the pull-away term compares pairs of samples
            return loss
        return mx.nd.broadcast_add(loss, self.repelling_weight * pull_away_term(mx.nd, code))
