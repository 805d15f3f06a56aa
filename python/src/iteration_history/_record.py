"""The record: the original module's `IterationRecord`, with unknown
top-level fields kept in `extra`."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Union

__all__ = ["IterationRecord", "RecordLike", "FIELDS", "record_to_dict"]

FIELDS = (
    "iteration_num",
    "strategy_code",
    "execution_result",
    "metrics",
    "classification_level",
    "timestamp",
    "champion_updated",
)


@dataclass
class IterationRecord:
    """One iteration of a learning loop: the seven fields of the original
    module's record, plus `extra`, any other top-level fields of the line
    (written back as top-level fields, in their order)."""

    iteration_num: int
    strategy_code: str
    execution_result: Dict[str, Any]
    metrics: Dict[str, Any]
    classification_level: str
    timestamp: str
    champion_updated: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """The record as the file's JSON object: the seven fields, then the
        `extra` fields at the top level."""
        out: Dict[str, Any] = {
            "iteration_num": self.iteration_num,
            "strategy_code": self.strategy_code,
            "execution_result": self.execution_result,
            "metrics": self.metrics,
            "classification_level": self.classification_level,
            "timestamp": self.timestamp,
            "champion_updated": self.champion_updated,
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IterationRecord":
        """A record from the file's JSON object; fields other than the seven
        go to `extra`. Missing fields raise `KeyError`, as `Record(**d)` would
        raise `TypeError`."""
        return cls(
            iteration_num=d["iteration_num"],
            strategy_code=d["strategy_code"],
            execution_result=d.get("execution_result", {}),
            metrics=d.get("metrics", {}),
            classification_level=d["classification_level"],
            timestamp=d["timestamp"],
            champion_updated=d.get("champion_updated", False),
            extra={k: v for k, v in d.items() if k not in FIELDS},
        )


#: What `save` takes: an `IterationRecord`, any other dataclass with the
#: record's fields (such as the original module's own record class), or a
#: mapping.
RecordLike = Union[IterationRecord, Mapping[str, Any], Any]


def record_to_dict(record: RecordLike) -> Dict[str, Any]:
    """Any accepted record form as the file's JSON object."""
    if isinstance(record, IterationRecord):
        return record.to_dict()
    if isinstance(record, Mapping):
        return dict(record)
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        d = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        extra = d.pop("extra", None) if isinstance(d.get("extra"), dict) else None
        if extra:
            d.update(extra)
        return d
    raise TypeError(f"a record must be an IterationRecord, a dataclass or a mapping, not {type(record).__name__}")
