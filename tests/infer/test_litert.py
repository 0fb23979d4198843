"""LiteRT: ``ganport export --target litert`` on a real conditional run, converted by onnx2tf
(``GANPORT_ONNX2TF``) and run on LiteRT against torch.

onnx2tf takes 10-15 s per model, so the export runs once for the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ganport.core.classes import class_edges, class_of_latent, edge_latent
from ganport.core.errors import InputError, JobFailed
from ganport.core.latent import latent
from ganport.core.metadata import metadata_from_map
from ganport.export import ExportOptions
from ganport.export.api import export_generator
from ganport.export.checks import check_on_engine
from ganport.export.targets import adjusted
from ganport.export.targets.litert import onnx2tf_command
from ganport.infer.engines import EngineMissing, get_engine
from tests.conftest import run_ganport, train_run
from train.checkpoint import load_checkpoint

try:
    LITERT = get_engine("litert")
    ONNX2TF = onnx2tf_command()
except (EngineMissing, InputError) as exc:
    pytest.skip(str(exc), allow_module_level=True)

FP32 = 1e-5  # fp32 tolerance of the export check (atol; rtol 1e-4)


@pytest.fixture(scope="module")
def conditional(conditional_checkpoints) -> Path:
    return conditional_checkpoints["dcgan"]


@pytest.fixture(scope="module")
def exported(conditional, tmp_path_factory) -> Path:
    """``ganport export --target litert`` of the conditional DCGAN 28, as a user runs it."""
    out = tmp_path_factory.mktemp("litert")
    done = run_ganport("export", conditional, "--out", out, "--target", "litert")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def generator(conditional) -> torch.nn.Module:
    return load_checkpoint(conditional).generator()


def _torch(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_export_writes_checked_tflite_for_the_fixed_batch(exported):
    names = sorted(p.name for p in exported.glob("*.tflite"))
    assert names == ["discriminator_batch1.tflite", "generator_batch1.tflite"]
    manifest = json.loads((exported / "manifest.json").read_text())
    for entry in manifest["models"]:
        props = {p.key: p.value for p in onnx.load(exported / entry["file"]).metadata_props}
        meta = metadata_from_map(props)
        if entry["static_batch"] is None:  # the symbolic-batch export: no .tflite, as asked
            assert entry["target"] is None
            assert meta.target == ""
            assert meta.rewrites == (["gemm stem"] if meta.role == "generator" else [])
            continue
        assert meta.rewrites == []  # the stem as its ConvTranspose, which converts exactly
        target = entry["target"]
        assert target["name"] == target["runtime"] == "litert"
        assert target["file"] == entry["file"].replace(".onnx", ".tflite")
        assert target["check"]["passed"], target["check"]["problems"]
        assert target["check"]["batches"][0]["max_abs_err"] < FP32
        assert meta.target == "litert"


def test_tflite_runs_torch_images_and_logits(exported, conditional, generator):
    z = latent(1, generator.nz, seed=3)
    (images,) = LITERT.load(exported / "generator_batch1.tflite").run({"z": z})
    want = _torch(generator, z)
    assert images.shape == want.shape == (1, 1, 28, 28)  # NCHW, as the ONNX file
    np.testing.assert_allclose(images, want, atol=FP32, rtol=1e-4)
    (logits,) = LITERT.load(exported / "discriminator_batch1.tflite").run({"image": want})
    np.testing.assert_allclose(
        logits, _torch(load_checkpoint(conditional).discriminator(), want), atol=FP32, rtol=1e-4
    )


def test_class_edge_latents_draw_torch_class(exported, conditional, generator):
    """z[:, 0] on and beside every class edge: LiteRT draws the class torch draws (its
    image is torch's, and the neighbouring class's image is far from it)."""
    model = LITERT.load(exported / "generator_batch1.tflite")
    classes = load_checkpoint(conditional).config.model.classes
    z = edge_latent(latent(4 * classes, generator.nz, seed=1), classes)
    drawn = class_of_latent(z, classes)
    assert len(set(drawn.tolist())) == classes  # the rows cover every class
    for row in z:
        got = model.run({"z": row[None]})[0]
        want = _torch(generator, row[None])
        np.testing.assert_allclose(got, want, atol=FP32, rtol=1e-4)
    # a class apart is far more than the tolerance: a drawn class that moved would fail
    edge = class_edges(classes)[0]
    below, above = z[:1].copy(), z[:1].copy()
    below[0, 0], above[0, 0] = np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf)
    assert np.abs(_torch(generator, below) - _torch(generator, above)).max() > 100 * FP32


def test_dcgan64_generator_converts_only_without_the_gemm_stem(tmp_path):
    """The 64×64 G's Gemm stem (reshaped to 4×4) gives a file LiteRT cannot run, which the
    check catches; the stem the target exports, a ConvTranspose on 1×1, converts exactly."""
    ckpt = train_run(tmp_path / "run", "dcgan", 64)
    options = adjusted(ExportOptions(target="litert"))
    assert options.static_batch == 1 and not options.gemm_stem
    with pytest.raises(JobFailed, match="TRANSPOSE_CONV"):
        export_generator(ckpt, tmp_path / "stem.onnx", options=replace(options, gemm_stem=True))
    assert not list(tmp_path.glob("stem*"))
    result = export_generator(ckpt, tmp_path / "generator_batch1.onnx", options=options)
    assert result.target["check"]["passed"]
    assert result.target["check"]["batches"][0]["max_abs_err"] < FP32
    assert (tmp_path / "generator_batch1.tflite").exists()


class _LabelsGenerator(torch.nn.Module):
    """A conditional G as most user code writes it: labels as a second input."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 10)
        self.net = torch.nn.Sequential(
            torch.nn.ConvTranspose2d(26, 16, 7, 1, 0),
            torch.nn.ReLU(),
            torch.nn.ConvTranspose2d(16, 1, 4, 2, 1),
            torch.nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(labels)], 1)[:, :, None, None])


