"""EncDec-AD: the anomaly detector shared by the zoo's sequence auto-encoders.

Malhotra et al. 2016, "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection": a model
trained to reconstruct normal windows reconstructs anomalous ones badly. The detector turns the
reconstruction error into a score and an alarm:

1. the reconstruction errors of normal windows that were *not* used for training (the paper's vN1):
   signed ``x - x'`` (the default) or the paper's ``|x - x'|``, each window's ``(T, F)`` errors
   flattened to one vector;
2. a multivariate Gaussian of those vectors (`GaussianErrorModel`, its covariance shrunk so that it
   stays invertible for long windows and few normal samples);
3. the anomaly score of a window: the Mahalanobis distance of its error vector to that Gaussian;
4. an alarm when the score exceeds a threshold, chosen by F-beta on labelled validation windows
   (`fbeta_threshold`; the paper's vN2 + vA), or a quantile of the normal windows' scores.

`EncDecADDetector` is that fitted state and its arithmetic, on error arrays; `EncDecADMixin` gives
any reconstructing `ObservableModel` the public methods (``fit_anomaly_detector``,
``anomaly_score``, ``predict_anomaly``) and keeps the detector in the model's ``extra_state``, so
``save``/``load`` and checkpoints carry it. `pca_anomaly_scores` is the same scoring on the errors of
PCA, the linear baseline.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..checks import as_numpy, check_array

__all__ = ["EncDecADDetector", "EncDecADMixin", "GaussianErrorModel", "fbeta_threshold", "pca_anomaly_scores",
           "best_pca_anomaly_baseline", "ERROR_KINDS"]

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
        >>> few, many = ledoit_wolf_shrinkage(rng.randn(5, 50)), ledoit_wolf_shrinkage(rng.randn(5000, 5) * [1, 2, 3, 4, 5])
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
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, self.precision, diff), 0.0))


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

    def fit(self, normal_errors: np.ndarray, shrinkage: float = 0.1) -> "EncDecADDetector":
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

    def fit_for_false_alarm_rate(self, normal_errors: np.ndarray, false_alarm_rate: float, shrinkage: float = 0.1,
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
        return {"detector_mean": self.gaussian.mean, "detector_precision": self.gaussian.precision,
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
        gaussian.shrinkage_ = gaussian.shrinkage
        gaussian.mean = np.asarray(state["detector_mean"], np.float64)
        gaussian.precision = np.asarray(state["detector_precision"], np.float64)
        detector.gaussian = gaussian
        detector.window = tuple(int(v) for v in np.ravel(state["detector_window"]))
        threshold, fbeta = (float(v) for v in np.ravel(state["threshold"]))
        detector.threshold = None if np.isnan(threshold) else threshold
        detector.threshold_fbeta = None if np.isnan(fbeta) else fbeta
        return detector


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
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.anomaly_detector = EncDecADDetector()

    detector = _delegated("gaussian", "The fitted `GaussianErrorModel` of normal errors (``None`` before fitting).")
    threshold = _delegated("threshold", "Alarm when ``anomaly_score(x) > threshold``.")
    threshold_fbeta = _delegated("threshold_fbeta", "Validation F-beta of the threshold (``None`` for a quantile).")
    detector_window = _delegated("window", "``(T, F)`` of the windows the detector was fitted on.")
    detector_error = _delegated("error", "``'signed'`` or ``'absolute'``: the errors the detector models.")

    def reconstruction_error(self, observed_arr: Any, signed: bool = False, batch_size: int = 1024) -> np.ndarray:
        """Per-step reconstruction errors ``x - x'`` (``signed``) or ``|x - x'|``, ``(N, T, F)`` (numpy)."""
        x = check_array(as_numpy(observed_arr, "observed_arr"), "observed_arr", min_rank=3, max_rank=3)
        error = x - as_numpy(self.inference(x, batch_size=batch_size))  # type: ignore[attr-defined]
        return error if signed else np.abs(error)

    def fit_anomaly_detector(
        self,
        normal_arr: Any,
        validation_arr: Any = None,
        validation_labels: Any = None,
        *,
        beta: float = 1.0,
        shrinkage: float = 0.1,
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
            shrinkage: covariance shrinkage towards a scaled identity, in [0, 1].
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


def pca_anomaly_scores(train: Any, normal: Any, observed: Any, n_components: int, *, error: str = "signed",
                       shrinkage: float = 0.1) -> np.ndarray:
    """The linear baseline of EncDec-AD: PCA in place of the sequence encoder/decoder.

    PCA with ``n_components`` is fitted on the ``train`` windows; a window's reconstruction error
    (signed ``x - x'`` or ``|x - x'|``, flattened) is scored by its Mahalanobis distance to the
    errors of the ``normal`` windows (a `GaussianErrorModel`), exactly as EncDec-AD scores a
    model's errors. Windows ``(N, T)`` or ``(N, T, F)``; returns the scores of ``observed``, ``(N,)``.
    Needs scikit-learn.

    Example:
        >>> x = np.random.RandomState(0).randn(50, 10)
        >>> pca_anomaly_scores(x, x, x[:3], n_components=2).shape
        (3,)
    """
    from sklearn.decomposition import PCA

    _check_error_kind(error)
    pca = PCA(n_components).fit(_flat(train, "train"))

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
            scores = pca_anomaly_scores(train, normal, observed, k, error=kind)
            auc = float(roc_auc_score(labels, scores))
            if auc > best["auc"]:
                best = {"auc": auc, "scores": scores, "n_components": k, "error": kind}
    return best
