"""Every use of a private MXNet Gluon attribute, in one place, each with its reason.

MXNet 1.9.1 is the last release of a retired framework: its private attributes will not change
under us, but reading them in many modules would hide how much the library leans on them. Each
function here names one need; the rest of the library calls these functions and touches no
underscore attribute of Gluon.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from mxnet import gluon

__all__ = ["structural_params", "trainer_params", "is_initialized", "has_deferred_shape", "child_blocks",
           "optimizer_of", "updaters_of", "cached_graph", "set_cached_graph"]


def structural_params(block: gluon.Block) -> Dict[str, gluon.Parameter]:
    """Parameters by their structural names (``"encoder.0.weight"``), the names
    ``save_parameters`` writes. Gluon's public ``collect_params()`` keys carry the block-name
    prefixes, which differ between two identically built models; this is Gluon's own private
    method behind ``save_parameters``/``load_parameters``."""
    return block._collect_params_with_prefix()


def trainer_params(trainer: gluon.Trainer) -> List[gluon.Parameter]:
    """The parameters a ``gluon.Trainer`` updates (Gluon exposes no public accessor), in its order;
    needed to clip exactly the gradients that trainer applies."""
    return list(trainer._params)


def is_initialized(param: gluon.Parameter) -> bool:
    """Whether ``param`` holds data (``initialize`` done and its shape known). Gluon's public
    ``list_ctx`` answers for deferred parameters too, and ``data()`` raises."""
    return param._data is not None


def has_deferred_shape(param: gluon.Parameter) -> bool:
    """Whether ``param`` was initialized but waits for its first forward to know its shape."""
    return param._data is None and bool(param._deferred_init)


def child_blocks(block: gluon.Block) -> Iterator[gluon.Block]:
    """The direct sub-blocks of ``block`` (Gluon keeps them in ``_children``; no public accessor)."""
    return iter(block._children.values())


def optimizer_of(trainer: gluon.Trainer) -> Any:
    """The ``mx.optimizer.Optimizer`` inside a ``gluon.Trainer``: its update counters tell how
    many steps were taken (checked by tests of resumed runs)."""
    return trainer._optimizer


def updaters_of(trainer: gluon.Trainer) -> list:
    """A trainer's per-device updaters, which hold the optimizer state arrays."""
    return trainer._updaters


# --------------------------------------------------------------------------- explicit optimizer updates
# The Boltzmann machines compute their gradients in closed form (contrastive divergence) and the
# RBM's fast paths hand them to the optimizer without the Trainer's gradient buffers; these make
# such an update the very one ``Trainer.update`` would make (same counts, rates, states), so that
# learning-rate schedules and saved optimizer states carry on.
__all__ += ["local_updater", "set_gradient_rescale", "count_update", "weight_decays", "updater_states",
            "mark_fresh_gradients"]


def local_updater(trainer: gluon.Trainer) -> "Optional[Tuple[Any, Dict[str, int]]]":
    """``(updater, {parameter name: optimizer index})`` of a trainer that updates on one device
    without a kvstore or AMP loss scaling, after the set-up its first ``update`` would do; ``None``
    otherwise. Gluon exposes neither the updater nor the index map (needed to update directly)."""
    try:
        if trainer._update_on_kvstore or getattr(trainer, "_amp_loss_scaler", None) is not None:
            return None
        if not trainer._kv_initialized:
            trainer._init_kvstore()
        if trainer._params_to_init:
            trainer._init_params()
        if trainer._kvstore is not None or len(trainer._updaters) != 1:
            return None
        return trainer._updaters[0], dict(trainer._param2idx)
    except AttributeError:  # another MXNet: callers take the Trainer's own path
        return None


def set_gradient_rescale(trainer: gluon.Trainer, batch_size: int) -> float:
    """Set the optimizer's gradient rescaling for ``batch_size`` as ``Trainer.update(batch_size)``
    does (a direct update bypasses ``update``); returns the factor."""
    trainer._check_and_rescale_grad(trainer._scale / batch_size)
    return trainer._optimizer.rescale_grad


def count_update(trainer: gluon.Trainer, indices: "List[int]", device_id: int) -> "List[float]":
    """Count one update of the parameters ``indices`` on device ``device_id`` and return their
    learning rates: the bookkeeping of one ``Optimizer.update`` call (the counts drive learning-rate
    schedules and are saved with the optimizer state)."""
    optimizer = trainer._optimizer
    optimizer._set_current_context(device_id)
    optimizer._update_count(indices)
    return optimizer._get_lrs(indices)


