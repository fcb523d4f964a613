"""Deep Q-learning: `DQNController` with experience replay and a target network (SPEC §6.5).

The loop is driven by environment steps, not by epochs of a dataset, so it is its own loop rather than
`training.fit`. The gradient step takes the steps of `training.apply_gradients` (device all-reduce,
`training.clip_gradients`, optimizer update) with the parameter list collected once, and splits a replay
batch over a list of contexts with `context.split_batch`.

Works with any environment following the gymnasium API (``reset(seed=) -> (obs, info)``,
``step(a) -> (obs, reward, terminated, truncated, info)``, a discrete action space) and with any
`interfaces.PolicySampler`.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, TypeVar, Union

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from tqdm import tqdm

from ..context import CtxLike, derive_seed, split_batch
from ..interfaces import ControllableModel, PolicySampler
from ..models.base import _import, decode_config, encode_config
from ..models.dense import NeuralNetworks
from ..models.q_network import FunctionApproximator
from ..training import (History, TrainingDivergedError, atomic_write, clip_gradients, load_optimizer_state_bytes,
                        optimizer_state_bytes)

__all__ = ["DQNController", "ReplayBuffer"]

logger = logging.getLogger("accelbrainbase")

C = TypeVar("C", bound="DQNController")

_RECORD_KEY = "__accelbrainbase_dqn__"
_OPTIMIZER_KEY = "__optimizer_states__"
_REPLAY_FIELDS = ("states", "next_states", "actions", "rewards", "terminated")


def _bytes_array(data: bytes) -> mx.nd.NDArray:
    """Bytes as a uint8 NDArray, to travel in one ``mx.nd.save`` file with the parameters."""
    return mx.nd.array(np.frombuffer(data, dtype=np.uint8), dtype=np.uint8)


class ReplayBuffer:
    """Fixed-capacity experience replay memory (Lin 1992; Mnih et al. 2015), kept on the host.

    A ring buffer of transitions ``(state, action, reward, next_state, terminated)`` in preallocated
    numpy arrays: once full, each new transition overwrites the oldest. `sample` draws uniformly with
    replacement, with the caller's random generator (so a seeded controller replays the same batches).

    Args:
        capacity: maximum number of transitions kept.
        state_shape: per-state shape.

    Example:
        >>> buf = ReplayBuffer(3, (2,))
        >>> for i in range(5):
        ...     buf.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), False)
        >>> len(buf), sorted(buf.rewards[:len(buf)].tolist())   # the two oldest were overwritten
        (3, [2.0, 3.0, 4.0])
        >>> buf.sample(4, np.random.RandomState(0))["states"].shape
        (4, 2)
    """

    def __init__(self, capacity: int, state_shape: Sequence[int]) -> None:
        if int(capacity) < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.state_shape = tuple(int(d) for d in state_shape)
        self.states = np.zeros((self.capacity,) + self.state_shape, np.float32)
        self.next_states = np.zeros_like(self.states)
        self.actions = np.zeros(self.capacity, np.float32)  # float: packed with the rest for one transfer
        self.rewards = np.zeros(self.capacity, np.float32)
        self.terminated = np.zeros(self.capacity, np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, state: Any, action: int, reward: float, next_state: Any, terminated: bool) -> None:
        """Store one transition (overwriting the oldest when full)."""
        i = self.position
        self.states[i] = state
        self.next_states[i] = next_state
        self.actions[i] = action
        self.rewards[i] = reward
        self.terminated[i] = float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample_indices(self, shape: Union[int, Tuple[int, ...]], rng: np.random.RandomState) -> np.ndarray:
        """Uniform indices of stored transitions (with replacement)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return rng.randint(0, self.size, size=shape)

    def sample(self, batch_size: int, rng: np.random.RandomState) -> Dict[str, np.ndarray]:
        """A uniform batch as a dict of numpy arrays (``states``, ``actions``, ``rewards``,
        ``next_states``, ``terminated``)."""
        idx = self.sample_indices(batch_size, rng)
        return {"states": self.states[idx], "actions": self.actions[idx].astype(np.int64),
                "rewards": self.rewards[idx], "next_states": self.next_states[idx],
                "terminated": self.terminated[idx]}

    def packed(self, idx: np.ndarray) -> np.ndarray:
        """Transitions ``idx`` (any shape) as one float32 array ``(*idx.shape, 2 * state_size + 3)``:
        state, action, reward, next state, terminated - one host-to-device copy for many batches."""
        n = int(np.prod(self.state_shape))
        flat = idx.reshape(-1)
        out = np.empty((flat.size, 2 * n + 3), np.float32)
        out[:, :n] = self.states[flat].reshape(flat.size, n)
        out[:, n] = self.actions[flat]
        out[:, n + 1] = self.rewards[flat]
        out[:, n + 2:2 * n + 2] = self.next_states[flat].reshape(flat.size, n)
        out[:, 2 * n + 2] = self.terminated[flat]
        return out.reshape(idx.shape + (2 * n + 3,))


