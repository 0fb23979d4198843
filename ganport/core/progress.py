"""Progress bars for the long jobs: on a terminal a bar with the rate and the time left,
in pipes, logs and CI nothing at all.

tqdm decides by whether stderr is a terminal (``disable=None``), as the training loop's
bar does; the finished bar stays on screen with its total time and rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
) -> tqdm:
    """A bar on stderr when it is a terminal (and not ``disable``); otherwise a silent,
    free pass-through."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=True if disable else None,
        dynamic_ncols=True,
    )
