"""Restricted Boltzmann machines: Bernoulli or Gaussian visible units, Bernoulli hidden units.

A real, stochastic RBM (Smolensky 1986; Hinton 2002): Gibbs sampling, contrastive divergence (CD-k)
and persistent contrastive divergence (PCD-k, Tieleman 2008), free energies, pseudo-log-likelihood,
the exact partition function (for at most 20 hidden units) and annealed importance sampling (AIS,
Salakhutdinov & Murray 2008) for larger models.

Energy with the weight ``W`` of shape ``(H, V)`` (the `FullyConnected` layout):

- Bernoulli visible units: ``E(v, h) = -b_v.v - b_h.h - h.W v``
- Gaussian visible units (unit variance; standardize the data): ``E(v, h) = |v - b_v|^2 / 2 - b_h.h - h.W v``

Matrix products go through `FullyConnected` (oneDNN) where the layout allows: on the MXNet 1.9.1 CPU
wheel it is several times faster than ``dot`` (SPEC §7).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..context import CtxLike, split_batch
from ..interfaces import IteratableData
from ..registry import register_model
from ..training import apply_gradients
from .base import ObservableModel
from .partition import ais_betas, log_mean_exp, logsumexp_binary_states

__all__ = ["RestrictedBoltzmannMachines", "VISIBLE_TYPES"]

VISIBLE_TYPES = ("bernoulli", "gaussian")
_LOG_2PI = math.log(2 * math.pi)


def _hidden_pre(F: Any, v: Any, weight: Any, hidden_bias: Any, num_hidden: int, scale: float = 1.0) -> Any:
    """``scale * W v + b_h``; ``scale = 2`` is the doubled bottom-up input of DBM pre-training."""
    return F.FullyConnected(v if scale == 1.0 else v * scale, weight, hidden_bias, num_hidden=num_hidden)


def _visible_mean(F: Any, h: Any, weight: Any, visible_bias: Any, gaussian: bool, scale: float = 1.0) -> Any:
    """``E[v | h]`` from ``scale * W^T h + b_v``."""
    # h . W without a transposed copy of W: dot reads W as it is stored.
    pre = F.broadcast_add(F.dot(h if scale == 1.0 else h * scale, weight), visible_bias.reshape((1, -1)))
    return pre if gaussian else F.sigmoid(pre)


def _bernoulli(F: Any, p: Any) -> Any:
    return F.random.uniform_like(p) < p


def _visible_sample(F: Any, mean: Any, gaussian: bool) -> Any:
    return mean + F.random.normal_like(mean) if gaussian else _bernoulli(F, mean)


def _free_energy(F: Any, v: Any, pre_hidden: Any, visible_bias: Any, gaussian: bool) -> Any:
    """Per-sample free energy ``(N,)`` given the hidden pre-activations ``W v + b_h``."""
    hidden_term = F.sum(F.Activation(pre_hidden, act_type="softrelu"), axis=1)
    if gaussian:
        visible_term = 0.5 * F.sum(F.square(F.broadcast_sub(v, visible_bias.reshape((1, -1)))), axis=1)
    else:
        visible_term = -F.sum(F.broadcast_mul(v, visible_bias.reshape((1, -1))), axis=1)
    return visible_term - hidden_term


class _ParameterView(gluon.HybridBlock):
    """A block computing with the parameters of an RBM (shared, not copied), so that each graph the
    RBM needs (CD step, Gibbs step, free energy) is hybridized on its own."""

    def __init__(self, rbm: "RestrictedBoltzmannMachines") -> None:
        super().__init__()
        self.num_hidden = rbm.hidden_dim
        self.gaussian = rbm.visible_type == "gaussian"
        self.up, self.down = rbm.up_scale, rbm.down_scale
        for name in ("weight", "visible_bias", "hidden_bias"):
            param = getattr(rbm, name)
            setattr(self, name, param)
            self.params.update({param.name: param})


class _ContrastiveDivergence(_ParameterView):
    """One CD-k / PCD-k gradient: ``(grad_W, grad_b_v, grad_b_h, chain, reconstruction_error)``.

    Gradients are *loss* gradients (negated log-likelihood gradient estimates) summed over the batch,
    ready for a Gluon optimizer. The negative phase uses visible probabilities for CD (less noise,
    Hinton 2010 §3.2) and the persistent chain's samples for PCD.
    """

    def __init__(self, rbm: "RestrictedBoltzmannMachines") -> None:
        super().__init__(rbm)
        self.k, self.persistent = rbm.k, rbm.persistent

    def hybrid_forward(self, F, v0, *chain, weight, visible_bias, hidden_bias):  # noqa: D102
        up, down, n_hidden = self.up, self.down, self.num_hidden
        h_pos = F.sigmoid(_hidden_pre(F, v0, weight, hidden_bias, n_hidden, up))
        if self.persistent:
            h = _bernoulli(F, F.sigmoid(_hidden_pre(F, chain[0], weight, hidden_bias, n_hidden, up)))
        else:
            h = _bernoulli(F, h_pos)
        for step in range(self.k):
            v_mean = _visible_mean(F, h, weight, visible_bias, self.gaussian, down)
            v = _visible_sample(F, v_mean, self.gaussian)
            if step == 0 and not self.persistent:
                first_mean = v_mean
            if step < self.k - 1:
                h = _bernoulli(F, F.sigmoid(_hidden_pre(F, v, weight, hidden_bias, n_hidden, up)))
        if self.persistent:
            first_mean = _visible_mean(F, h_pos, weight, visible_bias, self.gaussian, down)
        v_neg = v if self.persistent else v_mean
        h_neg = F.sigmoid(_hidden_pre(F, v_neg, weight, hidden_bias, n_hidden, up))
        # One product for both phases: [-h_pos; h_neg]^T [v0; v_neg] = -(positive - negative).
        grad_weight = F.dot(F.concat(-h_pos, h_neg, dim=0), F.concat(v0, v_neg, dim=0), transpose_a=True)
        grad_visible = F.sum(v_neg - v0, axis=0)
        grad_hidden = F.sum(h_neg - h_pos, axis=0)
        error = F.sum(F.mean(F.square(v0 - first_mean), axis=1))
        return grad_weight, grad_visible, grad_hidden, F.BlockGrad(v), error


class _GibbsStep(_ParameterView):
    """One Gibbs sweep ``v -> h -> v'``: returns ``(v' sample, v' mean)``."""

    def hybrid_forward(self, F, v, weight, visible_bias, hidden_bias):  # noqa: D102
        h = _bernoulli(F, F.sigmoid(_hidden_pre(F, v, weight, hidden_bias, self.num_hidden, self.up)))
        mean = _visible_mean(F, h, weight, visible_bias, self.gaussian, self.down)
        return _visible_sample(F, mean, self.gaussian), mean


