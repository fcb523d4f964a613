"""Demo section ``dense``: tied auto-encoder and MLP classifier on scikit-learn digits."""
from __future__ import annotations

import os
from typing import List

from .common import digits, plot_losses

__all__ = ["section"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 10


def section(out_dir: str, quick: bool) -> List[str]:
    """Tied auto-encoder and MLP classifier on scikit-learn digits."""
    import matplotlib.pyplot as plt

    from ..context import available_ctx
    from ..data import ArrayIterator
    from ..models import AutoEncoder, NeuralNetworks

    ctx = available_ctx()
    x_train, x_test, y_train, y_test = digits()
    epochs = 5 if quick else 50

    ae = AutoEncoder(input_dim=64, hidden_dims=[32], tied_weights=True, ctx=ctx, seed=0)
    ae.hybridize()
    ae.learn(ArrayIterator(x_train, test_x=x_test, batch_size=32, epochs=epochs, ctx=ctx, seed=0))
    recon = ae.inference(x_test)
    ae_mse = float(((recon - x_test) ** 2).mean())
    mean_mse = float(((x_test - x_train.mean(axis=0)) ** 2).mean())

    clf = NeuralNetworks(input_dim=64, hidden_dims=[128], num_classes=10, ctx=ctx, seed=0)
    clf.hybridize()
    clf.learn(ArrayIterator(x_train, y_train, test_x=x_test, test_y=y_test, batch_size=32,
                            epochs=max(3, epochs // 2), ctx=ctx, seed=0))
    accuracy = float((clf.inference(x_test).argmax(axis=1) == y_test).mean())

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    plot_losses(axes[0], ae, "AutoEncoder (tied, 64-32-64): MSE")
    plot_losses(axes[1], clf, "NeuralNetworks (64-128-10): cross-entropy")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "dense_loss.png"), dpi=100)
    plt.close(fig)

    n = 10
    fig, axes = plt.subplots(2, n, figsize=(n, 2.3))
    for i in range(n):
        for row, images in enumerate((x_test, recon)):
            axes[row, i].imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("test digits", loc="left", fontsize=9)
    axes[1, 0].set_title("reconstructions", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "dense_reconstructions.png"), dpi=100)
    plt.close(fig)

    return [
        f"AutoEncoder   test MSE {ae_mse:.4f} (per-pixel mean predictor {mean_mse:.4f}), {epochs} epochs",
        f"NeuralNetworks test accuracy {accuracy:.3f}",
        "figures: dense_loss.png, dense_reconstructions.png",
    ]
