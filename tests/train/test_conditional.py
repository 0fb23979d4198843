"""Class-conditional models: the class read from z[:, 0], D's auxiliary class head."""

import numpy as np
import pytest
import torch

from ganport.core.classes import class_edges, class_of_latent, latent_of_class
from ganport.core.errors import InputError
from ganport.core.latent import latent
from ganport.train import (
    ModelConfig,
    TrainConfig,
    build_discriminator,
    build_generator,
    load_checkpoint,
)
from tests.conftest import train_run


def _near_edges(nz: int, per_edge: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((9 * per_edge, nz), dtype=np.float32)
    z[:, 0] = np.repeat(class_edges(10), per_edge) + rng.uniform(-2e-3, 2e-3, 9 * per_edge)
    return z


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_generator_reads_its_class_by_the_shared_rule(arch):
    g = build_generator(ModelConfig(arch=arch, width=8, nz=12, classes=10)).eval()
    z = _near_edges(12)
    assert np.array_equal(g.latent_class.index(torch.from_numpy(z)).numpy(), class_of_latent(z, 10))
    one_hot = g.latent_class(torch.from_numpy(z)).numpy()
    assert one_hot.shape == (len(z), 10) and (one_hot.sum(axis=1) == 1).all()


def test_the_class_changes_the_image_and_nothing_else_does():
    g = build_generator(ModelConfig(arch="dcgan", width=8, nz=12, classes=10)).eval()
    z = np.random.default_rng(1).standard_normal((4, 12), dtype=np.float32)
    with torch.no_grad():
        as_3 = g(torch.from_numpy(latent_of_class(z, 10, 3)))
        as_7 = g(torch.from_numpy(latent_of_class(z, 10, 7)))
        # Another z[:, 0] inside bin 3 (only the continuous value changes, not the class).
        other = latent_of_class(z, 10, 3)
        other[:, 0] = np.float32(class_edges(10)[3] - 0.01)
        as_3_again = g(torch.from_numpy(other))
    by_class = (as_3 - as_7).abs().amax(dim=(1, 2, 3))
    within_class = (as_3 - as_3_again).abs().amax(dim=(1, 2, 3))
    assert (by_class > 4 * within_class).all()


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_discriminator_exports_one_logit_and_trains_a_class_head(arch):
    d = build_discriminator(ModelConfig(arch=arch, width=8, classes=10)).eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    logits, classes, twin = d.heads(images)
    assert d(images).shape == (5,) and classes.shape == (5, 10) and twin is None
    torch.testing.assert_close(d(images), logits)
    plain = build_discriminator(ModelConfig(arch=arch, width=8)).eval()
    assert plain.classifier is None
    with pytest.raises(ValueError, match="no class head"):
        plain.heads(images)


def test_a_conditional_run_learns_the_classes(tmp_path, mnist5k_28):
    ckpt = load_checkpoint(train_run(tmp_path, "dcgan", 28, steps=150, width=16, classes=10))
    assert ckpt.config.model.classes == 10 and ckpt.config.model.twin_classifier
    d, g = ckpt.discriminator(), ckpt.generator()
    images, labels = mnist5k_28.images[-500:], mnist5k_28.labels[-500:]
    z = latent(500, ckpt.config.model.nz, seed=4)
    asked = torch.from_numpy(class_of_latent(z, 10))
    with torch.no_grad():
        real = d.heads(images)
        fake = d.heads(g(torch.from_numpy(z)))
    # Chance is 0.1: the class head learned the data's labels in D's step, and the twin
    # head the classes G was asked for (TAC-GAN), each from its own images.
    assert (real.classes.argmax(dim=1) == labels).float().mean().item() > 0.5
    assert (fake.twin.argmax(dim=1) == asked).float().mean().item() > 0.5


def test_conditional_training_needs_fitting_labels(tmp_path):
    from ganport.train import RunOptions, load_dataset, train

    unlabelled = tmp_path / "images.npy"
    np.save(unlabelled, np.zeros((40, 28, 28), np.uint8))
    config = TrainConfig(model=ModelConfig(width=8, classes=10), data=str(unlabelled), batch_size=8)
    options = RunOptions(out=tmp_path / "run", steps=1, device="cpu", progress=False)
    with pytest.raises(InputError, match="needs labelled data"):
        train(config, load_dataset(str(unlabelled), 28), options)
    too_few = TrainConfig(model=ModelConfig(width=8, classes=5), batch_size=8)
    with pytest.raises(InputError, match=r"outside the model's 0\.\.4"):
        train(too_few, load_dataset("mnist5k", 28), options)
    with pytest.raises(InputError, match="classes must be 0"):
        ModelConfig(classes=1)
