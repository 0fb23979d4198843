"""OpenVINO: its engines, and ``ganport export --target openvino`` on a real conditional run.

OpenVINO's CPU plugin computes in bfloat16 at its default settings on CPUs with bf16
units; the IR the target writes must still give torch's images and classes there.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ganport.core.classes import class_of_latent, edge_latent
from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.core.metadata import metadata_from_map
from ganport.export.checks import check_on_engine
from ganport.infer.engines import EngineMissing, get_engine
from tests.conftest import run_ganport
from train.checkpoint import load_checkpoint

try:
    OPENVINO = get_engine("openvino")
except EngineMissing as exc:
    pytest.skip(str(exc), allow_module_level=True)

BATCH = 8192  # rows per call: 100,000 latents in 13 calls


@pytest.fixture(scope="module")
def conditional(conditional_checkpoints) -> Path:
    return conditional_checkpoints["dcgan"]


@pytest.fixture(scope="module")
def exported(conditional, tmp_path_factory) -> Path:
    """``ganport export --target openvino`` of the conditional DCGAN 28, as a user runs it."""
    out = tmp_path_factory.mktemp("openvino")
    done = run_ganport("export", conditional, "--out", out, "--target", "openvino")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def generator(conditional) -> torch.nn.Module:
    return load_checkpoint(conditional).generator()


@pytest.fixture(scope="module")
def latents(conditional) -> dict[str, np.ndarray]:
    """100,000 seeded latents, and latents on and beside every class edge."""
    model = load_checkpoint(conditional).config.model
    return {
        "seeded": latent(100_000, model.nz, seed=0),
        "class edges": edge_latent(latent(196, model.nz, seed=1), model.classes),
    }


class _Drawn(torch.nn.Module):
    """A class rule that names given classes, whatever z is."""

    def __init__(self, labels: np.ndarray, classes: int) -> None:
        super().__init__()
        self.onehot = torch.from_numpy(np.eye(classes, dtype=np.float32)[labels])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.onehot


def _torch(generator: torch.nn.Module, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate(
            [generator(torch.from_numpy(z[i : i + BATCH])).numpy() for i in range(0, len(z), BATCH)]
        )


def _run(model, z: np.ndarray) -> np.ndarray:
    return np.concatenate([model.run({"z": z[i : i + BATCH]})[0] for i in range(0, len(z), BATCH)])


def _as_class(generator: torch.nn.Module, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """torch's images of ``z`` drawn as classes ``labels`` instead of those z names."""
    drawn = copy.deepcopy(generator)
    drawn.latent_class = _Drawn(labels, len(generator.latent_class.lower))
    with torch.no_grad():
        return drawn(torch.from_numpy(z)).numpy()


def _row_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want).reshape(len(got), -1).max(axis=1)


def test_export_writes_the_ir_and_records_the_target(exported):
    for role in ("generator", "discriminator"):
        assert (exported / f"{role}.xml").stat().st_size > 0
        assert (exported / f"{role}.bin").stat().st_size > 0
    assert not [f.name for f in exported.iterdir() if f.name.startswith(".")]
    manifest = json.loads((exported / "manifest.json").read_text())
    for entry in manifest["models"]:
        target = entry["target"]
        assert target["name"] == target["runtime"] == "openvino"
        assert target["file"] == entry["file"].replace(".onnx", ".xml")
        assert target["check"]["passed"] and target["check"]["atol"] == 1e-5
        assert max(b["max_abs_err"] for b in target["check"]["batches"]) < 1e-5
        props = {p.key: p.value for p in onnx.load(str(exported / entry["file"])).metadata_props}
        assert metadata_from_map(props).target == "openvino"


def test_the_ir_computes_in_float32_at_default_settings(exported, generator):
    model = OPENVINO.load(exported / "generator.xml")
    assert model.compute == "f32"
    z = latent(64, 16, seed=3)
    np.testing.assert_allclose(_run(model, z), _torch(generator, z), atol=1e-5, rtol=1e-4)


def test_the_f32_engine_agrees_on_the_onnx_file(exported, generator):
    engine = get_engine("openvino-f32")
    assert engine.compute == "f32"
    model = engine.load(exported / "generator.onnx")
    assert model.compute == "f32"
    z = latent(64, 16, seed=4)
    np.testing.assert_allclose(_run(model, z), _torch(generator, z), atol=1e-5, rtol=1e-4)


def test_default_settings_draw_torch_class_for_every_latent(exported, generator, latents):
    """100,000 seeded latents and the class-edge ones: every image is torch's, so every
    class too (a row of another class differs by far more than 1e-4)."""
    model = OPENVINO.load(exported / "generator.xml")
    for name, z in latents.items():
        errors = _row_errors(_run(model, z), _torch(generator, z))
        assert errors.max() < 1e-4, f"{name}: {np.sum(errors >= 1e-4)} rows differ"


@pytest.mark.skipif(
    OPENVINO.compute != "bf16",
    reason=f"OpenVINO computes in {OPENVINO.compute} by default on this CPU (no bf16 units), "
    "so the plain .onnx is exact here too",
)
def test_the_plain_onnx_at_default_settings_fails_the_check(exported, generator, latents):
    """The wrong result the target exists to avoid, caught by the check the export runs:
    the .onnx at OpenVINO's defaults computes in bf16, rounds z[:, 0] before the class rule
    reads it, and draws the neighbouring class for latents beside an edge."""
    model = OPENVINO.load(exported / "generator.onnx")
    assert "bf16" in model.compute
    z = latents["class edges"]
    got = _run(model, z)
    classes = len(generator.latent_class.lower)  # one lower edge per class
    named = class_of_latent(z, classes)
    own = _row_errors(got, _torch(generator, z))
    below = _row_errors(got, _as_class(generator, z, np.maximum(named - 1, 0)))
    above = _row_errors(got, _as_class(generator, z, np.minimum(named + 1, classes - 1)))
    neighbour = np.minimum(below, above) < own  # nearer another class's image than its own
    assert neighbour.sum() >= len(z) // 5, f"{neighbour.sum()} of {len(z)} rows drew another class"
    assert np.minimum(below, above)[neighbour].max() < 0.02  # that class's image, bf16-rounded
    report = check_on_engine(model, "openvino", lambda x: _torch(generator, x), [z[:64]])
    assert not report.passed
    assert "outputs differ from torch" in report.problems[0]


def test_a_missing_corrupt_or_weightless_ir_is_one_line(exported, tmp_path):
    with pytest.raises(InputError, match="no such file") as missing:
        OPENVINO.load(tmp_path / "generator.xml")
    corrupt = tmp_path / "generator.xml"
    corrupt.write_text((exported / "generator.xml").read_text()[:500])
    (tmp_path / "generator.bin").write_bytes((exported / "generator.bin").read_bytes())
    with pytest.raises(InputError, match="OpenVINO cannot read") as broken:
        OPENVINO.load(corrupt)
    (tmp_path / "generator.bin").unlink()
    corrupt.write_text((exported / "generator.xml").read_text())
    with pytest.raises(InputError, match="bin file cannot be found") as no_weights:
        OPENVINO.load(corrupt)
    for error in (missing, broken, no_weights):
        assert "\n" not in str(error.value)
