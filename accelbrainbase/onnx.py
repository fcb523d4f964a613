"""Export a model's inference graph to ONNX, to run it without MXNet (ONNX Runtime, TensorRT...).

`export_onnx` writes what ``model.inference(x)`` computes on a batch - the model's
``inference_graph`` (a classifier's probabilities, a ladder network's clean predictor, a GAN's
generator, a DQN's online Q-network) - as one ONNX file (opset `ONNX_OPSET`), float32:

- one input, `INPUT_NAME` (``"input"``), of shape ``("batch", *input_shape)``: the batch axis is
  free, and so is every axis the model leaves free (``None`` in ``model.input_shape``: a
  sequence's length, an image's height and width) when the built graph allows it; such axes are
  named ``"axis_1"``, ``"axis_2"``... after their position (the batch is axis 0). An axis the
  graph fixes (a loop unrolled over the example's length, a dense layer after convolutions) keeps
  the example's size;
- one output, `OUTPUT_NAME` (``"output"``), whose axes carry the same names where they follow
  the input's.

The conversion is MXNet 1.9.1's own (``mx.onnx.export_model``), after rewrites of the MXNet graph
that keep its numbers, for what the converter refuses or mistranslates:

- sub-graphs computed from parameters alone (a transposed convolution's rearranged kernels,
  with negative-step slices) are evaluated once and become constants;
- ``reshape`` s with MXNet's special codes (``-2``, ``-3``, ``-4``) are restated with ``0`` /
  ``-1`` / constants, checked on two input shapes;
- reductions with ``exclude=True`` name their axes, ``FullyConnected`` says ``flatten=True``,
  ``RNN`` gives its states, a ``BatchNorm`` with ``fix_gamma`` gets a gamma of ones, and
  ``reverse`` becomes ``SequenceReverse`` (the converter's form gives empty tensors under ONNX
  Runtime's default optimizations);
- the file declares opset 13, the newest opset whose operator forms the converter writes (it
  would otherwise declare the newest opset of the installed ``onnx``, where ``ReduceMean`` and
  ``Split`` take other arguments), and ``broadcast_to``'s "keep this axis" (``0``) becomes
  ``Expand``'s (``1``).

A graph with an operator the converter cannot translate (a symbolic loop, ``F.contrib.foreach``)
raises ``NotImplementedError`` naming the operator. ``export_onnx`` then checks the file: ONNX
Runtime's outputs against ``inference`` on the example and on a batch with every free axis
changed.

Requires the ``[onnx]`` extra (``pip install 'accelbrainbase[onnx]'``: ``onnx``, and
``onnxruntime`` to check and run exported files).

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from accelbrainbase.models import NeuralNetworks
    >>> clf = NeuralNetworks(input_dim=4, hidden_dims=[8], num_classes=3, seed=0)
    >>> path = clf.export_onnx(os.path.join(tempfile.mkdtemp(), "clf.onnx"))
    >>> x = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    >>> import onnxruntime as ort                                 # no MXNet needed from here on
    >>> session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> [(i.name, i.shape) for i in session.get_inputs()], [o.name for o in session.get_outputs()]
    ([('input', ['batch', 4])], ['output'])
    >>> probs = session.run(["output"], {"input": x})[0]
    >>> bool(np.allclose(probs, clf.inference(x), rtol=1e-4, atol=1e-5))
    True
"""
from __future__ import annotations

import inspect
import json
import os
import tempfile
import warnings
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import mxnet as mx
import numpy as np

__all__ = ["ONNX_OPSET", "INPUT_NAME", "OUTPUT_NAME", "UNCONVERTIBLE_OPERATORS", "export_onnx", "run_onnx"]

#: The ONNX opset of exported files: the newest whose operator forms MXNet 1.9.1's converters write.
ONNX_OPSET = 13
#: Name of the exported graph's input ``(batch, *input_shape)``.
INPUT_NAME = "input"
#: Name of the exported graph's output (what ``model.inference`` returns).
OUTPUT_NAME = "output"
#: MXNet operators of the zoo's graphs that MXNet 1.9.1's ONNX exporter cannot translate, with
#: what they are in model code (used in error messages).
UNCONVERTIBLE_OPERATORS = {
    "_foreach": "F.contrib.foreach, a symbolic loop",
    "_while_loop": "F.contrib.while_loop, a symbolic loop",
    "_cond": "F.contrib.cond, a symbolic branch",
}

