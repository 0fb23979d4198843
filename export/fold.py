"""Fold eval-mode BatchNorm into the layer before it.

Exported graphs then carry no BatchNormalization node at all (so none can be left in
training mode), and ONNX Runtime runs one Conv/ConvTranspose/Gemm where torch runs two
layers. Works on ``nn.Sequential`` containers, which is how ganport's models (and most
small GANs) are built; anything else is exported as it is, BN in inference form.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

_FOLDABLE = {
    nn.Conv2d: (nn.BatchNorm2d, lambda layer, bn: fuse_conv_bn_eval(layer, bn)),
    nn.ConvTranspose2d: (nn.BatchNorm2d, lambda layer, bn: fuse_conv_bn_eval(layer, bn, True)),
    nn.Linear: (nn.BatchNorm1d, fuse_linear_bn_eval),
}


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with every (layer, BatchNorm) pair fused into one layer."""
    folded = copy.deepcopy(module).eval()
    for child in folded.modules():
        if isinstance(child, nn.Sequential):
            _fold_sequential(child)
    return folded


def _fold_sequential(seq: nn.Sequential) -> None:
    layers = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        rule = _FOLDABLE.get(type(layer))
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if rule and type(nxt) is rule[0] and nxt.track_running_stats:
            out.append(rule[1](layer, nxt))
            i += 2
        else:
            out.append(layer)
            i += 1
    set_layers(seq, out)


def set_layers(seq: nn.Sequential, layers: list[nn.Module]) -> None:
    """Make ``seq`` hold exactly ``layers``, renumbered from 0 (a rewrite replaced some)."""
    for name in list(seq._modules):
        del seq._modules[name]
    for index, layer in enumerate(layers):
        seq.add_module(str(index), layer)
