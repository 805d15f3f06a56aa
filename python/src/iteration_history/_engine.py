"""The wasmtime engine and the compiled component, with an on-disk cache.

Compiling the component takes 0.2-1 s; a new process instead loads the
compiled code from a cache entry keyed by the wasm's SHA-256, the wasmtime
version and the platform.

Cache rules:
* Directory: `$IHIST_CACHE_DIR`, else the user's cache directory
  (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS,
  `%LOCALAPPDATA%` on Windows) + `iteration-history`. Created with mode
  0700. On POSIX a directory that another user owns or that group or others
  can write is refused (loading compiled code runs native code): the
  component is then compiled in memory and a `CacheWarning` says why.
  `IHIST_CACHE_DIR=off` turns the cache off.
* Entry: a header (magic, the key, the SHA-256 of the compiled bytes) and
  the bytes. Written to a temp file in the same directory and renamed into
  place, so a reader sees a whole entry or none.
* A damaged entry (wrong magic, key or checksum, truncated) or one that
  wasmtime refuses (another version or configuration) is never used: it is
  compiled again and the entry replaced.
"""

import hashlib
import os
import stat
import sys
import tempfile
import threading
import warnings
from typing import Dict, Optional, Tuple

import wasmtime
from wasmtime import Engine, WasmtimeError
from wasmtime.component import Component

__all__ = ["CacheWarning", "cache_dir", "cache_key", "load_component", "wasm_bytes", "LAST_LOAD"]

_MAGIC = b"IHISTCC1"
_ENV_DIR = "IHIST_CACHE_DIR"
_ENV_WASM = "IHIST_WASM"


class CacheWarning(UserWarning):
    """The compiled-component cache could not be used (the component still
    runs, compiled in memory)."""


#: How the last `load_component` got its component: "memory" (this
#: process), "cache" (a valid entry), "compiled" (entry written),
#: "compiled-uncached" (no usable cache directory). For tests and benches.
LAST_LOAD = {"how": ""}

_LOCK = threading.Lock()
_LOADED: Dict[str, Tuple[Engine, Component]] = {}


def wasm_bytes() -> Tuple[bytes, str]:
    """The component's bytes and where they came from: `$IHIST_WASM`, else
    the copy bundled in the package."""
    override = os.environ.get(_ENV_WASM)
    if override:
        with open(override, "rb") as f:
            return f.read(), override
    # Wheels install unpacked: the file is next to this module.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "history.wasm")
    with open(path, "rb") as f:
        return f.read(), path


_VERSION: Dict[str, str] = {}


def wasmtime_version() -> str:
    """The installed wasmtime-py version, from its `.dist-info` directory
    (importlib.metadata would add ~20 ms to every start)."""
    if "v" not in _VERSION:
        site = os.path.dirname(os.path.dirname(os.path.abspath(wasmtime.__file__)))
        found = [n[len("wasmtime-") : -len(".dist-info")] for n in os.listdir(site) if n.startswith("wasmtime-") and n.endswith(".dist-info")]
        if len(found) == 1:
            _VERSION["v"] = found[0]
        else:  # not a plain site-packages install: ask the metadata
            from importlib import metadata

            try:
                _VERSION["v"] = metadata.version("wasmtime")
            except metadata.PackageNotFoundError:
                _VERSION["v"] = "unknown"
    return _VERSION["v"]


def _machine() -> str:
    if hasattr(os, "uname"):
        return os.uname().machine.lower()
    return os.environ.get("PROCESSOR_ARCHITECTURE", "unknown").lower()


def cache_key(wasm: bytes) -> str:
    """The cache key: wasm SHA-256, wasmtime version, platform."""
    digest = hashlib.sha256(wasm).hexdigest()[:32]
    plat = f"{sys.platform}-{_machine()}"
    return f"{digest}-wasmtime{wasmtime_version()}-{plat}"


def _default_dir() -> str:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "iteration-history")


def cache_dir() -> Optional[str]:
    """The cache directory in use (created if needed), or None when the
    cache is off or the directory is refused (with a `CacheWarning`)."""
    path = os.environ.get(_ENV_DIR) or _default_dir()
    if path.lower() == "off":
        return None
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as e:
        warnings.warn(f"iteration_history: cache directory {path} unusable ({e}); compiling in memory", CacheWarning, stacklevel=3)
        return None
    if os.name == "posix":
        if st.st_uid != os.getuid():
            warnings.warn(
                f"iteration_history: cache directory {path} is owned by uid {st.st_uid}, not by this user "
                f"(uid {os.getuid()}): not used; set {_ENV_DIR} to a private directory",
                CacheWarning,
                stacklevel=3,
            )
            return None
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            warnings.warn(
                f"iteration_history: cache directory {path} is writable by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):o}): not used; chmod 700 it or set {_ENV_DIR}",
                CacheWarning,
                stacklevel=3,
            )
            return None
    return path


def _entry_path(directory: str, key: str) -> str:
    return os.path.join(directory, f"component-{key}.cwasm")


def _read_entry(path: str, key: str) -> Optional[bytes]:
    """The compiled bytes of a valid entry, else None (missing or damaged)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    kb = key.encode()
    head = len(_MAGIC) + 2 + len(kb) + 32
    if len(data) < head or data[: len(_MAGIC)] != _MAGIC:
        return None
    n = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 2], "little")
    if n != len(kb) or data[len(_MAGIC) + 2 : len(_MAGIC) + 2 + n] != kb:
        return None
    digest = data[head - 32 : head]
    body = data[head:]
    if hashlib.sha256(body).digest() != digest:
        return None
    return body


def _write_entry(directory: str, path: str, key: str, body: bytes) -> None:
    kb = key.encode()
    header = _MAGIC + len(kb).to_bytes(2, "little") + kb + hashlib.sha256(body).digest()
    fd, tmp = tempfile.mkstemp(prefix=".component-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(body)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_component() -> Tuple[Engine, Component]:
    """The engine and compiled component for this process (one per wasm)."""
    wasm, origin = wasm_bytes()
    key = cache_key(wasm)
    with _LOCK:
        got = _LOADED.get(key)
        if got is not None:
            LAST_LOAD["how"] = "memory"
            return got
        engine = Engine()
        directory = cache_dir()
        component: Optional[Component] = None
        if directory is not None:
            path = _entry_path(directory, key)
            body = _read_entry(path, key)
            if body is not None:
                try:
                    component = Component.deserialize(engine, body)
                    LAST_LOAD["how"] = "cache"
                except WasmtimeError:
                    component = None  # another engine configuration: recompile
        if component is None:
            try:
                component = Component(engine, wasm)
            except WasmtimeError as e:
                raise RuntimeError(f"iteration_history: {origin} is not a loadable component: {e}") from e
            LAST_LOAD["how"] = "compiled-uncached"
            if directory is not None:
                try:
                    _write_entry(directory, _entry_path(directory, key), key, bytes(component.serialize()))
                    LAST_LOAD["how"] = "compiled"
                except (OSError, WasmtimeError) as e:
                    warnings.warn(f"iteration_history: could not write the cache entry in {directory}: {e}", CacheWarning, stacklevel=2)
        _LOADED[key] = (engine, component)
        return engine, component
