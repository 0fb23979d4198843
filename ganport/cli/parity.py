"""``ganport parity``: fail CI when exported models drift from their checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from ganport.cli.options import (
    batch_sizes_option,
    cache_dir_option,
    json_option,
    junit_option,
    provider_option,
    renamed_option,
    runtime_option,
    seeds_option,
)


@click.command("parity")
@click.argument(
    "paths",
    metavar="[CHECKPOINT] ONNX_DIR_OR_FILE",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@provider_option(default="cpu")
@runtime_option()
@batch_sizes_option("1,2,7,64")
@seeds_option()
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=None,
    help="Override the profile's atol (fp32-cpu 1e-5, fp32-cuda 1e-4, fp16 1e-2, int8 0.5).",
)
@click.option(
    "--rtol", type=click.FloatRange(min=0), default=None, help="Override the profile's rtol."
)
@click.option("--tf32", is_flag=True, help="Let the CUDA provider use TF32 (looser profile).")
@click.option(
    "--samples",
    type=click.IntRange(0),
    default=1000,
    help="Samples in the distribution sweep (0: skip it).",
)
@click.option(
    "--distribution-samples",
    type=click.IntRange(0),
    default=2000,
    show_default=True,
    help="Samples judging an int8 generator on the feature network (0: skip).",
)
@cache_dir_option("Where the feature network for int8 models is kept")
@json_option()
@junit_option
@renamed_option("--report", "--json", "json_path", click.Path(dir_okay=False, path_type=Path))
def parity_command(
    paths: tuple[Path, ...],
    provider: str,
    runtime: str,
    batch_sizes: tuple[int, ...],
    seeds: tuple[int, ...],
    atol: float | None,
    rtol: float | None,
    tf32: bool,
    samples: int,
    distribution_samples: int,
    cache_dir: Path | None,
    json_path: Path | None,
    junit: Path | None,
) -> None:
    """Compare ONNX Runtime (or --runtime) with torch on identical inputs; exit 1 on any
    mismatch.

    The torch side is CHECKPOINT, or without it what the export folder's manifest.json
    names: its checkpoint, or your own models (class, arguments and weights) it was
    exported from.
    """
    from ganport.core.errors import JobFailed
    from ganport.infer.compare.parity import run_parity
    from ganport.infer.compare.parity_report import summary_table, write_junit, write_report

    if len(paths) > 2:
        raise click.UsageError("give at most a checkpoint and an ONNX folder or file")
    checkpoint, onnx_target = paths if len(paths) == 2 else (None, paths[0])
    if checkpoint is not None and checkpoint.is_dir():
        raise click.UsageError(
            f"{checkpoint}: is a folder; the first of two paths is the checkpoint"
        )
    result = run_parity(
        checkpoint,
        onnx_target,
        provider=provider,
        batch_sizes=batch_sizes,
        seeds=seeds,
        atol=atol,
        rtol=rtol,
        sweep_samples=samples,
        use_tf32=tf32,
        distribution_samples=distribution_samples,
        cache_dir=cache_dir,
        runtime=runtime,
    )
    click.echo(summary_table(result))
    for note in result.notes:
        click.echo(f"note: {note}")
    if json_path:
        write_report(result, json_path)
        click.echo(f"report: {json_path}")
    if junit:
        write_junit(result, junit)
        click.echo(f"junit:  {junit}")
    if not result.passed:
        for line in result.failures()[:10]:
            click.echo(f"FAIL {line}")
        raise JobFailed(f"parity failed: {result.failures()[0]}")
