"""Demo section ``recurrent``: EncDec-AD anomaly scores on co2 and ConvLSTM next frames of moving sprites."""
from __future__ import annotations

import os
from typing import Dict, List

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

    from ..context import available_ctx
    from ..data import ArrayIterator, moving_digit_sprites, next_frame_baselines
    from ..models import ConvLSTMEncoderDecoder, EncoderDecoder
    from .common import co2_anomaly_run, plot_co2_anomalies

    ctx = available_ctx()
    cfg = ENCDEC_SETTINGS[quick]
    encdec = EncoderDecoder(input_dim=1, hidden_dim=cfg["hidden_dim"], learning_rate=0.01, ctx=ctx, seed=0)
    encdec.hybridize()
    run = co2_anomaly_run(encdec, cfg["epochs"], cfg["stride"], 0.001, ctx)
    auc, baseline = run["auc"], run["baseline"]
    plot_co2_anomalies(encdec, run, 2, "with a level shift", "LSTM", os.path.join(out_dir, "encdec_ad.png"))

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
