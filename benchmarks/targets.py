"""The project's CPU speed targets, measured side by side in one run, each with PASS or MISS.

    python -m benchmarks.targets [--threads 2] [--seconds 2] [--rounds 10] [--json FILE]

Builds the two generators the targets name (once; cached under --work): DCGAN 64×64 at
the default width 64 and nz 100, and the MLP 28×28, each trained a few real steps so its
BatchNorm statistics are not the identity, and exported with ganport's defaults (dynamo,
opset 18, BatchNorm folded). Then `ganport bench`'s engine runs them at the same thread
count and prints every target's ratio. A ratio is a ratio of medians timed interleaved
(ganport.infer.compare.timing), so it holds on a shared machine; the best-of ratio (fastest runs) is
printed beside it as the quiet-machine estimate. The DCGAN targets are measured twice: on
today's export, and on the export change proposed in benchmarks/gemm_stem.py (first layer
as a Gemm). ONNX Runtime's time per node at batch 64 shows where the FLOP floor is lost.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.gemm_stem import export_with_gemm_stem
from benchmarks.node_profile import profile_nodes
from ganport.core.atomic import write_json
from ganport.core.latent import latent
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
    "mlp28": ModelConfig(arch="mlp", image_size=28, width=64, nz=100),
}
TRAIN_STEPS = 3
STEM = "with a Gemm stem"  # the export change proposed in benchmarks/gemm_stem.py


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


EAGER, COMPILE = speedup_over("torch-eager"), speedup_over("torch-compile")
TARGETS = (
    Target("DCGAN64 G batch 1: ORT >= 3x torch eager", "dcgan64", 1, EAGER, 3),
    Target("DCGAN64 G batch 64: ORT >= torch.compile", "dcgan64", 64, COMPILE, 1),
    Target("DCGAN64 G batch 64: ORT >= 1.3x torch eager", "dcgan64", 64, EAGER, 1.3),
    Target("DCGAN64 G batch 64: ORT <= 1.2x FLOP floor", "dcgan64", 64, floor_multiple, 1.2, True),
    Target("MLP28 G batch 1: ORT >= 2x torch eager", "mlp28", 1, EAGER, 2),
    Target("MLP28 G batch 64: ORT >= 2x torch eager", "mlp28", 64, EAGER, 2),
)


def build(work: Path, name: str, model: ModelConfig) -> Path:
    """Train ``model`` a few steps and export it into ``work/name``, unless already there."""
    folder = work / name
    manifest = folder / "manifest.json"
    if manifest.is_file():
        built = json.loads(manifest.read_text())["source"]["config"]["model"]
        if built == dataclasses.asdict(model):
            return folder
    from ganport.export import export_checkpoint

    config = TrainConfig(model=model, batch_size=16)
    data = load_dataset(config.data, model.image_size, model.channels)
    run = train(config, data, RunOptions(out=folder, steps=TRAIN_STEPS, device="cpu"))
    export_checkpoint(run.checkpoint, folder)
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
    args = parser.parse_args(argv)

    plan = Plan(seconds=args.seconds, rounds=args.rounds)
    exports = {}
    for name, model in MODELS.items():
        exports[name] = build(args.work, name, model) / "generator.onnx"
    stem = args.work / "dcgan64" / "generator_gemm_stem.onnx"
    export_with_gemm_stem(manifest_checkpoint(exports["dcgan64"]), stem)
    exports[f"dcgan64 {STEM}"] = stem

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
        results += [_evaluate(t, name, report) for t in TARGETS if t.model == name.split()[0]]

    nodes = {}
    for name in ("dcgan64", f"dcgan64 {STEM}"):
        engine = next(r["ort_engine"] for r in results if r["export"] == name and r["floor"])
        z = latent(64, MODELS["dcgan64"].nz, seed=0)
        nodes[name] = profile_nodes(exports[name], z, args.threads, ORT_CPU_CONFIGS[engine])
        (floor,) = [m for m in reports[name].models[0].matmul if m["batch"] == 64]
        print(
            f"\nONNX Runtime ({engine}) per node, {name} batch 64 "
            f"(matmul rate {floor['floor_gflops']} GFLOP/s)"
        )
        for node in nodes[name][:8]:
            rate = "" if node.gflops is None else f"{node.gflops:7.1f} GFLOP/s"
            print(f"  {node.name:28s} {node.op_type:14s} {node.median_ms:9.3f} ms  {rate}")

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
                "reports": {name: r.to_dict() for name, r in reports.items()},
            },
        )
        print(f"report: {args.json}")
    return 0 if all(r.agrees for r in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
