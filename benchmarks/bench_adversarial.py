"""Adversarial family: `GANController`, `ConditionalGANController`, `AAEController` training speed.

Digits (scikit-learn ``load_digits`` scaled to [0, 1], the 1437 training samples of an 80/20 split,
``random_state=0``), MLP players of ``for_vectors`` (hidden 256-256), batch 64, through the real user
path ``controller.learn(it)``, hybridized and imperative. One training sample = one real sample passed
through every phase of the controller (GAN: a discriminator and a generator step; AAE: reconstruction,
discriminator and generator steps).

Baseline, measured in the same run: the same players and phases written as a plain hand-made Gluon
loop (hybridized blocks, `gluon.Trainer`, noise drawn on the device) without the library's `fit`
machinery - what the library's controllers cost on top of bare Gluon.
"""
from __future__ import annotations

from typing import Callable, List, Tuple

import numpy as np

from .common import Table, best_rate, fmt_rate, fmt_ratio, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 60

__all__ = ["NAME", "run"]

NAME = "adversarial"


def _digits(quick: bool) -> np.ndarray:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x = (load_digits().data / 16.0).astype(np.float32)
    x_train, _ = train_test_split(x, test_size=0.2, random_state=0)
    return x_train[:128] if quick else x_train


def _plain_gluon_gan(x: np.ndarray, batch: int) -> Callable[[], None]:
    """One epoch of a bare Gluon non-saturating GAN with the same MLPs and Adam settings."""
    import mxnet as mx
    from mxnet import autograd, gluon
    from mxnet.gluon import nn

    def mlp(n_in: int, n_out: int) -> nn.HybridSequential:
        net = nn.HybridSequential()
        net.add(nn.Dense(256, in_units=n_in, activation="relu"), nn.Dense(256, in_units=256, activation="relu"),
                nn.Dense(n_out, in_units=256))
        net.initialize(mx.init.Xavier())
        net.hybridize()
        return net

    g, d = mlp(16, 64), mlp(64, 1)
    bce = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    opt = {"learning_rate": 1e-3, "beta1": 0.5}
    tg, td = gluon.Trainer(g.collect_params(), "adam", opt), gluon.Trainer(d.collect_params(), "adam", opt)
    data = mx.nd.array(x)

    def epoch() -> None:
        for i in range(0, len(x), batch):
            real = data[i:i + batch]
            n = real.shape[0]
            fake = g(mx.nd.random.normal(shape=(n, 16))).sigmoid()
            with autograd.record():
                out = d(mx.nd.concat(real, fake, dim=0))
                loss = bce(out[:n], mx.nd.ones((n, 1))) + bce(out[n:], mx.nd.zeros((n, 1)))
            loss.backward()
            td.step(n)
            with autograd.record():
                loss = bce(d(g(mx.nd.random.normal(shape=(n, 16))).sigmoid()), mx.nd.ones((n, 1)))
            loss.backward()
            tg.step(n)

    return epoch


def _ours(make: Callable[[], object], x: np.ndarray, y, batch: int, repeats: int,
          min_time: float) -> Tuple[float, float]:
    from accelbrainbase.data import ArrayIterator

    def rate(model: object) -> float:
        it = ArrayIterator(x, y, batch_size=batch, epochs=1, seed=0)
        return best_rate(lambda: model.learn(it, verbose=False), len(x), repeats, min_time=min_time)

    hybridized = make()
    hybridized.hybridize()
    return rate(hybridized), rate(make())


def run(quick: bool = False) -> List[Table]:
    """Measure the adversarial controllers on digits; returns one training table."""
    from accelbrainbase.controllers import AAEController, ConditionalGANController, GANController
    from accelbrainbase.data import NormalNoiseSampler

    repeats, min_time = (1, 0.0) if quick else (5, 1.0)
    batch = 64
    x = _digits(quick)
    y = np.arange(len(x)) % 10
    table = Table(f"Adversarial controllers - training samples/s on digits (`learn`; fastest of >= {repeats} "
                  f"epochs timed over >= {min_time:g} s, after a warm-up epoch)",
                  ["model", "players", "batch", "hybridized", "imperative", "hybrid/imperative",
                   "baseline", "baseline samples/s", "ours/baseline"])
    baseline = best_rate(_plain_gluon_gan(x, batch), len(x), repeats, min_time=min_time)
    cases = [
        ("GANController", "G 16-256-256-64, D 64-256-256-1", None,
         lambda: GANController.for_vectors(64, 16, [256, 256], seed=0), baseline),
        ("ConditionalGANController", "as GAN + 10 one-hot conditions", y,
         lambda: ConditionalGANController.for_vectors(64, 10, 16, [256, 256], seed=0), baseline),
        ("AAEController", "enc 64-256-256-2, dec 2-256-256-64, D 2-128-128-1", None,
         lambda: AAEController.for_vectors(64, 2, [256, 256], prior=NormalNoiseSampler(batch, 2, seed=0), seed=0),
         None),
    ]
    for name, players, labels, make, base in cases:
        hybrid, imperative = _ours(make, x, labels, batch, repeats, min_time)
        table.add(name, players, batch, fmt_rate(hybrid), fmt_rate(imperative), fmt_ratio(hybrid / imperative),
                  "plain Gluon GAN loop" if base else "-", fmt_rate(base), fmt_ratio(hybrid / base if base else None))
    table.notes.append(f"N = {len(x)} digits training samples; Adam (beta1 0.5) for every player; the plain Gluon "
                       "baseline runs the GAN's two phases with the same layers, hybridized, on the same arrays.")
    table.notes.append("The AAE runs three phases per batch (reconstruction, discriminator, generator).")
    table.notes.append(f"peak RSS of the process after the adversarial benchmarks: {peak_rss_mb():.0f} MiB")
    return [table]
