"""What each runtime of the compatibility matrix does with each export variant, written down.

"exact": within its precision's tolerance of torch, class-edge rows included. Otherwise how
it fails and part of the runtime's own reason ("unsupported: <part of its error>", or
"inexact" for a run that is further from torch than its tolerance). A cell that changes
either way (breaks, or starts working) fails the matrix, so this table is always what the
runtimes really do; docs/runtime-matrix.md shows a run of it.

Tables per runtime ("tract"), or per release of one ("onnxruntime 1.15"), which wins; keys
in a table: a variant ("fp16"), or a variant and role ("fp16 generator"), which wins.
"""

from __future__ import annotations

EXACT = "exact"

EXPECTED: dict[str, dict[str, str]] = {
    # int8 files are opset 19 (the reference evaluator has no DequantizeLinear-18); 1.15
    # implements opset 18 (`ganport export --int8 --oldest-onnxruntime 1.15` writes that)
    "onnxruntime 1.15": {"int8": "unsupported: Could not find an implementation for"},
}


def expected_outcome(runtime: str, version: str, variant: str, role: str) -> str:
    """The outcome written down for ``runtime`` ``version`` on ``variant`` of ``role``
    (default: exact)."""
    release = ".".join(version.split(".")[:2])
    table = EXPECTED.get(f"{runtime} {release}", EXPECTED.get(runtime, {}))
    return table.get(f"{variant} {role}", table.get(variant, EXACT))
