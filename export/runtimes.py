"""Which onnxruntime releases can load which exports: the opset and IR limits, measured.

Each release was installed from pip (CPU wheels, Python 3.11) and given the default
generator and discriminator exported at every opset from 13 to 23; the newest opset it
loaded and ran (matching onnxruntime 1.31 within 1e-5) is its limit, and the IR version
is the newest it accepted. 1.15 is the oldest release pip serves for Python 3.11; it
accepts opset 19 files but implements neither Cast-19 nor Reshape-19, so its limit is 18.
An export aimed at an older runtime (``--oldest-onnxruntime``) that the runtime would
refuse is refused at export time instead, with the reason.
"""

from __future__ import annotations

import onnx

from ganport.core.errors import InputError

# (major, minor) → (newest IR version, newest default-domain opset) it loads.
LIMITS: dict[tuple[int, int], tuple[int, int]] = {
    (1, 15): (9, 18),
    (1, 16): (9, 19),
    (1, 17): (9, 20),
    (1, 18): (10, 21),
    (1, 19): (10, 21),
    (1, 20): (10, 21),
    (1, 21): (10, 22),
    (1, 22): (10, 22),
    (1, 23): (11, 23),
    (1, 24): (13, 25),
}


MIN_IR_VERSION = 7  # opset 12/13's IR; onnxruntime has read it since 1.6


def ir_version_for(opsets: list[onnx.OperatorSetIdProto]) -> int:
    """The lowest IR version these opsets need (what every ganport export carries)."""
    needed = onnx.helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    return max(needed, MIN_IR_VERSION)


def check_loadable(opset: int, oldest: str) -> None:
    """Refuse an export at ``opset`` that onnxruntime ``oldest`` (e.g. "1.15") cannot load."""
    try:
        release = tuple(int(part) for part in oldest.split(".")[:2])
    except ValueError:
        raise InputError(f"{oldest!r} is not an onnxruntime version such as 1.15") from None
    if len(release) != 2:
        raise InputError(f"{oldest!r} is not an onnxruntime version such as 1.15")
    first = min(LIMITS)
    if release < first:
        raise InputError(
            f"onnxruntime {oldest} is older than any release ganport checks "
            f"({first[0]}.{first[1]} is the oldest pip serves for current Python)"
        )
    if release > max(LIMITS):
        return  # newer releases load everything the older ones do
    # Every export carries the lowest IR its opset needs, which each release's IR limit
    # covers at its newest opset: the opset alone decides.
    max_opset = LIMITS[release][1]
    if opset > max_opset:
        raise InputError(
            f"onnxruntime {oldest} implements opsets up to {max_opset}; this export asks "
            f"for opset {opset}: use --opset {max_opset} or lower"
        )
