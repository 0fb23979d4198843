"""Checkpoints: one ``torch.save`` file of plain data, written atomically, read safely.

Plain data only (dicts, lists, numbers, strings, tensors) so that loading uses
``torch.load(weights_only=True)`` and a downloaded checkpoint can never run code.
"""

from __future__ import annotations

import errno
import os
import pickle
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganport import __version__
from ganport.core.atomic import atomic_path
from ganport.core.errors import InputError, first_line
from ganport.core.manifest import sha256_file
from ganport.train.config import TrainConfig
from ganport.train.models import build_discriminator, build_generator

FORMAT = "ganport-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("config", "generator", "generator_ema", "discriminator", "step", "epoch")


def versions() -> dict[str, str]:
    """Versions of what produced an artifact; stored in checkpoints and reports."""
    return {
        "ganport": __version__,
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
    }


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` via a temp file and a rename: never a half-written file."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": versions(), **state}
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:  # torch reports a failed write (full disk) this way
            raise OSError(errno.EIO, first_line(exc)) from exc
    return Path(path)


@dataclass
class Checkpoint:
    """A loaded checkpoint: its config, raw state, and builders for its models."""

    path: Path | None
    config: TrainConfig
    state: dict[str, Any]
    sha256: str

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    def generator(self, ema: bool = True) -> nn.Module:
        """The generator in eval mode; G_ema (the default) or the raw trained weights."""
        return self._build(build_generator, "generator_ema" if ema else "generator")

    def discriminator(self) -> nn.Module:
        """The discriminator in eval mode."""
        return self._build(build_discriminator, "discriminator")

    def _build(self, builder: Any, key: str) -> nn.Module:
        model = builder(self.config.model)
        try:
            model.load_state_dict(self.state[key])
        except (RuntimeError, KeyError, TypeError) as exc:
            raise InputError(
                f"{self.path}: weights {key!r} do not fit the model ({first_line(exc)})"
            ) from exc
        return model.eval()


def load_plain(path: str | os.PathLike[str], what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)`` with one clear InputError for every bad file.

    Shared by everything ganport reads with torch.load, so no reader can fall back to a
    full unpickle; ``what`` names the kind of file in the messages.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:
            raise InputError(
                f"{path}: refused: the file holds objects other than plain data "
                f"({found.group(1)}) and loading it could run code; ganport only loads "
                f"weights-only files"
            ) from exc
        detail = re.search(r"WeightsUnpickler error: (.*)", str(exc))
        reason = detail.group(1) if detail else "unpickling failed"
        raise InputError(f"{path}: not a readable {what} ({reason})") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError... for bad files
        raise InputError(f"{path}: not a readable {what} ({first_line(exc)})") from exc


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a ganport checkpoint safely (no arbitrary unpickling); clear errors for bad files."""
    return checkpoint_from_state(load_plain(path), Path(path))


def checkpoint_from_state(state: Any, path: Path | None = None) -> Checkpoint:
    """Validate a loaded state dict as a ganport checkpoint."""
    where = path if path is not None else "checkpoint"
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{where}: not a ganport checkpoint (no '{FORMAT}' format marker)")
    if state.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{where}: checkpoint format version {state.get('format_version')} is not supported "
            f"(this ganport reads version {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise InputError(f"{where}: checkpoint lacks {', '.join(missing)}")
    for count in ("step", "epoch"):
        value = state.get(count, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InputError(f"{where}: checkpoint {count} is {value!r}, not a count")
    if not isinstance(state["config"], dict):
        raise InputError(
            f"{where}: checkpoint config is a {type(state['config']).__name__}, not a dict"
        )
    try:
        config = TrainConfig.from_dict(state["config"])
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    digest = sha256_file(path) if path is not None else ""
    return Checkpoint(path=path, config=config, state=state, sha256=digest)
