"""DQNController: replay buffer, target network, TD targets, exploration, the controller as a model
(state API, checkpoints, bit-for-bit resume), plain Gluon Q-blocks, custom problems, and the acceptance
target: CartPole-v1 solved (mean greedy return >= 475 over 100 episodes) within 50 000 environment
steps."""
from __future__ import annotations

import os
import time

import gymnasium as gym
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from accelbrainbase.controllers import DQNController, ReplayBuffer
from accelbrainbase.gluon_internals import optimizer_of, structural_params, trainer_params
from accelbrainbase.interfaces import ControllableModel, PolicySampler
from accelbrainbase.models import FunctionApproximator, NeuralNetworks, ObservableModel
from accelbrainbase.registry import model_entry
from accelbrainbase.training import TrainingDivergedError

from .conftest import CPU_CONTEXTS


class ChainWalk(PolicySampler):
    """A corridor of ``length`` cells, one-hot states, actions 0 = left and 1 = right.

    The walker starts in cell 2. The left end pays 0.1 and ends the episode, the right end pays 1.0
    and ends it; every other step pays 0; episodes are cut after ``limit`` steps. With gamma = 0.95
    the optimal policy goes right in every cell (0.95**5 > 0.1), although random walks mostly
    end on the nearer left end.
    """

    n_actions = 2

    def __init__(self, length: int = 8, limit: int = 30) -> None:
        self.length, self.limit = length, limit
        self.state_shape = (length,)
        self.position, self.t = 2, 0

    def _state(self) -> np.ndarray:
        state = np.zeros(self.length, np.float32)
        state[self.position] = 1.0
        return state

    def reset(self, seed=None):
        self.position, self.t = 2, 0
        return self._state()

    def step(self, action):
        self.position += 1 if action == 1 else -1
        self.t += 1
        if self.position == 0:
            return self._state(), 0.1, True, False
        if self.position == self.length - 1:
            return self._state(), 1.0, True, False
        return self._state(), 0.0, False, self.t >= self.limit

    def states(self) -> np.ndarray:
        """Every non-terminal state."""
        return np.eye(self.length, dtype=np.float32)[1:-1]


def _small(seed=0, ctx=None, **kw):
    q = FunctionApproximator(NeuralNetworks(input_dim=4, hidden_dims=[16], output_dim=2, seed=seed), ctx=ctx,
                             seed=seed, learning_rate=0.01)
    defaults = dict(learning_starts=20, train_freq=10, gradient_steps=5, batch_size=16, seed=seed)
    defaults.update(kw)
    return DQNController(q, **defaults)


def _params(net):
    return {k: p.data(net.ctx[0]).asnumpy().copy() for k, p in structural_params(net).items()}


def _packed_batch(dqn, n=16, seed=0):
    rng = np.random.RandomState(seed)
    buf = ReplayBuffer(n, dqn.state_shape)
    for _ in range(n):
        buf.add(rng.randn(*dqn.state_shape), rng.randint(dqn.n_actions), rng.randn(), rng.randn(*dqn.state_shape),
                rng.rand() < 0.3)
    return mx.nd.array(buf.packed(np.arange(n)), ctx=dqn.ctx[0])


# ---------------------------------------------------------------------- replay buffer
def test_replay_buffer_keeps_the_newest_transitions_up_to_its_capacity():
    buf = ReplayBuffer(5, (2,))
    for i in range(7):
        buf.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), i == 6)
        assert len(buf) == min(i + 1, 5)
    assert sorted(buf.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]  # 0 and 1 overwritten, oldest first
    assert buf.rewards[0] == 5.0 and buf.rewards[1] == 6.0 and buf.position == 2
    i = int(np.where(buf.rewards == 6.0)[0][0])
    np.testing.assert_array_equal(buf.states[i], [6, 6])
    np.testing.assert_array_equal(buf.next_states[i], [7, 7])
    assert buf.terminated[i] == 1.0 and buf.actions[i] == 0
    packed = buf.packed(np.array([[i]]))
    np.testing.assert_array_equal(packed, [[[6, 6, 0, 6, 7, 7, 1]]])


