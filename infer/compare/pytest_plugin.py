"""pytest plugin (auto-loaded once ganport is installed): the ``ganport_parity`` fixture.

    def test_shipped_models_match(ganport_parity):
        ganport_parity("artifacts/run/checkpoint.pt", "artifacts/run/onnx")

The fixture is ``ganport.infer.compare.parity.assert_parity``: it raises with the failing cases and
returns the report (``report.to_dict()``) when everything matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def ganport_parity() -> Callable[..., Any]:
    """``ganport_parity(checkpoint, onnx_dir_or_file, **options)``; see ``run_parity``."""
    from ganport.infer.compare.parity import assert_parity

    return assert_parity