def test_labels_input_generator_runs_with_its_labels(tmp_path):
    torch.manual_seed(0)
    module = _LabelsGenerator().eval()
    options = replace(adjusted(ExportOptions(target="litert")), static_batch=2)
    result = export_generator(module, tmp_path / "g.onnx", nz=16, options=options)
    assert result.target["check"]["passed"], result.target["check"]["problems"]
    model = LITERT.load(tmp_path / "g.tflite")
    assert model.input_names == ["z", "labels"]
    z, labels = latent(2, 16, seed=0), np.array([3, 7])
    with torch.no_grad():
        want = module(torch.from_numpy(z), torch.from_numpy(labels)).numpy()
        swapped = module(torch.from_numpy(z), torch.from_numpy(labels[::-1].copy())).numpy()
    got = model.run({"z": z, "labels": labels})[0]
    np.testing.assert_allclose(got, want, atol=FP32, rtol=1e-4)
    assert np.abs(got - swapped).max() > 100 * FP32  # the labels input is what it reads


def test_another_batch_is_refused(exported, generator):
    model = LITERT.load(exported / "generator_batch1.tflite")
    with pytest.raises(InputError, match="converted for batch 1"):
        model.run({"z": latent(2, generator.nz, seed=0)})


def test_tflite_of_another_checkpoint_fails_the_check(exported, dcgan28_checkpoint):
    other = load_checkpoint(dcgan28_checkpoint).generator()
    z = latent(1, other.nz, seed=0)
    loaded = LITERT.load(exported / "generator_batch1.tflite")
    report = check_on_engine(loaded, "litert", lambda x: _torch(other, x), [z], static_batch=1)
    assert not report.passed
    assert "differ from torch" in report.problems[0]


def test_plain_onnx2tf_output_layout_fails_the_check(exported, generator, tmp_path):
    """onnx2tf run as it is writes the DCGAN G's image channels-last; the check catches it
    (the target's conversion keeps ONNX's layout, so the export passes)."""
    subprocess.run(
        [ONNX2TF, "-i", exported / "generator_batch1.onnx", "-o", tmp_path, "-n"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    loaded = LITERT.load(tmp_path / "generator_batch1_float32.tflite")
    z = latent(1, generator.nz, seed=0)
    report = check_on_engine(loaded, "litert", lambda x: _torch(generator, x), [z], static_batch=1)
    assert not report.passed
    assert "output shape on litert is [1, 28, 28, 1]" in report.problems[0]


@pytest.mark.parametrize(("flag", "reason"), [("--fp16", "ConcatV2"), ("--int8", "int8 DCGAN G")])
def test_fp16_and_int8_are_refused_saying_why(conditional, tmp_path, flag, reason):
    done = run_ganport("export", conditional, "--out", tmp_path, "--target", "litert", flag)
    assert done.returncode == 2
    assert reason in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.onnx"))


def test_missing_onnx2tf_is_one_line_saying_how_to_install(conditional, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GANPORT_ONNX2TF"}
    env["PATH"] = str(Path(sys.executable).parent)  # no onnx2tf there
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganport",
            "export",
            conditional,
            "--out",
            tmp_path,
            "--which",
            "discriminator",
            "--target",
            "litert",
            "--no-check",  # the conversion is refused before any check runs
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 2
    assert "pip install onnx2tf==" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("discriminator_batch1*"))
