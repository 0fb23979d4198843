"""``ganport web`` as a command: torch-free, and a bad input ends in one line, exit 2,
with nothing written. The page itself is tested in a real browser in tests/infer/test_web.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_ganport as ganport


def fake_onnxruntime_web(root: Path) -> Path:
    """An npm package folder holding the file names the site copies (the builder never
    runs them; the browser test uses the real package)."""
    from ganport.web.site import ORT_FILES

    package = root / "onnxruntime-web"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "onnxruntime-web", "version": "0"}))
    for name in ORT_FILES:
        (package / "dist" / name).write_text("// stand-in\n")
    return package


@pytest.mark.parametrize("broken", ["export-dir", "onnxruntime-web", "manifest"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    broken: str, dcgan28_export: Path, tmp_path: Path
):
    export, package = dcgan28_export, fake_onnxruntime_web(tmp_path)
    if broken == "export-dir":
        export = tmp_path / "no-such-export"
    elif broken == "onnxruntime-web":
        package = tmp_path / "node_modules" / "onnxruntime-web"
    else:  # a folder holding models but no manifest.json
        export = tmp_path / "no-manifest"
        export.mkdir()
        (export / "generator.onnx").write_bytes((dcgan28_export / "generator.onnx").read_bytes())
    site = tmp_path / "site"
    result = ganport("web", export, "--out", site, "--onnxruntime-web", package)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("ganport: error: ")
    if broken == "onnxruntime-web":
        assert "npm install onnxruntime-web" in result.stderr
    assert not site.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


def test_the_default_runtime_folder_is_node_modules_here(dcgan28_export: Path, tmp_path: Path):
    """Without --onnxruntime-web the site takes ./node_modules/onnxruntime-web."""
    fake_onnxruntime_web(tmp_path / "node_modules")
    result = subprocess.run(
        [sys.executable, "-m", "ganport", "web", str(dcgan28_export), "--out", "site"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "ort" / "ort.min.mjs").read_text() == "// stand-in\n"


# A fresh interpreter where torch and onnx cannot be imported, as a runtime-only install.
NO_TORCH = """
import sys
for name in ("torch", "onnx", "onnxscript"):
    sys.modules[name] = None
from ganport.cli import main
try:
    main(["web", sys.argv[1], "--out", sys.argv[2], "--onnxruntime-web", sys.argv[3]])
except SystemExit as exit_:
    assert exit_.code == 0, exit_.code
assert not sys.modules.get("ganport.train") and not sys.modules.get("ganport.export")
"""


def test_web_builds_without_torch(dcgan28_export: Path, tmp_path: Path):
    site = tmp_path / "site"
    package = fake_onnxruntime_web(tmp_path)
    args = [sys.executable, "-c", NO_TORCH, str(dcgan28_export), str(site), str(package)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    info = json.loads((site / "site.json").read_text())
    assert sorted(info["models"]) == ["discriminator", "generator"]
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    page = {"index.html", "ganport.js", "latent.js", "numpy-random.js", "onnx-metadata.js"}
    assert page | {"generator.onnx", "manifest.json"} <= names


def test_no_discriminator_and_rebuilding_an_earlier_site(dcgan28_export: Path, tmp_path: Path):
    package, site = fake_onnxruntime_web(tmp_path), tmp_path / "site"
    assert (
        ganport("web", dcgan28_export, "--out", site, "--onnxruntime-web", package).returncode == 0
    )
    result = ganport(
        "web", dcgan28_export, "--out", site, "--onnxruntime-web", package, "--no-discriminator"
    )
    assert result.returncode == 0, result.stderr
    assert not (site / "discriminator.onnx").exists()
    assert list(json.loads((site / "site.json").read_text())["models"]) == ["generator"]
    other = tmp_path / "work"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = ganport("web", dcgan28_export, "--out", other, "--onnxruntime-web", package)
    assert refused.returncode == 2 and "not a ganport site" in refused.stderr
    assert (other / "notes.txt").read_text() == "mine"
