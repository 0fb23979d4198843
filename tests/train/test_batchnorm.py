import pytest
import torch
from torch import nn

from ganport.train import ModelConfig, TrainConfig, load_dataset
from ganport.train.batchnorm import recalibrate
from ganport.train.checkpoint import load_checkpoint
from ganport.train.trainer import RunOptions, Trainer, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DCGAN 28 pair after 40 real steps at the recipe's learning rate: G_ema's weights
    have moved far enough from G's that their activations differ."""
    cfg = TrainConfig.for_loss("bce", ModelConfig(width=8, nz=8), batch_size=16)
    data = load_dataset("digits", 28)
    trainer = Trainer(cfg, data, torch.device("cpu"))
    for _ in range(40):
        trainer.train_step()
    return trainer


def _first_norm_inputs(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """What G's first BatchNorm normalises (the first ConvTranspose's output) for ``z``."""
    seen = []
    norm = next(m for m in generator.modules() if isinstance(m, nn.BatchNorm2d))
    handle = norm.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    with torch.no_grad():
        generator.eval()(z)
    handle.remove()
    return seen[0]


def test_averaged_generator_normalises_with_the_statistics_of_its_own_activations(trained):
    g_ema = trained.averaged_generator()
    norm = next(m for m in g_ema.modules() if isinstance(m, nn.BatchNorm2d))
    acts = _first_norm_inputs(
        g_ema, torch.randn(4096, 8, generator=torch.Generator().manual_seed(9))
    )
    mean, var = acts.mean(dim=(0, 2, 3)), acts.var(dim=(0, 2, 3))
    # Its statistics are those of its activations on fresh latents, to sampling noise ...
    torch.testing.assert_close(norm.running_mean, mean, atol=0.02 * var.sqrt().max(), rtol=0)
    torch.testing.assert_close(norm.running_var, var, rtol=0.1, atol=1e-6)
    # ... where G's own statistics (the ones the EMA used to copy) are far from them.
    raw = next(m for m in trained.generator.modules() if isinstance(m, nn.BatchNorm2d))
    assert (raw.running_var / var - 1).abs().max() > 0.5
    assert g_ema.training is False


def test_recalibration_is_deterministic_and_keeps_the_mode_and_the_run_streams(trained):
    model = trained.averaged_generator()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    noise_state = trained.noise.get_state()
    torch_state = torch.get_rng_state()
    recalibrate(model, 8, trained.config.seed, torch.device("cpu"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.training is False
    assert torch.equal(trained.noise.get_state(), noise_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_the_checkpoint_holds_the_averaged_generators_own_statistics(tmp_path):
    cfg = TrainConfig.for_loss("bce", ModelConfig(width=8, nz=8), batch_size=16)
    data = load_dataset("digits", 28)
    train(cfg, data, RunOptions(out=tmp_path, steps=30, progress=False))
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    g_ema, g = ckpt.generator(), ckpt.generator(ema=False)
    z = torch.randn(2048, 8, generator=torch.Generator().manual_seed(3))
    acts = _first_norm_inputs(g_ema, z)
    norm = next(m for m in g_ema.modules() if isinstance(m, nn.BatchNorm2d))
    torch.testing.assert_close(norm.running_var, acts.var(dim=(0, 2, 3)), rtol=0.1, atol=1e-6)
    raw = next(m for m in g.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(raw.running_var, norm.running_var, rtol=0.1)
