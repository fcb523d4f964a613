"""Recurrent models: LSTM networks and the LSTM encoder/decoder with EncDec-AD.

Both models take sequences ``(N, T, F)`` of any batch size ``N`` and length ``T``: no shape is baked
into the graph, so a hybridized model accepts new ``N`` and ``T`` (the cached graph is re-shaped).
The recurrences run on Gluon's fused LSTM layer (`gluon.rnn.LSTM`, one oneDNN operator for a whole
sequence); only the free-running decoder, whose next input is its own last output, steps through time
with ``F.contrib.foreach``.

EncDec-AD's detector lives in `models.anomaly` (shared with the Transformer encoder/decoder); its
public names are re-exported here.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn

from ..checks import check_feature_shape, check_labels, check_positive_integers
from ..context import CtxLike, derive_seed
from ..interfaces import IteratableData
from ..losses import CrossEntropyLoss, L2NormLoss
from ..registry import register_model
from ..training import gradient_step
from .anomaly import (
    EncDecADDetector,
    EncDecADMixin,
    GaussianErrorModel,
    InputStandardizer,
    best_pca_anomaly_baseline,
    fbeta_threshold,
    pca_anomaly_scores,
)
from .base import ObservableModel

__all__ = ["LSTMNetworks", "EncoderDecoder", "EncDecADMixin", "EncDecADDetector", "zero_state", "fbeta_threshold",
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


def _example_lstm(rng: np.random.RandomState):
    x = rng.randn(16, 5, 2).astype(np.float32)
    y = np.cumsum(x, axis=1)[:, :, :1]  # running sum of the first feature: needs memory
    return dict(input_dim=2, hidden_dim=8, output_dim=1, learning_rate=0.01), x, y


def _example_encdec(rng: np.random.RandomState):
    t = np.arange(6)[None, :, None]
    x = np.sin(0.7 * t + rng.rand(16, 1, 1) * 6.28).astype(np.float32)
    # The paper's decoder: the contract suite then also covers its seeded teacher-forcing draws.
    return dict(input_dim=1, hidden_dim=8, attention=True, teacher_forcing_ratio=0.5, decoder_feedback=True,
                learning_rate=0.01), x, None


@register_model("lstm_networks", example=_example_lstm)
class LSTMNetworks(ObservableModel):
    """Stacked LSTM (Hochreiter & Schmidhuber 1997) with a dense read-out, on `gluon.rnn.LSTM`.

    ``output="sequence"`` maps a sequence to a sequence (one output per step); ``output="last"`` maps
    it to a vector read from the last step. A classifier (``num_classes``) is trained with softmax
    cross-entropy and its ``inference`` gives probabilities, and with labelled held-out data `fit`
    records its ``test_accuracy`` (the mean over steps with ``output="sequence"``); a regressor
    (``output_dim``) is trained with squared error.

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
        check_positive_integers(input_dim=input_dim, hidden_dim=hidden_dim, num_layers=num_layers)
        if (num_classes is None) == (output_dim is None):
            raise ValueError("give output_dim (regression) or num_classes (classification), exactly one")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if output_dim is not None:
            check_positive_integers(output_dim=output_dim)
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

    def hybrid_forward(self, F, x):
        seq = self.lstm(x)
        return self.head(_last_step(F, seq) if self.output == "last" else seq)

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            raise ValueError("LSTMNetworks needs targets: give y to the iterator")
        return self.loss(self(x), y)

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """Class probabilities (softmax over the last axis) for a classifier, the outputs for a regressor."""
        out = self(x)
        return F.softmax(out, axis=-1) if self.num_classes else out

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Hidden state of the last layer after the last step, ``(N, hidden_dim)``."""
        return self._batched(lambda x: _last_step(mx.nd, self.lstm(x)), observed_arr, batch_size)

    def check_data(self, data: IteratableData) -> None:
        """Refuse, before training, data without targets, targets of the wrong shape (``(N, T, K)`` /
        ``(N, K)``, labels ``(N, T)`` / ``(N,)``) and labels outside ``0..num_classes-1``."""
        super().check_data(data)
        steps = data.sample_shape[0]
        per_step = self.output == "sequence"
        for name, (x, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is None:
                if x is not None:
                    raise ValueError(f"LSTMNetworks needs targets: the {'held-out ' if name != 'y' else ''}data "
                                     "has no y")
                continue
            expected: Tuple[Optional[int], ...]
            if self.num_classes:
                expected = (steps,) if per_step else ()
                if tuple(y.shape[1:]) != expected:
                    raise ValueError(f"{name} must hold class labels of shape (N,{' T' if per_step else ''}), "
                                     f"got shape {y.shape}")
                check_labels(np.ravel(y), self.num_classes, name)
            else:
                expected = (steps, self.output_dim) if per_step else (self.output_dim,)
                check_feature_shape(tuple(y.shape[1:]), expected, name)

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed loss of a held-out batch and, for a classifier, its correct predictions (per
        sequence; with ``output="sequence"`` each sequence counts its fraction of correct steps):
        `training.fit` records ``test_loss`` and ``test_accuracy``."""
        if y is None:
            return super().test_step(x, y)
        device = self.ctx[0]
        x, y = x.as_in_context(device), y.as_in_context(device)
        out = self(x)
        result = {"loss": self.loss(out, y).sum()}
        if self.num_classes:
            correct = mx.nd.argmax(out, axis=-1) == y.reshape(out.shape[:-1])
            result["accuracy"] = (correct.mean(axis=1) if correct.ndim > 1 else correct).sum()
        return result


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

    def hybrid_forward(self, F, x):
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

    def hybrid_forward(self, F, targets, h, c, enc_states=None, keys=None):
        # targets (N, T, F) in decoding order; state k>0 has read targets[:, :k]. The encoder states
        # and keys are passed with attention only.
        seq, _ = self.lstm(targets, [h, c])
        first = F.expand_dims(_top_layer(F, h), axis=1)
        s = F.concat(first, F.slice_axis(seq, axis=1, begin=0, end=-1), dim=1)
        return self._read_out(F, s, enc_states, keys)

    def free_run(self, F, targets, h, c, enc_states=None, keys=None, steps=None):
        """Decode ``T = targets.shape[1]`` steps feeding back each output (``targets`` only sets the
        length). Returns ``(N, T, F)`` in decoding order. With ``steps`` (``= T``) the loop is
        unrolled in the graph instead of ``F.contrib.foreach`` (the same numbers; a graph for that
        ``T`` only, which formats without symbolic loops, like ONNX, can take)."""

        def step(target_t, states):
            h_t, c_t = states
            y = self._read_out(F, F.expand_dims(_top_layer(F, h_t), axis=1), enc_states, keys)  # (N,1,F)
            # target_t * 0 keeps the loop's data an input of the body (foreach needs it) at no cost.
            feed = y if target_t is None else y + F.expand_dims(target_t, axis=1) * 0
            _, (h_t, c_t) = self.lstm(feed, [h_t, c_t])
            return F.squeeze(y, axis=1), [h_t, c_t]

        if steps is not None:
            outs, states = [], [h, c]
            for _ in range(int(steps)):
                y, states = step(None, states)
                outs.append(y)
            return F.stack(*outs, axis=1)
        outs, _ = F.contrib.foreach(step, F.swapaxes(targets, 0, 1), [h, c])
        return F.swapaxes(outs, 0, 1)


