"""The host fetches a run's logged values every few steps, not after each: same run, same log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ganport.core.errors import JobFailed
from ganport.train import ModelConfig, RunOptions, TrainConfig, load_checkpoint, load_dataset, train
from ganport.train.trainer import Trainer

MODEL = ModelConfig(arch="dcgan", image_size=28, width=8, nz=16, classes=10)


def _run(
    out: Path,
    host_sync_every: int,
    steps: int = 20,
    device: str = "cpu",
    model: ModelConfig = MODEL,
    **config,
):
    data = load_dataset("digits", 28)  # 1,797 digits, batch 16: 112 steps an epoch
    config.setdefault("precision", "float32")  # a CUDA run is compared with the CPU's
    cfg = TrainConfig.for_loss("bce", model, batch_size=16, data="digits", **config)
    options = RunOptions(
        out=out, steps=steps, device=device, progress=False, host_sync_every=host_sync_every
    )
    return train(cfg, data, options)


def _log(out: Path) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


def test_fetching_values_every_k_steps_logs_the_same_run(tmp_path):
    every = _run(tmp_path / "every", host_sync_every=1)
    batched = _run(tmp_path / "batched", host_sync_every=7)
    assert [line["step"] for line in _log(tmp_path / "batched")] == list(range(1, 21))
    assert _log(tmp_path / "every") == _log(tmp_path / "batched")
    assert every.last_losses == batched.last_losses
    a, b = load_checkpoint(every.checkpoint), load_checkpoint(batched.checkpoint)
    assert a.step == b.step == 20
    for key in ("generator", "generator_ema", "discriminator"):
        for name, tensor in a.state[key].items():
            assert torch.equal(tensor, b.state[key][name]), (key, name)


def test_a_non_finite_loss_is_named_at_its_own_step(tmp_path):
    """Steps 1-25 reach the host together: the first bad one is still the one reported, and
    no checkpoint holds the broken weights. (An MLP: lr 1e10 overflows it at step 2.)"""
    out = tmp_path / "run"
    mlp = ModelConfig(arch="mlp", image_size=28, width=8, nz=16)
    with pytest.raises(JobFailed, match=r"non-finite at step 2 .*no checkpoint had been written"):
        _run(out, host_sync_every=25, steps=30, model=mlp, lr=1e10)
    assert [line["step"] for line in _log(out)] == [1]
    assert not (out / "checkpoint.pt").exists()


def test_the_trainer_keeps_the_data_where_it_trains_and_fuses_adam():
    data = load_dataset("digits", 28)
    config = TrainConfig.for_loss("bce", MODEL, batch_size=16, data="digits")
    trainer = Trainer(config, data, torch.device("cpu"))
    assert trainer.images.data_ptr() == data.images.data_ptr()  # the CPU copies nothing
    assert all(group["fused"] for group in trainer.opt_g.param_groups + trainer.opt_d.param_groups)
    losses = trainer.train_step()
    assert set(losses) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(isinstance(v, float) for v in losses.values())


@pytest.mark.cuda
def test_cuda_training_keeps_the_data_on_the_gpu_and_learns_as_the_cpu(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip(f"torch {torch.__version__} sees no CUDA device")
    data = load_dataset("digits", 28)
    config = TrainConfig.for_loss("bce", MODEL, batch_size=16, data="digits")
    trainer = Trainer(config, data, torch.device("cuda"))
    assert trainer.images.device.type == "cuda" and trainer.labels.device.type == "cuda"
    cpu = _run(tmp_path / "cpu", host_sync_every=25, steps=12)
    gpu = _run(tmp_path / "gpu", host_sync_every=25, steps=12, device="cuda")
    cpu_log, gpu_log = _log(tmp_path / "cpu"), _log(tmp_path / "gpu")
    assert [line["step"] for line in gpu_log] == list(range(1, 13))
    # Same noise, same batches: the first step agrees up to TF32 convolutions.
    assert gpu_log[0]["d_loss"] == pytest.approx(cpu_log[0]["d_loss"], rel=1e-2)
    assert set(gpu.last_losses) == set(cpu.last_losses)
