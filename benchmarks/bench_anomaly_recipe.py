"""How EncDec-AD's default recipe was chosen: candidate settings compared on the tuning sets only.

The anomaly benchmark (`bench_anomaly`) reports the LSTM EncDec-AD recipe on seven data sets. This
one compares the recipe with the alternatives that could replace it, on other data sets:
`data.anomaly_sets.TUNING_SETS` (UCR ArrowHead and OSULeaf, one-class; Airline, Lynx, Nile,
macrodata, Uschange and Daphnet, injected anomalies), none of them among the seven. A candidate
would replace the recipe only if it raised the mean ROC-AUC margin over PCA + Mahalanobis on these
sets; the seven reported sets play no part in the choice.

Every candidate is the recipe (``EncoderDecoder.for_anomaly_detection(T, F, seed=s)`` then
``learn_anomaly_detector(train, normal)``) with one change:

- a smaller or larger code (``hidden_dim`` from T·F/8 or T·F/2 instead of T·F/4, within 8..64);
- 5 ensemble members instead of 3 (same total budget);
- half or twice the training budget (about 167 or 667 optimizer steps instead of 333, each training
  every member);
- weight decay 1e-4 (Adam's ``wd``);
- training-time augmentation of the (standardized) windows: Gaussian input noise of 0.2 standard
  deviations with the clean window as target (a denoising auto-encoder), or a random amplitude
  scaling of each window by ``1 + 0.2 N(0, 1)`` (against amplitude drift).

Two detector variants are scored on the recipe's own reconstruction errors, and on PCA's: the
Gaussian fitted to the held-out normal windows' errors (the recipe) or to those pooled with the
training windows' errors (more samples for the covariance, at the price of errors the model was
fitted to).

Figures: per candidate, the mean over the tuning sets of ROC-AUC(LSTM) - ROC-AUC(PCA), the worst
set's margin, the largest seed spread, and each set's margin; seeds `SEEDS`.
"""
from __future__ import annotations

import functools
import sys
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from .bench_anomaly import pca_errors
from .common import Table, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending): after the anomaly benchmark.
ORDER = 58

__all__ = ["NAME", "run", "SEEDS", "CANDIDATES"]

NAME = "anomaly_recipe"

#: The seeds of the comparison (each set's figure is the mean over them).
SEEDS = (0, 1)
#: Of a classification set, the first (sorted) classes that take turns as the normal class.
MAX_CLASSES = 2

#: Signed reconstruction errors of a task's training, held-out normal and test windows.
Errors = Tuple[np.ndarray, np.ndarray, np.ndarray]