class _AnnealingStep(_ParameterView):
    """One AIS transition between inverse temperatures ``betas = [b_prev, b]`` (Salakhutdinov &
    Murray 2008): add ``log p*_b(v) - log p*_b_prev(v)`` to the log-weights, then a Gibbs sweep
    leaving ``p_b`` invariant. ``p*_beta(v)`` interpolates a base model (independent visible units
    with biases ``base``) and the RBM: ``exp(v.((1 - beta) base + beta b_v) [- |v|^2 / 2]) *
    prod_j (1 + exp(beta (W v + b_h)_j))``. The temperatures are data, so one graph serves all."""

    def hybrid_forward(self, F, v, log_w, betas, base, weight, visible_bias, hidden_bias):  # noqa: D102
        b_prev = F.slice_axis(betas, axis=0, begin=0, end=1).reshape((1, 1))
        b = F.slice_axis(betas, axis=0, begin=1, end=2).reshape((1, 1))
        pre = _hidden_pre(F, v, weight, hidden_bias, self.num_hidden)
        # The |v|^2 term of Gaussian units does not depend on beta and cancels in the difference.
        linear = F.FullyConnected(v, (visible_bias - base).reshape((1, -1)), no_bias=True, num_hidden=1)

        def softplus_sum(beta):
            return F.sum(F.Activation(F.broadcast_mul(pre, beta), act_type="softrelu"), axis=1)

        log_w = log_w + F.broadcast_mul(linear, b - b_prev).reshape((-1,)) + softplus_sum(b) - softplus_sum(b_prev)
        h = _bernoulli(F, F.sigmoid(F.broadcast_mul(pre, b)))
        bias = F.broadcast_add(F.broadcast_mul(base.reshape((1, -1)), 1 - b),
                               F.broadcast_mul(visible_bias.reshape((1, -1)), b))
        mean = F.broadcast_add(F.broadcast_mul(F.dot(h, weight), b), bias)
        return _visible_sample(F, mean if self.gaussian else F.sigmoid(mean), self.gaussian), log_w


