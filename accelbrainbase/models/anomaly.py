"""EncDec-AD: the anomaly detector shared by the zoo's sequence auto-encoders.

Malhotra et al. 2016, "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection": a model
trained to reconstruct normal windows reconstructs anomalous ones badly. The detector turns the
reconstruction error into a score and an alarm:

1. the reconstruction errors of normal windows that were *not* used for training (the paper's vN1):
   signed ``x - x'`` (the default) or the paper's ``|x - x'|``, each window's ``(T, F)`` errors
   flattened to one vector;
2. a multivariate Gaussian of those vectors (`GaussianErrorModel`, its covariance shrunk towards a
   scaled identity by the Ledoit-Wolf estimate, so that it stays invertible and well conditioned
   for long windows and few normal samples);
3. the anomaly score of a window: the Mahalanobis distance of its error vector to that Gaussian;
4. an alarm when the score exceeds a threshold, chosen by F-beta on labelled validation windows
   (`fbeta_threshold`; the paper's vN2 + vA), or a quantile of the normal windows' scores.

`EncDecADDetector` is that fitted state and its arithmetic, on error arrays; `EncDecADMixin` gives
any reconstructing `ObservableModel` the public methods (``fit_anomaly_detector``,
``anomaly_score``, ``predict_anomaly``) and keeps the detector in the model's ``extra_state``, so
``save``/``load`` and checkpoints carry it. `pca_anomaly_scores` is the same scoring on the errors of
PCA, the linear baseline.

The default recipe, ``EncoderDecoder.for_anomaly_detection(T, F)`` then
`EncDecADMixin.learn_anomaly_detector` (the README's "Anomaly detection on real series" has the
benchmark, ``python -m benchmarks anomaly``, and how each choice was made):

- inputs standardized by the training windows' statistics (`InputStandardizer`, in the model);
- a code that is a bottleneck for the window (`code_size`: ``T F / 4`` LSTM units within 8..64);
- an ensemble of 3 encoder/decoder pairs, each trained on its own, whose mean reconstruction gives
  the errors: single models disagreed from seed to seed on small training sets;
- a budget in optimizer updates (`DEFAULT_UPDATES` member-updates: about 333 steps of the
  3-member ensemble, the cost of one model's 1000), not in epochs, with a cosine decay, keeping the
  epoch that reconstructs the held-out normal windows best (no labels involved);
- the Ledoit-Wolf Gaussian of those windows' errors.

When a linear baseline does as well: on the benchmark, PCA + Mahalanobis (and often the detector's
Gaussian on the raw windows, with no model at all) matched or beat the LSTM where the training
set is a few dozen windows (UCR ItalyPowerDemand, JapaneseVowels), where the normal windows are
smooth and strongly correlated (a few components explain 90 % of their variance), and where the
test range drifts beyond the training range (sunspots: larger solar cycles later - the LSTM does not
extrapolate, PCA's linear reconstruction does). Run `pca_anomaly_scores` (or `EncDecADDetector` on
PCA's reconstruction errors) beside the model on your own held-out data before paying for training:

    >>> from sklearn.decomposition import PCA
    >>> rng = np.random.RandomState(0)
    >>> train, normal, test = rng.randn(200, 24, 1), rng.randn(50, 24, 1), rng.randn(10, 24, 1)
    >>> flat = lambda w: w.reshape(len(w), -1)
    >>> pca = PCA(0.9, svd_solver="full").fit(flat(train))
    >>> errors = lambda w: flat(w) - pca.inverse_transform(pca.transform(flat(w)))
    >>> detector = EncDecADDetector().fit_for_false_alarm_rate(errors(normal), 0.05)
    >>> detector.predict(detector.score(errors(test))).shape
    (10,)
    >>> np.allclose(detector.score(errors(test)), pca_anomaly_scores(train, normal, test))
    True
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..checks import as_numpy, check_array
from ..gluon_internals import structural_params
from ..registry import not_registered

__all__ = ["EncDecADDetector", "EncDecADMixin", "GaussianErrorModel", "InputStandardizer", "code_size",
           "fbeta_threshold", "DEFAULT_UPDATES", "ledoit_wolf_shrinkage", "pca_anomaly_scores",
           "best_pca_anomaly_baseline", "ERROR_KINDS"]

#: `EncDecADMixin.learn_anomaly_detector`'s budget in member-updates (optimizer steps times ensemble members).
DEFAULT_UPDATES = 1000

#: The reconstruction errors the detector can model: ``x - x'`` or ``|x - x'|``.
ERROR_KINDS = ("signed", "absolute")


def _check_error_kind(error: str) -> str:
    if error not in ERROR_KINDS:
        raise ValueError(f"error must be 'signed' or 'absolute', got {error!r}")
    return error


def fbeta_threshold(scores: np.ndarray, labels: np.ndarray, beta: float = 1.0) -> Tuple[float, float]:
    """The threshold ``tau`` maximising F-beta of the rule ``score > tau`` on labelled scores.

    Candidates are the midpoints between consecutive distinct scores (and just below the smallest).

    Args:
        scores: ``(N,)`` anomaly scores.
        labels: ``(N,)``, 1 = anomalous, 0 = normal; both kinds must occur.
        beta: ``< 1`` favours precision, ``> 1`` recall.

    Returns ``(tau, best F-beta)``.

    Example:
        >>> fbeta_threshold(np.array([0.1, 0.2, 0.9, 1.0]), np.array([0, 0, 1, 1]))
        (0.55, 1.0)
    """
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores and labels must be (N,) of equal length, got {scores.shape} and {labels.shape}")
    if not labels.any() or labels.all():
        raise ValueError("F-beta needs both normal (0) and anomalous (1) validation samples")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], labels[order]
    tp = np.cumsum(lab)               # flagging the top k+1 scores
    fp = np.cumsum(~lab)
    distinct = np.r_[s[1:] != s[:-1], True]  # cut only between different scores
    precision = tp / (tp + fp)
    recall = tp / lab.sum()
    b2 = beta * beta
    f = np.where(precision + recall > 0, (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-300), 0)
    f = np.where(distinct, f, -1)
    k = int(np.argmax(f))
    tau = (s[k] + s[k + 1]) / 2 if k + 1 < len(s) else s[k] - 1e-6 * max(1.0, abs(s[k]))
    return float(tau), float(f[k])


def ledoit_wolf_shrinkage(x: np.ndarray) -> float:
    """The Ledoit & Wolf (2004) shrinkage intensity ``a`` for the rows of ``x`` ``(M, d)``.

    ``a`` in [0, 1] minimises the expected squared (Frobenius) error of ``(1 - a) S + a (tr S / d) I``
    against the true covariance, ``S`` the maximum-likelihood covariance: near 1 when ``M`` is small
    against ``d``, near 0 when the sample pins ``S`` down. The same estimate as scikit-learn's
    ``ledoit_wolf_shrinkage``, in numpy.

    Example:
        >>> rng = np.random.RandomState(0)
        >>> few = ledoit_wolf_shrinkage(rng.randn(5, 50))
        >>> many = ledoit_wolf_shrinkage(rng.randn(5000, 5) * [1, 2, 3, 4, 5])
        >>> few > 0.5 > 0.05 > many
        True
    """
    x = np.asarray(x, np.float64)
    m, d = x.shape
    x = x - x.mean(axis=0)
    x2 = x * x
    variances = x2.sum(axis=0) / m
    mu = variances.sum() / d
    delta_raw = float(np.sum((x.T @ x) ** 2)) / m ** 2          # ||S||_F^2
    beta = (float(np.sum(x2.T @ x2)) / m - delta_raw) / (d * m)  # variance of the entries of S
    delta = (delta_raw - 2.0 * mu * variances.sum() + d * mu ** 2) / d   # ||S - mu I||_F^2 / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 or delta <= 0 else float(beta / delta)


class GaussianErrorModel:
    """Multivariate Gaussian of reconstruction-error vectors and their Mahalanobis distance.

    The covariance is shrunk towards a scaled identity, ``(1 - a) S + a (tr S / d) I`` (``a =
    shrinkage``), so it stays invertible when the vectors are long and the normal sample is small.
    ``shrinkage="auto"`` (the default) estimates ``a`` from the sample (Ledoit & Wolf 2004, with
    ``S`` the maximum-likelihood covariance, `ledoit_wolf_shrinkage`): strong shrinkage for a few
    dozen vectors of hundreds of values, little for thousands; a number fixes it (with ``S`` the
    unbiased covariance). Fitted state: ``mean`` ``(d,)``, ``precision`` ``(d, d)`` (the inverse
    covariance) and ``shrinkage_``, the intensity used.

    Example:
        >>> g = GaussianErrorModel(shrinkage=0.0).fit(np.random.RandomState(0).randn(5000, 2) * [1.0, 3.0])
        >>> np.round(g.distance(g.mean + np.array([[2.0, 0.0], [0.0, 6.0]])), 1)   # both 2 std away
        array([2., 2.])
    """

    def __init__(self, shrinkage: Any = "auto") -> None:
        if isinstance(shrinkage, str):
            if shrinkage != "auto":
                raise ValueError(f"shrinkage must be 'auto' or a number in [0, 1], got {shrinkage!r}")
        elif not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage must be 'auto' or in [0, 1], got {shrinkage}")
        self.shrinkage = shrinkage if isinstance(shrinkage, str) else float(shrinkage)
        self.shrinkage_: Optional[float] = None
        self.mean: Optional[np.ndarray] = None
        self.precision: Optional[np.ndarray] = None

    def fit(self, errors: np.ndarray) -> "GaussianErrorModel":
        """Fit mean and (shrunk) covariance to error vectors ``(M, d)``, ``M >= 2``; returns ``self``."""
        e = np.asarray(errors, np.float64)
        if e.ndim != 2 or len(e) < 2:
            raise ValueError(f"need at least 2 error vectors (M, d) to fit a Gaussian, got shape {e.shape}")
        self.mean = e.mean(axis=0)
        if self.shrinkage == "auto":
            a = ledoit_wolf_shrinkage(e)
            centred = e - self.mean
            cov = np.atleast_2d(centred.T @ centred / len(e))
        else:
            a = float(self.shrinkage)
            cov = np.atleast_2d(np.cov(e, rowvar=False))
        d = cov.shape[0]
        scale = max(np.trace(cov) / d, 1e-12)
        # The 1e-9 ridge keeps the inverse finite when every error vector is identical.
        cov = (1 - a) * cov + (a * scale + 1e-9 * scale) * np.eye(d)
        self.shrinkage_ = a
        self.precision = np.linalg.inv(cov)
        return self

    def distance(self, errors: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of ``errors`` ``(M, d)``: ``(M,)``."""
        if self.mean is None:
            raise RuntimeError("fit the Gaussian first")
        diff = np.asarray(errors, np.float64) - self.mean
        precision = np.asarray(self.precision)
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, precision, diff), 0.0))


