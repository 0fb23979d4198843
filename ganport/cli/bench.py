"""``ganport bench``: ONNX Runtime against torch on the same model, same threads, at the
precisions users ship."""

from __future__ import annotations

from pathlib import Path

import click

from ganport.cli.options import batch_sizes_option, json_option, provider_option, runtime_option


@click.command("bench")
@click.argument(
    "target", metavar="MODEL_OR_EXPORT_DIR", type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Source checkpoint for the torch engines (default: the one manifest.json names).",
)
@provider_option(default="cpu", help="Where the engines run: auto is cuda where it works.")
@batch_sizes_option("1,16,64,256")
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="Intra-op threads for torch and ONNX Runtime alike (default: every usable CPU).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=0.75,
    help="Timed seconds per engine and batch size (the run count adapts to it).",
)
@click.option(
    "--repeats",
    type=click.IntRange(1),
    default=None,
    help="Exactly this many timed runs per engine and batch size, instead of --seconds.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=3,
    help="Interleaved slices per engine and batch size (fairer ratios on a busy machine).",
)
@click.option("--warmup", type=click.IntRange(0), default=3, help="Untimed runs before timing.")
@click.option(
    "--matmul-size",
    type=click.IntRange(16),
    default=None,
    help="Side of the square fp32 matmul that measures the machine's rate "
    "[default: 2048 on cpu, 8192 on cuda].",
)
@click.option("--no-compile", is_flag=True, help="Skip the torch.compile engines (slow to build).")
@click.option(
    "--precision",
    "precisions",
    callback=lambda _ctx, _param, value: _precisions(value),
    default=None,
    metavar="LIST",
    help="Comma-separated, of fp32, tf32, fp16, bf16, int8 [default: fp32,tf32,fp16,bf16 "
    "on cuda; fp32 and, for an --int8 export, int8 on cpu]. torch runs fp16 and bf16 by "
    "autocast; ONNX Runtime runs the export's *_fp16.onnx and *_int8.onnx.",
)
@runtime_option(multiple=True)
@json_option()
def bench_command(
    target: Path,
    checkpoint: Path | None,
    provider: str,
    batch_sizes: tuple[int, ...],
    threads: int | None,
    seconds: float,
    repeats: int | None,
    rounds: int,
    warmup: int,
    matmul_size: int | None,
    no_compile: bool,
    precisions: tuple[str, ...] | None,
    runtimes: tuple[str, ...],
    json_path: Path | None,
) -> None:
    """Time G and D on torch eager, torch.compile and ONNX Runtime (CUDA engines with
    --provider cuda), and any --runtime beside them; exit 1 if any engine's output
    disagrees with torch eager."""
    from ganport.core.errors import InputError, JobFailed
    from ganport.infer.compare.bench import BenchOptions, run_bench
    from ganport.infer.compare.bench_report import summary_table, write_report
    from ganport.infer.compare.timing import Plan

    options = BenchOptions(
        batch_sizes=batch_sizes,
        provider=provider,
        threads=threads,
        plan=Plan(seconds=seconds, rounds=rounds, warmup=warmup, repeats=repeats),
        compile=not no_compile,
        matmul_size=matmul_size,
        precisions=precisions,
        runtimes=runtimes,
    )
    report = run_bench(target, checkpoint, options)
    click.echo(summary_table(report))
    if json_path:
        write_report(report, json_path)
        click.echo(f"report: {json_path}")
    if not report.ran:
        reasons = "; ".join(report.skip_reasons()) or "no engine"
        raise InputError(f"nothing could run with --provider {provider}: {reasons}")
    if not report.agrees:
        raise JobFailed(f"outputs disagree: {report.disagreements()[0]}")


def _precisions(value: str | None) -> tuple[str, ...] | None:
    from ganport.infer.compare.bench import PRECISIONS

    if value is None:
        return None
    chosen = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [p for p in chosen if p not in PRECISIONS]
    if unknown or not chosen:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing'} given; choose from {', '.join(PRECISIONS)}"
        )
    return chosen
