"""Unsupervised domain adaptation controllers.

`DRCNetworks` (Ghifary et al. 2016) shares a convolutional encoder between a classifier trained on
labeled *source* images and a decoder trained to reconstruct unlabeled *target* images, so the
features the classifier reads are also features of the target domain.
`SelfSupervisedDomainAdaptation` (Xu et al. 2019) shares it between the classifier and a pretext
head that predicts which rotation was applied to images of both domains.

The controllers orchestrate zoo models: the encoder (and decoder) of an auto-encoder
(`ConvolutionalAutoEncoder` or `AutoEncoder`) and `NeuralNetworks` heads on the encoder's
features. They are controllers (`controllers.base.ControllerModel`): ordinary models with a
``gluon.Trainer`` per part, whose ``train_step`` takes the two tasks in turn, each one
`training.gradient_step` over the trainers of the parts it trains; `training.fit` drives them like
any model (checkpoints, resume, ``save``/``load``, data-parallel training).
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..checks import check_array, check_feature_shape, check_labels
from ..context import CtxLike, derive_seed
from ..data.iterators import ArrayIterator
from ..interfaces import IteratableData, NoiseableData
from ..models.cae import ConvolutionalAutoEncoder
from ..models.dense import NeuralNetworks
from ..registry import register_model
from .base import ControllerModel
from .base import seed_for as _seed_for

__all__ = ["DRCNetworks", "SelfSupervisedDomainAdaptation", "rotate_images"]

Batch = Tuple[mx.nd.NDArray, Optional[mx.nd.NDArray]]


class _SharedEncoderAdaptation(ControllerModel):
    """What the shared-encoder domain adaptation controllers have in common: an auto-encoder whose
    encoder is shared, a `NeuralNetworks` classifier on its flattened features trained on labeled
    source batches, a cycled stream of unlabeled target batches, a trainer per part (`_parts`) and
    a phase -> trainers map (`phases`), inference, features, accuracy. The shared encoder has ONE
    optimizer state that sees the gradients of both tasks, as in the papers' single objective."""

    _monitored = "classification_loss"

    #: the auto-encoder's input shape.
    input_shape: Tuple[Optional[int], ...]

    def __init__(self, autoencoder: Any, classifier: NeuralNetworks, *, ctx: CtxLike = None,
                 seed: Optional[int] = None) -> None:
        super().__init__(ctx=ctx, seed=seed)
        missing = [name for name in ("encoder", "decoder", "compute_loss", "input_shape")
                   if not hasattr(autoencoder, name)]
        if missing:
            raise TypeError(f"autoencoder must be an auto-encoder of the zoo (ConvolutionalAutoEncoder, AutoEncoder) "
                            f"with an encoder and a decoder; {type(autoencoder).__name__} has no {missing}")
        num_classes = getattr(classifier, "num_classes", None)
        if not num_classes:
            raise ValueError("classifier must be a NeuralNetworks classifier (num_classes=K), not a regressor")
        self.add_part("autoencoder", autoencoder)
        self.add_part("classifier", classifier, NeuralNetworks)
        self.input_shape = tuple(autoencoder.input_shape)
        self.num_classes = int(num_classes)
        self._target_data: Optional[IteratableData] = None
        self._target_batches: Optional[Iterator[Batch]] = None

    def _encoder_params(self) -> gluon.ParameterDict:
        return self.autoencoder.encoder.collect_params()

    def _parts(self) -> Dict[str, Tuple[gluon.ParameterDict, Any]]:
        """Trainer name -> (its parameters, the model whose optimizer settings it uses)."""
        return {"encoder": (self._encoder_params(), self.autoencoder),
                "classifier": (self.classifier.collect_params(), self.classifier)}

    # ------------------------------------------------------------------ trainers
    def trainer_plan(self) -> Dict[str, Tuple[Any, Any]]:
        """One trainer per trained part (`_parts`), each with its model's optimizer settings."""
        return self._parts()

    # ------------------------------------------------------------------ data
    def _check_images(self, shape: Tuple[int, ...], name: str) -> None:
        check_feature_shape(tuple(shape), self.input_shape, name)
        if isinstance(self.autoencoder, ConvolutionalAutoEncoder):
            self.autoencoder.check_part_image_size(tuple(shape), name)
        features = self.autoencoder.encoder(mx.nd.zeros((1,) + tuple(shape), ctx=self.ctx[0]))
        size, expected = int(np.prod(features.shape[1:])), self.classifier.input_shape[0]
        if size != expected:
            raise ValueError(f"{name} has images of shape {tuple(shape)}: the encoder turns them into "
                             f"{tuple(features.shape[1:])} = {size} features, but the classifier takes {expected} "
                             "(build the classifier with input_dim equal to the encoder's feature size)")

    def check_data(self, iteratable_data: IteratableData) -> None:
        """The source data: labeled images of the auto-encoder's shape, labels in ``0..K-1``."""
        self._check_images(iteratable_data.sample_shape, "x (source images)")
        _, y = iteratable_data.training_arrays()
        if y is None:
            raise ValueError(f"{type(self).__name__} learns the classifier from labeled source data: the source "
                             f"iterator has no y (the unlabeled target data goes to learn(source, target_data))")
        check_labels(y, self.num_classes, "y")
        check_labels(iteratable_data.test_arrays()[1], self.num_classes, "test y")

    def _as_target(self, target_data: Any, source: IteratableData) -> Optional[IteratableData]:
        if target_data is None:
            return None
        if isinstance(target_data, IteratableData):
            shape = tuple(target_data.sample_shape)
            it = target_data
        else:
            x = check_array(target_data, "target_data", min_rank=2)
            shape = tuple(x.shape[1:])
            batch_size = min(int(source.batch_size or 64), len(x))
            it = ArrayIterator(x, batch_size=batch_size, ctx=self.ctx[0],
                               seed=None if self.seed is None else derive_seed(self.seed, "target"))
        source_shape = source.sample_shape
        if tuple(source_shape) != shape:
            raise ValueError(f"target_data has per-sample shape {shape} but the source images have "
                             f"{tuple(source_shape)}: both domains must have images of one shape")
        self._check_images(shape, "target_data")
        return it

    # The second argument is the unlabeled target data, not ObservableModel.learn's labels y.
    def learn(self, iteratable_data: IteratableData, target_data: Any = None,  # type: ignore[override]
              **fit_kwargs: Any) -> "_SharedEncoderAdaptation":
        """Adapt to the target domain: the classifier learns from the labeled source batches of
        ``iteratable_data``, the auxiliary head (DRCN: the decoder; self-supervised: the rotation
        head) from ``target_data`` (unlabeled images ``(N, C, H, W)``, or an `ArrayIterator` of them,
        e.g. with a ``noiseable_data``; labels in it are ignored).

        Every source mini-batch is paired with the next target mini-batch (the target data is cycled,
        reshuffled each pass). Without ``target_data`` the auxiliary task uses the source images
        (DRCN: the paper's DRCN_s variant, a reconstruction-regularized classifier, no adaptation).
        ``fit_kwargs`` go to `training.fit` (``epochs``, ``patience``, ``checkpoint_dir``, ...).

        Returns ``self``.
        """
        self.check_data(iteratable_data)  # the source first: its errors are the ones to see first
        self._target_data = self._as_target(target_data, iteratable_data)
        self._target_batches = None
        try:
            return super().learn(iteratable_data, **fit_kwargs)
        finally:
            self._target_data, self._target_batches = None, None

    def _target_stream(self, position: int) -> Iterator[Batch]:
        # Picks up at batch `position` of the cycled target data: a resumed fit (which restores the
        # step count) draws the batches an uninterrupted one would have drawn.
        it = self._target_data
        if it is None:
            raise RuntimeError("the target batches are drawn within learn(..., target_data=...)")
        per_epoch = it.iter_n if it.iter_n is not None else sum(1 for _ in it.train_batches(0))
        epoch, skip = divmod(position, max(per_epoch, 1))
        while True:
            n = 0
            for x, y in it.train_batches(epoch):
                n += 1
                if skip:
                    skip -= 1
                    continue
                yield x, (y if y is not None and y.shape == x.shape else None)
            if n == 0:
                raise ValueError("target_data yielded no training batches")
            epoch += 1

    # ------------------------------------------------------------------ phases
    def _classification(self, x: mx.nd.NDArray, y: mx.nd.NDArray) -> mx.nd.NDArray:
        return self.classifier.compute_loss(self.autoencoder.encoder(x), y)

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed cross-entropy of a held-out labeled source batch and its number of correct
        predictions (`training.fit` records ``test_loss`` and ``test_accuracy``)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} tests the classifier on labeled source batches: this one has no y")
        device = self.ctx[0]
        x, y = x.as_in_context(device), y.as_in_context(device)
        logits = self(x)
        return {"loss": self.classifier.loss(logits, y).sum(),
                "accuracy": (mx.nd.argmax(logits, axis=1) == y.reshape((-1,))).sum()}

    # ------------------------------------------------------------------ inference
    def hybrid_forward(self, F, x):
        return self.classifier(self.autoencoder.encoder(x))

    def _as_input(self, observed_arr: Any, name: str = "observed_arr") -> mx.nd.NDArray:
        x = super()._as_input(observed_arr, name)
        self._check_images(tuple(x.shape[1:]), name)
        return x

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """Class probabilities of the classifier on the shared encoder's features."""
        return F.softmax(self(x))

    def _feature_size(self, shape: Tuple[int, ...]) -> int:
        return int(np.prod(self.autoencoder.encoder(mx.nd.zeros((1,) + shape, ctx=self.ctx[0])).shape[1:]))

    def example_input(self, batch_size: int = 2) -> mx.nd.NDArray:
        """A zero batch of images whose free spatial sizes give the classifier its feature size
        (e.g. to export)."""
        step = getattr(self.autoencoder, "downscale", 1)
        for k in range(1, 65):
            shape = tuple(step * k if d is None else d for d in self.input_shape)
            if self._feature_size(shape) == self.classifier.input_shape[0]:
                return mx.nd.zeros((batch_size,) + shape, ctx=self.ctx[0])
        return super().example_input(batch_size)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """The shared encoder's features of ``observed_arr``, flattened: ``(N, D)``, what the
        classifier reads."""
        return self._batched(lambda x: mx.nd.flatten(self.autoencoder.encoder(x)), observed_arr, batch_size)

    def score(self, x: Any, y: Any, batch_size: int = 1024) -> float:
        """Accuracy of the predicted classes on images ``x`` with labels ``y`` ``(N,)``."""
        labels = check_array(y, "y", max_rank=1, dtype=None)
        probabilities = self.inference(x if isinstance(x, mx.nd.NDArray) else np.asarray(x), batch_size)
        probabilities = probabilities.asnumpy() if isinstance(probabilities, mx.nd.NDArray) else probabilities
        if len(labels) != len(probabilities):
            raise ValueError(f"x has {len(probabilities)} samples but y has {len(labels)}")
        return float(np.mean(probabilities.argmax(axis=1) == labels))


