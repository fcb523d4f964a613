"""Shape Boltzmann machine (Eslami, Heess, Williams & Winn 2014, "The Shape Boltzmann Machine: a
Strong Model of Object Shape", IJCV 107(2); CVPR 2012).

A two-hidden-layer deep Boltzmann machine over binary images (silhouettes) whose first hidden
layer sees the image through four overlapping patches with *one* set of weights:

    E(v, h1, h2) = - b0.v - b1.h1 - b2.h2 - sum_{p=1..4} h1_p.W1 v_p - h2.W2 h1

``v_p`` is patch ``p`` of the image (top-left, top-right, bottom-left, bottom-right), ``h1_p`` the
block of ``h1`` attached to it, ``W1`` ``(n1, P)`` the weights every patch shares and ``W2``
``(n2, 4 n1)`` full. Local receptive fields keep the parameter count small (the model learns from
few images), the overlap stitches the patches together, and ``h2`` carries the global shape.

The model *is* a `DeepBoltzmannMachines` (a subclass) with the structured first-layer weight
``W1_full = [W1 on patch 1; ...; W1 on patch 4]`` ``(4 n1, H W)``: its weight-expansion hook
(`ShapeBoltzmannMachine.expand_weights`) builds that matrix from the shared ``W1`` (one ``take``)
inside every graph, so the DBM's own mean field, block Gibbs sweeps, training step, persistent
chains, AIS and variational bound run unchanged; the training gradient of ``W1_full`` is folded
back into the shared weights by summing its four patch blocks (`fold_weight_gradients`, the chain
rule of weight tying). This module adds the patch geometry, the patch-wise pre-training, and
inpainting and sampling of images.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..checks import check_array, check_unit_range
from ..context import CtxLike, derive_seed, seed_mxnet
from ..registry import register_model
from ..training import TaskProgress
from .boltzmann import DBMView, bernoulli, gibbs_sweep, mean_field
from .dbm import DeepBoltzmannMachines
from .rbm import RestrictedBoltzmannMachines

__all__ = ["ShapeBoltzmannMachine", "patch_geometry"]

logger = logging.getLogger("accelbrainbase")

#: the four patches, in the order of the blocks of ``h1``: (row half, column half).
PATCHES = ("top-left", "top-right", "bottom-left", "bottom-right")


def patch_geometry(height: int, width: int, filter_size: Union[None, int, Sequence[int]] = None,
                   overlap_n: Optional[int] = None) -> Tuple[int, int, int]:
    """``(patch_height, patch_width, overlap_n)`` of the four overlapping patches of an image.

    The top and bottom patches share ``overlap_n`` rows, the left and right ones ``overlap_n``
    columns, so ``2 * patch_height - overlap_n == height`` and ``2 * patch_width - overlap_n ==
    width``. Give ``overlap_n`` (the patch size follows), ``filter_size`` (the patch side, or
    ``(height, width)``; the overlap follows), both (they must agree) or neither (overlap 4).

    Example:
        >>> patch_geometry(32, 32, overlap_n=4)
        (18, 18, 4)
        >>> patch_geometry(32, 32, filter_size=20)
        (20, 20, 8)
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    if filter_size is not None:
        sizes = tuple(filter_size) if isinstance(filter_size, Iterable) else (filter_size, filter_size)
        if len(sizes) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes):
            raise ValueError(f"filter_size must be an integer or a pair (patch_height, patch_width), "
                             f"got {filter_size!r}")
        ph, pw = int(sizes[0]), int(sizes[1])
        overlaps = {2 * ph - height, 2 * pw - width}
        if len(overlaps) != 1:
            raise ValueError(f"filter_size {filter_size!r} gives {2 * ph - height} overlapping rows but "
                             f"{2 * pw - width} overlapping columns on a {height}x{width} image; they must be equal")
        derived = overlaps.pop()
        if not 0 <= derived < min(height, width) or ph > height or pw > width:
            raise ValueError(f"filter_size {filter_size!r} does not split a {height}x{width} image into four "
                             "overlapping patches: need height/2 <= patch_height <= height (same for width)")
        if overlap_n is not None and overlap_n != derived:
            raise ValueError(f"filter_size {filter_size!r} and overlap_n={overlap_n} disagree on a {height}x{width} "
                             f"image: patches of {ph}x{pw} overlap by {derived} (2 * patch - overlap = image side)")
        return ph, pw, derived
    overlap = 4 if overlap_n is None else overlap_n
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < min(height, width):
        raise ValueError(f"overlap_n must be an integer in 0..{min(height, width) - 1}, got {overlap_n!r}")
    if (height + overlap) % 2 or (width + overlap) % 2:
        raise ValueError(f"a {height}x{width} image cannot be split into two halves overlapping by {overlap} "
                         "rows/columns: height + overlap_n and width + overlap_n must be even")
    return (height + overlap) // 2, (width + overlap) // 2, int(overlap)


