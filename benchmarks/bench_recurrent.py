"""Recurrent family: training throughput of the LSTM and ConvLSTM models, compiled vs imperative.

One ``learn`` epoch through `training.fit`, hybridized (``model.hybridize()``) and imperative (as
constructed), timed in interleaved rounds (`common.interleaved_best`):

- `EncoderDecoder` (hidden 64) on the co2 windows of the EncDec-AD test (T=52, F=1, batch 64),
  teacher-forced (the decoder is one fused LSTM call) and free-running (the decoder steps through
  time with ``foreach``, feeding back its outputs);
- `LSTMNetworks` (hidden 64, next-step regression ``x[:, :-1] -> x[:, 1:]``) on the same windows;
- `ConvLSTMEncoderDecoder` (32 channels, 3x3, patches 4x4; next-frame prediction) and
  `SpatioTemporalAutoEncoder` (channels 8, 16; ConvLSTM 8) on 24x24 moving digit sprites, T=10 (9 for
  the predictor), batch 8.

The baseline, measured in the same run, is the EncDec-AD test's: scikit-learn PCA (4 components)
fitted on the same windows, plus the Gaussian of its reconstruction errors (windows/s of fit + errors
+ Gaussian). It is a linear model without training loop, so the ratio shows what the recurrent
detector costs, not a like-for-like speed comparison. The video models have no trained baseline.
"""
from __future__ import annotations

import functools
from typing import Callable, List, Optional, Tuple

import numpy as np

from .common import Table, fmt_rate, fmt_ratio, interleaved_best, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 50

__all__ = ["NAME", "run"]

NAME = "recurrent"


def _ratio(value: Optional[float]) -> str:
    """`fmt_ratio`, with three significant digits below 0.1 (PCA is orders of magnitude faster)."""
    return fmt_ratio(value) if value is None or value >= 0.1 else f"{value:.3g}×"


def _pca_baseline(windows: np.ndarray) -> Callable[[], object]:
    from accelbrainbase.models.anomaly import pca_anomaly_scores

    return lambda: pca_anomaly_scores(windows, windows, windows, n_components=4)


def _cases(quick: bool) -> List[Tuple[str, str, int, Callable[[], object], np.ndarray, object, int]]:
    """(model, data, batch, factory, x, y, samples) of every benchmarked model."""
    from accelbrainbase.data import co2_windows, moving_digit_sprites
    from accelbrainbase.models import ConvLSTMEncoderDecoder, EncoderDecoder, LSTMNetworks, SpatioTemporalAutoEncoder

    train = co2_windows(52)[0]
    windows = train[:64] if quick else train[::2]
    videos = moving_digit_sprites(8 if quick else 96, 10, canvas=24, seed=0)
    co2 = f"co2 T=52, N={len(windows)}"
    sprites = f"sprites 24x24 T=10, N={len(videos)}"
    return [
        ("EncoderDecoder teacher-forced", co2, 64,
         lambda: EncoderDecoder(1, 64, teacher_forcing_ratio=1.0, seed=0), windows, None, len(windows)),
        ("EncoderDecoder free-running", co2, 64,
         lambda: EncoderDecoder(1, 64, teacher_forcing_ratio=0.0, seed=0), windows, None, len(windows)),
        ("LSTMNetworks next step", co2, 64,
         lambda: LSTMNetworks(1, 64, output_dim=1, seed=0), windows[:, :-1], windows[:, 1:], len(windows)),
        ("ConvLSTMEncoderDecoder predict", sprites, 8,
         lambda: ConvLSTMEncoderDecoder(1, 32, kernel_size=3, patch_size=4, seed=0),
         videos[:, :-1], videos[:, 1:], len(videos)),
        ("SpatioTemporalAutoEncoder", sprites, 8,
         lambda: SpatioTemporalAutoEncoder(1, (8, 16), 8, seed=0), videos, None, len(videos)),
    ]


def run(quick: bool = False) -> List[Table]:
    """Training samples/s of the recurrent models, hybridized and imperative, and the PCA baseline."""
    from accelbrainbase.data import ArrayIterator

    rounds = 1 if quick else 3
    table = Table(f"Recurrent models - training samples/s (`learn`, one epoch; fastest of {rounds} interleaved "
                  "rounds after a warm-up)",
                  ["model", "data", "batch", "hybridized", "imperative", "hybrid/imperative",
                   "baseline", "baseline samples/s", "ours/baseline"])
    for name, data, batch, make, x, y, n in _cases(quick):
        it = ArrayIterator(x, y, batch_size=batch, epochs=1, seed=0)
        compiled, imperative = make(), make()
        compiled.hybridize()
        fns = {"hybridized": functools.partial(compiled.learn, it, verbose=False),
               "imperative": functools.partial(imperative.learn, it, verbose=False)}
        base_name = "-"
        if name.startswith("EncoderDecoder"):
            base_name = "PCA(4) + Gaussian fit"
            fns["baseline"] = _pca_baseline(x)
        best = interleaved_best(fns, rounds=rounds)
        hybrid, imper = n / best["hybridized"], n / best["imperative"]
        base = n / best["baseline"] if "baseline" in best else None
        table.add(name, data, batch, fmt_rate(hybrid), fmt_rate(imper), fmt_ratio(hybrid / imper),
                  base_name, fmt_rate(base), _ratio(None if base is None else hybrid / base))
    table.notes.append("samples = windows (co2) or videos (sprites) per second of training. The encoder and the "
                       "teacher-forced decoder are single fused LSTM calls; free running steps the decoder "
                       "through time (``foreach``), as does every ConvLSTM recurrence (unrolled, one graph per T), "
                       "so their cost grows with T.")
    table.notes.append(f"peak RSS of the process after the recurrent benchmarks: {peak_rss_mb():.0f} MiB")
    return [table]
