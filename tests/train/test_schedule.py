"""A decaying learning rate: laid out over the run, followed by both optimisers, resumable."""

from __future__ import annotations

import pytest
import torch

from ganport.core.errors import InputError
from ganport.train import ModelConfig, RunOptions, TrainConfig, load_checkpoint, load_dataset, train
from ganport.train.curves import run_settings
from ganport.train.schedule import lr_factor
from ganport.train.trainer import Trainer
from tests.conftest import run_ganport as ganport


def test_the_rate_is_constant_then_falls_linearly_towards_zero_at_the_end():
    assert [lr_factor(s, 10, 0.5) for s in range(10)] == pytest.approx(
        [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2]
    )
    assert [lr_factor(s, 10, 1.0) for s in range(10)] == [1.0] * 10
    assert lr_factor(0, 4, 0.0) == 1.0 and lr_factor(3, 4, 0.0) == pytest.approx(0.25)


def _digits(n=64):
    full = load_dataset("digits", 28)
    return type(full)(full.images[:n], None, "digits")


def _config(decay_from):
    model = ModelConfig(width=8, nz=8)
    return TrainConfig.for_loss("bce", model, modes=4, batch_size=16, lr_decay_from=decay_from)


def _steps(config, data, total, steps, state=None):
    trainer = Trainer(config, data, torch.device("cpu"))
    if state is not None:
        trainer.load_state_dict(state)
    trainer.total_steps = total
    losses = [trainer.train_step() for _ in range(steps)]
    return trainer, losses


def test_both_optimisers_follow_the_rate_and_a_resumed_run_is_exact():
    data, decaying = _digits(), _config(0.5)
    whole, losses = _steps(decaying, data, total=8, steps=8)
    rates = [g["lr"] for opt in (whole.opt_g, whole.opt_d) for g in opt.param_groups]
    assert rates == pytest.approx([decaying.lr * 0.25] * 2)  # the last step: 1 / 4 of the rate

    first, first_losses = _steps(decaying, data, total=8, steps=3)
    resumed, rest = _steps(decaying, data, total=8, steps=5, state=first.state_dict())
    assert first_losses + rest == losses
    for a, b in zip(whole.generator.parameters(), resumed.generator.parameters(), strict=True):
        assert torch.equal(a, b)

    # The same run at a constant rate matches it until the decay starts, then parts from it.
    _, constant = _steps(_config(1.0), data, total=8, steps=8)
    assert constant[:5] == losses[:5] and constant[5:] != losses[5:]


def test_train_lays_the_decay_out_over_the_steps_asked_for(tmp_path):
    config = _config(0.5)
    train(config, _digits(), RunOptions(out=tmp_path, steps=6, device="cpu", progress=False))
    state = load_checkpoint(tmp_path / "checkpoint.pt").state
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(config.lr / 3)
    assert run_settings(tmp_path)["lr"] == "0.002 → 0 from 0.5 of the run"  # the curves' title


def test_the_modes_recipe_decays_over_a_longer_run_and_a_labelled_one_does_not():
    modes = TrainConfig.for_loss("bce", ModelConfig(), modes=16)
    labelled = TrainConfig.for_loss("bce", ModelConfig(classes=10))
    assert (modes.lr_decay_from, modes.r1_gamma, modes.recipe_epochs()) == (0.5, 0.3, 70)
    assert (labelled.lr_decay_from, labelled.r1_gamma, labelled.recipe_epochs()) == (1.0, 1.0, 35)
    with pytest.raises(InputError, match="lr_decay_from"):
        TrainConfig(lr_decay_from=1.5)


def test_a_decay_share_outside_0_to_1_is_a_usage_error(tmp_path):
    proc = ganport("train", "--lr-decay-from", "2", "--out", tmp_path / "run")
    assert proc.returncode == 2
    assert "--lr-decay-from" in proc.stderr and "Traceback" not in proc.stderr