# The MXNet graph's input variable (Gluon's name for a block's first input).
_DATA = "data"
# Operators drawing random numbers: never evaluated ahead of time, even without inputs.
_RANDOM_PREFIXES = ("_random", "_sample", "_npi_random", "_np_random")


def _model_name(model: Any) -> str:
    return type(model).__name__


# --------------------------------------------------------------------------- the MXNet graph
def _inference_symbol(model: Any, sample_shape: Tuple[int, ...]) -> mx.sym.Symbol:
    """``model.inference_graph`` built on a symbol (input variable ``data``)."""
    graph = model.inference_graph
    kwargs = {"sample_shape": sample_shape} if "sample_shape" in inspect.signature(graph).parameters else {}
    out = graph(mx.sym, mx.sym.var(_DATA), **kwargs)
    if isinstance(out, (list, tuple)):
        if len(out) != 1:
            raise NotImplementedError(f"{_model_name(model)}'s inference graph has {len(out)} outputs; "
                                      "export_onnx writes graphs with one output")
        out = out[0]
    if not isinstance(out, mx.sym.Symbol):
        raise TypeError(f"{_model_name(model)}.inference_graph(mx.sym, x) returned a {type(out).__name__}, "
                        "not a symbol: write it with F, not mx.nd")
    if len(out.list_outputs()) != 1:
        raise NotImplementedError(f"{_model_name(model)}'s inference graph has {len(out.list_outputs())} "
                                  "outputs; export_onnx writes graphs with one output")
    return out


def _parameters(model: Any, sym: mx.sym.Symbol) -> Dict[str, mx.nd.NDArray]:
    """The values of the parameters ``sym`` reads, by the names of its variables."""
    by_name = {p.name: p for p in model.collect_params().values()}
    names = [n for n in sym.list_arguments() + sym.list_auxiliary_states() if n != _DATA]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise NotImplementedError(f"{_model_name(model)}'s inference graph reads inputs that are not its "
                                  f"parameters: {unknown}; an exported graph takes the data alone")
    device = model.ctx[0]
    return {n: by_name[n].data(device) for n in names}


def _entries(sym: mx.sym.Symbol, graph: Dict[str, Any]) -> Dict[Tuple[int, int], int]:
    """``(node id, output index) -> position`` in ``sym.get_internals()``, which lists the visible
    outputs of the graph's nodes (the first ones of each; names may repeat: a layer called once
    per unrolled step) in the order of the graph's nodes."""
    internals = sym.get_internals()
    owners = [internals[k].name for k in range(len(internals.list_outputs()))]
    nodes, row = graph["nodes"], graph["node_row_ptr"]
    positions, k = {}, 0
    for i, node in enumerate(nodes):
        count = 0
        while (k + count < len(owners) and owners[k + count] == node["name"]
               and count < (1 if node["op"] == "null" else row[i + 1] - row[i])):
            positions[(i, count)] = k + count
            count += 1
        if count == 0:
            raise ValueError(f"no internal output for node {node['name']}")
        k += count
    if k != len(owners):
        raise ValueError("the graph's internal outputs do not follow its nodes")
    return positions


def _entry_shapes(sym: mx.sym.Symbol, params: Dict[str, Any], shape: Tuple[int, ...]) -> Optional[List[tuple]]:
    """The shape of every visible node output of ``sym`` (in ``get_internals()`` order) for an
    input of ``shape``; ``None`` when the graph does not take that shape."""
    try:
        with _quiet():
            _, shapes, _ = sym.get_internals().infer_shape(
                **{_DATA: shape}, **{n: tuple(v.shape) for n, v in params.items()})
    except mx.MXNetError:
        return None
    if shapes is None or any(s is None for s in shapes):
        return None
    return [tuple(s) for s in shapes]