def test_replay_buffer_samples_uniformly_and_reproducibly():
    buf = ReplayBuffer(100, (3,))
    for i in range(10):
        buf.add(np.full(3, i), 0, float(i), np.zeros(3), False)
    batch = buf.sample(20_000, np.random.RandomState(0))
    counts = np.bincount(batch["rewards"].astype(int), minlength=10)
    assert counts.min() > 0  # only stored transitions, every one of them
    chi2 = ((counts - 2000.0) ** 2 / 2000.0).sum()
    assert chi2 < 27.9, counts  # 99.9 % quantile of chi-square with 9 degrees of freedom
    np.testing.assert_array_equal(batch["states"][:, 0], batch["rewards"])  # rows stay together
    again = buf.sample(20_000, np.random.RandomState(0))
    np.testing.assert_array_equal(again["rewards"], batch["rewards"])
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, (3,)).sample(2, np.random.RandomState(0))
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, (3,))


# ---------------------------------------------------------------------- target network
def test_hard_target_update_copies_every_c_gradient_steps():
    dqn = _small(target_update_interval=3, tau=1.0)
    start = _params(dqn.target_network)
    for key, value in _params(dqn.q_network).items():
        np.testing.assert_array_equal(start[key], value)  # a copy at the start
    batch = _packed_batch(dqn)
    for _ in (1, 2):
        dqn.train_step(batch)
        online, target = _params(dqn.q_network), _params(dqn.target_network)
        for key in start:
            np.testing.assert_array_equal(target[key], start[key])  # frozen ...
        assert any(not np.array_equal(online[k], target[k]) for k in start)  # ... while the online net moves
    dqn.train_step(batch)
    online, target = _params(dqn.q_network), _params(dqn.target_network)
    for key in start:
        np.testing.assert_array_equal(target[key], online[key])  # equal after C = 3 steps


def test_soft_target_update_is_the_tau_mix():
    dqn = _small(target_update_interval=1, tau=0.1)
    batch = _packed_batch(dqn)
    dqn.train_step(batch)
    dqn.train_step(batch)
    before = _params(dqn.target_network)
    dqn.train_step(batch)
    online, target = _params(dqn.q_network), _params(dqn.target_network)
    for key in before:
        np.testing.assert_allclose(target[key], 0.1 * online[key] + 0.9 * before[key], rtol=1e-5, atol=1e-7)
        assert not np.allclose(target[key], online[key])


def test_the_target_network_is_independent_and_takes_no_gradient():
    dqn = _small()
    assert all(p.grad_req == "null" for p in dqn.target_network.collect_params().values())
    online = structural_params(dqn.q_network)
    for key, p in structural_params(dqn.target_network).items():
        assert p is not online[key]


