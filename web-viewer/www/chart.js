// The metric chart (uPlot, served from vendor/): the chosen metric over
// iteration_num, the best-so-far line, champion iterations marked, and
// failed iterations as red marks along the bottom.
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
 * @param {HTMLElement} root
 * @param {{order: Uint32Array, x: Float64Array, value: (number|null)[], best: (number|null)[],
 *          champ: (number|null)[], failed: (number|null)[], label: string}} d
 * @param {(row: number) => void} onPick called with a record index
 */
export function drawChart(root, d, onPick) {
  if (root.plot) root.plot.destroy();
  if (root.resizer) root.resizer.disconnect();
  root.innerHTML = '';
  const width = Math.max(320, root.clientWidth || root.parentElement.clientWidth - 16);
  const points = (size, fill, stroke) => ({ show: true, size, fill, stroke, width: 1 });
  const opts = {
    width,
    height: 240,
    scales: { x: { time: false } },
    cursor: { drag: { x: true, y: false }, points: { show: false } },
    legend: { live: true },
    axes: [{ label: 'iteration_num', size: 40 }, { label: d.label, size: 60 }],
    series: [
      { label: 'iteration' },
      { label: d.label, stroke: COLORS.value, fill: COLORS.value, paths: dots(3), points: { show: false } },
      { label: 'best so far', stroke: COLORS.best, width: 2, spanGaps: true, points: { show: false } },
      { label: 'champion', stroke: COLORS.champ, paths: () => null, points: points(9, COLORS.champ, '#7a5c00') },
      { label: 'failed', stroke: COLORS.failed, fill: COLORS.failed, paths: dots(4), points: { show: false }, value: (u, v) => (v == null ? '—' : 'failed') },
    ],
  };
  const plot = new uPlot(opts, [d.x, d.value, d.best, d.champ, d.failed], root);
  plot.over.addEventListener('click', () => {
    const idx = plot.cursor.idx;
    if (idx != null && plot.select.width < 2) onPick(d.order[idx]);
  });
  root.resizer = new ResizeObserver(() => {
    const w = Math.max(320, root.clientWidth);
    if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height: 240 });
  });
  root.resizer.observe(root);
  root.plot = plot;
  return plot;
}
