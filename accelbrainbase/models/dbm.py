"""Deep Boltzmann machines: Bernoulli units in every layer, undirected connections between adjacent
layers (Salakhutdinov & Hinton 2009, "Deep Boltzmann Machines"; Salakhutdinov & Larochelle 2010,
"Efficient Learning of Deep Boltzmann Machines").

With layers ``h_0 = v, h_1, ..., h_L`` (sizes ``layer_dims``), weights ``W_l`` of shape
``(H_l, H_{l-1})`` (the `FullyConnected` layout, as in `RestrictedBoltzmannMachines`) and biases ``b_l``:

    E(v, h) = - sum_l b_l.h_l - sum_{l=1..L} h_l.W_l h_{l-1}

Given its two neighbours a layer is a set of independent Bernoulli units, so the odd layers are
conditionally independent given the even ones and vice versa. Everything here uses that split:
block Gibbs sweeps (odd layers, then even layers), mean-field coordinate ascent in the same order,
exact partition functions that enumerate the odd layers and sum out the even ones analytically, and
annealed importance sampling (AIS) on the marginal of the odd layers (the bipartite view and the
mean-field pieces are in `models.boltzmann`).

A subclass with structured weights (the Shape-BM's shared patch weights, `models.shape_bm`) stores
fewer numbers than the full ``W_l`` and says how to expand them: `stored_weight_shape`,
`expand_weights`, `fold_weight_gradients` and `graph_parameters` are the hooks; everything else -
training, persistent chains, pre-training state, mean field, sampling, likelihoods - is this
class's.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..checks import check_array, check_feature_shape
from ..context import CtxLike, derive_seed, split_batch
from ..gluon_internals import mark_fresh_gradients, structural_params
from ..interfaces import IteratableData
from ..registry import register_model
from ..training import TaskProgress, apply_gradients
from .base import ObservableModel, momentum_optimizer_params
from .boltzmann import (
    BipartiteLayout,
    Coupling,
    DBMView,
    PersistentChains,
    bernoulli,
    check_bernoulli_data,
    gibbs_sweep,
    layer_parameters,
    log_odds,
    mean_field,
    odd_given_even,
    reconstruction,
    sigmoid,
    split_layers,
    up_pass,
)
from .graphs import GraphCache
from .partition import LogPartitionCache, ais_betas, cache_key, log_mean_exp, split_betas
from .rbm import RestrictedBoltzmannMachines

__all__ = ["DeepBoltzmannMachines"]

logger = logging.getLogger("accelbrainbase")

# The exact sums enumerate 2^(units of the odd layers) states.
_MAX_ENUMERATED_UNITS = 20


# ---------------------------------------------------------------------------- compiled graphs
class _TrainingStep(DBMView):
    """One joint-training gradient of a mini-batch.

    Positive phase: ``mean_field_steps`` mean-field sweeps on the data. Negative phase:
    ``gibbs_steps`` block Gibbs sweeps of the persistent chains (fantasy particles), with the odd
    layers' statistics Rao-Blackwellised (their probabilities given the final even states). The
    chain statistics are rescaled to the batch size, so the gradient is a sum over the batch as
    `training.apply_gradients` expects.

    Inputs: the batch and the chains' even vector ``(M, E)`` (a sweep starts by resampling the odd
    layers). Returns ``(grad W_1..W_L, grad b_0..b_L, the chains' new even vector, reconstruction
    error)``; gradients are *loss* gradients (the negated log-likelihood gradient estimate).
    """

    def __init__(self, dbm: "DeepBoltzmannMachines") -> None:
        super().__init__(dbm, kind="step")
        self.mean_field_steps, self.gibbs_steps = dbm.mean_field_steps, dbm.gibbs_steps
        self.fold = dbm.fold_weight_gradients  # a bound method: not a Block, so not a child

    def hybrid_forward(self, F, v0, chain, **params):
        lay = self.layout
        c = self.coupling(F, params)
        odd_mu, even_hidden_mu = mean_field(F, v0, c, lay, self.mean_field_steps)
        error = F.sum(F.mean(F.square(v0 - reconstruction(F, odd_mu, c, lay)), axis=1))

        even = chain
        for _ in range(self.gibbs_steps):
            _, even, _ = gibbs_sweep(F, even, c, lay)
        odd = odd_given_even(F, even, c, lay)

        # batch size / number of chains, as a (1, 1) array: the chains estimate an expectation,
        # the data term is a sum over the batch.
        n = F.sum(F.ones_like(F.slice_axis(v0, axis=1, begin=0, end=1)))
        m = F.sum(F.ones_like(F.slice_axis(chain, axis=1, begin=0, end=1)))
        ratio = (n / m).reshape((1, 1))
        odd_scaled = F.broadcast_mul(odd, ratio)
        even_mu = F.concat(v0, even_hidden_mu, dim=1)
        # One product for both phases and every layer: [-mu_o; r s_o]^T [mu_e; s_e] = -(positive -
        # negative) for the whole block matrix; the W_l are its blocks. `dot` as in the RBM's gradient
        # (FullyConnected with transposed activations measured no faster).
        grad = F.dot(F.concat(-odd_mu, odd_scaled, dim=0), F.concat(even_mu, even, dim=0), transpose_a=True)
        grad_weights = []
        for layer in range(1, lay.top + 1):
            o, e = (layer, layer - 1) if layer % 2 else (layer - 1, layer)
            block = F.slice(grad, begin=(lay.offset[o], lay.offset[e]),
                            end=(lay.offset[o] + lay.dims[o], lay.offset[e] + lay.dims[e]))
            grad_weights.append(block if layer % 2 else F.transpose(block))
        grad_weights = self.fold(F, grad_weights, params)
        grad_odd = F.sum(odd_scaled, axis=0) - F.sum(odd_mu, axis=0)
        grad_even = F.sum(F.broadcast_mul(even, ratio), axis=0) - F.sum(even_mu, axis=0)
        pieces = dict(zip(lay.odd, split_layers(F, grad_odd.reshape((1, -1)), lay.odd, lay)))
        pieces.update(zip(lay.even, split_layers(F, grad_even.reshape((1, -1)), lay.even, lay)))
        grad_biases = [pieces[l].reshape((-1,)) for l in range(lay.top + 1)]
        return tuple(grad_weights + grad_biases + [F.BlockGrad(even), error])


class _MeanField(DBMView):
    """Mean-field posteriors ``(mu_1, ..., mu_L)`` of a batch (``steps`` sweeps) and the
    reconstruction ``p(v | mu_1)``."""

    def __init__(self, dbm: "DeepBoltzmannMachines", steps: int) -> None:
        super().__init__(dbm)
        self.steps = steps

    def hybrid_forward(self, F, v, **params):
        lay = self.layout
        c = self.coupling(F, params)
        odd, even_hidden = mean_field(F, v, c, lay, self.steps)
        mus = dict(zip(lay.odd, split_layers(F, odd, lay.odd, lay)))
        # The even-hidden vector starts at h_2: shift the offsets by V.
        for layer in lay.even[1:]:
            start = lay.offset[layer] - lay.n_visible
            mus[layer] = F.slice_axis(even_hidden, axis=1, begin=start, end=start + lay.dims[layer])
        return tuple(mus[l] for l in range(1, lay.top + 1)) + (reconstruction(F, odd, c, lay),)


class _Gibbs(DBMView):
    """One block Gibbs sweep of the whole DBM: even vector in, ``(even vector, p(v | h_1))`` out."""

    def hybrid_forward(self, F, even, **params):
        lay = self.layout
        _, even, p_even = gibbs_sweep(F, even, self.coupling(F, params), lay)
        return even, F.slice_axis(p_even, axis=1, begin=0, end=lay.n_visible)


class _Annealing(DBMView):
    """A run of AIS transitions over the odd layers, one per row ``(beta_prev, beta)`` of ``betas``
    (all rows inside one graph call, `F.contrib.foreach`).

    The intermediate distributions keep the biases and scale every weight by beta; their marginal
    over the odd layers, with the even layers (``v`` included) summed out, is

        log p*_beta(h_odd) = b_odd.h_odd + sum_i softplus(beta (W_oe^T h_odd)_i + b_even,i)

    Each step adds ``log p*_beta - log p*_beta_prev`` (the odd bias term cancels) to the
    log-weights, then makes a Gibbs sweep in the full state (even layers given odd, odd given even)
    that leaves ``p_beta`` invariant.
    """

    def hybrid_forward(self, F, betas, log_w, odd, **params):
        lay = self.layout
        c = self.coupling(F, params)
        b_even, b_odd = c.b_e.reshape((1, -1)), c.b_o.reshape((1, -1))

        def body(pair, states):
            log_w, odd = states
            beta_prev, beta = split_betas(F, pair)
            drive = F.FullyConnected(odd, c.w_eo, no_bias=True, num_hidden=lay.n_even)
            pre = F.broadcast_add(F.broadcast_mul(drive, beta), b_even)
            pre_prev = F.broadcast_add(F.broadcast_mul(drive, beta_prev), b_even)
            log_w = log_w + F.sum(F.Activation(pre, act_type="softrelu")
                                  - F.Activation(pre_prev, act_type="softrelu"), axis=1)
            even = bernoulli(F, sigmoid(F, pre))
            drive = F.FullyConnected(even, c.w_oe, no_bias=True, num_hidden=lay.n_odd)
            odd = bernoulli(F, sigmoid(F, F.broadcast_add(F.broadcast_mul(drive, beta), b_odd)))
            return [], [log_w, odd]

        _, (log_w, odd) = F.contrib.foreach(body, betas, [log_w, odd])
        return log_w, odd


class _ClampedAnnealing(DBMView):
    """AIS for ``log sum_h exp(-E(v, h))`` with ``v`` clamped (one run of chains per sample).

    Given ``v`` the hidden layers form a bipartite model of their own: the odd layers get the extra
    input ``W_1 v`` (``drive``, one row per chain). The intermediate models scale every weight,
    ``W_1 v`` included, by beta; the even hidden layers are summed out analytically:

        log p*_beta(h_odd | v) = b_odd.h_odd + beta h_odd.drive + sum_i softplus(beta A_i + b_eh,i)

    with ``A`` the input of the even hidden layers from the odd ones.
    """

    def hybrid_forward(self, F, betas, log_w, odd, drive, **params):
        lay = self.layout
        c = self.coupling(F, params)
        b_even_hidden, b_odd = c.b_eh.reshape((1, -1)), c.b_o.reshape((1, -1))

        def body(pair, states):
            log_w, odd = states
            beta_prev, beta = split_betas(F, pair)
            interaction = F.FullyConnected(odd, c.w_eh_o, no_bias=True, num_hidden=lay.n_even - lay.n_visible)
            pre = F.broadcast_add(F.broadcast_mul(interaction, beta), b_even_hidden)
            pre_prev = F.broadcast_add(F.broadcast_mul(interaction, beta_prev), b_even_hidden)
            linear = F.sum(odd * drive, axis=1)
            log_w = log_w + F.broadcast_mul(linear, (beta - beta_prev).reshape((1,))) + F.sum(
                F.Activation(pre, act_type="softrelu") - F.Activation(pre_prev, act_type="softrelu"), axis=1)
            even_hidden = bernoulli(F, sigmoid(F, pre))
            interaction = F.FullyConnected(even_hidden, c.w_o_eh, no_bias=True, num_hidden=lay.n_odd) + drive
            odd = bernoulli(F, sigmoid(F, F.broadcast_add(F.broadcast_mul(interaction, beta), b_odd)))
            return [], [log_w, odd]

        _, (log_w, odd) = F.contrib.foreach(body, betas, [log_w, odd])
        return log_w, odd


# ---------------------------------------------------------------------------- exact sums (numpy)
def _binary_states(n_units: int, chunk: int) -> Any:
    """All ``2^n_units`` binary vectors as float64 ``(M, n_units)`` chunks."""
    bits = 1 << np.arange(n_units)
    for start in range(0, 2 ** n_units, chunk):
        index = np.arange(start, min(start + chunk, 2 ** n_units))
        yield ((index[:, None] & bits) > 0).astype(np.float64)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _entropy(mu: np.ndarray) -> np.ndarray:
    """Per-sample entropy of independent Bernoulli units with means ``mu`` ``(N, H)``."""
    def xlogx(p: np.ndarray) -> np.ndarray:
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)

    return -(xlogx(mu) + xlogx(1.0 - mu)).sum(axis=1)


# ---------------------------------------------------------------------------- the model
def _example(rng: np.random.RandomState):
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    x = prototypes[rng.randint(0, 2, 40)]
    x = np.abs(x - (rng.rand(*x.shape) < 0.05)).astype(np.float32)
    return dict(layer_dims=[6, 4, 3], pretrain_epochs=10, pretrain_batch_size=10, learning_rate=0.1,
                fantasy_particles=20), x, None


@register_model("dbm", example=_example)
class DeepBoltzmannMachines(PersistentChains, ObservableModel):
    """Deep Boltzmann machine with Bernoulli units: greedy pre-training, then joint training with a
    mean-field positive phase and persistent Gibbs chains (Salakhutdinov & Hinton 2009).

    Training runs two stages:

    1. **Greedy layer-wise pre-training** in `prepare` (before the first epoch of ``learn``;
       ``pretrain_epochs`` > 0; only for layers whose weights were not already pre-trained or
       loaded, see `load_pretrained`: a loaded or resumed model keeps its weights): one
       `RestrictedBoltzmannMachines` per layer, trained by CD-``pretrain_k`` on the layer below's
       up-pass probabilities, with the doubled inputs that make the composed model count each
       input once (Salakhutdinov & Hinton 2009; Salakhutdinov & Larochelle 2010 for the middle
       layers):

       - bottom RBM (``v``-``h_1``): doubled bottom-up input, ``p(h_1|v) = sigm(2 W_1 v + c)``,
         ``p(v|h_1) = sigm(W_1^T h_1 + b)`` (``up_scale=2``);
       - top RBM (``h_{L-1}``-``h_L``): doubled top-down input, ``p(h_{L-1}|h_L) = sigm(2 W_L^T h_L + a)``
         (``down_scale=2``);
       - middle RBMs: doubled in both directions (``up_scale=down_scale=2``): they learn the effective
         weights ``2 W_l``, which the DBM uses halved, ``W_l``.

       In the DBM a hidden layer gets input from both neighbours, each once: the weights enter as
       they were learned (the stored parameter ``W_l``; for middle layers that *is* the halving of the
       effective ``2 W_l``), ``b_0`` is the bottom RBM's visible bias, ``b_L`` the top RBM's hidden
       bias, and each intermediate ``b_l`` the mean of the two RBMs' biases for that layer (the
       average of the pre-activations ``2 W_l h_{l-1} + c_l`` and ``2 W_{l+1}^T h_{l+1} + a_l``).
       The RBM of layer ``l + 1`` trains on ``sigm(2 W_l x + b_l)``, the up-pass probabilities of the
       layer below. The pre-training RBMs' histories are kept in ``pretrain_histories`` (their
       progress is logged at INFO level on the ``accelbrainbase`` logger).

    2. **Joint training** through `training.fit` (epochs, test pass, checkpoints, callbacks, history):
       per mini-batch, ``mean_field_steps`` mean-field sweeps (started from the doubled up-pass, one
       compiled graph) give the positive statistics, ``gibbs_steps`` block Gibbs sweeps of
       ``fantasy_particles`` persistent chains the negative ones (stochastic approximation / PCD;
       the chains start at data, persist across batches, epochs and ``learn`` calls, and their
       statistics are rescaled to the batch size). The explicit gradient is written into the
       parameters' gradient buffers and applied by the model's Gluon optimizer (SGD with momentum
       by default; weight decay on the weights only; pass ``lr_scheduler`` to ``learn`` for the
       decreasing rates stochastic approximation asks for). Tracked loss: squared reconstruction
       error per visible unit of the mean-field reconstruction (``inference``), train and test.

    Block Gibbs sweeps, mean field and AIS see the DBM as a bipartite graph between the odd layers
    and the even ones (``v`` included), so each half-sweep is one matrix product whatever the depth.
    ``hybrid_forward`` (``self(x)``, `inference`) is the deterministic mean-field reconstruction.

    Args:
        layer_dims: ``[V, H_1, ..., H_L]``, at least two hidden layers (one is an RBM).
        pretrain_epochs: epochs of each pre-training RBM (0: no pre-training).
        pretrain_learning_rate, pretrain_k, pretrain_batch_size: the RBMs' SGD rate, CD steps and
            batch size (``None``: the training data's batch size).
        mean_field_steps: mean-field sweeps of the positive phase and of `inference` /
            `extract_feature_points`.
        gibbs_steps: Gibbs sweeps of the fantasy particles per update.
        fantasy_particles: persistent chains (split over the contexts of ``ctx``).
        learning_rate, momentum, weight_decay: joint-training SGD.
        optimizer, optimizer_params: any other Gluon optimizer (``momentum`` then does not apply).
        ctx, seed, initializer: see `ObservableModel` (default initializer N(0, 0.01^2)).

    Shapes:
        ``x`` ``(N, V)`` with values in [0, 1]; ``inference(x)`` -> reconstruction ``(N, V)``;
        ``extract_feature_points(x, layer)`` -> ``(N, H_layer)``; ``encode(x)`` -> ``(N, H_L)``;
        ``decode(codes)`` -> ``(N, V)``; ``log_likelihood(x)``, ``variational_lower_bound(x)`` -> ``(N,)``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = (load_digits().data >= 8).astype("float32")
        >>> dbm = DeepBoltzmannMachines([64, 16, 8], pretrain_epochs=2, seed=0)
        >>> dbm = dbm.learn(ArrayIterator(x, batch_size=50, epochs=2, seed=0), verbose=False)
        >>> dbm.extract_feature_points(x[:3], layer=2).shape
        (3, 8)
        >>> bool(dbm.log_likelihood(x[:100], method="exact").mean() < 0)
        True
    """

    #: ``(V,)``, the visible layer's size.
    input_shape: Tuple[int, ...]

    def __init__(
        self,
        layer_dims: Sequence[int],
        *,
        pretrain_epochs: int = 10,
        pretrain_learning_rate: float = 0.05,
        pretrain_k: int = 1,
        pretrain_batch_size: Optional[int] = None,
        mean_field_steps: int = 10,
        gibbs_steps: int = 5,
        fantasy_particles: int = 100,
        learning_rate: float = 0.005,
        momentum: float = 0.5,
        weight_decay: float = 1e-4,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "sgd",
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        dims = self._check_layer_dims(layer_dims)
        for name, value, low in (("pretrain_epochs", pretrain_epochs, 0), ("pretrain_k", pretrain_k, 1),
                                 ("mean_field_steps", mean_field_steps, 1), ("gibbs_steps", gibbs_steps, 1),
                                 ("fantasy_particles", fantasy_particles, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if pretrain_batch_size is not None and (not isinstance(pretrain_batch_size, (int, np.integer))
                                                or pretrain_batch_size < 1):
            raise ValueError(f"pretrain_batch_size must be a positive integer or None, got {pretrain_batch_size!r}")
        if pretrain_learning_rate <= 0:
            raise ValueError(f"pretrain_learning_rate must be positive, got {pretrain_learning_rate}")
        super().__init__(ctx=ctx, seed=seed, optimizer=optimizer, learning_rate=learning_rate,
                         optimizer_params=momentum_optimizer_params(optimizer, momentum, weight_decay,
                                                                    optimizer_params),
                         initializer=initializer if initializer is not None else mx.init.Normal(0.01))
        self.layer_dims = dims
        self.num_layers = len(dims) - 1
        self.input_shape = (dims[0],)
        self.pretrain_epochs, self.pretrain_k = int(pretrain_epochs), int(pretrain_k)
        self.pretrain_learning_rate = float(pretrain_learning_rate)
        self.pretrain_batch_size = None if pretrain_batch_size is None else int(pretrain_batch_size)
        self.mean_field_steps, self.gibbs_steps = int(mean_field_steps), int(gibbs_steps)
        self.fantasy_particles = int(fantasy_particles)

        self._param_names: List[str] = []
        for layer in range(1, self.num_layers + 1):
            name = f"weight{layer}"
            setattr(self, name, self.params.get(name, shape=self.stored_weight_shape(layer)))
            self._param_names.append(name)
        for layer in range(self.num_layers + 1):
            name = f"bias{layer}"
            # Weight decay is a prior on the weights; biases are left free (Hinton 2010 §10).
            setattr(self, name, self.params.get(name, shape=(dims[layer],), init=mx.init.Zero(), wd_mult=0.0))
            self._param_names.append(name)
        self._layout = BipartiteLayout(dims)
        # Internal graphs (`DBMView` s, not children: the model's files hold each parameter once),
        # built on first use and always compiled: they run per batch.
        self._graphs = GraphCache()
        self._log_z_cache = LogPartitionCache()
        # Per context: the even vector (v, h_2, ...) of the persistent chains.
        self._chains: List[Optional[mx.nd.NDArray]] = [None] * len(self.ctx)
        # Layers (weight indices) whose weights came from pre-training or loading; pre-training
        # skips them. ``_bias_parts[l][k]`` is what the weights of layer k say b_l should be.
        self._pretrained_layers: set = set()
        self._bias_parts: Dict[int, Dict[int, np.ndarray]] = {}
        self.pretrain_histories: List[Any] = []

    @staticmethod
    def _check_layer_dims(layer_dims: Any) -> List[int]:
        if isinstance(layer_dims, (str, bytes)) or not hasattr(layer_dims, "__len__"):
            raise ValueError(f"layer_dims must be a list [V, H1, H2, ...], got {layer_dims!r}")
        if len(layer_dims) < 3:
            raise ValueError("layer_dims must list the visible size and at least two hidden layers ([V, H1, H2, "
                             f"...]; one hidden layer is a RestrictedBoltzmannMachines), got {list(layer_dims)}")
        dims = []
        for d in layer_dims:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
                raise ValueError(f"layer_dims must be positive integers, got {list(layer_dims)}")
            dims.append(int(d))
        return dims

    # ------------------------------------------------------------------ structured weights (hooks)
    def stored_weight_shape(self, layer: int) -> Tuple[int, ...]:
        """Shape of the stored parameter ``weight{layer}``: ``(H_l, H_{l-1})`` here. A subclass with
        structured weights stores fewer numbers and builds ``W_l`` in `expand_weights`."""
        return (self.layer_dims[layer], self.layer_dims[layer - 1])

    def graph_parameters(self, kind: str = "inference") -> Dict[str, gluon.Parameter]:
        """The parameters (by name) the compiled graphs take: ``weight1..``, ``bias0..`` here; a
        subclass adds what its `expand_weights` (and, for the training ``kind="step"``,
        `fold_weight_gradients`) read."""
        return {name: getattr(self, name) for name in self._param_names}

    def expand_weights(self, F: Any, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The DBM's parameters ``weight1..`` ``(H_l, H_{l-1})``, ``bias0..`` from the stored ones
        (`graph_parameters`), inside a graph (``F`` is ``mx.sym``) or on NDArrays (``mx.nd``): the
        identity here. The weight-expansion hook of structured DBMs (the Shape-BM)."""
        return params

    def fold_weight_gradients(self, F: Any, grads: List[Any], params: Mapping[str, Any]) -> List[Any]:
        """The gradients of the stored weights from those of the expanded ``W_l`` (``[grad W_1,
        ..., grad W_L]``): the identity here; the chain rule of `expand_weights` in a subclass."""
        return grads

    # ------------------------------------------------------------------ parameters
    def _weights(self, device: mx.Context) -> Tuple[List[Any], List[Any]]:
        """``([None, W_1..W_L], [b_0..b_L])`` on ``device`` (expanded: the DBM's view of the model)."""
        params = {name: p.data(device) for name, p in self.graph_parameters().items()}
        return layer_parameters(self.expand_weights(mx.nd, params), self.num_layers)

    def _numpy_params(self) -> Tuple[List[Any], List[np.ndarray]]:
        # weights[0] is None: weight l connects layer l - 1 and layer l, for l >= 1
        weights, biases = self._weights(self.ctx[0])
        return ([None] + [w.asnumpy().astype(np.float64) for w in weights[1:]],
                [b.asnumpy().astype(np.float64) for b in biases])

    def hybrid_forward(self, F, x, **params):
        lay = self._layout
        c = Coupling(F, self.expand_weights(F, params), lay)
        odd, _ = mean_field(F, x, c, lay, self.mean_field_steps)
        return reconstruction(F, odd, c, lay)

    def _flat_input(self, observed_arr: Any) -> mx.nd.NDArray:
        """``observed_arr`` checked against ``input_shape``, as ``(N, V)``."""
        x = self._as_input(observed_arr)
        return x.reshape((x.shape[0], -1))

    # The compiled graphs, built on first use.
    def _training_step(self) -> gluon.HybridBlock:
        return self._graphs.graph("step", lambda: _TrainingStep(self), static_alloc=True, static_shape=True)

    def _gibbs(self) -> gluon.HybridBlock:
        return self._graphs.graph("gibbs", lambda: _Gibbs(self), static_alloc=True, static_shape=True)

    def _annealing(self, clamped: bool = False) -> gluon.HybridBlock:
        build = (lambda: _ClampedAnnealing(self)) if clamped else (lambda: _Annealing(self))
        return self._graphs.graph(("annealing", clamped), build, static_alloc=True, static_shape=True)

    # ------------------------------------------------------------------ transfer learning
    def _check_layer(self, layer: int, low: int = 1) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not low <= layer <= self.num_layers:
            raise ValueError(f"layer must be an integer in {low}..{self.num_layers} for this "
                             f"{self.num_layers}-hidden-layer DBM, got {layer!r}")
        return int(layer)

    def load_pretrained(self, layer_index: int, source: Any,
                        source_layer: Optional[int] = None) -> "DeepBoltzmannMachines":
        """Copy pre-trained weights into layer ``layer_index`` (``W_l`` between ``h_{l-1}`` and ``h_l``).

        Args:
            layer_index: ``1..L``.
            source: a Bernoulli `RestrictedBoltzmannMachines` with ``visible_dim = H_{l-1}`` and
                ``hidden_dim = H_l`` (its weight, visible and hidden biases become ``W_l`` and this
                layer's contributions to ``b_{l-1}`` and ``b_l``; a bias shared with another loaded
                layer is the mean of both contributions, as after pre-training), or a
                `DeepBoltzmannMachines` (``W``, ``b_{l-1}``, ``b_l`` of its layer ``source_layer``,
                default ``layer_index``).
            source_layer: which layer of a DBM ``source`` to take.

        Loaded layers are not pre-trained again by `learn`. Returns ``self``.

        Example:
            >>> a = DeepBoltzmannMachines([6, 4, 3], seed=0)
            >>> b = DeepBoltzmannMachines([6, 4, 3], seed=1).load_pretrained(1, a).load_pretrained(2, a)
            >>> bool((a.extract_feature_points(np.eye(6)) == b.extract_feature_points(np.eye(6))).all())
            True
        """
        layer = self._check_layer(layer_index)
        expected = (self.layer_dims[layer], self.layer_dims[layer - 1])
        if isinstance(source, DeepBoltzmannMachines):
            src_layer = source._check_layer(layer if source_layer is None else source_layer)
            src_w, src_b = source._numpy_params()
            weight, below, above = src_w[src_layer], src_b[src_layer - 1], src_b[src_layer]
            if weight.shape != expected:
                raise ValueError(f"layer {src_layer} of the source DBM has weights {weight.shape}, "
                                 f"layer {layer} here needs {expected} (H_l, H_l-1)")
        elif isinstance(source, RestrictedBoltzmannMachines):
            if source_layer is not None:
                raise ValueError("source_layer applies to a DBM source only")
            if source.visible_type != "bernoulli":
                raise ValueError("a DBM has Bernoulli units everywhere; "
                                 f"the RBM has {source.visible_type} visible units")
            weight, below, above = (p.data(source.ctx[0]).asnumpy().astype(np.float64)
                                    for p in (source.weight, source.visible_bias, source.hidden_bias))
            if weight.shape != expected:
                raise ValueError(f"the RBM has visible_dim={weight.shape[1]}, hidden_dim={weight.shape[0]}; "
                                 f"layer {layer} needs visible_dim={expected[1]}, hidden_dim={expected[0]}")
        else:
            raise TypeError(f"source must be a RestrictedBoltzmannMachines or a DeepBoltzmannMachines, "
                            f"got {type(source).__name__}")
        getattr(self, f"weight{layer}").set_data(mx.nd.array(weight))
        for target, value in ((layer - 1, below), (layer, above)):
            parts = self._bias_parts.setdefault(target, {})
            other = layer + 1 if target == layer else layer - 1  # the other weights touching b_target
            if not parts and other in self._pretrained_layers:
                # E.g. a loaded model: its current bias stands for the other layer's contribution.
                parts[other] = getattr(self, f"bias{target}").data(self.ctx[0]).asnumpy().astype(np.float64)
            parts[layer] = value
            getattr(self, f"bias{target}").set_data(mx.nd.array(np.mean(list(parts.values()), axis=0)))
        self._pretrained_layers.add(layer)
        self._chains = [None] * len(self.ctx)
        return self

    @classmethod
    def from_rbms(cls, rbms: Sequence[RestrictedBoltzmannMachines], **kwargs: Any) -> "DeepBoltzmannMachines":
        """A DBM composed of trained Bernoulli RBMs ``[v-h_1, h_1-h_2, ...]`` (at least two).

        ``kwargs`` go to the constructor (``layer_dims`` comes from the RBMs). Shared biases are
        averaged (see `load_pretrained`); RBMs trained with the doubled inputs of DBM pre-training
        (``up_scale``/``down_scale``) compose as the paper intends, plain RBMs compose the same way.
        The layers count as pre-trained: ``learn`` goes straight to joint training.

        Example:
            >>> r1 = RestrictedBoltzmannMachines(6, 4, seed=0)
            >>> r2 = RestrictedBoltzmannMachines(4, 3, seed=0)
            >>> DeepBoltzmannMachines.from_rbms([r1, r2], seed=0).layer_dims
            [6, 4, 3]
        """
        rbms = list(rbms)
        if len(rbms) < 2:
            raise ValueError(f"from_rbms needs at least two RBMs, got {len(rbms)}")
        for i, rbm in enumerate(rbms):
            if not isinstance(rbm, RestrictedBoltzmannMachines):
                raise TypeError(f"rbms[{i}] is a {type(rbm).__name__}, not a RestrictedBoltzmannMachines")
        for i, (a, b) in enumerate(zip(rbms[:-1], rbms[1:])):
            if a.hidden_dim != b.visible_dim:
                raise ValueError(f"rbms[{i}] has hidden_dim={a.hidden_dim} but rbms[{i + 1}] has "
                                 f"visible_dim={b.visible_dim}: consecutive RBMs must share a layer")
        if "layer_dims" in kwargs:
            raise TypeError("from_rbms takes layer_dims from the RBMs")
        dbm = cls([rbms[0].visible_dim] + [r.hidden_dim for r in rbms], **kwargs)
        for layer, rbm in enumerate(rbms, start=1):
            dbm.load_pretrained(layer, rbm)
        return dbm

    def _mark_all_pretrained(self) -> None:
        self._pretrained_layers = set(range(1, self.num_layers + 1))
        self._bias_parts = {}
        self.reset_chains()

    def load_parameters(self, filename: str, *args: Any, **kwargs: Any) -> None:
        """Gluon's ``load_parameters``; the loaded layers count as pre-trained."""
        super().load_parameters(filename, *args, **kwargs)
        self._mark_all_pretrained()

    # ------------------------------------------------------------------ state
    def extra_state(self) -> Dict[str, np.ndarray]:
        """The persistent chains (`PersistentChains`) and which layers are pre-trained (a loaded or
        resumed model is not pre-trained again)."""
        state = super().extra_state()
        state["pretrained_layers"] = np.array([float(layer in self._pretrained_layers)
                                               for layer in range(1, self.num_layers + 1)], dtype=np.float32)
        return state

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        state = dict(state)
        mask = state.pop("pretrained_layers", None)
        super().set_extra_state(state)
        layers = range(1, self.num_layers + 1)
        # A state without the mark comes from trained weights of elsewhere: nothing to pre-train.
        self._pretrained_layers = set(layers) if mask is None else {
            layer for layer, done in zip(layers, np.ravel(mask)) if done}
        self._bias_parts = {}

    # ------------------------------------------------------------------ training
    #: Pre-training batch size when neither ``pretrain_batch_size`` nor the data's is known.
    default_pretrain_batch_size = 32

    def check_data(self, data: IteratableData) -> None:
        """The per-sample shape and values in [0, 1] (Bernoulli units), training and held-out."""
        super().check_data(data)
        check_bernoulli_data(data)

    def prepare(self, data: IteratableData) -> None:
        """`check_data`, then greedy layer-wise pre-training of the layers not yet pre-trained or
        loaded (``pretrain_epochs`` > 0) on ``data.training_arrays()``, in batches of
        ``pretrain_batch_size`` (else ``data.batch_size``, else `default_pretrain_batch_size`);
        without pre-training, the visible biases start at the data's log-odds while they are zero
        (Hinton 2010 §8)."""
        super().prepare(data)
        pretrain = self.pretrain_epochs > 0 and len(self._pretrained_layers) < self.num_layers
        init_bias = self.pretrain_epochs == 0 and not self.bias0.data(self.ctx[0]).asnumpy().any()
        if not (pretrain or init_bias):
            return
        x, _ = data.training_arrays()
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if pretrain:
            self._pretrain(x, self.pretrain_batch_size or data.batch_size or self.default_pretrain_batch_size)
        else:
            self.bias0.set_data(mx.nd.array(log_odds(x)))

    def _pretrain(self, x: np.ndarray, batch_size: int) -> None:
        """Greedy layer-wise pre-training (see the class docstring) of flat data ``x`` ``(N, V)``."""
        from ..data import ArrayIterator  # the data layer imports nothing from the models

        top = self.num_layers
        data = x.astype(np.float32)
        self.pretrain_histories = []
        todo = [layer for layer in range(1, top + 1) if layer not in self._pretrained_layers]
        progress = TaskProgress(len(todo) * self.pretrain_epochs, f"{type(self).__name__} pre-training", unit="epochs")

        def tick(model: Any, epoch: int, logs: Dict[str, float]) -> None:
            progress.update(1)
            progress.set_postfix_str(f"train_loss={logs['train_loss']:.4g}")

        for layer in range(1, top + 1):
            if layer not in self._pretrained_layers:
                rbm = RestrictedBoltzmannMachines(
                    self.layer_dims[layer - 1], self.layer_dims[layer],
                    k=self.pretrain_k, learning_rate=self.pretrain_learning_rate,
                    up_scale=2.0 if layer < top else 1.0, down_scale=2.0 if layer > 1 else 1.0,
                    ctx=self.ctx, seed=None if self.seed is None else derive_seed(self.seed, "pretrain", layer))
                it = ArrayIterator(data, batch_size=min(batch_size, len(data)), epochs=self.pretrain_epochs,
                                   ctx=self.ctx[0],
                                   seed=None if self.seed is None else derive_seed(self.seed, "pretrain-data", layer))
                rbm.learn(it, verbose=0, callbacks=[tick])
                logger.info("%s: pre-trained layer %d, reconstruction error %.4g", type(self).__name__, layer,
                            rbm.loss_arr[-1, 0])
                self.pretrain_histories.append(rbm.history)
                self.load_pretrained(layer, rbm)
            if layer < top:
                # The next RBM learns from this layer's up-pass probabilities (doubled input).
                weights, biases = self._weights(self.ctx[0])
                data = sigmoid(mx.nd, mx.nd.FullyConnected(mx.nd.array(data * 2.0, ctx=self.ctx[0]), weights[layer],
                                                           biases[layer], num_hidden=self.layer_dims[layer])).asnumpy()
        progress.close()

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """One joint-training update (mean field + persistent chains) on the flattened batch; returns
        ``{"loss": summed reconstruction error of the batch}`` (on ``ctx[0]``)."""
        x = x.reshape((x.shape[0], -1))
        params = [getattr(self, name) for name in self._param_names]
        step = self._training_step()
        errors = []
        for i, (device, v0) in enumerate(zip(self.ctx, split_batch(x, self.ctx))):
            outs = step(v0, self._chain(i, v0))
            for param, grad in zip(params, outs[:len(params)]):
                grad.copyto(param.grad(device))
            self._chains[i] = outs[-2]
            errors.append(outs[-1].as_in_context(self.ctx[0]))
        for device in self.ctx[len(errors):]:  # idle devices of a tiny batch add nothing
            for param in params:
                param.grad(device)[:] = 0
        mark_fresh_gradients(params)
        apply_gradients(self, x.shape[0], clip_norm)
        return {"loss": errors[0] if len(errors) == 1 else mx.nd.add_n(*errors)}

    def _chain(self, i: int, v0: mx.nd.NDArray) -> mx.nd.NDArray:
        chain = self._chains[i]
        if chain is None or chain.context != v0.context:
            n_dev = len(self.ctx)
            m = max(1, self.fantasy_particles // n_dev + (1 if i < self.fantasy_particles % n_dev else 0))
            # Chains start at data (cycled through the first batch) with hidden states sampled from
            # the up-pass; they persist across batches and epochs.
            index = mx.nd.array(np.arange(m) % v0.shape[0], ctx=v0.context)
            v = bernoulli(mx.nd, mx.nd.take(v0, index))
            weights, biases = self._weights(v0.context)
            mus = up_pass(mx.nd, v, weights, biases, self.layer_dims)
            chain = self._chains[i] = mx.nd.concat(v, *[bernoulli(mx.nd, mu) for mu in mus[2::2]], dim=1)
        return chain

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """``{"loss": summed squared error per visible unit of the mean-field reconstruction}``."""
        x = x.as_in_context(self.ctx[0])
        return {"loss": mx.nd.sum(mx.nd.mean(mx.nd.square(self(x) - x).reshape((0, -1)), axis=1))}

    # ------------------------------------------------------------------ inference
    def _mean_field_view(self, steps: int) -> gluon.HybridBlock:
        """The compiled mean-field graph of ``steps`` sweeps (`_MeanField`)."""
        return self._graphs.graph(("mean_field", int(steps)), lambda: _MeanField(self, int(steps)), static_alloc=True)

    def _posteriors(self, observed_arr: Any, steps: int, batch_size: int = 1024) -> List[np.ndarray]:
        """Mean-field posteriors ``[mu_1, ..., mu_L]`` as numpy arrays."""
        view = self._mean_field_view(int(steps))
        x = self._flat_input(observed_arr)
        chunks = [view(x[i:i + batch_size].as_in_context(self.ctx[0]))[:-1] for i in range(0, x.shape[0], batch_size)]
        return [np.concatenate([c[l].asnumpy() for c in chunks], axis=0) for l in range(self.num_layers)]

    def extract_feature_points(self, observed_arr: Any, layer: Optional[int] = None,
                               batch_size: int = 1024) -> Any:
        """Mean-field posterior ``q(h_layer = 1 | v)`` of hidden layer ``layer`` (``1..L``, default
        the top), shape ``(N, H_layer)``; ``mean_field_steps`` sweeps (deterministic)."""
        layer = self.num_layers if layer is None else self._check_layer(layer)
        view = self._mean_field_view(self.mean_field_steps)
        return self._batched(lambda v: view(v.reshape((v.shape[0], -1)))[layer - 1], observed_arr, batch_size)

    def encode(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """The "DBM as a stacked auto-encoder" view, for dimension reduction: the deterministic
        up-pass codes of the top layer, ``(N, H_L)``.

        ``mu_l = sigm(c_l W_l mu_{l-1} + b_l)`` with ``c_l = 2`` below the top (the doubled input of
        the pre-training RBMs stands in for the missing top-down input) and ``c_L = 1``. One pass,
        no mean-field iterations: the codes of the pre-trained stack; `extract_feature_points` gives
        the DBM's posterior.
        """
        def up(v: mx.nd.NDArray) -> mx.nd.NDArray:
            weights, biases = self._weights(v.context)
            return up_pass(mx.nd, v.reshape((v.shape[0], -1)), weights, biases, self.layer_dims)[-1]

        return self._batched(up, observed_arr, batch_size)

    def decode(self, codes: Any, batch_size: int = 1024) -> Any:
        """Visible means ``(N, *input_shape)`` of top-layer codes ``(N, H_L)``: the deterministic down-pass
        ``mu_{l-1} = sigm(c W_l^T mu_l + b_{l-1})`` with ``c = 2`` for hidden layers (doubled
        top-down input, as the pre-training RBMs above them) and ``c = 1`` for ``v``. With `encode`,
        the dimension-reduction auto-encoder view of the DBM."""
        top = self.num_layers
        arr = codes
        x = codes.astype(np.float32, copy=False) if isinstance(codes, mx.nd.NDArray) \
            else mx.nd.array(check_array(codes, "codes", min_rank=2, max_rank=2))
        if x.ndim != 2:
            raise ValueError(f"codes must have rank 2 (N, {self.layer_dims[-1]}), got shape {x.shape}")
        check_feature_shape(tuple(x.shape[1:]), (self.layer_dims[-1],), "codes")
        out = []
        for start in range(0, x.shape[0], batch_size):
            h = x[start:start + batch_size].as_in_context(self.ctx[0])
            weights, biases = self._weights(h.context)
            for layer in range(top, 0, -1):
                scale = 2.0 if layer > 1 else 1.0
                h = sigmoid(mx.nd, mx.nd.FullyConnected(h * scale, weights[layer].T, biases[layer - 1],
                                                      num_hidden=self.layer_dims[layer - 1]))
            out.append(h)
        result = out[0] if len(out) == 1 else mx.nd.concat(*out, dim=0)
        result = result.reshape((result.shape[0],) + tuple(self.input_shape))
        return result if isinstance(arr, mx.nd.NDArray) else result.asnumpy()

    def sample(self, n: int = 16, steps: int = 1000, *, init: Any = None,
               return_probabilities: bool = True) -> np.ndarray:
        """Run ``n`` block Gibbs chains of the whole DBM for ``steps`` sweeps; returns the visible
        units ``(n, V)``: ``p(v | h_1)`` of the last sweep (``return_probabilities``) or the states.

        Chains start at ``init`` ``(n, V)`` (hidden layers from its up-pass) or at random states
        drawn from the biases.
        """
        if n < 1 or steps < 1:
            raise ValueError(f"n and steps must be positive, got n={n}, steps={steps}")
        device = self.ctx[0]
        weights, biases = self._weights(device)
        if init is not None:
            v = self._flat_input(init).as_in_context(device)
            n = v.shape[0]
            layers = up_pass(mx.nd, v, weights, biases, self.layer_dims)[0::2]
        else:
            layers = [sigmoid(mx.nd, b).reshape((1, -1)).broadcast_to((n, b.shape[0])) for b in biases[0::2]]
        even = bernoulli(mx.nd, mx.nd.concat(*layers, dim=1))
        gibbs = self._gibbs()
        for _ in range(steps):
            even, v_mean = gibbs(even)
        return (v_mean if return_probabilities else even[:, :self.layer_dims[0]]).asnumpy()

    # ------------------------------------------------------------------ likelihood
    @property
    def _odd_layers(self) -> List[int]:
        return list(range(1, self.num_layers + 1, 2))

    def _enumerable(self) -> bool:
        return sum(self.layer_dims[l] for l in self._odd_layers) <= _MAX_ENUMERATED_UNITS

    def _check_enumerable(self, what: str) -> None:
        if not self._enumerable():
            units = sum(self.layer_dims[l] for l in self._odd_layers)
            raise ValueError(f"{what} enumerates the 2^{units} states of the odd layers "
                             f"{self._odd_layers}: more than 2^{_MAX_ENUMERATED_UNITS}")

    def _split_odd(self, states: np.ndarray) -> Dict[int, np.ndarray]:
        out, start = {}, 0
        for layer in self._odd_layers:
            out[layer] = states[:, start:start + self.layer_dims[layer]]
            start += self.layer_dims[layer]
        return out

    def _odd_terms(self, states: np.ndarray, weights: List[Any],
                   biases: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """For odd-layer states ``(M, units)``: the log-terms with the even *hidden* layers summed
        out, ``(M,)``, and ``h_1`` ``(M, H_1)`` (whose product with ``W_1 v`` completes them)."""
        top = self.num_layers
        odd = self._split_odd(states)
        total = sum(odd[l] @ biases[l] for l in odd)
        for layer in range(2, top + 1, 2):
            pre = odd[layer - 1] @ weights[layer].T + biases[layer]
            if layer < top:
                pre = pre + odd[layer + 1] @ weights[layer + 1]
            total = total + _softplus(pre).sum(axis=1)
        return total, odd[1]

    def _exact_log_partition(self) -> float:
        self._check_enumerable("the exact log Z")
        weights, biases = self._numpy_params()
        units = sum(self.layer_dims[l] for l in self._odd_layers)
        result = -np.inf
        for states in _binary_states(units, 1 << 14):
            terms, h1 = self._odd_terms(states, weights, biases)
            terms = terms + _softplus(h1 @ weights[1] + biases[0]).sum(axis=1)
            peak = terms.max()
            result = np.logaddexp(result, peak + np.log(np.exp(terms - peak).sum()))
        return float(result)

    def _log_unnormalized(self, observed_arr: Any, batch_size: int = 1024) -> np.ndarray:
        """``log sum_h exp(-E(v, h))`` per sample, exactly (odd layers enumerated)."""
        self._check_enumerable("the exact log p*(v)")
        v_all = self._flat_input(observed_arr).asnumpy().astype(np.float64)
        weights, biases = self._numpy_params()
        units = sum(self.layer_dims[l] for l in self._odd_layers)
        chunk = max(64, (1 << 22) // max(1, min(batch_size, len(v_all))))
        out = []
        for start in range(0, len(v_all), batch_size):
            v = v_all[start:start + batch_size]
            drive = v @ weights[1].T  # (n, H_1): W_1 v
            result = np.full(len(v), -np.inf)
            for states in _binary_states(units, chunk):
                terms, h1 = self._odd_terms(states, weights, biases)
                table = terms[:, None] + h1 @ drive.T  # (M, n)
                peak = table.max(axis=0)
                result = np.logaddexp(result, peak + np.log(np.exp(table - peak).sum(axis=0)))
            out.append(result + v @ biases[0])
        return np.concatenate(out)

    def log_partition(self, method: str = "ais", *, chains: int = 100, betas: Any = 10000,
                      seed: int = 0, verbose: Any = 1) -> float:
        """``log Z`` of the DBM; kept until the parameters change (a second call with the same
        arguments on the same parameters returns at once).

        Args:
            method: ``"exact"`` enumerates the odd layers (``h_1, h_3, ...``; at most 20 units in all)
                and sums out the even ones (``v, h_2, ...``) analytically: given the odd layers they
                are independent Bernoulli units. ``"ais"`` runs annealed importance sampling on the
                same marginal over the odd layers, the even layers summed out analytically (less
                variance than annealing the full state; for two hidden layers this is AIS over
                ``h_1`` with ``v`` and ``h_2`` summed out, the variant of Salakhutdinov & Hinton
                2009). The intermediate models scale all weights by beta and keep the biases, so the
                base model (beta = 0) has independent units with this model's biases and
                ``log Z_0 = sum softplus(b)``; transitions are block Gibbs sweeps of the whole DBM
                at temperature beta.
            chains: AIS runs (their importance weights are averaged).
            betas: number of inverse temperatures (a schedule denser near 1) or the schedule itself.
            seed: seeds the AIS chains.
            verbose: AIS progress (see `training.TaskProgress`): 1 a bar in Jupyter and on
                terminals, 0 none.
        """
        if method not in ("exact", "ais"):
            raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")
        key = (method,) if method == "exact" else (method, chains, cache_key(betas), seed)
        if method == "exact":
            compute = self._exact_log_partition
        else:
            def compute() -> float:
                return self._ais_log_partition(chains, betas, seed, verbose=verbose)
        params = structural_params(self)
        return self._log_z_cache.get(lambda: [p.data(self.ctx[0]).asnumpy() for p in params.values()], key, compute)

    @staticmethod
    def _ais_schedule(betas: Any) -> np.ndarray:
        if isinstance(betas, (int, float, np.integer, np.floating)):
            schedule = ais_betas(int(betas))
        else:
            schedule = np.asarray(betas, dtype=np.float64)
        if schedule.ndim != 1 or len(schedule) < 2 or schedule[0] != 0 or schedule[-1] != 1 \
                or (np.diff(schedule) < 0).any():
            raise ValueError("an AIS schedule must be a 1-D non-decreasing sequence from 0 to 1")
        return schedule

    def _ais_log_partition(self, chains: int, betas: Any, seed: int, chunk: int = 500, verbose: Any = 1) -> float:
        if int(chains) < 1:
            raise ValueError(f"chains must be positive, got {chains}")
        schedule = self._ais_schedule(betas)
        device = self.ctx[0]
        _, biases = self._weights(device)
        mx.random.seed(seed, ctx=device)
        # The base model's odd layers: independent units with this model's biases.
        odd = bernoulli(mx.nd, mx.nd.concat(*[sigmoid(mx.nd, biases[l]).reshape((1, -1)).broadcast_to(
            (chains, self.layer_dims[l])) for l in self._odd_layers], dim=1))
        log_w = mx.nd.zeros(chains, ctx=device)
        pairs = np.stack([schedule[:-1], schedule[1:]], axis=1).astype(np.float32)
        with TaskProgress(len(pairs), f"{type(self).__name__} AIS", verbose, unit="transitions") as progress:
            for start in range(0, len(pairs), chunk):
                log_w, odd = self._annealing()(mx.nd.array(pairs[start:start + chunk], ctx=device), log_w, odd)
                progress.update(len(pairs[start:start + chunk]))
        log_z0 = sum(float(_softplus(b.asnumpy().astype(np.float64)).sum()) for b in biases)
        return log_z0 + log_mean_exp(log_w.asnumpy().astype(np.float64))

    def log_likelihood(self, observed_arr: Any, method: str = "exact", log_z: Optional[float] = None, *,
                       sample_chains: int = 10, sample_betas: Any = 1000, seed: int = 0,
                       **log_partition_kwargs: Any) -> np.ndarray:
        """``log p(v)`` per sample, nats: ``log p(v) = log p*(v) - log Z`` with
        ``log p*(v) = log sum_h exp(-E(v, h))``.

        Args:
            method: ``"exact"``: exact ``log Z`` and ``log p*(v)``, both summing over the odd layers
                (at most 20 odd-layer units, e.g. a 2-layer DBM with ``|h_1| <= 20``). ``"ais"``:
                ``log Z`` by AIS (`log_partition`; ``log_partition_kwargs`` such as ``chains``,
                ``betas`` go to it); ``log p*(v)`` stays exact when the odd layers are small enough
                and is otherwise estimated by AIS per sample with ``v`` clamped
                (``sample_chains`` runs of ``sample_betas`` temperatures each; for ``[64, 100, 50]``
                on 2 CPU cores about 6 s per 100 samples, and more temperatures make the estimate
                less low). AIS estimates are stochastic and, in expectation, low for ``log Z`` and
                for ``log p*(v)``.
            log_z: a known ``log Z`` (skips its computation).
            seed: seeds the per-sample AIS runs (and ``log Z``'s unless ``log_partition_kwargs``
                gives one).
        """
        if method not in ("exact", "ais"):
            raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")
        if method == "exact" and not self._enumerable():
            units = sum(self.layer_dims[l] for l in self._odd_layers)
            raise ValueError(f"the exact log-likelihood sums over the 2^{units} states of the odd layers "
                             f"{self._odd_layers} (at most 2^{_MAX_ENUMERATED_UNITS}); use method='ais' "
                             "or variational_lower_bound")
        if self._enumerable():
            unnormalized = self._log_unnormalized(observed_arr)
        else:
            unnormalized = self._ais_log_unnormalized(observed_arr, sample_chains, sample_betas, seed)
        if log_z is None:
            log_partition_kwargs.setdefault("seed", seed)
            log_z = self.log_partition(method, **log_partition_kwargs)
        return unnormalized - log_z

    def _ais_log_unnormalized(self, observed_arr: Any, chains: int = 10, betas: Any = 1000, seed: int = 0,
                              rows: int = 8192, chunk: int = 500) -> np.ndarray:
        """AIS estimate of ``log sum_h exp(-E(v, h))`` per sample (``chains`` runs per sample)."""
        if int(chains) < 1:
            raise ValueError(f"sample_chains must be positive, got {chains}")
        schedule = self._ais_schedule(betas)
        x = self._flat_input(observed_arr)
        device = self.ctx[0]
        _, biases = self._weights(device)
        params = {name: p.data(device) for name, p in self.graph_parameters().items()}
        c = Coupling(mx.nd, self.expand_weights(mx.nd, params), self._layout)
        pairs = mx.nd.array(np.stack([schedule[:-1], schedule[1:]], axis=1).astype(np.float32), ctx=device)
        b = [bias.asnumpy().astype(np.float64) for bias in biases]
        log_z0 = sum(float(_softplus(b[l]).sum()) for l in range(1, self.num_layers + 1))
        mx.random.seed(seed, ctx=device)
        per_batch = max(1, rows // int(chains))
        out = []
        for start in range(0, x.shape[0], per_batch):
            v = x[start:start + per_batch].as_in_context(device)
            n = v.shape[0]
            # One row per (sample, chain): sample i owns rows i*chains .. (i+1)*chains - 1.
            drive = mx.nd.FullyConnected(v, c.w_o_v, no_bias=True, num_hidden=self._layout.n_odd)
            drive = mx.nd.repeat(drive, repeats=int(chains), axis=0)
            odd = bernoulli(mx.nd, sigmoid(mx.nd, c.b_o).reshape((1, -1)).broadcast_to(drive.shape))
            log_w = mx.nd.zeros(drive.shape[0], ctx=device)
            for i in range(0, pairs.shape[0], chunk):
                log_w, odd = self._annealing(clamped=True)(pairs[i:i + chunk], log_w, odd, drive)
            log_w = log_w.asnumpy().astype(np.float64).reshape(n, int(chains))
            peak = log_w.max(axis=1)
            log_mean = peak + np.log(np.exp(log_w - peak[:, None]).mean(axis=1))
            out.append(log_z0 + log_mean + v.asnumpy().astype(np.float64) @ b[0])
        return np.concatenate(out)

    def variational_lower_bound(self, observed_arr: Any, log_z: Optional[float] = None,
                                mean_field_steps: int = 50, **log_partition_kwargs: Any) -> np.ndarray:
        """The mean-field lower bound on ``log p(v)`` per sample, nats:

            log p(v) >= E_q[-E(v, h)] + H(q) - log Z

        with ``q`` the factorial mean-field posterior after ``mean_field_steps`` sweeps (any ``q``
        gives a bound; more sweeps give a tighter one). ``log_z`` defaults to the exact value when
        the odd layers have at most 20 units and to AIS otherwise (``log_partition_kwargs`` go to
        `log_partition`).
        """
        if log_z is None:
            method = log_partition_kwargs.pop("method", "exact" if self._enumerable() else "ais")
            log_z = self.log_partition(method, **log_partition_kwargs)
        v = self._flat_input(observed_arr).asnumpy().astype(np.float64)
        mus = [v] + [m.astype(np.float64) for m in self._posteriors(observed_arr, mean_field_steps)]
        weights, biases = self._numpy_params()
        bound = sum(mus[l] @ biases[l] for l in range(self.num_layers + 1))
        for layer in range(1, self.num_layers + 1):
            bound = bound + ((mus[layer - 1] @ weights[layer].T) * mus[layer]).sum(axis=1)
            bound = bound + _entropy(mus[layer])
        return bound - log_z
