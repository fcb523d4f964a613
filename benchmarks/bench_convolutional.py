"""Convolutional family: `ConvolutionalNeuralNetworks`, the convolutional auto-encoders and `MobileNetV2`.

Training samples/s through the real user path ``model.learn(it)`` (one epoch per call), hybridized
and imperative, and inference samples/s (hybridized ``model.inference`` on the whole array):

- digits: scikit-learn ``load_digits`` scaled to [0, 1], the 1437 training samples of an 80/20 split
  (``random_state=0``) as ``(N, 1, 8, 8)`` images, batch 32;
  `ConvolutionalNeuralNetworks` with channels 32-64 (plain and residual; the settings of the accuracy
  test), `ConvolutionalAutoEncoder` 24-48-16 (a 16-value code; plain and tied), `ContractiveCAE`
  (λ = 1e-4, the exact encoder Jacobian in every step) and `RepellingCAE` (pull-away weight 0.1)
  with the same layers;
- `MobileNetV2` (multiplier 0.25) on the first 512 of those digits upsampled to ``(3, 32, 32)``
  (each pixel a 4x4 block, the gray level copied to three channels), batch 32.

Baselines, measured in the same run on the same arrays: scikit-learn's ``MLPClassifier`` 64-128-10
(Adam, batch 32, one epoch per ``fit`` with ``max_iter=1``) for the CNNs; scikit-learn's ``PCA`` with
the same code size (16 components; ``fit`` + ``transform`` for training, ``transform`` +
``inverse_transform`` for reconstruction) for the auto-encoders; and the plain CAE for the
contractive and repelling ones, whose ratio is the cost of their penalty.

The training epochs of a model's hybridized and imperative copies (and of its plain-CAE reference)
are timed in interleaved rounds (`interleaved_best`), so a slow spell of a shared machine hits them
alike. Quick mode (the test suite's smoke run): 64 digits, 32 upsampled images, one round.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .common import Table, best_rate, fmt_rate, fmt_ratio, interleaved_best, peak_rss_mb

#: position in ``python -m benchmarks`` (ascending).
ORDER = 40

__all__ = ["NAME", "run", "CODE_CHANNELS"]

NAME = "convolutional"

#: code channels of the auto-encoders: digits 8x8 -> a 1x1 code map of 16 values.
CODE_CHANNELS = 16
CAE_CHANNELS = (24, 48, CODE_CHANNELS)
CNN_CHANNELS = (32, 64)
MLP_HIDDEN = 128
BATCH = 32


@dataclass
class Case:
    """One model measured: how to build it and the data it trains on."""

    name: str
    data: str
    x: np.ndarray
    y: Optional[np.ndarray]
    make: Callable[[], object]
    baseline: str  # key of the baseline's figures in the run's ``baselines``; "" for none
    #: a model trained alongside as this one's baseline (the plain CAE for the penalized CAEs)
    reference: Optional[Callable[[], object]] = None


def _digits(quick: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Digits training split as ``(N, 1, 8, 8)`` float32 images in [0, 1], and their labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, _, y_train, _ = train_test_split(x, digits.target, test_size=0.2, random_state=0)
    if quick:
        x_train, y_train = x_train[:64], y_train[:64]
    return x_train.reshape(-1, 1, 8, 8), y_train


def _upsampled(images: np.ndarray, factor: int = 4, channels: int = 3) -> np.ndarray:
    """``(N, 1, H, W)`` -> ``(N, channels, factor*H, factor*W)``: pixel blocks, gray level per channel."""
    big = images.repeat(factor, axis=2).repeat(factor, axis=3)
    return np.ascontiguousarray(big.repeat(channels, axis=1))


def _inference_calls(n: int, target: int) -> int:
    return max(1, target // n)  # enough work for a stable timing


def _ours(case: Case, rounds: int, repeats: int, min_time: float, infer_target: int,
          reference: Optional[Callable[[], object]] = None) -> Tuple[float, float, float, Optional[float]]:
    """Train samples/s hybridized and imperative (and of the hybridized ``reference`` model, when
    given), timed in interleaved rounds so a slow spell of the shared machine hits all alike; and
    inference samples/s hybridized."""
    from accelbrainbase.data import ArrayIterator

    def epoch(model: object) -> Callable[[], object]:
        it = ArrayIterator(case.x, case.y, batch_size=BATCH, epochs=1, seed=0)
        return lambda: model.learn(it, verbose=False)

    hybridized = case.make()
    hybridized.hybridize()
    fns = {"hybrid": epoch(hybridized), "imperative": epoch(case.make())}
    if reference is not None:
        ref = reference()
        ref.hybridize()
        fns["reference"] = epoch(ref)
    best = interleaved_best(fns, rounds)
    rates = {name: len(case.x) / seconds for name, seconds in best.items()}
    calls = _inference_calls(len(case.x), infer_target)
    infer = best_rate(lambda: [hybridized.inference(case.x) for _ in range(calls)], calls * len(case.x),
                      repeats, min_time=min_time)
    return rates["hybrid"], rates["imperative"], infer, rates.get("reference")


def _sklearn_mlp(x: np.ndarray, y: np.ndarray, repeats: int, min_time: float,
                 infer_target: int) -> Tuple[float, float]:
    """scikit-learn MLPClassifier on the flattened images: train samples/s (one epoch per fit) and
    predict_proba samples/s."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    flat = x.reshape(len(x), -1)
    holder = {}

    def fit() -> None:
        holder["clf"] = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN,), solver="adam", batch_size=BATCH,
                                      max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            holder["clf"].fit(flat, y)

    train = best_rate(fit, len(flat), repeats, min_time=min_time)
    calls = _inference_calls(len(flat), infer_target)
    infer = best_rate(lambda: [holder["clf"].predict_proba(flat) for _ in range(calls)], calls * len(flat),
                      repeats, min_time=min_time)
    return train, infer


