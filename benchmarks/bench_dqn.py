"""Deep Q-learning: `DQNController` on gymnasium CartPole-v1, MLP Q-network 4-256-256-2.

- acting: environment steps/s of the greedy loop (one Q-network call per step on one state), through
  the numpy copy of the dense network that ``learn`` uses, the hybridized network and the imperative
  one; the environment alone is the ceiling;
- gradient updates/s (replay batch 64: TD target from the target network, Huber loss, backward,
  global-norm clipping, Adam), hybridized vs imperative, against `NumpyDQNStep`, the same update
  written in plain numpy float32;
- the whole ``learn`` loop with the default (Stable-Baselines3 zoo) settings: environment steps/s
  including its training phases (without evaluations, ``eval_env=False``);
- the README's recipe, ``DQNController.for_env(env, seed=s).learn(env, total_steps=50_000)`` with no
  ``eval_env`` (``learn`` evaluates on its own copy of the environment and keeps the best networks),
  seeds 0-4: the mean greedy return of the networks it ends with over 100 episodes of a fresh
  CartPole-v1 seeded apart from the training evaluations, the step of the kept networks, the time.
"""
from __future__ import annotations

import time
from typing import Callable, List, Sequence

import numpy as np

from .common import Table, fmt_rate, fmt_ratio, interleaved_best, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 70

__all__ = ["NAME", "run", "recipe", "NumpyDQNStep"]

NAME = "dqn"


