// The loading worker: reads the file chunk by chunk into the wasm column
// pass, so the page never freezes; then answers searches, sort ranks and
// CSV exports over the same bytes. Protocol (all messages carry `id`):
//   page → worker: {op:'load', blob} | {op:'search', needle} | {op:'rank', field} | {op:'csv', rows}
//   worker → page: {op:'progress', loaded, total} | {op:'loaded', ...} | {op:'result', ...} | {op:'error', code, message}
import init, { Loader } from './pkg/web_viewer.js';

const ready = init();
let history = null;
const PROGRESS_STEP = 8 << 20;

async function load(id, blob) {
  const t0 = performance.now();
  if (history) {
    history.free();
    history = null;
  }
  const loader = new Loader(blob.size);
  try {
    const reader = blob.stream().getReader();
    let loaded = 0;
    let next = PROGRESS_STEP;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      loader.push(value);
      loaded += value.length;
      if (loaded >= next) {
        postMessage({ op: 'progress', id, loaded, total: blob.size });
        next += PROGRESS_STEP;
      }
    }
  } catch (err) {
    loader.free();
    throw err;
  }
  history = loader.finish();
  const cols = history.columns();
  const transfer = [cols.iteration, cols.success, cols.champion, cols.checksummed, cols.level,
    cols.lineStart, cols.lineEnd, cols.lineNo].map((a) => a.buffer);
  for (const c of cols.numeric) transfer.push(c.values.buffer, c.states.buffer);
  postMessage({
    op: 'loaded', id, cols,
    warnings: history.warnings(),
    warningsTotal: history.warningsTotal,
    lines: history.lines,
    slowRows: history.slowRows,
    corrupt: history.corrupt,
    ms: performance.now() - t0,
  }, transfer);
}

onmessage = async (e) => {
  const { op, id } = e.data;
  try {
    await ready;
    if (op === 'load') return await load(id, e.data.blob);
    if (!history) throw new Error('no history is loaded');
    if (op === 'search') {
      const mask = history.searchCode(e.data.needle);
      postMessage({ op: 'result', id, mask }, [mask.buffer]);
    } else if (op === 'rank') {
      const rank = history.rank(e.data.field);
      postMessage({ op: 'result', id, rank }, [rank.buffer]);
    } else if (op === 'csv') {
      postMessage({ op: 'result', id, csv: history.csv(e.data.rows) });
    } else {
      throw new Error(`unknown operation ${op}`);
    }
  } catch (err) {
    postMessage({ op: 'error', id, code: op, message: String((err && err.message) || err) });
  }
};
