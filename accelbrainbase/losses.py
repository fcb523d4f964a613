"""Loss functions (`ComputableLoss`), each also a `gluon.loss.Loss` usable inside a graph.

Calling a loss block gives per-sample losses ``(N,)``; ``compute(pred, real)`` gives their mean as a
one-element NDArray.
"""
from __future__ import annotations

from typing import Any, Callable

import mxnet as mx
from mxnet import gluon

from .interfaces import ComputableLoss

__all__ = ["L2NormLoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss", "pull_away_term"]


class _Computable(ComputableLoss):
    # Mixed into gluon.loss.Loss blocks, which are callable (declared only: Gluon's __call__ runs).
    __call__: Callable[..., mx.nd.NDArray]

    def compute(self, pred_arr: Any, real_arr: Any) -> mx.nd.NDArray:
        return self(pred_arr, real_arr).mean()


class L2NormLoss(_Computable, gluon.loss.Loss):
    """Mean squared error per sample: ``mean((pred - real)**2)`` over all non-batch axes.

    Squared error rather than its root: the root has a NaN gradient where the error is exactly 0.

    Shapes: ``pred``, ``real`` ``(N, ...)`` -> ``(N,)``.

    Example:
        >>> L2NormLoss().compute(mx.nd.ones((2, 3)), mx.nd.zeros((2, 3))).asscalar()
        1.0
    """

    def __init__(self, weight: float = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        loss = F.square(pred - label)
        loss = gluon.loss._apply_weighting(F, loss, self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class CrossEntropyLoss(_Computable, gluon.loss.SoftmaxCrossEntropyLoss):
    """Softmax cross-entropy on logits with integer class labels.

    Shapes: ``pred`` ``(N, K)`` logits, ``real`` ``(N,)`` labels in ``0..K-1`` -> ``(N,)``.

    Example:
        >>> CrossEntropyLoss().compute(mx.nd.zeros((2, 4)), mx.nd.array([0, 3])).asscalar()  # ln 4
        1.3862929
    """


class BinaryCrossEntropyLoss(_Computable, gluon.loss.SigmoidBinaryCrossEntropyLoss):
    """Binary cross-entropy; on logits by default (``from_sigmoid=False``, numerically stable).

    Shapes: ``pred``, ``real`` ``(N, ...)`` with targets in [0, 1] -> ``(N,)``.

    Example:
        >>> round(float(BinaryCrossEntropyLoss().compute(mx.nd.zeros((1, 1)), mx.nd.ones((1, 1))).asscalar()), 4)
        0.6931
    """


def pull_away_term(F: Any, codes: Any, eps: float = 1e-8) -> Any:
    """The pull-away term of Zhao, Mathieu & LeCun 2016 (EBGAN): mean squared cosine similarity
    between the codes of different samples of a batch::

        PT(S) = 1 / (N (N - 1)) * sum_{i != j} (s_i . s_j / (|s_i| |s_j|))^2.

    It is 0 for mutually orthogonal codes and 1 when all codes are parallel; adding it to a loss pushes
    the codes of a batch apart (the repelling auto-encoder, the EBGAN generator). Usable inside
    ``hybrid_forward`` (pass its ``F``) or on NDArrays (``F = mx.nd``); the batch size is read from the
    data, not baked into the graph.

    Args:
        F: ``mx.nd`` or ``mx.sym`` (the ``F`` of ``hybrid_forward``).
        codes: ``(N, ...)`` with ``N >= 2``; trailing axes are flattened.
        eps: guards the norm of all-zero codes.

    Returns:
        a one-element array ``(1,)``.

    Example:
        >>> float(pull_away_term(mx.nd, mx.nd.array([[1, 0], [0, 2]])).asscalar())
        0.0
        >>> float(pull_away_term(mx.nd, mx.nd.array([[1, 1], [2, 2], [-3, -3]])).asscalar())
        1.0
    """
    flat = F.flatten(codes)
    unit = F.broadcast_div(flat, F.sqrt(F.sum(F.square(flat), axis=1, keepdims=True) + eps))
    cosine = F.dot(unit, unit, transpose_b=True)
    off_diagonal = F.sum(F.square(cosine)) - F.sum(F.square(F.sum(F.square(unit), axis=1)))
    n = F.sum(F.ones_like(F.slice_axis(flat, axis=1, begin=0, end=1)))
    return F.reshape(off_diagonal / (n * (n - 1)), shape=(1,))


# ---------------------------------------------------------------------------------------------------
# Adversarial losses (GAN, AAE, EBGAN, EBAAE). Each takes the *discriminator's outputs* - logits for
# the probabilistic players, energies for the energy-based ones - and gives per-sample losses ``(N,)``.
# Signs are chosen so that *minimising* each loss is what its player wants (tested in
# tests/test_losses_adversarial.py).

__all__ += ["DiscriminatorLoss", "GeneratorLoss", "FeatureMatchingLoss", "EBGANDiscriminatorLoss",
            "EBGANGeneratorLoss"]


class DiscriminatorLoss(_Computable, gluon.loss.Loss):
    """Cross-entropy of a GAN discriminator that labels real samples 1 and generated samples 0
    (Goodfellow et al. 2014):

        loss_i = -log D(x_i) - log(1 - D(G(z_i)))  =  softplus(-t_i) + softplus(f_i)

    with ``t``/``f`` the discriminator's *logits* on real/generated samples (``D = sigmoid(logit)``),
    computed in the numerically stable softplus form. It falls as real logits rise and fake logits fall;
    at the equilibrium ``D = 1/2`` everywhere it is ``2 log 2``.

    Shapes: ``true_logits``, ``fake_logits`` ``(N,)`` or ``(N, 1)`` -> ``(N,)``.

    Example:
        >>> round(float(DiscriminatorLoss().compute(mx.nd.zeros(4), mx.nd.zeros(4)).asscalar()), 4)  # 2 ln 2
        1.3863
    """

    def __init__(self, weight: float = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, true_logits, fake_logits):
        loss = F.Activation(-true_logits, act_type="softrelu") + F.Activation(fake_logits, act_type="softrelu")
        loss = gluon.loss._apply_weighting(F, loss, self._weight, None)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class GeneratorLoss(_Computable, gluon.loss.Loss):
    """The non-saturating generator loss of Goodfellow et al. 2014: ``-log D(G(z)) = softplus(-f)`` with
    ``f`` the discriminator's logits on generated samples. It falls as the discriminator takes the
    fakes for real, and - unlike the minimax ``log(1 - D(G(z)))`` - keeps a strong gradient while the
    discriminator still rejects them.

    Shapes: ``fake_logits`` ``(N,)`` or ``(N, 1)`` -> ``(N,)``; ``compute(fake_logits)``.

    Example:
        >>> round(float(GeneratorLoss().compute(mx.nd.zeros(3)).asscalar()), 4)  # ln 2
        0.6931
    """

    def __init__(self, weight: float = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)

    def compute(self, pred_arr: Any, real_arr: Any = None) -> mx.nd.NDArray:
        return self(pred_arr).mean()

    def hybrid_forward(self, F, fake_logits):
        loss = gluon.loss._apply_weighting(F, F.Activation(-fake_logits, act_type="softrelu"), self._weight, None)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class FeatureMatchingLoss(_Computable, gluon.loss.Loss):
    """Feature matching (Salimans et al. 2016, "Improved techniques for training GANs"): the squared
    distance between the batch means of an intermediate discriminator layer on generated and on real
    samples, ``|| mean_i f(G(z_i)) - mean_j f(x_j) ||^2``. A *generator* loss: the real features are
    treated as a fixed target.

    The value is a property of the batch; every sample of the batch gets it, so the mean over the
    batch is the distance itself.

    Shapes: ``fake_features`` ``(N, ...)``, ``true_features`` ``(M, ...)`` -> ``(N,)``.

    Example:
        >>> float(FeatureMatchingLoss().compute(mx.nd.array([[1, 2], [3, 2]]), mx.nd.zeros((5, 2))).asscalar())
        8.0
    """

    def __init__(self, weight: float = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, fake_features, true_features):
        fake_mean = F.mean(F.flatten(fake_features), axis=0, keepdims=True)
        true_mean = F.stop_gradient(F.mean(F.flatten(true_features), axis=0, keepdims=True))
        distance = F.sum(F.square(fake_mean - true_mean), axis=1)  # (1,)
        per_sample = F.broadcast_like(distance, F.slice_axis(F.flatten(fake_features), axis=1, begin=0, end=1)
                                      .reshape((-1,)))
        return gluon.loss._apply_weighting(F, per_sample, self._weight, None)


class EBGANDiscriminatorLoss(_Computable, gluon.loss.Loss):
    """The margin loss of an energy-based discriminator (Zhao, Mathieu & LeCun 2017, "Energy-based
    generative adversarial network"):

        loss_i = D(x_i) + max(0, m - D(G(z_i)))

    with ``D`` an energy (low on real data, e.g. an auto-encoder's reconstruction error) and ``m > 0``
    the margin. It falls as real energies fall and as fake energies rise - up to the margin, beyond
    which generated samples no longer push.

    Args:
        margin: ``m``, in the units of the energy.

    Shapes: ``true_energy``, ``fake_energy`` ``(N,)`` -> ``(N,)``.

    Example:
        >>> EBGANDiscriminatorLoss(margin=1.0).compute(mx.nd.array([0.5]), mx.nd.array([0.25])).asscalar()
        1.25
    """

    def __init__(self, margin: float = 1.0, weight: float = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        if not margin > 0:
            raise ValueError(f"margin must be positive, got {margin}")
        super().__init__(weight, batch_axis, **kwargs)
        self.margin = float(margin)

    def hybrid_forward(self, F, true_energy, fake_energy):
        loss = F.flatten(true_energy) + F.relu(self.margin - F.flatten(fake_energy))
        loss = gluon.loss._apply_weighting(F, loss, self._weight, None)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class EBGANGeneratorLoss(_Computable, gluon.loss.Loss):
    """The EBGAN generator loss: the energy of generated samples plus the pull-away term (`pull_away_term`)
    on the discriminator's codes of those samples (Zhao, Mathieu & LeCun 2017):

        loss_i = D(G(z_i)) + pull_away_weight * PT(codes of the batch)

    It falls as the fakes get lower energy; the pull-away term keeps the batch's codes apart (against
    mode collapse). The term is a property of the batch; every sample gets it.

    Args:
        pull_away_weight: weight of the pull-away term (0 turns it off; the paper uses 0.1).

    Shapes: ``fake_energy`` ``(N,)``, ``fake_codes`` ``(N, ...)`` with ``N >= 2`` -> ``(N,)``.

    Example:
        >>> codes = mx.nd.array([[1, 0], [0, 1]])
        >>> EBGANGeneratorLoss(0.1).compute(mx.nd.array([0.5, 0.25]), codes).asscalar()
        0.375
    """

    def __init__(self, pull_away_weight: float = 0.1, weight: float = 1.0, batch_axis: int = 0,
                 **kwargs: Any) -> None:
        if pull_away_weight < 0:
            raise ValueError(f"pull_away_weight must be >= 0, got {pull_away_weight}")
        super().__init__(weight, batch_axis, **kwargs)
        self.pull_away_weight = float(pull_away_weight)

    def hybrid_forward(self, F, fake_energy, fake_codes):
        loss = F.flatten(fake_energy)
        if self.pull_away_weight:
            loss = F.broadcast_add(loss, self.pull_away_weight * F.reshape(pull_away_term(F, fake_codes), (1, 1)))
        loss = gluon.loss._apply_weighting(F, loss, self._weight, None)
        return F.mean(loss, axis=self._batch_axis, exclude=True)
