"""Training in bfloat16: what ``auto`` picks, what the checkpoint records, what changes."""

import json

import numpy as np
import onnx
import pytest
import torch

from ganport.core.errors import InputError
from ganport.train import TrainConfig, load_checkpoint
from ganport.train.precision import cpu_has_bfloat16, resolve_precision
from tests.conftest import run_ganport, train_run


def _losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["d_loss"], r.get("g_loss")) for r in map(json.loads, lines) if "d_loss" in r]


def test_auto_is_bfloat16_exactly_where_the_cpu_multiplies_it():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bfloat16" if cpu_has_bfloat16() else "float32")
    assert resolve_precision("float32", cpu) == "float32"
    assert resolve_precision("bfloat16", cpu) == "bfloat16"  # emulated there, but it runs
    with pytest.raises(InputError, match="unknown precision 'fp16'"):
        TrainConfig(precision="fp16")


def test_a_checkpoint_names_the_precision_it_was_trained_in(tmp_path):
    train_run(tmp_path / "auto", "dcgan", 28, steps=2)
    config = load_checkpoint(tmp_path / "auto" / "checkpoint.pt").config
    assert config.precision == resolve_precision("auto", torch.device("cpu"))
    # a checkpoint from before the setting existed was trained in float32
    legacy = config.to_dict()
    del legacy["precision"]
    assert TrainConfig.from_dict(legacy).precision == "float32"


def test_bfloat16_changes_the_steps_not_the_weights_format(tmp_path):
    """Same seed: bfloat16 and float32 runs start alike and part within a few steps'
    rounding, while the checkpoint and its export stay float32."""
    for precision in ("float32", "bfloat16"):
        train_run(tmp_path / precision, "dcgan", 28, steps=6, classes=10, precision=precision)
    f32, bf16 = _losses(tmp_path / "float32"), _losses(tmp_path / "bfloat16")
    assert f32 != bf16
    np.testing.assert_allclose(f32[0], bf16[0], rtol=0.02)  # the first step, same weights
    state = load_checkpoint(tmp_path / "bfloat16" / "checkpoint.pt").state
    for role in ("generator", "generator_ema", "discriminator"):
        assert {t.dtype for t in state[role].values() if t.is_floating_point()} == {torch.float32}

    from ganport.export import export_checkpoint

    export_checkpoint(tmp_path / "bfloat16" / "checkpoint.pt", tmp_path / "onnx")
    model = onnx.load(tmp_path / "onnx" / "generator.onnx")
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    formats = {t.data_type for t in model.graph.initializer}
    assert onnx.TensorProto.FLOAT in formats
    assert not formats & {onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT16}


def test_bfloat16_run_resumes_step_for_step(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    kwargs = {"arch": "dcgan", "image_size": 28, "precision": "bfloat16"}
    train_run(whole, steps=6, **kwargs)
    train_run(split, steps=3, **kwargs)
    from ganport.train import RunOptions, load_dataset, train

    config = load_checkpoint(split / "checkpoint.pt").config
    options = RunOptions(out=split, steps=6, device="cpu", progress=False)
    train(config, load_dataset(config.data, 28), options, resume=True)
    assert _losses(whole) == _losses(split)


def test_cli_precision_is_recorded_and_a_bad_one_is_a_usage_error(tmp_path):
    args = ("train", "--arch", "mlp", "--width", 4, "--nz", 8, "--steps", 1, "--data", "digits")
    proc = run_ganport(*args, "--precision", "float32", "--out", tmp_path / "f32")
    assert proc.returncode == 0, proc.stderr
    assert load_checkpoint(tmp_path / "f32" / "checkpoint.pt").config.precision == "float32"
    proc = run_ganport(*args, "--precision", "fp16", "--out", tmp_path / "bad")
    assert proc.returncode == 2
    assert "'fp16' is not one of 'auto', 'float32', 'bfloat16'" in proc.stderr
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()
