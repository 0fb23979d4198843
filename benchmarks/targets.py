"""The project's CPU speed targets, measured side by side in one run, each with PASS or MISS.

    python -m benchmarks.targets [--threads 2] [--seconds 2] [--rounds 10] [--json FILE]
                                 [--quality CHECKPOINT]

Builds the generators the targets name (once; cached under --work): DCGAN 64×64 at the
default width 64 and nz 100, the default pipeline's conditional DCGAN 28×28 and the MLP
28×28, each trained a few real steps so its BatchNorm statistics are not the identity,
and exported with ganport's defaults (dynamo, opset 18, BatchNorm folded, Gemm stem), the
DCGANs with ``--int8`` too. Then `ganport bench`'s engine runs them at the same thread
count and prints every target's ratio. A ratio is a ratio of medians timed interleaved
(ganport.infer.compare.timing), so it holds on a shared machine; the best-of ratio (fastest
runs) is printed beside it as the quiet-machine estimate. The DCGAN 64 fp32 targets are
also measured on the export without the Gemm stem (``ExportOptions(gemm_stem=False)``).
ONNX Runtime's time per node at batch 64 shows where the FLOP floor is lost, fp32 and
int8. ``--quality CHECKPOINT`` (a trained run, e.g. the default pipeline's) adds the int8
quality targets: its int8 G against its fp32 G on 10,000 samples of the feature network.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.node_profile import profile_nodes
from ganport.core.atomic import write_json
from ganport.core.latent import latent
from ganport.export import export_generator
from ganport.infer.compare.bench import (
    BenchOptions,
    BenchReport,
    Cell,
    ModelBench,
    manifest_checkpoint,
    run_bench,
)
from ganport.infer.compare.bench_engines import ORT_CPU_CONFIGS
from ganport.infer.compare.bench_report import summary_table
from ganport.infer.compare.timing import Plan
from ganport.train import ModelConfig, RunOptions, TrainConfig, load_dataset, train

MODELS = {
    "dcgan64": ModelConfig(arch="dcgan", image_size=64, width=64, nz=100),
    "dcgan28": ModelConfig(arch="dcgan", image_size=28, width=64, nz=100, classes=10),
    "mlp28": ModelConfig(arch="mlp", image_size=28, width=64, nz=100),
}
INT8 = ("dcgan64", "dcgan28")  # exported with --int8 as well
TRAIN_STEPS = 3
NO_STEM = "without the Gemm stem"
QUALITY_SAMPLES = 10_000


@dataclass(frozen=True)
class Target:
    """One speed target: a ratio at one batch size, and the bound it must meet."""

    text: str
    model: str
    batch: int
    ratio: Ratio
    bound: float
    at_most: bool = False  # the FLOP-floor ratio must stay under its bound

    def verdict(self, value: float) -> str:
        met = value <= self.bound if self.at_most else value >= self.bound
        return "PASS" if met else "MISS"


Ratio = Callable[[ModelBench, dict[str, Cell], Cell, str], float]


def speedup_over(engine: str) -> Ratio:
    """ORT's throughput over ``engine``'s: their latency ratio at the same batch."""

    def ratio(_model: ModelBench, cells: dict[str, Cell], ort_cell: Cell, stat: str) -> float:
        return getattr(cells[engine].latency, stat) / getattr(ort_cell.latency, stat)

    return ratio


def floor_multiple(model: ModelBench, _cells: dict[str, Cell], ort_cell: Cell, stat: str) -> float:
    """ORT's latency over the FLOP floor: FLOPs per batch ÷ the matmul rate measured with the
    same statistic (median with median, fastest run with fastest run)."""
    (matmul,) = [m for m in model.matmul if m["batch"] == ort_cell.batch]
    rates = matmul["median_gflops" if stat == "median_ms" else "best_gflops"]
    floor_ms = model.flops_per_sample * ort_cell.batch / max(rates.values()) / 1e6
    return getattr(ort_cell.latency, stat) / floor_ms


def int8_speedup(_model: ModelBench, cells: dict[str, Cell], ort_cell: Cell, stat: str) -> float:
    """The int8 model's throughput over the fp32 model's, each on its faster ORT config."""
    int8 = min(
        (cells[f"{name}-int8"] for name in ORT_CPU_CONFIGS if f"{name}-int8" in cells),
        key=lambda cell: cell.latency.median_ms,
    )
    return getattr(ort_cell.latency, stat) / getattr(int8.latency, stat)


EAGER, COMPILE = speedup_over("torch-eager"), speedup_over("torch-compile")
TARGETS = (
    Target("DCGAN64 G batch 1: ORT >= 3x torch eager", "dcgan64", 1, EAGER, 3),
    Target("DCGAN64 G batch 64: ORT >= torch.compile", "dcgan64", 64, COMPILE, 1),
    Target("DCGAN64 G batch 64: ORT >= 1.3x torch eager", "dcgan64", 64, EAGER, 1.3),
    Target("DCGAN64 G batch 64: ORT <= 1.2x FLOP floor", "dcgan64", 64, floor_multiple, 1.2, True),
    Target("DCGAN64 int8 G batch 1: >= 1.5x fp32 ORT", "dcgan64", 1, int8_speedup, 1.5),
    Target("DCGAN64 int8 G batch 64: >= 2x fp32 ORT", "dcgan64", 64, int8_speedup, 2),
    Target("DCGAN28 int8 G batch 1: >= 1.5x fp32 ORT", "dcgan28", 1, int8_speedup, 1.5),
    Target("DCGAN28 int8 G batch 64: >= 2x fp32 ORT", "dcgan28", 64, int8_speedup, 2),
    Target("MLP28 G batch 1: ORT >= 2x torch eager", "mlp28", 1, EAGER, 2),
    Target("MLP28 G batch 64: ORT >= 2x torch eager", "mlp28", 64, EAGER, 2),
)


def build(work: Path, name: str, model: ModelConfig) -> Path:
    """Train ``model`` a few steps and export it into ``work/name``, unless already there."""
    folder = work / name
    manifest = folder / "manifest.json"
    if manifest.is_file():
        built = json.loads(manifest.read_text())["source"]["config"]["model"]
        int8_ready = name not in INT8 or (folder / "generator_int8.onnx").is_file()
        if built == dataclasses.asdict(model) and int8_ready:
            return folder
    from ganport.export import ExportOptions, export_checkpoint

    config = TrainConfig(model=model, batch_size=16)
    data = load_dataset(config.data, model.image_size, model.channels)
    run = train(config, data, RunOptions(out=folder, steps=TRAIN_STEPS, device="cpu"))
    export_checkpoint(run.checkpoint, folder, options=ExportOptions(int8=name in INT8))
    return folder


def _evaluate(target: Target, export: str, report: BenchReport) -> dict[str, object]:
    """Print and return one target's verdict for one export, from its bench report."""
    (model,) = report.models
    cells = {c.engine: c for c in model.cells if c.batch == target.batch and c.latency}
    ort_cell = min(
        (cells[name] for name in ORT_CPU_CONFIGS if name in cells),
        key=lambda cell: cell.latency.median_ms,
    )
    value = target.ratio(model, cells, ort_cell, "median_ms")
    best = target.ratio(model, cells, ort_cell, "min_ms")
    bound = f"{'<=' if target.at_most else '>='} {target.bound:g}"
    verdict = target.verdict(value)
    print(
        f"  {verdict}  {target.text:46s} {value:7.2f}  [{best:6.2f}]  (needs {bound}; "
        f"{ort_cell.engine})"
    )
    return {
        "export": export,
        "target": target.text,
        "ratio": value,
        "best_of_ratio": best,
        "ort_engine": ort_cell.engine,
        "verdict": verdict,
        "floor": target.ratio is floor_multiple,
    }


