"""Restricted Boltzmann machines: Bernoulli or Gaussian visible units, Bernoulli hidden units.

A real, stochastic RBM (Smolensky 1986; Hinton 2002): Gibbs sampling, contrastive divergence (CD-k)
and persistent contrastive divergence (PCD-k, Tieleman 2008), free energies, pseudo-log-likelihood,
the exact partition function (for at most 20 hidden units) and annealed importance sampling (AIS,
Salakhutdinov & Murray 2008) for larger models.

Energy with the weight ``W`` of shape ``(H, V)`` (the `FullyConnected` layout):

- Bernoulli visible units: ``E(v, h) = -b_v.v - b_h.h - h.W v``
- Gaussian visible units (unit variance; standardize the data): ``E(v, h) = |v - b_v|^2 / 2 - b_h.h - h.W v``

Matrix products (measured on the 2-core CI machine, MXNet 1.9.1 CPU wheel, 100x784x500): bottom-up
``W v`` uses `FullyConnected` (oneDNN, ~76 GFLOP/s; `dot` ~60). Top-down ``W^T h`` and the weight
gradient use `dot`: FullyConnected would need a transposed copy of ``W`` or of the activations each
batch, and transposing ``W`` (~0.2 ms) costs more than it saves - measured, no gain either way. On
tiny products (``H * V`` below `_FC_MIN_SIZE`) `dot` is ~10 us faster per call than FullyConnected.
Column sums are products with a ones vector: MXNet's CPU reductions are several times slower.

The unit primitives, parameter views, graph cache and persistent chains are shared with the other
Boltzmann machines (`models.boltzmann`).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..context import CtxLike, split_batch
from ..gluon_internals import (
    count_update,
    local_updater,
    mark_fresh_gradients,
    optimizer_of,
    set_gradient_rescale,
    updater_states,
    weight_decays,
)
from ..interfaces import Batch, IteratableData, RegularizatableData
from ..registry import register_model
from ..training import StepSums, TaskProgress, apply_gradients
from .base import ObservableModel, momentum_optimizer_params
from .boltzmann import (
    PersistentChains,
    bernoulli,
    check_bernoulli_data,
    free_energy,
    hidden_pre,
    log_odds,
    sigmoid,
    visible_mean,
    visible_sample,
)
from .graphs import GraphCache, ParameterView
from .partition import LogPartitionCache, ais_betas, cache_key, log_mean_exp, logsumexp_binary_states

__all__ = ["RestrictedBoltzmannMachines", "VISIBLE_TYPES", "noise_counts"]

VISIBLE_TYPES = ("bernoulli", "gaussian")
_LOG_2PI = math.log(2 * math.pi)


class _RBMView(ParameterView):
    """A graph over an RBM's parameters (``weight``, ``visible_bias``, ``hidden_bias``) and its unit
    settings, so that each graph the RBM needs (CD step, Gibbs step, free energy, AIS) is compiled
    on its own."""

    def __init__(self, rbm: "RestrictedBoltzmannMachines") -> None:
        super().__init__({name: getattr(rbm, name) for name in ("weight", "visible_bias", "hidden_bias")})
        self.num_hidden = rbm.hidden_dim
        self.gaussian = rbm.visible_type == "gaussian"
        self.up, self.down = rbm.up_scale, rbm.down_scale


def noise_counts(k: int, persistent: bool) -> Tuple[int, int]:
    """Random arrays one CD-k / PCD-k update draws: ``(hidden samples, visible samples)``.

    CD-k samples h k times and v k - 1 times (its last visible state is the mean, not a sample);
    PCD-k samples both k times (the chain carries the last visible sample).

    Example:
        >>> noise_counts(1, False), noise_counts(3, True)
        ((1, 0), (3, 3))
    """
    return k, (k if persistent else k - 1)


#: ``H * V`` from which `_FusedEpoch` computes hidden pre-activations with `FullyConnected` (oneDNN,
#: faster on large products) rather than ``dot`` (OpenBLAS, ~10 us less per call on tiny ones).
_FC_MIN_SIZE = 1 << 16


class _ContrastiveDivergence(_RBMView):
    """One CD-k / PCD-k gradient: ``(grad_W, grad_b_v, grad_b_h, chain, reconstruction_error)``.

    Gradients are *loss* gradients (negated log-likelihood gradient estimates) summed over the batch,
    ready for a Gluon optimizer. The negative phase uses visible probabilities for CD (less noise,
    Hinton 2010 §3.2) and the persistent chain's samples for PCD.

    Inputs: ``v0``, the chain (PCD only), then optionally the random numbers of the update (one
    ``(B, H)`` uniform array per hidden sample and one ``(B, V)`` array, uniform or normal, per
    visible sample: see `noise_counts`). Without them the graph draws its own.
    """

    def __init__(self, rbm: "RestrictedBoltzmannMachines") -> None:
        super().__init__(rbm)
        self.k, self.persistent = rbm.k, rbm.persistent
        self.num_visible = rbm.visible_dim

    def hybrid_forward(self, F, v0, *inputs, weight, visible_bias, hidden_bias):
        up, down, n_hidden, gaussian = self.up, self.down, self.num_hidden, self.gaussian
        chain = inputs[0] if self.persistent else None
        noise = list(inputs[1 if self.persistent else 0:])
        n_h, n_v = noise_counts(self.k, self.persistent)
        hidden_noise, visible_noise = (noise[:n_h], noise[n_h:]) if noise else ([None] * n_h, [None] * n_v)

        def hidden(v):
            return sigmoid(F, hidden_pre(F, v, weight, hidden_bias, n_hidden, up))

        def visible(h):
            pre = F.broadcast_add(F.dot(h if down == 1.0 else h * down, weight), visible_bias.reshape((1, -1)))
            return pre if gaussian else sigmoid(F, pre)

        def bernoulli_from(p, u):
            return (F.random.uniform_like(p) if u is None else u) < p

        def visible_sample(mean, e):
            if gaussian:
                return mean + (F.random.normal_like(mean) if e is None else e)
            return bernoulli_from(mean, e)

        h_pos = hidden(v0)
        h = bernoulli_from(hidden(chain) if self.persistent else h_pos, hidden_noise[0])
        v = None
        for step in range(self.k):
            v_mean = visible(h)
            if self.persistent or step < self.k - 1:
                v = visible_sample(v_mean, visible_noise[step])
            if step == 0 and not self.persistent:
                first_mean = v_mean
            if step < self.k - 1:
                h = bernoulli_from(hidden(v), hidden_noise[step + 1])
        if self.persistent:
            first_mean = visible(h_pos)
        v_neg = v if self.persistent else v_mean
        h_neg = hidden(v_neg)
        # One product for both phases: [-h_pos; h_neg]^T [v0; v_neg] = -(positive - negative).
        # dot(transpose_a): FullyConnected with transposed activations measured no faster.
        phases_h = F.concat(-h_pos, h_neg, dim=0)
        grad_weight = F.dot(phases_h, F.concat(v0, v_neg, dim=0), transpose_a=True)
        # Sums as products with a ones vector: MXNet's CPU reductions are several times slower
        # (1.2 vs 0.3 ms for a 200 x 784 column sum).
        ones = F.ones_like(F.slice_axis(v0, axis=1, begin=0, end=1))  # (B, 1)
        difference = v_neg - v0
        grad_visible = F.reshape(F.dot(ones, difference, transpose_a=True), shape=(-1,))
        grad_hidden = F.reshape(F.dot(F.concat(ones, ones, dim=0), phases_h, transpose_a=True), shape=(-1,))
        # CD-1 reconstructs with its negative phase: the same difference, up to the sign.
        residual = F.reshape(difference if self.k == 1 and not self.persistent else v0 - first_mean, shape=(1, -1))
        error = F.reshape(F.dot(residual, residual, transpose_b=True), shape=(1,)) / self.num_visible
        return grad_weight, grad_visible, grad_hidden, v_neg, error


def _device_column(values: Sequence[float], device: mx.Context) -> mx.nd.NDArray:
    """``values`` as an ``(n, 1, 1)`` array made by ``full`` operators, one per run of equal values:
    unlike ``mx.nd.array`` (a synchronous copy that waits for the engine to drain) they queue."""
    runs: List[List[float]] = []
    for value in values:
        if runs and runs[-1][0] == value:
            runs[-1][1] += 1
        else:
            runs.append([value, 1])
    parts = [mx.nd.full((count, 1, 1), value, ctx=device) for value, count in runs]
    return parts[0] if len(parts) == 1 else mx.nd.concat(*parts, dim=0)


#: The corner of the packed parameter matrix (see `_FusedEpoch`): large enough that the extra
#: pre-activation column it feeds saturates the logistic function to exactly 1.
_ONES_GENERATOR = 1e30
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _unstack(F: Any, x: Any, n: int) -> List[Any]:
    """The ``n`` slices of ``x`` along axis 0, without that axis."""
    if n == 1:
        return [F.reshape(x, shape=(-3, -2))]
    return list(F.split(x, num_outputs=n, axis=0, squeeze_axis=True))


class _FusedEpoch(gluon.HybridBlock):
    """``n`` consecutive CD-k / PCD-k updates of batch size ``b`` with SGD + momentum in one graph.

    MXNet spends ~5-20 us per operator call, which dominates small RBMs; this graph does a whole
    update in 12 operators (CD-1, Bernoulli units, weight decay, constant learning rate; 14 with a
    schedule) and unrolls ``n`` updates into one call. The parameters travel packed in one ``(H+1, V+1)`` matrix

        theta = [[W, b_h], [b_v, C]]        (C = `_ONES_GENERATOR`)

    and every visible state carries a column of ones: ``[v, 1] theta^T`` is
    ``[W v + b_h, b_v.v + C]`` and ``[h, 1] theta`` is ``[h W + b_v, b_h.h + C]``, whose last
    columns saturate the logistic function to exactly 1, so the hidden and visible states keep
    their ones column through the chain (Gaussian means are capped to 1 there). The product
    ``[h, 1]^T [v, 1]`` of each phase then holds the weight gradient and both bias gradients, and
    the momentum update ``mom = momentum * mom - lr * (rescale * grad + wd * w); w += mom``
    (MXNet's ``sgd_mom_update``; weight decay ``wd * wd_mult`` per block) costs two ``linalg.gemm``
    calls accumulating into the momentum and three element-wise operators for all parameters.
    The corner's gradient is 0 (b ones minus b ones), so C stays.

    The math is `_ContrastiveDivergence`'s, step for step: same sampling order, and the same random
    numbers when they are given (`RestrictedBoltzmannMachines._noise_source`).

    Inputs: the ``n`` batches ``(b, V)``; hidden uniforms ``(n, n_h, b, H+1)``; [visible noise
    ``(n, n_v, b, V+1)``, last column 0 for Gaussian units]; with a learning-rate schedule
    ``lr * rescale_grad`` and [``lr``] as ``(n, 1, 1)`` (with a constant rate ``step`` is an
    attribute); [the weight-decay mask: ``-wd`` per block, times ``lr`` for a constant rate]; theta;
    mom; [chain ``(b, V)`` (PCD)]; [up / down scale masks]; [visible cap (Gaussian units)].
    Outputs: theta, mom, the summed squared reconstruction error, [chain].
    """

    def __init__(self, rbm: "RestrictedBoltzmannMachines", n: int, b: int, momentum: float,
                 weight_decay: bool, step: Optional[float] = None) -> None:
        super().__init__(prefix=f"fused{n}x{b}_")
        self.n, self.b, self.momentum, self.weight_decay = n, b, float(momentum), weight_decay
        # A constant learning rate (no schedule) is baked in: ``step = lr * rescale_grad``.
        self.step = step
        self.num_visible, self.num_hidden = rbm.visible_dim, rbm.hidden_dim
        self.k, self.persistent, self.gaussian = rbm.k, rbm.persistent, rbm.gaussian
        self.up, self.down = rbm.up_scale, rbm.down_scale
        # oneDNN's FullyConnected pays ~20 us per call, OpenBLAS's dot ~10: dot for small products.
        self.use_fc = rbm.hidden_dim * rbm.visible_dim >= _FC_MIN_SIZE

    def hybrid_forward(self, F, *args):
        n, b, k, persistent, gaussian = self.n, self.b, self.k, self.persistent, self.gaussian
        V, H = self.num_visible, self.num_hidden
        n_h, n_v = noise_counts(k, persistent)
        xs, rest = args[:n], list(args[n:])
        u = _unstack(F, F.reshape(rest.pop(0), shape=(-3, -2)), n * n_h)
        e = _unstack(F, F.reshape(rest.pop(0), shape=(-3, -2)), n * n_v) if n_v else []
        constant = self.step is not None
        step = None if constant else rest.pop(0)
        if self.weight_decay:
            rates = None if constant else _unstack(F, rest.pop(0), n)
            decay_mask = rest.pop(0)
        theta, mom = rest.pop(0), rest.pop(0)
        chain = rest.pop(0) if persistent else None
        up_mask = rest.pop(0) if self.up != 1.0 else None
        down_mask = rest.pop(0) if self.down != 1.0 else None
        cap = rest.pop(0) if gaussian else None

        data = F.concat(xs[0] if n == 1 else F.concat(*xs, dim=0), F.ones(shape=(n * b, 1)), dim=1)
        data = F.reshape(data, shape=(n, b, V + 1))
        batches = _unstack(F, data, n)
        if not constant:
            positives = _unstack(F, F.broadcast_mul(data, step), n)
            steps = _unstack(F, step, n)
        if persistent:
            chain = F.concat(chain, F.ones(shape=(b, 1)), dim=1)

        firsts = []
        for t in range(n):
            theta_up = theta if up_mask is None else theta * up_mask
            theta_down = theta if down_mask is None else theta * down_mask

            # (theta_* bound as defaults: these run within this iteration, on its theta_*)
            def hidden(v, theta_up=theta_up):
                if self.use_fc:
                    return sigmoid(F, F.FullyConnected(v, theta_up, no_bias=True, num_hidden=H + 1))
                return sigmoid(F, F.dot(v, theta_up, transpose_b=True))

            def visible(h, theta_down=theta_down):
                pre = F.dot(h, theta_down)
                return F.broadcast_minimum(pre, cap) if gaussian else sigmoid(F, pre)

            def visible_sample(mean, noise):
                return mean + noise if gaussian else noise < mean

            v0 = batches[t]
            h_pos = hidden(v0)
            h = u[t * n_h] < (hidden(chain) if persistent else h_pos)
            v = None
            for s in range(k):
                v_mean = visible(h)
                if persistent or s < k - 1:
                    v = visible_sample(v_mean, e[t * n_v + s])
                if s == 0 and not persistent:
                    first_mean = v_mean
                if s < k - 1:
                    h = u[t * n_h + s + 1] < hidden(v)
            if persistent:
                first_mean = visible(h_pos)
                chain = v
            v_neg = v if persistent else v_mean
            h_neg = hidden(v_neg)
            # mom <- momentum * mom + lr * rescale * (h_pos^T v0 - h_neg^T v_neg) - lr * wd * theta
            if self.step is not None:  # constant
                mom = F.linalg.gemm(h_pos, v0, mom, alpha=self.step, beta=self.momentum, transpose_a=True)
                mom = F.linalg.gemm(h_neg, v_neg, mom, alpha=-self.step, beta=1.0, transpose_a=True)
            else:
                mom = F.linalg.gemm(h_pos, positives[t], mom, alpha=1.0, beta=self.momentum, transpose_a=True)
                mom = F.linalg.gemm(F.broadcast_mul(h_neg, steps[t]), v_neg, mom, alpha=-1.0, beta=1.0,
                                    transpose_a=True)
            if self.weight_decay:
                # ``decay_mask`` is ``-lr * wd`` per block with a constant rate, ``-wd`` otherwise.
                mom = mom + (theta * decay_mask if rates is None else F.broadcast_mul(theta * decay_mask, rates[t]))
            theta = theta + mom
            firsts.append(first_mean)
        residual = F.reshape(data - F.stack(*firsts, axis=0), shape=(1, -1))
        outputs = [theta, mom, F.reshape(F.dot(residual, residual, transpose_b=True), shape=(1,))]
        if persistent:
            outputs.append(F.slice_axis(chain, axis=1, begin=0, end=V))
        return tuple(outputs)


class _GibbsStep(_RBMView):
    """One Gibbs sweep ``v -> h -> v'``: returns ``(v' sample, v' mean)``."""

    def hybrid_forward(self, F, v, weight, visible_bias, hidden_bias):
        h = bernoulli(F, F.sigmoid(hidden_pre(F, v, weight, hidden_bias, self.num_hidden, self.up)))
        mean = visible_mean(F, h, weight, visible_bias, self.gaussian, self.down)
        return visible_sample(F, mean, self.gaussian), mean


#: AIS transitions per graph call (`_AnnealingRun`): 10 to 50 ran equally fast, 100 slower.
_AIS_STEPS_PER_CALL = 25


class _AnnealingRun(_RBMView):
    """``steps`` consecutive AIS transitions (Salakhutdinov & Murray 2008), unrolled in one graph.

    Transition ``b_prev -> b`` adds ``log p*_b(v) - log p*_b_prev(v)`` to the log-weights, then makes
    a Gibbs sweep leaving ``p_b`` invariant. ``p*_beta(v)`` interpolates a base model (independent
    visible units with biases ``base``) and the RBM: ``exp(v.((1 - beta) base + beta b_v)
    [- |v|^2 / 2]) * prod_j (1 + exp(beta (W v + b_h)_j))``.

    Inputs: ``v``, ``log_w``, ``beta_prev`` and ``beta`` ``(steps, 1)``, ``base``; outputs the new
    ``(v, log_w)``. AIS is sequential and its cost is operator overhead: one call per ``steps``
    transitions ran AIS 1.4x (64-16 RBM) and 1.15x (64-100) faster than one call per transition."""

    def __init__(self, rbm: "RestrictedBoltzmannMachines", steps: int) -> None:
        super().__init__(rbm)
        self.steps = int(steps)

    def hybrid_forward(self, F, v, log_w, beta_prev, beta, base, weight, visible_bias, hidden_bias):
        def rows(betas):  # (steps, 1) -> steps arrays (1, 1)
            if self.steps == 1:
                return [betas]
            return [F.reshape(b, shape=(1, 1)) for b in F.split(betas, num_outputs=self.steps, axis=0)]

        base = base.reshape((1, -1))
        shift = F.broadcast_sub(visible_bias.reshape((1, -1)), base)   # b_v - base
        for b_prev, b in zip(rows(beta_prev), rows(beta)):
            pre = F.FullyConnected(v, weight, hidden_bias, num_hidden=self.num_hidden)
            scaled = F.broadcast_mul(pre, b)
            # log p*_b(v) - log p*_b_prev(v) = (b - b_prev) v.(b_v - base) + sum_j softplus terms.
            soft = F.Activation(scaled, act_type="softrelu") - F.Activation(F.broadcast_mul(pre, b_prev),
                                                                            act_type="softrelu")
            linear = F.FullyConnected(v, shift, no_bias=True, num_hidden=1)
            log_w = log_w + F.sum(soft, axis=1) + F.reshape(F.broadcast_mul(linear, b - b_prev), shape=(-1,))
            h = bernoulli(F, sigmoid(F, scaled))
            # p_b(v | h): b (W^T h + b_v) + (1 - b) base = b (W^T h + b_v - base) + base.
            mean = F.broadcast_add(F.broadcast_mul(F.broadcast_add(F.dot(h, weight), shift), b), base)
            v = visible_sample(F, mean if self.gaussian else sigmoid(F, mean), self.gaussian)
        return v, log_w


class _FreeEnergy(_RBMView):
    """Per-sample free energy ``(N,)``."""

    def hybrid_forward(self, F, v, weight, visible_bias, hidden_bias):
        pre = hidden_pre(F, v, weight, hidden_bias, self.num_hidden)
        return free_energy(F, v, pre, visible_bias, self.gaussian)


class _PseudoLikelihood(_RBMView):
    """``log p(v_i | v_-i)`` per sample ``(N,)`` for one unit ``i`` per sample (one-hot ``flips``
    ``(N, V)``), on the binarized states ``v > 0.5`` (Bernoulli units):
    ``log sigmoid(F(v_flipped) - F(v)) = -softplus(F(v) - F(v_flipped))`` (Besag 1975)."""

    def hybrid_forward(self, F, v, flips, weight, visible_bias, hidden_bias):
        v = v > 0.5  # the pseudo-likelihood of binary units needs binary states
        flipped = F.abs(v - flips)

        def energy(x):
            return free_energy(F, x, hidden_pre(F, x, weight, hidden_bias, self.num_hidden), visible_bias, False)

        return -F.Activation(energy(v) - energy(flipped), act_type="softrelu")


def _example(rng: np.random.RandomState):
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    x = prototypes[rng.randint(0, 2, 40)]
    x = np.abs(x - (rng.rand(*x.shape) < 0.05)).astype(np.float32)
    # A large step: the contract trains 6 full-batch updates and asks for a falling loss; at 0.1
    # the stochastic reconstruction error moves less in 6 updates than its sampling noise (the
    # test then passes for about half of all random streams), at 5.0 it falls for every one tried.
    return dict(visible_dim=6, hidden_dim=4, learning_rate=5.0), x, None


@register_model("rbm", example=_example)
class RestrictedBoltzmannMachines(PersistentChains, ObservableModel):
    """Restricted Boltzmann machine trained by CD-k or PCD-k.

    Args:
        visible_dim: visible units ``V``.
        hidden_dim: hidden units ``H``.
        visible_type: ``"bernoulli"`` (binary data or data in [0, 1]) or ``"gaussian"`` (real-valued
            data, standardized: the visible units have unit variance).
        k: Gibbs steps per update.
        persistent: PCD-k (persistent chains, one per sample of a batch) instead of CD-k. PCD needs
            a smaller effective step ``learning_rate / (1 - momentum)`` than CD so that the chains
            keep up with the weights (e.g. ``learning_rate=0.05, momentum=0.5``).
        learning_rate, momentum, weight_decay: SGD with momentum; weight decay applies to ``W`` only.
        optimizer, optimizer_params: any other Gluon optimizer (``momentum`` then does not apply).
        visible_bias_init: ``"data"`` sets the visible biases from the training data at the start of
            the first ``learn`` (log-odds of the pixel means for Bernoulli units, the means for Gaussian
            ones; Hinton 2010 §8) - only while they are still exactly zero, so a loaded or trained
            model keeps its biases; ``"zero"`` leaves them at zero.
        ctx, seed, initializer: see `ObservableModel` (the default initializer is N(0, 0.01^2)).

    Shapes:
        ``x`` ``(N, V)``; ``inference(x)`` -> mean-field reconstruction ``(N, V)``;
        ``extract_feature_points(x)`` -> hidden probabilities ``(N, H)``; ``free_energy(x)``,
        ``log_likelihood(x)`` -> ``(N,)``.

    ``up_scale`` / ``down_scale`` (default 1) multiply the bottom-up / top-down input of the
    training and sampling graphs; a DBM sets them to 2 for its doubled-input pre-training
    (Salakhutdinov & Hinton 2009).

    Training speed: with plain SGD (the default) on one device, `train_epoch` runs up to
    `fused_batches` updates per graph call on a packed parameter matrix (`_FusedEpoch`), which
    halves the epoch time of small models; large models (``(H+1)(V+1) > fused_max_size``), other
    optimizers, several devices, ``clip_norm`` or regularizers take the per-batch graph. Both give
    the same updates (``tests/test_rbm_fast_path.py``). MXNet uses ``OMP_NUM_THREADS`` threads per
    operator, half the cores when unset; it reads it once, at import (``benchmarks/bench_rbm.py``
    measures the settings).

    Tracked per epoch: ``train_loss``/``test_loss`` (squared reconstruction error per visible unit
    after one Gibbs step; mean-field on test data) and, for Bernoulli units, the stochastic
    pseudo-log-likelihood (nats per sample, `pseudo_log_likelihood`) of up to `pll_samples`
    training samples of the epoch (``pseudo_log_likelihood``, with the epoch's final parameters)
    and of the held-out data (``test_pseudo_log_likelihood``).

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = (load_digits().data >= 8).astype("float32")
        >>> rbm = RestrictedBoltzmannMachines(64, 16, seed=0)
        >>> rbm = rbm.learn(ArrayIterator(x, batch_size=20, epochs=5, seed=0), verbose=False)
        >>> rbm.extract_feature_points(x[:3]).shape
        (3, 16)
        >>> bool(rbm.log_likelihood(x[:100]).mean() < 0)
        True
    """

    def __init__(
        self,
        visible_dim: int,
        hidden_dim: int,
        *,
        visible_type: str = "bernoulli",
        k: int = 1,
        persistent: bool = False,
        learning_rate: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        visible_bias_init: str = "data",
        up_scale: float = 1.0,
        down_scale: float = 1.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "sgd",
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        if visible_type not in VISIBLE_TYPES:
            raise ValueError(f"visible_type must be one of {VISIBLE_TYPES}, got {visible_type!r}")
        if visible_dim < 1 or hidden_dim < 1:
            raise ValueError(f"visible_dim and hidden_dim must be positive, got {visible_dim}, {hidden_dim}")
        if k < 1:
            raise ValueError(f"k (Gibbs steps) must be at least 1, got {k}")
        if visible_bias_init not in ("data", "zero"):
            raise ValueError(f"visible_bias_init must be 'data' or 'zero', got {visible_bias_init!r}")
        super().__init__(ctx=ctx, seed=seed, optimizer=optimizer, learning_rate=learning_rate,
                         optimizer_params=momentum_optimizer_params(optimizer, momentum, weight_decay,
                                                                    optimizer_params),
                         initializer=initializer if initializer is not None else mx.init.Normal(0.01))
        self.visible_dim, self.hidden_dim = int(visible_dim), int(hidden_dim)
        self.visible_type, self.k, self.persistent = visible_type, int(k), bool(persistent)
        self.visible_bias_init = visible_bias_init
        self.input_shape = (self.visible_dim,)
        self.up_scale, self.down_scale = float(up_scale), float(down_scale)
        self.weight = self.params.get("weight", shape=(self.hidden_dim, self.visible_dim))
        # Weight decay is a prior on the weights; biases are left free (Hinton 2010 §10).
        self.visible_bias = self.params.get("visible_bias", shape=(self.visible_dim,),
                                            init=mx.init.Zero(), wd_mult=0.0)
        self.hidden_bias = self.params.get("hidden_bias", shape=(self.hidden_dim,),
                                           init=mx.init.Zero(), wd_mult=0.0)
        # The internal graphs (training, sampling, AIS) run thousands of times: always compiled,
        # and not children, so the model's files hold each parameter once.
        self._graphs = GraphCache()
        self._chains: List[Any] = [None] * len(self.ctx)  # see PersistentChains
        self._log_z_cache = LogPartitionCache()

    @property
    def gaussian(self) -> bool:
        return self.visible_type == "gaussian"

    # The compiled graphs over the parameters (`_RBMView`), built on first use.
    @property
    def cd(self) -> gluon.HybridBlock:
        """The CD-k / PCD-k gradient graph (`_ContrastiveDivergence`)."""
        return self._graphs.graph("cd", lambda: _ContrastiveDivergence(self))

    @property
    def gibbs(self) -> gluon.HybridBlock:
        """One Gibbs sweep ``v -> h -> v'``: ``(v' sample, v' mean)``."""
        return self._graphs.graph("gibbs", lambda: _GibbsStep(self))

    @property
    def energy(self) -> gluon.HybridBlock:
        """The per-sample free energy graph."""
        return self._graphs.graph("energy", lambda: _FreeEnergy(self))

    @property
    def annealing(self) -> gluon.HybridBlock:
        """`_AIS_STEPS_PER_CALL` AIS transitions in one graph (`_AnnealingRun`)."""
        return self._graphs.graph("annealing", lambda: _AnnealingRun(self, _AIS_STEPS_PER_CALL))

    def hybrid_forward(self, F, x, weight, visible_bias, hidden_bias):
        h = F.sigmoid(hidden_pre(F, x, weight, hidden_bias, self.hidden_dim))
        return visible_mean(F, h, weight, visible_bias, self.gaussian)

    # ------------------------------------------------------------------ the training contract
    def check_data(self, data: IteratableData) -> None:
        """The per-sample shape ``(V,)``; Bernoulli visible units also need values in [0, 1]."""
        super().check_data(data)
        if not self.gaussian:
            check_bernoulli_data(data)

    def prepare(self, data: IteratableData) -> None:
        """`check_data`, then (``visible_bias_init="data"``) the visible biases from the training
        data while they are still exactly zero: log-odds of the unit means for Bernoulli units, the
        means for Gaussian ones (Hinton 2010 §8). A loaded or trained model keeps its biases."""
        super().prepare(data)
        if self.visible_bias_init == "data" and not self.visible_bias.data(self.ctx[0]).asnumpy().any():
            x, _ = data.training_arrays()
            x = np.asarray(x).reshape(len(x), -1)
            self.visible_bias.set_data(mx.nd.array(x.mean(axis=0) if self.gaussian else log_odds(x)))

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """One CD-k/PCD-k update; returns ``{"loss": summed reconstruction error of the batch}``
        (squared error per visible unit of the first reconstruction of the chain).

        On one device without gradient clipping the gradients go straight to the optimizer
        (`_direct_update`); otherwise through the parameters' gradient buffers and
        `training.apply_gradients` (sum over devices and workers, clipping).
        """
        errors = []
        updater = self._direct_updater(clip_norm)
        params = (self.weight, self.visible_bias, self.hidden_bias)
        for i, (device, v0) in enumerate(zip(self.ctx, split_batch(x, self.ctx))):
            if v0 is None:
                continue
            inputs = [self._chain(i, v0)] if self.persistent else []
            cd = self.cd
            if self._noise_source is not None:
                hidden, visible = self._noise_source(1, v0.shape[0], device)
                inputs += [hidden[0][j] for j in range(hidden.shape[1])]
                inputs += [] if visible is None else [visible[0][j] for j in range(visible.shape[1])]
                cd = self._graphs.graph(("cd-noise", v0.shape[0]), lambda: _ContrastiveDivergence(self),
                                        static_alloc=True, static_shape=True)
            grad_w, grad_v, grad_h, chain_out, error = cd(v0, *inputs)
            if self.persistent:
                self._chains[i][: v0.shape[0]] = chain_out
            if updater is not None:
                # One device, no clipping: hand the gradients to the optimizer as they are (the
                # Trainer would copy them into the gradient buffers first, then do the same update).
                self._direct_update(updater, (grad_w, grad_v, grad_h), x.shape[0])
                return {"loss": error}
            for param, grad in zip(params, (grad_w, grad_v, grad_h)):
                grad.copyto(param.grad(device))
            errors.append(error.as_in_context(self.ctx[0]))
        for device in self.ctx[len(errors):]:  # idle devices of a tiny batch add nothing
            for param in params:
                param.grad(device)[:] = 0
        mark_fresh_gradients(params)
        apply_gradients(self, x.shape[0], clip_norm)
        return {"loss": errors[0] if len(errors) == 1 else mx.nd.add_n(*errors)}

    def train_epoch(self, batches: Iterable[Batch], clip_norm: Optional[float] = None,
                    regularizers: Sequence[RegularizatableData] = ()) -> StepSums:
        """One epoch (called by `training.fit`): ``{"loss": (summed reconstruction error, samples)}``
        and, for Bernoulli units, ``"pseudo_log_likelihood"`` of the epoch's first `pll_samples`
        training samples under the parameters at the end of the epoch.

        With plain SGD (``optimizer="sgd"``, the default), one device, no ``clip_norm`` and no
        regularizers, runs up to `fused_batches` updates per graph call (`_FusedEpoch`): the same
        CD-k/PCD-k and the same momentum update as the per-batch path, about twice as fast on
        small models where MXNet's per-operator overhead dominates. Otherwise (or when
        ``fused_batches`` is 0, or for large models where it does not pay) one `train_step` per
        batch.
        """
        seen: List[mx.nd.NDArray] = []

        def watched(batches: Iterable[Batch]) -> Iterable[Batch]:
            count = 0
            for x, y in batches:
                if count < self.pll_samples and not self.gaussian:
                    seen.append(x)
                    count += x.shape[0]
                yield x, y

        plan = self._fused_plan(clip_norm, regularizers)
        if plan is None:
            sums = super().train_epoch(watched(batches), clip_norm, regularizers)
        else:
            sums = self._fused_epoch(watched(batches), plan)
        if seen:
            device = self.ctx[0]
            v = (seen[0] if len(seen) == 1 else mx.nd.concat(*[x.as_in_context(device) for x in seen], dim=0))
            v = v[:self.pll_samples].as_in_context(device)
            sums["pseudo_log_likelihood"] = (self._pll_sum(v), v.shape[0])
        return sums

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed squared error per visible unit of the mean-field reconstruction (``"loss"``) and,
        for Bernoulli units, the summed stochastic pseudo-log-likelihood."""
        x = x.as_in_context(self.ctx[0])
        figures = {"loss": mx.nd.sum(mx.nd.mean(mx.nd.square(self(x) - x), axis=1))}
        if not self.gaussian:
            figures["pseudo_log_likelihood"] = self._pll_sum(x)
        return figures

    #: Training samples per epoch whose pseudo-log-likelihood `train_epoch` reports.
    pll_samples = 1000

    def _pll_sum(self, v: mx.nd.NDArray) -> mx.nd.NDArray:
        """The summed stochastic pseudo-log-likelihood of ``v`` (one unit per sample drawn from
        MXNet's generator, which `training.fit` reseeds every epoch), on ``v``'s device, without a
        host sync."""
        n, device = v.shape[0], v.context
        flips = mx.nd.one_hot(mx.nd.random.randint(0, self.visible_dim, shape=(n,), ctx=device), self.visible_dim)
        pll = self._graphs.graph("pll", lambda: _PseudoLikelihood(self))
        return mx.nd.sum(pll(v, flips)) * float(self.visible_dim)

    def _flips(self, n: int, device: mx.Context, seed: int) -> mx.nd.NDArray:
        """One-hot ``(n, V)``: one random visible unit per sample."""
        units = np.random.RandomState(seed).randint(0, self.visible_dim, n)
        return mx.nd.one_hot(mx.nd.array(units, ctx=device), self.visible_dim)

    # The training fast paths update through a few internals of Gluon's Trainer and MXNet's
    # Optimizer (`gluon_internals`): the updater, its momentum states and its update counts, so
    # that a fast step is the very update `Trainer.update` would make and a checkpoint carries on.
    def _trainer_parts(self) -> Optional[Tuple[Any, Any, List[int]]]:
        """``(trainer, updater, parameter indices)`` when a single-device trainer may be bypassed."""
        trainer = self.trainers.get("model")
        if trainer is None or len(self.ctx) != 1 or self.parameter_servers.get("model") is not None:
            return None  # several devices or workers: gradients must reach `apply_gradients`
        found = local_updater(trainer)
        if found is None:
            return None
        updater, index_of = found
        try:
            indices = [index_of[p.name] for p in (self.weight, self.visible_bias, self.hidden_bias)]
        except KeyError:
            return None
        return trainer, updater, indices

    def _direct_updater(self, clip_norm: Optional[float]) -> Optional[Tuple[Any, Any, List[int]]]:
        return None if clip_norm is not None else self._trainer_parts()

    def _direct_update(self, parts: Tuple[Any, Any, List[int]], grads: Sequence[mx.nd.NDArray],
                       batch_size: int) -> None:
        """The update `Trainer.update` would make, without copying the gradients into the
        parameters' buffers. Plain SGD goes through one ``sgd_mom_update`` per parameter: the
        Trainer's aggregated ``multi_sgd_mom_update`` gives bit-identical results but took 2.6 ms
        instead of 1.0 for a 500 x 784 RBM."""
        trainer, updater, indices = parts
        rescale = set_gradient_rescale(trainer, batch_size)
        optimizer, device = optimizer_of(trainer), self.ctx[0]
        weights = [p.data(device) for p in (self.weight, self.visible_bias, self.hidden_bias)]
        if not self._plain_sgd(optimizer):
            updater(indices, list(grads), weights)
            return
        states = self._sgd_states(parts)
        lrs = count_update(trainer, indices, device.device_id)
        for weight, grad, state, lr, wd in zip(weights, grads, states, lrs, weight_decays(trainer, indices)):
            if state is None:
                mx.nd.sgd_update(weight, grad, out=weight, lr=lr, wd=wd, rescale_grad=rescale)
            else:
                mx.nd.sgd_mom_update(weight, grad, state, out=weight, lr=lr, wd=wd,
                                     momentum=optimizer.momentum, rescale_grad=rescale)

    def _plain_sgd(self, optimizer: Any) -> bool:
        """SGD (with or without momentum) on float32 parameters, no gradient clipping."""
        return (type(optimizer) is mx.optimizer.SGD and optimizer.clip_gradient is None
                and all(p.dtype == np.float32 for p in (self.weight, self.visible_bias, self.hidden_bias)))

    def _sgd_states(self, parts: Tuple[Any, Any, List[int]]) -> List[Optional[mx.nd.NDArray]]:
        """The updater's momentum arrays (created or moved as the updater would on its first call)."""
        trainer, updater, indices = parts
        device = self.ctx[0]
        weights = [p.data(device) for p in (self.weight, self.visible_bias, self.hidden_bias)]
        return updater_states(trainer, updater, indices, weights)

    # ------------------------------------------------------------------ per-epoch fast path
    def _fused_epoch(self, batches: Iterable[Batch], plan: Tuple[Any, Any, List[int]]) -> StepSums:
        """Every batch of an epoch through `_FusedEpoch`, `fused_batches` updates per graph call."""
        trainer, updater, indices = plan
        optimizer = optimizer_of(trainer)
        device = self.ctx[0]
        params = (self.weight, self.visible_bias, self.hidden_bias)
        states = self._sgd_states(plan)
        wds = weight_decays(trainer, indices)
        theta = self._pack([p.data(device) for p in params], _ONES_GENERATOR)
        mom = self._pack(states, 0.0) if optimizer.momentum > 0 else mx.nd.zeros_like(theta)
        constants = self._graphs.constant(("constants", tuple(wds), device),
                                          lambda: self._fused_constants(wds, device))
        errors, count = [], 0
        chunk: List[mx.nd.NDArray] = []

        def run(chunk: List[mx.nd.NDArray], theta: mx.nd.NDArray, mom: mx.nd.NDArray):
            n, b = len(chunk), chunk[0].shape[0]
            # The bookkeeping of n `Trainer.update` calls: counts, learning-rate schedule.
            rates = [count_update(trainer, indices, device.device_id)[0] for _ in range(n)]
            rescale = set_gradient_rescale(trainer, b)
            decay = constants["decay"]
            # Without a schedule the rate is constant: one graph with it baked in (2 operators
            # fewer per update); with one, the rates are an input.
            step = rates[0] * rescale if optimizer.lr_scheduler is None else None
            key = ("fused", n, b, float(optimizer.momentum), decay is not None, step)
            graph = self._graphs.graph(
                key, lambda: _FusedEpoch(self, n, b, optimizer.momentum, decay is not None, step),
                static_alloc=True, static_shape=True)
            inputs = list(chunk) + [noise for noise in self._fused_noise(n, b, device) if noise is not None]
            if step is None:
                inputs.append(_device_column([rate * rescale for rate in rates], device))
                if decay is not None:
                    inputs += [_device_column(rates, device), decay]
            elif decay is not None:
                inputs.append(self._graphs.constant(("decay", tuple(wds), rates[0], device),
                                                    lambda: decay * rates[0]))
            inputs += [theta, mom]
            if self.persistent:
                inputs.append(self._chain(0, chunk[0]))
            inputs += [constants[name] for name in ("up", "down", "cap") if constants[name] is not None]
            out = graph(*inputs)
            if self.persistent:
                self._chains[0][:b] = out[3]
            errors.append(out[2])
            return out[0], out[1]

        for x, _ in batches:
            x = x.as_in_context(device)
            if chunk and (len(chunk) == self.fused_batches or x.shape[0] != chunk[0].shape[0]):
                theta, mom = run(chunk, theta, mom)
                chunk = []
            chunk.append(x)
            count += x.shape[0]
        if chunk:
            theta, mom = run(chunk, theta, mom)
        self._unpack(theta, [p.data(device) for p in params])
        if optimizer.momentum > 0:
            self._unpack(mom, states)
        if not errors:
            return {}
        total = errors[0] if len(errors) == 1 else mx.nd.add_n(*errors)
        return {"loss": (total / self.visible_dim, count)}

    #: Test hook: a function ``(n, batch_size, device) -> (hidden, visible)`` giving the random
    #: numbers of ``n`` updates - uniforms ``(n, n_h, B, H)`` for the hidden samples and
    #: ``(n, n_v, B, V)`` (uniform, or normal for Gaussian units; ``None`` when ``n_v = 0``) for the
    #: visible ones (`noise_counts`) - to both training paths, so that they can be fed the same.
    _noise_source: Optional[Callable[[int, int, mx.Context],
                                     Tuple[mx.nd.NDArray, Optional[mx.nd.NDArray]]]] = None

    #: Mini-batches per graph call of the per-epoch fast path (0 turns it off). Measured on the
    #: digits RBM (64-100, batch 20), steps of an epoch: 20 ms with 1 update per call, 11-12 ms
    #: with 4-8, 13 ms with 32 and 15 ms with 64-128 (larger graphs run slower per operator).
    fused_batches = 8
    #: Largest ``(H + 1) * (V + 1)`` for which the fast path is used. Its packed update makes three
    #: element-wise passes over the whole matrix where the per-batch path makes one
    #: ``sgd_mom_update``: measured epoch time fused / per-batch 0.3-0.6 at 64-16 and 64-100,
    #: 0.8-1.0 at 784-128 and 784-200, 1.04 at 784-500 (one OpenMP thread).
    fused_max_size = 1 << 18

    def _fused_plan(self, clip_norm: Optional[float], regularizers: Sequence[Any]):
        if self.fused_batches <= 0 or clip_norm is not None or regularizers:
            return None
        if (self.hidden_dim + 1) * (self.visible_dim + 1) > self.fused_max_size:
            return None
        parts = self._trainer_parts()
        if parts is None:
            return None
        params = (self.weight, self.visible_bias, self.hidden_bias)
        if not self._plain_sgd(optimizer_of(parts[0])) or any(p.lr_mult != 1.0 for p in params):
            return None
        return parts

    def _pack(self, arrays: Sequence[mx.nd.NDArray], corner: float) -> mx.nd.NDArray:
        """``[[W, b_h], [b_v, corner]]`` from ``(W, b_v, b_h)``."""
        weight, visible, hidden = arrays
        top = mx.nd.concat(weight, hidden.reshape((-1, 1)), dim=1)
        bottom = mx.nd.concat(visible.reshape((1, -1)), mx.nd.full((1, 1), corner, ctx=weight.context), dim=1)
        return mx.nd.concat(top, bottom, dim=0)

    def _unpack(self, packed: mx.nd.NDArray, arrays: Sequence[mx.nd.NDArray]) -> None:
        """Write the blocks of a packed matrix into ``(W, b_v, b_h)`` in place."""
        weight, visible, hidden = arrays
        v, h = self.visible_dim, self.hidden_dim
        # Straight into the arrays (reshape gives views): three operators, no temporaries.
        mx.nd.slice(packed, begin=(0, 0), end=(h, v), out=weight)
        mx.nd.slice(packed, begin=(0, v), end=(h, v + 1), out=hidden.reshape((h, 1)))
        mx.nd.slice(packed, begin=(h, 0), end=(h + 1, v), out=visible.reshape((1, v)))

    def _fused_constants(self, wds: Sequence[float], device: mx.Context) -> Dict[str, Optional[mx.nd.NDArray]]:
        """The constant masks of `_FusedEpoch` (``None`` where not needed)."""
        v, h = self.visible_dim, self.hidden_dim

        def blocks(weight: float, visible: float, hidden: float, corner: float) -> mx.nd.NDArray:
            m = np.full((h + 1, v + 1), weight, dtype=np.float32)
            m[:h, v], m[h, :v], m[h, v] = hidden, visible, corner
            return mx.nd.array(m, ctx=device)

        wd_w, wd_v, wd_h = wds
        cap = np.full((1, v + 1), _FLOAT32_MAX, dtype=np.float32)
        cap[0, v] = 1.0
        return {
            "decay": blocks(-wd_w, -wd_v, -wd_h, 0.0) if any(wds) else None,
            "up": blocks(self.up_scale, 1.0, 1.0, 1.0) if self.up_scale != 1.0 else None,
            "down": blocks(self.down_scale, 1.0, 1.0, 1.0) if self.down_scale != 1.0 else None,
            "cap": mx.nd.array(cap, ctx=device) if self.gaussian else None,
        }

    def _fused_noise(self, n: int, batch_size: int,
                     device: mx.Context) -> Tuple[mx.nd.NDArray, Optional[mx.nd.NDArray]]:
        """The random numbers of `_FusedEpoch` (see `_noise_source`) with one more column (any
        uniform keeps the ones column of a Bernoulli state: ``u < 1``; a Gaussian one needs 0)."""
        if self._noise_source is not None:
            hidden, visible = self._noise_source(n, batch_size, device)
            pad = lambda a: mx.nd.concat(a, mx.nd.zeros(a.shape[:-1] + (1,), ctx=device), dim=3)  # noqa: E731
            return pad(hidden), None if visible is None else pad(visible)
        n_h, n_v = noise_counts(self.k, self.persistent)
        hidden = mx.nd.random.uniform(shape=(n, n_h, batch_size, self.hidden_dim + 1), ctx=device)
        if not n_v:
            return hidden, None
        if not self.gaussian:
            return hidden, mx.nd.random.uniform(shape=(n, n_v, batch_size, self.visible_dim + 1), ctx=device)
        visible = mx.nd.random.normal(shape=(n, n_v, batch_size, self.visible_dim), ctx=device)
        return hidden, mx.nd.concat(visible, mx.nd.zeros((n, n_v, batch_size, 1), ctx=device), dim=3)

    def _chain(self, i: int, v0: mx.nd.NDArray) -> mx.nd.NDArray:
        chain = self._chains[i]
        if chain is None or chain.shape[0] < v0.shape[0] or chain.context != v0.context:
            # Chains start at data (Tieleman 2008) and persist across batches and epochs.
            chain = self._chains[i] = v0.copy()
        return chain[: v0.shape[0]]

    # ------------------------------------------------------------------ inference
    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Hidden probabilities ``p(h = 1 | v)``, shape ``(N, H)``."""
        return self._batched(
            lambda v: mx.nd.sigmoid(hidden_pre(mx.nd, v, self.weight.data(v.context),
                                                self.hidden_bias.data(v.context), self.hidden_dim)),
            observed_arr, batch_size)

    def free_energy(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Free energy ``F(v) = -log sum_h exp(-E(v, h))`` per sample, shape ``(N,)``."""
        return self._batched(self.energy, observed_arr, batch_size)

    def pseudo_log_likelihood(self, observed_arr: Any, exact: bool = False, seed: int = 0) -> np.ndarray:
        """Pseudo-log-likelihood ``sum_i log p(v_i | v_-i)`` per sample (Bernoulli units), nats.

        ``exact=False`` flips one random unit per sample and scales by ``V`` (Besag 1975; the
        stochastic estimate scikit-learn reports); ``exact=True`` flips every unit in turn.
        """
        if self.gaussian:
            raise ValueError("pseudo_log_likelihood is defined here for Bernoulli visible units only")
        device = self.ctx[0]
        v = self._as_input(observed_arr).as_in_context(device)
        n = v.shape[0]
        pll = self._graphs.graph("pll", lambda: _PseudoLikelihood(self))
        if not exact:
            return (pll(v, self._flips(n, device, seed)) * float(self.visible_dim)).asnumpy()
        total = mx.nd.zeros(n, ctx=device)
        for unit in range(self.visible_dim):
            total = total + pll(v, mx.nd.one_hot(mx.nd.full((n,), unit, ctx=device), self.visible_dim))
        return total.asnumpy()

    def sample(self, n: int = 16, steps: int = 1000, *, init: Any = None,
               return_probabilities: bool = True) -> np.ndarray:
        """Run ``n`` Gibbs chains for ``steps`` sweeps and return their visible states ``(n, V)``.

        Chains start at ``init`` (``(n, V)``) or at random states drawn from the visible biases.
        ``return_probabilities`` returns the mean ``E[v | h]`` of the last sweep (smoother pictures)
        instead of the sampled states.
        """
        if n < 1 or steps < 1:
            raise ValueError(f"n and steps must be positive, got n={n}, steps={steps}")
        device = self.ctx[0]
        if init is not None:
            v = self._as_input(init).as_in_context(device)
        else:
            bias = self.visible_bias.data(device).reshape((1, -1)).broadcast_to((n, self.visible_dim))
            v = visible_sample(mx.nd, bias if self.gaussian else mx.nd.sigmoid(bias), self.gaussian)
        for _ in range(steps):
            v, mean = self.gibbs(v)
        return (mean if return_probabilities else v).asnumpy()

    # ------------------------------------------------------------------ likelihood
    def _numpy_params(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(p.data(self.ctx[0]).asnumpy().astype(np.float64)
                     for p in (self.weight, self.visible_bias, self.hidden_bias))

    def log_partition(self, method: str = "ais", *, chains: int = 100, betas: Any = 20000,
                      base_visible_bias: Any = None, seed: int = 0, verbose: Any = 1) -> float:
        """``log Z`` of the model; kept until the parameters change (a second call with the same
        arguments on the same parameters returns at once).

        Args:
            method: ``"exact"`` sums over all ``2^H`` hidden states (``H <= 20``); ``"ais"`` runs
                annealed importance sampling from a base-rate model with no hidden interactions.
            chains: AIS runs (their importance weights are averaged).
            betas: number of inverse temperatures (a schedule denser near 1) or the schedule itself.
            base_visible_bias: visible biases of the AIS base model (default: this model's, which is
                close to the data marginals when ``visible_bias_init="data"``).
            seed: seeds the AIS chains.
            verbose: AIS progress (see `training.TaskProgress`): 1 a bar in Jupyter and on
                terminals, 0 none.
        """
        if method not in ("exact", "ais"):
            raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")
        key = (method,) if method == "exact" else (method, chains, cache_key(betas), cache_key(base_visible_bias), seed)
        if method == "exact":
            compute = self._exact_log_partition
        else:
            def compute() -> float:
                return self._ais_log_partition(chains, betas, base_visible_bias, seed, verbose)
        return self._log_z_cache.get(lambda: self._numpy_params(), key, compute)

    def _exact_log_partition(self) -> float:
        if self.hidden_dim > 20:
            raise ValueError(f"exact log Z enumerates 2^H hidden states: H={self.hidden_dim} > 20, use method='ais'")
        weight, visible_bias, hidden_bias = self._numpy_params()

        def log_terms(h: np.ndarray) -> np.ndarray:
            mean = h @ weight + visible_bias
            if self.gaussian:
                visible = 0.5 * (mean ** 2).sum(axis=1) - 0.5 * (visible_bias ** 2).sum() \
                    + 0.5 * self.visible_dim * _LOG_2PI
            else:
                visible = np.logaddexp(0.0, mean).sum(axis=1)
            return h @ hidden_bias + visible

        return logsumexp_binary_states(self.hidden_dim, log_terms)

    def _ais_log_partition(self, chains: int, betas: Any, base_visible_bias: Any, seed: int, verbose: Any = 1) -> float:
        device = self.ctx[0]
        if isinstance(betas, (int, np.integer)):
            schedule = ais_betas(int(betas))
        elif np.isscalar(betas):
            raise TypeError(f"betas: a number of inverse temperatures (an int) or the schedule itself, got {betas!r}")
        else:
            schedule = np.asarray(betas, dtype=np.float64)
        weight, visible_bias, hidden_bias = (p.data(device) for p in (self.weight, self.visible_bias, self.hidden_bias))
        base = visible_bias if base_visible_bias is None else mx.nd.array(base_visible_bias, ctx=device)
        mx.random.seed(seed, ctx=device)
        # Base model: independent visible units with biases `base` (H hidden units with no weights).
        if self.gaussian:
            v = base.reshape((1, -1)) + mx.nd.random.normal(shape=(chains, self.visible_dim), ctx=device)
            log_z0 = self.hidden_dim * math.log(2) + 0.5 * self.visible_dim * _LOG_2PI \
                + 0.5 * float((base ** 2).sum().asscalar())
        else:
            v = (mx.nd.random.uniform(shape=(chains, self.visible_dim), ctx=device)
                 < mx.nd.sigmoid(base).reshape((1, -1)))
            log_z0 = self.hidden_dim * math.log(2) + float(mx.nd.Activation(base, act_type="softrelu").sum().asscalar())

        log_w = mx.nd.zeros(chains, ctx=device)
        pairs = np.stack([schedule[:-1], schedule[1:]], axis=1)
        # Padding transitions at beta = 1 add nothing to the weights (one graph serves every call).
        pairs = np.concatenate([pairs, np.ones(((-len(pairs)) % _AIS_STEPS_PER_CALL, 2))])
        prevs, nows = (mx.nd.array(pairs[:, i:i + 1], ctx=device) for i in (0, 1))
        with TaskProgress(len(schedule) - 1, f"{type(self).__name__} AIS", verbose, unit="transitions") as progress:
            for i in range(0, len(pairs), _AIS_STEPS_PER_CALL):
                v, log_w = self.annealing(v, log_w, prevs[i:i + _AIS_STEPS_PER_CALL], nows[i:i + _AIS_STEPS_PER_CALL],
                                          base)
                progress.update(min(_AIS_STEPS_PER_CALL, len(schedule) - 1 - i))
            log_z = log_z0 + log_mean_exp(log_w.asnumpy().astype(np.float64))
        if self.gaussian:
            # p_1 above is exp(-F(v) + |b_v|^2 / 2): its normaliser is Z exp(|b_v|^2 / 2).
            log_z -= 0.5 * float((visible_bias ** 2).sum().asscalar())
        return log_z

    def log_likelihood(self, observed_arr: Any, log_z: Optional[float] = None,
                       **log_partition_kwargs: Any) -> np.ndarray:
        """``log p(v) = -F(v) - log Z`` per sample, nats (a log density for Gaussian units).

        ``log_z`` defaults to the exact value for ``H <= 20`` and to AIS otherwise.
        """
        if log_z is None:
            method = "exact" if self.hidden_dim <= 20 else "ais"
            log_z = self.log_partition(log_partition_kwargs.pop("method", method), **log_partition_kwargs)
        energy = self.free_energy(observed_arr)
        energy = energy.asnumpy() if isinstance(energy, mx.nd.NDArray) else energy
        return -energy.astype(np.float64) - log_z
