// The loading worker: holds one history per run (index in the page's run
// list) and answers searches, sort ranks and CSV exports over their bytes.
// A file is read chunk by chunk into the wasm column pass (Loader), so the
// page never freezes; a followed history grows with the bytes the server
// sends (Live), and each push answers the rows of complete commits not sent
// yet. Protocol (all messages carry `id`):
//   page → worker: {op:'load', run, blob} | {op:'live-reset', run} | {op:'live-push', run, chunk}
//                  | {op:'close', from} | {op:'search', needle} | {op:'rank', run, field}
//                  | {op:'csv', segments: [{run, rows}], keys, names}
//   worker → page: {op:'progress', loaded, total} | {op:'loaded', ...} | {op:'result', ...} | {op:'error', code, message}
import init, { Loader, Live } from './pkg/iteration_history_viewer.js';

const ready = init();
const runs = [];
const PROGRESS_STEP = 8 << 20;

function colsTransfer(cols) {
  const transfer = [cols.iteration, cols.success, cols.champion, cols.checksummed, cols.level,
    cols.lineStart, cols.lineEnd, cols.lineNo].map((a) => a.buffer);
  for (const c of cols.numeric) transfer.push(c.values.buffer, c.states.buffer);
  return transfer;
}

function drop(run) {
  if (runs[run]) runs[run].free();
  runs[run] = null;
}

async function load(id, run, blob) {
  const t0 = performance.now();
  drop(run);
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
  const history = loader.finish();
  runs[run] = history;
  const cols = history.columns();
  postMessage({
    op: 'loaded', id, cols, from: 0, rows: cols.length,
    warnings: history.warnings(),
    warningsTotal: history.warningsTotal,
    lines: history.lines,
    slowRows: history.slowRows,
    corrupt: history.corrupt,
    torn: false,
    pending: 0,
    ms: performance.now() - t0,
  }, colsTransfer(cols));
}

function livePush(id, run, chunk) {
  if (!runs[run]) runs[run] = new Live();
  if (chunk && chunk.length) runs[run].push(chunk);
  const u = runs[run].update();
  postMessage({ op: 'loaded', id, ...u, warnings: u.warnings }, colsTransfer(u.cols));
}

onmessage = async (e) => {
  const { op, id } = e.data;
  try {
    await ready;
    if (op === 'load') return await load(id, e.data.run, e.data.blob);
    if (op === 'live-reset') { drop(e.data.run); runs[e.data.run] = new Live(); return postMessage({ op: 'result', id }); }
    if (op === 'live-push') return livePush(id, e.data.run, e.data.chunk);
    if (op === 'close') {
      for (let r = e.data.from; r < runs.length; r++) drop(r);
      runs.length = Math.min(runs.length, e.data.from);
      return postMessage({ op: 'result', id });
    }
    if (op === 'search') {
      const masks = runs.map((h) => (h ? h.searchCode(e.data.needle) : new Uint8Array(0)));
      postMessage({ op: 'result', id, masks }, masks.map((m) => m.buffer));
    } else if (op === 'rank') {
      const h = runs[e.data.run];
      if (!h) throw new Error('no history is loaded');
      const rank = h.rank(e.data.field);
      postMessage({ op: 'result', id, rank }, [rank.buffer]);
    } else if (op === 'csv') {
      const { segments, keys, names } = e.data;
      const parts = [];
      if (!names) {
        // One history: its own columns, no run column.
        const h = runs[segments.length ? segments[0].run : 0];
        if (!h) throw new Error('no history is loaded');
        const rows = segments.length ? segments[0].rows : new Uint32Array(0);
        parts.push(h.csv(rows));
      } else {
        if (!segments.length) parts.push(runs.find(Boolean).csvWith(new Uint32Array(0), keys, '', true));
        segments.forEach((s, k) => parts.push(runs[s.run].csvWith(s.rows, keys, names[s.run], k === 0)));
      }
      postMessage({ op: 'result', id, csv: parts.join('') });
    } else {
      throw new Error(`unknown operation ${op}`);
    }
  } catch (err) {
    postMessage({ op: 'error', id, code: op, message: String((err && err.message) || err) });
  }
};
