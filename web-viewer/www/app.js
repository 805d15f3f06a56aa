// The viewer page: opens histories (picker, drop, ?src=<same-origin URL>, or
// ?live=1 to follow the histories `ihist view` serves while they grow),
// loads them in a worker (wasm column pass) and shows the summary, chart,
// virtualised table, detail panel with code diff, and CSV export. Several
// histories ("runs") are compared on one page: one colour per run.
// ?loader=js switches to the plain-JS baseline (for the benchmark).
import init, { decodeLine } from './pkg/iteration_history_viewer.js';
import { VTable } from './table.js';
import { drawChart } from './chart.js';
import { diffLines, foldContext } from './diff.js';
import { loadPlain } from './baseline.js';

const params = new URLSearchParams(location.search);
const LOADER = params.get('loader') === 'js' ? 'js' : 'wasm';
const $ = (id) => document.getElementById(id);
const wasmReady = init();
const ROW_HEIGHT = 26;

// ---------------------------------------------------------------- worker
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map();
function ask(msg, { transfer = [], onProgress } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ ...msg, id }, transfer);
  });
}
worker.onmessage = (e) => {
  const m = e.data;
  const p = pending.get(m.id);
  if (!p) return;
  if (m.op === 'progress') { if (p.onProgress) p.onProgress(m); return; }
  pending.delete(m.id);
  if (m.op === 'error') p.reject(new Error(m.message));
  else p.resolve(m);
};
worker.onerror = (e) => {
  for (const p of pending.values()) p.reject(new Error(`the loading worker failed: ${e.message || 'see the console'}`));
  pending.clear();
};

// ---------------------------------------------------------------- state
const state = {
  model: null,
  metric: null,
  direction: 'max',
  filters: { run: '', level: '', success: '', champ: false, code: '', ranges: [] },
  codeMask: null,
  sort: { key: 'iteration_num', dir: 1 },
  ranks: new Map(),
  view: new Uint32Array(0),
  selected: -1,
  cache: new Map(),
};
// Following the histories `ihist view` serves (?live=1).
const live = { on: false, paused: false, ctrl: null, resume: null, session: 0, updated: 0, busy: false };

// For tests: the last load's timings, and when followed rows became visible.
window.__ih = { state, lastLoad: null, arrivals: [] };

const table = new VTable($('table'), {
  rowHeight: ROW_HEIGHT,
  onSelect: (row) => select(row),
  onSort: (key) => sortBy(key),
});
table.rowClass = (row) => (state.model.success[row] === 0 ? 'failed' : '');

// ---------------------------------------------------------------- model
// All runs' rows in one set of columns, in arrival order; `run` and
// `local` (row in its run's history, in the worker) say where each row is
// from. Arrays grow by doubling; `m.iteration` etc. are views of length `n`.
const RUN_COLORS = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#0b7285', '#c2255c', '#5c940d', '#e8590c'];
const BUFS = { iteration: Float64Array, success: Uint8Array, champion: Uint8Array, checksummed: Uint8Array, level: Uint32Array,
  lineStart: Uint32Array, lineEnd: Uint32Array, lineNo: Uint32Array, run: Uint8Array, local: Uint32Array };

function newRun(name, r) {
  return { name, color: RUN_COLORS[r % RUN_COLORS.length], visible: true, n: 0, buf: new Uint8Array(0), size: 0,
    bytes: new Uint8Array(0), levelMap: [], warnings: [], warningsTotal: 0, lines: 0, corrupt: false, torn: false,
    pending: 0, slowRows: 0, generation: 0, offset: 0, error: null, lastChampion: -1 };
}

