// A synchronous wasi:filesystem host for one preopened directory, on Node's
// fs.*Sync calls in the calling thread.
//
// Why not @bytecodealliance/preview2-shim's filesystem: its descriptors run
// every file call (stat, write, sync-data, read, ...) as a synchronous
// round trip to a worker thread, which runs it on libuv's thread pool. A
// save makes 2-3 such calls (fstat, pwrite, fdatasync); the round trips cost
// more than everything else in the save (node/bench: ~80% of a save without
// syncs). Here each is one system call.
//
// Staying beneath the preopen. Node's fs has no openat, so:
//   - The preopened directory is opened once (following links, as wasmtime
//     does for a preopen) and held as a directory descriptor; its dev/ino
//     are kept. Renaming, moving or swapping the directory's path later does
//     not move the handle.
//   - Linux ("descriptor" resolution): every name is resolved beneath that
//     descriptor as `/proc/self/fd/<fd>/<name>`: the kernel follows the
//     magic link to the directory the descriptor holds, wherever it now is,
//     and the name is one component opened with O_NOFOLLOW, so a symlink
//     there (dangling or not, planted or swapped in at any moment) fails
//     with `loop` instead of being followed, also under O_CREAT. rename,
//     unlink and lstat never follow a last component. The check that /proc
//     resolves the descriptor is made at open; without it the host falls
//     back to the next mode.
//   - Elsewhere (macOS, Windows, Linux without /proc) ("path" resolution):
//     the directory's real path is checked before every name-based call
//     (its real path unchanged, an lstat of it a directory, not a link,
//     with the held dev/ino) and refused (`not-permitted`) otherwise;
//     files are opened with O_NOFOLLOW (Windows has none: an lstat refuses
//     a link first). A swap between that check and the call is not caught:
//     node/README.md says so.
//   - Every opened file is checked with fstat: a regular file, else closed
//     and refused (a directory: `is-directory`; a fifo, socket or device:
//     `not-permitted`); O_NONBLOCK keeps a planted fifo from hanging open.
//
// What the component calls (wasi-component/src/wasi_dir.rs), and nothing
// more: the preopen; open-at of one plain name (files: read, or read+write
// with create/exclusive/truncate) and of `.` as a directory; read, write,
// stat, set-size, sync-data and sync on files; stat-at, rename-at,
// unlink-file-at, read-directory, stat, sync and sync-data on the directory.
// Refused with `not-permitted`, because the component never needs them:
//   - `symlink-follow` (following any link), and so links altogether: the
//     host has no symlink-at, readlink-at, link-at or remove-directory-at;
//   - any name but one plain component: empty, `.` (except as the directory
//     itself), `..`, absolute paths, `/`, `\`, NUL, `:` (Windows streams),
//     and Windows device names (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`,
//     `LPT0`-`LPT9`, with or without an extension, any case);
//   - opening anything but `.` as a directory; a directory opened for
//     writing (`is-directory`).
// Numbers: offsets and sizes arrive as bigint. Like wasmtime on Linux: an
// offset or size of 2^63 or more is `invalid` (EINVAL from pread/pwrite);
// a write or set-size at 2^53 or more (which no JavaScript number holds
// exactly, and no Linux file system in common use allows: EFBIG) is
// `file-too-large`; a read at such an offset is made at the exact bigint
// offset. A read returns at most 64 KiB, as wasmtime's does
// (MAX_READ_SIZE_ALLOC): the guest asks again for the rest.
import fs from 'node:fs';
import path from 'node:path';

const C = fs.constants;
const NOFOLLOW = C.O_NOFOLLOW ?? 0;
const DIRECTORY = C.O_DIRECTORY ?? 0;
const NONBLOCK = C.O_NONBLOCK ?? 0;

/** The most bytes one `read` returns (wasmtime-wasi's MAX_READ_SIZE_ALLOC). */
export const MAX_READ = 64 * 1024;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER); // 2^53 - 1
const I64_MAX = (1n << 63n) - 1n;

