"""Post-export checks that run the model, not just read it.

A graph can pass ``onnx.checker`` and still have its batch size baked in or compute
something else than torch did; the only proof is to run it at several batch sizes on
ONNX Runtime and compare with torch on the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from ganport.core.errors import first_line
from ganport.core.tolerance import CHECK_BATCH_SIZES, Tolerance, compare, profile_for
from ganport.infer.engines import Loaded
from ganport.infer.runtime.session import create_session

DEFAULT_BATCH_SIZES = CHECK_BATCH_SIZES


@dataclass
class BatchCheck:
    batch: int
    output_shape: list[int]
    max_abs_err: float
    passed: bool


@dataclass
class CheckReport:
    """Result of checking one exported file; ``problems`` says what failed, in words."""

    passed: bool = True
    symbolic_batch: bool = False
    atol: float = 0.0
    rtol: float = 0.0
    batches: list[BatchCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # int8 generators: sample quality against the fp32 model (infer.compare's judge)
    distribution: dict | None = None

    def fail(self, problem: str) -> None:
        self.passed = False
        self.problems.append(problem)

    def to_dict(self) -> dict:
        return asdict(self)


def check_export(
    path: Path,
    reference: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    *,
    precision: str = "fp32",
    static_batch: int | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
) -> CheckReport:
    """Check ``path`` structurally, then run it at each batch size against ``reference``.

    ``inputs`` holds one array per graph input, in order, each of at least max(batch_sizes)
    rows; batch b uses their first b rows, and ``reference`` takes them as arguments.
    Judged by ``ganport.core.tolerance``: the CPU profile of the model's precision.
    """
    tol = profile_for(precision, "CPUExecutionProvider")
    report = CheckReport(atol=tol.atol, rtol=tol.rtol)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        report.fail(f"onnx.checker: {first_line(exc)}")
        return report
    model = onnx.load(str(path), load_external_data=False)
    _check_batchnorm_inference(model, report)
    first_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    report.symbolic_batch = not first_dim.HasField("dim_value")
    if not static_batch and not report.symbolic_batch:
        report.fail(f"batch axis is fixed at {first_dim.dim_value}, expected a symbolic 'batch'")

    session, _ = create_session(path, "cpu")
    names = [arg.name for arg in session.get_inputs()]

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, feeds)[0]

    sizes = [static_batch] if static_batch else list(batch_sizes)
    _check_batches(run, names, reference, inputs, sizes, tol, report, "ONNX Runtime")
    return report


def check_on_engine(
    loaded: Loaded,
    runtime: str,
    reference: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    *,
    precision: str = "fp32",
    static_batch: int | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
) -> CheckReport:
    """Run a model loaded on another runtime (``ganport.infer.engines``) at each batch size
    against ``reference``, under the same tolerance as the ONNX check."""
    tol = profile_for(precision, "CPUExecutionProvider")
    report = CheckReport(atol=tol.atol, rtol=tol.rtol, symbolic_batch=not static_batch)

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return loaded.run(feeds)[0]

    sizes = [static_batch] if static_batch else list(batch_sizes)
    _check_batches(run, loaded.input_names, reference, inputs, sizes, tol, report, runtime)
    return report


def _check_batches(
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    names: Sequence[str],
    reference: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    sizes: Sequence[int],
    tol: Tolerance,
    report: CheckReport,
    runtime: str,
) -> None:
    """Run at each batch size and compare with ``reference``; failures go to ``report``."""
    for batch in sizes:
        xs = [x[:batch] for x in inputs]
        try:
            got = np.asarray(run(dict(zip(names, xs, strict=True))))
        except Exception as exc:  # every runtime raises its own exception types per failure
            report.fail(f"{runtime} failed at batch {batch}: {first_line(exc)}")
            continue
        want = reference(*xs)
        result = compare(got, want, tol)
        report.batches.append(BatchCheck(batch, list(got.shape), result.max_abs, result.passed))
        if result.shape != result.reference_shape:
            report.fail(
                f"at batch {batch} the output shape on {runtime} is {result.shape}, torch "
                f"gives {result.reference_shape} (is the batch axis really dynamic?)"
            )
        elif not result.passed:
            report.fail(
                f"at batch {batch} {runtime}'s outputs differ from torch: max abs error "
                f"{result.max_abs:.3g} (atol {tol.atol_for(want):.3g}, rtol {tol.rtol:g})"
            )


def _check_batchnorm_inference(model: onnx.ModelProto, report: CheckReport) -> None:
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        training = any(a.name == "training_mode" and a.i == 1 for a in node.attribute)
        if training or len(node.output) > 1:
            report.fail(f"BatchNormalization node {node.name!r} is in training mode")
