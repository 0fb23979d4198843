"""ONNX Runtime reading its own format (``.ort``), as an engine: the file a minimal or
mobile build of ONNX Runtime loads, run here on the full build's CPU provider.

An ``.ort`` file holds the graph as optimised when it was converted (``ganport export
--target ort-mobile``: the basic optimisations, the CPU fusions recorded beside them). This
engine loads it as an app does by default: the recorded fusions are not replayed, as ONNX
Runtime replays them only for a session that enables
``session.enable_saved_runtime_optimizations`` (measured: within 10% either way here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganport.core.errors import InputError, JobFailed, first_line
from ganport.infer.engines import Engine, EngineMissing


class _OrtSession:
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: a failed load is one line below
        options.add_session_config_entry("session.load_model_format", "ORT")
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except _ort_errors() as exc:
            raise InputError(
                f"{path}: not an ORT format model onnxruntime can load ({first_line(exc)})"
            ) from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._types = {i.name: i.type for i in self.session.get_inputs()}

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        feeds = {k: _as_input(v, self._types[k]) for k, v in feeds.items()}
        try:
            return list(self.session.run(None, feeds))
        except _ort_errors() as exc:
            problem = first_line(exc)
            raise JobFailed(f"onnxruntime failed to run the .ort model: {problem}") from exc


def _ort_errors() -> tuple[type[BaseException], ...]:
    """What onnxruntime raises for a file it cannot load or run (its own types, which
    derive from Exception alone, and RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile")
    return (RuntimeError, *(getattr(state, name) for name in names))


def _as_input(x: np.ndarray, onnx_type: str) -> np.ndarray:
    if onnx_type == "tensor(float)":
        return np.asarray(x, np.float32)
    if onnx_type == "tensor(int64)":
        return np.asarray(x, np.int64)
    return x


def engine(name: str = "ort-format") -> Engine:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EngineMissing("onnxruntime is not installed here: pip install onnxruntime") from exc
    return Engine(name, ort.__version__, _OrtSession)
