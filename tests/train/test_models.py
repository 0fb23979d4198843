import pytest
import torch

from ganport.train import ModelConfig, build_discriminator, build_generator

CASES = [("mlp", 28), ("mlp", 16), ("dcgan", 28), ("dcgan", 32), ("dcgan", 64)]


@pytest.mark.parametrize(("arch", "size"), CASES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes_and_ranges(arch, size, channels):
    cfg = ModelConfig(arch=arch, image_size=size, channels=channels, width=8, nz=12)
    g, d = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    for batch in (1, 5):
        with torch.no_grad():
            images = g(torch.randn(batch, 12) * 3)
            logits = d(images)
        assert images.shape == (batch, channels, size, size)
        assert images.min() >= -1 and images.max() <= 1
        assert logits.shape == (batch,)
        assert torch.isfinite(logits).all()


def test_init_follows_dcgan_recipe():
    g = build_generator(ModelConfig(arch="dcgan", width=32))
    conv = g.net[0].weight
    bn = g.net[1]
    assert abs(conv.std().item() - 0.02) < 0.002
    assert abs(bn.weight.mean().item() - 1.0) < 0.01
    assert bn.bias.abs().max().item() == 0.0


def test_dcgan_refuses_unsupported_size():
    from ganport.core.errors import InputError

    with pytest.raises(InputError, match="dcgan supports image sizes"):
        ModelConfig(arch="dcgan", image_size=48)


def test_mlp_generator_widens_towards_the_image():
    """256 → 512 → 1024 → pixels at width 64: a narrowing stack drew only noisy blobs."""
    g = build_generator(ModelConfig(arch="mlp", width=64, classes=10))
    sizes = [m.out_features for m in g.net if isinstance(m, torch.nn.Linear)]
    assert sizes == [256, 512, 1024, 28 * 28]
    assert g.net[0].in_features == 100 + 10