def test_the_controller_is_a_model_whose_forward_is_the_online_network(tmp_path):
    dqn = _small()
    assert isinstance(dqn, ObservableModel) and isinstance(dqn, ControllableModel)
    names = set(structural_params(dqn))
    assert {n.split(".")[0] for n in names} == {"q_network", "target_network"}  # both saved with it
    states = mx.nd.array(np.random.RandomState(0).randn(5, 4))
    np.testing.assert_array_equal(dqn(states).asnumpy(), dqn.q_network(states).asnumpy())
    assert isinstance(dqn.inference(states), mx.nd.NDArray) and dqn.inference(states[0]).shape == (2,)
    dqn.learn(gym.make("CartPole-v1"), total_steps=100, verbose=False)
    # One trainer over the online network, stepped once per gradient step (training.gradient_step).
    assert sorted(dqn.trainers) == ["q_network"] and dqn.num_updates == 5 * (100 // 10 - 1)
    assert optimizer_of(dqn.trainers["q_network"]).num_update == dqn.num_updates
    assert {p.name for p in trainer_params(dqn.trainers["q_network"])} == set(
        dqn.q_network.collect_params().keys())
    # Gluon's own parameter files hold both networks.
    dqn.save_parameters(str(tmp_path / "bare.params"))
    twin = _small(seed=1)
    twin.load_parameters(str(tmp_path / "bare.params"))
    for net in ("q_network", "target_network"):
        expected = _params(getattr(dqn, net))
        for key, value in _params(getattr(twin, net)).items():
            np.testing.assert_array_equal(value, expected[key])


def test_a_plain_gluon_q_block_with_deferred_shapes_is_a_q_network(tmp_path):
    block = nn.HybridSequential()
    block.add(nn.Dense(16, activation="relu"), nn.Dense(2))  # no in_units: shapes deferred
    q = FunctionApproximator(block, input_shape=(4,), learning_rate=0.01, seed=0)
    dqn = DQNController(q, learning_starts=20, train_freq=10, gradient_steps=5, batch_size=16, seed=0)
    assert dqn.q_network.model[0].weight.shape == (16, 4) and dqn.target_network.model[0].weight.shape == (16, 4)
    dqn.learn(gym.make("CartPole-v1"), total_steps=100, verbose=False)
    assert dqn.num_updates > 0 and np.isfinite(dqn.losses).all()
    assert dqn.q_network.host_policy() is not None  # acting runs the numpy copy of the dense chain
    with pytest.raises(TypeError, match="save_parameters"):
        dqn.save(str(tmp_path / "dqn.params"))


# ---------------------------------------------------------------------- TD targets
def _diverged_pair(double_dqn):
    """A controller whose target net differs from its online net (hard updates never reached)."""
    dqn = _small(double_dqn=double_dqn, target_update_interval=10_000, seed=1)
    batch = _packed_batch(dqn, seed=5)
    for _ in range(30):
        dqn.train_step(batch)
    return dqn


@pytest.mark.parametrize("double_dqn", [False, True])
def test_td_target_matches_numpy(double_dqn):
    dqn = _diverged_pair(double_dqn)
    rng = np.random.RandomState(3)
    s2 = rng.randn(64, 4).astype(np.float32)
    r = rng.randn(64).astype(np.float32)
    done = (rng.rand(64) < 0.3).astype(np.float32)
    q_target = dqn.target_network.inference(s2)
    q_online = dqn.q_network.inference(s2)
    if double_dqn:
        bootstrap = q_target[np.arange(64), q_online.argmax(axis=1)]
    else:
        bootstrap = q_target.max(axis=1)
    expected = r + dqn.gamma * (1 - done) * bootstrap
    np.testing.assert_allclose(dqn.td_target(s2, r, done), expected, rtol=1e-5, atol=1e-5)
    assert np.all(dqn.td_target(s2, r, np.ones(64)) == r)  # terminal: no bootstrap
    # The two variants really differ on this data (so the check above can tell them apart).
    other = r + dqn.gamma * (1 - done) * (q_target.max(axis=1) if double_dqn
                                         else q_target[np.arange(64), q_online.argmax(axis=1)])
    assert np.abs(other - expected).max() > 1e-3


@pytest.mark.parametrize("double_dqn", [False, True])
def test_training_loss_is_the_huber_td_error(double_dqn):
    dqn = _diverged_pair(double_dqn)
    packed = _packed_batch(dqn, seed=9)
    arr = packed.asnumpy()
    s, a, r, s2, done = arr[:, :4], arr[:, 4].astype(int), arr[:, 5], arr[:, 6:10], arr[:, 10]
    y = dqn.td_target(s2, r, done)
    err = np.abs(dqn.q_network.inference(s)[np.arange(len(a)), a] - y)
    expected = np.where(err > 1, err - 0.5, 0.5 * err ** 2)
    loss = dqn.td_loss(packed).asnumpy()
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-5)


def test_truncation_bootstraps_and_termination_masks():
    chain = ChainWalk(length=40, limit=3)  # ends only by truncation unless it walks off the left
    q = FunctionApproximator(NeuralNetworks(input_dim=40, hidden_dims=[8], output_dim=2, seed=0), seed=0)
    dqn = DQNController(q, learning_starts=10_000, seed=0)
    dqn.learn(chain, total_steps=300, verbose=False)
    buf = dqn.replay_buffer
    n = len(buf)
    left_end = buf.next_states[:n, 0] == 1
    assert left_end.any() and (buf.terminated[:n][left_end] == 1).all()
    assert (buf.terminated[:n][~left_end] == 0).all()  # time-limit cuts are not terminal
    assert (dqn.episode_lengths <= 3).all() and len(dqn.episode_returns) >= 100


