"""``ganport evaluate``: sample quality of a generator, with a real-data floor and a noise
ceiling beside every figure."""

from __future__ import annotations

from pathlib import Path

import click

from ganport.cli.options import cache_dir_option, json_option, provider_option


@click.command("evaluate")
@click.argument("generator", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data",
    default=None,
    metavar="mnist5k|digits|PATH",
    help="Labelled real data to compare with.  [default: the data the model was trained on]",
)
@click.option("-n", "n", type=click.IntRange(50), default=10_000, help="Samples to draw.")
@provider_option(help="ONNX Runtime provider for an .onnx; torch device for a checkpoint.")
@click.option("--seed", type=int, default=0, help="Latent seed of the samples.")
@click.option(
    "--feature-net",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A saved feature network to use instead of the cached one for the data.",
)
@cache_dir_option("Where feature networks are trained once and kept")
@json_option("Also write every figure, versions and timings as JSON.")
def evaluate_command(
    generator: Path,
    data: str | None,
    n: int,
    provider: str,
    seed: int,
    feature_net: Path | None,
    cache_dir: Path | None,
    json_path: Path | None,
) -> None:
    """Measure GENERATOR (.onnx or checkpoint): FID, KID, classifier score, classes,
    precision/recall, on a feature network trained here on the real data."""
    from ganport.core.atomic import write_json
    from ganport.infer.quality.evaluate import evaluate
    from ganport.infer.quality.report import summary

    result = evaluate(
        generator,
        data=data,
        n=n,
        provider=provider,
        seed=seed,
        feature_net=feature_net,
        cache_dir=cache_dir,
    )
    click.echo(summary(result))
    if json_path:
        write_json(json_path, result.to_dict())
        click.echo(f"report: {json_path}")
