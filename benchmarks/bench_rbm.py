"""Boltzmann family: `RestrictedBoltzmannMachines` CD-1 training against numpy and scikit-learn.

Two sizes (those of the README's speed comparison):

- MNIST-sized: V=784, H=500, batch 100, 60 000 synthetic binary samples (2 000 with ``quick``);
- digits: V=64, H=100, batch 20, the 1437 training rows of the binarized digits
  (``load_digits().data >= 8``, ``train_test_split(test_size=0.2, random_state=0)``).

Baselines, measured in the same run and interleaved with ours (round-robin; the fastest round of
each counts, the one least disturbed by other processes):

- `NumpyCD1`: plain numpy float32 CD-1 doing the same update as ours (SGD with momentum 0.9,
  weight decay 1e-4 on W only, negative phase from the visible probabilities, shuffled batches);
- scikit-learn's ``BernoulliRBM(n_components=H, batch_size=B, n_iter=1)``: one ``fit`` is one
  epoch (plus its input validation and initialisation; it does not shuffle).

Ours is one ``learn`` epoch through `training.fit` (it includes the per-epoch pseudo-likelihood on
up to 1000 samples), in each training path: the per-epoch fused graph (`_FusedEpoch`, used on small
models), the per-batch graph (``fused_batches = 0``; used on large models) and the per-batch step
run imperatively (the CD graph not hybridized). CD-1 costs (6 + 4k) V H = 10 V H FLOP per sample;
the achieved GFLOP/s is compared with the machine's numpy float32 GEMM.

MXNet reads ``OMP_NUM_THREADS`` and ``MXNET_ENGINE_TYPE`` once, at import: a library cannot change
them. A second table therefore repeats a shorter measurement in child processes with them set.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .common import ENV_VARS, Table, fmt_rate, fmt_ratio, interleaved_best, peak_rss_mb, timed

#: position in ``python -m benchmarks`` (ascending).
ORDER = 20

__all__ = ["NAME", "run", "NumpyCD1", "sgemm_gflops"]

NAME = "rbm"

#: Settings measured in child processes (variable -> value; variables not named are unset).
SETTINGS: List[Dict[str, str]] = [
    {},
    {"OMP_NUM_THREADS": "1"},
    {"OMP_NUM_THREADS": "2"},
    {"MXNET_ENGINE_TYPE": "NaiveEngine"},
    {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "2"},
]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """In place: ``1 / (1 + exp(-z))``."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z


