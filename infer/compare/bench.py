"""``ganport bench``: how fast ONNX Runtime runs an export, against torch on the same model.

For each model (G, D), batch size and engine (torch eager, torch.compile, ONNX Runtime;
on a GPU also CUDA graphs and IO binding) it reports latency median and p90, samples/s,
achieved GFLOP/s and the distance to the FLOP floor: FLOPs per batch ÷ the fp32 matmul
rate this machine reaches at the same thread count, measured in the same run. Engines and
the matmul reference are timed interleaved (``timing``), so their ratios hold on a
busy machine. Every engine's output is checked against torch eager: a fast wrong answer
fails the job. Fairness: the same threads on both sides, fp32 on both (TF32 off), inputs
already on the device, first-call costs (session creation, compilation, graph capture,
cuDNN search) kept out of the timed runs and reported on their own.

This is the comparison half of infer/: torch is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ganport.core.classes import labels_for
from ganport.core.errors import InputError, first_line
from ganport.core.latent import latent
from ganport.core.metadata import ModelMetadata, metadata_from_map
from ganport.core.progress import progress
from ganport.core.tolerance import compare, profile_for
from ganport.infer.compare.bench_engines import (
    ORT_CPU_CONFIGS,
    Engine,
    Runner,
    Skipped,
    engine_name,
    ort_cpu_engine,
    ort_cuda_engine,
    runtime_engine,
    torch_cuda_graph_engine,
    torch_engine,
    torch_precision,
)
from ganport.infer.compare.flops import node_macs
from ganport.infer.compare.reference import Reference, load_reference
from ganport.infer.compare.timing import Plan, Stats, time_interleaved
from ganport.infer.runtime.session import quiet_ort_logs

DEFAULT_BATCH_SIZES = (1, 16, 64, 256)
MODEL_FILES = ("generator.onnx", "discriminator.onnx")
# Square fp32 matmuls for the machine's rate: big enough to reach a GEMM's peak.
MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}
BASELINE = {"cpu": "torch-eager", "cuda": "torch-cuda-eager"}
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8")
# What runs when --precision is not given: on a GPU every precision a GPU user ships (the
# fp16 ONNX Runtime engines when the export has *_fp16.onnx); on the CPU fp32, and int8
# when the export has *_int8.onnx.
DEFAULT_PRECISIONS = {"cpu": ("fp32", "int8"), "cuda": ("fp32", "tf32", "fp16", "bf16")}
# Precisions whose matmul rate gives their own FLOP floor (torch.mm at that precision).
# On the CPU only fp32: torch's fp16 and bf16 GEMMs there are not what a CPU is rated by.
FLOOR_PRECISIONS = {"cpu": ("fp32",), "cuda": ("fp32", "tf32", "fp16", "bf16")}


@dataclass(frozen=True)
class BenchOptions:
    """What to run. ``threads`` None means every CPU this process may use."""

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    provider: str = "cpu"
    threads: int | None = None
    plan: Plan = field(default_factory=Plan)
    compile: bool = True
    matmul_size: int | None = None  # None: MATMUL_SIZE of the provider
    precisions: tuple[str, ...] | None = None  # None: DEFAULT_PRECISIONS of the provider
    runtimes: tuple[str, ...] = ()  # other engines (ganport.infer.engines) timed beside ORT


@dataclass
class Cell:
    """One engine at one batch size: timings, derived rates and the agreement check."""

    engine: str
    batch: int
    status: str  # ok | failed | skipped
    reason: str | None = None
    latency: Stats | None = None
    bind_s: float | None = None
    first_call_s: float | None = None
    samples_per_s: float | None = None
    gflops: float | None = None
    floor_ratio: float | None = None
    speedup_vs_baseline: float | None = None
    max_abs_diff: float | None = None
    agrees: bool | None = None


@dataclass
class ModelBench:
    """Everything measured for one .onnx file."""

    file: str
    role: str
    arch: str
    input_shape: list[int]
    flops_per_sample: int
    macs_per_node: list[dict[str, Any]]
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    matmul: list[dict[str, Any]] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)


@dataclass
class BenchReport:
    """The whole run, as data; ``to_dict`` is the JSON report."""

    target: str
    checkpoint: str
    checkpoint_sha256: str
    provider: str
    threads: dict[str, Any]
    settings: dict[str, Any]
    versions: dict[str, str]
    machine: dict[str, Any]
    models: list[ModelBench] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        """Whether any engine was timed at all (with --provider cuda on a machine without
        CUDA, none is)."""
        return any(c.latency is not None for m in self.models for c in m.cells)

    def skip_reasons(self) -> list[str]:
        """Why engines were skipped, each distinct reason once."""
        reasons = [e["reason"] for m in self.models for e in m.engines.values() if "reason" in e]
        return list(dict.fromkeys(reasons))

    @property
    def agrees(self) -> bool:
        return all(c.agrees is not False for m in self.models for c in m.cells)

    def disagreements(self) -> list[str]:
        """One line per cell whose output differs from torch eager beyond tolerance."""
        return [
            f"{m.file} {c.engine} batch {c.batch}: max abs diff {c.max_abs_diff:.3g}"
            for m in self.models
            for c in m.cells
            if c.agrees is False
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"report": "ganport-bench", "format_version": 1, **asdict(self)}


def run_bench(
    target: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
    options: BenchOptions | None = None,
) -> BenchReport:
    """Benchmark the models of an export folder (or one .onnx file) against their checkpoint."""
    import torch

    options = options or BenchOptions()
    if options.provider == "auto":
        options = dataclasses.replace(options, provider=_auto_provider())
    if options.provider not in MATMUL_SIZE:
        raise InputError(f"provider {options.provider!r} is not one of auto, cpu, cuda")
    start = time.perf_counter()
    models = find_models(target)
    ref = load_reference(checkpoint, models, hint="give --checkpoint")
    metas = [_metadata(path, ref) for path in models]
    threads = options.threads or _usable_cpus()
    report = _empty_report(target, ref, options)
    with _torch_settings(threads), torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
        report.threads = {
            "requested": threads,
            "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(),
            "ort_intra_op": threads,
            "ort_inter_op": "none: sequential execution creates no inter-op pool",
        }
        matmul = _matmul_calls(options, threads, Path(tmp), report.notes)
        for path, meta in zip(models, metas, strict=True):
            module = ref.module(meta) if ref.has_torch(meta.role) else None
            if module is None:
                report.notes.append(
                    f"{path.name} was tagged from an ONNX file: no torch model to time or to "
                    "check its outputs against"
                )
            bench = _bench_model(path, meta, module, matmul, threads, options, report, ref)
            report.models.append(bench)
    report.machine["loadavg_end"] = _loadavg()
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def _empty_report(
    target: str | os.PathLike[str], ref: Reference, options: BenchOptions
) -> BenchReport:
    """The report before any model ran: what was asked for, the versions and the machine."""
    from ganport.train.checkpoint import versions

    return BenchReport(
        target=str(target),
        checkpoint=ref.name,
        checkpoint_sha256=ref.sha256,
        provider=options.provider,
        threads={},
        settings={
            "batch_sizes": list(options.batch_sizes),
            "plan": asdict(options.plan),
            "torch_compile": options.compile,
            "precisions": list(options.precisions or DEFAULT_PRECISIONS[options.provider]),
            "precision": "engines without a suffix run fp32 (TF32 off); *-tf32 the fp32 "
            "model with TF32, *-fp16 and *-bf16 torch autocast or the *_fp16.onnx export, "
            "*-int8 the *_int8.onnx export; each is checked at its precision's tolerance",
            "matmul_size": options.matmul_size or MATMUL_SIZE[options.provider],
            "floor": "FLOPs per batch / the faster of torch.mm and ONNX Runtime MatMul, "
            "timed interleaved with the engines at the same threads; tf32, fp16 and bf16 "
            "engines (on CUDA) against torch.mm at their own precision, int8 against fp32",
        },
        versions=_versions(versions()),
        machine=_machine(),
    )


def int8_companion(path: Path) -> Path | None:
    """``generator_int8.onnx`` beside ``generator.onnx`` (an ``--int8`` export), if any."""
    return companion(path, "int8")


def companion(path: Path, precision: str) -> Path | None:
    """``generator_<precision>.onnx`` beside ``generator.onnx`` (``--int8`` or ``--fp16``
    export), if any."""
    found = path.with_name(f"{path.stem}_{precision}.onnx")
    return found if path.parent.is_dir() and found.is_file() else None


def find_models(target: str | os.PathLike[str]) -> list[Path]:
    """generator.onnx and discriminator.onnx of an export folder, or the one file given
    (their int8 and fp16 files, when the export has them, join as engines: ``companion``)."""
    path = Path(target)
    if path.is_dir():
        found = [path / name for name in MODEL_FILES if (path / name).is_file()]
        if not found:
            raise InputError(f"{path}: no {' or '.join(MODEL_FILES)} in this folder")
        return found
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    if path.suffix != ".onnx":
        raise InputError(f"{path}: not an .onnx file or an export folder")
    return [path]


def _auto_provider() -> str:
    """cuda where torch and ONNX Runtime can both use a GPU, else cpu."""
    import onnxruntime as ort
    import torch

    usable = torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers()
    return "cuda" if usable else "cpu"


def _bench_model(
    path: Path,
    meta: ModelMetadata,
    module: Any,
    matmul: dict[str, tuple[str, Callable[[], None]]],
    threads: int,
    options: BenchOptions,
    report: BenchReport,
    ref: Reference,
) -> ModelBench:
    nodes = node_macs(path)
    flops = 2 * sum(n.macs for n in nodes)
    shape = [meta.nz] if meta.role == "generator" else list(meta.image_shape)
    result = ModelBench(
        file=path.name,
        role=meta.role,
        arch=meta.arch,
        input_shape=shape,
        flops_per_sample=flops,
        macs_per_node=[asdict(n) for n in nodes],
    )
    engines = _engines(path, meta, module, threads, options, result)
    if not engines:
        return result
    sizes = options.batch_sizes
    if meta.static_batch:
        sizes = (meta.static_batch,)
        report.notes.append(f"{path.name} has a static batch of {meta.static_batch}: only it")
    failed: dict[str, str] = {}  # engine -> why its first call failed (it is not retried)
    size = options.matmul_size or MATMUL_SIZE[options.provider]
    for batch in progress(sizes, desc=f"bench {path.name}", unit="batch size"):
        xs = _inputs(meta, batch, ref)
        reference = None if module is None else module(*(_torch_tensor(x) for x in xs)).numpy()
        cells, runners = _first_calls(engines, xs, batch, reference, failed)
        calls = {name: call for name, (_precision, call) in matmul.items()}
        timed = time_interleaved({**{n: r.run for n, r in runners.items()}, **calls}, options.plan)
        floors: dict[str, float] = {}  # precision -> floor ms of this batch
        if matmul:
            floors = _floors(matmul, timed, size, flops, batch, result)
        baseline = timed.get(BASELINE[options.provider])
        precision_of = {engine.name: engine.precision for engine in engines}
        for name, stats in timed.items():
            if name in cells:
                precision = precision_of[name]
                floor_ms = floors.get(
                    precision, floors.get("fp32") if precision == "int8" else None
                )
                _fill(cells[name], stats, flops, floor_ms, baseline)
        result.cells += list(cells.values())
    return result


def _first_calls(
    engines: list[Engine],
    xs: tuple[np.ndarray, ...],
    batch: int,
    reference: np.ndarray | None,
    failed: dict[str, str],
) -> tuple[dict[str, Cell], dict[str, Runner]]:
    """Each engine's cell at ``batch`` from its first call (checked against ``reference``)
    and the runners to time; an engine that failed once (``failed``) is not called again."""
    runners: dict[str, Runner] = {}
    cells: dict[str, Cell] = {}
    for engine in engines:
        if engine.name in failed:
            cells[engine.name] = Cell(engine.name, batch, "failed", failed[engine.name])
            continue
        cell, runner = _first_call(engine, xs, batch, reference)
        cells[engine.name] = cell
        if runner is None:
            failed[engine.name] = cell.reason or "failed"
        else:
            runners[engine.name] = runner
    return cells, runners


def _floors(
    matmul: dict[str, tuple[str, Callable[[], None]]],
    timed: dict[str, Stats],
    size: int,
    flops: int,
    batch: int,
    result: ModelBench,
) -> dict[str, float]:
    """The floor of each precision at ``batch`` (precision -> ms): the model's FLOPs at the
    fastest matmul rate of that precision; the matmul figures go into ``result``."""
    rates = {name: 2 * size**3 / (timed[name].median_ms / 1e3) / 1e9 for name in matmul}
    best = {name: 2 * size**3 / (timed[name].min_ms / 1e3) / 1e9 for name in matmul}
    floor_rates: dict[str, float] = {}
    for name, (precision, _call) in matmul.items():
        floor_rates[precision] = max(floor_rates.get(precision, 0.0), rates[name])
    floors = {p: flops * batch / rate / 1e6 for p, rate in floor_rates.items()}
    result.matmul.append(
        {
            "batch": batch,
            "size": size,
            "median_gflops": {name: round(rate, 2) for name, rate in rates.items()},
            "best_gflops": {name: round(rate, 2) for name, rate in best.items()},
            "floor_gflops": round(floor_rates.get("fp32", 0.0), 2),
            "floor_ms": floors.get("fp32"),
            "floor_gflops_by_precision": {p: round(rate, 2) for p, rate in floor_rates.items()},
            "floor_ms_by_precision": floors,
        }
    )
    return floors


def _engines(
    path: Path,
    meta: ModelMetadata,
    module: Any,
    threads: int,
    options: BenchOptions,
    result: ModelBench,
) -> list[Engine]:
    """Build the engines of the provider at each precision asked for; one that cannot run
    here is recorded with the reason.

    torch runs the checkpoint's fp32 module (autocast for fp16 and bf16, TF32 flags for
    tf32); ONNX Runtime runs the export of that precision: the file given (fp32 or int8)
    and, beside an fp32 file, its ``*_int8.onnx`` and ``*_fp16.onnx`` (``companion``).
    A precision asked for explicitly that nothing here can run is recorded as skipped;
    one from the defaults is left out silently.
    """
    builders = _builders(path, meta, module, threads, options)
    if not options.compile:
        builders = {k: v for k, v in builders.items() if "compile" not in k}
    engines = []
    for name, build in builders.items():
        try:
            engine = build()
        except Skipped as exc:
            result.engines[name] = {"status": "skipped", "reason": str(exc)}
            continue
        result.engines[name] = {
            "status": "ok",
            "device": engine.device,
            "precision": engine.precision,
            "setup_s": round(engine.setup_s, 4),
            "settings": engine.settings,
        }
        engines.append(engine)
    return engines


# The engines of each provider, by base name: torch's (compiled or not; None: a CUDA graph)
# and ONNX Runtime's (how to build one on a model file).
TORCH_KINDS: dict[str, dict[str, bool | None]] = {
    "cpu": {"torch-eager": False, "torch-compile": True},
    "cuda": {"torch-cuda-eager": False, "torch-cuda-compile": True, "torch-cuda-graph": None},
}
ORT_KINDS: dict[str, dict[str, Callable[..., Engine]]] = {
    "cpu": {config: functools.partial(ort_cpu_engine, config=config) for config in ORT_CPU_CONFIGS},
    "cuda": {
        "ort-cuda-iobinding": functools.partial(ort_cuda_engine, cuda_graph=False),
        "ort-cuda-graph": functools.partial(ort_cuda_engine, cuda_graph=True),
    },
}


def _builders(
    path: Path, meta: ModelMetadata, module: Any, threads: int, options: BenchOptions
) -> dict[str, Callable[[], Engine]]:
    """Engine name -> how to build it, for the provider and the precisions asked for. A
    torch engine copies the module when it is built (engines move their module to a
    device), so engines left out copy nothing."""
    provider = options.provider

    def torch_builder(name: str, compiled: bool | None, precision: str) -> Callable[[], Engine]:
        if compiled is None:
            return lambda: torch_cuda_graph_engine(copy.deepcopy(module), precision)
        return lambda: torch_engine(name, copy.deepcopy(module), provider, compiled, precision)

    files = {meta.precision: path}
    if meta.precision == "fp32":
        files["tf32"] = path
        for precision in ("int8", "fp16"):
            found = companion(path, precision)
            if found is not None:
                files[precision] = found
    explicit = options.precisions is not None
    builders: dict[str, Callable[[], Engine]] = {}
    for precision in options.precisions or DEFAULT_PRECISIONS[provider]:
        if precision != "int8" and module is not None:
            for base, compiled in TORCH_KINDS[provider].items():
                name = engine_name(base, precision)
                builders[name] = torch_builder(name, compiled, precision)
        for base, build in ORT_KINDS[provider].items():
            name = engine_name(base, precision)
            if precision in files and (provider == "cuda" or precision != "tf32"):
                builders[name] = functools.partial(
                    build, files[precision], threads, precision=precision
                )
            elif explicit and precision != "bf16":
                builders[name] = functools.partial(_missing, path, precision)
        if precision in files and precision != "tf32" and provider == "cpu":
            for runtime in options.runtimes:
                name = engine_name(runtime, precision)
                builders[name] = functools.partial(
                    runtime_engine, runtime, files[precision], precision
                )
    return builders


def _missing(path: Path, precision: str) -> Engine:
    """The builder of an ONNX Runtime engine whose model is not there."""
    if precision == "tf32":
        raise Skipped("TF32 is a CUDA format; ONNX Runtime's CPU provider has none")
    flag = {"int8": "--int8", "fp16": "--fp16"}.get(precision, "")
    raise Skipped(f"no {path.stem}_{precision}.onnx beside {path.name} (export with {flag})")


def _first_call(
    engine: Engine, xs: tuple[np.ndarray, ...], batch: int, reference: np.ndarray | None
) -> tuple[Cell, Runner | None]:
    """Bind and run once (compilation, capture, cuDNN search happen here), then check the
    output. Any error becomes a failed cell with its reason: one engine that does not work
    on this machine (torch.compile without a compiler, say) must not end the benchmark."""
    cell = Cell(engine.name, batch, "ok")
    try:
        start = time.perf_counter()
        with quiet_ort_logs():  # a new shape's cuDNN plans: see quiet_ort_logs
            runner = engine.bind(xs)
            bound = time.perf_counter()
            runner.run()
        cell.first_call_s = time.perf_counter() - bound
        cell.bind_s = bound - start
        output = runner.fetch()
    except Exception as exc:  # reported, not raised: see the docstring
        cell.status = "failed"
        cell.reason = f"{type(exc).__name__}: {first_line(exc)}"
        return cell, None
    if reference is None:  # no torch model to agree with
        return cell, runner
    tolerance = profile_for(engine.precision, "CUDA" if engine.device == "cuda" else "CPU")
    comparison = compare(output, reference, tolerance)
    cell.max_abs_diff = comparison.max_abs
    cell.agrees = comparison.passed
    return cell, runner


def _fill(
    cell: Cell, stats: Stats, flops: int, floor_ms: float | None, baseline: Stats | None
) -> None:
    seconds = stats.median_ms / 1e3
    cell.latency = stats
    cell.samples_per_s = cell.batch / seconds
    cell.gflops = flops * cell.batch / seconds / 1e9
    if floor_ms is not None:
        cell.floor_ratio = stats.median_ms / floor_ms
    if baseline is not None:
        cell.speedup_vs_baseline = baseline.median_ms / stats.median_ms


def _matmul_calls(
    options: BenchOptions, threads: int, tmp: Path, notes: list[str]
) -> dict[str, tuple[str, Callable[[], None]]]:
    """Name -> (precision, call): torch.mm and ONNX Runtime MatMul of two n×n fp32 matrices
    on the provider's device, results preallocated, the machine's rate measured by both GEMM
    libraries at hand; on CUDA also torch.mm at each other precision asked for (TF32, fp16,
    bf16), the floor of the engines at that precision."""
    import torch

    device = options.provider
    n = options.matmul_size or MATMUL_SIZE[device]
    x = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    calls: dict[str, tuple[str, Callable[[], None]]] = {}
    if device == "cpu" or torch.cuda.is_available():
        wanted = options.precisions or DEFAULT_PRECISIONS[device]
        for precision in (p for p in FLOOR_PRECISIONS[device] if p == "fp32" or p in wanted):
            calls[engine_name("matmul-torch", precision)] = (
                precision,
                _torch_mm(x, _matmul_weight(n), device, precision),
            )
    model = tmp / "matmul.onnx"
    onnx.save(_matmul_model(n), str(model))
    try:
        engine = (
            ort_cpu_engine(model, threads)
            if device == "cpu"
            else ort_cuda_engine(model, threads, cuda_graph=False)
        )
        calls["matmul-ort"] = ("fp32", engine.bind((x,)).run)
    except Skipped as exc:
        notes.append(f"no ONNX Runtime matmul rate on {device}: {exc}")
    if not calls:
        notes.append(f"no matmul rate on {device}: no FLOP floor")
    return calls


def _torch_mm(x: np.ndarray, w: np.ndarray, device: str, precision: str) -> Callable[[], None]:
    """torch.mm of x and w at ``precision`` (fp16, bf16: both matrices in that type)."""
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    a = torch.from_numpy(x).to(device, dtype)
    b = torch.from_numpy(w).to(device, dtype)
    out = torch.empty_like(a)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None

    def mm() -> None:
        with torch_precision(device, "tf32" if precision == "tf32" else "fp32"):
            torch.mm(a, b, out=out)
        sync()

    return mm


def _matmul_model(n: int) -> onnx.ModelProto:
    """y = x @ w with w a constant n×n weight, the shape of a layer's GEMM."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(_matmul_weight(n), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _matmul_weight(n: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)


