"""Moving digit sprites: shapes, determinism, constant motion with bounces."""
from __future__ import annotations

import numpy as np
import pytest

from accelbrainbase.data import moving_digit_sprites


def test_shape_range_and_seed():
    a = moving_digit_sprites(5, 7, canvas=20, seed=3)
    assert a.shape == (5, 7, 1, 20, 20) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.max() > 0.5
    np.testing.assert_array_equal(a, moving_digit_sprites(5, 7, canvas=20, seed=3))
    assert not np.array_equal(a, moving_digit_sprites(5, 7, canvas=20, seed=4))


def test_one_square_sprite_moves_with_constant_velocity_and_bounces():
    square = np.ones((1, 64), dtype=np.float32)
    videos = moving_digit_sprites(20, 30, canvas=16, digits=square, max_speed=2, seed=0)
    for video in videos[:, :, 0]:
        corners = np.array([np.argwhere(frame)[0] for frame in video])  # top-left of the square
        assert ((corners >= 0) & (corners <= 8)).all()
        steps = np.abs(np.diff(corners, axis=0))
        # Speed per axis is constant: a bounce changes the direction, never the distance travelled.
        for axis in range(2):
            speed = steps[0, axis] if corners[1, axis] not in (0, 8) else None
            assert len(set(steps[:, axis])) <= 2 and steps[:, axis].max() <= 2
            if speed:
                assert steps[:, axis].max() == speed
        assert steps.sum() > 0


def test_binarize_and_bad_arguments():
    binary = moving_digit_sprites(3, 4, binarize=0.5, seed=0)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="canvas"):
        moving_digit_sprites(2, 3, canvas=8)
    with pytest.raises(ValueError, match="binarize"):
        moving_digit_sprites(2, 3, binarize=1.5)
