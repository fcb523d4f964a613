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


def test_co2_windows_are_standardized_chronological_ranges():
    from accelbrainbase.data import co2_windows

    train, valid, test = co2_windows(52, stride=4)
    assert train.shape[1:] == valid.shape[1:] == test.shape[1:] == (52, 1) and train.dtype == np.float32
    np.testing.assert_allclose(train.mean(axis=1), 0.0, atol=1e-5)      # each window centred
    assert abs(float(train.std()) - 1.0) < 1e-3                          # scaled by the training windows
    assert len(train) > len(test) > len(valid) > 10                      # 60 / 15 / 25 % of the weeks
    # Detrended, every range keeps the same seasonal scale (the trend's slope would differ).
    assert 0.8 < float(test.std()) < 1.25 and 0.8 < float(valid.std()) < 1.25
    # Consecutive windows (stride 1) are the series shifted by one step.
    dense = co2_windows(30, stride=1, splits=(0.5, 0.25, 0.25))[0][:, :, 0]
    np.testing.assert_allclose(np.diff(dense[0, 1:] - dense[1, :-1]), 0.0, atol=1e-4)
    with pytest.raises(ValueError, match="splits"):
        co2_windows(52, splits=(0.5, 0.5, 0.5))


def test_inject_anomalies_kinds_labels_and_seed():
    from accelbrainbase.data import ANOMALY_KINDS, inject_anomalies

    clean = np.zeros((300, 40, 1), np.float32)
    x, labels = inject_anomalies(clean, seed=0)
    assert x.shape == clean.shape and x.dtype == np.float32 and set(labels) == {1, 2, 3}
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-5)         # re-centred
    flat = x[:, :, 0]
    spikes, shifts, bursts = (flat[labels == 1 + ANOMALY_KINDS.index(k)] for k in ANOMALY_KINDS)
    assert (np.abs(spikes).max(axis=1) > 1.4).all()                     # one step moved by 1.5-3
    assert ((np.abs(spikes) > 1e-6).sum(axis=1) == 40).all()            # (re-centring moves the rest a little)
    jumps = np.abs(np.diff(shifts, axis=1))
    assert (jumps.max(axis=1) >= 0.5 - 1e-5).all() and ((jumps > 1e-5).sum(axis=1) == 1).all()  # one step
    assert ((np.abs(np.diff(bursts, axis=1)) > 1e-6).sum(axis=1) <= 9).all()                   # 5-8 steps
    np.testing.assert_array_equal(inject_anomalies(clean, seed=0)[0], x)
    part, part_labels = inject_anomalies(clean[:, :, 0], ("spike",), fraction=0.25, seed=1)
    assert part.shape == (300, 40) and (part_labels > 0).sum() == 75 and set(part_labels) == {0, 1}
    assert not part[part_labels == 0].any()
    with pytest.raises(ValueError, match="unknown anomaly"):
        inject_anomalies(clean, ("dropout",))
    with pytest.raises(ValueError, match="T >= 16"):
        inject_anomalies(np.zeros((3, 8)))
