"""The compiled-component cache under attack (POSIX): what is checked is
what is read. Loading compiled code runs it as native code, so bytes from
anywhere but a private directory must never reach `Component.deserialize`.

Each test swaps or plants files at the moment between the directory check
and the entry read (by wrapping `_engine._read_entry`, the step after the
check), and watches every byte string given to `Component.deserialize`.
Run by scripts/test-packages against the installed wheel."""

import hashlib
import os
import shutil
import stat
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from wasmtime import Engine
from wasmtime.component import Component

from iteration_history import _engine

# The attacks below need POSIX descriptors; where the package has none to
# check with (Windows), it has no cache: see the last test, run everywhere.
posix_only = pytest.mark.skipif(not _engine._SUPPORTED, reason="no cache here: see test_there_is_no_cache_where_it_cannot_be_checked")

ATTACKER = b"ATTACKER-NATIVE-CODE" * 64


class Spy:
    """Stands in for `wasmtime.component.Component` in `_engine`: records
    what `deserialize` is given. Compiling goes to wasmtime, once per
    session (all loads share one engine; see `isolated`), as compiling
    takes seconds on a busy machine."""

    real: Any = Component
    seen: List[bytes] = []
    compiled: Dict[Tuple[int, bytes], Any] = {}

    def __new__(cls, engine: Any, wasm: bytes) -> Any:  # compiling
        k = (id(engine), hashlib.sha256(wasm).digest())
        if k not in cls.compiled:
            cls.compiled[k] = cls.real(engine, wasm)
        return cls.compiled[k]

    @staticmethod
    def deserialize(engine: Any, body: bytes) -> Any:
        Spy.seen.append(bytes(body))
        return Spy.real.deserialize(engine, body)


ENGINE = Engine()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_engine, "_LOADED", {})
    monkeypatch.setattr(_engine, "Component", Spy)
    monkeypatch.setattr(_engine, "Engine", lambda: ENGINE)
    Spy.seen = []
    yield


