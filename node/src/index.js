// iteration-history for Node: the iteration-history WASI component,
// transpiled by jco (../gen), running on @bytecodealliance/preview2-shim.
//
//   import { openHistory } from 'iteration-history';
//   const history = await openHistory('runs/history.jsonl');
//   const last = history.getLastIterationNum();     // undefined when empty
//   history.save({ iteration_num: (last ?? -1) + 1, ... });
//   history.loadRecent(5);
//   history.close();
//
// Each opened history gets its own component instance whose only preopened
// directory is that history's directory, so histories in different
// directories can be open at once. The filesystem imports are ./fs-host.js
// (fs.*Sync in this thread); the other WASI imports are preview2-shim's.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import * as cli from '@bytecodealliance/preview2-shim/cli';
import * as clocks from '@bytecodealliance/preview2-shim/clocks';
import * as io from '@bytecodealliance/preview2-shim/io';
import * as random from '@bytecodealliance/preview2-shim/random';
import { createSyncFilesystem } from './fs-host.js';
import { instantiate } from '../gen/history.js';

const FIELDS = ['iteration_num', 'strategy_code', 'execution_result', 'metrics',
  'classification_level', 'timestamp', 'champion_updated'];

// ---- errors ---------------------------------------------------------------

/** Base of every error of the history; `tag` is the WIT error case. */
export class HistoryError extends Error {
  constructor(message, tag = 'io') {
    super(message);
    this.name = new.target.name;
    this.tag = tag;
  }
}
export class HistoryLocked extends HistoryError {}
export class CorruptHistory extends HistoryError {
  constructor(message, { line = 0, offset = 0, reason = '' } = {}) {
    super(message, 'corrupt');
    Object.assign(this, { line: Number(line), offset: Number(offset), reason });
  }
}
export class InvalidRecord extends HistoryError {
  constructor(message, { field = '', reason = '', index } = {}) {
    super(message, 'invalid-record');
    Object.assign(this, { field, reason, index });
  }
}
export class InvalidName extends HistoryError {}
export class DiskFull extends HistoryError {}
export class HistoryPermissionError extends HistoryError {}
export class SyncFailed extends HistoryError {}
export class ReadOnlyHistory extends HistoryError {}
export class Conflict extends HistoryError {
  constructor(message, actual) {
    super(message, 'conflict');
    this.actual = actual === undefined ? undefined : Number(actual);
  }
}
export class ChangedExternally extends HistoryError {}
export class InvalidCursor extends HistoryError {}
export class LeaseLost extends HistoryError {}
export class HistoryIOError extends HistoryError {}
export class HistoryClosed extends HistoryError {}

const BY_TAG = {
  locked: HistoryLocked,
  'invalid-name': InvalidName,
  'disk-full': DiskFull,
  'permission-denied': HistoryPermissionError,
  'sync-failed': SyncFailed,
  'read-only': ReadOnlyHistory,
  'changed-externally': ChangedExternally,
  'invalid-cursor': InvalidCursor,
  'lease-lost': LeaseLost,
  io: HistoryIOError,
};

/** The exception for a WIT `error` value `{ tag, val }`. */
export function errorFromWit({ tag, val }) {
  if (tag === 'corrupt') return new CorruptHistory(val.message, val);
  if (tag === 'invalid-record') return new InvalidRecord(val.message, val);
  if (tag === 'conflict') return new Conflict(val.message, val.actual);
  const Cls = BY_TAG[tag] ?? HistoryIOError;
  return new Cls(typeof val === 'string' ? val : String(val?.message ?? val), tag);
}

function call(fn) {
  try {
    return fn();
  } catch (e) {
    // jco throws a ComponentError whose payload is the WIT error.
    if (e && e.payload && typeof e.payload.tag === 'string') throw errorFromWit(e.payload);
    throw e;
  }
}

// ---- JSON text in Python's dialect ----------------------------------------

// The component writes and reads JSON text in the dialect of Python's
// json.dumps: strict JSON plus bare NaN / Infinity / -Infinity.
const NONCE = `\u0000ih-${randomBytes(8).toString('hex')}:`;

const MARKED = new RegExp(`"${JSON.stringify(NONCE).slice(1, -1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}([^"]*)"`, 'g');

/** JSON.stringify that keeps non-finite numbers as bare NaN/Infinity tokens. */
export function stringifyPython(value) {
  // Plain JSON.stringify is the answer when it met no non-finite number
  // (it would have written `null`) and no bigint (it throws a TypeError).
  try {
    const plain = JSON.stringify(value);
    if (plain === undefined || !plain.includes('null')) return plain;
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
  }
  const marked = JSON.stringify(value, (_k, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return NONCE + String(v);
    if (typeof v === 'bigint') return NONCE + v.toString();
    return v;
  });
  return marked === undefined ? marked : marked.replaceAll(MARKED, '$1');
}