@functools.lru_cache(maxsize=None)
def _augmented_class() -> Any:
    """The candidates' `EncoderDecoder` with training-time augmentation (built on first use: importing
    this module needs no MXNet)."""
    from mxnet import autograd, nd

    from accelbrainbase.models import EncoderDecoder

    class AugmentedEncoderDecoder(EncoderDecoder):
        """`EncoderDecoder` trained on randomly altered copies of each mini-batch (candidates only).

        ``noise``: Gaussian noise of that many training standard deviations on the input, the clean
        window the target. ``amplitude``: each window's deviation from the training mean scaled by
        ``1 + amplitude * N(0, 1)``, input and target alike. Inference is `EncoderDecoder`'s.
        """

        def __init__(self, *args: Any, noise: float = 0.0, amplitude: float = 0.0, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.noise, self.amplitude = float(noise), float(amplitude)

        def compute_loss(self, x: Any, y: Any, teacher_forcing: Any = None) -> Any:
            if not autograd.is_training() or self.standardizer is None:
                return super().compute_loss(x, y, teacher_forcing)
            mean, scale = (nd.array(v, ctx=x.context).reshape((1, 1, -1)) for v in self.standardizer.statistics())
            target = x
            if self.amplitude > 0:
                factor = 1 + self.amplitude * nd.random.normal(shape=(x.shape[0], 1, 1), ctx=x.context)
                target = nd.broadcast_add(nd.broadcast_mul(nd.broadcast_sub(x, mean), factor), mean)
            inputs = target
            if self.noise > 0:
                inputs = target + nd.broadcast_mul(self.noise * nd.random.normal(shape=x.shape, ctx=x.context), scale)
            return super().compute_loss(inputs, target, teacher_forcing)

    return AugmentedEncoderDecoder


def _code(fraction: float) -> Callable[[int, int], Dict[str, Any]]:
    def settings(steps: int, features: int) -> Dict[str, Any]:
        return {"hidden_dim": int(min(64, max(8, round(steps * features * fraction))))}
    return settings


def _budget(factor: float) -> int:
    """``factor`` times the recipe's optimizer steps (each trains every member of the ensemble)."""
    from accelbrainbase.models import EncoderDecoder
    from accelbrainbase.models.anomaly import DEFAULT_UPDATES

    return int(round(factor * DEFAULT_UPDATES / EncoderDecoder.ANOMALY_MEMBERS))


#: name -> a function of ``(T, F)`` giving the keyword arguments that change the recipe's model
#: (``updates``: its training budget, passed to ``learn_anomaly_detector``).
CANDIDATES: Dict[str, Callable[[int, int], Dict[str, Any]]] = {
    "recipe (code T·F/4, 3 members)": lambda steps, features: {},
    "code T·F/8": _code(1 / 8),
    "code T·F/2": _code(1 / 2),
    "5 members": lambda steps, features: {"members": 5},
    "half the budget": lambda steps, features: {"updates": _budget(0.5)},
    "twice the budget": lambda steps, features: {"updates": _budget(2.0)},
    "weight decay 1e-4": lambda steps, features: {"optimizer_params": {"wd": 1e-4}},
    "input noise 0.2 (denoising)": lambda steps, features: {"noise": 0.2},
    "amplitude scaling 0.2": lambda steps, features: {"amplitude": 0.2},
}


def _auc_pair(task: Any, errors: Errors) -> Tuple[float, float]:
    """ROC-AUC with the Gaussian of the held-out normal errors, and of those pooled with the training errors."""
    from sklearn.metrics import roc_auc_score

    from accelbrainbase.models.anomaly import GaussianErrorModel

    train, normal, test = (e.reshape(len(e), -1) for e in errors)
    held_out = GaussianErrorModel().fit(normal).distance(test)
    pooled = GaussianErrorModel().fit(np.concatenate([normal, train])).distance(test)
    return float(roc_auc_score(task.labels, held_out)), float(roc_auc_score(task.labels, pooled))


def _lstm_errors(task: Any, seed: int, extra: Dict[str, Any], updates: Any) -> Errors:
    from accelbrainbase.models import EncoderDecoder

    _, steps, features = task.train.shape
    extra = dict(extra)
    budget = updates or extra.pop("updates", None)  # quick mode's tiny budget wins
    extra.pop("updates", None)
    cls = _augmented_class() if {"noise", "amplitude"} & set(extra) else EncoderDecoder
    model = cls.for_anomaly_detection(steps, features, seed=seed, **extra)
    model.hybridize()
    model.learn_anomaly_detector(task.train, task.normal, updates=budget)
    train, normal, test = (model.reconstruction_error(x, signed=True) for x in (task.train, task.normal, task.test))
    return train, normal, test


def _row(margins: Dict[str, float], spreads: Dict[str, float]) -> List[str]:
    worst = min(margins, key=margins.get)  # type: ignore[arg-type]
    return [f"{np.mean(list(margins.values())):+.3f}", f"{margins[worst]:+.3f} ({worst})",
            f"{max(spreads.values()):.3f}", ", ".join(f"{n} {m:+.3f}" for n, m in margins.items())]


def run(quick: bool = False, names: Sequence[str] = (), seeds: Sequence[int] = SEEDS) -> List[Table]:
    """The candidates' ROC-AUC margins over PCA + Mahalanobis on the tuning sets."""
    from accelbrainbase.data.anomaly_sets import TUNING_SETS, anomaly_tasks

    names = tuple(names) or (("nile", "lynx") if quick else TUNING_SETS)
    seeds = tuple(seeds)[:1] if quick else tuple(seeds)
    first = next(iter(CANDIDATES))
    candidates = {k: CANDIDATES[k] for k in (first, "input noise 0.2 (denoising)")} if quick else CANDIDATES
    updates = 20 if quick else None
    tasks = {name: anomaly_tasks(name)[:MAX_CLASSES] for name in names}
    pca = {name: np.mean([_auc_pair(t, pca_errors(t)) for t in ts], axis=0) for name, ts in tasks.items()}
    table = Table("EncDec-AD recipe candidates on the tuning sets - ROC-AUC(LSTM) - ROC-AUC(PCA + Mahalanobis), "
                  f"mean over seeds {', '.join(map(str, seeds))}",
                  ["candidate", "mean margin", "worst set", "largest seed spread", "per set", "seconds"])
    pooled_margins: Dict[str, float] = {}
    pooled_spreads: Dict[str, float] = {}
    pooled_pca = float(np.mean([pca[name][1] for name in names]))
    for label, settings in candidates.items():
        start = time.perf_counter()
        margins, spreads = {}, {}
        for name, ts in tasks.items():
            _, steps, features = ts[0].train.shape
            per_seed = np.array([np.mean([_auc_pair(t, _lstm_errors(t, seed, settings(steps, features), updates))
                                          for t in ts], axis=0) for seed in seeds])     # (seeds, 2)
            margins[name] = float(per_seed[:, 0].mean() - pca[name][0])
            spreads[name] = float(np.ptp(per_seed[:, 0]))
            if label == first:  # the detector variant, on the recipe's own errors
                pooled_margins[name] = float(per_seed[:, 1].mean() - pca[name][1])
                pooled_spreads[name] = float(np.ptp(per_seed[:, 1]))
        seconds = time.perf_counter() - start
        table.add(label, *_row(margins, spreads), f"{seconds:.0f}")
        print(f"  {label}: {_row(margins, spreads)[:3]} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    table.add("recipe, Gaussian of held-out + training errors (PCA the same)", *_row(pooled_margins, pooled_spreads),
              "")
    table.notes.append("tuning sets: " + ", ".join(f"{n} (PCA {pca[n][0]:.3f})" for n in names)
                       + f"; PCA's mean {np.mean([pca[n][0] for n in names]):.3f}, with the pooled Gaussian "
                       f"{pooled_pca:.3f}. A one-class set's figure is the mean over its first two classes.")
    table.notes.append("margin: the LSTM's ROC-AUC (mean over seeds) minus PCA + Mahalanobis's (90 % variance, "
                       "Ledoit-Wolf), per set; positive = the LSTM is ahead. The seven sets of the anomaly "
                       "benchmark are not used here.")
    table.notes.append(f"peak RSS of the process after the recipe comparison: {peak_rss_mb():.0f} MiB")
    return [table]
