"""Transformer encoder/decoder for sequence reconstruction and EncDec-AD.

Multi-head self-attention (Vaswani et al. 2017) over sequences ``(N, T, F)`` of any ``N`` and ``T``:
the sinusoidal positional encoding is computed inside the graph from the input's length
(``F.contrib.arange_like``), and every reshape uses MXNet's special shape codes, so a hybridized
model re-shapes its cached graph for new ``N`` and ``T``. There is no loop over time: attention is
``F.batch_dot`` + ``F.softmax`` over all steps at once: no symbolic loop (``F.contrib.foreach``,
whose pitfalls under oneDNN the README's "Pitfalls" section describes). EncDec-AD's detector is
`anomaly.EncDecADMixin`, shared with the LSTM `EncoderDecoder`.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from ..checks import check_positive_integers
from ..context import CtxLike
from ..interfaces import IteratableData
from ..losses import L2NormLoss
from ..registry import not_registered, register_model
from .anomaly import EncDecADMixin, InputStandardizer
from .base import ObservableModel

__all__ = ["TransformerEncoderDecoder", "MultiHeadAttention", "sinusoidal_encoding"]


def sinusoidal_encoding(F: Any, x: Any, dim: int, max_period: float = 10000.0) -> Any:
    """Sinusoidal positional encoding ``(T, dim)`` for the ``T = x.shape[1]`` steps of ``x``.

    Channel ``i < dim/2`` is ``sin(t w_i)`` and channel ``dim/2 + i`` is ``cos(t w_i)`` with
    ``w_i = max_period ** (-2 i / dim)`` (Vaswani et al. 2017, sines and cosines in two halves
    rather than interleaved). ``T`` is read inside the graph, so it works for any length after
    ``hybridize()``.

    Example:
        >>> pe = sinusoidal_encoding(mx.nd, mx.nd.zeros((2, 3, 1)), 4)
        >>> pe.shape, pe[0].asnumpy().tolist()   # t = 0: sin 0 = 0, cos 0 = 1
        ((3, 4), [0.0, 0.0, 1.0, 1.0])
    """
    half = dim // 2
    steps = F.contrib.arange_like(x, axis=1)                                   # (T,)
    freq = F.exp(F.arange(0, half) * (-2.0 * math.log(max_period) / dim))     # (dim/2,)
    angle = F.broadcast_mul(F.expand_dims(steps, axis=1), F.expand_dims(freq, axis=0))
    return F.concat(F.sin(angle), F.cos(angle), dim=1)


@not_registered("a layer (attention) of TransformerEncoderDecoder, with no training loop of its own; "
                "TransformerEncoderDecoder is registered")
class MultiHeadAttention(gluon.HybridBlock):
    """Multi-head scaled dot-product attention ``softmax(Q K^T / sqrt(d_h)) V`` (Vaswani et al. 2017).

    Args:
        units: model width ``d`` (queries, keys, values and output), a multiple of ``num_heads``.
        num_heads: heads ``h``; each attends in ``d / h`` dimensions.

    Shapes: ``queries (N, S, d)``, ``memory (N, T, d)`` (``queries`` itself for self-attention)
    -> ``(N, S, d)``. No mask: every query sees every memory step.

    Example:
        >>> att = MultiHeadAttention(8, 2); att.initialize()
        >>> att(mx.nd.ones((3, 5, 8)), mx.nd.ones((3, 2, 8))).shape
        (3, 5, 8)
    """

    def __init__(self, units: int, num_heads: int) -> None:
        super().__init__()
        if units % num_heads:
            raise ValueError(f"units ({units}) must be a multiple of num_heads ({num_heads})")
        self.units, self.num_heads = units, num_heads
        self.scale = 1.0 / math.sqrt(units // num_heads)
        with self.name_scope():
            self.query = nn.Dense(units, flatten=False, in_units=units)
            self.key_value = nn.Dense(2 * units, flatten=False, in_units=units)
            self.out = nn.Dense(units, flatten=False, in_units=units)

    def _split(self, F, x):
        # (N, S, h*dh) -> (N*h, S, dh)
        x = F.transpose(F.reshape(x, shape=(0, 0, -4, self.num_heads, -1)), axes=(0, 2, 1, 3))
        return F.reshape(x, shape=(-3, 0, 0))

    def hybrid_forward(self, F, queries, memory):
        q = self._split(F, self.query(queries) * self.scale)
        k, v = F.split(self.key_value(memory), num_outputs=2, axis=2)
        weights = F.softmax(F.batch_dot(q, self._split(F, k), transpose_b=True), axis=-1)  # (N*h, S, T)
        heads = F.batch_dot(weights, self._split(F, v))                                    # (N*h, S, dh)
        heads = F.transpose(F.reshape(heads, shape=(-4, -1, self.num_heads, 0, 0)), axes=(0, 2, 1, 3))
        return self.out(F.reshape(heads, shape=(0, 0, -3)))


class _Layer(gluon.HybridBlock):
    """One Transformer layer: self-attention, optional cross-attention to a memory, feed-forward;
    each sub-layer residual with LayerNorm before (``pre``) or after (``post``) it, and dropout."""

    def __init__(self, units: int, num_heads: int, ffn_dim: int, dropout: float, norm: str, cross: bool) -> None:
        super().__init__()
        self.pre, self.cross = norm == "pre", cross
        with self.name_scope():
            self.self_att = MultiHeadAttention(units, num_heads)
            self.norm1 = nn.LayerNorm(in_channels=units)
            if cross:
                self.cross_att = MultiHeadAttention(units, num_heads)
                self.norm2 = nn.LayerNorm(in_channels=units)
            self.ffn = nn.HybridSequential()
            self.ffn.add(nn.Dense(ffn_dim, activation="relu", flatten=False, in_units=units),
                         nn.Dense(units, flatten=False, in_units=ffn_dim))
            self.norm3 = nn.LayerNorm(in_channels=units)
            self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def _residual(self, x, fn, norm):
        if self.pre:
            y = fn(norm(x))
            return x + (self.drop(y) if self.drop is not None else y)
        y = fn(x)
        return norm(x + (self.drop(y) if self.drop is not None else y))

    def hybrid_forward(self, F, x, memory=None):
        x = self._residual(x, lambda h: self.self_att(h, h), self.norm1)
        if self.cross:
            x = self._residual(x, lambda h: self.cross_att(h, memory), self.norm2)
        return self._residual(x, self.ffn, self.norm3)


class _Encoder(gluon.HybridBlock):
    """Input projection + positional encoding + encoder layers; the code is the mean of the encoder
    states over time, projected to ``code_dim``: ``(N, T, F) -> (N, code_dim)``."""

    def __init__(self, input_dim: int, units: int, num_heads: int, num_layers: int, ffn_dim: int,
                 code_dim: int, dropout: float, norm: str, max_period: float) -> None:
        super().__init__()
        self.units, self.max_period, self.pre = units, max_period, norm == "pre"
        with self.name_scope():
            self.embed = nn.Dense(units, flatten=False, in_units=input_dim)
            self.layers = nn.HybridSequential()
            for _ in range(num_layers):
                self.layers.add(_Layer(units, num_heads, ffn_dim, dropout, norm, cross=False))
            self.final_norm = nn.LayerNorm(in_channels=units) if self.pre else None
            self.code = nn.Dense(code_dim, flatten=False, in_units=units)

    def hybrid_forward(self, F, x):
        # The paper's sqrt(d) scaling keeps the embedded values from drowning in the encoding.
        h = F.broadcast_add(self.embed(x) * math.sqrt(self.units),
                            F.expand_dims(sinusoidal_encoding(F, x, self.units, self.max_period), 0))
        h = self.layers(h)
        if self.final_norm is not None:  # pre-norm layers: a last LayerNorm
            h = self.final_norm(h)
        return self.code(F.mean(h, axis=1))


class _Decoder(gluon.HybridBlock):
    """Reconstruction from the code: the queries are the positional encodings of the ``T`` steps
    plus a projection of the code; the code is also expanded into ``num_memory`` memory vectors that
    every decoder layer cross-attends to. ``(code (N, code_dim), like (N, T, .)) -> (N, T, F)``."""

    def __init__(self, input_dim: int, units: int, num_heads: int, num_layers: int, ffn_dim: int,
                 code_dim: int, num_memory: int, dropout: float, norm: str, max_period: float) -> None:
        super().__init__()
        self.units, self.max_period, self.pre = units, max_period, norm == "pre"
        with self.name_scope():
            self.start = nn.Dense(2 * units, flatten=False, in_units=code_dim)
            self.memory = nn.Dense(num_memory * units, flatten=False, in_units=code_dim)
            self.layers = []
            for i in range(num_layers):
                layer = _Layer(units, num_heads, ffn_dim, dropout, norm, cross=True)
                self.register_child(layer, f"layer{i}")
                self.layers.append(layer)
            self.final_norm = nn.LayerNorm(in_channels=units) if self.pre else None
            self.out = nn.Dense(input_dim, flatten=False, in_units=units)

    def hybrid_forward(self, F, code, like):
        pe = F.expand_dims(sinusoidal_encoding(F, like, self.units, self.max_period), axis=0)   # (1, T, d)
        scale, shift = F.split(F.expand_dims(self.start(code), axis=1), num_outputs=2, axis=2)  # (N, 1, d)
        h = F.broadcast_add(F.broadcast_mul(pe, scale + 1), shift)                              # (N, T, d)
        memory = F.reshape(self.memory(code), shape=(0, -4, -1, self.units))                  # (N, M, d)
        for layer in self.layers:
            h = layer(h, memory)
        if self.final_norm is not None:  # pre-norm layers: a last LayerNorm
            h = self.final_norm(h)
        return self.out(h)


def _example(rng: np.random.RandomState):
    t = np.arange(6)[None, :, None]
    x = np.sin(0.7 * t + rng.rand(16, 1, 1) * 6.28).astype(np.float32)
    return dict(input_dim=1, d_model=8, num_heads=2, num_layers=1, code_dim=4, num_memory=2,
                learning_rate=0.01), x, None


@register_model("transformer_encoder_decoder", example=_example)
class TransformerEncoderDecoder(EncDecADMixin, ObservableModel):
    """Transformer auto-encoder that reconstructs a sequence from a fixed-size code, with EncDec-AD.

    Encoder (Vaswani et al. 2017, "Attention Is All You Need"): each step ``x_t`` is projected to
    ``d_model`` and added to its sinusoidal positional encoding; ``num_layers`` layers of multi-head
    self-attention and a position-wise feed-forward network (residual, LayerNorm before -- ``pre``
    -- or after -- ``post`` -- each sub-layer, dropout) follow. The encoder states are mean-pooled
    over time and projected to the **code** ``(N, code_dim)``: the bottleneck that keeps the model
    from copying its input. Decoder: the queries are the positional encodings of the ``T`` steps
    plus a projection of the code; the code is also expanded into ``num_memory`` memory vectors;
    ``num_layers`` layers of self-attention among the queries, cross-attention to the memory and a
    feed-forward network lead to a linear read-out of each step. All steps are decoded at once
    (no recurrence), so training and inference run the same graph.

    EncDec-AD (Malhotra et al. 2016; `fit_anomaly_detector`, `anomaly_score`, `predict_anomaly`,
    shared with the LSTM `EncoderDecoder` through `anomaly.EncDecADMixin`): a multivariate Gaussian of the
    reconstruction errors of normal windows, Mahalanobis scores, an F-beta threshold; `save` /
    `load` keep the fitted detector. `learn_anomaly_detector` is the default recipe (see the README's
    "Anomaly detection on real series" for how it compares with PCA + Mahalanobis).

    Args:
        input_dim: features per time step ``F``.
        d_model: model width (even, a multiple of ``num_heads``).
        num_heads: attention heads.
        num_layers: layers in the encoder and in the decoder.
        code_dim: size of the bottleneck code.
        ffn_dim: hidden units of the feed-forward networks (default ``2 * d_model``).
        num_memory: memory vectors the decoder cross-attends to (all computed from the code).
        dropout: dropout after every sub-layer (training only).
        norm: ``"pre"`` (LayerNorm before each sub-layer, stabler) or ``"post"`` (the paper's).
        max_period: longest period of the positional encoding (the paper's 10000).
        standardize: scale inputs by the training windows' per-feature mean and standard deviation
            (`anomaly.InputStandardizer`, fitted before the first epoch, kept with the weights) and map
            the reconstruction back; the loss is then in those units.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, input_dim)``, any ``N`` and ``T >= 1`` (also after ``hybridize()``);
        ``inference(x)``: reconstruction ``(N, T, input_dim)``; ``extract_feature_points(x)``: codes
        ``(N, code_dim)``; ``anomaly_score(x)``: ``(N,)``; ``predict_anomaly(x)``: ``(N,)`` bool.
        Training target: ``y`` when it has the input's shape, else the input itself.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> t = np.arange(16)[None, :, None]
        >>> x = np.sin(0.5 * t + np.random.RandomState(0).rand(128, 1, 1) * 6.28).astype(np.float32)
        >>> model = TransformerEncoderDecoder(input_dim=1, code_dim=4, seed=0)
        >>> model.hybridize()                                  # any N and T still
        >>> model = model.learn(ArrayIterator(x, batch_size=32, epochs=30, seed=0), verbose=False)
        >>> float(((model.inference(x) - x) ** 2).mean()) < 0.1 * x.var()
        True
        >>> model.inference(x[:3, :9]).shape, model.extract_feature_points(x).shape
        ((3, 9, 1), (128, 4))
    """

    def __init__(
        self,
        input_dim: int,
        d_model: int = 32,
        num_heads: int = 4,
        num_layers: int = 2,
        code_dim: int = 16,
        *,
        ffn_dim: Optional[int] = None,
        num_memory: int = 4,
        dropout: float = 0.0,
        norm: str = "pre",
        max_period: float = 100.0,
        standardize: bool = True,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 3e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer or mx.init.Xavier(),
                         optimizer=optimizer, learning_rate=learning_rate, optimizer_params=optimizer_params)
        ffn_dim = 2 * d_model if ffn_dim is None else ffn_dim
        check_positive_integers(input_dim=input_dim, d_model=d_model, num_heads=num_heads, num_layers=num_layers,
                        code_dim=code_dim, ffn_dim=ffn_dim, num_memory=num_memory)
        if d_model % num_heads or d_model % 2:
            raise ValueError(f"d_model ({d_model}) must be even and a multiple of num_heads ({num_heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if norm not in ("pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {norm!r}")
        if not max_period > 1.0:
            raise ValueError(f"max_period must be > 1, got {max_period}")
        self.input_shape = (None, int(input_dim))
        self.input_dim = int(input_dim)
        self.d_model, self.code_dim = int(d_model), int(code_dim)
        args = (int(input_dim), self.d_model, int(num_heads), int(num_layers), int(ffn_dim), self.code_dim)
        with self.name_scope():
            self.encoder = _Encoder(*args, float(dropout), norm, float(max_period))
            self.decoder = _Decoder(*args, int(num_memory), float(dropout), norm, float(max_period))
            self.standardizer = InputStandardizer(int(input_dim)) if standardize else None
            self.loss = L2NormLoss()

    def hybrid_forward(self, F, x):
        if self.standardizer is None:
            return self.decoder(self.encoder(x), x)
        z, mean, scale = self.standardizer(x)
        return F.broadcast_add(F.broadcast_mul(self.decoder(self.encoder(z), z), scale), mean)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if x.ndim != 3:
            raise ValueError(f"TransformerEncoderDecoder needs sequences (N, T, {self.input_dim}), "
                             f"got shape {x.shape}")
        target = y if y is not None and y.shape == x.shape else x
        if self.standardizer is None:
            return self.loss(self(x), target)
        # The error in each feature's standard deviations: features in different units weigh alike.
        scale = self.standardizer.scale.data(x.context).reshape((1, 1, -1))
        return self.loss(mx.nd.broadcast_div(self(x), scale), mx.nd.broadcast_div(target, scale))

    def check_data(self, data: IteratableData) -> None:
        """Refuse, before training, targets that are not reconstructions (of the input's shape)."""
        super().check_data(data)
        for name, (x, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is not None and x is not None and tuple(y.shape) != tuple(x.shape):
                raise ValueError(f"{name} must be the reconstruction target with the input's shape "
                                 f"{tuple(x.shape)}, got {tuple(y.shape)}")

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes: the projected mean of the encoder states, ``(N, code_dim)``."""
        return self._batched(lambda x: self.encoder(x if self.standardizer is None else self.standardizer(x)[0]),
                             observed_arr, batch_size)
