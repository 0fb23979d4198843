"""``ganport pipeline``: train → export → sample through ONNX Runtime → parity, one command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ganport.cli.options import (
    classes_option,
    epochs_option,
    modes_option,
    precision_option,
    provider_option,
    run_folder_option,
    tensorboard_option,
)
from ganport.cli.training import exit_if_interrupted, run_config

if TYPE_CHECKING:
    from ganport.pipeline import PipelineResult


@click.command("pipeline")
@click.option("--data", default="mnist5k", metavar="mnist5k|digits|PATH", help="Training data.")
@click.option("--arch", type=click.Choice(["mlp", "dcgan"]), default="dcgan")
@click.option("--image-size", type=click.IntRange(4, 256), default=28)
@classes_option
@modes_option
@epochs_option
@click.option("--loss", type=click.Choice(["bce", "hinge", "wgan-gp"]), default="bce")
@click.option("--seed", type=int, default=0)
@precision_option
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    help="Where torch trains.",
)
@provider_option(help="Where ONNX Runtime samples and checks parity.")
@run_folder_option("Run folder: checkpoint, metrics, ONNX models, grids, parity reports.")
@tensorboard_option
@click.option("--resume", is_flag=True, help="Continue the run already in --out.")
def pipeline_command(
    data: str,
    arch: str,
    image_size: int,
    classes: int | None,
    modes: int | None,
    epochs: int | None,
    loss: str,
    seed: int,
    precision: str,
    device: str,
    provider: str,
    out: Path,
    tensorboard: bool,
    resume: bool,
) -> None:
    """Train a GAN, export it, sample it on ONNX Runtime and check parity with torch."""
    from ganport.core.errors import JobFailed
    from ganport.pipeline import run

    started = time.perf_counter()
    config, dataset = run_config(
        out,
        resume,
        data=data,
        loss=loss,
        model={"arch": arch, "image_size": image_size},
        classes=classes,
        modes=modes,
        seed=seed,
        precision=precision,
    )
    done = run(
        config,
        dataset,
        out,
        epochs=epochs or config.recipe_epochs(),
        seed=seed,
        device=device,
        provider=provider,
        tensorboard=tensorboard,
        resume=resume,
        say=click.echo,
    )
    exit_if_interrupted(done.training, out)
    _summary(done, out, tensorboard, time.perf_counter() - started)
    if not done.parity.passed:
        raise JobFailed(f"parity failed: {done.parity.failures()[0]}")


def _summary(done: PipelineResult, out: Path, tensorboard: bool, seconds: float) -> None:
    """Where each stage's files are, with the training's last losses and parity's verdict."""
    result = done.training
    losses = "  ".join(f"{k}={v:.3f}" for k, v in result.last_losses.items())
    sizes = ", ".join(f"{m.file} {m.size_bytes / 1e6:.2f} MB" for m in done.manifest.models)
    click.echo("")
    click.echo(f"training     step {result.step}, {result.seconds:.0f}s, {losses}")
    click.echo(f"checkpoint   {result.checkpoint}")
    click.echo(f"metrics      {out / 'metrics.jsonl'}")
    click.echo(f"curves       {done.curves}")
    if tensorboard:
        click.echo(f"tensorboard  tensorboard --logdir {out / 'tensorboard'}")
    if result.sample_grids:
        click.echo(f"torch grid   {result.sample_grids[-1]}")
    click.echo(f"onnx models  {done.onnx_dir} ({sizes})")
    click.echo(f"onnx grid    {done.grid} (on {done.provider})")
    click.echo(
        f"parity       {'PASS' if done.parity.passed else 'FAIL'}: {out / 'parity.json'}, "
        f"{out / 'parity.xml'}"
    )
    click.echo(f"total        {seconds:.0f}s")
