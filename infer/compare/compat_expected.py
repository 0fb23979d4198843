"""What each runtime of the compatibility matrix does with each export variant, written down.

"exact": within its precision's tolerance of torch, class-edge rows included. Otherwise how
it fails and part of the runtime's own reason ("unsupported: <part of its error>", or
"inexact" for a run that is further from torch than its tolerance). A cell that changes
either way (breaks, or starts working) fails the matrix, so this table is always what the
runtimes really do; docs/runtime-matrix.md shows a run of it.

Tables per runtime ("tract"), or per release of one ("onnxruntime 1.15"), which wins. Keys
in a table, the most specific found wins: "MODEL VARIANT ROLE (INPUTS)", "MODEL VARIANT
ROLE", "VARIANT ROLE (INPUTS)", "VARIANT ROLE", "VARIANT".
"""

from __future__ import annotations

EXACT = "exact"

EXPECTED: dict[str, dict[str, str]] = {
    # int8 files are opset 19 (the reference evaluator has no DequantizeLinear-18); 1.15
    # implements opset 18 (`ganport export --int8 --oldest-onnxruntime 1.15` writes that)
    "onnxruntime 1.15": {"int8": "unsupported: Could not find an implementation for"},
    # OpenVINO's default settings on a CPU with bf16 units compute a float32 file in bf16:
    # 1e-3 to 5e-3 off, and z[:, 0] rounded before the class rule reads it, so class-edge
    # latents draw the neighbouring class in every precision (`--target openvino` writes
    # an IR that stays in f32: "openvino IR" below is exact). Where the CPU has no bf16 the
    # runtime is called "openvino" and its cells are exact.
    "openvino (bf16)": {
        "default": "inexact",
        "opset 13": "inexact",
        "static batch 48": "inexact",
        "fp16 generator (z at class edges)": "inexact",
        "int8 generator (z at class edges)": "inexact",
    },
    # A static-batch DCGAN 64 G with the Gemm stem converts, but LiteRT cannot prepare the
    # TRANSPOSE_CONV onnx2tf writes after the stem's reshape to 4x4 (`--target litert`
    # exports the stem as a ConvTranspose, which runs exactly)
    "litert": {
        "dcgan64 static batch 48 generator": "unsupported: (TRANSPOSE_CONV) failed to prepare",
    },
}


def expected_outcome(
    runtime: str, version: str, model: str, variant: str, role: str, inputs: str
) -> str:
    """The outcome written down for ``runtime`` ``version`` on ``model``'s ``variant`` of
    ``role`` fed ``inputs`` (default: exact)."""
    release = ".".join(version.split(".")[:2])
    table = EXPECTED.get(f"{runtime} {release}", EXPECTED.get(runtime, {}))
    keys = (
        f"{model} {variant} {role} ({inputs})",
        f"{model} {variant} {role}",
        f"{variant} {role} ({inputs})",
        f"{variant} {role}",
        variant,
    )
    return next((table[key] for key in keys if key in table), EXACT)
