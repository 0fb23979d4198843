"""Find how a user's generator or discriminator lays out its inputs and outputs, by running
it, and wrap it so that it meets ganport's contract.

The wrappers (``ContractGenerator``, ``ContractDiscriminator``) are what gets exported and
what parity compares against: z (N, nz) (and labels) → image (N, C, H, W) in [-1, 1], and
image (N, C, H, W) in [-1, 1] (and labels) → (N,). Their few adapting ops (a reshape, 2x - 1)
land in the ONNX graph, so every runtime, the JS API and the page use the model unchanged.
The rules that read a layout from numbers are ganport.core.layout's, shared with ``tag``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ganport.core import layout
from ganport.core.errors import InputError, first_line
from ganport.core.latent import latent

NZ_ATTRIBUTES = ("nz", "latent_dim", "z_dim", "noise_dim", "latent_size", "dim_z", "nlatent")
CLASS_ATTRIBUTES = ("n_classes", "num_classes", "classes", "nclasses")
PROBE_ROWS = 16


@dataclass(frozen=True)
class Hints:
    """What the user declared (flags); None where probing decides."""

    nz: int | None = None
    image_shape: tuple[int, int, int] | None = None
    image_range: tuple[float, float] | None = None
    classes: int | None = None
    d_output: str | None = None
    args: dict[str, Any] = field(default_factory=dict)  # the constructor's: may name nz


@dataclass(frozen=True)
class Layout:
    """What was found: enough to wrap the model and to say so in one line."""

    role: str
    image_shape: tuple[int, int, int]
    image_range: tuple[float, float]
    nz: int = 0
    z: str = layout.Z_FLAT
    image: str = layout.IMAGE_NCHW
    classes: int = 0
    d_output: str = "logit"
    output_shape: str = "(N,)"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The metadata's ``source_layout``: the model as it was written, all that is needed
        to wrap it again (parity rebuilds the torch reference from it)."""
        data = asdict(self)
        data["image_shape"], data["image_range"] = list(self.image_shape), list(self.image_range)
        return {"origin": "module", **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        known["image_shape"] = tuple(known["image_shape"])
        known["image_range"] = tuple(float(v) for v in known["image_range"])
        return cls(**known)


class ContractGenerator(nn.Module):
    """A user's G behind the contract: z (N, nz) (and labels (N,)) → (N, C, H, W) in [-1, 1]."""

    def __init__(self, model: nn.Module, found: Layout) -> None:
        super().__init__()
        self.model, self.found = model, found

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.found.z == layout.Z_NCHW:
            z = z.reshape(-1, self.found.nz, 1, 1)
        out = self.model(z) if labels is None else self.model(z, labels)
        out = out.reshape(-1, *self.found.image_shape)
        return out * 2 - 1 if self.found.image_range == (0.0, 1.0) else out


class ContractDiscriminator(nn.Module):
    """A user's D behind the contract: image (N, C, H, W) in [-1, 1] (and labels) → (N,)."""

    def __init__(self, model: nn.Module, found: Layout) -> None:
        super().__init__()
        self.model, self.found = model, found

    def forward(self, image: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.found.image_range == (0.0, 1.0):
            image = (image + 1) / 2
        if self.found.image == layout.IMAGE_FLAT:
            image = image.flatten(1)
        out = self.model(image) if labels is None else self.model(image, labels)
        return out.reshape(-1)


def probe_generator(model: nn.Module, hints: Hints) -> Layout:
    """Run ``model`` on a few latents to find nz, the z layout, labels, image shape and range."""
    model.eval()
    classes = _classes(model, hints)
    errors: list[str] = []
    for nz in _nz_candidates(model, hints, classes):
        for z_layout in (layout.Z_FLAT, layout.Z_NCHW):
            found = Layout("generator", (1, 1, 1), (-1.0, 1.0), nz, z_layout, classes=classes)
            try:
                out, ends_in = _run_generator(model, found, PROBE_ROWS)
            except Exception as exc:  # the user's code raises whatever it raises
                errors.append(f"z {z_layout.replace('nz', str(nz))}: {first_line(exc)}")
                continue
            shape, image = layout.image_shape_of(out.shape[1:], hints.image_shape, "the generator")
            found = replace(found, image_shape=shape, image=image)
            rng = layout.image_range_of(out, hints.image_range, ends_in, "the generator")
            found = replace(found, image_range=rng)
            _check_batch_independent(lambda n, f=found: _run_generator(model, f, n)[0], "generator")
            return found
    if not errors:
        raise InputError("cannot tell the generator's latent size; give --nz")
    raise InputError(f"the generator does not run on any z layout tried ({errors[-1]})")


def probe_discriminator(
    model: nn.Module, hints: Hints, image_shape: tuple[int, int, int] | None = None
) -> Layout:
    """Run ``model`` on a few images to find its input layout, labels and output kind."""
    model.eval()
    shape = hints.image_shape or image_shape or _attribute_shape(model, hints.args)
    if shape is None:
        raise InputError("cannot tell the discriminator's image shape; give --image-shape C,H,W")
    classes = _classes(model, hints)
    image_range = hints.image_range or layout.CONTRACT_RANGE
    notes = [] if hints.image_range or image_shape else ["image range [-1, 1] assumed"]
    errors: list[str] = []
    for image in (layout.IMAGE_NCHW, layout.IMAGE_FLAT):
        found = Layout("discriminator", shape, image_range, image=image, classes=classes)
        try:
            raw, ends_in = _run_discriminator(model, found, PROBE_ROWS)
        except Exception as exc:
            errors.append(f"images {image}: {first_line(exc)}")
            continue
        output_shape = layout.score_shape_name(raw.shape[1:])
        kind = layout.d_output_of(raw, hints.d_output, ends_in, "the discriminator")
        found = replace(found, output_shape=output_shape, d_output=kind, notes=notes)
        _check_batch_independent(
            lambda n, f=found: _run_discriminator(model, f, n)[0], "discriminator"
        )
        return found
    raise InputError(f"the discriminator does not run on images shaped {shape} ({errors[-1]})")


def contract_module(model: nn.Module, found: Layout) -> nn.Module:
    """``model`` behind the contract: a generator that already keeps it as it is (so the
    rewrites that know ganport's own classes still see them), anything else wrapped. A
    discriminator is always wrapped: one that squeezes its output keeps (N,) only for
    batches of two or more, which probing at one batch size cannot rule out."""
    if found.role == "discriminator":
        return ContractDiscriminator(model, found)
    plain = (
        found.z == layout.Z_FLAT
        and found.image == layout.IMAGE_NCHW
        and found.image_range == layout.CONTRACT_RANGE
        and not found.classes
    )
    return model if plain else ContractGenerator(model, found)


def guess_role(model: nn.Module, hints: Hints) -> str:
    """ "generator" or "discriminator", for a model given without saying which: the half it
    runs as (a G makes images from z; a D gives one score per image)."""
    try:
        probe_generator(model, hints)
        return "generator"
    except InputError as as_generator:
        try:
            probe_discriminator(model, hints)
        except InputError as as_discriminator:
            raise InputError(
                f"cannot tell which half {type(model).__name__} is (as a generator: "
                f"{as_generator}; as a discriminator: {as_discriminator}); say --which"
            ) from None
        return "discriminator"


def probe_inputs(found: Layout, rows: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Contract inputs for ``rows`` rows: z (or images in [-1, 1]) and labels if taken."""
    rng = np.random.default_rng(seed)
    if found.role == "generator":
        main = torch.from_numpy(latent(rows, found.nz, seed))
    else:
        main = torch.from_numpy(rng.uniform(-1, 1, (rows, *found.image_shape)).astype(np.float32))
    if not found.classes:
        return (main,)
    return main, torch.from_numpy(np.arange(rows, dtype=np.int64) % found.classes)


def _run_generator(model: nn.Module, found: Layout, rows: int) -> tuple[np.ndarray, str | None]:
    z, *labels = probe_inputs(found, rows)
    if found.z == layout.Z_NCHW:
        z = z.reshape(rows, found.nz, 1, 1)
    return _run_watched(model, (z, *labels))


def _run_discriminator(model: nn.Module, found: Layout, rows: int) -> tuple[np.ndarray, str | None]:
    image, *labels = probe_inputs(found, rows)
    if found.image_range == (0.0, 1.0):
        image = (image + 1) / 2
    if found.image == layout.IMAGE_FLAT:
        image = image.flatten(1)
    return _run_watched(model, (image, *labels))


def _run_watched(
    model: nn.Module, inputs: tuple[torch.Tensor, ...]
) -> tuple[np.ndarray, str | None]:
    """Run ``model`` and say whether its output is a final Tanh's or Sigmoid's (seen by
    hooks on its leaf modules: a view of that module's output is still its storage)."""
    last: dict[str, Any] = {}

    def remember(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            last["module"], last["output"] = module, output

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(remember) for m in leaves]
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(out, torch.Tensor):
        raise InputError(f"the model returns a {type(out).__name__}, not a tensor")
    ends_in = None
    if last and last["output"].data_ptr() == out.data_ptr():
        ends_in = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}.get(type(last["module"]))
    return out.float().numpy(), ends_in


def _check_batch_independent(run: Callable[[int], np.ndarray], role: str) -> None:
    """A batch of one must give one row shaped like the others (``.squeeze()`` with no
    dim turns it into a scalar: the adapter's reshape keeps (N,), but say what was seen)."""
    one, two = run(1), run(2)
    if one.shape[1:] != two.shape[1:] and one.size != two.size // 2:
        raise InputError(
            f"the {role}'s output shape depends on the batch: {one.shape} for one row, "
            f"{two.shape} for two"
        )


def _classes(model: nn.Module, hints: Hints) -> int:
    """Classes of a model that takes labels as a second input; 0 when it takes none."""
    takes_two = _positional_inputs(model) >= 2
    if hints.classes and not takes_two:
        raise InputError(
            f"--classes {hints.classes}: but {type(model).__name__}.forward takes one input, "
            "not (input, labels)"
        )
    if not takes_two:
        return 0
    found = hints.classes or _first_attribute(model, hints.args, CLASS_ATTRIBUTES)
    if not found:
        embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        found = embeddings[0].num_embeddings if embeddings else None
    if not found or found < 2:
        raise InputError(
            f"{type(model).__name__}.forward takes labels; give their number with --classes"
        )
    return int(found)


def _nz_candidates(model: nn.Module, hints: Hints, classes: int) -> list[int]:
    """Latent sizes to try: declared, named, or read off the first layer."""
    if hints.nz:
        return [hints.nz]
    named = _first_attribute(model, hints.args, NZ_ATTRIBUTES)
    if named:
        return [int(named)]
    first = next(
        (m for m in model.modules() if isinstance(m, nn.Linear | nn.ConvTranspose2d | nn.Conv2d)),
        None,
    )
    if first is None:
        return []
    width = first.in_features if isinstance(first, nn.Linear) else first.in_channels
    embedded = [m.embedding_dim for m in model.modules() if isinstance(m, nn.Embedding)]
    return [w for w in (width - sum(embedded), width) if w > 0] if classes else [width]


def _positional_inputs(model: nn.Module) -> int:
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def _first_attribute(model: nn.Module, args: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        for value in (getattr(model, name, None), args.get(name)):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _attribute_shape(model: nn.Module, args: dict[str, Any]) -> tuple[int, int, int] | None:
    for value in (getattr(model, "img_shape", None), args.get("img_shape")):
        if isinstance(value, tuple | list) and len(value) == 3:
            return tuple(int(v) for v in value)  # type: ignore[return-value]
    return None
