"""Demo section ``ladder``: semi-supervised digits with 100 labels, ladder vs the labels alone."""
from __future__ import annotations

import os
from typing import List

import numpy as np

from .common import digits

__all__ = ["section"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 45


def section(out_dir: str, quick: bool) -> List[str]:
    """Ladder network on digits with 100 labels (and 1337 unlabeled) vs the same network on the labels alone."""
    import matplotlib.pyplot as plt

    from ..context import available_ctx
    from ..data import ArrayIterator
    from ..models import LadderNetworks

    ctx = available_ctx()
    x_train, x_test, y_train, y_test = digits()
    epochs = 4 if quick else 150
    rng = np.random.RandomState(0)
    partial = np.full(len(y_train), -1.0, dtype=np.float32)  # -1: unlabeled
    for k in range(10):
        partial[rng.choice(np.flatnonzero(y_train == k), 10, replace=False)] = k
    labeled = partial >= 0

    ladder = LadderNetworks(input_dim=64, num_classes=10, ctx=ctx, seed=0)
    ladder.hybridize()
    ladder.learn(ArrayIterator(x_train, partial, test_x=x_test, test_y=y_test, batch_size=100, epochs=epochs,
                               ctx=ctx, seed=0))
    # The same network on the 100 labels alone; batch 20 visits each label once per epoch, as above.
    alone = LadderNetworks(input_dim=64, num_classes=10, ctx=ctx, seed=0)
    alone.hybridize()
    alone.learn(ArrayIterator(x_train[labeled], partial[labeled], test_x=x_test, test_y=y_test, batch_size=20,
                              epochs=epochs, ctx=ctx, seed=0))
    errors = {name: 100 * (1 - model.history["test_accuracy"]) for name, model in
              (("ladder: 100 labels + 1337 unlabeled", ladder), ("same network: 100 labels alone", alone))}

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, curve in errors.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=f"{name} ({curve[-1]:.1f} %)")
    ax.axhline(5.0, color="gray", ls="--", lw=0.8, label="target 5 %")
    ax.set(title="LadderNetworks 64-100-50-10 on digits, 100 labels", xlabel="epoch", ylabel="test error (%)",
           yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "ladder.png"), dpi=100)
    plt.close(fig)

    final = {name: curve[-1] for name, curve in errors.items()}
    return [f"{name}: test error {value:.2f} %" for name, value in final.items()] + [
        f"{epochs} epochs; figure: ladder.png"]
