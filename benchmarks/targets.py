"""The project's CPU speed targets, measured side by side in one run, each with PASS or MISS.

    python -m benchmarks.targets [--quick] [--threads 2] [--seconds 2] [--rounds 10]
                                 [--json FILE] [--quality CHECKPOINT]

Every generator a user runs (``target_models``: DCGAN 28 conditional and unconditional,
DCGAN 32, DCGAN 64, MLP 28) at batch 1, 8 and 64, timed two ways:

- **session**: ``ganport bench``'s engines: ONNX Runtime's bare session with IO binding
  (the faster of its spinning and non-spinning configurations in each cell), its int8
  model, torch eager and ``torch.compile`` on the checkpoint's module, and the FLOP
  floor's matmuls, all interleaved (ganport.infer.compare.timing).
- **api**: ``ganport.infer.Generator.generate(z)`` on the same z as the checkpoint's
  generator under ``torch.inference_mode`` (``api_timing``), interleaved too.

Each model is timed twice: first every model against torch eager (and the int8 model and
the floor), then every model against ``torch.compile``. Once a process has run a compiled
module, torch eager in it slows down: on a busy 2-core machine the DCGAN 28 G's batch of
64 took 136 ms eager beside torch.compile and 21 ms without (``ganport bench`` with and
without ``--no-compile``), so eager is never timed after a compile.

A ratio is a ratio of medians from one interleaved run, so it holds on a shared machine;
the ratio of the fastest runs (best-of) is printed beside it as the quiet-machine
estimate. The FLOP floor is the model's FLOPs per batch at the machine's fp32 peak: a
2048×2048×2048 fp32 matmul by torch.mm and by ONNX Runtime's MatMul, at the engines'
thread count, warmed up and timed interleaved with the engines in every cell of the model;
the peak is its fastest run over all of them (``peak_gflops``; the median rate is printed
beside it, to show the load). "× floor" is ORT's median latency over that floor (its best-of
in brackets). Then ONNX Runtime's time per node shows where each miss comes from
(``node_profile``). ``--quality CHECKPOINT`` (a trained run) adds the int8 quality targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.api_timing import time_api
from benchmarks.node_profile import print_profiles
from benchmarks.target_models import MODELS, build, is_dcgan
from ganport.core.atomic import write_json
from ganport.infer.compare.bench import BenchOptions, BenchReport, run_bench
from ganport.infer.compare.bench_engines import ORT_CPU_CONFIGS
from ganport.infer.compare.bench_report import summary_table
from ganport.infer.compare.timing import Plan, Stats

BATCH_SIZES = (1, 8, 64)
QUALITY_SAMPLES = 10_000
QUICK = Plan(seconds=0.4, rounds=4)
COMPILE_ORT = "ort-beside-compile"  # ORT timed in the run that has torch.compile


@dataclass(frozen=True)
class Target:
    """One speed target: ``over`` timed against ``engine`` at one batch, and its bound.

    The ratio is ``engine``'s latency over ``over``'s (a speedup); for the FLOP floor
    (``engine`` "floor") it is ``over``'s latency over the floor's, which must stay under
    the bound."""

    model: str
    batch: int
    over: str  # ort, ort-int8 or COMPILE_ORT
    engine: str  # torch-eager, torch-compile, ort (the fp32 model) or floor
    bound: float

    @property
    def at_most(self) -> bool:
        return self.engine == "floor"

    @property
    def text(self) -> str:
        if self.at_most:
            return f"{self.model} batch {self.batch}: ORT <= {self.bound:g}x FLOP floor"
        subject = "int8 ORT" if self.over == "ort-int8" else "ORT"
        return f"{self.model} batch {self.batch}: {subject} >= {self.bound:g}x {self.engine}"

    def ratio(self, stats: dict[str, Stats], stat: str) -> float | None:
        if self.engine not in stats or self.over not in stats:
            return None
        ours, theirs = getattr(stats[self.over], stat), getattr(stats[self.engine], stat)
        return ours / theirs if self.at_most else theirs / ours


def targets() -> list[Target]:
    """Every DCGAN G: batch 1 ≥ 3× eager; batch 64 ≥ 1.3× eager, ≥ 1.1× torch.compile (the
    DCGAN 64: ≥ 1×), ≤ 1.3× the FLOP floor; int8 ≥ 1.5× fp32 at batch 1 and ≥ 2× at 64.
    The MLP: ≥ 2× eager at batch 1 and 64."""
    found = []
    for name in MODELS:
        if not is_dcgan(name):
            found += [Target(name, 1, "ort", "torch-eager", 2)]
            found += [Target(name, 64, "ort", "torch-eager", 2)]
            continue
        found += [
            Target(name, 1, "ort", "torch-eager", 3),
            Target(name, 64, "ort", "torch-eager", 1.3),
            Target(name, 64, COMPILE_ORT, "torch-compile", 1.0 if name == "dcgan64" else 1.1),
            Target(name, 64, "ort", "floor", 1.3),
            Target(name, 1, "ort-int8", "ort", 1.5),
            Target(name, 64, "ort-int8", "ort", 2),
        ]
    return found


def peak_gflops(report: BenchReport) -> float:
    """The machine's fp32 rate at the run's thread count: the fastest 2048³ matmul of the
    run, torch.mm or ONNX Runtime MatMul, over every cell's interleaved slices."""
    (model,) = report.models
    return max(rate for m in model.matmul for rate in m["best_gflops"].values())


