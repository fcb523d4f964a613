"""ONNX export beyond the contract suite (which checks every registered model): refusals name the
operator, fixed and free axes, the graph rewrites keep the numbers."""
import numpy as np
import pytest
from mxnet import gluon

from accelbrainbase.models import EncoderDecoder, ObservableModel
from accelbrainbase.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx, run_onnx

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


class _Graph(ObservableModel):
    """A one-layer model whose forward pass is ``fn(F, dense(x))``."""

    input_shape = (None, 3)

    def __init__(self, fn=None, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn
        self.dense = gluon.nn.Dense(3, flatten=False, in_units=3)

    def hybrid_forward(self, F, x):
        return self.fn(F, self.dense(x))

    def compute_loss(self, x, y):
        return (self(x) ** 2).mean(axis=(1, 2))


def _dims(path, which="input"):
    value = getattr(onnx.load(path).graph, which)[0]
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_a_symbolic_loop_is_refused_naming_the_operator(tmp_path):
    def running_sum(F, h):
        out, _ = F.contrib.foreach(lambda x_t, s: (x_t + s[0], [x_t + s[0]]), F.swapaxes(h, 0, 1),
                                   [F.zeros_like(F.slice_axis(h, axis=1, begin=0, end=1).reshape((0, -1)))])
        return F.swapaxes(out, 0, 1)

    model = _Graph(running_sum, seed=0)
    with pytest.raises(NotImplementedError, match=r"'_foreach' \(F.contrib.foreach"):
        export_onnx(model, str(tmp_path / "m.onnx"))


def test_a_converter_failure_is_refused_naming_the_operator(tmp_path):
    # A negative-step slice of the data: MXNet 1.9.1's converter raises NotImplementedError itself.
    model = _Graph(lambda F, h: F.slice(h, begin=(None, None, None), end=(None, None, None), step=(1, 1, -1)), seed=0)
    with pytest.raises(NotImplementedError, match=r"cannot convert the operator 'slice' \(node .*slice"):
        export_onnx(model, str(tmp_path / "m.onnx"))


def test_a_model_predicting_outside_its_inference_graph_is_refused(tmp_path):
    class Doubled(_Graph):
        def _predict(self, x):
            return self(x) * 2

    with pytest.raises(NotImplementedError, match="inference_graph"):
        export_onnx(Doubled(lambda F, h: h, seed=0), str(tmp_path / "m.onnx"))


def test_special_reshape_codes_and_excluded_axes_keep_free_axes(tmp_path):
    # (N, T, 3) -> (N * T, 3) -> back, and a mean over every axis but the batch.
    def fn(F, h):
        merged = F.reshape(h, shape=(-3, -2))
        back = F.reshape_like(merged, h)
        return F.broadcast_add(back, F.mean(h, axis=0, exclude=True, keepdims=True))

    model = _Graph(fn, seed=0)
    path = export_onnx(model, str(tmp_path / "m.onnx"))
    assert _dims(path) == ["batch", "axis_1", 3] and _dims(path, "output") == ["batch", "axis_1", 3]
    x = np.random.RandomState(0).rand(5, 7, 3).astype(np.float32)
    np.testing.assert_allclose(run_onnx(path, x), model.inference(x), rtol=1e-4, atol=1e-5)


def test_an_unrolled_loop_fixes_the_sequence_length(tmp_path):
    """The encoder/decoder feeding back its outputs decodes with ``F.contrib.foreach``; exported,
    the loop is unrolled over the example's length, and the file takes that length only."""
    model = EncoderDecoder(input_dim=2, hidden_dim=8, decoder_feedback=True, seed=0)
    x = np.random.RandomState(0).rand(3, 5, 2).astype(np.float32)
    path = model.export_onnx(str(tmp_path / "m.onnx"), example=x)
    assert _dims(path) == ["batch", 5, 2]
    np.testing.assert_allclose(run_onnx(path, x), model.inference(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="dimensions"):
        run_onnx(path, np.concatenate([x, x], axis=1))


def test_names_metadata_and_opset(tmp_path):
    model = _Graph(lambda F, h: F.relu(h), seed=0)
    path = model.export_onnx(str(tmp_path / "m.onnx"))
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain == ""] == [13]
    assert [i.name for i in proto.graph.input] == [INPUT_NAME] and [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["model_class"].endswith("_Graph") and proto.producer_name == "accelbrainbase"
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_the_export_leaves_the_model_as_it_was(tmp_path):
    model = _Graph(lambda F, h: F.tanh(h), seed=0)
    x = np.random.RandomState(0).rand(4, 6, 3).astype(np.float32)
    before = model.inference(x)
    model.export_onnx(str(tmp_path / "m.onnx"))
    np.testing.assert_array_equal(model.inference(x), before)
