"""Partition-function tools shared by the Boltzmann machines: exact sums over binary states and the
annealed importance sampling (AIS) schedule (Neal 2001; Salakhutdinov & Murray 2008)."""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, Hashable, Tuple

import numpy as np

__all__ = ["logsumexp_binary_states", "ais_betas", "log_mean_exp", "split_betas", "LogPartitionCache", "cache_key"]


def logsumexp_binary_states(n_units: int, log_terms: Callable[[np.ndarray], np.ndarray],
                            chunk: int = 1 << 14) -> float:
    """``log sum_s exp(log_terms(s))`` over all ``2^n_units`` binary vectors ``s``.

    ``log_terms`` maps a ``(M, n_units)`` float64 array of states to ``(M,)`` log-terms; states are
    visited in chunks so memory stays bounded.

    Example:
        >>> round(logsumexp_binary_states(3, lambda s: np.zeros(len(s))), 6) == round(np.log(8), 6)
        True
    """
    if n_units > 24:
        raise ValueError(f"2^{n_units} states are too many to enumerate")
    total = 2 ** n_units
    bits = 1 << np.arange(n_units)
    result = -np.inf
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total))
        states = ((index[:, None] & bits) > 0).astype(np.float64)
        result = np.logaddexp(result, _logsumexp(log_terms(states)))
    return float(result)


def _logsumexp(a: np.ndarray) -> float:
    peak = a.max()
    return float(peak + np.log(np.exp(a - peak).sum()))


def log_mean_exp(a: np.ndarray) -> float:
    """``log(mean(exp(a)))`` computed stably (the AIS estimate of ``log Z_B / Z_A``)."""
    a = np.asarray(a, dtype=np.float64)
    return _logsumexp(a) - np.log(a.size)


def ais_betas(n: int = 20000) -> np.ndarray:
    """An inverse-temperature schedule from 0 to 1 with ``n`` points, denser near 1, where the
    distributions change fastest (in the proportions of Salakhutdinov & Murray 2008: 1/29 of the
    points on [0, 0.5), 4/29 on [0.5, 0.9), 24/29 on [0.9, 1]).

    Example:
        >>> b = ais_betas(1000)
        >>> len(b), b[0], b[-1]
        (1000, 0.0, 1.0)
    """
    if n < 3:
        raise ValueError(f"AIS needs at least 3 inverse temperatures, got {n}")
    n1 = max(1, n // 29)
    n2 = max(1, 4 * n // 29)
    n3 = n - n1 - n2
    return np.concatenate([np.linspace(0.0, 0.5, n1, endpoint=False),
                           np.linspace(0.5, 0.9, n2, endpoint=False),
                           np.linspace(0.9, 1.0, n3)])


def split_betas(F: Any, pair: Any) -> Tuple[Any, Any]:
    """``(beta_prev, beta)`` of one AIS transition, each ``(1, 1)`` for broadcasting, from the
    ``(2,)`` array ``[beta_prev, beta]`` a compiled annealing graph receives as data."""
    return (F.slice_axis(pair, axis=0, begin=0, end=1).reshape((1, 1)),
            F.slice_axis(pair, axis=0, begin=1, end=2).reshape((1, 1)))


class LogPartitionCache:
    """``log Z`` values of a model, kept until its parameters change.

    AIS takes seconds; a second ``log_likelihood`` call on the same parameters should not rerun it.
    Each value is stored with a fingerprint of the parameters it was computed from (a hash of their
    bytes, milliseconds even for a 784x500 RBM) and the arguments of the computation; a parameter
    update, a ``load`` or a ``set_data`` changes the fingerprint, and the value is computed again.

    Example:
        >>> cache = LogPartitionCache()
        >>> params = [np.ones(3)]
        >>> cache.get(lambda: params, ("exact",), lambda: 1.5)
        1.5
        >>> cache.get(lambda: params, ("exact",), lambda: 2.0)   # same parameters: the stored value
        1.5
    """

    def __init__(self) -> None:
        self.values: Dict[Hashable, Tuple[bytes, float]] = {}

    @staticmethod
    def fingerprint(arrays: Any) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.digest()

    def get(self, arrays: Callable[[], Any], key: Hashable, compute: Callable[[], float]) -> float:
        """The value for ``key`` on the parameters ``arrays()`` returns (numpy arrays), computed by
        ``compute()`` when there is none for them yet."""
        fingerprint = self.fingerprint(arrays())
        stored = self.values.get(key)
        if stored is not None and stored[0] == fingerprint:
            return stored[1]
        value = float(compute())
        self.values[key] = (fingerprint, value)
        return value


def cache_key(value: Any) -> Hashable:
    """A hashable stand-in for an argument of a ``log Z`` computation (arrays by their bytes)."""
    if value is None or np.isscalar(value):
        return value
    array = np.asarray(value, dtype=np.float64)
    return (array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).digest())
