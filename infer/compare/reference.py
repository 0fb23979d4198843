"""The torch models an export is compared against: a ganport checkpoint's, or models written
elsewhere, rebuilt from what the export's manifest recorded (source, arguments, weights).

Parity and bench ask it for the module behind each exported file, in the file's own
contract: G takes z (and labels when the file does), D takes images in [-1, 1] (and labels).
torch is imported inside functions: this is the comparison half of infer/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganport.core.classes import labels_for
from ganport.core.errors import InputError
from ganport.core.manifest import read_manifest
from ganport.core.metadata import ModelMetadata


@dataclass
class Reference:
    """What parity and bench compare with. ``checkpoint``: a ganport checkpoint (its data set
    gives real images); ``sources``: per role, the manifest's record of a model written
    elsewhere. ``name`` and ``sha256`` say which, in reports."""

    name: str
    sha256: str
    checkpoint: Any = None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """How reports name the reference: a checkpoint, or your own models."""
        return "checkpoint" if self.checkpoint is not None else "source"

    @property
    def data(self) -> str:
        """The data set the models were trained on, where ganport knows it."""
        return self.checkpoint.config.data if self.checkpoint is not None else ""

    def sha256_of(self, role: str) -> str:
        """The hash an exported ``role`` model names as its source: the checkpoint's, or
        that model's own weights file's ("" where nothing is recorded)."""
        if self.checkpoint is not None:
            return self.sha256
        source = self.sources.get(role, {})
        return source.get("weights_sha256") or source.get("sha256", "")

    def has_torch(self, role: str) -> bool:
        """Whether a torch model stands behind the ``role`` file (not one tagged from an
        ONNX file, for which the ONNX file is all there is)."""
        if self.checkpoint is not None:
            return True
        return self.sources.get(role, {}).get("kind") == "module"

    def module(self, meta: ModelMetadata) -> Any:
        """The eval-mode torch module behind an exported file with metadata ``meta``."""
        from ganport.train.own import contract_form

        if self.checkpoint is not None:
            if meta.role == "generator":
                generator = self.checkpoint.generator(ema=meta.weights != "raw")
                return contract_form(
                    _class_as_labels(generator) if meta.takes_labels else generator
                )
            return contract_form(self.checkpoint.discriminator())
        return self._user_module(meta.role)

    def generator(self) -> Any | None:
        """The generator whose samples a discriminator is checked on (None: no G here)."""
        if self.checkpoint is not None:
            return self.checkpoint.generator()
        return self._user_module("generator") if self.has_torch("generator") else None

    def critic(self) -> Any | None:
        """The discriminator that judges a generator's samples in the sweep (None: no D)."""
        if self.checkpoint is not None:
            return self.checkpoint.discriminator()
        return self._user_module("discriminator") if self.has_torch("discriminator") else None

    def latent_size(self, meta: ModelMetadata) -> int:
        """nz of the generator that feeds ``meta``'s model."""
        if self.checkpoint is not None:
            return self.checkpoint.config.model.nz
        if meta.role == "generator" or not self.has_torch("generator"):
            return meta.nz
        return int(self.sources["generator"]["layout"]["nz"])

    def fake_images(self, z: np.ndarray) -> np.ndarray | None:
        """The reference G's images for ``z`` (labels by ganport's class rule), or None."""
        import torch

        generator = self.generator()
        if generator is None:
            return None
        classes = self._classes("generator")
        args = [torch.from_numpy(z)]
        if classes:
            args.append(torch.from_numpy(labels_for(z, classes)))
        with torch.no_grad():
            return generator(*args).numpy()

    def critic_scores(self, images: np.ndarray, z: np.ndarray) -> np.ndarray | None:
        """The reference D's outputs (float64) for generated ``images`` of latents ``z``."""
        import torch

        critic = self.critic()
        if critic is None:
            return None
        args = [torch.from_numpy(np.ascontiguousarray(images))]
        classes = self._classes("discriminator")
        if classes:
            args.append(torch.from_numpy(labels_for(z, classes)))
        with torch.no_grad():
            return critic(*args).numpy().astype(np.float64)

    def real_images(self, n: int) -> np.ndarray | None:
        """Real images of the run's data set; None when it is unknown or not on this machine."""
        from ganport.train.data import load_dataset

        if self.checkpoint is None:
            return None
        model = self.checkpoint.config.model
        try:
            data = load_dataset(self.checkpoint.config.data, model.image_size, model.channels)
        except InputError:
            return None
        return data.images[: max(n, 256)].numpy()

    def _classes(self, role: str) -> int:
        """Classes of the ``role`` model's labels input (0: it takes none)."""
        if self.checkpoint is not None:
            own = self.checkpoint.config.model.own or {}
            layout = own.get(role, {}).get("layout", {})
        else:
            layout = self.sources.get(role, {}).get("layout", {})
        return int(layout.get("classes") or 0)

    def _user_module(self, role: str) -> Any:
        from ganport.train.adapt import ContractDiscriminator, ContractGenerator, Layout
        from ganport.train.user_model import ModelSource, build_model

        if role not in self._built:
            source = self.sources.get(role)
            if source is None:
                raise InputError(f"{self.name}: the manifest records no {role} to compare with")
            if source.get("kind") != "module":
                raise InputError(
                    f"{self.name}: the {role} was tagged from an ONNX file; there is no torch "
                    "model to compare it with"
                )
            model = build_model(ModelSource.from_dict(source), role)
            wrapper = ContractGenerator if role == "generator" else ContractDiscriminator
            self._built[role] = wrapper(model, Layout.from_dict(source["layout"])).eval()
        return self._built[role]


def load_reference(
    checkpoint: str | os.PathLike[str] | None,
    models: list[Path],
    hint: str = "give the checkpoint",
) -> Reference:
    """The reference for ``models``: ``checkpoint`` when given, else what the manifest of
    their folder names (its checkpoint, or the models written elsewhere it records);
    ``hint`` says how the caller's user gives a checkpoint instead."""
    from ganport.train.checkpoint import load_checkpoint

    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        return Reference(str(checkpoint), ckpt.sha256, checkpoint=ckpt)
    folder = models[0].parent
    try:
        source = read_manifest(folder).source
    except InputError as exc:
        raise InputError(f"{exc}, so no torch model to compare with; {hint}") from exc
    if source.models:
        return Reference(str(folder), source.sha256, sources=source.models)
    if not source.checkpoint:
        raise InputError(f"{folder}: its manifest names no source checkpoint; {hint}")
    named = Path(source.checkpoint)
    # As written, beside the manifest, or moved into the export folder with it.
    for candidate in (named, folder / named, folder / named.name):
        if candidate.is_file():
            ckpt = load_checkpoint(candidate)
            return Reference(str(candidate), ckpt.sha256, checkpoint=ckpt)
    raise InputError(f"{folder}: its checkpoint {source.checkpoint} is not here; {hint}")


def _class_as_labels(generator: Any) -> Any:
    """A conditional ganport generator exported with its class as a ``labels`` input (the
    mobile form, ``export.rewrite.ClassInput``) is compared with the same wrapper."""
    from ganport.export.rewrite import ClassInput, reads_class_from_latent

    return ClassInput(generator) if reads_class_from_latent(generator) else generator
