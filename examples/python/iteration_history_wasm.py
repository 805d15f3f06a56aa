"""The iteration history, from Python, through the WASI component.

The same API as the original history module of the learning loop -- save,
load_recent, get_last_iteration_num, get_all, count, clear -- with records as
plain dicts, but every save is a durable, all-or-nothing append made by the
component (`wasi_component.wasm`) running in wasmtime. Only the history's
directory is visible to it.

    history = IterationHistory("runs/history.jsonl")
    start = (history.get_last_iteration_num() or -1) + 1
    history.save({"iteration_num": start, ...})
    recent = history.load_recent(5)

Needs `pip install wasmtime==50.0.1` and the built component
(`scripts/build-component`; or pass `wasm=`).
"""

import json
import math
import os
from typing import Any, Dict, List, Optional

from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, Variant

__all__ = ["IterationHistory", "HistoryError", "DEFAULT_WASM"]

# `$HISTORY_WASM`, else the build output of `scripts/build-component`.
DEFAULT_WASM = os.environ.get("HISTORY_WASM") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "wasm32-wasip2", "release", "wasi_component.wasm"
)
INTERFACE = "iteration-history:history/store@0.1.0"
FIELDS = (
    "iteration_num",
    "strategy_code",
    "execution_result",
    "metrics",
    "classification_level",
    "timestamp",
    "champion_updated",
)
S64 = (-(2**63), 2**63 - 1)


class HistoryError(Exception):
    """An error from the history: `tag` is the WIT error case (`locked`,
    `corrupt`, `invalid-record`, `invalid-name`, `disk-full`,
    `permission-denied`, `sync-failed`, `read-only`, `conflict`,
    `invalid-cursor`, `lease-lost`, `io`); `detail` its payload."""

    def __init__(self, tag: str, detail: Any):
        self.tag = tag
        self.detail = detail
        message = detail if isinstance(detail, str) else getattr(detail, "message", repr(detail))
        super().__init__(f"{tag}: {message}")

    @property
    def field(self) -> Optional[str]:
        """For `invalid-record`: the field at fault (e.g. `timestamp`)."""
        return getattr(self.detail, "field", None)


