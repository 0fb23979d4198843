"""Imports only run downwards, and the runtime never reaches torch.

Every import statement of the installed packages counts, the lazy ones inside functions
too: a lazy upward import is still an upward arrow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where each installed package's files live in the repository (see pyproject.toml).
FOLDERS = {
    "ganport": ROOT / "ganport",
    "ganport.train": ROOT / "train",
    "ganport.export": ROOT / "export",
    "ganport.infer": ROOT / "infer",
}

# Each layer and the ganport layers it may import (itself included). Lower first.
LAYERS = {
    "ganport.core": {"ganport.core"},
    "ganport.infer.runtime": {"ganport.core", "ganport.infer.runtime"},
    "ganport.infer": {"ganport.core", "ganport.infer.runtime"},  # the package's own __init__
    # other runtimes than ONNX Runtime, each imported only inside its own engine() (no torch)
    "ganport.infer.engines": {"ganport.core", "ganport.infer.runtime", "ganport.infer.engines"},
    "ganport.train": {"ganport.core", "ganport.train"},
    "ganport.export": {
        "ganport.core",
        "ganport.infer.runtime",
        "ganport.infer.engines",
        "ganport.train",
        "ganport.export",
    },
    "ganport.infer.quality": {
        "ganport.core",
        "ganport.infer.runtime",
        "ganport.train",
        "ganport.infer.quality",
    },
    "ganport.infer.compare": {
        "ganport.core",
        "ganport.infer.runtime",
        "ganport.infer.engines",
        "ganport.train",
        "ganport.export",
        "ganport.infer.quality",
        "ganport.infer.compare",
    },
    "ganport.web": {"ganport.core", "ganport.infer.runtime", "ganport.web"},
    "ganport.pipeline": {
        "ganport.core",
        "ganport.infer",
        "ganport.infer.runtime",
        "ganport.infer.engines",
        "ganport.train",
        "ganport.export",
        "ganport.infer.quality",
        "ganport.infer.compare",
        "ganport.pipeline",
    },
    "ganport.cli": {
        "ganport.core",
        "ganport.web",
        "ganport.infer",
        "ganport.infer.runtime",
        "ganport.infer.engines",
        "ganport.train",
        "ganport.export",
        "ganport.infer.quality",
        "ganport.infer.compare",
        "ganport.pipeline",
        "ganport.cli",
    },
}
# Third-party packages a layer must never import.
FORBIDDEN = {
    "ganport.core": {"torch", "onnx", "onnxruntime", "onnxscript"},
    "ganport.infer.runtime": {"torch", "onnx", "onnxscript", "sklearn", "scipy", "mlxtend"},
    "ganport.infer": {"torch", "onnx", "onnxscript"},
    "ganport.infer.engines": {"torch", "onnxscript", "sklearn", "scipy", "mlxtend"},
    "ganport.train": {"onnxruntime"},
    "ganport.web": {"torch", "onnx", "onnxscript", "sklearn", "scipy", "mlxtend"},
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            if package == "ganport" and parts[0] in ("train", "export", "infer"):
                continue
            found.append((name, path))
    return found


def _layer(module: str) -> str | None:
    """The most specific layer a module belongs to (None: the top-level ``ganport``)."""
    matches = [layer for layer in LAYERS if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def _imports(path: Path, module: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = module.rsplit(".", node.level)[0]
                names.append(f"{base}.{node.module}" if node.module else base)
            else:
                names.append(node.module or "")
    return names


def violations() -> list[str]:
    found = []
    for module, path in _modules():
        layer = _layer(module)
        if layer is None:
            continue
        for name in _imports(path, module):
            if name == "ganport" or name.startswith("ganport."):
                target = _layer(name)
                if target is not None and target not in LAYERS[layer]:
                    found.append(f"{module} imports {name} ({layer} → {target})")
            elif name.partition(".")[0] in FORBIDDEN.get(layer, ()):
                found.append(f"{module} imports {name}, which {layer} must not need")
    return found


def test_imports_only_run_downwards():
    assert _modules(), "no modules found: the folder map is wrong"
    assert violations() == []


def test_the_contract_check_catches_an_upward_import(tmp_path, monkeypatch):
    planted = ROOT / "infer" / "runtime" / "_planted_for_test.py"
    planted.write_text("def f():\n    import torch\n    from ganport.train import train\n")
    try:
        found = violations()
    finally:
        planted.unlink()
    assert any("imports torch" in line for line in found)
    assert any("ganport.infer.runtime → ganport.train" in line for line in found)


SHADOWS = ("train", "export", "infer", "core", "cli")


@pytest.fixture
def folder_with_user_modules(tmp_path: Path) -> Path:
    """A user's project folder whose own train.py, export.py, infer.py... raise on import."""
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(f"raise RuntimeError('the user\\'s {name}.py ran')\n")
    return tmp_path


def test_user_modules_named_like_the_stages_shadow_nothing(
    folder_with_user_modules: Path, dcgan28_checkpoint: Path
):
    out = folder_with_user_modules / "exported"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganport",
            "export",
            str(dcgan28_checkpoint),
            "--out",
            str(out),
            "--which",
            "generator",
            "--no-check",
            "--exporter",
            "torchscript",
        ],
        cwd=folder_with_user_modules,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    api = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, '');"
            "from ganport.infer import Generator; from ganport.train import load_checkpoint;"
            "from ganport.export import export_checkpoint;"
            f"print(Generator({str(out / 'generator.onnx')!r}).sample(3, seed=0).shape)",
        ],
        cwd=folder_with_user_modules,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert api.returncode == 0, api.stderr
    assert api.stdout.strip() == "(3, 1, 28, 28)"


def test_the_checkout_root_finds_the_stages_without_an_editable_install():
    """From the checkout's root, its ganport/ folder comes first on sys.path and shadows any
    install; a plain (wheel) install, as a GPU machine checking a built wheel has, would then
    miss ganport.train. Without site (so no editable install's finder), only the checkout's
    own folders and the dependencies are on the path."""
    import sysconfig

    code = (
        f"import sys; sys.path[:0] = ['', {sysconfig.get_paths()['purelib']!r}];"
        "import ganport.train, ganport.export, ganport.infer.runtime as runtime;"
        "print(ganport.train.__file__, runtime.__file__)"
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [
        str(ROOT / "train" / "__init__.py"),
        str(ROOT / "infer" / "runtime" / "__init__.py"),
    ]


def test_torch_is_imported_at_module_level_only_in_train_and_export():
    """Everywhere else torch is imported inside the functions that use it, so importing a
    module (or running ``--help``) never pays for torch, and a runtime-only install can
    import all of infer/ that does not compare with torch."""
    offenders = []
    for module, path in _modules():
        if _layer(module) in ("ganport.train", "ganport.export"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(name == "torch" or name.startswith("torch.") for name in names):
                offenders.append(f"{module} (line {node.lineno})")
    assert not offenders, f"module-level torch imports: {', '.join(offenders)}"