def _pca(x: np.ndarray, repeats: int, min_time: float, infer_target: int) -> Tuple[float, float]:
    """scikit-learn PCA with the CAE's code size: fit + transform samples/s, and transform +
    inverse_transform (reconstruction) samples/s."""
    from sklearn.decomposition import PCA

    flat = x.reshape(len(x), -1)
    holder = {}

    def fit() -> None:
        holder["pca"] = PCA(CODE_CHANNELS, random_state=0)
        holder["pca"].fit_transform(flat)

    train = best_rate(fit, len(flat), repeats, min_time=min_time)
    calls = _inference_calls(len(flat), infer_target)
    pca = holder["pca"]
    infer = best_rate(lambda: [pca.inverse_transform(pca.transform(flat)) for _ in range(calls)],
                      calls * len(flat), repeats, min_time=min_time)
    return train, infer


def cases(quick: bool) -> List[Case]:
    """The models measured, in table order."""
    from accelbrainbase.models import (
        ContractiveCAE,
        ConvolutionalAutoEncoder,
        ConvolutionalNeuralNetworks,
        MobileNetV2,
        RepellingCAE,
    )

    images, labels = _digits(quick)
    n_mobile = 32 if quick else 512
    big = _upsampled(images[:n_mobile])
    digits = f"digits 1x8x8 (N={len(images)})"
    cnn = "-".join(map(str, CNN_CHANNELS))
    cae = "-".join(map(str, CAE_CHANNELS))

    def cnn_model(residual: bool) -> Callable[[], object]:
        return lambda: ConvolutionalNeuralNetworks(num_classes=10, channels=CNN_CHANNELS, residual=residual,
                                                   learning_rate=3e-3, seed=0)

    def cae_model(cls: type, **extra: object) -> Callable[[], object]:
        return lambda: cls(in_channels=1, channels=CAE_CHANNELS, seed=0, **extra)

    return [
        Case(f"ConvolutionalNeuralNetworks {cnn}", digits, images, labels, cnn_model(False), "mlp"),
        Case(f"ConvolutionalNeuralNetworks {cnn} residual", digits, images, labels, cnn_model(True), "mlp"),
        Case(f"ConvolutionalAutoEncoder {cae}", digits, images, None, cae_model(ConvolutionalAutoEncoder),
             "pca"),
        Case(f"ConvolutionalAutoEncoder {cae} tied", digits, images, None,
             cae_model(ConvolutionalAutoEncoder, tied_weights=True), "pca"),
        Case(f"ContractiveCAE {cae} λ=1e-4", digits, images, None,
             cae_model(ContractiveCAE, contractive_weight=1e-4), "pca", cae_model(ConvolutionalAutoEncoder)),
        Case(f"RepellingCAE {cae} weight 0.1", digits, images, None,
             cae_model(RepellingCAE, repelling_weight=0.1), "pca", cae_model(ConvolutionalAutoEncoder)),
        Case("MobileNetV2 ×0.25", f"digits upsampled 3x32x32 (N={len(big)})", big, labels[:n_mobile],
             lambda: MobileNetV2(num_classes=10, in_channels=3, multiplier=0.25, learning_rate=1e-3, seed=0),
             ""),
    ]


