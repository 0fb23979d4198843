"""The train command as a user runs it: a real subprocess, real exit codes, real stderr."""

import subprocess
import sys

import pytest

from tests.conftest import run_ganport as ganport


def test_train_writes_checkpoint_metrics_and_a_sample_grid(tmp_path):
    out = tmp_path / "run"
    proc = ganport(
        "train",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--image-size",
        "16",
        "--width",
        "8",
        "--batch-size",
        "128",
        "--epochs",
        "1",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "checkpoint.pt").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1797 // 128
    from PIL import Image

    with Image.open(out / "samples" / "epoch_001.png") as grid:
        assert grid.size == (2 + 8 * 18, 2 + 8 * 18)
    assert "checkpoint:" in proc.stdout


def test_regularisers_chosen_on_the_command_line_are_the_runs(tmp_path):
    out = tmp_path / "run"
    args = ["--arch", "mlp", "--data", "digits", "--image-size", "16", "--width", "8"]
    proc = ganport("train", *args, "--steps", "2", "--r1", "0.5", "--augment", "--out", out)
    assert proc.returncode == 0, proc.stderr
    from ganport.train import load_checkpoint

    config = load_checkpoint(out / "checkpoint.pt").config
    assert (config.r1_gamma, config.r1_every, config.augment) == (0.5, 4, True)


@pytest.mark.parametrize("command", ["train", "pipeline"])
def test_run_folder_must_be_named(tmp_path, command):
    """An installed CLI writes only where the user says: no default run folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "ganport", command, "--epochs", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Missing option '--out'" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--arch", "gan9000"], "'gan9000' is not one of"),
        (["train", "--data", "/no/such/place"], "neither a built-in data set"),
        (["train", "--arch", "dcgan", "--image-size", "48"], "dcgan supports image sizes"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--loss", "wgan-gp", "--steps", "1", "--epochs", "1"], "not both"),
        (["train", "--classes", "1"], "at least 2 classes"),
        (["train", "--r1", "-1"], "--r1"),
        (["train", "--classes", "some"], "'some' is not auto or a whole number"),
        (["pipeline", "--classes", "-3"], "use 0 (unconditional)"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, args, message):
    proc = ganport(*args, "--out", tmp_path / "r")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_resume_from_corrupt_checkpoint_is_one_line_exit_2(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage" * 100)
    proc = ganport("train", "--resume", "--out", tmp_path)
    assert proc.returncode == 2
    assert "not a readable checkpoint" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"\x00garbage" * 100


def test_debug_shows_the_traceback(tmp_path):
    proc = ganport("--debug", "train", "--data", tmp_path / "missing", "--out", tmp_path / "r")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_cuda_asked_for_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = ganport("train", "--device", "cuda", "--steps", "1", "--out", tmp_path / "r")
    assert proc.returncode == 2
    assert "torch sees no CUDA device" in proc.stderr