class EncDecADDetector:
    """The fitted EncDec-AD detector (Malhotra et al. 2016) on reconstruction errors: a Gaussian of
    normal windows' error vectors, Mahalanobis scores, an alarm threshold.

    It knows nothing of models: give it error arrays (a model's ``x - x'``; `EncDecADMixin` does so
    for the zoo's sequence auto-encoders). Its state - Gaussian (mean, precision, shrinkage), window
    shape, error kind, threshold and its validation F-beta - converts to named arrays (`state`) and
    back (`from_state`), which is how a model's ``extra_state`` keeps it.

    Attributes:
        error: ``"signed"`` or ``"absolute"``: which errors the Gaussian describes.
        gaussian: the `GaussianErrorModel`, ``None`` before `fit`.
        window: ``(T, F)`` of the windows it was fitted on (scored windows must match).
        threshold: alarm when ``score > threshold``; ``threshold_fbeta``: its validation F-beta
            (``None`` for a quantile threshold).

    Shapes: errors ``(N, T, F)`` (any rank >= 2: each window is flattened); scores ``(N,)``.

    Example:
        >>> rng = np.random.RandomState(0)
        >>> detector = EncDecADDetector().fit(rng.randn(200, 5, 1) * 0.1)
        >>> detector.threshold_from_quantile(detector.score(rng.randn(200, 5, 1) * 0.1), 0.99)
        >>> detector.predict(detector.score(np.ones((2, 5, 1)))).tolist()    # errors of 10 std
        [True, True]
        >>> EncDecADDetector.from_state(detector.state()).threshold == detector.threshold
        True
    """

    #: The names under which `state` stores the detector (in a model's ``extra_state``).
    STATE_KEYS = ("detector_mean", "detector_precision", "detector_shrinkage", "detector_window",
                  "detector_signed", "threshold")

    def __init__(self, error: str = "signed") -> None:
        self.error = _check_error_kind(error)
        self.gaussian: Optional[GaussianErrorModel] = None
        self.window: Optional[Tuple[int, ...]] = None
        self.threshold: Optional[float] = None
        self.threshold_fbeta: Optional[float] = None

    @property
    def fitted(self) -> bool:
        """Whether `fit` has been called (the detector can score)."""
        return self.gaussian is not None

    def fit(self, normal_errors: np.ndarray, shrinkage: Any = "auto") -> "EncDecADDetector":
        """Fit the Gaussian to the errors of normal windows ``(M, T, F)``, ``M >= 2``; forgets the
        threshold (set it with `threshold_from_labels` or `threshold_from_quantile`). Returns ``self``."""
        errors = np.asarray(normal_errors)
        if errors.ndim < 2 or len(errors) < 2:
            raise ValueError(f"the detector needs the errors of at least 2 normal windows (M, T, F), "
                             f"got shape {errors.shape}")
        self.gaussian = GaussianErrorModel(shrinkage).fit(errors.reshape(len(errors), -1))
        self.window = tuple(int(d) for d in errors.shape[1:])
        self.threshold = self.threshold_fbeta = None
        return self

    def score(self, errors: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each window's error vector to the normal errors, ``(N,)``."""
        if self.gaussian is None:
            raise RuntimeError("the EncDec-AD detector is not fitted: call fit_anomaly_detector(normal_windows) "
                               "before anomaly_score")
        errors = np.asarray(errors)
        if tuple(errors.shape[1:]) != self.window:
            raise ValueError(f"windows of shape {tuple(errors.shape[1:])} cannot be scored: the detector was "
                             f"fitted on windows of shape {self.window} (T, F)")
        return self.gaussian.distance(errors.reshape(len(errors), -1))

    def threshold_from_labels(self, scores: np.ndarray, labels: np.ndarray, beta: float = 1.0) -> None:
        """The threshold maximising F-beta on labelled validation scores (`fbeta_threshold`)."""
        self.threshold, self.threshold_fbeta = fbeta_threshold(scores, labels, beta)

    def threshold_from_quantile(self, normal_scores: np.ndarray, quantile: float) -> None:
        """The ``quantile`` of normal windows' scores (when no anomalies are labelled)."""
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        self.threshold, self.threshold_fbeta = float(np.quantile(normal_scores, quantile)), None

    def fit_for_false_alarm_rate(self, normal_errors: np.ndarray, false_alarm_rate: float, shrinkage: Any = "auto",
                                 folds: int = 5) -> "EncDecADDetector":
        """Fit the Gaussian to all normal windows and set the threshold so that about
        ``false_alarm_rate`` of *new* normal windows raise an alarm.

        A quantile of the scores of the very windows the Gaussian was fitted on is too low: those
        windows are closer to their own mean and covariance than new ones are (a 0.99 in-sample
        quantile was measured to flag 8 % of later normal windows). So the scores are cross-fitted:
        the windows are cut into ``folds`` contiguous blocks (consecutive, overlapping windows of a
        series stay together), each block is scored by a Gaussian fitted on the others, and the
        threshold is the conformal ``(1 - rate)(1 + 1/M)`` quantile of those out-of-block scores.
        Returns ``self``.
        """
        errors = np.asarray(normal_errors)
        if not 0.0 < false_alarm_rate < 1.0:
            raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
        m = len(errors)
        folds = min(int(folds), m // 2)
        if folds < 2:
            raise ValueError(f"a false-alarm threshold needs at least 4 normal windows, got {m}")
        flat = errors.reshape(m, -1)
        held_out = np.empty(m)
        for block in np.array_split(np.arange(m), folds):
            rest = np.setdiff1d(np.arange(m), block)
            held_out[block] = GaussianErrorModel(shrinkage).fit(flat[rest]).distance(flat[block])
        self.fit(errors, shrinkage)
        level = min(1.0, (1.0 - false_alarm_rate) * (1.0 + 1.0 / m))
        self.threshold, self.threshold_fbeta = float(np.quantile(held_out, level, method="higher")), None
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """``scores > threshold``, ``(N,)`` bool."""
        if self.threshold is None:
            raise RuntimeError("the EncDec-AD detector has no threshold: call fit_anomaly_detector first")
        return np.asarray(scores) > self.threshold

    def state(self) -> Dict[str, np.ndarray]:
        """The fitted detector as named arrays (`STATE_KEYS`); empty before `fit`."""
        if self.gaussian is None:
            return {}
        threshold = np.nan if self.threshold is None else self.threshold
        fbeta = np.nan if self.threshold_fbeta is None else self.threshold_fbeta
        return {"detector_mean": np.asarray(self.gaussian.mean),
                "detector_precision": np.asarray(self.gaussian.precision),
                "detector_shrinkage": np.array([self.gaussian.shrinkage_]),
                "detector_window": np.array(self.window, dtype=np.int64),
                "detector_signed": np.array([int(self.error == "signed")], dtype=np.int64),
                "threshold": np.array([threshold, fbeta], dtype=np.float64)}

    @classmethod
    def from_state(cls, state: Dict[str, np.ndarray]) -> "EncDecADDetector":
        """The detector `state` described (an empty state gives an unfitted detector)."""
        if not state:
            return cls()
        if set(state) != set(cls.STATE_KEYS):
            raise ValueError(f"the saved EncDec-AD detector is incomplete: got {sorted(state)}, "
                             f"expected {sorted(cls.STATE_KEYS)}")
        detector = cls("signed" if int(np.ravel(state["detector_signed"])[0]) else "absolute")
        gaussian = GaussianErrorModel(float(np.ravel(state["detector_shrinkage"])[0]))
        gaussian.shrinkage_ = float(np.ravel(state["detector_shrinkage"])[0])
        gaussian.mean = np.asarray(state["detector_mean"], np.float64)
        gaussian.precision = np.asarray(state["detector_precision"], np.float64)
        detector.gaussian = gaussian
        detector.window = tuple(int(v) for v in np.ravel(state["detector_window"]))
        threshold, fbeta = (float(v) for v in np.ravel(state["threshold"]))
        detector.threshold = None if np.isnan(threshold) else threshold
        detector.threshold_fbeta = None if np.isnan(fbeta) else fbeta
        return detector


@not_registered("a layer (input scaling) of the EncDec-AD sequence auto-encoders, with no training loop of its own")
class InputStandardizer(gluon.HybridBlock):
    """Per-feature standardization fitted on training data, kept as two constant parameters.

    ``z = (x - mean) / scale`` over the last axis; ``mean`` and ``scale`` (``(F,)``, no gradient)
    start at 0 and 1 and are set once by `fit` from the training windows (`EncDecADMixin` does so
    before the first training epoch). Being parameters, they are saved, loaded and exported with
    the weights, and a hybridized graph includes them.

    Shapes: ``x (N, T, F)`` -> ``(z, mean (1, 1, F), scale (1, 1, F))``: the statistics come out too,
    so that the host can map its output back with ``out * scale + mean`` in the same graph.

    Example:
        >>> s = InputStandardizer(2); s.initialize()
        >>> s.fit(np.array([[[1.0, 10.0], [3.0, 30.0]]]))
        >>> s(mx.nd.array([[[3.0, 30.0]]]))[0].asnumpy().tolist()
        [[[1.0, 1.0]]]
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        with self.name_scope():
            self.mean = self.params.get("mean", shape=(int(features),), init=mx.init.Zero(), grad_req="null",
                                        differentiable=False)
            self.scale = self.params.get("scale", shape=(int(features),), init=mx.init.One(), grad_req="null",
                                         differentiable=False)

    def hybrid_forward(self, F, x, mean, scale):
        mean, scale = F.reshape(mean, shape=(1, 1, -1)), F.reshape(scale, shape=(1, 1, -1))
        return F.broadcast_div(F.broadcast_sub(x, mean), scale), mean, scale

    def fit(self, windows: np.ndarray) -> None:
        """Set ``mean`` and ``scale`` to the per-feature mean and standard deviation of ``windows``
        ``(N, T, F)`` (a constant feature keeps scale 1)."""
        x = np.asarray(windows, np.float64)
        flat = x.reshape(-1, x.shape[-1])
        std = flat.std(axis=0)
        scale = np.where(std > 1e-8 * max(1.0, float(np.abs(flat).max(initial=0.0))), std, 1.0)
        self.mean.set_data(mx.nd.array(flat.mean(axis=0)))
        self.scale.set_data(mx.nd.array(scale))

    def statistics(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(mean, scale)`` as numpy ``(F,)``."""
        return self.mean.data().asnumpy(), self.scale.data().asnumpy()


def code_size(seq_len: int, features: int = 1, low: int = 8, high: int = 64) -> int:
    """EncDec-AD's default code size for windows of ``seq_len`` steps of ``features`` values: a
    quarter of the window's values, within ``[low, high]``.

    An LSTM encoder hands the decoder its hidden and cell states, ``2 * hidden_dim`` numbers, so
    ``hidden_dim = T F / 4`` passes half as many numbers as the window holds: a real bottleneck, which
    keeps the auto-encoder from reconstructing anomalous windows as well as normal ones (64 units on
    a 24-step window can learn the identity).

    Example:
        >>> code_size(24), code_size(150), code_size(25, 12)
        (8, 38, 64)
    """
    return int(min(high, max(low, round(seq_len * features / 4))))


class _KeepBest:
    """A `fit` callback that remembers the parameters of the epoch with the lowest held-out loss
    (copies on the device: no trip to the host, no optimizer or history state) and `restore` puts
    them back."""

    def __init__(self) -> None:
        self.best, self.epoch = math.inf, -1
        self.params: Optional[Dict[str, mx.nd.NDArray]] = None

    def __call__(self, model: Any, epoch: int, logs: Dict[str, float]) -> None:
        loss = logs.get("test_loss", logs["train_loss"])
        if loss < self.best:
            self.best, self.epoch = loss, epoch
            self.params = {name: p.data().copy() for name, p in structural_params(model).items()}

    def restore(self, model: Any) -> None:
        if self.params is not None:
            for name, param in structural_params(model).items():
                param.set_data(self.params[name])


def _delegated(attribute: str, doc: str) -> property:
    return property(lambda self: getattr(self.anomaly_detector, attribute),
                    lambda self, value: setattr(self.anomaly_detector, attribute, value), doc=doc)


class EncDecADMixin:
    """EncDec-AD (Malhotra et al. 2016) for any sequence auto-encoder: `EncoderDecoder` and
    `TransformerEncoderDecoder` use it.

    The host is an `ObservableModel` whose ``inference(x)`` reconstructs windows ``(N, T, F)``; put
    the mixin before `ObservableModel` in the bases (``class M(EncDecADMixin, ObservableModel)``).
    It adds `reconstruction_error`, `fit_anomaly_detector`, `anomaly_score`, `predict_anomaly`, the
    fitted `EncDecADDetector` as ``anomaly_detector`` (its parts also as ``detector``,
    ``threshold``, ``threshold_fbeta``, ``detector_window``, ``detector_error``), and keeps it in
    ``extra_state``, so ``save``/``load`` and checkpoints carry the fitted detector.

    Example:
        >>> from accelbrainbase.models import EncoderDecoder
        >>> phase = np.random.RandomState(0).rand(64, 1, 1) * 6.28
        >>> x = np.sin(0.5 * np.arange(12)[None, :, None] + phase).astype(np.float32)
        >>> model = EncoderDecoder(input_dim=1, hidden_dim=8, seed=0).learn(x[:32], epochs=5, verbose=0)
        >>> model.fit_anomaly_detector(x[32:48], false_alarm_rate=0.1).anomaly_score(x[48:]).shape
        (16,)
        >>> sorted(k for k in model.extra_state() if k.startswith("detector"))[:2]
        ['detector_mean', 'detector_precision']
    """

    anomaly_detector: EncDecADDetector

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anomaly_detector = EncDecADDetector()

    detector = _delegated("gaussian", "The fitted `GaussianErrorModel` of normal errors (``None`` before fitting).")
    threshold = _delegated("threshold", "Alarm when ``anomaly_score(x) > threshold``.")
    threshold_fbeta = _delegated("threshold_fbeta", "Validation F-beta of the threshold (``None`` for a quantile).")
    detector_window = _delegated("window", "``(T, F)`` of the windows the detector was fitted on.")
    detector_error = _delegated("error", "``'signed'`` or ``'absolute'``: the errors the detector models.")

    #: The host's `InputStandardizer` (``None``: the host takes windows as they are).
    standardizer: Optional[InputStandardizer] = None

    def prepare(self, data: Any) -> None:
        """Before the first training epoch (an empty history), fit the host's `InputStandardizer`
        to the training windows; a later ``learn`` call, or a resumed run, keeps it."""
        super().prepare(data)  # type: ignore[misc]
        if self.standardizer is not None and len(self.history) == 0:  # type: ignore[attr-defined]
            self.standardizer.fit(data.training_arrays()[0])

    def reconstruction_error(self, observed_arr: Any, signed: bool = False, batch_size: int = 1024) -> np.ndarray:
        """Per-step reconstruction errors ``x - x'`` (``signed``) or ``|x - x'|``, ``(N, T, F)`` (numpy);
        with the host's `InputStandardizer`, in units of each feature's training standard deviation
        (so that features of different units weigh alike in the detector's shrunk covariance)."""
        x = check_array(as_numpy(observed_arr, "observed_arr"), "observed_arr", min_rank=3, max_rank=3)
        error = x - as_numpy(self.inference(x, batch_size=batch_size))  # type: ignore[attr-defined]
        if self.standardizer is not None:
            error = error / self.standardizer.statistics()[1].astype(error.dtype)
        return error if signed else np.abs(error)

    def learn_anomaly_detector(
        self,
        windows: Any,
        normal_windows: Any = None,
        *,
        holdout: float = 0.25,
        updates: Optional[int] = None,
        batch_size: int = 32,
        patience: Optional[int] = None,
        lr_decay: bool = True,
        false_alarm_rate: float = 0.01,
        shrinkage: Any = "auto",
        error: str = "signed",
        verbose: Any = 0,
        **fit_kwargs: Any,
    ) -> Any:
        """EncDec-AD's default recipe (Malhotra et al. 2016): train on normal windows, keep the epoch
        that reconstructs held-out normal windows best, fit the detector on those.

        1. ``normal_windows`` (default: the last ``holdout`` fraction of ``windows``, which are then
           not trained on) are the paper's vN1: the held-out normal windows;
        2. the model learns to reconstruct ``windows`` (its `InputStandardizer`, when it has one, is
           fitted to them first) for a budget of about ``updates`` optimizer steps (default
           `DEFAULT_UPDATES` divided by the model's ensemble ``members``, 1 when it has none: each
           step trains every member, so an ensemble costs what one model does), that is
           ``ceil(updates / batches per epoch)`` epochs (a few dozen windows need hundreds of
           passes, thousands a few; fewer windows than 8 batches are repeated within an epoch), with
           a cosine learning-rate decay to a tenth (``lr_decay``);
           after every epoch the reconstruction error of ``normal_windows`` is measured, and the
           parameters of the best epoch are restored at the end (early stopping without losing
           the best; ``patience`` epochs without improvement end training sooner);
        3. `fit_anomaly_detector` on ``normal_windows``: the Gaussian of their errors with a
           Ledoit-Wolf shrunk covariance (``shrinkage="auto"``) and a threshold for
           ``false_alarm_rate``.

        How these defaults were chosen, and when a linear baseline does as well: the README's
        "Anomaly detection on real series" section (``python -m benchmarks anomaly``).

        Args:
            windows: normal training windows ``(N, T, F)``.
            normal_windows: held-out normal windows ``(M, T, F)``, ``M >= 4``.
            holdout: the fraction of ``windows`` held out when ``normal_windows`` is not given.
            updates, batch_size, patience, lr_decay: the training budget and schedule (above).
            false_alarm_rate, shrinkage, error: passed to `fit_anomaly_detector`.
            verbose, fit_kwargs: passed to ``learn`` (e.g. ``callbacks``, ``checkpoint_dir``).

        Returns ``self``.

        Example:
            >>> model = EncoderDecoder.for_anomaly_detection(seq_len=24, seed=0)  # doctest: +SKIP
            >>> model.learn_anomaly_detector(train_windows, normal_windows)       # doctest: +SKIP
            >>> scores = model.anomaly_score(test_windows)                        # doctest: +SKIP
        """
        x = check_array(as_numpy(windows, "windows"), "windows", min_rank=3, max_rank=3)
        if normal_windows is None:
            if not 0.0 < holdout < 1.0:
                raise ValueError(f"holdout must be in (0, 1), got {holdout}")
            k = int(round(holdout * len(x)))
            if k < 4 or len(x) - k < 2:
                raise ValueError(f"{len(x)} windows are too few to hold out {holdout:.0%} of them (at least 4 "
                                 "held-out and 2 training windows); give normal_windows")
            x, normal = x[:-k], x[-k:]
        else:
            normal = check_array(as_numpy(normal_windows, "normal_windows"), "normal_windows", min_rank=3,
                                 max_rank=3)
            if len(normal) < 4:
                raise ValueError(f"normal_windows needs at least 4 windows, got {len(normal)}")
        if updates is None:
            updates = max(1, DEFAULT_UPDATES // int(getattr(self, "members", 1)))
        if updates < 1:
            raise ValueError(f"updates must be a positive number of optimizer steps, got {updates}")
        batch = min(int(batch_size), len(x))
        if math.ceil(len(x) / batch) < 8:
            # A few dozen windows: repeat them so that an epoch has 8 batches. The held-out check and
            # the loop's per-epoch work then come every 8 updates, not every update (2-2.5x faster).
            x = np.concatenate([x] * math.ceil(8 * batch / len(x)))
        epochs = max(1, math.ceil(updates / math.ceil(len(x) / batch)))
        callbacks = list(fit_kwargs.pop("callbacks", ()))
        keeper = _KeepBest()
        schedule = None
        if lr_decay:
            steps = epochs * math.ceil(len(x) / batch)
            lr = self.learning_rate  # type: ignore[attr-defined]
            schedule = mx.lr_scheduler.CosineScheduler(max_update=max(1, steps), base_lr=lr, final_lr=lr / 10)
        self.learn(x, epochs=epochs, batch_size=batch, test_data=normal,  # type: ignore[attr-defined]
                   callbacks=[keeper] + callbacks, patience=patience, lr_scheduler=schedule, verbose=verbose,
                   **fit_kwargs)
        keeper.restore(self)
        return self.fit_anomaly_detector(normal, false_alarm_rate=false_alarm_rate, shrinkage=shrinkage,
                                         error=error)

    def fit_anomaly_detector(
        self,
        normal_arr: Any,
        validation_arr: Any = None,
        validation_labels: Any = None,
        *,
        beta: float = 1.0,
        shrinkage: Any = "auto",
        false_alarm_rate: float = 0.01,
        quantile: Optional[float] = None,
        error: str = "signed",
    ) -> Any:
        """EncDec-AD: fit the error distribution of normal windows and choose the alarm threshold.

        Args:
            normal_arr: normal windows ``(M, T, F)`` *not used for training* (the paper's vN1): the
                per-step error vectors of each window, flattened to ``T * F`` values, give the mean
                and the (shrunk) covariance of a multivariate Gaussian.
            validation_arr: optional labelled windows ``(V, T, F)``, normal and anomalous (vN2 + vA).
            validation_labels: ``(V,)``, 1 = anomalous, 0 = normal; needed with ``validation_arr``.
            beta: the threshold maximises F-beta of ``score > threshold`` on the validation windows
                (``beta < 1`` favours precision, ``> 1`` recall).
            shrinkage: covariance shrinkage towards a scaled identity: ``"auto"`` (Ledoit-Wolf, from
                the sample: strong for a few dozen windows of many steps, weak for thousands) or a
                fixed value in [0, 1] (0.1 was the default before the real-series benchmark).
            false_alarm_rate: without validation windows, the threshold is set so that about this
                fraction of new normal windows raise an alarm (cross-fitted on ``normal_arr``, see
                `EncDecADDetector.fit_for_false_alarm_rate`). Guidance: it is an estimate from
                ``normal_arr``, reliable to about ``1 / len(normal_arr)``: a rate of 0.01 needs a
                few hundred normal windows; with a few dozen ask for 0.05 or more, and expect more
                alarms where the series drifts away from the normal data.
            quantile: instead, the threshold is this quantile of the scores of ``normal_arr``
                itself (the in-sample rule; it flags more new normal windows than ``1 - quantile``).
            error: ``"signed"`` errors ``x - x'`` (default: the direction of a deviation is kept,
                and a Gaussian describes them better) or ``"absolute"`` ``|x - x'|`` (the paper's).

        Windows scored later must have the same ``T`` and ``F`` as ``normal_arr``. Returns ``self``;
        sets ``anomaly_detector`` (so ``detector``, ``threshold`` and ``threshold_fbeta``, the
        validation F-beta or None). The previous detector stays in force when an argument is refused.

        Example:
            >>> model.fit_anomaly_detector(normal, np.concatenate([normal2, anomalous]),
            ...                            np.r_[np.zeros(len(normal2)), np.ones(len(anomalous))])  # doctest: +SKIP
        """
        signed = _check_error_kind(error) == "signed"
        if validation_arr is None:
            if validation_labels is not None:
                raise ValueError("validation_labels were given without validation_arr")
            if quantile is not None and not 0.0 < quantile < 1.0:
                raise ValueError(f"quantile must be in (0, 1), got {quantile}")
            if quantile is None and not 0.0 < false_alarm_rate < 1.0:
                raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
        elif validation_labels is None:
            raise ValueError("validation_arr needs validation_labels (1 = anomalous, 0 = normal)")
        detector = EncDecADDetector(error)
        normal_errors = self.reconstruction_error(normal_arr, signed=signed)
        if len(normal_errors) < 2:
            raise ValueError(f"normal_arr needs at least 2 windows, got {len(normal_errors)}")
        if validation_arr is None and quantile is None:
            detector.fit_for_false_alarm_rate(normal_errors, false_alarm_rate, shrinkage)
        else:
            detector.fit(normal_errors, shrinkage)
        if validation_arr is None:
            if quantile is not None:
                detector.threshold_from_quantile(detector.score(normal_errors), quantile)
        else:
            labels = np.asarray(as_numpy(validation_labels, "validation_labels")).reshape(-1)
            if not np.isin(labels, (0, 1)).all():
                raise ValueError("validation_labels must be 0 (normal) or 1 (anomalous)")
            scores = detector.score(self.reconstruction_error(validation_arr, signed=signed))
            if len(scores) != len(labels):
                raise ValueError(f"validation_arr has {len(scores)} windows but validation_labels has {len(labels)}")
            detector.threshold_from_labels(scores, labels, beta)
        self.anomaly_detector = detector
        return self

    def anomaly_score(self, observed_arr: Any, batch_size: int = 1024) -> np.ndarray:
        """Mahalanobis distance of each window's reconstruction error to the normal errors, ``(N,)``."""
        detector = self.anomaly_detector
        if not detector.fitted:  # before any inference
            raise RuntimeError("call fit_anomaly_detector(normal_windows) before anomaly_score")
        return detector.score(self.reconstruction_error(observed_arr, detector.error == "signed", batch_size))

    def predict_anomaly(self, observed_arr: Any, batch_size: int = 1024) -> np.ndarray:
        """``anomaly_score(x) > threshold``, ``(N,)`` bool."""
        return self.anomaly_detector.predict(self.anomaly_score(observed_arr, batch_size))

    def series_anomaly_score(self, series: Any, stride: int = 1, reduce: str = "mean",
                             batch_size: int = 1024) -> np.ndarray:
        """One anomaly score per time step of a raw series ``(T,)`` or ``(T, F)``.

        The series is cut into windows of the detector's length (`data.sliding_windows`, every
        ``stride`` steps), each window is scored (`anomaly_score`), and each step gets the ``reduce``
        (``"mean"`` or ``"max"``) of the scores of the windows that contain it
        (`data.windows_to_steps`): with ``"mean"`` a step scores highest when every window around it
        is anomalous, which puts the peaks on the anomalous steps themselves. Steps no window
        covers (a tail shorter than ``stride``) are NaN.

        Example:
            >>> scores = model.series_anomaly_score(series)     # doctest: +SKIP
            >>> suspicious_steps = np.argsort(scores)[-5:]     # doctest: +SKIP
        """
        from ..data.series import sliding_windows, windows_to_steps

        detector = self.anomaly_detector
        if not detector.fitted:
            raise RuntimeError("call fit_anomaly_detector(normal_windows) before series_anomaly_score")
        assert detector.window is not None  # fitted
        seq_len, features = detector.window
        values = check_array(as_numpy(series, "series"), "series", min_rank=1, max_rank=2)
        width = 1 if values.ndim == 1 else values.shape[1]
        if width != features:
            raise ValueError(f"the series has {width} feature(s) per step; the detector was fitted on {features}")
        windows = sliding_windows(values, seq_len, stride)
        return windows_to_steps(self.anomaly_score(windows, batch_size), len(values), seq_len, stride, reduce)

    # ------------------------------------------------------------------ persistence of the detector
    def extra_state(self) -> Dict[str, np.ndarray]:
        """The host's extra state plus the fitted detector (`EncDecADDetector.state`: Gaussian,
        window shape, error kind, threshold), which ``save`` stores with the weights; no detector
        entries before `fit_anomaly_detector`."""
        return {**super().extra_state(), **self.anomaly_detector.state()}  # type: ignore[misc]

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        """Restore what `extra_state` returned (a state without detector entries leaves the model
        without a fitted detector)."""
        state = dict(state)
        own = {key: state.pop(key) for key in EncDecADDetector.STATE_KEYS if key in state}
        super().set_extra_state(state)  # type: ignore[misc]
        self.anomaly_detector = EncDecADDetector.from_state(own)


def _flat(windows: Any, name: str) -> np.ndarray:
    x = np.asarray(as_numpy(windows, name), np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} must be windows (N, T) or (N, T, F), got shape {x.shape}")
    return x.reshape(len(x), -1)


def pca_anomaly_scores(train: Any, normal: Any, observed: Any, n_components: Any = 0.9, *, error: str = "signed",
                       shrinkage: Any = "auto") -> np.ndarray:
    """The linear baseline of EncDec-AD: PCA in place of the sequence encoder/decoder.

    PCA is fitted on the ``train`` windows (flattened), keeping ``n_components`` components (an
    integer) or as many as explain that fraction of the variance (a float in (0, 1); default 90 %,
    chosen without labels); a window's reconstruction error (signed ``x - x'`` or ``|x - x'|``) is
    scored by its Mahalanobis distance to the errors of the held-out ``normal`` windows, under the
    detector's `GaussianErrorModel` (Ledoit-Wolf shrinkage by default), exactly as EncDec-AD scores
    a model's errors. Run it beside a model to see whether the model earns its cost on your data.
    Windows ``(N, T)`` or ``(N, T, F)``; returns the scores of ``observed``, ``(N,)``. Needs scikit-learn.

    Example:
        >>> x = np.random.RandomState(0).randn(50, 10)
        >>> pca_anomaly_scores(x, x, x[:3], n_components=2).shape
        (3,)
        >>> baseline = pca_anomaly_scores(train_windows, normal_windows, test_windows)  # doctest: +SKIP
        >>> roc_auc_score(labels, baseline), roc_auc_score(labels, model.anomaly_score(test_windows))  # doctest: +SKIP
    """
    from sklearn.decomposition import PCA

    _check_error_kind(error)
    train_flat = _flat(train, "train")
    fraction = isinstance(n_components, float) and 0.0 < n_components < 1.0
    pca = PCA(n_components, svd_solver="full" if fraction else "auto").fit(train_flat)

    def errors(windows: Any, name: str) -> np.ndarray:
        x = _flat(windows, name)
        e = x - pca.inverse_transform(pca.transform(x))
        return e if error == "signed" else np.abs(e)

    return GaussianErrorModel(shrinkage).fit(errors(normal, "normal")).distance(errors(observed, "observed"))


def best_pca_anomaly_baseline(train: Any, normal: Any, observed: Any, labels: Any,
                              components: Tuple[int, ...] = (2, 3, 4, 6, 8, 12)) -> Dict[str, Any]:
    """`pca_anomaly_scores` at its best ROC-AUC on ``(observed, labels)`` over ``components`` and both
    error kinds: a baseline tuned on the very data it is judged on (generous to the baseline).

    Returns ``{"auc", "scores", "n_components", "error"}`` of the best setting. Needs scikit-learn.

    Example:
        >>> rng = np.random.RandomState(0)
        >>> x, spikes = rng.randn(60, 8), rng.randn(20, 8) + 4 * np.eye(8)[rng.randint(0, 8, 20)]
        >>> best = best_pca_anomaly_baseline(x, x, np.r_[x[:20], spikes], np.r_[np.zeros(20), np.ones(20)],
        ...                                  components=(2, 4))
        >>> sorted(best), best["auc"] > 0.8
        (['auc', 'error', 'n_components', 'scores'], True)
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).reshape(-1)
    best: Dict[str, Any] = {"auc": -1.0}
    for k in components:
        for kind in ERROR_KINDS:
            scores = pca_anomaly_scores(train, normal, observed, k, error=kind, shrinkage=0.1)
            auc = float(roc_auc_score(labels, scores))
            if auc > best["auc"]:
                best = {"auc": auc, "scores": scores, "n_components": k, "error": kind}
    return best
