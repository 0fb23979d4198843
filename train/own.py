"""Your own pair in ganport's trainer: a generator and a discriminator written elsewhere,
trained with the same loop as ganport's models (losses, EMA, checkpoints, resume, curves,
several processes).

The trainer speaks ganport's contract: G(z) → images in [-1, 1], D(images) → logits. A
user's models are wrapped to it (``ganport.train.adapt``); here the wrappers also do what
training needs on top: a G that takes labels draws them from z[:, 0] by ganport's class
rule (the rule its export's runtime follows when no class is asked), and a D that ends in
a sigmoid hands the loss its logit. The checkpoint keeps the user's own state_dicts under
the wrapper's ``model.`` prefix, and each model's source and layout in its config.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganport.core.errors import InputError
from ganport.train.adapt import (
    ContractDiscriminator,
    ContractGenerator,
    Hints,
    Layout,
    probe_discriminator,
    probe_generator,
)
from ganport.train.models import LatentClass
from ganport.train.user_model import instantiate, model_source

# A probability is turned into a logit no closer to 0 or 1 than this (a saturated
# sigmoid's logit is infinite; BCELoss on probabilities clamps its log the same way).
PROBABILITY_EPS = 1e-6


class OwnGenerator(ContractGenerator):
    """A user's G for training: z alone also works for one that takes labels, whose class
    then comes from z[:, 0] (``ganport.core.classes``)."""

    def __init__(self, model: nn.Module, found: Layout) -> None:
        super().__init__(model, found)
        self.latent_class = LatentClass(found.classes) if found.classes else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.latent_class is not None and labels is None:
            labels = self.latent_class.index(z)
        return super().forward(z, labels)


class OwnDiscriminator(ContractDiscriminator):
    """A user's D for training: its output as a logit, whether it ends in one or in a
    sigmoid."""

    def forward(self, image: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = super().forward(image, labels)
        if self.found.d_output == "probability":
            return torch.logit(out, eps=PROBABILITY_EPS)
        return out


def own_models(
    generator: tuple[str, dict[str, Any]],
    discriminator: tuple[str, dict[str, Any]],
    hints: Hints | None = None,
) -> dict[str, dict[str, Any]]:
    """``ModelConfig.own`` for a pair given as (spec, args): each is built and run to find
    its layout; the D reads the images the G makes."""
    hints = hints or Hints()
    g_spec, g_args = model_source(generator[0]).spec, generator[1]
    found_g = probe_generator(instantiate(g_spec, g_args), Hints(**{**vars(hints), "args": g_args}))
    d_spec, d_args = model_source(discriminator[0]).spec, discriminator[1]
    d_hints = Hints(**{**vars(hints), "args": d_args, "image_range": found_g.image_range})
    found_d = probe_discriminator(instantiate(d_spec, d_args), d_hints, found_g.image_shape)
    if found_d.classes not in (0, found_g.classes):
        raise InputError(
            f"the discriminator takes labels of {found_d.classes} classes, the generator "
            f"{found_g.classes}"
        )
    _, h, w = found_g.image_shape
    if h != w:
        raise InputError(f"the generator makes {h}×{w} images; training needs square images")
    return {
        "generator": {"spec": g_spec, "args": dict(g_args), "layout": found_g.to_dict()},
        "discriminator": {"spec": d_spec, "args": dict(d_args), "layout": found_d.to_dict()},
    }


def build_own(own: dict[str, dict[str, Any]], role: str) -> nn.Module:
    """The ``role`` model of ``ModelConfig.own``, freshly built (its own initialisation)."""
    entry = own[role]
    model = instantiate(entry["spec"], entry["args"])
    wrapper = OwnGenerator if role == "generator" else OwnDiscriminator
    return wrapper(model, Layout.from_dict(entry["layout"]))


def contract_form(module: nn.Module) -> nn.Module:
    """What an export of a trained own model holds: the user's model behind the contract
    alone (a labels input where it takes labels, its own sigmoid kept), not the training
    wrapper; any other module as it is."""
    if isinstance(module, OwnGenerator):
        return ContractGenerator(module.model, module.found).eval()
    if isinstance(module, OwnDiscriminator):
        return ContractDiscriminator(module.model, module.found).eval()
    return module


def classes_of(own: dict[str, dict[str, Any]]) -> int:
    """Classes the pair takes as labels (0: none)."""
    return int(own["discriminator"]["layout"].get("classes") or 0) or int(
        own["generator"]["layout"].get("classes") or 0
    )
