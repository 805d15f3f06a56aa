// The data model: all runs' rows in one set of typed-array columns, built
// from what the worker sends (a whole file, or the rows a live push adds),
// with per-run bookkeeping (colour, bytes kept for decoding shown rows,
// warnings, torn tail) and the facts derived from the rows (champions,
// order). Pure data: no DOM. Also owns the page's own wasm instance, which
// decodes the rows shown.
import init, { decodeLine } from './pkg/iteration_history_viewer.js';

export const wasmReady = init();

// All runs' rows in one set of columns, in arrival order; `run` and
// `local` (row in its run's history, in the worker) say where each row is
// from. Arrays grow by doubling; `m.iteration` etc. are views of length `n`.
const RUN_COLORS = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#0b7285', '#c2255c', '#5c940d', '#e8590c'];
const BUFS = { iteration: Float64Array, success: Uint8Array, champion: Uint8Array, checksummed: Uint8Array, level: Uint32Array,
  lineStart: Uint32Array, lineEnd: Uint32Array, lineNo: Uint32Array, run: Uint8Array, local: Uint32Array };

export function newRun(name, r) {
  return { name, color: RUN_COLORS[r % RUN_COLORS.length], visible: true, n: 0, buf: new Uint8Array(0), size: 0,
    bytes: new Uint8Array(0), levelMap: [], warnings: [], warningsTotal: 0, lines: 0, corrupt: false, torn: false,
    pending: 0, slowRows: 0, generation: 0, offset: 0, error: null, lastChampion: -1 };
}

export function emptyModel(names) {
  const m = { loader: 'wasm', n: 0, cap: 0, runs: names.map(newRun), buf: {}, levels: [], levelIds: new Map(), numeric: [],
    byKey: new Map(), warnings: [], warningsTotal: 0, lines: 0, slowRows: 0, corrupt: false, parseMs: 0, size: 0 };
  for (const [k, T] of Object.entries(BUFS)) m.buf[k] = new T(0);
  m.record = (i) => {
    const run = m.runs[m.run[i]];
    return decodeLine(run.bytes.subarray(m.lineStart[i], m.lineEnd[i]));
  };
  views(m);
  return m;
}

function views(m) {
  for (const k of Object.keys(BUFS)) m[k] = m.buf[k].subarray(0, m.n);
  for (const c of m.numeric) { c.values = c.vbuf.subarray(0, m.n); c.states = c.sbuf.subarray(0, m.n); }
}

function grow(m, need) {
  if (need <= m.cap) return;
  const cap = Math.max(need, m.cap * 2, 256);
  for (const [k, T] of Object.entries(BUFS)) { const a = new T(cap); a.set(m.buf[k].subarray(0, m.n)); m.buf[k] = a; }
  for (const c of m.numeric) {
    const v = new Float64Array(cap).fill(NaN); v.set(c.vbuf.subarray(0, m.n)); c.vbuf = v;
    const st = new Uint8Array(cap).fill(1); st.set(c.sbuf.subarray(0, m.n)); c.sbuf = st;
  }
  m.cap = cap;
}

function numericColumn(m, c) {
  let col = m.byKey.get(c.key);
  if (!col) {
    col = { key: c.key, group: c.group, name: c.name, vbuf: new Float64Array(m.cap).fill(NaN), sbuf: new Uint8Array(m.cap).fill(1) };
    m.numeric.push(col);
    m.byKey.set(c.key, col);
  }
  return col;
}

/** Appends the rows `cols` (as the worker sends them) of run `r`. */
function appendRows(m, r, cols) {
  const run = m.runs[r];
  for (let l = run.levelMap.length; l < cols.levels.length; l++) {
    const name = cols.levels[l];
    let id = m.levelIds.get(name);
    if (id === undefined) { id = m.levels.length; m.levels.push(name); m.levelIds.set(name, id); }
    run.levelMap.push(id);
  }
  const k = cols.length;
  if (!k) return;
  const n = m.n;
  if (n === 0 && m.cap === 0 && run.n === 0 && run.levelMap.every((id, l) => id === l)) {
    // The first rows: take the worker's arrays as they are.
    for (const key of ['iteration', 'success', 'champion', 'checksummed', 'level', 'lineStart', 'lineEnd', 'lineNo']) m.buf[key] = cols[key];
    m.buf.run = new Uint8Array(k).fill(r);
    m.buf.local = new Uint32Array(k);
    for (let i = 0; i < k; i++) m.buf.local[i] = i;
    m.cap = k;
    for (const c of cols.numeric) {
      const col = numericColumn(m, c);
      col.vbuf = c.values;
      col.sbuf = c.states;
    }
  } else {
    grow(m, n + k);
    const b = m.buf;
    for (const key of ['iteration', 'success', 'champion', 'checksummed', 'lineStart', 'lineEnd', 'lineNo']) b[key].set(cols[key], n);
    for (let i = 0; i < k; i++) { b.level[n + i] = run.levelMap[cols.level[i]]; b.local[n + i] = run.n + i; }
    b.run.fill(r, n, n + k);
    for (const c of cols.numeric) {
      const col = numericColumn(m, c);
      col.vbuf.set(c.values, n);
      col.sbuf.set(c.states, n);
    }
  }
  m.n += k;
  run.n += k;
  views(m);
}

