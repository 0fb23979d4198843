"""Options that more than one command takes, each defined once with one spelling."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganport.core.runtimes import ENGINE_SUFFIXES

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

PROVIDERS = ("auto", "cpu", "cuda")


def int_list(_ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """Parse '1,2,7' into (1, 2, 7), as a usage error when it is not positive integers."""
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or (param.name == "batch_sizes" and min(numbers) < 1):
        raise click.BadParameter(f"expected positive comma-separated integers, got {value!r}")
    return numbers


def provider_option(default: str = "auto", help: str = "Where ONNX Runtime runs.") -> Decorator:
    """``--provider auto|cpu|cuda``: auto picks CUDA where it really works, else the CPU;
    cuda that cannot run is an error, never a silent fallback."""
    return click.option(
        "--provider", type=click.Choice(PROVIDERS), default=default, show_default=True, help=help
    )


def runtime_option(multiple: bool = False) -> Decorator:
    """``--runtime NAME``: run the exports on another runtime (the file ``ganport export
    --target`` wrote beside each .onnx) instead of, or for bench beside, ONNX Runtime."""
    names = [name for name in ENGINE_SUFFIXES if name != "onnxruntime"]
    if multiple:
        return click.option(
            "--runtime",
            "runtimes",
            type=click.Choice(names),
            multiple=True,
            help="Also time this runtime on the file it runs beside the .onnx (repeatable).",
        )
    return click.option(
        "--runtime",
        type=click.Choice(["onnxruntime", *names]),
        default="onnxruntime",
        show_default=True,
        help="The runtime to check: another runs the file `ganport export --target` wrote "
        "beside each .onnx (OpenVINO .xml, .tflite, .ort; tract and onnx-reference the .onnx).",
    )


def batch_sizes_option(default: str) -> Decorator:
    return click.option(
        "--batch-sizes", default=default, callback=int_list, help="Comma-separated batch sizes."
    )


def seeds_option(default: str = "0,1,2") -> Decorator:
    return click.option("--seeds", default=default, callback=int_list, help="Comma-separated.")


def json_option(help: str = "Write the full report as JSON.") -> Decorator:
    """``--json PATH``: every command's machine-readable report has this one spelling."""
    return click.option(
        "--json",
        "json_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=help,
    )


def junit_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--junit",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write JUnit XML for CI systems.",
    )(command)


def cache_dir_option(purpose: str) -> Decorator:
    """``--cache-dir``: where the evaluate feature network is trained once and kept."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"{purpose} [default: $XDG_CACHE_HOME/ganport/feature_nets, "
        "else ~/.cache/ganport/feature_nets].",
    )


def run_folder_option(help: str) -> Decorator:
    """``--out RUN_DIR``, required: an installed CLI writes only where the user says."""
    return click.option(
        "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help=help
    )


def tensorboard_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--tensorboard``: also write TensorBoard events of the run under OUT/tensorboard/."""
    return click.option(
        "--tensorboard",
        is_flag=True,
        help="Also write TensorBoard events (every logged value, each epoch's grid) to "
        "OUT/tensorboard/; view with `tensorboard --logdir OUT/tensorboard`.",
    )(command)


def precision_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--precision``: what a run's steps compute in (``ganport.train.precision``)."""
    return click.option(
        "--precision",
        type=click.Choice(["auto", "float32", "bfloat16"]),
        default="auto",
        help="What the training steps compute in: bfloat16 under autocast (weights, optimiser "
        "and checkpoint stay float32). auto: bfloat16 on a CPU that multiplies it natively "
        "(AVX-512 BF16, AMX), else float32.",
    )(command)


