"""Loss functions (`ComputableLoss`), each also a `gluon.loss.Loss` usable inside a graph.

Calling a loss block gives per-sample losses ``(N,)``; ``compute(pred, real)`` gives their mean as a
one-element NDArray.
"""
from __future__ import annotations

from typing import Any

import mxnet as mx
from mxnet import gluon

from .interfaces import ComputableLoss

__all__ = ["L2NormLoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss", "pull_away_term"]


class _Computable(ComputableLoss):
    def compute(self, pred_arr: Any, real_arr: Any) -> mx.nd.NDArray:
        return self(pred_arr, real_arr).mean()


class L2NormLoss(_Computable, gluon.loss.Loss):
    """Mean squared error per sample: ``mean((pred - real)**2)`` over all non-batch axes.

    Squared error rather than its root: the root has a NaN gradient where the error is exactly 0
    (SPEC §10).

    Shapes: ``pred``, ``real`` ``(N, ...)`` -> ``(N,)``.

    Example:
        >>> L2NormLoss().compute(mx.nd.ones((2, 3)), mx.nd.zeros((2, 3))).asscalar()
        1.0
    """

    def __init__(self, weight: float = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: D102
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
    between the codes of different samples of a batch,

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