/** JSON.parse that also reads bare NaN / Infinity / -Infinity. */
export function parsePython(text) {
  try {
    return JSON.parse(text);
  } catch {
    const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g,
      (m) => (m[0] === '"' ? m : JSON.stringify(NONCE + m)));
    return JSON.parse(marked, (_k, v) =>
      (typeof v === 'string' && v.startsWith(NONCE) ? Number(v.slice(NONCE.length)) : v));
  }
}

// ---- records --------------------------------------------------------------

function metricFromWit({ tag, val }) {
  if (tag === 'integer') return Number.isSafeInteger(Number(val)) ? Number(val) : val;
  if (tag === 'number') return val;
  return parsePython(val);
}

function metricToWit(v) {
  if (typeof v === 'bigint') return { tag: 'integer', val: v };
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) ? { tag: 'integer', val: BigInt(v) } : { tag: 'number', val: v };
  }
  return { tag: 'json', val: stringifyPython(v) };
}

function recordToWit(r) {
  const extra = Object.fromEntries(Object.entries(r).filter(([k]) => !FIELDS.includes(k)));
  return {
    iterationNum: BigInt(r.iteration_num),
    strategyCode: r.strategy_code,
    executionResult: stringifyPython(r.execution_result ?? {}),
    metrics: Object.entries(r.metrics ?? {}).map(([name, v]) => ({ name, value: metricToWit(v) })),
    classificationLevel: r.classification_level,
    timestamp: r.timestamp,
    championUpdated: Boolean(r.champion_updated),
    extra: stringifyPython(extra),
  };
}

function recordFromWit(w) {
  const rec = {
    iteration_num: Number(w.iterationNum),
    strategy_code: w.strategyCode,
    execution_result: parsePython(w.executionResult),
    metrics: Object.fromEntries(w.metrics.map((m) => [m.name, metricFromWit(m.value)])),
    classification_level: w.classificationLevel,
    timestamp: w.timestamp,
    champion_updated: w.championUpdated,
  };
  return w.extra && w.extra !== '{}' ? Object.assign(rec, parsePython(w.extra)) : rec;
}

// ---- pages as one JSON text ----------------------------------------------

// The component's `-text` functions and `columns` hand over a whole page as
// ONE JSON text (dialect `javascript`: strict JSON, ASCII only), written
// from records it has checked (framing, CRC-32C, JSON, fields), so one
// JSON.parse builds the page. Values JSON.parse cannot give exactly are
// `null` (NaN, ±Infinity) or a string of digits (a metric that is a 64-bit
// integer beyond 2^53, a BigInt here as in the typed records), listed in
// `fixups` as [index, kind, ...keys]; restored here.
function restore(items, fixupsText) {
  if (fixupsText === '[]') return items;
  for (const fix of JSON.parse(fixupsText)) {
    let target = items[fix[0]];
    const last = fix.length - 1;
    for (let i = 2; i < last; i++) target = target[fix[i]];
    const key = fix[last];
    target[key] = fix[1] === 'bigint' ? BigInt(target[key]) : Number(fix[1]);
  }
  return items;
}

function fromTextPage(page) {
  return restore(JSON.parse(page.text), page.fixups);
}

function line(record, index) {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    const what = Array.isArray(record) ? 'an array' : typeof record;
    throw new InvalidRecord(`invalid record: must be an object, not ${what}; nothing was written`,
      { field: '', reason: `not an object (${what})`, index });
  }
  return stringifyPython(record);
}

// ---- the component --------------------------------------------------------

let modules;
const GEN = new URL('../gen/', import.meta.url);

/** The component's core modules, compiled once per process. */
function coreModules() {
  modules ??= (async () => {
    const names = fs.readdirSync(GEN).filter((n) => n.endsWith('.wasm'));
    const compiled = await Promise.all(names.map(async (n) => [n, await WebAssembly.compile(fs.readFileSync(new URL(n, GEN)))]));
    return new Map(compiled);
  })();
  return modules;
}

/** The history directory's filesystem host, or the HistoryError of opening the directory. */
function filesystemFor(dir) {
  try {
    return createSyncFilesystem(dir);
  } catch (code) {
    if (typeof code !== 'string') throw code;
    const Cls = code === 'access' || code === 'not-permitted' ? HistoryPermissionError : HistoryIOError;
    throw new Cls(`${dir}: the history's directory cannot be opened (${code})`, Cls === HistoryIOError ? 'io' : 'permission-denied');
  }
}

