"""Parity: do the shipped .onnx files compute what the checkpoint computes?

For each exported model, batch size and seed, torch (eval mode, the weights the export
used) and ONNX Runtime run on identical inputs: G on z from the latent convention, D on
real images of the run's data set and on G's samples. Then a sweep over many samples
compares the two engines' distributions, which catches faults that only some inputs
trigger. This is the comparison half of infer/: it imports torch inside its functions.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ganport.core.classes import edge_latent
from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.core.metadata import ModelMetadata, session_metadata
from ganport.core.progress import progress
from ganport.core.tolerance import CHECK_BATCH_SIZES, Comparison, Tolerance, compare, profile_for
from ganport.infer.runtime.session import create_session, run, runtime_versions

DEFAULT_BATCH_SIZES = CHECK_BATCH_SIZES
DEFAULT_SEEDS = (0, 1, 2)
SWEEP_SEED = 10_000  # away from the per-case seeds
SWEEP_BATCH = 100  # rows per run in the sweep (a static-batch model: its batch)
DISTRIBUTION_SAMPLES = 2000  # int8 generators' samples on the feature network


@dataclass
class Case:
    """One comparison: a model file, a batch size, a seed and an input kind."""

    model: str
    role: str
    batch: int
    seed: int
    inputs: str
    provider: str
    comparison: Comparison | None
    error: str | None = None
    hint: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.comparison is not None and self.comparison.passed

    @property
    def name(self) -> str:
        return f"{self.model}[batch={self.batch},seed={self.seed},{self.inputs}]"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["name"] = self.name
        return data


@dataclass
class Sweep:
    """Many samples of one model at once: element-wise over all of them, and the D-logit
    distributions of the two engines' outputs (G) or of the logits themselves (D)."""

    model: str
    samples: int
    passed: bool
    reason: str
    seed: int = SWEEP_SEED
    elementwise: Comparison | None = None
    d_logit_mean: dict[str, float] = field(default_factory=dict)
    d_logit_std: dict[str, float] = field(default_factory=dict)
    d_logit_mean_abs_diff: float | None = None
    d_logit_std_abs_diff: float | None = None
    allowed_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReferenceNets:
    """The checkpoint's torch modules that parity compares against, in eval mode."""

    generator_ema: Any
    discriminator: Any
    nz: int


@dataclass
class ParityReport:
    """Everything parity found, as data; ``passed`` is the verdict CI acts on."""

    checkpoint: str
    checkpoint_sha256: str
    provider_requested: str
    tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    # int8 generators: samples against the checkpoint's on the feature network, per file
    distributions: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            not self.problems
            and all(c.passed for c in self.cases)
            and all(s.passed for s in self.sweeps)
            and all(d.passed for d in self.distributions.values())
        )

    def failures(self) -> list[str]:
        """One line per failure, worst first, each naming its likely cause."""
        lines = list(self.problems)
        bad = [c for c in self.cases if not c.passed]
        bad.sort(key=lambda c: -(c.comparison.max_abs if c.comparison else float("inf")))
        for case in bad:
            what = case.error or (
                f"max abs err {case.comparison.max_abs:.3g} at {case.comparison.worst_index}, "
                f"{case.comparison.failing_elements} elements out of tolerance, "
                f"{case.comparison.nonfinite} non-finite"
            )
            lines.append(f"{case.name}: {what}" + (f" — {case.hint}" if case.hint else ""))
        lines += [f"sweep {s.model}: {s.reason}" for s in self.sweeps if not s.passed]
        lines += [
            f"distribution {model}: {'; '.join(d.problems)}"
            for model, d in self.distributions.items()
            if not d.passed
        ]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "provider_requested": self.provider_requested,
            "tolerance_rule": "an element fails when |onnx - torch| > atol and > rtol*|torch|; "
            "NaN/Inf fails",
            "tolerances": self.tolerances,
            "cases": [c.to_dict() for c in self.cases],
            "sweeps": [s.to_dict() for s in self.sweeps],
            "distributions": {model: d.to_dict() for model, d in self.distributions.items()},
            "problems": self.problems,
            "notes": self.notes,
            "failures": self.failures(),
            "versions": self.versions,
            "seconds": round(self.seconds, 3),
        }


