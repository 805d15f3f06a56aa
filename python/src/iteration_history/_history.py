"""`IterationHistory`: the original module's class over the component."""

import ctypes
import errno
import json
import math
import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, NoReturn, Optional, Tuple

from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime.component import Linker, Record, Variant

from . import _engine, _fastread
from ._errors import (
    HistoryClosed,
    HistoryError,
    HistoryIOError,
    HistoryLocked,
    HistoryPermissionError,
    InvalidRecord,
    ReadOnlyHistory,
    from_wit,
)
from ._lock import LockFileRefused, OsLock, try_os_lock
from ._fastread import Columns
from ._record import FIELDS, IterationRecord, RecordLike, record_to_dict

__all__ = [
    "IterationHistory",
    "BadLine",
    "TornTail",
    "VerifyReport",
    "RepairReport",
    "OpenReport",
    "Columns",
]

_INTERFACE = "iteration-history:history/store@0.1.0"
_METHODS = (
    "save-json",
    "save-batch-json",
    "save-if-last",
    "load-recent",
    "get-all",
    "get-all-text",
    "load-recent-text",
    "columns",
    "count",
    "last-iteration-num",
    "clear",
    "verify",
    "repair",
    "compact",
    "export",
    "open-report",
)


@dataclass(frozen=True)
class BadLine:
    """A line that is not a valid record (`line` 1-based; `offset` in bytes)."""

    line: int
    offset: int
    reason: str


@dataclass(frozen=True)
class TornTail:
    """The tail of a write that did not finish."""

    offset: int
    line: int
    bytes: int
    reason: str
    sidecar: str


@dataclass(frozen=True)
class VerifyReport:
    """What `verify()` found. `health`: "healthy", "torn-tail" or "corrupt"."""

    file: str
    health: str
    records: int
    unchecksummed: int
    last_iteration_num: Optional[int]
    bytes: int
    torn_tail: Optional[TornTail]
    corrupt_lines: List[BadLine]
    bad_lines_total: int
    temp_files: List[str]
    dir_sync: bool


@dataclass(frozen=True)
class RepairReport:
    """What `repair()` did."""

    kept: int
    moved: List[BadLine]
    moved_lines: int
    moved_bytes: int
    sidecar: Optional[str]


@dataclass(frozen=True)
class OpenReport:
    """What opening found and did. `lock`: "os" (an OS lock on
    `<history>.lock`, held by this process), "lease" or "none"."""

    file: str
    writable: bool
    lock: str
    dir_sync: bool
    created: bool
    removed_temp_files: List[str]
    torn_tail: Optional[TornTail]
    added_final_newline: bool
    repaired: Optional[RepairReport]


class _Call:
    """A component function with its types resolved once.

    wasmtime-py's `Func.__call__` asks for the function's type and walks the
    result's variant cases (the 13 of `error`) through its C API on every
    call: about 0.1 ms per save, most of the package's own cost. This does
    the same call with the parameter and result types looked up once (the
    result type's cases memoized). It uses wasmtime-py internals, so it is
    used only where they are as expected (tested at both ends of the
    supported wasmtime range), else the plain call."""

    def __init__(self, func: Any, store: Any) -> None:
        self._func = func
        self._fast = False
        try:
            from wasmtime import _ffi
            from wasmtime.component._enter import enter_wasm

            fty = func.type(store)
            params = fty.params
            result = fty.result
            if result is not None and hasattr(result, "_tagged"):
                cases = result._cases()
                tagged = result._tagged()
                result._cases = lambda: cases
                result._tagged = lambda: tagged
            self._ffi, self._enter = _ffi, enter_wasm
            self._fty, self._params, self._result = fty, [t for _, t in params], result
            self._fast = True
        except Exception:  # pragma: no cover - another wasmtime-py layout
            self._fast = False

    def __call__(self, store: Any, *args: Any) -> Any:
        if not self._fast:
            return self._func(store, *args)
        ffi = self._ffi
        if len(args) != len(self._params):
            raise TypeError(f"wrong number of parameters: given {len(args)}, expected {len(self._params)}")
        param_capi = (ffi.wasmtime_component_val_t * len(args))()
        n = 0
        try:
            for ty, val in zip(self._params, args):
                ty.convert_to_c(store, val, ctypes.pointer(param_capi[n]))
                n += 1
            result_space = ffi.wasmtime_component_val_t() if self._result is not None else None
            result_capi = ctypes.byref(result_space) if result_space is not None else None
            func = self._func._func

            def run() -> Any:
                return ffi.wasmtime_component_func_call(
                    ctypes.byref(func), store._context(), param_capi, n, result_capi, 0 if result_space is None else 1
                )

            self._enter(run)
            if result_space is None:
                return None
            return self._result.convert_from_c(result_space)
        finally:
            for i in range(n):
                ffi.wasmtime_component_val_delete(ctypes.byref(param_capi[i]))


