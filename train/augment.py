"""DiffAugment (Zhao et al., 2020): the same random translation and cutout on every image the
discriminator sees, real or generated, in D's step and in G's.

Differentiable, so G learns through it; applied to both sides, so G is never asked to draw
augmented images. On a small data set (mnist5k's 5,000 digits) it keeps D from memorising
the real images, which is what leaves an unconditional G drawing half-formed digits.
Randomness comes from the trainer's CPU noise generator, so a run stays reproducible; under
several processes each draws the global batch's parameters and keeps its shard's, so the run
does not depend on the number of processes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganport.train.transfer import to_device

TRANSLATION = 0.125  # largest shift, as a share of the side
CUTOUT = 0.5  # side of the blanked square, as a share of the side


Shard = Callable[[torch.Tensor], torch.Tensor]


def diff_augment(
    images: torch.Tensor,
    generator: torch.Generator,
    global_batch: int | None = None,
    shard: Shard | None = None,
) -> torch.Tensor:
    """Shift each image by up to 1/8 of its side (zero-filled), then blank a square of half
    its side. ``images`` may be one process's ``shard`` of a ``global_batch``."""
    draw = _Draw(generator, global_batch or images.shape[0], shard or (lambda t: t))
    return _cutout(_translate(images, draw), draw)


class _Draw:
    """Random integers for every image of the global batch, this process's rows kept."""

    def __init__(self, generator: torch.Generator, global_batch: int, shard: Shard) -> None:
        self.generator, self.global_batch, self.shard = generator, global_batch, shard

    def __call__(self, low: int, high: int, device: torch.device) -> torch.Tensor:
        values = torch.randint(low, high, (self.global_batch, 1, 1), generator=self.generator)
        return to_device(self.shard(values), device)


def _translate(x: torch.Tensor, draw: _Draw) -> torch.Tensor:
    n, _, h, w = x.shape
    max_h, max_w = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    shift_h = draw(-max_h, max_h + 1, x.device)
    shift_w = draw(-max_w, max_w + 1, x.device)
    batch, rows, cols = _grid(n, h, w, x.device)
    rows = torch.clamp(rows + shift_h + 1, 0, h + 1)
    cols = torch.clamp(cols + shift_w + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, draw: _Draw) -> torch.Tensor:
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    top = draw(0, h + (1 - size_h % 2), x.device)
    left = draw(0, w + (1 - size_w % 2), x.device)
    batch, rows, cols = _grid(n, size_h, size_w, x.device)
    rows = torch.clamp(rows + top - size_h // 2, 0, h - 1)
    cols = torch.clamp(cols + left - size_w // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[batch, rows, cols] = 0
    return x * mask.unsqueeze(1)


def _grid(n: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    return torch.meshgrid(
        torch.arange(n, device=device),
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )
