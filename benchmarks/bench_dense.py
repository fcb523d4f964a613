"""Dense family: `NeuralNetworks` (MLP classifier) and tied `AutoEncoder`.

Two sizes, each hybridized and imperative, through the real user path ``model.learn(it)``:

- digits: scikit-learn ``load_digits`` scaled to [0, 1], the 1437 training samples of an 80/20
  split (``random_state=0``); MLP 64-128-10 and AE 64-32-64, batch 32;
- MNIST-sized: 10 000 uniform random samples of 784 features; MLP 784-500-10 and AE 784-128-784,
  batch 100.

Baselines, measured in the same run: scikit-learn's ``MLPClassifier`` (same layers, Adam, same batch
size, one epoch per ``fit`` with ``max_iter=1``) for the MLP, and `NumpyTiedAE`, a plain numpy
float32 tied auto-encoder doing the same Adam step as ours, for the AE.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

from .common import Table, best_rate, fmt_rate, fmt_ratio, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 10

__all__ = ["NAME", "run", "NumpyTiedAE"]

NAME = "dense"


@dataclass
class Dataset:
    """One benchmark size: data and the layer sizes used on it."""

    label: str
    x: np.ndarray  # (N, n_in) float32 in [0, 1]
    y: np.ndarray  # (N,) int labels 0..9
    hidden: int  # MLP hidden units
    code: int  # AE code units
    batch: int


def datasets(quick: bool) -> List[Dataset]:
    """The digits-sized and MNIST-sized datasets (tiny ones with ``quick``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, _, y_train, _ = train_test_split(x, digits.target, test_size=0.2, random_state=0)
    n_mnist = 200 if quick else 10_000
    if quick:
        x_train, y_train = x_train[:256], y_train[:256]
    rng = np.random.RandomState(0)
    return [
        Dataset("digits 64", x_train, y_train, hidden=128, code=32, batch=32),
        Dataset("MNIST-size 784", rng.rand(n_mnist, 784).astype(np.float32),
                rng.randint(0, 10, n_mnist), hidden=500, code=128, batch=100),
    ]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-z))


