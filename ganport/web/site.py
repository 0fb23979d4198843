"""Build the static site: page templates, fp32 models, manifest and onnxruntime-web files.

Everything the page loads is copied into one folder at build time, so it runs from any
static host and fetches nothing from anywhere else. The folder appears whole or not at
all: it is built beside the target and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ganport import __version__
from ganport.core.atomic import sigterm_unwinds
from ganport.core.errors import GanportError, InputError
from ganport.core.manifest import MANIFEST_NAME, Manifest, read_manifest, sha256_file
from ganport.core.metadata import ModelMetadata
from ganport.infer.runtime import Discriminator, Generator

SITE_INFO = "site.json"  # what the page reads first: models, their metadata, the runtime
PAGE_FILES = (
    "index.html",
    "ganport.js",
    "latent.js",
    "numpy-random.js",
    "onnx-metadata.js",
    "style.css",
)
# ort.min.mjs is onnxruntime-web's wasm + WebGPU build; both backends run on its JSEP wasm.
# (WebGL is not in it: it needs a static batch, see the README.)
ORT_FILES = ("ort.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")
ORT_FOLDER = "ort"
MODEL_FILES = {"generator": "generator.onnx", "discriminator": "discriminator.onnx"}


@dataclass(frozen=True)
class SiteReport:
    """What was built: the folder, the models in it and the onnxruntime-web version."""

    folder: Path
    models: tuple[str, ...]
    onnxruntime_web: str


def build_site(
    export_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    onnxruntime_web: str | os.PathLike[str],
    discriminator: bool = True,
) -> SiteReport:
    """Write the site for ``export_dir`` (a ``ganport export`` folder) to ``out``.

    ``discriminator`` False leaves D out even when the export has one. Every check runs
    before anything is written, so a bad input leaves ``out`` untouched.
    """
    export_dir, out = Path(export_dir), Path(out)
    if not export_dir.is_dir():
        raise InputError(f"{export_dir}: no such export folder")
    ort_dir, ort_version = _onnxruntime_web(Path(onnxruntime_web))
    manifest = read_manifest(export_dir)
    roles = ["generator"]
    if discriminator and (export_dir / MODEL_FILES["discriminator"]).is_file():
        roles.append("discriminator")
    metadata = {role: _checked_model(export_dir, role, manifest) for role in roles}
    _check_target(out)
    data_files = {role: _external_data(export_dir, role, manifest) for role in roles}
    info = {
        "ganport": __version__,
        "onnxruntime_web": ort_version,
        "models": {
            role: {
                "file": MODEL_FILES[role],
                "metadata": json.loads(meta.to_json()),
                **({"external_data": data_files[role]} if data_files[role] else {}),
            }
            for role, meta in metadata.items()
        },
    }
    with _staged_folder(out) as stage:
        _copy_page(stage)
        (stage / ORT_FOLDER).mkdir()
        for name in ORT_FILES:
            shutil.copyfile(ort_dir / name, stage / ORT_FOLDER / name)
        for role in roles:
            for name in (MODEL_FILES[role], data_files[role]):
                if name:
                    shutil.copyfile(export_dir / name, stage / name)
        shutil.copyfile(export_dir / MANIFEST_NAME, stage / MANIFEST_NAME)
        (stage / SITE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return SiteReport(out, tuple(MODEL_FILES[role] for role in roles), ort_version)


def _onnxruntime_web(package: Path) -> tuple[Path, str]:
    """The dist/ folder and version of an npm ``onnxruntime-web`` package folder."""
    dist = package / "dist"
    missing = [name for name in ORT_FILES if not (dist / name).is_file()]
    if missing:
        raise InputError(
            f"onnxruntime-web not found at {package} (no dist/{missing[0]}): "
            "run `npm install onnxruntime-web` there or pass --onnxruntime-web DIR"
        )
    try:
        version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{package}/package.json: not an npm package ({exc})") from exc
    return dist, str(version)


def _checked_model(export_dir: Path, role: str, manifest: Manifest) -> ModelMetadata:
    """Load the model (its metadata and graph contract checked) and match it to the manifest.

    The page feeds any batch size and reads float32, so only the fp32 dynamic-batch file
    fits; the manifest's hash proves the file is the one the export wrote.
    """
    path = export_dir / MODEL_FILES[role]
    if not path.is_file():
        raise InputError(f"{path}: no such file (the site needs the export's {role})")
    entries = [entry for entry in manifest.models if entry.file == path.name]
    if not entries:
        raise InputError(f"{path}: not listed in {MANIFEST_NAME}")
    if sha256_file(path) != entries[0].sha256:
        raise InputError(f"{path}: sha256 differs from {MANIFEST_NAME}; re-export the folder")
    model = (Generator if role == "generator" else Discriminator)(path, provider="cpu")
    meta = model.metadata
    if meta.precision != "fp32" or meta.static_batch is not None:
        raise InputError(f"{path}: the page needs the fp32 dynamic-batch {role}")
    return meta


def _external_data(export_dir: Path, role: str, manifest: Manifest) -> str | None:
    """The weights file the model keeps beside it (``export --external-data``), checked
    against the manifest's hash like the model; None for a model that holds its weights."""
    entry = next(e for e in manifest.models if e.file == MODEL_FILES[role])
    if not entry.external_data:
        return None
    path = export_dir / entry.external_data["file"]
    if not path.is_file():
        raise InputError(f"{path}: no such file (the {role}'s weights, named in {MANIFEST_NAME})")
    if sha256_file(path) != entry.external_data["sha256"]:
        raise InputError(f"{path}: sha256 differs from {MANIFEST_NAME}; re-export the folder")
    return path.name


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not an earlier site: a typo must not delete work."""
    if out.exists() and not (
        out.is_dir() and (not any(out.iterdir()) or (out / SITE_INFO).is_file())
    ):
        raise InputError(f"{out}: exists and is not a ganport site; choose an empty or new folder")


def _copy_page(stage: Path) -> None:
    static = resources.files("ganport.web") / "static"
    for name in PAGE_FILES:
        (stage / name).write_bytes((static / name).read_bytes())


@contextlib.contextmanager
def _staged_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out``, renamed over it when the block succeeds."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise GanportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    os.chmod(stage, 0o755)  # mkdtemp makes 0700; a web server must read the site
    try:
        with sigterm_unwinds():
            yield stage
        old = out.with_name(stage.name + ".old")
        if out.exists():
            os.replace(out, old)
        os.replace(stage, out)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise GanportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
