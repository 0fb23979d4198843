"""TensorBoard event files of a run: every logged scalar, and each epoch's sample grid.

Mirrors metrics.jsonl (same names, same steps) and ``samples/epoch_NNN.png`` into
``RUN_DIR/tensorboard/`` for people who watch training there (``tensorboard --logdir
RUN_DIR/tensorboard``). metrics.jsonl stays the record; this is a view of it. The writer
comes from torch (``torch.utils.tensorboard``), which needs the ``tensorboard`` package of
the ``[train]`` extra.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganport.core.errors import InputError

FOLDER = "tensorboard"
GRID_TAG = "samples"
FLUSH_SECONDS = 10  # a running run shows up in TensorBoard within seconds


class TensorBoardLog:
    """One run's event writer. ``resumed_at``: the checkpoint's step of a resumed run;
    events past it (from the interrupted attempt) are purged, as metrics.jsonl drops them."""

    def __init__(self, run_dir: Path, resumed_at: int = 0) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ModuleNotFoundError as exc:
            raise InputError(
                "--tensorboard needs the tensorboard package: pip install 'ganport[train]'"
            ) from exc
        self.folder = Path(run_dir) / FOLDER
        self._writer = SummaryWriter(
            str(self.folder),
            purge_step=resumed_at + 1 if resumed_at else None,
            flush_secs=FLUSH_SECONDS,
        )

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Each value under its metrics.jsonl name, at the same step."""
        for name, value in values.items():
            self._writer.add_scalar(name, value, step)

    def grid(self, step: int, png: Path) -> None:
        """The sample grid as written to disk, so TensorBoard shows the very same pixels."""
        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        self._writer.add_image(GRID_TAG, pixels, step, dataformats="HWC")

    def close(self) -> None:
        self._writer.close()
