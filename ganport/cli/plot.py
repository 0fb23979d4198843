"""``ganport plot``: a run's training curves as a PNG, for a finished run or a running one."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("plot")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the PNG goes.  [default: RUN_DIR/curves.png]",
)
def plot_command(run_dir: Path, out: Path | None) -> None:
    """Draw RUN_DIR/metrics.jsonl: losses, D(x) and D(G(z)), class accuracy, FID, by step."""
    from ganport.train.curves import plot_curves

    click.echo(f"curves: {plot_curves(run_dir, out)}")
