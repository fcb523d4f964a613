"""Transformer family: training throughput of `TransformerEncoderDecoder`, compiled vs imperative,
against the LSTM `EncoderDecoder` on the same windows.

One ``learn`` epoch through `training.fit`, hybridized (``model.hybridize()``) and imperative (as
constructed), timed in interleaved rounds (`common.interleaved_best`), on the co2 windows of the
EncDec-AD tests (T=52, F=1, batch 64), with the co2 settings of tests/test_transformer.py (d_model 32,
4 heads, 1 encoder and 1 decoder layer, code 16). The baseline, measured in the same run, is the
LSTM `EncoderDecoder` of tests/test_lstm.py (hidden 64), hybridized, teacher-forced (its fastest
training path: one fused LSTM call per decoder) and free-running (the decoder steps through time).
"""
from __future__ import annotations

from typing import List

from .common import Table, fmt_rate, fmt_ratio, interleaved_best, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 55

__all__ = ["NAME", "run"]

NAME = "transformer"


def run(quick: bool = False) -> List[Table]:
    """Training samples/s of the Transformer encoder/decoder, hybridized and imperative, and of the
    LSTM encoder/decoder on the same windows."""
    from accelbrainbase.data import ArrayIterator, co2_windows
    from accelbrainbase.models import EncoderDecoder, TransformerEncoderDecoder

    train = co2_windows(52)[0]
    windows = train[:64] if quick else train[::2]
    n = len(windows)
    rounds = 1 if quick else 3
    it = ArrayIterator(windows, batch_size=64, epochs=1, seed=0)
    compiled = TransformerEncoderDecoder(1, num_layers=1, learning_rate=0.003, seed=0)
    compiled.hybridize()
    imperative = TransformerEncoderDecoder(1, num_layers=1, learning_rate=0.003, seed=0)
    lstm_teacher = EncoderDecoder(1, 64, teacher_forcing_ratio=1.0, seed=0)
    lstm_teacher.hybridize()
    lstm_free = EncoderDecoder(1, 64, teacher_forcing_ratio=0.0, seed=0)
    lstm_free.hybridize()
    best = interleaved_best({
        "hybridized": lambda: compiled.learn(it, verbose=False),
        "imperative": lambda: imperative.learn(it, verbose=False),
        "lstm_teacher": lambda: lstm_teacher.learn(it, verbose=False),
        "lstm_free": lambda: lstm_free.learn(it, verbose=False),
    }, rounds=rounds)
    rate = {k: n / v for k, v in best.items()}
    table = Table(f"Transformer encoder/decoder - training samples/s (`learn`, one epoch; fastest of {rounds} "
                  "interleaved rounds after a warm-up)",
                  ["model", "data", "batch", "hybridized", "imperative", "hybrid/imperative",
                   "baseline", "baseline samples/s", "ours/baseline"])
    data = f"co2 T=52, N={n}"
    for base_name, key in (("LSTM EncoderDecoder(64) teacher-forced", "lstm_teacher"),
                           ("LSTM EncoderDecoder(64) free-running", "lstm_free")):
        table.add("TransformerEncoderDecoder", data, 64, fmt_rate(rate["hybridized"]), fmt_rate(rate["imperative"]),
                  fmt_ratio(rate["hybridized"] / rate["imperative"]), base_name, fmt_rate(rate[key]),
                  fmt_ratio(rate["hybridized"] / rate[key]))
    table.notes.append("samples = windows per second of training (baselines hybridized). The Transformer decodes all "
                       "steps at once (batched attention, no recurrence), so training and inference run one graph.")
    table.notes.append(f"peak RSS of the process after the transformer benchmark: {peak_rss_mb():.0f} MiB")
    return [table]
