import math

import pytest
import torch

from ganport.core.errors import InputError
from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.losses import gradient_penalty
from ganport.train.models import build_discriminator
from ganport.train.trainer import Trainer


@pytest.fixture(scope="module")
def data_by_size():
    cache = {}

    def get(size):
        if size not in cache:
            full = load_dataset("digits", size)
            cache[size] = type(full)(full.images[:64], full.labels[:64], "digits")
        return cache[size]

    return get


@pytest.mark.parametrize("loss", ["bce", "hinge", "wgan-gp"])
@pytest.mark.parametrize(
    ("arch", "size"), [("mlp", 28), ("dcgan", 28), ("dcgan", 32), ("dcgan", 64)]
)
def test_every_arch_loss_and_size_trains_with_finite_losses(arch, size, loss, data_by_size):
    cfg = TrainConfig.for_loss(
        loss, ModelConfig(arch=arch, image_size=size, width=8, nz=8), batch_size=16
    )
    trainer = Trainer(cfg, data_by_size(size), torch.device("cpu"))
    before = [p.clone() for p in trainer.generator.parameters()]
    for _ in range(cfg.n_critic * 2):
        losses = trainer.train_step()
        assert all(math.isfinite(v) for v in losses.values())
    assert "g_loss" in trainer.last_losses
    # G's step froze D's weights (no gradient of them needed) and gave them back trainable.
    assert all(p.requires_grad for p in trainer.discriminator.parameters())
    # Training really moved G, and G_ema follows it.
    after = list(trainer.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    ema = list(trainer.generator_ema.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, ema, strict=True))


def test_wgan_gp_uses_a_batchnorm_free_critic_and_refuses_a_bn_one():
    cfg = TrainConfig.for_loss("wgan-gp", ModelConfig(arch="dcgan"))
    # One critic step per G step: at 5, G got too few updates to learn digits in 10 minutes.
    assert cfg.model.d_norm == "layer" and cfg.n_critic == 1
    critic = build_discriminator(cfg.model)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    with pytest.raises(InputError, match="must not use BatchNorm"):
        TrainConfig(model=ModelConfig(d_norm="batch"), loss="wgan-gp")


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    # D(x) = sum(x * w) / |w| has gradient norm exactly 1 everywhere.
    w = torch.randn(1, 1, 4, 4)

    def critic(x):
        return (x * w).flatten(1).sum(1) / w.norm()

    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)

    def steep(x):
        return 3 * critic(x)

    assert gradient_penalty(steep, real, fake).item() == pytest.approx(4.0, rel=1e-5)


@pytest.mark.parametrize(
    ("arch", "loss", "epochs"),
    [("mlp", "bce", 60), ("mlp", "hinge", 60), ("dcgan", "bce", 60), ("dcgan", "wgan-gp", 40)],
)
def test_each_recipe_has_its_own_default_length(arch, loss, epochs):
    """`ganport train` without --epochs/--steps runs this many epochs (it used to run 1)."""
    assert TrainConfig.for_loss(loss, ModelConfig(arch=arch)).recipe_epochs() == epochs