def _ratio(value: Optional[float]) -> str:
    """`fmt_ratio`, with two significant digits below 0.1 (a CAE epoch against a PCA fit)."""
    return fmt_ratio(value) if value is None or value >= 0.1 else f"{value:.2g}×"


def run(quick: bool = False) -> List[Table]:
    """Measure the convolutional family; returns a training table and an inference table."""
    rounds, repeats, min_time = (1, 1, 0.0) if quick else (3, 3, 1.0)
    infer_target = 500 if quick else 20_000
    train = Table(f"Convolutional models - training samples/s (`learn`, batch {BATCH}; fastest of {rounds} "
                  "epochs, hybridized, imperative and the reference model interleaved, after a warm-up epoch)",
                  ["model", "data", "hybridized", "imperative", "hybrid/imperative", "baseline",
                   "baseline samples/s", "ours/baseline"])
    infer = Table("Convolutional models - inference samples/s (hybridized `model.inference`, whole array)",
                  ["model", "data", "ours", "baseline", "baseline samples/s", "ours/baseline"])
    todo = cases(quick)
    digits = todo[0].x
    # key -> (name, train samples/s, inference samples/s)
    baselines: Dict[str, Tuple[str, float, float]] = {}
    mlp_train, mlp_infer = _sklearn_mlp(digits, todo[0].y, repeats, min_time, infer_target)
    baselines["mlp"] = (f"scikit-learn MLPClassifier 64-{MLP_HIDDEN}-10", mlp_train, mlp_infer)
    pca_train, pca_infer = _pca(digits, repeats, min_time, infer_target)
    baselines["pca"] = (f"scikit-learn PCA {CODE_CHANNELS}", pca_train, pca_infer)
    for case in todo:
        mobile = case.name.startswith("MobileNet")
        hybrid, imperative, ours_infer, reference = _ours(case, rounds, repeats, min_time,
                                                          infer_target // 10 if mobile else infer_target,
                                                          case.reference)
        base_name, base_train, base_infer = baselines.get(case.baseline, ("-", None, None))
        if reference is not None:
            base_name, base_train = "plain CAE, same layers (hybridized)", reference
        train.add(case.name, case.data, fmt_rate(hybrid), fmt_rate(imperative), fmt_ratio(hybrid / imperative),
                  base_name, fmt_rate(base_train), _ratio(None if base_train is None else hybrid / base_train))
        base_name, _, base_infer = baselines.get(case.baseline, ("-", None, None))
        infer.add(case.name, case.data, fmt_rate(ours_infer), base_name, fmt_rate(base_infer),
                  _ratio(None if base_infer is None else ours_infer / base_infer))
    train.notes.append("Adam in every case; baselines run on the same arrays in the same process. scikit-learn's "
                       "MLP figure is one `fit(max_iter=1)` (one epoch plus input validation and initialization) "
                       "on the flattened digits; PCA's is one `fit_transform`, a closed-form solution rather "
                       "than an epoch of gradient steps, so its ratio is what one CAE epoch costs against the "
                       "whole classic method.")
    train.notes.append("the auto-encoders' decoders compute their transposed convolutions with `Convolution` "
                       "(accelbrainbase.models.convolution; MXNet 1.9.1's oneDNN `Deconvolution` fails for "
                       "CPU-dependent channel counts): about ten small operators per layer where `Deconvolution` "
                       "was one.")
    train.notes.append("ContractiveCAE and RepellingCAE against a plain CAE with the same layers, trained in "
                       "the same interleaved rounds: the ratio is the cost of the exact encoder-Jacobian "
                       "penalty (forward mode over all 64 input directions) and of the pull-away term.")
    train.notes.append(f"peak RSS of the process after the convolutional benchmarks: {peak_rss_mb():.0f} MiB")
    infer.notes.append("auto-encoders: reconstruction (encode + decode) against PCA transform + "
                       "inverse_transform; CNNs: class probabilities against MLPClassifier.predict_proba; "
                       "MobileNetV2: no baseline (its speed is the figure, for use as a Q-network).")
    return [train, infer]
