"""Demo section ``adversarial``: a conditional GAN and an adversarial auto-encoder on scikit-learn digits."""
from __future__ import annotations

import os
from typing import List

import numpy as np

from .common import digits, image_grid

__all__ = ["section"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 60


def section(out_dir: str, quick: bool) -> List[str]:
    """Conditional GAN (digits over training) and AAE (2-D codes against the prior) on digits."""
    import matplotlib.pyplot as plt
    import mxnet as mx

    from ..context import available_ctx
    from ..controllers import AAEController, ConditionalGANController
    from ..data import ArrayIterator, NormalNoiseSampler
    from ..models import NeuralNetworks

    ctx = available_ctx()
    x_train, x_test, y_train, y_test = digits()
    gan_epochs, aae_epochs = (6, 8) if quick else (40, 80)

    clf = NeuralNetworks(64, [128], num_classes=10, ctx=ctx, seed=0)
    clf.hybridize()
    clf.learn(ArrayIterator(x_train, y_train, batch_size=32, epochs=10 if quick else 30, ctx=ctx, seed=0),
              verbose=False)

    # Conditional GAN: one row of generated digits 0-9 at a few points of training.
    cgan = ConditionalGANController.for_vectors(data_dim=64, num_classes=10, noise_dim=16, hidden_dims=[256, 256],
                                                ctx=ctx, seed=0)
    cgan.hybridize()
    labels = np.arange(20) % 10
    snap_at = sorted({max(1, gan_epochs // 8), gan_epochs // 4, gan_epochs // 2, gan_epochs})
    rows = []

    def snapshot(model, epoch, logs):
        if epoch + 1 in snap_at:
            rows.append((epoch + 1, model.generate(20, labels=labels)))

    cgan.learn(ArrayIterator(x_train, y_train, batch_size=64, epochs=gan_epochs, ctx=ctx, seed=0),
               callbacks=[snapshot], verbose=False)
    probs = clf.inference(cgan.generate(1000, labels=np.arange(1000) % 10))
    confidence = float(probs.max(axis=1).mean())
    as_condition = float((probs.argmax(axis=1) == np.arange(1000) % 10).mean())

    fig, axes = plt.subplots(len(rows) + 1, 1, figsize=(10, 1.25 * (len(rows) + 1) + 0.6))
    for ax, (epoch, samples) in zip(axes, rows):
        image_grid(ax, samples, 1, 20, f"conditional GAN after {epoch} epochs (conditions 0-9, 0-9)")
    epochs = np.arange(1, gan_epochs + 1)
    axes[-1].plot(epochs, cgan.history["discriminator_loss"], label="discriminator")
    axes[-1].plot(epochs, cgan.history["generator_loss"], label="generator")
    axes[-1].axhline(2 * np.log(2), color="grey", lw=0.8, ls="--", label="2 log 2")
    axes[-1].set(xlabel="epoch", ylabel="loss")
    axes[-1].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "gan.png"), dpi=100)
    plt.close(fig)

    # Adversarial auto-encoder with a 2-D standard normal prior.
    prior = NormalNoiseSampler(batch_size=64, dim_or_shape=2, ctx=ctx, seed=0)
    aae = AAEController.for_vectors(data_dim=64, code_dim=2, prior=prior, ctx=ctx, seed=0)
    aae.hybridize()
    it = ArrayIterator(x_train, test_x=x_test, batch_size=64, epochs=aae_epochs, ctx=ctx, seed=0)
    aae.learn(it, lr_scheduler=mx.lr_scheduler.CosineScheduler(aae_epochs * it.iter_n, base_lr=1e-3, final_lr=0.0),
              verbose=False)
    codes = aae.extract_feature_points(x_test)
    mse = float(((aae.inference(x_test) - x_test) ** 2).mean())
    mean_mse = float(((x_test - x_train.mean(axis=0)) ** 2).mean())

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    draws = np.random.RandomState(0).randn(2000, 2)
    axes[0].scatter(draws[:, 0], draws[:, 1], s=3, c="lightgrey", label="prior N(0, I)")
    scatter = axes[0].scatter(codes[:, 0], codes[:, 1], s=8, c=y_test, cmap="tab10")
    axes[0].legend(*scatter.legend_elements(), fontsize=7, title="digit", loc="upper right", ncol=2)
    axes[0].set(title="AAE codes of test digits against the prior", xlim=(-4, 4), ylim=(-4, 4))
    grid = np.linspace(-2, 2, 10)
    plane = np.array([[a, b] for b in grid[::-1] for a in grid], dtype=np.float32)
    decoded = aae.decoder(mx.nd.array(plane, ctx=aae.ctx[0])).asnumpy()
    image_grid(axes[1], decoded, 10, 10, "decoder over the code plane [-2, 2]^2")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "aae.png"), dpi=100)
    plt.close(fig)

    return [
        f"cGAN ({gan_epochs} epochs): a digits MLP gives its 1000 samples mean max-probability {confidence:.3f}, "
        f"{as_condition:.1%} classified as their condition",
        f"AAE ({aae_epochs} epochs): test codes mean {np.round(codes.mean(axis=0), 2)}, std "
        f"{np.round(codes.std(axis=0), 2)} (prior 0, 1); reconstruction MSE {mse:.4f} "
        f"(per-pixel mean predictor {mean_mse:.4f})",
        "figures: gan.png, aae.png",
    ]
