"""The folder lock: one live owner at a time, released by the OS however the owner ends."""

import signal
import subprocess
import sys

import pytest

from ganport.core.errors import InputError
from ganport.core.lock import LOCK_NAME, folder_lock

HOLD = """
import sys, time
from ganport.core.lock import folder_lock
with folder_lock(sys.argv[1], "training"):
    print("held", flush=True)
    time.sleep(120)
"""


def hold(folder):
    """A real other process that owns ``folder`` until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_owner_refuses_others_by_pid_and_its_kill_9_frees_the_folder(tmp_path):
    owner = hold(tmp_path)
    try:
        with pytest.raises(InputError) as refused, folder_lock(tmp_path, "export"):
            pass
        assert str(refused.value) == (
            f"{tmp_path} is in use by process {owner.pid} (training); "
            "wait for it to end or use another folder"
        )
        assert refused.value.exit_code == 2
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    # The dead owner's file is still there, naming it: it must not block.
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(owner.pid)
    with folder_lock(tmp_path, "export") as path:
        assert path.read_text().split()[0] != str(owner.pid)
    assert not (tmp_path / LOCK_NAME).exists()  # a clean release leaves nothing behind


def test_the_lock_creates_the_folder_and_is_reusable_after_release(tmp_path):
    folder = tmp_path / "new" / "run"
    with folder_lock(folder, "training"):
        assert folder.is_dir()
    assert not folder.exists()  # a job that wrote nothing leaves no empty folder
    with folder_lock(folder, "training"):
        (folder / "checkpoint.pt").write_bytes(b"x")
    with folder_lock(folder, "training"):
        pass
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt"]
