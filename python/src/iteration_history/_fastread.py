"""Reads at the speed of Python's own `json`: records and columns cross the
component boundary as ONE text per page (the WIT's `get-all-text`,
`load-recent-text`, `columns`, dialect `python`), parsed with one
`json.loads` call, instead of wasmtime-py lifting every field of every typed
record through Python code.

The component checks every line (framing, CRC-32C, JSON, fields) before it
writes a record into the text, and writes it from the decoded record, so
nothing unchecked reaches this module. The `python` dialect is what
`json.loads` reads (bare `NaN`/`Infinity`, integers in full); each record
object has exactly the fields of `IterationRecord`, in its order, so a
record is made by handing that dict to a new instance (`__dict__`), with no
per-field Python code.
"""

import dataclasses
import json
from typing import Any, Callable, Dict, List, Sequence

from ._record import FIELDS, IterationRecord

__all__ = ["records_from_text", "columns_from_text", "Columns", "DIALECT"]

#: The WIT `text-dialect` this package asks for.
DIALECT = "python"

_FIELDS = tuple(f.name for f in dataclasses.fields(IterationRecord))
# The dataclass layout the component's Python dialect is written for.
_EXPECTED = FIELDS + ("extra",)
_loads = json.loads


def _make_fast() -> Callable[[Dict[str, Any]], IterationRecord]:
    new = object.__new__
    cls = IterationRecord

    def make(d: Dict[str, Any]) -> IterationRecord:
        r = new(cls)
        r.__dict__ = d
        return r

    return make


def _make_plain(d: Dict[str, Any]) -> IterationRecord:
    return IterationRecord(**d)


# The `__dict__` hand-over needs a plain (not slotted, not frozen) dataclass
# whose fields are exactly the text's keys; otherwise the constructor.
_make = (
    _make_fast()
    if _FIELDS == _EXPECTED
    and "__slots__" not in IterationRecord.__dict__
    and not IterationRecord.__dataclass_params__.frozen  # type: ignore[attr-defined]
    and "__post_init__" not in IterationRecord.__dict__
    else _make_plain
)


def records_from_text(text: str) -> List[IterationRecord]:
    """The records of one `text-page` (python dialect)."""
    return list(map(_make, _loads(text)))


class Columns(Dict[str, List[Any]]):
    """Columns by name (a dict of lists, in the order asked for), with
    `to_pandas()` for a DataFrame when pandas is installed."""

    def to_pandas(self) -> Any:
        """The columns as a `pandas.DataFrame` (needs pandas: `pip install
        iteration-history[pandas]`)."""
        try:
            import pandas  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError as e:
            raise ImportError(
                "Columns.to_pandas() needs pandas: pip install 'iteration-history[pandas]'"
            ) from e
        return pandas.DataFrame(dict(self))


def columns_from_text(names: Sequence[str], text: str) -> Columns:
    """The columns of a `columns` text page (python dialect)."""
    values = _loads(text)
    if len(values) != len(names):  # pragma: no cover - a component bug
        raise ValueError(f"the component returned {len(values)} columns for {len(names)} names")
    return Columns(zip(names, values))
