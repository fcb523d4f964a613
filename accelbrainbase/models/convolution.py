"""Transposed convolutions computed as ordinary convolutions.

The zoo never calls MXNet's ``Deconvolution`` operator (nor Gluon's ``Conv2DTranspose``, which wraps
it). In MXNet 1.9.1 its oneDNN backward fails at the first step for ordinary channel counts with
"could not create a primitive descriptor for a reorder primitive", and which counts fail depends on
the CPU: oneDNN blocks channels by 16 on AVX-512 and by 8 on AVX2, so on an AVX-512 machine a
transposed convolution from 16, 32, 48 ... channels down to one channel fails while 24 -> 1 works,
and on an AVX2 machine (measured on an AMD EPYC) 24 -> 1 and 8 -> 1 fail as well. A workaround tied
to channel counts therefore breaks on the next CPU. ``Convolution`` has no such failure, and a
transposed convolution *is* a convolution:

    Deconvolution(x, W, stride s, pad p)
        == Convolution(dilate_s(x), flip(swap(W)), stride 1, pad k - 1 - p)

where ``dilate_s`` puts ``s - 1`` zeros between neighbouring pixels, ``swap`` exchanges the kernel's
input and output channel axes and ``flip`` mirrors it spatially. Most products of that convolution
hit the inserted zeros, so `transposed_convolution` computes the same map without them (the
"sub-pixel" form): output pixel ``o = s * m + a`` only meets the kernel taps ``t = a + p - s * d``
at input pixels ``m + d``, so each of the ``s * s`` phases ``a`` is a stride-1 convolution of the
undilated input with a sub-kernel of the swapped, flipped kernel. One ``Convolution`` computes all
phases as ``s * s * out_channels`` filters, and ``depth_to_space`` interleaves them into the output.

Measured (MXNet 1.9.1, 2-core AMD EPYC, AVX2): the outputs and the gradients for the input, kernel
and bias equal ``Deconvolution``'s (oneDNN off, where it fails) within 3e-6 of their largest value for
24 -> 1, 16 -> 1, 8 -> 1, 48 -> 24 and 8 -> 3 channels with kernel 4, stride 2, pad 1, and for
other kernels, strides and paddings; the backward runs where ``Deconvolution``'s fails. Training
throughput, interleaved in one process: the digits `ConvolutionalAutoEncoder` (20-48-16, a width
``Deconvolution`` survives here) 4,838 samples/s against 7,180 with ``Deconvolution`` and 3,291 with
the zero-insertion form (24-48-16 with oneDNN off: 3,436 against 5,220); the
`SpatioTemporalAutoEncoder` on 24x24 sprites 261 against 153 with zero insertion (oneDNN off: 215
against ``Deconvolution``'s 190). A transposed convolution costs about ten small operators instead
of one, which models as small as the digits CAE notice.

The weight keeps ``Deconvolution``'s layout ``(in_channels, out_channels, kh, kw)``, which is the
layout of the convolution it transposes: a tied decoder passes the encoder's own kernel
``(n_out, n_in, k, k)`` and both share one `Parameter`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple, Union

import mxnet as mx
from mxnet import gluon

__all__ = ["transposed_convolution", "transposed_output_size", "TransposedConv2D"]

IntPair = Union[int, Tuple[int, int]]


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _check(kernel: Tuple[int, int], stride: Tuple[int, int], pad: Tuple[int, int]) -> None:
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"kernel and stride must be positive, got kernel={kernel}, stride={stride}")
    if any(p < 0 or p > k - 1 for k, p in zip(kernel, pad)):
        # Beyond k - 1 the stride-1 form would need a negative padding (no zoo model needs it).
        raise ValueError(f"pad must be between 0 and kernel - 1, got pad={pad} for kernel={kernel}")


def transposed_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Side of a transposed convolution's output: ``(size - 1) * stride - 2 * pad + kernel``.

    Example:
        >>> transposed_output_size(4, kernel=4, stride=2, pad=1)
        8
    """
    return (int(size) - 1) * int(stride) - 2 * int(pad) + int(kernel)


