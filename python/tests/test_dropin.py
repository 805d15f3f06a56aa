"""The drop-in, tested as code written for the original module: the usage,
loading, thread, troubleshooting, backup and error-handling examples of the
original module's quick reference (the seed, `../shared/seed/` beside the
repository; `$IHIST_SEED`), extracted from the file at test time and run
against the installed package with only the import line changed; and the
package's public names and signatures checked against every call the
reference shows.

Left out, by design: the reference's "Verify Atomic Write Protection"
example patches the original module's internal `os.replace` (its
implementation, not its API: this package never calls `os.replace` to
save), and the second half of its migration example is SQLite code."""

import ast
import inspect
import io
import logging
import os
import re
import subprocess
import sys
import threading
from contextlib import redirect_stdout
from typing import Any, Dict, List, Set, Tuple

import pytest

import iteration_history
from iteration_history import IterationHistory, IterationRecord

ORIGINAL_IMPORT = "from src.learning.iteration_history import"
SEED_NAME = "000_a46a974065e95567.txt"


def skip(reason: str) -> None:
    """Skips a test that cannot run here; under CI=true that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: cannot skip: {reason}")
    pytest.skip(reason)


def seed_text() -> str:
    path = os.environ.get("IHIST_SEED", "")
    if not path or not os.path.exists(path):
        skip(f"the original module's quick reference not found (IHIST_SEED={path!r}; ../shared/seed/{SEED_NAME})")
    with open(path, encoding="utf-8") as f:
        return f.read()


def blocks(text: str) -> List[Tuple[str, str]]:
    """Every ```python block with the heading (### or **label**) above it."""
    out = []
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif re.match(r"^\*\*[^*]+\*\*:?\s*$", line.strip()):
            heading = heading.split(" / ")[0] + " / " + line.strip().strip("*:").strip("*")
        if line.strip() == "```python":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            out.append((heading, "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return out


def dropin(code: str) -> str:
    """The only change a user makes: the import line."""
    return code.replace(ORIGINAL_IMPORT, "from iteration_history import")


def find(all_blocks: List[Tuple[str, str]], heading: str) -> str:
    found = [code for h, code in all_blocks if h == heading]
    assert len(found) == 1, f"the quick reference has no single block under {heading!r}: {[h for h, _ in all_blocks]}"
    return found[0]


