// The iterations table on the page: the virtualised table (table.js) of
// the filtered rows, its columns for the current model, and the decoding of
// the rows it shows (each record decoded once, on demand, then cached).
import { VTable } from './table.js';
import { $, fmtCell, h } from './dom.js';
import { state } from './state.js';
import { select } from './detail.js';
import { sortBy } from './filters.js';

const ROW_HEIGHT = 26;

export const table = new VTable($('table'), {
  rowHeight: ROW_HEIGHT,
  onSelect: (row) => select(row),
  onSort: (key) => sortBy(key),
});
table.rowClass = (row) => (state.model.success[row] === 0 ? 'failed' : '');

/** The full record of row `i`, decoded once (the table asks for visible rows only). */
export function full(i) {
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

export function columnsFor(m) {
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
