import json

import torch

from ganport.train import load_checkpoint
from ganport.train.precision import resolve_precision
from tests.conftest import train_run


def _losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["d_loss"], r.get("g_loss")) for r in map(json.loads, lines)]


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    # 6 steps per epoch (100 digits / batch 16): stop mid-epoch 2, then resume to step 10.
    whole = tmp_path / "whole"
    split = tmp_path / "split"
    kwargs = {"arch": "dcgan", "image_size": 28, "data": "digits"}
    train_run(whole, steps=10, **kwargs)
    train_run(split, steps=4, **kwargs)
    from ganport.train import ModelConfig, RunOptions, TrainConfig, load_dataset, train

    config = load_checkpoint(split / "checkpoint.pt").config
    assert config == TrainConfig.for_loss(
        "bce",
        ModelConfig(arch="dcgan", image_size=28, width=8, nz=16),
        batch_size=16,
        data="digits",
        precision=resolve_precision("auto", torch.device("cpu")),  # resolved for the run
    )
    data = load_dataset("digits", 28)
    train(config, data, RunOptions(out=split, steps=10, device="cpu", progress=False), resume=True)

    assert _losses(whole) == _losses(split)
    assert len(_losses(split)) == 10
    a, b = load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(split / "checkpoint.pt")
    for key in ("generator", "generator_ema", "discriminator"):
        for name, tensor in a.state[key].items():
            assert torch.equal(tensor, b.state[key][name]), (key, name)


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    kwargs = {"arch": "mlp", "image_size": 28, "steps": 3}
    train_run(tmp_path / "a", seed=3, **kwargs)
    train_run(tmp_path / "b", seed=3, **kwargs)
    train_run(tmp_path / "c", seed=4, **kwargs)
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
    assert _losses(tmp_path / "a") != _losses(tmp_path / "c")


def test_keep_holds_the_latest_earlier_checkpoints(tmp_path):
    from ganport.train import ModelConfig, RunOptions, TrainConfig, load_dataset, train

    config = TrainConfig(
        model=ModelConfig(arch="mlp", image_size=16, width=4, nz=8), data="digits", batch_size=64
    )
    options = RunOptions(
        out=tmp_path, steps=6, device="cpu", progress=False, checkpoint_every=2, keep=2
    )
    train(config, load_dataset("digits", 16), options)
    kept = sorted(p.name for p in tmp_path.glob("checkpoint-step*.pt"))
    assert kept == ["checkpoint-step0000004.pt", "checkpoint-step0000006.pt"]
    assert load_checkpoint(tmp_path / kept[0]).step == 4
    assert load_checkpoint(tmp_path / "checkpoint.pt").step == 6
