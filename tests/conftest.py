"""Shared fixtures: small real runs trained once per session, so CI trains each only once."""

from __future__ import annotations

from pathlib import Path

import pytest

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def train_run(out: Path, arch: str, image_size: int, steps: int = 6, width: int = 8, **kwargs):
    """Train a tiny real run on mnist5k; returns the checkpoint path."""
    from train import ModelConfig, RunOptions, TrainConfig, load_dataset, train

    loss = kwargs.pop("loss", "bce")
    model = ModelConfig(arch=arch, image_size=image_size, width=width, nz=kwargs.pop("nz", 16))
    config = TrainConfig.for_loss(loss, model, batch_size=kwargs.pop("batch_size", 16), **kwargs)
    data = load_dataset(config.data, image_size, 1)
    result = train(config, data, RunOptions(out=out, steps=steps, device="cpu", progress=False))
    return result.checkpoint


@pytest.fixture(scope="session")
def mnist5k_28():
    from train import load_dataset

    return load_dataset("mnist5k", 28)


@pytest.fixture(scope="session")
def dcgan28_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DCGAN 28×28 run trained 6 real steps (BN statistics are no longer the identity)."""
    return train_run(tmp_path_factory.mktemp("dcgan28"), "dcgan", 28)
