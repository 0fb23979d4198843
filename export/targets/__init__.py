"""Export targets: what a runtime besides ONNX Runtime needs of an export, one module each.

``ganport export --target NAME`` adjusts the export for the runtime (``adjust``: fixed
shapes, forms of ops it reads), converts the checked ``.onnx`` into the runtime's own file
beside it (``convert``; none where the runtime reads ONNX), then runs that file on the
runtime's engine (``ganport.infer.engines``) against torch, as the ONNX check does. Where
the runtime is not installed the file is written and the check says it did not run. A
target that cannot be made exact says so in ``caveat``, printed when the model is
prepared for it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganport.core.errors import InputError

if TYPE_CHECKING:
    from ganport.export.api import ExportOptions


def _unchanged(options: ExportOptions) -> ExportOptions:
    return options


@dataclass(frozen=True)
class Target:
    """One runtime to prepare exports for; ``TARGET_ENGINES`` names the engine that checks it."""

    name: str
    summary: str  # one line for --help and the docs
    adjust: Callable[[ExportOptions], ExportOptions] = _unchanged
    # (checked .onnx, file to write) → writes the runtime's file; None: it reads the .onnx
    convert: Callable[[Path, Path], None] | None = None
    caveat: str = ""  # what the runtime cannot do exactly, said when a model is prepared
    # what the runtime's own tools find of the checked .onnx (e.g. which accelerators can
    # run its nodes), recorded in the manifest beside the check
    describe: Callable[[Path], dict[str, Any]] | None = None
    # which of the variants an export writes the runtime takes (e.g. only fixed batches)
    takes: Callable[[ExportOptions], bool] = lambda options: True


# name (as in ``ganport.core.runtimes.TARGET_ENGINES``) → module here with ``TARGET``.
TARGETS: dict[str, str] = {
    "openvino": "openvino",
    "tract": "tract",
    "litert": "litert",
    "ort-mobile": "ort_mobile",
}


def get_target(name: str) -> Target:
    """The target called ``name``."""
    if name not in TARGETS:
        raise InputError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    return importlib.import_module(f"{__name__}.{TARGETS[name]}").TARGET


def adjusted(options: ExportOptions) -> ExportOptions:
    """``options`` with what its target needs of the export applied (as they are without one)."""
    if options.target is None:
        return options
    return dataclasses.replace(get_target(options.target).adjust(options), target=options.target)


def for_target(variant: ExportOptions, asked: ExportOptions) -> ExportOptions:
    """``variant`` (made from ``adjusted(asked)``) as its target needs it if the target takes
    it, else with every option the target changed set back to what was ``asked``, except
    the variant's own precision and batch."""
    if variant.target is None or get_target(variant.target).takes(variant):
        return variant
    own = ("fp16", "int8", "static_batch", "target")
    restored = {
        f.name: getattr(asked, f.name)
        for f in dataclasses.fields(asked)
        if f.name not in own and getattr(asked, f.name) != getattr(variant, f.name)
    }
    return dataclasses.replace(variant, **restored)
