"""FLOPs per sample of an ONNX model, counted from its graph.

A latency alone does not say whether an engine is good. FLOPs per sample turn it into
achieved GFLOP/s, which can be set against the machine's matmul rate (the FLOP floor).
Only the multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul are counted and
FLOPs = 2·MACs: they are nearly all of a GAN's arithmetic, while activations, bias adds
and reshapes cost memory traffic rather than arithmetic. Counting the graph (not a torch
module) gives the same number for every engine and needs no torch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import onnx

from ganport.core.errors import InputError

COUNTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass(frozen=True)
class NodeMacs:
    """Multiply-accumulates of one node for one sample."""

    name: str
    op_type: str
    macs: int


def node_macs(model: onnx.ModelProto | str | os.PathLike[str]) -> list[NodeMacs]:
    """MACs per sample of every Conv, ConvTranspose, Gemm and MatMul node, in graph order.

    Shapes come from ONNX shape inference with the batch axis fixed to 1 (or to the
    model's static batch, then divided by it), so a symbolic batch is no obstacle.
    """
    proto = onnx.load(str(model)) if isinstance(model, str | os.PathLike) else model
    fixed, batch = _with_fixed_batch(proto)
    inferred = onnx.shape_inference.infer_shapes(fixed)
    shapes = _known_shapes(inferred)
    counted = []
    for index, node in enumerate(inferred.graph.node):
        if node.op_type not in COUNTED_OPS or node.domain not in ("", "ai.onnx"):
            continue
        name = node.name or f"{node.op_type}_{index}"
        macs = _macs(node, shapes, name)
        counted.append(NodeMacs(name, node.op_type, macs // batch))
    return counted


def flops_per_sample(model: onnx.ModelProto | str | os.PathLike[str]) -> int:
    """2 × the MACs of one sample: the arithmetic an engine must do per generated image."""
    return 2 * sum(node.macs for node in node_macs(model))


def _macs(node: onnx.NodeProto, shapes: dict[str, list[int]], name: str) -> int:
    def shape(value: str) -> list[int]:
        if value not in shapes:
            raise InputError(f"cannot count FLOPs: the shape of {value!r} ({name}) is unknown")
        return shapes[value]

    if node.op_type == "Conv":
        # Every output element sums over (Cin/group)·kh·kw products.
        return math.prod(shape(node.output[0])) * math.prod(shape(node.input[1])[1:])
    if node.op_type == "ConvTranspose":
        # Every input element scatters into (Cout/group)·kh·kw outputs.
        return math.prod(shape(node.input[0])) * math.prod(shape(node.input[1])[1:])
    if node.op_type == "Gemm":
        a = shape(node.input[0])
        trans_a = any(attr.name == "transA" and attr.i for attr in node.attribute)
        return math.prod(shape(node.output[0])) * (a[0] if trans_a else a[1])
    return math.prod(shape(node.output[0])) * shape(node.input[0])[-1]  # MatMul


def _with_fixed_batch(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy whose inputs and outputs have a concrete batch axis, and that batch size."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    del fixed.graph.value_info[:]  # symbolic intermediate shapes; inferred again below
    initializers = {t.name for t in fixed.graph.initializer}
    inputs = [v for v in fixed.graph.input if v.name not in initializers]
    dims = [v.type.tensor_type.shape.dim for v in inputs]
    batch = next((d[0].dim_value for d in dims if d and d[0].dim_value > 0), 1)
    for value in [*inputs, *fixed.graph.output]:
        shape = value.type.tensor_type.shape.dim
        if shape and shape[0].dim_value <= 0:
            shape[0].Clear()
            shape[0].dim_value = batch
    return fixed, batch


def _known_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    values = [*model.graph.input, *model.graph.value_info, *model.graph.output]
    for value in values:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        if all(d > 0 for d in dims):
            shapes[value.name] = dims
    for node in model.graph.node:  # Constant nodes hold weights in some exports
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)
    return shapes
