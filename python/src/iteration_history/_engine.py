"""The wasmtime engine and the compiled component, with an on-disk cache.

Compiling the component takes 0.2-1 s; a new process instead loads the
compiled code from a cache entry keyed by the wasm's SHA-256, the wasmtime
version and the platform.

Cache rules (loading compiled code runs it as native code, so an entry is
trusted only where no one else could have written it):
* Directory: `$IHIST_CACHE_DIR`, else the user's cache directory
  (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS)
  + `iteration-history`, created with mode 0700. It is opened once, with
  `O_DIRECTORY | O_NOFOLLOW` (the last component may not be a symlink), and
  checked on that descriptor (`fstat`): owned by this user, not writable by
  group or others; then every directory above it, reached through `..`
  from the descriptor, must be owned by root or this user and not writable
  by group or others unless sticky (/tmp). A directory that fails is not
  used: the component is compiled in memory and a `CacheWarning` says why.
  `IHIST_CACHE_DIR=off` turns the cache off.
* Entry: opened relative to the directory descriptor with `O_NOFOLLOW`
  and used only if that descriptor is a regular file with a single link,
  owned by this user and not writable by group or others; the bytes are
  read from it and given to `Component.deserialize`. Renaming the
  directory, swapping it or an entry for a symlink after the check changes
  nothing: what was checked is what is read.
* Entry format: a header (magic, the key, the SHA-256 of the compiled
  bytes) and the bytes. Written to a new temp name (exclusive create, 0600,
  `O_NOFOLLOW`) in the directory and renamed into place, both relative to
  the directory descriptor, so a reader sees a whole entry or none.
* A damaged entry (wrong magic, key or checksum, truncated) or one that
  wasmtime refuses (another version or configuration) is never used: it is
  compiled again and the entry replaced.
* Windows, and systems without `dir_fd` support: no cache (the component
  is compiled in each process); `IHIST_CACHE_DIR` other than `off` is
  ignored there with a `CacheWarning`. Checking a directory's ACL is not
  implemented.
"""

import hashlib
import os
import secrets
import stat
import sys
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
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "iteration-history")


def _warn(message: str) -> None:
    warnings.warn(f"iteration_history: {message}", CacheWarning, stacklevel=4)


#: What the descriptor-based checks need: `open(..., dir_fd=)` and
#: `O_NOFOLLOW` / `O_DIRECTORY` (Linux, macOS, the BSDs). Elsewhere there
#: is no cache (Windows: see the module docs).
_SUPPORTED = (
    os.name == "posix"
    and os.open in os.supports_dir_fd
    and os.rename in os.supports_dir_fd  # os.replace shares its dir_fd support
    and os.unlink in os.supports_dir_fd
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# Parents are only `fstat`ed and walked: Linux's O_PATH needs no read
# permission on them (a 0711 home directory still works).
_WALK = os.O_DIRECTORY | _CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY) if _SUPPORTED else 0


def _unsafe_parent(fd: int, path: str) -> Optional[str]:
    """Walks up from the opened directory `fd` through `..` (by descriptor:
    the directories it really is in, whatever `path` says now) to the root.
    Each must be owned by root or this user and not writable by group or
    others unless sticky (as /tmp is): else whoever can write it could
    replace the cache directory. Returns why not, or None."""
    uid = os.geteuid()
    st = os.fstat(fd)
    cur = os.open("..", _WALK, dir_fd=fd)
    try:
        while True:
            up = os.fstat(cur)
            if up.st_uid not in (0, uid):
                return f"its parent directory (inode {up.st_ino}) above {path} is owned by uid {up.st_uid}"
            if up.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not up.st_mode & stat.S_ISVTX:
                return (
                    f"a parent directory (inode {up.st_ino}) above {path} is writable by group or others "
                    f"(mode {stat.S_IMODE(up.st_mode):o}) without the sticky bit"
                )
            if (up.st_dev, up.st_ino) == (st.st_dev, st.st_ino):
                return None  # `..` of the root is the root
            nxt = os.open("..", _WALK, dir_fd=cur)
            os.close(cur)
            cur, st = nxt, up
    finally:
        os.close(cur)