def weight_decays(trainer: gluon.Trainer, indices: "List[int]") -> "List[float]":
    """The weight decay the optimizer applies to each of ``indices`` (``wd`` times the parameter's
    ``wd_mult``); Gluon computes it only inside ``update``."""
    return trainer._optimizer._get_wds(indices)


def updater_states(trainer: gluon.Trainer, updater: "Any", indices: "List[int]", weights: "List[Any]") -> "List[Any]":
    """The updater's state arrays of ``indices`` (momentum...), created or moved to the weights'
    device exactly as the updater's own first call would (it does so only inside ``__call__``)."""
    for index, weight in zip(indices, weights):
        if index not in updater.states:
            updater.states[index] = trainer._optimizer.create_state_multi_precision(index, weight)
            updater.states_synced[index] = True
        elif not updater.states_synced[index]:
            updater.states[index] = updater.sync_state_context(updater.states[index], weight.context)
            updater.states_synced[index] = True
    return [updater.states[index] for index in indices]


def mark_fresh_gradients(params: "Iterable[gluon.Parameter]") -> None:
    """Flag the gradient buffers of ``params`` as holding this step's gradient, as
    ``autograd.backward`` does: explicit gradients written into them are otherwise refused as
    stale by ``Trainer.update``."""
    for param in params:
        for data in param.list_data():
            data._fresh_grad = True


# --------------------------------------------------------------------------- copies and layer facts (Q-networks)
__all__ += ["renamed_copy", "activation_name"]


def renamed_copy(block: gluon.Block, prefix: str, memo: "Optional[Dict[int, Any]]" = None) -> gluon.Block:
    """A deep copy of ``block`` with parameters of its own, whose Gluon names (and its blocks'
    prefixes) start with ``prefix`` - e.g. DQN's target network, which must sit next to the
    online network in one model.

    Gluon names a parameter once, when its block is built (``<block prefix><name>``), and refuses
    two different parameters of one name in one model (``collect_params``, ``export``); a deep
    copy keeps the names and Gluon has no public way to rename. So the copy's blocks, parameter
    dictionaries and parameters are renamed here, and the symbols and cached graphs that hold the
    old names are dropped (they are rebuilt on the next call). The parameter values are copied as
    they are (a deep-copied NDArray comes back on ``cpu(0)``: move the copy where it belongs).
    ``memo`` is ``copy.deepcopy``'s: map the ``id`` of an object that must not be copied to its
    stand-in (e.g. a part's trainers to ``{}``).
    """
    import copy
    from collections import OrderedDict

    clone = copy.deepcopy(block, memo if memo is not None else {})
    renamed: Dict[int, gluon.Parameter] = {}

    def rename_dict(params: "Any") -> None:
        if params is None:
            return
        for param in params._params.values():
            if id(param) not in renamed:
                renamed[id(param)] = param
                param.name = prefix + param.name
                param._var = None  # a cached symbol with the old name
        params._prefix = prefix + params._prefix
        params._params = OrderedDict((param.name, param) for param in params._params.values())

    def rename_block(b: gluon.Block) -> None:
        b._prefix = prefix + b._prefix
        b._name = prefix + b._name
        rename_dict(b._params)
        rename_dict(b._params._shared)
        for param in b._reg_params.values():
            if id(param) not in renamed:
                renamed[id(param)] = param
                param.name = prefix + param.name
                param._var = None
        if isinstance(b, gluon.HybridBlock):
            b._clear_cached_op()

    clone.apply(rename_block)
    return clone


def activation_name(block: gluon.Block) -> str:
    """The activation function (``"relu"``, ``"tanh"``...) an ``nn.Activation`` applies: Gluon
    keeps it only in a private attribute; needed to copy a dense network into numpy."""
    return block._act_type


def cached_graph(block: gluon.HybridBlock) -> tuple:
    """A hybridized block's compiled graph (Gluon keeps it in ``_cached_graph``, ``_cached_op`` and
    ``_cached_op_args``). Models whose graph depends on an input length (the ConvLSTM models unroll
    time) keep one per length and swap them in with `set_cached_graph`; Gluon has no public way."""
    return block._cached_graph, block._cached_op, block._cached_op_args


def set_cached_graph(block: gluon.HybridBlock, graph: tuple) -> None:
    """Make ``graph`` (from `cached_graph`, or ``((), None, [])`` for none: built on the next call)
    the block's compiled graph."""
    block._cached_graph, block._cached_op, block._cached_op_args = graph
