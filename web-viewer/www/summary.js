// The summary above the chart: the summary cards (iterations, success
// rate, best value of the chosen metric, current champion, levels,
// warnings), one entry per run when several are compared (colour legend,
// show/hide toggle, its own counts) and the list of warnings.
import { $, fmtBytes, fmtCell, fmtInt, fmtNum, h } from './dom.js';
import { state, live } from './state.js';
import { sortedLevels } from './model.js';
import { select } from './detail.js';
import { refresh } from './view.js';

export function metricCol() {
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

export function renderSummary() {
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
export function renderRuns() {
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

export function renderWarnings() {
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
