"""The flagship demo behind ``make demo``: train zoo models on bundled data, write figures, summarise.

Usage::

    python -m accelbrainbase.demo                 # every section, figures in demo/out/
    python -m accelbrainbase.demo dense --quick   # one section, a few epochs
    python -m accelbrainbase.demo --list

Each family adds a section: a function ``section(out_dir, quick) -> list of summary lines``
registered in `SECTIONS`. Needs the demo extras (``pip install accelbrainbase[demo]``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Dict, List

import numpy as np

__all__ = ["SECTIONS", "main", "dense_section"]


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.2, random_state=0)


def _plot_losses(ax, model, title: str) -> None:
    epochs = np.arange(1, len(model.loss_arr) + 1)
    ax.plot(epochs, model.loss_arr[:, 0], label="train")
    ax.plot(epochs, model.loss_arr[:, 1], label="test")
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.legend()


def dense_section(out_dir: str, quick: bool) -> List[str]:
    """Tied auto-encoder and MLP classifier on scikit-learn digits."""
    import matplotlib.pyplot as plt

    from .context import available_ctx
    from .data import ArrayIterator
    from .models import AutoEncoder, NeuralNetworks

    ctx = available_ctx()
    x_train, x_test, y_train, y_test = _digits()
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
    _plot_losses(axes[0], ae, "AutoEncoder (tied, 64-32-64): MSE")
    _plot_losses(axes[1], clf, "NeuralNetworks (64-128-10): cross-entropy")
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


SECTIONS: Dict[str, Callable[[str, bool], List[str]]] = {"dense": dense_section}


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accelbrainbase.demo", description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", help=f"sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("ABB_QUICK") == "1",
                        help="a few epochs only (also ABB_QUICK=1)")
    parser.add_argument("--out", default=os.path.join("demo", "out"), help="figure directory (default demo/out)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in SECTIONS.items():
            print(f"{name:10s} {fn.__doc__.strip()}")
        return 0
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    try:
        import matplotlib
        import sklearn  # noqa: F401
    except ImportError as err:
        print(f"the demo needs the demo extras: pip install 'accelbrainbase[demo]' ({err})", file=sys.stderr)
        return 1
    matplotlib.use("Agg")
    os.makedirs(args.out, exist_ok=True)
    for name in args.sections or list(SECTIONS):
        start = time.time()
        lines = SECTIONS[name](args.out, args.quick)
        print(f"== {name} ({time.time() - start:.1f} s)")
        for line in lines:
            print("  " + line)
    print(f"figures written to {os.path.abspath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
