"""Export a whole checkpoint: generator.onnx, discriminator.onnx and manifest.json.

The manifest (``ganport.core.manifest``) is written last: a folder with a manifest is a
complete export, and its hashes say which files belong to it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

import onnx

from ganport.core.atomic import write_json
from ganport.core.errors import InputError
from ganport.core.layout import IMAGE_FLAT
from ganport.core.lock import folder_lock
from ganport.core.manifest import MANIFEST_NAME, Manifest, ManifestSource
from ganport.core.metadata import ROLES
from ganport.export.api import ExportOptions, ExportResult, export_discriminator, export_generator
from ganport.export.targets import adjusted, for_target
from ganport.train.adapt import Hints, Layout
from ganport.train.checkpoint import Checkpoint, load_checkpoint, versions
from ganport.train.user_model import ModelSource, build_model


def variant_name(
    role: str, fp16: bool = False, static_batch: int | None = None, int8: bool = False
) -> str:
    """File name of one export variant, so variants sit side by side in one folder."""
    suffix = ("_fp16" if fp16 else "") + ("_int8" if int8 else "")
    suffix += f"_batch{static_batch}" if static_batch else ""
    return f"{role}{suffix}.onnx"


def export_checkpoint(
    checkpoint: Checkpoint | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    which: str = "both",
    options: ExportOptions | None = None,
) -> Manifest:
    """Export G and/or D of a checkpoint into ``out_dir`` (default: beside it).

    Always writes the fp32 model with a symbolic batch; ``options.fp16`` adds
    ``*_fp16.onnx``, ``options.int8`` adds ``*_int8.onnx`` and ``options.static_batch``
    adds ``*_batchN.onnx`` beside it. The folder is locked while the export writes: a second
    job writing there is refused.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    if which not in (*ROLES, "both"):
        raise InputError(f"--which must be generator, discriminator or both, not {which!r}")
    options = options or ExportOptions()
    out = Path(out_dir) if out_dir is not None else Path(ckpt.path or ".").parent
    roles = ROLES if which == "both" else (which,)
    results: list[ExportResult] = []
    with folder_lock(out, "export"):
        for role in roles:
            export = export_generator if role == "generator" else export_discriminator
            for variant in _variants(options):
                name = variant_name(role, variant.fp16, variant.static_batch, variant.int8)
                results.append(export(ckpt, out / name, options=variant))
        manifest = Manifest(
            source=ManifestSource(
                checkpoint=str(ckpt.path) if ckpt.path else None,
                sha256=ckpt.sha256,
                step=ckpt.step,
                config=ckpt.config.to_dict(),
            ),
            weights=options.weights,
            models=[r.describe() for r in results],
            versions={**versions(), "onnx": onnx.__version__},
        )
        write_json(out / MANIFEST_NAME, manifest.to_dict())
    return manifest


def export_user_models(
    generator: ModelSource | None,
    discriminator: ModelSource | None,
    out_dir: str | os.PathLike[str],
    hints: Hints | None = None,
    options: ExportOptions | None = None,
    report: Callable[[str], object] = lambda line: None,
) -> Manifest:
    """Export models written elsewhere (their class and weights) into ``out_dir``, with the
    variants ``options`` asks for and a manifest that records their sources, so parity and
    bench can rebuild the torch models. ``report`` hears what probing found, per model.

    A pair is probed generator first: the discriminator reads the images it makes.
    """
    if generator is None and discriminator is None:
        raise InputError("nothing to export: give a generator, a discriminator or both")
    hints, options = hints or Hints(), options or ExportOptions()
    out = Path(out_dir)
    results: list[ExportResult] = []
    image_shape, sources = None, {}
    with folder_lock(out, "export"):
        for role, source in (("generator", generator), ("discriminator", discriminator)):
            if source is None:
                continue
            module = build_model(source, role)
            sources[role] = source.to_dict()
            for variant in _variants(options):
                name = variant_name(role, variant.fp16, variant.static_batch, variant.int8)
                origin = {
                    "hints": hints,
                    "options": variant,
                    "source_sha256": source.weights_sha256,
                }
                if role == "generator":
                    result = export_generator(module, out / name, **origin)
                    image_shape = result.metadata.image_shape
                    hints = _pair_hints(hints, result)
                else:
                    result = export_discriminator(
                        module, out / name, image_shape=image_shape, **origin
                    )
                results.append(result)
            report(f"{role}: {_found_line(results[-1])}")
            sources[role]["layout"] = results[-1].metadata.source_layout
        first = generator or discriminator
        manifest = Manifest(
            source=ManifestSource(
                checkpoint=None, sha256=first.weights_sha256, step=0, config={}, models=sources
            ),
            weights="raw",
            models=[r.describe() for r in results],
            versions={**versions(), "onnx": onnx.__version__},
        )
        write_json(out / MANIFEST_NAME, manifest.to_dict())
    return manifest


def _variants(options: ExportOptions) -> list[ExportOptions]:
    """The fp32 model with a symbolic batch, then each variant ``options`` asks for; those
    its target takes in the form the target needs (``targets.for_target``), the others as
    asked, so a target for one runtime never changes the files every other runtime reads."""
    prepared = adjusted(options)
    base = dataclasses.replace(prepared, fp16=False, int8=False, static_batch=None)
    variants = [base]
    if prepared.fp16:
        variants.append(dataclasses.replace(base, fp16=True))
    if prepared.int8:
        variants.append(dataclasses.replace(base, int8=True))
    if prepared.static_batch:
        variants.append(dataclasses.replace(base, static_batch=prepared.static_batch))
    return [for_target(variant, options) for variant in variants]


def _pair_hints(hints: Hints, generator: ExportResult) -> Hints:
    """A pair's D reads what its G makes: the G's image range unless one was declared."""
    if hints.image_range is not None:
        return hints
    found = tuple(generator.metadata.source_layout.get("image_range", (-1.0, 1.0)))
    return dataclasses.replace(hints, image_range=found)


def _found_line(result: ExportResult) -> str:
    """What probing found, in words: the layout as written, which the export adapts."""
    found = Layout.from_dict(result.metadata.source_layout)
    lo, hi = found.image_range
    shape = ", ".join(map(str, found.image_shape))
    if found.image == IMAGE_FLAT:
        shape = f"{math.prod(found.image_shape)}) = ({shape}"
    images = f"images (N, {shape}) in [{lo:g}, {hi:g}]"
    labels = f" + labels (N,) of {found.classes} classes" if found.classes else ""
    notes = "".join(f"; {note}" for note in found.notes)
    if found.role == "generator":
        return f"z {found.z.replace('nz', str(found.nz))}{labels} → {images}{notes}"
    return f"{images}{labels} → {found.d_output} {found.output_shape}{notes}"