def _attr(rec: Any, name: str) -> Any:
    return getattr(rec, name.replace("_", "-"))


def _torn(t: Any) -> Optional[TornTail]:
    return None if t is None else TornTail(t.offset, t.line, t.bytes, t.reason, t.sidecar)


def _bad(lines: Iterable[Any]) -> List[BadLine]:
    return [BadLine(b.line, b.offset, b.reason) for b in lines]


def _repair(r: Any) -> Optional[RepairReport]:
    if r is None:
        return None
    return RepairReport(r.kept, _bad(r.moved), _attr(r, "moved_lines"), _attr(r, "moved_bytes"), r.sidecar)


def _metric(value: Any) -> Any:
    # metric-value: float (number), int (integer), or JSON text (json).
    return json.loads(value) if isinstance(value, str) else value


def _record(rec: Any) -> IterationRecord:
    extra = rec.extra
    return IterationRecord(
        iteration_num=_attr(rec, "iteration_num"),
        strategy_code=_attr(rec, "strategy_code"),
        # Text from the component is Python's json dialect (bare NaN etc.).
        execution_result=json.loads(_attr(rec, "execution_result")),
        metrics={m.name: _metric(m.value) for m in rec.metrics},
        classification_level=_attr(rec, "classification_level"),
        timestamp=rec.timestamp,
        champion_updated=_attr(rec, "champion_updated"),
        extra=json.loads(extra) if extra not in ("", "{}") else {},
    )


def _first_bad_field(d: Dict[str, Any]) -> str:
    for key, value in d.items():
        items = value.items() if key == "metrics" and isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            try:
                json.dumps(v)
            except (TypeError, ValueError):
                return key if sub is None else f"{key}.{sub}"
    return ""


def _line(record: RecordLike, index: Optional[int]) -> str:
    """A record as one JSON line in Python's `json.dumps` dialect (what the
    original module wrote); the component parses and checks it."""
    try:
        d = record_to_dict(record)
    except TypeError as e:
        raise InvalidRecord(f"invalid record: {e}; nothing was written", "", str(e), index) from None
    try:
        return json.dumps(d)
    except (TypeError, ValueError) as e:
        f = _first_bad_field(d)
        where = "" if index is None else f" (record {index} of the batch, 0-based)"
        raise InvalidRecord(
            f"invalid record{where}: field `{f}`: {e}; nothing was written", f, str(e), index
        ) from None


# Objects on one file share one instance of the component per process
# (`_Shared`, refcounted): the original module's objects are cheap and
# stateless, so its users make several on one path, and all of them must
# read and save. Every call on a shared instance holds its lock (a Store
# must not be entered from two threads at once).

#: Fork state: `gen` counts forks into this process (an instance opened
#: before a fork is unusable in the child: wasmtime's I/O threads do not
#: survive it), `used` says this process has run the component, and
#: `forked_after_use` that it is a child forked after its parent ran it (no
#: instance can work here then: wasmtime's I/O thread pool is gone).
_FORK: Dict[str, Any] = {"gen": 0, "used": False, "forked_after_use": False}
_REGISTRY: Dict[str, "_Shared"] = {}
# Re-entrant: a finalizer (`IterationHistory.__del__`, run by the garbage
# collector at any allocation) may release a history in a thread that holds
# this lock, e.g. while it instantiates another history.
_REGISTRY_LOCK = threading.RLock()
# Histories whose last object was collected while another thread held a lock
# they need: released by the next open or close in this process (a
# finalizer never waits for a lock).
_PENDING: List["_Shared"] = []
# Instances inherited through a fork: kept alive and never touched in the
# child (freeing a Store or dropping a handle there could block, and
# unlocking the inherited lock file would drop the parent's lock).
_ORPHANS: List["_Shared"] = []

