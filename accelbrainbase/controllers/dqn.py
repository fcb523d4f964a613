"""Deep Q-learning: `DQNController`, experience replay and a target network.

The controller is a model of the zoo (`models.ObservableModel`): its forward pass is the online
Q-network; the target network is a child block that takes no gradient, so both are saved with it;
its one trainer (``"q_network"``) steps through `training.gradient_step`; and `state_dict`,
``save``/``load`` and checkpoints carry everything a run needs (the random generator, counters,
episodes, evaluations and, on request, the replay buffer).

Learning is driven by environment steps, not by epochs of a dataset, so `DQNController.learn` is
its own loop rather than `training.fit`; its "epoch" is ``eval_freq`` environment steps, after
which it evaluates, records a history row, writes a checkpoint and calls the callbacks, as `fit`
does after an epoch.

Works with any environment following the gymnasium API (``reset(seed=) -> (obs, info)``,
``step(a) -> (obs, reward, terminated, truncated, info)``, a discrete action space) and with any
`interfaces.PolicySampler`.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from ..context import CtxLike, derive_seed, seed_mxnet
from ..gluon_internals import renamed_copy, structural_params
from ..interfaces import ControllableModel, PolicySampler
from ..models.base import ObservableModel
from ..models.dense import NeuralNetworks
from ..models.q_network import FunctionApproximator
from ..registry import register_model
from ..training import (
    Callback,
    History,
    TaskProgress,
    TrainingDivergedError,
    gradient_step,
    read_checkpoint,
    save_checkpoint,
)

__all__ = ["DQNController", "ReplayBuffer"]

logger = logging.getLogger("accelbrainbase")

C = TypeVar("C", bound="DQNController")

_REPLAY_FIELDS = ("states", "next_states", "actions", "rewards", "terminated")
_EPISODE_KEYS = ("return", "length", "step", "epsilon")


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

    def arrays(self) -> Dict[str, np.ndarray]:
        """The stored transitions (oldest slots first, ``len(self)`` of them) and the write position,
        as named arrays; `restore` takes them back."""
        out = {name: getattr(self, name)[:self.size].copy() for name in _REPLAY_FIELDS}
        out["cursor"] = np.array([self.position, self.size], np.int64)
        return out

    def restore(self, arrays: Dict[str, np.ndarray]) -> None:
        """Take back what `arrays` returned (of a buffer with the same state shape)."""
        position, size = (int(v) for v in arrays["cursor"])
        if size > self.capacity:
            raise ValueError(f"the state holds {size} transitions, more than the buffer's capacity {self.capacity}")
        for name in _REPLAY_FIELDS:
            target = getattr(self, name)
            target[:size] = np.asarray(arrays[name]).reshape((size,) + target.shape[1:])
            target[size:] = 0
        self.position, self.size = position, size


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

    def hybrid_forward(self, F, packed):
        return self.target(_unpack(F, packed, self.state_shape)[3])


class _TDLoss(gluon.HybridBlock):
    """Per-sample Huber TD loss of a packed replay batch given ``Q_target(s', ·)``, as one graph of the
    online network. The TD target is a constant (``BlockGrad``)."""

    def __init__(self, online: FunctionApproximator, state_shape: Tuple[int, ...], gamma: float,
                 double_dqn: bool) -> None:
        super().__init__()
        self.online, self.state_shape = online, tuple(state_shape)
        self.gamma, self.double_dqn = float(gamma), bool(double_dqn)

    def hybrid_forward(self, F, packed, q_next_target):
        states, actions, rewards, next_states, terminated = _unpack(F, packed, self.state_shape)
        q_next_online = F.BlockGrad(self.online(next_states)) if self.double_dqn else None
        targets = td_target(F, q_next_target, q_next_online, rewards, terminated, self.gamma)
        q = F.pick(self.online(states), actions, axis=1)
        return self.online.loss(q, F.BlockGrad(targets))


class _TDGraphs:
    """The TD step's two graphs, held by the controller outside its block tree."""

    __slots__ = ("next_values", "td")

    def __init__(self, next_values: _NextValues, td: _TDLoss) -> None:
        self.next_values, self.td = next_values, td


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


def _evaluation_copy(env: Any) -> Any:
    """A fresh instance of ``env`` for `DQNController.learn` to evaluate on when it is given no
    ``eval_env``: ``gymnasium.make(env.spec)`` for a gymnasium environment made from the registry
    (the same id, keyword arguments, time limit and recorded wrappers; never rendering on screen),
    otherwise ``copy.deepcopy(env)`` (a `PolicySampler`, an environment built by hand). Evaluation
    episodes start from seeded resets, so the copy's own state at the time does not matter."""
    reasons = []
    spec = None if isinstance(env, PolicySampler) else getattr(env, "spec", None)
    if spec is not None:
        try:
            import gymnasium

            # An environment made to render for a person is evaluated without a window.
            kwargs = {"render_mode": None} if (spec.kwargs or {}).get("render_mode") is not None else {}
            return gymnasium.make(spec, **kwargs)
        except Exception as err:  # e.g. a wrapper that records no constructor arguments
            reasons.append(f"gymnasium.make(env.spec) failed: {err}")
    try:
        return copy.deepcopy(env)
    except Exception as err:
        reasons.append(f"copy.deepcopy(env) failed: {err}")
    raise TypeError(f"learn() evaluates the greedy policy on its own copy of the environment to keep the best "
                    f"networks, and cannot make one of this {type(env).__name__} ({'; '.join(reasons)}): pass "
                    "eval_env= (another instance of the environment), or eval_env=False to learn without evaluating")


class _Corridor(PolicySampler):
    """The registry's small problem: a corridor of ``length`` cells with one-hot states, actions
    0 = left and 1 = right, starting in cell 2. The left end pays 0.1, the right end 1.0 (both end
    the episode); episodes are cut after ``limit`` steps."""

    n_actions = 2

    def __init__(self, length: int = 6, limit: int = 20) -> None:
        self.length, self.limit = length, limit
        self.state_shape = (length,)
        self.position, self.t = 2, 0

    def states(self) -> np.ndarray:
        """Every cell's state, ``(length, length)``."""
        return np.eye(self.length, dtype=np.float32)

    def reset(self, seed: Optional[int] = None) -> np.ndarray:
        self.position, self.t = 2, 0
        return self.states()[self.position]

    def step(self, action: int) -> Tuple[np.ndarray, float, bool, bool]:
        self.position += 1 if action == 1 else -1
        self.t += 1
        state = self.states()[self.position]
        if self.position == 0:
            return state, 0.1, True, False
        if self.position == self.length - 1:
            return state, 1.0, True, False
        return state, 0.0, False, self.t >= self.limit


_CONTRACT_STEPS_PER_EPOCH = 64


def _example(rng: np.random.RandomState):
    corridor = _Corridor()
    q_network = FunctionApproximator(NeuralNetworks(input_dim=corridor.length, hidden_dims=[16], output_dim=2,
                                                    seed=0), learning_rate=0.01, seed=0)
    settings = dict(gamma=0.9, batch_size=16, learning_starts=16, train_freq=8, gradient_steps=4,
                    target_update_interval=16, exploration_fraction=0.5)
    return dict(q_network=q_network, **settings), corridor.states(), None


def _example_plain_q_block(rng: np.random.RandomState):
    """The example with a plain Gluon block (shapes deferred) as the Q-network."""
    kwargs, states, y = _example(rng)
    block = nn.HybridSequential()
    block.add(nn.Dense(16, activation="relu"), nn.Dense(2))
    kwargs["q_network"] = FunctionApproximator(block, input_shape=(states.shape[1],), learning_rate=0.01, seed=0)
    return kwargs, states, y


def _learn_on_the_corridor(model: "DQNController", x: Any, y: Any, *, epochs: int, batch_size: Optional[int] = None,
                           ctx: Any = None, **fit_kwargs: Any) -> "DQNController":
    """How the contract suite trains the controller: ``epochs`` epochs of 64 environment steps on a
    fresh corridor (``fit_kwargs``: ``checkpoint_dir``, ``resume``, ``callbacks``). ``batch_size``
    and ``ctx`` describe batches of data; a DQN draws its batches from its replay buffer."""
    return model.learn(_Corridor(), total_steps=_CONTRACT_STEPS_PER_EPOCH * epochs,
                       eval_freq=_CONTRACT_STEPS_PER_EPOCH, verbose=False, **fit_kwargs)


def _call_callback(callback: Any, model: Any, epoch: int, logs: Dict[str, float]) -> bool:
    if isinstance(callback, Callback):
        return bool(callback.on_epoch_end(model, epoch, logs))
    return bool(callback(model, epoch, logs))


@register_model(
    "dqn", example=_example, learn=_learn_on_the_corridor, user_parts=_example_plain_q_block,
    opt_outs={
        "reload": "save() keeps no replay buffer by default, and a new learn() call starts a new epsilon schedule "
                  "spanning that call only: two calls are not the one-call run by design. Resuming a checkpoint "
                  "(the 'resume' check) is bit for bit, and tests/test_dqn.py checks that a controller loaded "
                  "from save(replay_buffer=True) learns on exactly as the saved one",
    })
class DQNController(ObservableModel, ControllableModel):
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

    The controller is a model (a Gluon block): ``self(states)`` is the online Q-network, the target
    network is its child ``target_network`` (no gradient), its trainer ``trainers["q_network"]``
    uses the Q-network's optimizer settings, and ``save``/``load``/``state_dict`` keep both networks,
    the optimizer state, the random generator, the counters, the episodes and the evaluations.

    The defaults are the Stable-Baselines3 zoo's tuned CartPole settings, which also suit other small
    control problems.

    Args:
        q_network: the online Q-network, a `FunctionApproximator` around any Gluon block (its
            optimizer, learning rate and ``ctx`` are used); the target network is a copy. See
            `for_env` for an MLP sized from the spaces.
        gamma: discount factor.
        buffer_size: replay capacity (transitions).
        batch_size: replay batch size (split across ``ctx`` when it is a list).
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
        ctx: where the networks live (default: the Q-network's contexts).

    Shapes:
        ``inference(states)``: ``(N, *state_shape)`` -> Q-values ``(N, n_actions)`` (one state ->
        ``(n_actions,)``; numpy in, numpy out; NDArray in, NDArray out); ``act(states)``: -> actions
        ``(N,)`` (one state -> ``int``). ``train_step(packed)``: a packed replay batch
        ``(N, 2 * state_size + 3)`` (`ReplayBuffer.packed`).

    Attributes after ``learn``: ``episode_returns``, ``episode_lengths`` and ``episode_steps`` (numpy
    arrays, one entry per finished episode; ``episodes`` is their `training.History`, with the ε of
    each episode's end), ``history`` (one row per epoch of ``eval_freq`` steps: ``train_loss``, the
    mean TD loss, ``episodes``, ``mean_return`` of the episodes that ended in it, ``epsilon``,
    ``steps`` and, unless ``eval_env=False``, ``eval_return``), ``loss_arr`` (``(epochs, 2)``, the TD
    loss and NaN), ``losses`` (mean TD loss per training phase), ``evaluations`` (``(step, mean
    return)`` of the periodic evaluations), ``num_timesteps``, ``num_updates``.

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("CartPole-v1")
        >>> dqn = DQNController.for_env(env, seed=0, learning_starts=100, train_freq=100, gradient_steps=5)
        >>> dqn = dqn.learn(env, total_steps=300, verbose=False)   # the full run: total_steps=50_000
        >>> len(dqn.episode_returns) > 0, dqn.act(env.reset(seed=0)[0]) in (0, 1)
        (True, True)
        >>> mean_return = dqn.evaluate(gym.make("CartPole-v1"), episodes=100)   # doctest: +SKIP
    """

    #: the state shape (fixed)
    input_shape: Tuple[int, ...]

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
        ctx: CtxLike = None,
    ) -> None:
        if not isinstance(q_network, FunctionApproximator):
            raise TypeError(f"q_network must be a FunctionApproximator (wrap your model or Gluon block in one), "
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
        for name, eps in (("exploration_initial_eps", exploration_initial_eps),
                          ("exploration_final_eps", exploration_final_eps)):
            if not 0.0 <= eps <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {eps}")
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip_norm must be positive or None, got {clip_norm}")
        state_shape = tuple(d for d in q_network.input_shape if d is not None)
        if len(state_shape) != len(q_network.input_shape):
            raise ValueError(f"the Q-network's input shape {tuple(q_network.input_shape)} has a free axis; "
                             "DQN stores fixed-shape states")
        # The Q-network's optimizer settings are the controller's (its one trainer trains it).
        super().__init__(ctx=q_network.ctx if ctx is None else ctx, seed=seed, optimizer=q_network.optimizer,
                         learning_rate=q_network.learning_rate, optimizer_params=q_network.optimizer_params)
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
        self.compiled = bool(hybridize)
        self.state_shape = state_shape
        self.input_shape = state_shape
        self.n_actions = q_network.n_actions
        self.q_network = q_network
        self.initialize_parameters()  # the online network moves to ctx before it is copied
        self.target_network = self._target_copy(q_network)
        # The TD step's two graphs run the two networks; held outside the block tree (not children),
        # so that the networks' parameters are saved once, under "q_network." and "target_network.".
        self._graphs = _TDGraphs(_NextValues(self.target_network, self.state_shape),
                                 _TDLoss(q_network, self.state_shape, self.gamma, self.double_dqn))
        if self.compiled:
            self.hybridize()
            self._graphs.next_values.hybridize()
            self._graphs.td.hybridize()
        self.rng = np.random.RandomState(seed)
        self.replay_buffer = ReplayBuffer(self.buffer_size, self.state_shape)
        self.num_timesteps = 0
        self.num_updates = 0
        self.n_learn_calls = 0
        self.episodes = History()
        self.losses: List[float] = []
        self.evaluations: List[Tuple[int, float]] = []
        self.last_evaluation = np.zeros(0)
        # (environment step, greedy mean return) of the networks `learn` ended with, when it evaluated.
        self.best_evaluation: Optional[Tuple[int, float]] = None
        self._host_q: Any = None
        self._target_pairs: Optional[List[Tuple[gluon.Parameter, gluon.Parameter]]] = None
        self._with_replay = False  # save() with the replay buffer
        self._call: Optional[Dict[str, Any]] = None  # the checkpointed learn() call in progress
        self._interrupted_call: Optional[Dict[str, Any]] = None  # a checkpointed call, after load

    def _target_copy(self, q_network: FunctionApproximator) -> FunctionApproximator:
        """The target network: a copy of the online one with parameters of its own (same values and
        contexts) that take no gradient."""
        memo: Dict[int, Any] = {}

        def without_trainers(block: gluon.Block) -> None:
            if isinstance(block, ObservableModel):  # a part's trainers are not copied
                memo[id(block.trainers)] = {}
                memo[id(block.parameter_servers)] = {}

        q_network.apply(without_trainers)
        target = renamed_copy(q_network, "target_", memo)
        online = structural_params(q_network)
        for name, p in structural_params(target).items():
            contexts = online[name].list_ctx()
            p.reset_ctx(contexts)
            p.set_data(online[name].data(contexts[0]))
            p.grad_req = "null"
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

    def forward(self, x: Any) -> Any:
        """The online Q-network's values ``(N, n_actions)``. The call goes straight to the Q-network
        (its own cached graph when hybridized): a graph of the controller would hold the target
        network's parameters unused."""
        return self.q_network(x)

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

    def inference(self, state: Any, batch_size: int = 1024) -> Any:
        """Q-values of the online network: ``(n_actions,)`` for one state, ``(N, n_actions)`` for a
        batch; numpy for numpy input, an NDArray (on ``ctx[0]``) for NDArray input."""
        if isinstance(state, mx.nd.NDArray):
            single = tuple(state.shape) == self.state_shape
            q = super().inference(state.expand_dims(0) if single else state, batch_size)
        else:
            states, single = self._as_states(state)
            q = super().inference(states, batch_size)
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

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> Tuple[str, str]:
        """Export the online Q-network's inference graph (the controller's forward pass; see
        `ObservableModel.export`)."""
        return self.q_network.export(path, epoch, remove_amp_cast=remove_amp_cast)

    # ------------------------------------------------------------------ learning
    def td_target(self, next_states: Any, rewards: Any, terminated: Any) -> np.ndarray:
        """The TD targets ``r + γ (1 - terminated) Q_target(s', a*)`` of a batch (numpy ``(N,)``)."""
        device = self.ctx[0]
        s2 = mx.nd.array(self._as_states(next_states)[0], ctx=device)
        r = mx.nd.array(np.asarray(rewards, np.float32).reshape(-1), ctx=device)
        done = mx.nd.array(np.asarray(terminated, np.float32).reshape(-1), ctx=device)
        q_next_online = self.q_network(s2) if self.double_dqn else None
        return td_target(mx.nd, self.target_network(s2), q_next_online, r, done, self.gamma).asnumpy()

    def td_loss(self, packed: mx.nd.NDArray) -> mx.nd.NDArray:
        """Per-sample Huber TD losses ``(N,)`` of a packed replay batch (`ReplayBuffer.packed`): what
        `train_step` minimises, on ``ctx[0]``, not recorded."""
        packed = packed.as_in_context(self.ctx[0])
        return self._graphs.td(packed, self._graphs.next_values(packed))

    def _recorded_td_loss(self, packed: mx.nd.NDArray) -> mx.nd.NDArray:
        # The target network's values are constants of the step: computed outside the recording
        # (and in prediction mode), as the TD target is.
        with autograd.pause():
            q_next = self._graphs.next_values(packed)
        return self._graphs.td(packed, q_next)

    def update_target(self) -> None:
        """Move the target network towards the online one: ``τ·online + (1 - τ)·target``."""
        if self._target_pairs is None:
            online = structural_params(self.q_network)
            self._target_pairs = [(online[name], p) for name, p in structural_params(self.target_network).items()]
        for src_param, dst_param in self._target_pairs:
            for dst, src in zip(dst_param.list_data(), src_param.list_data()):
                if self.tau >= 1.0:
                    src.copyto(dst)
                else:
                    dst[:] = self.tau * src + (1.0 - self.tau) * dst

    def configure_trainers(
            self, lr_scheduler: Optional[mx.lr_scheduler.LRScheduler] = None) -> Dict[str, gluon.Trainer]:
        """One trainer, ``"q_network"``, over the online network with its optimizer settings (the
        target network takes no gradient)."""
        return {"q_network": self.make_trainer(self.q_network.collect_params(), lr_scheduler,
                                               settings_of=self.q_network)}

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray] = None,
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """One gradient step on a packed replay batch ``x`` (`ReplayBuffer.packed`; ``y`` unused),
        through `training.gradient_step`, clipped to ``clip_norm`` (default: the controller's).
        Returns ``{"loss": summed per-sample TD loss}`` on the first context (no host sync) and
        updates the target network when it is due."""
        if "q_network" not in self.trainers:
            self.trainers = self.configure_trainers()
        loss = gradient_step(self, self._recorded_td_loss, x, trainer="q_network",
                             clip_norm=self.clip_norm if clip_norm is None else clip_norm)
        self.num_updates += 1
        if self.num_updates % self.target_update_interval == 0:
            self.update_target()
        return {"loss": loss}

    def _train_phase(self) -> float:
        """``gradient_steps`` steps; one host-to-device copy of all their batches, one sync at the end."""
        idx = self.replay_buffer.sample_indices((self.gradient_steps, self.batch_size), self.rng)
        batches = mx.nd.array(self.replay_buffer.packed(idx), ctx=self.ctx[0])
        total = self.train_step(batches[0])["loss"]  # gradient_steps >= 1
        for i in range(1, self.gradient_steps):
            total = total + self.train_step(batches[i])["loss"]
        mean = float(total.asscalar()) / (self.gradient_steps * self.batch_size)
        if not math.isfinite(mean):
            raise TrainingDivergedError(f"the TD loss became {mean} after {self.num_updates} gradient steps "
                                        f"({self.num_timesteps} environment steps); lower the learning rate "
                                        "or set clip_norm")
        self._refresh_host_copy()
        return mean

    def _check_problem(self, problem: "_Problem") -> None:
        if problem.n_actions != self.n_actions or problem.state_shape != self.state_shape:
            raise ValueError(f"the environment has states {problem.state_shape} and {problem.n_actions} actions; "
                             f"the Q-network expects states {self.state_shape} and {self.n_actions} actions")

    # An agent learns from an environment, not from data: the signature differs from ObservableModel.learn's.
    def learn(  # type: ignore[override]
        self: C,
        env: Any,
        total_steps: int,
        *,
        eval_env: Any = None,
        eval_freq: int = 1000,
        eval_episodes: int = 20,
        stop_return: Optional[float] = None,
        keep_best: bool = True,
        verbose: Any = True,
        checkpoint_dir: Optional[str] = None,
        resume: bool = False,
        callbacks: Sequence[Any] = (),
    ) -> C:
        """Interact with ``env`` (gymnasium API or `PolicySampler`) for ``total_steps`` steps and learn.

        The steps come in epochs of ``eval_freq``; after each (and after the last, shorter one) the
        controller evaluates its greedy policy, appends a row to ``history``, writes a checkpoint and
        calls the callbacks; it ends with the networks of its best evaluation (``keep_best``). Without
        an ``eval_env`` it evaluates on its own fresh instance of the environment:
        ``gymnasium.make(env.spec)`` for a gymnasium environment made by ``gymnasium.make`` (same id,
        arguments, time limit and recorded wrappers; no on-screen rendering), else ``copy.deepcopy(env)``
        (a `PolicySampler`, an environment built by hand); when neither works it raises ``TypeError``
        asking for an ``eval_env``. So ``learn(env, total_steps=50_000)`` on CartPole-v1 ends with a
        policy that scores about 500 (README, Results).

        Args:
            env: the environment to learn in.
            total_steps: environment steps of this call (the ε schedule spans them).
            eval_env: evaluate the greedy policy on it after every epoch over ``eval_episodes``
                episodes (recorded in ``evaluations`` and the history's ``eval_return``; episode ``i``
                starts from ``reset(seed=...)`` with a seed derived from the controller's, see
                `evaluate`). ``None`` (default): on the call's own copy of ``env`` (above). ``False``:
                no evaluation (the call ends with the networks of its last update; ``stop_return``
                and ``keep_best`` have nothing to act on). An environment without a time limit
                whose greedy policy never ends an episode is evaluated up to 100 000 steps per episode
                (`evaluate`'s ``max_steps``): give such a one a time limit or pass ``eval_env=False``.
            eval_freq: environment steps per epoch (between evaluations). The default, 1000, is
                fine enough to catch the short stretches in which CartPole's greedy policy is
                perfect (3 000 steps for seed 4); those evaluations take about a fifth of a 50 000-step
                CartPole run. For long runs or long episodes, evaluate less often.
            eval_episodes: episodes per evaluation.
            stop_return: stop as soon as such an evaluation reaches this mean return.
            keep_best: end with the networks (online and target) of the best evaluation of this call
                (``best_evaluation``; the first of equal ones) when the final one is worse: DQN's greedy
                return often falls again after a peak (on CartPole, seed 0 peaks at 500 and ends at
                164 after 50 000 steps). The counters, the optimizer state and the replay buffer are
                not taken back.
            verbose: progress (`training.TaskProgress`: a bar on terminals and in Jupyter, a line
                when piped; 0 or ``False``: silent) and INFO logs of the evaluations.
            checkpoint_dir: after every epoch, write the whole state - networks, optimizer state,
                random generator, counters, episodes, replay buffer and this call's progress -
                atomically into this directory (one model file and ``checkpoint.json``, as
                `training.fit` does; ``DQNController.load(checkpoint_dir)`` opens it).
            resume: continue the call whose checkpoint is in ``checkpoint_dir`` (when there is one),
                with the same ``total_steps`` and ``eval_freq``: the environment is brought back to
                where it was by replaying the call's recorded actions from its seeded reset (so it
                must be deterministic given ``reset(seed=)``; an unseeded controller starts a new
                episode instead), and the run then equals the uninterrupted one bit for bit.
            callbacks: `training.Callback` objects or functions ``f(model, epoch, logs)`` called after
                each epoch; a ``True`` return stops.

        Returns ``self``.
        """
        problem = _Problem(env)
        self._check_problem(problem)
        if int(total_steps) < 1:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if int(eval_freq) < 1:
            raise ValueError(f"eval_freq must be positive, got {eval_freq}")
        if eval_env is True:
            raise ValueError("eval_env=True is not an environment: pass None (the default: learn evaluates on its "
                             "own copy of env), another instance of the environment, or False (no evaluation)")
        if stop_return is not None and eval_env is False:
            raise ValueError("stop_return needs evaluations: it cannot be used with eval_env=False")
        if eval_env is not None and eval_env is env:
            raise ValueError("eval_env must be another instance than env: evaluating would cut training episodes")
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs a checkpoint_dir")
        if eval_env is None:
            # Its own fresh instance, made the same way at every call (resume included); its
            # episodes start from seeded resets, so a resumed run evaluates what the first one did.
            eval_env = _evaluation_copy(env)
            self._check_problem(_Problem(eval_env))
        elif eval_env is False:
            eval_env = None
        total_steps, eval_freq = int(total_steps), int(eval_freq)
        record = read_checkpoint(checkpoint_dir) if resume and checkpoint_dir is not None else None
        if record is not None:
            self.restore(record["file"])
            call = self._interrupted_call
            if call is None:
                raise ValueError(f"{record['file']} holds no learn() call to resume")
            if (call["total_steps"], call["eval_freq"]) != (total_steps, eval_freq):
                raise ValueError(f"the checkpoint in {checkpoint_dir} is of a call with total_steps="
                                 f"{call['total_steps']}, eval_freq={call['eval_freq']}: resume continues that "
                                 f"call, so pass the same (got {total_steps}, {eval_freq})")
            actions = np.zeros(total_steps, np.int32)
            actions[:call["step"]] = call["actions"]
            call["actions"] = actions
            state, episode_return, episode_length = self._replay(problem, call)
            logger.info("DQN: resuming from %s after environment step %d of %d", checkpoint_dir, call["step"],
                        total_steps)
        else:
            reset_seed = None if self.seed is None else derive_seed(self.seed, "learn", self.n_learn_calls)
            self.n_learn_calls += 1
            call = {"start": self.num_timesteps, "total_steps": total_steps, "eval_freq": eval_freq, "step": 0,
                    "reset_seed": reset_seed, "stopped": False, "best": None,
                    # The actions replay the environment on resume; only kept when checkpointing.
                    "actions": None if checkpoint_dir is None else np.zeros(total_steps, np.int32)}
            state = problem.reset(seed=reset_seed)
            episode_return, episode_length = 0.0, 0
        self._interrupted_call = None
        if checkpoint_dir is not None:
            os.makedirs(checkpoint_dir, exist_ok=True)
        actions = call["actions"]
        first_epoch = call.get("first_epoch", len(self.history))
        call["first_epoch"] = first_epoch

        def evaluate_now() -> float:
            mean = self.evaluate(eval_env, episodes=eval_episodes)
            self.evaluations.append((self.num_timesteps, mean))
            if verbose:
                logger.info("DQN step %d: greedy mean return %.2f over %d episodes",
                            self.num_timesteps, mean, eval_episodes)
            if keep_best and (call["best"] is None or mean > call["best"][0]):
                call["best"] = (mean, self.num_timesteps, self._network_arrays())
            return mean

        for cb in callbacks:
            if isinstance(cb, Callback):
                cb.on_train_begin(self)
        progress = TaskProgress(total_steps, type(self).__name__, verbose=int(verbose), unit="step")
        progress.update(call["step"])
        step = call["step"]
        self._call = call if checkpoint_dir is not None else None  # its progress goes into checkpoints
        try:
            while step < total_steps and not call["stopped"]:
                epoch = len(self.history)
                if self.seed is not None:
                    # As fit does: anything random in MXNet (dropout in a Q-network) depends only
                    # on (seed, epoch), so a resumed run draws what the uninterrupted one drew.
                    seed_mxnet(derive_seed(self.seed, "epoch", epoch), self.ctx)
                end = min(total_steps, (step // eval_freq + 1) * eval_freq)
                first_episode, first_loss, ticks, eps = len(self.episodes), len(self.losses), 0, 0.0
                for t in range(step, end):
                    eps = self.epsilon(t, total_steps)
                    if self.rng.rand() < eps:
                        action = int(self.rng.randint(self.n_actions))
                    else:
                        action = int(self._q_values(state[None])[0].argmax())
                    if actions is not None:
                        actions[t] = action
                    next_state, reward, terminated, truncated = problem.step(action)
                    self.replay_buffer.add(state, action, reward, next_state, terminated)
                    self.num_timesteps += 1
                    episode_return += reward
                    episode_length += 1
                    if terminated or truncated:
                        self.episodes.append({"return": episode_return, "length": episode_length,
                                              "step": self.num_timesteps, "epsilon": eps})
                        state = problem.reset()
                        episode_return, episode_length = 0.0, 0
                    else:
                        state = next_state
                    if len(self.replay_buffer) >= self.learning_starts and (t + 1) % self.train_freq == 0:
                        self.losses.append(self._train_phase())
                    ticks += 1
                    if ticks >= 500 or t == end - 1:
                        progress.update(ticks)
                        ticks = 0
                        returns = self.episode_returns
                        progress.set_postfix_str(f"episodes={len(returns)} eps={eps:.2f} return(10)="
                                                 + (f"{returns[-10:].mean():.1f}" if len(returns) else "-"))
                step = end
                logs = self._epoch_logs(first_episode, first_loss, eps)
                if eval_env is not None:
                    logs["eval_return"] = evaluate_now()
                    call["stopped"] = stop_return is not None and logs["eval_return"] >= stop_return
                self.history.append(logs)
                self.loss_arr = self.history.loss_arr
                if checkpoint_dir is not None:
                    call.update(step=step, state=state, episode_return=episode_return, episode_length=episode_length)
                    self._write_checkpoint(checkpoint_dir, epoch)
                if any([_call_callback(cb, self, epoch, logs) for cb in callbacks]):
                    break
        finally:
            progress.close()
            self._call = None
        if eval_env is not None:
            if self.evaluations and self.evaluations[-1][0] == self.num_timesteps:
                final = self.evaluations[-1][1]
            else:
                final = evaluate_now()
            best = call["best"]
            if best is not None and final < best[0]:
                self._set_networks(best[2])
                logger.info("DQN: kept the networks of step %d (greedy mean return %.2f); the final "
                            "ones returned %.2f", best[1], best[0], final)
                self.best_evaluation = (best[1], best[0])
            else:
                self.best_evaluation = (self.num_timesteps, final)
        history = self.history.since(first_epoch)
        for cb in callbacks:
            if isinstance(cb, Callback):
                cb.on_train_end(self, history)
        return self

    def _epoch_logs(self, first_episode: int, first_loss: int, eps: float) -> Dict[str, float]:
        """An epoch's history row (host values only: the TD losses were synced per training phase)."""
        losses = self.losses[first_loss:]
        returns = self.episode_returns[first_episode:]
        return {"train_loss": float(np.mean(losses)) if losses else math.nan,
                "episodes": float(len(returns)),
                "mean_return": float(returns.mean()) if len(returns) else math.nan,
                "epsilon": eps, "steps": float(self.num_timesteps)}

    def _replay(self, problem: "_Problem", call: Dict[str, Any]) -> Tuple[np.ndarray, float, int]:
        """Bring the environment back to where the checkpointed call was: its seeded reset, then its
        recorded actions. Returns the state, the episode's return and length so far."""
        if call["reset_seed"] is None:
            logger.warning("DQN: an unseeded controller's environment cannot be replayed to the checkpoint; "
                           "resuming with a new episode")
            return problem.reset(), 0.0, 0
        state = problem.reset(seed=call["reset_seed"])
        length = 0
        for action in call["actions"][:call["step"]]:
            next_state, _, terminated, truncated = problem.step(int(action))
            length += 1
            if terminated or truncated:
                state, length = problem.reset(), 0
            else:
                state = next_state
        if length != call["episode_length"] or not np.array_equal(state, call["state"]):
            raise ValueError("cannot resume: replaying the checkpointed call's actions from its seeded reset did "
                             "not lead to the state it had reached; the environment must be deterministic given "
                             "reset(seed=...)")
        return state, call["episode_return"], length

    def _write_checkpoint(self, directory: str, epoch: int) -> None:
        """This epoch's checkpoint by `training.save_checkpoint`, replay buffer and call included."""
        call = self._call or {}
        save_checkpoint(self, directory, epoch, {"total_steps": call.get("total_steps"), "step": call.get("step")}, {},
                        save=lambda path: self.save(path, replay_buffer=True))

    def _network_arrays(self) -> Dict[str, np.ndarray]:
        """Host copies of the online and target networks' parameters, by structural name."""
        device = self.ctx[0]
        return {name: p.data(device).asnumpy() for name, p in structural_params(self).items()}

    def _set_networks(self, arrays: Dict[str, np.ndarray]) -> None:
        for name, p in structural_params(self).items():
            p.set_data(mx.nd.array(arrays[name], dtype=arrays[name].dtype))
        self._refresh_host_copy()

    @property
    def episode_returns(self) -> np.ndarray:
        """Return of every finished training episode."""
        return self.episodes["return"] if "return" in self.episodes else np.zeros(0)

    @property
    def episode_lengths(self) -> np.ndarray:
        """Length of every finished training episode."""
        return self.episodes["length"] if "length" in self.episodes else np.zeros(0)

    @property
    def episode_steps(self) -> np.ndarray:
        """Environment step count at the end of every finished training episode."""
        return self.episodes["step"] if "step" in self.episodes else np.zeros(0)

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
        self._check_problem(problem)
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

    # ------------------------------------------------------------------ state and persistence
    def extra_state(self) -> Dict[str, np.ndarray]:
        """What the controller keeps besides the networks: counters, the random generator, the
        episodes, the TD losses, the evaluations; the replay buffer when saved with
        ``replay_buffer=True`` (and in checkpoints); the progress of a checkpointed ``learn`` call."""
        _, keys, position, has_gauss, cached_gaussian = self.rng.get_state()
        state: Dict[str, np.ndarray] = {
            "counters": np.array([self.num_timesteps, self.num_updates, self.n_learn_calls], np.int64),
            "rng.keys": np.asarray(keys, np.int64),  # uint32 values; model files take int64
            "rng.rest": np.array([position, has_gauss, cached_gaussian], np.float64),
        }
        if len(self.episodes):
            state["episodes"] = np.stack([self.episodes[k] for k in _EPISODE_KEYS], axis=1)
        if self.losses:
            state["losses"] = np.asarray(self.losses, np.float64)
        if self.evaluations:
            state["evaluations"] = np.asarray(self.evaluations, np.float64)
        if self.best_evaluation is not None:
            state["best_evaluation"] = np.asarray(self.best_evaluation, np.float64)
        if self._with_replay:
            state.update({"replay." + k: v for k, v in self.replay_buffer.arrays().items()})
        if self._call is not None:
            state.update(self._call_state(self._call))
        return state

    @staticmethod
    def _call_state(call: Dict[str, Any]) -> Dict[str, np.ndarray]:
        reset_seed = -1 if call["reset_seed"] is None else call["reset_seed"]
        state: Dict[str, np.ndarray] = {
            "call.ints": np.array([call["start"], call["total_steps"], call["eval_freq"], call["step"], reset_seed,
                                   call["episode_length"], int(call["stopped"]), call["first_epoch"]], np.int64),
            "call.episode_return": np.array([call["episode_return"]], np.float64),
            "call.state": np.asarray(call["state"], np.float32)}
        if call["actions"] is not None and call["step"]:
            state["call.actions"] = call["actions"][:call["step"]].copy()
        if call["best"] is not None:
            mean, step, arrays = call["best"]
            state["call.best"] = np.array([mean, step], np.float64)
            state.update({"call.best_params." + name: value for name, value in arrays.items()})
        return state

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        """Restore what `extra_state` returned. A state without the replay buffer leaves an empty one."""
        state = dict(state)
        try:
            self.num_timesteps, self.num_updates, self.n_learn_calls = (int(v) for v in state.pop("counters"))
            keys = np.asarray(state.pop("rng.keys")).astype(np.uint32)
            position, has_gauss, cached_gaussian = state.pop("rng.rest").tolist()
        except KeyError as err:
            raise ValueError(f"the state of a {type(self).__name__} lacks {err}") from None
        self.rng.set_state(("MT19937", keys, int(position), int(has_gauss), float(cached_gaussian)))
        episodes = state.pop("episodes", None)
        self.episodes = History() if episodes is None else History(
            {k: episodes[:, i].tolist() for i, k in enumerate(_EPISODE_KEYS)})
        self.losses = state.pop("losses", np.zeros(0)).tolist()
        self.evaluations = [(int(s), float(m)) for s, m in state.pop("evaluations", np.zeros((0, 2))).tolist()]
        best = state.pop("best_evaluation", None)
        self.best_evaluation = None if best is None else (int(best[0]), float(best[1]))
        self.replay_buffer = ReplayBuffer(self.buffer_size, self.state_shape)
        replay = {k[len("replay."):]: state.pop(k) for k in list(state) if k.startswith("replay.")}
        if replay:
            self.replay_buffer.restore(replay)
        self._interrupted_call = None
        ints = state.pop("call.ints", None)
        if ints is not None:
            (start, total_steps, eval_freq, step, reset_seed, episode_length, stopped,
             first_epoch) = (int(v) for v in ints)
            call: Dict[str, Any] = {"start": start, "total_steps": total_steps, "eval_freq": eval_freq, "step": step,
                    "reset_seed": None if reset_seed < 0 else reset_seed, "episode_length": episode_length,
                    "stopped": bool(stopped), "first_epoch": first_epoch,
                    "episode_return": float(state.pop("call.episode_return")[0]),
                    "state": state.pop("call.state"),
                    "actions": state.pop("call.actions", np.zeros(0, np.int32)).astype(np.int32), "best": None}
            best_score = state.pop("call.best", None)
            if best_score is not None:
                arrays = {k[len("call.best_params."):]: state.pop(k) for k in list(state)
                          if k.startswith("call.best_params.")}
                call["best"] = (float(best_score[0]), int(best_score[1]), arrays)
            self._interrupted_call = call
        if state:
            raise ValueError(f"unexpected entries in the state of a {type(self).__name__}: {sorted(state)}")

    def load_state_dict(self, state: Mapping[str, Any], source: str = "the state") -> None:
        super().load_state_dict(state, source)
        self._refresh_host_copy()

    def save(self, path: str, replay_buffer: bool = False) -> None:
        """Write to one file (atomically, `ObservableModel.save`): hyper-parameters and the Q-network's
        description, the online and target networks, the optimizer state, the random generator, the
        counters, the episodes and evaluations; and, with ``replay_buffer=True``, the stored
        transitions (``len(replay_buffer)`` of them, about ``2 * state_size + 3`` floats each). A
        controller loaded (`load`) from a file with its buffer carries on learning exactly as the
        saved one would have. A Q-network around a plain Gluon block cannot be described in a file:
        then ``save`` raises ``TypeError`` and ``save_parameters``/``load_parameters`` (into an
        identically built controller) keep both networks."""
        self._with_replay = bool(replay_buffer)
        try:
            super().save(path)
        finally:
            self._with_replay = False