@pytest.fixture(scope="session")
def good_entry(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A valid entry, compiled once for the session."""
    cache = tmp_path_factory.mktemp("good") / "cache"
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("IHIST_CACHE_DIR", str(cache))
        mp.setattr(_engine, "_LOADED", {})
        mp.setattr(_engine, "Component", Spy)
        mp.setattr(_engine, "Engine", lambda: ENGINE)
        _engine.load_component()
        assert _engine.LAST_LOAD["how"] == "compiled"
    finally:
        mp.undo()
    (entry,) = list(cache.iterdir())
    return entry.read_bytes()


def key() -> str:
    return _engine.cache_key(_engine.wasm_bytes()[0])


def entry_name() -> str:
    return f"component-{key()}.cwasm"


def framed(body: bytes) -> bytes:
    """A well-formed entry (magic, key, checksum) around `body`."""
    kb = key().encode()
    return b"IHISTCC1" + len(kb).to_bytes(2, "little") + kb + hashlib.sha256(body).digest() + body


def body_of(entry: bytes) -> bytes:
    return entry[len(b"IHISTCC1") + 2 + len(key().encode()) + 32 :]


def private_dir(path: Path, files: Optional[Dict[str, bytes]] = None) -> Path:
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    for name, data in (files or {}).items():
        (path / name).write_bytes(data)
        os.chmod(path / name, 0o600)
    return path


def load(monkeypatch: pytest.MonkeyPatch, cache: Path, before_read: Optional[Callable[[], None]] = None) -> str:
    """Loads the component with `cache` as the cache directory, running
    `before_read` after the directory was opened and checked, just before
    the entry is opened. Returns how it was loaded."""
    monkeypatch.setenv("IHIST_CACHE_DIR", str(cache))
    monkeypatch.setattr(_engine, "_LOADED", {})
    real = _engine._read_entry

    def racing(dir_fd: int, name: str, k: str) -> Optional[bytes]:
        if before_read is not None:
            before_read()
        return real(dir_fd, name, k)

    monkeypatch.setattr(_engine, "_read_entry", racing)
    try:
        _engine.load_component()
    finally:
        monkeypatch.setattr(_engine, "_read_entry", real)
    return _engine.LAST_LOAD["how"]


def no_attacker_bytes() -> None:
    assert not any(ATTACKER in b for b in Spy.seen), "attacker bytes reached Component.deserialize"


@posix_only
def test_a_valid_private_entry_is_loaded_from_the_checked_descriptor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_entry: bytes) -> None:
    cache = private_dir(tmp_path / "cache", {entry_name(): good_entry})
    assert load(monkeypatch, cache) == "cache"
    assert Spy.seen == [body_of(good_entry)]


@posix_only
def test_swapping_the_directory_for_a_symlink_after_the_check_reads_only_the_checked_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_entry: bytes
) -> None:
    cache = private_dir(tmp_path / "cache", {entry_name(): good_entry})
    attacker = private_dir(tmp_path / "attacker", {entry_name(): framed(ATTACKER)})

    def swap_directory() -> None:
        os.rename(cache, tmp_path / "cache.moved")
        os.symlink(attacker, cache)

    how = load(monkeypatch, cache, swap_directory)
    no_attacker_bytes()
    # The entry came from the directory that was checked (through its
    # descriptor), wherever it has moved: the path now leads elsewhere.
    assert how == "cache" and Spy.seen == [body_of(good_entry)]
    assert (attacker / entry_name()).read_bytes() == framed(ATTACKER), "the attacker's directory is untouched"
    assert sorted(os.listdir(attacker)) == [entry_name()]


@posix_only
def test_a_cache_directory_that_is_a_symlink_when_opened_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attacker = private_dir(tmp_path / "attacker", {entry_name(): framed(ATTACKER)})
    link = tmp_path / "cache"
    os.symlink(attacker, link)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        how = load(monkeypatch, link)
    assert how == "compiled-uncached" and Spy.seen == []
    assert any("symbolic link" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert sorted(os.listdir(attacker)) == [entry_name()], "nothing written through the link"


@posix_only
def test_an_entry_swapped_for_a_symlink_after_the_check_is_compiled_afresh(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_entry: bytes
) -> None:
    cache = private_dir(tmp_path / "cache", {entry_name(): good_entry})
    attacker = private_dir(tmp_path / "attacker", {"payload": framed(ATTACKER)})

    def swap_entry() -> None:
        os.unlink(cache / entry_name())
        os.symlink(attacker / "payload", cache / entry_name())

    how = load(monkeypatch, cache, swap_entry)
    no_attacker_bytes()
    assert how == "compiled" and Spy.seen == []
    # The new entry replaced the link itself; its target is unchanged.
    assert not (cache / entry_name()).is_symlink()
    assert (cache / entry_name()).read_bytes()[:8] == b"IHISTCC1"
    assert (attacker / "payload").read_bytes() == framed(ATTACKER)
    assert stat.S_IMODE(os.stat(cache / entry_name()).st_mode) == 0o600
    assert [f for f in os.listdir(cache) if f.endswith(".tmp")] == []
    # And the next load uses it.
    Spy.seen = []
    assert load(monkeypatch, cache) == "cache" and len(Spy.seen) == 1


@posix_only
@pytest.mark.parametrize("flaw", ["second-link", "group-writable", "other-owner", "fifo"])
def test_an_entry_that_others_could_have_written_is_not_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_entry: bytes, flaw: str
) -> None:
    cache = private_dir(tmp_path / "cache", {entry_name(): framed(ATTACKER)})
    entry = cache / entry_name()
    elsewhere = tmp_path / "hardlink"
    if flaw == "second-link":
        os.link(entry, elsewhere)  # someone else's name for the same bytes
    elif flaw == "group-writable":
        os.chmod(entry, 0o620)
    elif flaw == "other-owner":
        if os.geteuid() != 0:
            assert os.environ.get("CI") != "true", "CI=true, but this case needs root (chown)"
            pytest.skip("needs root to chown")
        os.chown(entry, 65534, 65534)
    else:
        os.unlink(entry)
        os.mkfifo(entry, 0o600)
    how = load(monkeypatch, cache)
    no_attacker_bytes()
    assert how == "compiled" and Spy.seen == []
    assert entry.read_bytes()[:8] == b"IHISTCC1" and ATTACKER not in entry.read_bytes(), "replaced by a fresh entry"
    assert os.stat(entry).st_nlink == 1
    if flaw == "second-link":
        assert elsewhere.read_bytes() == framed(ATTACKER), "the other name is untouched"


@posix_only
@pytest.mark.parametrize("parent_mode,usable", [(0o777, False), (0o775, False), (0o1777, True), (0o755, True)])
def test_a_parent_directory_others_can_write_is_refused_unless_sticky(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, parent_mode: int, usable: bool
) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    os.chmod(parent, parent_mode)
    cache = parent / "cache"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        how = load(monkeypatch, cache)
    if usable:
        assert how == "compiled" and caught == []
        assert load(monkeypatch, cache) == "cache"
    else:
        assert how == "compiled-uncached"
        assert any("writable by group or others" in str(w.message) and "sticky" in str(w.message) for w in caught), [
            str(w.message) for w in caught
        ]
        assert os.listdir(cache) == [], "nothing written"
    shutil.rmtree(parent)


def test_there_is_no_cache_where_it_cannot_be_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On Windows (no ACL check) and systems without `dir_fd`, nothing is
    cached or loaded; elsewhere the checks above apply. Runs everywhere."""
    if os.name == "posix" and os.open in os.supports_dir_fd:
        assert _engine._SUPPORTED
        return
    assert not _engine._SUPPORTED
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        how = load(monkeypatch, tmp_path / "cache")
    assert how == "compiled-uncached" and Spy.seen == []
    assert any("no compiled-component cache on this platform" in str(w.message) for w in caught)
    assert not (tmp_path / "cache").exists()