class _AxisPlan(NamedTuple):
    """The sub-pixel form along one spatial axis (kernel ``k``, stride ``s``, padding ``p``)."""

    taps: int                     # sub-kernel size: input offsets d = d_min .. d_max
    kernel_pad: Tuple[int, int]   # zeros around the kernel axis: its window of s * taps entries
    conv_pad: int                 # the stride-1 convolution's (symmetric) padding
    crop: Tuple[int, int]         # output pixels dropped at the start and at the end

    @classmethod
    def of(cls, k: int, s: int, p: int) -> "_AxisPlan":
        # Output o = s*m + a meets tap t = a + p - s*d at input pixel m + d, for the d with 0 <= t < k.
        d_min, d_max = -((k - 1 - p) // s), (s - 1 + p) // s
        taps = d_max - d_min + 1
        # Phase a's sub-kernel over u = d - d_min is w[start + a - s*u]: in the kernel window
        # [start - s*(taps - 1), start + s), the taps s*(taps - 1) + a, s*(taps - 2) + a, ..., a.
        start = p - s * d_min
        window = start - s * (taps - 1)
        per_phase = -(-(k - 2 * p) // s)          # rows per phase m = 0 .. size - 2 + per_phase
        conv_pad = max(-d_min, per_phase - 1 + d_max, 0)
        crop = (s * (d_min + conv_pad), s * (conv_pad - d_max + 1 - per_phase) + s * per_phase - (k - 2 * p))
        return cls(taps, (-window, window + s * taps - k), conv_pad, crop)


def _sub_pixel_kernels(F: Any, weight: Any, plans: Tuple[_AxisPlan, _AxisPlan], stride: Tuple[int, int]) -> Any:
    """``(in, out, kh, kw)`` -> ``(sh * sw * out, in, taps_h, taps_w)``, phases major, as
    ``depth_to_space`` reads channels."""
    (ph, pw), (sh, sw) = plans, stride
    # The convolution layout (out, in, ...), padded so that the kernel window is the whole array.
    kernels = F.swapaxes(weight, 0, 1)
    if any(ph.kernel_pad + pw.kernel_pad):
        kernels = F.pad(kernels, mode="constant", pad_width=(0, 0, 0, 0) + ph.kernel_pad + pw.kernel_pad)
    # Phase (a, b) takes every s-th tap from the end: the sub-kernel, already mirrored. Strided slices
    # and a concatenation: MXNet 1.9.1's flip and 6-d transpose cost more on kernel-sized arrays
    # (measured: the digits CAE trains ~17 % faster than with them).
    phases = [F.slice(kernels, begin=(None, None, sh * (ph.taps - 1) + a, sw * (pw.taps - 1) + b), end=(None,) * 4,
                      step=(None, None, -sh, -sw)) for a in range(sh) for b in range(sw)]
    return F.concat(*phases, dim=0) if len(phases) > 1 else phases[0]


def _interleave(F: Any, phases: Any, stride: Tuple[int, int]) -> Any:
    """``(N, sh * sw * C, H, W)`` (phases major) -> ``(N, C, H * sh, W * sw)``."""
    sh, sw = stride
    if sh == sw:
        return F.depth_to_space(phases, block_size=sh)
    split = F.reshape(F.reshape(phases, shape=(0, -4, sh, -1, -2)), shape=(0, 0, -4, sw, -1, -2))
    return F.reshape(F.transpose(split, axes=(0, 3, 4, 1, 5, 2)), shape=(0, 0, -3, -3))


def transposed_convolution(F: Any, x: Any, weight: Any, bias: Optional[Any] = None, *, kernel: IntPair,
                           num_filter: int, stride: IntPair = 1, pad: IntPair = 0) -> Any:
    """The transposed convolution (``Deconvolution``: the adjoint of the convolution with the same
    kernel, stride and padding) computed with ``Convolution``: one stride-1 convolution of ``x``
    with the ``stride[0] * stride[1]`` phase sub-kernels of the swapped, flipped kernel, the phases
    interleaved into the output (see the module's documentation). With stride 1 that is the
    convolution with the swapped, flipped kernel and padding ``kernel - 1 - pad``.

    Works inside ``hybrid_forward`` with ``F`` = ``mx.nd`` or ``mx.sym``, for any input size; the
    gradients reach ``x``, ``weight`` and ``bias`` through ordinary operators.

    Args:
        F: ``mx.nd`` or ``mx.sym``.
        x: input ``(N, in_channels, H, W)``.
        weight: kernel in ``Deconvolution``'s layout ``(in_channels, num_filter, kh, kw)`` - the
            layout of the convolution ``num_filter -> in_channels`` that this one transposes.
        bias: ``(num_filter,)``, or ``None`` for none.
        kernel, stride, pad: as given to ``Deconvolution`` (ints or ``(h, w)`` pairs); ``pad``
            between 0 and ``kernel - 1``. No output padding: the output side is
            `transposed_output_size`.
        num_filter: output channels.

    Shapes: ``(N, in_channels, H, W)`` -> ``(N, num_filter, (H - 1) * sh - 2 * ph + kh,
    (W - 1) * sw - 2 * pw + kw)``.

    Example:
        >>> import numpy as np
        >>> x, w = mx.nd.ones((2, 24, 4, 4)), mx.nd.ones((24, 1, 4, 4))
        >>> y = transposed_convolution(mx.nd, x, w, kernel=4, stride=2, pad=1, num_filter=1)
        >>> y.shape
        (2, 1, 8, 8)
        >>> off = dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=3, no_bias=True)
        >>> x, w = mx.nd.random.normal(shape=(2, 8, 4, 4)), mx.nd.random.normal(shape=(8, 3, 4, 4))
        >>> ours = transposed_convolution(mx.nd, x, w, kernel=4, stride=2, pad=1, num_filter=3)
        >>> bool(np.allclose(ours.asnumpy(), mx.nd.Deconvolution(x, w, **off).asnumpy(), atol=1e-4))
        True
    """
    kernel, stride, pad = _pair(kernel, "kernel"), _pair(stride, "stride"), _pair(pad, "pad")
    _check(kernel, stride, pad)
    num_filter = int(num_filter)
    if stride == (1, 1):
        # (in, out, kh, kw) -> the convolution kernel (out, in, kh, kw), mirrored in both spatial axes.
        flipped = F.flip(F.swapaxes(weight, 0, 1), axis=(2, 3))
        return F.Convolution(x, flipped, bias, kernel=kernel, pad=(kernel[0] - 1 - pad[0], kernel[1] - 1 - pad[1]),
                             num_filter=num_filter, no_bias=bias is None)
    plans = (_AxisPlan.of(kernel[0], stride[0], pad[0]), _AxisPlan.of(kernel[1], stride[1], pad[1]))
    phases = stride[0] * stride[1]
    out = F.Convolution(x, _sub_pixel_kernels(F, weight, plans, stride),
                        None if bias is None else F.tile(bias, reps=(phases,)),
                        kernel=(plans[0].taps, plans[1].taps), pad=(plans[0].conv_pad, plans[1].conv_pad),
                        num_filter=phases * num_filter, no_bias=bias is None)
    out = _interleave(F, out, stride)
    (top, bottom), (left, right) = plans[0].crop, plans[1].crop
    if top or bottom or left or right:
        out = F.slice(out, begin=(None, None, top, left), end=(None, None, -bottom or None, -right or None))
    return out


class TransposedConv2D(gluon.HybridBlock):
    """A 2-D transposed convolution layer through `transposed_convolution`: what Gluon's
    ``nn.Conv2DTranspose`` computes (no groups, dilation or output padding), without oneDNN's
    ``Deconvolution``.

    Its parameters are named and shaped like ``Conv2DTranspose``'s - ``weight``
    ``(in_channels, channels, kh, kw)`` and ``bias`` ``(channels,)``, zeros at the start - so they
    are initialized alike and saved files keep their keys.

    Args:
        channels: output channels.
        kernel_size, strides, padding: ints or ``(h, w)`` pairs; ``padding <= kernel_size - 1``.
        in_channels: input channels (needed: no deferred shape inference).
        activation: an ``F.Activation`` type applied to the output, or ``None``.
        use_bias: whether to add a bias.

    Shapes: ``(N, in_channels, H, W)`` -> ``(N, channels, (H - 1) * sh - 2 * ph + kh, ...)``.

    Example:
        >>> layer = TransposedConv2D(3, 4, strides=2, padding=1, in_channels=8)
        >>> layer.initialize()
        >>> layer(mx.nd.ones((2, 8, 5, 5))).shape
        (2, 3, 10, 10)
    """

    def __init__(self, channels: int, kernel_size: IntPair, strides: IntPair = 1, padding: IntPair = 0, *,
                 in_channels: int, activation: Optional[str] = None, use_bias: bool = True) -> None:
        super().__init__()
        self.channels, self.in_channels = int(channels), int(in_channels)
        self.kernel, self.stride, self.pad = (_pair(kernel_size, "kernel_size"), _pair(strides, "strides"),
                                              _pair(padding, "padding"))
        _check(self.kernel, self.stride, self.pad)
        self.activation = activation
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(self.in_channels, self.channels) + self.kernel)
            self.bias = (self.params.get("bias", shape=(self.channels,), init=mx.init.Zero()) if use_bias
                         else None)

    def hybrid_forward(self, F, x, weight, bias=None):
        out = transposed_convolution(F, x, weight, bias, kernel=self.kernel, stride=self.stride, pad=self.pad,
                                     num_filter=self.channels)
        return out if self.activation is None else F.Activation(out, act_type=self.activation)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels} -> {self.channels}, kernel_size={self.kernel}, "
                f"stride={self.stride}, padding={self.pad})")
