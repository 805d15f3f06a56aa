"""The writer's OS lock on `<history>.lock`: the same advisory lock the
native library and `ihist` take (`flock` on Unix, `LockFileEx` on Windows,
through Rust's `File::try_lock`), so Python, Node and native writers exclude
each other, and the kernel drops it when the process dies (a successor
opens at once after a `kill -9`)."""

import os
import sys
import time
from typing import Optional

__all__ = ["OsLock", "try_os_lock"]

if sys.platform == "win32":  # pragma: no cover - tested on Windows only
    import msvcrt

    def _try(fd: int) -> bool:
        try:
            # One byte at offset 0: overlaps the whole-file range Rust's
            # `File::try_lock` locks with LockFileEx.
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _try(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class OsLock:
    """A held lock; `release()` (or closing the process) drops it. The lock
    file is left in place, as the native library leaves it."""

    def __init__(self, fd: int, path: str) -> None:
        self._fd: Optional[int] = fd
        self.path = path

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _unlock(fd)
            os.close(fd)

    def __del__(self) -> None:
        self.release()


def try_os_lock(path: str, timeout_ms: Optional[int]) -> Optional[OsLock]:
    """Takes the exclusive lock on `path` (creating the file), waiting up
    to `timeout_ms` (None: not at all). None if another holder kept it.
    Raises OSError if the file cannot be opened."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o644)
    deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
    pause = 0.002
    try:
        while True:
            if _try(fd):
                return OsLock(fd, path)
            if deadline is None or time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.1)
    except BaseException:
        os.close(fd)
        raise
