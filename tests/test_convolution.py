"""transposed_convolution / TransposedConv2D: the transposed convolution by its definition, the
adjoint of Convolution (values and gradients), hybridized like imperative, Conv2DTranspose's
parameters, and the channel counts on which oneDNN's Deconvolution fails."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd
from mxnet.gluon import nn

from accelbrainbase.models.convolution import TransposedConv2D, transposed_convolution, transposed_output_size

# (in, out, kernel, stride, pad, input H, input W): the zoo's decoders (4x4, stride 2, pad 1; 3x3,
# stride 1, pad 1), counts oneDNN's Deconvolution fails on (24/16/8 -> 1), other strides, paddings
# (up to kernel - 1) and sizes, kernels smaller than the stride, and non-square kernels and strides.
CASES = [
    (24, 1, 4, 2, 1, 4, 4), (16, 1, 4, 2, 1, 2, 2), (8, 1, 4, 2, 1, 4, 3), (48, 24, 4, 2, 1, 1, 1),
    (8, 3, 4, 2, 1, 5, 6), (5, 7, 3, 1, 1, 6, 7), (4, 6, 3, 2, 0, 5, 4), (3, 2, 5, 3, 2, 4, 5),
    (6, 4, (4, 2), (2, 1), (1, 0), 5, 6), (3, 2, 3, 2, 2, 4, 3), (3, 2, 2, 2, 0, 3, 3), (5, 3, 6, 2, 2, 3, 2),
    (2, 3, 1, 2, 0, 3, 4), (2, 2, 4, 4, 0, 2, 3), (4, 5, (3, 5), (3, 2), (2, 1), 3, 4),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, kernel, stride, pad) -> np.ndarray:
    """The definition: every input pixel adds its kernel-weighted copy at ``stride`` spacing; the
    full result is then cropped by ``pad`` on each side."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(pad)
    n, _, h, wd = x.shape
    full = np.zeros((n, w.shape[1], (h - 1) * sh + kh, (wd - 1) * sw + kw))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    return full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw] + b.reshape(1, -1, 1, 1)


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_equals_the_definition_and_its_gradients_are_the_adjoint_convolution(case):
    c_in, c_out, kernel, stride, pad, h, w = case
    rng = np.random.RandomState(0)
    kh, kw = _pair(kernel)
    x = mx.nd.array(rng.randn(3, c_in, h, w))
    weight = mx.nd.array(rng.randn(c_in, c_out, kh, kw))
    bias = mx.nd.array(rng.randn(c_out))
    y = transposed_convolution(mx.nd, x, weight, bias, kernel=kernel, stride=stride, pad=pad, num_filter=c_out)
    expected = _reference(x.asnumpy(), weight.asnumpy(), bias.asnumpy(), kernel, stride, pad)
    assert y.shape == expected.shape == (3, c_out, transposed_output_size(h, kh, _pair(stride)[0], _pair(pad)[0]),
                                         transposed_output_size(w, kw, _pair(stride)[1], _pair(pad)[1]))
    np.testing.assert_allclose(y.asnumpy(), expected, rtol=1e-4, atol=1e-4)

    # <T x, g> = <x, C g> for the convolution C with the same kernel, stride and padding: the
    # gradients of both sides agree (through Convolution's backward, which oneDNN runs on every CPU).
    g = mx.nd.array(rng.randn(*y.shape))
    grads = []
    for side in ("transposed", "adjoint"):
        xs, ws, bs = x.copy(), weight.copy(), bias.copy()
        for a in (xs, ws, bs):
            a.attach_grad()
        with autograd.record():
            if side == "transposed":
                value = (transposed_convolution(mx.nd, xs, ws, bs, kernel=kernel, stride=stride, pad=pad,
                                                num_filter=c_out) * g).sum()
            else:
                conv = mx.nd.Convolution(g, ws, kernel=(kh, kw), stride=_pair(stride), pad=_pair(pad),
                                         num_filter=c_in, no_bias=True)
                value = (xs * conv).sum() + (bs.reshape((1, -1, 1, 1)) * g).sum()
        value.backward()
        grads.append((value.asscalar(), xs.grad.asnumpy(), ws.grad.asnumpy(), bs.grad.asnumpy()))
    for ours, adjoint in zip(*grads):
        np.testing.assert_allclose(ours, adjoint, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("c_in, c_out", [(24, 1), (16, 1), (8, 1), (48, 24), (8, 3)])
def test_layer_trains_hybridized_and_imperative_alike(c_in, c_out):
    """oneDNN's Deconvolution fails at the first backward for some of these counts (which ones
    depends on the CPU); the layer runs them all, the cached graph like the imperative one."""
    x = mx.nd.array(np.random.RandomState(0).rand(4, c_in, 4, 4))
    results = []
    for hybridize in (False, True):
        layer = TransposedConv2D(c_out, 4, strides=2, padding=1, in_channels=c_in, activation="relu")
        layer.initialize(mx.init.Xavier(), ctx=mx.cpu())
        layer.weight.set_data(mx.nd.array(np.random.RandomState(1).randn(c_in, c_out, 4, 4)))
        layer.hybridize(hybridize)
        x.attach_grad()
        with autograd.record():
            loss = (layer(x) ** 2).sum()
        loss.backward()
        results.append((layer(x).asnumpy(), x.grad.asnumpy(), layer.weight.grad().asnumpy()))
    assert results[0][0].shape == (4, c_out, 8, 8)
    for imperative, hybrid in zip(*results):
        np.testing.assert_allclose(hybrid, imperative, rtol=1e-5, atol=1e-5)


def test_layer_has_conv2dtranspose_parameters(tmp_path):
    """Same parameter names and shapes as Gluon's Conv2DTranspose: a saved one loads and computes
    the transposed convolution of its weights."""
    rng = np.random.RandomState(0)
    gluon_layer = nn.Conv2DTranspose(3, 4, strides=2, padding=1, in_channels=8)
    gluon_layer.initialize()
    gluon_layer.weight.set_data(mx.nd.array(rng.randn(8, 3, 4, 4)))
    gluon_layer.bias.set_data(mx.nd.array(rng.randn(3)))
    gluon_layer.save_parameters(str(tmp_path / "t.params"))
    ours = TransposedConv2D(3, 4, strides=2, padding=1, in_channels=8)
    ours.load_parameters(str(tmp_path / "t.params"))
    assert {k: v.shape for k, v in ours._collect_params_with_prefix().items()} == \
        {k: v.shape for k, v in gluon_layer._collect_params_with_prefix().items()}
    x = rng.randn(2, 8, 3, 5)
    expected = _reference(x, gluon_layer.weight.data().asnumpy(), gluon_layer.bias.data().asnumpy(), 4, 2, 1)
    np.testing.assert_allclose(ours(mx.nd.array(x)).asnumpy(), expected, rtol=1e-4, atol=1e-4)
    no_bias = TransposedConv2D(3, 4, in_channels=8, use_bias=False)
    assert list(no_bias._collect_params_with_prefix()) == ["weight"]


def test_symbolic_graph_infers_the_output_shape():
    data, weight, bias = mx.sym.var("data"), mx.sym.var("weight"), mx.sym.var("bias")
    out = transposed_convolution(mx.sym, data, weight, bias, kernel=4, stride=2, pad=1, num_filter=1)
    _, shapes, _ = out.infer_shape(data=(5, 24, 4, 3), weight=(24, 1, 4, 4), bias=(1,))
    assert shapes == [(5, 1, 8, 6)]


@pytest.mark.parametrize("kwargs", [dict(kernel=3, pad=3), dict(kernel=3, pad=-1), dict(kernel=3, stride=0),
                                    dict(kernel=(3, 3, 3))])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        transposed_convolution(mx.nd, mx.nd.ones((1, 2, 3, 3)), mx.nd.ones((2, 1, 3, 3)), num_filter=1, **kwargs)
