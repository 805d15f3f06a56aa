"""The writer's OS lock on `<history>.lock`: the same advisory lock the
native library and `ihist` take (`flock` on Unix, `LockFileEx` on Windows,
through Rust's `File::try_lock`), so Python, Node and native writers exclude
each other, and the kernel drops it when the process dies (a successor
opens at once after a `kill -9`)."""

import errno
import os
import stat
import sys
import time
from typing import Optional

__all__ = ["OsLock", "LockFileRefused", "try_os_lock"]

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
        self._pid = os.getpid()

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            # A forked child shares the parent's open file description:
            # unlocking there would drop the parent's lock. Only close.
            if os.getpid() == self._pid:
                _unlock(fd)
            os.close(fd)

    def __del__(self) -> None:
        self.release()


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


class LockFileRefused(OSError):
    """The lock file cannot be used: a symbolic link, not a regular file,
    owned by another user, or not openable (`errno` says which)."""


def _open_lock_file(path: str) -> int:
    """Opens (creating, mode 0600) the lock file without following a
    symbolic link, and checks it is a regular file this user owns."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as e:
        try:
            st = os.lstat(path)
        except OSError:
            raise LockFileRefused(e.errno, f"cannot open the lock file {path}: {e.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise LockFileRefused(e.errno, f"the lock file {path} is a symbolic link: refused (remove it)") from None
        if hasattr(os, "getuid") and st.st_uid != os.geteuid():
            raise LockFileRefused(
                e.errno,
                f"cannot open the lock file {path}: it is owned by {_owner(st.st_uid)}, not by this user "
                f"({_owner(os.geteuid())}): another user writes this history ({e.strerror})",
            ) from None
        raise LockFileRefused(e.errno, f"cannot open the lock file {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LockFileRefused(errno.EINVAL, f"the lock file {path} is not a regular file: refused")
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise LockFileRefused(
                errno.EACCES,
                f"the lock file {path} is owned by {_owner(st.st_uid)}, not by this user "
                f"({_owner(os.geteuid())}): refused (another user writes this history; "
                "remove the lock file if that user no longer does)",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def try_os_lock(path: str, timeout_ms: Optional[int]) -> Optional[OsLock]:
    """Takes the exclusive lock on `path` (creating the file 0600, never
    through a symbolic link), waiting up to `timeout_ms` (None: not at all).
    None if another holder kept it. Raises `LockFileRefused` (an OSError
    naming the file) if the file is a link, not a regular file, owned by
    another user or cannot be opened."""
    fd = _open_lock_file(path)
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
