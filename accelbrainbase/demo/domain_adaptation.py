"""Demo section ``domain_adaptation``: DRCN and self-supervised (rotation) adaptation from clean
digits to blurred digits.

`compare` (also used by ``benchmarks/bench_drcn.py``) trains, on one seed, the source-only classifier
(``λ = 1``), DRCN, self-supervised domain adaptation (rotation pretext task) and the target-supervised
upper bound, all the same encoder and classifier and budget.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .common import image_grid

__all__ = ["section", "domain_shift_task", "compare"]

#: position of this section in ``python -m accelbrainbase.demo`` (ascending).
ORDER = 80

#: the target domain of the demo, the tests and the benchmark: digits blurred by sigma = 1 pixel.
TRANSFORMS, BLUR_SIGMA = ("blur",), 1.0


def domain_shift_task(seed: int = 0, n: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Source (clean digits, 80/20 split) and target (blurred, disjoint digits: half unlabeled for
    adaptation, half labeled for evaluation only); ``n`` keeps the first ``n`` digits (quick runs)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from ..data.synthetic import digits_domain_shift

    data = load_digits()
    images, labels = data.data[:n] / 16.0, data.target[:n]
    xs, ys, xt, yt = digits_domain_shift(TRANSFORMS, blur_sigma=BLUR_SIGMA, digits=(images, labels), seed=seed)
    xs_tr, xs_te, ys_tr, ys_te = train_test_split(xs, ys, test_size=0.2, random_state=seed, stratify=ys)
    xt_tr, xt_te, yt_tr, yt_te = train_test_split(xt, yt, test_size=0.5, random_state=seed, stratify=yt)
    return dict(xs_tr=xs_tr, ys_tr=ys_tr, xs_te=xs_te, ys_te=ys_te, xt_tr=xt_tr, yt_tr=yt_tr, xt_te=xt_te,
                yt_te=yt_te)


def compare(task: Dict[str, np.ndarray], seed: int = 0, epochs: int = 30, ctx: Any = None,
            hybridize: bool = True) -> Dict[str, Any]:
    """Train source-only (``λ = 1``), DRCN (default ``λ``), self-supervised (rotations, defaults) and
    target-supervised (``λ = 1`` on the labeled target half) models; returns ``{"models",
    "target_accuracy", "source_accuracy"}``."""
    from ..controllers import DRCNetworks, SelfSupervisedDomainAdaptation
    from ..data import ArrayIterator

    runs: Dict[str, Tuple[Any, Dict[str, Any], str]] = {
            "source-only": (DRCNetworks, {"classification_weight": 1.0}, "s"), "DRCN": (DRCNetworks, {}, "s"),
            "self-supervised": (SelfSupervisedDomainAdaptation, {}, "s"),
            "target-supervised": (DRCNetworks, {"classification_weight": 1.0}, "t")}
    models, target, source = {}, {}, {}
    for name, (kind, kwargs, labeled) in runs.items():
        model = kind.for_images((1, 8, 8), 10, ctx=ctx, seed=seed, **kwargs)
        if hybridize:
            model.hybridize()
        it = ArrayIterator(task[f"x{labeled}_tr"], task[f"y{labeled}_tr"], test_x=task["xs_te"], test_y=task["ys_te"],
                           batch_size=64, epochs=epochs, ctx=ctx, seed=seed)
        model.learn(it, task["xt_tr"], verbose=False)
        models[name] = model
        target[name] = model.score(task["xt_te"], task["yt_te"])
        source[name] = model.score(task["xs_te"], task["ys_te"])
    return {"models": models, "target_accuracy": target, "source_accuracy": source}


def section(out_dir: str, quick: bool) -> List[str]:
    """DRCN and self-supervised adaptation against the source-only classifier and the
    target-supervised upper bound."""
    import matplotlib.pyplot as plt

    from ..context import available_ctx

    ctx = available_ctx()
    epochs = 6 if quick else 30
    task = domain_shift_task(0, n=600 if quick else None)
    result = compare(task, 0, epochs, ctx)
    drcn, baseline = result["models"]["DRCN"], result["models"]["source-only"]

    n = 10
    xs, xt = task["xs_te"][:n], task["xt_te"][:n]
    fig, axes = plt.subplots(4, 1, figsize=(10, 5.2))
    image_grid(axes[0], xs.reshape(n, 64), 1, n, "source: digits")
    image_grid(axes[1], xt.reshape(n, 64), 1, n, "target: blurred digits (labels used only to evaluate)")
    image_grid(axes[2], drcn.reconstruct(xt).reshape(n, 64), 1, n, "DRCN reconstructions of the target digits")
    image_grid(axes[3], drcn.reconstruct(xs).reshape(n, 64), 1, n,
               "DRCN reconstructions of the source digits (they come out target-like)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "drcn_samples.png"), dpi=100)
    plt.close(fig)

    names = list(result["target_accuracy"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    spots = np.arange(len(names))
    axes[0].bar(spots - 0.2, [result["source_accuracy"][k] for k in names], 0.4, label="source test")
    axes[0].bar(spots + 0.2, [result["target_accuracy"][k] for k in names], 0.4, label="target test")
    for i, k in enumerate(names):
        axes[0].text(i + 0.2, result["target_accuracy"][k] + 0.01, f"{result['target_accuracy'][k]:.2f}",
                     ha="center", fontsize=8)
    axes[0].set_xticks(spots)
    axes[0].set_xticklabels(names)
    axes[0].set(ylim=(0, 1.08), ylabel="accuracy", title="digits -> blurred digits")
    axes[0].legend(fontsize=8, loc="lower right")
    epochs_axis = np.arange(1, epochs + 1)
    axes[1].plot(epochs_axis, drcn.history["classification_loss"], label="DRCN classification (source)")
    axes[1].plot(epochs_axis, drcn.history["reconstruction_loss"], label="DRCN reconstruction (target)")
    axes[1].plot(epochs_axis, result["models"]["self-supervised"].history["rotation_loss"],
                 label="self-supervised rotation (target)")
    axes[1].plot(epochs_axis, baseline.history["classification_loss"], label="source-only classification")
    axes[1].set(xlabel="epoch", ylabel="mean loss", yscale="log", title="training losses")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "drcn_accuracy.png"), dpi=100)
    plt.close(fig)

    acc_t, acc_s = result["target_accuracy"], result["source_accuracy"]
    return [
        f"DRCN digits -> blurred digits ({epochs} epochs): target accuracy {acc_t['DRCN']:.3f} vs source-only "
        f"{acc_t['source-only']:.3f} (target-supervised {acc_t['target-supervised']:.3f}); source accuracy "
        f"{acc_s['DRCN']:.3f} (source-only {acc_s['source-only']:.3f})",
        f"self-supervised (rotation pretext) digits -> blurred digits: target accuracy "
        f"{acc_t['self-supervised']:.3f}, source accuracy {acc_s['self-supervised']:.3f}",
        "figures: drcn_samples.png, drcn_accuracy.png",
    ]
