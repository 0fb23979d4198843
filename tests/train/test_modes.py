"""An unconditional model's modes: k-means clusters of the images, learned as classes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch

from ganport.core.classes import class_edges, class_of_latent, latent_of_class
from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.core.metadata import METADATA_KEY, ModelMetadata
from ganport.infer import Generator
from ganport.train import ModelConfig, RunOptions, TrainConfig, load_checkpoint, load_dataset, train
from ganport.train.clusters import cluster_labels
from tests.conftest import run_ganport as ganport

SMALL = ["--data", "digits", "--width", "8", "--nz", "16", "--batch-size", "16"]


def test_an_unlabelled_dcgan_draws_from_kmeans_modes_by_default(tmp_path):
    out = tmp_path / "run"
    proc = ganport("train", *SMALL, "--classes", "0", "--steps", "3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert (ckpt.config.model.classes, ckpt.config.model.class_source) == (16, "clusters")
    modes = ckpt.state["cluster_labels"]
    data = load_dataset("digits", 28)
    assert modes.shape == (len(data),) and set(modes.tolist()) == set(range(16))
    assert not torch.equal(modes, data.labels)  # clusters, not the labels
    # The export says so: a classifier of the data cannot check what a mode "asked for".
    export = ganport("export", out / "checkpoint.pt", "--out", tmp_path / "onnx")
    assert export.returncode == 0, export.stderr
    model = onnx.load(str(tmp_path / "onnx" / "generator.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    meta = ModelMetadata.from_json(props[METADATA_KEY])
    assert (meta.classes, meta.class_source, meta.labelled_classes) == (16, "clusters", 0)


def test_modes_are_drawn_as_often_as_their_clusters_hold_images(tmp_path):
    """G's mode edges sit at the clusters' shares, in the checkpoint, the metadata and the
    exported graph: its image jumps where z[:, 0] crosses one of those edges."""
    out, onnx_dir = tmp_path / "run", tmp_path / "onnx"
    proc = ganport("train", *SMALL, "--classes", "0", "--modes", "4", "--steps", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    ckpt = load_checkpoint(out / "checkpoint.pt")
    labels = ckpt.state["cluster_labels"].numpy()
    shares = ckpt.config.model.class_shares
    np.testing.assert_allclose(shares, np.bincount(labels, minlength=4) / len(labels))
    assert max(shares) - min(shares) > 0.05  # the digits' clusters differ in size
    export = ganport("export", out / "checkpoint.pt", "--out", onnx_dir, "--no-check")
    assert export.returncode == 0, export.stderr
    generator = Generator(onnx_dir / "generator.onnx", provider="cpu")
    assert generator.metadata.class_shares == shares

    edges = class_edges(4, shares)
    z = np.repeat(latent(1, 16, seed=0), 3 * len(edges), axis=0)
    z[:, 0] = np.concatenate(
        [[e, np.nextafter(e, np.float32(np.inf)), e - np.float32(1e-4)] for e in edges]
    )
    images = generator.generate(z).reshape(len(edges), 3, -1)
    across = np.abs(images[:, 0] - images[:, 1]).max(axis=1)
    within = np.abs(images[:, 0] - images[:, 2]).max(axis=1)
    assert (across > 1e-3).all() and (within < 1e-3).all(), (across, within)
    # Asked for a mode, the runtime moves z[:, 0] into that mode's bin of the shares.
    for mode in range(4):
        asked = generator.sample(8, seed=1, label=mode)
        moved = latent_of_class(latent(8, 16, seed=1), 4, mode, shares)
        assert (class_of_latent(moved, 4, shares) == mode).all()
        np.testing.assert_array_equal(asked, generator.generate(moved))


@pytest.mark.parametrize(
    ("args", "classes", "source"),
    [
        (["--classes", "0", "--modes", "0"], 0, "labels"),
        (["--classes", "0", "--modes", "4"], 4, "clusters"),
        (["--classes", "0", "--arch", "mlp"], 0, "labels"),  # no measured recipe: none
        (["--classes", "0", "--loss", "wgan-gp"], 0, "labels"),
        ([], 10, "labels"),  # labelled data: its classes
    ],
)
def test_modes_on_the_command_line(tmp_path, args, classes, source):
    out = tmp_path / "run"
    proc = ganport("train", *SMALL, *args, "--steps", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    model = load_checkpoint(out / "checkpoint.pt").config.model
    assert (model.classes, model.class_source) == (classes, source)


def test_modes_beside_classes_is_a_usage_error(tmp_path):
    proc = ganport("train", *SMALL, "--modes", "5", "--steps", "1", "--out", tmp_path / "r")
    assert proc.returncode == 2 and "--classes 0" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_run_on_modes_refuses_a_taken_folder_and_a_resume_of_nothing(tmp_path):
    """Both before any clustering: one line on stderr, exit 2, the run already there kept."""
    out = tmp_path / "run"
    modes = [*SMALL, "--classes", "0", "--modes", "4", "--steps", "1"]
    missing = ganport("train", *modes, "--resume", "--out", out)
    assert missing.returncode == 2 and "no such checkpoint" in missing.stderr, missing.stderr
    assert missing.stderr.count("\n") == 1
    assert ganport("train", *modes, "--out", out).returncode == 0
    before = (out / "checkpoint.pt").read_bytes()
    taken = ganport("train", *modes, "--out", out)
    assert taken.returncode == 2 and "already holds a run" in taken.stderr, taken.stderr
    assert taken.stderr.count("\n") == 1
    assert (out / "checkpoint.pt").read_bytes() == before


def test_resume_trains_on_the_checkpoints_modes(tmp_path):
    """The modes travel in the checkpoint: a resumed run repeats an uninterrupted one."""
    data = load_dataset("digits", 28)
    model = ModelConfig(width=8, nz=16)
    # A constant rate: the split run's first leg ends at step 3, and a rate decaying towards
    # that end would differ from the whole run's (tests/train/test_schedule.py).
    config = TrainConfig.for_loss(
        "bce", model, modes=6, batch_size=16, data="digits", lr_decay_from=1.0
    )
    assert config.model.class_source == "clusters" and config.model.classes == 6

    def run(out, steps, resume=False):
        options = RunOptions(out=out, steps=steps, device="cpu", progress=False)
        return train(config, data, options, resume=resume)

    run(tmp_path / "whole", 6)
    run(tmp_path / "split", 3)
    run(tmp_path / "split", 6, resume=True)
    logs = [
        [json.loads(line)["d_loss"] for line in (tmp_path / name / "metrics.jsonl").open()]
        for name in ("whole", "split")
    ]
    assert logs[0] == logs[1] and len(logs[0]) == 6
    shares = [
        load_checkpoint(tmp_path / name / "checkpoint.pt").config.model.class_shares
        for name in ("whole", "split")
    ]
    assert shares[0] == shares[1] and len(shares[0]) == 6
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt").state["cluster_labels"]
    assert torch.equal(whole, cluster_labels(data.images, 6, config.seed))


def test_class_sources_are_checked():
    with pytest.raises(InputError, match="class source"):
        ModelConfig(classes=4, class_source="guesses")
    meta = ModelMetadata("generator", "dcgan", 16, 1, 28, 28, classes=4, class_source="x")
    with pytest.raises(InputError, match="class_source"):
        meta.validate()
    with pytest.raises(InputError, match="3 class shares for 4 classes"):
        ModelConfig(classes=4, class_source="clusters", class_shares=(0.5, 0.25, 0.25))
    with pytest.raises(InputError, match="for modes"):
        ModelConfig(classes=2, class_shares=(0.5, 0.5))  # labelled classes stay equal
    meta = ModelMetadata("generator", "dcgan", 16, 1, 28, 28, classes=2, class_shares=(0.3, 0.7))
    with pytest.raises(InputError, match="for modes"):
        meta.validate()
    text = dataclasses.replace(meta, class_source="clusters").to_json()
    assert ModelMetadata.from_json(text).class_shares == (0.3, 0.7)
    with pytest.raises(InputError, match=r"sum to 1\.2"):
        ModelMetadata.from_json(text.replace("0.7", "0.9"))


def test_a_large_data_set_fits_its_centres_on_a_subset(monkeypatch):
    """Beyond MAX_FIT images the centres come from a seeded subset; every image still gets
    its nearest mode, the same for the same seed."""
    from ganport.train import clusters

    images = load_dataset("digits", 28).images[:300]
    monkeypatch.setattr(clusters, "MAX_FIT", 100)
    first = cluster_labels(images, 5, seed=3)
    assert first.shape == (300,) and set(first.tolist()) == set(range(5))
    assert torch.equal(first, cluster_labels(images, 5, seed=3))
