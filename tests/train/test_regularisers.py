"""DiffAugment and the R1 penalty: what they compute, and that a run using them stays
reproducible and resumable like any other."""

import math

import pytest
import torch

from ganport.core.errors import InputError
from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.augment import diff_augment
from ganport.train.losses import r1_penalty
from ganport.train.trainer import Trainer


def test_diff_augment_moves_and_blanks_pixels_but_invents_none():
    images = torch.zeros(32, 1, 28, 28)
    images[:, :, 14, 14] = 1.0  # one bright pixel in the middle of each image
    out = diff_augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    moved = 0
    for image in out[:, 0]:
        where = (image == 1.0).nonzero()
        assert len(where) <= 1  # the marker survives (shifted) or was cut out, never copied
        if len(where):
            row, col = where[0].tolist()
            assert abs(row - 14) <= 4 and abs(col - 14) <= 4  # at most 1/8 of 28, rounded
            moved += (row, col) != (14, 14)
    assert moved > 16  # most markers really moved


def test_diff_augment_cuts_a_square_out_of_every_image_and_is_seeded():
    images = torch.ones(16, 3, 28, 28)
    first = diff_augment(images, torch.Generator().manual_seed(1))
    again = diff_augment(images, torch.Generator().manual_seed(1))
    other = diff_augment(images, torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)
    blanked = (first == 0).flatten(1).float().mean(1)
    # The 14×14 cutout (a quarter of the image) when it lies fully inside, less at an edge,
    # plus the border a shift brought in.
    assert (blanked > 0).all() and (blanked < 0.5).all()
    # The same mask on every channel of an image.
    assert torch.equal(first[:, 0], first[:, 1])


def test_a_shard_is_augmented_as_in_the_global_batch():
    """Under several processes each rank augments its rows exactly as one process would."""
    images = torch.randn(8, 1, 28, 28)
    whole = diff_augment(images, torch.Generator().manual_seed(3))
    second_half = diff_augment(
        images[4:], torch.Generator().manual_seed(3), global_batch=8, shard=lambda t: t[4:]
    )
    assert torch.equal(second_half, whole[4:])


def test_diff_augment_passes_gradients_to_the_pixels_it_keeps():
    images = torch.randn(4, 1, 28, 28, requires_grad=True)
    out = diff_augment(images, torch.Generator().manual_seed(0))
    out.sum().backward()
    kept = (out != 0).sum().item()
    assert images.grad.sum().item() == pytest.approx(kept)


def test_r1_penalty_is_the_squared_gradient_norm_at_real_images():
    w = torch.randn(1, 1, 4, 4)
    real = torch.randn(8, 1, 4, 4, requires_grad=True)
    logits = (real * w).flatten(1).sum(1)
    assert r1_penalty(logits, real).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)


def test_negative_r1_weight_and_a_zero_interval_are_refused():
    with pytest.raises(InputError, match="R1"):
        TrainConfig(r1_gamma=-1.0)
    with pytest.raises(InputError, match="r1_every"):
        TrainConfig(r1_gamma=1.0, r1_every=0)


@pytest.mark.parametrize("classes", [0, 10])
def test_a_run_with_augment_and_r1_trains_and_repeats_itself(classes):
    full = load_dataset("digits", 28)
    data = type(full)(full.images[:64], full.labels[:64], "digits")
    cfg = TrainConfig.for_loss(
        "bce",
        ModelConfig(width=8, nz=8, classes=classes),
        batch_size=16,
        augment=True,
        r1_gamma=1.0,
        r1_every=2,
    )
    runs = []
    for _ in range(2):
        trainer = Trainer(cfg, data, torch.device("cpu"))
        runs.append([trainer.train_step() for _ in range(3)])
    assert runs[0] == runs[1]
    assert all(math.isfinite(v) for losses in runs[0] for v in losses.values())
    plain = Trainer(
        TrainConfig.for_loss("bce", ModelConfig(width=8, nz=8, classes=classes), batch_size=16),
        data,
        torch.device("cpu"),
    )
    assert [plain.train_step() for _ in range(3)] != runs[0]


@pytest.mark.parametrize(
    ("model", "loss", "gamma"),
    [
        (ModelConfig(classes=0), "bce", 1.0),
        (ModelConfig(classes=0), "hinge", 1.0),
        (ModelConfig(classes=10), "bce", 1.0),
        (ModelConfig(arch="mlp", classes=0), "bce", 0.0),
        (ModelConfig(classes=0), "wgan-gp", 0.0),
    ],
)
def test_the_dcgan_recipe_uses_lazy_r1(model, loss, gamma):
    cfg = TrainConfig.for_loss(loss, model)
    assert (cfg.r1_gamma, cfg.r1_every) == (gamma, 4)
    assert TrainConfig.for_loss(loss, model, r1_gamma=0.0).r1_gamma == 0.0
