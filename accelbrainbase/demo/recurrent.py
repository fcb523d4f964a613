"""Demo section ``recurrent``: EncDec-AD anomaly scores on co2 and ConvLSTM next frames of moving sprites."""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

__all__ = ["section", "ENCDEC_SETTINGS", "CONV_SETTINGS"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 50

#: EncDec-AD on co2 (full: the setting of tests/test_lstm.py, a cosine learning-rate decay from 0.01
#: to 0.001; quick: a smaller, shorter run).
ENCDEC_SETTINGS: Dict[bool, Dict[str, int]] = {
    False: dict(hidden_dim=64, stride=3, epochs=40),
    True: dict(hidden_dim=32, stride=4, epochs=20),
}
#: ConvLSTM next-frame prediction on 24x24 moving sprites (full: the setting of tests/test_conv_lstm.py).
CONV_SETTINGS: Dict[bool, Dict[str, int]] = {
    False: dict(n_train=128, hidden_channels=16, epochs=20),
    True: dict(n_train=96, hidden_channels=16, epochs=12),
}


def section(out_dir: str, quick: bool) -> List[str]:
    """EncDec-AD anomaly scores on co2 and ConvLSTM next-frame prediction on moving sprites."""
    import matplotlib.pyplot as plt
    import mxnet as mx
    from sklearn.metrics import roc_auc_score

    from ..context import available_ctx
    from ..data import ArrayIterator, co2_windows, inject_anomalies, moving_digit_sprites, next_frame_baselines
    from ..models import ConvLSTMEncoderDecoder, EncoderDecoder
    from ..models.lstm import best_pca_anomaly_baseline

    ctx = available_ctx()
    cfg = ENCDEC_SETTINGS[quick]
    train, valid, test = co2_windows(52)
    encdec = EncoderDecoder(input_dim=1, hidden_dim=cfg["hidden_dim"], learning_rate=0.01, ctx=ctx, seed=0)
    encdec.hybridize()
    windows = train[::cfg["stride"]]
    schedule = mx.lr_scheduler.CosineScheduler(max_update=cfg["epochs"] * -(-len(windows) // 64), final_lr=0.001)
    encdec.learn(ArrayIterator(windows, batch_size=64, epochs=cfg["epochs"], ctx=ctx, seed=0), lr_scheduler=schedule)
    v_anom, _ = inject_anomalies(valid, seed=1)
    encdec.fit_anomaly_detector(valid, np.concatenate([valid, v_anom]),
                                np.r_[np.zeros(len(valid)), np.ones(len(v_anom))])
    anomalous, kinds = inject_anomalies(test, seed=2)
    x_test = np.concatenate([test, anomalous])
    labels = np.r_[np.zeros(len(test)), np.ones(len(test))]
    scores = encdec.anomaly_score(x_test)
    auc = roc_auc_score(labels, scores)
    baseline = best_pca_anomaly_baseline(train, valid, x_test, labels)

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    shown = (0, len(test) + int(np.argmax(kinds == 2)))  # a normal window and a level shift
    for ax, i, title in ((axes[0], shown[0], "normal test window"), (axes[1], shown[1], "with a level shift")):
        recon = encdec.inference(x_test[i:i + 1])[0, :, 0]
        ax.plot(x_test[i, :, 0], label="window")
        ax.plot(recon, "--", label="reconstruction")
        ax.set_title(f"{title}: score {scores[i]:.1f}", fontsize=9)
        ax.legend(fontsize=8)
    axes[2].hist([scores[labels == 0], scores[labels == 1]], bins=30, label=["normal", "anomalous"])
    axes[2].axvline(encdec.threshold, color="k", ls=":", label="F1 threshold")
    axes[2].set_title(f"EncDec-AD Mahalanobis scores, ROC-AUC {auc:.3f}", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "encdec_ad.png"), dpi=100)
    plt.close(fig)

    cfg = CONV_SETTINGS[quick]
    videos = moving_digit_sprites(cfg["n_train"], 10, canvas=24, seed=0)
    held_out = moving_digit_sprites(32, 10, canvas=24, seed=1)
    conv = ConvLSTMEncoderDecoder(in_channels=1, hidden_channels=cfg["hidden_channels"], kernel_size=3,
                                  patch_size=4, learning_rate=0.02, ctx=ctx, seed=0)
    conv.hybridize()
    conv.learn(ArrayIterator(videos[:, :-1], videos[:, 1:], batch_size=8, epochs=cfg["epochs"], ctx=ctx, seed=0))
    pred = conv.inference(held_out[:, :-1])
    mse = float(((pred - held_out[:, 1:]) ** 2).mean())
    naive = next_frame_baselines(videos.reshape(len(videos), 10, -1), held_out.reshape(len(held_out), 10, -1))

    fig, axes = plt.subplots(2, 9, figsize=(11, 2.8))
    for t in range(9):
        for row, frames in enumerate((held_out[0, 1:], pred[0])):
            axes[row, t].imshow(frames[t, 0], cmap="gray", vmin=0, vmax=1)
            axes[row, t].axis("off")
    axes[0, 0].set_title("true next frames", loc="left", fontsize=9)
    axes[1, 0].set_title("ConvLSTM predictions", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "conv_lstm.png"), dpi=100)
    plt.close(fig)
    return [
        f"EncDec-AD on co2 windows (spikes, level shifts, noise bursts): ROC-AUC {auc:.3f} "
        f"(PCA + Mahalanobis baseline, best setting: {baseline['auc']:.3f})",
        f"ConvLSTM next-frame MSE {mse:.4f} (copy last frame {naive['repeat last frame']:.4f}, "
        f"mean frame {naive['mean frame']:.4f})",
        "figures: encdec_ad.png, conv_lstm.png",
    ]