def _count(zero: str, unit: str) -> Callable[[click.Context, click.Parameter, str], int | None]:
    """A click callback for ``auto|0|K``: ``auto`` → None (decided later), else a count that
    is 0 (``zero``) or at least 2 ``unit``."""

    def parse(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
        if value == "auto":
            return None
        try:
            count = int(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not auto or a whole number") from None
        if count < 0 or count == 1:
            raise click.BadParameter(f"{count}: use 0 ({zero}) or at least 2 {unit}")
        return count

    return parse


def epochs_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--epochs N``: None unless given, so the command trains the recipe's length
    (``TrainConfig.recipe_epochs``, known once the configuration is)."""
    return click.option(
        "--epochs",
        type=click.IntRange(1),
        default=None,
        help="Epochs to train [default: the recipe's: 60 for mlp and for dcgan with bce/hinge, "
        "35 for a conditional dcgan with bce/hinge, 70 for a dcgan with modes, 40 with "
        "wgan-gp].",
    )(command)


def modes_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--modes auto|0|K``: an unconditional model's k-means modes."""
    return click.option(
        "--modes",
        default="auto",
        show_default=True,
        metavar="auto|0|K",
        callback=_count("none", "modes"),
        help="For an unconditional model (--classes 0): draw from K modes, k-means clusters "
        "of the training images that G and D learn as classes (no labels used), each drawn "
        "as often as its cluster holds images. auto: 16 "
        "for a DCGAN with bce or hinge, else 0; 0: the plain unconditional GAN.",
    )(command)


def classes_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--classes auto|0|K``: class-conditional (AC-GAN through z[:, 0]) or not."""
    return click.option(
        "--classes",
        default="auto",
        show_default=True,
        metavar="auto|0|K",
        callback=_count("unconditional", "classes"),
        help="Class-conditional G and D with K classes, the class read from z[:, 0] so G "
        "still takes z alone (`ganport sample --class k` picks one). auto: the labelled "
        "data's class count, 0 for unlabelled data; 0: unconditional.",
    )(command)


def json_object(_ctx: click.Context, param: click.Parameter, value: str | None) -> dict:
    """A click callback: an option's JSON object of keyword arguments ({} when not given)."""
    if value is None:
        return {}
    try:
        args = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON ({exc.msg})", param=param) from exc
    if not isinstance(args, dict):
        raise click.BadParameter("give a JSON object of keyword arguments", param=param)
    return args


def renamed_option(old: str, new: str, dest: str, type: click.ParamType) -> Decorator:
    """Keep a renamed option working for at least a release: ``old`` is hidden, says on
    stderr that it is deprecated and names ``new``, and its value fills ``dest`` when
    ``new`` was not given. Apply below ``@click.command``."""
    hidden = old.lstrip("-").replace("-", "_")

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden)
            if value is not None:
                click.echo(f"ganport: warning: {old} is deprecated; use {new}", err=True)
                if kwargs.get(dest) is None:
                    kwargs[dest] = value
            return command(*args, **kwargs)

        return click.option(old, hidden, type=type, default=None, hidden=True)(wrapper)

    return decorate


def layout_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What running a model written elsewhere cannot find, declared: shared by ``export
    --model`` and ``tag`` (``hints_from`` turns them into a ``Hints``)."""
    options = [
        click.option("--nz", type=click.IntRange(1), default=None, help="Latent size of G."),
        click.option(
            "--image-shape", metavar="C,H,W", default=None, help="Image shape (flat outputs)."
        ),
        click.option(
            "--image-range",
            type=click.Choice(["-1,1", "0,1"]),
            default=None,
            help="Pixel range G makes and D reads: -1,1 (tanh) or 0,1 (sigmoid).",
        ),
        click.option(
            "--classes",
            type=click.IntRange(2),
            default=None,
            help="Classes of a model that takes labels as a second input.",
        ),
        click.option(
            "--d-output",
            type=click.Choice(["logit", "probability"]),
            default=None,
            help="What D returns, where no final sigmoid tells.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def hints_from(values: dict[str, Any], args: dict | None = None) -> Any:
    """The ``Hints`` of ``layout_options``' values (and a constructor's ``args``)."""
    from ganport.core.layout import parse_image_shape, parse_range
    from ganport.train.adapt import Hints

    shape, image_range = values["image_shape"], values["image_range"]
    return Hints(
        nz=values["nz"],
        image_shape=parse_image_shape(shape) if shape else None,
        image_range=parse_range(image_range) if image_range else None,
        classes=values["classes"],
        d_output=values["d_output"],
        args=args or {},
    )
