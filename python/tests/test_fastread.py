"""The fast read path (one JSON text per page, `get-all-text` /
`load-recent-text` / `columns`) against the typed path (`get-all` /
`load-recent`, every field lifted by wasmtime-py): every record read both
ways must be identical, type for type (1 vs 1.0), NaN for NaN, key order
included; on the bundled sample, on generated records (hypothesis), on
files written by CPython's json.dumps and by the package; and damage must be
reported the same way.

Run by scripts/test-packages against the installed wheel."""

import json
import math
import os
import shutil
import tempfile
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iteration_history import Columns, CorruptHistory, IterationHistory, IterationRecord
from iteration_history import _history

SAMPLE = os.environ.get("IHIST_SAMPLE", "")
SEVEN = ("iteration_num", "strategy_code", "execution_result", "metrics", "classification_level", "timestamp", "champion_updated")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IHIST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def canon(v: Any) -> Any:
    """A value with its types made explicit: NaN equals NaN, 1 differs from
    1.0 and True, and dict key order counts."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else repr(v))
    if isinstance(v, str):
        return ("str", v)
    if v is None:
        return ("null",)
    if isinstance(v, dict):
        return ("dict", [(k, canon(x)) for k, x in v.items()])
    if isinstance(v, list):
        return ("list", [canon(x) for x in v])
    raise TypeError(type(v))


def canon_record(r: IterationRecord) -> Any:
    assert type(r) is IterationRecord
    return [(f, canon(getattr(r, f))) for f in SEVEN + ("extra",)]


def typed_all(h: IterationHistory, page: int = 7) -> List[IterationRecord]:
    """Every record through the typed interface (`get-all`)."""
    out: List[IterationRecord] = []
    cursor = 0
    while cursor is not None:
        p = h._call("get-all", cursor, page)
        out.extend(_history._record(r) for r in p.records)
        cursor = getattr(p, "next-cursor")
    return out


def typed_recent(h: IterationHistory, n: int) -> List[IterationRecord]:
    return [_history._record(r) for r in h._call("load-recent", n)]


def assert_same_both_ways(h: IterationHistory) -> List[IterationRecord]:
    typed = [canon_record(r) for r in typed_all(h)]
    fast = h.get_all()
    assert [canon_record(r) for r in fast] == typed
    assert [canon_record(r) for r in h.iter(page_size=3)] == typed
    for n in (1, 2, 5, len(typed) + 3):
        assert [canon_record(r) for r in h.load_recent(n)] == [canon_record(r) for r in typed_recent(h, n)]
    return fast


def test_the_sample_reads_the_same_both_ways_and_as_the_original_module_wrote_it(tmp_path: Any) -> None:
    if not SAMPLE:
        pytest.fail("IHIST_SAMPLE is not set (scripts/test-packages sets it)")
    path = tmp_path / "sample.jsonl"
    shutil.copy(SAMPLE, path)
    with open(path, encoding="utf-8") as f:
        expected = [json.loads(line) for line in f if line.strip()]
    with IterationHistory(path, read_only=True) as h:
        got = assert_same_both_ways(h)
    assert len(got) == len(expected) > 0
    for r, d in zip(got, expected):
        assert canon(r.to_dict()) == canon({**{k: d[k] for k in SEVEN if k in d}, **{k: v for k, v in d.items() if k not in SEVEN}})


def test_values_stay_exact_both_ways(tmp_path: Any) -> None:
    big = 2**53 + 1
    d = {
        "iteration_num": 2**53 - 1,
        "strategy_code": "caf\u00e9 \u6536\u76e4\u50f9 \U0001f600 \"q\" \\ \n\t\x01",
        "execution_result": {"success": False, "t": 1.0, "nested": [float("nan"), float("-inf"), {"z": big}]},
        "metrics": {"sharpe_ratio": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "big": big,
                    "neg": -big, "u64": 2**64 - 1, "one": 1, "onef": 1.0, "s": "x", "n": None, "l": [1, 2.5]},
        "classification_level": "LEVEL_3",
        "timestamp": "2025-01-01T00:00:00",
        "champion_updated": True,
        "zeta": {"b": 1, "a": 2},
        "alpha": "\u00e9",
    }
    for how in ("library", "cpython"):
        path = tmp_path / f"{how}.jsonl"
        if how == "cpython":
            path.write_text(json.dumps(d) + "\n" + json.dumps(dict(d, iteration_num=1)) + "\n", encoding="utf-8")
        else:
            with IterationHistory(path, durability="none") as w:
                w.save(d)
                w.save(dict(d, iteration_num=1))
        with IterationHistory(path, read_only=True) as h:
            got = assert_same_both_ways(h)[0]
        assert canon(got.to_dict()) == canon(d), how
        assert list(got.extra) == ["zeta", "alpha"] and list(got.extra["zeta"]) == ["b", "a"]


def test_a_lone_surrogate_reads_the_same_both_ways(tmp_path: Any) -> None:
    path = tmp_path / "h.jsonl"
    d = {"iteration_num": 0, "strategy_code": "a\ud800b", "execution_result": {}, "metrics": {"k\udc00": 1},
         "classification_level": "L", "timestamp": "t", "champion_updated": False}
    path.write_text(json.dumps(d) + "\n", encoding="utf-8")  # \ud800 as the original module wrote it
    with IterationHistory(path, read_only=True) as h:
        got = assert_same_both_ways(h)
    assert got[0].strategy_code == "a\ufffdb"  # as the typed path: the replacement character


# Values the history keeps exactly: JSON scalars (integers within 64 bits;
# beyond, the core reads a float, the same on both paths), NaN, infinities.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
# Top-level names the history refuses: the seven, its own `_ih`/`_nonfinite`
# and names one character away from `_ih` (a damaged checksum key).
extra_keys = st.text(min_size=1, max_size=8).filter(
    lambda k: k not in SEVEN and not k.startswith("_") and not (len(k) == 3 and sum(a != b for a, b in zip(k, "_ih")) == 1)
)
# Not empty after trimming (the history refuses a blank level or timestamp).
non_blank = st.text(max_size=8).map(lambda s: "L" + s)
records = st.fixed_dictionaries(
    {
        "strategy_code": st.text(max_size=40),
        "execution_result": st.dictionaries(st.text(max_size=6), values, max_size=4),
        "metrics": st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6),
        "classification_level": non_blank,
        "timestamp": non_blank,
        "champion_updated": st.booleans(),
        "extra": st.dictionaries(extra_keys, values, max_size=3),
    }
)


def as_line_dict(i: int, r: Dict[str, Any]) -> Dict[str, Any]:
    d = {"iteration_num": i, **{k: v for k, v in r.items() if k != "extra"}}
    d.update(r["extra"])
    return d


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records, min_size=1, max_size=6))
def test_generated_records_read_the_same_both_ways(batch: List[Dict[str, Any]]) -> None:
    d = tempfile.mkdtemp()
    try:
        lines = [as_line_dict(i, r) for i, r in enumerate(batch)]
        lib = os.path.join(d, "lib.jsonl")
        with IterationHistory(lib, durability="none") as w:
            w.save_batch(lines[: len(lines) // 2 + 1])
            for x in lines[len(lines) // 2 + 1 :]:
                w.save(x)
        cpy = os.path.join(d, "cpy.jsonl")
        with open(cpy, "w", encoding="utf-8") as f:
            for x in lines:
                f.write(json.dumps(x) + "\n")
        for path in (lib, cpy):
            with IterationHistory(path, read_only=True) as h:
                got = assert_same_both_ways(h)
                cols = h.columns(["iteration_num", "metrics.a", "classification_level"])
            assert [r.iteration_num for r in got] == list(range(len(lines)))
            assert canon(cols["classification_level"]) == canon([r.classification_level for r in got])
            assert canon(cols["metrics.a"]) == canon([r.metrics.get("a") for r in got])
    finally:
        shutil.rmtree(d)


def write_cpython(path: Any, n: int) -> List[str]:
    lines = [json.dumps({"iteration_num": i, "strategy_code": "s", "execution_result": {}, "metrics": {"m": i / 2},
                         "classification_level": "L", "timestamp": "t", "champion_updated": False}) for i in range(n)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def mini(i: int, **kw: Any) -> Dict[str, Any]:
    return {"iteration_num": i, "strategy_code": "s", "execution_result": {}, "metrics": {}, "classification_level": "L",
            "timestamp": "t", "champion_updated": False, **kw}


def corrupt_error(fn: Any) -> Tuple[int, int]:
    with pytest.raises(CorruptHistory) as e:
        fn()
    return e.value.line, e.value.offset


def test_a_page_reaching_a_corrupt_line_raises_corrupt_history_with_its_line_and_offset(tmp_path: Any) -> None:
    path = tmp_path / "h.jsonl"
    with IterationHistory(path, durability="none") as w:
        for i in range(10):
            w.save(mini(i, metrics={"m": float("nan")}))
    data = path.read_bytes().split(b"\n")
    offset = sum(len(x) + 1 for x in data[:6])
    data[6] = data[6].replace(b'"s"', b'"S"')  # checksum no longer matches
    path.write_bytes(b"\n".join(data))
    with IterationHistory(path, read_only=True) as h:
        typed = corrupt_error(lambda: typed_all(h))
        assert typed == (7, offset)
        assert corrupt_error(h.get_all) == typed
        assert corrupt_error(lambda: list(h.iter(page_size=100))) == typed
        assert corrupt_error(lambda: h.columns(["iteration_num"])) == typed
        # Pages before the damage still read; the page that reaches it fails.
        it = h.iter(page_size=3)
        assert [next(it).iteration_num for _ in range(6)] == [0, 1, 2, 3, 4, 5]
        assert corrupt_error(lambda: next(it)) == typed


def test_a_torn_tail_is_not_returned_as_records(tmp_path: Any) -> None:
    path = tmp_path / "h.jsonl"
    with IterationHistory(path, durability="none") as w:
        w.save_batch([mini(i) for i in range(5)])
        w.save(mini(5))
    whole = path.read_bytes()
    for cut in (len(whole) - 1, len(whole) - 10):  # the last save, torn
        path.write_bytes(whole[:cut])
        with IterationHistory(path, read_only=True) as h:
            assert [r.iteration_num for r in h.get_all()] == [0, 1, 2, 3, 4]
            assert [r.iteration_num for r in h.load_recent(3)] == [2, 3, 4]
            assert h.columns(["iteration_num"])["iteration_num"] == [0, 1, 2, 3, 4]
    # A torn batch: none of it.
    batch_end = whole.index(b"\n", whole.index(b'"iteration_num":4')) + 1
    path.write_bytes(whole[: batch_end - 5])
    with IterationHistory(path, read_only=True) as h:
        assert h.get_all() == [] and h.load_recent(5) == [] and h.columns(["iteration_num"]) == {"iteration_num": []}


def test_columns_pick_fields_paths_and_extra_fields_in_one_pass(tmp_path: Any) -> None:
    path = tmp_path / "h.jsonl"
    lines = write_cpython(path, 5)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({**json.loads(lines[0]), "iteration_num": 5, "metrics": {"m": float("nan"), "x.y": 3},
                            "execution_result": {"success": True}, "seed": 9}) + "\n")
    with IterationHistory(path, read_only=True) as h:
        cols = h.columns(["iteration_num", "metrics.m", "metrics.x.y", "execution_result.success", "seed", "nope", "metrics"])
        assert isinstance(cols, Columns) and list(cols) == ["iteration_num", "metrics.m", "metrics.x.y", "execution_result.success", "seed", "nope", "metrics"]
        assert cols["iteration_num"] == [0, 1, 2, 3, 4, 5]
        assert canon(cols["metrics.m"]) == canon([0.0, 0.5, 1.0, 1.5, 2.0, float("nan")])
        assert cols["metrics.x.y"] == [None] * 5 + [3]
        assert cols["execution_result.success"] == [None] * 5 + [True]
        assert cols["seed"] == [None] * 5 + [9]
        assert cols["nope"] == [None] * 6 and cols["metrics"] == [None] * 6
        assert h.columns("iteration_num") == {"iteration_num": [0, 1, 2, 3, 4, 5]}
        try:
            import pandas  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match=r"pip install 'iteration-history\[pandas\]'"):
                h.columns(["iteration_num"], as_frame=True)
        else:
            frame = h.columns(["iteration_num", "metrics.m"], as_frame=True)
            assert list(frame.columns) == ["iteration_num", "metrics.m"] and frame["iteration_num"].tolist() == [0, 1, 2, 3, 4, 5]
            assert math.isnan(frame["metrics.m"].iloc[5])
    with IterationHistory(tmp_path / "empty.jsonl", read_only=True) as h:
        assert h.columns(["iteration_num"]) == {"iteration_num": []}
