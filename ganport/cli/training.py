"""What ``ganport train`` and ``ganport pipeline`` share: building a run's configuration
(or reading it back for ``--resume``) and ending an interrupted run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ganport.train import Dataset, RunResult, TrainConfig


def run_config(
    out: Path,
    resume: bool,
    *,
    data: str,
    loss: str,
    model: dict[str, Any],
    classes: int | None,
    modes: int | None = None,
    **settings: Any,
) -> tuple[TrainConfig, Dataset]:
    """The run's configuration and data set.

    ``--resume`` takes both from the checkpoint in ``out``; otherwise the model settings
    are checked before the data is read, ``classes=None`` becomes the data's class count,
    ``modes=None`` the recipe's modes of an unconditional model (``recipe_modes``), and a
    setting left as None takes the loss's own default (``TrainConfig.for_loss``).
    """
    from ganport.core.errors import InputError
    from ganport.train import ModelConfig, TrainConfig, load_checkpoint, load_dataset
    from ganport.train.data import class_count
    from ganport.train.trainer import CHECKPOINT_NAME

    if resume:
        config = load_checkpoint(out / CHECKPOINT_NAME).config
        return config, load_dataset(config.data, config.model.image_size, config.model.channels)
    model_config = ModelConfig(**model)
    dataset = load_dataset(data, model_config.image_size, model_config.channels)
    classes = class_count(dataset) if classes is None else classes
    model_config = dataclasses.replace(model_config, classes=classes)
    if modes and classes:
        raise InputError(
            f"--modes is for an unconditional model; this one has {classes} classes "
            "(give --classes 0 to train on modes instead of the labels)"
        )
    if modes is None:
        modes = TrainConfig.recipe_modes(loss, model_config)
    chosen = {name: value for name, value in settings.items() if value is not None}
    config = TrainConfig.for_loss(loss, model_config, modes=modes, data=data, **chosen)
    return config, dataset


def exit_if_interrupted(result: RunResult, out: Path) -> None:
    """A run stopped by SIGINT/SIGTERM has saved; say how to go on and exit 130/143."""
    if result.interrupted_by:
        if result.rank == 0:
            click.echo(
                f"stopped by {result.interrupted_by}; continue with --resume --out {out}",
                err=True,
            )
        raise click.exceptions.Exit(130 if result.interrupted_by == "SIGINT" else 143)
