"""``ganport sample``: images from an exported generator on ONNX Runtime (no torch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ganport.cli.options import provider_option

if TYPE_CHECKING:
    import numpy as np

GRID_LIMIT = 256  # a PNG grid of more images is unreadable; --npy holds them all


@click.command("sample")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-n", "n", type=click.IntRange(1), default=64, help="Number of samples.")
@click.option("--seed", type=click.IntRange(0), default=0, help="Latent seed; row i is sample i.")
@click.option(
    "--batch-size", type=click.IntRange(1), default=None, help="Rows per run (default 256)."
)
@provider_option()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"PNG grid of the first {GRID_LIMIT} samples (default samples.png without --npy).",
)
@click.option(
    "--npy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="All samples as float32 (n, C, H, W) in [-1, 1].",
)
@click.option(
    "--truncation",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Redraw latent entries beyond ±T (truncation trick).",
)
@click.option(
    "--interpolate",
    type=(click.IntRange(0), click.IntRange(0)),
    default=None,
    metavar="SEED_A SEED_B",
    help="Slerp from SEED_A's first latent to SEED_B's instead of sampling -n.",
)
@click.option("--steps", type=click.IntRange(2), default=8, help="Images along --interpolate.")
@click.option(
    "--class",
    "label",
    type=click.IntRange(0),
    default=None,
    help="Only images of this class (a class-conditional generator), or of this mode (one "
    "trained on k-means modes of unlabelled data).",
)
def sample_command(
    model: Path,
    n: int,
    seed: int,
    batch_size: int | None,
    provider: str,
    out: Path | None,
    npy: Path | None,
    truncation: float | None,
    interpolate: tuple[int, int] | None,
    steps: int,
    label: int | None,
) -> None:
    """Sample MODEL.onnx (a ganport generator); writes a PNG grid and/or a .npy array."""
    from ganport.infer import Generator

    generator = Generator(model, provider=provider)
    click.echo(f"provider: {generator.provider}")
    if out is None and npy is None:
        out = Path("samples.png")
    if interpolate is not None:
        if label is not None:
            raise click.UsageError("--class and --interpolate cannot be combined")
        images = generator.interpolate(*interpolate, steps, truncation=truncation)
        _stream(iter([images]), steps, generator.image_shape, out, npy, nrow=steps)
        return
    if npy is None and n > GRID_LIMIT:
        # The grid shows the first GRID_LIMIT rows, which do not depend on n: draw only those.
        click.echo(f"grid: the first {GRID_LIMIT} of {n} samples", err=True)
        n = GRID_LIMIT
    elif n > GRID_LIMIT and out is not None:
        click.echo(f"grid: the first {GRID_LIMIT} of {n} samples", err=True)
    if npy is not None:
        _check_space(npy, n, generator.image_shape)
    batches = generator.iter_batches(n, seed, batch_size, truncation, label)
    _stream(batches, n, generator.image_shape, out, npy)


def _check_space(npy: Path, n: int, image_shape: tuple[int, ...]) -> None:
    """Refuse an array the disk cannot hold before drawing a sample: a huge -n ends at once
    in one line, not hours later in a full disk."""
    import math
    import shutil

    from ganport.core.errors import InputError

    need = n * math.prod(image_shape) * 4 + 128
    folder = next((p for p in npy.absolute().parents if p.is_dir()), None)
    if folder is None:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        raise InputError(
            f"--npy {npy}: {n} samples of {image_shape} need {need:,} bytes; "
            f"{folder} has {free:,} free (lower -n)"
        )


def _stream(
    batches: Iterator[np.ndarray],
    n: int,
    image_shape: tuple[int, ...],
    out: Path | None,
    npy: Path | None,
    nrow: int | None = None,
) -> None:
    """Write ``n`` images as their batches come, so memory holds one batch plus the grid
    whatever n is: the .npy header first, then each batch's bytes appended (a memory
    map would keep every written page resident), and the first GRID_LIMIT rows for the
    grid. Both files appear atomically, or not at all.
    """
    import contextlib

    import numpy as np

    from ganport.core.atomic import atomic_path
    from ganport.core.images import save_grid
    from ganport.core.progress import progress

    grid = np.empty((min(n, GRID_LIMIT), *image_shape), np.float32)
    with contextlib.ExitStack() as stack:
        array_file = None
        if npy is not None:
            array_file = stack.enter_context(open(stack.enter_context(atomic_path(npy)), "wb"))
            header = {"descr": "<f4", "fortran_order": False, "shape": (n, *image_shape)}
            np.lib.format.write_array_header_1_0(array_file, header)
        bar = stack.enter_context(progress(total=n, desc="sample", unit="img"))
        start = 0
        for images in batches:
            if array_file is not None:
                array_file.write(np.ascontiguousarray(images, dtype="<f4").tobytes())
            if start < len(grid):
                grid[start : start + len(images)] = images[: len(grid) - start]
            start += len(images)
            bar.update(len(images))
    if npy is not None:
        click.echo(f"array: {npy}")
    if out is not None:
        save_grid(grid, out, nrow=nrow)
        click.echo(f"grid:  {out}")
