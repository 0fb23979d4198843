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
    provider_option,
    run_folder_option,
    tensorboard_option,
)
from ganport.cli.training import exit_if_interrupted, run_config

if TYPE_CHECKING:
    from ganport.train import ModelConfig


@click.command("pipeline")
@click.option("--data", default="mnist5k", metavar="mnist5k|digits|PATH", help="Training data.")
@click.option("--arch", type=click.Choice(["mlp", "dcgan"]), default="dcgan")
@click.option("--image-size", type=click.IntRange(4, 256), default=28)
@classes_option
@modes_option
@epochs_option
@click.option("--loss", type=click.Choice(["bce", "hinge", "wgan-gp"]), default="bce")
@click.option("--seed", type=int, default=0)
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
    device: str,
    provider: str,
    out: Path,
    tensorboard: bool,
    resume: bool,
) -> None:
    """Train a GAN, export it, sample it on ONNX Runtime and check parity with torch."""
    from ganport.core.errors import JobFailed
    from ganport.core.images import save_grid
    from ganport.export import export_checkpoint
    from ganport.infer import Generator
    from ganport.infer.compare.parity import run_parity
    from ganport.infer.compare.parity_report import summary_table, write_junit, write_report
    from ganport.train import RunOptions, train
    from ganport.train.curves import plot_curves

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
    )
    epochs = epochs or config.recipe_epochs()
    click.echo(
        f"[1/4] train {config.model.arch} {config.model.image_size}px on {config.data} "
        f"({len(dataset)} images, {epochs} epochs, {_conditioning(config.model)})"
    )
    options = RunOptions(out=out, epochs=epochs, device=device, tensorboard=tensorboard)
    result = train(config, dataset, options, resume=resume)
    curves = plot_curves(out)
    exit_if_interrupted(result, out)

    click.echo("[2/4] export to ONNX")
    onnx_dir = out / "onnx"
    manifest = export_checkpoint(result.checkpoint, onnx_dir)

    click.echo("[3/4] sample through ONNX Runtime")
    generator = Generator(onnx_dir / "generator.onnx", provider=provider)
    grid = out / "samples_onnx.png"
    save_grid(generator.sample(64, seed=seed), grid)

    click.echo("[4/4] parity torch ↔ ONNX Runtime")
    report = run_parity(result.checkpoint, onnx_dir, provider=provider)
    write_report(report, out / "parity.json")
    write_junit(report, out / "parity.xml")
    click.echo(summary_table(report))

    losses = "  ".join(f"{k}={v:.3f}" for k, v in result.last_losses.items())
    sizes = ", ".join(f"{m.file} {m.size_bytes / 1e6:.2f} MB" for m in manifest.models)
    click.echo("")
    click.echo(f"training     step {result.step}, {result.seconds:.0f}s, {losses}")
    click.echo(f"checkpoint   {result.checkpoint}")
    click.echo(f"metrics      {out / 'metrics.jsonl'}")
    click.echo(f"curves       {curves}")
    if tensorboard:
        click.echo(f"tensorboard  tensorboard --logdir {out / 'tensorboard'}")
    if result.sample_grids:
        click.echo(f"torch grid   {result.sample_grids[-1]}")
    click.echo(f"onnx models  {onnx_dir} ({sizes})")
    click.echo(f"onnx grid    {grid} (on {generator.provider})")
    click.echo(
        f"parity       {'PASS' if report.passed else 'FAIL'}: {out / 'parity.json'}, "
        f"{out / 'parity.xml'}"
    )
    click.echo(f"total        {time.perf_counter() - started:.0f}s")
    if not report.passed:
        raise JobFailed(f"parity failed: {report.failures()[0]}")


def _conditioning(model: ModelConfig) -> str:
    if model.class_source == "clusters":
        return f"unconditional, {model.classes} k-means modes"
    return f"conditional on {model.classes} classes" if model.classes else "unconditional"
