"""digits_domain_shift: two disjoint, stratified domains; the target transformed as asked, seeded."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from accelbrainbase.data.synthetic import digits_domain_shift


def test_disjoint_stratified_domains_and_seeded():
    xs, ys, xt, yt = digits_domain_shift((), seed=0)
    digits = load_digits()
    assert xs.shape == (899, 1, 8, 8) and xt.shape == (898, 1, 8, 8) and xs.dtype == np.float32
    # Without transforms the two domains together are exactly the digits, each image once.
    both = np.concatenate([xs, xt]).reshape(-1, 64)
    order = np.lexsort(both.T)
    reference = (digits.data / 16.0).astype(np.float32)
    np.testing.assert_array_equal(both[order], reference[np.lexsort(reference.T)])
    assert np.abs(np.bincount(ys) - np.bincount(yt)).max() <= 1
    again = digits_domain_shift(("shift", "blur"), seed=0)
    np.testing.assert_array_equal(again[2], digits_domain_shift(("shift", "blur"), seed=0)[2])
    assert not np.array_equal(again[2], digits_domain_shift(("shift", "blur"), seed=1)[2])


def test_each_transform_does_what_it_says():
    image = np.zeros((1, 8, 8), np.float32)
    image[0, 3, 4] = 1.0
    data = (np.repeat(image, 8, axis=0), np.arange(8) % 2)
    _, _, shifted, _ = digits_domain_shift(("shift",), digits=data, seed=0)
    for moved in shifted[:, 0]:
        (r, c), = np.argwhere(moved == 1.0)
        assert moved.sum() == 1.0 and (r, c) != (3, 4) and abs(r - 3) <= 1 and abs(c - 4) <= 1
    _, _, blurred, _ = digits_domain_shift(("blur",), digits=data, seed=0)
    assert blurred[0, 0, 3, 4] == pytest.approx(1.0) and blurred[0, 0, 3, 5] > 0.2 and blurred.max() <= 1.0
    _, _, inverted, _ = digits_domain_shift(("invert",), digits=data, seed=0)
    np.testing.assert_allclose(inverted, 1.0 - np.repeat(image[None], 4, axis=0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown transforms"):
        digits_domain_shift(("rotate",))
    with pytest.raises(ValueError, match="target_fraction"):
        digits_domain_shift(target_fraction=0.95)
    with pytest.raises(ValueError, match="max_shift"):
        digits_domain_shift(max_shift=0)
