"""The export change these benchmarks propose: a DCGAN generator's first layer as a Gemm.

A DCGAN generator starts with ConvTranspose2d(nz, C, k, stride 1, pad 0) on a 1×1 input.
That is a matrix product, z (batch, nz) @ W (nz, C·k·k), then a reshape to (C, k, k); but
ONNX Runtime's CPU ConvTranspose loops over the batch one image at a time, re-reading the
whole weight for each (measured: ~30 GFLOP/s where a Gemm reaches the matmul rate). As a
Linear layer the exporter emits one Gemm for the whole batch. Same function, same weights:
the bench's agreement check proves it against the checkpoint's torch model.

Kept here, beside the measurements, until export/ adopts it; it does not touch export/.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ganport.export import ExportResult, export_generator
from ganport.export.fold import fold_batchnorm
from ganport.train.checkpoint import load_checkpoint


class GemmStem(nn.Module):
    """``ConvTranspose2d(nz, C, k, 1, 0)`` on a 1×1 input, computed as Linear + reshape."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        nz, channels, kh, kw = layer.weight.shape
        self.shape = (channels, kh, kw)
        self.linear = nn.Linear(nz, channels * kh * kw)
        with torch.no_grad():
            self.linear.weight.copy_(layer.weight.reshape(nz, -1).t())
            bias = layer.bias if layer.bias is not None else torch.zeros(channels)
            self.linear.bias.copy_(bias.repeat_interleave(kh * kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).reshape(-1, *self.shape)


def export_with_gemm_stem(checkpoint: str | os.PathLike[str], path: Path) -> ExportResult:
    """Export the checkpoint's generator with its first layer as a Gemm (BatchNorm folded
    first). The raw weights, not G_ema: a module export is labelled ``weights: raw``, and the
    bench compares each export with the weights its metadata names."""
    generator = fold_batchnorm(load_checkpoint(checkpoint).generator(ema=False))
    first = generator.net[0]
    if not (isinstance(first, nn.ConvTranspose2d) and first.stride == (1, 1)):
        raise ValueError("not a DCGAN generator: its first layer is not a stride-1 ConvTranspose")
    if first.padding != (0, 0):
        raise ValueError("the first ConvTranspose pads its input: not a plain matrix product")
    generator.net[0] = GemmStem(first)
    return export_generator(generator, path, nz=generator.nz)
