"""Int8 encoder graphs whose few outlier activation channels stay float (an LLM.int8()-style split).

Why: dynamic quantisation gives each MatMul input one 8-bit scale per run.  The inputs of a
transformer's feed-forward down-projections (the activation's output) carry a handful of
channels far larger than the rest: in all-MiniLM-L6-v2's first blocks one or two of the
1536 channels reach 13.7-24.6 while the median channel's largest value is about 1.4, so the
scale is spent on them and every other channel keeps only a few of its 256 levels: those
MatMuls are where plain int8's quality loss came from, but keeping them wholly float is slow
on CPUs with fast int8 instructions.  So only the outlier channels are split off: the int8
MatMul sees its input with them zeroed, a small float MatMul multiplies just them by their
weight rows, and the two are added; the result is ``x @ W`` up to the int8 error of the
ordinary channels.

Which channels are outliers is measured once, when the model is quantised, on calibration
texts (the bundled sample catalog's titles and descriptions, so any shop gets the same
graph for the same model): a channel is an outlier where its largest |value| over the
texts' tokens is more than ``OUTLIER_RATIO`` times the median channel's.  The split (node,
channels, their maxima and the median's) is written into the quantised model's metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

OUTLIER_RATIO = 4.0
ACTIVATIONS = {"Erf", "Tanh", "Relu", "Sigmoid", "Gelu", "FastGelu", "BiasGelu", "QuickGelu"}
_ELEMENTWISE = {"Add", "Mul", "Div", "Sub", "Pow", "Cast", "Sqrt"}
_WALK_DEPTH = 8
_CALIBRATION_BATCH = 32
SPLIT_METADATA_KEY = "shoplm.int8_outlier_split"


def calibration_texts() -> list[str]:
    """The bundled sample catalog's ``title. description`` texts (300 products)."""
    from shoplm.datasets import sample_paths
    from shoplm.ingest.readers import open_rows
    from shoplm.ingest.validate import build

    items_path, _ = sample_paths()
    texts = []
    with open_rows(items_path) as rows:
        for row in rows:
            item, problems = build("items", row.record, {}, None)
            if item is None:
                raise ValueError(f"{items_path} row {row.number}: {problems}")
            texts.append(f"{item.title}. {item.description}")
    return texts


def _weight(graph: Any, node: Any) -> Any | None:
    """The 2-D initializer a MatMul multiplies by, or None (activation @ activation)."""
    if node.op_type != "MatMul" or len(node.input) != 2:
        return None
    for initializer in graph.initializer:
        if initializer.name == node.input[1] and len(initializer.dims) == 2:
            return initializer
    return None


def down_projections(model: Any) -> list[Any]:
    """Weight MatMuls fed by an activation through elementwise ops only (feed-forward outputs)."""
    graph = model.graph
    producer = {output: node for node in graph.node for output in node.output}

    def reaches_activation(tensor: str, depth: int) -> bool:
        node = producer.get(tensor)
        if node is None or depth > _WALK_DEPTH:
            return False
        if node.op_type in ACTIVATIONS:
            return True
        if node.op_type not in _ELEMENTWISE:
            return False
        return any(reaches_activation(name, depth + 1) for name in node.input)

    return [
        node
        for node in graph.node
        if _weight(graph, node) is not None and reaches_activation(node.input[0], 0)
    ]


def channel_maxima(
    model: Any, export: Path, tensors: Sequence[str], texts: Sequence[str]
) -> dict[str, np.ndarray]:
    """Per tensor, each last-axis channel's largest |value| over the texts' real tokens.

    The float graph is run, with the export's tokenizer, with the tensors as extra outputs;
    padding positions are masked out, so batching does not change the answer.
    """
    import onnx

    from shoplm.text.onnx_backend import OnnxEncoder

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {output.name for output in probe.graph.output}
    for name in tensors:
        if name not in known:
            probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    encoder = OnnxEncoder(export, threads=1, graph=probe.SerializeToString())
    encodings = encoder.tokenize(texts)
    maxima: dict[str, np.ndarray] = {}
    for start in range(0, len(encodings), _CALIBRATION_BATCH):
        feeds = encoder.feeds(encodings[start : start + _CALIBRATION_BATCH])
        values = encoder.session.run(list(tensors), feeds)
        real = feeds["attention_mask"].astype(bool)
        for name, value in zip(tensors, values, strict=True):
            batch_max = np.abs(value[real]).max(axis=0)
            maxima[name] = np.maximum(maxima.get(name, batch_max), batch_max)
    return maxima


