// Selecting an iteration and the detail panel: every field of its record,
// its code and the line diff (diff.js) against the previous champion of its
// run, prev/next navigation, and going to an iteration by number.
import { $, fmtValue, h, setStatus } from './dom.js';
import { state } from './state.js';
import { table, full } from './grid.js';
import { diffLines, foldContext } from './diff.js';

export function select(row) {
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

export function showDetail(i) {
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

export function goToIteration(n) {
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
