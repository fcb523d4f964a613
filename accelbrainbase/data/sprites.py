"""Moving digit sprites: small synthetic videos built from scikit-learn's bundled digits.

The sequence benchmark shared by the recurrent (ConvLSTM, spatio-temporal auto-encoder) and the temporal
Boltzmann families: 8×8 digit images move over a larger blank canvas with constant velocities, bouncing
off the borders (a small offline cousin of Moving MNIST, Srivastava et al. 2015). Needs scikit-learn
(a demo/test extra).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["moving_digit_sprites"]

_SPRITE = 8


def _bounce(position: np.ndarray, velocity: np.ndarray, limit: int) -> None:
    """Advance ``position`` by ``velocity`` in place, reflecting at 0 and ``limit``."""
    position += velocity
    low, high = position < 0, position > limit
    position[low] = -position[low]
    position[high] = 2 * limit - position[high]
    velocity[low | high] *= -1


def moving_digit_sprites(n_sequences: int, n_frames: int, *, canvas: int = 24, n_sprites: int = 1,
                         max_speed: int = 2, binarize: Optional[float] = None,
                         digits: Optional[np.ndarray] = None, seed: Optional[int] = 0) -> np.ndarray:
    """Videos of digit sprites moving with constant velocities and bouncing off the borders.

    Each sequence draws ``n_sprites`` random digits, start positions and integer velocities (each axis in
    ``-max_speed..max_speed``, never both zero). Overlapping sprites are combined by a pixel-wise maximum.

    Args:
        n_sequences: number of videos ``N``.
        n_frames: frames per video ``T``.
        canvas: side of the square canvas in pixels (> 8).
        n_sprites: sprites per video.
        max_speed: largest speed per axis, in pixels per frame.
        binarize: a threshold in (0, 1): frames become ``x >= binarize`` (for binary models), or None.
        digits: sprite images ``(M, 64)`` or ``(M, 8, 8)`` in [0, 1]; default scikit-learn's digits / 16.
        seed: random seed (same seed, same videos).

    Returns:
        float32 array ``(N, T, 1, canvas, canvas)`` in [0, 1].

    Example:
        >>> videos = moving_digit_sprites(4, 10, canvas=24, seed=0)
        >>> videos.shape
        (4, 10, 1, 24, 24)
    """
    if n_sequences < 1 or n_frames < 1:
        raise ValueError(f"need n_sequences >= 1 and n_frames >= 1, got {n_sequences} and {n_frames}")
    if canvas <= _SPRITE:
        raise ValueError(f"canvas must be larger than the {_SPRITE}-pixel sprites, got {canvas}")
    if max_speed < 1:
        raise ValueError(f"max_speed must be >= 1, got {max_speed}")
    if binarize is not None and not 0.0 < binarize < 1.0:
        raise ValueError(f"binarize must be a threshold in (0, 1) or None, got {binarize}")
    if digits is None:
        from sklearn.datasets import load_digits

        digits = load_digits().data / 16.0
    sprites = np.asarray(digits, dtype=np.float32).reshape(-1, _SPRITE, _SPRITE)
    rng = np.random.RandomState(seed)
    limit = canvas - _SPRITE
    videos = np.zeros((n_sequences, n_frames, canvas, canvas), dtype=np.float32)
    offsets = np.arange(_SPRITE)
    seq = np.arange(n_sequences)[:, None, None]
    for _ in range(n_sprites):
        image = sprites[rng.randint(len(sprites), size=n_sequences)]
        position = rng.randint(0, limit + 1, size=(n_sequences, 2))
        velocity = rng.randint(-max_speed, max_speed + 1, size=(n_sequences, 2))
        still = (velocity == 0).all(axis=1)
        velocity[still, rng.randint(2, size=still.sum())] = rng.choice([-1, 1], size=still.sum())
        for t in range(n_frames):
            rows = (position[:, 0, None] + offsets)[:, :, None]
            cols = (position[:, 1, None] + offsets)[:, None, :]
            frame = videos[:, t]
            frame[seq, rows, cols] = np.maximum(frame[seq, rows, cols], image)
            _bounce(position, velocity, limit)
    if binarize is not None:
        videos = (videos >= binarize).astype(np.float32)
    return videos[:, :, None]
