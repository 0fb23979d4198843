"""Write files so that a reader never sees half of one.

Every output ganport writes (checkpoints, ONNX models, reports, images) goes to a
temporary file in the destination folder, is flushed to disk, and is renamed over
the final name. A crash, a full disk or ``kill -9`` leaves either the old file or the
new one, never a truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganport.core.errors import GanportError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds."""
    final = Path(path)
    blocker = next((p for p in final.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise GanportError(f"cannot write {final}: {blocker} is a file, not a folder")
    if final.is_dir():
        raise GanportError(f"cannot write {final}: it is a folder")
    # SIGTERM unwinds from before the temporary file exists until it is renamed: a signal
    # during the flush or the rename must not leave it behind either.
    with sigterm_unwinds():
        tmp: Path | None = None
        try:
            with _signals_held():  # created and named before a signal can unwind
                tmp = _temporary_beside(final)
            yield tmp
            _fsync_file(tmp)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise GanportError(f"cannot write {final}: {exc.strerror or exc}") from exc
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise


def _temporary_beside(final: Path) -> Path:
    """An empty hidden file in ``final``'s folder, with the mode a new file gets."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as exc:
        raise GanportError(f"cannot write {final}: {exc.strerror or exc}") from exc
    os.close(fd)
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    except OSError as exc:
        os.unlink(tmp_name)
        raise GanportError(f"cannot write {final}: {exc.strerror or exc}") from exc
    return Path(tmp_name)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (then arrive as usual), so a file
    the block creates always gets a name its owner can remove; the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def atomic_model_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like ``atomic_path`` for a model that may keep its weights in files beside it (ONNX
    external data): yield ``path``'s name inside a staging folder beside it; when the block
    succeeds, the files written beside the model move into place first, then the model,
    so it never names data that is not there. A data file of an earlier model of that name
    that the new one does not use is removed after it."""
    final = Path(path)
    with atomic_path(final) as tmp:  # the destination's checks, and the model's rename
        try:
            stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        except OSError as exc:
            raise GanportError(f"cannot write {final}: {exc.strerror or exc}") from exc
        try:
            yield stage / final.name
            model = stage / final.name
            beside = [f for f in stage.iterdir() if f != model]
            for file in beside:
                os.chmod(file, 0o666 & ~_umask())
                _fsync_file(file)
                os.replace(file, final.parent / file.name)
            os.replace(model, tmp)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    stale = final.with_name(f"{final.name}.data")
    if stale.name not in {f.name for f in beside}:
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """SIGTERM while a temporary file or folder is open unwinds like Ctrl-C (exit 143), so
    it is removed rather than left behind; a handler of the program's own is kept."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def unwind(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (the format of every ganport report)."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
