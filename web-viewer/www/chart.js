// The metric chart (uPlot, served from vendor/): the chosen metric over
// iteration_num, the best-so-far line, champion iterations marked, and
// failed iterations as red marks along the bottom. With several runs, each
// run's points and best-so-far line have the run's colour.
/* global uPlot */

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
export function drawChart(root, d, onPick) {
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
