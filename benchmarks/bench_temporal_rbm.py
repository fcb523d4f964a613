"""Temporal RBMs: `RTRBM`, `RNNRBM`, `LSTMRTRBM` training throughput, compiled vs imperative graphs.

Two sizes, batch 20 sequences, CD-3 (the default), one ``learn`` epoch through `training.fit`:

- chord piano rolls (`accelbrainbase.data.chord_rolls`): V=30, T=16, H=32,
  300 sequences (the test setting);
- moving digit sprites, 16x16 canvas binarized: V=256, T=20, H=100, 200 sequences (USAGE.md's size).

"hybridized" is the default (the training graph compiled, as constructed); "imperative" runs it op by
op (``model.hybridize(active=False)``). The baseline, measured in the same run, is a plain
`RestrictedBoltzmannMachines` (CD-1, its fused fast path) trained on the same frames, as frames/s:
the ratio is what the recurrent bias paths, CD-3 and backpropagation through time cost per frame.
"""
from __future__ import annotations

import functools
from typing import List, Tuple

import numpy as np

from .common import Table, fmt_rate, fmt_ratio, interleaved_best, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 30

__all__ = ["NAME", "run"]

NAME = "temporal_rbm"


def _datasets(quick: bool) -> List[Tuple[str, np.ndarray, int]]:
    from accelbrainbase.data import chord_rolls, moving_digit_sprites

    n_rolls, n_sprites = (40, 20) if quick else (300, 200)
    sprites = moving_digit_sprites(n_sprites, 20, canvas=16, binarize=0.5, seed=0).reshape(n_sprites, 20, 256)
    return [("chord rolls V=30 T=16", chord_rolls(n_rolls, 16, seed=0), 32),
            ("sprites V=256 T=20", sprites, 100)]


def run(quick: bool = False) -> List[Table]:
    """Training sequences/s and frames/s of the three models, hybridized and imperative."""
    from accelbrainbase.data import ArrayIterator
    from accelbrainbase.models import LSTMRTRBM, RNNRBM, RTRBM, RestrictedBoltzmannMachines

    rounds = 1 if quick else 3
    table = Table(f"Temporal RBMs - training throughput (`learn`, one epoch, batch 20 sequences, CD-3; fastest of "
                  f"{rounds} interleaved rounds after a warm-up)",
                  ["model", "data", "H", "hybridized seq/s", "imperative seq/s", "hybrid/imperative",
                   "frames/s", "RBM CD-1 frames/s", "ours/RBM"])
    for label, x, hidden in _datasets(quick):
        n, steps, visible = x.shape
        it = ArrayIterator(x, batch_size=20, epochs=1, seed=0)
        frames = ArrayIterator(x.reshape(-1, visible), batch_size=20 * steps, epochs=1, seed=0)
        rbm = RestrictedBoltzmannMachines(visible, hidden, seed=0)
        for cls in (RTRBM, RNNRBM, LSTMRTRBM):
            compiled, imperative = cls(visible, hidden, seed=0), cls(visible, hidden, seed=0)
            imperative.hybridize(active=False)
            best = interleaved_best({
                "hybridized": functools.partial(compiled.learn, it, verbose=False),
                "imperative": functools.partial(imperative.learn, it, verbose=False),
                "rbm": functools.partial(rbm.learn, frames, verbose=False),
            }, rounds=rounds)
            hybrid_rate, imperative_rate = n / best["hybridized"], n / best["imperative"]
            rbm_frames = n * steps / best["rbm"]
            table.add(cls.__name__, label, hidden, fmt_rate(hybrid_rate), fmt_rate(imperative_rate),
                      fmt_ratio(hybrid_rate / imperative_rate), fmt_rate(hybrid_rate * steps), fmt_rate(rbm_frames),
                      fmt_ratio(hybrid_rate * steps / rbm_frames))
    table.notes.append("seq/s = training sequences per second; frames/s = seq/s x T. The whole recurrence runs "
                       "in MXNet's fused RNN operator and the T step-RBMs as one batch, so a training step is "
                       "~30-40 operators whatever T.")
    table.notes.append(f"peak RSS of the process after the temporal RBM benchmarks: {peak_rss_mb():.0f} MiB")
    return [table]
