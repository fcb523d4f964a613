"""Anomaly detection on real series: EncDec-AD (LSTM and Transformer) against PCA + Mahalanobis.

Seven data sets that packages ship (`data.anomaly_sets`), under two protocols:

- one-class (real anomalies): UCR GunPoint, ItalyPowerDemand, UEA JapaneseVowels - one class is
  normal (its training series are all the model and the detector see), every test series is scored,
  anomalous when it belongs to another class; each of the first two classes in turn is normal and
  the set's figure is the mean over them. UCR anomaly archive 135: the training part is normal, a
  test window is anomalous when it overlaps the labelled anomaly.
- injected: statsmodels co2 (monthly, differenced), sunspots, elnino - the first half of the series
  trains, the next fifth is held-out normal data, every window of the last 30 % is scored clean and
  with one injected spike, level shift, noise burst or stuck sensor.

The three detectors see the same windows: ``train`` to fit, ``normal`` (held-out normal windows) to
fit the Gaussian of the errors, and the test windows to score. Figures: ROC-AUC of the scores, mean
and spread (max - min) over `SEEDS` (PCA has no seed), and the seconds one training run takes (the
set's tasks, mean over seeds). The seeds are not those the default recipe was explored with (0-2);
the recipe's alternatives are compared on other data sets (`data.anomaly_sets.TUNING_SETS`) by
`bench_anomaly_recipe`.

- PCA + Mahalanobis: `models.anomaly.pca_anomaly_scores` with its label-free defaults - the
  components explaining 90 % of the training windows' variance, a Ledoit-Wolf shrunk covariance.
- LSTM EncDec-AD, the default recipe: ``EncoderDecoder.for_anomaly_detection(T, F, seed=s)`` (code
  ``code_size(T, F)``, an ensemble of 3 members, unconditioned decoder, standardized inputs) and
  `learn_anomaly_detector(train, normal)` (about 333 updates of every member, the epoch whose mean
  reconstruction of ``normal`` is best, a Ledoit-Wolf Gaussian).
- Transformer EncDec-AD: ``TransformerEncoderDecoder(F, num_layers=1, seed=s)`` (d = 32, 4 heads,
  code 16), the same recipe with a budget of `TRANSFORMER_UPDATES` updates (its updates cost several
  times the LSTM's here).

The column "normal test / held-out error" is the mean squared reconstruction error of the test
set's normal windows over that of the held-out normal windows: above 1 when the test range drifts
away from the data the detector was fitted on, which costs ROC-AUC (clean windows look anomalous).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .common import Table, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 57

__all__ = ["NAME", "run", "DATASETS", "SEEDS", "MAX_CLASSES", "TRANSFORMER_UPDATES",
           "lstm_scores", "transformer_scores", "pca_scores", "pca_errors", "raw_scores", "error_drift"]

NAME = "anomaly"

#: The benchmark's data sets (keys of `data.anomaly_sets.ANOMALY_TASKS`), one-class first. ArrowHead
#: (T = 251, 12 series per class) loads too but is left out: it is the costliest per window to train.
DATASETS = ("GunPoint", "ItalyPowerDemand", "JapaneseVowels", "UCR-anomaly-135", "co2-monthly", "sunspots",
            "elnino")
#: Seeds of the trained detectors (fresh: the recipe was explored with seeds 0-2).
SEEDS = (10, 11, 12)
#: Of a classification set, the first (sorted) classes that take turns as the normal class.
MAX_CLASSES = 2
#: The Transformer's training budget (optimizer updates); the LSTM trains with the recipe's default.
TRANSFORMER_UPDATES = 300


def pca_errors(task: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed errors of PCA's reconstruction (90 % variance, fitted on ``task.train``) of the training,
    held-out normal and test windows, flattened: ``(N, T * F)`` each."""
    from sklearn.decomposition import PCA

    flat = task.train.reshape(len(task.train), -1)
    pca = PCA(0.9, svd_solver="full").fit(flat)

    def err(x: np.ndarray) -> np.ndarray:
        f = x.reshape(len(x), -1)
        return f - pca.inverse_transform(pca.transform(f))

    return err(task.train), err(task.normal), err(task.test)


def error_drift(task: Any, normal_errors: np.ndarray, test_errors: np.ndarray) -> float:
    """Mean squared error of the test set's normal windows over that of the held-out normal windows."""
    clean = test_errors[np.asarray(task.labels) == 0]
    return float((clean ** 2).mean() / max((normal_errors ** 2).mean(), 1e-12))


