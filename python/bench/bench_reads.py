"""Read benchmark of the Python package against the original module's own
reader (run by scripts/bench-packages, not in CI).

Two histories of the same N records of the original module's shape (NaN
included): one written by CPython's `json.dumps` per line as the original
module wrote it, one written by the package (one `save` per record, so every
line carries its checksum; a non-finite number is `null` + `_nonfinite`). Each
measure runs in its own fresh process (best of `--rounds`), so peak memory
(the process's peak RSS above its RSS just before the measure) is its own.

Baselines, in the same run:
* the original module's reader: `IterationRecord(**json.loads(line))` per
  line of the file (a faithful copy of its `get_all` loop below). It cannot
  read the package's lines (`_ih`/`_nonfinite` are not fields of its
  record), so for the library-written file it is timed on the CPython-written
  twin (the same records);
* a plain tail read: the last 64 KiB of the file and `json.loads` of its
  last 5 lines.

Prints a Markdown table and one `RESULT name=value ...` line per measure.

    python bench_reads.py --dir DIR [--records N] [--rounds N] [--million]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

# ---- the original module's record and reader (faithful copy) -------------


@dataclass
class OriginalRecord:
    iteration_num: int
    strategy_code: str
    execution_result: Dict[str, Any] = field(default_factory=dict)
    metrics: Dict[str, Any] = field(default_factory=dict)
    classification_level: str = ""
    timestamp: str = ""
    champion_updated: bool = False


def original_get_all(path: str) -> List[OriginalRecord]:
    """The original module's `get_all`: every line, `Record(**json.loads(line))`."""
    records: List[OriginalRecord] = []
    if not os.path.exists(path):
        return records
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(OriginalRecord(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
    return records


def plain_tail(path: str, n: int = 5) -> List[Dict[str, Any]]:
    """A plain Python read of the file's last 64 KiB, `json.loads` of its last `n` lines."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    lines = [line for line in tail.split(b"\n") if line.strip()]
    return [json.loads(line) for line in lines[-n:]]


# ---- data -----------------------------------------------------------------


def _rand(i: int, salt: int) -> float:
    z = (i * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return (z >> 11) / float(1 << 53)


def record(i: int) -> Dict[str, Any]:
    """Iteration `i` of a learning loop, of the original module's shape
    (bench/src/data.rs's record, ~720 bytes as json.dumps writes it)."""
    fast, slow = 3 + int(_rand(i, 1) * 18), 21 + int(_rand(i, 2) * 100)
    ok = _rand(i, 3) > 0.12
    sharpe = _rand(i, 5) * 3.0 - 0.5 if ok else float("nan")
    return {
        "iteration_num": i,
        "strategy_code": (
            "def strategy(data):\n"
            f"    # sma crossover, tuned \u2192 fast={fast}, slow={slow}\n"
            "    close = data.get('price:\u6536\u76e4\u50f9')\n"
            f"    fast = close.rolling({fast}).mean()\n"
            f"    slow = close.rolling({slow}).mean()\n"
            "    vol = close.pct_change().rolling(20).std()\n"
            "    return ((fast > slow) & (vol < vol.quantile(0.8))).astype(int)\n"
        ),
        "execution_result": {"success": ok, "execution_time": 0.8 + _rand(i, 4) * 5.0,
                             "error": None if ok else "ValueError: empty signal"},
        "metrics": {
            "sharpe_ratio": sharpe,
            "total_return": sharpe * 0.18 if ok else float("nan"),
            "max_drawdown": -_rand(i, 6) * 0.3,
            "win_rate": 0.4 + _rand(i, 7) * 0.25,
            "trades": int(_rand(i, 9) * 400),
        },
        "classification_level": f"LEVEL_{min(int(max(sharpe, 0.0)), 3) if ok else 0}",
        "timestamp": f"2025-03-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000000:06d}",
        "champion_updated": ok and _rand(i, 8) > 0.97,
    }


def write_cpython(path: str, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps(record(i)) + "\n")


def write_library(path: str, n: int) -> None:
    from iteration_history import IterationHistory

    # One save per record, as a learning loop writes (a batch is one commit:
    # reading its end needs the whole batch).
    with IterationHistory(path, durability="none") as h:
        for i in range(n):
            h.save(record(i))


# ---- one measure per process ----------------------------------------------

COLUMNS = ["iteration_num", "metrics.sharpe_ratio", "classification_level"]


def status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def reset_peak() -> None:
    """Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure(what: str, path: str) -> Dict[str, float]:
    """Runs `what` once on `path` in this process: seconds and peak RSS above the start (MB)."""
    h: Any = None
    if what.startswith("package"):
        from iteration_history import IterationHistory

        h = IterationHistory(path, read_only=True)
        h.count()  # the component is loaded and the history opened before timing
    reset_peak()
    before = status_kb("VmRSS")
    t = time.perf_counter()
    if what == "original.get_all":
        n = len(original_get_all(path))
    elif what == "original.columns":
        recs = original_get_all(path)
        cols = {
            "iteration_num": [r.iteration_num for r in recs],
            "metrics.sharpe_ratio": [r.metrics.get("sharpe_ratio") for r in recs],
            "classification_level": [r.classification_level for r in recs],
        }
        n = len(cols["iteration_num"])
    elif what == "original.load_recent":
        n = len(original_get_all(path)[-5:])
    elif what == "plain.tail":
        n = len(plain_tail(path))
    elif what == "package.get_all":
        n = len(h.get_all())
    elif what == "package.iter":
        n = 0
        for _ in h.iter():
            n += 1
    elif what == "package.load_recent":
        n = len(h.load_recent(5))
    elif what == "package.typed_get_all":
        # The typed interface (`get-all`, every field lifted by wasmtime-py):
        # how get_all() read before the text pages.
        from iteration_history import _history

        out = []
        cursor = 0
        while cursor is not None:
            page = h._call("get-all", cursor, 1000)
            out.extend(_history._record(r) for r in page.records)
            cursor = getattr(page, "next-cursor")
        n = len(out)
    elif what == "package.columns":
        n = len(h.columns(COLUMNS)["iteration_num"])
    else:
        raise SystemExit(f"unknown measure {what}")
    dt = time.perf_counter() - t
    grow = status_kb("VmHWM") - before
    return {"s": dt, "peak_mb": grow / 1024.0, "n": float(n)}


def run(what: str, path: str, rounds: int) -> Dict[str, float]:
    best: Optional[Dict[str, float]] = None
    for _ in range(rounds):
        out = subprocess.run([sys.executable, __file__, "--measure", what, path], check=True, capture_output=True, text=True).stdout
        got = json.loads(out.strip().splitlines()[-1])
        if best is None or got["s"] < best["s"]:
            best = dict(got, peak_mb=min(got["peak_mb"], best["peak_mb"]) if best else got["peak_mb"])
        else:
            best["peak_mb"] = min(best["peak_mb"], got["peak_mb"])
    assert best is not None
    return best


def fmt_s(s: float) -> str:
    return f"{s * 1000:.2f} ms" if s < 1 else f"{s:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--million", action="store_true", help="also iter() at 10x the records (memory flat?)")
    ap.add_argument("--measure", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(*a.measure)))
        return
    if not a.dir:
        ap.error("--dir is required")
    os.makedirs(a.dir, exist_ok=True)
    n = a.records
    cpy = os.path.join(a.dir, f"cpython-{n}.jsonl")
    lib = os.path.join(a.dir, f"library-{n}.jsonl")
    if not os.path.exists(cpy):
        write_cpython(cpy + ".part", n)
        os.replace(cpy + ".part", cpy)
    if not os.path.exists(lib):
        for p in (lib, lib + ".lock"):
            if os.path.exists(p):
                os.unlink(p)
        write_library(lib, n)
    print(f"\n## Reads: Python package vs the original module's reader ({n:,} records, best of {a.rounds}, "
          f"each measure in its own process; peak = peak RSS above the process's RSS before the measure)\n")
    print(f"files: CPython-written {os.path.getsize(cpy) / 1e6:.1f} MB, library-written {os.path.getsize(lib) / 1e6:.1f} MB\n")
    print("| file | measure | package | baseline | baseline is | ratio (time) | peak MB package / baseline | goal |")
    print("|---|---|---:|---:|---|---:|---:|---|")
    for label, path in (("CPython-written", cpy), ("library-written", lib)):
        orig = run("original.get_all", cpy, a.rounds)
        rows = [
            ("get_all()", "package.get_all", orig, "original get_all", "time <= 1.0x, peak <= 1.2x"),
            ("full iter()", "package.iter", orig, "original get_all", "time <= 1.0x, peak <= 64 MB"),
            ("load_recent(5)", "package.load_recent", run("plain.tail", path, a.rounds), "plain 64 KiB tail read", "<= 2x"),
            ("columns(3 fields)", "package.columns", run("original.columns", cpy, a.rounds), "original get_all + pick", ">= 5x faster (<= 0.2x)"),
        ]
        for name, what, base, base_is, goal in rows:
            got = run(what, path, a.rounds)
            assert got["n"] == base["n"] or what == "package.load_recent", (what, got, base)
            ratio = got["s"] / base["s"]
            print(f"| {label} | {name} | {fmt_s(got['s'])} | {fmt_s(base['s'])} | {base_is} | {ratio:.2f}x | "
                  f"{got['peak_mb']:.0f} / {base['peak_mb']:.0f} | {goal} |")
            print(f"RESULT file={label} measure={what} s={got['s']:.6f} base_s={base['s']:.6f} ratio={ratio:.3f} "
                  f"peak_mb={got['peak_mb']:.1f} base_peak_mb={base['peak_mb']:.1f}", file=sys.stderr)
        typed = run("package.typed_get_all", path, 1)
        print(f"| {label} | get_all() through the typed `get-all` (before; 1 round) | {fmt_s(typed['s'])} | {fmt_s(orig['s'])} | "
              f"original get_all | {typed['s'] / orig['s']:.2f}x | {typed['peak_mb']:.0f} / {orig['peak_mb']:.0f} | |")
        ol = run("original.load_recent", cpy, a.rounds)
        print(f"| {label} | (original load_recent(5), for reference) | | {fmt_s(ol['s'])} | original reads every line | | | |")
    if a.million:
        # Ten copies of the CPython-written file (iteration numbers repeat;
        # reads do not mind): 10x the records and bytes.
        big = os.path.join(a.dir, f"cpython-{10 * n}.jsonl")
        if not os.path.exists(big):
            with open(big + ".part", "wb") as out:
                for _ in range(10):
                    with open(cpy, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
            os.replace(big + ".part", big)
        small = run("package.iter", cpy, 1)
        large = run("package.iter", big, 1)
        print(f"\niter() peak above the process's RSS before it: {small['peak_mb']:.1f} MB at {n:,} records, "
              f"{large['peak_mb']:.1f} MB at {10 * n:,} (goal: <= 64 MB, flat)")


if __name__ == "__main__":
    main()
