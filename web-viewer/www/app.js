// The viewer page: opens a history (picker, drop, or ?src=<same-origin URL>),
// loads it in a worker (wasm column pass) and shows the summary, chart,
// virtualised table, detail panel with code diff, and CSV export.
// ?loader=js switches to the plain-JS baseline (for the benchmark).
import init, { decodeLine } from './pkg/web_viewer.js';
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
  filters: { level: '', success: '', champ: false, code: '', ranges: [] },
  codeMask: null,
  sort: { key: 'iteration_num', dir: 1 },
  ranks: new Map(),
  view: new Uint32Array(0),
  selected: -1,
  cache: new Map(),
};
window.__ih = { state, lastLoad: null };

const table = new VTable($('table'), {
  rowHeight: ROW_HEIGHT,
  onSelect: (row) => select(row),
  onSort: (key) => sortBy(key),
});
table.rowClass = (row) => (state.model.success[row] === 0 ? 'failed' : '');

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
async function openBlob(blob, name, t0 = performance.now()) {
  document.body.dataset.loaded = '';
  setStatus(`Reading ${name} (${fmtBytes(blob.size)})…`);
  try {
    let model;
    if (LOADER === 'js') {
      model = await loadPlain(blob);
    } else {
      const bytesRead = blob.arrayBuffer(); // for decoding shown rows, read while the worker scans
      const res = await ask({ op: 'load', blob }, {
        onProgress: (m) => setStatus(`Reading ${name}: ${Math.round((100 * m.loaded) / m.total)}%`),
      });
      await wasmReady;
      model = fromWorker(res, new Uint8Array(await bytesRead));
    }
    model.name = name;
    model.size = blob.size;
    const tData = performance.now();
    const phases = show(model);
    const tShown = performance.now();
    await nextFrame();
    const ms = performance.now() - t0;
    window.__ih.lastLoad = {
      loader: LOADER, ms, parseMs: model.parseMs, rows: model.n, name,
      phases: { data: tData - t0, ...phases, show: tShown - tData, frame: performance.now() - tShown },
    };
    setStatus(`${name}: ${fmtInt(model.n)} iterations, ${fmtBytes(blob.size)}, shown in ${Math.round(ms)} ms`
      + (LOADER === 'js' ? ' (plain-JS baseline)' : ''));
    document.body.dataset.loaded = String(model.n);
  } catch (err) {
    setStatus(`Could not open ${name}: ${err.message}`, true);
    document.body.dataset.loaded = 'error';
  }
}