def _inputs(meta: ModelMetadata, batch: int, ref: Reference) -> tuple[np.ndarray, ...]:
    """G: z by the latent convention (seed 0). D: G_ema's samples of that z, what D is fed
    in use (timing does not depend on the values; an int8 D's agreement does, as its ranges
    were calibrated on real and generated images), or uniform noise with no G. Labels by
    ganport's class rule where the model takes them."""
    z = latent(batch, ref.latent_size(meta), seed=0)
    labels = (labels_for(z, meta.classes, shares=meta.class_shares),) if meta.takes_labels else ()
    if meta.role == "generator":
        return (z, *labels)
    images = ref.fake_images(z)
    if images is None:
        noise = np.random.default_rng(0).uniform(-1, 1, (batch, *meta.image_shape))
        images = noise.astype(np.float32)
    return (images, *labels)


def _torch_tensor(x: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(x)


def _metadata(path: Path, ref: Reference) -> ModelMetadata:
    model = onnx.load(str(path), load_external_data=False)
    meta = metadata_from_map({p.key: p.value for p in model.metadata_props}, str(path))
    if meta.precision not in ("fp32", "int8"):
        raise InputError(
            f"{path}: a {meta.precision} model; bench compares ONNX Runtime with torch's fp32, "
            "so give an fp32 or int8 export"
        )
    expected = ref.sha256_of(meta.role)
    if meta.source_sha256 and expected and meta.source_sha256 != expected:
        raise InputError(
            f"{path} was exported from another {ref.kind} than {ref.name} "
            f"(sha256 {meta.source_sha256[:12]}… vs {expected[:12]}…)"
        )
    return meta


@contextlib.contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """torch at ``threads`` intra-op threads, fp32 matmuls and convolutions without TF32,
    cuDNN allowed to search (as ORT's EXHAUSTIVE); all restored afterwards."""
    import torch

    saved = (
        torch.get_num_threads(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.backends.cuda.matmul.allow_tf32 = saved[1]
        torch.backends.cudnn.allow_tf32 = saved[2]
        torch.backends.cudnn.benchmark = saved[3]


def _versions(base: dict[str, str]) -> dict[str, str]:
    import torch

    from ganport.infer.runtime.session import runtime_versions

    found = {**base, **runtime_versions(), "onnx": onnx.__version__}
    found["platform"] = platform.platform()
    if torch.cuda.is_available():
        found["cuda"] = str(torch.version.cuda)
        found["cudnn"] = str(torch.backends.cudnn.version())
    return found


def _machine() -> dict[str, Any]:
    import torch

    machine: dict[str, Any] = {
        "cpu": _cpu_name(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "loadavg_start": _loadavg(),
    }
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(0)
    return machine


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: how busy the machine was around the timings."""
    with contextlib.suppress(OSError, AttributeError):
        return [round(v, 2) for v in os.getloadavg()]
    return None
