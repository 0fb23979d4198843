"""Prepare one checked export for its target: convert it, then run it on the target's runtime."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganport.core.atomic import atomic_model_path
from ganport.core.errors import JobFailed
from ganport.core.runtimes import ENGINE_SUFFIXES, TARGET_ENGINES
from ganport.export.checks import DEFAULT_BATCH_SIZES, check_on_engine
from ganport.export.targets import get_target
from ganport.infer.engines import Engine, EngineMissing, get_engine


def prepare_for_target(
    name: str,
    check: bool,
    onnx_file: Path,
    final_onnx: Path,
    reference: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    *,
    precision: str = "fp32",
    static_batch: int | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
) -> dict[str, Any]:
    """Write the target's file for ``onnx_file`` (to be renamed ``final_onnx``) and run it
    on the target's runtime against ``reference``, as the ONNX check does.

    Returns what the manifest records: the target, the file its runtime runs, and the
    check's report, or why the check did not run (``check`` False, or the runtime is not
    installed here). A failed check raises ``JobFailed`` and leaves no file behind.
    """
    target = get_target(name)
    runtime = TARGET_ENGINES[name]
    record: dict[str, Any] = {"name": name, "runtime": runtime}
    engine = _engine_or_reason(runtime, check, record)
    with _written(target, onnx_file, final_onnx.with_suffix(ENGINE_SUFFIXES[runtime])) as file:
        record["file"] = final_onnx.name if file == onnx_file else file.name
        if engine is not None:
            record["version"] = engine.version
            loaded = engine.load(file)
            # what the runtime really computed in (OpenVINO may lower float32 to bf16)
            record["compute"] = getattr(loaded, "compute", "") or engine.compute or "f32"
            report = check_on_engine(
                loaded,
                f"{engine.name} {engine.version}",
                reference,
                inputs,
                precision=precision,
                static_batch=static_batch,
                batch_sizes=batch_sizes,
            )
            record["check"] = report.to_dict()
            if not report.passed:
                problems = "; ".join(report.problems)
                raise JobFailed(f"{name} check failed for {final_onnx.name}: {problems}")
    if target.describe is not None:
        record["report"] = target.describe(onnx_file)
    if target.caveat:
        record["caveat"] = target.caveat
    return record


def _engine_or_reason(runtime: str, check: bool, record: dict[str, Any]) -> Engine | None:
    """The engine to check with, or None with the reason in ``record["not_checked"]``."""
    if not check:
        record["not_checked"] = "checks were turned off (--no-check)"
        return None
    try:
        return get_engine(runtime)
    except EngineMissing as exc:
        record["not_checked"] = str(exc)
        return None


@contextlib.contextmanager
def _written(target: Any, onnx_file: Path, dest: Path) -> Iterator[Path]:
    """The file the runtime runs: the ONNX file itself, or its conversion, which lands at
    ``dest`` only if the block (the check) finishes, with any file the runtime keeps beside
    it (OpenVINO's .bin): convert writes ``dest``'s name in a staging folder."""
    if target.convert is None:
        yield onnx_file
        return
    with atomic_model_path(dest) as tmp:
        target.convert(onnx_file, tmp)
        yield tmp
