"""Convolutional auto-encoders: plain or tied, denoising, contractive and repelling.

The encoder is a stack of stride-2 convolutions (each halves the image), the decoder the mirrored
stack of transposed convolutions. With an even kernel size ``k`` and padding ``k/2 - 1`` a layer
maps ``H`` to exactly ``H/2`` and its transposed convolution maps ``H/2`` back to ``H``, so the
decoder restores the input size without output padding and the transposed convolution is the exact
adjoint (transpose) of the convolution - which is what tied weights and the exact encoder Jacobian
rely on. The transposed convolutions run as ordinary convolutions
(`accelbrainbase.models.convolution.transposed_convolution`): MXNet 1.9.1's oneDNN ``Deconvolution``
fails for channel counts that depend on the CPU, so any channel counts work.

Images of any size: `ConvolutionalAutoEncoder` pads them at the bottom and the right up to multiples
of ``2**L`` and crops the reconstruction back (see its documentation).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..checks import check_unit_range
from ..context import CtxLike
from ..interfaces import IteratableData, NoiseableData
from ..losses import L2NormLoss, pull_away_term
from ..registry import not_registered, register_model
from .activations import activate as _activate
from .activations import check_activation as _check_activation
from .base import ObservableModel
from .convolution import transposed_convolution

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


# Padding modes of `ConvolutionalAutoEncoder` (``pad_mode``) -> MXNet ``pad`` modes.
_PAD_MODES = {"zero": "constant", "edge": "edge"}


def _size_of(x: Any) -> Optional[Tuple[int, int]]:
    """``(H, W)`` of an NDArray batch; ``None`` for a symbol (a hybridized graph serves every size)."""
    return tuple(x.shape[-2:]) if isinstance(x, mx.nd.NDArray) else None


def _padded_template(F: Any, x: Any, multiple: int) -> Any:
    """An array ``(N, C, ceil(H / m) * m, ceil(W / m) * m)`` (values unused: only its shape
    counts), built in the graph for any ``H, W``: every ``m``-th pixel, tiled ``m`` times."""
    blocks = F.slice(x, begin=(None,) * 4, end=(None,) * 4, step=(1, 1, multiple, multiple))
    return F.tile(blocks, reps=(1, 1, multiple, multiple))


def _pad_images(F: Any, x: Any, multiple: int, mode: str, size: Optional[Tuple[int, int]],
                template: Any = None) -> Any:
    """``x`` ``(N, C, H, W)`` padded at the bottom and the right to the next multiples of
    ``multiple`` (``mode``: ``"zero"`` or ``"edge"``).

    With ``size = (H, W)`` known (NDArrays) the padding is fixed, and absent when ``H`` and ``W``
    already are multiples: the model then computes exactly what it computed without padding. In a
    symbolic graph (``size`` None) the image is padded by ``multiple - 1`` and cropped to the shape
    of ``template`` (`_padded_template` of the images), so one graph serves every size.
    """
    if multiple == 1:
        return x
    if size is not None:
        pad_h, pad_w = (-size[0]) % multiple, (-size[1]) % multiple
        if pad_h == pad_w == 0:
            return x
        return F.pad(x, mode=_PAD_MODES[mode], pad_width=(0, 0, 0, 0, 0, pad_h, 0, pad_w))
    grown = F.pad(x, mode=_PAD_MODES[mode], pad_width=(0, 0, 0, 0, 0, multiple - 1, 0, multiple - 1))
    if template is None:
        template = _padded_template(F, x, multiple)
    return F.slice_like(grown, template, axes=(2, 3))


def _crop_images(F: Any, y: Any, x: Any, size: Optional[Tuple[int, int]]) -> Any:
    """``y`` ``(N, C, H', W')`` cropped to the height and width of ``x`` (top-left part)."""
    if size is None:
        return F.slice_like(y, x, axes=(2, 3))
    if tuple(y.shape[-2:]) == tuple(size):
        return y
    return F.slice(y, begin=(None, None, 0, 0), end=(None, None, size[0], size[1]))


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

    def hybrid_forward(self, F, x, **p):
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

    Two extensions of the encoder are part of the map: padding the image to a multiple of
    ``pad_multiple`` first (`ConvolutionalAutoEncoder` pads any image size up to a multiple of
    ``2**L``; padding is linear, so the basis images are padded like the image and only the ``D``
    pixels of the unpadded image are directions), and a dense ``bottleneck`` layer after the
    convolutions (``code = a(V flatten(h) + c)``: the tangents are multiplied by ``V`` and scaled by
    ``a'``). The tangents hold ``N * D`` copies of every layer's map: on large images (28x28:
    ``D = 784``) keep the batches small.

    Args:
        encoder: the `ConvEncoder`; its parameters are shared (no copies).
        pad_multiple: pad ``H`` and ``W`` up to multiples of it (1: no padding; the encoder then
            needs multiples of ``2**L``).
        pad_mode: ``"zero"`` or ``"edge"`` (see `ConvolutionalAutoEncoder`).
        bottleneck: a ``gluon.nn.Dense`` (no activation of its own, ``flatten=True``) after the
            encoder, its parameters shared; ``bottleneck_activation`` is the code's activation.

    Shapes: ``(N, C, H, W)`` -> ``(code (N, C_L, h, w) or (N, code_dim), squared norm (N,))``.

    Example:
        >>> encoder = ConvEncoder([1, 4, 6])
        >>> jacobian = EncoderJacobian(encoder, pad_multiple=4)
        >>> encoder.initialize()
        >>> code, norm = jacobian(mx.nd.ones((2, 1, 10, 7)))
        >>> code.shape, norm.shape
        ((2, 6, 3, 2), (2,))
    """

    def __init__(self, encoder: ConvEncoder, *, pad_multiple: int = 1, pad_mode: str = "zero",
                 bottleneck: Optional[gluon.nn.Dense] = None, bottleneck_activation: str = "identity") -> None:
        super().__init__(encoder.channels, encoder.kernel_size, encoder.activation, encoder.code_activation)
        self._share(encoder)
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"pad_mode must be one of {sorted(_PAD_MODES)}, got {pad_mode!r}")
        self.pad_multiple, self.pad_mode = int(pad_multiple), pad_mode
        self.code_dim = None if bottleneck is None else int(bottleneck.weight.shape[0])
        self.bottleneck_activation = bottleneck_activation
        if bottleneck is not None:
            for kind, shared in (("weight", bottleneck.weight), ("bias", bottleneck.bias)):
                setattr(self, f"code_{kind}", shared)
                self.params.update({shared.name: shared})

    def hybrid_forward(self, F, x, **p):
        size, template = _size_of(x), None
        if size is None and self.pad_multiple > 1:
            template = _padded_template(F, x, self.pad_multiple)  # once for the image and the basis
        h, derivatives = _pad_images(F, x, self.pad_multiple, self.pad_mode, size, template), []
        for i, n_out in enumerate(self.channels[1:]):
            pre = F.Convolution(h, p[f"l{i}_weight"], p[f"l{i}_bias"], num_filter=n_out, **self.conv_args)
            h = _activate(F, pre, self._act_name(i))
            derivatives.append(_activation_derivative(F, pre, h, self._act_name(i)))
        flat = F.flatten(x)                                                   # (N, D)
        units = F.contrib.arange_like(flat, axis=1)                           # (D,)
        eye = F.broadcast_equal(F.reshape(units, shape=(-1, 1)), F.reshape(units, shape=(1, -1)))
        tangents = F.reshape_like(eye, x, lhs_begin=1, lhs_end=None, rhs_begin=1, rhs_end=None)  # (D, C, H, W)
        tangents = _pad_images(F, tangents, self.pad_multiple, self.pad_mode, size, template)
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
        if self.code_dim is None:
            return h, F.sum(F.square(tangents), axis=(1, 2, 3, 4))
        pre = F.FullyConnected(h, p["code_weight"], p["code_bias"], num_hidden=self.code_dim)
        h = _activate(F, pre, self.bottleneck_activation)
        tangents = F.FullyConnected(F.reshape(tangents, shape=(-3, -1)), p["code_weight"], num_hidden=self.code_dim,
                                    no_bias=True)                             # (N * D, code_dim)
        tangents = F.reshape_like(tangents, n_by_d, lhs_begin=0, lhs_end=1, rhs_begin=0, rhs_end=2)
        tangents = F.broadcast_mul(tangents, F.expand_dims(
            _activation_derivative(F, pre, h, self.bottleneck_activation), axis=1))
        return h, F.sum(F.square(tangents), axis=(1, 2))


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

    def hybrid_forward(self, F, h, **p):
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

    - ``code_dim``: a dense bottleneck between the convolutional encoder and decoder: the code map
      is flattened and mapped to ``code_dim`` values (``code_activation``), and a second dense layer
      (``activation``) maps them back to a code map for the decoder - a code of ``code_dim`` values
      whatever the image size. Its layers depend on the size of the code map, so ``image_size``
      must be given with it (the model is then built, and can be saved, loaded and used, before
      any data is seen).

    Image sizes: every layer halves the image, so the model pads each image at the bottom and the
    right up to the next multiples of ``2**L`` (``L = len(channels)``; ``pad_mode`` zeros or edge
    pixels), encodes and decodes the padded image and crops the reconstruction back: ``inference``
    returns the input's shape and the loss covers the original pixels only. Sizes that already are
    multiples are not padded (the same numbers as without padding). The code map is
    ``ceil(H / 2**L) x ceil(W / 2**L)``: ``channels[-1] * ceil(H / 2**L) * ceil(W / 2**L)`` values
    (digits 8x8 with three layers: a ``1 x 1`` map of ``channels[-1]`` values; 28x28: ``4 x 4``) -
    or ``code_dim`` values with the bottleneck. See `code_shape`.

    Args:
        in_channels: channels of the input images (any positive count).
        channels: output channels of the encoder layers (any positive counts); the last is the code
            map's.
        kernel_size: even kernel size of every (transposed) convolution (padding ``k/2 - 1``).
        activation: hidden activation of encoder and decoder.
        code_activation: activation of the code (``identity``: linear codes): of the last
            convolution, or of the bottleneck's first dense layer.
        output_activation: activation of the reconstruction (``sigmoid`` for data in [0, 1]).
        code_dim: ``None`` (the code is the last convolution's map) or the size of a dense
            bottleneck (see above).
        image_size: ``None`` (any ``H, W``) or the ``(H, W)`` (or one int for square images) of every
            input; required with ``code_dim``. Other sizes are then refused.
        pad_mode: how images are padded to multiples of ``2**L``: ``"zero"`` (the default: the
            convolutions' own padding at the top and left borders, now also at the bottom and right)
            or ``"edge"`` (repeat the last row and column). Measured equal within seed noise (test
            MSE, 3 seeds, 16-32-8 on camera patches of 20 / 25 / 28 pixels: zero 0.0074 / 0.0075 /
            0.0072, edge 0.0077 / 0.0073 / 0.0070; digits upsampled to 28x28, 2 seeds: zero 0.0022, edge 0.0024).
        tied_weights, noiseable_data: see above.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, in_channels, H, W)``; ``inference(x)`` -> reconstruction of the same shape;
        ``extract_feature_points(x)`` -> codes ``(N, channels[-1], ceil(H / 2**L), ceil(W / 2**L))``,
        or ``(N, code_dim)``; ``encoder_jacobian_norm(x)`` -> ``(N,)`` squared Frobenius norms of
        d code / d x.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = (load_digits().data / 16).reshape(-1, 1, 8, 8)
        >>> cae = ConvolutionalAutoEncoder(in_channels=1, channels=[8, 12], tied_weights=True, seed=0)
        >>> cae = cae.learn(ArrayIterator(x, batch_size=64, epochs=2, seed=0))
        >>> cae.inference(x[:5]).shape, cae.extract_feature_points(x[:5]).shape
        ((5, 1, 8, 8), (5, 12, 2, 2))

        Any image size (28x28: padded to 32x32 inside), and a 10-value code:

        >>> x28 = np.random.RandomState(0).rand(64, 1, 28, 28)
        >>> cae = ConvolutionalAutoEncoder(in_channels=1, code_dim=10, image_size=28, seed=0)
        >>> cae = cae.learn(ArrayIterator(x28, batch_size=32, epochs=1, seed=0))
        >>> cae.inference(x28[:5]).shape, cae.extract_feature_points(x28[:5]).shape, cae.code_shape()
        ((5, 1, 28, 28), (5, 10), (10,))
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
        code_dim: Optional[int] = None,
        image_size: Optional[Union[int, Sequence[int]]] = None,
        pad_mode: str = "zero",
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
            raise ValueError(f"in_channels and every entry of channels must be positive integers (any positive "
                             f"counts work), got in_channels={in_channels}, channels={channels}")
        if kernel_size < 2 or kernel_size % 2:
            raise ValueError(f"kernel_size must be even and >= 2 (each layer halves the image), got {kernel_size}")
        for name in (activation, code_activation, output_activation):
            _check_activation(name)
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"pad_mode must be one of {sorted(_PAD_MODES)}, got {pad_mode!r}")
        if noiseable_data is not None and not isinstance(noiseable_data, NoiseableData):
            raise TypeError(f"noiseable_data must be a NoiseableData, got {type(noiseable_data).__name__}")
        if image_size is not None:
            size: Any = (image_size, image_size) if not isinstance(image_size, Iterable) or np.ndim(image_size) == 0 \
                else tuple(image_size)
            if len(size) != 2 or any(int(v) != v or v < 1 for v in size):
                raise ValueError(f"image_size must be a positive int or a pair (H, W) of them, got {size!r}")
            image_size = tuple(int(v) for v in size)
        layers = len(channels)
        if code_dim is not None:
            if int(code_dim) != code_dim or code_dim < 1:
                raise ValueError(f"code_dim must be None or a positive int, got {code_dim!r}")
            if image_size is None:
                raise ValueError(f"code_dim needs image_size=(H, W): the bottleneck's dense layers connect the "
                                 f"code map of {channels[-1]} x ceil(H / {2 ** layers}) x ceil(W / {2 ** layers}) "
                                 f"values, whose size depends on the images' (28x28 images give "
                                 f"{channels[-1]} x {-(-28 // 2 ** layers)} x {-(-28 // 2 ** layers)})")
            code_dim = int(code_dim)
        self.input_shape = (int(in_channels), None, None) if image_size is None else (int(in_channels),) + image_size
        self.tied_weights = tied_weights
        self.noiseable_data = noiseable_data
        self.code_dim, self.image_size, self.pad_mode = code_dim, image_size, pad_mode
        self.activation, self.code_activation = activation, code_activation
        dims = [int(in_channels)] + channels
        with self.name_scope():
            # With a bottleneck the code is the dense layer's: the convolutions are all hidden layers.
            self.encoder = ConvEncoder(dims, kernel_size, activation, activation if code_dim else code_activation)
            self.decoder = ConvDecoder(dims, kernel_size, activation, output_activation,
                                       tied_to=self.encoder if tied_weights else None)
            self.to_code = self.from_code = None
            if code_dim is not None and image_size is not None:  # code_dim without image_size raised above
                self._code_map = (channels[-1],) + tuple(-(-side // self.downscale) for side in image_size)
                map_size = int(np.prod(self._code_map))
                self.to_code = gluon.nn.Dense(code_dim, in_units=map_size)
                self.from_code = gluon.nn.Dense(map_size, in_units=code_dim)
            self.jacobian = EncoderJacobian(self.encoder, pad_multiple=self.downscale, pad_mode=pad_mode,
                                            bottleneck=self.to_code, bottleneck_activation=code_activation)
            self.loss = L2NormLoss()

    @property
    def downscale(self) -> int:
        """Factor by which the encoder shrinks each side of the image (``2 ** layers``)."""
        return 2 ** (len(self.encoder.channels) - 1)

    def code_shape(self, height: Optional[int] = None, width: Optional[int] = None) -> Tuple[int, ...]:
        """Per-sample shape of the code of ``height x width`` images (default: ``image_size``):
        ``(code_dim,)`` with the bottleneck, else ``(channels[-1], ceil(H / 2**L), ceil(W / 2**L))``.

        Example:
            >>> ConvolutionalAutoEncoder(channels=[24, 48, 16]).code_shape(28, 28)
            (16, 4, 4)
        """
        if self.code_dim is not None:
            return (self.code_dim,)
        if height is None and width is None and self.image_size is not None:
            height, width = self.image_size
        if height is None or width is None:
            raise ValueError("code_shape needs height and width (the model has no image_size)")
        return (self.encoder.channels[-1], -(-int(height) // self.downscale), -(-int(width) // self.downscale))

    def check_part_image_size(self, shape: Tuple[int, ...], name: str) -> None:
        """Refuse image sizes the bare `encoder` / `decoder` pair does not restore (not multiples of
        ``2**L``). The model pads any size itself; code that runs the two parts directly (the DRCN
        controllers) checks with this."""
        h, w = shape[-2:]
        if h % self.downscale or w % self.downscale:
            raise ValueError(f"{name} has images of {h}x{w} pixels but this auto-encoder's encoder halves them "
                             f"{len(self.encoder.channels) - 1} times: H and W must be multiples of "
                             f"{self.downscale} (pad or crop the images, or use fewer layers)")

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        if self.decoder.output_activation == "sigmoid":
            # A sigmoid reconstruction lives in (0, 1): targets outside it cannot be learned.
            for name, (x, y) in (("x", data.training_arrays()), ("test x", data.test_arrays())):
                target = y if y is not None and x is not None and y.shape == x.shape else x
                check_unit_range(target, name,
                                 f"a {type(self).__name__} with output_activation='sigmoid' (the default)")

    def _encode(self, F: Any, x: Any) -> Any:
        """Codes of images ``x`` of any size: padded, convolved, through the bottleneck if any."""
        code = self.encoder(_pad_images(F, x, self.downscale, self.pad_mode, _size_of(x)))
        if self.to_code is not None:
            code = _activate(F, self.to_code(code), self.code_activation)
        return code

    def _decode(self, F: Any, code: Any, x: Any) -> Any:
        """Reconstructions of codes of the images ``x``, cropped to the size of ``x``."""
        if self.from_code is not None:
            code = F.reshape(_activate(F, self.from_code(code), self.activation), shape=(0,) + self._code_map)
        return _crop_images(F, self.decoder(code), x, _size_of(x))

    def hybrid_forward(self, F, x):
        return self._decode(F, self._encode(F, x), x)

    def _target_and_input(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        target = y if y is not None and y.shape == x.shape else x
        if self.noiseable_data is not None and autograd.is_training():
            x = self.noiseable_data.noise(x)
        return target, x

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        target, x = self._target_and_input(x, y)
        return self.loss(self._decode(mx.nd, self._encode(mx.nd, x), x), target)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes of ``observed_arr`` ``(N, in_channels, H, W)``: ``(N, channels[-1], ceil(H / 2**L),
        ceil(W / 2**L))`` (the code map of the padded image: the bottom and right code pixels
        partly see padding when ``H`` or ``W`` is not a multiple of ``2**L``), or ``(N, code_dim)``
        with the bottleneck. See `code_shape`."""
        return self._batched(lambda x: self._encode(mx.nd, x), observed_arr, batch_size)

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
        **kwargs: the other arguments, see `ConvolutionalAutoEncoder`.

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
        return self.loss(self._decode(mx.nd, code, x), target) + self.contractive_weight * jacobian


@register_model("repelling_cae", example=lambda rng: _example_cae(rng, repelling_weight=0.1))
class RepellingCAE(ConvolutionalAutoEncoder):
    """Repelling convolutional auto-encoder: the reconstruction error plus
    ``repelling_weight * PT(codes)``, the pull-away term of Zhao, Mathieu & LeCun 2016 (EBGAN) -
    the mean squared cosine similarity between the codes of different samples of a batch
    (`accelbrainbase.losses.pull_away_term`). It pushes the codes of a batch towards orthogonal
    directions, spreading them over the code space.

    Args:
        repelling_weight: weight of the pull-away term (``>= 0``).
        **kwargs: the other arguments, see `ConvolutionalAutoEncoder`.

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
        code = self._encode(mx.nd, x)
        loss = self.loss(self._decode(mx.nd, code, x), target)
        if x.shape[0] < 2:  # the pull-away term compares pairs of samples
            return loss
        return mx.nd.broadcast_add(loss, self.repelling_weight * pull_away_term(mx.nd, code))
