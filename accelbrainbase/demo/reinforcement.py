"""Demo section ``reinforcement``: a DQN agent learns gymnasium CartPole-v1."""
from __future__ import annotations

import os
import time
from typing import List

import numpy as np

__all__ = ["section", "plot_learning_curve"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 70


def plot_learning_curve(ax, dqn, title: str, target: float = 475.0) -> None:
    """Episode returns against environment steps, their moving average and the greedy evaluations."""
    steps, returns = dqn.episode_steps, dqn.episode_returns
    ax.plot(steps, returns, ".", ms=2, alpha=0.4, label="training episode (ε-greedy)")
    if len(returns) >= 10:
        window = np.ones(10) / 10
        ax.plot(steps[9:], np.convolve(returns, window, mode="valid"), label="mean of 10 episodes")
    if dqn.evaluations:
        eval_steps, eval_returns = zip(*dqn.evaluations)
        ax.plot(eval_steps, eval_returns, "o-", label="greedy evaluation")
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"solved ({target:g})")
    ax.set(title=title, xlabel="environment step", ylabel="episode return")
    ax.legend(fontsize=8, loc="upper left")


def section(out_dir: str, quick: bool) -> List[str]:
    """DQN (replay buffer, target network, ε-greedy) on gymnasium CartPole-v1."""
    import gymnasium as gym
    import matplotlib.pyplot as plt

    from ..context import available_ctx
    from ..controllers import DQNController

    env = gym.make("CartPole-v1")
    start = time.time()
    if quick:
        # A short run: few updates, enough to see the returns rise above a random policy's ~22.
        dqn = DQNController.for_env(env, ctx=available_ctx(), seed=0, learning_starts=500, train_freq=100,
                                    gradient_steps=25, target_update_interval=25, exploration_fraction=0.5)
        dqn.learn(env, total_steps=3000, eval_env=gym.make("CartPole-v1"), eval_freq=1000, eval_episodes=10,
                  verbose=False)
    else:
        # The tuned settings (for_env defaults), stopped early once 20 greedy episodes all reach 500.
        dqn = DQNController.for_env(env, ctx=available_ctx(), seed=0)
        dqn.learn(env, total_steps=50_000, eval_env=gym.make("CartPole-v1"), eval_freq=1000, eval_episodes=20,
                  stop_return=500, verbose=False)
    learn_seconds = time.time() - start
    episodes = 20 if quick else 100
    mean_return = dqn.evaluate(gym.make("CartPole-v1"), episodes=episodes, seed=12345)

    fig, ax = plt.subplots(figsize=(7, 4))
    plot_learning_curve(ax, dqn, f"DQN on CartPole-v1 (greedy mean over {episodes} episodes: {mean_return:.1f})")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "dqn.png"), dpi=100)
    plt.close(fig)
    return [
        f"DQNController CartPole-v1: greedy mean return {mean_return:.1f} over {episodes} episodes "
        f"(solved >= 475) after {dqn.num_timesteps} environment steps, {dqn.num_updates} updates, "
        f"{learn_seconds:.0f} s",
        "figure: dqn.png",
    ]
