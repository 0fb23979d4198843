"""LiteRT (TensorFlow Lite): a ``.tflite`` converted from the fixed-batch export by onnx2tf.

onnx2tf runs as a command from its own environment (it pins TensorFlow, onnx and numpy
versions of its own): ``GANPORT_ONNX2TF`` names its executable, else ``onnx2tf`` on PATH.
What converts correctly, measured with onnx2tf 1.29.24 and LiteRT 2.3.0 on ganport's
DCGAN 28 (conditional), DCGAN 64 and MLP 28, G and D, against torch at batch 1 and 8:

- **Fixed batch only.** With a symbolic batch a DCGAN G's first ConvTranspose gets an
  unknown output size and TensorFlow refuses it (``Expected int32 passed to parameter
  'input_sizes' of op 'Conv2DBackpropInput', got ['unk__0', 7, 7, 16]``). With the batch
  fixed every model converts, within 3e-7 of torch. So the target makes the ``*_batchN``
  variant (batch 1 unless ``--static-batch`` says otherwise) and only that gets a file.
- **No Gemm stem.** From the DCGAN 64 G's Gemm stem (z @ W reshaped to 4×4) onnx2tf
  writes a TRANSPOSE_CONV that LiteRT cannot prepare. The stem as the ConvTranspose on a
  1×1 input it stands for converts exactly, so the target exports its ``*_batchN``
  variant so (the symbolic-batch ``.onnx`` beside it keeps the stem).
- **ONNX's layout.** onnx2tf lays tensors out channels-last and writes a 4-D output in
  the layout of the op before it: a DCGAN G's image as (N, H, W, C), an MLP G's as
  (N, C, H, W). The conversion fixes that (``_channels_first_io``), so the file's inputs
  and outputs are the ONNX file's, names, shapes and layout.
- **fp32 only.** A conditional fp16 G fails in onnx2tf (``Tensors in list passed to
  'values' of 'ConcatV2' Op have types [float32, float16]``), and ``ganport export``'s
  fp16 and int8 variants have a symbolic batch. Converted at a fixed batch, an int8 DCGAN
  G fails (``Depth of input (4) is not a multiple of input depth of filter (64)``) and an
  int8 MLP G's images are 0.6 from ONNX Runtime's int8. So ``--target litert`` refuses
  ``--fp16`` and ``--int8``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ganport.core.errors import InputError, JobFailed
from ganport.export.targets import Target

if TYPE_CHECKING:
    from ganport.export.api import ExportOptions

ENV_VAR = "GANPORT_ONNX2TF"
INSTALL = "python -m venv onnx2tf-env && onnx2tf-env/bin/pip install onnx2tf==1.29.24"
CONVERT_SECONDS = 600  # a DCGAN 64 G takes 10-15 s on two cores


def onnx2tf_command() -> str:
    """The onnx2tf executable: ``$GANPORT_ONNX2TF``, else ``onnx2tf`` on PATH."""
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise InputError(f"{ENV_VAR}={chosen} is not an executable onnx2tf")
        return chosen
    found = shutil.which("onnx2tf")
    if found is None:
        raise InputError(
            f"--target litert needs onnx2tf, found neither {ENV_VAR} nor onnx2tf on PATH: "
            f"{INSTALL}, then export {ENV_VAR}=$PWD/onnx2tf-env/bin/onnx2tf"
        )
    return found


def convert(onnx_file: Path, dest: Path) -> None:
    """Convert ``onnx_file`` (fixed shapes) with onnx2tf and write its float32 .tflite to
    ``dest``, its inputs and outputs laid out as the ONNX file's; a conversion that fails
    says onnx2tf's own last error."""
    command = onnx2tf_command()
    with tempfile.TemporaryDirectory(prefix="ganport-onnx2tf-") as folder:
        work = Path(folder)
        model = work / "model.onnx"  # onnx2tf names what it writes after its input
        images = _channels_first_io(onnx_file, model)
        keep = ["-k", *images] if images else []
        try:
            done = subprocess.run(
                [command, "-i", str(model), "-o", str(work / "out"), "-n", *keep],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=CONVERT_SECONDS,
            )
        except subprocess.TimeoutExpired as exc:
            raise JobFailed(f"onnx2tf did not finish in {CONVERT_SECONDS} s") from exc
        made = work / "out" / "model_float32.tflite"
        if done.returncode != 0 or not made.exists():
            raise JobFailed(f"onnx2tf could not convert the model: {_last_error(done)}")
        shutil.move(made, dest)


