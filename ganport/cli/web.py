"""``ganport web``: a static site that runs the generator in the browser (no torch)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("web")
@click.argument("export_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Site folder to write (new, empty, or an earlier ganport site).",
)
@click.option(
    "--discriminator/--no-discriminator",
    default=True,
    help="Ship the export's discriminator and show its score under each image.",
)
@click.option(
    "--onnxruntime-web",
    "onnxruntime_web",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("node_modules/onnxruntime-web"),
    help="The npm onnxruntime-web package folder whose runtime files the site copies.",
)
def web_command(export_dir: Path, out: Path, discriminator: bool, onnxruntime_web: Path) -> None:
    """Write a static web page that samples EXPORT_DIR's generator with onnxruntime-web."""
    from ganport.web import build_site

    report = build_site(export_dir, out, onnxruntime_web, discriminator=discriminator)
    click.echo(
        f"site:   {report.folder} ({', '.join(report.models)}, "
        f"onnxruntime-web {report.onnxruntime_web})"
    )
    click.echo(f"serve:  python -m http.server -d {report.folder} --bind 127.0.0.1")
