"""Interrupted training as it really happens: a subprocess killed at different moments."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ganport.train import load_checkpoint

TRAIN = [
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
    "32",
    "--seed",
    "5",
    # The CPU, on a GPU machine too: several processes share no GPU, and the runs are
    # compared with runs trained on the CPU.
    "--device",
    "cpu",
]


def start(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "ganport", *TRAIN, "--out", str(out), *map(str, extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_progress(out, min_step, timeout=120):
    """Wait until metrics.jsonl shows ``min_step`` steps done (the run is mid-training)."""
    deadline = time.time() + timeout
    metrics = out / "metrics.jsonl"
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= min_step:
            return
        time.sleep(0.05)
    raise AssertionError("training made no progress")


def steps_logged(out):
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_sigterm_and_sigint_save_and_exit_cleanly(tmp_path):
    out = tmp_path / "run"
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        extra = ["--steps", 100_000] + (["--resume"] if (out / "checkpoint.pt").exists() else [])
        proc = start(out, *extra)
        wait_for_progress(
            out,
            len(steps_logged(out)) + 5 if out.exists() and (out / "metrics.jsonl").exists() else 5,
        )
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == code, stderr
        assert f"stopped by {sig.name}" in stderr and "Traceback" not in stderr
        ckpt = load_checkpoint(out / "checkpoint.pt")
        assert ckpt.step == steps_logged(out)[-1]  # nothing done was lost


def test_kill_9_at_any_moment_never_corrupts_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    last_step = 0
    # Checkpoint every step: most kills land during or right next to a save.
    for delay in (0.0, 0.37, 0.81, 1.3):
        extra = ["--steps", 100_000, "--checkpoint-every", 1]
        if (out / "checkpoint.pt").exists():
            extra.append("--resume")
        proc = start(out, *extra)
        wait_for_progress(out, last_step + 2)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        ckpt = load_checkpoint(out / "checkpoint.pt")  # complete and loadable, every time
        assert ckpt.step >= last_step
        last_step = ckpt.step
    target = last_step + 10
    proc = start(out, "--steps", target, "--resume")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert load_checkpoint(out / "checkpoint.pt").step == target
    assert steps_logged(out) == list(range(1, target + 1))  # each step logged exactly once
    assert not list(out.glob(".*.tmp"))  # leftovers of killed saves were cleaned


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = start(out, "--steps", 30, "--checkpoint-every", 1, "--lr", "1e10")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "loss became non-finite at step 2" in stderr
    assert "last good checkpoint" in stderr and len(stderr.strip().splitlines()) == 1
    assert load_checkpoint(out / "checkpoint.pt").step == 1


def test_training_into_an_existing_run_needs_resume(tmp_path):
    out = tmp_path / "run"
    assert start(out, "--steps", 2).wait(timeout=120) == 0
    before = (out / "checkpoint.pt").read_bytes()
    proc = start(out, "--steps", 2)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--resume" in stderr
    assert (out / "checkpoint.pt").read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "setpgid"), reason="POSIX only")
def test_full_disk_keeps_the_previous_checkpoint(tmp_path):
    """A file-size limit makes every write past 200 kB fail, as a full disk would."""
    import resource

    out = tmp_path / "run"
    assert start(out, "--steps", 2, "--width", 1).wait(timeout=120) == 0
    before = (out / "checkpoint.pt").read_bytes()

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, len(before) // 2))

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ganport",
            *TRAIN,
            "--width",
            "1",
            "--out",
            str(out),
            "--steps",
            "4",
            "--resume",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "cannot write" in stderr and len(stderr.strip().splitlines()) == 1
    assert (out / "checkpoint.pt").read_bytes() == before
    assert not list(out.glob(".*.tmp"))
