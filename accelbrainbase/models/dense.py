"""Dense models: the multi-layer perceptron and the (tied, denoising, sparse) auto-encoder."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from ..checks import check_feature_shape, check_labels, check_unit_range
from ..context import CtxLike
from ..interfaces import IteratableData, NoiseableData
from ..losses import CrossEntropyLoss, L2NormLoss
from ..registry import not_registered, register_model
from .activations import ACTIVATIONS
from .activations import activate as _activate
from .activations import check_activation as _check_activation
from .base import ObservableModel

__all__ = ["NeuralNetworks", "AutoEncoder", "DenseEncoder", "DenseDecoder", "ACTIVATIONS"]


def _check_dims(input_dim: int, hidden_dims: Sequence[int]) -> list:
    dims = [int(input_dim)] + [int(h) for h in hidden_dims]
    if any(d < 1 for d in dims):
        raise ValueError(f"layer sizes must be positive, got input_dim={input_dim}, hidden_dims={hidden_dims}")
    return dims


def _example_classifier(rng: np.random.RandomState):
    x = rng.rand(24, 6).astype(np.float32)
    return dict(input_dim=6, hidden_dims=[8], num_classes=3, learning_rate=0.01), x, rng.randint(0, 3, 24)


def _example_autoencoder(rng: np.random.RandomState):
    x = rng.rand(24, 6).astype(np.float32)
    return dict(input_dim=6, hidden_dims=[4], tied_weights=True, learning_rate=0.01), x, None


@register_model("neural_networks", example=_example_classifier)
class NeuralNetworks(ObservableModel):
    """Multi-layer perceptron: a classifier (``num_classes``) or a regressor (``output_dim``).

    Each hidden layer is ``Dense -> [BatchNorm] -> activation -> [Dropout]``. A classifier is
    trained with softmax cross-entropy and its ``inference`` gives class probabilities; a regressor
    is trained with squared error (Rumelhart, Hinton & Williams 1986).

    Args:
        input_dim: features per sample (inputs of higher rank are flattened to this size).
        hidden_dims: sizes of the hidden layers.
        num_classes: number of classes (classification), or
        output_dim: number of outputs (regression).
        activation: hidden activation, one of `ACTIVATIONS`.
        dropout: dropout rate after each hidden layer (0 = none).
        batch_norm: batch normalization before each activation.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, input_dim)``; ``self(x)`` -> logits/outputs ``(N, num_classes or output_dim)``;
        ``inference(x)`` -> probabilities (classifier) or outputs (regressor).
        Targets: labels ``(N,)`` in ``0..num_classes-1``, or ``(N, output_dim)``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator
        >>> digits = load_digits()
        >>> it = ArrayIterator(digits.data / 16, digits.target, test_size=0.2, batch_size=64, epochs=20, seed=0)
        >>> clf = NeuralNetworks(input_dim=64, hidden_dims=[128], num_classes=10, seed=0).learn(it)
        >>> clf.inference(digits.data[:5] / 16).shape
        (5, 10)
        >>> clf.history["test_accuracy"][-1] > 0.9
        True
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int] = (128,),
        num_classes: Optional[int] = None,
        output_dim: Optional[int] = None,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        if (num_classes is None) == (output_dim is None):
            raise ValueError("give num_classes (classification) or output_dim (regression), exactly one")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        dims = _check_dims(input_dim, hidden_dims)
        _check_activation(activation)
        self.input_shape = (dims[0],)
        self.num_classes = num_classes
        self.output_dim = output_dim
        with self.name_scope():
            self.hidden = nn.HybridSequential()
            for n_in, n_out in zip(dims[:-1], dims[1:]):
                self.hidden.add(nn.Dense(n_out, in_units=n_in))
                if batch_norm:
                    self.hidden.add(nn.BatchNorm(in_channels=n_out))
                if activation != "identity":
                    self.hidden.add(nn.Activation(activation))
                if dropout:
                    self.hidden.add(nn.Dropout(dropout))
            self.output = nn.Dense(num_classes or output_dim, in_units=dims[-1])
            self.loss = CrossEntropyLoss() if num_classes else L2NormLoss()

    def hybrid_forward(self, F, x):
        return self.output(self.hidden(x))

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        if y is None:
            raise ValueError("NeuralNetworks needs targets: give y to the iterator")
        return self.loss(self(x), y)

    def inference_graph(self, F: Any, x: Any, sample_shape: Optional[Tuple[int, ...]] = None) -> Any:
        """Class probabilities (softmax of the logits) for a classifier, the outputs for a regressor."""
        out = self(x)
        return F.softmax(out) if self.num_classes else out

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Activations of the last hidden layer, ``(N, hidden_dims[-1])``."""
        return self._batched(self.hidden, observed_arr, batch_size)

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        for name, (_, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is None:
                if name == "y":
                    raise ValueError(f"{type(self).__name__} needs targets: the data has no y")
            elif self.num_classes:
                check_labels(y, self.num_classes, name)
            else:
                check_feature_shape(tuple(y.shape[1:]), (self.output_dim,), name)

    def test_step(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> Dict[str, mx.nd.NDArray]:
        """Summed loss and, for a classifier with labels, the number of correct predictions
        (`training.fit` records ``test_loss`` and ``test_accuracy``)."""
        device = self.ctx[0]
        x = x.as_in_context(device)
        if y is None:
            return super().test_step(x, y)
        y = y.as_in_context(device)
        out = self(x)
        result = {"loss": self.loss(out, y).sum()}
        if self.num_classes:
            result["accuracy"] = (mx.nd.argmax(out, axis=1) == y.reshape((-1,))).sum()
        return result


@not_registered("a building block of AutoEncoder (no training loop of its own); AutoEncoder is registered")
class DenseEncoder(gluon.HybridBlock):
    """The encoding half of `AutoEncoder`: ``dims[0] -> dims[1] -> ... -> dims[-1]``."""

    def __init__(self, dims: Sequence[int], activation: str) -> None:
        super().__init__()
        self.dims, self.activation = list(dims), activation
        for i, (n_in, n_out) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            setattr(self, f"l{i}_weight", self.params.get(f"l{i}_weight", shape=(n_out, n_in)))
            setattr(self, f"l{i}_bias", self.params.get(f"l{i}_bias", shape=(n_out,), init=mx.init.Zero()))

    def hybrid_forward(self, F, x, **p):
        h = F.flatten(x)
        for i, n_out in enumerate(self.dims[1:]):
            h = _activate(F, F.FullyConnected(h, p[f"l{i}_weight"], p[f"l{i}_bias"], num_hidden=n_out),
                          self.activation)
        return h


@not_registered("a building block of AutoEncoder (no training loop of its own); AutoEncoder is registered")
class DenseDecoder(gluon.HybridBlock):
    """The decoding half of `AutoEncoder`: ``dims[-1] -> ... -> dims[0]``.

    With ``tied_to`` (a `DenseEncoder`) the decoder has no weights of its own: layer ``i`` uses the
    transpose of the encoder's weight ``i`` - the same `Parameter`, so one gradient updates both.
    """

    def __init__(self, dims: Sequence[int], activation: str, output_activation: str,
                 tied_to: Optional[DenseEncoder] = None) -> None:
        super().__init__()
        self.dims, self.activation, self.output_activation = list(dims), activation, output_activation
        self.tied = tied_to is not None
        for i, (n_out, n_in) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            if self.tied:
                shared = getattr(tied_to, f"l{i}_weight")
                setattr(self, f"tied{i}_weight", shared)
                # Listing it in this block's own parameters lets the decoder hybridize on its own.
                self.params.update({shared.name: shared})
            else:
                setattr(self, f"l{i}_weight", self.params.get(f"l{i}_weight", shape=(n_out, n_in)))
            setattr(self, f"l{i}_bias", self.params.get(f"l{i}_bias", shape=(n_out,), init=mx.init.Zero()))

    def hybrid_forward(self, F, h, **p):
        for i in reversed(range(len(self.dims) - 1)):
            weight = F.transpose(p[f"tied{i}_weight"]) if self.tied else p[f"l{i}_weight"]
            h = F.FullyConnected(h, weight, p[f"l{i}_bias"], num_hidden=self.dims[i])
            h = _activate(F, h, self.output_activation if i == 0 else self.activation)
        return h


@register_model("autoencoder", example=_example_autoencoder)
class AutoEncoder(ObservableModel):
    """Dense auto-encoder with optional tied weights, denoising and a sparsity penalty.

    Encoder ``x -> h_1 -> ... -> code``, decoder back to ``x``; trained to minimise the squared
    reconstruction error. Options:

    - ``tied_weights``: the decoder uses the transposed encoder weights - shared parameters, not
      copies (Vincent et al. 2010, "Stacked denoising autoencoders").
    - ``noiseable_data``: corrupt inputs during training and reconstruct the clean ones (denoising);
      an iterator with ``noiseable_data`` does the same from the data side.
    - ``sparse_weight``: add ``sparse_weight * KL(rho || mean code activation)`` to the loss (needs
      sigmoid codes; Ng 2011, "Sparse autoencoder").

    The target of a batch is the iterator's ``y`` when it has the input's shape (a denoising
    iterator yields the clean batch there), otherwise the input itself.

    Args:
        input_dim: features per sample (inputs of higher rank are flattened; the output keeps the
            input's shape).
        hidden_dims: encoder layer sizes; the last is the code size.
        activation: hidden and code activation, one of `ACTIVATIONS`.
        output_activation: activation of the reconstruction (``sigmoid`` for data in [0, 1],
            ``identity`` for real values).
        tied_weights, noiseable_data, sparse_weight, sparse_target: see above.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, input_dim)``; ``inference(x)`` -> reconstruction ``(N, input_dim)``;
        ``extract_feature_points(x)`` -> codes ``(N, hidden_dims[-1])``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from accelbrainbase.data import ArrayIterator, MaskingNoise
        >>> x = load_digits().data / 16
        >>> ae = AutoEncoder(input_dim=64, hidden_dims=[32], tied_weights=True, seed=0)
        >>> ae = ae.learn(ArrayIterator(x, test_size=0.2, batch_size=32, epochs=30, seed=0,
        ...                             noiseable_data=MaskingNoise(0.2)))   # denoising
        >>> ae.extract_feature_points(x).shape
        (1797, 32)
        >>> ae.loss_arr[-1, 1] < 0.03          # test MSE on masked inputs (mean predictor: 0.074)
        True
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int] = (32,),
        *,
        activation: str = "sigmoid",
        output_activation: str = "sigmoid",
        tied_weights: bool = False,
        noiseable_data: Optional[NoiseableData] = None,
        sparse_weight: float = 0.0,
        sparse_target: float = 0.05,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        dims = _check_dims(input_dim, hidden_dims)
        if len(dims) < 2:
            raise ValueError("hidden_dims must name at least one layer (the code)")
        _check_activation(activation)
        _check_activation(output_activation)
        if noiseable_data is not None and not isinstance(noiseable_data, NoiseableData):
            raise TypeError(f"noiseable_data must be a NoiseableData, got {type(noiseable_data).__name__}")
        if sparse_weight < 0:
            raise ValueError(f"sparse_weight must be >= 0, got {sparse_weight}")
        if sparse_weight and activation != "sigmoid":
            raise ValueError("the sparsity penalty compares mean activations with sparse_target in (0, 1): "
                             "it needs activation='sigmoid'")
        if not 0.0 < sparse_target < 1.0:
            raise ValueError(f"sparse_target must be in (0, 1), got {sparse_target}")
        self.input_shape = (dims[0],)
        self.tied_weights = tied_weights
        self.noiseable_data = noiseable_data
        self.sparse_weight = float(sparse_weight)
        self.sparse_target = float(sparse_target)
        with self.name_scope():
            self.encoder = DenseEncoder(dims, activation)
            self.decoder = DenseDecoder(dims, activation, output_activation,
                                        tied_to=self.encoder if tied_weights else None)
            self.loss = L2NormLoss()

    def hybrid_forward(self, F, x):
        return F.reshape_like(self.decoder(self.encoder(x)), x)

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        if self.decoder.output_activation == "sigmoid":
            # A sigmoid reconstruction lives in (0, 1): targets outside it cannot be learned.
            for name, (x, y) in (("x", data.training_arrays()), ("test x", data.test_arrays())):
                target = y if y is not None and x is not None and y.shape == x.shape else x
                check_unit_range(target, name, "an AutoEncoder with output_activation='sigmoid' (the default)")

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        target = y if y is not None and y.shape == x.shape else x
        if self.noiseable_data is not None and autograd.is_training():
            x = self.noiseable_data.noise(x)
        code = self.encoder(x)
        loss = self.loss(self.decoder(code).reshape(target.shape), target)
        if self.sparse_weight:
            rho = self.sparse_target
            rho_hat = mx.nd.clip(code.mean(axis=0), 1e-6, 1 - 1e-6)
            kl = (rho * mx.nd.log(rho / rho_hat) + (1 - rho) * mx.nd.log((1 - rho) / (1 - rho_hat))).sum()
            loss = mx.nd.broadcast_add(loss, self.sparse_weight * kl)
        return loss

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 1024) -> Any:
        """Codes ``(N, hidden_dims[-1])`` of ``observed_arr``."""
        return self._batched(self.encoder, observed_arr, batch_size)
