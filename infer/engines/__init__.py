"""Runtimes besides ONNX Runtime that run ganport's exports: one module per runtime.

Each module has ``engine() -> Engine`` and imports its runtime only there, so a missing
package is one clear line (``EngineMissing``), not an ImportError, and nothing here needs
torch. An engine runs one file format (``ENGINE_SUFFIXES``), and ``ganport export --target``
writes that file beside the ``.onnx`` it came from (``generator.onnx`` →
``generator.xml`` for OpenVINO, ``generator.tflite`` for LiteRT, ``generator.ort`` for ONNX
Runtime's own format); engines whose suffix is ``.onnx`` read the export itself.

    >>> model = get_engine("openvino").load(Path("export/generator.onnx"))
    >>> (images,) = model.run({"z": z})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ganport.core.errors import InputError
from ganport.core.runtimes import ENGINE_SUFFIXES


class EngineMissing(InputError):
    """The runtime an engine needs is not installed here (the message says what to install)."""


class Loaded(Protocol):
    """One model loaded on an engine: its input names, and a run over named arrays."""

    input_names: list[str]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Engine:
    """A runtime: its name and version, and how to load a file it runs."""

    name: str
    version: str
    load: Callable[[Path], Loaded]
    # what the engine computes in where that is not the file's own precision, e.g. "bf16"
    compute: str = ""

    def file_for(self, onnx_path: Path) -> Path:
        """The file this engine runs for the ONNX export ``onnx_path``."""
        return onnx_path.with_suffix(ENGINE_SUFFIXES[self.name])


# name → module under ganport.infer.engines; each module's ``engine(name)`` builds it.
ENGINES: dict[str, str] = {
    "onnxruntime": "onnxruntime_engine",
    "onnx-reference": "reference",
    "openvino": "openvino",
    "openvino-f32": "openvino",
    "tract": "tract",
    "litert": "litert",
    "ort-format": "ort_format",
}


def get_engine(name: str) -> Engine:
    """The engine called ``name``; ``EngineMissing`` when its runtime is not installed."""
    if name not in ENGINES:
        raise InputError(f"unknown runtime {name!r}; choose from {', '.join(ENGINE_SUFFIXES)}")
    module = importlib.import_module(f"{__name__}.{ENGINES[name]}")
    return module.engine(name)


def available_engines() -> dict[str, Engine]:
    """Every engine whose runtime is installed here, by name."""
    found = {}
    for name in ENGINES:
        try:
            found[name] = get_engine(name)
        except EngineMissing:
            continue
    return found
