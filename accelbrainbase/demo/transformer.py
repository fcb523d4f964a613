"""Demo section ``transformer``: Transformer encoder/decoder reconstructions and EncDec-AD anomaly scores on co2."""
from __future__ import annotations

import os
from typing import Dict, List

__all__ = ["section", "SETTINGS"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 55

#: EncDec-AD on co2 windows (one encoder and one decoder layer; full: the setting of tests/test_transformer.py,
#: a cosine learning-rate decay from 0.003 to 0.0003; quick: fewer windows and epochs, a weaker model).
SETTINGS: Dict[bool, Dict[str, int]] = {
    False: dict(stride=3, epochs=40),
    True: dict(stride=8, epochs=12),
}


def section(out_dir: str, quick: bool) -> List[str]:
    """Train `TransformerEncoderDecoder` on normal co2 windows, fit EncDec-AD, plot reconstructions
    of a normal and an anomalous window and the anomaly scores of held-out windows."""
    from ..context import available_ctx
    from ..models import TransformerEncoderDecoder
    from .common import co2_anomaly_run, plot_co2_anomalies

    ctx = available_ctx()
    cfg = SETTINGS[quick]
    model = TransformerEncoderDecoder(input_dim=1, num_layers=1, learning_rate=0.003, ctx=ctx, seed=0)
    model.hybridize()
    run = co2_anomaly_run(model, cfg["epochs"], cfg["stride"], 0.0003, ctx)
    auc, baseline, test = run["auc"], run["baseline"], run["test"]
    mse_ratio = float(((model.inference(test) - test) ** 2).mean() / test.var())
    plot_co2_anomalies(model, run, 1, "with injected anomaly", "Transformer",
                       os.path.join(out_dir, "transformer_ad.png"))
    return [
        f"Transformer EncDec-AD on co2 windows: ROC-AUC {auc:.3f} (PCA + Mahalanobis baseline, best setting: "
        f"{baseline['auc']:.3f}); reconstruction MSE {mse_ratio:.3f}x the variance of normal test windows",
        "figures: transformer_ad.png",
    ]
