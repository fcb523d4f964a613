"""Loss values against direct numpy computations."""
from __future__ import annotations

import mxnet as mx
import numpy as np

from accelbrainbase.losses import pull_away_term


def _pull_away_numpy(codes: np.ndarray) -> float:
    flat = codes.reshape(len(codes), -1)
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    n = len(flat)
    return float(sum((unit[i] @ unit[j]) ** 2 for i in range(n) for j in range(n) if i != j) / (n * (n - 1)))


def test_pull_away_term_matches_its_definition():
    codes = np.random.RandomState(0).randn(7, 2, 3).astype(np.float32)
    value = pull_away_term(mx.nd, mx.nd.array(codes)).asnumpy()
    assert value.shape == (1,)
    np.testing.assert_allclose(value[0], _pull_away_numpy(codes), rtol=1e-5)


def test_pull_away_term_in_a_hybridized_graph_with_any_batch_size():
    class Block(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return pull_away_term(F, x)

    block = Block()
    block.hybridize()
    rng = np.random.RandomState(1)
    for n in (2, 5, 9):
        codes = rng.randn(n, 4).astype(np.float32)
        np.testing.assert_allclose(block(mx.nd.array(codes)).asnumpy()[0], _pull_away_numpy(codes), rtol=1e-5)


def test_pull_away_term_gradient_pushes_codes_apart():
    codes = mx.nd.array([[1.0, 0.1], [1.0, -0.1], [0.9, 0.0]])
    codes.attach_grad()
    with mx.autograd.record():
        value = pull_away_term(mx.nd, codes)
    value.backward()
    moved = codes - 0.5 * codes.grad
    assert pull_away_term(mx.nd, moved).asscalar() < value.asscalar()
