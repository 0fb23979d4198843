"""ONNX Runtime's own format (``.ort``), the file minimal and mobile builds of ONNX Runtime
load, from an export in the form NNAPI (Android) and CoreML (iOS) can run.

The mobile form (``ExportOptions.mobile_form``, ``ganport.export.rewrite.mobile_form``):
a fixed batch (1 unless ``--static-batch N``); every ConvTranspose as a convolution and a
DepthToSpace in DCR mode (NNAPI has no ConvTranspose, CoreML's NeuralNetwork format takes
DepthToSpace only in DCR); and a conditional generator of ganport's takes its class as an
int64 ``labels`` input instead of comparing z[:, 0] against the class edges (NNAPI and
CoreML have no Greater or Xor). The ganport runtime feeds that input the class z[:, 0]
selects, so samples keep their classes. Every variant of the export is in this form; the
fixed-batch ones get the ``.ort``.

The ``.ort`` is written by ONNX Runtime's converter in its Runtime optimisation style, the
one it advises for NNAPI and CoreML: the graph after the basic optimisations, with the CPU
fusions (Conv + activation into FusedConv, which NNAPI does not run) recorded beside it
and replayed only on nodes left to the CPU, where a session enables
``session.enable_saved_runtime_optimizations``. See ``CAVEAT`` for what it costs on x86.

``usability`` runs ONNX Runtime's mobile usability check: on a conditional DCGAN 28 G,
NNAPI and both CoreML formats take all 16 nodes in one partition, where the plain
fixed-batch export left them 8 (NNAPI, CoreML NeuralNetwork) or 10 (MLProgram) of 13, and
none with a dynamic batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganport.core.errors import JobFailed, first_line
from ganport.export.targets import Target

if TYPE_CHECKING:
    from ganport.export.api import ExportOptions

# The execution providers the usability check asks about, and ONNX Runtime's op lists.
PROVIDERS = {
    "NNAPI": None,
    "CoreML NeuralNetwork": "coreml_supported_neuralnetwork_ops.md",
    "CoreML MLProgram": "coreml_supported_mlprogram_ops.md",
}

# Measured (ONNX Runtime 1.31, one thread, interleaved medians, default-width DCGAN 28), as
# a multiple of the .onnx's time: the D at batch 1 / 64 saved in the Fixed style with the
# NCHWc transform (the converter's --target_platform amd64) 0.91 / 1.13, without it 1.50 /
# 1.95, in the Runtime style 1.51 / 1.95 (1.50 / 1.94 without replay); the mobile-form G at
# batch 1 1.06, 1.48 and 1.42 (1.61). DCGAN 64's D at batch 64: 1.01 with NCHWc, 1.21
# Fixed, 1.21 Runtime; its mobile-form G at batch 1 within 0.96-1.07 in every style. The
# Fixed style at the full level bakes FusedConv, a CPU-only op, into the graph NNAPI would
# read: the Runtime style costs nothing more here.
CAVEAT = (
    "the .ort is saved without ONNX Runtime's NCHWc layout transform (x86-only kernels a "
    "mobile or ARM build lacks): on x86 the CPU provider runs a DCGAN's convolutions "
    "up to 2x slower from it than from the .onnx (1.2-1.95x for a DCGAN D); serve the .onnx "
    "there"
)


def adjust(options: ExportOptions) -> ExportOptions:
    """A fixed batch (1 unless one is asked) and the ops NNAPI and CoreML run."""
    return dataclasses.replace(options, mobile_form=True, static_batch=options.static_batch or 1)


def takes(options: ExportOptions) -> bool:
    """Only fixed-batch variants: NNAPI runs no dynamic shape."""
    return options.static_batch is not None


def convert(onnx_file: Path, dest: Path) -> None:
    """Write ``dest`` (ORT format) from ``onnx_file`` with ONNX Runtime's converter, which
    writes beside its input: it runs on a copy in a temporary folder."""
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "model.onnx"
        shutil.copyfile(onnx_file, model)
        out = Path(folder) / "out"
        try:
            with _quiet():
                convert_onnx_models_to_ort(
                    model, output_dir=out, optimization_styles=[OptimizationStyle.Runtime]
                )
        except Exception as exc:  # ORT's own types derive from Exception alone
            problem = first_line(exc)
            raise JobFailed(
                f"onnxruntime could not convert {onnx_file.name} to .ort: {problem}"
            ) from exc
        shutil.move(next(out.glob("*.ort")), dest)


def usability(onnx_file: Path) -> dict[str, Any]:
    """What ONNX Runtime's mobile usability check finds of ``onnx_file``, per provider:
    the nodes it could run, of how many, in how many partitions, and its verdict (YES,
    MAYBE, NO), after the basic optimisations the ``.ort`` conversion applies."""
    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, _quiet():
        optimized = Path(folder) / "model.onnx"
        optimize_model(Path(onnx_file), optimized, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        for provider, ops in PROVIDERS.items():
            if ops is None:
                info = checker.check_nnapi_partitions(model, require_fixed_input_sizes=True)
            else:
                info = checker.check_coreml_partitions(model, True, ops)
            found[provider] = {
                "nodes": info.num_nodes,
                "supported": info.num_supported_nodes,
                "partitions": info.num_partitions,
                "verdict": info.suitability().name,
                "unsupported_ops": sorted(info.unsupported_ops),
            }
    return found


@contextlib.contextmanager
def _quiet():
    """The converter and the checker print and log every step: kept off the CLI's output."""
    level = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(level)


TARGET = Target(
    name="ort-mobile",
    summary="ONNX Runtime's own format (.ort) for minimal and mobile builds, NNAPI/CoreML ops",
    adjust=adjust,
    convert=convert,
    caveat=CAVEAT,
    describe=usability,
    takes=takes,
)
