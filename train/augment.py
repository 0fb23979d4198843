"""DiffAugment (Zhao et al., 2020): the same random translation and cutout on every image the
discriminator sees, real or generated, in D's step and in G's.

Differentiable, so G learns through it; applied to both sides, so G is never asked to draw
augmented images. On a small data set (mnist5k's 5,000 digits) it keeps D from memorising
the real images, which is what leaves an unconditional G drawing half-formed digits.
Randomness comes from the trainer's CPU noise generator, so a run stays reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TRANSLATION = 0.125  # largest shift, as a share of the side
CUTOUT = 0.5  # side of the blanked square, as a share of the side


def diff_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to 1/8 of its side (zero-filled), then blank a square of half
    its side."""
    return _cutout(_translate(images, generator), generator)


def _translate(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    max_h, max_w = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    shift_h = torch.randint(-max_h, max_h + 1, (n, 1, 1), generator=generator).to(x.device)
    shift_w = torch.randint(-max_w, max_w + 1, (n, 1, 1), generator=generator).to(x.device)
    batch, rows, cols = _grid(n, h, w, x.device)
    rows = torch.clamp(rows + shift_h + 1, 0, h + 1)
    cols = torch.clamp(cols + shift_w + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    top = torch.randint(0, h + (1 - size_h % 2), (n, 1, 1), generator=generator).to(x.device)
    left = torch.randint(0, w + (1 - size_w % 2), (n, 1, 1), generator=generator).to(x.device)
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
