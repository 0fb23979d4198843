import json

import pytest

from ganport.core.errors import InputError
from ganport.infer.quality.feature_net import FidEvaluator
from ganport.train import ModelConfig, RunOptions, TrainConfig, load_checkpoint, load_dataset, train


def test_fid_every_k_steps_is_logged_and_the_best_checkpoint_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = load_dataset("digits", 16)
    config = TrainConfig(
        model=ModelConfig(arch="mlp", image_size=16, width=8, nz=8), data="digits", batch_size=64
    )
    options = RunOptions(
        out=tmp_path / "run",
        steps=6,
        device="cpu",
        progress=False,
        eval_every=3,
        evaluator=FidEvaluator(data, nz=8, samples=200),
    )
    train(config, data, options)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    fids = [r for r in records if "fid" in r]
    assert [r["step"] for r in fids] == [3, 6]
    assert all(r["fid"] > 0 for r in fids)
    best = load_checkpoint(tmp_path / "run" / "checkpoint_best.pt")
    assert best.state["fid"] == pytest.approx(min(r["fid"] for r in fids), abs=1e-3)
    assert best.step == min(fids, key=lambda r: r["fid"])["step"]
    assert list((tmp_path / "cache" / "ganport" / "feature_nets").glob("digits_16px_*.pt"))
    # Evaluations draw no training randomness: the losses match a run without them.
    plain = RunOptions(out=tmp_path / "plain", steps=6, device="cpu", progress=False)
    train(config, data, plain)
    losses = [r for r in records if "d_loss" in r]
    plain_losses = [json.loads(line) for line in (tmp_path / "plain" / "metrics.jsonl").open()]
    assert [r["d_loss"] for r in losses] == [r["d_loss"] for r in plain_losses]


def test_eval_needs_labels(tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((64, 16, 16), np.uint8))
    data = load_dataset(str(tmp_path / "x.npy"), 16)
    with pytest.raises(InputError, match="needs labelled data"):
        FidEvaluator(data, nz=8)