function imports(filesystem) {
  // jco's generated code looks the imports up without their version.
  const v = (name) => name;
  return {
    [v('wasi:cli/environment')]: cli.environment,
    [v('wasi:cli/exit')]: cli.exit,
    [v('wasi:cli/stderr')]: cli.stderr,
    [v('wasi:cli/stdin')]: cli.stdin,
    [v('wasi:cli/stdout')]: cli.stdout,
    [v('wasi:cli/terminal-input')]: cli.terminalInput,
    [v('wasi:cli/terminal-output')]: cli.terminalOutput,
    [v('wasi:cli/terminal-stderr')]: cli.terminalStderr,
    [v('wasi:cli/terminal-stdin')]: cli.terminalStdin,
    [v('wasi:cli/terminal-stdout')]: cli.terminalStdout,
    [v('wasi:clocks/monotonic-clock')]: clocks.monotonicClock,
    [v('wasi:clocks/wall-clock')]: clocks.wallClock,
    [v('wasi:filesystem/preopens')]: filesystem.preopens,
    [v('wasi:filesystem/types')]: filesystem.types,
    [v('wasi:io/error')]: io.error,
    [v('wasi:io/poll')]: io.poll,
    [v('wasi:io/streams')]: io.streams,
    [v('wasi:random/insecure-seed')]: random.insecureSeed,
  };
}

// ---- the OS lock ----------------------------------------------------------

// Node's standard library has no flock. This process opens `<history>.lock`
// itself, beneath the history's held directory (src/fs-host.js: created
// 0600, never through a symbolic link, refused when another user owns it),
// and where util-linux's `flock` command exists, a short-lived `flock` child
// takes the same exclusive flock that native writers (ihist, the Rust
// library) and the Python package take, on that open file passed to it as
// its descriptor 3. A flock belongs to the open file, which this process
// keeps: the lock is held until `close()` closes it, or until this process
// dies (even kill -9), when the kernel drops it. Elsewhere the component's
// lease is used instead (see README).
let flockAvailable;

function hasFlock() {
  if (flockAvailable === undefined) {
    const r = spawnSync('flock', ['--version'], { stdio: 'ignore' });
    flockAvailable = process.env.IHIST_NO_FLOCK !== '1' && r.status === 0;
  }
  return flockAvailable;
}

const HELD = 75; // flock's exit code when another holder has the lock