// Node's error codes → WASI filesystem error-code.
const CODES = {
  EACCES: 'access', EAGAIN: 'would-block', EWOULDBLOCK: 'would-block', EALREADY: 'already',
  EBADF: 'bad-descriptor', EBUSY: 'busy', EDEADLK: 'deadlock', EDQUOT: 'quota', EEXIST: 'exist',
  EFBIG: 'file-too-large', EILSEQ: 'illegal-byte-sequence', EINPROGRESS: 'in-progress',
  EINTR: 'interrupted', EINVAL: 'invalid', EIO: 'io', EISDIR: 'is-directory', ELOOP: 'loop',
  EMLINK: 'too-many-links', EMSGSIZE: 'message-size', ENAMETOOLONG: 'name-too-long',
  ENODEV: 'no-device', ENOENT: 'no-entry', ENOLCK: 'no-lock', ENOMEM: 'insufficient-memory',
  ENOSPC: 'insufficient-space', ENOTDIR: 'not-directory', ENOTEMPTY: 'not-empty',
  ENOTRECOVERABLE: 'not-recoverable', ENOTSUP: 'unsupported', EOPNOTSUPP: 'unsupported',
  ENOTTY: 'no-tty', ENXIO: 'no-such-device', EOVERFLOW: 'overflow', EPERM: 'not-permitted',
  EPIPE: 'pipe', EROFS: 'read-only', ESPIPE: 'invalid-seek', ETXTBSY: 'text-file-busy',
  EXDEV: 'cross-device',
};

/** Runs `fn`, throwing a Node error as its WASI error-code (jco's convention). */
function wasi(fn) {
  try {
    return fn();
  } catch (e) {
    if (e && typeof e.code === 'string') throw CODES[e.code] ?? 'io';
    throw e;
  }
}

// A Windows device name: the part before the first `.`, without trailing
// spaces (Windows ignores them), e.g. `CON`, `nul.txt`, `COM1 .jsonl`.
const DEVICE = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])$/i;

/** Throws `not-permitted` unless `name` is one plain name the host resolves. */
export function checkName(name) {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0:]/.test(name)) {
    throw 'not-permitted';
  }
  if (DEVICE.test(name.split('.')[0].trimEnd())) throw 'not-permitted';
  if (process.platform === 'win32' && /[. ]$/.test(name)) throw 'not-permitted';
  return name;
}

/** An offset or size from the guest as a number, or the WASI error wasmtime gives on Linux. */
function position(v, writing) {
  if (v <= SAFE && v >= 0n) return Number(v); // every offset a history has
  const b = BigInt(v);
  if (b < 0n || b > I64_MAX) throw 'invalid';
  if (writing) throw 'file-too-large';
  return b; // fs.readSync takes an exact bigint position
}

function kind(st) {
  if (st.isFile()) return 'regular-file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic-link';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isCharacterDevice()) return 'character-device';
  return 'unknown';
}

const NS = 1_000_000_000n;
const time = (ns) => ({ seconds: ns / NS, nanoseconds: Number(ns % NS) });

function stat(st) {
  return {
    type: kind(st),
    linkCount: st.nlink,
    size: st.size,
    dataAccessTimestamp: time(st.atimeNs),
    dataModificationTimestamp: time(st.mtimeNs),
    statusChangeTimestamp: time(st.ctimeNs),
  };
}

const dispose = Symbol.dispose || Symbol.for('dispose'); // jco's key
const INTERNAL = Symbol('fs-host');
const closer = new FinalizationRegistry((fd) => { try { fs.closeSync(fd); } catch { /* already closed */ } });

/** Does `/proc/self/fd/<fd>` resolve to the directory `fd` holds? */
function procResolves(fd, st) {
  if (process.platform !== 'linux') return false;
  try {
    const p = fs.statSync(`/proc/self/fd/${fd}`, { bigint: true });
    return p.isDirectory() && p.dev === st.dev && p.ino === st.ino;
  } catch {
    return false;
  }
}

/**
 * The preopened directory: a held descriptor and how names are resolved
 * beneath it. Its descriptor is closed by `close()` (or when nothing refers
 * to it any more), never by a guest's drop of a handle: `/proc/self/fd/<fd>`
 * must not come to mean another file while a handle can still use it.
 */
class Root {
  constructor(hostDir, resolution) {
    this.fd = wasi(() => fs.openSync(hostDir, C.O_RDONLY | DIRECTORY));
    try {
      const st = fs.fstatSync(this.fd, { bigint: true });
      if (!st.isDirectory()) throw 'not-directory';
      this.dev = st.dev;
      this.ino = st.ino;
      const proc = resolution !== 'path' && procResolves(this.fd, st);
      if (resolution === 'descriptor' && !proc) throw 'unsupported';
      this.resolution = proc ? 'descriptor' : 'path';
      if (proc) {
        this.base = `/proc/self/fd/${this.fd}`;
      } else {
        this.base = fs.realpathSync.native(hostDir);
        this.#checkPath();
      }
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
    this.closed = false;
    closer.register(this, this.fd, this);
  }

  /** Path resolution: the real path is still the held directory. */
  #checkPath() {
    let ok = false;
    try {
      const st = fs.lstatSync(this.base, { bigint: true });
      ok = st.isDirectory() && st.dev === this.dev && st.ino === this.ino
        && fs.realpathSync.native(this.base) === this.base;
    } catch { /* gone: refused below */ }
    if (!ok) throw 'not-permitted';
  }