def run(code: str, ns: Dict[str, Any]) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(dropin(code), "<quick reference>", "exec"), ns)
    return out.getvalue()


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_quick_references_examples_run_unchanged_but_the_import(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    text = seed_text()
    all_blocks = blocks(text)
    monkeypatch.chdir(tmp_path)
    ns: Dict[str, Any] = {"__name__": "quick_reference"}

    usage = find(all_blocks, "Basic Usage (No Changes Required)")
    assert ORIGINAL_IMPORT in usage
    run(usage, ns)
    assert os.path.exists("artifacts/data/innovations.jsonl")

    printed = run(find(all_blocks, "Load Records (No Changes)"), ns)
    assert printed == "Iter 5: Sharpe 1.5\n", printed
    assert ns["last_iter"] == 5 and ns["next_iter"] == 6

    # The thread example makes a second IterationHistory on the same file
    # while the first is alive; then its function is called from 8 threads.
    run(find(all_blocks, "Multi-Thread Example (with Lock)"), ns)
    save = ns["save_record_thread_safe"]
    template = ns["record"]
    errors: List[BaseException] = []

    def worker(t: int) -> None:
        try:
            for j in range(25):
                save(IterationRecord(**{**template.__dict__, "iteration_num": 100 + t * 25 + j}))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    nums = sorted(r.iteration_num for r in ns["history"].get_all())
    assert nums == [5] + list(range(100, 300))

    # Troubleshooting: the diagnosis and the "Option 1" lock.
    printed = run(find(all_blocks, "Issue: Write Performance Slow / Diagnosis"), ns)
    assert printed == "Total records: 201\n"
    run(find(all_blocks, "Issue: Concurrent Write Errors / Solution"), ns)
    assert ns["history"].count() == 202

    # The FAQ's backup uses `history.filepath`.
    run(find(all_blocks, "Q: How do I backup history file? / A"), ns)
    backups = [n for n in os.listdir("artifacts/data") if n.endswith(".jsonl.bak")]
    assert len(backups) == 1
    with open(os.path.join("artifacts/data", backups[0]), "rb") as b, open("artifacts/data/innovations.jsonl", "rb") as f:
        assert b.read() == f.read()

    # The migration example's first half (the SQLite half is not this API).
    migration = find(all_blocks, "Migration Example")
    first_half = migration.split("# To:")[0]
    run(first_half, ns)
    assert ns["history"].count() == 203


def test_the_error_handling_example_catches_a_full_disk_and_a_read_only_disk(tmp_path: Any) -> None:
    text = seed_text()
    example = find(blocks(text), "Automatic Cleanup")
    assert "except IOError as e:" in example
    if sys.platform != "linux" or os.geteuid() != 0:
        skip("needs root on Linux to mount a small tmpfs (a disk that fills up)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if mounted.returncode:
        skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        logger = logging.getLogger("quick-reference")
        capture = Capture()
        logger.addHandler(capture)
        history = IterationHistory(str(mnt / "innovations.jsonl"))
        ns: Dict[str, Any] = {"history": history, "logger": logger}
        saved = 0
        for i in range(100):
            ns["record"] = IterationRecord(
                iteration_num=i, strategy_code="x" * 20_000, execution_result={}, metrics={"sharpe_ratio": 1.0},
                classification_level="LEVEL_1", timestamp="2025-11-04T00:00:00", champion_updated=False,
            )
            run(example, ns)  # the example's own `except IOError` catches
            if capture.messages:
                break
            saved += 1
        assert saved > 0 and len(capture.messages) == 1, capture.messages
        assert capture.messages[0].startswith("Failed to save: ") and "innovations.jsonl" in capture.messages[0]
        # "Original file guaranteed intact" and "Can retry safely".
        assert history.count() == saved and history.verify().health == "healthy"
        # A read-only file system: the same handler catches it.
        history.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        history = IterationHistory(str(mnt / "innovations.jsonl"))
        ns["history"] = history
        run(example, ns)
        assert len(capture.messages) == 2, capture.messages
        assert capture.messages[1].startswith("Failed to save: ") and "innovations.jsonl" in capture.messages[1]
        assert history.count() == saved
        history.close()
        logger.removeHandler(capture)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _calls(tree: ast.AST) -> List[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def test_public_names_and_signatures_match_what_the_quick_reference_shows() -> None:
    text = seed_text()
    trees = [ast.parse(code) for _, code in blocks(text)]
    imported: Set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "src.learning.iteration_history":
                imported.update(a.name for a in node.names)
    assert imported == {"IterationHistory", "IterationRecord"}, imported
    for name in imported:
        assert name in iteration_history.__all__ and inspect.isclass(getattr(iteration_history, name))

    checked: Set[str] = set()
    history_attrs: Set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            # `history.x` where x is not called: an attribute (filepath).
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "history":
                history_attrs.add(node.attr)
        for call in _calls(tree):
            args = [object()] * len(call.args)
            kwargs = {k.arg: object() for k in call.keywords if k.arg is not None}
            f = call.func
            if isinstance(f, ast.Name) and f.id in ("IterationHistory", "IterationRecord"):
                sig = inspect.signature(getattr(iteration_history, f.id))
                sig.bind(*args, **kwargs)  # raises TypeError if the call would
                checked.add(f"{f.id}({', '.join(['_'] * len(args) + list(kwargs))})")
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "history":
                method = getattr(IterationHistory, f.attr)
                inspect.signature(method).bind(object(), *args, **kwargs)
                checked.add(f"history.{f.attr}({', '.join(['_'] * len(args) + list(kwargs))})")
    # What the reference shows (if it changes, this list says what to check).
    assert checked == {
        "IterationHistory(_)",
        "IterationRecord(iteration_num, strategy_code, execution_result, metrics, classification_level, timestamp, champion_updated)",
        "history.save(_)",
        "history.load_recent(N)",
        "history.get_last_iteration_num()",
        "history.get_all()",
        "history.count()",
    }, checked
    # `N` keeps its default and its place: load_recent() and load_recent(3).
    params = list(inspect.signature(IterationHistory.load_recent).parameters.values())
    assert params[1].name == "N" and params[1].default == 5 and params[1].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    # `history.filepath` (the backup example) and `history.clear()` (the
    # reference's "use history.clear()") exist on an instance.
    history_attrs -= {"save", "load_recent", "get_last_iteration_num", "get_all", "count"}
    assert history_attrs == {"filepath"}, history_attrs
    assert callable(IterationHistory.clear) and list(inspect.signature(IterationHistory.clear).parameters) == ["self"]
    # IterationRecord's fields, in the original's order, `champion_updated` optional.
    fields = list(inspect.signature(IterationRecord).parameters.values())
    assert [p.name for p in fields[:7]] == [
        "iteration_num", "strategy_code", "execution_result", "metrics", "classification_level", "timestamp", "champion_updated",
    ]