# ---------------------------------------------------------------------- exploration and acting
def test_epsilon_decays_linearly_then_stays():
    dqn = _small(exploration_fraction=0.5, exploration_initial_eps=1.0, exploration_final_eps=0.1)
    assert dqn.epsilon(0, 1000) == 1.0
    assert dqn.epsilon(250, 1000) == pytest.approx(0.55)
    assert dqn.epsilon(500, 1000) == pytest.approx(0.1)
    assert dqn.epsilon(999, 1000) == pytest.approx(0.1)


def test_act_and_inference_shapes_and_exploration():
    dqn = _small()
    assert isinstance(dqn, ControllableModel)
    states = np.random.RandomState(0).randn(50, 4).astype(np.float32)
    q = dqn.inference(states)
    assert q.shape == (50, 2) and dqn.inference(states[0]).shape == (2,)
    greedy = dqn.act(states)
    np.testing.assert_array_equal(greedy, q.argmax(axis=1))
    assert isinstance(dqn.act(states[0]), int)
    random = np.stack([dqn.act(states, epsilon=1.0) for _ in range(20)])
    assert 0.3 < random.mean() < 0.7  # uniform over the 2 actions
    with pytest.raises(ValueError, match=r"expects \(4,\)"):
        dqn.act(np.zeros(5))


# ---------------------------------------------------------------------- custom problems
@pytest.mark.slow
def test_a_custom_policy_sampler_problem_is_learned():
    chain = ChainWalk(length=8, limit=30)
    dqn = DQNController.for_env(chain, hidden_dims=[32], learning_rate=0.01, seed=0, gamma=0.95,
                                learning_starts=200, train_freq=20, gradient_steps=10, batch_size=32,
                                target_update_interval=50, exploration_fraction=0.5, exploration_final_eps=0.05)
    random_return = np.mean([_random_episode(chain, np.random.RandomState(i)) for i in range(200)])
    dqn.learn(chain, total_steps=4000, verbose=False)
    assert (dqn.act(chain.states()) == 1).all(), dqn.inference(chain.states())  # the optimal policy: right
    assert dqn.evaluate(chain, episodes=5) == pytest.approx(1.0)  # optimal return
    assert random_return < 0.6
    # Q-values approach the discounted optimum gamma ** (cells to the right end - 1).
    distance = np.arange(chain.length - 2, 0, -1)
    np.testing.assert_allclose(dqn.inference(chain.states())[:, 1], 0.95 ** (distance - 1), atol=0.1)


def _random_episode(chain, rng):
    chain.reset()
    while True:
        _, reward, terminated, truncated = chain.step(rng.randint(2))
        if terminated or truncated:
            return reward


# ---------------------------------------------------------------------- evaluation, persistence, contexts
def test_vectorised_evaluation_equals_one_episode_at_a_time():
    dqn = _small()
    env = gym.make("CartPole-v1")
    vectorised = dqn.evaluate(env, episodes=12, n_envs=5)
    returns = dqn.last_evaluation.copy()
    assert dqn.evaluate(env, episodes=12, n_envs=1) == vectorised
    np.testing.assert_array_equal(dqn.last_evaluation, returns)
    assert len(set(returns.tolist())) > 1  # seeded episodes differ from one another


