"""Demo section ``boltzmann``: RBM and DBM on binarized digits."""
from __future__ import annotations

import os
from typing import List

import numpy as np

from .common import digits, image_grid

__all__ = ["section"]

ORDER = 20


def section(out_dir: str, quick: bool) -> List[str]:
    """RBM and DBM on binarized digits: exact likelihood, AIS, bound, filters and samples."""
    import matplotlib.pyplot as plt
    import mxnet as mx

    from ..context import available_ctx
    from ..data import ArrayIterator
    from ..models import DeepBoltzmannMachines, RestrictedBoltzmannMachines

    ctx = available_ctx()
    x_train, x_test, _, _ = digits()
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
    axes[0].plot(epochs_axis, rbm.history["pseudo_log_likelihood"], label="pseudo-log-likelihood (train)")
    axes[0].plot(epochs_axis, rbm.history["test_pseudo_log_likelihood"], label="pseudo-log-likelihood (test)")
    axes[0].set(title="RBM 64-16 on binarized digits", xlabel="epoch", ylabel="nats")
    axes[0].legend(fontsize=8)
    image_grid(axes[1], rbm.weight.data(ctx).asnumpy(), 4, 4, "filters (rows of W)", cmap="RdBu")
    samples = rbm.sample(16, steps=100 if quick else 1000)
    image_grid(axes[2], samples, 4, 4, "Gibbs samples (1000 sweeps)")
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
    image_grid(axes[0], dbm.sample(16, steps=100 if quick else 1000), 4, 4, "DBM 64-16-8 samples")
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
