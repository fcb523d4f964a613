"""Recurrent models: LSTM networks and the LSTM encoder/decoder with EncDec-AD (SPEC §6.3).

Both models take sequences ``(N, T, F)`` of any batch size ``N`` and length ``T``: no shape is baked
into the graph, so a hybridized model accepts new ``N`` and ``T`` (the cached graph is re-shaped).
The recurrences run on Gluon's fused LSTM layer (`gluon.rnn.LSTM`, one oneDNN operator for a whole
sequence); only the free-running decoder, whose next input is its own last output, steps through time
with ``F.contrib.foreach``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn

from ..checks import as_numpy, check_array, check_feature_shape
from ..context import CtxLike, derive_seed
from ..interfaces import IteratableData
from ..losses import CrossEntropyLoss, L2NormLoss
from ..registry import register_model
from .base import ObservableModel

__all__ = ["LSTMNetworks", "EncoderDecoder", "EncDecADMixin", "zero_state", "fbeta_threshold",
           "GaussianErrorModel", "pca_anomaly_scores", "best_pca_anomaly_baseline"]


def zero_state(F: Any, x: Any, num_layers: int, hidden_dim: int) -> Any:
    """Zeros ``(num_layers, N, hidden_dim)`` with ``N`` read from ``x`` ``(N, ...)`` inside the graph
    (a begin state that works for any batch size after ``hybridize()``)."""
    zero = F.reshape(F.sum(F.zeros_like(F.flatten(x)), axis=1), shape=(1, -1, 1))
    return F.broadcast_to(zero, shape=(num_layers, 0, hidden_dim))


def _last_step(F: Any, seq: Any) -> Any:
    """``seq[:, -1]`` of ``(N, T, C)`` for any ``T``."""
    return F.squeeze(F.slice_axis(seq, axis=1, begin=-1, end=None), axis=1)


def _top_layer(F: Any, state: Any) -> Any:
    """The last layer's state ``(N, H)`` of a stacked state ``(L, N, H)``."""
    return F.squeeze(F.slice_axis(state, axis=0, begin=-1, end=None), axis=0)


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _example_lstm(rng: np.random.RandomState):
    x = rng.randn(16, 5, 2).astype(np.float32)
    y = np.cumsum(x, axis=1)[:, :, :1]  # running sum of the first feature: needs memory
    return dict(input_dim=2, hidden_dim=8, output_dim=1, learning_rate=0.01), x, y


def _example_encdec(rng: np.random.RandomState):
    t = np.arange(6)[None, :, None]
    x = np.sin(0.7 * t + rng.rand(16, 1, 1) * 6.28).astype(np.float32)
    return dict(input_dim=1, hidden_dim=8, attention=True, teacher_forcing_ratio=0.5,
                learning_rate=0.01), x, None


