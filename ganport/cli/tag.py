"""``ganport tag``: an ONNX file exported elsewhere → a ganport model folder."""

from __future__ import annotations

from pathlib import Path

import click


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
@click.option("--nz", type=click.IntRange(1), default=None, help="Latent size, if z's is symbolic.")
@click.option(
    "--image-shape", metavar="C,H,W", default=None, help="Image shape, where the graph hides it."
)
@click.option(
    "--image-range",
    metavar="-1,1|0,1",
    default=None,
    help="The images' range (found from a generator's last op or its values; a lone "
    "discriminator is taken to read [-1, 1]).",
)
@click.option(
    "--classes",
    type=click.IntRange(2),
    default=None,
    help="Classes of a model with a labels input (they cannot be probed).",
)
@click.option(
    "--d-output",
    type=click.Choice(["logit", "probability"]),
    default=None,
    help="What the discriminator returns (found from a final sigmoid or its values).",
)
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
    from ganport.core.layout import parse_image_shape, parse_range
    from ganport.export import TagOptions, tag_models

    options = TagOptions(
        nz=nz,
        image_shape=parse_image_shape(image_shape) if image_shape else None,
        image_range=parse_range(image_range) if image_range else None,
        classes=classes,
        d_output=d_output,
    )
    report = tag_models(model, out, role=role, discriminator=discriminator, options=options)
    for result in report.results:
        click.echo(result.summary)
    click.echo(f"{report.manifest_path}")
