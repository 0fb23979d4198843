"""A model written elsewhere: its class from a file or module, its weights from a file.

``ganport export netG.pth --model dcgan.py:Generator`` names the model's source the way
uvicorn or gunicorn name an app (``FILE.py:NAME`` or ``package.module:NAME``); ``NAME`` is a
class or a factory, called with ``--model-args``. The weights are read weights-only, so a
file can never run code; where they came from (the source, the arguments and the weights'
sha256) is kept, so parity can rebuild the same torch model later and notice a change.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganport.core.errors import InputError, first_line
from ganport.core.manifest import sha256_file
from ganport.train.checkpoint import load_plain

# Keys under which training scripts keep a model's state_dict inside a bigger dict.
WEIGHT_KEYS = {
    "generator": ("generator", "netG", "G", "gen", "g_ema", "generator_state_dict", "G_state"),
    "discriminator": ("discriminator", "netD", "D", "disc", "critic", "discriminator_state_dict"),
}
COMMON_KEYS = ("state_dict", "model_state_dict", "model", "weights", "params", "net")
# Prefixes that wrappers add to every key: DataParallel/DDP, torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class ModelSource:
    """Where a user's model comes from: ``spec`` (``FILE.py:NAME`` or ``module:NAME``),
    constructor ``args``, and the ``weights`` file with its sha256."""

    spec: str
    args: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    weights_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "module", **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSource:
        return cls(
            spec=data["spec"],
            args=dict(data.get("args") or {}),
            weights=data.get("weights"),
            weights_sha256=data.get("weights_sha256", ""),
        )


def model_source(
    spec: str, args: Mapping[str, Any] | None = None, weights: str | os.PathLike[str] | None = None
) -> ModelSource:
    """A ModelSource whose paths are absolute (the manifest must hold wherever it is read)."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise InputError(f"model {spec!r}: give it as FILE.py:NAME or package.module:NAME")
    if target.endswith(".py"):
        target = str(Path(target).resolve())
    digest = ""
    if weights is not None:
        weights = str(Path(weights).resolve())
        if not Path(weights).is_file():
            raise InputError(f"{weights}: no such weights file")
        digest = sha256_file(weights)
    return ModelSource(f"{target}:{name}", dict(args or {}), weights, digest)


def build_model(source: ModelSource, role: str) -> nn.Module:
    """The model, built from its source and loaded with its weights, in eval mode.

    A weights file that changed since ``source`` was recorded is refused: the torch model
    would no longer be the one the ONNX file was exported from.
    """
    module = instantiate(source.spec, source.args)
    if source.weights is not None:
        if source.weights_sha256 and Path(source.weights).is_file():
            digest = sha256_file(source.weights)
            if digest != source.weights_sha256:
                raise InputError(
                    f"{source.weights}: changed since the export (sha256 {digest[:12]}…, "
                    f"exported from {source.weights_sha256[:12]}…)"
                )
        load_weights(module, source.weights, role)
    return module.eval()


def instantiate(spec: str, args: Mapping[str, Any]) -> nn.Module:
    """Import ``spec``'s NAME and call it with ``args``; it must give an nn.Module."""
    target, _, name = spec.rpartition(":")
    namespace = _import(target)
    if not hasattr(namespace, name):
        found = sorted(
            n
            for n, v in vars(namespace).items()
            if isinstance(v, type) and issubclass(v, nn.Module)
        )
        hint = f"; its nn.Module classes: {', '.join(found)}" if found else ""
        raise InputError(f"{target} has no {name!r}{hint}")
    factory = getattr(namespace, name)
    if not callable(factory):
        raise InputError(f"{target}:{name} is not a class or a function")
    try:
        module = factory(**args)
    except Exception as exc:
        raise InputError(f"{spec}({_call_args(args)}) failed: {first_line(exc)}") from exc
    if not isinstance(module, nn.Module):
        raise InputError(
            f"{spec}({_call_args(args)}) gave a {type(module).__name__}, not an nn.Module"
        )
    return module


def load_weights(module: nn.Module, path: str | os.PathLike[str], role: str) -> None:
    """Load ``path``'s state_dict into ``module``, naming every key that does not fit."""
    state = _strip_prefixes(_state_dict_of(read_weights(path), role, Path(path)))
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = [
        f"{label}: {_listed(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        )
        if keys
    ]
    if problems:
        raise InputError(
            f"{path}: the weights do not fit {type(module).__name__} ({'; '.join(problems)})"
        )
    module.load_state_dict(state)


def read_weights(path: str | os.PathLike[str]) -> Any:
    """A ``torch.save`` file (weights only) or a ``.safetensors`` file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return load_plain(path, "weights file")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise InputError(f"{path}: no such weights file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({first_line(exc)})") from exc


def _state_dict_of(data: Any, role: str, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in ``data``: itself, or under the role's or a common key."""
    if _is_state_dict(data):
        return data
    if not isinstance(data, dict):
        raise InputError(f"{path}: holds a {type(data).__name__}, not a state_dict")
    for key in (*WEIGHT_KEYS.get(role, ()), *COMMON_KEYS):
        if key in data and _is_state_dict(data[key]):
            return data[key]
    keys = ", ".join(map(str, list(data)[:8]))
    raise InputError(
        f"{path}: no state_dict for the {role} in this file (its keys: {keys}); save "
        f"model.state_dict(), or a dict holding it under '{WEIGHT_KEYS[role][1]}' or 'state_dict'"
    )


def _is_state_dict(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())
    )


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def _import(target: str) -> Any:
    """A module from a file path (its folder importable while it loads) or a dotted name."""
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise InputError(f"{path}: no such model file")
            name = f"ganport_user_{path.stem}_{abs(hash(str(path)))}"
            if name in sys.modules:
                return sys.modules[name]
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[name] = module  # dataclasses and pickling look their module up
            try:
                with _importable(path.parent):
                    spec.loader.exec_module(module)  # type: ignore[union-attr]
            except BaseException:
                del sys.modules[name]
                raise
            return module
        with _importable(Path.cwd()):
            return importlib.import_module(target)
    except InputError:
        raise
    except SystemExit as exc:  # a training script's argparse ran at import
        raise InputError(
            f"{target}: importing it ran a script that exited ({exc.code}); put the model "
            "classes in a file that does not train or parse arguments when imported"
        ) from exc
    except Exception as exc:
        raise InputError(f"cannot import {target}: {first_line(exc)}") from exc


@contextlib.contextmanager
def _importable(folder: Path) -> Iterator[None]:
    """``folder`` on sys.path while a user's file imports its own neighbours."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _listed(keys: list[str], limit: int = 4) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _call_args(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())
