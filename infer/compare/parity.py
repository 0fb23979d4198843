"""Parity: do the shipped .onnx files compute what the checkpoint computes?

For each exported model, batch size and seed, torch (eval mode, the weights the export
used) and ONNX Runtime run on identical inputs: G on z from the latent convention, D on
real images of the run's data set and on G's samples. Then a sweep over many samples
compares the two engines' distributions, which catches faults that only some inputs
trigger. This is the comparison half of infer/: it imports torch inside its functions.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ganport.core.classes import edge_latent, labels_for
from ganport.core.errors import InputError, JobFailed, first_line
from ganport.core.latent import latent
from ganport.core.metadata import ModelMetadata, session_metadata
from ganport.core.progress import progress
from ganport.core.tolerance import CHECK_BATCH_SIZES, Comparison, Tolerance, compare, profile_for
from ganport.infer.compare.reference import Reference, load_reference
from ganport.infer.engines import Engine, Loaded, get_engine
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
    checkpoint: str | os.PathLike[str] | None,
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
    runtime: str = "onnxruntime",
) -> ParityReport:
    """Compare every model in ``target`` with ``checkpoint``; returns the full report.

    ``runtime`` another engine (``ganport.infer.engines``) runs the models on instead of
    ONNX Runtime: the file it runs beside each .onnx (``ganport export --target``).

    With ``checkpoint`` None, the torch models are what the export folder's manifest names:
    its checkpoint, or the models written elsewhere that it was exported from. An int8
    generator is also judged by distribution (``quality.distribution``):
    ``distribution_samples`` samples of it and of the checkpoint's generator on the feature
    network of the run's data set (``feature_net``, else the cached one in ``cache_dir``).
    """
    start = time.perf_counter()
    models = find_models(target)
    engine = None if runtime == "onnxruntime" else get_engine(runtime)
    if engine is not None:
        models = _with_engine_files(models, engine)
    ref = load_reference(checkpoint, models)
    report = _new_report(ref, provider)
    real = ref.real_images(max(batch_sizes))
    if real is None:
        what = f"data set {ref.data!r} is not on this machine" if ref.data else "no data set"
        images = "generator samples" if ref.generator() is not None else "uniform noise images"
        report.notes.append(f"{what}: D is compared on {images} only")
    for path in models:
        model = _open_model(path, ref, provider, use_tf32, atol, rtol, report)
        if engine is not None:
            model = _on_engine(model, engine, report)
        judge = (distribution_samples, feature_net, cache_dir)
        _compare_model(model, ref, real, batch_sizes, seeds, sweep_samples, judge, report)
    report.seconds = time.perf_counter() - start
    return report


def _with_engine_files(models: list[Path], engine: Engine) -> list[Path]:
    """The exports that have the engine's own file beside them (all, for one that reads
    .onnx); none is an error that says how to write them."""
    found = [path for path in models if engine.file_for(path).is_file()]
    if not found:
        wanted = engine.file_for(models[0]).name
        raise InputError(
            f"{models[0].parent}: no {wanted} or other {engine.name} file beside the .onnx "
            f"files; write them with `ganport export --target`"
        )
    return found


def _on_engine(model: _Model, engine: Engine, report: ParityReport) -> _Model:
    """``model`` run on ``engine`` (the file beside it) at its precision's CPU tolerance."""
    file = engine.file_for(model.path)
    try:
        loaded = engine.load(file)
    except Exception as exc:  # each runtime raises its own types for a file it refuses
        raise JobFailed(f"{file.name}: {engine.name} cannot load it: {first_line(exc)}") from exc
    ran = f"{engine.name} {engine.version}" + (f" ({engine.compute})" if engine.compute else "")
    report.tolerances[model.path.name]["provider"] = ran
    report.versions[engine.name] = engine.version
    return dataclasses.replace(model, loaded=loaded, provider=ran)


def _new_report(ref: Reference, provider: str) -> ParityReport:
    """The report before any case ran, with the versions behind it."""
    from ganport.train.checkpoint import versions

    report = ParityReport(ref.name, ref.sha256, provider)
    report.versions = {
        **versions(),
        **runtime_versions(),
        "onnx": onnx.__version__,
        "platform": platform.platform(),
    }
    return report


