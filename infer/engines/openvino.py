"""OpenVINO on the CPU, as two engines: "openvino", the plain ``compile_model(path, "CPU")``
a user gets, and "openvino-f32", the same with ``INFERENCE_PRECISION_HINT`` f32.

At its default settings OpenVINO computes in bfloat16 wherever the CPU has bf16 units
(AVX-512 BF16, AMX): images then move by ~4e-3 from torch, and a conditional generator
rounds z[:, 0] to bf16 before its class rule reads it, so latents near a class edge draw
the neighbouring class. ``Engine.compute`` says what the CPU plugin's default computes in
here; each loaded model's ``compute`` says what its compiled nodes really run in (an IR
written by ``--target openvino`` keeps every node in f32 even at the default settings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ganport.core.errors import InputError
from ganport.infer.engines import Engine, EngineMissing

# engine name → compile settings; "openvino" is the runtime as a user meets it.
SETTINGS: dict[str, dict[str, str]] = {
    "openvino": {},
    "openvino-f32": {"INFERENCE_PRECISION_HINT": "f32"},
}

_FLOAT_TYPES = ("f32", "bf16", "f16")


class _Compiled:
    """One model compiled for the CPU: named inputs in, its outputs out, as float32."""

    def __init__(self, core: Any, path: Path, settings: dict[str, Any]) -> None:
        if not path.is_file():
            raise InputError(f"OpenVINO cannot read {path}: no such file")
        try:
            self.model = core.compile_model(core.read_model(path), "CPU", settings)
        except RuntimeError as exc:
            raise InputError(f"OpenVINO cannot read {path}: {_reason(exc)}") from None
        self.input_names = [i.get_any_name() for i in self.model.inputs]
        self.compute = runtime_precision(self.model)
        self._request = self.model.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self._request.infer(feeds, share_inputs=False)
        return [np.array(results[out]) for out in self.model.outputs]


def runtime_precision(compiled: Any) -> str:
    """The float precisions the compiled model's nodes really run in, e.g. "f32" or
    "bf16+f32" (from the runtime graph, not the hint: nodes can keep f32 under a bf16 hint)."""
    found = {
        op.get_rt_info()["runtimePrecision"].astype(str)
        for op in compiled.get_runtime_model().get_ordered_ops()
    }
    return "+".join(sorted(found & set(_FLOAT_TYPES))) or "f32"


def _reason(exc: Exception) -> str:
    """OpenVINO's own reason in one line, without its source-file frames."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip() and not line.startswith(("Exception from", "Check '"))
    ]
    return lines[-1] if lines else type(exc).__name__


def _thread_settings() -> dict[str, int]:
    """OpenVINO sizes its pool by the machine's cores; a process held to fewer (taskset,
    container CPU sets) gets one thread per core it may use, as ONNX Runtime does."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if usable and usable < (os.cpu_count() or usable):
        return {"INFERENCE_NUM_THREADS": usable}
    return {}


def engine(name: str = "openvino") -> Engine:
    try:
        import openvino as ov
    except ImportError:
        raise EngineMissing("openvino is not installed here: pip install openvino") from None
    core = ov.Core()
    settings = {**SETTINGS[name], **_thread_settings()}
    hint = core.get_property("CPU", "INFERENCE_PRECISION_HINT") if not SETTINGS[name] else None
    compute = "f32" if hint is None else str(hint.to_string())

    def load(path: Path) -> _Compiled:
        return _Compiled(core, Path(path), settings)

    return Engine(name, ov.__version__.split("-")[0], load, compute)
