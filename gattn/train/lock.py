"""A per-run-folder lock, so two trainings never write into the same ``--out``.

The lock is ``<out>/.lock``, holding the owner's process id and host name. Where ``fcntl`` is
available it is an exclusive ``flock`` on that file: the operating system drops it when the
owner exits, however it exits, so a lock left behind by a killed training never blocks the
next one (the stale file is simply taken over). Elsewhere the file is created with
``O_CREAT | O_EXCL`` and a lock whose process is no longer alive (same host) is taken over.
See docs/training.md ("Run folder").
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover  (not POSIX)
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError"]

#: name of the lock file inside a run folder
LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock."""


def _owner(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "another process"
    pid, _, host = text.partition("@")
    return f"process {pid} on {host}" if pid and host else "another process"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Exclusive lock of one run folder (a context manager).

    Args:
        folder: the run folder (must exist).

    Raises:
        RunLockedError: on :meth:`acquire`, if a live process holds the lock; the message
            names the folder, the owner's pid and what to do.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _refuse(self) -> RunLockedError:
        # with flock the lock dies with its owner, so a refusal always means a live owner
        hint = "" if fcntl is not None else " (if it is not running, delete the lock file)"
        return RunLockedError(
            f"run folder {str(self.folder)!r} is in use by {_owner(self.path)} (lock file "
            f"{str(self.path)!r}): another training is writing there; wait for it to finish or "
            f"choose another --out{hint}"
        )

    def _stamp(self, fd: int) -> None:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode())
        os.fsync(fd)

    def acquire(self) -> RunLock:
        """Take the lock (never waits).

        Returns:
            ``self``.

        Raises:
            RunLockedError: a live process holds it.
        """
        if self._fd is not None:
            return self
        if fcntl is None:  # pragma: no cover
            return self._acquire_exclusive_create()
        for _ in range(10):  # retry if the owner removed the file between our open and flock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse() from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._stamp(fd)
                self._fd = fd
                return self
            os.close(fd)
        raise self._refuse()  # pragma: no cover

    def _acquire_exclusive_create(self) -> RunLock:  # pragma: no cover  (not POSIX)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid, _, host = self.path.read_text().strip().partition("@")
                if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()  # stale: its owner is gone
                    continue
                raise self._refuse() from None
            self._stamp(fd)
            self._fd = fd
            return self
        raise self._refuse()

    def release(self) -> None:
        """Drop the lock and remove the lock file (no-op if not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