def _open_model(
    path: Path,
    ref: Reference,
    provider: str,
    use_tf32: bool,
    atol: float | None,
    rtol: float | None,
    report: ParityReport,
) -> _Model:
    """One file on ONNX Runtime beside its torch model, at the tolerance of its precision
    and the provider that ran; a file exported from another model is a problem."""
    session, ran = create_session(path, provider, use_tf32=use_tf32)
    meta = session_metadata(session, str(path))
    tol = profile_for(meta.precision, ran, use_tf32, atol, rtol)
    report.tolerances[path.name] = {**tol.to_dict(), "provider": ran}
    expected = ref.sha256_of(meta.role)
    if meta.source_sha256 and expected and meta.source_sha256 != expected:
        report.problems.append(
            f"{path.name} was exported from sha256 {meta.source_sha256[:12]}…, not from "
            f"{Path(ref.name).name}'s {meta.role} (sha256 {expected[:12]}…): the ONNX and "
            "the torch model do not belong together"
        )
    return _Model(path, meta, session, ran, ref.module(meta), tol)


def _compare_model(
    model: _Model,
    ref: Reference,
    real: np.ndarray | None,
    batch_sizes: tuple[int, ...],
    seeds: tuple[int, ...],
    sweep_samples: int,
    judge: tuple[int, Any, str | os.PathLike[str] | None],
    report: ParityReport,
) -> None:
    """Run one model's cases (each batch size, seed and kind of input), its sweep and, for
    an int8 generator, its distribution judgement (``judge``: samples, feature network,
    cache folder) into ``report``."""
    import torch

    meta, path = model.meta, model.path
    sizes = (meta.static_batch,) if meta.static_batch else batch_sizes
    sweep_batch = meta.static_batch or SWEEP_BATCH
    # The bar counts the cases' (batch, seed) pairs, then the sweep's batches.
    work = len(sizes) * len(seeds) + -(-sweep_samples // sweep_batch)
    with torch.no_grad(), progress(total=work, desc=f"parity {path.name}") as bar:
        for batch in sizes:
            for seed in seeds:
                for kind, xs in _inputs(meta, ref, real, batch, seed):
                    report.cases.append(_case(model, xs, batch, seed, kind))
                bar.update(1)
        if sweep_samples:
            report.sweeps.append(_sweep(model, ref, sweep_samples, bar.update))
        if meta.precision == "int8" and meta.role == "generator" and judge[0]:
            judged = _distribution(ref, model, *judge)
            if isinstance(judged, str):
                report.notes.append(f"{path.name}: {judged}")
            else:
                report.distributions[path.name] = judged


@dataclass
class _Model:
    """One exported file under comparison, with its torch reference and tolerance."""

    path: Path
    meta: ModelMetadata
    session: Any
    provider: str
    reference: Any
    tol: Tolerance
    hint: str | None = None
    loaded: Loaded | None = None  # the model on another engine, which runs it instead

    def __post_init__(self) -> None:
        self.hint = structural_hint(self.path)

    def run(self, xs: tuple[np.ndarray, ...]) -> np.ndarray:
        """The runtime's output for inputs ``xs`` (the main one, then labels if taken):
        ONNX Runtime's session, or a model loaded on another engine."""
        feeds = dict(zip(self.meta.input_names, xs, strict=True))
        feeds[self.meta.input_name] = xs[0].astype(self.meta.io_dtype)
        if self.loaded is not None:
            try:
                return np.asarray(self.loaded.run(feeds)[0], np.float32)
            except Exception as exc:  # each runtime raises its own types
                raise JobFailed(f"{self.path.name} on {self.provider}: {first_line(exc)}") from exc
        (got,) = run(self.session, self.provider, feeds, [self.meta.output_name])
        return got.astype(np.float32)

    def torch(self, xs: tuple[np.ndarray, ...]) -> np.ndarray:
        """The torch reference's output for the same inputs."""
        import torch

        return self.reference(*(torch.from_numpy(np.ascontiguousarray(x)) for x in xs)).numpy()


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
    meta: ModelMetadata, ref: Reference, real: np.ndarray | None, batch: int, seed: int
) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """The named input sets of one (batch, seed) case: G's latents (at class edges for a
    latent-class G, every class for a labels G); D's real, generated or noise images."""
    z = latent(batch, ref.latent_size(meta), seed)
    if meta.role == "generator":
        if meta.takes_labels:
            every = np.arange(batch, dtype=np.int64) % meta.classes
            return [
                ("z", (z, labels_for(z, meta.classes, shares=meta.class_shares))),
                ("z, every class", (z, every)),
            ]
        if meta.classes:  # the latent's class rule, tested where it is easiest to get wrong
            edges = edge_latent(z, meta.classes, meta.class_shares)
            return [("z", (z,)), ("z at class edges", (edges,))]
        return [("z", (z,))]
    labels = (labels_for(z, meta.classes, shares=meta.class_shares),) if meta.takes_labels else ()
    cases = []
    if real is not None:
        order = np.random.default_rng(seed).permutation(len(real))[:batch]
        cases.append(("real", (real[np.resize(order, batch)], *labels)))
    fake = ref.fake_images(z)
    if fake is not None:
        cases.append(("generated", (fake, *labels)))
    if not cases:  # a discriminator alone: uniform noise images
        noise = np.random.default_rng(seed).uniform(-1, 1, (batch, *meta.image_shape))
        cases.append(("noise", (noise.astype(np.float32), *labels)))
    return cases


