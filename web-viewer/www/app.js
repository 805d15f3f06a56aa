// The viewer page's entry: opens histories (picker, drop, ?src=<same-origin
// URL>, or ?live=1 to follow the histories `ihist view` serves while they
// grow) and wires the page's controls to the modules that own each part:
//   dom.js             element helpers, formatting, the status line
//   worker-client.js   requests to the loading worker (worker.js, wasm column pass)
//   state.js           view state (filters, sort, selection) and window.__ih for tests
//   model.js           the runs' rows as typed-array columns
//   load.js            opening files and URLs, load timings
//   view.js            show / refresh every view from the model
//   grid.js, table.js  the virtualised iterations table
//   filters.js         filter bar, sorting, the filtered view
//   summary.js         summary cards, per-run entries, warnings
//   chart.js           the metric chart (uPlot)
//   detail.js, diff.js selection, the detail panel, code diff
//   export.js          CSV export of the filtered rows
//   live.js            live follow of `ihist view`
// Several histories ("runs") are compared on one page: one colour per run.
import { $, setStatus } from './dom.js';
import { state } from './state.js';
import { wasmReady } from './model.js';
import { openBlobs } from './load.js';
import { renderRuns, renderSummary } from './summary.js';
import { renderChart } from './chart.js';
import { applyFilters, onCodeFilter, addRange } from './filters.js';
import { select, goToIteration } from './detail.js';
import { exportCsv } from './export.js';
import { follow, togglePause } from './live.js';

const params = new URLSearchParams(location.search);

$('file').addEventListener('change', (e) => {
  const t0 = performance.now();
  const files = [...(e.target.files || [])];
  if (files.length) openBlobs(files.map((f) => ({ blob: f, name: f.name })), t0);
  e.target.value = '';
});
const drop = $('drop');
drop.addEventListener('click', () => $('file').click());
drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') $('file').click(); });
for (const type of ['dragenter', 'dragover']) {
  document.addEventListener(type, (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
}
document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) document.body.classList.remove('dragging'); });
document.addEventListener('drop', (e) => {
  const t0 = performance.now();
  e.preventDefault();
  document.body.classList.remove('dragging');
  const files = [...((e.dataTransfer && e.dataTransfer.files) || [])];
  if (files.length) openBlobs(files.map((f) => ({ blob: f, name: f.name })), t0);
});
$('metric').addEventListener('change', (e) => { state.metric = e.target.value; renderRuns(); renderSummary(); renderChart(); });
$('direction').addEventListener('change', (e) => { state.direction = e.target.value; renderRuns(); renderSummary(); renderChart(); });
$('f-level').addEventListener('change', (e) => { state.filters.level = e.target.value; applyFilters(); });
$('f-run').addEventListener('change', (e) => { state.filters.run = e.target.value; applyFilters(); });
$('f-success').addEventListener('change', (e) => { state.filters.success = e.target.value; applyFilters(); });
$('f-champ').addEventListener('change', (e) => { state.filters.champ = e.target.checked; applyFilters(); });
$('f-code').addEventListener('input', onCodeFilter);
$('f-add-range').addEventListener('click', () => addRange());
$('f-clear').addEventListener('click', () => {
  $('f-level').value = ''; $('f-run').value = ''; $('f-success').value = ''; $('f-champ').checked = false; $('f-code').value = '';
  $('f-ranges').replaceChildren();
  state.filters = { run: '', level: '', success: '', champ: false, code: '', ranges: [] };
  state.codeMask = null;
  applyFilters();
});
$('goto').addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target.value !== '') goToIteration(Number(e.target.value)); });
$('goto').addEventListener('change', (e) => { if (e.target.value !== '') goToIteration(Number(e.target.value)); });
$('goto-champion').addEventListener('click', () => {
  if (state.model.lastChampion >= 0) select(state.model.lastChampion);
  else setStatus('No iteration has champion_updated = true.', true);
});
$('export').addEventListener('click', exportCsv);
$('live-toggle').addEventListener('click', togglePause);

// ?live=1: follow what `ihist view` serves.
if (params.get('live')) follow();

// ?src=<same-origin URL>: e.g. ?src=/history.jsonl, the snapshot `ihist view` serves.
const src = params.get('src');
if (src) {
  (async () => {
    const t0 = performance.now();
    let url;
    try {
      url = new URL(src, location.href);
      if (url.origin !== location.origin) throw new Error(`only a history from this page's own origin (${location.origin}) is loaded, not ${url.origin}`);
      setStatus(`Fetching ${url.pathname}…`);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} for ${url.pathname}`);
      const blob = await res.blob();
      await openBlobs([{ blob, name: decodeURIComponent(url.pathname.split('/').pop() || 'history.jsonl') }], t0);
    } catch (err) {
      setStatus(`Could not open ${src}: ${err.message}`, true);
      document.body.dataset.loaded = 'error';
    }
  })();
}
Promise.all([wasmReady]).then(() => { document.body.dataset.ready = '1'; }, (err) => setStatus(`The viewer's wasm did not load: ${err.message}`, true));