def _patch_indices(height: int, width: int, ph: int, pw: int) -> Tuple[np.ndarray, np.ndarray]:
    """``gather`` ``(4, P)``: the flat pixel index of each position of each patch (row-major), and
    ``expand`` ``(4, H W)``: the patch position of each pixel, or ``P`` outside the patch."""
    P = ph * pw
    gather = np.empty((4, P), dtype=np.int64)
    expand = np.full((4, height * width), P, dtype=np.int64)
    rows, cols = np.divmod(np.arange(P), pw)
    for p in range(4):
        r0 = 0 if p < 2 else height - ph
        c0 = 0 if p % 2 == 0 else width - pw
        gather[p] = (r0 + rows) * width + c0 + cols
        expand[p, gather[p]] = np.arange(P)
    return gather, expand


def _expand(F: Any, params: Mapping[str, Any]) -> Dict[str, Any]:
    """The parameters with the shared ``W1`` ``(n1, P)`` replaced by the DBM weight ``W1_full``
    ``(4 n1, H W)``: block ``p`` holds ``W1`` on the pixels of patch ``p`` and zeros elsewhere.

    ``expand_index`` ``(H W, 4)`` gives each pixel's position in each patch (``P`` outside it, a zero
    row). Rows are gathered (``take`` along axis 0 is ~20x faster than along axis 1 on CPU)."""
    w1t = F.transpose(params["weight1"])                                        # (P, n1)
    padded = F.concat(w1t, F.zeros_like(F.slice_axis(w1t, axis=0, begin=0, end=1)), dim=0)
    full_t = F.reshape(F.take(padded, params["expand_index"], axis=0), shape=(0, -1))  # (HW, 4 n1)
    return dict(params, weight1=F.transpose(full_t))


def _fold(F: Any, grad_full: Any, fold_index: Any) -> Any:
    """The gradient of the shared ``W1`` from that of ``W1_full``: the sum of its four patch blocks.
    ``fold_index`` ``(4 P,)``: row ``4 j + p`` of ``grad_full^T`` seen as ``(4 H W, n1)`` is the
    gradient of block ``p`` at pixel ``j``; the index lists patch ``p``'s pixels for each ``p``."""
    rows = F.reshape(F.transpose(grad_full), shape=(-1, -4, 4, -1))            # (HW, 4, n1)
    rows = F.reshape(rows, shape=(-3, -2))                                     # (4 HW, n1)
    picked = F.reshape(F.take(rows, fold_index, axis=0), shape=(-4, 4, -1, -2))  # (4, P, n1)
    return F.transpose(F.sum(picked, axis=0))                                  # (n1, P)


class _ClampedMeanField(DBMView):
    """Mean-field inference of the unknown pixels: ``v_known`` clamped, the unknown pixels, ``h1``
    and ``h2`` updated in turn. Each half-sweep (``h1`` given ``[v, h2]``, then ``[v_unknown, h2]``
    given ``h1``) is an exact coordinate-ascent step of the variational bound with the known pixels
    observed. Starts from the unknown pixels at ``start``.

    Inputs: ``known`` ``(B, V)`` (0 at unknown pixels), ``unknown`` ``(B, V)`` (1 = unknown),
    ``start`` ``(B, V)``. Returns ``(v, mu_1, mu_2)``.
    """

    def __init__(self, sbm: "ShapeBoltzmannMachine", steps: int) -> None:
        super().__init__(sbm)
        self.steps = steps

    def hybrid_forward(self, F, known, unknown, start, **params):
        lay = self.layout
        c = self.coupling(F, params)
        v = known + unknown * start
        odd, even_hidden = mean_field(F, v, c, lay, 1)
        for _ in range(self.steps):
            odd = F.sigmoid(F.FullyConnected(F.concat(v, even_hidden, dim=1), c.w_oe, c.b_o, num_hidden=lay.n_odd))
            p_even = F.sigmoid(F.FullyConnected(odd, c.w_eo, c.b_e, num_hidden=lay.n_even))
            v = known + unknown * F.slice_axis(p_even, axis=1, begin=0, end=lay.n_visible)
            even_hidden = F.slice_axis(p_even, axis=1, begin=lay.n_visible, end=None)
        return v, odd, even_hidden