def _case(model: _Model, xs: tuple[np.ndarray, ...], batch: int, seed: int, kind: str) -> Case:
    meta = model.meta
    want = model.torch(xs)
    case = Case(model.path.name, meta.role, batch, seed, kind, model.provider, None)
    try:
        got = model.run(xs)
    except Exception as exc:  # onnxruntime's errors, wrapped as JobFailed by run()
        case.error = f"ONNX Runtime failed: {first_line(exc)}"
        case.hint = model.hint
        return case
    case.comparison = compare(got, want, model.tol)
    if not case.comparison.passed:
        case.hint = model.hint or _numeric_hint(case.comparison)
    return case


def _numeric_hint(comparison: Comparison) -> str:
    if comparison.nonfinite:
        return "the ONNX model outputs NaN/Inf"
    if comparison.shape != comparison.reference_shape:
        return f"output shape {comparison.shape} differs from torch's {comparison.reference_shape}"
    return "the weights or the graph differ from the checkpoint's"


def _sweep(
    model: _Model, ref: Reference, n: int, batch_done: Callable[[], object] = lambda: None
) -> Sweep:
    """Many samples at once: element-wise over all of them, and the distributions of
    D's outputs on ONNX outputs vs on torch outputs (G), or of D's outputs themselves (D)."""
    meta = model.meta
    batch = meta.static_batch or SWEEP_BATCH
    got_parts, want_parts = [], []
    z_all = latent(n, ref.latent_size(meta), SWEEP_SEED)
    for start in range(0, n, batch):
        z = z_all[start : start + batch]
        xs = _sweep_inputs(meta, ref, z, start)
        rows = len(z)
        padded = tuple(_pad(x, batch) for x in xs) if meta.static_batch else xs
        try:
            got = model.run(padded)
        except Exception as exc:
            reason = f"ONNX Runtime failed: {first_line(exc)}"
            return Sweep(model.path.name, n, passed=False, reason=reason)
        got_parts.append(got[:rows])
        want_parts.append(model.torch(xs))
        batch_done()
    got, want = np.concatenate(got_parts), np.concatenate(want_parts)
    elementwise = compare(got, want, model.tol)
    judged = _judged(meta, ref, got, want, z_all)
    return _sweep_verdict(model, n, elementwise, judged)


def _sweep_inputs(
    meta: ModelMetadata, ref: Reference, z: np.ndarray, start: int
) -> tuple[np.ndarray, ...]:
    """Row ``start`` on of the sweep: G's latents, or D's generated (else noise) images."""
    labels = (labels_for(z, meta.classes, shares=meta.class_shares),) if meta.takes_labels else ()
    if meta.role == "generator":
        return (z, *labels)
    fake = ref.fake_images(z)
    if fake is None:
        rng = np.random.default_rng((SWEEP_SEED, start))
        fake = rng.uniform(-1, 1, (len(z), *meta.image_shape)).astype(np.float32)
    return (fake, *labels)


