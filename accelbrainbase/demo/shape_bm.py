"""Demo section ``shape_bm``: a Shape Boltzmann machine learns the horse of ``skimage.data.horse()``
from shifted, scaled and rotated copies; samples and inpainting of a masked quarter.

The data set is `accelbrainbase.data.horse_silhouettes`; `inpainting_accuracy` (the measurement) and the
other helpers here are shared with the tests, the benchmark and the notebook.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

__all__ = ["section", "mask_block", "inpainting_accuracy", "mean_image_accuracy",
           "nearest_hamming"]

ORDER = 35


def mask_block(size: int, top: int, left: int, block: int) -> np.ndarray:
    """A ``(size, size)`` boolean mask, ``True`` (unknown) on the ``block x block`` square at ``(top, left)``."""
    mask = np.zeros((size, size), dtype=bool)
    mask[top:top + block, left:left + block] = True
    return mask


def inpainting_accuracy(restored: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Pixel accuracy inside the mask of ``restored`` probabilities thresholded at 0.5."""
    m = np.broadcast_to(mask, truth.shape)
    return float(((restored >= 0.5) == (truth >= 0.5))[m].mean())


def mean_image_accuracy(mean_image: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> Dict[str, float]:
    """Accuracy inside the mask of filling with the training mean image, in its two forms:
    ``thresholded`` (mean >= 0.5) and ``expected`` (each pixel drawn with the mean probability)."""
    m = np.broadcast_to(mask, truth.shape)
    fill = np.broadcast_to(mean_image, truth.shape)
    return {"thresholded": float(((fill >= 0.5) == (truth >= 0.5))[m].mean()),
            "expected": float(np.where(truth >= 0.5, fill, 1.0 - fill)[m].mean())}


def nearest_hamming(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each binary image, the Hamming distance (pixels) to its nearest image of ``reference``."""
    a = (images.reshape(len(images), -1) >= 0.5).astype(np.float32)
    b = (reference.reshape(len(reference), -1) >= 0.5).astype(np.float32)
    # |a - b| summed = |a| + |b| - 2 a.b for binary vectors
    distances = a.sum(1)[:, None] + b.sum(1)[None, :] - 2.0 * a @ b.T
    return distances.min(axis=1)


#: positions (top, left) of the 16x16 masked block (a quarter of a 32x32 image) in the demo and tests:
#: every block on an 8-pixel grid (the four quadrants, the centre and the four edge-centred blocks).
BLOCK_POSITIONS: Sequence[Tuple[int, int]] = tuple((top, left) for top in (0, 8, 16) for left in (0, 8, 16))


def section(out_dir: str, quick: bool) -> List[str]:
    """Shape Boltzmann machine on horse silhouettes: samples and inpainting of a masked quarter."""
    import matplotlib.pyplot as plt

    from ..context import available_ctx
    from ..data import ArrayIterator, horse_silhouettes
    from ..models import ShapeBoltzmannMachine

    ctx = available_ctx()
    size, block = 32, 16
    x_train = horse_silhouettes(300 if quick else 1000, size, seed=0)
    x_test = horse_silhouettes(10 if quick else 50, size, seed=1)
    sbm = ShapeBoltzmannMachine(height=size, width=size, overlap_n=4, pretrain_epochs=2 if quick else 10,
                                ctx=ctx, seed=0)
    sbm.learn(ArrayIterator(x_train, test_x=x_test, batch_size=50, epochs=2 if quick else 30, ctx=ctx, seed=0))
    mean_image = x_train.mean(axis=0)
    masks = np.stack([mask_block(size, top, left, block) for top, left in BLOCK_POSITIONS])
    images = np.repeat(x_test[None], len(masks), axis=0)
    per_image = np.repeat(masks[:, None], len(x_test), axis=1)
    restored = sbm.inpaint(images.reshape(-1, size, size), per_image.reshape(-1, size, size),
                           steps=20 if quick else 100, burn_in=5 if quick else 20, seed=0).reshape(images.shape)
    ours = [inpainting_accuracy(restored[i], x_test, m) for i, m in enumerate(masks)]
    base = [max(mean_image_accuracy(mean_image, x_test, m).values()) for m in masks]
    shown = [(masks[i], restored[i, :4]) for i in range(len(masks))]
    lines: List[str] = []
    samples = sbm.sample(8, steps=50 if quick else 500, seed=0)
    noise = (np.random.RandomState(0).rand(8, size, size) < x_train.mean()).astype(np.float32)

    fig, axes = plt.subplots(4, 8, figsize=(12, 6.6))
    for col in range(8):
        mask, shown_restored = shown[(2 * col + 1) % len(shown)]
        masked = x_test[col % 4].copy()
        masked[mask] = 0.5  # grey: unknown
        for row, (title, image) in enumerate([("training images", x_train[col]), ("Gibbs samples", samples[col]),
                                              ("held-out, masked", masked),
                                              ("inpainted (probabilities)", shown_restored[col % 4])]):
            ax = axes[row, col]
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
            ax.axis("off")
            if col == 0:
                ax.set_title(title, fontsize=9, loc="left")
    fig.suptitle(f"Shape BM {size}x{size}: a {block}x{block} block inpainted by conditional Gibbs sampling",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "shape_bm.png"), dpi=100)
    plt.close(fig)
    lines.append(f"ShapeBM inpainting of a {block}x{block} block, pixel accuracy in the mask over "
                 f"{len(BLOCK_POSITIONS)} positions: {np.mean(ours):.3f} (training mean image, best form: "
                 f"{np.mean(base):.3f})")
    lines.append(f"samples: nearest-training-image Hamming distance {nearest_hamming(samples, x_train).mean():.1f} "
                 f"px (independent pixels at the training density: {nearest_hamming(noise, x_train).mean():.1f} px)")
    lines.append("figure: shape_bm.png")
    return lines
