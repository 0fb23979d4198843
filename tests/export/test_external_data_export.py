"""``ganport export --external-data``: weights in FILE.onnx.data beside each model, and
every reader ganport ships (Python runtime, parity, Node, older onnxruntime) loads them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from ganport.core.latent import latent
from ganport.infer import Discriminator, Generator
from ganport.infer.compare import compat
from tests.conftest import compat_runtime
from tests.conftest import run_ganport as ganport


@pytest.fixture(scope="module")
def external_export(tmp_path_factory, conditional_checkpoints) -> Path:
    out = tmp_path_factory.mktemp("external") / "export"
    checkpoint = conditional_checkpoints["dcgan"]
    proc = ganport("export", checkpoint, "--out", out, "--external-data", "--fp16")
    assert proc.returncode == 0, proc.stderr
    return out


def test_weights_go_beside_each_model_and_the_manifest_hashes_them(external_export):
    import hashlib

    manifest = json.loads((external_export / "manifest.json").read_text())
    for entry in manifest["models"]:
        data = external_export / entry["external_data"]["file"]
        assert data.name == entry["file"] + ".data"
        assert hashlib.sha256(data.read_bytes()).hexdigest() == entry["external_data"]["sha256"]
        model = onnx.load(str(external_export / entry["file"]), load_external_data=False)
        external = [
            t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
        ]
        assert external, f"{entry['file']} holds all its weights inline"
        # the model file itself is small: its weights are in the data file
        assert (external_export / entry["file"]).stat().st_size < data.stat().st_size
    assert not list(external_export.glob(".*")), "staging files were left behind"


def test_the_runtime_and_parity_read_them_as_the_inline_export(
    external_export, conditional_checkpoints, tmp_path
):
    inline = tmp_path / "inline"
    assert ganport("export", conditional_checkpoints["dcgan"], "--out", inline).returncode == 0
    z = latent(9, 16, seed=2)
    got = Generator(external_export / "generator.onnx", provider="cpu").generate(z)
    want = Generator(inline / "generator.onnx", provider="cpu").generate(z)
    np.testing.assert_array_equal(got, want)
    score = Discriminator(external_export / "discriminator.onnx", provider="cpu").score(want)
    assert np.allclose(score, Discriminator(inline / "discriminator.onnx").score(want))
    proc = ganport("parity", external_export, "--samples", "0", "--seeds", "0")
    assert proc.returncode == 0, proc.stderr
    assert "parity PASS" in proc.stdout


@pytest.mark.parametrize("kind", ["onnxruntime-node", "older-0"])
def test_node_and_older_onnxruntime_load_them(
    kind, external_export, conditional_checkpoints, tmp_path
):
    runtime = compat_runtime(kind)
    family = {"conditional dcgan28": conditional_checkpoints["dcgan"]}
    folders = {"conditional dcgan28": {"default": external_export, "fp16": external_export}}
    matrix = compat.run_matrix(family, [runtime], tmp_path, exported=folders)
    assert matrix.cells and all(c.passed for c in matrix.cells), matrix.table()


def test_exporting_again_without_it_leaves_no_stale_weights(tmp_path, dcgan28_checkpoint):
    out = tmp_path / "export"
    assert ganport("export", dcgan28_checkpoint, "--out", out, "--external-data").returncode == 0
    assert (out / "generator.onnx.data").is_file()
    assert ganport("export", dcgan28_checkpoint, "--out", out).returncode == 0
    assert not list(out.glob("*.data"))
    assert Generator(out / "generator.onnx").generate(latent(2, 16, seed=0)).shape == (2, 1, 28, 28)