function emptyModel(names) {
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
function removeRun(m, r) {
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
function appendBytes(run, chunk) {
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
function applyLoaded(m, r, res) {
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
function totals(m) {
  m.warnings = m.runs.length === 1 ? m.runs[0].warnings : m.runs.flatMap((run) => run.warnings.map((w) => ({ ...w, run: run.name })));
  m.warningsTotal = m.runs.reduce((s, run) => s + run.warningsTotal, 0);
  m.lines = m.runs.reduce((s, run) => s + run.lines, 0);
  m.corrupt = m.runs.some((run) => run.corrupt);
  m.slowRows = m.runs.reduce((s, run) => s + run.slowRows, 0);
  m.size = m.runs.reduce((s, run) => s + run.size, 0);
}

// ---------------------------------------------------------------- formatting
const nf = new Intl.NumberFormat('en-US');
const fmtInt = (n) => nf.format(n);
function fmtBytes(b) {
  if (b < 1024) return `${b} B`;
  if (b < 1 << 20) return `${(b / 1024).toFixed(1)} KB`;
  return `${(b / (1 << 20)).toFixed(1)} MB`;
}
function fmtNum(v) {
  if (typeof v !== 'number') return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '∞';
  if (v === -Infinity) return '-∞';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}
function fmtCell(col, row) {
  const s = col.states[row];
  if (s === 1) return '';
  if (s === 2) return 'null';
  return fmtNum(col.values[row]);
}
function fmtValue(v) {
  if (typeof v === 'number') return fmtNum(v);
  if (v === null) return 'null';
  if (typeof v === 'object') {
    return JSON.stringify(v, (k, x) => (typeof x === 'number' && !Number.isFinite(x) ? fmtNum(x) : x));
  }
  return String(v);
}
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}
function setStatus(text, error = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}
const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r()));

// ---------------------------------------------------------------- loading
/** Opens one or more files (picker, drop, ?src=): one run each. */
const MAX_RUNS = 64;

async function openBlobs(files, t0 = performance.now()) {
  if (files.length > MAX_RUNS) {
    setStatus(`${files.length} files chosen: the viewer compares at most ${MAX_RUNS} histories on one page`, true);
    return;
  }
  stopFollowing();
  document.body.dataset.loaded = '';
  const name = files.length === 1 ? files[0].name : `${files.length} histories`;
  const total = files.reduce((s, f) => s + f.blob.size, 0);
  setStatus(`Reading ${name} (${fmtBytes(total)})…`);
  try {
    let model;
    if (LOADER === 'js') {
      model = await loadPlain(files[0].blob);
      model.runs = [{ ...newRun(files[0].name, 0), n: model.n, size: files[0].blob.size }];
      model.run = new Uint8Array(model.n);
    } else {
      await ask({ op: 'close', from: 0 });
      model = emptyModel(files.map((f) => f.name));
      let parseMs = 0;
      for (let r = 0; r < files.length; r++) {
        const { blob } = files[r];
        const bytesRead = blob.arrayBuffer(); // for decoding shown rows, read while the worker scans
        const res = await ask({ op: 'load', run: r, blob }, {
          onProgress: (m) => setStatus(`Reading ${files[r].name}: ${Math.round((100 * m.loaded) / m.total)}%`),
        });
        await wasmReady;
        const run = model.runs[r];
        run.buf = new Uint8Array(await bytesRead);
        run.size = run.buf.length;
        run.bytes = run.buf;
        applyLoaded(model, r, res);
        parseMs += res.ms;
      }
      model.parseMs = parseMs;
      totals(model);
    }
    model.name = name;
    const tData = performance.now();
    const phases = show(model);
    const tShown = performance.now();
    await nextFrame();
    const ms = performance.now() - t0;
    window.__ih.lastLoad = {
      loader: LOADER, ms, parseMs: model.parseMs, rows: model.n, name,
      phases: { data: tData - t0, ...phases, show: tShown - tData, frame: performance.now() - tShown },
    };
    setStatus(`${name}: ${fmtInt(model.n)} iterations, ${fmtBytes(total)}, shown in ${Math.round(ms)} ms`
      + (LOADER === 'js' ? ' (plain-JS baseline)' : ''));
    document.body.dataset.loaded = String(model.n);
  } catch (err) {
    setStatus(`Could not open ${name}: ${err.message}`, true);
    document.body.dataset.loaded = 'error';
  }
}

/** The full record of row `i`, decoded once (the table asks for visible rows only). */
function full(i) {
  let d = state.cache.get(i);
  if (!d) {
    try {
      d = state.model.record(i);
    } catch (err) {
      d = { record: { timestamp: '?', strategy_code: `cannot decode: ${err.message}` }, error: err.message };
    }
    if (state.cache.size > 4000) state.cache.clear();
    state.cache.set(i, d);
  }
  return d;
}

/** Shows a newly opened model: filters, sort and selection start afresh. */
function show(m) {
  if (LOADER === 'js') m.size = m.size || (m.runs[0] && m.runs[0].size) || 0;
  state.model = m;
  state.cache = new Map();
  state.ranks = new Map();
  state.codeMask = null;
  state.selected = -1;
  state.selectedKey = null;
  state.filters = { run: '', level: '', success: '', champ: false, code: '', ranges: [] };
  state.sort = { key: 'iteration_num', dir: 1 };
  state.shape = '';
  document.body.classList.add('has-data');
  $('app').hidden = false;
  $('f-success').value = '';
  $('f-champ').checked = false;
  $('f-code').value = '';
  $('f-ranges').replaceChildren();
  $('export').disabled = m.loader !== 'wasm';
  $('export').title = m.loader === 'wasm' ? 'Download the filtered rows as CSV' : 'CSV export uses the wasm loader';
  $('detail').replaceChildren(h('p', { class: 'muted' }, 'Select an iteration to see all its fields, its code and its diff against the previous champion.'));
  state.metric = null;
  return refresh();
}

/** Per-run and whole-model facts the views use (after rows changed). */
function derive(m) {
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

/**
 * Redraws everything from the model, keeping filters, sort, selection and
 * the table's scroll position (used after a load and after each update).
 */
function refresh() {
  const m = state.model;
  derive(m);
  const metrics = [...m.numeric].sort((a, b) => (a.group === b.group ? 0 : a.group === 'metrics' ? -1 : 1));
  const shape = `${m.runs.length}|${metrics.map((c) => c.key).join(',')}|${m.levels.length}`;
  if (shape !== state.shape) {
    state.shape = shape;
    m.numericSorted = metrics;
    if (!state.metric || !m.byKey.has(state.metric)) {
      const def = m.byKey.get('metrics.sharpe_ratio') || metrics.find((c) => c.group === 'metrics') || metrics[0];
      state.metric = def ? def.key : null;
    }
    $('metric').replaceChildren(...metrics.map((c) => h('option', { value: c.key, selected: c.key === state.metric }, c.key)));
    $('f-level').replaceChildren(h('option', { value: '' }, 'all'),
      ...sortedLevels(m).map((id) => h('option', { value: String(id), selected: String(id) === state.filters.level }, m.levels[id])));
    $('f-run').replaceChildren(h('option', { value: '' }, 'all'),
      ...m.runs.map((run, r) => h('option', { value: String(r), selected: String(r) === state.filters.run }, run.name)));
    $('f-run-box').hidden = m.runs.length < 2;
    table.setColumns(columnsFor(m));
    table.setSort(state.sort.key, state.sort.dir);
  }
  const t = [performance.now()];
  applyFilters();
  t.push(performance.now());
  renderRuns();
  renderSummary();
  renderWarnings();
  t.push(performance.now());
  renderChart();
  t.push(performance.now());
  return { table: t[1] - t[0], summary: t[2] - t[1], chart: t[3] - t[2] };
}

function sortedLevels(m) {
  return m.levels.map((_, i) => i).sort((a, b) => (m.levels[a] < m.levels[b] ? -1 : m.levels[a] > m.levels[b] ? 1 : 0));
}

function columnsFor(m) {
  const codePreview = (s) => String(s).replace(/\s*\n\s*/g, ' ⏎ ').slice(0, 240);
  const runCol = m.runs.length > 1 ? [{ key: 'run', label: 'run', width: 140, cls: 'run', render: (i) => {
    const run = m.runs[m.run[i]];
    const e = h('span', { class: 'run-name' }, h('i', { class: 'swatch', style: `background:${run.color}` }), run.name);
    return e;
  } }] : [];
  return [
    ...runCol,
    { key: 'iteration_num', label: 'iteration', width: 100, cls: 'num', render: (i) => String(m.iteration[i]) },
    { key: 'champion_updated', label: '★', width: 34, cls: 'star', title: 'champion_updated', render: (i) => (m.champion[i] ? '★' : '') },
    { key: 'success', label: 'result', width: 66, title: 'execution_result.success',
      render: (i) => (m.success[i] === 1 ? 'ok' : m.success[i] === 0 ? 'failed' : '—') },
    { key: 'classification_level', label: 'level', width: 92, render: (i) => m.levels[m.level[i]] },
    ...m.numericSorted.map((c) => ({ key: c.key, label: c.name, title: c.key, width: 116, cls: 'num', render: (i) => fmtCell(c, i) })),
    { key: 'timestamp', label: 'timestamp', width: 190, render: (i) => String(full(i).record.timestamp) },
    { key: 'strategy_code', label: 'strategy code', width: 380, cls: 'code', render: (i) => codePreview(full(i).record.strategy_code) },
  ];
}

// ---------------------------------------------------------------- filter and sort
function applyFilters() {
  const m = state.model;
  const f = state.filters;
  const only = f.run === '' ? -1 : Number(f.run);
  const hidden = m.runs.map((run) => !run.visible);
  const anyHidden = hidden.some(Boolean);
  const level = f.level === '' ? -1 : Number(f.level);
  const success = f.success === '' ? -1 : Number(f.success);
  const ranges = f.ranges
    .filter((r) => r.key && m.byKey.has(r.key) && (r.min !== '' || r.max !== ''))
    .map((r) => ({ v: m.byKey.get(r.key).values, lo: r.min === '' ? -Infinity : Number(r.min), hi: r.max === '' ? Infinity : Number(r.max) }));
  const mask = state.codeMask;
  const out = new Uint32Array(m.n);
  let k = 0;
  outer: for (let i = 0; i < m.n; i++) {
    if (only >= 0 && m.run[i] !== only) continue;
    if (anyHidden && hidden[m.run[i]]) continue;
    if (level >= 0 && m.level[i] !== level) continue;
    if (success >= 0 && m.success[i] !== success) continue;
    if (f.champ && !m.champion[i]) continue;
    if (mask && !mask[i]) continue;
    for (const r of ranges) {
      const v = r.v[i];
      if (!(v >= r.lo && v <= r.hi)) continue outer;
    }
    out[k++] = i;
  }
  state.view = out.subarray(0, k);
  sortView();
}

function sortKeys(key) {
  const m = state.model;
  if (key === 'iteration_num') return m.iteration;
  if (key === 'run') return m.run;
  if (key === 'champion_updated') return m.champion;
  if (key === 'success') return m.success;
  if (key === 'classification_level') {
    const rank = new Float64Array(m.levels.length);
    sortedLevels(m).forEach((id, r) => { rank[id] = r; });
    return Float64Array.from(m.level, (l) => rank[l]);
  }
  if (m.byKey.has(key)) return m.byKey.get(key).values;
  return state.ranks.get(key) || null;
}

function sortView() {
  const { key, dir } = state.sort;
  const m = state.model;
  const view = state.view;
  if (!(key === 'iteration_num' && dir === 1 && m.monotonic)) {
    const keys = sortKeys(key);
    if (keys) {
      view.sort((a, b) => {
        const ka = keys[a];
        const kb = keys[b];
        const na = ka !== ka; // NaN (missing) sorts last in both directions
        const nb = kb !== kb;
        if (na || nb) return na === nb ? a - b : na ? 1 : -1;
        return (ka - kb) * dir || a - b;
      });
    }
  }
  table.setSort(key, dir);
  table.setView(view);
  const rc = $('rowcount');
  rc.textContent = `${fmtInt(view.length)} of ${fmtInt(m.n)} iterations`;
  rc.dataset.count = String(view.length);
  if (state.selected >= 0) table.select(state.selected, false);
}

/** The selected row again after rows moved (a run was reloaded): by run and row in it. */
function reselect() {
  const m = state.model;
  const k = state.selectedKey;
  if (!k) return;
  let row = -1;
  if (m.runs[k.run] && m.runs[k.run].generation === k.generation) {
    for (let i = 0; i < m.n; i++) if (m.run[i] === k.run && m.local[i] === k.local) { row = i; break; }
  }
  if (row !== state.selected) { state.selected = row; state.cache = new Map(); }
}

async function sortBy(key) {
  const dir = state.sort.key === key ? -state.sort.dir : 1;
  state.sort = { key, dir };
  if ((key === 'timestamp' || key === 'strategy_code') && !state.ranks.has(key)) {
    document.body.dataset.busy = '1';
    try {
      state.ranks.set(key, await textRanks(key));
    } catch (err) {
      setStatus(`Could not sort by ${key}: ${err.message}`, true);
    }
    delete document.body.dataset.busy;
  }
  sortView();
}

async function textRanks(field) {
  const m = state.model;
  if (m.loader === 'wasm' && m.runs.length === 1) return (await ask({ op: 'rank', run: 0, field })).rank;
  const texts = Array.from({ length: m.n }, (_, i) => String(m.record(i).record[field]));
  const order = Array.from(texts.keys()).sort((a, b) => (texts[a] < texts[b] ? -1 : texts[a] > texts[b] ? 1 : 0));
  const rank = new Uint32Array(m.n);
  order.forEach((row, r) => { rank[row] = r; });
  return rank;
}

let codeTimer = 0;
let codeSeq = 0;
function onCodeFilter() {
  clearTimeout(codeTimer);
  document.body.dataset.busy = '1';
  codeTimer = setTimeout(async () => {
    const needle = $('f-code').value;
    const seq = ++codeSeq;
    const m = state.model;
    let mask = null;
    try {
      if (needle) {
        mask = m.loader === 'wasm'
          ? globalMask(m, (await ask({ op: 'search', needle })).masks)
          : Uint8Array.from({ length: m.n }, (_, i) => String(m.record(i).record.strategy_code).toLowerCase().includes(needle.toLowerCase()));
      }
    } catch (err) {
      setStatus(`Search failed: ${err.message}`, true);
    }
    if (seq !== codeSeq || m !== state.model) return;
    state.codeMask = mask;
    state.filters.code = needle;
    applyFilters();
    delete document.body.dataset.busy;
  }, 200);
}

/** One byte per row of the model from one mask per run (by row in the run). */
function globalMask(m, masks) {
  const out = new Uint8Array(m.n);
  for (let i = 0; i < m.n; i++) { const mk = masks[m.run[i]]; out[i] = mk ? mk[m.local[i]] : 0; }
  return out;
}

function addRange(key = state.metric, min = '', max = '') {
  const m = state.model;
  const r = { key, min, max };
  state.filters.ranges.push(r);
  const sel = h('select', { 'aria-label': 'metric' }, ...m.numericSorted.map((c) => h('option', { value: c.key, selected: c.key === key }, c.key)));
  const lo = h('input', { type: 'number', step: 'any', placeholder: 'min', 'aria-label': 'minimum', value: min });
  const hi = h('input', { type: 'number', step: 'any', placeholder: 'max', 'aria-label': 'maximum', value: max });
  const update = () => { r.key = sel.value; r.min = lo.value; r.max = hi.value; applyFilters(); };
  sel.addEventListener('change', update);
  lo.addEventListener('input', update);
  hi.addEventListener('input', update);
  const box = h('span', { class: 'range' }, sel, lo, '–', hi, h('button', {
    type: 'button', title: 'remove this range', onclick: () => {
      state.filters.ranges.splice(state.filters.ranges.indexOf(r), 1);
      box.remove();
      applyFilters();
    },
  }, '×'));
  $('f-ranges').append(box);
}

// ---------------------------------------------------------------- summary, warnings, chart
function metricCol() {
  return state.metric ? state.model.byKey.get(state.metric) : null;
}

function best(m, col, direction, only = -1) {
  let bi = -1;
  let bv = 0;
  if (!col) return { row: -1, value: NaN };
  for (let i = 0; i < m.n; i++) {
    if (only >= 0 ? m.run[i] !== only : !m.runs[m.run[i]].visible) continue;
    const v = col.values[i];
    if (!Number.isFinite(v) || col.states[i] !== 0 || m.success[i] === 0) continue;
    if (bi < 0 || (direction === 'max' ? v > bv : v < bv)) { bi = i; bv = v; }
  }
  return { row: bi, value: bv };
}

/** Counts of run `only` (or of every run shown). */
function counts(m, only = -1) {
  let n = 0;
  let ok = 0;
  let failed = 0;
  const levels = new Uint32Array(m.levels.length);
  for (let i = 0; i < m.n; i++) {
    if (only >= 0 ? m.run[i] !== only : !m.runs[m.run[i]].visible) continue;
    n++;
    if (m.success[i] === 1) ok++; else if (m.success[i] === 0) failed++;
    levels[m.level[i]]++;
  }
  return { n, ok, failed, levels };
}

function renderSummary() {
  const m = state.model;
  const col = metricCol();
  const { n, ok, failed, levels } = counts(m);
  const unknown = n - ok - failed;
  const b = best(m, col, state.direction);
  const champ = m.lastChampion;
  const link = (row, text) => h('button', { class: 'link', type: 'button', onclick: () => select(row) }, text);
  const card = (id, title, big, sub, cls = '') => h('div', { class: `card ${cls}`, id }, h('h3', {}, title), h('div', { class: 'big' }, big), h('div', { class: 'sub' }, sub));
  const several = m.runs.length > 1;
  $('summary').replaceChildren(...[
    card('sum-iterations', 'Iterations', fmtInt(n), `${fmtInt(m.lines)} lines · ${fmtBytes(m.size)}${several ? ` · ${m.runs.filter((r) => r.visible).length} of ${m.runs.length} runs` : ''}`),
    card('sum-success', 'Success rate', n ? `${((100 * ok) / n).toFixed(1)}%` : '—',
      `${fmtInt(ok)} succeeded · ${fmtInt(failed)} failed${unknown ? ` · ${fmtInt(unknown)} unknown` : ''}`),
    card('sum-best', `Best ${col ? col.name : 'metric'} (${state.direction === 'max' ? 'highest' : 'lowest'})`,
      b.row >= 0 ? fmtNum(b.value) : '—',
      b.row >= 0 ? link(b.row, `at iteration ${m.iteration[b.row]}${several ? ` of ${m.runs[m.run[b.row]].name}` : ''}`) : 'no finite value'),
    card('sum-champion', 'Current champion',
      champ >= 0 ? `#${m.iteration[champ]}` : 'none',
      champ >= 0 ? link(champ, (col ? `${col.name} = ${fmtCell(col, champ) || '—'}` : 'open') + (several ? ` (${m.runs[m.run[champ]].name})` : '')) : 'no champion_updated'),
    h('div', { class: 'card', id: 'sum-levels' }, h('h3', {}, 'Levels'),
      h('div', { class: 'chips' }, ...sortedLevels(m).filter((id) => levels[id] || !several).map((id) => h('span', { class: 'chip', 'data-level': m.levels[id] }, `${m.levels[id]} `, h('b', {}, fmtInt(levels[id])))))),
    card('sum-warnings', 'Warnings', fmtInt(m.warningsTotal),
      m.warningsTotal ? (m.corrupt ? 'damage in the middle (see below)' : 'see below') : 'none', m.warningsTotal ? 'warn' : ''),
  ]);
}

/** One entry per run: a toggle (colour legend) and its own summary. */
function renderRuns() {
  const m = state.model;
  const box = $('runs');
  box.hidden = m.runs.length < 2 && !live.on;
  if (box.hidden) { box.replaceChildren(); return; }
  const col = metricCol();
  box.replaceChildren(...m.runs.map((run, r) => {
    const c = counts(m, r);
    const b = best(m, col, state.direction, r);
    const toggle = h('input', { type: 'checkbox', checked: run.visible, 'aria-label': `show ${run.name}` });
    toggle.addEventListener('change', () => { run.visible = toggle.checked; refresh(); });
    const notes = [];
    if (run.torn) notes.push(h('span', { class: 'torn', title: 'the history ends with an unfinished write: a write in progress, or a writer that stopped' }, 'torn tail'));
    if (run.error) notes.push(h('span', { class: 'torn run-error' }, `cannot read: ${run.error}`));
    return h('div', { class: `run${run.visible ? '' : ' off'}`, id: `run-${r}`, 'data-run': String(r) },
      h('label', {}, toggle, h('i', { class: 'swatch', style: `background:${run.color}` }), h('b', { class: 'run-label' }, run.name)),
      h('span', { class: 'count', 'data-count': String(c.n) }, `${fmtInt(c.n)} iterations`),
      h('span', {}, c.n ? `${((100 * c.ok) / c.n).toFixed(1)}% ok` : ''),
      h('span', { class: 'best' }, b.row >= 0 ? `best ${fmtNum(b.value)} at #${m.iteration[b.row]}` : 'no best yet'),
      h('span', {}, run.lastChampion >= 0 ? `champion #${m.iteration[run.lastChampion]}` : 'no champion'),
      run.warningsTotal ? h('span', { class: 'warn' }, `${fmtInt(run.warningsTotal)} warning${run.warningsTotal === 1 ? '' : 's'}`) : null,
      ...notes);
  }));
}

function renderWarnings() {
  const m = state.model;
  const box = $('warnings');
  box.hidden = m.warnings.length === 0;
  if (box.hidden) { box.replaceChildren(); return; }
  const names = { 'bad-line': 'bad line', 'torn-tail': 'torn tail', 'missing-newline': 'no final newline' };
  const shown = m.warnings.slice(0, 200);
  box.replaceChildren(...[
    h('h3', {}, `${fmtInt(m.warningsTotal)} warning${m.warningsTotal === 1 ? '' : 's'}`
      + (m.corrupt ? ' — damaged lines are followed by valid records: the rest is shown; the library refuses to write to this file until repair() moves the bad lines aside' : '')),
    h('ol', {}, ...shown.map((w) => h('li', { 'data-kind': w.kind, 'data-line': String(w.line) },
      w.run ? `${w.run}: ` : '', h('span', { class: 'kind' }, names[w.kind] || w.kind), ` line ${w.line}`,
      w.offset >= 0 ? ` (byte ${fmtInt(w.offset)})` : '', `: ${w.message}`))),
    m.warningsTotal > shown.length ? h('p', { class: 'muted' }, `… and ${fmtInt(m.warningsTotal - shown.length)} more`) : null,
  ].filter(Boolean));
}

function renderChart() {
  const m = state.model;
  const col = metricCol();
  const shown = m.runs.map((run, r) => (run.visible ? r : -1)).filter((r) => r >= 0);
  const all = shown.length === m.runs.length;
  let order;
  if (m.monotonic && all) order = Uint32Array.from({ length: m.n }, (_, i) => i);
  else {
    const rows = [];
    for (let i = 0; i < m.n; i++) if (m.runs[m.run[i]].visible) rows.push(i);
    order = Uint32Array.from(rows).sort((a, b) => m.iteration[a] - m.iteration[b] || a - b);
  }
  const n = order.length;
  const x = new Float64Array(n);
  const champ = new Array(n).fill(null);
  const failed = new Array(n).fill(null);
  const series = shown.map((r) => ({ run: r, label: m.runs.length > 1 ? m.runs[r].name : (col ? col.key : 'no numeric metric'),
    color: m.runs.length > 1 ? m.runs[r].color : null, value: new Array(n).fill(null), best: new Array(n).fill(null) }));
  const slot = new Int32Array(m.runs.length).fill(-1);
  shown.forEach((r, k) => { slot[r] = k; });
  let lo = Infinity;
  let hi = -Infinity;
  if (col) {
    for (let i = 0; i < m.n; i++) {
      const v = col.values[i];
      if (Number.isFinite(v) && m.runs[m.run[i]].visible) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
  }
  if (lo > hi) { lo = 0; hi = 1; }
  const floor = lo - (hi - lo || 1) * 0.05;
  const max = state.direction === 'max';
  const runBest = series.map(() => null);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    x[k] = m.iteration[i];
    const s = slot[m.run[i]];
    const v = col ? col.values[i] : NaN;
    const fin = Number.isFinite(v) && col.states[i] === 0;
    series[s].value[k] = fin ? v : null;
    if (fin && m.success[i] !== 0 && (runBest[s] === null || (max ? v > runBest[s] : v < runBest[s]))) runBest[s] = v;
    for (let q = 0; q < series.length; q++) series[q].best[k] = runBest[q];
    champ[k] = m.champion[i] ? (fin ? v : floor) : null;
    failed[k] = m.success[i] === 0 ? floor : null;
  }
  // A run's best-so-far line ends at its last iteration.
  if (series.length > 1) {
    const lastK = series.map(() => -1);
    for (let k = 0; k < n; k++) lastK[slot[m.run[order[k]]]] = k;
    series.forEach((sr, q) => sr.best.fill(null, lastK[q] + 1));
  }
  drawChart($('chart'), { order, x, series, champ, failed, label: col ? col.key : 'no numeric metric' }, (row) => select(row));
}

// ---------------------------------------------------------------- selection and detail
function select(row) {
  const m = state.model;
  if (row < 0 || row >= m.n) return;
  state.selected = row;
  state.selectedKey = { run: m.run[row], local: m.local ? m.local[row] : row, generation: m.runs[m.run[row]].generation };
  table.select(row);
  showDetail(row);
}

function kvTable(obj) {
  const rows = Object.entries(obj || {});
  if (!rows.length) return h('p', { class: 'muted' }, '(empty)');
  return h('table', { class: 'kv' }, ...rows.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: typeof v === 'number' ? 'num mono' : 'mono' }, fmtValue(v)))));
}