/** Removes every row of run `r` (its history was replaced). */
export function removeRun(m, r) {
  const b = m.buf;
  let j = 0;
  for (let i = 0; i < m.n; i++) {
    if (b.run[i] === r) continue;
    if (j !== i) {
      for (const k of Object.keys(BUFS)) b[k][j] = b[k][i];
      for (const c of m.numeric) { c.vbuf[j] = c.vbuf[i]; c.sbuf[j] = c.sbuf[i]; }
    }
    j++;
  }
  for (const c of m.numeric) { c.vbuf.fill(NaN, j); c.sbuf.fill(1, j); }
  m.n = j;
  const run = m.runs[r];
  run.n = 0;
  run.levelMap = [];
  run.size = 0;
  run.bytes = new Uint8Array(0);
  views(m);
}

/** Keeps a copy of a run's bytes on the page, to decode the rows shown. */
export function appendBytes(run, chunk) {
  if (run.size + chunk.length > run.buf.length) {
    const b = new Uint8Array(Math.max(run.size + chunk.length, run.buf.length * 2, 1 << 16));
    b.set(run.buf.subarray(0, run.size));
    run.buf = b;
  }
  run.buf.set(chunk, run.size);
  run.size += chunk.length;
  run.bytes = run.buf.subarray(0, run.size);
}

/** What the worker says about a run: its rows so far, warnings, tail. */
export function applyLoaded(m, r, res) {
  const run = m.runs[r];
  if (res.from === 0 && run.n > 0) removeRun(m, r);
  appendRows(m, r, res.cols);
  run.warnings = res.warnings;
  run.warningsTotal = res.warningsTotal;
  run.lines = res.lines;
  run.corrupt = res.corrupt;
  run.torn = res.torn;
  run.pending = res.pending;
  run.slowRows = res.slowRows || 0;
}

/** Totals over the runs, for the summary. */
export function totals(m) {
  m.warnings = m.runs.length === 1 ? m.runs[0].warnings : m.runs.flatMap((run) => run.warnings.map((w) => ({ ...w, run: run.name })));
  m.warningsTotal = m.runs.reduce((s, run) => s + run.warningsTotal, 0);
  m.lines = m.runs.reduce((s, run) => s + run.lines, 0);
  m.corrupt = m.runs.some((run) => run.corrupt);
  m.slowRows = m.runs.reduce((s, run) => s + run.slowRows, 0);
  m.size = m.runs.reduce((s, run) => s + run.size, 0);
}

/** Per-run and whole-model facts the views use (after rows changed). */
export function derive(m) {
  m.monotonic = m.runs.length === 1;
  if (m.monotonic) for (let i = 1; i < m.n; i++) if (m.iteration[i] < m.iteration[i - 1]) { m.monotonic = false; break; }
  m.prevChampion = new Int32Array(m.n);
  const last = m.runs.map(() => -1);
  for (let i = 0; i < m.n; i++) {
    const r = m.run[i];
    m.prevChampion[i] = last[r];
    if (m.champion[i]) last[r] = i;
  }
  m.runs.forEach((run, r) => { run.lastChampion = last[r]; });
  // The current champion: the last one of the last run shown that has one.
  m.lastChampion = -1;
  for (let r = m.runs.length - 1; r >= 0; r--) if (m.runs[r].visible && last[r] >= 0) { m.lastChampion = last[r]; break; }
  if (!m.byKey) m.byKey = new Map(m.numeric.map((c) => [c.key, c]));
}

export function sortedLevels(m) {
  return m.levels.map((_, i) => i).sort((a, b) => (m.levels[a] < m.levels[b] ? -1 : m.levels[a] > m.levels[b] ? 1 : 0));
}

/** One byte per row of the model from one mask per run (by row in the run). */
export function globalMask(m, masks) {
  const out = new Uint8Array(m.n);
  for (let i = 0; i < m.n; i++) { const mk = masks[m.run[i]]; out[i] = mk ? mk[m.local[i]] : 0; }
  return out;
}
