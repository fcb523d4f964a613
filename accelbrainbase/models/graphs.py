"""Graphs over a model's own parameters, compiled on their own and kept out of its saved state.

Several models need more graphs than their one ``hybrid_forward``: a Boltzmann machine's training
step, Gibbs sweep, free energy and AIS transition; a ladder network's cost and its clean predictor.
Each is a `ParameterView` (or a `FunctionView` of a function) computing with the model's parameters
- shared, not copied - and compiled on its own; a `GraphCache` keeps them (and constant inputs)
without making them children of the model, whose files therefore hold each parameter once.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

import mxnet as mx  # noqa: F401 - the examples below run with this module's globals
from mxnet import gluon

__all__ = ["ParameterView", "FunctionView", "GraphCache"]


class ParameterView(gluon.HybridBlock):
    """A block computing with the parameters of another block, shared, not copied.

    A Boltzmann machine needs many graphs over the same parameters (a training step, a Gibbs
    sweep, a free energy, AIS...). Each is a `ParameterView` compiled on its own; it receives the
    parameters by the names given here as keyword arguments of ``hybrid_forward``. Keep views in a
    `GraphCache`, not as attributes of the model: as children they would be saved with it, each
    parameter once more per view.

    Args:
        params: ``{name: gluon.Parameter}`` the graph computes with (only those it uses: Gluon
            warns of a parameter a compiled graph does not read).
        prefix: the block's name prefix (Gluon's default when ``None``).

    Example:
        >>> class Scale(ParameterView):
        ...     def hybrid_forward(self, F, x, w):
        ...         return x * w
        >>> w = gluon.Parameter("w", shape=(1,), init=mx.init.One())
        >>> w.initialize()
        >>> Scale({"w": w})(mx.nd.ones(2)).asnumpy().tolist()
        [1.0, 1.0]
    """

    def __init__(self, params: Mapping[str, gluon.Parameter], prefix: Optional[str] = None) -> None:
        super().__init__(prefix=prefix)
        for name, param in params.items():
            setattr(self, name, param)  # registers it under ``name`` for hybrid_forward
            self.params.update({param.name: param})


class FunctionView(ParameterView):
    """A `ParameterView` whose graph is ``fn(F, inputs, params)`` (``inputs`` the call's arguments,
    ``params`` the named parameters): one class for the many small graphs of a model.

    Example:
        >>> w = gluon.Parameter("w", shape=(1,), init=mx.init.One())
        >>> w.initialize()
        >>> double = FunctionView({"w": w}, lambda F, inputs, p: inputs[0] * p["w"] * 2)
        >>> double(mx.nd.ones(1)).asnumpy().tolist()
        [2.0]
    """

    def __init__(self, params: Mapping[str, gluon.Parameter], fn: Callable[..., Any],
                 prefix: Optional[str] = None) -> None:
        super().__init__(params, prefix=prefix)
        self._fn = fn  # a function or bound method: not a Block, so not registered as a child

    def hybrid_forward(self, F, *inputs, **params):
        return self._fn(F, inputs, params)


class GraphCache:
    """A model's internal compiled graphs and constant inputs, by key, kept out of Gluon's sight.

    Graphs are built on first use and hybridized with the options given then; the cache forgets
    the oldest graph beyond ``max_graphs`` (e.g. one per batch size of a static-shape graph) and
    the oldest constant beyond ``max_constants``. `hybridize` switches every graph, and the graphs
    built afterwards, on or off (imperative debugging).

    Example:
        >>> cache = GraphCache()
        >>> w = gluon.Parameter("w", shape=(1,), init=mx.init.One())
        >>> w.initialize()
        >>> graph = cache.graph("double", lambda: FunctionView({"w": w}, lambda F, i, p: i[0] * p["w"] * 2))
        >>> graph is cache.graph("double", None), cache.constant("ones", lambda: mx.nd.ones(2)).shape
        (True, (2,))
    """

    def __init__(self, max_graphs: int = 16, max_constants: int = 8) -> None:
        self.max_graphs, self.max_constants = int(max_graphs), int(max_constants)
        self.graphs: Dict[Any, gluon.HybridBlock] = {}
        self.constants: Dict[Any, Any] = {}
        self.active = True

    def graph(self, key: Any, build: Callable[[], gluon.HybridBlock], **hybridize_kwargs: Any) -> gluon.HybridBlock:
        """The graph under ``key``, built by ``build()`` and hybridized (``hybridize_kwargs``, e.g.
        ``static_alloc=True``) the first time."""
        graph = self.graphs.get(key)
        if graph is None:
            if len(self.graphs) >= self.max_graphs:
                self.graphs.pop(next(iter(self.graphs)))
            graph = self.graphs[key] = build()
            if self.active:
                graph.hybridize(**hybridize_kwargs)
        return graph

    def constant(self, key: Any, build: Callable[[], Any]) -> Any:
        """The constant under ``key``, made by ``build()`` the first time (``mx.nd.array`` waits for
        the engine to drain: make constant inputs once, not per call)."""
        if key not in self.constants:
            if len(self.constants) >= self.max_constants:
                self.constants.pop(next(iter(self.constants)))
            self.constants[key] = build()
        return self.constants[key]

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Switch every graph (and those built later) to compiled (``active``) or imperative."""
        self.active = bool(active)
        for graph in self.graphs.values():
            graph.hybridize(active, **kwargs)

    def clear(self) -> None:
        self.graphs.clear()
        self.constants.clear()