function showDetail(i) {
  const m = state.model;
  const d = full(i);
  const r = d.record;
  const known = ['iteration_num', 'strategy_code', 'execution_result', 'metrics', 'classification_level', 'timestamp', 'champion_updated'];
  const extra = Object.fromEntries(Object.entries(r).filter(([k]) => !known.includes(k)));
  const pos = table.positionOf(i);
  const nav = h('span', { class: 'nav' },
    h('button', { type: 'button', id: 'prev-row', disabled: pos <= 0, onclick: () => select(state.view[pos - 1]) }, '◀ prev'),
    h('button', { type: 'button', id: 'next-row', disabled: pos < 0 || pos >= state.view.length - 1, onclick: () => select(state.view[pos + 1]) }, 'next ▶'));
  const prev = m.prevChampion[i];
  const diffBox = h('div', { id: 'diff' });
  if (prev < 0) {
    diffBox.append(h('p', { class: 'muted' }, 'No earlier champion to compare with.'));
  } else {
    const base = full(prev).record;
    const lines = diffLines(String(base.strategy_code), String(r.strategy_code));
    const head = h('p', {}, 'Against the previous champion, ',
      h('button', { class: 'link', type: 'button', onclick: () => select(prev) }, `iteration ${m.iteration[prev]}`), ` (line ${m.lineNo[prev]})`);
    if (!lines) {
      diffBox.append(head, h('p', { class: 'muted' }, 'The codes are too long to diff here.'));
    } else {
      const added = lines.filter((l) => l.op === '+').length;
      const removed = lines.filter((l) => l.op === '-').length;
      head.append(`: +${added} −${removed} line${added + removed === 1 ? '' : 's'}`);
      diffBox.append(head);
      if (!added && !removed) diffBox.append(h('p', { class: 'muted' }, 'Identical code.'));
      else {
        diffBox.append(h('div', { class: 'diff' }, ...foldContext(lines).map((l) => (l.op === '…'
          ? h('div', { class: 'fold' }, `⋯ ${l.count} unchanged line${l.count === 1 ? '' : 's'}`)
          : h('div', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'ctx' }, l.text)))));
      }
    }
  }
  const ok = m.success[i];
  const parts = [
    h('h2', { id: 'detail-title' }, `Iteration ${r.iteration_num}`,
      m.runs.length > 1 ? h('span', { class: 'badge run-badge', style: `border-color:${m.runs[m.run[i]].color}` }, m.runs[m.run[i]].name) : null,
      m.champion[i] ? h('span', { class: 'badge champ' }, '★ champion') : null,
      h('span', { class: `badge ${ok === 1 ? 'ok' : ok === 0 ? 'fail' : ''}` }, ok === 1 ? 'succeeded' : ok === 0 ? 'failed' : 'result unknown'),
      h('span', { class: 'badge' }, String(r.classification_level)),
      h('span', { class: 'badge', title: 'line in the file' }, `line ${m.lineNo[i]}`),
      h('span', { class: 'badge', title: d.checksummed ? 'the CRC-32C of this line matches' : 'written without a checksum (e.g. by the original Python module)' },
        d.checksummed ? 'checksum ✓' : 'no checksum'),
      d.commit ? h('span', { class: 'badge' }, `commit ${d.commit}`) : null,
      nav),
    d.error ? h('p', { class: 'status error' }, d.error) : null,
    h('table', { class: 'kv' },
      h('tr', {}, h('td', {}, 'timestamp'), h('td', { class: 'mono' }, String(r.timestamp))),
      h('tr', {}, h('td', {}, 'champion_updated'), h('td', { class: 'mono' }, String(r.champion_updated)))),
    h('h4', {}, 'metrics'), kvTable(r.metrics),
    h('h4', {}, 'execution_result'), kvTable(r.execution_result),
    Object.keys(extra).length ? [h('h4', {}, 'other fields'), kvTable(extra)] : null,
    h('h4', {}, 'strategy_code'), h('pre', { class: 'code', id: 'detail-code' }, String(r.strategy_code)),
    h('h4', {}, 'code diff'), diffBox,
  ];
  $('detail').replaceChildren(...parts.flat().filter(Boolean));
  $('detail').scrollTop = 0;
}

