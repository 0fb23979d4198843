"""`ganport export --target ort-mobile`: ONNX Runtime's own format (.ort) of a conditional
DCGAN in the form NNAPI and CoreML can run, run on the ort-format engine against torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ganport.core.classes import edge_latent, labels_for
from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.core.metadata import METADATA_KEY
from ganport.export.targets.ort_mobile import usability
from ganport.infer import Generator
from ganport.infer.engines import get_engine
from ganport.train.checkpoint import load_checkpoint
from tests.conftest import train_run

CLASSES = 10
EXECUTION_PROVIDERS = ("NNAPI", "CoreML NeuralNetwork", "CoreML MLProgram")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-conditional DCGAN 28 trained 6 real steps."""
    return train_run(tmp_path_factory.mktemp("cdcgan28"), "dcgan", 28, classes=CLASSES)


@pytest.fixture(scope="module")
def mobile(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ganport export CKPT --target ort-mobile``, run in this process."""
    from ganport.cli import main

    out = tmp_path_factory.mktemp("ort-mobile")
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(checkpoint), "--out", str(out), "--target", "ort-mobile"])
    assert exit_.value.code == 0
    return out


def _metadata(path: Path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props[METADATA_KEY])


def test_export_writes_batch1_ort_files_the_manifest_records(mobile: Path):
    assert sorted(p.name for p in mobile.glob("*.ort")) == [
        "discriminator_batch1.ort",
        "generator_batch1.ort",
    ]
    manifest = json.loads((mobile / "manifest.json").read_text())
    targets = {m["file"]: m["target"] for m in manifest["models"]}
    assert targets["generator.onnx"] is None  # the dynamic batch gets no .ort
    record = targets["generator_batch1.onnx"]
    assert record["name"] == "ort-mobile" and record["runtime"] == "ort-format"
    assert record["file"] == "generator_batch1.ort" and record["check"]["passed"]
    assert record["check"]["batches"][0]["max_abs_err"] < 1e-5
    meta = _metadata(mobile / "generator_batch1.onnx")
    assert meta["target"] == "ort-mobile" and meta["static_batch"] == 1
    assert meta["class_input"] == "labels"  # the class rule's Greater/Xor left the graph
    ops = {n.op_type for n in onnx.load(str(mobile / "generator_batch1.onnx")).graph.node}
    assert "ConvTranspose" not in ops and not ops & {"Greater", "Xor"}


def test_ort_generator_draws_torchs_class_at_the_class_edges(mobile: Path, checkpoint: Path):
    """z[:, 0] on, above and below every class edge: the labels the ganport runtime feeds
    are the class torch's generator draws, and the .ort's images are torch's."""
    generator = load_checkpoint(checkpoint).generator()
    z = edge_latent(latent(45, generator.nz, seed=0), CLASSES)
    labels = labels_for(z, CLASSES)
    with torch.no_grad():
        expected = generator(torch.from_numpy(z)).numpy()
        assert np.array_equal(labels, generator.latent_class.index(torch.from_numpy(z)).numpy())
    model = get_engine("ort-format").load(mobile / "generator_batch1.ort")
    assert model.input_names == ["z", "labels"]
    images = np.concatenate(
        [model.run({"z": z[i : i + 1], "labels": labels[i : i + 1]})[0] for i in range(len(z))]
    )
    assert np.abs(images - expected).max() < 1e-5
    # the wrong class is not within tolerance: the comparison can fail
    wrong = model.run({"z": z[:1], "labels": (labels[:1] + 1) % CLASSES})[0]
    assert np.abs(wrong - expected[:1]).max() > 1e-3


def test_ganport_runtime_samples_the_mobile_onnx_as_torch_does(mobile: Path, checkpoint: Path):
    generator = load_checkpoint(checkpoint).generator()
    with torch.no_grad():
        expected = generator(torch.from_numpy(latent(3, generator.nz, seed=5))).numpy()
    samples = Generator(mobile / "generator_batch1.onnx", provider="cpu").sample(3, seed=5)
    assert np.abs(samples - expected).max() < 1e-5


def test_nnapi_and_coreml_can_take_every_node(mobile: Path, checkpoint: Path, tmp_path: Path):
    """After the mobile form each provider takes all 16 nodes of the G in one partition,
    where the plain fixed-batch export leaves them 8 or 10 of 13, in 2 to 4 partitions."""
    for role, nodes in (("generator", 16), ("discriminator", 6)):
        found = usability(mobile / f"{role}_batch1.onnx")
        for provider in EXECUTION_PROVIDERS:
            assert found[provider]["supported"] == found[provider]["nodes"] == nodes
            assert found[provider]["partitions"] == 1 and found[provider]["verdict"] == "YES"
    from ganport.export import export_generator

    plain = export_generator(checkpoint, tmp_path / "g.onnx", static_batch=1, check=False).path
    before = usability(plain)
    assert before["NNAPI"]["supported"] == 8 and before["NNAPI"]["nodes"] == 13
    assert {"ai.onnx:ConvTranspose", "ai.onnx:Greater"} <= set(before["NNAPI"]["unsupported_ops"])
    assert before["CoreML MLProgram"]["supported"] == 10


def test_a_broken_ort_file_is_refused_in_one_line(mobile: Path, tmp_path: Path):
    broken = tmp_path / "generator_batch1.ort"
    data = (mobile / "generator_batch1.ort").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as refused:
        get_engine("ort-format").load(broken)
    assert "not an ORT format model" in str(refused.value) and "\n" not in str(refused.value)


def test_int8_of_a_conditional_generator_in_the_mobile_form_is_refused(checkpoint, tmp_path):
    from ganport.export import export_generator

    with pytest.raises(InputError, match="--target ort-mobile") as refused:
        export_generator(checkpoint, tmp_path / "g.onnx", mobile_form=True, int8=True)
    assert "\n" not in str(refused.value) and not (tmp_path / "g.onnx").exists()
