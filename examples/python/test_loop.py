"""The Python host: wasmtime-py loads the component and runs the loop."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iteration_history_wasm import HistoryError, IterationHistory, same_record  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "samples", "history.jsonl")


def record(i, **extra):
    return {
        "iteration_num": i,
        "strategy_code": f"def strategy(data):\n    return data.close.rolling({i + 2}).mean()  # \u00e9\n",
        "execution_result": {"success": i % 5 != 0, "execution_time": 0.5 + i / 100},
        "metrics": {"sharpe_ratio": float("nan") if i % 5 == 0 else 1.0 + i / 10, "total_return": 0.1,
                    "max_drawdown": float("-inf") if i % 5 == 0 else -0.2, "trades": 10 * i,
                    "regime": {"name": "bull", "probs": [0.5, 0.5]}, "flag": True},
        "classification_level": f"LEVEL_{i % 4}",
        "timestamp": f"2025-03-01T00:00:{i:02d}.123456",
        "champion_updated": i % 7 == 0,
        **extra,
    }


def test_the_loop_resumes_where_it_stopped(tmp_path):
    path = str(tmp_path / "history.jsonl")
    script = os.path.join(HERE, "loop.py")
    first = subprocess.run([sys.executable, script, path, "7"], capture_output=True, text=True, check=True)
    assert "resuming at iteration 0 (0 saved)" in first.stdout, first.stdout
    assert "last iteration: 6, records: 7" in first.stdout, first.stdout
    second = subprocess.run([sys.executable, script, path, "5"], capture_output=True, text=True, check=True)
    assert "resuming at iteration 7 (7 saved)" in second.stdout, second.stdout
    assert "last iteration: 11, records: 12" in second.stdout, second.stdout
    with open(path) as f:
        lines = [json.loads(line) for line in f]  # plain JSONL that Python's json reads
    assert [r["iteration_num"] for r in lines] == list(range(12))
    assert all("_ih" in r for r in lines)


def test_save_load_recent_last_iteration_num_round_trip(tmp_path):
    with IterationHistory(str(tmp_path / "h.jsonl")) as h:
        assert h.get_last_iteration_num() is None
        assert h.count() == 0
        report = h.open_report()
        assert report["created"] and report["writable"] and report["lock"] == "lease"
        assert report["dir_sync"] is True, report  # wasmtime-py syncs directories
        for i in range(6):
            h.save(record(i, seed=42 + i))
        h.save_batch([record(6), record(7)])
        assert h.get_last_iteration_num() == 7
        assert h.count() == 8
        recent = h.load_recent(3)
        assert [r["iteration_num"] for r in recent] == [5, 6, 7]
        assert same_record(recent[0], record(5, seed=47)), recent[0]
        assert math.isnan(recent[0]["metrics"]["sharpe_ratio"])
        assert recent[0]["metrics"]["max_drawdown"] == float("-inf")
        assert isinstance(recent[0]["metrics"]["trades"], int) and recent[0]["metrics"]["flag"] is True
        everything = h.get_all(page_size=3)
        assert len(everything) == 8 and all(same_record(a, b) for a, b in zip(everything[:6], [record(i, seed=42 + i) for i in range(6)]))
        assert h.verify()["health"] == "healthy"
        h.clear()
        assert h.count() == 0 and h.get_last_iteration_num() is None


def test_the_original_modules_history_reads_exactly_and_resumes(tmp_path):
    path = tmp_path / "history.jsonl"
    shutil.copy(SAMPLE, path)
    with open(path) as f:
        expected = [json.loads(line) for line in f]  # what the original module wrote
    with IterationHistory(str(path)) as h:
        got = h.get_all()
        assert len(got) == len(expected) == 60
        assert all(same_record(a, b) for a, b in zip(got, expected))
        assert h.get_last_iteration_num() == 59
        h.save(record(60))
        assert h.load_recent(1)[0]["iteration_num"] == 60


def test_errors_are_raised_with_their_case(tmp_path):
    path = str(tmp_path / "h.jsonl")
    with IterationHistory(path) as h:
        with pytest.raises(HistoryError) as e:
            IterationHistory(path)
        assert e.value.tag == "locked" and "h.jsonl" in str(e.value)
        bad = record(0)
        bad["timestamp"] = ""
        with pytest.raises(HistoryError) as e:
            h.save(bad)
        assert e.value.tag == "invalid-record" and e.value.field == "timestamp"
        with IterationHistory(path, read_only=True) as r:
            with pytest.raises(HistoryError) as e:
                r.save(record(0))
            assert e.value.tag == "read-only"
    with IterationHistory(path, lock_timeout_ms=10, strategy="rewrite") as h:
        h.save(record(0))
        assert h.count() == 1
    # Paths are resolved on the host; the component gets a plain name and
    # refuses anything that is not portable or could leave its directory.
    with pytest.raises(HistoryError) as e:
        IterationHistory(str(tmp_path / "a:b.jsonl"))
    assert e.value.tag == "invalid-name" and "a:b.jsonl" in str(e.value)
