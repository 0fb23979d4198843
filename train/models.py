"""Generators (z → image in [-1, 1]) and discriminators (image → one logit per sample).

The batch size is never baked in: every reshape keeps the batch dimension free
(``reshape(-1, ...)``, ``flatten(1)``), so the exported ONNX graphs have a truly
symbolic batch axis.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ganport.core.classes import class_edges
from ganport.train.config import ModelConfig


class Heads(NamedTuple):
    """A conditional discriminator's outputs, from one pass through its shared layers."""

    logits: torch.Tensor  # real/fake, one per image (what ``forward`` returns and is exported)
    classes: torch.Tensor  # the auxiliary classifier's class logits (batch, K)
    twin: torch.Tensor | None  # the twin classifier's (TAC-GAN), or None (AC-GAN)


class LatentClass(nn.Module):
    """z → the one-hot (batch, K) of the class z[:, 0] selects (``ganport.core.classes``).

    Part of the generator, so the exported graph computes it too, with the plainest ops:
    class k is ``z[:, 0] > lower[k]`` XOR ``z[:, 0] > upper[k]`` (each bin's edges, the
    outer ones ±float32 max), then a Cast. No reduction, no int64 and no float16, so
    every backend runs it (WebGL has no ReduceSum past opset 12).
    """

    def __init__(self, classes: int, shares: tuple[float, ...] | None = None) -> None:
        super().__init__()
        edges = torch.from_numpy(class_edges(classes, shares))
        outer = torch.tensor([torch.finfo(torch.float32).max])
        self.register_buffer("edges", edges, persistent=False)
        self.register_buffer("lower", torch.cat([-outer, edges]), persistent=False)
        self.register_buffer("upper", torch.cat([edges, outer]), persistent=False)

    def index(self, z: torch.Tensor) -> torch.Tensor:
        """The class of each row, int64 (batch,): edges that z[:, 0] (float32) exceeds."""
        return (z[:, :1] > self.edges).sum(dim=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        first = z[:, :1]
        return torch.logical_xor(first > self.lower, first > self.upper).to(z.dtype)


def _latent_class(cfg: ModelConfig) -> LatentClass | None:
    return LatentClass(cfg.classes, cfg.class_shares) if cfg.classes else None


def _with_class(latent_class: LatentClass | None, z: torch.Tensor) -> torch.Tensor:
    """A conditional generator's input: z followed by its class's one-hot."""
    return z if latent_class is None else torch.cat([z, latent_class(z)], dim=1)


class MLPGenerator(nn.Module):
    """Linear 256 → 512 → 1024 (BatchNorm1d, LeakyReLU 0.2) → Linear(C·H·W) → tanh.

    The layers widen towards the image, as in the classic MLP GAN: every one of the
    C·H·W pixels is a linear read-out of the last hidden layer, so that layer needs room.
    The earlier 512 → 256 → 128 stack squeezed 784 pixels through 128 units and on mnist5k
    drew grey noisy blobs of one class after 20 epochs (FID 542, classifier score 1.0);
    widened, the same run gives FID 18, score 5.3, all 10 classes (README, `ganport train`).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.image_shape = cfg.image_shape
        self.latent_class = _latent_class(cfg)
        hidden = [4 * cfg.width, 8 * cfg.width, 16 * cfg.width]
        layers: list[nn.Module] = []
        fan_in = cfg.nz + cfg.classes
        for size in hidden:
            layers += [nn.Linear(fan_in, size), nn.BatchNorm1d(size), nn.LeakyReLU(0.2)]
            fan_in = size
        layers += [nn.Linear(fan_in, math.prod(self.image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(_with_class(self.latent_class, z)).reshape(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """flatten → Linear 1024 → 512 → 256 with LeakyReLU 0.2 (norm after the first) → logit.

    ``forward`` is the adversarial logit (what is exported); ``heads`` adds the class
    heads of a conditional model (training only), from the same features.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        hidden = [16 * cfg.width, 8 * cfg.width, 4 * cfg.width]
        layers: list[nn.Module] = []
        fan_in = math.prod(cfg.image_shape)
        for i, size in enumerate(hidden):
            layers.append(nn.Linear(fan_in, size))
            if i > 0:
                layers += _norm_1d(cfg.d_norm, size)
            layers.append(nn.LeakyReLU(0.2))
            fan_in = size
        layers.append(nn.Linear(fan_in, 1))
        self.net = nn.Sequential(*layers)
        self.classifier = nn.Linear(fan_in, cfg.classes) if cfg.classes else None
        self.twin = nn.Linear(fan_in, cfg.classes) if cfg.twin_classifier else None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image.flatten(1)).reshape(-1)

    def heads(self, image: torch.Tensor) -> Heads:
        return _heads(self.net, self.classifier, self.twin, image.flatten(1))


