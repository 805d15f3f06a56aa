// Live follow (?live=1): following the histories `ihist view` serves while
// they grow, with pause/resume and retry on disconnect.
// One request at a time: GET /follow?runs=GEN.OFFSET,...&wait=1 answers as
// soon as a history grew (only the bytes after OFFSET) or was replaced
// (all of it, with a new GEN), or after ~25 s with nothing. The bytes go to
// the worker, which continues each run's column pass where it stopped.
import { $, fmtBytes, fmtInt, nextFrame, setStatus } from './dom.js';
import { state, live } from './state.js';
import { ask } from './worker-client.js';
import { wasmReady, emptyModel, removeRun, appendBytes, applyLoaded, totals, globalMask } from './model.js';
import { table } from './grid.js';
import { textRanks, reselect } from './filters.js';
import { showDetail } from './detail.js';
import { show, refresh } from './view.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const utf8 = new TextDecoder();

function setLive(stateName, text) {
  document.body.dataset.live = stateName;
  $('live').hidden = false;
  $('live-state').textContent = text;
  $('live-toggle').textContent = live.paused ? 'Resume' : 'Pause';
}

export function stopFollowing() {
  if (!live.on) return;
  live.on = false;
  live.session++;
  if (live.ctrl) live.ctrl.abort();
  if (live.resume) live.resume();
  $('live').hidden = true;
  delete document.body.dataset.live;
}

function liveText() {
  const m = state.model;
  const names = m.runs.length === 1 ? m.runs[0].name : `${m.runs.length} histories`;
  const torn = m.runs.filter((r) => r.torn).map((r) => r.name);
  const when = live.updated ? `, updated ${new Date(live.updated).toLocaleTimeString()}` : '';
  return (live.paused ? `Paused: not following ${names}` : `Live: following ${names}${when}`)
    + (torn.length ? ` — ${torn.join(', ')} ends with an unfinished write (torn tail: a write in progress, or a writer that crashed)` : '');
}

/** Applies one /follow answer; returns whether rows or state changed. */
async function applyFollow(buf) {
  const m = state.model;
  const nl = buf.indexOf(10);
  if (nl < 0) throw new Error('the server sent no follow header');
  const head = JSON.parse(utf8.decode(buf.subarray(0, nl)));
  let at = nl + 1;
  let changed = false;
  let reloaded = false;
  for (let r = 0; r < m.runs.length; r++) {
    const part = head.runs[r];
    const run = m.runs[r];
    const chunk = buf.subarray(at, at + part.length);
    at += part.length;
    // A run that changed says whether it is readable; an unchanged one does not.
    if ('error' in part && (part.error || null) !== run.error) { run.error = part.error || null; changed = true; }
    if (part.reset) {
      await ask({ op: 'live-reset', run: r });
      if (run.n) { removeRun(m, r); reloaded = true; }
      run.generation = part.generation;
      run.size = 0;
      run.offset = 0;
      run.bytes = new Uint8Array(0);
    }
    if (part.length || part.reset) {
      appendBytes(run, chunk);
      const copy = chunk.slice();
      const res = await ask({ op: 'live-push', run: r, chunk: copy }, { transfer: [copy.buffer] });
      if (res.from === 0 && run.n) reloaded = true;
      applyLoaded(m, r, res);
      run.offset = part.from + part.length;
      changed = true;
    }
  }
  if (reloaded) { state.cache = new Map(); reselect(); }
  return changed;
}

/** After rows arrived: the views, keeping filters, sort, selection, scroll. */
async function liveRender() {
  const m = state.model;
  totals(m);
  state.ranks = new Map();
  if (state.filters.code && m.loader === 'wasm') {
    try { state.codeMask = globalMask(m, (await ask({ op: 'search', needle: state.filters.code })).masks); } catch { /* kept */ }
  }
  if ((state.sort.key === 'timestamp' || state.sort.key === 'strategy_code')) {
    try { state.ranks.set(state.sort.key, await textRanks(state.sort.key)); } catch { /* unsorted */ }
  }
  const first = !state.shape;
  const t0 = performance.now();
  const phases = first ? show(m) : refresh();
  table.refresh();
  if (state.selected >= 0 && $('detail-title') === null) showDetail(state.selected);
  document.body.dataset.loaded = String(m.n);
  setStatus(`${m.name}: ${fmtInt(m.n)} iterations, ${fmtBytes(m.size)}`);
  live.updated = Date.now();
  setLive(live.paused ? 'paused' : 'on', liveText());
  await nextFrame();
  window.__ih.arrivals.push({ t: Date.now(), counts: m.runs.map((r) => r.n), ms: { ...phases, all: performance.now() - t0 } });
  if (window.__ih.arrivals.length > 5000) window.__ih.arrivals.splice(0, 1000);
}

export async function follow() {
  const session = ++live.session;
  live.on = true;
  live.paused = false;
  document.body.dataset.loaded = '';
  setStatus('Connecting…');
  let names;
  for (;;) {
    try {
      const res = await fetch('/runs', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status} for /runs`);
      names = (await res.json()).runs.map((r) => r.name);
      break;
    } catch (err) {
      setStatus(`Cannot reach ihist view: ${err.message}; retrying…`, true);
      await sleep(2000);
      if (session !== live.session) return;
    }
  }
  await wasmReady;
  await ask({ op: 'close', from: 0 });
  const m = emptyModel(names);
  m.name = names.length === 1 ? names[0] : `${names.length} histories`;
  state.model = m;
  state.shape = '';
  setLive('on', liveText());
  let wait = 0;
  let failures = 0;
  while (session === live.session) {
    if (live.paused) {
      setLive('paused', liveText());
      await new Promise((r) => { live.resume = r; });
      live.resume = null;
      if (session !== live.session) return;
      setLive('on', liveText());
    }
    const q = m.runs.map((r) => `${r.generation}.${r.offset}${r.error ? '!' : ''}`).join(',');
    live.ctrl = new AbortController();
    let buf;
    try {
      const res = await fetch(`/follow?runs=${q}&wait=${wait}`, { cache: 'no-store', signal: live.ctrl.signal });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      buf = new Uint8Array(await res.arrayBuffer());
      failures = 0;
    } catch (err) {
      if (session !== live.session) return;
      if (live.paused) continue;
      failures++;
      setLive('error', `Disconnected from ihist view (${err.message}); retrying…`);
      await sleep(Math.min(10000, 500 * 2 ** failures));
      continue;
    } finally {
      live.ctrl = null;
    }
    if (session !== live.session) return;
    try {
      const changed = await applyFollow(buf);
      if (changed || wait === 0) {
        const t = performance.now();
        await liveRender();
        // A large history costs tens of ms to redraw: leave the page at
        // least as long idle before the next update (updates coalesce).
        const ms = performance.now() - t;
        if (ms > 50) await sleep(Math.min(500, ms));
      }
    } catch (err) {
      setStatus(`Could not follow: ${err.message}`, true);
      document.body.dataset.loaded = 'error';
      await sleep(2000);
    }
    wait = 1;
  }
}

/** The Pause/Resume button. */
export function togglePause() {
  if (!live.on) return;
  live.paused = !live.paused;
  if (live.paused) {
    if (live.ctrl) live.ctrl.abort();
    setLive('paused', liveText());
  } else if (live.resume) {
    live.resume();
  }
}