@register_model("lstm_networks", example=_example_lstm)
class LSTMNetworks(ObservableModel):
    """Stacked LSTM (Hochreiter & Schmidhuber 1997) with a dense read-out, on `gluon.rnn.LSTM`.

    ``output="sequence"`` maps a sequence to a sequence (one output per step); ``output="last"`` maps
    it to a vector read from the last step. A classifier (``num_classes``) is trained with softmax
    cross-entropy and its ``inference`` gives probabilities; a regressor (``output_dim``) with squared
    error.

    Args:
        input_dim: features per time step ``F``.
        hidden_dim: LSTM units per layer.
        output_dim: outputs per step (or per sequence) for regression, or
        num_classes: number of classes for classification (exactly one of the two).
        num_layers: stacked LSTM layers.
        output: ``"sequence"`` or ``"last"``.
        dropout: dropout between stacked layers (training only).
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, input_dim)``, any ``N`` and ``T``; ``self(x)``: ``(N, T, K)`` (sequence) or
        ``(N, K)`` (last) with ``K = output_dim or num_classes``. Targets: ``(N, T, output_dim)`` /
        ``(N, output_dim)``, or labels ``(N, T)`` / ``(N,)``. ``extract_feature_points(x)``: the last
        layer's hidden state after the last step, ``(N, hidden_dim)``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> rng = np.random.RandomState(0)
        >>> x = rng.randn(256, 8, 1).astype(np.float32)
        >>> y = (x.sum(axis=(1, 2)) > 0).astype(int)            # sign of the sum: needs the whole sequence
        >>> clf = LSTMNetworks(input_dim=1, hidden_dim=16, num_classes=2, output="last", seed=0)
        >>> clf = clf.learn(ArrayIterator(x, y, batch_size=32, epochs=30, seed=0), verbose=False)
        >>> float((clf.inference(x).argmax(axis=1) == y).mean()) > 0.9
        True
        >>> clf.hybridize(); clf.inference(rng.randn(3, 20, 1)).shape   # other N and T
        (3, 2)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 64,
        output_dim: Optional[int] = None,
        num_classes: Optional[int] = None,
        *,
        num_layers: int = 1,
        output: str = "sequence",
        dropout: float = 0.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        _check_positive(input_dim=input_dim, hidden_dim=hidden_dim, num_layers=num_layers)
        if (num_classes is None) == (output_dim is None):
            raise ValueError("give output_dim (regression) or num_classes (classification), exactly one")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if output_dim is not None:
            _check_positive(output_dim=output_dim)
        if output not in ("sequence", "last"):
            raise ValueError(f"output must be 'sequence' or 'last', got {output!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_shape = (None, int(input_dim))
        self.hidden_dim, self.num_layers = int(hidden_dim), int(num_layers)
        self.num_classes, self.output_dim, self.output = num_classes, output_dim, output
        with self.name_scope():
            self.lstm = rnn.LSTM(self.hidden_dim, num_layers=self.num_layers, layout="NTC",
                                 dropout=dropout, input_size=int(input_dim))
            self.head = nn.Dense(num_classes or output_dim, flatten=False, in_units=self.hidden_dim)
            self.loss = CrossEntropyLoss() if num_classes else L2NormLoss()
        self._finish_init()

    def hybrid_forward(self, F, x):  # noqa: D102
        seq = self.lstm(x)
        return self.head(_last_step(F, seq) if self.output == "last" else seq)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            raise ValueError("LSTMNetworks needs targets: give y to the iterator")
        return self.loss(self(x), y)

    def _predict(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        out = self(x)
        return mx.nd.softmax(out, axis=-1) if self.num_classes else out

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Hidden state of the last layer after the last step, ``(N, hidden_dim)``."""
        return self._batched(lambda x: _last_step(mx.nd, self.lstm(x)), observed_arr, batch_size)

    def check_data(self, iteratable_data: IteratableData) -> None:
        super().check_data(iteratable_data)
        steps = getattr(iteratable_data, "sample_shape", (None,))[0]
        for name in ("y", "test_y"):
            y = getattr(iteratable_data, name, None)
            if y is None:
                if name == "y" and hasattr(iteratable_data, "y"):
                    raise ValueError("LSTMNetworks needs targets: the iterator has no y")
                continue
            per_step = self.output == "sequence"
            if self.num_classes:
                expected = (steps,) if per_step else ()
                labels = y.asnumpy()
                if tuple(labels.shape[1:]) != expected:
                    raise ValueError(f"{name} must hold class labels of shape (N,{' T' if per_step else ''}), "
                                     f"got shape {labels.shape}")
                if labels.min() < 0 or labels.max() >= self.num_classes or (labels != np.round(labels)).any():
                    raise ValueError(f"{name} holds labels outside 0..{self.num_classes - 1} "
                                     f"(min {labels.min():g}, max {labels.max():g})")
            else:
                expected = (steps, self.output_dim) if per_step else (self.output_dim,)
                check_feature_shape(tuple(y.shape[1:]), expected, name)


