// Benchmark: time from "file chosen" (the input's change event) to the first
// table and chart on screen, for the wasm worker loader and the plain-JS
// baseline (split('\n') + JSON.parse of every line; e2e/baseline.mjs,
// installed into the page before its scripts run, since the shipped page has
// no baseline) in the same page and the same browser run. Writes
// test-output/bench.json and prints a table.
//   node e2e/bench.mjs [--records N] [--runs R]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startView } from './view-server.mjs';
import { writeHistory } from './make-history.mjs';
import { installPlainLoader } from './baseline.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(here, '../test-output');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const N = opt('--records', 100000);
const RUNS = opt('--runs', 5);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

fs.mkdirSync(OUT, { recursive: true });
const files = {};
for (const format of ['python', 'library']) {
  const f = path.join(OUT, `bench-${N}-${format}.jsonl`);
  if (!fs.existsSync(f)) writeHistory(f, N, format);
  files[format] = f;
}

// Served by `ihist view` (its first history is irrelevant here: the files
// are picked); every page URL carries the token.
const server = await startView(path.resolve(here, '../..', process.env.IHIST || 'target/debug/ihist'),
  [path.resolve(here, '../../samples/history.jsonl')]);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ih-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 1400, height: 1000 },
});

async function once(loader, file) {
  const page = await ctx.newPage();
  if (loader === 'js') await page.addInitScript(installPlainLoader);
  await page.goto(`${server.origin}/?token=${server.token}`);
  await page.waitForSelector('body[data-ready="1"]');
  await page.setInputFiles('#file', file);
  await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: 120000 });
  const r = await page.evaluate(() => ({ ...window.__ih.lastLoad, loaded: document.body.dataset.loaded,
    summary: document.getElementById('summary').innerText }));
  await page.close();
  if (r.loaded === 'error') throw new Error(`${loader} failed on ${file}`);
  if (r.loader !== loader) throw new Error(`asked for the ${loader} loader, the page used ${r.loader}`);
  return r;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const results = {};
for (const [format, file] of Object.entries(files)) {
  const t = { wasm: [], js: [], parse: { wasm: [], js: [] }, phases: { wasm: [], js: [] } };
  let summaries = {};
  await once('wasm', file); // warm-up (compile caches, file cache)
  await once('js', file);
  for (let k = 0; k < RUNS; k++) {
    for (const loader of k % 2 ? ['js', 'wasm'] : ['wasm', 'js']) {
      const r = await once(loader, file);
      t[loader].push(r.ms);
      t.parse[loader].push(r.parseMs);
      t.phases[loader].push(r.phases);
      summaries[loader] = r;
    }
  }
  if (summaries.wasm.rows !== summaries.js.rows) throw new Error(`row counts differ: ${summaries.wasm.rows} vs ${summaries.js.rows}`);
  // The same summary, apart from the loader-specific parts (warnings wording).
  const strip = (s) => s.split('\n').slice(0, 8).join('\n');
  if (strip(summaries.wasm.summary) !== strip(summaries.js.summary)) throw new Error(`summaries differ:\n${summaries.wasm.summary}\n---\n${summaries.js.summary}`);
  const size = fs.statSync(file).size;
  results[format] = {
    file: path.basename(file), bytes: size, records: summaries.wasm.rows, runs: RUNS,
    wasm_ms: { median: median(t.wasm), min: Math.min(...t.wasm), all: t.wasm.map(Math.round) },
    js_ms: { median: median(t.js), min: Math.min(...t.js), all: t.js.map(Math.round) },
    load_phase_ms: { wasm_worker: median(t.parse.wasm), js_parse: median(t.parse.js) },
    // data: file chosen → columns on the page; show: table, summary, chart built; frame: until the next frame.
    phases_median_ms: Object.fromEntries(['wasm', 'js'].map((l) => [l, Object.fromEntries(
      Object.keys(t.phases[l][0]).map((k) => [k, Math.round(median(t.phases[l].map((p) => p[k])))]))])),
    ratio_median: median(t.wasm) / median(t.js),
  };
}
await ctx.close();
server.stop();
fs.rmSync(profile, { recursive: true, force: true });
const cpu = os.cpus()[0]?.model || 'unknown';
const version = execFileSync(process.env.CHROMIUM || '/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim().split('\n').pop();
const report = { chromium: version, cpu, cores: os.cpus().length, loadavg: os.loadavg().map((x) => x.toFixed(1)), results };
fs.writeFileSync(path.join(OUT, 'bench.json'), JSON.stringify(report, null, 2));
console.log(`file chosen → first table and chart, ${N} records, median of ${RUNS} (load average ${report.loadavg.join(' ')})`);
for (const [format, r] of Object.entries(results)) {
  console.log(`  ${format.padEnd(8)} ${(r.bytes / 1e6).toFixed(1)} MB  wasm worker ${Math.round(r.wasm_ms.median)} ms (min ${Math.round(r.wasm_ms.min)})`
    + `  plain JS ${Math.round(r.js_ms.median)} ms (min ${Math.round(r.js_ms.min)})  ratio ${r.ratio_median.toFixed(2)}`
    + `  [load phase: worker ${Math.round(r.load_phase_ms.wasm_worker)} ms, JS parse ${Math.round(r.load_phase_ms.js_parse)} ms]`);
  console.log(`           phases (median ms) wasm ${JSON.stringify(r.phases_median_ms.wasm)}  js ${JSON.stringify(r.phases_median_ms.js)}`);
}
