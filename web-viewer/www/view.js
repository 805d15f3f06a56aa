// Putting a model on the page: show() starts a newly opened model afresh
// (filters, sort, selection); refresh() redraws every view from the model
// while keeping them (after a load, a run toggled, or live rows arriving).
import { $, h } from './dom.js';
import { state } from './state.js';
import { derive, sortedLevels } from './model.js';
import { table, columnsFor } from './grid.js';
import { applyFilters } from './filters.js';
import { renderRuns, renderSummary, renderWarnings } from './summary.js';
import { renderChart } from './chart.js';

/** Shows a newly opened model: filters, sort and selection start afresh. */
export function show(m) {
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

/**
 * Redraws everything from the model, keeping filters, sort, selection and
 * the table's scroll position (used after a load and after each update).
 */
export function refresh() {
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