class _Encoder(gluon.HybridBlock):
    """LSTM over the input: all top-layer states ``(N, T, H)``, the final ``(h, c)`` of every layer
    ``(L, N, H)`` and, with attention, the keys ``(N, T, H)``."""

    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int, attention: bool) -> None:
        super().__init__()
        self.hidden_dim, self.num_layers, self.attention = hidden_dim, num_layers, attention
        with self.name_scope():
            self.lstm = rnn.LSTM(hidden_dim, num_layers=num_layers, layout="NTC", input_size=input_dim)
            if attention:
                # Luong's "general" score h_dec . (W h_enc): the keys W h_enc are computed once.
                self.key = nn.Dense(hidden_dim, flatten=False, use_bias=False, in_units=hidden_dim)

    def hybrid_forward(self, F, x):  # noqa: D102
        begin = zero_state(F, x, self.num_layers, self.hidden_dim)
        states, (h, c) = self.lstm(x, [begin, begin])
        return (states, h, c, self.key(states)) if self.attention else (states, h, c)


class _Decoder(gluon.HybridBlock):
    """LSTM decoder reconstructing a sequence backwards from the encoder's final state.

    Step ``k`` reads out ``y_k = W [s_k; a_k] + b`` from its top-layer state ``s_k`` (and, with
    attention, ``a_k``, the attention-weighted mean of the encoder states), then feeds an input to
    the LSTM to get ``s_{k+1}``. Called as a block, it is teacher-forced: the inputs are the true
    previous targets, so the whole sequence runs in one fused LSTM call. `free_run` feeds back its
    own outputs instead (inference), step by step.
    """

    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int, attention: bool) -> None:
        super().__init__()
        self.attention = attention
        with self.name_scope():
            self.lstm = rnn.LSTM(hidden_dim, num_layers=num_layers, layout="NTC", input_size=input_dim)
            self.out = nn.Dense(input_dim, flatten=False,
                                in_units=2 * hidden_dim if attention else hidden_dim)

    def _read_out(self, F, s, enc_states, keys):
        # s: (N, S, H) decoder states; enc_states, keys: (N, T, H).
        if self.attention:
            weights = F.softmax(F.batch_dot(s, keys, transpose_b=True), axis=2)  # (N, S, T)
            s = F.concat(s, F.batch_dot(weights, enc_states), dim=2)
        return self.out(s)

    def hybrid_forward(self, F, targets, h, c, enc_states=None, keys=None):  # noqa: D102
        # targets (N, T, F) in decoding order; state k>0 has read targets[:, :k]. The encoder states
        # and keys are passed with attention only.
        seq, _ = self.lstm(targets, [h, c])
        first = F.expand_dims(_top_layer(F, h), axis=1)
        s = F.concat(first, F.slice_axis(seq, axis=1, begin=0, end=-1), dim=1)
        return self._read_out(F, s, enc_states, keys)

    def free_run(self, F, targets, h, c, enc_states=None, keys=None):
        """Decode ``T = targets.shape[1]`` steps feeding back each output (``targets`` only sets the
        length). Returns ``(N, T, F)`` in decoding order."""

        def step(target_t, states):
            h_t, c_t = states
            y = self._read_out(F, F.expand_dims(_top_layer(F, h_t), axis=1), enc_states, keys)  # (N,1,F)
            # target_t * 0 keeps the loop's data an input of the body (foreach needs it) at no cost.
            _, (h_t, c_t) = self.lstm(y + F.expand_dims(target_t, axis=1) * 0, [h_t, c_t])
            return F.squeeze(y, axis=1), [h_t, c_t]

        outs, _ = F.contrib.foreach(step, F.swapaxes(targets, 0, 1), [h, c])
        return F.swapaxes(outs, 0, 1)


