// Filtering and sorting the rows: the filter bar (run, level, result,
// champions, code search in the worker, metric ranges), the sort keys of
// every column (text columns ranked by the worker), and the filtered,
// sorted view the table shows.
import { $, fmtInt, h, setStatus } from './dom.js';
import { state } from './state.js';
import { ask } from './worker-client.js';
import { globalMask, sortedLevels } from './model.js';
import { table } from './grid.js';

export function applyFilters() {
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
export function reselect() {
  const m = state.model;
  const k = state.selectedKey;
  if (!k) return;
  let row = -1;
  if (m.runs[k.run] && m.runs[k.run].generation === k.generation) {
    for (let i = 0; i < m.n; i++) if (m.run[i] === k.run && m.local[i] === k.local) { row = i; break; }
  }
  if (row !== state.selected) { state.selected = row; state.cache = new Map(); }
}

export async function sortBy(key) {
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

export async function textRanks(field) {
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
export function onCodeFilter() {
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

export function addRange(key = state.metric, min = '', max = '') {
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
