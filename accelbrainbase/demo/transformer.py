"""Demo section ``transformer``: Transformer encoder/decoder reconstructions and EncDec-AD anomaly scores on co2."""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

__all__ = ["section", "SETTINGS"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 55

#: EncDec-AD on co2 windows (one encoder and one decoder layer; full: the setting of tests/test_transformer.py, a cosine learning-rate
#: decay from 0.003 to 0.0003; quick: fewer windows and epochs, a weaker model).
SETTINGS: Dict[bool, Dict[str, int]] = {
    False: dict(stride=3, epochs=40),
    True: dict(stride=8, epochs=12),
}


def section(out_dir: str, quick: bool) -> List[str]:
    """Train `TransformerEncoderDecoder` on normal co2 windows, fit EncDec-AD, plot reconstructions
    of a normal and an anomalous window and the anomaly scores of held-out windows."""
    import matplotlib.pyplot as plt
    import mxnet as mx
    from sklearn.metrics import roc_auc_score

    from ..context import available_ctx
    from ..data import ArrayIterator, co2_windows, inject_anomalies
    from ..models import TransformerEncoderDecoder
    from ..models.lstm import best_pca_anomaly_baseline

    ctx = available_ctx()
    cfg = SETTINGS[quick]
    train, valid, test = co2_windows(52)
    model = TransformerEncoderDecoder(input_dim=1, num_layers=1, learning_rate=0.003, ctx=ctx, seed=0)
    model.hybridize()
    windows = train[::cfg["stride"]]
    schedule = mx.lr_scheduler.CosineScheduler(max_update=cfg["epochs"] * -(-len(windows) // 64), final_lr=0.0003)
    model.learn(ArrayIterator(windows, batch_size=64, epochs=cfg["epochs"], ctx=ctx, seed=0), lr_scheduler=schedule)
    v_anom, _ = inject_anomalies(valid, seed=1)
    model.fit_anomaly_detector(valid, np.concatenate([valid, v_anom]),
                               np.r_[np.zeros(len(valid)), np.ones(len(v_anom))])
    anomalous, kinds = inject_anomalies(test, seed=2)
    x_test = np.concatenate([test, anomalous])
    labels = np.r_[np.zeros(len(test)), np.ones(len(test))]
    scores = model.anomaly_score(x_test)
    auc = roc_auc_score(labels, scores)
    baseline = best_pca_anomaly_baseline(train, valid, x_test, labels)
    mse_ratio = float(((model.inference(test) - test) ** 2).mean() / test.var())

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    shown = (0, len(test) + int(np.argmax(kinds == 1)))  # a normal window and one with a spike
    for ax, i, title in ((axes[0], shown[0], "normal test window"), (axes[1], shown[1], "with injected anomaly")):
        ax.plot(x_test[i, :, 0], label="window")
        ax.plot(model.inference(x_test[i:i + 1])[0, :, 0], "--", label="Transformer reconstruction")
        ax.set_title(f"{title}: score {scores[i]:.1f}", fontsize=9)
        ax.legend(fontsize=8)
    axes[2].hist([scores[labels == 0], scores[labels == 1]], bins=30, label=["normal", "anomalous"])
    axes[2].axvline(model.threshold, color="k", ls=":", label="F1 threshold")
    axes[2].set_title(f"Transformer EncDec-AD scores, ROC-AUC {auc:.3f}", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "transformer_ad.png"), dpi=100)
    plt.close(fig)
    return [
        f"Transformer EncDec-AD on co2 windows: ROC-AUC {auc:.3f} (PCA + Mahalanobis baseline, best setting: "
        f"{baseline['auc']:.3f}); reconstruction MSE {mse_ratio:.3f}x the variance of normal test windows",
        "figures: transformer_ad.png",
    ]
