// CSV export of the filtered rows, in the table's order: the worker writes
// the CSV from the history bytes (segments of consecutive rows of one run);
// the page offers it as a download.
import { $, fmtInt, h, setStatus } from './dom.js';
import { state } from './state.js';
import { ask } from './worker-client.js';

export async function exportCsv() {
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