def _dcgan_plan(image_size: int) -> tuple[int, int]:
    """(first block's side, number of doublings): 28 → 7×7 ×2; 32 → 4×4 ×3; 64 → 4×4 ×4."""
    first = 7 if image_size == 28 else 4
    return first, round(math.log2(image_size // first))


class DCGANGenerator(nn.Module):
    """z → ConvTranspose2d stack (BatchNorm2d + ReLU) → tanh, doubling the side each block."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.nz = cfg.nz
        self.inputs = cfg.nz + cfg.classes
        self.latent_class = _latent_class(cfg)
        first, doublings = _dcgan_plan(cfg.image_size)
        channels = cfg.width * 2 ** (doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(self.inputs, channels, first, 1, 0, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(True),
        ]
        for _ in range(doublings - 1):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(True),
            ]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(_with_class(self.latent_class, z).reshape(-1, self.inputs, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Stride-2 Conv2d stack, LeakyReLU 0.2, norm on all but the first block → one logit.

    A conditional model's auxiliary classifier (and a TAC-GAN's twin classifier) is another
    last layer beside the logit's.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        first, doublings = _dcgan_plan(cfg.image_size)
        channels = cfg.width
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.channels, channels, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(doublings - 1):
            layers.append(nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False))
            layers += _norm_2d(cfg.d_norm, channels * 2)
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, first, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(channels, cfg.classes, first) if cfg.classes else None
        self.twin = nn.Conv2d(channels, cfg.classes, first) if cfg.twin_classifier else None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).reshape(-1)

    def heads(self, image: torch.Tensor) -> Heads:
        return _heads(self.net, self.classifier, self.twin, image)


def _heads(
    net: nn.Sequential, classifier: nn.Module | None, twin: nn.Module | None, inputs: torch.Tensor
) -> Heads:
    if classifier is None:
        raise ValueError("this discriminator has no class head (an unconditional model)")
    features = net[:-1](inputs)
    return Heads(
        logits=net[-1](features).reshape(-1),
        classes=classifier(features).flatten(1),
        twin=None if twin is None else twin(features).flatten(1),
    )


def _norm_1d(kind: str, size: int) -> list[nn.Module]:
    return {"batch": [nn.BatchNorm1d(size)], "layer": [nn.LayerNorm(size)], "none": []}[kind]


def _norm_2d(kind: str, channels: int) -> list[nn.Module]:
    # GroupNorm with one group normalises over (C, H, W) per sample: a layer norm for convs.
    return {
        "batch": [nn.BatchNorm2d(channels)],
        "layer": [nn.GroupNorm(1, channels)],
        "none": [],
    }[kind]


def init_weights(module: nn.Module) -> None:
    """DCGAN init: conv/linear weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_generator(cfg: ModelConfig) -> nn.Module:
    """The generator for ``cfg``, freshly initialised (your own: as its class does)."""
    if cfg.arch == "own":
        from ganport.train.own import build_own

        return build_own(cfg.own, "generator")
    model = MLPGenerator(cfg) if cfg.arch == "mlp" else DCGANGenerator(cfg)
    model.apply(init_weights)
    return model


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    """The discriminator for ``cfg``, freshly initialised (your own: as its class does)."""
    if cfg.arch == "own":
        from ganport.train.own import build_own

        return build_own(cfg.own, "discriminator")
    model = MLPDiscriminator(cfg) if cfg.arch == "mlp" else DCGANDiscriminator(cfg)
    model.apply(init_weights)
    return model