class NumpyDQNStep:
    """The DQN update in plain numpy float32, the gradient-update baseline.

    MLP ``state -> 256 -> 256 -> n_actions`` (ReLU) with a target copy; one step computes
    ``y = r + gamma (1 - done) max_a Q_target(s', a)``, the Huber loss of ``Q(s, a) - y``, its gradient
    by hand, clips the global norm of the mean gradient to 10 and applies Adam - what
    ``DQNController.train_step`` does.
    """

    def __init__(self, n_in: int, n_actions: int, hidden: int = 256, lr: float = 2.3e-3, seed: int = 0) -> None:
        rng = np.random.RandomState(seed)
        dims = [n_in, hidden, hidden, n_actions]
        self.params: List[np.ndarray] = []
        for a, b in zip(dims[:-1], dims[1:]):
            limit = np.sqrt(6.0 / (a + b))
            self.params += [rng.uniform(-limit, limit, (b, a)).astype(np.float32), np.zeros(b, np.float32)]
        self.target = [p.copy() for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.t, self.gamma = lr, 0, np.float32(0.99)

    @staticmethod
    def forward(params: List[np.ndarray], x: np.ndarray):
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1.T + b1, 0)
        h2 = np.maximum(h1 @ w2.T + b2, 0)
        return h1, h2, h2 @ w3.T + b3

    def step(self, s, a, r, s2, done) -> float:
        n = len(s)
        y = r + self.gamma * (1 - done) * self.forward(self.target, s2)[2].max(axis=1)
        h1, h2, q = self.forward(self.params, s)
        err = q[np.arange(n), a] - y
        d_q = np.zeros_like(q)
        d_q[np.arange(n), a] = np.clip(err, -1, 1) / n  # Huber gradient, batch mean
        w1, b1, w2, b2, w3, b3 = self.params
        d_h2 = (d_q @ w3) * (h2 > 0)
        d_h1 = (d_h2 @ w2) * (h1 > 0)
        grads = [d_h1.T @ s, d_h1.sum(0), d_h2.T @ h1, d_h2.sum(0), d_q.T @ h2, d_q.sum(0)]
        norm = np.sqrt(sum(float((g * g).sum()) for g in grads))
        scale = np.float32(min(1.0, 10.0 / (norm + 1e-12)))
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - 0.999 ** self.t) / (1 - 0.9 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            g = g * scale
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= np.float32(lr_t) * m / (np.sqrt(v) + np.float32(1e-8))
        return float(np.abs(err).mean())


def _acting_rate(act: Callable[[np.ndarray], int], steps: int) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(act(obs))
        if terminated or truncated:
            obs, _ = env.reset()
    return steps / (time.perf_counter() - start)


#: seed of the 100 final evaluation episodes: not the one ``learn`` evaluates with (derived from the
#: controller's seed), so the kept networks are judged on episodes they were not selected on.
FINAL_EVALUATION_SEED = 12345


def recipe(seeds: Sequence[int] = (0, 1, 2, 3, 4), total_steps: int = 50_000, episodes: int = 100) -> Table:
    """The README's recipe on CartPole-v1 for each seed: ``for_env(env, seed=s).learn(env,
    total_steps)`` (defaults, no ``eval_env``), then ``evaluate`` on a fresh environment over
    ``episodes`` episodes from ``FINAL_EVALUATION_SEED``."""
    import gymnasium as gym

    from accelbrainbase.controllers import DQNController

    table = Table(f"DQN - the README recipe: `DQNController.for_env(env, seed=s).learn(env, "
                  f"total_steps={total_steps:_})`, no eval_env; greedy return over {episodes} fresh CartPole-v1 "
                  f"episodes (seeds {FINAL_EVALUATION_SEED}...)",
                  ["seed", "mean return", "min return", "kept networks of step", "their evaluation",
                   "final networks' evaluation", "learn wall s", "learn CPU s"])
    means = []
    for seed in seeds:
        env = gym.make("CartPole-v1")
        dqn = DQNController.for_env(env, seed=seed)
        wall, cpu = time.perf_counter(), time.process_time()
        dqn.learn(env, total_steps=total_steps, verbose=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        mean = dqn.evaluate(gym.make("CartPole-v1"), episodes=episodes, seed=FINAL_EVALUATION_SEED)
        means.append(mean)
        kept_step, kept_mean = dqn.best_evaluation
        table.add(seed, f"{mean:.1f}", f"{dqn.last_evaluation.min():.0f}", f"{kept_step:,}", f"{kept_mean:.1f}",
                  f"{dqn.evaluations[-1][1]:.1f}", f"{wall:.0f}", f"{cpu:.0f}")
    table.notes.append(f"mean over the seeds {np.mean(means):.1f}, worst {min(means):.1f}; `learn` evaluates every "
                       "1000 steps over 20 episodes (its defaults) on `gymnasium.make(env.spec)`; CPU s = all "
                       "threads of the process")
    return table


def run(quick: bool = False) -> List[Table]:
    """Measure acting, gradient updates and the whole learning loop on CartPole-v1."""
    import gymnasium as gym
    import mxnet as mx

    from accelbrainbase.controllers import DQNController

    env = gym.make("CartPole-v1")
    act_steps = 200 if quick else 5000
    updates = 5 if quick else 300
    rounds = 1 if quick else 3

    dqn = DQNController.for_env(env, seed=0)
    imperative = DQNController.for_env(env, seed=0, hybridize=False)
    host = dqn.q_network.host_policy()
    acting = Table(f"DQN - acting: CartPole-v1 environment steps/s, greedy, one state per call "
                   f"(best of {rounds} x {act_steps} steps)",
                   ["policy", "env steps/s", "vs environment alone"])
    rates = {
        "environment alone (constant action)": lambda: _acting_rate(lambda s: 0, act_steps),
        "numpy copy of the MLP (`learn`'s acting path)": lambda: _acting_rate(lambda s: int(host(s[None])[0].argmax()),
                                                                               act_steps),
        "hybridized MLP": lambda: _acting_rate(lambda s: int(dqn.q_network.inference(s[None])[0].argmax()), act_steps),
        "imperative MLP": lambda: _acting_rate(lambda s: int(imperative.q_network.inference(s[None])[0].argmax()),
                                               act_steps),
    }
    best = {name: max(fn() for _ in range(rounds)) for name, fn in rates.items()}
    ceiling = best["environment alone (constant action)"]
    for name, rate in best.items():
        acting.add(name, fmt_rate(rate), fmt_ratio(rate / ceiling))

    # Gradient updates on a replay buffer filled by a random policy.
    for agent in (dqn, imperative):
        agent.exploration_initial_eps = agent.exploration_final_eps = 1.0
        agent.learning_starts = 10 ** 9
        agent.learn(env, total_steps=300 if quick else 2000, eval_env=False, verbose=False)
    rng = np.random.RandomState(0)
    idx = dqn.replay_buffer.sample_indices((updates, dqn.batch_size), rng)
    packed = mx.nd.array(dqn.replay_buffer.packed(idx))
    buf = dqn.replay_buffer
    baseline = NumpyDQNStep(4, 2)
    batches = [(buf.states[i], buf.actions[i].astype(np.int64), buf.rewards[i], buf.next_states[i], buf.terminated[i])
               for i in idx]

    def ours(agent: DQNController) -> Callable[[], None]:
        def go() -> None:
            for i in range(updates):
                agent.train_step(packed[i])
        return go

    def numpy_steps() -> None:
        for batch in batches:
            baseline.step(*batch)

    times = interleaved_best({"hybridized": ours(dqn), "imperative": ours(imperative), "numpy": numpy_steps},
                             rounds=rounds)
    ups = {name: updates / t for name, t in times.items()}
    grads = Table(f"DQN - gradient updates/s (batch {dqn.batch_size}, MLP 4-256-256-2, Huber TD loss, clipping, "
                  f"Adam; best of {rounds} x {updates} updates)",
                  ["model", "hybridized", "imperative", "hybrid/imperative", "baseline", "baseline updates/s",
                   "ours/baseline"])
    grads.add("DQNController.train_step", fmt_rate(ups["hybridized"]), fmt_rate(ups["imperative"]),
              fmt_ratio(ups["hybridized"] / ups["imperative"]), "numpy float32 DQN step", fmt_rate(ups["numpy"]),
              fmt_ratio(ups["hybridized"] / ups["numpy"]))
    grads.notes.append(f"replay samples/s = updates/s x {dqn.batch_size}")

    loop_steps, settings = (600, dict(learning_starts=300, gradient_steps=8)) if quick else (6000, {})
    whole = Table(f"DQN - the whole `learn` loop ({loop_steps} CartPole steps; default settings: learning from "
                  "step 1000, 128 updates every 256 steps; no evaluations)",
                  ["variant", "env steps/s", "updates", "seconds"])
    for name, hybridize in (("hybridized", True), ("imperative", False)):
        agent = DQNController.for_env(env, seed=0, hybridize=hybridize, **settings)
        start = time.perf_counter()
        agent.learn(env, total_steps=loop_steps, eval_env=False, verbose=False)
        elapsed = time.perf_counter() - start
        whole.add(name, fmt_rate(loop_steps / elapsed), agent.num_updates, f"{elapsed:.1f}")
    solved = recipe(seeds=(0,), total_steps=1500, episodes=10) if quick else recipe()
    whole.notes.append(f"peak RSS of the process after the DQN benchmarks: {peak_rss_mb():.0f} MiB")
    return [acting, grads, whole, solved]
