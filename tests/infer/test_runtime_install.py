"""The base install (no extras) samples and scores exported models, without torch.

Needs a separate environment with the built wheel installed alone (no extras): .ci/run
builds the wheel and the sdist with ``python -m build``, installs the wheel in a fresh venv
and names its interpreter in GANPORT_RUNTIME_PYTHON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

RUNTIME_PYTHON = os.environ.get("GANPORT_RUNTIME_PYTHON")

pytestmark = pytest.mark.skipif(
    not RUNTIME_PYTHON,
    reason="GANPORT_RUNTIME_PYTHON names no runtime-only install (.ci/run makes one)",
)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RUNTIME_PYTHON, *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_runtime_install_has_no_torch_and_samples_and_scores(dcgan28_export: Path, tmp_path):
    assert _run("-c", "import torch", cwd=tmp_path).returncode != 0, "torch is installed"
    sample = _run(
        "-m",
        "ganport",
        "sample",
        str(dcgan28_export / "generator.onnx"),
        "-n",
        "6",
        "--seed",
        "3",
        "--provider",
        "cpu",
        "--npy",
        "s.npy",
        "--out",
        "s.png",
        cwd=tmp_path,
    )
    assert sample.returncode == 0, sample.stderr
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (6, 1, 28, 28) and np.abs(images).max() <= 1.0

    from ganport.infer import Generator  # the full install, in this process

    expected = Generator(dcgan28_export / "generator.onnx", provider="cpu").sample(6, seed=3)
    np.testing.assert_allclose(images, expected, rtol=1e-5, atol=1e-6)
    score = _run(
        "-m",
        "ganport",
        "score",
        str(dcgan28_export / "discriminator.onnx"),
        "s.npy",
        "--json",
        "r.json",
        cwd=tmp_path,
    )
    assert score.returncode == 0, score.stderr
    assert json.loads((tmp_path / "r.json").read_text())["count"] == 6


@pytest.mark.parametrize("command", ["train", "export", "parity", "evaluate"])
def test_commands_of_the_training_side_name_the_extra(
    command, dcgan28_checkpoint, dcgan28_export, tmp_path
):
    args = {
        "train": ["--out", "run", "--steps", "1"],
        "export": [str(dcgan28_checkpoint)],
        "parity": [str(dcgan28_checkpoint), str(dcgan28_export)],
        "evaluate": [str(dcgan28_export / "generator.onnx")],
    }[command]
    result = _run("-m", "ganport", command, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "pip install 'ganport[train]'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_installed_console_script_names_this_version(tmp_path):
    from ganport import __version__

    script = Path(RUNTIME_PYTHON).parent / "ganport"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ganport, version {__version__}\n"


def test_the_installed_package_carries_its_data_files(tmp_path):
    """Plain files beside the code (the compatibility matrix's runners, the web page's
    static files) and the license: the wheel has them."""
    from ganport import __version__

    script = (
        "from importlib.resources import files;"
        "from importlib.metadata import distribution;"
        "runners = files('ganport.infer.compare') / 'runners';"
        "static = files('ganport.web') / 'static';"
        "print(sorted(p.name for p in runners.iterdir() if p.suffix in ('.py', '.cjs')));"
        "print(sorted(p.name for p in static.iterdir() if p.is_file()));"
        "print([str(f) for f in distribution('ganport').files if f.name == 'LICENSE'])"
    )
    result = _run("-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runners, static, license_files = result.stdout.splitlines()
    assert runners == "['run_models.cjs', 'run_models.py']"
    # Every file of the page in the source tree, and nothing else.
    import ganport.web

    in_tree = Path(ganport.web.__file__).parent / "static"
    assert static == str(sorted(p.name for p in in_tree.iterdir() if p.is_file()))
    assert "numpy-random.js" in static
    assert license_files == f"['ganport-{__version__}.dist-info/licenses/LICENSE']"
