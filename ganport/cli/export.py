"""``ganport export``: checkpoint → generator.onnx, discriminator.onnx, manifest.json; or
the same from models written elsewhere (their class and weights)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganport.cli.options import cache_dir_option, hints_from, json_object, layout_options
from ganport.core.runtimes import TARGET_ENGINES

WEIGHTS = click.Path(exists=True, dir_okay=False, path_type=Path)


def user_model_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options for models written elsewhere: their class, arguments, and what probing
    cannot find."""
    options = [
        click.option(
            "--model",
            metavar="FILE.py:NAME",
            default=None,
            help="Your own model: its class or factory (FILE.py:NAME or package.module:NAME); "
            "SOURCE is then its weights (a state_dict, or a dict holding one; .safetensors).",
        ),
        click.option(
            "--model-args",
            metavar="JSON",
            callback=json_object,
            help="Keyword arguments for --model, as a JSON object.",
        ),
        click.option(
            "--discriminator-model",
            metavar="FILE.py:NAME",
            default=None,
            help="The discriminator of the pair, exported beside --model.",
        ),
        click.option(
            "--discriminator-args",
            metavar="JSON",
            callback=json_object,
            help="Keyword arguments for --discriminator-model.",
        ),
        click.option(
            "--discriminator-weights",
            type=WEIGHTS,
            default=None,
            help="Weights of --discriminator-model (default: SOURCE, for a file holding both).",
        ),
    ]
    command = layout_options(command)
    for option in reversed(options):
        command = option(command)
    return command


@click.command("export")
@click.argument("source", metavar="CHECKPOINT|WEIGHTS", type=WEIGHTS)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: beside the checkpoint or weights).",
)
@click.option(
    "--which",
    type=click.Choice(["generator", "discriminator", "both"]),
    default="both",
    help="Which half to export; with --model alone, which half it is (default: probed).",
)
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
@click.option(
    "--target",
    type=click.Choice(list(TARGET_ENGINES)),
    default=None,
    help="Also write the file a runtime besides ONNX Runtime runs (OpenVINO IR, .tflite, "
    ".ort) in the form it takes, and check it on that runtime where it is installed.",
)
@click.option(
    "--external-data",
    is_flag=True,
    help="Keep the weights in FILE.onnx.data beside each model (always past 1 GiB).",
)
@click.option("--no-check", is_flag=True, help="Skip running the models against torch.")
@user_model_options
def export_command(
    source: Path,
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
    target: str | None,
    external_data: bool,
    no_check: bool,
    **own: Any,
) -> None:
    """Export a checkpoint's generator and/or discriminator to ONNX, checked against torch.

    With --model, SOURCE holds the weights of your own model instead: it is run to find its
    layout (z, labels, image shape and range, a final sigmoid), wrapped to ganport's
    contract and exported the same way.
    """
    from ganport.export import ExportOptions, export_checkpoint
    from ganport.infer.quality.distribution import Int8Judge

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
        target=target,
        external_data=external_data,
    )
    folder = out if out is not None else source.parent
    if own["model"] or own["discriminator_model"]:
        manifest = _export_own(source, folder, which, options, own)
    else:
        _refuse_model_options(own)
        manifest = export_checkpoint(source, out, which=which, options=options)
    _say_what_was_written(manifest, folder)


def _say_what_was_written(manifest: Any, folder: Path) -> None:
    """One line per file: size, opset, and what its checks found; then the manifest."""
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
        if model.quantization and model.quantization.get("opset_note"):
            click.echo(f"  int8: {model.quantization['opset_note']}")
        if checks and checks.get("distribution"):
            click.echo(f"  {_distribution_line(checks['distribution'])}")
        if model.target:
            click.echo(f"  {_target_line(model.target, folder)}")
    click.echo(f"{folder / 'manifest.json'}")


def _export_own(source: Path, folder: Path, which: str, options: Any, own: dict) -> Any:
    """Models written elsewhere → the same folder layout as a checkpoint's export."""
    from ganport.export.bundle import export_user_models
    from ganport.train.user_model import model_source

    if options.int8_judge is not None:
        # The judge compares samples on a feature network of the training data, which
        # ganport does not know for a model written elsewhere.
        click.echo("int8: checked element-wise only (no training data known to judge samples)")
        options = dataclasses.replace(options, int8_judge=None)
    hints = hints_from(own, own["model_args"])
    generator = discriminator = None
    if own["model"]:
        first = model_source(own["model"], own["model_args"], source)
        role = which if which != "both" else _role_of(first, hints)
        if role == "generator":
            generator = first
        else:
            discriminator = first
    if own["discriminator_model"]:
        weights = own["discriminator_weights"] or source
        args = own["discriminator_args"]
        discriminator = model_source(own["discriminator_model"], args, weights)
    return export_user_models(generator, discriminator, folder, hints, options, click.echo)


def _role_of(source: Any, hints: Any) -> str:
    from ganport.train.adapt import guess_role
    from ganport.train.user_model import build_model

    return guess_role(build_model(source, "generator"), hints)


def _refuse_model_options(own: dict) -> None:
    """Options for your own model given with a ganport checkpoint: say so, not ignore them."""
    given = [name for name, value in own.items() if value not in (None, {}, ())]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise click.UsageError(f"{flag} is for your own model: give --model too")


def _target_line(target: dict, folder: Path) -> str:
    """The file written for --target and what its run on that runtime found, one line."""
    line = f"{target['name']}: {folder / target['file']}"
    check = target.get("check")
    if check is None:
        line += f"  not checked: {target['not_checked']}"
    else:
        worst = max(b["max_abs_err"] for b in check["batches"])
        batches = ",".join(str(b["batch"]) for b in check["batches"])
        line += f"  checked on {target['runtime']} {target['version']} ({target['compute']})"
        line += f" at batch {batches}"
        line += f" (max abs err {worst:.2g})"
    for runtime, found in (target.get("report") or {}).items():
        line += f"\n  {runtime}: {found['supported']}/{found['nodes']} nodes, {found['verdict']}"
    if target.get("caveat"):
        line += f"\n  {target['caveat']}"
    return line


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
