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

__all__ = ["SECTIONS", "main", "dense_section", "boltzmann_section"]


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


def _image_grid(ax, images: np.ndarray, rows: int, cols: int, title: str, cmap: str = "gray_r") -> None:
    side = int(round(np.sqrt(images.shape[1])))
    canvas = np.ones((rows * (side + 1) - 1, cols * (side + 1) - 1)) * np.nan
    for i, image in enumerate(images[: rows * cols]):
        r, c = divmod(i, cols)
        canvas[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = image.reshape(side, side)
    # Signed images (weights) get a colour scale symmetric around zero.
    limit = np.nanmax(np.abs(canvas)) if np.nanmin(canvas) < 0 else None
    ax.imshow(canvas, cmap=cmap, vmin=-limit if limit else None, vmax=limit)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def boltzmann_section(out_dir: str, quick: bool) -> List[str]:
    """RBM and DBM on binarized digits: exact likelihood, AIS, bound, filters and samples."""
    import matplotlib.pyplot as plt
    import mxnet as mx

    from .context import available_ctx
    from .data import ArrayIterator
    from .models import DeepBoltzmannMachines, RestrictedBoltzmannMachines

    ctx = available_ctx()
    x_train, x_test, _, _ = _digits()
    x_train, x_test = (x_train >= 0.5).astype(np.float32), (x_test >= 0.5).astype(np.float32)
    epochs = 5 if quick else 50
    rbm = RestrictedBoltzmannMachines(64, 16, learning_rate=0.1, ctx=ctx, seed=0)
    it = ArrayIterator(x_train, test_x=x_test, batch_size=20, epochs=epochs, ctx=ctx, seed=0)
    rbm.learn(it, lr_scheduler=mx.lr_scheduler.FactorScheduler(step=10 * it.iter_n, factor=0.5))
    log_z = rbm.log_partition("exact")
    ais = rbm.log_partition("ais", betas=1000 if quick else 10000)
    ll = float(rbm.log_likelihood(x_test, log_z=log_z).mean())
    p = x_train.mean(axis=0).clip(1e-3, 1 - 1e-3)
    independent = float((x_test * np.log(p) + (1 - x_test) * np.log(1 - p)).sum(axis=1).mean())

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    epochs_axis = np.arange(1, len(rbm.loss_arr) + 1)
    axes[0].plot(epochs_axis, rbm.history["pseudo_log_likelihood"], label="pseudo-log-likelihood (test)")
    axes[0].set(title="RBM 64-16 on binarized digits", xlabel="epoch", ylabel="nats")
    axes[0].legend(fontsize=8)
    _image_grid(axes[1], rbm.weight.data(ctx).asnumpy(), 4, 4, "filters (rows of W)", cmap="RdBu")
    samples = rbm.sample(16, steps=100 if quick else 1000)
    _image_grid(axes[2], samples, 4, 4, "Gibbs samples (1000 sweeps)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "rbm.png"), dpi=100)
    plt.close(fig)
    dbm = DeepBoltzmannMachines([64, 16, 8], pretrain_epochs=2 if quick else 10, ctx=ctx, seed=0)
    dbm.learn(ArrayIterator(x_train, test_x=x_test, batch_size=20, epochs=2 if quick else 10, ctx=ctx, seed=0))
    dbm_log_z = dbm.log_partition("exact")
    dbm_ll = float(dbm.log_likelihood(x_test, log_z=dbm_log_z).mean())
    dbm_ais = dbm.log_partition("ais", betas=1000 if quick else 10000)
    bound = float(dbm.variational_lower_bound(x_test, log_z=dbm_log_z).mean())
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    _image_grid(axes[0], dbm.sample(16, steps=100 if quick else 1000), 4, 4, "DBM 64-16-8 samples")
    codes = dbm.extract_feature_points(x_test[:40], layer=2)
    axes[1].imshow(codes.T, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    axes[1].set(title="top-layer mean-field posteriors (40 test digits)", xlabel="digit", ylabel="unit of h2")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "dbm.png"), dpi=100)
    plt.close(fig)
    return [
        f"RBM 64-16   exact test log-likelihood {ll:.2f} nats/image (independent pixels {independent:.2f})",
        f"            log Z exact {log_z:.3f}, AIS {ais:.3f} (difference {ais - log_z:+.3f})",
        f"DBM 64-16-8 exact test log-likelihood {dbm_ll:.2f}, variational bound {bound:.2f}, "
        f"AIS log Z - exact {dbm_ais - dbm_log_z:+.3f}",
        "figures: rbm.png, dbm.png",
    ]


SECTIONS: Dict[str, Callable[[str, bool], List[str]]] = {"dense": dense_section, "boltzmann": boltzmann_section}


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