/** Takes the flock on the open file `fd`: true, or false if another holder has it. */
function tryFlock(fd, lockPath) {
  const r = spawnSync('flock', ['--nonblock', '--conflict-exit-code', String(HELD), '3'],
    { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
  if (r.status === 0) return true;
  if (r.status === HELD) return false;
  throw new HistoryIOError(`${lockPath}: flock exited with ${r.status ?? r.signal ?? r.error}: ${String(r.stderr ?? '').trim()}`);
}

/**
 * The OS lock (`{ release }`), null if another writer holds it, undefined if
 * flock is unavailable. `filesystem` is the history's filesystem host.
 */
async function osLock(filesystem, lockPath, timeoutMs) {
  if (!hasFlock()) return undefined;
  let fd;
  try {
    fd = filesystem.openLockFile(path.basename(lockPath));
  } catch (e) {
    if (e.wasi === 'not-permitted') {
      throw new InvalidName(`${lockPath}: not a name a history may have (one plain file name: no '/', '\\', ':', `
        + 'NUL or Windows device name such as CON or NUL)', 'invalid-name');
    }
    const Cls = e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'ELOOP' ? HistoryPermissionError : HistoryIOError;
    throw new Cls(`${lockPath}: ${e.message}`, Cls === HistoryPermissionError ? 'permission-denied' : 'io');
  }
  try {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + Number(timeoutMs);
    let pause = 2;
    for (;;) {
      if (tryFlock(fd, lockPath)) {
        return { release() { if (fd !== undefined) { fs.closeSync(fd); fd = undefined; } } };
      }
      if (deadline === undefined || Date.now() >= deadline) {
        fs.closeSync(fd);
        return null;
      }
      await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
      pause = Math.min(pause * 2, 100);
    }
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

const toBig = (x) => (x === undefined || x === null ? undefined : BigInt(x));

class History {
  #h;
  #store;
  #path;
  #lock;
  #fs;

  constructor(handle, store, filepath, lock, filesystem) {
    this.#h = handle;
    this.#store = store;
    this.#path = filepath;
    this.#lock = lock;
    this.#fs = filesystem;
  }

  #handle() {
    if (!this.#h) throw new HistoryClosed(`${this.#path}: the history is closed`, 'closed');
    return this.#h;
  }

  get path() { return this.#path; }
  get closed() { return !this.#h; }

  save(record) { call(() => this.#handle().saveJson(line(record))); }

  saveBatch(records) {
    const list = [...records];
    const batch = list.length > 1;
    call(() => this.#handle().saveBatchJson(list.map((r, i) => line(r, batch ? i : undefined))));
  }

  saveIfLast(expectedLast, records) {
    const outcome = call(() => this.#handle().saveIfLast(toBig(expectedLast), [...records].map(recordToWit)));
    return outcome === 'appended';
  }

  loadRecent(n = 5) {
    if (n <= 0) return [];
    return fromTextPage(call(() => this.#handle().loadRecentText(Math.min(n, 2 ** 32 - 1), 'javascript')));
  }

  getLastIterationNum() {
    const n = call(() => this.#handle().lastIterationNum());
    return n === undefined ? undefined : Number(n);
  }

  getAll() {
    const out = [];
    for (const page of this.#pages(4096)) {
      for (let i = 0; i < page.length; i++) out.push(page[i]);
    }
    return out;
  }

  *iter(pageSize = 1000) {
    for (const page of this.#pages(pageSize)) yield* page;
  }

  *#pages(pageSize) {
    const limit = Math.max(1, Math.min(Math.floor(Number(pageSize)) || 1, 2 ** 32 - 1));
    let cursor = 0n;
    while (cursor !== undefined) {
      const page = call(() => this.#handle().getAllText(cursor, limit, 'javascript'));
      cursor = page.nextCursor;
      yield fromTextPage(page);
    }
  }

  /** The typed records of one `get-all` page (for tests comparing the two paths). */
  typedPage(cursor = 0, limit = 1000) {
    const page = call(() => this.#handle().getAll(BigInt(cursor), limit));
    return { records: page.records.map(recordFromWit), nextCursor: page.nextCursor === undefined ? undefined : Number(page.nextCursor) };
  }

  /**
   * Columns of the whole history, read in one pass by the component: an
   * object of arrays, one per name (a record field, another top-level
   * field, or a dotted path such as `metrics.sharpe_ratio`), one value per
   * record, oldest first (`null` where a record has none).
   */
  columns(names) {
    const list = typeof names === 'string' ? [names] : [...names];
    const cols = fromTextPage(call(() => this.#handle().columns(list, 'javascript')));
    const out = {};
    list.forEach((name, i) => { out[name] = cols[i]; });
    return out;
  }

  [Symbol.iterator]() { return this.iter(); }

  count() { return Number(call(() => this.#handle().count())); }
  clear() { call(() => this.#handle().clear()); }
  verify() { return plain(call(() => this.#handle().verify())); }
  repair() { return plain(call(() => this.#handle().repair())); }
  compact() { return Number(call(() => this.#handle().compact())); }
  export(name) { return Number(call(() => this.#handle().export(name))); }
  openReport() { return plain(this.#handle().openReport()); }

  close() {
    if (this.#h) {
      const h = this.#h;
      this.#h = undefined;
      this.#store = undefined;
      h[Symbol.dispose]();
    }
    if (this.#lock) {
      this.#lock.release();
      this.#lock = undefined;
    }
    if (this.#fs) {
      this.#fs.close();
      this.#fs = undefined;
    }
  }

  [Symbol.dispose]() { this.close(); }
}

/** bigint fields of reports as numbers. */
function plain(v) {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/**
 * Opens the history at `filepath` (creating it and its directory), for
 * writing unless `{ readOnly: true }`. Options: strategy ('append' |
 * 'rewrite'), durability ('full' | 'none'), lockTimeoutMs, repairOnOpen,
 * leaseMs.
 */
export async function openHistory(filepath, options = {}) {
  const { readOnly = false, ...opts } = options;
  const abs = path.resolve(String(filepath));
  const dir = path.dirname(abs);
  const name = path.basename(abs);
  if (!readOnly) fs.mkdirSync(dir, { recursive: true });
  const mods = await coreModules();
  const filesystem = filesystemFor(dir);
  let lock;
  try {
    const root = await instantiate((n) => mods.get(n), imports(filesystem));
    const store = root.store;
    if (readOnly) return new History(call(() => store.History.openReadOnly(name)), store, abs, undefined, filesystem);
    const o = { ...store.defaultOptions() };
    if (opts.strategy !== undefined) o.strategy = opts.strategy;
    if (opts.durability !== undefined) o.durability = opts.durability;
    if (opts.lockTimeoutMs !== undefined) o.lockTimeoutMs = toBig(opts.lockTimeoutMs);
    if (opts.repairOnOpen !== undefined) o.repairOnOpen = Boolean(opts.repairOnOpen);
    if (opts.leaseMs !== undefined) o.leaseMs = toBig(opts.leaseMs);
    lock = await osLock(filesystem, `${abs}.lock`, opts.lockTimeoutMs);
    if (lock === null) {
      throw new HistoryLocked(`${abs} is locked by another writer (an OS lock on ${name}.lock): wait for it to close, `
        + 'pass lockTimeoutMs, or open it with { readOnly: true }', 'locked');
    }
    if (lock) o.hostLock = true; // the component then takes no lease
    return new History(call(() => store.History.openWith(name, o)), store, abs, lock, filesystem);
  } catch (e) {
    lock?.release();
    filesystem.close();
    throw e;
  }
}
