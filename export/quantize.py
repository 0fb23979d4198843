"""Float32 ONNX → int8 ONNX by ONNX Runtime's static quantization, as measured to be best.

QDQ format (QuantizeLinear/DequantizeLinear pairs around float ops, which ONNX Runtime
fuses into int8 kernels and any runtime can still read), int8 weights per output channel,
uint8 activations (the u8×s8 form x86 VNNI multiplies natively), scales from calibration
data run through the float model. Inputs and outputs stay float32, the batch axis stays
symbolic. What stays float (README, int8 export, has the measurements):

- the class rule: every node a comparison reads (the slice of z[:, 0] and the class
  edges) is excluded, so the int8 model draws the fp32 model's class for every z;
- ConvTranspose: ONNX Runtime's CPU provider has no int8 kernel for it and runs a
  quantized one in float32 on weights it dequantizes each run (slower than fp32), so it is
  never quantized; the exporter hands over generators in sub-pixel form
  (``ganport.export.rewrite``) instead;
- any node named in ``keep_float``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ganport.core.errors import InputError
from ganport.export.convert import comparison_inputs, name_nodes, quiet
from ganport.export.runtimes import check_loadable

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_METHOD = "minmax"
DEFAULT_CALIBRATION = 512
CALIBRATION_SEED = 2_718_281  # latents no check or evaluation draws (they use small seeds)
# The ops quantized: weighted ops with int8 kernels on ONNX Runtime's CPU provider, the
# activations between them (fused into those kernels) and the data movement a sub-pixel
# generator puts between them.
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul", "Relu", "LeakyRelu", "Transpose", "Reshape")
CALIBRATION_BATCH = 64
# ONNX's reference evaluator implements QuantizeLinear and DequantizeLinear at opsets 19,
# 21, 23 and 25 only: an int8 file below 19 is one it cannot run.
INT8_MIN_OPSET = 19


@dataclass(frozen=True)
class Quantization:
    """How an int8 file was made; recorded in its metadata and the manifest."""

    method: str
    calibration_samples: int
    calibration_data: str
    format: str = "QDQ"
    weights: str = "int8, per output channel, symmetric"
    activations: str = "uint8, per tensor"
    quantized_ops: list[str] = field(default_factory=lambda: list(QUANTIZED_OPS))
    float_nodes: list[str] = field(default_factory=list)
    onnxruntime: str = ""
    opset_note: str = ""  # why the file's opset is not the one asked for, where it is not

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def int8_opset(requested: int, oldest_onnxruntime: str | None = None) -> tuple[int, str]:
    """The opset an int8 file is written at, and why where it is not ``requested``.

    One opset holds for a whole file (one per domain), so the QDQ nodes cannot be at 19
    while the rest stays older: the file is raised to 19, which every runtime that reads
    the requested opset's ops reads too, except onnxruntime 1.15 (limit 18): aimed at it
    (``--oldest-onnxruntime``), the file keeps the requested opset and says what it loses.
    """
    if requested >= INT8_MIN_OPSET:
        return requested, ""
    if oldest_onnxruntime:
        try:
            check_loadable(INT8_MIN_OPSET, oldest_onnxruntime)
        except InputError:
            return requested, (
                f"kept at opset {requested} for onnxruntime {oldest_onnxruntime}; ONNX's "
                f"reference evaluator runs QuantizeLinear/DequantizeLinear from opset "
                f"{INT8_MIN_OPSET} on, so it cannot run this file"
            )
    return INT8_MIN_OPSET, (
        f"opset {INT8_MIN_OPSET}, not the {requested} asked for: ONNX's reference evaluator "
        f"runs QuantizeLinear/DequantizeLinear from opset {INT8_MIN_OPSET} on"
    )


def quantize_int8(
    model: onnx.ModelProto,
    calibration: np.ndarray,
    *,
    method: str = DEFAULT_METHOD,
    calibration_data: str = "",
    keep_float: Sequence[str] = (),
    opset_note: str = "",
) -> tuple[onnx.ModelProto, Quantization]:
    """Quantize a float32 ``model`` (one input) calibrated on the rows of ``calibration``;
    ``opset_note`` (from ``int8_opset``) is recorded with how it was made."""
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if method not in CALIBRATION_METHODS:
        raise InputError(
            f"calibration method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}"
        )
    if len(calibration) < 1:
        raise InputError("int8 calibration needs at least one sample")
    name_nodes(model)
    float_nodes = sorted(comparison_inputs(model) | set(keep_float))
    calibrate = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    with tempfile.TemporaryDirectory() as tmp, quiet(), _quiet_quantizer():
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(source))
        quantize_static(
            str(source),
            str(target),
            _reader(model.graph.input[0].name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=calibrate,
            op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_exclude=float_nodes,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        quantized = onnx.load(str(target))
    info = Quantization(
        method=method,
        calibration_samples=len(calibration),
        calibration_data=calibration_data,
        float_nodes=float_nodes,
        onnxruntime=onnxruntime.__version__,
        opset_note=opset_note,
    )
    return quantized, info


def _reader(input_name: str, calibration: np.ndarray) -> Any:
    """ONNX Runtime's calibration reader over the rows of ``calibration``, in batches."""
    from onnxruntime.quantization import CalibrationDataReader

    batches = [
        {input_name: np.ascontiguousarray(calibration[i : i + CALIBRATION_BATCH], np.float32)}
        for i in range(0, len(calibration), CALIBRATION_BATCH)
    ]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.rows, None)

    return Reader()


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantizer logs advice (pre-processing) through the root logger on every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
