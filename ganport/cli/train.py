"""``ganport train``: train a GAN on real offline data, with checkpoints and resume."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ganport.cli.options import (
    Decorator,
    classes_option,
    epochs_option,
    json_object,
    modes_option,
    precision_option,
    run_folder_option,
    tensorboard_option,
)
from ganport.cli.training import exit_if_interrupted, run_config

if TYPE_CHECKING:
    from ganport.train import Dataset, RunOptions, RunResult, TrainConfig


def _options(*decorators: Decorator) -> Decorator:
    """Several options as one decorator; ``--help`` lists them in the order given."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


model_options = _options(
    # What is trained: the model family, its data and sizes, its classes or modes.
    click.option(
        "--arch", type=click.Choice(["mlp", "dcgan"]), default="dcgan", help="Model family."
    ),
    click.option(
        "--data",
        default="mnist5k",
        metavar="mnist5k|digits|PATH",
        help="Built-in data set, a folder of IDX files or images, or an .npy/.npz array.",
    ),
    click.option(
        "--image-size", type=click.IntRange(4, 256), default=28, help="Side of the square images."
    ),
    click.option("--channels", type=click.Choice(["1", "3"]), default="1", help="Grey or RGB."),
    click.option("--nz", type=click.IntRange(1), default=100, help="Latent size."),
    click.option("--width", type=click.IntRange(1), default=64, help="Base channel/unit count."),
    classes_option,
    modes_option,
)


length_options = _options(
    # How long: epochs or steps.
    epochs_option,
    click.option(
        "--steps", type=click.IntRange(1), default=None, help="Steps to train instead of epochs."
    ),
)


recipe_options = _options(
    # The recipe: batch, loss, optimiser, learning rate, EMA, regularisers, seed.
    click.option(
        "--batch-size",
        type=click.IntRange(1),
        default=None,
        help="Images per step [default: 32 for a dcgan with bce/hinge, else 64].",
    ),
    click.option("--loss", type=click.Choice(["bce", "hinge", "wgan-gp"]), default="bce"),
    click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default="adam"),
    click.option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Learning rate of G and D [default: 2e-3 for a dcgan with bce/hinge, else 2e-4].",
    ),
    click.option(
        "--lr-decay-from",
        type=click.FloatRange(0, 1),
        default=None,
        help="Share of the run after which both learning rates fall linearly to 0 at its last "
        "step (1: constant) [default: 0.5 for a dcgan with modes, else 1].",
    ),
    click.option(
        "--ema-decay",
        type=click.FloatRange(0, 1, max_open=True),
        default=None,
        help="Decay of the EMA of G that is sampled and exported [default: 0.995 for a dcgan "
        "with bce/hinge, else 0.999].",
    ),
    click.option(
        "--mode-seeking",
        type=click.FloatRange(min=0),
        default=None,
        help="Weight of the mode-seeking term in G's loss (MSGAN: images of one class drawn from "
        "different latents should differ; 0: off) [default: 0.03 for a conditional dcgan with "
        "bce/hinge, else 0].",
    ),
    click.option(
        "--r1",
        "r1_gamma",
        type=click.FloatRange(min=0),
        default=None,
        help="Weight γ of the R1 penalty on D's gradient at real images, applied lazily every 4th "
        "D step (0: off) [default: the recipe's].",
    ),
    click.option(
        "--augment/--no-augment",
        default=None,
        help="DiffAugment (translation + cutout) on every image D sees [default: the recipe's].",
    ),
    click.option("--seed", type=int, default=0, help="Same seed, data and device: the same run."),
    precision_option,
)


run_options = _options(
    # Where and how the run goes: device, folder, checkpoints, evaluations, processes.
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto"),
    run_folder_option("Run folder: checkpoint.pt, metrics.jsonl, samples/."),
    click.option(
        "--checkpoint-every",
        type=click.IntRange(0),
        default=0,
        help="Steps between checkpoints (0: each epoch).",
    ),
    click.option("--keep", type=click.IntRange(0), default=0, help="Earlier checkpoints to keep."),
    click.option(
        "--eval-every",
        type=click.IntRange(0),
        default=0,
        help="Steps between FID evaluations, logged to metrics.jsonl; the best checkpoint is kept "
        "as OUT/checkpoint_best.pt (0: off). Needs labelled data.",
    ),
    click.option(
        "--eval-samples", type=click.IntRange(100), default=1000, help="Samples per FID evaluation."
    ),
    tensorboard_option,
    click.option(
        "--resume", is_flag=True, help="Continue from OUT/checkpoint.pt with its own settings."
    ),
    click.option(
        "--nproc",
        type=click.IntRange(1),
        default=1,
        help="Processes on this machine, trained with DistributedDataParallel (torchrun; one GPU "
        "each on CUDA). --batch-size is the global batch, split evenly over them.",
    ),
    click.option(
        "--sync-bn",
        is_flag=True,
        help="Under several processes, BatchNorm over the global batch (SyncBatchNorm, CUDA "
        "only) instead of each process's shard.",
    ),
)