function fromWorker(res, bytes) {
  const c = res.cols;
  return {
    loader: 'wasm',
    n: c.length,
    iteration: c.iteration,
    success: c.success,
    champion: c.champion,
    checksummed: c.checksummed,
    level: c.level,
    levels: c.levels,
    numeric: c.numeric,
    lineNo: c.lineNo,
    warnings: res.warnings,
    warningsTotal: res.warningsTotal,
    lines: res.lines,
    slowRows: res.slowRows,
    corrupt: res.corrupt,
    parseMs: res.ms,
    record: (i) => decodeLine(bytes.subarray(c.lineStart[i], c.lineEnd[i])),
  };
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

function show(m) {
  state.model = m;
  state.cache = new Map();
  state.ranks = new Map();
  state.codeMask = null;
  state.selected = -1;
  state.filters = { level: '', success: '', champ: false, code: '', ranges: [] };
  state.sort = { key: 'iteration_num', dir: 1 };
  // File order is usually iteration order; then no sort is needed.
  m.monotonic = true;
  for (let i = 1; i < m.n; i++) if (m.iteration[i] < m.iteration[i - 1]) { m.monotonic = false; break; }
  m.prevChampion = new Int32Array(m.n);
  m.lastChampion = -1;
  for (let i = 0; i < m.n; i++) {
    m.prevChampion[i] = m.lastChampion;
    if (m.champion[i]) m.lastChampion = i;
  }
  m.byKey = new Map(m.numeric.map((c) => [c.key, c]));
  m.numeric.sort((a, b) => (a.group === b.group ? 0 : a.group === 'metrics' ? -1 : 1));

  document.body.classList.add('has-data');
  $('app').hidden = false;
  const metrics = m.numeric;
  const def = m.byKey.get('metrics.sharpe_ratio') || metrics.find((c) => c.group === 'metrics') || metrics[0];
  state.metric = def ? def.key : null;
  $('metric').replaceChildren(...metrics.map((c) => h('option', { value: c.key, selected: c.key === state.metric }, c.key)));
  $('f-level').replaceChildren(h('option', { value: '' }, 'all'),
    ...sortedLevels(m).map((id) => h('option', { value: String(id) }, m.levels[id])));
  $('f-success').value = '';
  $('f-champ').checked = false;
  $('f-code').value = '';
  $('f-ranges').replaceChildren();
  $('export').disabled = m.loader !== 'wasm';
  $('export').title = m.loader === 'wasm' ? 'Download the filtered rows as CSV' : 'CSV export uses the wasm loader';
  table.setColumns(columnsFor(m));
  table.setSort(state.sort.key, state.sort.dir);
  $('detail').replaceChildren(h('p', { class: 'muted' }, 'Select an iteration to see all its fields, its code and its diff against the previous champion.'));
  const t = [performance.now()];
  applyFilters();
  t.push(performance.now());
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
  return [
    { key: 'iteration_num', label: 'iteration', width: 100, cls: 'num', render: (i) => String(m.iteration[i]) },
    { key: 'champion_updated', label: '★', width: 34, cls: 'star', title: 'champion_updated', render: (i) => (m.champion[i] ? '★' : '') },
    { key: 'success', label: 'result', width: 66, title: 'execution_result.success',
      render: (i) => (m.success[i] === 1 ? 'ok' : m.success[i] === 0 ? 'failed' : '—') },
    { key: 'classification_level', label: 'level', width: 92, render: (i) => m.levels[m.level[i]] },
    ...m.numeric.map((c) => ({ key: c.key, label: c.name, title: c.key, width: 116, cls: 'num', render: (i) => fmtCell(c, i) })),
    { key: 'timestamp', label: 'timestamp', width: 190, render: (i) => String(full(i).record.timestamp) },
    { key: 'strategy_code', label: 'strategy code', width: 380, cls: 'code', render: (i) => codePreview(full(i).record.strategy_code) },
  ];
}

// ---------------------------------------------------------------- filter and sort
function applyFilters() {
  const m = state.model;
  const f = state.filters;
  const level = f.level === '' ? -1 : Number(f.level);
  const success = f.success === '' ? -1 : Number(f.success);
  const ranges = f.ranges
    .filter((r) => r.key && m.byKey.has(r.key) && (r.min !== '' || r.max !== ''))
    .map((r) => ({ v: m.byKey.get(r.key).values, lo: r.min === '' ? -Infinity : Number(r.min), hi: r.max === '' ? Infinity : Number(r.max) }));
  const mask = state.codeMask;
  const out = new Uint32Array(m.n);
  let k = 0;
  outer: for (let i = 0; i < m.n; i++) {
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
  if (m.loader === 'wasm') return (await ask({ op: 'rank', field })).rank;
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
          ? (await ask({ op: 'search', needle })).mask
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

function addRange(key = state.metric, min = '', max = '') {
  const m = state.model;
  const r = { key, min, max };
  state.filters.ranges.push(r);
  const sel = h('select', { 'aria-label': 'metric' }, ...m.numeric.map((c) => h('option', { value: c.key, selected: c.key === key }, c.key)));
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

function best(m, col, direction) {
  let bi = -1;
  let bv = 0;
  if (!col) return { row: -1, value: NaN };
  for (let i = 0; i < m.n; i++) {
    const v = col.values[i];
    if (!Number.isFinite(v) || col.states[i] !== 0 || m.success[i] === 0) continue;
    if (bi < 0 || (direction === 'max' ? v > bv : v < bv)) { bi = i; bv = v; }
  }
  return { row: bi, value: bv };
}

function renderSummary() {
  const m = state.model;
  const col = metricCol();
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < m.n; i++) { if (m.success[i] === 1) ok++; else if (m.success[i] === 0) failed++; }
  const unknown = m.n - ok - failed;
  const b = best(m, col, state.direction);
  const counts = new Uint32Array(m.levels.length);
  for (let i = 0; i < m.n; i++) counts[m.level[i]]++;
  const champ = m.lastChampion;
  const link = (row, text) => h('button', { class: 'link', type: 'button', onclick: () => select(row) }, text);
  const card = (id, title, big, sub, cls = '') => h('div', { class: `card ${cls}`, id }, h('h3', {}, title), h('div', { class: 'big' }, big), h('div', { class: 'sub' }, sub));
  $('summary').replaceChildren(...[
    card('sum-iterations', 'Iterations', fmtInt(m.n), `${fmtInt(m.lines)} lines · ${fmtBytes(m.size)}`),
    card('sum-success', 'Success rate', m.n ? `${((100 * ok) / m.n).toFixed(1)}%` : '—',
      `${fmtInt(ok)} succeeded · ${fmtInt(failed)} failed${unknown ? ` · ${fmtInt(unknown)} unknown` : ''}`),
    card('sum-best', `Best ${col ? col.name : 'metric'} (${state.direction === 'max' ? 'highest' : 'lowest'})`,
      b.row >= 0 ? fmtNum(b.value) : '—',
      b.row >= 0 ? link(b.row, `at iteration ${m.iteration[b.row]}`) : 'no finite value'),
    card('sum-champion', 'Current champion',
      champ >= 0 ? `#${m.iteration[champ]}` : 'none',
      champ >= 0 ? link(champ, col ? `${col.name} = ${fmtCell(col, champ) || '—'}` : 'open') : 'no champion_updated'),
    h('div', { class: 'card', id: 'sum-levels' }, h('h3', {}, 'Levels'),
      h('div', { class: 'chips' }, ...sortedLevels(m).map((id) => h('span', { class: 'chip', 'data-level': m.levels[id] }, `${m.levels[id]} `, h('b', {}, fmtInt(counts[id])))))),
    card('sum-warnings', 'Warnings', fmtInt(m.warningsTotal),
      m.warningsTotal ? (m.corrupt ? 'damage in the middle (see below)' : 'see below') : 'none', m.warningsTotal ? 'warn' : ''),
  ]);
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
      h('span', { class: 'kind' }, names[w.kind] || w.kind), ` line ${w.line}`,
      w.offset >= 0 ? ` (byte ${fmtInt(w.offset)})` : '', `: ${w.message}`))),
    m.warningsTotal > shown.length ? h('p', { class: 'muted' }, `… and ${fmtInt(m.warningsTotal - shown.length)} more`) : null,
  ].filter(Boolean));
}

