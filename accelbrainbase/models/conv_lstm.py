"""ConvLSTM cell, networks, encoder/decoder and the spatio-temporal auto-encoder.

Videos are ``(N, T, C, H, W)`` of any batch size, length and frame size. The ConvLSTM states are
built from the input inside the graph, and the cell has no peephole weights (their ``(C, H, W)`` shape
would fix the frame size). The input-to-state convolutions of a whole sequence run as one convolution
over ``N * T`` frames; only the state-to-state convolution steps through time.

The time loop is unrolled in Python, also in a hybridized graph: a hybridized model keeps one graph
per sequence length ``T`` it has been called with (built on first use, then reused). MXNet's symbolic
loop (``F.contrib.foreach``) is not used here. On MXNet 1.9.1's threaded engine with oneDNN it ran on
the calling thread and touched the layout of arrays that worker threads were still writing, which
gave wrong hybridized outputs (4 of 10 runs) and segfaults (every run of the spatio-temporal AE on two
CPU contexts).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet.gluon import nn
from mxnet.gluon.rnn import HybridRecurrentCell

from ..checks import as_numpy, check_feature_shape
from ..context import CtxLike
from ..gluon_internals import cached_graph, set_cached_graph
from ..interfaces import IteratableData
from ..losses import BinaryCrossEntropyLoss, L2NormLoss
from ..registry import not_registered, register_model
from .base import ObservableModel
from .convolution import TransposedConv2D

__all__ = [
    "ConvLSTMCell",
    "ConvLSTMNetworks",
    "ConvLSTMEncoderDecoder",
    "SpatioTemporalAutoEncoder",
]

_OUTPUT_ACTIVATIONS = ("sigmoid", "identity", "tanh")


def _channels(hidden_channels: Union[int, Sequence[int]]) -> List[int]:
    chans = [int(h) for h in hidden_channels] if isinstance(hidden_channels, Iterable) else [int(hidden_channels)]
    if not chans or any(h < 1 for h in chans):
        raise ValueError(f"hidden_channels must be positive, got {hidden_channels}")
    return chans


def _check_kernel(kernel_size: int) -> int:
    if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer (the state keeps its size), got {kernel_size!r}")
    return int(kernel_size)


def _check_activation(name: str) -> str:
    if name not in _OUTPUT_ACTIVATIONS:
        raise ValueError(f"unknown output_activation {name!r}; choose one of {', '.join(_OUTPUT_ACTIVATIONS)}")
    return name


def _activate(F: Any, x: Any, name: str) -> Any:
    return x if name == "identity" else F.Activation(x, act_type=name)


def _frames(F: Any, x: Any) -> Any:
    """``(N, T, C, H, W) -> (N*T, C, H, W)``."""
    return F.reshape(x, shape=(-3, -2))


def _sequences(F: Any, frames: Any, like: Any) -> Any:
    """``(N*T, C', H', W') -> (N, T, C', H', W')`` with ``N, T`` read from ``like`` ``(N, T, ...)``."""
    return F.reshape_like(frames, like, lhs_begin=0, lhs_end=1, rhs_begin=0, rhs_end=2)


def _unstack(F: Any, seq: Any, steps: int) -> List[Any]:
    """``(N, T, ...)`` -> ``T`` arrays ``(N, ...)`` (``steps = T``), in one operator."""
    if steps == 1:
        return [F.squeeze(seq, axis=1)]
    return list(F.split(seq, num_outputs=steps, axis=1, squeeze_axis=True))


def _check_patch(patch_size: int) -> int:
    if not isinstance(patch_size, (int, np.integer)) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer, got {patch_size!r}")
    return int(patch_size)


def _check_loss(loss: str, output_activation: str) -> Any:
    if loss == "mse":
        return L2NormLoss()
    if loss == "bce":
        if output_activation != "sigmoid":
            raise ValueError("loss='bce' compares probabilities with targets in [0, 1]: it needs "
                             "output_activation='sigmoid'")
        return BinaryCrossEntropyLoss(from_sigmoid=True)
    raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")


@not_registered("a recurrent cell: a building block of the ConvLSTM models, with no training loop of its own; "
                "ConvLSTMNetworks, ConvLSTMEncoderDecoder and SpatioTemporalAutoEncoder are registered")
class ConvLSTMCell(HybridRecurrentCell):
    """Convolutional LSTM cell (Shi et al. 2015, "Convolutional LSTM Network: A Machine Learning
    Approach for Precipitation Nowcasting"): the LSTM with convolutions as input-to-state and
    state-to-state transitions, so states are feature maps ``(N, hidden_channels, H, W)``::

        i, f, o = sigmoid(W_x* * X_t + W_h* * H_{t-1} + b*),  g = tanh(W_xg * X_t + W_hg * H_{t-1} + b_g)
        C_t = f o C_{t-1} + i o g,                           H_t = o o tanh(C_t)

    (``*`` convolution, ``o`` Hadamard product). The paper's peephole terms ``W_c o C`` are left out:
    their weights have the frame's shape, which would tie the cell to one frame size. With
    ``in_channels=0`` the cell has no input (a forecaster driven by its state alone).

    A Gluon recurrent cell: ``cell(x_t, [h, c]) -> (h_t, [h_t, c_t])``; ``begin_state_like(F, x_t)``
    gives zero states of the right size for a frame batch ``x_t`` (also inside a graph).

    Args:
        in_channels: channels of the input frames (0: no input).
        hidden_channels: channels of the states.
        kernel_size: odd side of the (square) convolution kernels; padding keeps the frame size.

    Example:
        >>> cell = ConvLSTMCell(in_channels=1, hidden_channels=4, kernel_size=3)
        >>> cell.initialize()
        >>> x = mx.nd.ones((2, 1, 6, 6))
        >>> h, (h, c) = cell(x, cell.begin_state_like(mx.nd, x))
        >>> h.shape
        (2, 4, 6, 6)
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3,
                 prefix: Optional[str] = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)
        if in_channels < 0 or hidden_channels < 1:
            raise ValueError(f"need in_channels >= 0 and hidden_channels >= 1, got {in_channels}, {hidden_channels}")
        self.in_channels, self.hidden_channels = int(in_channels), int(hidden_channels)
        self.kernel_size = _check_kernel(kernel_size)
        pad = self.kernel_size // 2
        with self.name_scope():
            if self.in_channels:
                self.i2h = nn.Conv2D(4 * hidden_channels, self.kernel_size, padding=pad,
                                     in_channels=self.in_channels)
            # The input convolution carries the bias; without input the state convolution does.
            self.h2h = nn.Conv2D(4 * hidden_channels, self.kernel_size, padding=pad,
                                 in_channels=hidden_channels, use_bias=not self.in_channels)

    def state_info(self, batch_size: int = 0) -> List[Dict[str, Any]]:
        # The frame size is not known before data arrives: 0 marks the free axes.
        shape = (batch_size, self.hidden_channels, 0, 0)
        return [{"shape": shape, "__layout__": "NCHW"}, {"shape": shape, "__layout__": "NCHW"}]

    def _alias(self) -> str:
        return "conv_lstm"

    def begin_state_like(self, F: Any, frames: Any) -> List[Any]:
        """Zero ``[h, c]`` ``(N, hidden_channels, H, W)`` for a frame batch ``(N, C, H, W)``."""
        zero = F.expand_dims(F.sum(F.zeros_like(frames), axis=1), axis=1)
        state = F.broadcast_to(zero, shape=(0, self.hidden_channels, 0, 0))
        # Two distinct symbols: a loop's states must have unique names.
        return [state, F.zeros_like(state)]

    def recur(self, F: Any, projected: Any, states: List[Any]) -> Tuple[Any, List[Any]]:
        """One step from the input's gate pre-activations ``W_x * X_t + b`` (``None`` without input)."""
        h, c = states
        gates = self.h2h(h) if projected is None else projected + self.h2h(h)
        n = self.hidden_channels
        # One sigmoid for the three gates, one tanh for the candidate: fewer operators per step.
        sig = F.Activation(F.slice_axis(gates, axis=1, begin=0, end=3 * n), act_type="sigmoid")
        g = F.Activation(F.slice_axis(gates, axis=1, begin=3 * n, end=4 * n), act_type="tanh")
        i, f, o = F.split(sig, num_outputs=3, axis=1)
        c = f * c + i * g
        h = o * F.Activation(c, act_type="tanh")
        return h, [h, c]

    def project(self, frames: Any) -> Any:
        """Input gate pre-activations ``W_x * X + b`` of a batch of frames (``None`` without input)."""
        return self.i2h(frames) if self.in_channels else None

    def hybrid_forward(self, F, inputs, states):
        return self.recur(F, self.project(inputs), states)

    def unroll_sequence(self, F: Any, x: Any, steps: Optional[int] = None,
                        states: Optional[List[Any]] = None) -> Tuple[Any, Any, List[Any]]:
        """Run over a video ``(N, T, C, H, W)``: the input convolution of all frames at once, then the
        state recurrence unrolled step by step. ``steps = T`` is read from an NDArray; a symbol needs it.

        Returns ``(hidden states (N, T, hid, H, W), cells (N, T, hid, H, W), final [h, c])``.
        """
        if steps is None:
            if not isinstance(x, mx.nd.NDArray):
                raise ValueError("unroll_sequence needs steps (the sequence length) for a symbol")
            steps = x.shape[1]
        if states is None:
            states = self.begin_state_like(F, F.squeeze(F.slice_axis(x, axis=1, begin=0, end=1), axis=1))
        hidden, cells = [], []
        for proj_t in _unstack(F, _sequences(F, self.project(_frames(F, x)), x), steps):
            h, states = self.recur(F, proj_t, states)
            hidden.append(h)
            cells.append(states[1])
        return F.stack(*hidden, axis=1), F.stack(*cells, axis=1), states