  /** The path of `name` (checked) beneath the directory, for one call. */
  at(name) {
    if (this.closed) throw 'bad-descriptor';
    checkName(name);
    if (this.resolution === 'descriptor') return `${this.base}/${name}`;
    this.#checkPath();
    return path.join(this.base, name);
  }

  /** The path of the directory itself (checked), for one call; `fd`: a descriptor of it. */
  self(fd) {
    if (this.closed) throw 'bad-descriptor';
    if (this.resolution === 'descriptor') return `/proc/self/fd/${fd}`;
    this.#checkPath();
    return this.base;
  }

  /** Windows has no O_NOFOLLOW: refuse a link found by lstat (racy; README). */
  noLinkWithoutNofollow(p) {
    if (NOFOLLOW !== 0) return;
    let st;
    try { st = fs.lstatSync(p); } catch { return; }
    if (st.isSymbolicLink()) throw 'loop';
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    closer.unregister(this);
    try { fs.closeSync(this.fd); } catch { /* nothing to report */ }
  }
}

export class Descriptor {
  #root;
  #fd;
  #dir;
  #owns;

  /** @internal */
  static _open(root, fd, dir, owns) {
    return new Descriptor(INTERNAL, root, fd, dir, owns);
  }

  constructor(token, root, fd, dir, owns) {
    if (token !== INTERNAL) throw new TypeError('Descriptor is created by the filesystem host');
    this.#root = root;
    this.#fd = fd;
    this.#dir = dir;
    this.#owns = owns;
    if (owns) closer.register(this, fd, this);
  }