function goToIteration(n) {
  const m = state.model;
  let row = -1;
  if (m.monotonic) {
    let lo = 0;
    let hi = m.n;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (m.iteration[mid] < n) lo = mid + 1; else hi = mid; }
    if (lo < m.n && m.iteration[lo] === n) row = lo;
  } else {
    for (let i = 0; i < m.n; i++) if (m.iteration[i] === n && m.runs[m.run[i]].visible && (state.filters.run === '' || m.run[i] === Number(state.filters.run))) { row = i; break; }
    if (row < 0) row = m.iteration.indexOf(n);
  }
  if (row < 0) { setStatus(`There is no iteration ${n} in this history.`, true); return; }
  select(row);
  if (table.positionOf(row) < 0) setStatus(`Iteration ${n} is hidden by the current filter (shown in the detail panel).`);
}

async function exportCsv() {
  const m = state.model;
  const btn = $('export');
  btn.disabled = true;
  try {
    const rows = state.view.slice();
    // Consecutive rows of one run go to the worker together, as rows of that run.
    const segments = [];
    for (let k = 0; k < rows.length;) {
      const r = m.run[rows[k]];
      let e = k;
      while (e < rows.length && m.run[rows[e]] === r) e++;
      segments.push({ run: r, rows: Uint32Array.from(rows.subarray(k, e), (i) => m.local[i]) });
      k = e;
    }
    const several = m.runs.length > 1;
    const keys = several ? m.numericSorted.map((c) => c.key) : null;
    const { csv } = await ask({ op: 'csv', segments, keys, names: several ? m.runs.map((run) => run.name) : null });
    const base = several ? 'runs' : m.name.replace(/\.[^.]*$/, '');
    const a = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: `${base}.filtered.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    setStatus(`Exported ${fmtInt(rows.length)} rows as CSV.`);
  } catch (err) {
    setStatus(`Export failed: ${err.message}`, true);
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- wiring
$('file').addEventListener('change', (e) => {
  const t0 = performance.now();
  const files = [...(e.target.files || [])];
  if (files.length) openBlobs(files.map((f) => ({ blob: f, name: f.name })), t0);
  e.target.value = '';
});
const drop = $('drop');
drop.addEventListener('click', () => $('file').click());
drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') $('file').click(); });
for (const type of ['dragenter', 'dragover']) {
  document.addEventListener(type, (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
}
document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) document.body.classList.remove('dragging'); });
document.addEventListener('drop', (e) => {
  const t0 = performance.now();
  e.preventDefault();
  document.body.classList.remove('dragging');
  const files = [...((e.dataTransfer && e.dataTransfer.files) || [])];
  if (files.length) openBlobs(files.map((f) => ({ blob: f, name: f.name })), t0);
});
$('metric').addEventListener('change', (e) => { state.metric = e.target.value; renderRuns(); renderSummary(); renderChart(); });
$('direction').addEventListener('change', (e) => { state.direction = e.target.value; renderRuns(); renderSummary(); renderChart(); });
$('f-level').addEventListener('change', (e) => { state.filters.level = e.target.value; applyFilters(); });
$('f-run').addEventListener('change', (e) => { state.filters.run = e.target.value; applyFilters(); });
$('f-success').addEventListener('change', (e) => { state.filters.success = e.target.value; applyFilters(); });
$('f-champ').addEventListener('change', (e) => { state.filters.champ = e.target.checked; applyFilters(); });
$('f-code').addEventListener('input', onCodeFilter);
$('f-add-range').addEventListener('click', () => addRange());
$('f-clear').addEventListener('click', () => {
  $('f-level').value = ''; $('f-run').value = ''; $('f-success').value = ''; $('f-champ').checked = false; $('f-code').value = '';
  $('f-ranges').replaceChildren();
  state.filters = { run: '', level: '', success: '', champ: false, code: '', ranges: [] };
  state.codeMask = null;
  applyFilters();
});
$('goto').addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target.value !== '') goToIteration(Number(e.target.value)); });
$('goto').addEventListener('change', (e) => { if (e.target.value !== '') goToIteration(Number(e.target.value)); });
$('goto-champion').addEventListener('click', () => {
  if (state.model.lastChampion >= 0) select(state.model.lastChampion);
  else setStatus('No iteration has champion_updated = true.', true);
});
$('export').addEventListener('click', exportCsv);

// ---------------------------------------------------------------- live follow
// One request at a time: GET /follow?runs=GEN.OFFSET,...&wait=1 answers as
// soon as a history grew (only the bytes after OFFSET) or was replaced
// (all of it, with a new GEN), or after ~25 s with nothing. The bytes go to
// the worker, which continues each run's column pass where it stopped.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const utf8 = new TextDecoder();

function setLive(stateName, text) {
  document.body.dataset.live = stateName;
  $('live').hidden = false;
  $('live-state').textContent = text;
  $('live-toggle').textContent = live.paused ? 'Resume' : 'Pause';
}

function stopFollowing() {
  if (!live.on) return;
  live.on = false;
  live.session++;
  if (live.ctrl) live.ctrl.abort();
  if (live.resume) live.resume();
  $('live').hidden = true;
  delete document.body.dataset.live;
}

function liveText() {
  const m = state.model;
  const names = m.runs.length === 1 ? m.runs[0].name : `${m.runs.length} histories`;
  const torn = m.runs.filter((r) => r.torn).map((r) => r.name);
  const when = live.updated ? `, updated ${new Date(live.updated).toLocaleTimeString()}` : '';
  return (live.paused ? `Paused: not following ${names}` : `Live: following ${names}${when}`)
    + (torn.length ? ` — ${torn.join(', ')} ends with an unfinished write (torn tail: a write in progress, or a writer that crashed)` : '');
}

/** Applies one /follow answer; returns whether rows or state changed. */
async function applyFollow(buf) {
  const m = state.model;
  const nl = buf.indexOf(10);
  if (nl < 0) throw new Error('the server sent no follow header');
  const head = JSON.parse(utf8.decode(buf.subarray(0, nl)));
  let at = nl + 1;
  let changed = false;
  let reloaded = false;
  for (let r = 0; r < m.runs.length; r++) {
    const part = head.runs[r];
    const run = m.runs[r];
    const chunk = buf.subarray(at, at + part.length);
    at += part.length;
    // A run that changed says whether it is readable; an unchanged one does not.
    if ('error' in part && (part.error || null) !== run.error) { run.error = part.error || null; changed = true; }
    if (part.reset) {
      await ask({ op: 'live-reset', run: r });
      if (run.n) { removeRun(m, r); reloaded = true; }
      run.generation = part.generation;
      run.size = 0;
      run.offset = 0;
      run.bytes = new Uint8Array(0);
    }
    if (part.length || part.reset) {
      appendBytes(run, chunk);
      const copy = chunk.slice();
      const res = await ask({ op: 'live-push', run: r, chunk: copy }, { transfer: [copy.buffer] });
      if (res.from === 0 && run.n) reloaded = true;
      applyLoaded(m, r, res);
      run.offset = part.from + part.length;
      changed = true;
    }
  }
  if (reloaded) { state.cache = new Map(); reselect(); }
  return changed;
}

/** After rows arrived: the views, keeping filters, sort, selection, scroll. */
async function liveRender() {
  const m = state.model;
  totals(m);
  state.ranks = new Map();
  if (state.filters.code && m.loader === 'wasm') {
    try { state.codeMask = globalMask(m, (await ask({ op: 'search', needle: state.filters.code })).masks); } catch { /* kept */ }
  }
  if ((state.sort.key === 'timestamp' || state.sort.key === 'strategy_code')) {
    try { state.ranks.set(state.sort.key, await textRanks(state.sort.key)); } catch { /* unsorted */ }
  }
  const first = !state.shape;
  const t0 = performance.now();
  const phases = first ? show(m) : refresh();
  table.refresh();
  if (state.selected >= 0 && $('detail-title') === null) showDetail(state.selected);
  document.body.dataset.loaded = String(m.n);
  setStatus(`${m.name}: ${fmtInt(m.n)} iterations, ${fmtBytes(m.size)}`);
  live.updated = Date.now();
  setLive(live.paused ? 'paused' : 'on', liveText());
  await nextFrame();
  window.__ih.arrivals.push({ t: Date.now(), counts: m.runs.map((r) => r.n), ms: { ...phases, all: performance.now() - t0 } });
  if (window.__ih.arrivals.length > 5000) window.__ih.arrivals.splice(0, 1000);
}

async function follow() {
  const session = ++live.session;
  live.on = true;
  live.paused = false;
  document.body.dataset.loaded = '';
  setStatus('Connecting…');
  let names;
  for (;;) {
    try {
      const res = await fetch('/runs', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status} for /runs`);
      names = (await res.json()).runs.map((r) => r.name);
      break;
    } catch (err) {
      setStatus(`Cannot reach ihist view: ${err.message}; retrying…`, true);
      await sleep(2000);
      if (session !== live.session) return;
    }
  }
  await wasmReady;
  await ask({ op: 'close', from: 0 });
  const m = emptyModel(names);
  m.name = names.length === 1 ? names[0] : `${names.length} histories`;
  state.model = m;
  state.shape = '';
  setLive('on', liveText());
  let wait = 0;
  let failures = 0;
  while (session === live.session) {
    if (live.paused) {
      setLive('paused', liveText());
      await new Promise((r) => { live.resume = r; });
      live.resume = null;
      if (session !== live.session) return;
      setLive('on', liveText());
    }
    const q = m.runs.map((r) => `${r.generation}.${r.offset}${r.error ? '!' : ''}`).join(',');
    live.ctrl = new AbortController();
    let buf;
    try {
      const res = await fetch(`/follow?runs=${q}&wait=${wait}`, { cache: 'no-store', signal: live.ctrl.signal });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      buf = new Uint8Array(await res.arrayBuffer());
      failures = 0;
    } catch (err) {
      if (session !== live.session) return;
      if (live.paused) continue;
      failures++;
      setLive('error', `Disconnected from ihist view (${err.message}); retrying…`);
      await sleep(Math.min(10000, 500 * 2 ** failures));
      continue;
    } finally {
      live.ctrl = null;
    }
    if (session !== live.session) return;
    try {
      const changed = await applyFollow(buf);
      if (changed || wait === 0) {
        const t = performance.now();
        await liveRender();
        // A large history costs tens of ms to redraw: leave the page at
        // least as long idle before the next update (updates coalesce).
        const ms = performance.now() - t;
        if (ms > 50) await sleep(Math.min(500, ms));
      }
    } catch (err) {
      setStatus(`Could not follow: ${err.message}`, true);
      document.body.dataset.loaded = 'error';
      await sleep(2000);
    }
    wait = 1;
  }
}

