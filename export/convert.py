"""nn.Module → ONNX bytes: the exporter call itself, and fp16 conversion.

Two exporters are offered because they trade differently:
- ``dynamo`` (the default): ``torch.export`` + onnxscript, the exporter torch develops
  and defaults to; the TorchScript one is deprecated since torch 2.9. Slower to export
  (about a second per model). Opsets below 18 go through ONNX's version converter.
- ``torchscript``: the legacy tracer, ~20× faster to export and native at opsets 13-20,
  for older torch releases and quick iteration.
Both receive a model whose BatchNorm is already folded, so their graphs run the same ops.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import onnx
import onnx.numpy_helper
import onnx.version_converter
import torch
from onnx import TensorProto
from torch import nn

from ganport.core.errors import InputError
from ganport.export.runtimes import ir_version_for

EXPORTERS = ("dynamo", "torchscript")
MIN_OPSET = 13
MAX_OPSET = {"dynamo": 23, "torchscript": 20}
DYNAMO_NATIVE_OPSET = 18


def export_module(
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_name: str,
    *,
    opset: int,
    exporter: str,
    static_batch: int | None,
) -> onnx.ModelProto:
    """Export ``module`` (eval mode) on ``examples`` (one tensor per input, batch first) with a
    symbolic batch axis on every input and the output unless ``static_batch`` is set."""
    if exporter not in EXPORTERS:
        raise InputError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    if not MIN_OPSET <= opset <= MAX_OPSET[exporter]:
        raise InputError(
            f"opset {opset} is outside what the {exporter} exporter supports "
            f"({MIN_OPSET}..{MAX_OPSET[exporter]})"
        )
    batch = static_batch or 2
    examples = tuple(x[:1].expand(batch, *x.shape[1:]).contiguous() for x in examples)
    names = list(input_names)
    with quiet():
        if exporter == "torchscript":
            axes = None if static_batch else {n: {0: "batch"} for n in [*names, output_name]}
            torch.onnx.export(
                module,
                examples,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=names,
                output_names=[output_name],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        else:
            batch_dim = torch.export.Dim("batch", min=1, max=1 << 20)
            shapes = None if static_batch else tuple({0: batch_dim} for _ in examples)
            program = torch.onnx.export(
                module,
                examples,
                dynamo=True,
                opset_version=max(opset, DYNAMO_NATIVE_OPSET),
                dynamic_shapes=shapes,
                input_names=names,
                output_names=[output_name],
                optimize=True,
                verbose=False,
                external_data=False,
            )
            program.save(str(path), external_data=False)
    model = onnx.load(str(path))
    if opset_of(model) != opset:
        model = _convert_opset(model, opset)
    if not static_batch:
        _name_batch_axis(model)
    return model


# Past this many bytes a model keeps its weights in FILE.onnx.data beside it: protobuf
# refuses a message of 2 GiB, and ONNX Runtime maps a large data file rather than parse it.
EXTERNAL_DATA_BYTES = 1 << 30


def save_onnx(model: onnx.ModelProto, path: Path, external_data: bool = False) -> None:
    """Save ``model``; with ``external_data`` (or past ``EXTERNAL_DATA_BYTES``) every
    tensor of 1 KiB or more goes to one file beside it, ``<name>.data``, the layout ONNX
    Runtime (Python, Node, the browser), OpenVINO and onnx's tools read."""
    if not external_data and model.ByteSize() <= EXTERNAL_DATA_BYTES:
        onnx.save(model, str(path))
        return
    onnx.save(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=f"{path.name}.data",
        size_threshold=1024,
    )