def session_stats(report: BenchReport) -> dict[int, dict[str, Stats]]:
    """Batch → {engine: latency} of a bench report: ``ort`` and ``ort-int8`` the faster ORT
    configuration of the cell, ``floor`` the model's FLOPs at ``peak_gflops``."""
    (model,) = report.models
    peak = peak_gflops(report)
    found: dict[int, dict[str, Stats]] = {}
    for cell in model.cells:
        if cell.latency is not None:
            found.setdefault(cell.batch, {})[cell.engine] = cell.latency
    for batch, stats in found.items():
        for precision in ("fp32", "int8"):
            suffix = "" if precision == "fp32" else "-int8"
            ort = [stats[c + suffix] for c in ORT_CPU_CONFIGS if c + suffix in stats]
            if ort:
                stats["ort" + suffix] = min(ort, key=lambda s: s.median_ms)
        ms = model.flops_per_sample * batch / peak / 1e6
        stats["floor"] = Stats(runs=0, median_ms=ms, p90_ms=ms, min_ms=ms, mean_ms=ms)
    return found


def evaluate(target: Target, harness: str, stats: dict[str, Stats]) -> dict[str, object] | None:
    """Print and return one target's verdict in one harness, if it measured both sides."""
    value, best = target.ratio(stats, "median_ms"), target.ratio(stats, "min_ms")
    if value is None or best is None:
        return None
    met = value <= target.bound if target.at_most else value >= target.bound
    verdict = "PASS" if met else "MISS"
    print(f"  {verdict}  {harness:7s} {target.text:48s} {value:6.2f}  [{best:6.2f}]")
    return {
        "target": target.text,
        "harness": harness,
        "ratio": value,
        "best_of_ratio": best,
        "verdict": verdict,
    }


