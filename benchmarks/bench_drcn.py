"""Domain adaptation: `DRCNetworks` and `SelfSupervisedDomainAdaptation` on digits -> blurred digits
(sigma 1 pixel).

Quality over seeds 0, 1, 2 (seed 0 with 10 epochs in quick mode): target test accuracy of the
source-only classifier (the same encoder + classifier, ``λ = 1``), of DRCN (``λ = 0.2``), of
self-supervised adaptation (rotation pretext task on the target images, weight 3) and of the
target-supervised upper bound (labels of the target half), 30 epochs each, with the source accuracy.
Throughput: training samples/s (source samples; every source batch is paired with a target batch)
hybridized vs imperative, DRCN and source-only measured in the same run.
"""
from __future__ import annotations

import functools
from typing import List

import numpy as np

from .common import Table, best_rate, fmt_rate, fmt_ratio, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 80

__all__ = ["NAME", "run"]

NAME = "drcn"


def _quality(quick: bool) -> Table:
    from accelbrainbase.demo.domain_adaptation import compare, domain_shift_task

    seeds, epochs = ([0], 10) if quick else ([0, 1, 2], 30)
    target, source = {}, {}
    for seed in seeds:
        result = compare(domain_shift_task(seed), seed, epochs)
        for name, value in result["target_accuracy"].items():
            target.setdefault(name, []).append(value)
            source.setdefault(name, []).append(result["source_accuracy"][name])
    table = Table(f"DRCN / self-supervised: digits -> blurred digits, target test accuracy "
                  f"({len(seeds)} seed(s), {epochs} epochs)",
                  ["model", "target accuracy (mean)", "per seed", "source accuracy (mean)", "vs source-only"])
    base = float(np.mean(target["source-only"]))
    for name in target:
        mean = float(np.mean(target[name]))
        table.add(name, f"{mean:.3f}", " ".join(f"{v:.3f}" for v in target[name]),
                  f"{np.mean(source[name]):.3f}", f"{mean - base:+.3f}")
    table.notes.append("source: clean scikit-learn digits; target: a disjoint half blurred with sigma = 1 pixel "
                       "(accelbrainbase.data.synthetic.digits_domain_shift), half of it unlabeled for adaptation, "
                       "half labeled for evaluation only; ConvolutionalAutoEncoder 1-24-48 + NeuralNetworks "
                       "192-128-10, Adam 2e-3, batch 64; self-supervised: + rotation head 192-128-4 on the "
                       "target images rotated by 0/90/180/270 degrees, weight 3")
    return table


def _throughput(quick: bool) -> Table:
    from accelbrainbase.controllers import DRCNetworks, SelfSupervisedDomainAdaptation
    from accelbrainbase.data import ArrayIterator
    from accelbrainbase.demo.domain_adaptation import domain_shift_task

    task = domain_shift_task(0, n=600 if quick else None)
    repeats, min_time = (1, 0.0) if quick else (3, 1.0)
    table = Table("DRCN / self-supervised training throughput (digits 1x8x8, batch 64)",
                  ["model", "hybridized samples/s", "imperative samples/s", "hybrid / imperative"])
    rates = {}
    runs = (("DRCN (λ = 0.2)", DRCNetworks, {"classification_weight": 0.2}),
            ("self-supervised (rotations)", SelfSupervisedDomainAdaptation, {}),
            ("source-only (λ = 1)", DRCNetworks, {"classification_weight": 1.0}))
    for name, kind, kwargs in runs:
        row = []
        for hybridize in (True, False):
            model = kind.for_images((1, 8, 8), 10, seed=0, **kwargs)
            if hybridize:
                model.hybridize()
            it = ArrayIterator(task["xs_tr"], task["ys_tr"], batch_size=64, epochs=1, seed=0)
            row.append(best_rate(functools.partial(model.learn, it, task["xt_tr"], verbose=False), len(task["xs_tr"]),
                                 repeats, min_time=min_time))
        rates[name] = row
        table.add(name, fmt_rate(row[0]), fmt_rate(row[1]), fmt_ratio(row[0] / row[1]))
    drcn, base = rates["DRCN (λ = 0.2)"][0], rates["source-only (λ = 1)"][0]
    ssda = rates["self-supervised (rotations)"][0]
    table.notes.append(f"DRCN costs {fmt_ratio(base / drcn)} the time of the source-only classifier per source sample "
                       "(it also encodes and decodes a target batch per step), self-supervised adaptation "
                       f"{fmt_ratio(base / ssda)} (it encodes a target batch in 4 rotations per step); peak RSS "
                       f"{peak_rss_mb():.0f} MiB")
    return table


def run(quick: bool = False) -> List[Table]:
    """The quality table and the throughput table."""
    return [_quality(quick), _throughput(quick)]