def _unpack(F: Any, packed: Any, state_shape: Tuple[int, ...]) -> Tuple[Any, Any, Any, Any, Any]:
    """``(states, actions, rewards, next_states, terminated)`` of a packed batch (`ReplayBuffer.packed`)."""
    n = int(np.prod(state_shape))

    def column(begin: int, end: int) -> Any:
        return F.slice_axis(packed, axis=1, begin=begin, end=end)

    return (F.reshape(column(0, n), shape=(-1,) + tuple(state_shape)), column(n, n + 1).reshape((-1,)),
            column(n + 1, n + 2).reshape((-1,)), F.reshape(column(n + 2, 2 * n + 2), shape=(-1,) + tuple(state_shape)),
            column(2 * n + 2, 2 * n + 3).reshape((-1,)))


def td_target(F: Any, q_next_target: Any, q_next_online: Any, rewards: Any, terminated: Any, gamma: float) -> Any:
    """``r + gamma * (1 - terminated) * Q_target(s', a*)``.

    ``a* = argmax_a Q_target(s', a)`` (DQN), or ``argmax_a Q_online(s', a)`` when ``q_next_online`` is
    given (Double DQN). Works on NDArrays (``F = mx.nd``) and symbols.
    """
    if q_next_online is None:
        bootstrap = F.max(q_next_target, axis=1)
    else:
        bootstrap = F.pick(q_next_target, F.argmax(q_next_online, axis=1), axis=1)
    return rewards + gamma * (1.0 - terminated) * bootstrap


class _NextValues(gluon.HybridBlock):
    """``Q_target(s', ·)`` of a packed replay batch: the target network's own graph."""

    def __init__(self, target: FunctionApproximator, state_shape: Tuple[int, ...]) -> None:
        super().__init__()
        self.target, self.state_shape = target, tuple(state_shape)

    def hybrid_forward(self, F, packed):  # noqa: D102
        return self.target(_unpack(F, packed, self.state_shape)[3])


class _TDLoss(gluon.HybridBlock):
    """Per-sample Huber TD loss of a packed replay batch given ``Q_target(s', ·)``, as one graph of the
    online network. The TD target is a constant (``BlockGrad``)."""

    def __init__(self, online: FunctionApproximator, state_shape: Tuple[int, ...], gamma: float,
                 double_dqn: bool) -> None:
        super().__init__()
        self.online, self.state_shape = online, tuple(state_shape)
        self.gamma, self.double_dqn = float(gamma), bool(double_dqn)

    def hybrid_forward(self, F, packed, q_next_target):  # noqa: D102
        states, actions, rewards, next_states, terminated = _unpack(F, packed, self.state_shape)
        q_next_online = F.BlockGrad(self.online(next_states)) if self.double_dqn else None
        targets = td_target(F, q_next_target, q_next_online, rewards, terminated, self.gamma)
        q = F.pick(self.online(states), actions, axis=1)
        return self.online.loss(q, F.BlockGrad(targets))