def main(argv: list[str] | None = None) -> int:
    """Build, bench, print each target; exit 1 only if an engine's output disagrees."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("artifacts/bench-targets"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="Timed seconds per cell.")
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved slices per cell.")
    parser.add_argument("--json", type=Path, default=None, help="Write targets and reports.")
    parser.add_argument(
        "--quality", type=Path, default=None, help="A trained checkpoint: int8 quality targets."
    )
    args = parser.parse_args(argv)

    plan = Plan(seconds=args.seconds, rounds=args.rounds)
    exports = {}
    for name, model in MODELS.items():
        exports[name] = build(args.work, name, model) / "generator.onnx"
    no_stem = args.work / "dcgan64" / "generator_no_stem.onnx"
    export_generator(manifest_checkpoint(exports["dcgan64"]), no_stem, gemm_stem=False)
    exports[f"dcgan64 {NO_STEM}"] = no_stem

    reports: dict[str, BenchReport] = {}
    for name, path in exports.items():
        options = BenchOptions(
            batch_sizes=(1, 64), threads=args.threads, plan=plan, compile=name != "mlp28"
        )
        reports[name] = run_bench(path, manifest_checkpoint(exports[name.split()[0]]), options)
        print(summary_table(reports[name]), end="\n\n", flush=True)

    print(
        f"targets at {args.threads} threads: ratio of medians, best-of in brackets, "
        "with the faster ONNX Runtime configuration of the cell"
    )
    results = []
    for name, report in reports.items():
        print(f" {name}:")
        results += [
            _evaluate(t, name, report)
            for t in TARGETS
            if t.model == name.split()[0] and (name in MODELS or t.ratio is not int8_speedup)
        ]

    nodes = _node_profiles(exports, reports, results, args.threads)
    sizes = _sizes(args.work)
    quality = _quality(args.quality, args.work) if args.quality else None
    if args.json:
        write_json(
            args.json,
            {
                "targets": results,
                "threads": args.threads,
                "plan": dataclasses.asdict(plan),
                "batch64_nodes": {
                    name: [dataclasses.asdict(n) for n in found] for name, found in nodes.items()
                },
                "sizes": sizes,
                "quality": quality,
                "reports": {name: r.to_dict() for name, r in reports.items()},
            },
        )
        print(f"report: {args.json}")
    return 0 if all(r.agrees for r in reports.values()) else 1


def _node_profiles(
    exports: dict[str, Path],
    reports: dict[str, BenchReport],
    results: list[dict[str, object]],
    threads: int,
) -> dict[str, list]:
    """ONNX Runtime's time per node at batch 64: fp32 (both exports) and the int8 model."""
    nodes = {}
    engine = next(r["ort_engine"] for r in results if r["export"] == "dcgan64" and r["floor"])
    (floor,) = [m for m in reports["dcgan64"].models[0].matmul if m["batch"] == 64]
    z = latent(64, MODELS["dcgan64"].nz, seed=0)
    files = {
        "dcgan64": exports["dcgan64"],
        f"dcgan64 {NO_STEM}": exports[f"dcgan64 {NO_STEM}"],
        "dcgan64 int8": exports["dcgan64"].with_name("generator_int8.onnx"),
    }
    for name, path in files.items():
        nodes[name] = profile_nodes(path, z, threads, ORT_CPU_CONFIGS[engine])
        print(
            f"\nONNX Runtime ({engine}) per node, {name} batch 64 "
            f"(fp32 matmul rate {floor['floor_gflops']} GFLOP/s)"
        )
        for node in nodes[name][:8]:
            rate = "" if node.gflops is None else f"{node.gflops:7.1f} GFLOP/s"
            print(f"  {node.name:32s} {node.op_type:16s} {node.median_ms:9.3f} ms  {rate}")
    return nodes


def _sizes(work: Path) -> dict[str, dict[str, int]]:
    """File sizes of each int8 model and its fp32 model."""
    sizes = {}
    print("\nmodel sizes, int8 against fp32:")
    for name in INT8:
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