def raw_scores(task: Any) -> np.ndarray:
    """No model: EncDec-AD's detector (Ledoit-Wolf Gaussian, Mahalanobis) on the windows themselves."""
    from accelbrainbase.models.anomaly import GaussianErrorModel

    def flat(x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)

    return GaussianErrorModel().fit(flat(task.normal)).distance(flat(task.test))


def pca_scores(task: Any) -> np.ndarray:
    """PCA + Mahalanobis with its label-free defaults (90 % variance, Ledoit-Wolf)."""
    from accelbrainbase.models.anomaly import pca_anomaly_scores

    return pca_anomaly_scores(task.train, task.normal, task.test)


def _scores_and_drift(model: Any, task: Any, updates: Optional[int]) -> Tuple[np.ndarray, float]:
    model.hybridize()
    model.learn_anomaly_detector(task.train, task.normal, updates=updates)
    drift = error_drift(task, model.reconstruction_error(task.normal, signed=True),
                        model.reconstruction_error(task.test, signed=True))
    return model.anomaly_score(task.test), drift


def _lstm(task: Any, seed: int, updates: Optional[int] = None) -> Tuple[np.ndarray, float]:
    from accelbrainbase.models import EncoderDecoder

    _, steps, features = task.train.shape
    return _scores_and_drift(EncoderDecoder.for_anomaly_detection(steps, features, seed=seed), task, updates)


def _transformer(task: Any, seed: int, updates: int = TRANSFORMER_UPDATES) -> Tuple[np.ndarray, float]:
    from accelbrainbase.models import TransformerEncoderDecoder

    return _scores_and_drift(TransformerEncoderDecoder(task.train.shape[2], num_layers=1, seed=seed), task, updates)


def lstm_scores(task: Any, seed: int, updates: Optional[int] = None) -> np.ndarray:
    """The LSTM EncDec-AD default recipe on ``task``; returns the test windows' scores ``(N,)``."""
    return _lstm(task, seed, updates)[0]


def transformer_scores(task: Any, seed: int, updates: int = TRANSFORMER_UPDATES) -> np.ndarray:
    """The Transformer EncDec-AD with the same recipe on ``task``; returns the test windows' scores ``(N,)``."""
    return _transformer(task, seed, updates)[0]


def _tasks(name: str, quick: bool) -> List[Any]:
    from accelbrainbase.data.anomaly_sets import anomaly_tasks

    return anomaly_tasks(name)[:1 if quick else MAX_CLASSES]


def _measure(tasks: Sequence[Any], fn: Callable[[Any, int], Tuple[np.ndarray, float]],
             seeds: Sequence[int]) -> Tuple[np.ndarray, float, float]:
    """Per seed the mean ROC-AUC over ``tasks``; the mean seconds per seed (all tasks); the mean drift."""
    from sklearn.metrics import roc_auc_score

    aucs, seconds, drifts = [], [], []
    for seed in seeds:
        start = time.perf_counter()
        runs = [(task, *fn(task, seed)) for task in tasks]
        seconds.append(time.perf_counter() - start)
        aucs.append(np.mean([roc_auc_score(task.labels, scores) for task, scores, _ in runs]))
        drifts += [drift for _, _, drift in runs]
    return np.asarray(aucs), float(np.mean(seconds)), float(np.mean(drifts))


def _cell(aucs: np.ndarray) -> str:
    if len(aucs) == 1:
        return f"{aucs[0]:.3f}"
    return f"{aucs.mean():.3f} ± {aucs.max() - aucs.min():.3f} ({' / '.join(f'{a:.3f}' for a in aucs)})"