def _metric_to_wit(value: Any) -> Any:
    """A metric value as the component's `metric-value`: float, int (s64) or
    JSON text (wasmtime-py picks the case by the Python type)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return value if S64[0] <= value <= S64[1] else json.dumps(value)
    if isinstance(value, float):
        return value
    return json.dumps(value)


def _metric_from_wit(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _record_to_wit(record: Dict[str, Any]) -> Record:
    rec = Record()
    for field in ("iteration_num", "strategy_code", "classification_level", "timestamp"):
        if field not in record:
            raise HistoryError("invalid-record", f"field `{field}` is missing")
    setattr(rec, "iteration-num", record["iteration_num"])
    setattr(rec, "strategy-code", record["strategy_code"])
    # json.dumps writes NaN/Infinity as bare tokens; the component reads them.
    setattr(rec, "execution-result", json.dumps(record.get("execution_result", {})))
    metrics = []
    for name, value in record.get("metrics", {}).items():
        m = Record()
        m.name = name
        m.value = _metric_to_wit(value)
        metrics.append(m)
    rec.metrics = metrics
    setattr(rec, "classification-level", record["classification_level"])
    rec.timestamp = record["timestamp"]
    setattr(rec, "champion-updated", bool(record.get("champion_updated", False)))
    rec.extra = json.dumps({k: v for k, v in record.items() if k not in FIELDS})
    return rec


def _record_from_wit(rec: Record) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "iteration_num": getattr(rec, "iteration-num"),
        "strategy_code": getattr(rec, "strategy-code"),
        "execution_result": json.loads(getattr(rec, "execution-result")),
        "metrics": {m.name: _metric_from_wit(m.value) for m in rec.metrics},
        "classification_level": getattr(rec, "classification-level"),
        "timestamp": rec.timestamp,
        "champion_updated": getattr(rec, "champion-updated"),
    }
    out.update(json.loads(rec.extra))
    return out


_COMPILED: Dict[Any, Any] = {}


def _load(wasm: str) -> Any:
    """One engine and compiled component per file per process (compiling
    takes a second; instantiating is cheap)."""
    key = (os.path.abspath(wasm), os.stat(wasm).st_mtime_ns)
    if key not in _COMPILED:
        engine = Engine()
        _COMPILED[key] = (engine, Component.from_file(engine, wasm))
    return _COMPILED[key]


class IterationHistory:
    """A crash-safe history of iteration records in one JSONL file.

    `filepath`'s directory is preopened for the component (nothing else is
    visible to it). Opening takes the history's writer lease: one writer at
    a time; `read_only=True` opens a reader. Options: `strategy` ("append" or
    "rewrite"), `durability` ("full" or "none"), `lock_timeout_ms`,
    `repair_on_open`, `lease_ms`. Call `close()` (or use `with`) to release
    the lease at once.
    """

    def __init__(self, filepath: str, *, wasm: str = DEFAULT_WASM, read_only: bool = False, **options: Any):
        directory, name = os.path.split(os.path.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        engine, component = _load(wasm)
        linker = Linker(engine)
        linker.add_wasip2()
        self._store = Store(engine)
        wasi = WasiConfig()
        wasi.preopen_dir(directory, ".")
        self._store.set_wasi(wasi)
        instance = linker.instantiate(self._store, component)
        iface = instance.get_export_index(self._store, INTERFACE)

        def func(name: str):
            index = instance.get_export_index(self._store, name, iface)
            if index is None:
                raise RuntimeError(f"{wasm} does not export {name}")
            return instance.get_func(self._store, index)

        self._funcs = {n: func(f"[method]history.{n}") for n in (
            "save", "save-batch", "save-json", "load-recent", "get-all", "count",
            "last-iteration-num", "clear", "verify", "open-report",
        )}
        if read_only:
            handle = self._check(func("[static]history.open-read-only")(self._store, name))
        elif options:
            opts = func("default-options")(self._store)
            for key, value in options.items():
                # Enum cases ("append", "full", ...) cross as their names.
                setattr(opts, key.replace("_", "-"), value)
            handle = self._check(func("[static]history.open-with")(self._store, name, opts))
        else:
            handle = self._check(func("[static]history.open")(self._store, name))
        self._handle = handle

    @staticmethod
    def _check(result: Any) -> Any:
        # wasmtime-py returns `result<T, error>` untagged: the error is a Variant.
        if isinstance(result, Variant):
            raise HistoryError(result.tag, result.payload)
        return result

    def _call(self, name: str, *args: Any) -> Any:
        if self._handle is None:
            raise ValueError("the history is closed")
        return self._check(self._funcs[name](self._store, self._handle, *args))

    def save(self, record: Dict[str, Any]) -> None:
        """Saves one record durably: on disk when this returns."""
        self._call("save", _record_to_wit(record))

    def save_batch(self, records: List[Dict[str, Any]]) -> None:
        """Saves several records as one all-or-nothing commit."""
        self._call("save-batch", [_record_to_wit(r) for r in records])

    def load_recent(self, n: int = 5) -> List[Dict[str, Any]]:
        """The last `n` records, oldest first."""
        return [_record_from_wit(r) for r in self._call("load-recent", n)]

    def get_last_iteration_num(self) -> Optional[int]:
        """The last iteration number, or None for an empty history."""
        return self._call("last-iteration-num")

    def get_all(self, page_size: int = 1000) -> List[Dict[str, Any]]:
        """Every record, oldest first (read page by page)."""
        out: List[Dict[str, Any]] = []
        cursor: Optional[int] = 0
        while cursor is not None:
            page = self._call("get-all", cursor, page_size)
            out.extend(_record_from_wit(r) for r in page.records)
            cursor = getattr(page, "next-cursor")
        return out

    def count(self) -> int:
        return self._call("count")

    def clear(self) -> None:
        """Removes every record, atomically."""
        self._call("clear")

    def verify(self) -> Dict[str, Any]:
        """Checks every line; the report as a dict (`health`, `records`, ...)."""
        report = self._call("verify")
        return {k.replace("-", "_"): v for k, v in vars(report).items()}

    def open_report(self) -> Dict[str, Any]:
        """What opening found and did, and whether the host syncs directories."""
        report = self._funcs["open-report"](self._store, self._handle)
        return {k.replace("-", "_"): v for k, v in vars(report).items()}

    def close(self) -> None:
        """Releases the history (and its writer lease)."""
        if self._handle is not None:
            self._handle.drop(self._store)
            self._handle = None

    def __enter__(self) -> "IterationHistory":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def same_record(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Record equality where NaN equals NaN (for tests and checks)."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return "<NaN>"
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return norm(a) == norm(b)