def opset_of(model: onnx.ModelProto) -> int:
    """The default-domain opset a model imports."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _convert_opset(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """Bring a dynamo export (opset 18+) down to ``opset``.

    ONNX's version converter lacks many down-adapters (Reshape 14 → 13, for one), yet a
    small GAN's ops (Gemm, ConvTranspose, Reshape without allowzero, LeakyRelu, Tanh)
    mean the same at opset 13. So first relabel the model and let the full checker
    validate every node against the older schemas; only if that fails, try the version
    converter. The export's run against torch then proves the result either way.
    """
    if opset < 14:
        _drop_harmless_allowzero(model)
    relabelled = onnx.ModelProto()
    relabelled.CopyFrom(model)
    for entry in relabelled.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    try:
        onnx.checker.check_model(relabelled, full_check=True)
        return relabelled
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError):
        pass
    try:
        converted = onnx.version_converter.convert_version(model, opset)
    except (RuntimeError, onnx.checker.ValidationError) as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise InputError(
            f"cannot convert this model to opset {opset} ({detail}); "
            "try --exporter torchscript or a newer opset"
        ) from exc
    if opset_of(converted) != opset:
        raise InputError(f"the exporter produced opset {opset_of(converted)}, not {opset}")
    return converted


def _drop_harmless_allowzero(model: onnx.ModelProto) -> None:
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = onnx.numpy_helper.to_array(attr.t)
    for node in model.graph.node:
        shape = constants.get(node.input[1]) if node.op_type == "Reshape" else None
        if shape is not None and not (shape == 0).any():
            kept = [a for a in node.attribute if a.name != "allowzero"]
            del node.attribute[:]
            node.attribute.extend(kept)


def fit_ir_version(model: onnx.ModelProto) -> None:
    """Stamp the lowest IR version the model's opsets need, so every runtime release that
    implements those opsets loads it (exporters stamp their own newest IR, which older
    onnxruntime releases refuse even at opset 13).

    The per-node and per-value metadata the dynamo exporter adds (stack traces, an IR 10
    field) is dropped first: it only annotates. The model's own metadata_props, where
    ganport's metadata lives, exist since IR 1 and stay.
    """
    graph = model.graph
    for item in [*graph.node, *graph.value_info, *graph.input, *graph.output]:
        del item.metadata_props[:]
    del graph.metadata_props[:]
    model.ir_version = ir_version_for(list(model.opset_import))


def to_float16(model: onnx.ModelProto, keep_float32: Iterable[str] = ()) -> onnx.ModelProto:
    """Weights and compute in float16; inputs and outputs stay float32 (casts inside).

    What must stay exact stays float32: every comparison and all it reads (the class
    rule's Greater on z[:, 0] and its edges: the fp16 model draws the class the fp32 one
    draws for every z) and the nodes named in ``keep_float32``. A float32 node reading the
    graph input reads it directly, never through a float16 round trip.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    name_nodes(model)
    blocked = comparison_inputs(model) | set(keep_float32)
    del model.graph.value_info[:]  # stale float32 types the converter would mistake
    with quiet():
        converted = convert_float_to_float16(
            model, keep_io_types=True, node_block_list=sorted(blocked)
        )
        _drop_float16_round_trips(converted)
        _split_gemm_bias(converted, blocked)
        wrapped = OnnxModel(converted)
        wrapped.topological_sort()  # the converter appends its casts at the end
    return wrapped.model


def _split_gemm_bias(model: onnx.ModelProto, float32_nodes: set[str]) -> None:
    """Write each float16 Gemm that adds a bias as Gemm without it, then Add.

    The same arithmetic (ONNX Runtime gives bit-identical outputs at the same speed, its
    fusions see through either form), but tract 0.23 refuses a float16 Gemm with a bias
    ("expected batch,784,F16 got batch,784,F32": its expansion adds the bias in float32)
    and reads this form. A Gemm that scales its bias (beta other than 1) is left as it is.
    """
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if (
            node.op_type != "Gemm"
            or node.name in float32_nodes
            or len(node.input) < 3
            or not node.input[2]
            or attrs.get("beta", 1.0) != 1.0
        ):
            nodes.append(node)
            continue
        product = f"{node.output[0]}_before_bias"
        bias = onnx.helper.make_node(
            "Add", [product, node.input[2]], list(node.output), name=f"{node.name}_bias"
        )
        del node.input[2]
        node.output[0] = product
        nodes += [node, bias]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every node a unique name (the float16 converter blocks nodes by name)."""
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


COMPARISONS = {"Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal"}


def comparison_inputs(model: onnx.ModelProto) -> set[str]:
    """Names of the comparison nodes that read floats, and of every node they depend on."""
    producers = {out: node for node in model.graph.node for out in node.output}
    names: set[str] = set()
    stack = [n for n in model.graph.node if n.op_type in COMPARISONS]
    while stack:
        node = stack.pop()
        if node.name in names:
            continue
        names.add(node.name)
        stack += [producers[name] for name in node.input if name in producers]
    return names


def _drop_float16_round_trips(model: onnx.ModelProto) -> None:
    """Let float32 nodes read float32 tensors directly.

    The converter hands every float32 (blocked) node its inputs through Cast(→ float16)
    then Cast(→ float32), even when the tensor was float32 all along (the graph input, a
    blocked node's output, a float32 constant). That round trip rounds values, so it is
    cut out: consumers of the outer Cast read the original tensor, and Casts nothing reads
    any more are dropped. What remains is a graph whose float32 part is exact.
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    }
    types |= {init.name: init.data_type for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    float32 = onnx.TensorProto.FLOAT
    exact: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type != "Cast" or _cast_to(node) != float32:
            continue
        source = node.input[0]
        inner = producers.get(source)
        if inner is not None and inner.op_type == "Cast" and _cast_to(inner) == TensorProto.FLOAT16:
            source = inner.input[0]
        if types.get(source) == float32:  # a round trip, or a Cast that changes nothing
            exact[node.output[0]] = source
    outputs = {value.name for value in model.graph.output}
    for node in model.graph.node:
        node.input[:] = [exact.get(name, name) for name in node.input]
    while True:
        used = {name for node in model.graph.node for name in node.input} | outputs
        kept = [n for n in model.graph.node if n.op_type != "Cast" or n.output[0] in used]
        if len(kept) == len(model.graph.node):
            break
        del model.graph.node[:]
        model.graph.node.extend(kept)
    del model.graph.value_info[:]


def _cast_to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), 0)


def _name_batch_axis(model: onnx.ModelProto) -> None:
    """Call the symbolic batch dimension ``batch`` on every graph input and output."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The exporters print deprecation notes and progress; keep the CLI's output readable."""
    names = ("torch.onnx", "torch.export", "onnxscript", "torch._dynamo")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
