"""``ganport export``: checkpoint → generator.onnx, discriminator.onnx, manifest.json."""

from __future__ import annotations

from pathlib import Path

import click

from ganport.cli.options import cache_dir_option


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: beside the checkpoint).",
)
@click.option("--which", type=click.Choice(["generator", "discriminator", "both"]), default="both")
@click.option(
    "--weights",
    type=click.Choice(["ema", "raw"]),
    default="ema",
    help="Generator weights: the EMA copy or the raw trained ones.",
)
@click.option(
    "--exporter",
    type=click.Choice(["dynamo", "torchscript"]),
    default="dynamo",
    help="torch.onnx exporter (see README: dynamo is torch's maintained one).",
)
@click.option("--opset", type=click.IntRange(13, 23), default=18, help="ONNX opset.")
@click.option("--fp16", is_flag=True, help="Also write *_fp16.onnx (float16 inside, float32 I/O).")
@click.option(
    "--int8",
    is_flag=True,
    help="Also write *_int8.onnx (int8 weights and compute, float32 I/O), judged against "
    "the fp32 model on the evaluate feature network.",
)
@click.option(
    "--calibration",
    type=click.IntRange(1),
    default=512,
    show_default=True,
    help="Samples that calibrate --int8 (G: latent-convention z; D: real and G images).",
)
@click.option(
    "--calibration-method",
    type=click.Choice(["minmax", "entropy", "percentile"]),
    default="minmax",
    show_default=True,
    help="How --int8 sets activation ranges (README: measured, minmax chosen).",
)
@cache_dir_option("Where --int8's check keeps the feature network")
@click.option(
    "--static-batch",
    type=click.IntRange(1),
    default=None,
    help="Also write *_batchN.onnx with a fixed batch size N.",
)
@click.option(
    "--oldest-onnxruntime",
    metavar="VERSION",
    default=None,
    help="Refuse an export this onnxruntime release (e.g. 1.15) could not load.",
)
@click.option("--no-check", is_flag=True, help="Skip running the models against torch.")
def export_command(
    checkpoint: Path,
    out: Path | None,
    which: str,
    weights: str,
    exporter: str,
    opset: int,
    fp16: bool,
    int8: bool,
    calibration: int,
    calibration_method: str,
    cache_dir: Path | None,
    static_batch: int | None,
    oldest_onnxruntime: str | None,
    no_check: bool,
) -> None:
    """Export a checkpoint's generator and/or discriminator to ONNX, checked against torch."""
    from ganport.export import ExportOptions, export_checkpoint
    from ganport.infer.compare.quality.distribution import Int8Judge

    options = ExportOptions(
        opset=opset,
        exporter=exporter,
        fp16=fp16,
        int8=int8,
        calibration=calibration,
        calibration_method=calibration_method,
        int8_judge=Int8Judge(cache_dir=cache_dir) if int8 and not no_check else None,
        static_batch=static_batch,
        weights=weights,
        check=not no_check,
        oldest_onnxruntime=oldest_onnxruntime,
    )
    manifest = export_checkpoint(checkpoint, out, which=which, options=options)
    folder = out if out is not None else checkpoint.parent
    for model in manifest.models:
        checks = model.checks
        verdict = (
            "not checked"
            if checks is None
            else "checked at batch "
            + ",".join(f"{b['batch']}" for b in checks["batches"])
            + f" (max abs err {max(b['max_abs_err'] for b in checks['batches']):.2g})"
        )
        click.echo(
            f"{folder / model.file}  {model.size_bytes / 1e6:.2f} MB  "
            f"opset {model.opset} (IR {model.ir_version})  {verdict}"
        )
        if checks and checks.get("distribution"):
            click.echo(f"  {_distribution_line(checks['distribution'])}")
    click.echo(f"{folder / 'manifest.json'}")


def _distribution_line(check: dict) -> str:
    """int8 against fp32 on the feature network, one line."""
    fp32, int8 = check["reference"], check["candidate"]
    line = (
        f"int8 vs fp32 on {check['n']} samples: FID {int8['fid']:.4g} vs {fp32['fid']:.4g}, "
        f"classifier score {int8['classifier_score']:.3f} vs {fp32['classifier_score']:.3f}, "
        f"classes {int8['classes_covered']} vs {fp32['classes_covered']}"
    )
    if fp32["class_as_asked"] is not None:
        line += f", class as asked {int8['class_as_asked']:.3f} vs {fp32['class_as_asked']:.3f}"
    return line
