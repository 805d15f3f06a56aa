"""`IterationHistory`: the original module's class over the component."""

import ctypes
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional

from wasmtime import Store, WasiConfig
from wasmtime.component import Linker, Record, Variant

from . import _engine, _fastread
from ._errors import HistoryClosed, HistoryIOError, HistoryLocked, InvalidRecord, from_wit
from ._lock import OsLock, try_os_lock
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


class IterationHistory:
    """A crash-safe history of iteration records in one JSONL file.

    The original module's API -- `save`, `load_recent`,
    `get_last_iteration_num`, `get_all`, `count`, `clear` -- with every save
    a durable, all-or-nothing append made by the iteration-history WASI
    component in wasmtime, which sees only the history's directory.

    Opening for writing takes the history's writer lock: the OS lock on
    `<filepath>.lock` that native writers and `ihist` take, released by the
    kernel if the process dies. `read_only=True` opens a reader (no lock).

    Options: `strategy` ("append" or "rewrite"), `durability` ("full" or
    "none"), `lock_timeout_ms` (wait for another writer; default: fail at
    once with `HistoryLocked`), `repair_on_open`.
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
        directory, name = os.path.split(os.path.abspath(self.filepath))
        self._handle: Any = None
        self._store: Any = None
        self._funcs: Dict[str, Any] = {}
        self._os_lock: Optional[OsLock] = None
        if not read_only:
            os.makedirs(directory, exist_ok=True)
        engine, component = _engine.load_component()
        linker = Linker(engine)
        linker.add_wasip2()
        self._store = Store(engine)
        wasi = WasiConfig()
        wasi.preopen_dir(directory, ".")
        self._store.set_wasi(wasi)
        instance = linker.instantiate(self._store, component)
        iface = instance.get_export_index(self._store, _INTERFACE)
        if iface is None:
            raise HistoryIOError(f"the component does not export {_INTERFACE}")

        def func(n: str) -> Any:
            index = instance.get_export_index(self._store, n, iface)
            if index is None:
                raise HistoryIOError(f"the component does not export {n}")
            return instance.get_func(self._store, index)

        self._funcs = {m: _Call(func(f"[method]history.{m}"), self._store) for m in _METHODS}
        if read_only:
            self._handle = self._check(func("[static]history.open-read-only")(self._store, name))
            return
        opts = func("default-options")(self._store)
        opts.strategy = strategy
        opts.durability = durability
        setattr(opts, "lock-timeout-ms", lock_timeout_ms)
        setattr(opts, "repair-on-open", repair_on_open)
        if hasattr(opts, "host-lock"):
            # The component cannot take OS locks: take the native writers'
            # lock here and tell it so (it then skips its lease file).
            try:
                self._os_lock = try_os_lock(os.path.join(directory, name + ".lock"), lock_timeout_ms)
            except OSError as e:
                raise HistoryIOError(f"{self.filepath}: opening the lock file {name}.lock: {e}") from None
            if self._os_lock is None:
                raise HistoryLocked(
                    f"{self.filepath} is locked by another writer (an OS lock on {name}.lock): wait for it to "
                    "close, pass lock_timeout_ms, or open it with read_only=True"
                )
            setattr(opts, "host-lock", True)
        try:
            self._handle = self._check(func("[static]history.open-with")(self._store, name, opts))
        except BaseException:
            self._release_lock()
            raise

    @staticmethod
    def _check(result: Any) -> Any:
        # wasmtime-py returns `result<T, error>` untagged: an error is a Variant.
        if isinstance(result, Variant):
            raise from_wit(result.tag, result.payload)
        return result

    def _call(self, name: str, *args: Any) -> Any:
        if self._handle is None:
            raise HistoryClosed(f"{self.filepath}: the history is closed")
        return self._check(self._funcs[name](self._store, self._handle, *args))

    # The original module's API.

    def save(self, record: RecordLike) -> None:
        """Saves one record (an `IterationRecord`, another dataclass with its
        fields, or a dict) durably: on stable storage when this returns."""
        self._call("save-json", _line(record, None))

    def load_recent(self, n: int = 5) -> List[IterationRecord]:
        """The last `n` records, oldest first."""
        if n <= 0:
            return []
        page = self._call("load-recent-text", min(n, 2**32 - 1), _fastread.DIALECT)
        return _fastread.records_from_text(page.text)

    def get_last_iteration_num(self) -> Optional[int]:
        """`iteration_num` of the last record; None for an empty history."""
        n: Optional[int] = self._call("last-iteration-num")
        return n

    def get_all(self) -> List[IterationRecord]:
        """Every record, oldest first."""
        out: List[IterationRecord] = []
        for page in self._text_pages(4096):
            out.extend(page)
        return out

    def count(self) -> int:
        """Number of records."""
        n: int = self._call("count")
        return n

    def clear(self) -> None:
        """Removes every record, atomically."""
        self._call("clear")

    # Beyond the original module.

    def save_batch(self, records: Iterable[RecordLike]) -> None:
        """Saves several records as one all-or-nothing commit."""
        lines = list(records)
        batch = len(lines) > 1
        self._call("save-batch-json", [_line(r, i if batch else None) for i, r in enumerate(lines)])

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
        report = _repair(self._call("repair"))
        assert report is not None
        return report

    def compact(self) -> int:
        """Rewrites the history atomically in canonical form; the record count."""
        n: int = self._call("compact")
        return n

    def export(self, name: str) -> int:
        """Writes a consistent byte-for-byte copy to file `name` in the same
        directory, atomically and durably; the number of bytes."""
        n: int = self._call("export", name)
        return n

    def save_if_last(self, expected_last: Optional[int], records: Iterable[RecordLike]) -> bool:
        """Saves `records` as one commit only if the last `iteration_num` is
        `expected_last` (None: empty), else raises `Conflict`. True if
        appended, False if the history already ended with exactly these
        records (a retry)."""
        recs = [record_to_dict(r) for r in records]
        # Typed records: the JSON form has no compare-and-append function.
        wit = [self._wit_record(d, i if len(recs) > 1 else None) for i, d in enumerate(recs)]
        outcome = self._call("save-if-last", expected_last, wit)
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
        """What opening found and did, the lock held, and whether the host
        syncs directories."""
        if self._handle is None:
            raise HistoryClosed(f"{self.filepath}: the history is closed")
        r = self._funcs["open-report"](self._store, self._handle)
        lock = r.lock
        return OpenReport(
            file=r.file,
            writable=r.writable,
            lock=lock,
            dir_sync=_attr(r, "dir_sync"),
            created=r.created,
            removed_temp_files=list(_attr(r, "removed_temp_files")),
            torn_tail=_torn(_attr(r, "torn_tail")),
            added_final_newline=_attr(r, "added_final_newline"),
            repaired=_repair(r.repaired),
        )

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _release_lock(self) -> None:
        if self._os_lock is not None:
            self._os_lock.release()
            self._os_lock = None

    def close(self) -> None:
        """Releases the history and its writer lock. Idempotent."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.drop(self._store)
            # The store owns the preopened directory's descriptor.
            self._store = None
            self._funcs = {}
        self._release_lock()

    def __enter__(self) -> "IterationHistory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
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