@register_model("encoder_decoder", example=_example_encdec)
class EncoderDecoder(EncDecADMixin, ObservableModel):
    """LSTM encoder/decoder that reconstructs a sequence from a fixed-size code, with EncDec-AD.

    The encoder LSTM reads ``x_1..x_T``; its final state (the code) starts the decoder LSTM, which
    reconstructs the sequence in reverse order ``x_T..x_1`` (Sutskever et al. 2014; Malhotra et al.
    2016, "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection"). Each reconstructed step
    ``x'_i`` is read out linearly from the decoder state. By default the decoder reads no input: it
    unrolls the code alone (an "unconditioned" decoder, Srivastava et al. 2015), so training and
    inference run the same graph, one fused LSTM call. With ``decoder_feedback=True`` (the paper's
    decoder) the state then reads the true ``x_i`` (teacher forcing) or its own ``x'_i`` (free
    running): ``inference`` runs free, as in the paper, and a training mini-batch is teacher-forced
    with probability ``teacher_forcing_ratio`` (teacher forcing is one fused LSTM call; free running
    steps through time). The draws come from the model's own seeded generator, whose state is part
    of ``extra_state``: a run resumed from a checkpoint or a saved model forces the same batches as an
    uninterrupted one. With ``attention`` the read-out also sees the attention-weighted mean of all
    encoder states (Luong et al. 2015, "general" score).

    Why the default changed: a decoder trained teacher-forced but run free at inference drifts
    away from windows longer than a few dozen steps (on UCR GunPoint, T = 150, its free-running
    reconstruction was worse than predicting the mean), and training it free-running steps through
    time, 3-4x slower. The unconditioned decoder reconstructed GunPoint to 2 % of its variance
    within 1000 updates, and it cannot carry an anomaly forward from its input.

    EncDec-AD (`fit_anomaly_detector`, `anomaly_score`, `predict_anomaly`): the per-step
    reconstruction errors of normal windows (signed ``x - x'`` by default, or the paper's ``|x - x'|``)
    are modelled by a multivariate Gaussian; the anomaly score of a
    window is the Mahalanobis distance of its error, and a window is flagged when the score exceeds a
    threshold chosen by F-beta on labelled validation windows (`anomaly.EncDecADMixin`, shared with
    `TransformerEncoderDecoder`). `save` stores the fitted detector with the weights
    (`extra_state`), and `load` restores it. `pca_anomaly_scores` is the same scoring on PCA
    reconstruction errors, the linear baseline. `learn_anomaly_detector` is the default recipe
    (training with the best epoch on held-out normal windows, then the detector); with
    ``standardize`` (default) the model works in units of each feature's training mean and
    standard deviation, fitted before its first epoch, and maps its reconstruction back.

    Args:
        input_dim: features per time step ``F``.
        hidden_dim: LSTM units (the code size: the decoder starts from ``2 * hidden_dim`` numbers,
            the hidden and cell states). For anomaly detection `anomaly.code_size` (``T F / 4`` within
            8..64) keeps it a bottleneck for the window.
        num_layers: stacked LSTM layers in the encoder and in the decoder.
        attention: attend over the encoder states when reading out each step.
        teacher_forcing_ratio: probability in [0, 1] that a training mini-batch is teacher-forced
            (with ``decoder_feedback`` only).
        decoder_feedback: the paper's decoder, which reads its previous output (above); default
            the unconditioned decoder.
        standardize: scale inputs by the training windows' per-feature mean and standard deviation
            (`anomaly.InputStandardizer`, kept with the weights); the loss is then in those units.
        members: an ensemble of this many encoder/decoder pairs (unconditioned decoder only), each
            initialized on its own and trained on its own reconstruction loss; the reconstruction
            (and so EncDec-AD's error) is their mean, which evens out what one initialization gets
            wrong. Each update trains every member, so it costs ``members`` times a single model's.
            `for_anomaly_detection` uses 3.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, input_dim)`` with ``T >= 2``, any ``N`` and ``T`` (also after ``hybridize()``);
        ``inference(x)``: reconstruction ``(N, T, input_dim)``; ``extract_feature_points(x)``: codes
        (of the first member) ``(N, hidden_dim)``; ``anomaly_score(x)``: ``(N,)``; ``predict_anomaly(x)``:
        ``(N,)`` bool.
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
        decoder_feedback: bool = False,
        standardize: bool = True,
        members: int = 1,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        check_positive_integers(input_dim=input_dim, hidden_dim=hidden_dim, num_layers=num_layers, members=members)
        if members > 1 and decoder_feedback:
            raise ValueError("members > 1 needs the unconditioned decoder (decoder_feedback=False)")
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio}")
        self.input_shape = (None, int(input_dim))
        self.hidden_dim, self.num_layers = int(hidden_dim), int(num_layers)
        self.attention = bool(attention)
        self.teacher_forcing_ratio = float(teacher_forcing_ratio)
        self.decoder_feedback = bool(decoder_feedback)
        self.input_dim, self.members = int(input_dim), int(members)
        # Which mini-batches are teacher-forced: seeded, so the same seed trains the same model, and
        # kept in extra_state, so a resumed run draws what the uninterrupted one would have.
        self._teacher_rng = np.random.RandomState(
            derive_seed(seed, "teacher") if seed is not None else None)
        with self.name_scope():
            self.encoder = _Encoder(int(input_dim), self.hidden_dim, self.num_layers, self.attention)
            self.decoder = _Decoder(int(input_dim), self.hidden_dim, self.num_layers, self.attention)
            # Further members of the ensemble (``encoder1``/``decoder1``, ...): the first keeps the
            # names of a single model, so a one-member model's files are unchanged.
            for k in range(1, self.members):
                setattr(self, f"encoder{k}", _Encoder(int(input_dim), self.hidden_dim, self.num_layers,
                                                      self.attention))
                setattr(self, f"decoder{k}", _Decoder(int(input_dim), self.hidden_dim, self.num_layers,
                                                      self.attention))
            self.standardizer = InputStandardizer(int(input_dim)) if standardize else None
            self.loss = L2NormLoss()

    #: The members of `for_anomaly_detection`'s ensemble.
    ANOMALY_MEMBERS = 3

    @classmethod
    def for_anomaly_detection(cls, seq_len: int, input_dim: int = 1, **kwargs: Any) -> "EncoderDecoder":
        """EncDec-AD's default model for windows of ``seq_len`` steps of ``input_dim`` values.

        ``EncoderDecoder(input_dim, hidden_dim=anomaly.code_size(seq_len, input_dim), members=3)``:
        a code that is a bottleneck for the window and an ensemble of three members (Malhotra et al.
        2016's detector on their mean reconstruction). Train it with `learn_anomaly_detector`, which
        gives the ensemble the budget of one model. ``kwargs`` override any argument (``seed``, ``ctx``...).
        How the recipe was chosen, and when PCA + Mahalanobis does as well: the README's "Anomaly
        detection on real series" (``python -m benchmarks anomaly``).

        Example:
            >>> model = EncoderDecoder.for_anomaly_detection(24, seed=0)
            >>> model.hidden_dim, model.members
            (8, 3)
            >>> model.learn_anomaly_detector(train_windows, normal_windows)    # doctest: +SKIP
            >>> scores = model.anomaly_score(test_windows)                     # doctest: +SKIP
        """
        from .anomaly import code_size

        settings: Dict[str, Any] = {"hidden_dim": code_size(seq_len, input_dim), "members": cls.ANOMALY_MEMBERS}
        settings.update(kwargs)
        return cls(input_dim, **settings)

    def hybrid_forward(self, F, x):
        return self._free_running(F, x)

    def _member(self, k: int) -> Tuple[Any, Any]:
        return (self.encoder, self.decoder) if k == 0 else (getattr(self, f"encoder{k}"), getattr(self, f"decoder{k}"))

    def _member_outputs(self, F: Any, z: Any) -> List[Any]:
        # Each member's unconditioned reconstruction of the standardized windows z, in time order.
        outs = []
        for k in range(self.members):
            encoder, decoder = self._member(k)
            enc_states, h, c, *keys = encoder(z)
            memory = (enc_states, keys[0]) if self.attention else ()
            outs.append(F.reverse(decoder(F.zeros_like(z), h, c, *memory), axis=1))  # one fused LSTM call
        return outs

    def _free_running(self, F: Any, x: Any, steps: Optional[int] = None) -> Any:
        # The reconstruction as inference computes it: standardize, encode, decode without the true
        # inputs (from nothing, or feeding back its own outputs), average the members, map back to
        # the input's units.
        z, mean, scale = self.standardizer(x) if self.standardizer is not None else (x, None, None)
        if self.decoder_feedback:
            enc_states, h, c, *keys = self.encoder(z)
            memory, key = (enc_states, keys[0]) if self.attention else (None, None)
            out = F.reverse(self.decoder.free_run(F, F.reverse(z, axis=1), h, c, memory, key, steps=steps), axis=1)
        else:
            outs = self._member_outputs(F, z)
            out = outs[0] if len(outs) == 1 else F.add_n(*outs) / len(outs)
        return out if scale is None else F.broadcast_add(F.broadcast_mul(out, scale), mean)

    def _standardized(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        return x if self.standardizer is None else self.standardizer(x)[0]

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """The free-running reconstruction ``self(x)``. With ``decoder_feedback`` the decoder steps
        with ``F.contrib.foreach``, which MXNet's ONNX exporter cannot convert: given ``sample_shape``
        ``(T, F)`` (an export) its loop is unrolled over ``T`` steps, and the graph takes sequences of
        ``T`` steps only. Without feedback the graph takes any ``T``."""
        if sample_shape is None:
            return self(x)
        return self._free_running(F, x, steps=int(sample_shape[0]))

    def _as_sequences(self, x: mx.nd.NDArray) -> None:
        if x.ndim != 3 or x.shape[1] < 2:
            raise ValueError(f"EncoderDecoder needs sequences (N, T >= 2, {self.input_dim}), "
                             f"got shape {x.shape}")

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                     teacher_forcing: Optional[bool] = None) -> mx.nd.NDArray:
        """Per-sample squared reconstruction errors ``(N,)`` (in standardized units with
        ``standardize``). ``teacher_forcing`` (``decoder_feedback`` only): decode from the true
        previous steps (``True``) or from the decoder's own outputs (``False``, what ``inference``
        does); ``None`` draws it with probability ``teacher_forcing_ratio`` when autograd is
        training, else runs free (the held-out loss is the free-running one)."""
        self._as_sequences(x)
        target = y if y is not None and y.shape == x.shape else x
        if teacher_forcing is None:
            teacher_forcing = autograd.is_training() and self._draw_teacher_forcing()
        if teacher_forcing and self.decoder_feedback:
            z = self._standardized(x)
            target = self._standardized(target)
            enc_states, h, c, *keys = self.encoder(z)
            memory = (enc_states, keys[0]) if self.attention else ()
            return self.loss(mx.nd.reverse(self.decoder(mx.nd.reverse(target, axis=1), h, c, *memory), axis=1),
                             target)
        if self.members > 1 and autograd.is_training():
            # Each member learns to reconstruct on its own (the mean of their losses): an ensemble of
            # independently trained auto-encoders, not one wide model fitted through their average.
            z, target = self._standardized(x), self._standardized(target)
            losses = [self.loss(out, target) for out in self._member_outputs(mx.nd, z)]
            return mx.nd.add_n(*losses) / len(losses)
        out = self(x)
        if self.standardizer is None:
            return self.loss(out, target)
        # The error in each feature's standard deviations: features in different units weigh alike.
        scale = self.standardizer.scale.data(x.context).reshape((1, 1, -1))
        return self.loss(mx.nd.broadcast_div(out, scale), mx.nd.broadcast_div(target, scale))

    def _draw_teacher_forcing(self) -> bool:
        return bool(self._teacher_rng.rand() < self.teacher_forcing_ratio)

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """One gradient step on a mini-batch, teacher-forced with probability ``teacher_forcing_ratio``
        (one draw per batch: every device's slice decodes the same way)."""
        teacher_forcing = self._draw_teacher_forcing()
        loss = gradient_step(self, lambda xs, ys: self.compute_loss(xs, ys, teacher_forcing), x, y,
                             clip_norm=clip_norm)
        return {"loss": loss}

    def check_data(self, data: IteratableData) -> None:
        """Refuse, before training, samples that are not sequences ``(T >= 2, input_dim)``."""
        super().check_data(data)
        steps = data.sample_shape[0]
        if steps < 2:
            raise ValueError(f"EncoderDecoder needs sequences of at least 2 steps, got {steps}")

    def extra_state(self) -> Dict[str, np.ndarray]:
        """The fitted EncDec-AD detector (see `EncDecADMixin`) and the state of the generator that
        draws the teacher-forced batches."""
        name, keys, position, has_gauss, cached = self._teacher_rng.get_state()
        return {**super().extra_state(), "teacher_forcing_rng_keys": np.asarray(keys, np.int64),
                "teacher_forcing_rng_position": np.array([position, has_gauss, cached], np.float64)}

    def set_extra_state(self, state: Dict[str, np.ndarray]) -> None:
        state = dict(state)
        keys = state.pop("teacher_forcing_rng_keys", None)
        position = state.pop("teacher_forcing_rng_position", None)
        super().set_extra_state(state)
        if keys is not None and position is not None:
            pos, has_gauss, cached = np.ravel(position)
            self._teacher_rng.set_state(("MT19937", np.asarray(keys, np.uint32), int(pos), int(has_gauss),
                                         float(cached)))

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes: the encoder's final top-layer hidden state, ``(N, hidden_dim)``."""
        return self._batched(lambda x: _top_layer(mx.nd, self.encoder(self._standardized(x))[1]), observed_arr,
                             batch_size)
