"""ONNX Runtime on the CPU, as an engine: the baseline the other engines are held to."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganport.infer.engines import Engine


class _Session:
    def __init__(self, path: Path) -> None:
        from ganport.infer.runtime.session import create_session

        self.session, self.provider = create_session(path, "cpu")
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._types = {i.name: i.type for i in self.session.get_inputs()}

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        from ganport.infer.runtime.session import run

        feeds = {k: _as_input(v, self._types[k]) for k, v in feeds.items()}
        names = [o.name for o in self.session.get_outputs()]
        return list(run(self.session, self.provider, feeds, names))


def _as_input(x: np.ndarray, onnx_type: str) -> np.ndarray:
    if onnx_type == "tensor(float16)":
        return x.astype(np.float16)
    if onnx_type == "tensor(float)":
        return x.astype(np.float32)
    return x


def engine(name: str = "onnxruntime") -> Engine:
    import onnxruntime as ort

    return Engine(name, ort.__version__, _Session)
