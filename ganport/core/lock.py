"""One owner per output folder: an OS file lock held while a job writes into the folder.

A check made only at start cannot stop two jobs started together from interleaving their
files, so training and export hold ``flock`` on ``FOLDER/.ganport.lock`` for their whole
run. The kernel releases the lock when its holder exits in any way (``kill -9`` too), so a
lock file left behind by a dead process never blocks anyone: only a live holder does. The
holder writes its pid into the file, so a refusal can say who owns the folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ganport.core.errors import GanportError, InputError

try:
    import fcntl
except ImportError:  # Windows: no flock; jobs there are not guarded against each other
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".ganport.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], job: str) -> Iterator[Path]:
    """Own ``folder`` for the block, or refuse at once with the owner's pid.

    The folder is created if missing, and removed again if the block left it empty.

    ``job`` says what the owner does ("training", "export") in the owner's lock file, so
    the refusal another job gets names both. Exit code 2 (InputError): choosing another
    folder or waiting is the user's call.
    """
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # as an atomic write into it would fail
        raise GanportError(f"cannot write {folder}: {exc.strerror or exc}") from exc
    path = folder / LOCK_NAME
    if fcntl is None:
        yield path
        return
    fd = _acquire(path, folder)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {job}\n".encode())
        yield path
    finally:
        # Unlink while still holding the lock; a process that opened the old file meanwhile
        # sees it is no longer the folder's lock file (the inode check in _acquire).
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        if created:  # a job that failed before writing leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def _acquire(path: Path, folder: Path) -> int:
    """The locked descriptor of ``path``, which is the folder's current lock file."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise GanportError(f"cannot write {folder}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise InputError(
                f"{folder} is in use by {owner}; wait for it to end or use another folder"
            ) from None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)  # the holder released and removed it between our open and flock: retry


def _owner(fd: int) -> str:
    """'process PID (JOB)' from the holder's lock file; it may not have written it yet."""
    text = os.pread(fd, 200, 0).decode(errors="replace").split()
    if not text or not text[0].isdigit():
        return "another process"
    job = " ".join(text[1:])
    return f"process {text[0]}" + (f" ({job})" if job else "")