  #file() {
    if (this.#dir) throw 'is-directory';
    if (this.#fd === undefined) throw 'bad-descriptor';
    return this.#fd;
  }

  #needDir() {
    if (!this.#dir) throw 'not-directory';
    if (this.#fd === undefined || this.#root.closed) throw 'bad-descriptor';
    return this.#root;
  }

  /** A directory's descriptor, for its own calls (stat, sync, listing). */
  #dirFd() {
    this.#needDir();
    return this.#fd;
  }

  read(length, offset) {
    const fd = this.#file();
    const len = BigInt(length);
    if (len < 0n) throw 'invalid';
    const at = position(offset, false);
    const buf = Buffer.allocUnsafe(Number(len < BigInt(MAX_READ) ? len : BigInt(MAX_READ)));
    const n = wasi(() => fs.readSync(fd, buf, 0, buf.length, at));
    return [new Uint8Array(buf.buffer, buf.byteOffset, n), n === 0 && buf.length > 0];
  }

  write(buffer, offset) {
    const fd = this.#file();
    const at = position(offset, true);
    if (at > Number.MAX_SAFE_INTEGER - buffer.byteLength + 1) throw 'file-too-large'; // would end past 2^53
    return BigInt(wasi(() => fs.writeSync(fd, buffer, 0, buffer.byteLength, at)));
  }

  stat() {
    const fd = this.#dir ? this.#dirFd() : this.#file();
    return wasi(() => stat(fs.fstatSync(fd, { bigint: true })));
  }

  statAt(pathFlags, name) {
    const root = this.#needDir();
    if (pathFlags?.symlinkFollow) throw 'not-permitted';
    const p = root.at(name);
    return wasi(() => stat(fs.lstatSync(p, { bigint: true })));
  }

  setSize(size) {
    const fd = this.#file();
    const len = position(size, true);
    wasi(() => fs.ftruncateSync(fd, len));
  }

  syncData() {
    const fd = this.#dir ? this.#dirFd() : this.#file();
    wasi(() => fs.fdatasyncSync(fd));
  }

  sync() {
    const fd = this.#dir ? this.#dirFd() : this.#file();
    wasi(() => fs.fsyncSync(fd));
  }

  openAt(pathFlags, name, openFlags = {}, flags = {}) {
    const root = this.#needDir();
    if (pathFlags?.symlinkFollow) throw 'not-permitted';
    if (openFlags.directory || name === '.') {
      // Only the directory itself: its own descriptor, opened beneath the held one.
      if (name !== '.' || !openFlags.directory) throw 'not-permitted';
      if (openFlags.create || openFlags.exclusive || openFlags.truncate) throw 'invalid';
      if (flags.write || flags.mutateDirectory) throw 'is-directory';
      const dirPath = root.self(this.#fd);
      const fd = wasi(() => fs.openSync(dirPath, C.O_RDONLY | DIRECTORY));
      const st = fs.fstatSync(fd, { bigint: true });
      if (st.dev !== root.dev || st.ino !== root.ino) {
        fs.closeSync(fd);
        throw 'not-permitted';
      }
      return Descriptor._open(root, fd, true, true);
    }
    const p = root.at(name);
    let f = flags.write ? (flags.read ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY;
    if (openFlags.create) f |= C.O_CREAT;
    if (openFlags.exclusive) f |= C.O_EXCL;
    if (openFlags.truncate) f |= C.O_TRUNC;
    f |= NOFOLLOW | NONBLOCK;
    root.noLinkWithoutNofollow(p);
    const fd = wasi(() => fs.openSync(p, f, 0o666));
    let st;
    try {
      st = wasi(() => fs.fstatSync(fd));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw st.isDirectory() ? 'is-directory' : 'not-permitted';
    }
    return Descriptor._open(root, fd, false, true);
  }

  renameAt(oldName, newDescriptor, newName) {
    const from = this.#needDir().at(oldName);
    if (!(newDescriptor instanceof Descriptor)) throw 'bad-descriptor';
    const to = newDescriptor.#needDir().at(newName);
    wasi(() => fs.renameSync(from, to));
  }

  unlinkFileAt(name) {
    const p = this.#needDir().at(name);
    wasi(() => fs.unlinkSync(p));
  }

  readDirectory() {
    // The directory this descriptor holds, wherever it is now.
    const dir = this.#needDir().self(this.#fd);
    const entries = wasi(() => fs.readdirSync(dir, { withFileTypes: true }));
    return DirectoryEntryStream._of(entries.map((e) => ({ type: kind(e), name: e.name })));
  }

  [dispose]() {
    if (this.#fd !== undefined) {
      const fd = this.#fd;
      this.#fd = undefined;
      if (this.#owns) {
        closer.unregister(this);
        try { fs.closeSync(fd); } catch { /* nothing to report on drop */ }
      }
    }
  }
}

export class DirectoryEntryStream {
  #entries;
  #next = 0;

  /** @internal */
  static _of(entries) {
    return new DirectoryEntryStream(INTERNAL, entries);
  }

  constructor(token, entries) {
    if (token !== INTERNAL) throw new TypeError('DirectoryEntryStream is created by the filesystem host');
    this.#entries = entries;
  }

  readDirectoryEntry() {
    return this.#next < this.#entries.length ? this.#entries[this.#next++] : undefined;
  }

  [dispose]() {}
}

/**
 * `wasi:filesystem/types` and `wasi:filesystem/preopens` with `hostDir`
 * preopened at guest path `.`. Options: `resolution`: 'descriptor' (Linux
 * /proc; throws `unsupported` where unavailable), 'path' (the checked-path
 * fallback), or unset (the strongest available). Also returned: `resolution`
 * (the one used), `openLockFile(name)` and `close()` (closes the held
 * directory; every handle then fails with `bad-descriptor`).
 */
export function createSyncFilesystem(hostDir, { resolution } = {}) {
  const root = new Root(hostDir, resolution);
  const preopen = Descriptor._open(root, root.fd, true, false);
  return {
    types: { Descriptor, DirectoryEntryStream, filesystemErrorCode: () => undefined },
    preopens: { getDirectories: () => [[preopen, '.']] },
    resolution: root.resolution,
    openLockFile: (name) => openLockFile(root, name),
    close: () => root.close(),
  };
}

/**
 * Opens (creating, mode 0600) the lock file `name` beneath the directory,
 * never through a link, for the host's OS lock. Returns its descriptor, or
 * throws an Error whose message names the file: a link, not a regular file,
 * or owned by another user.
 */
function openLockFile(root, name) {
  let p;
  try {
    p = root.at(name);
    root.noLinkWithoutNofollow(p);
  } catch (code) {
    throw Object.assign(new Error(`${name}: the lock file cannot be opened (${code})`), { wasi: code });
  }
  let fd;
  try {
    fd = fs.openSync(p, C.O_RDWR | C.O_CREAT | NOFOLLOW | NONBLOCK, 0o600);
  } catch (e) {
    const why = e.code === 'ELOOP' ? 'it is a symbolic link; remove it' : e.message;
    throw Object.assign(new Error(`the lock file ${name} cannot be opened: ${why}`), { code: e.code });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error(`the lock file ${name} is not a regular file; remove it`), { code: 'EPERM' });
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw Object.assign(new Error(`the lock file ${name} is owned by another user (uid ${st.uid}, not ${uid}): `
        + 'another user could hold it to keep every writer out; remove it (or ask its owner to)'), { code: 'EPERM' });
    }
    if ((st.mode & 0o077) !== 0) fs.fchmodSync(fd, 0o600);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
