"""``ganport parity``: fail CI when exported models drift from their checkpoint."""

from __future__ import annotations

from pathlib import Path

import click


def int_list(_ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """Parse '1,2,7' into (1, 2, 7), as a usage error when it is not positive integers."""
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or (param.name == "batch_sizes" and min(numbers) < 1):
        raise click.BadParameter(f"expected positive comma-separated integers, got {value!r}")
    return numbers


@click.command("parity")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "onnx_target", metavar="ONNX_DIR_OR_FILE", type=click.Path(exists=True, path_type=Path)
)
@click.option("--provider", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu")
@click.option("--batch-sizes", default="1,2,7,64", callback=int_list, help="Comma-separated.")
@click.option("--seeds", default="0,1,2", callback=int_list, help="Comma-separated.")
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=None,
    help="Override the profile's atol (fp32-cpu 1e-5, fp32-cuda 1e-4, fp16 1e-2).",
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
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the full report as JSON.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write JUnit XML for CI systems.",
)
def parity_command(
    checkpoint: Path,
    onnx_target: Path,
    provider: str,
    batch_sizes: tuple[int, ...],
    seeds: tuple[int, ...],
    atol: float | None,
    rtol: float | None,
    tf32: bool,
    samples: int,
    report: Path | None,
    junit: Path | None,
) -> None:
    """Compare ONNX Runtime with torch on identical inputs; exit 1 on any mismatch."""
    from infer.parity import run_parity
    from infer.parity_report import summary_table, write_junit, write_report

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
    )
    click.echo(summary_table(result))
    for note in result.notes:
        click.echo(f"note: {note}")
    if report:
        write_report(result, report)
        click.echo(f"report: {report}")
    if junit:
        write_junit(result, junit)
        click.echo(f"junit:  {junit}")
    if not result.passed:
        for line in result.failures()[:10]:
            click.echo(f"FAIL {line}")
        click.echo(f"ganport: error: parity failed: {result.failures()[0]}", err=True)
        raise click.exceptions.Exit(1)