def _channels_first_io(onnx_file: Path, dest: Path) -> list[str]:
    """Write ``onnx_file`` to ``dest`` with each 4-D output passed through Flatten and a
    Reshape back; returns the 4-D inputs' names, for onnx2tf's ``-k``.

    onnx2tf lays tensors out channels-last and writes a 4-D output in whichever layout its
    last op had: a DCGAN G's image (from a ConvTranspose) as (N, H, W, C), an MLP G's
    (from a Reshape) as (N, C, H, W). After a flatten, a Reshape's output keeps ONNX's
    layout, so every image leaves the file as (N, C, H, W); ``-k`` keeps images coming in
    so too.
    """
    model = onnx.load(str(onnx_file))
    graph = model.graph
    for output in graph.output:
        dims = [d.dim_value for d in output.type.tensor_type.shape.dim]
        if len(dims) != 4:
            continue
        inner = f"{output.name}_before_nchw"
        for node in graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
        shape = numpy_helper.from_array(np.array(dims, np.int64), f"{output.name}_nchw_shape")
        graph.initializer.append(shape)
        graph.node.extend(
            [
                helper.make_node("Flatten", [inner], [f"{inner}_flat"], axis=1),
                helper.make_node("Reshape", [f"{inner}_flat", shape.name], [output.name]),
            ]
        )
    onnx.save(model, str(dest))
    return [i.name for i in graph.input if len(i.type.tensor_type.shape.dim) == 4]


def _last_error(done: subprocess.CompletedProcess[str]) -> str:
    """onnx2tf's own reason: its last exception (with the line after a Keras wrapper's,
    which holds TensorFlow's message) and the ONNX node it failed at."""
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    raised = [i for i, line in enumerate(lines) if re.match(r"^[\w.]+(Error|Exception): ", line)]
    if not raised:
        return lines[-1] if lines else f"exit status {done.returncode}"
    at = raised[-1]
    reason = lines[at]
    if "Exception encountered when calling layer" in reason and at + 1 < len(lines):
        reason = f"{reason} {lines[at + 1]}"
    nodes = [line.split("onnx_op_name:")[1].strip() for line in lines if "onnx_op_name:" in line]
    return f"{reason} (ONNX node {nodes[-1]})" if nodes else reason


def adjust(options: ExportOptions) -> ExportOptions:
    """A fixed batch (1 unless one was asked for) and the stem as a ConvTranspose; fp16
    and int8 refused, naming what goes wrong."""
    if options.fp16:
        raise InputError(
            "--target litert converts fp32 exports only: onnx2tf fails on a conditional fp16 "
            "G (ConcatV2 of float32 and float16) and fp16 exports have a symbolic batch; "
            "drop --fp16"
        )
    if options.int8:
        raise InputError(
            "--target litert converts fp32 exports only: onnx2tf fails on an int8 DCGAN G "
            "and converts an int8 MLP G 0.6 away from ONNX Runtime's; drop --int8"
        )
    return dataclasses.replace(options, static_batch=options.static_batch or 1, gemm_stem=False)


def takes(options: ExportOptions) -> bool:
    """Only fixed-batch fp32 variants convert (a symbolic batch does not)."""
    return bool(options.static_batch) and not options.fp16 and not options.int8


TARGET = Target(
    "litert",
    "LiteRT / TensorFlow Lite .tflite of the fixed-batch export, converted by onnx2tf",
    adjust=adjust,
    convert=convert,
    takes=takes,
)
