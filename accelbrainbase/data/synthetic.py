"""Synthetic sequence tasks shared by the recurrent and temporal Boltzmann families.

- `moving_digit_sprites`: 8×8 digit images from scikit-learn's bundled digits move over a larger blank
  canvas with constant velocities, bouncing off the borders (a small offline cousin of Moving MNIST,
  Srivastava et al. 2015). Needs scikit-learn (a demo/test extra).
- `chord_rolls`: binary piano rolls from a fixed stochastic rule.
- `next_frame_baselines`: the two naive next-frame predictors every sequence model must beat.
- `horse_silhouettes`: shifted, scaled and rotated binary copies of scikit-image's horse (Shape-BM).
- `co2_windows`, `inject_anomalies`: standardized windows of statsmodels' Mauna Loa CO2 series and
  seeded anomalies (spikes, level shifts, noise bursts) injected into them (EncDec-AD).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ["moving_digit_sprites", "chord_rolls", "next_frame_baselines", "horse_silhouettes", "CHORD_MOVES",
           "CHORD_NOTES"]
__all__ += ["co2_windows", "inject_anomalies", "ANOMALY_KINDS"]
__all__ += ["digits_domain_shift", "DOMAIN_SHIFTS"]

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


#: root moves between chords and their probabilities (semitones, wrapping around the keyboard).
CHORD_MOVES = ((2, 0.6), (-3, 0.2), (5, 0.2))
#: the notes of a chord above its root (a major triad).
CHORD_NOTES = (0, 4, 7)


def chord_rolls(n_sequences: int, n_frames: int, *, pitches: int = 30, hold: int = 2, noise: float = 0.02,
                seed: Optional[int] = 0) -> np.ndarray:
    """Binary piano rolls ``(N, T, pitches)`` from a fixed stochastic rule.

    Each frame sounds one major triad (root, +4, +7 semitones, wrapping around ``pitches`` keys).
    A chord is held for ``hold`` frames; then its root moves by +2 (probability 0.6), -3 (0.2) or
    +5 (0.2) semitones. Sequences start at a random root and a random phase of the hold; every
    pixel is flipped with probability ``noise``. The next frame is predictable from the past
    (held chords exactly, moves up to the three-way choice), the last frame alone does not tell
    whether the chord moves next, and frames are sparse (3 of 30 keys), so both the
    repeat-last-frame and the mean-frame predictor are real baselines.

    Example:
        >>> chord_rolls(4, 10, seed=0).shape
        (4, 10, 30)
    """
    if n_sequences < 1 or n_frames < 1 or hold < 1 or pitches <= max(CHORD_NOTES):
        raise ValueError(f"need n_sequences, n_frames, hold >= 1 and pitches > {max(CHORD_NOTES)}, got "
                         f"{n_sequences}, {n_frames}, {hold}, {pitches}")
    rng = np.random.RandomState(seed)
    moves = np.array([m for m, _ in CHORD_MOVES])
    probs = np.array([p for _, p in CHORD_MOVES])
    rolls = np.zeros((n_sequences, n_frames, pitches), dtype=np.float32)
    root = rng.randint(0, pitches, n_sequences)
    phase = rng.randint(0, hold, n_sequences)
    rows = np.arange(n_sequences)
    for t in range(n_frames):
        for note in CHORD_NOTES:
            rolls[rows, t, (root + note) % pitches] = 1.0
        phase += 1
        move = phase >= hold
        root = np.where(move, (root + moves[rng.choice(len(moves), n_sequences, p=probs)]) % pitches, root)
        phase[move] = 0
    flips = rng.rand(*rolls.shape) < noise
    return np.abs(rolls - flips).astype(np.float32)


def next_frame_baselines(x_train: np.ndarray, x_test: np.ndarray) -> Dict[str, float]:
    """Per-pixel MSE of the two naive next-frame predictors on ``x_test[:, 1:]``: repeating the
    last frame, and the per-pixel mean frame of the training data."""
    target = x_test[:, 1:]
    mean_frame = x_train.reshape(-1, x_train.shape[-1]).mean(axis=0)
    return {"repeat last frame": float(np.mean(np.square(x_test[:, :-1] - target))),
            "mean frame": float(np.mean(np.square(mean_frame - target)))}


def horse_silhouettes(n: int, size: int = 32, *, seed: int = 0, scale: Tuple[float, float] = (0.75, 1.0),
                      shift: float = 0.12, rotation: float = 8.0) -> np.ndarray:
    """``n`` binary ``size x size`` silhouettes of the horse of ``skimage.data.horse()`` (1 = horse).

    The horse (cropped to its bounding box, centred in a square) is drawn with a random scale
    (``scale`` times the image side for the long side of the horse), a random shift (up to
    ``shift`` times the side on each axis) and a random rotation (up to ``rotation`` degrees), then
    thresholded at 0.5. Different seeds give different copies: a held-out set is another seed.
    Needs scikit-image.

    Returns:
        float32 array ``(n, size, size)`` of 0/1.

    Example:
        >>> horse_silhouettes(2, 16, seed=0).shape
        (2, 16, 16)
    """
    from skimage import data, transform

    horse = (~data.horse()).astype(np.float64)  # the image is black on white
    rows, cols = np.where(horse > 0)
    horse = horse[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    side = max(horse.shape)
    square = np.zeros((side, side))
    r0, c0 = (side - horse.shape[0]) // 2, (side - horse.shape[1]) // 2
    square[r0:r0 + horse.shape[0], c0:c0 + horse.shape[1]] = horse
    # Anti-aliased once at 4x the target resolution; each copy is then a bilinear warp of it.
    source = transform.resize(square, (4 * size, 4 * size), order=1, anti_aliasing=True)
    rng = np.random.RandomState(seed)
    out = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        factor = rng.uniform(*scale) / 4.0
        angle = np.deg2rad(rng.uniform(-rotation, rotation))
        offset = rng.uniform(-shift, shift, 2) * size
        forward = (transform.AffineTransform(translation=(-2 * size, -2 * size))
                   + transform.AffineTransform(scale=factor, rotation=angle)
                   + transform.AffineTransform(translation=(size / 2 + offset[0], size / 2 + offset[1])))
        out[i] = transform.warp(source, forward.inverse, output_shape=(size, size), order=1) >= 0.5
    return out


#: the anomaly kinds of `inject_anomalies`, in the order of its label codes (1, 2, 3).
ANOMALY_KINDS = ("spike", "level_shift", "noise_burst")


def co2_windows(seq_len: int = 52, *, stride: int = 1, splits: Tuple[float, float, float] = (0.6, 0.15, 0.25),
                detrend: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardized windows of the weekly Mauna Loa CO2 series (statsmodels ``co2``), split in time.

    The weekly series (gaps interpolated) minus its trend (classical decomposition: the centred 2x52
    moving average of ``statsmodels.tsa.seasonal_decompose``; the 26 weeks at each end without a
    trend estimate are dropped) is cut chronologically into a training, a validation and a test
    range (fractions ``splits``). Each range is cut into windows of ``seq_len`` steps starting every
    ``stride`` steps (`SequenceIterator`), so no window crosses two ranges. Each window is centred
    on its own mean and all are divided by the training windows' standard deviation. With
    ``detrend=False`` the raw series is windowed (each window still centred): the trend's slope,
    which steepens over the decades, then differs between the ranges. Needs statsmodels.

    Returns:
        ``(train, valid, test)``, float32 arrays ``(N_i, seq_len, 1)``.

    Example:
        >>> train, valid, test = co2_windows(52, stride=4)
        >>> train.shape[1:], round(float(train.std()), 3)
        ((52, 1), 1.0)
    """
    import statsmodels.api as sm

    from .iterators import SequenceIterator

    if len(splits) != 3 or min(splits) <= 0 or abs(sum(splits) - 1.0) > 1e-9:
        raise ValueError(f"splits must be three positive fractions summing to 1, got {splits}")
    series = sm.datasets.co2.load_pandas().data["co2"].interpolate().resample("W").mean()
    if detrend:
        from statsmodels.tsa.seasonal import seasonal_decompose

        series = (series - seasonal_decompose(series, period=52).trend).dropna()
    values = series.values.astype(np.float64)
    n = len(values)
    bounds = [0, int(splits[0] * n), int((splits[0] + splits[1]) * n), n]
    ranges = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        windows = SequenceIterator(values[lo:hi], seq_len, stride=stride, batch_size=1, epochs=1).x.asnumpy()
        ranges.append(windows - windows.mean(axis=1, keepdims=True))
    scale = ranges[0].std()
    return tuple((w / scale).astype(np.float32) for w in ranges)