def run(quick: bool = False) -> List[Table]:
    """ROC-AUC (mean, spread over seeds) and training seconds of the three detectors on every data set."""
    from sklearn.metrics import roc_auc_score

    from accelbrainbase.data.anomaly_sets import ANOMALY_TASKS

    names = ("ItalyPowerDemand", "sunspots") if quick else DATASETS
    seeds = SEEDS[:1] if quick else SEEDS
    lstm_updates, transformer_updates = (20, 20) if quick else (None, TRANSFORMER_UPDATES)
    table = Table("Anomaly detection on real series - ROC-AUC, mean ± spread (max - min) over seeds "
                  f"{', '.join(map(str, seeds))} (per seed)",
                  ["data set", "protocol", "windows train / normal / test", "T × F", "no model",
                   "PCA + Mahalanobis (k)", "LSTM EncDec-AD", "Transformer EncDec-AD",
                   "seconds PCA / LSTM / Transformer",
                   "normal test / held-out error (PCA / LSTM)"])
    means: Dict[str, List[float]] = {"raw": [], "pca": [], "lstm": [], "transformer": []}
    below, unstable = [], []
    for name in names:
        tasks = _tasks(name, quick)
        start = time.perf_counter()
        pca = float(np.mean([roc_auc_score(t.labels, pca_scores(t)) for t in tasks]))
        pca_s = time.perf_counter() - start
        raw = float(np.mean([roc_auc_score(t.labels, raw_scores(t)) for t in tasks]))
        pca_drift = float(np.mean([error_drift(t, *pca_errors(t)[1:]) for t in tasks]))
        lstm, lstm_s, lstm_drift = _measure(tasks, lambda t, s: _lstm(t, s, lstm_updates), seeds)
        transformer, transformer_s, _ = _measure(tasks, lambda t, s: _transformer(t, s, transformer_updates), seeds)
        means["raw"].append(raw)
        means["pca"].append(pca)
        means["lstm"].append(float(lstm.mean()))
        means["transformer"].append(float(transformer.mean()))
        if lstm.mean() < pca - 0.03:
            below.append(f"{name} ({lstm.mean() - pca:+.3f})")
        if lstm.max() - lstm.min() > 0.03:
            unstable.append(f"{name} ({lstm.max() - lstm.min():.3f})")
        t0 = tasks[0]
        from sklearn.decomposition import PCA

        k = PCA(0.9, svd_solver="full").fit(t0.train.reshape(len(t0.train), -1)).n_components_
        table.add(name + (f" ({len(tasks)} normal classes)" if len(tasks) > 1 else ""), ANOMALY_TASKS[name][0],
                  f"{len(t0.train)} / {len(t0.normal)} / {len(t0.test)}", f"{t0.train.shape[1]} × {t0.train.shape[2]}",
                  f"{raw:.3f}", f"{pca:.3f} ({k})", _cell(lstm), _cell(transformer),
                  f"{pca_s:.1f} / {lstm_s:.0f} / {transformer_s:.0f}",
                  f"{pca_drift:.1f} / {lstm_drift:.1f}")
        print(f"  {name}: PCA {pca:.3f}, LSTM {_cell(lstm)} ({lstm_s:.0f} s), Transformer {_cell(transformer)} "
              f"({transformer_s:.0f} s)", file=sys.stderr, flush=True)
    mean_pca, mean_lstm = float(np.mean(means["pca"])), float(np.mean(means["lstm"]))
    table.add("mean over data sets", "", "", "", f"{np.mean(means['raw']):.3f}", f"{mean_pca:.3f}", f"{mean_lstm:.3f}",
              f"{np.mean(means['transformer']):.3f}", "", "")
    table.notes.append("one-class: one class normal (each of the first two in turn; the windows of the first "
                       "shown), every test series scored; UCR-anomaly-135: windows overlapping the labelled anomaly "
                       "are anomalous. injected: the last 30 % of the series, every window clean and with one "
                       "injected spike / level shift / noise burst / stuck sensor (`data.anomaly_sets`).")
    table.notes.append("no model: the detector's Gaussian (Ledoit-Wolf) fitted to the held-out normal windows "
                       "themselves, Mahalanobis distance of each test window - what the reconstruction must add to.")
    table.notes.append("PCA: components at 90 % of the training variance (k shown for the first task), Ledoit-Wolf "
                       "covariance of the held-out normal windows' errors (`pca_anomaly_scores` defaults). LSTM: "
                       "`EncoderDecoder.for_anomaly_detection(T, F)` (code `code_size(T, F)`, 3 members), "
                       "`learn_anomaly_detector(train, normal)` "
                       f"({lstm_updates or 'about 333'} updates, the best epoch on the held-out normal windows, "
                       "Ledoit-Wolf Gaussian); Transformer: `TransformerEncoderDecoder(F, num_layers=1)`, the "
                       f"same with {transformer_updates} updates. seconds: one run over the set's tasks, "
                       "detector included (mean over seeds).")
    table.notes.append(f"LSTM mean {'>=' if mean_lstm >= mean_pca else '<'} PCA mean "
                       f"({mean_lstm:.3f} vs {mean_pca:.3f}). LSTM more than 0.03 below PCA: "
                       + (", ".join(below) if below else "none") + ". LSTM seed spread above 0.03: "
                       + (", ".join(unstable) if unstable else "none") + ".")
    table.notes.append(f"peak RSS of the process after the anomaly benchmark: {peak_rss_mb():.0f} MiB")
    return [table]
