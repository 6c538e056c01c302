import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from shoplm.config import DEFAULT_ENCODER
from shoplm.text import int8_outliers, onnx_backend
from shoplm.text.cache import EmbeddingCache
from shoplm.text.encoder import EncoderSettings, TextEncoder

HIDDEN, WIDE = 8, 32


def _feed_forward_model(seed: int = 0) -> onnx.ModelProto:
    """x -> MatMul -> Add(bias) -> erf GELU (as torch exports it) -> MatMul: one FFN block."""
    rng = np.random.default_rng(seed)
    constants = {
        "w_up": rng.normal(size=(HIDDEN, WIDE)).astype(np.float32),
        "bias": rng.normal(size=WIDE).astype(np.float32),
        "w_down": rng.normal(size=(WIDE, HIDDEN)).astype(np.float32),
        "sqrt2": np.array(np.sqrt(2.0), dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "half": np.array(0.5, dtype=np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w_up"], ["up"], "up"),
        helper.make_node("Add", ["bias", "up"], ["h"], "bias_add"),
        helper.make_node("Div", ["h", "sqrt2"], ["scaled"], "div"),
        helper.make_node("Erf", ["scaled"], ["erf"], "erf"),
        helper.make_node("Add", ["erf", "one"], ["erf1"], "add1"),
        helper.make_node("Mul", ["h", "erf1"], ["g"], "mul"),
        helper.make_node("Mul", ["g", "half"], ["act"], "half_mul"),
        helper.make_node("MatMul", ["act", "w_down"], ["y"], "down"),
    ]
    graph = helper.make_graph(
        nodes,
        "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "length", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "length", HIDDEN])],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def test_down_projections_are_the_matmuls_fed_by_an_activation():
    found = int8_outliers.down_projections(_feed_forward_model())
    assert [node.name for node in found] == ["down"]


def test_outlier_channels_are_those_far_above_the_median_channel():
    maxima = np.full(WIDE, 1.5)
    maxima[[3, 17]] = [7.0, 20.0]
    maxima[5] = 5.0  # 3.3x the median: ordinary
    assert int8_outliers.outlier_channels(maxima).tolist() == [3, 17]
    assert int8_outliers.outlier_channels(np.zeros(WIDE)).tolist() == []


def test_splitting_outlier_channels_leaves_the_float_result_unchanged():
    model = _feed_forward_model()
    x = np.random.default_rng(1).normal(size=(2, 5, HIDDEN)).astype(np.float32)
    expected = _run(model, x)
    down = int8_outliers.down_projections(model)[0]
    float_matmul = int8_outliers.split_outliers(model, down, np.array([2, 9, 30]))
    onnx.checker.check_model(model)
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-5)
    names = {node.name: node for node in model.graph.node}
    assert names[float_matmul].op_type == "MatMul"
    outlier_weight = next(
        i for i in model.graph.initializer if i.name == names[float_matmul].input[1]
    )
    assert list(outlier_weight.dims) == [3, HIDDEN]
    assert "w_down" not in {i.name for i in model.graph.initializer}  # replaced, not kept twice


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory):
    """The bundled encoder quantised with the split (export and calibration: seconds)."""
    root = tmp_path_factory.mktemp("shoplm-cache")
    with EmbeddingCache(root / "embeddings.sqlite") as cache:
        TextEncoder(EncoderSettings(backend="onnx-int8"), cache=cache).encode(["garden hose"])
    return onnx_backend.export_dir(root / "onnx", DEFAULT_ENCODER)


def test_the_int8_model_records_its_split_and_keeps_those_matmuls_float(int8_export):
    model = onnx.load(str(int8_export / onnx_backend.INT8_FILE))
    meta = {entry.key: entry.value for entry in model.metadata_props}
    split = json.loads(meta[int8_outliers.SPLIT_METADATA_KEY])
    assert split["ratio"] == int8_outliers.OUTLIER_RATIO
    # MiniLM's first feed-forward blocks have a few huge channels (measured: 2-5 per block)
    first = split["channels"]["/base/encoder/layer.0/output/dense/MatMul"]
    assert 0 < len(first) < 20
    for node, sizes in split["maxima"].items():  # each split channel is past the rule
        assert len(sizes["split_channel_max"]) == len(split["channels"][node])
        threshold = split["ratio"] * sizes["median_channel_max"]
        assert min(sizes["split_channel_max"]) > threshold * 0.999  # metadata is rounded
    ops = {node.name: node.op_type for node in model.graph.node}
    assert ops["/base/encoder/layer.0/output/dense/MatMul/outlier_matmul"] == "MatMul"
    assert any(op.startswith("DynamicQuantize") or "Integer" in op for op in ops.values())


def test_calibration_texts_are_the_bundled_catalog():
    texts = int8_outliers.calibration_texts()
    assert len(texts) == 300 and all(". " in text for text in texts)
