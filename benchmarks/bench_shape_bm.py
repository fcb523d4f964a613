"""Shape Boltzmann machine: joint-training samples/s, inference samples/s and Gibbs sweeps/s.

The model of the horse benchmark (32x32 images, 18x18 patches overlapping by 4, 4 x 100 first-layer
units, 50 top units) on random binary images (the timing does not depend on the data):

- training: one joint-training epoch through ``learn`` (mean field + persistent chains), with the
  internal step graph hybridized (the default) and imperative; baseline measured in the same run:
  `DeepBoltzmannMachines` ``[1024, 400, 50]`` with the same settings, i.e. the same computation
  with a dense first layer instead of the shared patch weights (the cost of the weight expansion
  and the gradient folding);
- inference: the mean-field reconstruction (``inference``), hybridized and imperative;
- Gibbs sweeps/s of ``sample`` (chains x sweeps per second), against a plain numpy float32 block
  Gibbs sweep of the same DBM (two products, two logistic functions, two Bernoulli draws).
"""
from __future__ import annotations

from typing import List

import numpy as np

from .common import Table, best_rate, fmt_rate, fmt_ratio, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 35

__all__ = ["NAME", "run", "numpy_gibbs"]

NAME = "shape_bm"

_CONFIG = dict(patch_hidden_dim=100, top_hidden_dim=50, pretrain_epochs=0, fantasy_particles=50, gibbs_steps=2,
               learning_rate=0.02)


def numpy_gibbs(weight1: np.ndarray, weight2: np.ndarray, biases: List[np.ndarray], chains: int,
                sweeps: int, seed: int = 0) -> np.ndarray:
    """``sweeps`` block Gibbs sweeps of ``chains`` chains of a 2-layer DBM in numpy float32 (the
    baseline): ``h1 | v, h2`` then ``v, h2 | h1``. Returns the visible states."""
    rng = np.random.RandomState(seed)
    b0, b1, b2 = biases
    v = (rng.rand(chains, weight1.shape[1]) < 0.5).astype(np.float32)
    h2 = (rng.rand(chains, weight2.shape[0]) < 0.5).astype(np.float32)

    def sigmoid(a: np.ndarray) -> np.ndarray:
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-a))

    for _ in range(sweeps):
        h1 = (rng.rand(chains, weight1.shape[0]).astype(np.float32)
              < sigmoid(v @ weight1.T + h2 @ weight2 + b1)).astype(np.float32)
        v = (rng.rand(chains, weight1.shape[1]).astype(np.float32) < sigmoid(h1 @ weight1 + b0)).astype(np.float32)
        h2 = (rng.rand(chains, weight2.shape[0]).astype(np.float32) < sigmoid(h1 @ weight2.T + b2)).astype(np.float32)
    return v


def run(quick: bool = False) -> List[Table]:
    """Measure the Shape BM; returns a training/inference table and a Gibbs sampling table."""
    import mxnet as mx

    from accelbrainbase.data import ArrayIterator
    from accelbrainbase.models import DeepBoltzmannMachines, ShapeBoltzmannMachine

    repeats, min_time = (1, 0.0) if quick else (3, 1.0)
    n, batch = (100, 50) if quick else (1000, 50)
    x = (np.random.RandomState(0).rand(n, 32, 32) < 0.3).astype(np.float32)
    it = ArrayIterator(x, batch_size=batch, epochs=1, seed=0)
    flat_it = ArrayIterator(x.reshape(n, -1), batch_size=batch, epochs=1, seed=0)

    def make() -> ShapeBoltzmannMachine:
        return ShapeBoltzmannMachine(height=32, width=32, overlap_n=4, seed=0, **_CONFIG)

    def train_rate(model: object, data: object) -> float:
        return best_rate(lambda: model.learn(data, verbose=False), n, repeats, min_time=min_time)

    hybrid_model = make()
    hybrid = train_rate(hybrid_model, it)
    imperative_model = make()
    imperative_model._training_step().hybridize(active=False)
    imperative = train_rate(imperative_model, it)
    dbm = DeepBoltzmannMachines([1024, 400, 50], pretrain_epochs=0, fantasy_particles=50, gibbs_steps=2,
                                learning_rate=0.02, seed=0)
    dense = train_rate(dbm, flat_it)

    calls = 1 if quick else 5
    infer_imperative = best_rate(lambda: [hybrid_model.inference(x) for _ in range(calls)], calls * n, repeats,
                                 min_time=min_time)
    hybrid_model.hybridize()
    infer_hybrid = best_rate(lambda: [hybrid_model.inference(x) for _ in range(calls)], calls * n, repeats,
                             min_time=min_time)

    table = Table(f"Shape BM 32x32 (18x18 patches, 4x100 + 50 hidden) - samples/s (fastest of >= {repeats} "
                  f"epochs/calls timed over >= {min_time:g} s, after a warm-up)",
                  ["what", "hybridized", "imperative", "hybrid/imperative", "baseline", "baseline samples/s",
                   "ours/baseline"])
    table.add("joint training epoch (`learn`)", fmt_rate(hybrid), fmt_rate(imperative),
              fmt_ratio(hybrid / imperative), "DBM 1024-400-50 (dense layer 1)", fmt_rate(dense),
              fmt_ratio(hybrid / dense))
    table.add("mean-field reconstruction (`inference`)", fmt_rate(infer_hybrid), fmt_rate(infer_imperative),
              fmt_ratio(infer_hybrid / infer_imperative), "-", "-", "-")
    table.notes.append(f"N = {n} random binary 32x32 images, batch {batch}, {_CONFIG['fantasy_particles']} "
                       f"persistent chains, {_CONFIG['gibbs_steps']} Gibbs sweeps and 10 mean-field sweeps per "
                       "update; no pre-training. 'imperative' runs the joint-training step graph unhybridized "
                       "(the model's own `hybridize` only changes inference).")

    chains, sweeps = (50, 20) if quick else (100, 200)
    sample_rate = best_rate(lambda: hybrid_model.sample(chains, steps=sweeps, seed=0), chains * sweeps, repeats,
                            min_time=min_time)
    weights, biases = hybrid_model._weights(mx.cpu())
    w1, w2 = weights[1].asnumpy(), weights[2].asnumpy()
    bs = [b.asnumpy() for b in biases]
    numpy_rate = best_rate(lambda: numpy_gibbs(w1, w2, bs, chains, sweeps), chains * sweeps, repeats,
                           min_time=min_time)
    gibbs = Table("Shape BM 32x32 - block Gibbs sweeps/s (chains x sweeps per second, `sample`)",
                  ["chains", "sweeps", "ours", "numpy float32 baseline", "ours/baseline"])
    gibbs.add(chains, sweeps, fmt_rate(sample_rate), fmt_rate(numpy_rate), fmt_ratio(sample_rate / numpy_rate))
    gibbs.notes.append("Our sweeps run 10 per hybridized graph call on the dense expansion of the shared "
                       "patch weights; the baseline samples the same dense model with numpy.")
    gibbs.notes.append(f"peak RSS of the process after the Shape BM benchmarks: {peak_rss_mb():.0f} MiB")
    return [table, gibbs]