class _ClampedGibbs(DBMView):
    """``sweeps`` block Gibbs sweeps with the known pixels clamped (nothing clamped when
    ``unknown`` is all ones: plain sampling). Inputs: the even vector ``[v, h2]`` ``(B, E)``,
    ``known`` and ``unknown`` ``(B, V)``. Returns the new even vector and the sum over the sweeps
    of ``p(v = 1 | h1)`` (the Rao-Blackwellised estimate of the pixel marginals)."""

    def __init__(self, sbm: "ShapeBoltzmannMachine", sweeps: int) -> None:
        super().__init__(sbm)
        self.sweeps = sweeps

    def hybrid_forward(self, F, even, known, unknown, **params):
        lay = self.layout
        c = self.coupling(F, params)
        total = None
        for _ in range(self.sweeps):
            _, even, p_even = gibbs_sweep(F, even, c, lay)
            v = known + unknown * F.slice_axis(even, axis=1, begin=0, end=lay.n_visible)
            even = F.concat(v, F.slice_axis(even, axis=1, begin=lay.n_visible, end=None), dim=1)
            p_v = F.slice_axis(p_even, axis=1, begin=0, end=lay.n_visible)
            total = p_v if total is None else total + p_v
        return even, total


def _example(rng: np.random.RandomState):
    # 8x8 binary images, each a filled rectangle at a random place: 5x5 patches overlapping by 2.
    x = np.zeros((40, 8, 8), dtype=np.float32)
    for image in x:
        h, w = rng.randint(3, 6, 2)
        r, c = rng.randint(0, 9 - h), rng.randint(0, 9 - w)
        image[r:r + h, c:c + w] = 1.0
    return dict(height=8, width=8, overlap_n=2, patch_hidden_dim=4, top_hidden_dim=4, pretrain_epochs=10,
                pretrain_batch_size=10, learning_rate=0.05, fantasy_particles=20), x, None


