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
    ("arch", "loss", "classes", "epochs"),
    [
        ("mlp", "bce", 0, 60),
        ("mlp", "hinge", 0, 60),
        ("dcgan", "bce", 0, 60),
        ("dcgan", "bce", 10, 35),
        ("dcgan", "wgan-gp", 0, 40),
    ],
)
def test_each_recipe_has_its_own_default_length(arch, loss, classes, epochs):
    """`ganport train` without --epochs/--steps runs this many epochs (it used to run 1)."""
    model = ModelConfig(arch=arch, classes=classes)
    assert TrainConfig.for_loss(loss, model).recipe_epochs() == epochs


def test_class_terms_of_ac_gan_and_of_its_twin_form():
    from ganport.train.losses import d_class_loss, g_class_loss
    from ganport.train.models import Heads

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, generator=gen)
    real = Heads(logits, torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen))
    fake = Heads(logits, torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen))
    real_labels, fake_labels = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([3, 2, 1, 0, 3, 2])
    ce = torch.nn.functional.cross_entropy
    # AC-GAN (no twin): D's class head learns both kinds; G asks it for its class.
    ac_real, ac_fake = real._replace(twin=None), fake._replace(twin=None)
    assert d_class_loss(ac_real, ac_fake, real_labels, fake_labels) == pytest.approx(
        (ce(real.classes, real_labels) + ce(fake.classes, fake_labels)).item()
    )
    assert g_class_loss(ac_fake, fake_labels) == pytest.approx(ce(fake.classes, fake_labels).item())
    # TAC-GAN: the class head learns real images only, the twin generated ones; G fools
    # the twin.
    assert d_class_loss(real, fake, real_labels, fake_labels) == pytest.approx(
        (ce(real.classes, real_labels) + ce(fake.twin, fake_labels)).item()
    )
    assert g_class_loss(fake, fake_labels) == pytest.approx(
        (ce(fake.classes, fake_labels) - ce(fake.twin, fake_labels)).item()
    )


def test_the_conditional_dcgan_recipe_has_a_twin_class_head_and_modes_do_not():
    labelled = TrainConfig.for_loss("bce", ModelConfig(classes=10))
    assert labelled.model.twin_classifier
    assert (labelled.mode_seeking, labelled.ema_decay) == (0.03, 0.995)
    modes = TrainConfig.for_loss("bce", ModelConfig(), modes=16)
    assert not modes.model.twin_classifier
    assert (modes.mode_seeking, modes.ema_decay) == (0.0, 0.995)
    assert not TrainConfig.for_loss(
        "bce", ModelConfig(arch="mlp", classes=10)
    ).model.twin_classifier
    with pytest.raises(InputError, match="twin classifier needs classes"):
        ModelConfig(twin_classifier=True)


def test_mode_seeking_term_rewards_pairs_of_one_class_that_differ():
    from ganport.train.losses import mode_seeking_loss, paired_latents

    z = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    paired = paired_latents(z)
    assert torch.equal(paired[1::2, 0], z[0:6:2, 0])  # odd rows take the class of the row before
    assert torch.equal(paired[0::2], z[0::2]) and torch.equal(paired[:, 1:], z[:, 1:])
    images = torch.randn(7, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    latent_gap = (z[0:6:2, 1:] - z[1:7:2, 1:]).abs().mean()
    image_gap = (images[0:6:2] - images[1:7:2]).abs().mean()
    assert mode_seeking_loss(z, images).item() == pytest.approx(
        (latent_gap / image_gap).item(), rel=1e-3
    )
    # Pairs twice as far apart cost half as much; identical pairs (collapse) cost the most.
    half = mode_seeking_loss(z, images).item() / 2
    assert mode_seeking_loss(z, 2 * images).item() == pytest.approx(half, rel=1e-4)
    same = images.clone()
    same[1::2] = images[0:6:2]
    assert mode_seeking_loss(z, same) > 1000 * mode_seeking_loss(z, images)


@pytest.mark.parametrize("weight", [0.0, 0.03])
def test_a_mode_seeking_step_draws_its_pairs_from_one_class(weight, data_by_size):
    cfg = TrainConfig.for_loss(
        "bce", ModelConfig(width=8, nz=8, classes=10), batch_size=16, mode_seeking=weight
    )
    trainer = Trainer(cfg, data_by_size(28), torch.device("cpu"))
    seen = []
    trainer.generator.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    trainer.train_step()
    classes = trainer.generator.latent_class.index(seen[0])
    same = (classes[0::2] == classes[1::2]).all().item()
    assert same is (weight > 0)