class NumpyTiedAE:
    """Plain numpy float32 tied auto-encoder, the AE baseline.

    ``h = sigmoid(x W^T + b_h)``, ``r = sigmoid(h W + b_v)``, loss = mean over the batch of the
    per-sample mean squared error, Adam (lr 1e-2, the `AutoEncoder` default) - the same step as
    `accelbrainbase.models.AutoEncoder(tied_weights=True)`.
    """

    def __init__(self, n_in: int, n_code: int, lr: float = 1e-2, seed: int = 0) -> None:
        self.rng = np.random.RandomState(seed)
        limit = np.sqrt(6.0 / (n_in + n_code))  # Xavier uniform, as ours
        self.params = [self.rng.uniform(-limit, limit, (n_code, n_in)).astype(np.float32),
                       np.zeros(n_code, np.float32), np.zeros(n_in, np.float32)]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.t = lr, 0

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        w, b_h, b_v = self.params
        return _sigmoid(_sigmoid(x @ w.T + b_h) @ w + b_v)

    def gradients(self, x: np.ndarray) -> Tuple[float, List[np.ndarray]]:
        """Summed per-sample loss of batch ``x`` and the gradients of its batch mean."""
        w, b_h, b_v = self.params
        h = _sigmoid(x @ w.T + b_h)
        r = _sigmoid(h @ w + b_v)
        err = r - x
        d_r = err * (np.float32(2.0 / err.size)) * r * (np.float32(1.0) - r)
        d_h = (d_r @ w.T) * h * (np.float32(1.0) - h)
        # The tied weight collects the decoder's and the encoder's gradient.
        grads = [h.T @ d_r + d_h.T @ x, d_h.sum(axis=0), d_r.sum(axis=0)]
        return float(np.square(err).mean(axis=1).sum()), grads

    def step(self, x: np.ndarray) -> float:
        """One Adam step on batch ``x``; returns the summed per-sample loss."""
        loss, grads = self.gradients(x)
        self.t += 1
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        lr_t = self.lr * np.sqrt(1 - beta2 ** self.t) / (1 - beta1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= np.float32(lr_t) * m / (np.sqrt(v) + np.float32(eps))
        return loss

    def epoch(self, x: np.ndarray, batch: int) -> float:
        order = self.rng.permutation(len(x))
        return sum(self.step(x[order[i:i + batch]]) for i in range(0, len(x), batch))


def _ours(make: Callable[[], object], data: Dataset, y: Optional[np.ndarray], repeats: int,
          min_time: float) -> Tuple[float, float, float]:
    """Train samples/s hybridized and imperative, and inference samples/s hybridized."""
    from accelbrainbase.data import ArrayIterator

    def train_rate(model: object) -> float:
        it = ArrayIterator(data.x, y, batch_size=data.batch, epochs=1, seed=0)
        return best_rate(lambda: model.learn(it, verbose=False), len(data.x), repeats, min_time=min_time)

    hybridized = make()
    hybridized.hybridize()
    hybrid = train_rate(hybridized)
    calls = max(1, 20_000 // len(data.x))  # enough work for a stable timing
    infer = best_rate(lambda: [hybridized.inference(data.x) for _ in range(calls)],
                      calls * len(data.x), repeats, min_time=min_time)
    return hybrid, train_rate(make()), infer


def _sklearn_mlp(data: Dataset, repeats: int, min_time: float) -> Tuple[float, float]:
    """scikit-learn MLPClassifier: train samples/s (one epoch per fit) and predict_proba samples/s."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    holder = {}

    def fit() -> None:
        holder["clf"] = MLPClassifier(hidden_layer_sizes=(data.hidden,), solver="adam",
                                      batch_size=data.batch, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            holder["clf"].fit(data.x, data.y)

    train = best_rate(fit, len(data.x), repeats, min_time=min_time)
    calls = max(1, 20_000 // len(data.x))
    infer = best_rate(lambda: [holder["clf"].predict_proba(data.x) for _ in range(calls)],
                      calls * len(data.x), repeats, min_time=min_time)
    return train, infer


def _numpy_ae(data: Dataset, repeats: int, min_time: float) -> Tuple[float, float]:
    """`NumpyTiedAE`: train samples/s and reconstruction samples/s."""
    ae = NumpyTiedAE(data.x.shape[1], data.code)
    train = best_rate(lambda: ae.epoch(data.x, data.batch), len(data.x), repeats, min_time=min_time)
    calls = max(1, 20_000 // len(data.x))
    infer = best_rate(lambda: [ae.reconstruct(data.x) for _ in range(calls)], calls * len(data.x), repeats,
                      min_time=min_time)
    return train, infer


def run(quick: bool = False) -> List[Table]:
    """Measure the dense family; returns a training table and an inference table."""
    from accelbrainbase.models import AutoEncoder, NeuralNetworks

    repeats, min_time = (1, 0.0) if quick else (5, 1.0)
    train = Table(f"Dense models - training samples/s (`learn`; fastest of >= {repeats} epochs timed "
                  f"over >= {min_time:g} s, after a warm-up epoch)",
                  ["model", "data", "batch", "hybridized", "imperative", "hybrid/imperative",
                   "baseline", "baseline samples/s", "ours/baseline"])
    infer = Table("Dense models - inference samples/s (hybridized `model.inference`, whole array)",
                  ["model", "data", "ours", "baseline", "baseline samples/s", "ours/baseline"])
    sizes = datasets(quick)
    for data in sizes:
        n_in = data.x.shape[1]
        cases = [
            ("NeuralNetworks %d-%d-10" % (n_in, data.hidden), data.y,
             lambda n_in=n_in, data=data: NeuralNetworks(n_in, [data.hidden], num_classes=10, seed=0),
             "scikit-learn MLPClassifier", _sklearn_mlp),
            ("AutoEncoder tied %d-%d-%d" % (n_in, data.code, n_in), None,
             lambda n_in=n_in, data=data: AutoEncoder(n_in, [data.code], tied_weights=True, seed=0),
             "numpy float32 tied AE", _numpy_ae),
        ]
        for name, y, make, base_name, baseline in cases:
            hybrid, imperative, ours_infer = _ours(make, data, y, repeats, min_time)
            base_train, base_infer = baseline(data, repeats, min_time)
            train.add(name, data.label, data.batch, fmt_rate(hybrid), fmt_rate(imperative),
                      fmt_ratio(hybrid / imperative), base_name, fmt_rate(base_train),
                      fmt_ratio(hybrid / base_train))
            infer.add(name, data.label, fmt_rate(ours_infer), base_name, fmt_rate(base_infer),
                      fmt_ratio(ours_infer / base_infer))
    train.notes.append(f"N = {len(sizes[0].x)} digits training samples, {len(sizes[1].x)} MNIST-sized "
                       "random samples; Adam in every case; baselines run on the same arrays.")
    train.notes.append("scikit-learn's figure is one `fit(max_iter=1)`: one epoch plus its input validation "
                       "and initialization; ours is one `learn` epoch through `training.fit`.")
    train.notes.append(f"peak RSS of the process after the dense benchmarks: {peak_rss_mb():.0f} MiB")
    return [train, infer]