def find_models(target: str | os.PathLike[str]) -> list[Path]:
    """The .onnx files to check: one file, or every .onnx file in a folder."""
    path = Path(target)
    if path.is_dir():
        files = sorted(path.glob("*.onnx"))
        if not files:
            raise InputError(f"{path}: no .onnx files in this folder")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return [path]


def run_parity(
    checkpoint: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    provider: str = "cpu",
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES,
    seeds: tuple[int, ...] = DEFAULT_SEEDS,
    atol: float | None = None,
    rtol: float | None = None,
    sweep_samples: int = 1000,
    use_tf32: bool = False,
    distribution_samples: int = DISTRIBUTION_SAMPLES,
    feature_net: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ParityReport:
    """Compare every model in ``target`` with ``checkpoint``; returns the full report.

    An int8 generator is also judged by distribution (``quality.distribution``):
    ``distribution_samples`` samples of it and of the checkpoint's generator on the
    feature network of the run's data set (``feature_net``, else the cached one in
    ``cache_dir``).
    """
    import torch

    from ganport.train.checkpoint import load_checkpoint, versions

    start = time.perf_counter()
    models = find_models(target)
    ckpt = load_checkpoint(checkpoint)
    report = ParityReport(str(checkpoint), ckpt.sha256, provider)
    report.versions = {
        **versions(),
        **runtime_versions(),
        "onnx": onnx.__version__,
        "platform": platform.platform(),
    }
    real = real_images(ckpt, max(batch_sizes))
    if real is None:
        report.notes.append(
            f"data set {ckpt.config.data!r} is not on this machine: "
            "D is compared on generator samples only"
        )
    nets = ReferenceNets(ckpt.generator(), ckpt.discriminator(), ckpt.config.model.nz)
    for path in models:
        session, ran = create_session(path, provider, use_tf32=use_tf32)
        meta = session_metadata(session, str(path))
        tol = profile_for(meta.precision, ran, use_tf32, atol, rtol)
        report.tolerances[path.name] = {**tol.to_dict(), "provider": ran}
        if meta.source_sha256 and meta.source_sha256 != ckpt.sha256:
            report.problems.append(
                f"{path.name} was exported from checkpoint sha256 {meta.source_sha256[:12]}…, "
                f"not from {Path(checkpoint).name} (sha256 {ckpt.sha256[:12]}…): "
                "the ONNX and the checkpoint do not belong together"
            )
        if meta.role == "generator":
            reference = ckpt.generator(ema=meta.weights != "raw")
        else:
            reference = nets.discriminator
        hint = structural_hint(path)
        sizes = (meta.static_batch,) if meta.static_batch else batch_sizes
        sweep_batch = meta.static_batch or SWEEP_BATCH
        # The bar counts the cases' (batch, seed) pairs, then the sweep's batches.
        work = len(sizes) * len(seeds) + -(-sweep_samples // sweep_batch)
        with torch.no_grad(), progress(total=work, desc=f"parity {path.name}") as bar:
            for batch in sizes:
                for seed in seeds:
                    for kind, x in _inputs(meta, nets, real, batch, seed):
                        report.cases.append(
                            _case(
                                path, meta, session, ran, reference, x, batch, seed, kind, tol, hint
                            )
                        )
                    bar.update(1)
            if sweep_samples:
                report.sweeps.append(
                    _sweep(
                        path, meta, session, ran, reference, nets, sweep_samples, tol, bar.update
                    )
                )
            if meta.precision == "int8" and meta.role == "generator" and distribution_samples:
                judge = (distribution_samples, feature_net, cache_dir)
                judged = _distribution(ckpt, meta, session, ran, reference, *judge)
                if isinstance(judged, str):
                    report.notes.append(f"{path.name}: {judged}")
                else:
                    report.distributions[path.name] = judged
    report.seconds = time.perf_counter() - start
    return report


def structural_hint(path: Path) -> str | None:
    """Read the graph for known causes of mismatch, to name them in failure messages."""
    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        if node.op_type == "BatchNormalization" and (
            len(node.output) > 1 or any(a.name == "training_mode" and a.i for a in node.attribute)
        ):
            return (
                f"BatchNormalization node {node.name!r} is in training mode (uses batch statistics)"
            )
    dim = model.graph.input[0].type.tensor_type.shape.dim
    if dim and dim[0].HasField("dim_value"):
        return f"the graph's batch axis is fixed at {dim[0].dim_value}"
    return None


def _inputs(
    meta: ModelMetadata, nets: ReferenceNets, real: np.ndarray | None, batch: int, seed: int
) -> list[tuple[str, np.ndarray]]:
    import torch

    z = latent(batch, nets.nz, seed)
    if meta.role == "generator":
        if meta.classes:  # the latent's class rule, tested where it is easiest to get wrong
            return [("z", z), ("z at class edges", edge_latent(z, meta.classes, meta.class_shares))]
        return [("z", z)]
    fake = nets.generator_ema(torch.from_numpy(z)).numpy()
    cases = [("generated", fake)]
    if real is not None:
        order = np.random.default_rng(seed).permutation(len(real))[:batch]
        cases.insert(0, ("real", real[np.resize(order, batch)]))
    return cases


def _case(
    path: Path,
    meta: ModelMetadata,
    session: Any,
    provider: str,
    reference: Any,
    x: np.ndarray,
    batch: int,
    seed: int,
    kind: str,
    tol: Tolerance,
    hint: str | None,
) -> Case:
    import torch

    want = reference(torch.from_numpy(x)).numpy()
    case = Case(path.name, meta.role, batch, seed, kind, provider, None)
    try:
        (got,) = run(
            session, provider, {meta.input_name: x.astype(meta.io_dtype)}, [meta.output_name]
        )
    except Exception as exc:  # onnxruntime's errors, wrapped as JobFailed by run()
        case.error = f"ONNX Runtime failed: {str(exc).strip().splitlines()[0]}"
        case.hint = hint
        return case
    case.comparison = compare(got.astype(np.float32), want, tol)
    if not case.comparison.passed:
        case.hint = hint or _numeric_hint(case.comparison)
    return case


def _numeric_hint(comparison: Comparison) -> str:
    if comparison.nonfinite:
        return "the ONNX model outputs NaN/Inf"
    if comparison.shape != comparison.reference_shape:
        return f"output shape {comparison.shape} differs from torch's {comparison.reference_shape}"
    return "the weights or the graph differ from the checkpoint's"


def _sweep(
    path: Path,
    meta: ModelMetadata,
    session: Any,
    provider: str,
    reference: Any,
    nets: ReferenceNets,
    n: int,
    tol: Tolerance,
    batch_done: Callable[[], object] = lambda: None,
) -> Sweep:
    """Many samples at once: element-wise over all of them, and the distributions of
    D's logits on ONNX outputs vs on torch outputs (G), or of the logits themselves (D)."""
    import torch

    critic, g_ema = nets.discriminator, nets.generator_ema
    batch = meta.static_batch or SWEEP_BATCH
    got_parts, want_parts = [], []
    z_all = latent(n, nets.nz, SWEEP_SEED)
    for start in range(0, n, batch):
        z = z_all[start : start + batch]
        x = z if meta.role == "generator" else g_ema(torch.from_numpy(z)).numpy()
        rows = len(x)
        if meta.static_batch and rows < batch:
            x = np.concatenate([x, np.zeros((batch - rows, *x.shape[1:]), x.dtype)])
        try:
            (got,) = run(
                session, provider, {meta.input_name: x.astype(meta.io_dtype)}, [meta.output_name]
            )
        except Exception as exc:
            reason = f"ONNX Runtime failed: {str(exc).strip().splitlines()[0]}"
            return Sweep(path.name, n, passed=False, reason=reason)
        got_parts.append(got[:rows].astype(np.float32))
        want_parts.append(reference(torch.from_numpy(x[:rows])).numpy())
        batch_done()
    got, want = np.concatenate(got_parts), np.concatenate(want_parts)
    elementwise = compare(got, want, tol)
    if meta.role == "generator":
        onnx_logits = critic(torch.from_numpy(np.nan_to_num(got))).numpy().astype(np.float64)
        torch_logits = critic(torch.from_numpy(want)).numpy().astype(np.float64)
    else:
        onnx_logits, torch_logits = got.astype(np.float64), want.astype(np.float64)
    mean_diff = abs(float(onnx_logits.mean() - torch_logits.mean()))
    std_diff = abs(float(onnx_logits.std() - torch_logits.std()))
    allowed = tol.atol + tol.rtol * float(np.abs(torch_logits).mean())
    distribution_ok = bool(np.isfinite(onnx_logits).all()) and max(mean_diff, std_diff) <= allowed
    reasons = []
    if not elementwise.passed:
        reasons.append(
            f"{elementwise.failing_rows} of {n} samples out of tolerance "
            f"(max abs err {elementwise.max_abs:.3g})"
        )
    if not distribution_ok:
        reasons.append(
            f"D-logit distribution shifted (mean Δ {mean_diff:.3g}, std Δ "
            f"{std_diff:.3g}, allowed {allowed:.3g})"
        )
    return Sweep(
        model=path.name,
        samples=n,
        passed=elementwise.passed and distribution_ok,
        reason="; ".join(reasons),
        elementwise=elementwise,
        d_logit_mean={"onnx": float(onnx_logits.mean()), "torch": float(torch_logits.mean())},
        d_logit_std={"onnx": float(onnx_logits.std()), "torch": float(torch_logits.std())},
        d_logit_mean_abs_diff=mean_diff,
        d_logit_std_abs_diff=std_diff,
        allowed_diff=allowed,
    )


def _distribution(
    ckpt: Any,
    meta: ModelMetadata,
    session: Any,
    provider: str,
    reference: Any,
    n: int,
    feature_net: Any,
    cache_dir: str | os.PathLike[str] | None,
) -> Any:
    """The int8 generator against the checkpoint's on the feature network, or why not."""
    import torch

    from ganport.infer.compare.quality.distribution import compare_samples
    from ganport.infer.compare.quality.feature_net import check_same_data, feature_net_for
    from ganport.train.data import load_dataset

    model = ckpt.config.model
    try:
        dataset = load_dataset(ckpt.config.data, model.image_size, model.channels)
    except InputError as exc:
        return f"not judged by distribution: the run's data set is not here ({exc})"
    if feature_net is None:
        feature_net = feature_net_for(dataset, cache_dir=cache_dir)
    check_same_data(feature_net, dataset)

    def fp32(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return reference(torch.from_numpy(z)).numpy()

    def int8(z: np.ndarray) -> np.ndarray:
        (images,) = run(session, provider, {meta.input_name: z}, [meta.output_name])
        return images

    return compare_samples(
        fp32,
        int8,
        nz=meta.nz,
        classes=meta.labelled_classes,
        net=feature_net,
        dataset=dataset,
        n=n,
    )


def real_images(ckpt: Any, n: int) -> np.ndarray | None:
    """Real images of the run's data set; None when it is not on this machine."""
    from ganport.train.data import load_dataset

    model = ckpt.config.model
    try:
        data = load_dataset(ckpt.config.data, model.image_size, model.channels)
    except InputError:
        return None
    return data.images[: max(n, 256)].numpy()


def assert_parity(
    checkpoint: str | os.PathLike[str], target: str | os.PathLike[str], **options: Any
) -> ParityReport:
    """Run parity and raise AssertionError listing the failures; for users' own test suites."""
    report = run_parity(checkpoint, target, **options)
    if not report.passed:
        lines = "\n".join(f"  {line}" for line in report.failures()[:20])
        raise AssertionError(f"ONNX/torch parity failed for {target}:\n{lines}")
    return report
