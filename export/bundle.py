"""Export a whole checkpoint: generator.onnx, discriminator.onnx and manifest.json.

The manifest (``ganport.core.manifest``) is written last: a folder with a manifest is a
complete export, and its hashes say which files belong to it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import onnx

from ganport.core.atomic import write_json
from ganport.core.errors import InputError
from ganport.core.lock import folder_lock
from ganport.core.manifest import MANIFEST_NAME, Manifest, ManifestSource
from ganport.core.metadata import ROLES
from ganport.export.api import ExportOptions, ExportResult, export_discriminator, export_generator
from ganport.train.checkpoint import Checkpoint, load_checkpoint, versions


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
    base = dataclasses.replace(options, fp16=False, int8=False, static_batch=None)
    variants = [base]
    if options.fp16:
        variants.append(dataclasses.replace(base, fp16=True))
    if options.int8:
        variants.append(dataclasses.replace(base, int8=True))
    if options.static_batch:
        variants.append(dataclasses.replace(base, static_batch=options.static_batch))
    results: list[ExportResult] = []
    with folder_lock(out, "export"):
        for role in roles:
            export = export_generator if role == "generator" else export_discriminator
            for variant in variants:
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
