"""Demo section ``convolutional``: CNN classifier and convolutional auto-encoders on scikit-learn digits."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple, Type

import numpy as np

from .common import digits, plot_losses

__all__ = ["section"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 40


def section(out_dir: str, quick: bool) -> List[str]:
    """CNN classifier and (contractive) convolutional auto-encoders on digits."""
    import matplotlib.pyplot as plt
    import mxnet as mx
    from sklearn.decomposition import PCA
    from sklearn.metrics import confusion_matrix

    from ..context import available_ctx
    from ..data import ArrayIterator
    from ..models import ContractiveCAE, ConvolutionalAutoEncoder, ConvolutionalNeuralNetworks

    ctx = available_ctx()
    x_train, x_test, y_train, y_test = digits()
    img_train, img_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    epochs = 2 if quick else 15

    cnn = ConvolutionalNeuralNetworks(num_classes=10, channels=[32, 64], learning_rate=3e-3, ctx=ctx, seed=0)
    cnn.hybridize()
    it = ArrayIterator(img_train, y_train, test_x=img_test, test_y=y_test, batch_size=32, epochs=epochs, ctx=ctx,
                       seed=0)
    # Decayed to zero by the end: at a constant 3e-3 the accuracy can spike down in late epochs.
    cnn.learn(it, lr_scheduler=mx.lr_scheduler.CosineScheduler(max_update=epochs * it.iter_n, base_lr=3e-3,
                                                               final_lr=0.0))
    predicted = cnn.inference(img_test).argmax(axis=1)
    accuracy = float((predicted == y_test).mean())

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    plot_losses(axes[0], cnn, "ConvolutionalNeuralNetworks: cross-entropy")
    axes[1].imshow(confusion_matrix(y_test, predicted), cmap="Blues")
    axes[1].set(title=f"test confusion matrix (accuracy {accuracy:.3f})", xlabel="predicted", ylabel="true",
                xticks=range(10), yticks=range(10))
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "cnn.png"), dpi=100)
    plt.close(fig)

    results = {}
    variants: List[Tuple[str, Type[ConvolutionalAutoEncoder], Dict[str, Any]]] = [
        ("CAE", ConvolutionalAutoEncoder, {}), ("contractive CAE", ContractiveCAE, dict(contractive_weight=1e-4))]
    for name, cls, extra in variants:
        model = cls(in_channels=1, channels=[24, 48, 16], ctx=ctx, seed=0, **extra)
        model.hybridize()
        model.learn(ArrayIterator(img_train, test_x=img_test, batch_size=32, epochs=epochs if name == "CAE" else
                                  max(2, epochs // 3), ctx=ctx, seed=0))
        recon = model.inference(img_test)
        results[name] = (model, recon, float(((recon - img_test) ** 2).mean()),
                         float(np.sqrt(model.encoder_jacobian_norm(img_test)).mean()))
    pca = PCA(16).fit(x_train)
    pca_recon = pca.inverse_transform(pca.transform(x_test))
    pca_mse = float(((pca_recon - x_test) ** 2).mean())

    n = 10
    rows = [("test digits", x_test)] + [(f"{k} (MSE {v[2]:.4f})", v[1]) for k, v in results.items()] + [
        (f"PCA 16 (MSE {pca_mse:.4f})", pca_recon)]
    fig, axes = plt.subplots(len(rows), n, figsize=(n, 1.2 * len(rows)))
    for r, (label, images) in enumerate(rows):
        for i in range(n):
            axes[r, i].imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[r, i].axis("off")
        axes[r, 0].set_title(label, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "cae.png"), dpi=100)
    plt.close(fig)

    return [
        f"ConvolutionalNeuralNetworks test accuracy {accuracy:.4f} ({epochs} epochs)",
        f"ConvolutionalAutoEncoder (16-value code) test MSE {results['CAE'][2]:.4f}, PCA 16: {pca_mse:.4f}",
        f"encoder Jacobian Frobenius norm: CAE {results['CAE'][3]:.1f}, "
        f"contractive CAE {results['contractive CAE'][3]:.1f}",
        "figures: cnn.png, cae.png",
    ]
