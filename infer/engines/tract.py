"""tract (Sonos' ONNX runtime, pure Rust) as an engine: it reads the ``.onnx`` export itself.

tract types the whole graph once at load, the symbolic ``batch`` axis included, so one
loaded model runs every batch size; a static-batch file runs only its own. Its errors
are Rust ``anyhow`` chains (a context line, then the cause, then a backtrace): the line a
user needs is the context and the innermost cause, so that is what a failure says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganport.core.errors import InputError, JobFailed
from ganport.infer.engines import Engine, EngineMissing

# tract's datum type names (the last field of a fact such as "batch,16,f32") → numpy
_DTYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32}


class _Runnable:
    def __init__(self, path: Path) -> None:
        import tract

        try:
            model = tract.onnx().load(str(path))
            self.input_names = [model.input_name(i) for i in range(model.input_count())]
            typed = model.into_model()
            self._dtypes = [_dtype(str(typed.input_fact(i))) for i in range(len(self.input_names))]
            self.runnable = typed.into_runnable()
        except tract.TractError as exc:
            raise InputError(f"{path}: tract cannot load it ({_cause(exc)})") from exc

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        import tract

        inputs = [
            np.ascontiguousarray(feeds[name], dtype)
            for name, dtype in zip(self.input_names, self._dtypes, strict=True)
        ]
        try:
            return [t.to_numpy() for t in self.runnable.run(inputs)]
        except tract.TractError as exc:
            raise JobFailed(f"tract failed to run the model: {_cause(exc)}") from exc


def _dtype(fact: str) -> type:
    """The numpy type of a typed fact ("batch,16,f32" → float32)."""
    name = fact.rsplit(",", 1)[-1]
    if name not in _DTYPES:
        raise InputError(f"tract reads an input of type {name}; ganport feeds float32 or int64")
    return _DTYPES[name]


def _cause(exc: BaseException) -> str:
    """'context: innermost cause' from tract's error chain, without the backtrace."""
    text = str(exc).split("Stack backtrace:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if line != "Caused by:"]
    if not lines:
        return type(exc).__name__
    causes = [line.split(": ", 1)[-1] if line[:1].isdigit() else line for line in lines[1:]]
    return f"{lines[0]}: {causes[-1]}" if causes else lines[0]


def engine(name: str = "tract") -> Engine:
    try:
        import tract
    except ImportError as exc:
        raise EngineMissing("tract is not installed here: pip install tract") from exc
    return Engine(name, tract.version(), _Runnable)