class _FreeEnergy(_ParameterView):
    def hybrid_forward(self, F, v, weight, visible_bias, hidden_bias):  # noqa: D102
        pre = _hidden_pre(F, v, weight, hidden_bias, self.num_hidden)
        return _free_energy(F, v, pre, visible_bias, self.gaussian)


def _example(rng: np.random.RandomState):
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    x = prototypes[rng.randint(0, 2, 40)]
    x = np.abs(x - (rng.rand(*x.shape) < 0.05)).astype(np.float32)
    return dict(visible_dim=6, hidden_dim=4, learning_rate=0.1), x, None


@register_model("rbm", example=_example)
class RestrictedBoltzmannMachines(ObservableModel):
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

    Tracked per epoch: ``train_loss``/``test_loss`` (squared reconstruction error per visible unit
    after one Gibbs step; mean-field on test data) and ``pseudo_log_likelihood`` (Bernoulli units,
    on up to 1000 held-out samples).

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
        if not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"need 0 <= momentum < 1 and weight_decay >= 0, got {momentum}, {weight_decay}")
        params = dict(optimizer_params or {})
        if optimizer in ("sgd", "nag"):
            params.setdefault("momentum", momentum)
        params.setdefault("wd", weight_decay)
        super().__init__(ctx=ctx, seed=seed, optimizer=optimizer, learning_rate=learning_rate,
                         optimizer_params=params,
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
        with self.name_scope():
            self.cd = _ContrastiveDivergence(self)
            self.gibbs = _GibbsStep(self)
            self.energy = _FreeEnergy(self)
            self.annealing = _AnnealingStep(self)
        self._chains: List[Optional[mx.nd.NDArray]] = [None] * len(self.ctx)
        self._finish_init()
        # The internal graphs run thousands of times (training, sampling, AIS): always compile them.
        for block in (self.cd, self.gibbs, self.energy, self.annealing):
            block.hybridize()

    @property
    def gaussian(self) -> bool:
        return self.visible_type == "gaussian"

    def hybrid_forward(self, F, x, weight, visible_bias, hidden_bias):  # noqa: D102
        h = F.sigmoid(_hidden_pre(F, x, weight, hidden_bias, self.hidden_dim))
        return _visible_mean(F, h, weight, visible_bias, self.gaussian)

    # ------------------------------------------------------------------ training
    def learn(self, iteratable_data: IteratableData, **fit_kwargs: Any) -> "RestrictedBoltzmannMachines":
        if self.visible_bias_init == "data" and not self.visible_bias.data(self.ctx[0]).asnumpy().any():
            self._init_visible_bias(iteratable_data)
        return super().learn(iteratable_data, **fit_kwargs)

    def _init_visible_bias(self, iteratable_data: IteratableData) -> None:
        x = getattr(iteratable_data, "x", None)
        if x is None:
            return
        self.check_data(iteratable_data)
        mean = x.asnumpy().mean(axis=0)
        if not self.gaussian:
            p = np.clip(mean, 1e-3, 1 - 1e-3)
            mean = np.log(p / (1 - p))
        self.visible_bias.set_data(mx.nd.array(mean))

    def learn_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> mx.nd.NDArray:
        """One CD-k/PCD-k update; returns the summed reconstruction error of the batch."""
        errors = []
        for i, (device, v0) in enumerate(zip(self.ctx, split_batch(x, self.ctx))):
            if v0 is None:
                continue
            if self.persistent:
                grad_w, grad_v, grad_h, chain_out, error = self.cd(v0, self._chain(i, v0))
                self._chains[i][: v0.shape[0]] = chain_out
            else:
                grad_w, grad_v, grad_h, _, error = self.cd(v0)
            for param, grad in ((self.weight, grad_w), (self.visible_bias, grad_v), (self.hidden_bias, grad_h)):
                grad.copyto(param.grad(device))
            errors.append(error.as_in_context(self.ctx[0]))
        for device in self.ctx[len(errors):]:  # idle devices of a tiny batch add nothing
            for param in (self.weight, self.visible_bias, self.hidden_bias):
                param.grad(device)[:] = 0
        for param in (self.weight, self.visible_bias, self.hidden_bias):
            for data in param.list_data():
                # What autograd.backward would flag: these buffers hold this batch's gradient.
                data._fresh_grad = True
        apply_gradients(self, x.shape[0], clip_norm)
        return errors[0] if len(errors) == 1 else mx.nd.add_n(*errors)

    def _chain(self, i: int, v0: mx.nd.NDArray) -> mx.nd.NDArray:
        chain = self._chains[i]
        if chain is None or chain.shape[0] < v0.shape[0] or chain.context != v0.context:
            # Chains start at data (Tieleman 2008) and persist across batches and epochs.
            chain = self._chains[i] = v0.copy()
        return chain[: v0.shape[0]]

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        x = x.as_in_context(self.ctx[0])
        return mx.nd.sum(mx.nd.mean(mx.nd.square(self(x) - x), axis=1))

    def epoch_metrics(self, iteratable_data: IteratableData) -> Dict[str, float]:
        if self.gaussian:
            return {}
        data = getattr(iteratable_data, "test_x", None)
        if data is None:
            data = getattr(iteratable_data, "x", None)
        if data is None:
            return {}
        return {"pseudo_log_likelihood": float(self.pseudo_log_likelihood(data[:1000]).mean())}

    # ------------------------------------------------------------------ inference
    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Hidden probabilities ``p(h = 1 | v)``, shape ``(N, H)``."""
        return self._batched(
            lambda v: mx.nd.sigmoid(_hidden_pre(mx.nd, v, self.weight.data(v.context),
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
        v = self._as_input(observed_arr).as_in_context(self.ctx[0])
        v = (v > 0.5).astype(np.float32)  # the PLL of binary units needs binary states
        n = v.shape[0]
        energy = self.energy(v)
        if exact:
            units = [np.full(n, i) for i in range(self.visible_dim)]
        else:
            units = [np.random.RandomState(seed).randint(0, self.visible_dim, n)]
        total = mx.nd.zeros(n, ctx=self.ctx[0])
        for unit in units:
            flip = mx.nd.one_hot(mx.nd.array(unit, ctx=self.ctx[0]), self.visible_dim)
            flipped = mx.nd.abs(v - flip)
            # log sigmoid(F(flipped) - F(v)) = -softplus(F(v) - F(flipped))
            total = total - mx.nd.Activation(energy - self.energy(flipped), act_type="softrelu")
        scale = 1.0 if exact else float(self.visible_dim)
        return (total * scale).asnumpy()

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
            v = _visible_sample(mx.nd, bias if self.gaussian else mx.nd.sigmoid(bias), self.gaussian)
        for _ in range(steps):
            v, mean = self.gibbs(v)
        return (mean if return_probabilities else v).asnumpy()

    # ------------------------------------------------------------------ likelihood
    def _numpy_params(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(p.data(self.ctx[0]).asnumpy().astype(np.float64)
                     for p in (self.weight, self.visible_bias, self.hidden_bias))

    def log_partition(self, method: str = "ais", *, chains: int = 100, betas: Any = 20000,
                      base_visible_bias: Any = None, seed: int = 0) -> float:
        """``log Z`` of the model.

        Args:
            method: ``"exact"`` sums over all ``2^H`` hidden states (``H <= 20``); ``"ais"`` runs
                annealed importance sampling from a base-rate model with no hidden interactions.
            chains: AIS runs (their importance weights are averaged).
            betas: number of inverse temperatures (a schedule denser near 1) or the schedule itself.
            base_visible_bias: visible biases of the AIS base model (default: this model's, which is
                close to the data marginals when ``visible_bias_init="data"``).
            seed: seeds the AIS chains.
        """
        if method == "exact":
            return self._exact_log_partition()
        if method == "ais":
            return self._ais_log_partition(chains, betas, base_visible_bias, seed)
        raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")

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

    def _ais_log_partition(self, chains: int, betas: Any, base_visible_bias: Any, seed: int) -> float:
        device = self.ctx[0]
        schedule = ais_betas(betas) if np.isscalar(betas) else np.asarray(betas, dtype=np.float64)
        weight, visible_bias, hidden_bias = (p.data(device) for p in (self.weight, self.visible_bias, self.hidden_bias))
        base = visible_bias if base_visible_bias is None else mx.nd.array(base_visible_bias, ctx=device)
        mx.random.seed(seed, ctx=device)
        # Base model: independent visible units with biases `base` (H hidden units with no weights).
        if self.gaussian:
            v = base.reshape((1, -1)) + mx.nd.random.normal(shape=(chains, self.visible_dim), ctx=device)
            log_z0 = self.hidden_dim * math.log(2) + 0.5 * self.visible_dim * _LOG_2PI \
                + 0.5 * float((base ** 2).sum().asscalar())
        else:
            v = mx.nd.random.uniform(shape=(chains, self.visible_dim), ctx=device) < mx.nd.sigmoid(base).reshape((1, -1))
            log_z0 = self.hidden_dim * math.log(2) + float(mx.nd.Activation(base, act_type="softrelu").sum().asscalar())

        log_w = mx.nd.zeros(chains, ctx=device)
        pairs = mx.nd.array(np.stack([schedule[:-1], schedule[1:]], axis=1), ctx=device)
        for i in range(pairs.shape[0]):
            v, log_w = self.annealing(v, log_w, pairs[i], base)
        log_z = log_z0 + log_mean_exp(log_w.asnumpy().astype(np.float64))
        if self.gaussian:
            # p_1 above is exp(-F(v) + |b_v|^2 / 2): its normaliser is Z exp(|b_v|^2 / 2).
            log_z -= 0.5 * float((visible_bias ** 2).sum().asscalar())
        return log_z

    def log_likelihood(self, observed_arr: Any, log_z: Optional[float] = None, **log_partition_kwargs: Any) -> np.ndarray:
        """``log p(v) = -F(v) - log Z`` per sample, nats (a log density for Gaussian units).

        ``log_z`` defaults to the exact value for ``H <= 20`` and to AIS otherwise.
        """
        if log_z is None:
            method = "exact" if self.hidden_dim <= 20 else "ais"
            log_z = self.log_partition(log_partition_kwargs.pop("method", method), **log_partition_kwargs)
        energy = self.free_energy(observed_arr)
        energy = energy.asnumpy() if isinstance(energy, mx.nd.NDArray) else energy
        return -energy.astype(np.float64) - log_z