class _quiet:
    """Silence MXNet's shape-inference warnings about inputs that do not fit (expected: probes)."""

    def __enter__(self) -> None:
        import logging

        self._logger = logging.getLogger()
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        self._logger.setLevel(self._level)


def _output_shape(sym: mx.sym.Symbol, params: Dict[str, Any], shape: Tuple[int, ...]) -> Optional[tuple]:
    try:
        with _quiet():
            _, (out,), _ = sym.infer_shape(**{_DATA: shape}, **{n: tuple(v.shape) for n, v in params.items()})
    except (mx.MXNetError, ValueError, TypeError):
        return None
    return None if out is None or 0 in out else tuple(out)


def _free_axes(model: Any, sym: mx.sym.Symbol, params: Dict[str, Any], x: np.ndarray) -> List[int]:
    """Input axes (batch = 0) the exported graph leaves free: the batch, and each free axis of the
    model (``None`` in ``input_shape``) for which the graph takes another size and gives the
    output shape ``inference`` gives (a loop unrolled over the example's length does not)."""
    shape = x.shape
    candidates = [0] + [i for i, size in enumerate(model.input_shape or (), start=1) if size is None]
    free = []
    for i in candidates:
        probe = _probe(shape, [i])
        out = _output_shape(sym, params, probe)
        if out is not None:
            try:
                expected = tuple(model.inference(_probe_input(x, probe)).shape)
            except (ValueError, mx.MXNetError):
                expected = None
            if expected == out:
                free.append(i)
    if 0 not in free:
        raise NotImplementedError(f"{_model_name(model)}'s inference graph fixes the batch size {shape[0]}")
    return free


