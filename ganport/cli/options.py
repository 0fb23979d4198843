"""Options that more than one command takes, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def _parse_classes(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
    """``auto`` → None (decided from the data's labels), else a class count (0 or ≥ 2)."""
    if value == "auto":
        return None
    try:
        count = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not auto or a whole number") from None
    if count < 0 or count == 1:
        raise click.BadParameter(f"{count}: use 0 (unconditional) or at least 2 classes")
    return count


def classes_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--classes auto|0|K``: class-conditional (AC-GAN through z[:, 0]) or not."""
    return click.option(
        "--classes",
        default="auto",
        show_default=True,
        metavar="auto|0|K",
        callback=_parse_classes,
        help="Class-conditional G and D with K classes, the class read from z[:, 0] so G "
        "still takes z alone (`ganport sample --class k` picks one). auto: the labelled "
        "data's class count, 0 for unlabelled data; 0: unconditional.",
    )(command)