def inject_anomalies(windows: np.ndarray, kinds: Tuple[str, ...] = ANOMALY_KINDS, *, fraction: float = 1.0,
                     seed: Optional[int] = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Copies of standardized windows with one injected anomaly each (a seeded mix of ``kinds``).

    Sizes are in units of the data's standard deviation:

    - ``"spike"``: one step moves by 1.5-3 (either sign);
    - ``"level_shift"``: from a step in the middle half of the window to its end, the level moves by
      0.5-1.5 (either sign);
    - ``"noise_burst"``: Gaussian noise of standard deviation 0.3-0.8 is added to 5-8 consecutive steps.

    A corrupted window is re-centred on its mean afterwards (as `co2_windows` centres every window).

    Args:
        windows: ``(N, T)`` or ``(N, T, F)`` with ``T >= 16``; with ``F > 1`` each anomaly hits one
            random feature.
        kinds: the kinds to draw from (uniformly), a subset of `ANOMALY_KINDS`.
        fraction: the share of windows corrupted (a random subset of ``round(fraction * N)``).
        seed: random seed.

    Returns:
        ``(corrupted, labels)``: float32 windows of the input's shape and int labels ``(N,)``:
        0 = untouched, ``1 + ANOMALY_KINDS.index(kind)`` = the kind injected.

    Example:
        >>> x, labels = inject_anomalies(np.zeros((6, 20)), ("spike",), fraction=0.5, seed=0)
        >>> int((labels == 1).sum()), int((np.abs(x).max(axis=1) > 1).sum())
        (3, 3)
    """
    x = np.array(windows, dtype=np.float32)
    squeeze = x.ndim == 2
    if squeeze:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[1] < 16:
        raise ValueError(f"windows must be (N, T) or (N, T, F) with T >= 16, got shape {np.shape(windows)}")
    unknown = [k for k in kinds if k not in ANOMALY_KINDS]
    if not kinds or unknown:
        raise ValueError(f"unknown anomaly kinds {unknown or kinds!r}; choose from {ANOMALY_KINDS}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rng = np.random.RandomState(seed)
    n, t, f = x.shape
    chosen = np.arange(n) if fraction == 1.0 else np.sort(rng.permutation(n)[:int(round(fraction * n))])
    labels = np.zeros(n, dtype=np.int64)
    for i in chosen:
        kind = kinds[rng.randint(len(kinds))]
        j = rng.randint(f) if f > 1 else 0
        if kind == "spike":
            x[i, rng.randint(t), j] += rng.choice([-1, 1]) * rng.uniform(1.5, 3.0)
        elif kind == "level_shift":
            x[i, rng.randint(t // 4, 3 * t // 4):, j] += rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)
        else:
            start, length = rng.randint(0, t - 8), rng.randint(5, 9)
            x[i, start:start + length, j] += rng.randn(length) * rng.uniform(0.3, 0.8)
        x[i] -= x[i].mean(axis=0, keepdims=True)
        labels[i] = 1 + ANOMALY_KINDS.index(kind)
    return (x[:, :, 0] if squeeze else x), labels


#: the transformations `digits_domain_shift` can apply to the target domain.
DOMAIN_SHIFTS = ("shift", "blur", "invert")


def digits_domain_shift(transforms: Tuple[str, ...] = ("blur",), *, max_shift: int = 1,
                        blur_sigma: float = 1.0, target_fraction: float = 0.5, digits: Optional[Tuple] = None,
                        seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A domain-adaptation task made of scikit-learn's digits: clean source images, transformed target images.

    The 1797 digits are split at random (``seed``) into two disjoint sets with the same class proportions:
    the *source* domain keeps the images as they are; every image of the *target* domain goes through
    ``transforms``, in this order:

    - ``"shift"``: moved by a random offset ``(dy, dx)``, each in ``-max_shift..max_shift`` and not both
      0, with zeros shifted in (no wrap-around);
    - ``"blur"``: a Gaussian blur of standard deviation ``blur_sigma`` pixels (zero padding), then
      rescaled so the image keeps its maximum;
    - ``"invert"``: ``1 - x`` (white digits on black become black digits on white).

    The target labels are returned for *evaluation only*: unsupervised domain adaptation learns from
    the source images with labels and the target images without.

    Args:
        transforms: a subset of `DOMAIN_SHIFTS`, applied in the order listed there.
        max_shift: largest shift per axis in pixels (``"shift"``).
        blur_sigma: standard deviation of the blur in pixels (``"blur"``).
        target_fraction: fraction of the images that form the target domain (0.1-0.9).
        digits: ``(images, labels)`` to use instead of scikit-learn's digits: images ``(N, 64)`` or
            ``(N, 8, 8)`` in [0, 1] (e.g. a subset, for quick runs).
        seed: seeds the split and the shifts (same seed, same task).

    Returns:
        ``(x_source, y_source, x_target, y_target)``: float32 images ``(N, 1, 8, 8)`` in [0, 1] and int64
        labels ``(N,)`` of each domain.

    Example:
        >>> xs, ys, xt, yt = digits_domain_shift(("shift", "blur"), seed=0)
        >>> xs.shape, xt.shape, sorted(set(yt)) == list(range(10))
        ((899, 1, 8, 8), (898, 1, 8, 8), True)
    """
    unknown = [t for t in transforms if t not in DOMAIN_SHIFTS]
    if unknown:
        raise ValueError(f"unknown transforms {unknown}; choose from {DOMAIN_SHIFTS}")
    if not 0.1 <= target_fraction <= 0.9:
        raise ValueError(f"target_fraction must be within 0.1..0.9, got {target_fraction}")
    if not isinstance(max_shift, (int, np.integer)) or not 1 <= max_shift <= 3:
        raise ValueError(f"max_shift must be an integer in 1..3 (pixels of an 8x8 image), got {max_shift!r}")
    if not blur_sigma > 0:
        raise ValueError(f"blur_sigma must be positive, got {blur_sigma}")
    if digits is None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, labels = bunch.data / 16.0, bunch.target
    else:
        images, labels = digits
    images = np.asarray(images, dtype=np.float32).reshape(-1, 1, _SPRITE, _SPRITE)
    labels = np.asarray(labels).astype(np.int64)
    if len(images) != len(labels) or len(images) < 4:
        raise ValueError(f"digits must be (images, labels) of the same length >= 4, "
                         f"got {len(images)} and {len(labels)}")
    rng = np.random.RandomState(seed)
    # A stratified split: each class is divided in the same proportion.
    target = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        target[members[:int(round(len(members) * target_fraction))]] = True
    x_target = images[target].copy()
    if "shift" in transforms:
        offsets = rng.randint(-max_shift, max_shift + 1, size=(len(x_target), 2))
        still = (offsets == 0).all(axis=1)
        while still.any():
            offsets[still] = rng.randint(-max_shift, max_shift + 1, size=(int(still.sum()), 2))
            still = (offsets == 0).all(axis=1)
        padded = np.pad(x_target, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
        rows = max_shift - offsets[:, 0]
        cols = max_shift - offsets[:, 1]
        x_target = np.stack([padded[i, :, r:r + _SPRITE, c:c + _SPRITE]
                             for i, (r, c) in enumerate(zip(rows, cols))])
    if "blur" in transforms:
        from scipy.ndimage import gaussian_filter

        peak = x_target.max(axis=(1, 2, 3), keepdims=True)
        x_target = gaussian_filter(x_target, sigma=(0, 0, blur_sigma, blur_sigma), mode="constant")
        x_target *= peak / np.maximum(x_target.max(axis=(1, 2, 3), keepdims=True), 1e-6)
    if "invert" in transforms:
        x_target = 1.0 - x_target
    return (images[~target], labels[~target], np.clip(x_target, 0.0, 1.0).astype(np.float32), labels[target])