def _example_drcn(rng: np.random.RandomState):
    x = rng.rand(24, 1, 8, 8).astype(np.float32)
    autoencoder = ConvolutionalAutoEncoder(1, [4, 8], learning_rate=0.01, seed=0)
    classifier = NeuralNetworks(32, [8], num_classes=3, learning_rate=0.01, seed=0)
    return dict(autoencoder=autoencoder, classifier=classifier), x, rng.randint(0, 3, 24)


@register_model("drcn", example=_example_drcn)
class DRCNetworks(_SharedEncoderAdaptation):
    """Deep Reconstruction-Classification Networks (Ghifary, Kleijn, Zhang, Balduzzi & Li 2016,
    "Deep Reconstruction-Classification Networks for Unsupervised Domain Adaptation").

    One encoder feeds two heads: a classifier, trained with softmax cross-entropy on labeled
    source images, and a decoder, trained with the squared reconstruction error on unlabeled target
    images. The paper's objective is ``λ L_classification + (1 - λ) L_reconstruction``; as in its
    algorithm the two tasks alternate: every mini-batch of source data gives one classification
    step (encoder + classifier, loss weighted by ``λ``) followed by one reconstruction step on the
    next mini-batch of target data (encoder + decoder, weighted by ``1 - λ``). The encoder keeps a
    single optimizer state fed by both tasks, so ``λ`` sets their balance even for adaptive
    optimizers. ``λ = 1`` trains the source-only classifier (the baseline; the decoder idles).

    Denoising (the paper's DRCN corrupts the target inputs of the reconstruction task): give the
    auto-encoder a ``noiseable_data`` (`GaussNoise`, `MaskingNoise`, `CutoutNoise`), or pass the
    target data as an `ArrayIterator` with ``noiseable_data`` (its clean batch is the target).

    Args:
        autoencoder: a `ConvolutionalAutoEncoder` (or `AutoEncoder`) whose ``encoder`` is the shared
            encoder and whose ``decoder`` is the reconstruction head; its optimizer settings drive
            the encoder and the decoder, its ``noiseable_data`` the denoising.
        classifier: a `NeuralNetworks` classifier (``num_classes``) taking the flattened encoder
            features (``input_dim`` = their size); its optimizer settings drive the classifier head.
        classification_weight: ``λ`` in ``[0, 1]``; the reconstruction loss is the squared error
            summed over the pixels, as in the paper. The default 0.2 was the best of 0.1, 0.2, 0.3,
            0.5 on digits -> blurred digits (benchmarks/bench_drcn.py).
        ctx: context(s) of every part (they are moved there); a list trains data parallel.
        seed: seeds training (each part's initialization has its own seed).

    Shapes:
        images ``(N, C, H, W)`` (the auto-encoder's input); ``self(x)`` -> logits ``(N, K)``;
        ``inference(x)`` -> class probabilities ``(N, K)``; ``extract_feature_points(x)`` -> the
        flattened encoder features ``(N, D)``; ``reconstruct(x)`` -> ``(N, C, H, W)``.

    History per epoch: ``classification_loss`` (``loss_arr[:, 0]`` unless ``λ = 0``, mean
    cross-entropy on the source batches), ``reconstruction_loss`` (mean squared error on the target batches), and with
    held-out labeled source data ``test_loss`` / ``test_accuracy``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> from accelbrainbase.data.synthetic import digits_domain_shift
        >>> xs, ys, xt, yt = digits_domain_shift(("shift", "blur"), seed=0)
        >>> drcn = DRCNetworks.for_images((1, 8, 8), num_classes=10, seed=0)
        >>> drcn = drcn.learn(ArrayIterator(xs, ys, batch_size=64, epochs=1, seed=0), xt, verbose=False)
        >>> drcn.inference(xt[:3]).shape, drcn.reconstruct(xt[:3]).shape
        ((3, 10), (3, 1, 8, 8))
    """

    phases = {"classification": ("encoder", "classifier"), "reconstruction": ("encoder", "decoder")}

    def __init__(
        self,
        autoencoder: Any,
        classifier: NeuralNetworks,
        *,
        classification_weight: float = 0.2,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        if not (np.isfinite(classification_weight) and 0.0 <= classification_weight <= 1.0):
            raise ValueError(f"classification_weight (λ) must be within [0, 1], got {classification_weight!r}")
        super().__init__(autoencoder, classifier, ctx=ctx, seed=seed)
        self.classification_weight = float(classification_weight)
        # The loss fit monitors (loss_arr[:, 0]): classification, unless λ = 0 switches it off.
        self._monitored = "classification_loss" if classification_weight > 0 else "reconstruction_loss"

    @classmethod
    def for_images(
        cls,
        image_shape: Sequence[int] = (1, 8, 8),
        num_classes: int = 10,
        channels: Sequence[int] = (24, 48),
        hidden_dims: Sequence[int] = (128,),
        *,
        classification_weight: float = 0.2,
        noiseable_data: Optional[NoiseableData] = None,
        dropout: float = 0.0,
        learning_rate: float = 2e-3,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> "DRCNetworks":
        """A DRCN for images of ``image_shape = (C, H, W)``: a `ConvolutionalAutoEncoder` with
        stride-2 convolutions ``C -> channels`` (ReLU; 4x4 kernels, each layer halves the image) and
        the mirrored transposed convolutions (sigmoid output, for images in [0, 1]), plus a
        `NeuralNetworks` classifier ``features -> hidden_dims -> num_classes`` (ReLU, ``dropout``).
        Adam with ``learning_rate`` everywhere. On 8x8 digits the default encoder gives 48 x 2 x 2 =
        192 features."""
        c, h, w = (int(d) for d in image_shape)
        scale = 2 ** len(channels)
        if h % scale or w % scale:
            raise ValueError(f"images of {h}x{w} pixels cannot be halved {len(channels)} times "
                             f"(channels={list(channels)}): H and W must be multiples of {scale}")
        autoencoder = ConvolutionalAutoEncoder(c, channels, activation="relu", code_activation="relu",
                                               output_activation="sigmoid", noiseable_data=noiseable_data, ctx=ctx,
                                               seed=_seed_for(seed, "autoencoder"), learning_rate=learning_rate)
        features = int(channels[-1]) * (h // scale) * (w // scale)
        classifier = NeuralNetworks(features, hidden_dims, num_classes=num_classes, dropout=dropout, ctx=ctx,
                                    seed=_seed_for(seed, "classifier"), learning_rate=learning_rate)
        return cls(autoencoder, classifier, classification_weight=classification_weight, ctx=ctx, seed=seed)

    def _parts(self) -> Dict[str, Tuple[Any, Any]]:
        """The shared encoder, the decoder (the auto-encoder's other parameters), the classifier."""
        encoder = self._encoder_params()
        # Tied decoder kernels are the encoder's: updated once, there.
        decoder = {name: p for name, p in self.autoencoder.collect_params().items() if name not in encoder}
        parts = super()._parts()
        return {"encoder": parts["encoder"], "decoder": (decoder, self.autoencoder), "classifier": parts["classifier"]}

    # ------------------------------------------------------------------ phases
    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """A classification step (encoder + classifier) on the source batch, then a reconstruction
        step (encoder + decoder) on the next target batch; returns their summed losses (the
        reconstruction loss rescaled to the source batch's size when the target batch differs)."""
        lam = self.classification_weight
        if y is None:
            raise ValueError("DRCNetworks needs labeled source batches (x, y)")
        n, losses = x.shape[0], {}
        if lam > 0:
            loss = self.phase_step("classification", lambda xs, ys: lam * self._classification(xs, ys), x, y,
                                   clip_norm=clip_norm)
            losses["classification_loss"] = loss / lam
        if lam < 1:
            if self._target_data is None:  # DRCN_s: reconstruct the source images
                xt, clean = x, None
            else:
                if self._target_batches is None:
                    self._target_batches = self._target_stream(self._step_count)
                xt, clean = next(self._target_batches)
            m, values = xt.shape[0], int(np.prod(xt.shape[1:]))
            # The paper's reconstruction loss is the squared error summed over the pixels; the
            # auto-encoders' loss is its mean.
            loss = self.phase_step("reconstruction",
                                   lambda xs, cs: ((1 - lam) * values) * self.autoencoder.compute_loss(xs, cs),
                                   xt, clean, clip_norm=clip_norm)
            # fit counts the source samples: a mean per target sample, weighted as the source batch.
            losses["reconstruction_loss"] = loss * (n / ((1 - lam) * m))
        self._step_count += 1
        return dict(losses, loss=losses[self._monitored])

    def reconstruct(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """The decoder's reconstruction of ``observed_arr``, same shape."""
        return self._batched(lambda x: self.autoencoder.decoder(self.autoencoder.encoder(x)).reshape(x.shape),
                             observed_arr, batch_size)



def rotate_images(x: mx.nd.NDArray, quarter_turns: int) -> mx.nd.NDArray:
    """Images ``(N, C, H, W)`` rotated by ``quarter_turns`` x 90 degrees (counter-clockwise), with
    `transpose` / `reverse` of the image axes (90 and 270 degrees swap H and W)."""
    k = int(quarter_turns) % 4
    if k == 0:
        return x
    if k == 2:
        return mx.nd.reverse(x, axis=(2, 3))
    x = mx.nd.transpose(x, axes=(0, 1, 3, 2))
    return mx.nd.reverse(x, axis=2 if k == 1 else 3)


def _example_ssda(rng: np.random.RandomState):
    x = rng.rand(24, 1, 8, 8).astype(np.float32)
    autoencoder = ConvolutionalAutoEncoder(1, [4, 8], learning_rate=0.01, seed=0)
    classifier = NeuralNetworks(32, [8], num_classes=3, learning_rate=0.01, seed=0)
    pretext = NeuralNetworks(32, [8], num_classes=4, learning_rate=0.01, seed=0)
    return dict(autoencoder=autoencoder, classifier=classifier, pretext=pretext), x, rng.randint(0, 3, 24)


@register_model("self_supervised_domain_adaptation", example=_example_ssda)
class SelfSupervisedDomainAdaptation(_SharedEncoderAdaptation):
    """Self-supervised domain adaptation with a rotation pretext task (Xu, Liu, Wang, Xu & Zhang
    2019, "Self-supervised Domain Adaptation for Computer Vision Tasks"; the rotation task is
    Gidaris, Singh & Komodakis 2018).

    One encoder feeds two heads: a classifier, trained with softmax cross-entropy on labeled source
    images, and a pretext head, trained with softmax cross-entropy to tell which rotation was
    applied to unlabeled images of the target domain (and, with ``rotate_source``, of the source
    domain too, as in the paper).
    Every image of a pretext batch is shown in all its rotations - 0, 90, 180 and 270 degrees
    (`rotate_images`) with ``pretext.num_classes = 4``; predicting them needs features of the
    digits' shapes *in the target domain*, which the classifier then reads. The objective is
    ``L_classification + pretext_weight * L_rotation``; as in `DRCNetworks` the tasks alternate:
    every source mini-batch gives one classification step (encoder + classifier) followed by one
    pretext step (encoder + pretext head) on the next target mini-batch (plus the source batch when
    ``rotate_source``), and the encoder keeps one optimizer state fed by both. The defaults
    (``pretext_weight = 3``, target images only) were the best of weights 0.3, 1, 3, 10 with and
    without the source images on digits -> blurred digits (benchmarks/bench_drcn.py): rotating the
    source images too helped less (the labeled source already shapes the encoder).
    ``pretext_weight = 0`` trains the source-only classifier (the baseline).

    Non-square images: 90 and 270 degree rotations would change their shape, so a pretext head with
    ``num_classes = 2`` uses only 0 and 180 degrees (any image shape); with ``num_classes = 4`` a
    non-square image is refused with an error. `for_images` picks 4 for square images, 2 otherwise.

    Args:
        autoencoder: a `ConvolutionalAutoEncoder` (or `AutoEncoder`) whose ``encoder`` is the shared
            encoder (its decoder is not used nor trained); its optimizer settings drive the encoder.
        classifier: a `NeuralNetworks` classifier (``num_classes``) on the flattened encoder
            features; its optimizer settings drive the classifier head.
        pretext: a `NeuralNetworks` classifier with ``num_classes`` 4 (rotations by 0/90/180/270
            degrees) or 2 (0/180) on the same features; its optimizer settings drive it.
        pretext_weight: weight (>= 0) of the rotation loss against the classification loss.
        rotate_source: also rotate the source batch in the pretext step (both domains, as in the
            paper); by default only the target batches are rotated.
        ctx: context(s) of every part (they are moved there); a list trains data parallel.
        seed: seeds training (each part's initialization has its own seed).

    Shapes:
        images ``(N, C, H, W)``; ``self(x)`` -> logits ``(N, K)``; ``inference(x)`` -> class
        probabilities ``(N, K)``; ``extract_feature_points(x)`` -> the flattened encoder features
        ``(N, D)``; ``predict_rotation(x)`` -> rotation probabilities ``(N, R)``.

    History per epoch: ``classification_loss`` (``loss_arr[:, 0]``, mean cross-entropy on the source
    batches), ``rotation_loss`` (mean cross-entropy of the pretext head over the rotated images),
    and with held-out labeled source data ``test_loss`` / ``test_accuracy``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> from accelbrainbase.data.synthetic import digits_domain_shift
        >>> xs, ys, xt, yt = digits_domain_shift(("blur",), seed=0)
        >>> model = SelfSupervisedDomainAdaptation.for_images((1, 8, 8), num_classes=10, seed=0)
        >>> model = model.learn(ArrayIterator(xs, ys, batch_size=64, epochs=1, seed=0), xt, verbose=False)
        >>> model.inference(xt[:3]).shape, model.predict_rotation(xt[:3]).shape
        ((3, 10), (3, 4))
    """

    phases = {"classification": ("encoder", "classifier"), "pretext": ("encoder", "pretext")}

    def __init__(
        self,
        autoencoder: Any,
        classifier: NeuralNetworks,
        pretext: NeuralNetworks,
        *,
        pretext_weight: float = 3.0,
        rotate_source: bool = False,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> None:
        if not (np.isfinite(pretext_weight) and pretext_weight >= 0.0):
            raise ValueError(f"pretext_weight must be a finite number >= 0, got {pretext_weight!r}")
        if not isinstance(pretext, NeuralNetworks) or getattr(pretext, "num_classes", None) not in (2, 4):
            raise ValueError("pretext must be a NeuralNetworks classifier with num_classes=4 (rotations by 0, 90, 180, "
                             "270 degrees) or num_classes=2 (0 and 180 degrees, for non-square images), got "
                             f"{type(pretext).__name__} with num_classes={getattr(pretext, 'num_classes', None)}")
        super().__init__(autoencoder, classifier, ctx=ctx, seed=seed)
        self.add_part("pretext", pretext, NeuralNetworks)
        if pretext.input_shape != classifier.input_shape:
            raise ValueError(f"pretext takes inputs of shape {pretext.input_shape} but the classifier takes "
                             f"{classifier.input_shape}: both heads read the same encoder features")
        self.pretext_weight = float(pretext_weight)
        self.rotate_source = bool(rotate_source)
        self.rotations = (0, 1, 2, 3) if pretext.num_classes == 4 else (0, 2)

    @classmethod
    def for_images(
        cls,
        image_shape: Sequence[int] = (1, 8, 8),
        num_classes: int = 10,
        channels: Sequence[int] = (24, 48),
        hidden_dims: Sequence[int] = (128,),
        pretext_hidden_dims: Sequence[int] = (128,),
        *,
        pretext_weight: float = 3.0,
        rotate_source: bool = False,
        dropout: float = 0.0,
        learning_rate: float = 2e-3,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
    ) -> "SelfSupervisedDomainAdaptation":
        """The encoder and classifier of `DRCNetworks.for_images` (stride-2 4x4 ReLU convolutions
        ``C -> channels``, classifier ``features -> hidden_dims -> num_classes``) plus a pretext head
        ``features -> pretext_hidden_dims -> 4`` (2 for non-square images: 0/180 degrees only).
        Adam with ``learning_rate`` everywhere."""
        c, h, w = (int(d) for d in image_shape)
        scale = 2 ** len(channels)
        if h % scale or w % scale:
            raise ValueError(f"images of {h}x{w} pixels cannot be halved {len(channels)} times "
                             f"(channels={list(channels)}): H and W must be multiples of {scale}")
        autoencoder = ConvolutionalAutoEncoder(c, channels, activation="relu", code_activation="relu",
                                               output_activation="sigmoid", ctx=ctx,
                                               seed=_seed_for(seed, "autoencoder"), learning_rate=learning_rate)
        features = int(channels[-1]) * (h // scale) * (w // scale)
        classifier = NeuralNetworks(features, hidden_dims, num_classes=num_classes, dropout=dropout, ctx=ctx,
                                    seed=_seed_for(seed, "classifier"), learning_rate=learning_rate)
        pretext = NeuralNetworks(features, pretext_hidden_dims, num_classes=4 if h == w else 2, ctx=ctx,
                                 seed=_seed_for(seed, "pretext"), learning_rate=learning_rate)
        return cls(autoencoder, classifier, pretext, pretext_weight=pretext_weight, rotate_source=rotate_source,
                   ctx=ctx, seed=seed)

    def _parts(self) -> Dict[str, Tuple[gluon.ParameterDict, Any]]:
        """The shared encoder, the classifier, the pretext head (the decoder is not trained)."""
        return dict(super()._parts(), pretext=(self.pretext.collect_params(), self.pretext))

    def _check_images(self, shape: Tuple[int, ...], name: str) -> None:
        super()._check_images(shape, name)
        if len(self.rotations) == 4 and len(shape) == 3 and shape[1] != shape[2]:
            raise ValueError(f"{name} has non-square images of shape {tuple(shape)}: rotating them by 90 degrees "
                             "changes their shape; use a pretext head with num_classes=2 (0 and 180 degrees only)")

    # ------------------------------------------------------------------ phases
    def _rotated(self, x: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        """Every image in every rotation of the pretext task, and the rotation labels."""
        images = mx.nd.concat(*(rotate_images(x, k) for k in self.rotations), dim=0)
        labels = mx.nd.arange(len(self.rotations), ctx=x.context).repeat(x.shape[0])
        return images, labels

    def _rotation_loss(self, x: mx.nd.NDArray) -> mx.nd.NDArray:
        images, labels = self._rotated(x)
        return self.pretext.compute_loss(self.autoencoder.encoder(images), labels)

    def train_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray],
                   clip_norm: Optional[float] = None) -> Dict[str, mx.nd.NDArray]:
        """A classification step (encoder + classifier) on the source batch, then a pretext step
        (encoder + pretext head) on every rotation of the next target batch; returns their summed
        losses (the rotation loss as a mean per rotated image, weighted as the source batch)."""
        if y is None:
            raise ValueError("SelfSupervisedDomainAdaptation needs labeled source batches (x, y)")
        n = x.shape[0]
        loss = self.phase_step("classification", self._classification, x, y, clip_norm=clip_norm)
        losses = {"loss": loss, "classification_loss": loss}
        w = self.pretext_weight
        if w > 0:
            if self._target_data is None:  # no target: a rotation-regularized source classifier
                images = x
            else:
                if self._target_batches is None:
                    self._target_batches = self._target_stream(self._step_count)
                xt = next(self._target_batches)[0].as_in_context(x.context)
                images = mx.nd.concat(x, xt, dim=0) if self.rotate_source else xt
            m, r = images.shape[0], len(self.rotations)
            # Each image counts r times (its rotations): the step averages over the m * r of them.
            loss = self.phase_step("pretext", lambda xs: (w / r) * self._rotation_loss(xs), images,
                                   clip_norm=clip_norm)
            losses["rotation_loss"] = loss * (n / (w * m))
        self._step_count += 1
        return losses

    # ------------------------------------------------------------------ inference
    def predict_rotation(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """The pretext head's probabilities ``(N, R)`` of the rotations ``self.rotations`` (quarter
        turns) having been applied to ``observed_arr``."""
        return self._batched(lambda x: mx.nd.softmax(self.pretext(self.autoencoder.encoder(x))), observed_arr,
                             batch_size)
