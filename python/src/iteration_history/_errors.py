"""The exceptions: one class per case of the component's WIT `error`
variant, all under `HistoryError`."""

import errno
import os
from typing import Any, Dict, Optional, Type

__all__ = [
    "HistoryError",
    "HistoryLocked",
    "CorruptHistory",
    "InvalidRecord",
    "InvalidName",
    "DiskFull",
    "HistoryPermissionError",
    "SyncFailed",
    "ReadOnlyHistory",
    "Conflict",
    "ChangedExternally",
    "InvalidCursor",
    "LeaseLost",
    "HistoryIOError",
    "HistoryClosed",
]


class HistoryError(Exception):
    """Base of every error of the history. `tag` is the WIT error case
    (`locked`, `corrupt`, ...), `message` says what happened, names the file
    and what to do. Nothing of the failed operation was committed."""

    tag: str = "io"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _set_errno(e: OSError, code: int) -> None:
    """The I/O failures are also `OSError`s (as the original module's
    `except IOError` / `except OSError` handlers expect), with `errno` set
    and `strerror` the system's text for it; `str(e)` stays the message."""
    e.errno = code
    e.strerror = os.strerror(code)


class HistoryLocked(HistoryError):
    """Another writer (a Python, Node or native process, or `ihist`) holds
    the history: wait, pass `lock_timeout_ms`, or open it with
    `read_only=True`."""

    tag = "locked"


class CorruptHistory(HistoryError):
    """A damaged line is followed by valid ones: call `repair()` (or open with
    `repair_on_open=True`). `line` is 1-based, `offset` the byte offset of the
    line's first byte."""

    tag = "corrupt"

    def __init__(self, message: str, line: int = 0, offset: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.offset = offset
        self.reason = reason


class InvalidRecord(HistoryError, ValueError):
    """A record that cannot be saved; nothing was written. `field` is a
    dotted path (`timestamp`, `metrics.sharpe_ratio`), `""` if the record is
    not an object at all; `index` the 0-based position in a batch."""

    tag = "invalid-record"

    def __init__(self, message: str, field: str = "", reason: str = "", index: Optional[int] = None) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.index = index


class InvalidName(HistoryError, ValueError):
    """A history file name that could leave its directory or is not portable
    (`:`, `\\`, NUL, more than 255 bytes)."""

    tag = "invalid-name"


class DiskFull(HistoryError, OSError):
    """No space left (or quota exceeded); the history is unchanged. Also an
    `OSError` (`IOError`) with `errno.ENOSPC`."""

    tag = "disk-full"

    def __init__(self, message: str) -> None:
        HistoryError.__init__(self, message)
        _set_errno(self, errno.ENOSPC)


class HistoryPermissionError(HistoryError, PermissionError):
    """The operating system refused access (permissions, read-only
    directory). Also a `PermissionError` (an `OSError`) with
    `errno.EACCES`."""

    tag = "permission-denied"

    def __init__(self, message: str) -> None:
        HistoryError.__init__(self, message)
        _set_errno(self, errno.EACCES)


class SyncFailed(HistoryError, OSError):
    """Syncing to disk failed: nothing was committed; a retry writes it again
    in full. Also an `OSError` with `errno.EIO`."""

    tag = "sync-failed"

    def __init__(self, message: str) -> None:
        HistoryError.__init__(self, message)
        _set_errno(self, errno.EIO)


class ReadOnlyHistory(HistoryError):
    """A write through a history opened with `read_only=True`."""

    tag = "read-only"


class Conflict(HistoryError):
    """`save_if_last` found another last iteration (`actual`; None: empty)."""

    tag = "conflict"

    def __init__(self, message: str, actual: Optional[int] = None) -> None:
        super().__init__(message)
        self.actual = actual


class ChangedExternally(HistoryError):
    """The file changed under this writer (a program that ignores the writer
    lock wrote to it). Nothing was written: stop that program, then reopen."""

    tag = "changed-externally"


class InvalidCursor(HistoryError):
    """A page cursor that is not a line start (e.g. after `clear`)."""

    tag = "invalid-cursor"


class LeaseLost(HistoryError):
    """This writer's lease was taken over by another writer: reopen."""

    tag = "lease-lost"


class HistoryIOError(HistoryError, OSError):
    """Any other I/O error. Also an `OSError` with `errno.EIO`."""

    tag = "io"

    def __init__(self, message: str) -> None:
        HistoryError.__init__(self, message)
        _set_errno(self, errno.EIO)


class HistoryClosed(HistoryError, ValueError):
    """An operation on a closed history."""

    tag = "closed"


_BY_TAG: Dict[str, Type[HistoryError]] = {
    c.tag: c
    for c in (
        HistoryLocked,
        CorruptHistory,
        InvalidRecord,
        InvalidName,
        DiskFull,
        HistoryPermissionError,
        SyncFailed,
        ReadOnlyHistory,
        Conflict,
        ChangedExternally,
        InvalidCursor,
        LeaseLost,
        HistoryIOError,
    )
}


def from_wit(tag: str, payload: Any) -> HistoryError:
    """The exception for a WIT `error` case (`payload` as wasmtime-py lifts
    it: a str, or a Record with `message` and the case's fields)."""
    cls = _BY_TAG.get(tag, HistoryIOError)
    if isinstance(payload, str):
        return cls(payload) if cls is not HistoryIOError or tag == "io" else HistoryIOError(f"{tag}: {payload}")
    message = str(getattr(payload, "message", payload))
    if cls is CorruptHistory:
        return CorruptHistory(message, payload.line, payload.offset, payload.reason)
    if cls is InvalidRecord:
        return InvalidRecord(message, payload.field, payload.reason, payload.index)
    if cls is Conflict:
        return Conflict(message, payload.actual)
    return cls(message)