function renderChart() {
  const m = state.model;
  const col = metricCol();
  const n = m.n;
  let order;
  if (m.monotonic) order = Uint32Array.from({ length: n }, (_, i) => i);
  else order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => m.iteration[a] - m.iteration[b] || a - b);
  const x = new Float64Array(n);
  const value = new Array(n);
  const bestLine = new Array(n);
  const champ = new Array(n);
  const failed = new Array(n);
  let lo = Infinity;
  let hi = -Infinity;
  if (col) {
    for (let i = 0; i < n; i++) {
      const v = col.values[i];
      if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
  }
  if (lo > hi) { lo = 0; hi = 1; }
  const floor = lo - (hi - lo || 1) * 0.05;
  const max = state.direction === 'max';
  let run = null;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    x[k] = m.iteration[i];
    const v = col ? col.values[i] : NaN;
    const fin = Number.isFinite(v) && col.states[i] === 0;
    value[k] = fin ? v : null;
    if (fin && m.success[i] !== 0 && (run === null || (max ? v > run : v < run))) run = v;
    bestLine[k] = run;
    champ[k] = m.champion[i] ? (fin ? v : floor) : null;
    failed[k] = m.success[i] === 0 ? floor : null;
  }
  drawChart($('chart'), { order, x, value, best: bestLine, champ, failed, label: col ? col.key : 'no numeric metric' }, (row) => select(row));
}

// ---------------------------------------------------------------- selection and detail
function select(row) {
  if (row < 0 || row >= state.model.n) return;
  state.selected = row;
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
    row = m.iteration.indexOf(n);
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
    const { csv } = await ask({ op: 'csv', rows }, { transfer: [rows.buffer] });
    const a = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: `${m.name.replace(/\.[^.]*$/, '')}.filtered.csv` });
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
  const f = e.target.files && e.target.files[0];
  if (f) openBlob(f, f.name, t0);
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
  const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
  if (f) openBlob(f, f.name, t0);
});
$('metric').addEventListener('change', (e) => { state.metric = e.target.value; renderSummary(); renderChart(); });
$('direction').addEventListener('change', (e) => { state.direction = e.target.value; renderSummary(); renderChart(); });
$('f-level').addEventListener('change', (e) => { state.filters.level = e.target.value; applyFilters(); });
$('f-success').addEventListener('change', (e) => { state.filters.success = e.target.value; applyFilters(); });
$('f-champ').addEventListener('change', (e) => { state.filters.champ = e.target.checked; applyFilters(); });
$('f-code').addEventListener('input', onCodeFilter);
$('f-add-range').addEventListener('click', () => addRange());
$('f-clear').addEventListener('click', () => {
  $('f-level').value = ''; $('f-success').value = ''; $('f-champ').checked = false; $('f-code').value = '';
  $('f-ranges').replaceChildren();
  state.filters = { level: '', success: '', champ: false, code: '', ranges: [] };
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

// ?src=<same-origin URL>: used by `ihist view` and scripts/serve-viewer.
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
      await openBlob(blob, decodeURIComponent(url.pathname.split('/').pop() || 'history.jsonl'), t0);
    } catch (err) {
      setStatus(`Could not open ${src}: ${err.message}`, true);
      document.body.dataset.loaded = 'error';
    }
  })();
}
Promise.all([wasmReady]).then(() => { document.body.dataset.ready = '1'; }, (err) => setStatus(`The viewer's wasm did not load: ${err.message}`, true));
