// Opening histories (files from the picker or a drop, or the history app.js
// fetched for ?src=): each file is one run, scanned by the worker's wasm column pass, then
// shown. Records the load's timings in window.__ih.lastLoad.
//
// A loader installed before the page starts (globalThis.__ihLoader =
// { name, label, load(blob) → model }) replaces the worker for one file:
// the benchmark (web-viewer/e2e/bench.mjs) installs its plain-JS baseline
// this way, to measure it in the same page; the page ships no such loader.
import { fmtBytes, fmtInt, nextFrame, setStatus } from './dom.js';
import { ask } from './worker-client.js';
import { wasmReady, emptyModel, newRun, applyLoaded, totals } from './model.js';
import { show } from './view.js';
import { stopFollowing } from './live.js';

const altLoader = globalThis.__ihLoader || null;

const MAX_RUNS = 64;

/** Opens one or more files (picker, drop, ?src=): one run each. */
export async function openBlobs(files, t0 = performance.now()) {
  if (files.length > MAX_RUNS) {
    setStatus(`${files.length} files chosen: the viewer compares at most ${MAX_RUNS} histories on one page`, true);
    return;
  }
  stopFollowing();
  document.body.dataset.loaded = '';
  const name = files.length === 1 ? files[0].name : `${files.length} histories`;
  const total = files.reduce((s, f) => s + f.blob.size, 0);
  setStatus(`Reading ${name} (${fmtBytes(total)})…`);
  try {
    let model;
    if (altLoader) {
      model = await altLoader.load(files[0].blob);
      model.runs = [{ ...newRun(files[0].name, 0), n: model.n, size: files[0].blob.size }];
      model.run = new Uint8Array(model.n);
      model.size = model.size || files[0].blob.size;
    } else {
      await ask({ op: 'close', from: 0 });
      model = emptyModel(files.map((f) => f.name));
      let parseMs = 0;
      for (let r = 0; r < files.length; r++) {
        const { blob } = files[r];
        const bytesRead = blob.arrayBuffer(); // for decoding shown rows, read while the worker scans
        const res = await ask({ op: 'load', run: r, blob }, {
          onProgress: (m) => setStatus(`Reading ${files[r].name}: ${Math.round((100 * m.loaded) / m.total)}%`),
        });
        await wasmReady;
        const run = model.runs[r];
        run.buf = new Uint8Array(await bytesRead);
        run.size = run.buf.length;
        run.bytes = run.buf;
        applyLoaded(model, r, res);
        parseMs += res.ms;
      }
      model.parseMs = parseMs;
      totals(model);
    }
    model.name = name;
    const tData = performance.now();
    const phases = show(model);
    const tShown = performance.now();
    await nextFrame();
    const ms = performance.now() - t0;
    window.__ih.lastLoad = {
      loader: altLoader ? altLoader.name : 'wasm', ms, parseMs: model.parseMs, rows: model.n, name,
      phases: { data: tData - t0, ...phases, show: tShown - tData, frame: performance.now() - tShown },
    };
    setStatus(`${name}: ${fmtInt(model.n)} iterations, ${fmtBytes(total)}, shown in ${Math.round(ms)} ms`
      + (altLoader ? ` (${altLoader.label})` : ''));
    document.body.dataset.loaded = String(model.n);
  } catch (err) {
    setStatus(`Could not open ${name}: ${err.message}`, true);
    document.body.dataset.loaded = 'error';
  }
}
