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
from collections.abc import Iterator
from pathlib import Path

import onnx
import onnx.numpy_helper
import onnx.version_converter
import torch
from torch import nn

from ganport.core.errors import InputError

EXPORTERS = ("dynamo", "torchscript")
MIN_OPSET = 13
MAX_OPSET = {"dynamo": 23, "torchscript": 20}
DYNAMO_NATIVE_OPSET = 18


def export_module(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_name: str,
    *,
    opset: int,
    exporter: str,
    static_batch: int | None,
) -> onnx.ModelProto:
    """Export ``module`` (eval mode) with a symbolic batch axis unless ``static_batch`` is set."""
    if exporter not in EXPORTERS:
        raise InputError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    if not MIN_OPSET <= opset <= MAX_OPSET[exporter]:
        raise InputError(
            f"opset {opset} is outside what the {exporter} exporter supports "
            f"({MIN_OPSET}..{MAX_OPSET[exporter]})"
        )
    batch = static_batch or 2
    example = example[:1].expand(batch, *example.shape[1:]).contiguous()
    with _quiet():
        if exporter == "torchscript":
            axes = None if static_batch else {input_name: {0: "batch"}, output_name: {0: "batch"}}
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        else:
            batch_dim = torch.export.Dim("batch", min=1, max=1 << 20)
            shapes = None if static_batch else ({0: batch_dim},)
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                opset_version=max(opset, DYNAMO_NATIVE_OPSET),
                dynamic_shapes=shapes,
                input_names=[input_name],
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


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weights and compute in float16; inputs and outputs stay float32 (casts inside)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with _quiet():
        converted = OnnxModel(convert_float_to_float16(model, keep_io_types=True))
        converted.topological_sort()  # the converter appends its input casts at the end
    return converted.model


def _name_batch_axis(model: onnx.ModelProto) -> None:
    """Call the symbolic batch dimension ``batch`` on every graph input and output."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
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