$('live-toggle').addEventListener('click', () => {
  if (!live.on) return;
  live.paused = !live.paused;
  if (live.paused) {
    if (live.ctrl) live.ctrl.abort();
    setLive('paused', liveText());
  } else if (live.resume) {
    live.resume();
  }
});

// ?live=1: follow what `ihist view` serves.
if (params.get('live')) follow();

// ?src=<same-origin URL>: used by scripts/serve-viewer.
const src = params.get('src');
if (src) {
  (async () => {
    const t0 = performance.now();
    let url;
    try {
      url = new URL(src, location.href);
      if (url.origin !== location.origin) throw new Error(`only a history from this page's own origin (${location.origin}) is loaded, not ${url.origin}`);
      setStatus(`Fetching ${url.pathname}…`);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} for ${url.pathname}`);
      const blob = await res.blob();
      await openBlobs([{ blob, name: decodeURIComponent(url.pathname.split('/').pop() || 'history.jsonl') }], t0);
    } catch (err) {
      setStatus(`Could not open ${src}: ${err.message}`, true);
      document.body.dataset.loaded = 'error';
    }
  })();
}
Promise.all([wasmReady]).then(() => { document.body.dataset.ready = '1'; }, (err) => setStatus(`The viewer's wasm did not load: ${err.message}`, true));
