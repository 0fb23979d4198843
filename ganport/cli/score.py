"""``ganport score``: discriminator logits and probabilities for image files (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ganport.cli.options import json_option, provider_option

if TYPE_CHECKING:
    import numpy as np


@click.command("score")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@provider_option()
@click.option(
    "--class",
    "label",
    type=click.IntRange(0),
    default=None,
    help="The images' class, for a discriminator that takes labels as an input.",
)
@json_option("Write every score, the provider and the versions as JSON.")
def score_command(
    model: Path,
    inputs: tuple[Path, ...],
    provider: str,
    label: int | None,
    json_path: Path | None,
):
    """Score INPUT... (PNG/JPEG files, .npy/.npz arrays, IDX files) with DISCRIMINATOR.onnx.

    Images are converted to the model's channels and resized to its side; per image it
    prints the logit and the probability of "real" (the sigmoid of the logit, or the
    model's own output when it ends in a sigmoid).
    """
    import dataclasses

    from ganport.core.atomic import write_json
    from ganport.infer import Discriminator
    from ganport.infer.runtime.session import runtime_versions

    discriminator = Discriminator(model, provider=provider)
    names, images = _load_inputs(
        inputs,
        discriminator.metadata.channels,
        discriminator.metadata.height,
        discriminator.metadata.width,
    )
    _check_label(discriminator, label)
    probabilities = discriminator.probability(images, labels=label)
    logits = discriminator.score(images, labels=label)
    click.echo(f"provider: {discriminator.provider}")
    for name, logit, probability in zip(names, logits, probabilities, strict=True):
        click.echo(f"{name}\tlogit {logit:+.4f}\tp(real) {probability:.4f}")
    click.echo(
        f"{len(logits)} images: mean logit {logits.mean():+.4f}, "
        f"mean p(real) {probabilities.mean():.4f}"
    )
    if json_path is not None:
        write_json(
            json_path,
            {
                "model": str(model),
                "provider": discriminator.provider,
                "versions": runtime_versions(),
                "metadata": dataclasses.asdict(discriminator.metadata),
                "count": len(logits),
                "mean_logit": float(logits.mean()),
                "mean_probability": float(probabilities.mean()),
                "scores": [
                    {"input": name, "logit": float(logit), "probability": float(probability)}
                    for name, logit, probability in zip(names, logits, probabilities, strict=True)
                ],
            },
        )
        click.echo(f"report: {json_path}")


def _check_label(discriminator: Any, label: int | None) -> None:
    """--class where the model takes labels, and only there: a usage error otherwise."""
    classes = discriminator.classes
    if classes and label is None:
        raise click.UsageError(
            f"{discriminator.path.name} takes the images' class as an input: give --class "
            f"0..{classes - 1}"
        )
    if label is not None and not classes:
        raise click.UsageError(f"{discriminator.path.name} takes no class: drop --class")
    if label is not None and label >= classes:
        raise click.UsageError(f"--class must be 0..{classes - 1}, not {label}")


def _load_inputs(
    paths: tuple[Path, ...], channels: int, height: int, width: int
) -> tuple[list[str], np.ndarray]:
    """Read every input as float32 (N, channels, height, width) in [-1, 1], one name per image.

    Pixels go through ganport.core.images (channel conversion, resize). A float array that
    already is model input (the model's layout, values in [-1, 1], as ``sample --npy``
    writes) is used as it is: rounding it to uint8 would change its scores.
    """
    import numpy as np

    from ganport.core.errors import InputError
    from ganport.core.images import (
        IMAGE_SUFFIXES,
        array_to_nchw_uint8,
        read_array,
        read_idx,
        read_image_file,
        resize,
        resize_batch,
        to_float,
    )

    if height != width:
        raise InputError(f"score resizes to square images; the model is {height}×{width}")
    names: list[str] = []
    batches: list[np.ndarray] = []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            names.append(str(path))
            batches.append(to_float(resize(read_image_file(path, channels), height)[None]))
            continue
        array = read_array(path) if suffix in (".npy", ".npz") else read_idx(path)
        if array.ndim < 3:
            raise InputError(f"{path}: holds an array shaped {array.shape}, not images")
        if _is_model_input(array, (channels, height, width)):
            images = array.astype(np.float32)
        else:
            nchw = array_to_nchw_uint8(array, channels, str(path))
            images = to_float(resize_batch(nchw, height))
        names.extend(f"{path}[{i}]" for i in range(len(images)))
        batches.append(images)
    return names, np.concatenate(batches)


def _is_model_input(array: np.ndarray, image_shape: tuple[int, int, int]) -> bool:
    """Floats in the model's (N, C, H, W) with negatives and within [-1, 1]: the same reading
    ganport.core.images.array_to_nchw_uint8 gives them, minus its rounding to uint8."""
    import numpy as np

    if (
        not np.issubdtype(array.dtype, np.floating)
        or array.shape[1:] != image_shape
        or array.size == 0
    ):
        return False
    low, high = float(array.min()), float(array.max())
    return -1.0 <= low < 0.0 and high <= 1.0
