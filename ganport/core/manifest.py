"""``manifest.json``: what one export folder holds and where it came from.

Written last by ``ganport export``, so a folder with a manifest is a complete export; its
hashes say which files belong to it, and its source names the checkpoint that ``bench``
and ``parity`` compare against.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganport.core.errors import InputError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ManifestSource:
    """What an export came from: a ganport checkpoint, or models written elsewhere.

    ``models`` (models written elsewhere only) maps each role to its origin: ``kind``
    "module" (``file`` or ``module``, ``name``, ``args``, ``weights`` and ``weights_sha256``:
    enough to rebuild the torch reference) or "onnx" (``file`` and ``sha256`` of the ONNX
    file that was tagged), with the ``layout`` it was adapted from.
    """

    checkpoint: str | None
    sha256: str
    step: int
    config: dict[str, Any]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ManifestModel:
    """One exported file, as the manifest lists it."""

    file: str
    role: str
    sha256: str
    size_bytes: int
    opset: int
    ir_version: int
    exporter: str
    precision: str
    static_batch: int | None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    export_seconds: float
    checks: dict[str, Any] | None
    quantization: dict[str, Any] | None = None  # int8 files: as in their metadata
    # weights kept beside the model (--external-data): {"file", "sha256", "size_bytes"}
    external_data: dict[str, Any] | None = None
    # --target: the runtime's file written beside this one, and its run on that runtime
    target: dict[str, Any] | None = None


@dataclass(frozen=True)
class Manifest:
    source: ManifestSource
    weights: str
    models: list[ManifestModel]
    versions: dict[str, str] = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Build and type-check; a field of the wrong type raises TypeError naming it."""
        if not isinstance(data.get("models"), list):
            raise TypeError("'models' must be a list")
        manifest = cls(
            source=_typed(ManifestSource, data["source"], "source"),
            weights=data["weights"],
            models=[_typed(ManifestModel, entry, "models[]") for entry in data["models"]],
            versions=data.get("versions", {}),
            manifest_version=data["manifest_version"],
        )
        _check_types(manifest, "manifest")
        return manifest


# The JSON types of each annotation the manifest's dataclasses use.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "str | None": (str, type(None)),
    "int | None": (int, type(None)),
    "dict[str, Any]": (dict,),
    "dict[str, str]": (dict,),
    "dict[str, dict[str, Any]]": (dict,),
    "dict[str, Any] | None": (dict, type(None)),
    "list[dict[str, Any]]": (list,),
}


def _typed(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"{where} must be a JSON object, not {type(data).__name__}")
    item = cls(**data)
    _check_types(item, where)
    return item


def _check_types(item: Any, where: str) -> None:
    for f in dataclasses.fields(item):
        allowed = _JSON_TYPES.get(str(f.type))
        value = getattr(item, f.name)
        if allowed is None:
            continue
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise TypeError(f"{where}.{f.name} is {type(value).__name__} {value!r:.40}")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks: how manifests and metadata name files."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of an export folder; a missing or damaged one is an InputError."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"{Path(folder)}: no {MANIFEST_NAME}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data["manifest_version"]
        if version != MANIFEST_VERSION:
            raise InputError(
                f"{path}: manifest version {version!r} is not supported "
                f"(this ganport reads version {MANIFEST_VERSION})"
            )
        return Manifest.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: unreadable manifest ({exc})") from exc