def fbeta_threshold(scores: np.ndarray, labels: np.ndarray, beta: float = 1.0) -> Tuple[float, float]:
    """The threshold ``tau`` maximising F-beta of the rule ``score > tau`` on labelled scores.

    Candidates are the midpoints between consecutive distinct scores (and just below the smallest).
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


class GaussianErrorModel:
    """Multivariate Gaussian of reconstruction-error vectors and their Mahalanobis distance.

    The covariance is shrunk towards a scaled identity, ``(1 - a) S + a (tr S / d) I`` (``a =
    shrinkage``), so it stays invertible when the vectors are long and the normal sample is small.

    Example:
        >>> g = GaussianErrorModel(shrinkage=0.0).fit(np.random.RandomState(0).randn(5000, 2) * [1.0, 3.0])
        >>> np.round(g.distance(g.mean + np.array([[2.0, 0.0], [0.0, 6.0]])), 1)   # both 2 std away
        array([2., 2.])
    """

    def __init__(self, shrinkage: float = 0.1) -> None:
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
        self.shrinkage = float(shrinkage)
        self.mean: Optional[np.ndarray] = None
        self.precision: Optional[np.ndarray] = None

    def fit(self, errors: np.ndarray) -> "GaussianErrorModel":
        e = np.asarray(errors, np.float64)
        if e.ndim != 2 or len(e) < 2:
            raise ValueError(f"need at least 2 error vectors (M, d) to fit a Gaussian, got shape {e.shape}")
        self.mean = e.mean(axis=0)
        cov = np.atleast_2d(np.cov(e, rowvar=False))
        d = cov.shape[0]
        scale = max(np.trace(cov) / d, 1e-12)
        cov = (1 - self.shrinkage) * cov + (self.shrinkage * scale + 1e-9 * scale) * np.eye(d)
        self.precision = np.linalg.inv(cov)
        return self

    def distance(self, errors: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of ``errors`` ``(M, d)``: ``(M,)``."""
        if self.mean is None:
            raise RuntimeError("fit the Gaussian first")
        diff = np.asarray(errors, np.float64) - self.mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, self.precision, diff), 0.0))


def _flat(windows: Any, name: str) -> np.ndarray:
    x = np.asarray(as_numpy(windows, name), np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} must be windows (N, T) or (N, T, F), got shape {x.shape}")
    return x.reshape(len(x), -1)


def pca_anomaly_scores(train: Any, normal: Any, observed: Any, n_components: int, *, error: str = "signed",
                       shrinkage: float = 0.1) -> np.ndarray:
    """The linear baseline of EncDec-AD: PCA in place of the LSTM encoder/decoder.

    PCA with ``n_components`` is fitted on the ``train`` windows; a window's reconstruction error
    (signed ``x - x'`` or ``|x - x'|``, flattened) is scored by its Mahalanobis distance to the
    errors of the ``normal`` windows (a `GaussianErrorModel`), exactly as EncDec-AD scores the LSTM's
    errors. Windows ``(N, T)`` or ``(N, T, F)``; returns the scores of ``observed``, ``(N,)``.
    Needs scikit-learn.

    Example:
        >>> x = np.random.RandomState(0).randn(50, 10)
        >>> pca_anomaly_scores(x, x, x[:3], n_components=2).shape
        (3,)
    """
    from sklearn.decomposition import PCA

    if error not in ("signed", "absolute"):
        raise ValueError(f"error must be 'signed' or 'absolute', got {error!r}")
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
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).reshape(-1)
    best: Dict[str, Any] = {"auc": -1.0}
    for k in components:
        for kind in ("signed", "absolute"):
            scores = pca_anomaly_scores(train, normal, observed, k, error=kind)
            auc = float(roc_auc_score(labels, scores))
            if auc > best["auc"]:
                best = {"auc": auc, "scores": scores, "n_components": k, "error": kind}
    return best