@register_model("shape_bm", example=_example)
class ShapeBoltzmannMachine(DeepBoltzmannMachines):
    """Shape Boltzmann machine: a two-hidden-layer DBM for binary shape images whose first hidden
    layer is split over four overlapping patches sharing one set of weights (Eslami et al. 2014).

    **Patch geometry.** The ``height x width`` image is cut into four patches: top-left,
    top-right, bottom-left, bottom-right (that order everywhere). Each is ``filter_size`` pixels
    (``patch_height x patch_width``); the top and bottom patches share ``overlap_n`` rows, the left
    and right ones ``overlap_n`` columns, so ``2 * patch_height - overlap_n = height`` (same for the
    width) and the central ``overlap_n x overlap_n`` square lies in all four patches. Give
    ``overlap_n`` or ``filter_size`` (or both, consistent; see `patch_geometry`). A 32x32 image with
    ``overlap_n=4`` has 18x18 patches.

    **Units.** ``v`` (``height * width`` Bernoulli pixels, row-major), ``h1`` = four blocks of
    ``patch_hidden_dim`` units (block ``p`` connected only to patch ``p``, with the weights ``W1``
    ``(patch_hidden_dim, patch_height * patch_width)`` shared by the four blocks), ``h2``
    (``top_hidden_dim`` units, fully connected to ``h1`` by ``W2``). Biases are per unit: ``b0`` per
    pixel, ``b1`` per unit of each block, ``b2``. Parameters: ``weight1``, ``weight2``,
    ``bias0..2`` (as `DeepBoltzmannMachines`, ``weight1`` being the shared patch weights), plus
    ``expand_index``, a constant index array holding the geometry.

    Training runs, like `DeepBoltzmannMachines` (whose subclass it is):

    1. **Layer-wise pre-training** in `prepare` (``pretrain_epochs`` > 0, once; a loaded or resumed
       model is not pre-trained again): a `RestrictedBoltzmannMachines`
       ``P - patch_hidden_dim`` learns on the four patches of every image (weight sharing makes the
       patches samples of one RBM) with the doubled bottom-up input of DBM pre-training
       (``up_scale=2``); a second RBM ``4 patch_hidden_dim - top_hidden_dim`` with doubled top-down
       input (``down_scale=2``) learns on the doubled up-pass probabilities
       ``sigm(2 W1_full v + b1)``. The DBM takes their weights, ``b0`` = the patch RBM's visible
       bias averaged over the patches covering each pixel, ``b1`` = the mean of both RBMs' biases
       for ``h1``, ``b2`` = the top RBM's hidden bias (the composition rule of the DBM).
    2. **Joint training** through `training.fit`: the DBM's update (mean-field positive phase,
       ``fantasy_particles`` persistent Gibbs chains for the negative phase, ``gibbs_steps`` sweeps
       per update), with the gradient of the tied weights summed over the four patches. Tracked
       loss: squared error per pixel of the mean-field reconstruction, train and test. The
       persistent chains are part of the model's state: a resumed or reloaded run equals the
       uninterrupted one.

    The DBM's likelihood tools apply as they are (`log_partition`, `log_likelihood` with
    ``method="ais"``, `variational_lower_bound`, `encode` / `decode`), on the expanded weights.

    Args:
        height, width: image size.
        filter_size: patch side or ``(patch_height, patch_width)`` (``None``: from ``overlap_n``).
        overlap_n: rows/columns shared by neighbouring patches (``None``: from ``filter_size``, else 4).
        patch_hidden_dim: hidden units per patch (``h1`` has four times as many).
        top_hidden_dim: units of ``h2``.
        pretrain_epochs, pretrain_learning_rate, pretrain_k, pretrain_batch_size: the pre-training
            RBMs (``pretrain_batch_size=None``: the training data's batch size).
        mean_field_steps: mean-field sweeps of the positive phase, `inference` and
            `extract_feature_points`.
        gibbs_steps, fantasy_particles: negative phase of joint training.
        learning_rate, momentum, weight_decay, optimizer, optimizer_params: joint training (SGD with
            momentum by default; weight decay on the weights only).
        ctx, seed, initializer: see `ObservableModel` (default initializer N(0, 0.01^2)).

    Shapes:
        ``x`` ``(N, height, width)`` with values in [0, 1]; ``inference(x)`` -> mean-field
        reconstruction ``(N, height, width)``; ``extract_feature_points(x, layer)`` ->
        ``(N, 4 * patch_hidden_dim)`` (``layer=1``, blocks in patch order) or
        ``(N, top_hidden_dim)`` (``layer=2``, the default); ``inpaint(images, mask)`` ->
        ``(N, height, width)``; ``sample(n)`` -> ``(n, height, width)``.

    Example:
        >>> from accelbrainbase.data import ArrayIterator
        >>> x = np.zeros((30, 8, 8), dtype="float32")
        >>> for i, image in enumerate(x):
        ...     image[i % 3:i % 3 + 5, 1:6] = 1.0
        >>> sbm = ShapeBoltzmannMachine(height=8, width=8, overlap_n=2, patch_hidden_dim=8,
        ...                             top_hidden_dim=4, pretrain_epochs=5, seed=0)
        >>> sbm = sbm.learn(ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False)
        >>> mask = np.zeros((8, 8), dtype=bool)
        >>> mask[4:, 4:] = True                                   # the bottom-right quarter is unknown
        >>> sbm.inpaint(x[:2], mask, steps=20).shape
        (2, 8, 8)
        >>> sbm.sample(3, steps=10).shape
        (3, 8, 8)
    """

    def __init__(
        self,
        height: int = 32,
        width: int = 32,
        *,
        filter_size: Union[None, int, Sequence[int]] = None,
        overlap_n: Optional[int] = None,
        patch_hidden_dim: int = 100,
        top_hidden_dim: int = 50,
        pretrain_epochs: int = 10,
        pretrain_learning_rate: float = 0.05,
        pretrain_k: int = 1,
        pretrain_batch_size: Optional[int] = None,
        mean_field_steps: int = 10,
        gibbs_steps: int = 2,
        fantasy_particles: int = 50,
        learning_rate: float = 0.02,
        momentum: float = 0.5,
        weight_decay: float = 1e-4,
        ctx: CtxLike = None,
        seed: Optional[int] = None,
        initializer: Optional[mx.init.Initializer] = None,
        optimizer: str = "sgd",
        optimizer_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        ph, pw, overlap = patch_geometry(height, width, filter_size, overlap_n)
        for name, value in (("patch_hidden_dim", patch_hidden_dim), ("top_hidden_dim", top_hidden_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name, setting in (("pretrain_epochs", pretrain_epochs), ("pretrain_k", pretrain_k),
                              ("mean_field_steps", mean_field_steps), ("gibbs_steps", gibbs_steps),
                              ("fantasy_particles", fantasy_particles), ("pretrain_batch_size", pretrain_batch_size)):
            if isinstance(setting, bool):
                raise ValueError(f"{name} must be an integer, got {setting!r}")
        # The geometry first: the DBM's constructor asks `stored_weight_shape` for W1's shape.
        self.height, self.width = int(height), int(width)
        self.patch_height, self.patch_width, self.overlap_n = ph, pw, overlap
        self.patch_hidden_dim, self.top_hidden_dim = int(patch_hidden_dim), int(top_hidden_dim)
        super().__init__([self.height * self.width, 4 * self.patch_hidden_dim, self.top_hidden_dim],
                         pretrain_epochs=pretrain_epochs, pretrain_learning_rate=pretrain_learning_rate,
                         pretrain_k=pretrain_k, pretrain_batch_size=pretrain_batch_size,
                         mean_field_steps=mean_field_steps, gibbs_steps=gibbs_steps,
                         fantasy_particles=fantasy_particles, learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, ctx=ctx, seed=seed, initializer=initializer,
                         optimizer=optimizer, optimizer_params=optimizer_params)
        self.filter_size = (ph, pw)
        self.input_shape = (self.height, self.width)
        self._gather, expand = _patch_indices(self.height, self.width, ph, pw)
        # For `_fold`: row 4 j + p of the (4 HW, n1) view of W1_full's gradient, for each pixel j of patch p.
        self._fold_index = (4 * self._gather + np.arange(4)[:, None]).reshape(-1)
        # The geometry as a constant of the graphs (saved with the model, never trained).
        self.expand_index = self.params.get_constant("expand_index", mx.nd.array(expand.T, dtype=np.float32))

    # ------------------------------------------------------------------ the DBM's hooks
    def stored_weight_shape(self, layer: int) -> Tuple[int, ...]:
        """``W1`` is stored as the shared patch weights ``(patch_hidden_dim, patch pixels)``."""
        if layer == 1:
            return (self.patch_hidden_dim, self.patch_height * self.patch_width)
        return super().stored_weight_shape(layer)

    def graph_parameters(self, kind: str = "inference") -> Dict[str, gluon.Parameter]:
        """The DBM's parameters, the geometry constant ``expand_index`` and, for the training step,
        the index that folds the gradient (a constant of that graph only, never saved)."""
        params = super().graph_parameters(kind)
        params["expand_index"] = self.expand_index
        if kind == "step":
            params["fold_index"] = self._graphs.constant("fold_index", self._fold_constant)
        return params

    def _fold_constant(self) -> gluon.Constant:
        constant = gluon.Constant("fold_index", mx.nd.array(self._fold_index, dtype=np.float32))
        constant.initialize(ctx=self.ctx)
        return constant

    def expand_weights(self, F: Any, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The parameters with the shared ``W1`` replaced by ``W1_full`` ``(4 n1, H W)`` (`_expand`)."""
        return _expand(F, params)

    def fold_weight_gradients(self, F: Any, grads: List[Any], params: Mapping[str, Any]) -> List[Any]:
        """The gradient of the shared ``W1``: the sum of the four patch blocks of ``W1_full``'s (`_fold`)."""
        return [_fold(F, grads[0], params["fold_index"])] + list(grads[1:])

    def hybrid_forward(self, F, x, **params):
        # The DBM's mean-field reconstruction of the flat image, back in the image's shape.
        return F.reshape_like(super().hybrid_forward(F, F.reshape(x, shape=(0, -1)), **params), x)

    def load_pretrained(self, layer_index: int, source: Any,
                        source_layer: Optional[int] = None) -> "ShapeBoltzmannMachine":
        """`DeepBoltzmannMachines.load_pretrained` for the top layer (``layer_index=2``); the first
        layer's shared patch weights come from this model's own pre-training."""
        if self._check_layer(layer_index) == 1:
            raise ValueError("the Shape-BM's first layer shares its weights over four patches: it is pre-trained by "
                             "learn() (or loaded from a saved ShapeBoltzmannMachine), not copied from an RBM")
        return super().load_pretrained(layer_index, source, source_layer)

    @classmethod
    def from_rbms(cls, rbms: Sequence[RestrictedBoltzmannMachines], **kwargs: Any) -> "ShapeBoltzmannMachine":
        """Not available: the Shape-BM's geometry does not follow from a stack of RBMs."""
        raise TypeError("ShapeBoltzmannMachine is built from its geometry (height, width, overlap_n...); "
                        "from_rbms composes a DeepBoltzmannMachines")

    # ------------------------------------------------------------------ training
    def _pretrain(self, x: np.ndarray, batch_size: int) -> None:
        """Greedy pre-training of the patch RBM and the top RBM on flat images ``x`` ``(N, H W)``
        (see the class docstring)."""
        from ..data import ArrayIterator  # the data layer imports nothing from the models

        n1, device = self.patch_hidden_dim, self.ctx[0]
        seeds = (lambda *salt: None) if self.seed is None else (lambda *salt: derive_seed(self.seed, *salt))
        progress = TaskProgress(2 * self.pretrain_epochs, f"{type(self).__name__} pre-training", unit="epochs")

        def tick(model: Any, epoch: int, logs: Dict[str, float]) -> None:
            progress.update(1)
            progress.set_postfix_str(f"train_loss={logs['train_loss']:.4g}")

        patches = x[:, self._gather].reshape(-1, self._gather.shape[1]).astype(np.float32)  # (4N, P)
        patch_rbm = RestrictedBoltzmannMachines(
            patches.shape[1], n1, k=self.pretrain_k, learning_rate=self.pretrain_learning_rate,
            up_scale=2.0, ctx=self.ctx, seed=seeds("pretrain", 1))
        patch_rbm.learn(ArrayIterator(patches, batch_size=min(batch_size, len(patches)), epochs=self.pretrain_epochs,
                                      ctx=device, seed=seeds("pretrain-data", 1)), verbose=0, callbacks=[tick])
        w1, visible, hidden = (p.data(device).asnumpy() for p in (patch_rbm.weight, patch_rbm.visible_bias,
                                                                  patch_rbm.hidden_bias))
        # Each pixel's bias: the patch RBM's visible bias averaged over the patches covering it.
        total, count = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        for p in range(4):
            np.add.at(total, self._gather[p], visible)
            np.add.at(count, self._gather[p], 1.0)
        hidden1 = np.tile(hidden, 4)
        self.weight1.set_data(mx.nd.array(w1))
        self.bias0.set_data(mx.nd.array(total / count))
        self.bias1.set_data(mx.nd.array(hidden1))

        weights, _ = self._weights(device)
        up = mx.nd.sigmoid(mx.nd.FullyConnected(mx.nd.array(x * 2.0, ctx=device), weights[1],
                                                mx.nd.array(hidden1, ctx=device), num_hidden=4 * n1)).asnumpy()
        top_rbm = RestrictedBoltzmannMachines(
            4 * n1, self.top_hidden_dim, k=self.pretrain_k, learning_rate=self.pretrain_learning_rate,
            down_scale=2.0, ctx=self.ctx, seed=seeds("pretrain", 2))
        top_rbm.learn(ArrayIterator(up, batch_size=min(batch_size, len(up)), epochs=self.pretrain_epochs,
                                    ctx=device, seed=seeds("pretrain-data", 2)), verbose=0, callbacks=[tick])
        progress.close()
        self.weight2.set_data(top_rbm.weight.data(device).copyto(mx.cpu()))
        self.bias2.set_data(top_rbm.hidden_bias.data(device).copyto(mx.cpu()))
        self.bias1.set_data(mx.nd.array(0.5 * (hidden1 + top_rbm.visible_bias.data(device).asnumpy())))
        logger.info("%s: pre-trained the patch RBM and the top RBM, reconstruction errors %.4g, %.4g",
                    type(self).__name__, patch_rbm.loss_arr[-1, 0], top_rbm.loss_arr[-1, 0])
        self.pretrain_histories = [patch_rbm.history, top_rbm.history]
        self._mark_all_pretrained()

    # ------------------------------------------------------------------ inference
    def _view(self, key: Any, build: Any) -> gluon.HybridBlock:
        return self._graphs.graph(key, build, static_alloc=True)

    def _check_images(self, images: Any) -> Tuple[mx.nd.NDArray, bool]:
        """``(N, H, W)`` NDArray of ``images`` (a single ``(H, W)`` image gets a batch axis)."""
        array = images.asnumpy() if isinstance(images, mx.nd.NDArray) else images
        array = check_array(array, "images", min_rank=2, max_rank=3)
        single = array.ndim == 2
        if single:
            array = array[None]
        if array.shape[1:] != (self.height, self.width):
            raise ValueError(f"images must have shape (N, {self.height}, {self.width}) or ({self.height}, "
                             f"{self.width}), got {tuple(np.shape(images))}")
        check_unit_range(array, "images", "the Shape-BM's Bernoulli pixels")
        return mx.nd.array(array, ctx=self.ctx[0]), single

    def inpaint(self, images: Any, mask: Any, *, method: str = "gibbs", steps: int = 200, burn_in: int = 50,
                mean_field_steps: int = 30, binary: bool = False, seed: Optional[int] = None,
                batch_size: int = 1024) -> np.ndarray:
        """Fill in the unknown pixels of ``images`` from the shape model, the known ones clamped.

        Args:
            images: ``(N, height, width)`` (or one ``(height, width)`` image) in [0, 1]; the values
                under the mask are ignored.
            mask: ``(height, width)`` (one mask for all images) or ``(N, height, width)``, boolean,
                ``True`` = unknown pixel.
            method: ``"gibbs"``: conditional block Gibbs sampling of ``(v_unknown, h1, h2)`` given the
                known pixels, started from the clamped mean-field solution; the result is the
                average over ``steps`` sweeps (after ``burn_in`` sweeps) of ``p(v = 1 | h1)``, an
                estimate of the posterior marginal of each unknown pixel. ``"mean_field"``:
                ``mean_field_steps`` sweeps of clamped mean-field inference (deterministic; the
                marginals of the factorial approximation of the posterior).
            steps, burn_in: Gibbs sweeps averaged and discarded (``"gibbs"``).
            mean_field_steps: sweeps of the mean-field solution (the whole answer of
                ``"mean_field"``, the start of ``"gibbs"``).
            binary: return binary images (the probabilities thresholded at 0.5).
            seed: seeds the sampler (``None``: MXNet's current random state).

        Returns:
            numpy ``(N, height, width)`` (or ``(height, width)`` for one image): the known pixels as
            given and, under the mask, the probability that each pixel belongs to the shape (or its
            0/1 value when ``binary``).
        """
        if method not in ("gibbs", "mean_field"):
            raise ValueError(f"method must be 'gibbs' or 'mean_field', got {method!r}")
        for name, value, low in (("steps", steps, 1), ("burn_in", burn_in, 0),
                                 ("mean_field_steps", mean_field_steps, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        x, single = self._check_images(images)
        n = x.shape[0]
        mask_arr = np.asarray(mask.asnumpy() if isinstance(mask, mx.nd.NDArray) else mask)
        if mask_arr.shape == (self.height, self.width):
            mask_arr = np.broadcast_to(mask_arr, (n, self.height, self.width))
        elif mask_arr.shape != (n, self.height, self.width):
            raise ValueError(f"mask must have shape ({self.height}, {self.width}) or ({n}, {self.height}, "
                             f"{self.width}) (True = unknown pixel), got {mask_arr.shape}")
        if mask_arr.dtype != bool and not np.isin(mask_arr, (0, 1)).all():
            raise ValueError("mask must be boolean (True = unknown pixel)")
        if seed is not None:
            seed_mxnet(seed, self.ctx)
        device = self.ctx[0]
        unknown_all = mx.nd.array(mask_arr.reshape(n, -1).astype(np.float32), ctx=device)
        flat_all = x.reshape((0, -1))
        field = self._view(f"clamped_field{mean_field_steps}", lambda: _ClampedMeanField(self, mean_field_steps))
        start_value = mx.nd.sigmoid(self.bias0.data(device)).reshape((1, -1))
        out = []
        for i in range(0, n, batch_size):
            unknown = unknown_all[i:i + batch_size]
            known = flat_all[i:i + batch_size] * (1 - unknown)
            v, _, h2 = field(known, unknown, mx.nd.broadcast_like(start_value, known))
            if method == "gibbs":
                even = mx.nd.concat(known + unknown * bernoulli(mx.nd, v), bernoulli(mx.nd, h2), dim=1)
                total = self._gibbs_sweeps(even, known, unknown, burn_in, steps)[1]
                v = known + unknown * total / steps
            out.append(v)
        result = (out[0] if len(out) == 1 else mx.nd.concat(*out, dim=0)).asnumpy()
        result = result.reshape(n, self.height, self.width)
        if binary:
            result = (result >= 0.5).astype(np.float32)
        return result[0] if single else result

    #: Gibbs sweeps unrolled in one graph call of `inpaint` and `sample`.
    _sweeps_per_call = 10

    def _gibbs_sweeps(self, even: mx.nd.NDArray, known: mx.nd.NDArray, unknown: mx.nd.NDArray,
                      burn_in: int, steps: int) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        """``burn_in`` then ``steps`` clamped sweeps; returns the last even vector and the sum of
        ``p(v | h1)`` over the ``steps`` sweeps."""
        total = None
        for count, accumulate in ((burn_in, False), (steps, True)):
            while count > 0:
                k = min(count, self._sweeps_per_call)
                even, p_sum = self._view(f"gibbs{k}", lambda k=k: _ClampedGibbs(self, k))(even, known, unknown)
                if accumulate:
                    total = p_sum if total is None else total + p_sum
                count -= k
        return even, total

    def sample(self, n: int = 16, steps: int = 1000, *, init: Any = None, return_probabilities: bool = True,
               seed: Optional[int] = None) -> np.ndarray:
        """Run ``n`` block Gibbs chains of the whole model for ``steps`` sweeps and return silhouettes
        ``(n, height, width)``: ``p(v = 1 | h1)`` of the last sweep (``return_probabilities``) or the
        sampled pixels.

        Chains start at ``init`` ``(n, height, width)`` (``h2`` from its doubled up-pass) or at
        random states drawn from the biases. ``seed`` seeds the chains.
        """
        for name, value in (("n", n), ("steps", steps)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if seed is not None:
            seed_mxnet(seed, self.ctx)
        device = self.ctx[0]
        if init is not None:
            x, _ = self._check_images(init)
            v = bernoulli(mx.nd, x.reshape((0, -1)))
            field = self._mean_field_view(self.mean_field_steps)
            even = mx.nd.concat(v, bernoulli(mx.nd, field(v)[1]), dim=1)
        else:
            biases = [mx.nd.sigmoid(getattr(self, f"bias{l}").data(device)) for l in (0, 2)]
            even = bernoulli(mx.nd, mx.nd.concat(*biases, dim=0).reshape((1, -1)).broadcast_to(
                (n, self._layout.n_even)))
        n = even.shape[0]
        zeros = mx.nd.zeros((n, self._layout.n_visible), ctx=device)
        # The last sweep's p(v | h1) is its own sum over one sweep.
        even, _ = self._gibbs_sweeps(even, zeros, zeros + 1, steps - 1, 0)
        even, mean = self._gibbs_sweeps(even, zeros, zeros + 1, 0, 1)
        pixels = mean if return_probabilities else even[:, :self._layout.n_visible]
        return pixels.asnumpy().reshape(n, self.height, self.width)
