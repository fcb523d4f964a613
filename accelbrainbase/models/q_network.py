"""Q-networks: `FunctionApproximator` turns any model of the zoo, or any Gluon block, into an
action-value function.

A Q-network maps a batch of states ``(N, *state_shape)`` to one value per discrete action
``(N, n_actions)``. Any Gluon `HybridBlock` can play the part - the MLP `NeuralNetworks`, a CNN, an
LSTM, MobileNetV2, or a plain ``gluon.nn.HybridSequential`` whose shapes are deferred: wrapped as it
is when it already outputs ``n_actions`` values, or with a linear Q-head on its (flattened) output
features. `controllers.DQNController` trains it by temporal-difference learning.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from ..checks import check_feature_shape
from ..context import CtxLike
from ..gluon_internals import activation_name, child_blocks
from ..interfaces import IteratableData
from ..persistence import decode_config
from ..registry import register_model
from .base import ObservableModel
from .dense import NeuralNetworks

__all__ = ["FunctionApproximator"]

_HOST_ACTIVATIONS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda h: np.maximum(h, 0, out=h),
    "tanh": np.tanh,
    "sigmoid": lambda h: 1.0 / (1.0 + np.exp(-h)),
    "softrelu": lambda h: np.logaddexp(0, h),
    "softsign": lambda h: h / (1.0 + np.abs(h)),
}


def _example(rng: np.random.RandomState):
    x = rng.rand(24, 4).astype(np.float32)
    q_targets = (x @ rng.randn(4, 3)).astype(np.float32)  # regression onto given action values
    model = NeuralNetworks(input_dim=4, hidden_dims=[8], output_dim=3, seed=0)
    return dict(model=model, learning_rate=0.01), x, q_targets


def _example_plain_block(rng: np.random.RandomState):
    """The same task around a plain Gluon block whose shapes are deferred (no ``in_units``)."""
    _, x, q_targets = _example(rng)
    block = nn.HybridSequential()
    block.add(nn.Dense(8, activation="relu"), nn.Dense(3))
    return dict(model=block, input_shape=(4,), learning_rate=0.01), x, q_targets


@register_model("function_approximator", example=_example, user_parts=_example_plain_block)
class FunctionApproximator(ObservableModel):
    """Action-value function ``Q(s, ·)`` built on any Gluon block (Mnih et al. 2015, "Human-level
    control through deep reinforcement learning", Nature 518).

    ``self(x)`` returns ``Q(x, a)`` for every action. Without ``n_actions`` the wrapped model's own
    output is the Q-vector (e.g. ``NeuralNetworks(output_dim=n_actions)``); with ``n_actions`` a linear
    head ``Dense(n_actions)`` reads the wrapped model's flattened output (a CNN or LSTM feature
    extractor). The wrapped model's parameters move to this model's ``ctx``; parameters that are not
    initialized yet (a plain Gluon block) are initialized with ``initializer``, and deferred shapes
    are resolved at once from ``input_shape`` (one forward pass on a zero batch).

    Stand-alone, ``learn`` regresses the Q-values onto given targets ``(N, n_actions)`` with the Huber
    loss (fitted Q-iteration, supervised pre-training); `DQNController` uses `td_loss` instead.

    Args:
        model: the network: a model of the zoo (saved with its hyper-parameters) or any
            `HybridBlock` (then save with ``save_parameters``; ``save`` says so); also accepted as
            the ``{"__class__", "config"}`` record `get_config` gives.
        n_actions: number of actions when a Q-head is needed; ``None`` uses the model's output.
        input_shape: per-sample state shape; taken from ``model.input_shape`` when it has one.
        huber_rho: the Huber loss is quadratic for errors below ``huber_rho``, linear above.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, *input_shape)`` -> Q-values ``(N, n_actions)``; ``learn`` targets ``(N, n_actions)``.

    Example:
        >>> q = FunctionApproximator(NeuralNetworks(input_dim=4, hidden_dims=[16], output_dim=2), seed=0)
        >>> q.inference(np.zeros((3, 4), np.float32)).shape
        (3, 2)
        >>> q.n_actions
        2
        >>> mlp = nn.HybridSequential()      # a plain Gluon block, shapes deferred
        >>> mlp.add(nn.Dense(32, activation="relu"), nn.Dense(2))
        >>> FunctionApproximator(mlp, input_shape=(4,), seed=0).inference(np.zeros((3, 4), np.float32)).shape
        (3, 2)
    """

    #: per-sample state shape (``None`` entries are free axes): always known.
    input_shape: Tuple[Optional[int], ...]

    def __init__(
        self,
        model: Union[gluon.HybridBlock, Dict[str, Any]],
        n_actions: Optional[int] = None,
        *,
        input_shape: Optional[Sequence[Optional[int]]] = None,
        huber_rho: float = 1.0,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        if isinstance(model, dict):
            model = decode_config(model)
        if not isinstance(model, gluon.HybridBlock):
            raise TypeError(f"model must be a Gluon HybridBlock (any model of the zoo), got {type(model).__name__}")
        if input_shape is None:
            input_shape = getattr(model, "input_shape", None)  # the zoo's models know theirs
        if not input_shape:
            raise ValueError(f"{type(model).__name__} has no input_shape: pass input_shape=(per-sample state shape)")
        self.input_shape = tuple(None if d is None else int(d) for d in input_shape)
        if n_actions is not None and int(n_actions) < 1:
            raise ValueError(f"n_actions must be positive, got {n_actions}")
        if huber_rho <= 0:
            raise ValueError(f"huber_rho must be positive, got {huber_rho}")
        self.huber_rho = float(huber_rho)
        self.model = model  # registers the wrapped block as a child
        # The probe below runs the model: its parameters must live on ctx (deferred shapes are
        # resolved by that very forward pass).
        self.initialize_parameters()
        features = self._probe()
        if n_actions is None:
            if len(features) != 1:
                raise ValueError(f"{type(model).__name__} outputs per-sample shape {features}: pass n_actions "
                                 "to add a linear Q-head on its flattened output")
            self.n_actions = int(features[0])
        else:
            self.n_actions = int(n_actions)
        with self.name_scope():
            self.head = (nn.Dense(self.n_actions, in_units=int(np.prod(features)), flatten=True)
                         if n_actions is not None else None)
            self.loss = gluon.loss.HuberLoss(rho=self.huber_rho)

    def _probe(self) -> Tuple[int, ...]:
        """Per-sample output shape of the wrapped model (one forward on a zero batch)."""
        with mx.autograd.predict_mode():
            out = self.model(self.example_input(1))
        if isinstance(out, (list, tuple)):
            raise ValueError(f"{type(self.model).__name__} returns several outputs; a Q-network needs one")
        return tuple(out.shape[1:])

    def hybrid_forward(self, F, x):
        out = self.model(x)
        return out if self.head is None else self.head(out)

    # ------------------------------------------------------------------ losses
    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        """Huber loss of all Q-values against targets ``y`` ``(N, n_actions)``, summed over actions."""
        if y is None:
            raise ValueError("FunctionApproximator.learn needs target Q-values y of shape (N, n_actions)")
        return self.loss(self(x), y) * self.n_actions

    def td_loss(self, states: Any, actions: Any, targets: Any) -> Any:
        """Huber loss ``(N,)`` of ``Q(states, actions)`` against TD targets ``(N,)`` (recorded by autograd)."""
        q = mx.nd.pick(self(states), actions, axis=1)
        return self.loss(q, targets)

    def check_data(self, data: IteratableData) -> None:
        """The states' shape, and target Q-values ``y`` of shape ``(N, n_actions)``."""
        super().check_data(data)
        _, y = data.training_arrays()
        if y is None:
            raise ValueError("FunctionApproximator.learn needs target Q-values y of shape (N, n_actions)")
        check_feature_shape(tuple(np.shape(y)[1:]), (self.n_actions,), "y")

    # ------------------------------------------------------------------ acting
    def greedy_actions(self, states: Any) -> np.ndarray:
        """``argmax_a Q(s, a)`` for a batch of states ``(N, *input_shape)`` -> ``(N,)`` int."""
        return np.asarray(self.inference(states)).argmax(axis=1)

    def host_policy(self) -> Optional[Callable[[np.ndarray], np.ndarray]]:
        """A numpy copy of the Q-function for dense networks, or ``None`` for other architectures.

        Acting calls the Q-network once per environment step on a single state; there, MXNet's
        per-call overhead (~0.3-0.5 ms: array creation, engine hand-off, host sync) dominates, while
        the same MLP in numpy takes ~20 us. The copy is a snapshot: take a new one after training.
        Returns a function ``states (N, input_dim) float32 -> Q-values (N, n_actions)``.
        """
        layers = self._host_layers()
        if layers is None:
            return None
        device = self.ctx[0]
        weights = [(w.data(device).asnumpy(), b.data(device).asnumpy(), act) for w, b, act in layers]

        def q_values(states: np.ndarray) -> np.ndarray:
            h = np.asarray(states, dtype=np.float32).reshape(len(states), -1)
            for w, b, act in weights:
                h = h @ w.T + b
                if act is not None:
                    h = _HOST_ACTIVATIONS[act](h)
            return h

        return q_values

    def _host_layers(self) -> Optional[List[Tuple[gluon.Parameter, gluon.Parameter, Optional[str]]]]:
        """``(weight, bias, activation)`` of a chain of Dense layers, or ``None`` when it is not one."""
        model = self.model
        if type(model) is NeuralNetworks:  # not its subclasses (the CNN): their layers differ
            blocks = list(child_blocks(model.hidden)) + [model.output]
        elif isinstance(model, nn.HybridSequential):
            blocks = list(child_blocks(model))
        else:
            return None
        if self.head is not None:
            blocks.append(self.head)
        layers: List[List[Any]] = []
        for block in blocks:
            if isinstance(block, nn.Dense):
                if block.bias is None:
                    return None
                act = activation_name(block.act) if block.act is not None else None
                layers.append([block.weight, block.bias, act])
            elif isinstance(block, nn.Activation) and layers and layers[-1][2] is None:
                layers[-1][2] = activation_name(block)
            elif isinstance(block, nn.Dropout):
                continue  # identity at inference
            else:
                return None
        if not layers or any(act is not None and act not in _HOST_ACTIVATIONS for _, _, act in layers):
            return None
        return [tuple(layer) for layer in layers]
