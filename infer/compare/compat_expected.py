"""What each runtime of the compatibility matrix does with each export variant, written down.

"exact": within its precision's tolerance of torch, class-edge rows included. Otherwise the
start of the runtime's own reason, as the matrix reports it ("unsupported: <its error>" or
"inexact: max abs ..."). A cell that changes either way (breaks, or starts working) fails
the matrix, so this table is always what the runtimes really do; docs/runtimes.md shows it.

Keys per runtime: a variant ("fp16"), or a variant and role ("fp16 generator"), which wins.
"""

from __future__ import annotations

EXACT = "exact"

EXPECTED: dict[str, dict[str, str]] = {}


def expected_outcome(runtime: str, variant: str, role: str) -> str:
    """The outcome written down for ``runtime`` on ``variant`` of ``role`` (default: exact)."""
    table = EXPECTED.get(runtime, {})
    return table.get(f"{variant} {role}", table.get(variant, EXACT))