def outlier_channels(maxima: np.ndarray, ratio: float = OUTLIER_RATIO) -> np.ndarray:
    """Indices of the channels whose maximum exceeds ``ratio`` times the median channel's."""
    median = float(np.median(maxima))
    if median <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(maxima > ratio * median).astype(np.int64)


def split_outliers(model: Any, node: Any, channels: np.ndarray) -> str:
    """Rewrite ``node`` (x @ W) as int8-able ``(x * keep) @ W_kept`` + float ``x[..., c] @ W[c]``.

    Returns the name of the float MatMul, which the quantiser must leave alone.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    weight = numpy_helper.to_array(_weight(graph, node)).astype(np.float32)
    keep = np.ones(weight.shape[0], dtype=np.float32)
    keep[channels] = 0.0
    name = node.name or node.output[0]
    x, (y,) = node.input[0], node.output
    constants = {
        f"{name}/outlier_keep": keep,
        f"{name}/outlier_index": channels.astype(np.int64),
        # the split rows are zeroed so they do not widen the int8 weights' scales
        f"{name}/kept_weight": weight * keep[:, None],
        f"{name}/outlier_weight": weight[channels],
    }
    graph.initializer.extend(numpy_helper.from_array(v, n) for n, v in constants.items())
    float_matmul = f"{name}/outlier_matmul"
    replacement = [
        helper.make_node("Mul", [x, f"{name}/outlier_keep"], [f"{name}/kept_x"], f"{name}/keep"),
        helper.make_node(
            "MatMul", [f"{name}/kept_x", f"{name}/kept_weight"], [f"{name}/kept_y"], name
        ),
        helper.make_node(
            "Gather", [x, f"{name}/outlier_index"], [f"{name}/outlier_x"], f"{name}/gather",
            axis=-1,
        ),
        helper.make_node(
            "MatMul", [f"{name}/outlier_x", f"{name}/outlier_weight"], [f"{name}/outlier_y"],
            float_matmul,
        ),
        helper.make_node("Add", [f"{name}/kept_y", f"{name}/outlier_y"], [y], f"{name}/add"),
    ]  # fmt: skip
    position = list(graph.node).index(node)
    old_weight = node.input[1]
    graph.node.remove(node)
    for offset, new in enumerate(replacement):
        graph.node.insert(position + offset, new)
    if not any(old_weight in n.input for n in graph.node):
        graph.initializer.remove(next(i for i in graph.initializer if i.name == old_weight))
    return float_matmul


def quantize_with_outlier_split(
    source: Path, target: Path, texts: Sequence[str] | None = None, ratio: float = OUTLIER_RATIO
) -> dict[str, list[int]]:
    """Quantise ``source`` (an export's float model) to ``target``; returns the split channels.

    Signed 8-bit weights per output channel, activations quantised at run time, MatMuls only
    (the embedding tables stay float).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    nodes = down_projections(model)
    inputs = [node.input[0] for node in nodes]
    maxima = channel_maxima(model, Path(source).parent, inputs, texts or calibration_texts())
    split: dict[str, list[int]] = {}
    sizes: dict[str, dict] = {}  # why each split: the channels' maxima against the median's
    float_nodes = []
    for node, tensor in zip(nodes, inputs, strict=True):
        channels = outlier_channels(maxima[tensor], ratio)
        if len(channels):
            name = node.name or node.output[0]
            split[name] = channels.tolist()
            sizes[name] = {
                "median_channel_max": round(float(np.median(maxima[tensor])), 3),
                "split_channel_max": [round(float(v), 3) for v in maxima[tensor][channels]],
            }
            float_nodes.append(split_outliers(model, node, channels))
    entry = model.metadata_props.add()
    entry.key = SPLIT_METADATA_KEY
    entry.value = json.dumps({"ratio": ratio, "channels": split, "maxima": sizes})
    staged = Path(target).with_name(Path(target).name + ".split.onnx")
    try:
        onnx.save(model, str(staged))
        quantize_dynamic(
            str(staged),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=float_nodes,
            # shape inference cannot type the rewritten nodes; every tensor here is float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        staged.unlink(missing_ok=True)
    return split
