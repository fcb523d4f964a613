"""Ladder networks, dense and convolutional.

Rasmus, Valpola, Honkala, Berglund & Raiko (2015), "Semi-Supervised Learning with Ladder Networks".
One encoder runs twice on every batch with shared weights: a *clean* path and a *corrupted* path that
adds Gaussian noise to the input and to every batch-normalized pre-activation. A decoder walks back
from the corrupted top layer; at each layer ``l`` the vanilla combinator ``g(z̃_l, u_l)`` merges the
lateral (noisy) value ``z̃_l`` with the top-down signal ``u_l`` into a denoised estimate ``ẑ_l``. The
cost is the cross-entropy of the corrupted path's prediction on the labeled samples plus, for every
layer, ``λ_l`` times the squared distance between ``ẑ_l`` (normalized with the clean path's batch
statistics) and the clean ``z_l``. Unlabeled samples only enter the denoising costs: that is where
the semi-supervised gain comes from. Prediction uses the clean path with running statistics.

Labels: ``y == -1`` marks an unlabeled sample (anything else must be a class ``0..K-1``); a batch
without any label is trained on the denoising costs alone.

The per-batch cost is one graph that follows the model's ``hybridize()``: small
ladders are dominated by MXNet's per-operator overhead, so hybridize the model before ``learn``.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..context import CtxLike
from ..gluon_internals import structural_params
from ..interfaces import IteratableData
from ..registry import register_model
from .base import ObservableModel
from .convolution import transposed_convolution
from .graphs import FunctionView, GraphCache

__all__ = ["LadderNetworks", "ConvolutionalLadderNetworks", "UNLABELED"]

#: the label that marks an unlabeled sample.
UNLABELED = -1

_BN_EPS = 1e-5
_BN_MOMENTUM = 0.9
# Vanilla combinator a1..a10 at the start (Rasmus et al. 2015, as in their code): a2 = a7 = 1, the
# rest 0, i.e. mu(u) = 0 and v(u) = 0 - the first estimate of every z is 0 and the decoder learns from there.
_COMBINATOR_START = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def _combinator_init(unit_shape: Tuple[int, ...]) -> mx.init.Initializer:
    start = np.ones((10,) + tuple(unit_shape[1:]), dtype=np.float32)
    start *= np.asarray(_COMBINATOR_START, dtype=np.float32).reshape((10,) + (1,) * (len(unit_shape) - 1))
    return mx.init.Constant(start)


def _batch_norm(F: Any, z: Any, mean: Any, var: Any, momentum: float, stats: bool = False) -> Any:
    """``BatchNorm`` without scale and shift (one operator, forward and backward, instead of a dozen):
    batch statistics while training, updating the running ``mean``/``var`` with ``momentum``
    (``momentum=1`` leaves them as they are: a batch normalization of its own batch). With ``stats``
    also returns the batch mean and inverse standard deviation (constants for autograd)."""
    # Separate gamma and beta arrays: with fix_gamma, BatchNorm writes 1 into its gamma input.
    return F.BatchNorm(z, F.ones_like(mean), F.zeros_like(mean), mean, var, eps=_BN_EPS, momentum=momentum,
                       fix_gamma=True, use_global_stats=False, output_mean_var=stats, axis=1)


def _keep_axes(stat: Any, like_ndim: int, F: Any) -> Any:
    """A per-channel statistic ``(C,)`` shaped to broadcast against ``(N, C)`` or ``(N, C, H, W)``."""
    return F.reshape(stat, shape=(1, -1) if like_ndim == 2 else (1, -1, 1, 1))


def _combinator(F: Any, z_noisy: Any, u: Any, a: Any, rank: int) -> Any:
    """The vanilla combinator ``ẑ = (z̃ - mu(u)) * v(u) + mu(u)`` with, per unit,
    ``mu(u) = a1 sigmoid(a2 u + a3) + a4 u + a5`` and ``v(u) = a6 sigmoid(a7 u + a8) + a9 u + a10``.

    ``a`` is ``(10, *unit_shape[1:])`` for values of ``rank`` 2 or 4; it is spread over the batch
    (and space) once, so that the rest is element-wise: the backward pass of MXNet's broadcasting
    operators reduces over the batch for every operand, one slow kernel each."""
    spread = [1] + list(range(3, rank + 1))  # batch and spatial axes
    full = F.broadcast_like(F.expand_dims(a, axis=1), F.expand_dims(u, axis=0), lhs_axes=spread, rhs_axes=spread)
    a1, a2, a3, a4, a5, a6, a7, a8, a9, a10 = F.split(full, num_outputs=10, axis=0, squeeze_axis=True)

    def sig(x: Any) -> Any:
        return F.Activation(x, act_type="sigmoid")  # oneDNN's kernel: much faster than F.sigmoid

    mu = a1 * sig(a2 * u + a3) + a4 * u + a5
    v = a6 * sig(a7 * u + a8) + a9 * u + a10
    return (z_noisy - mu) * v + mu


class _Ladder(ObservableModel):
    """What the dense and the convolutional ladder share: parameters, both encoder paths, the
    decoder, the cost, prediction, label checks and metrics. A subclass sets ``_unit_shapes`` (the
    per-unit parameter shape of every layer ``0..L``: ``(1, n)`` or ``(1, C, 1, 1)``), builds its
    layer weights in ``_build_layers`` and defines ``_encode(F, l, h, p)`` (pre-activation of layer
    ``l`` from the activation below) and ``_decode(F, l, z_hat, like, p)`` (layer ``l``'s estimate
    mapped down to the shape of ``like``, the layer below)."""

    _unit_shapes: List[Tuple[int, ...]]

    def _setup(self, num_classes: int, noise_std: float, denoising_weights: Optional[Sequence[float]]) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if not np.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        n_layers = len(self._unit_shapes) - 1
        if denoising_weights is None:
            # The paper's MNIST weighting, shortened to this depth: input 1000, first layer 10, 0.1 above.
            lambdas = [1000.0, 10.0] + [0.1] * (n_layers - 1)
        else:
            lambdas = [float(w) for w in denoising_weights]
            if len(lambdas) != n_layers + 1:
                raise ValueError(f"denoising_weights needs one weight per layer, input included: "
                                 f"{n_layers + 1} values, got {len(lambdas)}")
            if any(not np.isfinite(w) or w < 0 for w in lambdas):
                raise ValueError(f"denoising_weights must be finite and >= 0, got {lambdas}")
        self.num_classes = int(num_classes)
        self.noise_std = float(noise_std)
        self.denoising_weights = lambdas
        self.n_layers = n_layers
        used = [l for l, w in enumerate(lambdas) if w > 0]
        # The decoder runs from the top down to the lowest layer with a denoising cost.
        self._lowest = min(used) if used else n_layers + 1
        for l in range(1, n_layers + 1):
            shape = self._unit_shapes[l]
            width = shape[1]
            setattr(self, f"beta{l}", self.params.get(f"beta{l}", shape=shape, init=mx.init.Zero()))
            setattr(self, f"running_mean{l}", self.params.get(
                f"running_mean{l}", shape=(width,), init=mx.init.Zero(), grad_req="null", differentiable=False))
            setattr(self, f"running_var{l}", self.params.get(
                f"running_var{l}", shape=(width,), init=mx.init.One(), grad_req="null", differentiable=False))
        self.gamma = self.params.get("gamma", shape=self._unit_shapes[-1], init=mx.init.One())
        for l, shape in enumerate(self._unit_shapes):
            # The "running" statistics of the batch normalizations that use the batch's own statistics
            # (momentum 1: they never change); BatchNorm needs them as arguments.
            setattr(self, f"fixed_mean{l}", self.params.get(
                f"fixed_mean{l}", shape=(shape[1],), init=mx.init.Zero(), grad_req="null", differentiable=False))
            setattr(self, f"fixed_var{l}", self.params.get(
                f"fixed_var{l}", shape=(shape[1],), init=mx.init.One(), grad_req="null", differentiable=False))
        for l, shape in enumerate(self._unit_shapes):
            setattr(self, f"a{l}", self.params.get(f"a{l}", shape=(10,) + shape[1:], init=_combinator_init(shape),
                                                   grad_req="write" if l >= self._lowest else "null"))
        self._build_layers()
        for l in range(1, n_layers + 1):
            if l - 1 < self._lowest:  # decoder weight V_l feeds layer l - 1: unused below the lowest cost
                getattr(self, f"v{l}").grad_req = "null"
        # The cost and the clean predictor are graphs of their own over the model's parameters (kept
        # out of its children, so its files hold each parameter once); they follow hybridize().
        self._graphs = GraphCache()
        self._graphs.active = False

    def _build_layers(self) -> None:
        raise NotImplementedError

    def _encode(self, F: Any, l: int, h: Any, p: Dict[str, Any]) -> Any:
        raise NotImplementedError

    def _decode(self, F: Any, l: int, z_hat: Any, like: Any, p: Dict[str, Any]) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------ graphs
    def _clean_bn(self, F: Any, l: int, z_pre: Any, p: Dict[str, Any], stats: bool = False) -> Any:
        """Batch normalization of the clean path: batch statistics while training (updating the
        running ones), running statistics in prediction."""
        return _batch_norm(F, z_pre, p[f"running_mean{l}"], p[f"running_var{l}"], _BN_MOMENTUM, stats)

    def _own_bn(self, F: Any, l: int, z: Any, p: Dict[str, Any]) -> Any:
        """Batch normalization with the batch's own statistics (corrupted path, decoder); the cost
        graph only runs in training mode."""
        return _batch_norm(F, z, p[f"fixed_mean{l}"], p[f"fixed_var{l}"], 1.0)

    def _activate(self, F: Any, l: int, z: Any, p: Dict[str, Any]) -> Any:
        """``relu(z + beta)`` below the top; the top gives logits ``gamma * (z + beta)``."""
        shifted = F.broadcast_add(z, p[f"beta{l}"])
        if l == self.n_layers:
            return F.broadcast_mul(shifted, p["gamma"])
        return F.relu(shifted)

    def hybrid_forward(self, F, x, **p):
        return self._predict_graph(F, x, p)

    def forward(self, x: Any, *args: Any) -> Any:
        with warnings.catch_warnings():
            # Prediction needs the encoder only; Gluon would warn that the decoder's parameters
            # are unused by this graph, which is intended.
            warnings.filterwarnings("ignore", message="Parameter .* is not used by any computation")
            return super().forward(x, *args)

    def _predict_graph(self, F: Any, x: Any, p: Dict[str, Any]) -> Any:
        h = x
        for l in range(1, self.n_layers + 1):
            h = self._activate(F, l, self._clean_bn(F, l, self._encode(F, l, h, p), p), p)
        return F.softmax(h, axis=-1)

    def _cost(self, F: Any, x: Any, y: Any, p: Dict[str, Any]) -> Any:
        """Per-sample cost: supervised cross-entropy (labeled samples) + sum of ``λ_l`` denoising costs."""
        L, sigma = self.n_layers, self.noise_std

        def corrupt(z: Any) -> Any:
            return z + F.random.normal_like(z, loc=0.0, scale=sigma) if sigma > 0 else z

        clean_z, clean_mean, clean_inv_std, noisy_z = [x], [None], [None], [corrupt(x)]
        h_clean, h_noisy = x, noisy_z[0]
        for l in range(1, L + 1):
            z, mean, inv_std = self._clean_bn(F, l, self._encode(F, l, h_clean, p), p, stats=True)
            z_noisy = corrupt(self._own_bn(F, l, self._encode(F, l, h_noisy, p), p))
            clean_z.append(z)
            clean_mean.append(mean)
            clean_inv_std.append(inv_std)
            noisy_z.append(z_noisy)
            h_clean, h_noisy = self._activate(F, l, z, p), self._activate(F, l, z_noisy, p)

        # Supervised: the corrupted path's prediction, on the labeled samples only, averaged over them.
        log_prob = F.log_softmax(h_noisy, axis=-1)
        labeled = y >= 0
        nll = -F.pick(log_prob, F.relu(y), axis=-1)
        n = F.sum(F.ones_like(y))
        weight = F.broadcast_div(labeled, F.maximum(F.sum(labeled), 1.0))
        cost = F.broadcast_mul(weight, n) * nll

        if self._lowest <= L:
            u = self._own_bn(F, L, F.softmax(h_noisy, axis=-1), p)
            z_hat: Any = None  # the top layer's, set first: each lower layer decodes the one above
            for l in range(L, self._lowest - 1, -1):
                if l < L:
                    u = self._own_bn(F, l, self._decode(F, l + 1, z_hat, noisy_z[l], p), p)
                z_hat = _combinator(F, noisy_z[l], u, p[f"a{l}"], len(self._unit_shapes[l]))
                if self.denoising_weights[l] > 0:
                    ndim = len(self._unit_shapes[l])
                    # Normalized with the clean path's batch statistics (Rasmus et al. 2015, eq. 13).
                    # The statistics are constants here (BlockGrad says so; BatchNorm passes no gradient
                    # through them either).
                    estimate = z_hat if l == 0 else F.broadcast_mul(
                        F.broadcast_sub(z_hat, F.BlockGrad(_keep_axes(clean_mean[l], ndim, F))),
                        F.BlockGrad(_keep_axes(clean_inv_std[l], ndim, F)))
                    error = F.mean(F.square(estimate - clean_z[l]), axis=0, exclude=True)
                    cost = cost + self.denoising_weights[l] * error
        return cost

    # ------------------------------------------------------------------ training
    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Hybridize prediction and the training cost graph alike."""
        super().hybridize(active, **kwargs)
        self._graphs.hybridize(active, **kwargs)

    def _own_params(self, encoder_only: bool = False) -> Dict[str, gluon.Parameter]:
        """The model's parameters by attribute name (the encoder's alone: not the combinators,
        the fixed statistics or the decoder)."""
        own = {name: p for name, p in structural_params(self).items() if "." not in name}
        return {n: p for n, p in own.items() if not (encoder_only and n[0] in "afv")}

    def _cost_graph(self) -> gluon.HybridBlock:
        """Per-sample ladder cost ``(N,)`` of a batch ``(x, y)`` as one graph."""
        return self._graphs.graph("cost", lambda: FunctionView(
            self._own_params(), lambda F, inputs, p: self._cost(F, inputs[0], inputs[1], p),
            prefix=self.prefix + "cost_"))

    def _predictor_graph(self) -> gluon.HybridBlock:
        """The clean path alone (what ``export`` writes: the decoder is not needed to predict)."""
        return self._graphs.graph("predictor", lambda: FunctionView(
            self._own_params(encoder_only=True), lambda F, inputs, p: self._predict_graph(F, inputs[0], p),
            prefix=self.prefix + "clean_"))

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> Tuple[str, str]:
        """Write ``path-symbol.json`` and ``path-%04d.params`` of the prediction graph (the clean
        encoder with running statistics; the decoder is left out). Load with
        ``gluon.SymbolBlock.imports(symbol_file, ["data"], params_file)``."""
        predictor = self._predictor_graph()
        predictor.hybridize()
        predictor(self.example_input(1))
        predictor.export(path, epoch, remove_amp_cast=remove_amp_cast)
        return f"{path}-symbol.json", f"{path}-{epoch:04d}.params"

    def _labels(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            return mx.nd.full((x.shape[0],), UNLABELED, ctx=x.context)
        return y.reshape((-1,)).as_in_context(x.context)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        """Per-sample ladder cost ``(N,)``; ``y`` holds classes or `UNLABELED` (``None``: all unlabeled)."""
        return self._cost_graph()(x, self._labels(x, y))

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, Any]:
        """Summed cross-entropy of the clean prediction over the labeled samples of a held-out batch
        (unlabeled samples count 0, the sum is averaged over all samples), and the correct
        predictions with the number of labeled samples they are counted over (``test_accuracy`` is
        over the labeled samples only)."""
        x = x.as_in_context(self.ctx[0])
        labels = self._labels(x, y)
        probs = self(x)
        labeled = labels >= 0
        nll = -mx.nd.log(mx.nd.pick(probs, mx.nd.relu(labels), axis=-1) + 1e-12)
        result: Dict[str, Any] = {"loss": (labeled * nll).sum()}
        if y is not None:
            result["accuracy"] = ((mx.nd.argmax(probs, axis=1) == labels).sum(), labeled.sum())
        return result

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        for name, (_, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is None:
                continue
            labels = np.asarray(y)
            if labels.ndim != 1:
                raise ValueError(f"{name} must be class labels of shape (N,), got shape {labels.shape}")
            bad = ((labels != UNLABELED) & ((labels < 0) | (labels >= self.num_classes))) | (labels != np.round(labels))
            if bad.any():
                raise ValueError(f"{name} holds labels outside 0..{self.num_classes - 1} and {UNLABELED} "
                                 f"(unlabeled), e.g. {labels[bad][0]:g}")


def _labels_with_unlabeled(rng: np.random.RandomState, n: int, k: int) -> np.ndarray:
    y = rng.randint(0, k, n).astype(np.float32)
    y[rng.rand(n) < 0.5] = UNLABELED
    y[:k] = np.arange(k)  # every class labeled at least once
    return y


def _example_dense(rng: np.random.RandomState):
    x = rng.rand(24, 6).astype(np.float32)
    return dict(input_dim=6, hidden_dims=[8], num_classes=3, learning_rate=0.01), x, _labels_with_unlabeled(rng, 24, 3)


def _example_conv(rng: np.random.RandomState):
    x = rng.rand(16, 1, 6, 6).astype(np.float32)
    return (dict(in_channels=1, num_classes=3, channels=[4], learning_rate=0.01), x,
            _labels_with_unlabeled(rng, 16, 3))


@register_model("ladder_networks", example=_example_dense)
class LadderNetworks(_Ladder):
    """Dense ladder network for semi-supervised classification (Rasmus et al. 2015).

    Encoder layers ``input_dim -> hidden_dims... -> num_classes``, each ``z = BN(W h)`` then
    ``h = relu(z + beta)`` (softmax of ``gamma (z + beta)`` at the top). Training runs a clean and a
    corrupted pass (Gaussian noise ``noise_std`` on the input and on every normalized ``z``), a
    decoder with the vanilla combinator ``g(z̃, u)`` (ten parameters per unit) at every layer, and
    minimises the corrupted path's cross-entropy on the labeled samples plus
    ``sum_l denoising_weights[l] * mean_units (ẑ_l,BN - z_l)^2``. Labels of ``-1`` (`UNLABELED`)
    mark unlabeled samples; they feed the denoising costs only.

    Args:
        input_dim: features per sample.
        num_classes: number of classes.
        hidden_dims: sizes of the hidden layers.
        noise_std: standard deviation of the corruption (inputs and every layer). The default 0.2
            is below the paper's 0.3 (MNIST): on 64-pixel digits with 100 labels, 0.3 learns the
            hard label draws much more slowly (label seeds 10-13, 150 epochs: 3.9, 3.3, 6.7, 9.4 %
            test error with 0.3 against 3.3, 3.3, 5.0, 5.6 % with 0.2; 0.15 was worse again).
        denoising_weights: ``λ_0..λ_L``, one per layer with the input first (default
            ``1000, 10, 0.1, ...``, the paper's MNIST weighting); a ``0`` drops that layer's cost.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`
            (Adam with learning rate 0.002 as in the paper by default).

    Shapes:
        input ``(N, input_dim)``; ``self(x)`` and ``inference(x)`` -> class probabilities
        ``(N, num_classes)`` of the clean path with running batch statistics. Labels ``(N,)`` in
        ``0..num_classes-1`` or ``-1``. ``loss_arr[:, 0]`` is the training cost, ``loss_arr[:, 1]``
        the clean cross-entropy on the labeled test samples; ``history["test_accuracy"]`` their accuracy.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> digits = load_digits()
        >>> x, y = (digits.data / 16).astype("float32"), digits.target.astype("float32")
        >>> y_partial = np.where(np.arange(len(y)) % 10 == 0, y, -1)       # 10 % labeled
        >>> ladder = LadderNetworks(input_dim=64, num_classes=10, seed=0)
        >>> ladder.hybridize()
        >>> it = ArrayIterator(x, y_partial, batch_size=100, epochs=150, seed=0)   # the paper's protocol
        >>> ladder = ladder.learn(it, epochs=1, verbose=False)    # one epoch here, to keep the example fast
        >>> ladder.inference(x[:5]).shape
        (5, 10)
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden_dims: Sequence[int] = (100, 50),
        *,
        noise_std: float = 0.2,
        denoising_weights: Optional[Sequence[float]] = None,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 2e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        dims = [int(input_dim)] + [int(h) for h in hidden_dims] + [int(num_classes)]
        if any(d < 1 for d in dims):
            raise ValueError(f"layer sizes must be positive, got input_dim={input_dim}, hidden_dims={hidden_dims}")
        self.dims = dims
        self.input_shape = (dims[0],)
        self._unit_shapes = [(1, d) for d in dims]
        with self.name_scope():
            self._setup(num_classes, noise_std, denoising_weights)

    def _build_layers(self) -> None:
        for l in range(1, len(self.dims)):
            setattr(self, f"w{l}", self.params.get(f"w{l}", shape=(self.dims[l], self.dims[l - 1])))
            setattr(self, f"v{l}", self.params.get(f"v{l}", shape=(self.dims[l - 1], self.dims[l])))

    def _encode(self, F: Any, l: int, h: Any, p: Dict[str, Any]) -> Any:
        return F.FullyConnected(h, p[f"w{l}"], num_hidden=self.dims[l], no_bias=True)

    def _decode(self, F: Any, l: int, z_hat: Any, like: Any, p: Dict[str, Any]) -> Any:
        return F.FullyConnected(z_hat, p[f"v{l}"], num_hidden=self.dims[l - 1], no_bias=True)


@register_model("conv_ladder_networks", example=_example_conv)
class ConvolutionalLadderNetworks(_Ladder):
    """Convolutional ladder network for semi-supervised image classification (Rasmus et al. 2015).

    Encoder: per entry of ``channels`` a ``kernel_size`` convolution ("same" padding, no bias),
    followed by 2x2 max pooling where ``pool`` says so, then batch normalization (per channel),
    noise and ``relu(z + beta)``; the top layer is global average pooling and a dense layer to
    ``num_classes`` (``softmax(gamma (z + beta))``). The decoder mirrors it: the top estimate is
    mapped to one value per channel and spread over the last feature map, then each layer goes down
    through nearest-neighbour unpooling and a transposed convolution with its own weights. Every
    layer (the image included) has a denoising cost with the vanilla combinator, whose ten
    parameters are shared over space (one set per channel). Labels of ``-1`` mark unlabeled samples.

    Args:
        in_channels: channels of the input images ``(N, C, H, W)``; any height and width.
        num_classes: number of classes.
        channels: output channels of the convolutional layers.
        pool: per convolutional layer, whether a 2x2 max pooling follows (default: all).
        kernel_size: odd kernel size of the convolutions.
        noise_std, denoising_weights: as in `LadderNetworks` (``len(channels) + 2`` weights).
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, in_channels, H, W)``; ``self(x)`` and ``inference(x)`` -> class probabilities
        ``(N, num_classes)``. Labels ``(N,)`` in ``0..num_classes-1`` or ``-1``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> digits = load_digits()
        >>> x = (digits.data / 16).astype("float32").reshape(-1, 1, 8, 8)
        >>> y = np.where(np.arange(len(x)) % 10 == 0, digits.target, -1)
        >>> ladder = ConvolutionalLadderNetworks(in_channels=1, num_classes=10, channels=[8], seed=0)
        >>> ladder = ladder.learn(ArrayIterator(x[:100], y[:100], batch_size=50, epochs=1, seed=0), verbose=False)
        >>> ladder.inference(x[:3]).shape
        (3, 10)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        *,
        pool: Optional[Sequence[bool]] = None,
        kernel_size: int = 3,
        noise_std: float = 0.2,
        denoising_weights: Optional[Sequence[float]] = None,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 2e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        chans = [int(in_channels)] + [int(c) for c in channels]
        if any(c < 1 for c in chans) or len(chans) < 2:
            raise ValueError(f"need in_channels >= 1 and at least one positive entry in channels, "
                             f"got in_channels={in_channels}, channels={channels}")
        pools = [True] * (len(chans) - 1) if pool is None else [bool(b) for b in pool]
        if len(pools) != len(chans) - 1:
            raise ValueError(f"pool needs one flag per convolutional layer ({len(chans) - 1}), got {len(pools)}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number (same padding), got {kernel_size}")
        self.channels = chans
        self.pool = pools
        self.kernel_size = int(kernel_size)
        self.input_shape = (chans[0], None, None)
        self._unit_shapes = [(1, c, 1, 1) for c in chans] + [(1, int(num_classes))]
        with self.name_scope():
            self._setup(num_classes, noise_std, denoising_weights)

    def _build_layers(self) -> None:
        k, chans = self.kernel_size, self.channels
        for l in range(1, len(chans)):
            setattr(self, f"w{l}", self.params.get(f"w{l}", shape=(chans[l], chans[l - 1], k, k)))
            # Transposed-convolution weights are (input channels, output channels, k, k): from layer l to l - 1.
            setattr(self, f"v{l}", self.params.get(f"v{l}", shape=(chans[l], chans[l - 1], k, k)))
        top = len(chans)
        setattr(self, f"w{top}", self.params.get(f"w{top}", shape=(self.num_classes, chans[-1])))
        setattr(self, f"v{top}", self.params.get(f"v{top}", shape=(chans[-1], self.num_classes)))

    def _encode(self, F: Any, l: int, h: Any, p: Dict[str, Any]) -> Any:
        if l == self.n_layers:
            pooled = F.Pooling(h, global_pool=True, pool_type="avg", kernel=(1, 1))
            return F.FullyConnected(pooled, p[f"w{l}"], num_hidden=self.num_classes, no_bias=True)
        k = self.kernel_size
        z = F.Convolution(h, p[f"w{l}"], kernel=(k, k), pad=(k // 2, k // 2), num_filter=self.channels[l],
                          no_bias=True)
        if self.pool[l - 1]:
            # "full": odd sizes keep their last row/column; unpooling crops back to the size below.
            z = F.Pooling(z, kernel=(2, 2), stride=(2, 2), pool_type="max", pooling_convention="full")
        return z

    def _decode(self, F: Any, l: int, z_hat: Any, like: Any, p: Dict[str, Any]) -> Any:
        if l == self.n_layers:
            per_channel = F.FullyConnected(z_hat, p[f"v{l}"], num_hidden=self.channels[-1], no_bias=True)
            return F.broadcast_like(F.reshape(per_channel, shape=(0, 0, 1, 1)), like)
        if self.pool[l - 1]:
            z_hat = F.slice_like(F.UpSampling(z_hat, scale=2, sample_type="nearest"), like, axes=(2, 3))
        k = self.kernel_size
        return transposed_convolution(F, z_hat, p[f"v{l}"], kernel=k, pad=k // 2, num_filter=self.channels[l - 1])