def main(argv: list[str] | None = None) -> int:
    """Build, time, print each target; exit 1 only if an engine's output disagrees."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("artifacts/bench-targets"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="Timed seconds per cell.")
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved slices per cell.")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK.seconds} s in {QUICK.rounds} slices a cell"
    )
    parser.add_argument("--json", type=Path, default=None, help="Write targets and reports.")
    parser.add_argument(
        "--quality", type=Path, default=None, help="A trained checkpoint: int8 quality targets."
    )
    args = parser.parse_args(argv)

    plan = QUICK if args.quick else Plan(seconds=args.seconds, rounds=args.rounds)
    reports: dict[str, BenchReport] = {}
    stats: dict[str, dict[str, dict[int, dict[str, Stats]]]] = {}
    nodes: dict[str, object] = {}
    for compiled in (False, True):
        for name in MODELS:
            key = f"{name} {'with' if compiled else 'without'} torch.compile"
            reports[key], found = _time_model(args.work, name, args.threads, plan, compiled)
            for harness, by_batch in found.items():
                for batch, cells in by_batch.items():
                    stats.setdefault(name, {}).setdefault(harness, {}).setdefault(batch, {})
                    stats[name][harness][batch].update(cells)
        if not compiled:  # torch's layers timed before anything is compiled
            nodes = print_profiles(args.work, args.threads, plan)

    load = next(iter(reports.values())).machine.get("loadavg_start")
    print(
        f"\ntargets at {args.threads} threads (load average {load} at start): ratio of "
        "medians, best-of in brackets"
    )
    results = []
    for target in targets():
        for harness, by_batch in stats[target.model].items():
            found = evaluate(target, harness, by_batch.get(target.batch, {}))
            results += [found] if found else []

    sizes = _sizes(args.work)
    quality = _quality(args.quality, args.work) if args.quality else None
    if args.json:
        write_json(
            args.json,
            {
                "targets": results,
                "threads": args.threads,
                "plan": dataclasses.asdict(plan),
                "api": {name: _as_dicts(by["api"]) for name, by in stats.items()},
                "nodes": nodes,
                "sizes": sizes,
                "quality": quality,
                "reports": {name: r.to_dict() for name, r in reports.items()},
            },
        )
        print(f"report: {args.json}")
    return 0 if all(r.agrees for r in reports.values()) else 1


def _time_model(
    work: Path, name: str, threads: int, plan: Plan, compiled: bool
) -> tuple[BenchReport, dict[str, dict[int, dict[str, Stats]]]]:
    """One model in both harnesses, against torch eager or (``compiled``) torch.compile;
    its bench report and harness → batch → {engine: latency}. With torch.compile, ORT's
    latency is kept as ``ort-beside-compile``, the one it is compared with."""
    folder = build(work, name)
    options = BenchOptions(
        batch_sizes=BATCH_SIZES,
        threads=threads,
        plan=plan,
        compile=compiled,
        precisions=("fp32",) if compiled else None,
    )
    report = run_bench(folder / "generator.onnx", folder / "checkpoint.pt", options)
    print(summary_table(report), end="\n\n", flush=True)
    files = {"ort": folder / "generator.onnx"}
    if is_dcgan(name) and not compiled:
        files["ort-int8"] = folder / "generator_int8.onnx"
    api = time_api(files, folder / "checkpoint.pt", BATCH_SIZES, threads, plan, compiled)
    _print_api(name, api)
    found = {"session": session_stats(report), "api": api}
    if not compiled:
        (model,) = report.models
        medians = [max(m["median_gflops"].values()) for m in model.matmul]
        print(
            f"{name} FLOP floor: peak {peak_gflops(report):.1f} GFLOP/s "
            f"(median rate per batch size {', '.join(f'{r:.1f}' for r in medians)})\n"
        )
        return report, found
    beside = {
        harness: {
            batch: {"torch-compile": cells["torch-compile"], "ort-beside-compile": cells["ort"]}
            for batch, cells in by_batch.items()
        }
        for harness, by_batch in found.items()
    }
    return report, beside


def _as_dicts(by_batch: dict[int, dict[str, Stats]]) -> dict[int, dict[str, object]]:
    return {b: {e: dataclasses.asdict(s) for e, s in c.items()} for b, c in by_batch.items()}


def _print_api(name: str, api: dict[int, dict[str, Stats]]) -> None:
    """The public-API timings of one model: median ms [best-of] per engine and batch."""
    print(f"{name} through Generator.generate: median ms [best-of]")
    for batch, stats in api.items():
        cells = "  ".join(f"{e} {s.median_ms:.3f} [{s.min_ms:.3f}]" for e, s in stats.items())
        print(f"  batch {batch:3d}: {cells}")
    print(flush=True)


def _sizes(work: Path) -> dict[str, dict[str, int]]:
    """File sizes of each int8 model and its fp32 model."""
    sizes = {}
    print("\nmodel sizes, int8 against fp32:")
    for name in filter(is_dcgan, MODELS):
        for role in ("generator", "discriminator"):
            fp32 = (work / name / f"{role}.onnx").stat().st_size
            int8 = (work / name / f"{role}_int8.onnx").stat().st_size
            sizes[f"{name} {role}"] = {"fp32": fp32, "int8": int8}
            ratio = f"{fp32 / 1e6:7.2f} MB -> {int8 / 1e6:6.2f} MB ({int8 / fp32:.2f})"
            print(f"  {name} {role:13s} {ratio}")
    return sizes


def _quality(checkpoint: Path, work: Path) -> dict[str, object]:
    """The int8 quality targets on a trained run: its int8 G against its fp32 G."""
    from ganport.export import ExportOptions, export_checkpoint
    from ganport.infer.quality.distribution import Int8Judge

    judge = Int8Judge(n=QUALITY_SAMPLES)
    options = ExportOptions(int8=True, int8_judge=judge)
    manifest = export_checkpoint(checkpoint, work / "quality", "generator", options)
    (entry,) = [m for m in manifest.models if m.precision == "int8"]
    check = entry.checks["distribution"]
    fp32, int8 = check["reference"], check["candidate"]
    bounds = check["bounds"]
    rows = [
        ("classifier score", int8["classifier_score"], fp32["classifier_score"],
         int8["classifier_score"] >= fp32["classifier_score"] - bounds["classifier_score_drop"]),
        ("FID", int8["fid"], fp32["fid"], int8["fid"] <= fp32["fid"] * bounds["fid_ratio"]),
        ("classes covered", int8["classes_covered"], fp32["classes_covered"],
         int8["classes_covered"] == 10),
        ("class as asked", int8["class_as_asked"], fp32["class_as_asked"],
         int8["class_as_asked"] >= fp32["class_as_asked"] - bounds["class_as_asked_drop"]),
    ]  # fmt: skip
    print(f"\nint8 quality of {checkpoint} ({check['n']} samples, int8 vs fp32):")
    for label, got, want, met in rows:
        print(f"  {'PASS' if met else 'MISS'}  {label:18s} {got:.4g} vs {want:.4g}")
    return check


if __name__ == "__main__":
    sys.exit(main())