class EncDecADMixin:
    """EncDec-AD (Malhotra et al. 2016) for any sequence auto-encoder: the mixin of `EncoderDecoder`
    and `TransformerEncoderDecoder`.

    The host is an `ObservableModel` whose ``inference(x)`` reconstructs windows ``(N, T, F)`` and
    whose ``__init__`` calls ``_init_detector()``. The mixin adds `reconstruction_error`,
    `fit_anomaly_detector`, `anomaly_score`, `predict_anomaly`, and `extra_state` /
    `set_extra_state`, so `save` / `load` keep the fitted detector.
    """

    detector: Optional[GaussianErrorModel]
    threshold: Optional[float]
    threshold_fbeta: Optional[float]
    detector_window: Optional[Tuple[int, ...]]
    detector_error: str

    def _init_detector(self) -> None:
        self.detector = None
        self.threshold = None
        self.threshold_fbeta = None
        self.detector_window = None
        self.detector_error = "signed"

    def reconstruction_error(self, observed_arr: Any, signed: bool = False, batch_size: int = 1024) -> np.ndarray:
        """Per-step reconstruction errors ``x - x'`` (``signed``) or ``|x - x'|``, ``(N, T, F)`` (numpy)."""
        x = check_array(as_numpy(observed_arr, "observed_arr"), "observed_arr", min_rank=3, max_rank=3)
        error = x - as_numpy(self.inference(x, batch_size=batch_size))
        return error if signed else np.abs(error)

    def fit_anomaly_detector(
        self,
        normal_arr: Any,
        validation_arr: Any = None,
        validation_labels: Any = None,
        *,
        beta: float = 1.0,
        shrinkage: float = 0.1,
        quantile: float = 0.99,
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
            quantile: without validation windows, the threshold is this quantile of the scores of
                ``normal_arr`` (F-beta needs anomalies to count).
            error: ``"signed"`` errors ``x - x'`` (default: the direction of a deviation is kept,
                and a Gaussian describes them better) or ``"absolute"`` ``|x - x'|`` (the paper's).

        Windows scored later must have the same ``T`` and ``F`` as ``normal_arr``. Returns ``self``;
        sets ``detector`` (the `GaussianErrorModel`), ``threshold`` and ``threshold_fbeta`` (the
        validation F-beta, or None).
        """
        if error not in ("signed", "absolute"):
            raise ValueError(f"error must be 'signed' or 'absolute', got {error!r}")
        self.detector_error = error
        errors = self.reconstruction_error(normal_arr, signed=error == "signed")
        if len(errors) < 2:
            raise ValueError(f"normal_arr needs at least 2 windows, got {len(errors)}")
        self.detector_window = tuple(errors.shape[1:])
        self.detector = GaussianErrorModel(shrinkage).fit(errors.reshape(len(errors), -1))
        self.threshold_fbeta = None
        if validation_arr is None:
            if validation_labels is not None:
                raise ValueError("validation_labels were given without validation_arr")
            if not 0.0 < quantile < 1.0:
                raise ValueError(f"quantile must be in (0, 1), got {quantile}")
            self.threshold = float(np.quantile(self.anomaly_score(normal_arr), quantile))
            return self
        if validation_labels is None:
            raise ValueError("validation_arr needs validation_labels (1 = anomalous, 0 = normal)")
        labels = np.asarray(as_numpy(validation_labels, "validation_labels")).reshape(-1)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("validation_labels must be 0 (normal) or 1 (anomalous)")
        scores = self.anomaly_score(validation_arr)
        if len(scores) != len(labels):
            raise ValueError(f"validation_arr has {len(scores)} windows but validation_labels has {len(labels)}")
        self.threshold, self.threshold_fbeta = fbeta_threshold(scores, labels, beta)
        return self

    def anomaly_score(self, observed_arr: Any, batch_size: int = 1024) -> np.ndarray:
        """Mahalanobis distance of each window's reconstruction error to the normal errors, ``(N,)``."""
        if self.detector is None:
            raise RuntimeError("call fit_anomaly_detector(normal_windows) before anomaly_score")
        errors = self.reconstruction_error(observed_arr, self.detector_error == "signed", batch_size)
        if tuple(errors.shape[1:]) != self.detector_window:
            raise ValueError(f"windows of shape {errors.shape[1:]} cannot be scored: the detector was fitted "
                             f"on windows of shape {self.detector_window} (T, F)")
        return self.detector.distance(errors.reshape(len(errors), -1))

    def predict_anomaly(self, observed_arr: Any, batch_size: int = 1024) -> np.ndarray:
        """``anomaly_score(x) > threshold``, ``(N,)`` bool."""
        return self.anomaly_score(observed_arr, batch_size) > self.threshold

    # ------------------------------------------------------------------ persistence of the detector
    def extra_state(self) -> Dict[str, np.ndarray]:
        """The fitted EncDec-AD detector (Gaussian, window shape, error kind, threshold), which
        `save` stores with the weights; empty before `fit_anomaly_detector`."""
        if self.detector is None:
            return {}
        fbeta = np.nan if self.threshold_fbeta is None else self.threshold_fbeta
        return {"detector_mean": self.detector.mean, "detector_precision": self.detector.precision,
                "detector_shrinkage": np.array([self.detector.shrinkage]),
                "detector_window": np.array(self.detector_window, dtype=np.int64),
                "detector_signed": np.array([int(self.detector_error == "signed")], dtype=np.int64),
                "threshold": np.array([self.threshold, fbeta], dtype=np.float64)}

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        """Restore the detector written by `save` (see `extra_state`)."""
        if not state:
            return
        expected = {"detector_mean", "detector_precision", "detector_shrinkage", "detector_window",
                    "detector_signed", "threshold"}
        if set(state) != expected:
            raise ValueError(f"the saved EncDec-AD detector is incomplete: got {sorted(state)}, "
                             f"expected {sorted(expected)}")
        detector = GaussianErrorModel(float(state["detector_shrinkage"][0]))
        detector.mean = state["detector_mean"].astype(np.float64)
        detector.precision = state["detector_precision"].astype(np.float64)
        self.detector = detector
        self.detector_window = tuple(int(v) for v in state["detector_window"])
        self.detector_error = "signed" if int(state["detector_signed"][0]) else "absolute"
        threshold, fbeta = (float(v) for v in state["threshold"])
        self.threshold = threshold
        self.threshold_fbeta = None if np.isnan(fbeta) else fbeta