def _example_video(rng: np.random.RandomState, frames: int = 4, side: int = 6) -> np.ndarray:
    # A bright 2x2 square moving one pixel right per frame.
    x = np.zeros((8, frames, 1, side, side), np.float32)
    for n in range(8):
        r, c0 = rng.randint(0, side - 1), rng.randint(0, 2)
        for t in range(frames):
            c = min(c0 + t, side - 2)
            x[n, t, 0, r:r + 2, c:c + 2] = 1.0
    return x


def _example_networks(rng: np.random.RandomState):
    x = _example_video(rng, frames=5)
    return (dict(in_channels=1, hidden_channels=4, kernel_size=3, patch_size=2, loss="mse", learning_rate=0.01),
            x[:, :-1], x[:, 1:])


def _example_encdec(rng: np.random.RandomState):
    x = _example_video(rng, frames=5)
    return (dict(in_channels=1, hidden_channels=4, kernel_size=3, patch_size=2, learning_rate=0.01),
            x[:, :-1], x[:, 1:])


def _example_stae(rng: np.random.RandomState):
    # 8x8 frames and two CPU contexts: the set-up on which MXNet's symbolic loop segfaulted (see the
    # module docstring).
    x = _example_video(rng, frames=4, side=8)
    return dict(in_channels=1, channels=[4, 4], hidden_channels=4, learning_rate=0.01), x, None