class NumpyCD1:
    """Plain numpy float32 CD-1, the update of ``RestrictedBoltzmannMachines(k=1)``.

    ``h+ = sigmoid(v0 W^T + b_h)``, ``h ~ Bernoulli(h+)``, ``v- = sigmoid(h W + b_v)``,
    ``h- = sigmoid(v- W^T + b_h)``; then per parameter ``mom = momentum * mom - lr * (grad / B +
    wd * w)``, ``w += mom`` with the loss gradient ``grad`` (``h-^T v- - h+^T v0`` for W) and weight
    decay on W only.
    """

    def __init__(self, n_visible: int, n_hidden: int, lr: float = 0.05, momentum: float = 0.9,
                 weight_decay: float = 1e-4, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.weight = (self.rng.standard_normal((n_hidden, n_visible), dtype=np.float32) * 0.01)
        self.visible_bias = np.zeros(n_visible, np.float32)
        self.hidden_bias = np.zeros(n_hidden, np.float32)
        self.moms = [np.zeros_like(self.weight), np.zeros_like(self.visible_bias), np.zeros_like(self.hidden_bias)]
        self.lr, self.momentum, self.weight_decay = np.float32(lr), np.float32(momentum), np.float32(weight_decay)

    def step(self, v0: np.ndarray) -> float:
        """One CD-1 update on batch ``v0``; returns the summed per-sample reconstruction error."""
        w, b_v, b_h = self.weight, self.visible_bias, self.hidden_bias
        h_pos = _sigmoid(v0 @ w.T + b_h)
        h = (self.rng.random(h_pos.shape, dtype=np.float32) < h_pos).astype(np.float32)
        v_neg = _sigmoid(h @ w + b_v)
        h_neg = _sigmoid(v_neg @ w.T + b_h)
        grads = [h_neg.T @ v_neg - h_pos.T @ v0, (v_neg - v0).sum(axis=0), (h_neg - h_pos).sum(axis=0)]
        step = self.lr / np.float32(len(v0))
        for param, mom, grad, decay in zip((w, b_v, b_h), self.moms, grads, (self.weight_decay, 0, 0)):
            mom *= self.momentum
            mom -= step * grad
            if decay:
                mom -= (self.lr * decay) * param
            param += mom
        return float(np.square(v0 - v_neg).mean(axis=1).sum())

    def epoch(self, x: np.ndarray, batch: int) -> float:
        order = self.rng.permutation(len(x))
        return sum(self.step(x[order[i:i + batch]]) for i in range(0, len(x), batch))


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The machine's numpy float32 GEMM rate: best of ``repeats`` ``(n, n) @ (n, n)``."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(timed(lambda: a @ a) for _ in range(repeats))
    return 2.0 * n ** 3 / best / 1e9


def fc_gflops(repeats: int = 20) -> float:
    """MXNet's ``FullyConnected`` rate on the RBM's main product: ``(100, 784) x (500, 784)^T``."""
    import mxnet as mx

    x, w, b = mx.nd.ones((100, 784)), mx.nd.ones((500, 784)), mx.nd.zeros(500)
    mx.nd.FullyConnected(x, w, b, num_hidden=500).wait_to_read()
    best = min(timed(lambda: mx.nd.FullyConnected(x, w, b, num_hidden=500)) for _ in range(repeats))
    return 2.0 * 100 * 784 * 500 / best / 1e9


def _datasets(quick: bool, large_n: Optional[int] = None) -> List[Tuple[str, np.ndarray, int, int]]:
    """``(label, x, hidden units, batch size)`` of both sizes."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits, _ = train_test_split((load_digits().data >= 8).astype(np.float32), test_size=0.2, random_state=0)
    n = large_n or (2_000 if quick else 60_000)
    large = (np.random.default_rng(0).random((n, 784), dtype=np.float32) < 0.5).astype(np.float32)
    return [("MNIST-size 784 (synthetic binary)", large, 500, 100), ("digits 64 (binarized)", digits, 100, 20)]


def _ours(x: np.ndarray, hidden: int, batch: int, path: str):
    """A fresh RBM set up for one training path, and its one-epoch ``learn`` call."""
    from accelbrainbase.data import ArrayIterator
    from accelbrainbase.models import RestrictedBoltzmannMachines

    rbm = RestrictedBoltzmannMachines(x.shape[1], hidden, seed=0)
    if path == "fused":
        rbm.fused_max_size = max(rbm.fused_max_size, (hidden + 1) * (x.shape[1] + 1))
    else:
        rbm.fused_batches = 0
        if path == "imperative":
            rbm.cd.hybridize(active=False)
    it = ArrayIterator(x, batch_size=batch, epochs=1, seed=0)
    return rbm, lambda: rbm.learn(it, verbose=False)


def _sklearn(x: np.ndarray, hidden: int, batch: int) -> Callable[[], object]:
    from sklearn.neural_network import BernoulliRBM

    def fit() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            BernoulliRBM(n_components=hidden, batch_size=batch, n_iter=1, random_state=0).fit(x)

    return fit


def _measure(x: np.ndarray, hidden: int, batch: int, rounds: int, paths: List[str],
             baselines: Tuple[str, ...] = ("numpy", "sklearn"), steps: bool = False) -> Dict[str, float]:
    """Fastest epoch time (s) of each of our ``paths`` and of the ``baselines`` (interleaved); with
    ``steps``, also the fused path's training steps alone (``"fused steps"``)."""
    fns: Dict[str, Callable[[], object]] = {}
    models = {}
    for path in paths:
        models[path], fns[path] = _ours(x, hidden, batch, path)
    if "numpy" in baselines:
        numpy_rbm = NumpyCD1(x.shape[1], hidden)
        fns["numpy"] = lambda: numpy_rbm.epoch(x, batch)
    if "sklearn" in baselines:
        fns["sklearn"] = _sklearn(x, hidden, batch)
    if steps and "fused" in models:
        # The fused graph's share: training steps only (no per-epoch metric, no fit bookkeeping).
        from accelbrainbase.data import ArrayIterator

        it = ArrayIterator(x, batch_size=batch, epochs=1, seed=0)

        def steps_only() -> object:
            rbm = models["fused"]
            samples, rbm.pll_samples = rbm.pll_samples, 0  # no pseudo-likelihood figure
            try:
                return rbm.train_epoch(it.train_batches(0))
            finally:
                rbm.pll_samples = samples

        fns["fused steps"] = steps_only
    return interleaved_best(fns, rounds)


def run(quick: bool = False) -> List[Table]:
    """Measure RBM training; returns the main table and the settings table."""
    import mxnet as mx

    rounds_large, rounds_small = (1, 2) if quick else (3, 15)
    sgemm = sgemm_gflops(1024 if quick else 2048)
    main = Table("RBM CD-1 training - one epoch (`learn`), ours vs plain numpy and scikit-learn in the same run",
                 ["data", "V-H, batch", "training path", "epoch s", "samples/s", "GFLOP/s",
                  "of sgemm", "vs numpy CD-1", "vs scikit-learn"])
    notes = []
    for label, x, hidden, batch in _datasets(quick):
        large = x.shape[1] > 100
        paths = ["per-batch", "imperative"] if large else ["fused", "per-batch", "imperative"]
        times = _measure(x, hidden, batch, rounds_large if large else rounds_small, paths, steps=not large)
        flops = 10.0 * x.shape[1] * hidden * len(x)
        sizes = f"{x.shape[1]}-{hidden}, {batch}"
        names = {"fused": "fused epoch graph", "per-batch": "per-batch graph", "imperative": "per-batch imperative"}
        default = "fused" if not large else "per-batch"
        for path in paths:
            t = times[path]
            main.add(label, sizes, names[path] + (" (default)" if path == default else ""), f"{t:.3f}",
                     fmt_rate(len(x) / t), f"{flops / t / 1e9:.1f}", f"{flops / t / 1e9 / sgemm:.0%}",
                     fmt_ratio(t / times["numpy"]), fmt_ratio(t / times["sklearn"]))
        if "fused steps" in times:
            t = times["fused steps"]
            main.add(label, sizes, "fused: training steps only", f"{t:.3f}", fmt_rate(len(x) / t),
                     f"{flops / t / 1e9:.1f}", f"{flops / t / 1e9 / sgemm:.0%}", fmt_ratio(t / times["numpy"]),
                     fmt_ratio(t / times["sklearn"]))
        for name, base in (("numpy", "numpy float32 CD-1"), ("sklearn", "scikit-learn BernoulliRBM")):
            t = times[name]
            main.add(label, sizes, base, f"{t:.3f}", fmt_rate(len(x) / t), f"{flops / t / 1e9:.1f}",
                     f"{flops / t / 1e9 / sgemm:.0%}", fmt_ratio(t / times["numpy"]), fmt_ratio(t / times["sklearn"]))
        notes.append(f"{label}: N = {len(x)}; fastest of {rounds_large if large else rounds_small} interleaved "
                     "rounds after a warm-up round.")
        if large:
            needed = 8 * flops / times["sklearn"] / 1e9
            notes.append(f"{label}: an epoch 8x faster than scikit-learn's would need {needed:.0f} GFLOP/s, "
                         f"{needed / sgemm:.1f}x this machine's numpy GEMM rate.")
    main.notes += notes
    main.notes.append(f"numpy float32 GEMM ({1024 if quick else 2048}^2) on this machine: {sgemm:.1f} GFLOP/s; "
                      f"MXNet FullyConnected on the RBM's 100x784x500 product: {fc_gflops():.1f} GFLOP/s. "
                      "CD-1 FLOP = 10 V H per sample. 'vs ...' columns are time ratios (below 1 = faster).")
    main.notes.append("'fused: training steps only' is `train_epoch` over the iterator's batches (no per-epoch "
                      "pseudo-likelihood, history or NaN-guard snapshot).")
    main.notes.append("MXNet settings of this process: " + ", ".join(
        f"{k}={os.environ.get(k, '(unset)')}" for k in ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE"))
        + f"; MXNet {mx.__version__} uses {_mxnet_threads()} OpenMP thread(s) per operator here.")
    main.notes.append(f"peak RSS of the process after the RBM benchmarks: {peak_rss_mb():.0f} MiB")
    return [main, _settings_table(quick)]


def _mxnet_threads() -> str:
    """What MXNet's OpenMP layer recommends (it halves the core count when OMP_NUM_THREADS is unset)."""
    if "OMP_NUM_THREADS" in os.environ:
        return os.environ["OMP_NUM_THREADS"]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return str(max(1, cores // 2))


def _settings_table(quick: bool) -> Table:
    large_n = 1_000 if quick else 10_000
    table = Table(f"RBM CD-1 epoch under MXNet threading/engine settings (child processes; MNIST-size N={large_n}, "
                  "digits N=1437)",
                  ["settings", "784-500 ours s", "784-500 numpy s", "ours vs numpy", "64-100 ours s",
                   "64-100 scikit-learn s", "ours vs scikit-learn"])
    for setting in SETTINGS:
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        env.update(setting)
        label = ", ".join(f"{k}={v}" for k, v in setting.items()) or "none set (defaults)"
        config = json.dumps({"quick": quick, "large_n": large_n})
        command = [sys.executable, "-m", "benchmarks.bench_rbm", "--child", config]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=1800)
        if result.returncode != 0:
            table.add(label, *(["failed"] * 6))
            table.notes.append(f"{label}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else '?'}")
            continue
        r = json.loads(result.stdout.strip().splitlines()[-1])
        table.add(label, f"{r['large']:.3f}", f"{r['large_numpy']:.3f}", fmt_ratio(r["large"] / r["large_numpy"]),
                  f"{r['small']:.4f}", f"{r['small_sklearn']:.4f}", fmt_ratio(r["small"] / r["small_sklearn"]))
    table.notes.append("Each row is its own process with only the named variables set; ours is the default "
                       "training path (per-batch graph for 784-500, fused epoch graph for 64-100), baselines "
                       "run in the same process (OMP_NUM_THREADS also sets numpy's OpenBLAS threads).")
    return table


def _child(config: Dict[str, object]) -> None:
    """Entry of a settings child process: prints one JSON line of epoch times."""
    quick = bool(config["quick"])
    rounds_large, rounds_small = (1, 2) if quick else (3, 15)
    large, small = _datasets(quick, int(config["large_n"]))
    out = {}
    t = _measure(large[1], large[2], large[3], rounds_large, ["per-batch"], ("numpy",))
    out["large"], out["large_numpy"] = t["per-batch"], t["numpy"]
    t = _measure(small[1], small[2], small[3], rounds_small, ["fused"], ("sklearn",))
    out["small"], out["small_sklearn"] = t["fused"], t["sklearn"]
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:
        for table in run(quick="--quick" in sys.argv):
            print(table.to_markdown())