_SPAWN_ADVICE = (
    "open the history in the child, in a process started with multiprocessing's 'spawn' or 'forkserver' "
    "start method (multiprocessing.get_context('spawn')): wasmtime's I/O threads do not survive os.fork()"
)


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _FORK["gen"] += 1
    if _FORK["used"]:
        _FORK["forked_after_use"] = True
    _ORPHANS.extend(_REGISTRY.values())
    _REGISTRY.clear()
    _REGISTRY_LOCK = threading.RLock()
    _ORPHANS.extend(_PENDING)
    _PENDING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check(result: Any) -> Any:
    # wasmtime-py returns `result<T, error>` untagged: an error is a Variant.
    if isinstance(result, Variant):
        raise from_wit(result.tag, result.payload)
    return result


#: The writer options of an object: strategy, durability, lock_timeout_ms,
#: repair_on_open.
_Opts = Tuple[str, str, Optional[int], bool]


class _Shared:
    """One instance of the component on one history file, shared by every
    `IterationHistory` of this process on that file. Opened for reading (no
    lock); it becomes the writer (the OS lock taken, `open-with`) at the
    first write. A trap re-instantiates it."""

    def __init__(self, key: str, directory: str, name: str, filepath: str) -> None:
        self.key, self.directory, self.name, self.filepath = key, directory, name, filepath
        self.lock = threading.RLock()
        self.refs = 0
        self.gen = _FORK["gen"]
        self.store: Any = None
        self.handle: Any = None
        self.funcs: Dict[str, Any] = {}
        self.statics: Dict[str, Any] = {}
        self.writer: Optional[_Opts] = None
        self.os_lock: Optional[OsLock] = None
        self.dead = False
        self._instantiate()
        self.handle = _check(self.statics["open-read-only"](self.store, self.name))

    def _instantiate(self) -> None:
        _FORK["used"] = True
        engine, component = _engine.load_component()
        linker = Linker(engine)
        linker.add_wasip2()
        store = Store(engine)
        wasi = WasiConfig()
        wasi.preopen_dir(self.directory, ".")
        store.set_wasi(wasi)
        instance = linker.instantiate(store, component)
        iface = instance.get_export_index(store, _INTERFACE)
        if iface is None:
            raise HistoryIOError(f"the component does not export {_INTERFACE}")

        def func(n: str) -> Any:
            index = instance.get_export_index(store, n, iface)
            if index is None:
                raise HistoryIOError(f"the component does not export {n}")
            return instance.get_func(store, index)

        self.store = store
        self.funcs = {m: _Call(func(f"[method]history.{m}"), store) for m in _METHODS}
        self.statics = {
            "open-read-only": func("[static]history.open-read-only"),
            "open-with": func("[static]history.open-with"),
            "default-options": func("default-options"),
        }

    def _open_writer(self, opts: _Opts, take_lock: bool) -> Any:
        strategy, durability, lock_timeout_ms, repair_on_open = opts
        o = self.statics["default-options"](self.store)
        o.strategy = strategy
        o.durability = durability
        setattr(o, "lock-timeout-ms", lock_timeout_ms)
        setattr(o, "repair-on-open", repair_on_open)
        if hasattr(o, "host-lock"):
            # The component cannot take OS locks: take the native writers'
            # lock here and tell it so (it then skips its lease file).
            if take_lock:
                lock_path = os.path.join(self.directory, self.name + ".lock")
                try:
                    self.os_lock = try_os_lock(lock_path, lock_timeout_ms)
                except OSError as e:
                    text = e.strerror if isinstance(e, LockFileRefused) else f"opening the lock file {lock_path}: {e}"
                    if e.errno in (errno.EACCES, errno.EPERM, errno.ELOOP):
                        raise HistoryPermissionError(f"{self.filepath}: {text}") from None
                    err = HistoryIOError(f"{self.filepath}: {text}")
                    if e.errno:  # the system's own code (EROFS, ...) rather than EIO
                        err.errno, err.strerror = e.errno, os.strerror(e.errno)
                    raise err from None
                if self.os_lock is None:
                    raise HistoryLocked(
                        f"{self.filepath} is locked by another writer (an OS lock on {self.name}.lock): wait for it "
                        "to close, pass lock_timeout_ms, or only read (reads take no lock)"
                    )
            setattr(o, "host-lock", True)
        try:
            return _check(self.statics["open-with"](self.store, self.name, o))
        except BaseException:
            if take_lock:
                self._release_lock()
            raise

    def become_writer(self, opts: _Opts) -> None:
        """Under `lock`: opens the writer (taking the lock) unless open."""
        if self.writer is not None:
            if self.writer[:2] != opts[:2]:
                raise HistoryError(
                    f"{self.filepath} is already open for writing in this process with strategy="
                    f"{self.writer[0]!r}, durability={self.writer[1]!r}: open it with the same options"
                )
            return
        handle = self._open_writer(opts, take_lock=True)
        old, self.handle, self.writer = self.handle, handle, opts
        try:
            old.drop(self.store)
        except Exception:  # pragma: no cover - the reader needs no cleanup
            pass

    def invoke(self, name: str, *args: Any) -> Any:
        """Under `lock`: calls method `name` on the open handle."""
        if self.handle is None:
            raise HistoryClosed(f"{self.filepath}: the history is closed")
        try:
            result = self.funcs[name](self.store, self.handle, *args)
        except WasmtimeError as e:
            self._recover(e)
        return _check(result)

    def _recover(self, trap: WasmtimeError) -> NoReturn:
        """After a trap the instance cannot be entered again: start a new
        one and reopen the history as it was (the lock stays held)."""
        lines = [ln.strip() for ln in str(trap).strip().splitlines() if ln.strip()]
        # wasmtime's text: a backtrace, then "Caused by:" and the reason.
        what = lines[-1] if lines else "wasm trap"
        msg = f"{self.filepath}: the component trapped ({what}); "
        self.handle, self.funcs, self.statics = None, {}, {}
        self.store = None  # the trapped instance is never entered again
        try:
            self._instantiate()
            if self.writer is not None:
                self.handle = self._open_writer(self.writer, take_lock=False)
            else:
                self.handle = _check(self.statics["open-read-only"](self.store, self.name))
        except BaseException as e:
            self.handle = None
            self.dead = True
            self._release_lock()
            raise HistoryClosed(msg + f"reopening it failed ({e}): this history is closed, open it again") from trap
        raise HistoryIOError(
            msg + "the call may not have completed; the history was reopened and can be used again "
            "(check get_last_iteration_num() before saving again)"
        ) from trap

    def _release_lock(self) -> None:
        if self.os_lock is not None:
            self.os_lock.release()
            self.os_lock = None

    def release(self, blocking: bool = True) -> bool:
        """One user fewer; the last closes the instance and drops the lock.
        With `blocking=False` (from a finalizer, which the garbage collector
        may run in a thread holding either lock) nothing waits: it returns
        False, having done nothing, when another thread holds a lock."""
        if blocking:
            with self.lock:
                self._drop_ref()
            # Not under `lock` (opening takes the registry lock, then `lock`).
            with _REGISTRY_LOCK:
                self._unregister()
            return True
        # The same order as opening; the thread that holds them re-enters.
        if not _REGISTRY_LOCK.acquire(False):
            return False
        try:
            if not self.lock.acquire(False):
                return False
            try:
                self._drop_ref()
            finally:
                self.lock.release()
            self._unregister()
        finally:
            _REGISTRY_LOCK.release()
        return True

    def _drop_ref(self) -> None:
        self.refs -= 1
        if self.refs > 0:
            return
        self.dead = True
        handle, self.handle = self.handle, None
        if handle is not None and self.store is not None:
            try:
                handle.drop(self.store)
            except Exception:  # pragma: no cover - dropped with the store anyway
                pass
        # The store owns the preopened directory's descriptor.
        self.store, self.funcs, self.statics = None, {}, {}
        self._release_lock()

    def _unregister(self) -> None:
        if self.dead and _REGISTRY.get(self.key) is self:
            del _REGISTRY[self.key]


