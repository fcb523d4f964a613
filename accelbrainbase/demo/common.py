"""Helpers shared by the demo sections: the digits split and small plotting utilities."""
from __future__ import annotations

import numpy as np

__all__ = ["digits", "plot_losses", "image_grid", "co2_anomaly_run", "plot_co2_anomalies"]


def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.2, random_state=0)


def plot_losses(ax, model, title: str) -> None:
    epochs = np.arange(1, len(model.loss_arr) + 1)
    ax.plot(epochs, model.loss_arr[:, 0], label="train")
    ax.plot(epochs, model.loss_arr[:, 1], label="test")
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.legend()



def image_grid(ax, images: np.ndarray, rows: int, cols: int, title: str, cmap: str = "gray_r") -> None:
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


def co2_anomaly_run(model, epochs: int, stride: int, final_lr: float, ctx) -> dict:
    """EncDec-AD on statsmodels co2 (the setting of tests/test_lstm.py): train ``model`` on every
    ``stride``-th normal training window with a cosine learning-rate decay, fit its anomaly
    detector on the validation years, score held-out windows with injected anomalies. Returns the
    test windows, scores, labels, anomaly kinds, ROC-AUC and the PCA + Mahalanobis baseline."""
    import mxnet as mx
    from sklearn.metrics import roc_auc_score

    from ..data import ArrayIterator, co2_windows, inject_anomalies
    from ..models.lstm import best_pca_anomaly_baseline

    train, valid, test = co2_windows(52)
    windows = train[::stride]
    schedule = mx.lr_scheduler.CosineScheduler(max_update=epochs * -(-len(windows) // 64), final_lr=final_lr)
    model.learn(ArrayIterator(windows, batch_size=64, epochs=epochs, ctx=ctx, seed=0), lr_scheduler=schedule)
    v_anom, _ = inject_anomalies(valid, seed=1)
    model.fit_anomaly_detector(valid, np.concatenate([valid, v_anom]),
                               np.r_[np.zeros(len(valid)), np.ones(len(v_anom))])
    anomalous, kinds = inject_anomalies(test, seed=2)
    x_test = np.concatenate([test, anomalous])
    labels = np.r_[np.zeros(len(test)), np.ones(len(test))]
    scores = model.anomaly_score(x_test)
    return dict(test=test, x_test=x_test, kinds=kinds, labels=labels, scores=scores,
                auc=roc_auc_score(labels, scores), baseline=best_pca_anomaly_baseline(train, valid, x_test, labels))


def plot_co2_anomalies(model, run: dict, kind: int, kind_title: str, name: str, path: str) -> None:
    """A normal test window and one with an injected anomaly of ``kind``, each with ``model``'s
    reconstruction, and the histogram of the anomaly scores (from `co2_anomaly_run`)."""
    import matplotlib.pyplot as plt

    x_test, scores, labels = run["x_test"], run["scores"], run["labels"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    shown = (0, len(run["test"]) + int(np.argmax(run["kinds"] == kind)))
    for ax, i, title in ((axes[0], shown[0], "normal test window"), (axes[1], shown[1], kind_title)):
        ax.plot(x_test[i, :, 0], label="window")
        ax.plot(model.inference(x_test[i:i + 1])[0, :, 0], "--", label=f"{name} reconstruction")
        ax.set_title(f"{title}: score {scores[i]:.1f}", fontsize=9)
        ax.legend(fontsize=8)
    axes[2].hist([scores[labels == 0], scores[labels == 1]], bins=30, label=["normal", "anomalous"])
    axes[2].axvline(model.threshold, color="k", ls=":", label="F1 threshold")
    axes[2].set_title(f"{name} EncDec-AD Mahalanobis scores, ROC-AUC {run['auc']:.3f}", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