def test_learning_is_reproducible_and_records_episodes():
    runs = []
    for _ in range(2):
        dqn = _small(seed=4)
        dqn.learn(gym.make("CartPole-v1"), total_steps=300, verbose=False)
        runs.append(dqn)
    np.testing.assert_array_equal(runs[0].episode_returns, runs[1].episode_returns)
    for key, value in _params(runs[0].q_network).items():
        np.testing.assert_array_equal(value, _params(runs[1].q_network)[key])
    dqn = runs[0]
    assert dqn.num_timesteps == 300 and dqn.episode_steps[-1] <= 300
    assert dqn.episode_lengths.sum() == dqn.episode_steps[-1]
    np.testing.assert_array_equal(dqn.episode_returns, dqn.episode_lengths)  # CartPole pays 1 per step
    assert dqn.num_updates == 5 * (300 // 10 - 1) and len(dqn.losses) == 300 // 10 - 1


def test_without_an_eval_env_learn_evaluates_on_its_own_copy_of_the_environment():
    """No eval_env: learn evaluates on a fresh CartPole-v1 of its own (gymnasium.make(env.spec)) -
    the evaluations an explicit gym.make("CartPole-v1") gets, and the training not disturbed (the
    same episodes and losses as without evaluation); eval_env=False: no evaluation at all. A
    PolicySampler is deep-copied."""
    runs = {}
    for name, eval_env in (("own", None), ("given", gym.make("CartPole-v1")), ("off", False)):
        dqn = _small(seed=2, target_update_interval=40)
        dqn.learn(gym.make("CartPole-v1"), total_steps=600, eval_env=eval_env, eval_freq=200, eval_episodes=5,
                  verbose=False)
        runs[name] = dqn
    own, given, off = runs["own"], runs["given"], runs["off"]
    assert [step for step, _ in own.evaluations] == [200, 400, 600]
    assert own.evaluations == given.evaluations and own.best_evaluation == given.best_evaluation
    np.testing.assert_array_equal(own.history["eval_return"], [mean for _, mean in own.evaluations])
    for key, value in _params(given.q_network).items():  # the same networks kept
        np.testing.assert_array_equal(_params(own.q_network)[key], value)
    assert off.evaluations == [] and off.best_evaluation is None and "eval_return" not in off.history.keys()
    np.testing.assert_array_equal(own.episode_returns, off.episode_returns)
    assert own.losses == off.losses and own.num_updates == off.num_updates
    chain = ChainWalk(length=8, limit=30)
    dqn = DQNController.for_env(chain, hidden_dims=[16], seed=0, learning_starts=20, train_freq=10, gradient_steps=2)
    dqn.learn(chain, total_steps=200, eval_freq=100, eval_episodes=2, verbose=False)
    assert [step for step, _ in dqn.evaluations] == [100, 200] and dqn.best_evaluation is not None


@pytest.mark.slow
def test_learn_keeps_the_networks_of_its_best_evaluation(tmp_path):
    runs = {}
    for keep_best in (False, True):
        dqn = _small(seed=0, target_update_interval=100)
        dqn.learn(gym.make("CartPole-v1"), total_steps=3000, eval_env=gym.make("CartPole-v1"), eval_freq=500,
                  eval_episodes=5, keep_best=keep_best, verbose=False)
        runs[keep_best] = dqn
    means = [mean for _, mean in runs[True].evaluations]
    assert runs[True].evaluations == runs[False].evaluations and len(means) == 6  # same training
    # Measured: 39.0, 38.8, 29.0, 54.8, 42.2, 31.8 - the last evaluation is not the best.
    assert means[-1] < max(means)
    best_step = runs[True].evaluations[int(np.argmax(means))][0]
    assert runs[True].best_evaluation == (best_step, max(means))
    assert runs[False].best_evaluation == (3000, means[-1])
    # Evaluation episodes are seeded: re-evaluating gives the recorded figure of the networks kept.
    assert runs[True].evaluate(gym.make("CartPole-v1"), episodes=5) == max(means)
    assert runs[False].evaluate(gym.make("CartPole-v1"), episodes=5) == means[-1]
    assert runs[True].num_timesteps == 3000  # the counters keep counting: only the networks go back
    runs[True].save(str(tmp_path / "dqn.params"))
    assert DQNController.load(str(tmp_path / "dqn.params")).best_evaluation == runs[True].best_evaluation


def test_save_load_round_trip(tmp_path):
    dqn = _small(double_dqn=True, target_update_interval=1000)
    dqn.learn(gym.make("CartPole-v1"), total_steps=200, verbose=False)
    path = str(tmp_path / "dqn.params")
    dqn.save(path)
    loaded = DQNController.load(path, ctx=mx.cpu(1))
    assert loaded.get_config() == dqn.get_config() and loaded.ctx == [mx.cpu(1)]
    states = np.random.RandomState(0).randn(8, 4).astype(np.float32)
    np.testing.assert_allclose(loaded.inference(states), dqn.inference(states), rtol=1e-6)
    np.testing.assert_allclose(loaded.target_network.inference(states), dqn.target_network.inference(states),
                               rtol=1e-6)
    assert not np.allclose(dqn.target_network.inference(states), dqn.inference(states))  # both nets matter
    np.testing.assert_array_equal(loaded.episode_returns, dqn.episode_returns)
    assert loaded.num_timesteps == 200
    loaded.learn(gym.make("CartPole-v1"), total_steps=50, verbose=False)  # and it trains on
    with pytest.raises(ValueError, match="not written by"):
        mx.nd.save(str(tmp_path / "other.params"), {"x": mx.nd.zeros(1)})
        DQNController.load(str(tmp_path / "other.params"))


def test_a_loaded_controller_carries_on_exactly_like_the_saved_one(tmp_path):
    dqn = _small(seed=3, target_update_interval=40)
    dqn.learn(gym.make("CartPole-v1"), total_steps=300, verbose=False)
    path = str(tmp_path / "dqn.params")
    dqn.save(path, replay_buffer=True)
    loaded = DQNController.load(path)
    assert len(loaded.replay_buffer) == len(dqn.replay_buffer) == 300
    np.testing.assert_array_equal(loaded.replay_buffer.states[:300], dqn.replay_buffer.states[:300])
    for controller in (dqn, loaded):  # the same continuation: buffer, optimizer, generator and counters
        controller.learn(gym.make("CartPole-v1"), total_steps=200, verbose=False)
    for net in ("q_network", "target_network"):
        expected = _params(getattr(dqn, net))
        for key, value in _params(getattr(loaded, net)).items():
            np.testing.assert_array_equal(value, expected[key], err_msg=f"{net} {key}")
    np.testing.assert_array_equal(loaded.episode_returns, dqn.episode_returns)
    # Without the buffer, the file is the networks' size and a loaded controller starts an empty one.
    dqn.save(str(tmp_path / "small.params"))
    assert len(DQNController.load(str(tmp_path / "small.params")).replay_buffer) == 0
    assert os.path.getsize(str(tmp_path / "small.params")) < os.path.getsize(path)


class _Interrupt(Exception):
    pass


def _interrupt_after(epoch):
    def callback(model, done, logs):
        if done == epoch:
            raise _Interrupt

    return callback


def _assert_same_controllers(a, b):
    for net in ("q_network", "target_network"):
        expected = _params(getattr(a, net))
        for key, value in _params(getattr(b, net)).items():
            np.testing.assert_array_equal(value, expected[key], err_msg=f"{net} {key}")
    np.testing.assert_array_equal(a.loss_arr, b.loss_arr)
    assert a.history.to_dict().keys() == b.history.to_dict().keys()
    for key in a.history.keys():
        np.testing.assert_array_equal(a.history[key], b.history[key], err_msg=key)
    for key in ("return", "length", "step", "epsilon"):
        np.testing.assert_array_equal(a.episodes[key], b.episodes[key], err_msg=key)
    assert (a.losses, a.evaluations, a.best_evaluation) == (b.losses, b.evaluations, b.best_evaluation)
    assert (a.num_timesteps, a.num_updates, a.n_learn_calls) == (b.num_timesteps, b.num_updates, b.n_learn_calls)
    np.testing.assert_array_equal(a.replay_buffer.states, b.replay_buffer.states)
    np.testing.assert_array_equal(a.rng.get_state()[1], b.rng.get_state()[1])


@pytest.mark.parametrize("own_eval_env", [False, True], ids=["eval_env", "its-own-eval-env"])
def test_a_resumed_run_equals_the_uninterrupted_run(tmp_path, own_eval_env):
    """Checkpoints after every epoch of eval_freq steps (CartPole: the crash is mid-episode), a crash
    after epoch 2, a fresh controller resumed from the directory: the uninterrupted run bit for bit,
    evaluations and the networks kept by keep_best included - with an eval_env, and with the
    evaluation environment learn makes itself (made anew by the resumed call)."""
    def run(**kwargs):
        dqn = _small(seed=3, target_update_interval=40)
        eval_env = None if own_eval_env else gym.make("CartPole-v1")
        dqn.learn(gym.make("CartPole-v1"), total_steps=400, eval_env=eval_env, eval_freq=100,
                  eval_episodes=3, verbose=False, **kwargs)
        return dqn

    full = run()
    assert full.loss_arr.shape == (4, 2) and np.isfinite(full.loss_arr[:, 0]).all()
    assert list(full.history["steps"]) == [100, 200, 300, 400] and len(full.evaluations) == 4
    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(_Interrupt):
        run(checkpoint_dir=ckpt, callbacks=[_interrupt_after(1)])
    assert DQNController.load(ckpt).num_timesteps == 200  # the directory opens as a model file
    resumed = run(checkpoint_dir=ckpt, resume=True)
    _assert_same_controllers(full, resumed)
    with pytest.raises(ValueError, match="total_steps=400"):
        _small(seed=3).learn(gym.make("CartPole-v1"), total_steps=300, eval_freq=100, checkpoint_dir=ckpt,
                             resume=True, verbose=False)


def test_the_contract_examples_resume_bit_for_bit(tmp_path):
    """The contract suite's checkpoint-and-resume procedure (its first half; the registry says why
    the second half does not apply) on the registered example and its learn function."""
    entry = model_entry("dqn")

    def build():
        kwargs, x, y = entry.example(np.random.RandomState(0))
        return entry.cls(**kwargs, seed=0), x, y

    full, x, y = build()
    entry.learn(full, x, y, epochs=4, batch_size=8)
    assert full.loss_arr.shape == (4, 2)
    interrupted, _, _ = build()
    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(_Interrupt):
        entry.learn(interrupted, x, y, epochs=4, batch_size=8, checkpoint_dir=ckpt, callbacks=[_interrupt_after(1)])
    resumed, _, _ = build()
    entry.learn(resumed, x, y, epochs=4, batch_size=8, checkpoint_dir=ckpt, resume=True)
    _assert_same_controllers(full, resumed)


@pytest.mark.parametrize("ctx_name", sorted(CPU_CONTEXTS))
def test_learns_on_distinct_cpu_contexts(ctx_name):
    ctx = CPU_CONTEXTS[ctx_name]
    dqn = _small(ctx=ctx)
    dqn.learn(gym.make("CartPole-v1"), total_steps=100, verbose=False)
    contexts = set(ctx if isinstance(ctx, list) else [ctx])
    for net in (dqn.q_network, dqn.target_network):
        for p in net.collect_params().values():
            assert set(p.list_ctx()) == contexts
    assert np.isfinite(dqn.losses).all() and dqn.num_updates > 0
    if isinstance(ctx, list):  # the copies on every device stay identical
        for p in dqn.q_network.collect_params().values():
            a, b = (d.asnumpy() for d in p.list_data())
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_bad_settings_and_environments_are_refused():
    with pytest.raises(TypeError, match="FunctionApproximator"):
        DQNController(NeuralNetworks(input_dim=4, output_dim=2))
    with pytest.raises(ValueError, match="gamma"):
        _small(gamma=1.5)
    with pytest.raises(ValueError, match="tau"):
        _small(tau=0.0)
    dqn = _small()
    with pytest.raises(ValueError, match="states"):
        dqn.learn(ChainWalk(), total_steps=10, verbose=False)
    with pytest.raises(TypeError, match="discrete"):
        DQNController.for_env(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="eval_env=False"):
        dqn.learn(gym.make("CartPole-v1"), total_steps=10, stop_return=100, eval_env=False, verbose=False)
    with pytest.raises(ValueError, match="eval_env=True"):
        dqn.learn(gym.make("CartPole-v1"), total_steps=10, eval_env=True, verbose=False)
    with pytest.raises(TypeError, match="cannot make one of this _Uncopyable.*pass eval_env="):
        dqn.learn(_Uncopyable(), total_steps=10, verbose=False)
    dqn.learn(_Uncopyable(), total_steps=10, eval_env=False, verbose=False)  # as asked: no evaluation
    assert dqn.num_timesteps == 10 and dqn.evaluations == []


class _Uncopyable:
    """A gymnasium-style environment built by hand (no spec) that cannot be deep-copied."""

    def __init__(self):
        import threading

        from gymnasium.envs.classic_control import CartPoleEnv

        self.env = CartPoleEnv()
        self.action_space, self.observation_space = self.env.action_space, self.env.observation_space
        self.lock = threading.Lock()

    def reset(self, seed=None):
        return self.env.reset(seed=seed)

    def step(self, action):
        return self.env.step(action)


def test_divergence_is_reported():
    dqn = _small(learning_starts=10, clip_norm=None)
    dqn.q_network.learning_rate = 1e30
    with pytest.raises(TrainingDivergedError, match="TD loss"):
        dqn.learn(gym.make("CartPole-v1"), total_steps=200, verbose=False)


# ---------------------------------------------------------------------- acceptance
@pytest.fixture(scope="module")
def cartpole_agent():
    """The acceptance run, the README's recipe: for_env defaults, seed 0, ``learn(env,
    total_steps=50_000)`` with no eval_env (learn evaluates on its own copy of the environment and
    keeps the networks of its best evaluation)."""
    env = gym.make("CartPole-v1")
    dqn = DQNController.for_env(env, seed=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    dqn.learn(env, total_steps=50_000, verbose=False)
    dqn.learn_seconds = time.perf_counter() - start
    # CPU time of this process, all its threads: the wall time on an idle machine is at most about
    # this, while the wall time on a machine shared with other jobs says little about the code.
    dqn.learn_cpu_seconds = time.process_time() - cpu_start
    return dqn


@pytest.mark.slow
def test_a_dqn_with_a_plain_gluon_q_block_learns_cartpole():
    """A Q-network that is a plain Gluon block (shapes deferred, nothing of the zoo) learns CartPole
    with the default settings: a greedy mean return >= 195 (CartPole-v0's "solved") over 20 fresh
    episodes, within the acceptance test's budget (the run stops at the first evaluation that
    reaches 195; when that happens varies with the CPU's rounding, see the README)."""
    block = nn.HybridSequential()
    block.add(nn.Dense(256, activation="relu"), nn.Dense(256, activation="relu"), nn.Dense(2))
    q = FunctionApproximator(block, input_shape=(4,), learning_rate=2.3e-3, seed=0)
    dqn = DQNController(q, seed=0)
    dqn.learn(gym.make("CartPole-v1"), total_steps=50_000, eval_env=gym.make("CartPole-v1"), eval_freq=1000,
              eval_episodes=20, stop_return=195, verbose=False)
    mean_return = dqn.evaluate(gym.make("CartPole-v1"), episodes=20, seed=12345)
    print(f"\nplain Gluon Q-block, CartPole-v1: greedy mean return {mean_return:.1f} over 20 episodes after "
          f"{dqn.num_timesteps} steps")
    assert dqn.num_timesteps <= 50_000
    assert mean_return >= 195, dqn.evaluations


@pytest.mark.slow
def test_dqn_solves_cartpole_within_50k_steps(cartpole_agent):
    """The recipe ends with a good policy without an eval_env: >= 475 over 100 fresh episodes seeded
    apart from the training evaluations (seeds 0-4: `python -m benchmarks dqn`)."""
    dqn = cartpole_agent
    assert dqn.num_timesteps == 50_000
    # Evaluated every 1000 steps (the default) on an environment like gym.make("CartPole-v1"):
    # re-evaluating the kept networks there gives the evaluation they were kept for.
    assert [step for step, _ in dqn.evaluations] == list(range(1000, 50_001, 1000))
    kept_step, kept_mean = dqn.best_evaluation
    assert kept_mean == max(mean for _, mean in dqn.evaluations)
    assert dqn.evaluate(gym.make("CartPole-v1"), episodes=20) == kept_mean
    start = time.perf_counter()
    mean_return = dqn.evaluate(gym.make("CartPole-v1"), episodes=100, seed=12345)
    print(f"\nCartPole-v1: mean greedy return {mean_return:.1f} over 100 episodes (min "
          f"{dqn.last_evaluation.min():.0f}) with the networks of step {kept_step} (the last ones: "
          f"{dqn.evaluations[-1][1]:.1f} over 20 episodes), {dqn.num_updates} updates; "
          f"learn {dqn.learn_seconds:.0f} s wall, {dqn.learn_cpu_seconds:.0f} s CPU; "
          f"evaluation {time.perf_counter() - start:.1f} s")
    assert len(dqn.last_evaluation) == 100
    assert mean_return >= 475, (mean_return, dqn.evaluations)
    assert dqn.learn_cpu_seconds < 600