class _Problem:
    """One face for a gymnasium environment and a `PolicySampler`: reset -> state, step -> 4-tuple."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.is_sampler = isinstance(env, PolicySampler)
        if self.is_sampler:
            self.n_actions = int(env.n_actions)
            self.state_shape = tuple(int(d) for d in env.state_shape)
        else:
            if not (hasattr(env, "reset") and hasattr(env, "step")):
                raise TypeError(f"env must follow the gymnasium API (reset/step) or be a PolicySampler, "
                                f"got {type(env).__name__}")
            space = getattr(env, "action_space", None)
            if space is None or not hasattr(space, "n"):
                raise TypeError(f"DQN needs a discrete action space, got {space!r}")
            self.n_actions = int(space.n)
            obs_space = getattr(env, "observation_space", None)
            if obs_space is None or obs_space.shape is None:
                raise TypeError(f"the environment's observation space has no shape: {obs_space!r}")
            self.state_shape = tuple(int(d) for d in obs_space.shape)

    def reset(self, seed: Optional[int] = None) -> np.ndarray:
        if self.is_sampler:
            return np.asarray(self.env.reset(seed=seed), np.float32)
        obs, _ = self.env.reset(seed=seed)
        return np.asarray(obs, np.float32)

    def step(self, action: int) -> Tuple[np.ndarray, float, bool, bool]:
        if self.is_sampler:
            obs, reward, terminated, truncated = self.env.step(action)
        else:
            obs, reward, terminated, truncated, _ = self.env.step(action)
        return np.asarray(obs, np.float32), float(reward), bool(terminated), bool(truncated)


class DQNController(ControllableModel):
    """Deep Q-network agent: experience replay, a target network, ε-greedy exploration (Mnih et al.
    2015, "Human-level control through deep reinforcement learning", Nature 518), optionally Double DQN
    (van Hasselt, Guez & Silver 2016, "Deep reinforcement learning with double Q-learning", AAAI).

    Every ``train_freq`` environment steps (once ``learning_starts`` transitions are stored) it takes
    ``gradient_steps`` Adam (or any Gluon optimizer) steps on uniform replay batches, minimising the
    Huber loss between ``Q(s, a)`` and ``r + γ (1 - terminated) max_a' Q_target(s', a')``. Terminal
    states mask the bootstrap; time-limit truncations do not. Every ``target_update_interval``
    gradient steps the target network moves to ``τ·online + (1 - τ)·target`` (``τ = 1``: a hard copy).
    ε decays linearly from ``exploration_initial_eps`` to ``exploration_final_eps`` over the first
    ``exploration_fraction`` of ``learn``'s steps.

    The defaults are the Stable-Baselines3 zoo's tuned CartPole settings, which also suit other small
    control problems.

    Args:
        q_network: the online Q-network, a `FunctionApproximator` (its optimizer, learning rate and
            ``ctx`` are used); the target network is a copy. See `for_env` for an MLP sized from the spaces.
        gamma: discount factor.
        buffer_size: replay capacity (transitions).
        batch_size: replay batch size (split across ``q_network.ctx`` when it is a list).
        learning_starts: environment steps before the first gradient step.
        train_freq: environment steps between training phases.
        gradient_steps: gradient steps per training phase.
        target_update_interval: gradient steps between target updates.
        tau: target update rate (1 = hard copy; e.g. 0.005 with ``target_update_interval=1`` = soft).
        exploration_fraction, exploration_initial_eps, exploration_final_eps: the ε schedule.
        clip_norm: clip the global L2 norm of the gradient (``None``: no clipping).
        double_dqn: select the bootstrap action with the online network (Double DQN).
        hybridize: compile the networks and the TD step into cached graphs.
        seed: seeds exploration, replay sampling and environment resets (the network has its own seed).

    Shapes:
        ``inference(states)``: ``(N, *state_shape)`` -> Q-values ``(N, n_actions)`` (one state ->
        ``(n_actions,)``); ``act(states)``: -> actions ``(N,)`` (one state -> ``int``).

    Attributes after ``learn``: ``episode_returns``, ``episode_lengths`` and ``episode_steps`` (numpy
    arrays, one entry per finished episode), ``history`` (a `training.History` with one row per
    episode: ``return``, ``length``, ``step``, ``epsilon``), ``losses`` (mean TD loss per training
    phase), ``evaluations`` (``(step, mean return)`` of the periodic evaluations), ``num_timesteps``.

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("CartPole-v1")
        >>> dqn = DQNController.for_env(env, seed=0, learning_starts=100, train_freq=100, gradient_steps=5)
        >>> dqn = dqn.learn(env, total_steps=300, verbose=False)   # the full run: total_steps=50_000
        >>> len(dqn.episode_returns) > 0, dqn.act(env.reset(seed=0)[0]) in (0, 1)
        (True, True)
        >>> mean_return = dqn.evaluate(gym.make("CartPole-v1"), episodes=100)   # doctest: +SKIP
    """

    def __init__(
        self,
        q_network: FunctionApproximator,
        *,
        gamma: float = 0.99,
        buffer_size: int = 100_000,
        batch_size: int = 64,
        learning_starts: int = 1000,
        train_freq: int = 256,
        gradient_steps: int = 128,
        target_update_interval: int = 128,
        tau: float = 1.0,
        exploration_fraction: float = 0.16,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.04,
        clip_norm: Optional[float] = 10.0,
        double_dqn: bool = False,
        hybridize: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        if not isinstance(q_network, FunctionApproximator):
            raise TypeError(f"q_network must be a FunctionApproximator (wrap your model in one), "
                            f"got {type(q_network).__name__}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        for name, value in (("buffer_size", buffer_size), ("batch_size", batch_size), ("train_freq", train_freq),
                            ("gradient_steps", gradient_steps), ("target_update_interval", target_update_interval)):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if learning_starts < 0:
            raise ValueError(f"learning_starts must be >= 0, got {learning_starts}")
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {tau}")
        if not 0.0 <= exploration_fraction <= 1.0:
            raise ValueError(f"exploration_fraction must be in [0, 1], got {exploration_fraction}")
        for name, value in (("exploration_initial_eps", exploration_initial_eps),
                            ("exploration_final_eps", exploration_final_eps)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip_norm must be positive or None, got {clip_norm}")
        self.q_network = q_network
        self.gamma = float(gamma)
        self.buffer_size = int(buffer_size)
        self.batch_size = int(batch_size)
        self.learning_starts = int(learning_starts)
        self.train_freq = int(train_freq)
        self.gradient_steps = int(gradient_steps)
        self.target_update_interval = int(target_update_interval)
        self.tau = float(tau)
        self.exploration_fraction = float(exploration_fraction)
        self.exploration_initial_eps = float(exploration_initial_eps)
        self.exploration_final_eps = float(exploration_final_eps)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.double_dqn = bool(double_dqn)
        self.hybridize = bool(hybridize)
        self.seed = seed
        self.ctx = q_network.ctx
        self.state_shape = tuple(q_network.input_shape)
        if any(d is None for d in self.state_shape):
            raise ValueError(f"the Q-network's input shape {self.state_shape} has a free axis; "
                             "DQN stores fixed-shape states")
        self.n_actions = q_network.n_actions
        self.rng = np.random.RandomState(seed)
        self.target_network = self._copy_network(q_network)
        self._td = _TDLoss(q_network, self.state_shape, self.gamma, self.double_dqn)
        self._next_values = _NextValues(self.target_network, self.state_shape)
        if self.hybridize:
            for block in (self.q_network, self.target_network, self._td, self._next_values):
                block.hybridize()
        self.replay_buffer = ReplayBuffer(self.buffer_size, self.state_shape)
        self.num_timesteps = 0
        self.num_updates = 0
        self.n_learn_calls = 0
        self.history = History()
        self.losses: List[float] = []
        self.evaluations: List[Tuple[int, float]] = []
        self.last_evaluation = np.zeros(0)
        # (environment step, greedy mean return) of the networks `learn` ended with, when it evaluated.
        self.best_evaluation: Optional[Tuple[int, float]] = None
        self._host_q: Optional[Callable[[np.ndarray], np.ndarray]] = None
        self._trainable: Optional[List[gluon.Parameter]] = None

    @staticmethod
    def _copy_network(q_network: FunctionApproximator) -> FunctionApproximator:
        """The target network: an independent copy with the same weights and no gradient buffers."""
        target = copy.deepcopy(q_network)
        target.hybridize(False)  # drop any cached graph that still points at the online parameters
        online = q_network._collect_params_with_prefix()
        for name, p in target._collect_params_with_prefix().items():
            # A deep-copied NDArray comes back on cpu(0) whatever its device: put every copy where
            # the online one lives.
            p.reset_ctx(online[name].list_ctx())
            for dst, src in zip(p.list_data(), online[name].list_data()):
                src.copyto(dst)
            p.grad_req = "null"
        target.trainer = None
        return target

    @classmethod
    def for_env(
        cls: Type[C],
        env: Any,
        *,
        hidden_dims: Sequence[int] = (256, 256),
        activation: str = "relu",
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        optimizer: str = "adam",
        learning_rate: float = 2.3e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> C:
        """A controller with an MLP Q-network ``state -> hidden_dims -> n_actions`` sized from ``env``'s
        spaces (or a `PolicySampler`'s ``state_shape``/``n_actions``); ``kwargs`` go to the constructor.

        Example:
            >>> import gymnasium as gym
            >>> DQNController.for_env(gym.make("CartPole-v1"), seed=0).n_actions
            2
        """
        problem = _Problem(env)
        if len(problem.state_shape) != 1:
            raise ValueError(f"for_env builds an MLP for vector states; the states have shape {problem.state_shape}: "
                             "wrap a CNN/LSTM in a FunctionApproximator and pass it to DQNController")
        mlp = NeuralNetworks(input_dim=problem.state_shape[0], hidden_dims=list(hidden_dims),
                             output_dim=problem.n_actions, activation=activation, ctx=ctx, seed=seed)
        q_network = FunctionApproximator(mlp, ctx=ctx, seed=seed, optimizer=optimizer, learning_rate=learning_rate,
                                         optimizer_params=optimizer_params)
        return cls(q_network, seed=seed, **kwargs)

    # ------------------------------------------------------------------ acting
    def epsilon(self, step: int, total_steps: int) -> float:
        """ε at environment step ``step`` of a ``learn`` call of ``total_steps`` steps (linear decay)."""
        span = self.exploration_fraction * total_steps
        if span <= 0:
            return self.exploration_final_eps
        frac = min(1.0, step / span)
        return self.exploration_initial_eps + frac * (self.exploration_final_eps - self.exploration_initial_eps)

    def _q_values(self, states: np.ndarray) -> np.ndarray:
        """Q-values of a numpy batch, through the numpy copy of a dense network when there is one."""
        if self._host_q is None:
            self._host_q = self.q_network.host_policy() or (lambda s: self.q_network.inference(s))
        return self._host_q(states)

    def _refresh_host_copy(self) -> None:
        self._host_q = None

    def _as_states(self, state: Any) -> Tuple[np.ndarray, bool]:
        arr = state.asnumpy() if isinstance(state, mx.nd.NDArray) else np.asarray(state, np.float32)
        single = arr.shape == self.state_shape
        if single:
            arr = arr[None]
        if tuple(arr.shape[1:]) != self.state_shape:
            raise ValueError(f"states have shape {arr.shape} but the Q-network expects {self.state_shape} "
                             f"per state (or a batch (N, {', '.join(map(str, self.state_shape))}))")
        if not np.isfinite(arr).all():
            raise ValueError("states contain NaN/Inf values")
        return arr.astype(np.float32, copy=False), single

    def inference(self, state: Any) -> np.ndarray:
        """Q-values: ``(n_actions,)`` for one state, ``(N, n_actions)`` for a batch."""
        states, single = self._as_states(state)
        q = np.asarray(self.q_network.inference(states))
        return q[0] if single else q

    def act(self, state: Any, epsilon: float = 0.0) -> Union[int, np.ndarray]:
        """Greedy action(s) ``argmax_a Q(s, a)``; with ``epsilon`` > 0 a uniform random action with that
        probability (drawn from the controller's generator). One state -> ``int``, a batch -> ``(N,)``."""
        states, single = self._as_states(state)
        actions = self._q_values(states).argmax(axis=1)
        if epsilon > 0:
            explore = self.rng.rand(len(actions)) < epsilon
            actions = np.where(explore, self.rng.randint(0, self.n_actions, len(actions)), actions)
        return int(actions[0]) if single else actions

    # ------------------------------------------------------------------ learning
    def td_target(self, next_states: Any, rewards: Any, terminated: Any) -> np.ndarray:
        """The TD targets ``r + γ (1 - terminated) Q_target(s', a*)`` of a batch (numpy ``(N,)``)."""
        device = self.ctx[0]
        s2 = mx.nd.array(self._as_states(next_states)[0], ctx=device)
        r = mx.nd.array(np.asarray(rewards, np.float32).reshape(-1), ctx=device)
        done = mx.nd.array(np.asarray(terminated, np.float32).reshape(-1), ctx=device)
        q_next_online = self.q_network(s2) if self.double_dqn else None
        return td_target(mx.nd, self.target_network(s2), q_next_online, r, done, self.gamma).asnumpy()

    def update_target(self) -> None:
        """Move the target network towards the online one: ``τ·online + (1 - τ)·target``."""
        online = self.q_network._collect_params_with_prefix()
        for name, p_target in self.target_network._collect_params_with_prefix().items():
            for dst, src in zip(p_target.list_data(), online[name].list_data()):
                if self.tau >= 1.0:
                    src.copyto(dst)
                else:
                    dst[:] = self.tau * src + (1.0 - self.tau) * dst

    def train_step(self, packed: mx.nd.NDArray) -> mx.nd.NDArray:
        """One gradient step on a packed replay batch (see `ReplayBuffer.packed`); returns the summed
        per-sample loss on the first context. Updates the target network when it is due."""
        q_network = self.q_network
        if q_network.trainer is None:
            q_network.trainer = q_network.make_trainer()
        slices = split_batch(packed, self.ctx)
        q_next = [self._next_values(x) for x in slices]
        with autograd.record():
            losses = [self._td(x, q) for x, q in zip(slices, q_next)]
        autograd.backward(losses)
        # training.apply_gradients, with the parameter list collected once: walking the block tree
        # (collect_params) on every update cost ~20 % of a small network's step.
        trainer = q_network.trainer
        trainer.allreduce_grads()
        if self.clip_norm is not None:
            if self._trainable is None:
                self._trainable = [p for p in q_network.collect_params().values() if p.grad_req != "null"]
            clip_gradients(self._trainable, self.clip_norm, packed.shape[0])
        trainer.update(packed.shape[0])
        self.num_updates += 1
        if self.num_updates % self.target_update_interval == 0:
            self.update_target()
        total = [loss.sum().as_in_context(self.ctx[0]) for loss in losses]
        return total[0] if len(total) == 1 else mx.nd.add_n(*total)

    def _train_phase(self) -> float:
        """``gradient_steps`` steps; one host-to-device copy of all their batches, one sync at the end."""
        idx = self.replay_buffer.sample_indices((self.gradient_steps, self.batch_size), self.rng)
        batches = mx.nd.array(self.replay_buffer.packed(idx), ctx=self.ctx[0])
        total = None
        for i in range(self.gradient_steps):
            loss = self.train_step(batches[i])
            total = loss if total is None else total + loss
        mean = float(total.asscalar()) / (self.gradient_steps * self.batch_size)
        if not math.isfinite(mean):
            raise TrainingDivergedError(f"the TD loss became {mean} after {self.num_updates} gradient steps "
                                        f"({self.num_timesteps} environment steps); lower the learning rate "
                                        "or set clip_norm")
        self._refresh_host_copy()
        return mean

    def learn(
        self: C,
        env: Any,
        total_steps: int,
        *,
        eval_env: Any = None,
        eval_freq: int = 5000,
        eval_episodes: int = 20,
        stop_return: Optional[float] = None,
        keep_best: bool = True,
        verbose: bool = True,
    ) -> C:
        """Interact with ``env`` (gymnasium API or `PolicySampler`) for ``total_steps`` steps and learn.

        Args:
            env: the environment to learn in.
            total_steps: environment steps of this call (the ε schedule spans them).
            eval_env: evaluate the greedy policy on it every ``eval_freq`` steps over ``eval_episodes``
                episodes, and once more at the end (recorded in ``evaluations``).
            stop_return: stop as soon as such an evaluation reaches this mean return.
            keep_best: with an ``eval_env``, end with the networks of the best evaluation of this call
                (``best_evaluation``) when the final one is worse: DQN's greedy return often falls again
                after a peak (on CartPole, seed 0 peaks at 500 and ends at 164 after 50 000 steps).
            verbose: progress bar (only on a terminal) and INFO logs of the evaluations.

        Returns ``self``.
        """
        problem = _Problem(env)
        if problem.n_actions != self.n_actions or problem.state_shape != self.state_shape:
            raise ValueError(f"the environment has states {problem.state_shape} and {problem.n_actions} actions; "
                             f"the Q-network expects states {self.state_shape} and {self.n_actions} actions")
        if int(total_steps) < 1:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if stop_return is not None and eval_env is None:
            raise ValueError("stop_return needs an eval_env to evaluate on")
        if eval_env is not None and eval_env is env:
            raise ValueError("eval_env must be another instance than env: evaluating would cut training episodes")
        total_steps = int(total_steps)
        reset_seed = None if self.seed is None else derive_seed(self.seed, "learn", self.n_learn_calls)
        self.n_learn_calls += 1
        state = problem.reset(seed=reset_seed)
        episode_return, episode_length = 0.0, 0
        bar = tqdm(total=total_steps, desc=type(self).__name__, disable=not (verbose and sys.stderr.isatty()),
                   leave=False)
        ticks = 0
        best: Optional[Tuple[float, int, Optional[List[List[mx.nd.NDArray]]]]] = None  # mean, step, networks

        def evaluate_now() -> float:
            nonlocal best
            mean = self.evaluate(eval_env, episodes=eval_episodes)
            self.evaluations.append((self.num_timesteps, mean))
            if verbose:
                logger.info("DQN step %d: greedy mean return %.2f over %d episodes",
                            self.num_timesteps, mean, eval_episodes)
            if keep_best and (best is None or mean > best[0]):
                best = (mean, self.num_timesteps, self._network_copy())
            return mean

        try:
            for step in range(total_steps):
                eps = self.epsilon(step, total_steps)
                if self.rng.rand() < eps:
                    action = int(self.rng.randint(self.n_actions))
                else:
                    action = int(self._q_values(state[None])[0].argmax())
                next_state, reward, terminated, truncated = problem.step(action)
                self.replay_buffer.add(state, action, reward, next_state, terminated)
                self.num_timesteps += 1
                episode_return += reward
                episode_length += 1
                if terminated or truncated:
                    self.history.append({"return": episode_return, "length": episode_length,
                                         "step": self.num_timesteps, "epsilon": eps})
                    state = problem.reset()
                    episode_return, episode_length = 0.0, 0
                else:
                    state = next_state
                if len(self.replay_buffer) >= self.learning_starts and (step + 1) % self.train_freq == 0:
                    self.losses.append(self._train_phase())
                ticks += 1
                if ticks >= 500 or step == total_steps - 1:
                    bar.update(ticks)
                    ticks = 0
                    returns = self.episode_returns
                    bar.set_postfix({"episodes": len(returns), "eps": f"{eps:.2f}",
                                     "return(10)": f"{returns[-10:].mean():.1f}" if len(returns) else "-"},
                                    refresh=False)
                if eval_env is not None and (step + 1) % eval_freq == 0:
                    mean = evaluate_now()
                    if stop_return is not None and mean >= stop_return:
                        break
            if eval_env is not None:
                if self.evaluations and self.evaluations[-1][0] == self.num_timesteps:
                    final = self.evaluations[-1][1]
                else:
                    final = evaluate_now()
                if best is not None and final < best[0]:
                    self._set_networks(best[2])
                    logger.info("DQN: kept the networks of step %d (greedy mean return %.2f); the final "
                                "ones returned %.2f", best[1], best[0], final)
                    self.best_evaluation = (best[1], best[0])
                else:
                    self.best_evaluation = (self.num_timesteps, final)
        finally:
            bar.close()
        return self

    def _network_copy(self) -> List[List[mx.nd.NDArray]]:
        """Copies of the online and target networks' parameters on every context."""
        return [[d.copy() for d in p.list_data()] for net in (self.q_network, self.target_network)
                for p in net.collect_params().values()]

    def _set_networks(self, copies: List[List[mx.nd.NDArray]]) -> None:
        params = [p for net in (self.q_network, self.target_network) for p in net.collect_params().values()]
        for p, data in zip(params, copies):
            for dst, src in zip(p.list_data(), data):
                src.copyto(dst)
        self._refresh_host_copy()

    @property
    def episode_returns(self) -> np.ndarray:
        """Return of every finished training episode."""
        return self.history["return"] if "return" in self.history else np.zeros(0)

    @property
    def episode_lengths(self) -> np.ndarray:
        """Length of every finished training episode."""
        return self.history["length"] if "length" in self.history else np.zeros(0)

    @property
    def episode_steps(self) -> np.ndarray:
        """Environment step count at the end of every finished training episode."""
        return self.history["step"] if "step" in self.history else np.zeros(0)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, env: Any, episodes: int = 100, *, seed: Optional[int] = None, epsilon: float = 0.0,
                 n_envs: int = 100, max_steps: int = 100_000) -> float:
        """Mean return of the greedy policy over ``episodes`` episodes (all returns in ``last_evaluation``).

        Episode ``i`` starts from ``reset(seed=seed + i)`` (``seed`` defaults to one derived from the
        controller's seed), so results do not depend on ``n_envs``: up to ``n_envs`` copies of ``env``
        run side by side, their states stacked into one batched forward per step. ``max_steps`` caps
        an episode of an environment without a time limit.
        """
        if int(episodes) < 1:
            raise ValueError(f"episodes must be positive, got {episodes}")
        problem = _Problem(env)
        if problem.n_actions != self.n_actions or problem.state_shape != self.state_shape:
            raise ValueError(f"the environment has states {problem.state_shape} and {problem.n_actions} actions; "
                             f"the Q-network expects states {self.state_shape} and {self.n_actions} actions")
        if seed is None:
            # Seeded episodes even without a controller seed: unseeded copies of one environment
            # would replay the same episodes.
            seed = derive_seed(self.seed, "evaluate") if self.seed is not None else int(self.rng.randint(2 ** 30))
        episodes = int(episodes)
        width = max(1, min(int(n_envs), episodes))
        copies = [problem]
        try:
            copies += [_Problem(copy.deepcopy(env)) for _ in range(width - 1)]
        except Exception:  # an environment that cannot be copied is evaluated one episode at a time
            copies = [problem]
        returns = np.zeros(episodes)
        next_episode = 0
        slots: List[Optional[int]] = [None] * len(copies)  # episode each copy is running
        states = np.zeros((len(copies),) + self.state_shape, np.float32)
        lengths = np.zeros(len(copies), np.int64)

        def start(slot: int) -> None:
            nonlocal next_episode
            slots[slot] = next_episode
            states[slot] = copies[slot].reset(seed=seed + next_episode)
            lengths[slot] = 0
            next_episode += 1

        for slot in range(min(len(copies), episodes)):
            start(slot)
        while any(s is not None for s in slots):
            active = [i for i, s in enumerate(slots) if s is not None]
            actions = self._q_values(states[active]).argmax(axis=1)
            if epsilon > 0:
                explore = self.rng.rand(len(actions)) < epsilon
                actions = np.where(explore, self.rng.randint(0, self.n_actions, len(actions)), actions)
            for slot, action in zip(active, actions):
                obs, reward, terminated, truncated = copies[slot].step(int(action))
                returns[slots[slot]] += reward
                lengths[slot] += 1
                states[slot] = obs
                if terminated or truncated or lengths[slot] >= max_steps:
                    slots[slot] = None
                    if next_episode < episodes:
                        start(slot)
        self.last_evaluation = returns
        return float(returns.mean())

    # ------------------------------------------------------------------ persistence
    def get_config(self) -> Dict[str, Any]:
        """The controller's hyper-parameters (without the Q-network)."""
        names = ("gamma", "buffer_size", "batch_size", "learning_starts", "train_freq", "gradient_steps",
                 "target_update_interval", "tau", "exploration_fraction", "exploration_initial_eps",
                 "exploration_final_eps", "clip_norm", "double_dqn", "hybridize", "seed")
        return {name: getattr(self, name) for name in names}

    def save(self, path: str, replay_buffer: bool = False) -> None:
        """Write to one file (atomically): hyper-parameters, the online and target networks, the
        optimizer state, the random generator, the counters and the episode history; and, with
        ``replay_buffer=True``, the stored transitions (``len(replay_buffer)`` of them, about
        ``2 * state_size + 3`` floats each). A controller loaded from a file with its buffer carries on
        learning exactly as the saved one would have."""
        rng_state = self.rng.get_state()
        record = {"class": f"{type(self).__module__}:{type(self).__qualname__}",
                  "config": encode_config(self.get_config()),
                  "q_network": {"class": f"{type(self.q_network).__module__}:{type(self.q_network).__qualname__}",
                                "config": encode_config(self.q_network.get_config(), "q_network")},
                  "history": self.history.to_dict(), "losses": self.losses,
                  "evaluations": self.evaluations, "best_evaluation": self.best_evaluation,
                  "counters": [self.num_timesteps, self.num_updates, self.n_learn_calls],
                  "rng": [rng_state[0], rng_state[1].tolist(), *rng_state[2:]]}
        arrays = {}
        for prefix, net in (("online.", self.q_network), ("target.", self.target_network)):
            for name, p in net._collect_params_with_prefix().items():
                arrays[prefix + name] = p.data(self.ctx[0]).copyto(mx.cpu())
        if self.q_network.trainer is not None:
            arrays[_OPTIMIZER_KEY] = _bytes_array(optimizer_state_bytes(self.q_network.trainer))
        if replay_buffer:
            buf = self.replay_buffer
            record["replay"] = [buf.position, buf.size]
            for name in _REPLAY_FIELDS:
                arrays["replay." + name] = mx.nd.array(getattr(buf, name)[:buf.size], dtype=np.float32)
        arrays[_RECORD_KEY] = _bytes_array(json.dumps(record).encode())
        atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))

    @classmethod
    def load(cls: Type[C], path: str, ctx: CtxLike = None) -> C:
        """Rebuild a controller written by `save`, its networks on ``ctx``."""
        try:
            arrays = mx.nd.load(path)
        except mx.MXNetError as err:
            raise ValueError(f"cannot read controller file {path}: {err}") from None
        if not isinstance(arrays, dict) or _RECORD_KEY not in arrays:
            raise ValueError(f"{path} was not written by DQNController.save()")
        record = json.loads(arrays.pop(_RECORD_KEY).asnumpy().tobytes().decode())
        controller_cls = _import(record["class"])
        if not issubclass(controller_cls, cls):
            raise TypeError(f"{path} holds a {controller_cls.__name__}, not a {cls.__name__}")
        q_network = _import(record["q_network"]["class"])(**decode_config(record["q_network"]["config"]), ctx=ctx)
        controller = controller_cls(q_network, **decode_config(record["config"]))
        for prefix, net in (("online.", controller.q_network), ("target.", controller.target_network)):
            for name, p in net._collect_params_with_prefix().items():
                key = prefix + name
                if key not in arrays or arrays[key].shape != p.shape:
                    raise ValueError(f"{path} does not match the saved Q-network: parameter {key} missing "
                                     "or of another shape")
                p.set_data(arrays[key])
        controller.history = History(record["history"])
        controller.losses = list(record["losses"])
        controller.evaluations = [tuple(e) for e in record["evaluations"]]
        best = record.get("best_evaluation")
        controller.best_evaluation = None if best is None else tuple(best)
        controller.num_timesteps, controller.num_updates, controller.n_learn_calls = record["counters"]
        if "rng" in record:
            name, keys, *rest = record["rng"]
            controller.rng.set_state((name, np.asarray(keys, np.uint32), *rest))
        if _OPTIMIZER_KEY in arrays:
            q_network.trainer = q_network.make_trainer()
            load_optimizer_state_bytes(q_network.trainer, arrays[_OPTIMIZER_KEY].asnumpy().tobytes())
        if "replay" in record:
            buf = controller.replay_buffer
            position, size = record["replay"]
            if size > buf.capacity:
                raise ValueError(f"{path} holds {size} transitions, more than the buffer's capacity {buf.capacity}")
            for name in _REPLAY_FIELDS:
                getattr(buf, name)[:size] = arrays["replay." + name].asnumpy().reshape(
                    (size,) + getattr(buf, name).shape[1:])
            buf.position, buf.size = position, size
        return controller
