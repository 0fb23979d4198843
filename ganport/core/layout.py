"""How a model written elsewhere lays out its inputs and outputs, read from what it computes.

A user's generator may take z as (N, nz) or (N, nz, 1, 1) and return images as (N, C, H, W)
or flat (N, C·H·W), in [-1, 1] (tanh) or [0, 1] (sigmoid); a user's discriminator may return
(N,), (N, 1) or (N, 1, 1, 1), a logit or a probability. The exporters (a torch module, an ONNX
file made elsewhere) adapt each to ganport's contract and record what it was, under the
metadata's ``source_layout``, with these keys. The rules here only look at numbers, so both
exporters decide alike; what the numbers cannot tell is an InputError that names the flag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ganport.core.errors import InputError

Z_FLAT, Z_NCHW = "(N, nz)", "(N, nz, 1, 1)"
IMAGE_NCHW, IMAGE_FLAT = "(N, C, H, W)", "(N, C*H*W)"
RANGES = {"-1,1": (-1.0, 1.0), "0,1": (0.0, 1.0)}
CONTRACT_RANGE = (-1.0, 1.0)


def parse_range(text: str) -> tuple[float, float]:
    """``-1,1`` or ``0,1`` (the two ranges image models end in: tanh, sigmoid)."""
    key = text.replace(" ", "")
    if key not in RANGES:
        raise InputError(f"image range must be one of {', '.join(RANGES)}, not {text!r}")
    return RANGES[key]


def parse_image_shape(text: str) -> tuple[int, int, int]:
    """``C,H,W`` → (C, H, W) of positive integers."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"image shape must be C,H,W (three positive integers), not {text!r}")
    return shape  # type: ignore[return-value]


def image_shape_of(
    output_shape: Sequence[int], declared: tuple[int, int, int] | None, what: str
) -> tuple[tuple[int, int, int], str]:
    """The (C, H, W) and layout of a generator whose output per row is ``output_shape``.

    A flat row of C·H·W values is read as square images of 1 or 3 channels (at most one of
    the two can fit, as 3 is not a square); anything else needs ``declared``.
    """
    rest = tuple(int(d) for d in output_shape)
    if len(rest) == 3:
        if declared is not None and tuple(declared) != rest:
            raise InputError(f"{what} makes images shaped {rest}, not the declared {declared}")
        return rest, IMAGE_NCHW  # type: ignore[return-value]
    if len(rest) != 1:
        raise InputError(
            f"{what} returns rows shaped {rest}; a generator returns (N, C, H, W) or (N, C*H*W)"
        )
    size = rest[0]
    if size < 4 and declared is None:
        raise InputError(
            f"{what} returns {size} value(s) per row: a discriminator's output, not images"
        )
    if declared is not None:
        if math.prod(declared) != size:
            raise InputError(
                f"{what} returns {size} values per image; --image-shape "
                f"{','.join(map(str, declared))} holds {math.prod(declared)}"
            )
        return tuple(declared), IMAGE_FLAT  # type: ignore[return-value]
    for channels in (1, 3):
        side = math.isqrt(size // channels)
        if size % channels == 0 and side * side * channels == size:
            return (channels, side, side), IMAGE_FLAT
    raise InputError(
        f"{what} returns flat rows of {size} values, not square 1- or 3-channel images; "
        "give --image-shape C,H,W"
    )


def image_range_of(
    images: np.ndarray, declared: tuple[float, float] | None, ends_in: str | None, what: str
) -> tuple[float, float]:
    """[-1, 1] or [0, 1]: declared, else the final activation (``ends_in``: "tanh" or
    "sigmoid", where it could be seen), else the values (negatives mean [-1, 1])."""
    if declared is not None:
        return declared
    if ends_in == "tanh":
        return RANGES["-1,1"]
    if ends_in == "sigmoid":
        return RANGES["0,1"]
    low, high = float(np.min(images)), float(np.max(images))
    if low < -1e-6 and low >= -1 - 1e-5 and high <= 1 + 1e-5:
        return RANGES["-1,1"]
    raise InputError(
        f"{what}'s images lie in [{low:.3g}, {high:.3g}]: cannot tell its range; "
        "give --image-range -1,1 (tanh) or 0,1 (sigmoid)"
    )


def d_output_of(scores: np.ndarray, declared: str | None, ends_in: str | None, what: str) -> str:
    """``logit`` or ``probability``: declared, else a final sigmoid, else the values (any
    outside [0, 1] is a logit; all inside with no sigmoid seen is ambiguous)."""
    if declared is not None:
        return declared
    if ends_in == "sigmoid":
        return "probability"
    if float(np.min(scores)) < 0.0 or float(np.max(scores)) > 1.0:
        return "logit"
    raise InputError(
        f"{what}'s outputs all lie in [0, 1] but no sigmoid ends it: cannot tell a logit from "
        "a probability; give --d-output logit or probability"
    )


def score_shape_name(shape: Sequence[int]) -> str:
    """One score per row: (N,), (N, 1) or (N, 1, 1, 1); anything else is not a D's output."""
    rest = tuple(int(d) for d in shape)
    if any(d != 1 for d in rest):
        raise InputError(
            f"a discriminator returns one score per image, (N,), (N, 1) or (N, 1, 1, 1); "
            f"this one returns rows shaped {rest}"
        )
    return "(N" + "".join(", 1" for _ in rest) + (",)" if not rest else ")")
