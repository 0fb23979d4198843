"""Bench results for people: one table per model, then the context a reader needs to trust
the numbers (threads, matmul rate, load, first-call costs). JSON holds all of it too."""

from __future__ import annotations

import os

from ganport.core.atomic import write_json
from ganport.infer.compare.bench import BenchReport, Cell, ModelBench

HEADER = (
    "batch",
    "engine",
    "median ms",
    "p90 ms",
    "samples/s",
    "GFLOP/s",
    "x floor",
    "vs base",
    "max|diff|",
    "first call s",
)


def summary_table(report: BenchReport) -> str:
    """The printed report: a table per model and a few lines of context."""
    threads = report.threads
    load = report.machine.get("loadavg_start")
    lines = [
        f"bench {report.target}  provider {report.provider}  threads {threads['requested']} "
        f"(torch {threads['torch_intra_op']}, onnxruntime {threads['ort_intra_op']})",
        f"machine: {report.machine['cpu']}, {report.machine['usable_cpus']} usable CPUs, "
        f"load average {load} at start, {report.machine.get('loadavg_end')} at end",
    ]
    for model in report.models:
        lines += ["", *_model_lines(model)]
    lines += ["", *[f"note: {note}" for note in report.notes]]
    verdict = "all outputs agree with torch eager" if report.agrees else "OUTPUTS DISAGREE"
    if report.agrees and not any(c.agrees for m in report.models for c in m.cells):
        verdict = "timed only: no torch model to check the outputs against"
    if not report.ran:
        verdict = "no engine could run"
    lines.append(f"bench done in {report.seconds:.1f}s: {verdict}")
    return "\n".join(line for line in lines if line is not None)


def write_report(report: BenchReport, path: str | os.PathLike[str]) -> None:
    write_json(path, report.to_dict())


def _model_lines(model: ModelBench) -> list[str]:
    lines = [
        f"{model.file} ({model.role}, {model.arch}, input {model.input_shape}): "
        f"{model.flops_per_sample / 1e6:.3f} MFLOP per sample"
    ]
    rows = [HEADER] + [_row(cell) for cell in model.cells]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for entry in model.matmul:
        rates = ", ".join(
            f"{name} {rate:.1f} (best {entry['best_gflops'][name]:.1f})"
            for name, rate in entry["median_gflops"].items()
        )
        floors = ", ".join(
            f"{precision} {ms:.4g} ms" for precision, ms in entry["floor_ms_by_precision"].items()
        )
        lines.append(
            f"  batch {entry['batch']}: matmul {entry['size']}² GFLOP/s {rates} "
            f"-> FLOP floor {floors}"
        )
    for name, engine in model.engines.items():
        if engine["status"] == "ok":
            lines.append(f"  {name}: setup {engine['setup_s']:.3f}s, {_settings(engine)}")
        else:
            lines.append(f"  {name}: skipped: {engine['reason']}")
    lines += [
        f"  {c.engine} batch {c.batch}: {c.status}: {c.reason}"
        for c in model.cells
        if c.status != "ok"
    ]
    return lines


def _row(cell: Cell) -> tuple[str, ...]:
    if cell.latency is None:
        return (str(cell.batch), cell.engine, cell.status, *("-",) * (len(HEADER) - 3))
    agree = "" if cell.agrees is not False else " MISMATCH"
    diff = "-" if cell.max_abs_diff is None else f"{cell.max_abs_diff:.1e}{agree}"
    return (
        str(cell.batch),
        cell.engine,
        f"{cell.latency.median_ms:.4g}",
        f"{cell.latency.p90_ms:.4g}",
        f"{cell.samples_per_s:.4g}",
        f"{cell.gflops:.4g}",
        "-" if cell.floor_ratio is None else f"{cell.floor_ratio:.2f}",
        "-" if cell.speedup_vs_baseline is None else f"{cell.speedup_vs_baseline:.2f}x",
        diff,
        f"{cell.first_call_s:.3g}",
    )


def _settings(engine: dict) -> str:
    keep = (
        "mode",
        "provider",
        "intra_op_num_threads",
        "execution_mode",
        "allow_spinning",
        "dynamic_block_base",
    )
    return ", ".join(f"{k} {engine['settings'][k]}" for k in keep if k in engine["settings"])