def _release_pending() -> None:
    """Releases what finalizers could not (see `_PENDING`)."""
    while _PENDING:
        try:
            shared = _PENDING.pop()
        except IndexError:  # pragma: no cover - another thread took it
            return
        if shared.gen == _FORK["gen"]:
            shared.release()


def _key(directory: str, name: str) -> str:
    return os.path.join(os.path.realpath(directory), name)


class IterationHistory:
    """A crash-safe history of iteration records in one JSONL file.

    The original module's API -- `save`, `load_recent`,
    `get_last_iteration_num`, `get_all`, `count`, `clear`, `filepath` --
    with every save a durable, all-or-nothing append made by the
    iteration-history WASI component in wasmtime, which sees only the
    history's directory.

    Reads take no lock. The first write (`save`, `save_batch`,
    `save_if_last`, `clear`, `repair`, `compact`) takes the history's writer
    lock: the OS lock on `<filepath>.lock` that native writers and `ihist`
    take, released by the kernel if the process dies; a write that finds
    another writer raises `HistoryLocked`. `read_only=True` refuses writes
    (`ReadOnlyHistory`).

    Objects on one file in one process share one open history (and its
    lock), so several may be alive and all read and save; it is closed when
    the last is closed. An object may be shared between threads: calls are
    serialized. In a process forked after the history was opened, every call
    raises `HistoryError` at once (open it in a 'spawn'ed process instead).

    Options: `strategy` ("append" or "rewrite"), `durability` ("full" or
    "none"), `lock_timeout_ms` (wait for another writer at the first write;
    default: fail at once with `HistoryLocked`), `repair_on_open` (takes the
    writer lock at once, to repair).
    """

    def __init__(
        self,
        filepath: "str | os.PathLike[str]",
        *,
        read_only: bool = False,
        strategy: str = "append",
        durability: str = "full",
        lock_timeout_ms: Optional[int] = None,
        repair_on_open: bool = False,
    ) -> None:
        self.filepath = os.fspath(filepath)
        self._shared: Optional[_Shared] = None
        self._read_only = read_only
        self._opts: _Opts = (strategy, durability, lock_timeout_ms, repair_on_open)
        if _FORK["forked_after_use"]:
            raise HistoryError(
                f"{self.filepath}: this process was forked from one that had already used iteration_history: "
                + _SPAWN_ADVICE
            )
        if strategy not in ("append", "rewrite") or durability not in ("full", "none"):
            raise ValueError(f"strategy must be 'append' or 'rewrite', durability 'full' or 'none': {strategy!r}, {durability!r}")
        directory, name = os.path.split(os.path.abspath(self.filepath))
        if not read_only:
            os.makedirs(directory, exist_ok=True)
        key = _key(directory, name)
        _release_pending()
        with _REGISTRY_LOCK:
            shared = _REGISTRY.get(key)
            if shared is not None:
                with shared.lock:  # not while its last user closes it
                    if shared.dead:
                        shared = None
                    else:
                        shared.refs += 1
            if shared is None:
                shared = _Shared(key, directory, name, self.filepath)
                shared.refs = 1
                _REGISTRY[key] = shared
        self._shared = shared
        if repair_on_open and not read_only:
            try:
                with shared.lock:
                    shared.become_writer(self._opts)
            except BaseException:
                self.close()
                raise

    def _state(self) -> _Shared:
        shared = self._shared
        if shared is None:
            raise HistoryClosed(f"{self.filepath}: the history is closed")
        if shared.gen != _FORK["gen"]:
            raise HistoryError(
                f"{self.filepath}: this history was opened in another process (this one is a fork of it, by "
                f"os.fork() or multiprocessing's 'fork' start method): {_SPAWN_ADVICE}"
            )
        return shared

    def _call(self, name: str, *args: Any) -> Any:
        shared = self._state()
        with shared.lock:
            return shared.invoke(name, *args)

    def _write(self, name: str, *args: Any) -> Any:
        shared = self._state()
        if self._read_only:
            raise ReadOnlyHistory(f"{self.filepath}: opened with read_only=True: writes are refused")
        with shared.lock:
            if shared.handle is None:
                raise HistoryClosed(f"{self.filepath}: the history is closed")
            shared.become_writer(self._opts)
            return shared.invoke(name, *args)

    # The original module's API.

    def save(self, record: RecordLike) -> None:
        """Saves one record (an `IterationRecord`, another dataclass with its
        fields, or a dict) durably: on stable storage when this returns."""
        self._write("save-json", _line(record, None))

    def load_recent(self, N: int = 5, *, n: Optional[int] = None) -> List[IterationRecord]:
        """The last `N` records, oldest first (`n=` is accepted too)."""
        if n is not None:
            N = n
        if N <= 0:
            return []
        page = self._call("load-recent-text", min(N, 2**32 - 1), _fastread.DIALECT)
        return _fastread.records_from_text(page.text)

    def get_last_iteration_num(self) -> Optional[int]:
        """`iteration_num` of the last record; None for an empty history."""
        last: Optional[int] = self._call("last-iteration-num")
        return last

    def get_all(self) -> List[IterationRecord]:
        """Every record, oldest first."""
        out: List[IterationRecord] = []
        for page in self._text_pages(4096):
            out.extend(page)
        return out

    def count(self) -> int:
        """Number of records."""
        c: int = self._call("count")
        return c

    def clear(self) -> None:
        """Removes every record, atomically."""
        self._write("clear")

    # Beyond the original module.

    def save_batch(self, records: Iterable[RecordLike]) -> None:
        """Saves several records as one all-or-nothing commit."""
        lines = list(records)
        batch = len(lines) > 1
        self._write("save-batch-json", [_line(r, i if batch else None) for i, r in enumerate(lines)])

    def iter(self, page_size: int = 1000) -> Iterator[IterationRecord]:
        """Every record, oldest first, read `page_size` records at a time."""
        for page in self._text_pages(page_size):
            yield from page

    def _text_pages(self, page_size: int) -> Iterator[List[IterationRecord]]:
        # One text per page, parsed by `json.loads` (see _fastread).
        cursor: Optional[int] = 0
        limit = max(1, min(int(page_size), 2**32 - 1))
        while cursor is not None:
            page = self._call("get-all-text", cursor, limit, _fastread.DIALECT)
            yield _fastread.records_from_text(page.text)
            cursor = _attr(page, "next_cursor")

    def columns(self, names: Iterable[str], *, as_frame: bool = False) -> Any:
        """Columns of the whole history, read in one pass by the component:
        a dict of lists, one per name, one value per record, oldest first
        (`None` where a record has none). A name is a record field
        (`iteration_num`), another top-level field, or a dotted path
        (`metrics.sharpe_ratio`, `execution_result.success`). With
        `as_frame=True` (or `.to_pandas()` on the result): a pandas
        DataFrame (needs pandas: `pip install 'iteration-history[pandas]'`)."""
        wanted = [names] if isinstance(names, str) else list(names)
        page = self._call("columns", wanted, _fastread.DIALECT)
        cols = _fastread.columns_from_text(wanted, page.text)
        return cols.to_pandas() if as_frame else cols

    def __iter__(self) -> Iterator[IterationRecord]:
        return self.iter()

    def __len__(self) -> int:
        return self.count()

    def verify(self) -> VerifyReport:
        """Checks every line (JSON, checksums); changes nothing."""
        r = self._call("verify")
        return VerifyReport(
            file=r.file,
            health=r.health,
            records=r.records,
            unchecksummed=r.unchecksummed,
            last_iteration_num=_attr(r, "last_iteration_num"),
            bytes=r.bytes,
            torn_tail=_torn(_attr(r, "torn_tail")),
            corrupt_lines=_bad(_attr(r, "corrupt_lines")),
            bad_lines_total=_attr(r, "bad_lines_total"),
            temp_files=list(_attr(r, "temp_files")),
            dir_sync=_attr(r, "dir_sync"),
        )

    def repair(self) -> RepairReport:
        """Moves bad lines (and a torn tail) to `<file>.bad.<n>` and
        atomically rewrites the rest."""
        report = _repair(self._write("repair"))
        assert report is not None
        return report

    def compact(self) -> int:
        """Rewrites the history atomically in canonical form; the record count."""
        c: int = self._write("compact")
        return c

    def export(self, name: str) -> int:
        """Writes a consistent byte-for-byte copy to file `name` in the same
        directory, atomically and durably; the number of bytes."""
        c: int = self._call("export", name)
        return c

    def save_if_last(self, expected_last: Optional[int], records: Iterable[RecordLike]) -> bool:
        """Saves `records` as one commit only if the last `iteration_num` is
        `expected_last` (None: empty), else raises `Conflict`. True if
        appended, False if the history already ended with exactly these
        records (a retry)."""
        recs = [record_to_dict(r) for r in records]
        # Typed records: the JSON form has no compare-and-append function.
        wit = [self._wit_record(d, i if len(recs) > 1 else None) for i, d in enumerate(recs)]
        outcome = self._write("save-if-last", expected_last, wit)
        return bool(outcome == "appended")

    @staticmethod
    def _wit_record(d: Dict[str, Any], index: Optional[int]) -> Any:
        for f in ("iteration_num", "strategy_code", "classification_level", "timestamp"):
            if f not in d:
                raise InvalidRecord(f"invalid record: field `{f}` is missing; nothing was written", f, "missing", index)
        rec: Any = Record()
        setattr(rec, "iteration-num", d["iteration_num"])
        setattr(rec, "strategy-code", d["strategy_code"])
        setattr(rec, "execution-result", json.dumps(d.get("execution_result", {})))
        metrics = []
        for k, v in d.get("metrics", {}).items():
            m: Any = Record()
            m.name = k
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, int) and not -(2**63) <= v < 2**63):
                m.value = json.dumps(v)
            else:
                m.value = v
            metrics.append(m)
        rec.metrics = metrics
        setattr(rec, "classification-level", d["classification_level"])
        rec.timestamp = d["timestamp"]
        setattr(rec, "champion-updated", bool(d.get("champion_updated", False)))
        rec.extra = json.dumps({k: v for k, v in d.items() if k not in FIELDS})
        return rec

    def open_report(self) -> OpenReport:
        """What opening found and did, the lock held (`none` until the first
        write takes it), and whether the host syncs directories."""
        r = self._call("open-report")
        return OpenReport(
            file=r.file,
            writable=r.writable,
            lock=r.lock,
            dir_sync=_attr(r, "dir_sync"),
            created=r.created,
            removed_temp_files=list(_attr(r, "removed_temp_files")),
            torn_tail=_torn(_attr(r, "torn_tail")),
            added_final_newline=_attr(r, "added_final_newline"),
            repaired=_repair(r.repaired),
        )

    @property
    def closed(self) -> bool:
        return self._shared is None

    def close(self) -> None:
        """Closes this object; the last one open on the file in this process
        releases the history and its writer lock. Idempotent. In a forked
        child it only forgets the parent's history."""
        shared, self._shared = self._shared, None
        if shared is not None and shared.gen == _FORK["gen"]:
            shared.release()
        _release_pending()

    def __enter__(self) -> "IterationHistory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Never waits for a lock: the collector may run this in a thread
        # that holds one (while it opens another history, say).
        try:
            shared, self._shared = getattr(self, "_shared", None), None
            if shared is not None and shared.gen == _FORK["gen"] and not shared.release(blocking=False):
                _PENDING.append(shared)
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._shared is None else "open"
        return f"IterationHistory({self.filepath!r}, {state})"


def same_record(a: RecordLike, b: RecordLike) -> bool:
    """Record equality where NaN equals NaN (for tests and checks)."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return "<NaN>"
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return bool(norm(record_to_dict(a)) == norm(record_to_dict(b)))

