"""Two jobs writing into one folder, as users start them: the second is refused at once."""

import signal
import subprocess
import sys
import time

from ganport.core.lock import LOCK_NAME
from ganport.train import load_checkpoint
from tests.conftest import run_inprocess
from tests.train.test_interrupts import TRAIN, start, steps_logged, wait_for_progress


def _refusal(folder, owner_pid, job):
    return (
        f"ganport: error: {folder} is in use by process {owner_pid} ({job}); "
        "wait for it to end or use another folder\n"
    )


def test_a_second_train_into_a_live_run_is_refused_and_a_killed_owner_does_not_block(
    tmp_path, capsys
):
    out = tmp_path / "run"
    owner = start(out, "--steps", 100_000, "--checkpoint-every", 1)
    try:
        wait_for_progress(out, 2)
        for extra in ([], ["--resume"]):  # a new run and a resume alike
            code, _, err = run_inprocess(capsys, *TRAIN, "--out", out, "--steps", 3, *extra)
            assert (code, err) == (2, _refusal(out, owner.pid, "training"))
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    done = steps_logged(out)[-1]
    code, _, err = run_inprocess(capsys, *TRAIN, "--out", out, "--steps", done + 1, "--resume")
    assert code == 0, err
    assert load_checkpoint(out / "checkpoint.pt").step == done + 1


def test_a_second_export_into_a_folder_being_written_is_refused(tmp_path, capsys, mlp28_checkpoint):
    out = tmp_path / "onnx"
    owner = subprocess.Popen(
        [sys.executable, "-m", "ganport", "export", str(mlp28_checkpoint), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = out / LOCK_NAME
    deadline = time.time() + 120
    while not (lock.exists() and lock.read_text().strip()) and time.time() < deadline:
        time.sleep(0.01)
    code, _, err = run_inprocess(capsys, "export", mlp28_checkpoint, "--out", out)
    assert (code, err) == (2, _refusal(out, owner.pid, "export"))
    _, owner_err = owner.communicate(timeout=300)
    assert owner.returncode == 0, owner_err
    assert sorted(p.name for p in out.iterdir()) == [
        "discriminator.onnx",
        "generator.onnx",
        "manifest.json",
    ]
