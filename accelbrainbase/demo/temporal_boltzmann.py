"""Demo section ``temporal_boltzmann``: RTRBM, RNN-RBM and LSTM-RTRBM on piano-roll-like chord sequences.

The data is `accelbrainbase.data.chord_rolls`: a fixed stochastic rule writes binary piano rolls (the
test and benchmark data of the temporal RBMs too).
"""
from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

__all__ = ["section"]

ORDER = 30


def _train(quick: bool, ctx) -> Tuple[dict, dict, np.ndarray, np.ndarray]:
    from ..data import ArrayIterator, chord_rolls
    from ..models import LSTMRTRBM, RNNRBM, RTRBM, RestrictedBoltzmannMachines

    n_train, epochs = (150, 6) if quick else (300, 20)
    x = chord_rolls(n_train + 100, 16, seed=0)
    x_train, x_test = x[:n_train], x[n_train:]
    V, H = x.shape[2], 32
    models = {}
    for cls in (RTRBM, RNNRBM, LSTMRTRBM):
        model = cls(V, H, ctx=ctx, seed=0)
        models[cls.__name__] = model.learn(ArrayIterator(x_train, test_x=x_test, batch_size=20, epochs=epochs,
                                                         ctx=ctx, seed=0), verbose=False)
    frames = x_train.reshape(-1, V)
    rbm = RestrictedBoltzmannMachines(V, H, ctx=ctx, seed=0)
    rbm.learn(ArrayIterator(frames, batch_size=20 * x.shape[1], epochs=epochs, ctx=ctx, seed=0), verbose=False)
    return models, {"rbm": rbm}, x_train, x_test


def section(out_dir: str, quick: bool) -> List[str]:
    """Temporal RBMs on chord piano rolls: next-frame prediction, reconstruction, generated sequences."""
    import matplotlib.pyplot as plt

    from ..context import available_ctx
    from ..data import next_frame_baselines

    ctx = available_ctx()
    models, others, x_train, x_test = _train(quick, ctx)
    rbm = others["rbm"]
    V = x_test.shape[2]
    base = next_frame_baselines(x_train, x_test)
    target = x_test[:, 1:]
    rbm_error = float(np.mean(np.square(rbm.inference(x_test.reshape(-1, V)) - x_test.reshape(-1, V))))
    lines = [f"next-frame MSE of the baselines: repeat last frame {base['repeat last frame']:.4f}, "
             f"mean frame {base['mean frame']:.4f}; frame-by-frame RBM reconstruction MSE {rbm_error:.4f}"]
    predictions = {}
    for name, model in models.items():
        predictions[name] = model.predict_next(x_test[:, :-1], seed=0)
        error = float(np.mean(np.square(predictions[name] - target)))
        recon = float(np.mean(np.square(model.inference(x_test) - x_test)))
        lines.append(f"{name:10s} next-frame MSE {error:.4f}, reconstruction MSE {recon:.4f}")

    fig, axes = plt.subplots(2, 4, figsize=(13, 5.6))
    shown = 0
    axes[0, 0].imshow(target[shown].T, cmap="gray_r", aspect="auto", origin="lower", vmin=0, vmax=1)
    axes[0, 0].set(title="true next frames (test sequence)", xlabel="step", ylabel="key")
    for ax, (name, prediction) in zip(axes[0, 1:], predictions.items()):
        ax.imshow(prediction[shown].T, cmap="gray_r", aspect="auto", origin="lower", vmin=0, vmax=1)
        ax.set(title=f"{name}: predicted next", xlabel="step")
    axes[1, 0].imshow(x_train[0].T, cmap="gray_r", aspect="auto", origin="lower", vmin=0, vmax=1)
    axes[1, 0].set(title="a training sequence", xlabel="step", ylabel="key")
    for ax, (name, model) in zip(axes[1, 1:], models.items()):
        generated = model.sample(steps=24, n=1, gibbs_steps=50, return_probabilities=False, seed=0)
        ax.imshow(generated[0].T, cmap="gray_r", aspect="auto", origin="lower", vmin=0, vmax=1)
        ax.set(title=f"{name}: generated sequence", xlabel="step")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "temporal_rbm.png"), dpi=100)
    plt.close(fig)
    lines.append("figure: temporal_rbm.png")
    return lines