class _VideoModel(ObservableModel):
    """What the video models share: inputs ``(N, T, C, H, W)`` with any ``T, H, W`` (``H`` and ``W``
    divisible by ``frame_multiple``), and the patch transform of Shi et al.: each frame cut into
    non-overlapping ``p x p`` patches stacked as channels (``space_to_depth``), so the recurrence runs
    on a ``p`` times smaller grid with ``C p^2`` channels."""

    patch_size: int = 1
    frame_multiple: int = 1
    # The sequence length the current hybridized graph is unrolled for, and the graphs built for
    # other lengths (sequence length -> Gluon's cached graph, operator and arguments).
    _graph_steps: Optional[int] = None
    _graphs: Optional[Dict[int, Tuple[Any, Any, Any]]] = None

    #: ``(None, C, None, None)``: any sequence length and frame size, ``C`` channels.
    input_shape: Tuple[Optional[int], ...]

    def forward(self, x: Any, *args: Any) -> Any:
        if isinstance(x, mx.nd.NDArray):
            self._use_graph(int(x.shape[1]))
        return super().forward(x, *args)

    def _use_graph(self, steps: int) -> None:
        """Make the graph unrolled over ``steps`` the current one (built on the next hybridized call
        when it does not exist yet), keeping the current one for later."""
        if steps == self._graph_steps:
            return
        graphs = self._graphs if self._graphs is not None else {}
        current = cached_graph(self)
        if self._graph_steps is not None and current[0]:
            graphs[self._graph_steps] = current
        set_cached_graph(self, graphs.pop(steps, ((), None, [])))
        self._graphs, self._graph_steps = graphs, steps

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Hybridize (or not); graphs kept for other sequence lengths were compiled with the old
        settings and are dropped."""
        self._graphs = None
        super().hybridize(active, **kwargs)

    def _steps(self, F: Any, x: Any) -> int:
        """``T`` of a video batch: read from the array, or (building a graph) the length it is for."""
        if F is mx.nd:
            return int(x.shape[1])
        if self._graph_steps is None:
            raise ValueError(f"{type(self).__name__} unrolls its graph over the sequence length: call it "
                             f"with an NDArray (N, T, C, H, W) first, or export(..., steps=T)")
        return self._graph_steps

    def example_input(self, batch_size: int = 2) -> mx.nd.NDArray:
        """A zero batch ``(batch_size, T, C, s, s)``: ``T`` the last sequence length the model ran on
        (else 4), ``s`` the smallest frame side the model takes that is at least 4."""
        side = self.frame_multiple * max(1, -(-4 // self.frame_multiple))
        return mx.nd.zeros((batch_size, self._graph_steps or 4, self.input_shape[1], side, side), ctx=self.ctx[0])

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True,
               steps: Optional[int] = None) -> Tuple[str, str]:
        """Write the hybridized inference graph (see `ObservableModel.export`). The graph is unrolled
        over ``steps`` frames (default: the sequence length of the model's last call, else 4); the
        exported model takes sequences of that length only."""
        if steps is not None:
            if not isinstance(steps, (int, np.integer)) or steps < 1:
                raise ValueError(f"steps must be a positive integer, got {steps!r}")
            self._use_graph(int(steps))
        return super().export(path, epoch, remove_amp_cast=remove_amp_cast)

    def _to_patches(self, F: Any, frames: Any) -> Any:
        return frames if self.patch_size == 1 else F.space_to_depth(frames, block_size=self.patch_size)

    def _from_patches(self, F: Any, frames: Any) -> Any:
        return frames if self.patch_size == 1 else F.depth_to_space(frames, block_size=self.patch_size)

    def _check_frame_size(self, h: int, w: int) -> None:
        m = self.frame_multiple
        if h % m or w % m:
            raise ValueError(f"frames of {h}x{w} pixels: height and width must be divisible by {m} "
                             f"(the model's patch size / downsampling)")

    def _as_input(self, observed_arr: Any, name: str = "observed_arr") -> mx.nd.NDArray:
        x = super()._as_input(observed_arr, name)
        self._check_frame_size(*x.shape[3:])
        return x

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        self._check_frame_size(*data.sample_shape[2:])

    def _target(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        return y if y is not None else x

    def compute_loss(self, x: mx.nd.NDArray, y: Optional[mx.nd.NDArray]) -> mx.nd.NDArray:
        return self.loss(self(x), self._target(x, y))


@register_model("conv_lstm_networks", example=_example_networks)
class ConvLSTMNetworks(_VideoModel):
    """Stacked `ConvLSTMCell` layers with a convolutional read-out (Shi et al. 2015).

    Each step's output frame is a ``1x1`` convolution of the hidden states of all layers
    (concatenated, as in the paper), through ``output_activation``. ``output="sequence"`` gives one
    frame per input step (e.g. next-frame prediction with targets ``x[:, 1:]`` for inputs
    ``x[:, :-1]``), ``output="last"`` only the frame after the last step. Trained with squared error.

    Args:
        in_channels: channels ``C`` of the input frames.
        hidden_channels: channels of each ConvLSTM layer (an int for one layer, or a list).
        kernel_size: odd convolution kernel side of the cells.
        out_channels: channels of the output frames (default ``in_channels``).
        output: ``"sequence"`` or ``"last"``.
        patch_size: side ``p`` of the patches stacked as channels (Shi et al. use 4 on 64x64 Moving
            MNIST); ``H`` and ``W`` must be divisible by it; 1 = the raw frames.
        output_activation: ``"sigmoid"`` (frames in [0, 1]), ``"identity"`` or ``"tanh"``.
        loss: ``"bce"`` (cross-entropy per pixel, as the paper, needs sigmoid outputs) or ``"mse"``.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, C, H, W)``, any ``N, T`` and ``H, W`` divisible by ``patch_size``; output
        ``(N, T, out_channels, H, W)`` or ``(N, out_channels, H, W)``; ``extract_feature_points(x)``:
        the last layer's final hidden state ``(N, hidden_channels[-1], H / p, W / p)``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator, moving_digit_sprites
        >>> videos = moving_digit_sprites(16, 6, canvas=12, seed=0)
        >>> net = ConvLSTMNetworks(in_channels=1, hidden_channels=[4], patch_size=2, seed=0)
        >>> net = net.learn(ArrayIterator(videos[:, :-1], videos[:, 1:], batch_size=8, epochs=2), verbose=False)
        >>> net.inference(videos[:, :-1]).shape
        (16, 5, 1, 12, 12)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: Union[int, Sequence[int]] = (16,),
        *,
        kernel_size: int = 5,
        out_channels: Optional[int] = None,
        output: str = "sequence",
        patch_size: int = 4,
        output_activation: str = "sigmoid",
        loss: str = "bce",
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        chans = _channels(hidden_channels)
        if output not in ("sequence", "last"):
            raise ValueError(f"output must be 'sequence' or 'last', got {output!r}")
        self.output, self.output_activation = output, _check_activation(output_activation)
        self.out_channels = int(out_channels or in_channels)
        self.input_shape = (None, int(in_channels), None, None)
        self.patch_size = self.frame_multiple = _check_patch(patch_size)
        p2 = self.patch_size ** 2
        with self.name_scope():
            self.cells = nn.HybridSequential()
            for c_in, c_out in zip([int(in_channels) * p2] + chans[:-1], chans):
                self.cells.add(ConvLSTMCell(c_in, c_out, kernel_size))
            self.readout = nn.Conv2D(self.out_channels * p2, 1, in_channels=sum(chans))
            self.loss = _check_loss(loss, output_activation)

    def _states(self, F: Any, x: Any) -> List[Any]:
        """Hidden-state sequences of every layer, each ``(N, T, hid, H / p, W / p)``."""
        steps = self._steps(F, x)
        x = _sequences(F, self._to_patches(F, _frames(F, x)), x)
        seqs = []
        for cell in self.cells:
            x, _, _ = cell.unroll_sequence(F, x, steps)
            seqs.append(x)
        return seqs

    def hybrid_forward(self, F, x):
        seqs = self._states(F, x)
        if self.output == "last":
            last = [F.squeeze(F.slice_axis(s, axis=1, begin=-1, end=None), axis=1) for s in seqs]
            frame = self._from_patches(F, self.readout(F.concat(*last, dim=1)))
            return _activate(F, frame, self.output_activation)
        frames = self._from_patches(F, self.readout(_frames(F, F.concat(*seqs, dim=2))))
        return _sequences(F, _activate(F, frames, self.output_activation), x)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 256) -> Any:
        """Final hidden state of the last layer, ``(N, hidden_channels[-1], H / p, W / p)``."""
        return self._batched(lambda x: self._states(mx.nd, x)[-1][:, -1], observed_arr, batch_size)

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        t, _, h, w = data.sample_shape
        expected = (t, self.out_channels, h, w) if self.output == "sequence" else (self.out_channels, h, w)
        for name, (_, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is not None:
                check_feature_shape(tuple(y.shape[1:]), expected, name)


@register_model("conv_lstm_encoder_decoder", example=_example_encdec)
class ConvLSTMEncoderDecoder(_VideoModel):
    """ConvLSTM encoding-forecasting network (Shi et al. 2015) for next-frame prediction and video
    reconstruction.

    The encoder (stacked `ConvLSTMCell`) reads the frames; the forecaster, ConvLSTM cells *without
    input* driven only by states copied from the encoder, produces frames through a ``1x1``
    convolution of its hidden states (all layers concatenated), as in the paper.

    - ``task="predict"``: after every input step ``t`` the forecaster takes one step from the
      encoder's state and predicts frame ``t + 1`` (all steps in parallel). Train with inputs
      ``x[:, :-1]`` and targets ``x[:, 1:]``.
    - ``task="reconstruct"``: the forecaster starts from the encoder's *final* state (the code) and
      unrolls ``T`` steps, reconstructing the sequence backwards (Srivastava et al. 2015); the output
      is returned in the original order. Targets: ``y`` when given, else the input.

    Args:
        in_channels: channels ``C`` of the frames.
        hidden_channels: channels of each encoder (and forecaster) layer, an int or a list.
        kernel_size: odd convolution kernel side of the cells.
        task: ``"predict"`` or ``"reconstruct"``.
        patch_size: side ``p`` of the patches stacked as channels (Shi et al. use 4 on 64x64 Moving
            MNIST); ``H`` and ``W`` must be divisible by it; 1 = the raw frames.
        output_activation: ``"sigmoid"`` (frames in [0, 1]), ``"identity"`` or ``"tanh"``.
        loss: ``"bce"`` (cross-entropy per pixel, as the paper, needs sigmoid outputs) or ``"mse"``.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, C, H, W)``, any ``N, T`` and ``H, W`` divisible by ``patch_size``;
        ``inference(x)``: ``(N, T, C, H, W)`` (next frames or the reconstruction);
        ``extract_feature_points(x)``: the encoder's final hidden state, last layer,
        ``(N, hidden_channels[-1], H / p, W / p)``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator, moving_digit_sprites
        >>> videos = moving_digit_sprites(16, 6, canvas=12, seed=0)
        >>> conv = ConvLSTMEncoderDecoder(in_channels=1, hidden_channels=4, patch_size=2, seed=0)
        >>> conv = conv.learn(ArrayIterator(videos[:, :-1], videos[:, 1:], batch_size=8, epochs=2), verbose=False)
        >>> conv.inference(videos[:, :-1]).shape           # predicted next frames
        (16, 5, 1, 12, 12)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: Union[int, Sequence[int]] = 16,
        *,
        kernel_size: int = 5,
        task: str = "predict",
        patch_size: int = 4,
        output_activation: str = "sigmoid",
        loss: str = "bce",
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        chans = _channels(hidden_channels)
        if task not in ("predict", "reconstruct"):
            raise ValueError(f"task must be 'predict' or 'reconstruct', got {task!r}")
        self.task, self.output_activation = task, _check_activation(output_activation)
        self.input_shape = (None, int(in_channels), None, None)
        self.patch_size = self.frame_multiple = _check_patch(patch_size)
        p2 = self.patch_size ** 2
        with self.name_scope():
            self.encoder = nn.HybridSequential()
            self.forecaster = nn.HybridSequential()
            for c_in, c_out in zip([int(in_channels) * p2] + chans[:-1], chans):
                self.encoder.add(ConvLSTMCell(c_in, c_out, kernel_size))
                self.forecaster.add(ConvLSTMCell(0, c_out, kernel_size))
            self.readout = nn.Conv2D(int(in_channels) * p2, 1, in_channels=sum(chans))
            self.loss = _check_loss(loss, output_activation)

    def _encode(self, F: Any, x: Any) -> Tuple[List[Any], List[Any], List[List[Any]]]:
        steps = self._steps(F, x)
        x = _sequences(F, self._to_patches(F, _frames(F, x)), x)
        hs, cs, finals = [], [], []
        for cell in self.encoder:
            x, c, final = cell.unroll_sequence(F, x, steps)
            hs.append(x)
            cs.append(c)
            finals.append(final)
        return hs, cs, finals

    def _read(self, F: Any, hidden: List[Any]) -> Any:
        frames = self._from_patches(F, self.readout(F.concat(*hidden, dim=1)))
        return _activate(F, frames, self.output_activation)

    def hybrid_forward(self, F, x):
        hs, cs, finals = self._encode(F, x)
        if self.task == "predict":
            # One forecaster step from the encoder's state after every input step, all at once.
            out = [cell.recur(F, None, [_frames(F, h), _frames(F, c)])[0]
                   for cell, h, c in zip(self.forecaster, hs, cs)]
            return _sequences(F, self._read(F, out), x)

        # The forecaster unrolls from the code; its hidden states of all steps are read out at once.
        states, steps = [list(final) for final in finals], []
        for _ in range(self._steps(F, x)):
            for i, cell in enumerate(self.forecaster):
                _, states[i] = cell.recur(F, None, states[i])
            steps.append(F.concat(*[st[0] for st in states], dim=1))
        hidden = F.stack(*reversed(steps), axis=1)            # back in the input's order
        return _sequences(F, self._read(F, [_frames(F, hidden)]), x)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 256) -> Any:
        """The encoder's final hidden state of the last layer, ``(N, hidden_channels[-1], H / p, W / p)``."""
        return self._batched(lambda x: self._encode(mx.nd, x)[2][-1][0], observed_arr, batch_size)

    def check_data(self, data: IteratableData) -> None:
        super().check_data(data)
        x_shape = data.sample_shape
        for name, (_, y) in (("y", data.training_arrays()), ("test y", data.test_arrays())):
            if y is not None:
                check_feature_shape(tuple(y.shape[1:]), x_shape, name)


@register_model("spatio_temporal_autoencoder", example=_example_stae)
class SpatioTemporalAutoEncoder(_VideoModel):
    """Spatio-temporal auto-encoder for video anomaly detection (Baccouche et al. 2012; Chong & Tay
    2017, "Abnormal Event Detection in Videos using Spatiotemporal Autoencoder").

    Each frame goes through a convolutional encoder (stride-2 ``3x3`` convolutions with ReLU), a
    ConvLSTM encoder and a ConvLSTM decoder model the sequence of feature maps over time, and a
    transposed-convolution decoder (``4x4``, stride 2) turns each step back into a frame. Trained to
    reconstruct the input sequence; frames unlike the training videos reconstruct badly, so the
    per-frame reconstruction error is an anomaly score (`anomaly_score`), and
    ``regularity_score`` maps it to [0, 1] (Hasan et al. 2016).

    Args:
        in_channels: channels ``C`` of the frames.
        channels: channels of the spatial encoder's convolutions (each halves ``H`` and ``W``).
        hidden_channels: channels of the ConvLSTM encoder (the bottleneck); the ConvLSTM decoder has
            ``channels[-1]``.
        kernel_size: odd kernel side of the ConvLSTM cells.
        output_activation: ``"sigmoid"`` (frames in [0, 1]), ``"identity"`` or ``"tanh"``.
        ctx, seed, initializer, optimizer, learning_rate, optimizer_params: see `ObservableModel`.

    Shapes:
        input ``(N, T, C, H, W)`` with ``H`` and ``W`` divisible by ``2 ** len(channels)``, any
        ``N, T``; ``inference(x)``: reconstruction of the same shape; ``anomaly_score(x)``: per-frame
        mean squared error ``(N, T)``; ``extract_feature_points(x)``: the ConvLSTM encoder's hidden
        states ``(N, T, hidden_channels, H / 2**L, W / 2**L)``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator, moving_digit_sprites
        >>> videos = moving_digit_sprites(8, 4, canvas=16, seed=0)
        >>> stae = SpatioTemporalAutoEncoder(in_channels=1, channels=(4, 8), hidden_channels=4, seed=0)
        >>> stae = stae.learn(ArrayIterator(videos, batch_size=4, epochs=1), verbose=False)
        >>> stae.anomaly_score(videos).shape                       # one score per frame
        (8, 4)
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (8, 16),
        hidden_channels: int = 8,
        *,
        kernel_size: int = 3,
        output_activation: str = "sigmoid",
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(ctx=ctx, seed=seed, initializer=initializer, optimizer=optimizer,
                         learning_rate=learning_rate, optimizer_params=optimizer_params)
        chans = _channels(channels)
        if in_channels < 1 or hidden_channels < 1:
            raise ValueError(f"in_channels and hidden_channels must be positive, got {in_channels}, {hidden_channels}")
        self.output_activation = _check_activation(output_activation)
        self.input_shape = (None, int(in_channels), None, None)
        self.frame_multiple = 2 ** len(chans)
        with self.name_scope():
            self.spatial_encoder = nn.HybridSequential()
            for c_in, c_out in zip([int(in_channels)] + chans[:-1], chans):
                self.spatial_encoder.add(nn.Conv2D(c_out, 3, strides=2, padding=1, in_channels=c_in,
                                                   activation="relu"))
            self.temporal_encoder = ConvLSTMCell(chans[-1], int(hidden_channels), kernel_size)
            self.temporal_decoder = ConvLSTMCell(int(hidden_channels), chans[-1], kernel_size)
            self.spatial_decoder = nn.HybridSequential()
            outs = list(reversed([int(in_channels)] + chans[:-1]))
            for i, (c_in, c_out) in enumerate(zip(reversed(chans), outs)):
                last = i == len(chans) - 1
                # Not Gluon's Conv2DTranspose: oneDNN's Deconvolution fails for some channel counts
                # (see accelbrainbase.models.convolution). The parameters keep its names and shapes.
                self.spatial_decoder.add(TransposedConv2D(c_out, 4, strides=2, padding=1, in_channels=c_in,
                                                          activation=None if last else "relu"))
            self.loss = L2NormLoss()

    def hybrid_forward(self, F, x):
        steps = self._steps(F, x)
        features = _sequences(F, self.spatial_encoder(_frames(F, x)), x)
        code, _, _ = self.temporal_encoder.unroll_sequence(F, features, steps)
        decoded, _, _ = self.temporal_decoder.unroll_sequence(F, code, steps)
        frames = _activate(F, self.spatial_decoder(_frames(F, decoded)), self.output_activation)
        return _sequences(F, frames, x)

    def extract_feature_points(self, observed_arr: Any, batch_size: int = 256) -> Any:
        """The ConvLSTM encoder's hidden states, ``(N, T, hidden_channels, H / 2**L, W / 2**L)``."""
        def encode(x: mx.nd.NDArray) -> mx.nd.NDArray:
            features = _sequences(mx.nd, self.spatial_encoder(_frames(mx.nd, x)), x)
            return self.temporal_encoder.unroll_sequence(mx.nd, features, x.shape[1])[0]

        return self._batched(encode, observed_arr, batch_size)

    def anomaly_score(self, observed_arr: Any, batch_size: int = 256) -> np.ndarray:
        """Per-frame reconstruction mean squared error, ``(N, T)`` (numpy)."""
        x = as_numpy(observed_arr, "observed_arr").astype(np.float32)
        recon = as_numpy(self.inference(x, batch_size))
        return ((recon - x) ** 2).reshape(x.shape[0], x.shape[1], -1).mean(axis=2)

    def regularity_score(self, observed_arr: Any, batch_size: int = 256) -> np.ndarray:
        """``1 - (e - min e) / (max e - min e)`` per sequence over its frames (Hasan et al. 2016),
        ``(N, T)``: 1 = the most regular frame of the sequence, 0 = the least."""
        e = self.anomaly_score(observed_arr, batch_size)
        low, high = e.min(axis=1, keepdims=True), e.max(axis=1, keepdims=True)
        return 1.0 - (e - low) / np.maximum(high - low, 1e-12)