own_model_options = _options(
    # Your own pair in place of --arch.
    click.option(
        "--generator",
        "own_generator",
        metavar="FILE.py:NAME",
        default=None,
        help="Train your own generator (a class or factory; FILE.py:NAME or package.module:NAME) "
        "instead of --arch; needs --discriminator.",
    ),
    click.option(
        "--generator-args", metavar="JSON", callback=json_object, help="Its keyword arguments."
    ),
    click.option(
        "--discriminator",
        "own_discriminator",
        metavar="FILE.py:NAME",
        default=None,
        help="Your own discriminator, trained with --generator.",
    ),
    click.option(
        "--discriminator-args", metavar="JSON", callback=json_object, help="Its keyword arguments."
    ),
)


@click.command("train")
@model_options
@length_options
@recipe_options
@run_options
@own_model_options
@click.pass_context
def train_command(ctx: click.Context, **options: Any) -> None:
    """Train a GAN; writes OUT/checkpoint.pt, OUT/metrics.jsonl, OUT/samples/epoch_NNN.png
    and OUT/curves.png.

    Also runs under torchrun (README, "Several processes"): rank 0 writes the files.
    """
    out: Path = options["out"]
    if options["nproc"] > 1:
        from ganport.cli.launch import check_nproc, forwarded_args, launch

        check_nproc(options["nproc"])
        launch(["train", *forwarded_args(ctx, {"nproc"})], options["nproc"], out)
        return
    from ganport.train import train

    config, dataset = _train_config(ctx, options)
    run = _run_options(options, config, dataset)
    result = train(config, dataset, run, resume=options["resume"])
    if result.rank == 0:
        _say_what_was_written(result, out, options["tensorboard"])
    exit_if_interrupted(result, out)


def _train_config(ctx: click.Context, options: dict[str, Any]) -> tuple[TrainConfig, Dataset]:
    """The run's configuration and data set, from the model and recipe options (or the
    checkpoint's, for --resume)."""
    classes, modes = options["classes"], options["modes"]
    model = {name: options[name] for name in ("arch", "nz", "image_size", "width")}
    model["channels"] = int(options["channels"])
    if options["own_generator"] or options["own_discriminator"]:
        model = _own_model(
            ctx,
            options["own_generator"],
            options["generator_args"],
            options["own_discriminator"],
            options["discriminator_args"],
        )
        classes, modes = 0, 0
    recipe = ("optimizer", "seed", "ema_decay", "mode_seeking", "r1_gamma", "augment", "lr")
    recipe += ("precision", "lr_decay_from", "batch_size")
    return run_config(
        options["out"],
        options["resume"],
        data=options["data"],
        loss=options["loss"],
        model=model,
        classes=classes,
        modes=modes,
        **{name: options[name] for name in recipe},
    )


def _run_options(options: dict[str, Any], config: TrainConfig, dataset: Dataset) -> RunOptions:
    """How long and where the run goes; its FID evaluator when --eval-every asks for one."""
    from ganport.train import RunOptions

    evaluator = None
    if options["eval_every"] and os.environ.get("RANK", "0") == "0":  # rank 0 evaluates
        from ganport.infer.quality.feature_net import FidEvaluator

        evaluator = FidEvaluator(dataset, config.model.nz, options["eval_samples"])
    epochs, steps = options["epochs"], options["steps"]
    if epochs is None and steps is None:
        epochs = config.recipe_epochs()
    return RunOptions(
        out=options["out"],
        epochs=epochs,
        steps=steps,
        device=options["device"],
        checkpoint_every=options["checkpoint_every"],
        keep=options["keep"],
        eval_every=options["eval_every"],
        evaluator=evaluator,
        tensorboard=options["tensorboard"],
        sync_bn=options["sync_bn"],
    )


def _say_what_was_written(result: RunResult, out: Path, tensorboard: bool) -> None:
    """The run's last losses and the files it left (rank 0), curves.png drawn now."""
    from ganport.train.curves import plot_curves

    curves = plot_curves(out)
    losses = "  ".join(f"{k}={v:.4f}" for k, v in result.last_losses.items())
    click.echo(f"step {result.step} (epoch {result.epoch}) in {result.seconds:.1f}s  {losses}")
    click.echo(f"checkpoint: {result.checkpoint}")
    if result.sample_grids:
        click.echo(f"samples:    {result.sample_grids[-1]}")
    click.echo(f"curves:     {curves}")
    if tensorboard:
        click.echo(f"tensorboard: tensorboard --logdir {out / 'tensorboard'}")


def _own_model(
    ctx: click.Context,
    generator: str | None,
    generator_args: dict,
    discriminator: str | None,
    discriminator_args: dict,
) -> dict:
    """The model settings of your own pair: its sources, and what running them found
    (latent size, image shape), in place of --arch and its sizes."""
    from ganport.train.own import own_models

    if not (generator and discriminator):
        raise click.UsageError(
            "your own models train as a pair: give --generator and --discriminator"
        )
    for name in ("arch", "nz", "image_size", "channels", "width", "classes", "modes"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"{flag} is for ganport's own models; yours say it themselves")
    own = own_models((generator, generator_args), (discriminator, discriminator_args))
    layout = own["generator"]["layout"]
    channels, size, _ = layout["image_shape"]
    return {"arch": "own", "nz": layout["nz"], "channels": channels, "image_size": size, "own": own}
