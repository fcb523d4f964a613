"""Convolutional classifier (and regressor) with an optional residual structure."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from ..context import CtxLike
from ..losses import CrossEntropyLoss, L2NormLoss
from ..registry import not_registered, register_model
from .activations import check_activation as _check_activation
from .base import ObservableModel
from .dense import NeuralNetworks

__all__ = ["ConvolutionalNeuralNetworks", "ConvStage"]


def _example_cnn(rng: np.random.RandomState):
    x = rng.rand(24, 1, 8, 8).astype(np.float32)
    kwargs = dict(num_classes=3, in_channels=1, channels=[4, 8], residual=True, learning_rate=0.01)
    return kwargs, x, rng.randint(0, 3, 24)


@not_registered("a building block of ConvolutionalNeuralNetworks (no training loop of its own)")
class ConvStage(gluon.HybridBlock):
    """``convs`` same-size convolutions ``Conv -> [BatchNorm] -> activation``; with ``residual`` the
    stage adds its input (through a 1x1 projection when the channel count changes) before the last
    activation, as in a ResNet basic block (He et al. 2016).

    Shapes: ``(N, in_channels, H, W)`` -> ``(N, channels, H, W)``.
    """

    def __init__(self, in_channels: int, channels: int, convs: int = 2, kernel_size: int = 3,
                 activation: str = "relu", batch_norm: bool = True, residual: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-size convolutions), got {kernel_size}")
        self.activation, self.residual = activation, residual
        with self.name_scope():
            self.body = nn.HybridSequential()
            n_in = in_channels
            for i in range(convs):
                self.body.add(nn.Conv2D(channels, kernel_size, padding=kernel_size // 2, in_channels=n_in,
                                        use_bias=not batch_norm))
                if batch_norm:
                    self.body.add(nn.BatchNorm(in_channels=channels))
                # The last activation comes after the skip connection is added.
                if activation != "identity" and (i < convs - 1 or not residual):
                    self.body.add(nn.Activation(activation))
                n_in = channels
            self.project = (nn.Conv2D(channels, 1, in_channels=in_channels, use_bias=False)
                            if residual and in_channels != channels else None)

    def hybrid_forward(self, F, x):
        out = self.body(x)
        if not self.residual:
            return out
        out = out + (self.project(x) if self.project is not None else x)
        return out if self.activation == "identity" else F.Activation(out, act_type=self.activation)


@register_model("conv_neural_networks", example=_example_cnn)
class ConvolutionalNeuralNetworks(NeuralNetworks):
    """Convolutional network: a classifier (``num_classes``) or a regressor (``output_dim``).

    Stages of ``convs_per_stage`` 3x3 convolutions (``Conv -> BatchNorm -> activation``, or ResNet
    basic blocks with ``residual=True``), 2x2 max pooling between stages, global average pooling and
    a dense output layer (LeCun et al. 1998; He et al. 2016 for the residual blocks). Global pooling
    makes the network accept any image size. A classifier is trained with softmax cross-entropy and
    its ``inference`` gives class probabilities; a regressor (e.g. a Q-network) with squared error.

    Args:
        num_classes: number of classes (classification), or
        output_dim: number of outputs (regression).
        in_channels: channels of the input images.
        channels: output channels of each stage; the image is halved (2x2 max pooling, rounding up)
            between two stages.
        convs_per_stage: convolutions per stage.
        kernel_size: odd kernel size of the convolutions (padding keeps the size).
        residual: ResNet basic blocks (skip connection over each stage).
        batch_norm: batch normalization after each convolution.
        activation: hidden activation (``relu``, ``sigmoid``, ``tanh``, ``softrelu``, ...).
        dropout: dropout rate before the output layer (0 = none).
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, in_channels, H, W)`` (any ``H``, ``W``); ``self(x)`` -> logits/outputs
        ``(N, num_classes or output_dim)``; ``inference(x)`` -> probabilities (classifier) or outputs;
        ``extract_feature_points(x)`` -> pooled features ``(N, channels[-1])``.
        Targets: labels ``(N,)`` in ``0..num_classes-1``, or ``(N, output_dim)``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> digits = load_digits()
        >>> x = (digits.data / 16).reshape(-1, 1, 8, 8)
        >>> cnn = ConvolutionalNeuralNetworks(num_classes=10, channels=[8, 16], seed=0)
        >>> cnn = cnn.learn(ArrayIterator(x[:500], digits.target[:500], batch_size=50, epochs=2, seed=0))
        >>> cnn.inference(x[:3]).shape
        (3, 10)
    """

    def __init__(
        self,
        num_classes: Optional[int] = None,
        output_dim: Optional[int] = None,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64),
        *,
        convs_per_stage: int = 2,
        kernel_size: int = 3,
        residual: bool = False,
        batch_norm: bool = True,
        activation: str = "relu",
        dropout: float = 0.25,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        # The convolutional layers replace the MLP's; everything else (losses, label checks, accuracy
        # per epoch, probabilities at inference) is NeuralNetworks' own.
        ObservableModel.__init__(self, ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                                 learning_rate=learning_rate, optimizer_params=optimizer_params)
        if (num_classes is None) == (output_dim is None):
            raise ValueError("give num_classes (classification) or output_dim (regression), exactly one")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if output_dim is not None and output_dim < 1:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        channels = [int(c) for c in channels]
        if not channels or any(c < 1 for c in channels) or in_channels < 1 or convs_per_stage < 1:
            raise ValueError(f"in_channels, channels and convs_per_stage must be positive, got "
                             f"in_channels={in_channels}, channels={channels}, convs_per_stage={convs_per_stage}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        _check_activation(activation)
        self.input_shape = (int(in_channels), None, None)
        self.num_classes = num_classes
        self.output_dim = output_dim
        self.residual = residual
        with self.name_scope():
            self.hidden = nn.HybridSequential()
            n_in = int(in_channels)
            for i, c in enumerate(channels):
                if i > 0:
                    self.hidden.add(nn.MaxPool2D(2, 2, ceil_mode=True))
                self.hidden.add(ConvStage(n_in, c, convs_per_stage, kernel_size, activation, batch_norm, residual))
                n_in = c
            self.hidden.add(nn.GlobalAvgPool2D(), nn.Flatten())
            if dropout:
                self.hidden.add(nn.Dropout(dropout))
            self.output = nn.Dense(num_classes or output_dim, in_units=channels[-1])
            self.loss = CrossEntropyLoss() if num_classes else L2NormLoss()

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Globally pooled features of the last stage, ``(N, channels[-1])``."""
        return self._batched(self.hidden, observed_arr, batch_size)