def _open_cache_dir() -> Optional[Tuple[int, str]]:
    """Opens the cache directory (created 0700 if missing) and checks it on
    its descriptor: a directory, not a symlink (`O_NOFOLLOW`), owned by this
    user, not writable by group or others, and no parent that others could
    use to replace it (see `_unsafe_parent`). Returns the descriptor and
    the path (for messages), or None (cache off, or refused with a
    `CacheWarning`)."""
    path = os.environ.get(_ENV_DIR) or ("off" if not _SUPPORTED else _default_dir())
    if path.lower() == "off":
        return None
    if not _SUPPORTED:
        _warn(f"no compiled-component cache on this platform ({sys.platform}); {_ENV_DIR} is ignored: compiling in memory")
        return None
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC)
    except OSError as e:
        if os.path.islink(path):
            reason = f"it is a symbolic link, which is never followed: point {_ENV_DIR} at the directory itself"
        else:
            reason = str(e)
        _warn(f"cache directory {path} not used: {reason}; compiling in memory")
        return None
    try:
        st = os.fstat(fd)
        uid = os.geteuid()
        why: Optional[str] = None
        if st.st_uid != uid:
            why = f"it is owned by uid {st.st_uid}, not by this user (uid {uid}): set {_ENV_DIR} to a private directory"
        elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            why = f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):o}): chmod 700 it or set {_ENV_DIR}"
        else:
            parent = _unsafe_parent(fd, path)
            if parent is not None:
                why = f"{parent}: set {_ENV_DIR} to a directory only you (and root) can change"
        if why is not None:
            _warn(f"cache directory {path} not used (loading compiled code runs native code): {why}; compiling in memory")
            os.close(fd)
            return None
    except OSError as e:
        os.close(fd)
        _warn(f"cache directory {path} unusable ({e}); compiling in memory")
        return None
    return fd, path


def cache_dir() -> Optional[str]:
    """The cache directory in use (created if needed), or None when the
    cache is off or the directory is refused (with a `CacheWarning`)."""
    opened = _open_cache_dir()
    if opened is None:
        return None
    os.close(opened[0])
    return opened[1]


def _entry_name(key: str) -> str:
    return f"component-{key}.cwasm"


def _read_entry(dir_fd: int, name: str, key: str) -> Optional[bytes]:
    """The compiled bytes of a valid entry, else None (missing, damaged, or
    not trustworthy). The entry is opened relative to the checked directory
    descriptor with `O_NOFOLLOW`, and used only if that descriptor is a
    regular file with a single link, owned by this user and not writable by
    group or others; the bytes are read from it."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC | _NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None  # missing, or a symlink (ELOOP)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_nlink != 1
            or st.st_uid != os.geteuid()
            or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            return None
        try:
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


def _write_entry(dir_fd: int, name: str, key: str, body: bytes) -> None:
    """Writes the entry under a new temp name in the directory (created
    exclusively, 0600, `O_NOFOLLOW`) and renames it over `name`, both
    relative to the directory descriptor: a reader sees a whole entry or
    none, and a symlink planted at `name` is replaced, never written
    through."""
    kb = key.encode()
    header = _MAGIC + len(kb).to_bytes(2, "little") + kb + hashlib.sha256(body).digest()
    tmp = f".component-{os.getpid()}-{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(body)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
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
        opened = _open_cache_dir()
        component: Optional[Component] = None
        try:
            if opened is not None:
                body = _read_entry(opened[0], _entry_name(key), key)
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
                if opened is not None:
                    try:
                        _write_entry(opened[0], _entry_name(key), key, bytes(component.serialize()))
                        LAST_LOAD["how"] = "compiled"
                    except (OSError, WasmtimeError) as e:
                        warnings.warn(
                            f"iteration_history: could not write the cache entry in {opened[1]}: {e}", CacheWarning, stacklevel=2
                        )
        finally:
            if opened is not None:
                os.close(opened[0])
        _LOADED[key] = (engine, component)
        return engine, component
