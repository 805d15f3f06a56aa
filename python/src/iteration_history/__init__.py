"""A crash-safe history of iteration records for long-running learning
loops: one JSON object per line (JSONL), written by the iteration-history
WASI component running in wasmtime.

A drop-in for the original history module: change the import.

    from iteration_history import IterationHistory, IterationRecord

    history = IterationHistory("runs/history.jsonl")
    last = history.get_last_iteration_num()          # None when empty
    history.save(IterationRecord(...))               # durable when it returns
    recent = history.load_recent(5)                  # List[IterationRecord]
"""

from ._engine import CacheWarning
from ._errors import (
    ChangedExternally,
    Conflict,
    CorruptHistory,
    DiskFull,
    HistoryClosed,
    HistoryError,
    HistoryIOError,
    HistoryLocked,
    HistoryPermissionError,
    InvalidCursor,
    InvalidName,
    InvalidRecord,
    LeaseLost,
    ReadOnlyHistory,
    SyncFailed,
)
from ._fastread import Columns
from ._history import BadLine, IterationHistory, OpenReport, RepairReport, TornTail, VerifyReport, same_record
from ._record import IterationRecord, RecordLike

__version__ = "0.1.0"

__all__ = [
    "IterationHistory",
    "IterationRecord",
    "RecordLike",
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
    "CacheWarning",
    "VerifyReport",
    "RepairReport",
    "OpenReport",
    "TornTail",
    "BadLine",
    "same_record",
    "Columns",
]
