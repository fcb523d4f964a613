"""MobileNetV2 from gluoncv's model zoo wrapped as an `ObservableModel`: a classifier (with
``test_accuracy`` like `NeuralNetworks`), a regressor, or a Q-network."""
from __future__ import annotations

from typing import Any, Dict, Optional

import mxnet as mx
import numpy as np

from ..context import CtxLike
from ..losses import CrossEntropyLoss, L2NormLoss
from ..registry import register_model
from .base import ObservableModel
from .dense import NeuralNetworks

__all__ = ["MobileNetV2", "MOBILENET_V2_MULTIPLIERS"]

#: width multipliers gluoncv's model zoo provides (``mobilenetv2_<multiplier>``).
MOBILENET_V2_MULTIPLIERS = (1.0, 0.75, 0.5, 0.25)


def _example_mobilenet(rng: np.random.RandomState):
    x = rng.rand(16, 3, 16, 16).astype(np.float32)
    return dict(num_classes=3, multiplier=0.25, learning_rate=1e-3), x, rng.randint(0, 3, 16)


@register_model("mobilenet_v2", example=_example_mobilenet)
class MobileNetV2(NeuralNetworks):
    """MobileNetV2 (Sandler et al. 2018, "Inverted residuals and linear bottlenecks") as a classifier
    or a function approximator: gluoncv's ``mobilenetv2_<multiplier>`` (``pretrained=False``, no
    download) wrapped, not rewritten, as an `ObservableModel`.

    ``self(x)`` is a plain ``(N, C, H, W) -> (N, num_classes or output_dim)`` block, so it also serves
    as a Q-network. A classifier is trained with softmax cross-entropy and ``inference`` gives class
    probabilities; a regressor (``output_dim``) with squared error. The network ends in global average
    pooling, so any image size works (the features shrink 32-fold, down to 1x1 for small images).

    Args:
        num_classes: number of classes (classification), or
        output_dim: number of outputs (regression, e.g. Q-values).
        in_channels: channels of the input images (the first convolution is sized for them).
        multiplier: width multiplier, one of `MOBILENET_V2_MULTIPLIERS`.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, in_channels, H, W)``; ``self(x)`` -> ``(N, num_classes or output_dim)``;
        ``extract_feature_points(x)`` -> pooled features ``(N, 1280)``.

    Example:
        >>> net = MobileNetV2(num_classes=10, multiplier=0.25, seed=0)
        >>> net.inference(np.zeros((2, 3, 32, 32), dtype=np.float32)).shape
        (2, 10)
    """

    def __init__(
        self,
        num_classes: Optional[int] = None,
        output_dim: Optional[int] = None,
        in_channels: int = 3,
        multiplier: float = 1.0,
        *,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        from gluoncv.model_zoo import get_model

        ObservableModel.__init__(self, ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                                 learning_rate=learning_rate, optimizer_params=optimizer_params)
        if (num_classes is None) == (output_dim is None):
            raise ValueError("give num_classes (classification) or output_dim (regression), exactly one")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if output_dim is not None and output_dim < 1:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        if float(multiplier) not in MOBILENET_V2_MULTIPLIERS:
            raise ValueError(f"multiplier must be one of {MOBILENET_V2_MULTIPLIERS}, got {multiplier}")
        self.input_shape = (int(in_channels), None, None)
        self.num_classes = num_classes
        self.output_dim = output_dim
        self.multiplier = float(multiplier)
        with self.name_scope():
            self.net = get_model(f"mobilenetv2_{self.multiplier}", pretrained=False,
                                 classes=num_classes or output_dim)
            self.loss = CrossEntropyLoss() if num_classes else L2NormLoss()
        self.initialize_parameters()
        # The zoo's layers infer their input channels at the first call: make every shape concrete
        # now, so save/load and parameter checks see real shapes.
        self.net(mx.nd.zeros((1, int(in_channels), 32, 32), ctx=self.ctx[0]))

    @property
    def hidden(self) -> Any:
        """The feature extractor (convolutions and global pooling) of the zoo network."""
        return self.net.features

    def hybrid_forward(self, F, x):
        return self.net(x)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Globally pooled features before the classifier, ``(N, 1280)``."""
        return self._batched(lambda x: mx.nd.flatten(self.net.features(x)), observed_arr, batch_size)
