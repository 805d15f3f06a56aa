// The metric chart (uPlot, served from vendor/): the chosen metric over
// iteration_num, the best-so-far line, champion iterations marked, and
// failed iterations as red marks along the bottom. With several runs, each
// run's points and best-so-far line have the run's colour.
/* global uPlot */
import { $ } from './dom.js';
import { state } from './state.js';
import { select } from './detail.js';
import { metricCol } from './summary.js';

/**
 * A path builder that draws each point as a small square, once per pixel:
 * 100k points cost one fill of at most (width × height) squares instead of
 * 100k arcs.
 */
function dots(size) {
  return (u, seriesIdx, idx0, idx1) => {
    const xs = u.data[0];
    const ys = u.data[seriesIdx];
    const path = new Path2D();
    const seen = new Set();
    const half = size / 2;
    for (let i = idx0; i <= idx1; i++) {
      const y = ys[i];
      if (y == null) continue;
      const cx = Math.round(u.valToPos(xs[i], 'x', true));
      const cy = Math.round(u.valToPos(y, 'y', true));
      const key = cx * 65536 + cy;
      if (seen.has(key)) continue;
      seen.add(key);
      path.rect(cx - half, cy - half, size, size);
    }
    return { fill: path };
  };
}

const COLORS = { value: '#6d8fd6', best: '#1a8a4a', champ: '#e0a800', failed: '#d23c3c' };

/**
 * Draws the chart, or updates it in place when only the data changed (a
 * followed history grew): the zoom is kept then.
 * @param {HTMLElement} root
 * @param {{order: Uint32Array, x: Float64Array, label: string,
 *          series: {label: string, color: string|null, value: (number|null)[], best: (number|null)[]}[],
 *          champ: (number|null)[], failed: (number|null)[]}} d
 * @param {(row: number) => void} onPick called with a record index
 */
function drawChart(root, d, onPick) {
  const shape = `${d.label}|${d.series.map((s) => `${s.label}:${s.color}`).join('|')}`;
  const data = [d.x, ...d.series.flatMap((s) => [s.value, s.best]), d.champ, d.failed];
  root.order = d.order;
  if (root.plot && root.shape === shape) {
    const zoomed = root.zoomed;
    const xs = zoomed ? { min: root.plot.scales.x.min, max: root.plot.scales.x.max } : null;
    root.plot.setData(data, !zoomed);
    if (zoomed) root.plot.setScale('x', xs);
    return root.plot;
  }
  if (root.plot) root.plot.destroy();
  if (root.resizer) root.resizer.disconnect();
  root.innerHTML = '';
  root.shape = shape;
  root.zoomed = false;
  const width = Math.max(320, root.clientWidth || root.parentElement.clientWidth - 16);
  const points = (size, fill, stroke) => ({ show: true, size, fill, stroke, width: 1 });
  const several = d.series.length > 1 || d.series.some((s) => s.color);
  const opts = {
    width,
    height: 240,
    scales: { x: { time: false } },
    cursor: { drag: { x: true, y: false }, points: { show: false } },
    legend: { live: true },
    axes: [{ label: 'iteration_num', size: 40 }, { label: d.label, size: 60 }],
    hooks: {
      setSelect: [(u) => { if (u.select.width > 1) root.zoomed = true; }],
    },
    series: [
      { label: 'iteration' },
      ...d.series.flatMap((s) => [
        { label: s.label, stroke: s.color || COLORS.value, fill: s.color || COLORS.value, paths: dots(3), points: { show: false } },
        { label: several ? `${s.label} best` : 'best so far', stroke: s.color || COLORS.best, width: 2, spanGaps: true, points: { show: false } },
      ]),
      { label: 'champion', stroke: COLORS.champ, paths: () => null, points: points(9, COLORS.champ, '#7a5c00') },
      { label: 'failed', stroke: COLORS.failed, fill: COLORS.failed, paths: dots(4), points: { show: false }, value: (u, v) => (v == null ? '—' : 'failed') },
    ],
  };
  const plot = new uPlot(opts, data, root);
  plot.over.addEventListener('click', () => {
    const idx = plot.cursor.idx;
    if (idx != null && plot.select.width < 2) onPick(root.order[idx]);
  });
  plot.over.addEventListener('dblclick', () => { root.zoomed = false; });
  root.resizer = new ResizeObserver(() => {
    const w = Math.max(320, root.clientWidth);
    if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height: 240 });
  });
  root.resizer.observe(root);
  root.plot = plot;
  return plot;
}

/** Draws the chosen metric of the runs shown (after any change to them). */
export function renderChart() {
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
