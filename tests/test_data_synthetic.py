"""Synthetic sequence tasks: moving digit sprites, chord rolls and the naive next-frame predictors."""
from __future__ import annotations

import numpy as np
import pytest

from accelbrainbase.data import chord_rolls, moving_digit_sprites, next_frame_baselines


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


def test_chord_rolls_follow_their_rule():
    rolls = chord_rolls(50, 12, pitches=30, hold=2, noise=0.0, seed=0)
    assert rolls.shape == (50, 12, 30) and set(np.unique(rolls)) == {0.0, 1.0}
    assert (rolls.sum(axis=2) == 3).all()                       # one major triad per frame
    for seq in rolls:                                           # each frame is the last one moved by 0, +2, -3 or +5
        moves = [[m for m in (0, 2, -3, 5) if np.array_equal(np.roll(a, m), b)] for a, b in zip(seq[:-1], seq[1:])]
        assert all(len(m) == 1 for m in moves)
        held = [m[0] == 0 for m in moves]
        assert not any(a and b for a, b in zip(held[:-1], held[1:]))   # hold=2: never two holds in a row
    noisy = chord_rolls(50, 12, noise=0.1, seed=0)
    assert 0.05 < np.abs(noisy - rolls).mean() < 0.15


def test_next_frame_baselines():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    x[:, 1] = 1.0                                               # frames 0, 1, 0
    errors = next_frame_baselines(x, x)
    assert errors["repeat last frame"] == 1.0                   # every step changes every pixel
    np.testing.assert_allclose(errors["mean frame"], ((1 / 3 - 1) ** 2 + (1 / 3) ** 2) / 2)
