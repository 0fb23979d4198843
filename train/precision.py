"""The number format a training step computes in: float32, or bfloat16 under autocast.

Where the CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX), training runs
1.2–1.3× as many steps a second as float32 on the default recipe (docs/benchmarks.md,
training speed). Autocast computes the convolutions and matrix products in bfloat16 and
leaves the weights, the optimiser's state and the EMA in float32, so the checkpoint and
the export stay float32. Elsewhere bfloat16 is emulated and slower: ``auto`` keeps
float32 there, and on CUDA too, where the small models are bound by kernel launches and
bfloat16 was not measured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ganport.core.errors import InputError


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → ``bfloat16`` on a CPU with native bfloat16 arithmetic, else ``float32``;
    ``bfloat16`` asked for on a device that cannot compute it is an error."""
    if precision == "auto":
        return "bfloat16" if device.type == "cpu" and cpu_has_bfloat16() else "float32"
    if precision == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError("--precision bfloat16 asked for, but this GPU has no bfloat16")
    return precision


def cpu_has_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (torch has no public query)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Forward passes inside compute in ``precision``; backward passes go outside it,
    as torch advises: they follow the forward's formats by themselves."""
    if precision != "bfloat16":
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield
