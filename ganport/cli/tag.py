"""``ganport tag``: an ONNX file exported elsewhere → a ganport model folder."""

from __future__ import annotations

from pathlib import Path

import click

from ganport.cli.options import hints_from, layout_options


@click.command("tag")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for generator.onnx / discriminator.onnx and manifest.json.",
)
@click.option(
    "--role",
    type=click.Choice(["generator", "discriminator"]),
    default="generator",
    help="What MODEL is.",
)
@click.option(
    "--discriminator",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The generator's discriminator, tagged beside it.",
)
@layout_options
def tag_command(
    model: Path,
    out: Path,
    role: str,
    discriminator: Path | None,
    nz: int | None,
    image_shape: str | None,
    image_range: str | None,
    classes: int | None,
    d_output: str | None,
) -> None:
    """Check MODEL.onnx (exported with torch.onnx.export or elsewhere) by running it, and
    write a copy that keeps ganport's contract, with its metadata, into --out.

    The copy then works with sample, score, bench and web; the source is only read.
    """
    from ganport.export import tag_models

    options = hints_from(
        {
            "nz": nz,
            "image_shape": image_shape,
            "image_range": image_range,
            "classes": classes,
            "d_output": d_output,
        }
    )
    report = tag_models(model, out, role=role, discriminator=discriminator, options=options)
    for result in report.results:
        click.echo(result.summary)
    click.echo(f"{report.manifest_path}")
