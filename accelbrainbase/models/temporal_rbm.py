"""Temporal RBMs: RTRBM, RNN-RBM and LSTM-RTRBM for binary sequences ``(N, T, V)``.

Each model is a chain of Bernoulli RBMs, one per time step, sharing the weight ``W`` ``(H, V)``.
A recurrent state ``u_{t-1}``, a deterministic function of the frames ``v_1 .. v_{t-1}``, sets the
biases of the step-``t`` RBM (Boulanger-Lewandowski, Bengio & Vincent 2012, eq. 4-5)::

    b_v(t) = b_v + W_uv u_{t-1}          b_h(t) = b_h + W_uh u_{t-1}

- `RTRBM` (Sutskever, Hinton & Taylor 2009): the state is the RBM's own mean-field hidden vector,
  ``r_t = sigmoid(W v_t + b_h(t))``, and ``W_uh`` is the recurrent weight ``W'`` (``H x H``).
- `RNNRBM` (Boulanger-Lewandowski et al. 2012): a separate tanh RNN,
  ``u_t = tanh(W_vu v_t + W_uu u_{t-1} + b_u)``.
- `LSTMRTRBM` (Lyu, Wu & Zhu 2015): an LSTM in place of that RNN (its output ``h_t`` is ``u_t``).

Training (per mini-batch of sequences): CD-k at every step - a stochastic Gibbs chain of ``k``
sweeps from ``v_t`` in the step-``t`` RBM gives a negative sample ``v_t^-`` (visible probabilities,
as `RestrictedBoltzmannMachines`) - and the gradient of ``sum_t F_t(v_t) - F_t(v_t^-)`` with the
negative samples held fixed. ``F_t`` is the free energy under the biases of step ``t``: autograd
back-propagates its bias gradients ``-(v_t - v_t^-)`` and ``-(p(h|v_t) - p(h|v_t^-))`` through the
recurrent bias paths in time (BPTT), which is the estimator of the papers.

Speed: the recurrence depends on the data only (never on the samples), so the whole sequence goes
through MXNet's fused ``RNN`` operator in one call (the RTRBM's logistic recurrence is rewritten as
a tanh RNN: ``sigmoid(z) = (1 + tanh(z / 2)) / 2``), and the T per-step RBMs then run as one batch of
``T * N`` frames. A training step is about 30 operators whatever the sequence length; every graph
is hybridized and no shape is baked in. The unit primitives and the graph views are shared with
the other Boltzmann machines (`models.boltzmann`).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..context import CtxLike
from ..interfaces import IteratableData
from ..registry import register_model
from .base import ObservableModel, momentum_optimizer_params
from .boltzmann import bernoulli, check_bernoulli_data, hidden_pre, log_odds, sigmoid
from .graphs import FunctionView, GraphCache

__all__ = ["RTRBM", "RNNRBM", "LSTMRTRBM"]


def _softplus_sum(F: Any, x: Any) -> Any:
    return F.sum(F.Activation(x, act_type="softrelu"), axis=1)


class _TemporalRBM(ObservableModel):
    """Shared machinery of the three temporal RBMs (see the module docstring).

    A subclass sets ``mode`` (``"rtrbm"``, ``"rnn_tanh"`` or ``"lstm"``) and ``state_dim``.
    """

    mode = ""

    def __init__(
        self,
        visible_dim: int,
        hidden_dim: int,
        recurrent_dim: Optional[int],
        *,
        k: int,
        learning_rate: float,
        momentum: float,
        weight_decay: float,
        predict_steps: int,
        predict_chains: int,
        ctx: CtxLike,
        seed: Optional[int],
        initializer: Optional[mx.init.Initializer],
        optimizer: str,
        optimizer_params: Optional[Dict[str, Any]],
    ) -> None:
        if visible_dim < 1 or hidden_dim < 1 or (recurrent_dim is not None and recurrent_dim < 1):
            raise ValueError(f"visible_dim, hidden_dim and recurrent_dim must be positive, got "
                             f"{visible_dim}, {hidden_dim}, {recurrent_dim}")
        if k < 1:
            raise ValueError(f"k (Gibbs steps per CD update) must be at least 1, got {k}")
        if predict_steps < 1 or predict_chains < 1:
            raise ValueError(f"predict_steps and predict_chains must be at least 1, got {predict_steps}, "
                             f"{predict_chains}")
        super().__init__(ctx=ctx, seed=seed, optimizer=optimizer, learning_rate=learning_rate,
                         optimizer_params=momentum_optimizer_params(optimizer, momentum, weight_decay,
                                                                    optimizer_params),
                         initializer=initializer)
        self.visible_dim, self.hidden_dim = int(visible_dim), int(hidden_dim)
        self.state_dim = self.hidden_dim if self.mode == "rtrbm" or recurrent_dim is None else int(recurrent_dim)
        self.k, self.predict_steps, self.predict_chains = int(k), int(predict_steps), int(predict_chains)
        self.input_shape = (None, self.visible_dim)
        V, H, S = self.visible_dim, self.hidden_dim, self.state_dim
        small = mx.init.Normal(0.01)
        # The RBM (Hinton 2010's small random weights); weight decay on weights, not biases.
        self.weight = self.params.get("weight", shape=(H, V), init=small)
        self.visible_bias = self.params.get("visible_bias", shape=(V,), init=mx.init.Zero(), wd_mult=0.0)
        self.hidden_bias = self.params.get("hidden_bias", shape=(H,), init=mx.init.Zero(), wd_mult=0.0)
        # The recurrent bias paths and the learned initial state u_0.
        self.initial_state = self.params.get("initial_state", shape=(S,), init=mx.init.Zero(), wd_mult=0.0)
        self.state_visible_weight = self.params.get("state_visible_weight", shape=(V, S), init=small)
        if self.mode == "rtrbm":
            # W': the hidden-bias path *is* the recurrence (r_t feeds b_h(t+1)).
            self.recurrent_weight = self.params.get("recurrent_weight", shape=(H, H), init=small)
        else:
            gates = 4 if self.mode == "lstm" else 1
            self.state_hidden_weight = self.params.get("state_hidden_weight", shape=(H, S), init=small)
            self.input_weight = self.params.get("input_weight", shape=(gates * S, V))
            self.recurrent_weight = self.params.get("recurrent_weight", shape=(gates * S, S))
            self.recurrent_bias = self.params.get("recurrent_bias", shape=(gates * S,), init=mx.init.Zero(),
                                                  wd_mult=0.0)
        if self.mode == "lstm":
            self.initialize_parameters()
            # Forget-gate biases (gate order i, f, g, o) start at 1 (Gers et al. 2000): keep the memory.
            self.recurrent_bias.set_data(mx.nd.array(np.repeat([0.0, 1.0, 0.0, 0.0], S)))
        # The training step, prediction and generation graphs over the parameters (not children:
        # nothing is saved twice), compiled on first use.
        self._graphs = GraphCache()

    # ------------------------------------------------------------------ graph pieces
    def _rnn(self, F: Any, x_tnv: Any, states: Sequence[Any], p: Dict[str, Any], state_outputs: bool):
        """The fused ``RNN`` operator over ``x_tnv`` ``(T, N, V)`` from ``states`` (each ``(1, N, S)``,
        in the operator's own variables: ``2 r - 1`` for the RTRBM)."""
        S = self.state_dim
        if self.mode == "rtrbm":
            # s_t = 2 r_t - 1 = tanh(W v_t / 2 + (b_h + W' 1 / 2) / 2 + W' s_{t-1} / 4)
            w_rec = p["recurrent_weight"]
            i2h_w, h2h_w = p["weight"] * 0.5, w_rec * 0.25
            i2h_b = p["hidden_bias"] * 0.5 + F.sum(w_rec, axis=1) * 0.25
            h2h_b = F.zeros_like(p["hidden_bias"])
            mode = "rnn_tanh"
        else:
            i2h_w, h2h_w, i2h_b = p["input_weight"], p["recurrent_weight"], p["recurrent_bias"]
            h2h_b = F.zeros_like(i2h_b)
            mode = self.mode
        packed = F.concat(F.reshape(i2h_w, shape=(-1,)), F.reshape(h2h_w, shape=(-1,)), i2h_b, h2h_b, dim=0)
        return F.RNN(x_tnv, packed, *states, state_size=S, num_layers=1, mode=mode,
                     state_outputs=state_outputs)

    def _initial_states(self, F: Any, like: Any, p: Dict[str, Any]) -> List[Any]:
        """``u_0`` for a batch, as ``(1, N, S)`` operator states; ``like`` is ``(T, N, *)``."""
        h0 = F.broadcast_like(F.reshape(p["initial_state"], shape=(1, 1, -1)),
                              F.slice_axis(like, axis=0, begin=0, end=1), lhs_axes=(1,), rhs_axes=(1,))
        if self.mode == "rtrbm":
            return [h0 * 2 - 1]
        if self.mode == "lstm":
            return [h0, F.zeros_like(h0)]
        return [h0]

    def _public_state(self, op_state: Any) -> Any:
        """The state that drives the biases, from the operator's first state/output."""
        return (op_state + 1) * 0.5 if self.mode == "rtrbm" else op_state

    def _states(self, F: Any, x_tnv: Any, p: Dict[str, Any]) -> Tuple[Any, Any]:
        """``(u_0 .. u_{T-1}, u_1 .. u_T)``: the states before and after each frame, ``(T, N, S)``."""
        first = self._initial_states(F, x_tnv, p)
        after = self._public_state(self._rnn(F, x_tnv, first, p, state_outputs=False))
        before = F.slice_like(F.concat(self._public_state(first[0]), after, dim=0), x_tnv, axes=(0,))
        return before, after

    def _biases(self, F: Any, u: Any, p: Dict[str, Any]) -> Tuple[Any, Any]:
        """Per-frame biases from states ``(M, S)``: ``b_v(t)`` ``(M, V)`` and the time-varying part
        ``W_uh u`` ``(M, H)`` of ``b_h(t)`` (the static ``b_h`` enters with ``W v``)."""
        b_v = F.FullyConnected(u, p["state_visible_weight"], p["visible_bias"], num_hidden=self.visible_dim)
        return b_v, self._hidden_path(F, u, p)

    def _hidden_path(self, F: Any, u: Any, p: Dict[str, Any]) -> Any:
        hidden_path = p["recurrent_weight"] if self.mode == "rtrbm" else p["state_hidden_weight"]
        return F.FullyConnected(u, hidden_path, no_bias=True, num_hidden=self.hidden_dim)

    def _hidden_input(self, F: Any, v: Any, b_h: Any, weight: Any, hidden_bias: Any) -> Any:
        """``W v + b_h + W_uh u``."""
        return hidden_pre(F, v, weight, hidden_bias, self.hidden_dim) + b_h

    def _hidden_mean(self, F: Any, v: Any, b_h: Any, weight: Any, hidden_bias: Any) -> Any:
        return sigmoid(F, self._hidden_input(F, v, b_h, weight, hidden_bias))

    def _visible_mean(self, F: Any, h: Any, b_v: Any, weight: Any) -> Any:
        # h . W reads W as stored (no transposed copy), as the RBM's top-down pass.
        return sigmoid(F, F.dot(h, weight) + b_v)

    def _frames(self, F: Any, x: Any) -> Tuple[Any, Any]:
        """``(x_tnv (T, N, V), frames (T * N, V))`` from ``x`` ``(N, T, V)``."""
        x_tnv = F.swapaxes(x, 0, 1)
        return x_tnv, F.reshape(x_tnv, shape=(-3, -2))

    def _unframe(self, F: Any, frames: Any, like_tnv: Any) -> Any:
        """``(T * N, D)`` back to ``(N, T, D)``."""
        return F.swapaxes(F.reshape_like(frames, like_tnv, lhs_begin=0, lhs_end=1, rhs_begin=0, rhs_end=2), 0, 1)

    # ------------------------------------------------------------------ graphs
    def _reconstruct(self, F: Any, x: Any, p: Dict[str, Any]) -> Any:
        """Mean-field reconstruction of every frame by its step's RBM: ``(N, T, V)``."""
        x_tnv, v = self._frames(F, x)
        before, _ = self._states(F, x_tnv, p)
        b_v, b_h = self._biases(F, F.reshape(before, shape=(-3, -2)), p)
        recon = self._visible_mean(F, self._hidden_mean(F, v, b_h, p["weight"], p["hidden_bias"]), b_v, p["weight"])
        return self._unframe(F, recon, x_tnv)

    def hybrid_forward(self, F, x, **params):
        return self._reconstruct(F, x, params)

    def _train_fn(self, F: Any, inputs: Tuple[Any, ...], p: Dict[str, Any]) -> Any:
        """Per-sequence training loss ``(N,)``: its *value* is the squared error of the first
        reconstruction of CD per visible unit (averaged over steps), its *gradient* that of the
        CD-k surrogate ``sum_t F_t(v_t) - F_t(v_t^-)``."""
        (x,) = inputs
        x_tnv, v0 = self._frames(F, x)
        before, _ = self._states(F, x_tnv, p)
        b_v, b_h = self._biases(F, F.reshape(before, shape=(-3, -2)), p)
        weight = p["weight"]
        pre_pos = self._hidden_input(F, v0, b_h, weight, p["hidden_bias"])
        # The Gibbs chain: samples only, no gradient through it.
        w_c, b_v_c, b_h_c = F.BlockGrad(weight), F.BlockGrad(b_v), F.BlockGrad(b_h)
        c_c = F.BlockGrad(p["hidden_bias"])
        h = bernoulli(F, sigmoid(F, F.BlockGrad(pre_pos)))
        for step in range(self.k):
            v_mean = self._visible_mean(F, h, b_v_c, w_c)
            if step == 0:
                first_mean = v_mean
            if step < self.k - 1:
                h = bernoulli(F, self._hidden_mean(F, bernoulli(F, v_mean), b_h_c, w_c, c_c))
        # CD's last visible state is the mean (less noise, Hinton 2010 §3.2), as the RBM's.
        v_neg = F.BlockGrad(v_mean)
        pre_neg = self._hidden_input(F, v_neg, b_h, weight, p["hidden_bias"])
        # F(v) = -v.b_v - sum softplus(W v + b_h) per frame; its difference between the phases.
        surrogate = (_softplus_sum(F, pre_neg) - _softplus_sum(F, pre_pos)
                     - F.sum((v0 - v_neg) * b_v, axis=1))
        error = F.mean(F.square(v0 - first_mean), axis=1)
        # Value: the reconstruction error (what `fit` records); gradient: the surrogate's. No host
        # sync and no second graph; `training.gradient_step` then does the data-parallel update.
        per_frame = F.BlockGrad(error) + surrogate - F.BlockGrad(surrogate)
        # (T * N,) -> (N, T) -> mean over steps: the loss of each sequence (the surrogate's
        # gradient is thus per step, whatever T).
        return F.mean(self._unframe(F, F.reshape(per_frame, shape=(-1, 1)), x_tnv), axis=(1, 2))

    def _predict_fn(self, F: Any, inputs: Tuple[Any, ...], p: Dict[str, Any]) -> Any:
        """``E[v_{t+1} | v_1..v_t]`` for every prefix of ``x``, ``(N, T, V)``: the average of the
        last visible means of `predict_chains` Gibbs chains of `predict_steps` sweeps each in the
        step-``t+1`` RBM, started from samples of its visible biases. All chains of all steps run
        as one batch."""
        (x,) = inputs
        chains, weight, hidden_bias = self.predict_chains, p["weight"], p["hidden_bias"]
        x_tnv, _ = self._frames(F, x)
        _, after = self._states(F, x_tnv, p)
        b_v, b_h = self._biases(F, F.reshape(after, shape=(-3, -2)), p)
        # (M, D) -> (chains * M, D): chain c of frame m at row c * M + m.
        b_v_c, b_h_c = (F.reshape(F.broadcast_axis(F.expand_dims(b, axis=0), axis=0, size=chains), shape=(-3, -2))
                        for b in (b_v, b_h))
        v = bernoulli(F, sigmoid(F, b_v_c))
        for step in range(self.predict_steps):
            mean = self._visible_mean(F, bernoulli(F, self._hidden_mean(F, v, b_h_c, weight, hidden_bias)),
                                      b_v_c, weight)
            if step < self.predict_steps - 1:
                v = bernoulli(F, mean)
        expected = F.mean(F.reshape(mean, shape=(chains, -1, self.visible_dim)), axis=0)
        return self._unframe(F, expected, x_tnv)

    def _features_fn(self, F: Any, inputs: Tuple[Any, ...], p: Dict[str, Any]) -> Any:
        """``p(h_t = 1 | v_t, u_{t-1})`` per step: ``(N, T, H)``."""
        (x,) = inputs
        x_tnv, v = self._frames(F, x)
        before, _ = self._states(F, x_tnv, p)
        b_h = self._hidden_path(F, F.reshape(before, shape=(-3, -2)), p)
        return self._unframe(F, self._hidden_mean(F, v, b_h, p["weight"], p["hidden_bias"]), x_tnv)

    def _final_state_fn(self, F: Any, inputs: Tuple[Any, ...], p: Dict[str, Any]) -> Any:
        """The operator states after the whole of ``x`` (``(1, N, S)`` each)."""
        (x,) = inputs
        x_tnv = F.swapaxes(x, 0, 1)
        out = self._rnn(F, x_tnv, self._initial_states(F, x_tnv, p), p, state_outputs=True)
        return tuple(out[1:])

    def _start_state_fn(self, F: Any, inputs: Tuple[Any, ...], p: Dict[str, Any]) -> Any:
        """The operator states ``u_0`` for a batch shaped like ``inputs[0]`` ``(1, N, *)``."""
        return tuple(self._initial_states(F, inputs[0], p))

    def _generate_fn(self, F: Any, inputs: Tuple[Any, ...], p: Dict[str, Any], gibbs_steps: int = 1) -> Any:
        """One generated step from the operator states: a Gibbs chain of ``gibbs_steps`` sweeps in
        the step's RBM started from its visible biases, then the state update with the sample.
        Returns ``(v sample (N, V), v mean (N, V), new states...)``."""
        states = list(inputs)
        u = F.reshape(self._public_state(states[0]), shape=(-3, -2))
        b_v, b_h = self._biases(F, u, p)
        weight = p["weight"]
        mean = sigmoid(F, b_v)
        v = bernoulli(F, mean)
        for _ in range(gibbs_steps):
            h = bernoulli(F, self._hidden_mean(F, v, b_h, weight, p["hidden_bias"]))
            mean = self._visible_mean(F, h, b_v, weight)
            v = bernoulli(F, mean)
        out = self._rnn(F, F.expand_dims(v, axis=0), states, p, state_outputs=True)
        return (v, mean) + tuple(out[1:])

    # ------------------------------------------------------------------ graph management
    def _recurrent_names(self) -> List[str]:
        """The parameters of the recurrence alone."""
        if self.mode == "rtrbm":
            return ["weight", "hidden_bias", "recurrent_weight", "initial_state"]
        return ["input_weight", "recurrent_weight", "recurrent_bias", "initial_state"]

    def _parameters(self, names: Optional[Sequence[str]] = None) -> Dict[str, gluon.Parameter]:
        """The model's parameters by attribute name (``names`` only, when given: a graph takes only
        the parameters it uses, Gluon warns of unused ones)."""
        every = ["weight", "visible_bias", "hidden_bias", "initial_state", "state_visible_weight", "recurrent_weight"]
        if self.mode != "rtrbm":
            every += ["state_hidden_weight", "input_weight", "recurrent_bias"]
        return {name: getattr(self, name) for name in every if names is None or name in names}

    def _graph(self, key: Any, fn: Callable[..., Any], names: Optional[Sequence[str]] = None) -> gluon.HybridBlock:
        # The model's prefix: the graphs' symbols name the parameters as the model's own do.
        return self._graphs.graph(key, lambda: FunctionView(self._parameters(names), fn, prefix=self.prefix))

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Hybridize the forward pass; ``active`` also switches the internal graphs (training,
        prediction, generation), which are compiled from construction on: ``hybridize(False)``
        runs everything imperatively."""
        super().hybridize(active, **kwargs)
        self._graphs.hybridize(active, **kwargs)

    # ------------------------------------------------------------------ training
    def compute_loss(self, x: Any, y: Any) -> Any:
        """Per-sequence losses ``(N,)`` (see `_train_fn`): reconstruction error in value, the CD-k
        free-energy surrogate in gradient."""
        return self._graph("train", self._train_fn)(x)

    def check_data(self, data: IteratableData) -> None:
        """The per-sample shape ``(T, V)`` and values in [0, 1] (Bernoulli visible units)."""
        super().check_data(data)
        check_bernoulli_data(data)

    def prepare(self, data: IteratableData) -> None:
        """`check_data`, then the visible biases from the data (log-odds of the unit means over all
        frames) while they are still zero, as `RestrictedBoltzmannMachines` does."""
        super().prepare(data)
        if not self.visible_bias.data(self.ctx[0]).asnumpy().any():
            x, _ = data.training_arrays()
            self.visible_bias.set_data(mx.nd.array(log_odds(np.asarray(x).reshape(-1, self.visible_dim))))

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """``{"loss": summed per-sequence squared error of the mean-field reconstruction per visible unit}``."""
        x = x.as_in_context(self.ctx[0])
        return {"loss": mx.nd.sum(mx.nd.mean(mx.nd.square(self(x) - x), axis=(1, 2)))}

    # ------------------------------------------------------------------ inference
    def inference(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Mean-field reconstruction of every frame of ``observed_arr`` ``(N, T, V)`` by the RBM of
        its step (biases from the frames before it): ``(N, T, V)``."""
        return super().inference(observed_arr, batch_size)

    def predict_next(self, observed_arr: Any, batch_size: int = 1024, *, seed: Optional[int] = None) -> Any:
        """The expected next frame after every prefix of ``observed_arr`` ``(N, T, V)``:
        ``out[:, t]`` estimates ``E[v_{t+2} | v_1..v_{t+1}]`` under the model, the average visible
        mean of ``predict_chains`` Gibbs chains of ``predict_steps`` sweeps in the RBM of the next
        step. Returns ``(N, T, V)``: ``predict_next(x[:, :-1])`` lines up with ``x[:, 1:]``.
        ``seed`` seeds MXNet's generator first (a reproducible estimate)."""
        if seed is not None:
            mx.random.seed(seed)
        return self._batched(self._graph("predict", self._predict_fn), observed_arr, batch_size)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Per-step hidden probabilities ``p(h_t = 1 | v_t, v_<t)``: ``(N, T, H)``."""
        names = [n for n in self._parameters() if n not in ("visible_bias", "state_visible_weight")]
        return self._batched(self._graph("features", self._features_fn, names), observed_arr, batch_size)

    def sample(self, steps: int = 20, n: int = 16, *, prefix: Any = None, gibbs_steps: int = 25,
               return_probabilities: bool = True, seed: Optional[int] = None) -> np.ndarray:
        """Generate ``n`` sequences of ``steps`` frames, ``(n, steps, V)``.

        Each frame is drawn by a Gibbs chain of ``gibbs_steps`` sweeps in the RBM whose biases the
        state of the frames so far sets (the chain starts from those biases); the sample then
        updates the state. ``prefix`` ``(n, T0, V)`` conditions the generation on given frames (a
        continuation; then ``n`` is its batch size). ``return_probabilities`` returns the chains'
        last visible means (smoother pictures) instead of their samples; the state always follows
        the samples. ``seed`` seeds MXNet's generator first.
        """
        if steps < 1 or n < 1 or gibbs_steps < 1:
            raise ValueError(f"steps, n and gibbs_steps must be positive, got {steps}, {n}, {gibbs_steps}")
        if seed is not None:
            mx.random.seed(seed)
        device = self.ctx[0]
        if prefix is not None:
            x = self._as_input(prefix, "prefix").as_in_context(device)
            states = list(self._graph("final", self._final_state_fn, self._recurrent_names())(x))
        else:
            start = self._graph("start", self._start_state_fn, ["initial_state"])
            states = list(start(mx.nd.zeros((1, n, 1), ctx=device)))
        step = self._graph(("generate", int(gibbs_steps)),
                           functools.partial(self._generate_fn, gibbs_steps=int(gibbs_steps)),
                           [name for name in self._parameters() if name != "initial_state"])
        frames = []
        for _ in range(steps):
            v, mean, *states = step(*states)
            frames.append(mean if return_probabilities else v)
        return mx.nd.stack(*frames, axis=1).asnumpy()


def _example(rng: np.random.RandomState):
    """Tiny sequences from a fixed stochastic rule: a bar of two active units moving one step to
    the right per frame (wrapping around), each unit flipped with probability 0.05."""
    n, t, v = 16, 5, 6
    start = rng.randint(0, v, n)
    positions = (start[:, None] + np.arange(t)[None, :]) % v
    x = np.zeros((n, t, v), dtype=np.float32)
    rows, steps = np.meshgrid(np.arange(n), np.arange(t), indexing="ij")
    x[rows, steps, positions] = 1.0
    x[rows, steps, (positions + 1) % v] = 1.0
    x = np.abs(x - (rng.rand(n, t, v) < 0.05)).astype(np.float32)
    return dict(visible_dim=v, hidden_dim=4, learning_rate=0.05), x, None


_ARGS_DOC = """
    Args:
        visible_dim: visible units ``V`` (frame size).
        hidden_dim: hidden units ``H`` of each step's RBM.{recurrent}
        k: Gibbs sweeps of CD-k at every step. ``k > 1`` makes the step RBMs good generators, not
            only good reconstructors, which is what next-step prediction and sampling need (on the
            chord sequences of the tests CD-1 keeps improving reconstructions while its predictions
            get worse after ~20 epochs; CD-3 predicts better at the same number of epochs).
        predict_steps, predict_chains: Gibbs sweeps and chains per frame of `predict_next`.
        learning_rate, optimizer, optimizer_params: any Gluon optimizer (default Adam).
        momentum, weight_decay: momentum (SGD/NAG only) and weight decay on the weights (not biases).
        ctx, seed, initializer: see `ObservableModel` (the initializer applies to the recurrent
            input/recurrent weights; the RBM and bias-path weights start at N(0, 0.01^2)).

    Shapes:
        ``x`` ``(N, T, V)`` binary (or in [0, 1]), any ``N`` and ``T``; ``self(x)`` and
        ``inference(x)`` -> per-frame mean-field reconstructions ``(N, T, V)``;
        ``predict_next(x)`` -> expected next frames ``(N, T, V)``; ``extract_feature_points(x)`` ->
        per-step hidden probabilities ``(N, T, H)``; ``sample(steps, n)`` -> ``(n, steps, V)``.

    Tracked per epoch: ``train_loss`` (squared error of CD's first reconstruction per visible unit,
    averaged over steps) and ``test_loss`` (the same for the mean-field reconstruction).
"""


@register_model("rtrbm", example=_example)
class RTRBM(_TemporalRBM):
    __doc__ = """Recurrent temporal RBM (Sutskever, Hinton & Taylor 2009, "The Recurrent Temporal
    Restricted Boltzmann Machine", NIPS 21).

    The step-``t`` RBM has biases ``b_v + W_uv r_{t-1}`` and ``b_h + W' r_{t-1}``, where
    ``r_t = sigmoid(W v_t + b_h + W' r_{t-1})`` is its own mean-field hidden vector (``r_0`` is
    learned). Trained by CD-k per step plus backpropagation through time of the bias paths.
""" + _ARGS_DOC.format(recurrent="") + """
    Example:
        >>> from accelbrainbase.data import ArrayIterator, moving_digit_sprites
        >>> x = moving_digit_sprites(40, 8, canvas=12, binarize=0.5, seed=0).reshape(40, 8, 144)
        >>> rt = RTRBM(visible_dim=144, hidden_dim=32, seed=0)
        >>> rt = rt.learn(ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False)
        >>> rt.predict_next(x[:2, :-1]).shape, rt.extract_feature_points(x[:2]).shape
        ((2, 7, 144), (2, 8, 32))
        >>> rt.sample(steps=5, n=3).shape
        (3, 5, 144)
    """
    mode = "rtrbm"

    def __init__(
        self,
        visible_dim: int,
        hidden_dim: int,
        *,
        k: int = 3,
        predict_steps: int = 10,
        predict_chains: int = 10,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(visible_dim, hidden_dim, None, k=k, predict_steps=predict_steps,
                         predict_chains=predict_chains, learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         optimizer_params=optimizer_params)


_RECURRENT_DOC = """
        recurrent_dim: units ``S`` of the recurrent state (default ``hidden_dim``)."""


@register_model("rnn_rbm", example=_example)
class RNNRBM(_TemporalRBM):
    __doc__ = """RNN-RBM (Boulanger-Lewandowski, Bengio & Vincent 2012, "Modeling Temporal Dependencies
    in High-Dimensional Sequences", ICML).

    A tanh RNN ``u_t = tanh(W_vu v_t + W_uu u_{t-1} + b_u)`` (``u_0`` learned) sets the biases
    ``b_v + W_uv u_{t-1}`` and ``b_h + W_uh u_{t-1}`` of the step-``t`` RBM. Trained by CD-k per
    step plus backpropagation through time of the bias paths.
""" + _ARGS_DOC.format(recurrent=_RECURRENT_DOC) + """
    Example:
        >>> from accelbrainbase.data import ArrayIterator, moving_digit_sprites
        >>> x = moving_digit_sprites(40, 8, canvas=12, binarize=0.5, seed=0).reshape(40, 8, 144)
        >>> model = RNNRBM(visible_dim=144, hidden_dim=32, recurrent_dim=48, seed=0)
        >>> model = model.learn(ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False)
        >>> model.inference(x[:2]).shape
        (2, 8, 144)
    """
    mode = "rnn_tanh"

    def __init__(
        self,
        visible_dim: int,
        hidden_dim: int,
        recurrent_dim: Optional[int] = None,
        *,
        k: int = 3,
        predict_steps: int = 10,
        predict_chains: int = 10,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(visible_dim, hidden_dim, recurrent_dim, k=k, predict_steps=predict_steps,
                         predict_chains=predict_chains, learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         optimizer_params=optimizer_params)


@register_model("lstm_rtrbm", example=_example)
class LSTMRTRBM(_TemporalRBM):
    __doc__ = """LSTM-RTRBM (Lyu, Wu & Zhu 2015, "Modelling High-Dimensional Sequences with LSTM-RTRBM:
    Application to Polyphonic Music Generation", IJCAI): the RNN-RBM with an LSTM in place of the
    RNN, whose gated memory keeps information over longer spans.

    The LSTM reads the frames; its output ``u_{t-1}`` (``u_0`` learned, cell starting at 0) sets the
    biases ``b_v + W_uv u_{t-1}`` and ``b_h + W_uh u_{t-1}`` of the step-``t`` RBM. Trained by CD-k
    per step plus backpropagation through time of the bias paths.
""" + _ARGS_DOC.format(recurrent=_RECURRENT_DOC) + """
    Example:
        >>> from accelbrainbase.data import ArrayIterator, moving_digit_sprites
        >>> x = moving_digit_sprites(40, 8, canvas=12, binarize=0.5, seed=0).reshape(40, 8, 144)
        >>> rt = LSTMRTRBM(visible_dim=144, hidden_dim=32, seed=0)
        >>> rt = rt.learn(ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False)
        >>> rt.predict_next(x[:2, :-1]).shape
        (2, 7, 144)
    """
    mode = "lstm"

    def __init__(
        self,
        visible_dim: int,
        hidden_dim: int,
        recurrent_dim: Optional[int] = None,
        *,
        k: int = 3,
        predict_steps: int = 10,
        predict_chains: int = 10,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(visible_dim, hidden_dim, recurrent_dim, k=k, predict_steps=predict_steps,
                         predict_chains=predict_chains, learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         optimizer_params=optimizer_params)
