"""Threads and processes: one history object shared by threads, a wasm trap
that must not leave the object silently broken, a history used in a forked
child (must raise at once, never hang), and the writer's lock file (0600,
never through a symbolic link, another user's reported by name)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from typing import Any, Dict, List, Optional

import pytest

import iteration_history as ih
from iteration_history import IterationHistory


def skip(reason: str) -> None:
    """Skips a test that cannot run here; under CI=true that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: cannot skip: {reason}")
    pytest.skip(reason)


def rec(i: int, **extra: Any) -> Dict[str, Any]:
    return {
        "iteration_num": i,
        "strategy_code": f"def strategy(data): return {i}",
        "execution_result": {"success": True},
        "metrics": {"sharpe_ratio": float("nan") if i % 3 == 0 else i / 10},
        "classification_level": "LEVEL_1",
        "timestamp": f"2025-03-01T00:00:00.{i:06d}",
        "champion_updated": False,
        **extra,
    }


def test_8_threads_x_200_saves_with_concurrent_reads_get_exactly_1600_distinct_records(tmp_path: Any) -> None:
    path = tmp_path / "h.jsonl"
    history = IterationHistory(path)
    other = IterationHistory(path)  # a second object on the file: same history
    errors: List[BaseException] = []
    done = threading.Event()
    reads = [0]

    def writer(t: int) -> None:
        try:
            for j in range(200):
                history.save(rec(t * 200 + j))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader(h: IterationHistory) -> None:
        try:
            while not done.is_set():
                n = h.count()
                recent = h.load_recent(N=5)
                assert min(5, n) <= len(recent) <= 5
                h.get_last_iteration_num()
                if reads[0] % 25 == 0:  # a whole read now and then (it holds the history longest)
                    assert len(h.get_all()) >= n
                reads[0] += 1
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    readers = [threading.Thread(target=reader, args=(h,)) for h in (history, other, history)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert errors == [], errors[:3]
    assert reads[0] > 0, "the readers ran while the writers saved"
    got = [r.iteration_num for r in history.get_all()]
    assert len(got) == 1600 and sorted(got) == list(range(1600))
    assert other.count() == 1600 and history.verify().health == "healthy"
    # Each thread's records are in its own order.
    for k in range(8):
        mine = [i for i in got if k * 200 <= i < (k + 1) * 200]
        assert mine == sorted(mine)
    history.close()
    other.close()
    with IterationHistory(path, read_only=True) as r:
        assert r.count() == 1600


def _oom_trap(h: IterationHistory) -> None:
    # A real trap: the guest may not grow its memory, so its allocator
    # aborts (`unreachable`) while taking a 20 MB record.
    shared = h._shared
    assert shared is not None
    shared.store.set_limits(memory_size=1)
    h.save(rec(10**6, blob="x" * 20_000_000))


def test_a_trap_raises_a_history_error_and_the_history_works_again(tmp_path: Any) -> None:
    path = tmp_path / "h.jsonl"
    h = IterationHistory(path)
    h.save(rec(0))
    with pytest.raises(ih.HistoryError) as trapped:
        _oom_trap(h)
    assert "trapped" in str(trapped.value) and "h.jsonl" in str(trapped.value), trapped.value
    assert not h.closed
    # The object works again: reads, saves, and still holds the writer lock.
    assert h.count() == 1 and h.get_last_iteration_num() == 0
    h.save(rec(1))
    assert [r.iteration_num for r in h.get_all()] == [0, 1] and h.open_report().lock == "host"
    assert h.verify().health == "healthy"
    h.close()


def test_a_trap_whose_reopening_fails_leaves_the_history_closed_and_says_so(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.jsonl"
    h = IterationHistory(path)
    h.save(rec(0))
    from iteration_history import _engine

    def refuse() -> Any:
        raise RuntimeError("no component today")

    monkeypatch.setattr(_engine, "load_component", refuse)
    with pytest.raises(ih.HistoryClosed) as closed:
        _oom_trap(h)
    assert "closed" in str(closed.value) and "no component today" in str(closed.value)
    with pytest.raises(ih.HistoryClosed):
        h.count()
    with pytest.raises(ih.HistoryClosed):
        h.save(rec(1))
    monkeypatch.undo()
    assert _engine.load_component is not refuse
    # The lock was released: a new object (a fresh instance) writes.
    with IterationHistory(path) as again:
        again.save(rec(1))
        assert again.count() == 2
    h.close()


FORKED = textwrap.dedent(
    """
    import json, multiprocessing, os, signal, sys
    import iteration_history as ih
    from iteration_history import IterationHistory

    path, other = sys.argv[1], sys.argv[2]
    r = {"iteration_num": 0, "strategy_code": "x", "execution_result": {}, "metrics": {},
         "classification_level": "L", "timestamp": "t", "champion_updated": False}
    h = IterationHistory(path)
    h.save(r)

    def attempts():
        out = []
        for what, f in (("save", lambda: h.save(dict(r, iteration_num=1))), ("count", h.count),
                        ("open same", lambda: IterationHistory(path)),
                        ("open other", lambda: IterationHistory(other).count())):
            try:
                f()
                out.append([what, "no error"])
            except ih.HistoryError as e:
                out.append([what, str(e)])
        h.close()
        return out

    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(30)  # a hang must not outlive the test
        os.close(rd)
        os.write(wr, json.dumps(attempts()).encode())
        os._exit(0)
    os.close(wr)
    data = b""
    while True:
        chunk = os.read(rd, 65536)
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    forked = json.loads(data)

    def mp_child(q):
        q.put(attempts())

    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=mp_child, args=(q,))
    p.start()
    via_mp = q.get(timeout=30)
    p.join(30)

    # The parent's history is intact and still its own.
    h.save(dict(r, iteration_num=1))
    parent = [h.count(), h.open_report().lock, h.verify().health]
    print(json.dumps({"status": status, "forked": forked, "mp": via_mp, "mp_exit": p.exitcode,
                      "parent": parent}))
    """
)

SPAWNED = textwrap.dedent(
    """
    import json, multiprocessing, sys
    import iteration_history as ih
    from iteration_history import IterationHistory

    def child(path, q):
        h = IterationHistory(path)  # opened in the child, as the message says
        n = h.count()
        try:
            h.save({"iteration_num": 9, "strategy_code": "x", "execution_result": {}, "metrics": {},
                    "classification_level": "L", "timestamp": "t", "champion_updated": False})
            q.put([n, "saved"])
        except ih.HistoryLocked:
            q.put([n, "locked"])

    if __name__ == "__main__":
        path = sys.argv[1]
        h = IterationHistory(path)
        h.save({"iteration_num": 0, "strategy_code": "x", "execution_result": {}, "metrics": {},
                "classification_level": "L", "timestamp": "t", "champion_updated": False})
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(path, q))
        p.start()
        got = q.get(timeout=60)
        p.join(60)
        print(json.dumps({"child": got, "exit": p.exitcode, "count": h.count()}))
    """
)


def test_a_history_used_in_a_forked_child_raises_at_once_and_the_parent_keeps_it(tmp_path: Any) -> None:
    path, other = str(tmp_path / "h.jsonl"), str(tmp_path / "other.jsonl")
    # Its own process (a hang fails by the timeout instead of blocking pytest).
    out = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORKED, path, other],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == 0 and got["mp_exit"] == 0, got
    for attempts in (got["forked"], got["mp"]):
        assert [w for w, _ in attempts] == ["save", "count", "open same", "open other"]
        for what, message in attempts:
            assert message != "no error", (what, attempts)
            assert "open the history in the child" in message and "spawn" in message, message
        assert "opened in another process" in attempts[0][1] and "opened in another process" in attempts[1][1]
    # Nothing of the children's attempts reached the file; the parent's lock held.
    assert got["parent"] == [2, "host", "healthy"], got
    with open(path) as f:
        assert [json.loads(line)["iteration_num"] for line in f] == [0, 1]
    assert not os.path.exists(other), "the child created nothing"


def test_a_spawned_child_opens_the_history_itself_and_reads_while_the_parent_writes(tmp_path: Any) -> None:
    path = str(tmp_path / "h.jsonl")
    script = tmp_path / "spawned.py"
    script.write_text(SPAWNED)
    out = subprocess.run([sys.executable, str(script), path], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # It reads (no lock needed); its write finds the parent's writer lock.
    assert got == {"child": [1, "locked"], "exit": 0, "count": 1}, got


def _tree_hash(path: str) -> str:
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, path)}:{st.st_mode:o}:{st.st_size}".encode())
            if not os.path.islink(p):
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def test_the_lock_file_is_private_and_never_opened_through_a_symlink(tmp_path: Any) -> None:
    with IterationHistory(tmp_path / "h.jsonl") as h:
        h.save(rec(0))
        assert os.stat(tmp_path / "h.jsonl.lock").st_mode & 0o777 == 0o600
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me\n")
    inside = tmp_path / "in"
    inside.mkdir()
    os.symlink(outside / "victim", inside / "h.jsonl.lock")
    os.symlink(outside / "new-file", inside / "g.jsonl.lock")  # dangling: must not be created
    before = _tree_hash(str(outside))
    for name in ("h.jsonl", "g.jsonl"):
        h = IterationHistory(inside / name)
        assert h.count() == 0  # reading needs no lock
        with pytest.raises(ih.HistoryPermissionError) as refused:
            h.save(rec(0))
        assert f"{name}.lock" in str(refused.value) and "symbolic link" in str(refused.value), refused.value
        assert isinstance(refused.value, PermissionError)
        h.close()
    assert _tree_hash(str(outside)) == before and not (outside / "new-file").exists()


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
@pytest.mark.parametrize("planted", ["h.jsonl", "h.jsonl.idx", "h.jsonl.commit", "h.jsonl.lease"])
def test_a_writer_never_writes_through_a_link_out_of_the_directory(tmp_path: Any, planted: str, dangling: bool) -> None:
    """The history, its checkpoint, in-flight record and lease planted as
    links that leave the directory: the component (under wasmtime-py's
    preopen) never writes through them, and nothing outside changes. The
    history itself is refused; for the sidecars, what a writer does with a
    refused one (the checkpoint is optional; the lease is unused under the
    package's OS lock) is the core's business, but the outside stays
    untouched. (The lock file has its own test above; temp names are random.)"""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me\n")
    inside = tmp_path / "in"
    inside.mkdir()
    os.symlink(outside / ("new-file" if dangling else "victim"), inside / planted)
    before = _tree_hash(str(outside))
    refused: Optional[BaseException] = None
    try:
        h = IterationHistory(inside / "h.jsonl")
        try:
            h.save(rec(0))
            h.save_batch([rec(1), rec(2)])
        finally:
            h.close()
    except ih.HistoryError as e:
        refused = e
    if planted == "h.jsonl":
        assert refused is not None, "a history that is a link out of the directory was used"
    assert _tree_hash(str(outside)) == before, f"{planted}: something outside changed"
    assert not (outside / "new-file").exists(), f"{planted}: a file was created outside"


