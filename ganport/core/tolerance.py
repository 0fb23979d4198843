"""Tolerances for comparing ONNX Runtime with torch, and the one rule that applies them.

The rule (Polygraphy's): an element fails only when its absolute error exceeds
``atol`` AND ``rtol · |reference|``; any NaN or Inf in the output fails. A ``scaled``
profile (fp16) measures ``atol`` in units of the output's scale, max(1, RMS(reference)).
Differences are computed in float64 so the comparison adds no rounding of its own.
Export checks, parity cases and the parity sweep all judge through ``compare``, so their
counts and verdicts cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# int8's element-wise bound, in units of the output's scale (max(1, RMS)): see PROFILES.
INT8_ATOL = 0.5

# Batch sizes every check runs at: 1, 2, an odd size, and one large enough for batched kernels.
CHECK_BATCH_SIZES = (1, 2, 7, 64)


@dataclass(frozen=True)
class Tolerance:
    """A named tolerance profile: ``atol`` and ``rtol`` for the element-wise rule."""

    name: str
    atol: float
    rtol: float
    # atol is relative to the output's scale: multiplied by max(1, RMS of the reference).
    scaled: bool = False

    def atol_for(self, reference: np.ndarray) -> float:
        """The absolute tolerance for this reference output."""
        if not self.scaled or reference.size == 0:
            return self.atol
        rms = float(np.sqrt(np.mean(np.square(reference.astype(np.float64)))))
        return self.atol * max(1.0, rms)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "fp32-cpu": Tolerance("fp32-cpu", 1e-5, 1e-4),
    # cuDNN picks other algorithms and summation orders than MKL/oneDNN, TF32 off.
    "fp32-cuda": Tolerance("fp32-cuda", 1e-4, 1e-4),
    # TF32 rounds matmul inputs to 10 mantissa bits (~1e-3 relative).
    "fp32-cuda-tf32": Tolerance("fp32-cuda-tf32", 1e-2, 1e-2),
    # float16 weights alone move a trained D's logits by about 1% of their scale (measured:
    # rounding only the weights of the fp32 graph gives the same error), so the absolute
    # part scales with the output: 1e-2 of its RMS, at least 1e-2.
    "fp16": Tolerance("fp16", 1e-2, 1e-2, scaled=True),
    # bfloat16 keeps 8 mantissa bits to float16's 11: 8 times coarser. torch's bf16
    # autocast of a trained DCGAN 28 G moved its images by up to 0.042 (D's logits 0.016).
    "bf16": Tolerance("bf16", 8e-2, 8e-2, scaled=True),
    # int8 cannot match torch element by element; this bound only catches gross breakage
    # (a wrong layer, a wrong class, NaN). Whether the int8 model still draws what the
    # fp32 one draws is judged on distributions: DistributionBounds.
    "int8": Tolerance("int8", INT8_ATOL, INT8_ATOL, scaled=True),
}


@dataclass(frozen=True)
class DistributionBounds:
    """How far an int8 generator's sample quality may fall from its fp32 model's, measured
    on the ``ganport evaluate`` feature network on the same seeds (README, int8 export)."""

    classifier_score_drop: float = 0.2  # at most this much below fp32
    fid_ratio: float = 1.25  # at most 25 % above fp32's FID
    classes_lost: int = 0  # covers every class fp32 covers
    class_as_asked_drop: float = 0.01  # at most 1 point below fp32

    def to_dict(self) -> dict:
        return asdict(self)


INT8_BOUNDS = DistributionBounds()


def profile_for(
    precision: str,
    provider: str,
    tf32: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
) -> Tolerance:
    """The profile for a model's precision and the provider that ran it, with overrides."""
    if precision in ("fp16", "bf16", "int8"):
        base = PROFILES[precision]
    elif provider.startswith("CUDA"):
        base = PROFILES["fp32-cuda-tf32" if tf32 or precision == "tf32" else "fp32-cuda"]
    else:
        base = PROFILES["fp32-cpu"]
    if atol is None and rtol is None:
        return base
    return Tolerance(
        f"{base.name} (overridden)",
        base.atol if atol is None else atol,
        base.rtol if rtol is None else rtol,
        scaled=base.scaled and atol is None,
    )


@dataclass
class Comparison:
    """Error statistics of one output against its reference, and the verdict."""

    passed: bool
    max_abs: float
    max_rel: float
    mean_abs: float
    p99_abs: float
    worst_index: list[int]
    failing_elements: int
    failing_rows: int  # rows (samples) with at least one failing or non-finite element
    nonfinite: int
    shape: list[int]
    reference_shape: list[int]

    def to_dict(self) -> dict:
        return asdict(self)


def compare(got: np.ndarray, want: np.ndarray, tol: Tolerance) -> Comparison:
    """Compare ``got`` with ``want`` element-wise under ``tol``."""
    if got.shape != want.shape:
        inf = float("inf")
        rows = int(want.shape[0]) if want.ndim else 1
        return Comparison(
            False,
            inf,
            inf,
            inf,
            inf,
            [],
            int(want.size),
            rows,
            0,
            list(got.shape),
            list(want.shape),
        )
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    nonfinite = int((~np.isfinite(got64)).sum())
    err = np.abs(got64 - want64)
    err = np.where(np.isfinite(err), err, np.inf)
    rel = err / np.maximum(np.abs(want64), np.finfo(np.float64).tiny)
    # NaN/Inf: err is inf, so it fails.
    failing = (err > tol.atol_for(want64)) & (err > tol.rtol * np.abs(want64))
    failing_rows = failing.reshape(len(failing), -1).any(axis=1) if failing.ndim else failing
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    return Comparison(
        passed=nonfinite == 0 and not failing.any(),
        max_abs=float(err.max()) if err.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        mean_abs=float(err.mean()) if err.size else 0.0,
        p99_abs=float(np.percentile(err, 99)) if err.size else 0.0,
        worst_index=[int(i) for i in worst],
        failing_elements=int(failing.sum()),
        failing_rows=int(np.sum(failing_rows)),
        nonfinite=nonfinite,
        shape=list(got.shape),
        reference_shape=list(want.shape),
    )