@register_model("encoder_decoder", example=_example_encdec)
class EncoderDecoder(EncDecADMixin, ObservableModel):
    """LSTM encoder/decoder that reconstructs a sequence from a fixed-size code, with EncDec-AD.

    The encoder LSTM reads ``x_1..x_T``; its final state (the code) starts the decoder LSTM, which
    reconstructs the sequence in reverse order ``x_T..x_1`` (Sutskever et al. 2014; Malhotra et al.
    2016, "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection"). Each reconstructed step
    ``x'_i`` is read out linearly from the decoder state, which then reads an input: the true ``x_i``
    (teacher forcing) or its own ``x'_i`` (free running). ``inference`` always runs free, as in the
    paper; in training a mini-batch is teacher-forced with probability ``teacher_forcing_ratio``
    (teacher forcing runs the decoder as one fused LSTM call; free running steps through time).
    With ``attention`` the read-out also sees the attention-weighted mean of all encoder states
    (Luong et al. 2015, "general" score).

    EncDec-AD (`fit_anomaly_detector`, `anomaly_score`, `predict_anomaly`): the per-step
    reconstruction errors of normal windows (signed ``x - x'`` by default, or the paper's ``|x - x'|``)
    are modelled by a multivariate Gaussian; the anomaly score of a
    window is the Mahalanobis distance of its error, and a window is flagged when the score exceeds a
    threshold chosen by F-beta on labelled validation windows. `save` stores the fitted detector with
    the weights (`extra_state`), and `load` restores it. `pca_anomaly_scores` is the same scoring on PCA
    reconstruction errors, the linear baseline.

    Args:
        input_dim: features per time step ``F``.
        hidden_dim: LSTM units (the code size).
        num_layers: stacked LSTM layers in the encoder and in the decoder.
        attention: attend over the encoder states when reading out each step.
        teacher_forcing_ratio: probability in [0, 1] that a training mini-batch is teacher-forced.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, input_dim)`` with ``T >= 2``, any ``N`` and ``T`` (also after ``hybridize()``);
        ``inference(x)``: reconstruction ``(N, T, input_dim)``; ``extract_feature_points(x)``: codes
        ``(N, hidden_dim)``; ``anomaly_score(x)``: ``(N,)``; ``predict_anomaly(x)``: ``(N,)`` bool.
        Training target: ``y`` when it has the input's shape, else the input itself.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> t = np.arange(24)[None, :, None]
        >>> x = np.sin(0.5 * t + np.random.RandomState(0).rand(256, 1, 1) * 6.28).astype(np.float32)
        >>> encdec = EncoderDecoder(input_dim=1, hidden_dim=16, seed=0)
        >>> encdec = encdec.learn(ArrayIterator(x, x, batch_size=32, epochs=30, seed=0), verbose=False)
        >>> float(((encdec.inference(x) - x) ** 2).mean()) < 0.1 * x.var()
        True
        >>> encdec.extract_feature_points(x).shape
        (256, 16)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 64,
        *,
        num_layers: int = 1,
        attention: bool = False,
        teacher_forcing_ratio: float = 1.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        _check_positive(input_dim=input_dim, hidden_dim=hidden_dim, num_layers=num_layers)
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio}")
        self.input_shape = (None, int(input_dim))
        self.hidden_dim, self.num_layers = int(hidden_dim), int(num_layers)
        self.attention = bool(attention)
        self.teacher_forcing_ratio = float(teacher_forcing_ratio)
        # Which mini-batches are teacher-forced: seeded, so the same seed trains the same model.
        self._teacher_rng = np.random.RandomState(
            derive_seed(seed, "teacher") if seed is not None else None)
        self._init_detector()
        with self.name_scope():
            self.encoder = _Encoder(int(input_dim), self.hidden_dim, self.num_layers, self.attention)
            self.decoder = _Decoder(int(input_dim), self.hidden_dim, self.num_layers, self.attention)
            self.loss = L2NormLoss()
        self._finish_init()

    def hybrid_forward(self, F, x):  # noqa: D102
        enc_states, h, c, *keys = self.encoder(x)
        memory = (enc_states, keys[0]) if self.attention else ()
        return F.reverse(self.decoder.free_run(F, F.reverse(x, axis=1), h, c, *memory), axis=1)

    def _as_sequences(self, x: mx.nd.NDArray) -> None:
        if x.ndim != 3 or x.shape[1] < 2:
            raise ValueError(f"EncoderDecoder needs sequences (N, T >= 2, {self.input_shape[1]}), "
                             f"got shape {x.shape}")

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        self._as_sequences(x)
        target = y if y is not None and y.shape == x.shape else x
        teacher = autograd.is_training() and self._teacher_rng.rand() < self.teacher_forcing_ratio
        if teacher:
            enc_states, h, c, *keys = self.encoder(x)
            memory = (enc_states, keys[0]) if self.attention else ()
            out = mx.nd.reverse(self.decoder(mx.nd.reverse(target, axis=1), h, c, *memory), axis=1)
        else:
            out = self(x)
        return self.loss(out, target)

    def check_data(self, iteratable_data: IteratableData) -> None:
        super().check_data(iteratable_data)
        shape = getattr(iteratable_data, "sample_shape", None)
        if shape is not None and shape[0] < 2:
            raise ValueError(f"EncoderDecoder needs sequences of at least 2 steps, got {shape[0]}")

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes: the encoder's final top-layer hidden state, ``(N, hidden_dim)``."""
        return self._batched(lambda x: _top_layer(mx.nd, self.encoder(x)[1]), observed_arr, batch_size)
