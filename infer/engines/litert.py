"""LiteRT (TensorFlow Lite) as an engine: runs the ``.tflite`` that ``ganport export
--target litert`` writes with onnx2tf.

That file keeps the ONNX export's inputs and outputs as they are: the same names (in its
``serving_default`` signature), shapes and layout, images (batch, C, H, W) both ways
(the target asks onnx2tf for that, ``export/targets/litert.py``). Its batch is fixed: a
feed of another shape is refused here, since LiteRT would resize the input and run a
graph whose reshapes still hold the converted batch (a dimension onnx2tf left free, -1
in the file's shape signature, takes any size).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ganport.core.errors import InputError
from ganport.infer.engines import Engine, EngineMissing

SIGNATURE = "serving_default"  # the signature onnx2tf writes, named by the ONNX I/O names
LABELS = "labels"  # a conditional model's class input, after its z or image


class _Interpreter:
    """One .tflite file on LiteRT's CPU interpreter, run through its signature."""

    def __init__(self, path: Path, interpreter_class: Any) -> None:
        path = Path(path)
        if path.suffix != ".tflite":
            raise InputError(f"LiteRT runs .tflite files, not {path.name}")
        interpreter = interpreter_class(model_path=str(path))
        signatures = interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise InputError(f"{path.name} has no {SIGNATURE!r} signature to run")
        self.name = path.name
        self.runner = interpreter.get_signature_runner(SIGNATURE)
        details = self.runner.get_input_details()
        # in the contract's order, z or image first, then labels (the signature sorts names)
        self.input_names = sorted(details, key=lambda n: (n == LABELS, details[n]["index"]))
        self.output_names = list(signatures[SIGNATURE]["outputs"])
        # shape_signature: -1 where the file's dimension is free (none in ganport's own)
        self._inputs = {
            n: (tuple(details[n]["shape_signature"]), details[n]["dtype"]) for n in details
        }

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs in signature order."""
        inputs = {}
        for name, x in feeds.items():
            if name not in self._inputs:
                raise InputError(f"{self.name} has no input {name!r} (it has {self.input_names})")
            shape, dtype = self._inputs[name]
            if not _fits(np.shape(x), shape):
                raise InputError(
                    f"{self.name} takes {name} of shape {shape}, not {tuple(np.shape(x))}: "
                    f"it was converted for batch {shape[0]} (export with --static-batch)"
                )
            inputs[name] = np.ascontiguousarray(x, dtype=dtype)
        outputs = self.runner(**inputs)
        return [outputs[name] for name in self.output_names]


def _fits(shape: tuple[int, ...], signature: tuple[int, ...]) -> bool:
    return len(shape) == len(signature) and all(
        s in (n, -1) for n, s in zip(shape, signature, strict=True)
    )


def engine(name: str = "litert") -> Engine:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise EngineMissing("LiteRT is not installed here: pip install ai-edge-litert") from exc

    def load(path: Path) -> _Interpreter:
        return _Interpreter(path, Interpreter)

    return Engine(name, metadata.version("ai-edge-litert"), load)
