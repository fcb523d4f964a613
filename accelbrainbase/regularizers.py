"""Parameter constraints (`RegularizatableData`) applied by `training.fit` after every step."""
from __future__ import annotations

from typing import Any, Dict

import mxnet as mx

from .interfaces import RegularizatableData

__all__ = ["ConstrainWeights"]


class ConstrainWeights(RegularizatableData):
    """Max-norm constraint: rescale each unit's incoming weight vector to L2 norm <= ``max_norm``.

    Applies to every parameter whose name ends with ``suffix`` and has at least two axes; rows (axis
    0, the output units) are rescaled (Srivastava et al. 2014, "Dropout", §5.1).

    Args:
        max_norm: the largest allowed norm of one unit's incoming weights.
        suffix: which parameters to constrain (by name ending).

    Example:
        >>> fit(model, it, regularizers=[ConstrainWeights(3.0)])   # doctest: +SKIP
    """

    def __init__(self, max_norm: float = 3.0, suffix: str = "weight") -> None:
        if max_norm <= 0:
            raise ValueError(f"max_norm must be positive, got {max_norm}")
        self.max_norm = float(max_norm)
        self.suffix = suffix

    def regularize(self, params_dict: Dict[str, Any]) -> None:
        for name, param in params_dict.items():
            if not name.endswith(self.suffix) or len(param.shape) < 2:
                continue
            for w in param.list_data():
                norms = mx.nd.sqrt(mx.nd.sum(w.reshape((w.shape[0], -1)) ** 2, axis=1) + 1e-12)
                scale = mx.nd.minimum(mx.nd.ones_like(norms), self.max_norm / norms)
                w[:] = mx.nd.broadcast_mul(w, scale.reshape((-1,) + (1,) * (w.ndim - 1)))

    def get_config(self) -> Dict[str, Any]:
        return {"max_norm": self.max_norm, "suffix": self.suffix}