def _probe_input(x: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
    """An input of ``shape`` with ``x``'s values (tiled over grown axes), for probes."""
    reps = [-(-n // m) for n, m in zip(shape, x.shape)]
    return np.tile(x, reps)[tuple(slice(0, n) for n in shape)]


def _probe(shape: Tuple[int, ...], free: Sequence[int]) -> Tuple[int, ...]:
    """A second input shape: every free axis of ``shape`` changed (batch + 1, others doubled)."""
    return tuple((s + 1 if i == 0 else 2 * s) if i in free else s for i, s in enumerate(shape))


# --------------------------------------------------------------------------- graph rewrites
def _fold_parameter_subgraphs(sym: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray],
                              device: mx.Context) -> Tuple[mx.sym.Symbol, Dict[str, mx.nd.NDArray]]:
    """Evaluate once every sub-graph computed from parameters alone that feeds the rest of the
    graph, and make its value a parameter: the same numbers, computed by the same MXNet operators,
    and operators the converter does not take (a negative-step ``slice`` rearranging a transposed
    convolution's kernel) leave the graph."""
    graph = json.loads(sym.tojson())
    nodes = graph["nodes"]
    constant = []
    for node in nodes:
        if node["op"] == "null":
            constant.append(node["name"] in params)
        elif node["op"].startswith(_RANDOM_PREFIXES) or not node["inputs"]:
            # Random draws, and arrays made from nothing (begin states of a size set by the batch).
            constant.append(False)
        else:
            constant.append(all(constant[i] for i, *_ in node["inputs"]))
    # Constant entries read by the data's part of the graph (or returned), by node.
    read: Dict[int, Set[int]] = {}
    for node, c in zip(nodes, constant):
        if not c:
            for i, index, *_ in node["inputs"]:
                read.setdefault(i, set()).add(index)
    internals = sym.get_internals()
    try:
        entries = _entries(sym, graph)
    except ValueError:
        return sym, params  # a graph whose outputs cannot be told apart: nothing is folded
    params = dict(params)
    folded_any = False
    # The same computation on the same inputs (a layer's weight packing, once per unrolled step) is
    # folded into one constant.
    seen: Dict[str, str] = {}
    for i, indices in sorted(read.items()):
        node = nodes[i]
        if not constant[i] or node["op"] == "null" or indices != {0}:
            continue  # data-dependent, a parameter already, or several outputs read (left as they are)
        key = json.dumps([node["op"], node.get("attrs", {}), node["inputs"]], sort_keys=True)
        name = seen.get(key)
        if name is None:
            if (i, 0) not in entries:
                continue
            sub = internals[entries[(i, 0)]]
            try:
                value = sub.eval(ctx=device, **{n: params[n] for n in sub.list_arguments()})[0]
            except mx.MXNetError:
                continue  # an operator that does not run on its own: left in the graph
            name = f"{node['name']}_constant"
            while name in params:
                name += "_"
            params[name], seen[key] = value, name
        nodes[i] = {"op": "null", "name": name, "inputs": []}
        folded_any = True
    if not folded_any:
        return sym, params
    graph["arg_nodes"] = [i for i, node in enumerate(nodes) if node["op"] == "null"]
    folded = mx.sym.load_json(json.dumps(graph))
    used = set(folded.list_arguments() + folded.list_auxiliary_states())
    return folded, {n: v for n, v in params.items() if n in used}


def _plain_reshape(source: Sequence[tuple], target: Sequence[tuple]) -> Optional[Tuple[Tuple[int, ...], bool]]:
    """``(shape codes, reverse)`` using only ``0`` (copy the input's axis), ``-1`` (infer) and
    constants that maps every probed input shape in ``source`` to its output shape in ``target``
    (``reverse``: ``0`` copies the axis at the same place counted from the end), or ``None``."""
    rank, in_rank = len(target[0]), len(source[0])
    for reverse in (False, True):
        codes = []
        for j in range(rank):
            k = j - rank + in_rank if reverse else j
            if len({t[j] for t in target}) == 1:
                codes.append(target[0][j])
            elif 0 <= k < in_rank and all(s[k] == t[j] for s, t in zip(source, target)):
                codes.append(0)
            else:
                codes.append(-1)
        if codes.count(-1) <= 1:
            return tuple(codes), reverse
    return None


_TRUE = ("True", "true", "1")
_REDUCTIONS = ("sum", "mean", "max", "min", "prod", "nansum", "nanprod")


def _restate_for_converter(sym: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray],
                           shapes: Sequence[Tuple[int, ...]]) -> Tuple[mx.sym.Symbol, Dict[str, mx.nd.NDArray]]:
    """Restate what MXNet 1.9.1's converters refuse or misread, with the same numbers (checked on
    every probed input shape in ``shapes``):

    - ``Reshape`` with the special codes ``-2``, ``-3``, ``-4`` (refused): with ``0`` / ``-1`` /
      constants, from the left or (``reverse``) from the right;
    - a reduction with ``exclude=True`` (the converter reduces the listed axes instead of the
      others): the complementary axes;
    - ``FullyConnected`` without a ``flatten`` attribute (read as ``False``; MXNet's default is
      ``True``): ``flatten=True`` said explicitly;
    - ``RNN`` with ``state_outputs=False`` (refused): ``True``, the extra outputs unread;
    - ``BatchNorm`` with ``fix_gamma`` (ignored: the converter scales by gamma): gamma set to ones
      when no other operator reads it.
    """
    graph = json.loads(sym.tojson())
    nodes = graph["nodes"]
    readers: Dict[int, int] = {}
    for node in nodes:
        for i, *_ in node["inputs"]:
            readers[i] = readers.get(i, 0) + 1
    # Shape-dependent restatements need every probe (one probe alone cannot tell a free axis from a
    # fixed one); without them the converter refuses the node and says which.
    probed = [_entry_shapes(sym, params, shape) for shape in shapes]
    complete = [p for p in probed if p is not None]
    try:
        entries = _entries(sym, graph) if len(complete) == len(probed) else {}
    except ValueError:
        entries = {}

    def shapes_of(node_id: int, index: int) -> Optional[List[tuple]]:
        position = entries.get((node_id, index))
        return [p[position] for p in complete] if complete and position is not None else None

    params = dict(params)
    changed = False
    expansions: Dict[int, List[Dict[str, Any]]] = {}
    for i, node in enumerate(nodes):
        op, attrs = node["op"], node.setdefault("attrs", {})
        if op == "Reshape" and any(c in (-2, -3, -4) for c in _codes(attrs.get("shape", "()"))):
            source, target = shapes_of(*node["inputs"][0][:2]), shapes_of(i, 0)
            plain = _plain_reshape(source, target) if source and target else None
            if plain is not None:
                node["attrs"] = {"shape": str(plain[0]), "reverse": str(plain[1])}
                changed = True
        elif op in _REDUCTIONS and attrs.get("exclude") in _TRUE:
            source = shapes_of(*node["inputs"][0][:2])
            if source:
                rank = len(source[0])
                listed = {a % rank for a in _codes(attrs.get("axis", "()"))}
                attrs["axis"] = str(tuple(a for a in range(rank) if a not in listed))
                attrs["exclude"] = "False"
                changed = True
        elif op == "FullyConnected" and "flatten" not in attrs:
            attrs["flatten"] = "True"
            changed = True
        elif op == "RNN" and attrs.get("state_outputs", "False") not in _TRUE:
            attrs["state_outputs"] = "True"
            changed = True
        elif op == "BatchNorm" and attrs.get("fix_gamma", "True") in _TRUE:
            gamma = node["inputs"][1][0]
            if nodes[gamma]["op"] == "null" and nodes[gamma]["name"] in params and readers.get(gamma) == 1:
                params[nodes[gamma]["name"]] = mx.nd.ones_like(params[nodes[gamma]["name"]])
                attrs["fix_gamma"] = "False"
                changed = True
        elif op == "reverse":
            source = shapes_of(*node["inputs"][0][:2])
            if source and len(source[0]) >= 2:
                rank = len(source[0])
                expansions[i] = _reverse_by_sequences(node, [a % rank for a in _codes(attrs.get("axis", "0"))])
    if expansions:
        graph = _expand(graph, expansions)
        changed = True
    return (mx.sym.load_json(json.dumps(graph)) if changed else sym), params


def _reverse_by_sequences(node: Dict[str, Any], axes: Sequence[int]) -> List[Dict[str, Any]]:
    """``reverse`` along ``axes`` as ``SequenceReverse`` (which reverses axis 0) between axis
    swaps. The converter's own ``reverse`` (a ``Range`` of indices) comes out empty under ONNX
    Runtime 1.19's extended graph optimizations; ``SequenceReverse`` becomes ``ReverseSequence``.
    Nodes read the previous one of the list as ``[-1, 0, 0]`` (the first reads the node's input)."""
    chain: List[Dict[str, Any]] = []
    name = node["name"]
    for k, axis in enumerate(axes):
        steps = [("SequenceReverse", {"use_sequence_length": "False", "axis": "0"})]
        if axis != 0:
            swap = ("SwapAxis", {"dim1": "0", "dim2": str(axis)})
            steps = [swap] + steps + [swap]
        for j, (op, attrs) in enumerate(steps):
            chain.append({"op": op, "name": f"{name}_as_sequences{k}_{j}", "attrs": attrs,
                          "inputs": [node["inputs"][0]] if not chain else [[-1, 0, 0]]})
    return chain


def _expand(graph: Dict[str, Any], expansions: Dict[int, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """The graph with node ``i`` replaced by the chain ``expansions[i]`` (node ids renumbered)."""
    new_nodes: List[Dict[str, Any]] = []
    where: Dict[int, int] = {}

    def moved(entry: List[int]) -> List[int]:
        return [where[entry[0]], entry[1], 0]

    for i, node in enumerate(graph["nodes"]):
        if i in expansions:
            first = True
            for part in expansions[i]:
                inputs = [moved(e) for e in part["inputs"]] if first else [[len(new_nodes) - 1, 0, 0]]
                new_nodes.append(dict(part, inputs=inputs))
                first = False
        else:
            new_nodes.append(dict(node, inputs=[moved(e) for e in node["inputs"]]))
        where[i] = len(new_nodes) - 1
    heads = [[where[h[0]], h[1], 0] for h in graph["heads"]]
    result = {k: v for k, v in graph.items() if k not in ("nodes", "heads", "arg_nodes", "node_row_ptr")}
    return dict(result, nodes=new_nodes, heads=heads,
                arg_nodes=[i for i, node in enumerate(new_nodes) if node["op"] == "null"])


def _codes(text: str) -> Tuple[int, ...]:
    text = text.strip("()[] ")
    return tuple(int(c) for c in text.split(",") if c.strip()) if text else ()


# --------------------------------------------------------------------------- conversion
def _operators(sym: mx.sym.Symbol) -> List[str]:
    return sorted({node["op"] for node in json.loads(sym.tojson())["nodes"] if node["op"] != "null"})


def _check_operators(model: Any, sym: mx.sym.Symbol) -> None:
    supported = set(mx.onnx.get_operator_support(ONNX_OPSET))
    missing = [op for op in _operators(sym) if op not in supported]
    if missing:
        described = ", ".join(f"'{op}'" + (f" ({UNCONVERTIBLE_OPERATORS[op]})" if op in UNCONVERTIBLE_OPERATORS else "")
                              for op in missing)
        raise NotImplementedError(f"{_model_name(model)} cannot be exported to ONNX: its inference graph uses the "
                                  f"operator {described}, which MXNet 1.9.1's ONNX exporter has no converter for")


class _checker_opset:
    """Make ``onnx.checker`` (which the converter calls on its graph) check against ``opset``, not
    the newest opset of the installed ``onnx``: the converter writes opset-13 operator forms
    (``ReduceMean``'s ``axes`` attribute, an input from opset 18 on)."""

    def __init__(self, opset: int) -> None:
        self.opset = opset

    def __enter__(self) -> None:
        import onnx.checker

        self._context = onnx.checker.DEFAULT_CONTEXT
        self._saved = dict(self._context.opset_imports)
        self._context.opset_imports = {**self._saved, "": self.opset}

    def __exit__(self, *exc: Any) -> None:
        self._context.opset_imports = self._saved


def _failing_node(err: BaseException) -> Optional[Dict[str, Any]]:
    """The MXNet node whose conversion raised ``err`` (read from the converter's frame: the error
    itself often does not say which operator it is about)."""
    tb = err.__traceback__
    node = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "create_onnx_graph_proto":
            node = tb.tb_frame.f_locals.get("node")
        tb = tb.tb_next
    return node if isinstance(node, dict) else None


def _convert(model: Any, sym: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray], shape: Tuple[int, ...],
             free: Sequence[int], path: str) -> None:
    dynamic = tuple(None if i in free else s for i, s in enumerate(shape))
    try:
        with _quiet(), _checker_opset(ONNX_OPSET), warnings.catch_warnings():
            # The converter uses onnx.mapping, deprecated since onnx 1.13.
            warnings.simplefilter("ignore", DeprecationWarning)
            mx.onnx.export_model(sym, dict(params), in_shapes=[shape], in_types=[np.float32],
                                 onnx_file_path=path, dynamic=True, dynamic_input_shapes=[dynamic])
    except Exception as err:  # the converter raises AttributeError, NotImplementedError, AssertionError...
        node = _failing_node(err)
        where = (f"the operator '{node['op']}' (node {node['name']}, attributes {node.get('attrs', {})})"
                 if node else "its inference graph")
        raise NotImplementedError(f"{_model_name(model)} cannot be exported to ONNX: MXNet 1.9.1's ONNX exporter "
                                  f"cannot convert {where}: {type(err).__name__}: {err}") from err


def _finish(model: Any, path: str, shape: Tuple[int, ...], free: Sequence[int],
            outputs: Sequence[Tuple[Tuple[int, ...], Tuple[int, ...]]]) -> None:
    """Opset, input/output names, named free axes and metadata of the converted file."""
    import onnx

    from . import __version__

    proto = onnx.load(path)
    del proto.opset_import[:]
    proto.opset_import.extend([onnx.helper.make_opsetid("", ONNX_OPSET)])
    graph = proto.graph
    # The converter lists the parameters among the inputs as well (ONNX before IR version 4):
    # left there, a runtime would let callers override them and could not fold them as constants.
    constants = {t.name for t in graph.initializer}
    data_inputs = [v for v in graph.input if v.name not in constants]
    del graph.input[:]
    graph.input.extend(data_inputs)
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise NotImplementedError(f"{_model_name(model)}: the converted graph has {len(graph.input)} inputs and "
                                  f"{len(graph.output)} outputs; expected one of each")
    _keep_axes_in_expand(graph)
    # Constants the converter made but no node reads (ONNX Runtime warns of each when loading).
    read = {name for node in graph.node for name in node.input}
    unread = [t for t in graph.initializer if t.name not in read]
    for tensor in unread:
        graph.initializer.remove(tensor)
    renames = {graph.input[0].name: INPUT_NAME, graph.output[0].name: OUTPUT_NAME}
    for node in graph.node:
        for names in (node.input, node.output):
            for k, name in enumerate(names):
                if name in renames:
                    names[k] = renames[name]
    graph.input[0].name, graph.output[0].name = INPUT_NAME, OUTPUT_NAME

    axis_names = {i: ("batch" if i == 0 else f"axis_{i}") for i in free}
    for i, dim in enumerate(graph.input[0].type.tensor_type.shape.dim):
        if i in axis_names:
            dim.dim_param = axis_names[i]
        else:
            dim.dim_value = shape[i]
    # Output axes: fixed when equal under every probe, named after the input axis they follow.
    for j, dim in enumerate(graph.output[0].type.tensor_type.shape.dim):
        sizes = {out[j] for _, out in outputs}
        if len(sizes) == 1:
            dim.dim_value = sizes.pop()
            continue
        follows = [i for i in free if all(inp[i] == out[j] for inp, out in outputs)]
        if follows:
            dim.dim_param = axis_names[follows[0]]
    proto.producer_name, proto.producer_version = "accelbrainbase", __version__
    model_class = f"{type(model).__module__}.{type(model).__qualname__}"
    proto.doc_string = (f"{model_class}.inference: input '{INPUT_NAME}' {_shape_text(graph.input[0])}, "
                        f"output '{OUTPUT_NAME}' {_shape_text(graph.output[0])}, float32")
    onnx.helper.set_model_props(proto, {"model_class": model_class,
                                        "registry_name": str(getattr(type(model), "registry_name", "")),
                                        "input_shape": str(getattr(model, "input_shape", None))})
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def _keep_axes_in_expand(graph: Any) -> None:
    """MXNet's ``broadcast_to`` keeps an axis where its shape says ``0``; the converter copies the
    shape into ONNX's ``Expand``, for which ``0`` is a size. ``Expand`` broadcasts both ways, so
    ``1`` keeps the axis: every ``0`` of a constant ``Expand`` shape becomes ``1``."""
    from onnx import numpy_helper

    constants = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Expand" and node.input[1] in constants:
            tensor = constants[node.input[1]]
            shape = numpy_helper.to_array(tensor)
            if (shape == 0).any():
                tensor.CopyFrom(numpy_helper.from_array(np.where(shape == 0, 1, shape).astype(shape.dtype),
                                                        tensor.name))


def _shape_text(value_info: Any) -> str:
    dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?")
            for d in value_info.type.tensor_type.shape.dim]
    return "(" + ", ".join(dims) + ")"


# --------------------------------------------------------------------------- public
def _example(model: Any, example: Any) -> np.ndarray:
    if example is not None:
        x = example.asnumpy() if isinstance(example, mx.nd.NDArray) else np.asarray(example)
        return x.astype(np.float32)
    shape = tuple(model.example_input(2).shape)
    # Values in [0, 1): inputs every model takes (probabilities, pixels, Bernoulli units).
    return np.random.RandomState(0).rand(*shape).astype(np.float32)


def _check_inference_graph(model: Any) -> None:
    """Refuse a model whose ``_predict`` (what ``inference`` runs) is its own and not its
    ``inference_graph``: the export would not be what ``inference`` computes."""
    def owner(name: str) -> int:
        mro = type(model).__mro__
        return next(k for k, cls in enumerate(mro) if name in cls.__dict__)

    if owner("_predict") < owner("inference_graph"):
        raise NotImplementedError(f"{_model_name(model)} computes inference in Python (_predict), not in an "
                                  "inference_graph(F, x): define inference_graph to export it")


def export_onnx(model: Any, path: str, example: Any = None, *, verify: bool = True) -> str:
    """Write ``model.inference`` as an ONNX file at ``path`` and return ``path``.

    Args:
        model: an `ObservableModel` (its parameters initialized; deferred shapes are resolved by
            running ``example``).
        path: the ``.onnx`` file to write.
        example: a batch ``(N, *input_shape)`` fixing the sizes the graph does not leave free
            (default: ``model.example_input(2)``'s shape with values in [0, 1)).
        verify: run the file in ONNX Runtime on ``example`` and on a batch with every free axis
            changed, and compare with ``model.inference`` (rtol 1e-4, atol 1e-5); when they differ
            (a converter fault) the file is removed and ``RuntimeError`` raised. Needs
            ``onnxruntime``.

    Returns:
        ``path``. The file's input is `INPUT_NAME` ``(batch, *input_shape)``, its output
        `OUTPUT_NAME`; see the module's documentation for the axes.

    Raises:
        NotImplementedError: the inference graph cannot be expressed in ONNX; the message names the
            operator.

    Example:
        >>> path = export_onnx(model, "model.onnx", example=x[:2])      # doctest: +SKIP
        >>> run_onnx(path, x)                                            # doctest: +SKIP
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError("export_onnx needs the onnx package: pip install 'accelbrainbase[onnx]'") from None
    _check_inference_graph(model)
    x = _example(model, example)
    shape = tuple(int(s) for s in x.shape)
    expected = model.inference(x)  # resolves deferred shapes and per-length graphs before the symbol is built
    sym = _inference_symbol(model, shape[1:])
    params = _parameters(model, sym)
    free = _free_axes(model, sym, params, x)
    probe = _probe(shape, free)
    sym, params = _fold_parameter_subgraphs(sym, params, model.ctx[0])
    sym, params = _restate_for_converter(sym, params, [shape, probe])
    _check_operators(model, sym)
    # Output axes follow the input axis whose change alone changes them (square examples: H and W apart).
    singles = [_probe(shape, [i]) for i in free]
    probed_outputs = [(s, _output_shape(sym, params, s)) for s in [shape, probe] + singles]
    outputs = [(s, out) for s, out in probed_outputs if out is not None]
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        converted = os.path.join(tmp, "converted.onnx")
        _convert(model, sym, params, shape, free, converted)
        _finish(model, converted, shape, free, outputs)
        os.replace(converted, path)
    if verify:
        _verify(model, path, x, expected, probe)
    return path


def _verify(model: Any, path: str, x: np.ndarray, expected: np.ndarray, probe: Tuple[int, ...]) -> None:
    """ONNX Runtime against ``inference`` on the example and on a batch with every free axis
    changed; a file that disagrees is removed."""
    other = _probe_input(x, probe)
    for batch, reference in ((x, expected), (other, model.inference(other))):
        try:
            got = run_onnx(path, batch)
        except ImportError:
            raise
        except Exception as err:  # onnxruntime's own exception types
            problem = f"ONNX Runtime fails on it ({type(err).__name__}: {err})"
        else:
            if got.shape == reference.shape and np.allclose(got, reference, rtol=1e-4, atol=1e-5):
                continue
            problem = (f"ONNX Runtime's output differs from inference (largest difference "
                       f"{np.abs(got - reference).max():.3g})" if got.shape == reference.shape else
                       f"ONNX Runtime's output has shape {got.shape}, inference's {reference.shape}")
        os.remove(path)
        raise RuntimeError(f"{_model_name(model)}: the exported file (removed) is wrong for a batch {batch.shape}: "
                           f"{problem}. MXNet's converter mistranslated an operator; "
                           "export_onnx(..., verify=False) keeps the file for inspection")


def run_onnx(path: str, x: Any) -> np.ndarray:
    """``model.inference(x)`` from an exported file, run by ONNX Runtime on the CPU (``x``
    ``(N, *input_shape)``, cast to float32)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError("running an ONNX file needs onnxruntime: pip install 'accelbrainbase[onnx]'") from None
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(x, dtype=np.float32)})[0]
