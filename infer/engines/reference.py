"""ONNX's own reference implementation of the operators (numpy): slow, but the standard's
reading of each op, so a file it runs is a file written to the standard."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganport.infer.engines import Engine


class _Evaluator:
    def __init__(self, path: Path) -> None:
        from onnx.reference import ReferenceEvaluator

        self.evaluator = ReferenceEvaluator(str(path))
        self.input_names = list(self.evaluator.input_names)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(y) for y in self.evaluator.run(None, feeds)]


def engine(name: str = "onnx-reference") -> Engine:
    import onnx

    return Engine(name, onnx.__version__, _Evaluator)
