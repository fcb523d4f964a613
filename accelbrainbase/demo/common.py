"""Helpers shared by the demo sections: the digits split and small plotting utilities."""
from __future__ import annotations

import numpy as np

__all__ = ["digits", "plot_losses", "image_grid"]


def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.2, random_state=0)


def plot_losses(ax, model, title: str) -> None:
    epochs = np.arange(1, len(model.loss_arr) + 1)
    ax.plot(epochs, model.loss_arr[:, 0], label="train")
    ax.plot(epochs, model.loss_arr[:, 1], label="test")
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.legend()



def image_grid(ax, images: np.ndarray, rows: int, cols: int, title: str, cmap: str = "gray_r") -> None:
    side = int(round(np.sqrt(images.shape[1])))
    canvas = np.ones((rows * (side + 1) - 1, cols * (side + 1) - 1)) * np.nan
    for i, image in enumerate(images[: rows * cols]):
        r, c = divmod(i, cols)
        canvas[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = image.reshape(side, side)
    # Signed images (weights) get a colour scale symmetric around zero.
    limit = np.nanmax(np.abs(canvas)) if np.nanmin(canvas) < 0 else None
    ax.imshow(canvas, cmap=cmap, vmin=-limit if limit else None, vmax=limit)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
