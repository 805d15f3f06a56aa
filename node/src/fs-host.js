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
// Scope: what the iteration-history component imports (see
// wasi-component/src/wasi_dir.rs): the preopen, open-at of plain names in
// it (and `.`), read, write, stat, stat-at, set-size, sync-data, sync,
// rename-at, unlink-file-at and read-directory. A path is one name inside
// the preopened directory: `/`, `\`, NUL and `..` are refused (`not-permitted`),
// so nothing outside the directory can be reached; symlinks are followed
// only when the guest asks (`symlink-follow`).
import fs from 'node:fs';
import path from 'node:path';

const C = fs.constants;
const NOFOLLOW = C.O_NOFOLLOW ?? 0;
const DIRECTORY = C.O_DIRECTORY ?? 0;

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

/** `name` inside `dir`, for a single plain name (or `.`). */
function child(dir, name) {
  if (typeof name !== 'string' || name === '' || name === '..' || /[/\\\0]/.test(name)) throw 'not-permitted';
  return name === '.' ? dir : path.join(dir, name);
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

export class Descriptor {
  #path;
  #fd;
  #dir;

  /** @internal */
  static _open(fullPath, fd, dir) {
    return new Descriptor(INTERNAL, fullPath, fd, dir);
  }

  constructor(token, fullPath, fd, dir) {
    if (token !== INTERNAL) throw new TypeError('Descriptor is created by the filesystem host');
    this.#path = fullPath;
    this.#fd = fd;
    this.#dir = dir;
    if (fd !== undefined) closer.register(this, fd, this);
  }

  #file() {
    if (this.#dir) throw 'is-directory';
    if (this.#fd === undefined) throw 'bad-descriptor';
    return this.#fd;
  }

  #needDir() {
    if (!this.#dir) throw 'not-directory';
    return this.#path;
  }

  /** A directory's own fd (kept in #fd), opened when first needed to sync it. */
  #dirFd() {
    if (this.#fd === undefined) {
      this.#fd = wasi(() => fs.openSync(this.#path, C.O_RDONLY | DIRECTORY));
      closer.register(this, this.#fd, this);
    }
    return this.#fd;
  }

  read(length, offset) {
    const fd = this.#file();
    const buf = Buffer.allocUnsafe(Number(length));
    const n = wasi(() => fs.readSync(fd, buf, 0, buf.length, Number(offset)));
    return [new Uint8Array(buf.buffer, buf.byteOffset, n), n === 0 && buf.length > 0];
  }

  write(buffer, offset) {
    const fd = this.#file();
    return BigInt(wasi(() => fs.writeSync(fd, buffer, 0, buffer.byteLength, Number(offset))));
  }

  stat() {
    if (this.#dir) return wasi(() => stat(fs.statSync(this.#path, { bigint: true })));
    const fd = this.#file();
    return wasi(() => stat(fs.fstatSync(fd, { bigint: true })));
  }

  statAt(pathFlags, name) {
    const p = child(this.#needDir(), name);
    const follow = pathFlags?.symlinkFollow;
    return wasi(() => stat(follow ? fs.statSync(p, { bigint: true }) : fs.lstatSync(p, { bigint: true })));
  }

  setSize(size) {
    const fd = this.#file();
    wasi(() => fs.ftruncateSync(fd, Number(size)));
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
    const p = child(this.#needDir(), name);
    if (openFlags.directory) {
      const st = wasi(() => (pathFlags?.symlinkFollow ? fs.statSync(p) : fs.lstatSync(p)));
      if (!st.isDirectory()) throw 'not-directory';
      return Descriptor._open(p, undefined, true);
    }
    let f = flags.write ? (flags.read ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY;
    if (openFlags.create) f |= C.O_CREAT;
    if (openFlags.exclusive) f |= C.O_EXCL;
    if (openFlags.truncate) f |= C.O_TRUNC;
    if (!pathFlags?.symlinkFollow) f |= NOFOLLOW;
    const fd = wasi(() => fs.openSync(p, f, 0o666));
    let st;
    try {
      st = wasi(() => fs.fstatSync(fd));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (st.isDirectory()) {
      // Opened without the `directory` flag: a directory all the same.
      fs.closeSync(fd);
      if (flags.write) throw 'is-directory';
      return Descriptor._open(p, undefined, true);
    }
    return Descriptor._open(p, fd, false);
  }

  renameAt(oldName, newDescriptor, newName) {
    const from = child(this.#needDir(), oldName);
    if (!(newDescriptor instanceof Descriptor)) throw 'bad-descriptor';
    const to = child(newDescriptor.#needDir(), newName);
    wasi(() => fs.renameSync(from, to));
  }

  unlinkFileAt(name) {
    const p = child(this.#needDir(), name);
    wasi(() => fs.unlinkSync(p));
  }

  readDirectory() {
    const dir = this.#needDir();
    const entries = wasi(() => fs.readdirSync(dir, { withFileTypes: true }));
    return DirectoryEntryStream._of(entries.map((e) => ({ type: kind(e), name: e.name })));
  }

  [dispose]() {
    if (this.#fd !== undefined) {
      const fd = this.#fd;
      this.#fd = undefined;
      closer.unregister(this);
      try { fs.closeSync(fd); } catch { /* nothing to report on drop */ }
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
 * preopened at guest path `.`.
 */
export function createSyncFilesystem(hostDir) {
  const root = Descriptor._open(path.resolve(hostDir), undefined, true);
  return {
    types: { Descriptor, DirectoryEntryStream, filesystemErrorCode: () => undefined },
    preopens: { getDirectories: () => [[root, '.']] },
  };
}
