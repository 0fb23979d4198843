import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from ganport.core.errors import GanportError, InputError
from ganport.core.manifest import sha256_file
from ganport.core.metadata import METADATA_KEY, ModelMetadata
from ganport.core.tolerance import compare, profile_for
from ganport.export import ExportOptions, export_checkpoint, export_discriminator, export_generator
from ganport.export.api import discriminator_check_images
from ganport.train import latent, load_checkpoint


def test_metadata_round_trips(dcgan28_export, dcgan28_checkpoint):
    ckpt = load_checkpoint(dcgan28_checkpoint)
    model = onnx.load(str(dcgan28_export / "generator.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    meta = ModelMetadata.from_json(props[METADATA_KEY])
    assert json.loads(props[METADATA_KEY])["role"] == "generator"
    assert (meta.role, meta.arch, meta.nz) == ("generator", "dcgan", ckpt.config.model.nz)
    assert meta.image_shape == (1, 28, 28)
    assert meta.weights == "ema" and meta.dataset == "mnist5k"
    assert meta.training_step == ckpt.step and meta.source_sha256 == ckpt.sha256
    assert meta.output_range == (-1.0, 1.0) and meta.static_batch is None
    assert meta.producer["torch"] == torch.__version__
    # onnxruntime alone reads the same object.
    session = ort.InferenceSession(str(dcgan28_export / "discriminator.onnx"))
    d_meta = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert d_meta.role == "discriminator" and d_meta.output_range is None


def test_manifest_hashes_match_files(dcgan28_export):
    manifest = json.loads((dcgan28_export / "manifest.json").read_text())
    assert {m["file"] for m in manifest["models"]} == {"generator.onnx", "discriminator.onnx"}
    for entry in manifest["models"]:
        path = dcgan28_export / entry["file"]
        assert entry["sha256"] == sha256_file(path)
        assert entry["size_bytes"] == path.stat().st_size
        assert entry["inputs"][0]["shape"][0] == "batch"
        assert entry["checks"]["passed"] and [b["batch"] for b in entry["checks"]["batches"]] == [
            1,
            2,
            7,
            64,
        ]
    assert manifest["versions"]["onnx"] == onnx.__version__


def test_fp16_and_static_batch_variants(tmp_path, dcgan28_checkpoint):
    ckpt = load_checkpoint(dcgan28_checkpoint)
    export_checkpoint(
        ckpt,
        tmp_path,
        which="generator",
        options=ExportOptions(fp16=True, static_batch=5, exporter="torchscript"),
    )
    names = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert names == ["generator.onnx", "generator_batch5.onnx", "generator_fp16.onnx"]
    z = latent(5, ckpt.config.model.nz, seed=3)
    with torch.no_grad():
        want = ckpt.generator()(torch.from_numpy(z)).numpy()
    fp16 = ort.InferenceSession(str(tmp_path / "generator_fp16.onnx"))
    assert fp16.get_inputs()[0].type == "tensor(float)"  # float32 I/O, float16 inside
    got16 = fp16.run(None, {"z": z})[0]
    assert got16.dtype == np.float32 and np.abs(got16 - want).max() <= 1e-2
    fixed = ort.InferenceSession(str(tmp_path / "generator_batch5.onnx"))
    assert fixed.get_inputs()[0].shape == [5, ckpt.config.model.nz]
    np.testing.assert_allclose(fixed.run(None, {"z": z})[0], want, atol=1e-5)


def test_fp16_discriminator_is_judged_on_the_scale_of_its_logits(tmp_path, dcgan28_checkpoint):
    """A long-trained D has logits of several units and loses about 1% of that scale to
    float16 weights; the fp16 check measures its error against that scale, so it passes
    for a big-logit D, and still fails a D whose weights are wrong."""
    ckpt = load_checkpoint(dcgan28_checkpoint)
    critic = ckpt.discriminator()
    with torch.no_grad():
        critic.net[-1].weight.mul_(400.0)  # the logits of a long-trained D, and larger
    images = discriminator_check_images(ckpt, 64)
    with torch.no_grad():
        logits = critic(torch.as_tensor(images)).numpy()
    scale = float(np.sqrt(np.mean(logits.astype(np.float64) ** 2)))
    assert scale > 5
    options = {"fp16": True, "image_shape": (1, 28, 28), "check_images": images}
    result = export_discriminator(critic, tmp_path / "d16.onnx", **options)
    worst = max(b.max_abs_err for b in result.checks.batches)
    assert 1e-2 < worst <= 1e-2 * scale  # beyond the fixed atol, within the scaled one
    with torch.no_grad():
        critic.net[0].weight[0, 0, 0, 0] += 1.0  # one wrong weight
    broken = export_discriminator(critic, tmp_path / "d16b.onnx", check=False, **options)
    session = ort.InferenceSession(str(broken.path))
    got = session.run(None, {"image": images})[0]
    with torch.no_grad():
        critic.net[0].weight[0, 0, 0, 0] -= 1.0
        want = critic(torch.as_tensor(images)).numpy()
    assert not compare(got, want, profile_for("fp16", "CPUExecutionProvider")).passed


def test_fp16_generator_reads_the_class_in_float32(tmp_path, conditional_checkpoints):
    """The fp16 G draws the class the fp32 G draws at every class edge and its neighbours."""
    from ganport.core.classes import edge_latent

    ckpt = load_checkpoint(conditional_checkpoints["dcgan"])
    export_checkpoint(ckpt, tmp_path, which="generator", options=ExportOptions(fp16=True))
    z = edge_latent(latent(45, ckpt.config.model.nz, seed=0), 10)
    fp32 = ort.InferenceSession(str(tmp_path / "generator.onnx")).run(None, {"z": z})[0]
    fp16 = ort.InferenceSession(str(tmp_path / "generator_fp16.onnx")).run(None, {"z": z})[0]
    per_row = np.abs(fp16 - fp32).reshape(len(z), -1).max(axis=1)
    assert per_row.max() < 1e-2  # a flipped class changes the image by far more


class UserGenerator(nn.Module):
    """A user's own generator, with BatchNorm, not built by ganport."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 48)
        )

    def forward(self, z):
        return torch.tanh(self.body(z)).reshape(-1, 3, 4, 4)


class UserCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(48, 1))

    def forward(self, x):
        return self.body(x).squeeze(1)


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_users_own_modules_export_through_the_python_api(tmp_path, exporter):
    torch.manual_seed(0)
    g = UserGenerator()
    g.train()(torch.randn(64, 8))  # move BN statistics off the identity
    result = export_generator(g, tmp_path / "g.onnx", nz=8, exporter=exporter)
    assert result.path == tmp_path / "g.onnx" and result.checks.passed
    assert result.metadata.image_shape == (3, 4, 4) and result.metadata.arch == "UserGenerator"
    d_result = export_discriminator(
        UserCritic(), tmp_path / "d.onnx", image_shape=(3, 4, 4), exporter=exporter
    )
    assert d_result.checks.passed and d_result.metadata.role == "discriminator"
    with pytest.raises(InputError, match=r"a discriminator's output, not images"):
        export_generator(nn.Linear(2, 2), tmp_path / "x.onnx")


class FixedBatchGenerator(UserGenerator):
    """Runs at any batch in torch, but int() makes the tracer bake the batch into the graph."""

    def forward(self, z):
        return torch.tanh(self.body(z)).reshape(int(z.shape[0]), 3, 4, 4)


def test_a_baked_in_batch_fails_the_check_and_leaves_no_file(tmp_path):
    with pytest.raises(GanportError, match="batch"):
        export_generator(FixedBatchGenerator(), tmp_path / "g.onnx", nz=8, exporter="torchscript")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(2048))
    with pytest.raises(InputError, match="not a readable checkpoint"):
        export_checkpoint(bad, tmp_path / "out")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(InputError, match="not a ganport checkpoint"):
        export_checkpoint(foreign, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_folder_as_non_root(tmp_path, dcgan28_checkpoint):
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    with pytest.raises(GanportError, match="cannot write"):
        export_checkpoint(dcgan28_checkpoint, out)