def _pad(x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([x, np.zeros((batch - len(x), *x.shape[1:]), x.dtype)])


def _judged(
    meta: ModelMetadata, ref: Reference, got: np.ndarray, want: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """D's outputs on the ONNX and the torch images (G), or the D outputs themselves (D);
    None for a G with no D to judge it."""
    if meta.role != "generator":
        return got.astype(np.float64), want.astype(np.float64)
    onnx_scores = ref.critic_scores(np.nan_to_num(got), z)
    if onnx_scores is None:
        return None
    return onnx_scores, ref.critic_scores(want, z)


def _sweep_verdict(
    model: _Model,
    n: int,
    elementwise: Comparison,
    judged: tuple[np.ndarray, np.ndarray] | None,
) -> Sweep:
    tol = model.tol
    reasons = []
    if not elementwise.passed:
        reasons.append(
            f"{elementwise.failing_rows} of {n} samples out of tolerance "
            f"(max abs err {elementwise.max_abs:.3g})"
        )
    sweep = Sweep(model.path.name, n, passed=False, reason="", elementwise=elementwise)
    if judged is not None:
        onnx_logits, torch_logits = judged
        mean_diff = abs(float(onnx_logits.mean() - torch_logits.mean()))
        std_diff = abs(float(onnx_logits.std() - torch_logits.std()))
        allowed = tol.atol + tol.rtol * float(np.abs(torch_logits).mean())
        if not (bool(np.isfinite(onnx_logits).all()) and max(mean_diff, std_diff) <= allowed):
            reasons.append(
                f"D-logit distribution shifted (mean Δ {mean_diff:.3g}, std Δ "
                f"{std_diff:.3g}, allowed {allowed:.3g})"
            )
        sweep.d_logit_mean = {
            "onnx": float(onnx_logits.mean()),
            "torch": float(torch_logits.mean()),
        }
        sweep.d_logit_std = {"onnx": float(onnx_logits.std()), "torch": float(torch_logits.std())}
        sweep.d_logit_mean_abs_diff, sweep.d_logit_std_abs_diff = mean_diff, std_diff
        sweep.allowed_diff = allowed
    sweep.reason = "; ".join(reasons)
    sweep.passed = not reasons
    return sweep


def _distribution(
    ref: Reference,
    model: _Model,
    n: int,
    feature_net: Any,
    cache_dir: str | os.PathLike[str] | None,
) -> Any:
    """The int8 generator against the checkpoint's on the feature network, or why not."""
    import torch

    from ganport.infer.quality.distribution import compare_samples
    from ganport.infer.quality.feature_net import feature_net_for
    from ganport.infer.quality.fingerprint import check_same_data
    from ganport.train.data import load_dataset

    if ref.checkpoint is None:
        return "not judged by distribution: ganport knows no data set for this model"
    model_config = ref.checkpoint.config.model
    try:
        dataset = load_dataset(ref.data, model_config.image_size, model_config.channels)
    except InputError as exc:
        return f"not judged by distribution: the run's data set is not here ({exc})"
    if feature_net is None:
        feature_net = feature_net_for(dataset, cache_dir=cache_dir)
    check_same_data(feature_net, dataset)

    def fp32(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.reference(torch.from_numpy(z)).numpy()

    return compare_samples(
        fp32,
        lambda z: model.run((z,)),
        nz=model.meta.nz,
        classes=model.meta.labelled_classes,
        net=feature_net,
        dataset=dataset,
        n=n,
    )


def real_images(ckpt: Any, n: int) -> np.ndarray | None:
    """Real images of the run's data set; None when it is not on this machine."""
    return Reference("", "", checkpoint=ckpt).real_images(n)


def assert_parity(
    checkpoint: str | os.PathLike[str] | None, target: str | os.PathLike[str], **options: Any
) -> ParityReport:
    """Run parity and raise AssertionError listing the failures; for users' own test suites."""
    report = run_parity(checkpoint, target, **options)
    if not report.passed:
        lines = "\n".join(f"  {line}" for line in report.failures()[:20])
        raise AssertionError(f"ONNX/torch parity failed for {target}:\n{lines}")
    return report