OTHER_USER = "ihist-pytest"


def _second_user() -> str:
    if sys.platform != "linux" or os.geteuid() != 0:
        skip("needs root on Linux to run a process as a second user")
    if not shutil.which("runuser"):
        skip("runuser not installed")
    if subprocess.run(["id", "-u", OTHER_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER], check=True)
    return OTHER_USER


def test_a_lock_file_owned_by_another_user_is_reported_naming_it() -> None:
    user = _second_user()
    d = tempfile.mkdtemp(prefix="ihist-users-")
    try:
        os.chmod(d, 0o777)
        # The other user's writer left its lock file (and history).
        subprocess.run(["runuser", "-u", user, "--", "touch", os.path.join(d, "h.jsonl.lock")], check=True)
        h = IterationHistory(os.path.join(d, "h.jsonl"))
        with pytest.raises(ih.HistoryPermissionError) as refused:
            h.save(rec(0))
        message = str(refused.value)
        assert os.path.join(d, "h.jsonl.lock") in message and f"user '{user}'" in message, message
        assert not os.path.exists(os.path.join(d, "h.jsonl")), "nothing was written"
        h.close()
        # And the other way round: that user cannot take this user's lock.
        with IterationHistory(os.path.join(d, "mine.jsonl")) as mine:
            mine.save(rec(0))
        import wasmtime

        assert ih.__file__ is not None and wasmtime.__file__ is not None
        site = os.path.dirname(os.path.dirname(os.path.abspath(ih.__file__)))
        wasmtime_site = os.path.dirname(os.path.dirname(os.path.abspath(wasmtime.__file__)))
        code = textwrap.dedent(
            f"""
            import iteration_history as ih
            h = ih.IterationHistory({os.path.join(d, 'mine.jsonl')!r})
            print(h.count())
            try:
                h.save({{"iteration_num": 1, "strategy_code": "x", "execution_result": {{}}, "metrics": {{}},
                        "classification_level": "L", "timestamp": "t", "champion_updated": False}})
                print("saved")
            except ih.HistoryPermissionError as e:
                print("refused:", e)
            """
        )
        env = {"PATH": os.environ.get("PATH", ""), "IHIST_CACHE_DIR": "off", "PYTHONPATH": os.pathsep.join([site, wasmtime_site])}
        # The system's python3: pyenv's lives under /root, closed to others.
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        out = subprocess.run(["runuser", "-u", user, "--", py, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0 and "No module named" in out.stderr:
            skip(f"the installed package is not readable by {user} ({site}): {out.stderr.strip()[-200:]}")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert lines[0] == "1" and lines[1].startswith("refused:"), lines
        assert os.path.join(d, "mine.jsonl.lock") in lines[1] and "owned by user 'root'" in lines[1], lines
        with IterationHistory(os.path.join(d, "mine.jsonl"), read_only=True) as r:
            assert r.count() == 1
    finally:
        shutil.rmtree(d)


SAVE_ONCE = textwrap.dedent(
    """
    import sys
    from iteration_history import IterationHistory
    IterationHistory(sys.argv[1]).save({"iteration_num": int(sys.argv[2]), "strategy_code": "x",
        "execution_result": {}, "metrics": {}, "classification_level": "L", "timestamp": "t",
        "champion_updated": False})
    """
)


def test_objects_share_one_history_until_the_last_is_closed_or_collected(tmp_path: Any) -> None:
    from iteration_history import _history

    path = str(tmp_path / "h.jsonl")

    def other_process_saves(i: int) -> bool:
        out = subprocess.run([sys.executable, "-c", SAVE_ONCE, path, str(i)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 or "HistoryLocked" in out.stderr, out.stderr
        return out.returncode == 0

    a = IterationHistory(path)
    b = IterationHistory(os.path.join(str(tmp_path), ".", "h.jsonl"))  # another spelling, same file
    assert a._shared is b._shared
    a.save(rec(0))
    b.save(rec(1))
    a.close()
    assert b.count() == 2 and not other_process_saves(2), "b still holds the writer lock"
    # The original module's users never close: dropping the last object frees it.
    del b
    assert _history._REGISTRY.get(_history._key(str(tmp_path), "h.jsonl")) is None
    assert other_process_saves(2)
    with IterationHistory(path) as c:
        assert [r.iteration_num for r in c.get_all()] == [0, 1, 2]


def test_a_finalizer_never_waits_for_a_lock(tmp_path: Any) -> None:
    """The garbage collector runs `__del__` at any allocation, in whatever
    thread allocates: possibly one that holds the registry lock (opening
    another history: this hung the suite on CPython 3.9) or while another
    thread holds it. A finalizer never waits; what it cannot release now is
    released by the next open or close."""
    from iteration_history import _history as hist

    a = IterationHistory(tmp_path / "a.jsonl")
    a.save(rec(0))
    with hist._REGISTRY_LOCK:  # this thread holds it, as while opening
        a.__del__()
    assert a.closed and not hist._PENDING

    b = IterationHistory(tmp_path / "b.jsonl")
    b.save(rec(0))
    held, go, done = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with hist._REGISTRY_LOCK:
            held.set()
            go.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(30)

    def finalize() -> None:
        b.__del__()
        done.set()

    threading.Thread(target=finalize).start()
    try:
        assert done.wait(10), "the finalizer waited for a lock another thread holds"
        assert len(hist._PENDING) == 1
    finally:
        go.set()
        t.join()
    IterationHistory(tmp_path / "c.jsonl").close()  # releases what the finalizer left
    assert not hist._PENDING
    # b's writer lock was dropped: a new writer takes it.
    with IterationHistory(tmp_path / "b.jsonl") as b2:
        b2.save(rec(1))
        assert b2.count() == 2
