// Benchmark: following a large history through `ihist view`. Opens the page
// on a history of N records (library format), then a writer saves R records
// at 10 per second; prints the time to the first view, the delay from save
// to visible (p50, p95) and the share of the page's main thread used while
// records arrive. Writes test-output/bench-live.json.
//   IHIST=target/debug/ihist node e2e/bench-live.mjs [--records N] [--saves R]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { writeHistory } from './make-history.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../..');
const OUT = path.resolve(here, '../test-output');
const IHIST = path.resolve(ROOT, process.env.IHIST || 'target/debug/ihist');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const N = opt('--records', 100000);
const SAVES = opt('--saves', 100);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

fs.mkdirSync(OUT, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ih-bench-live-'));
const file = path.join(tmp, 'history.jsonl');
const source = path.join(OUT, `bench-${N}-library.jsonl`);
if (!fs.existsSync(source)) writeHistory(source, N, 'library');
fs.copyFileSync(source, file);

const server = spawn(IHIST, ['view', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((r) => readline.createInterface({ input: server.stdout }).once('line', r));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForFunction((n) => Number(document.body.dataset.loaded) === n, N, { timeout: 120000 });
  const firstView = Date.now() - t0;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const busy = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
  // The writer continues the same generator after the last record.
  const writer = spawn(process.execPath, [path.join(here, 'writer.mjs'), '--ihist', IHIST, '--history', file,
    '--records', String(SAVES), '--rate', '10', '--start', String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const saved = new Map();
  readline.createInterface({ input: writer.stdout }).on('line', (l) => { const [i, t] = l.split(' ').map(Number); saved.set(i, t); });
  const b0 = await busy();
  const w0 = Date.now();
  const code = await new Promise((r) => writer.once('exit', r));
  if (code !== 0) throw new Error('the writer failed');
  await page.waitForFunction((n) => Number(document.body.dataset.loaded) === n, N + SAVES, { timeout: 30000 });
  const share = (await busy() - b0) / ((Date.now() - w0) / 1000);
  const arrivals = await page.evaluate(() => window.__ih.arrivals);
  const delays = [...saved].map(([i, t]) => arrivals.find((a) => a.counts[0] > i).t - t).map((d) => Math.max(0, d));
  const q = (p) => { const s = [...delays].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
  const med = (xs) => { const v = [...xs].sort((a, b) => a - b); return Math.round(v[Math.floor(v.length / 2)]); };
  const updates = arrivals.filter((a) => a.counts[0] > N);
  const renderMs = Object.fromEntries(['table', 'summary', 'chart', 'all'].map((k) => [k, med(updates.map((a) => a.ms[k]))]));
  const report = { updates: updates.length, render_median_ms: renderMs, records: N, bytes: fs.statSync(source).size, saves: SAVES, rate_per_s: 10, first_view_ms: firstView,
    delay_ms: { p50: q(0.5), p95: q(0.95), max: Math.max(...delays) }, main_thread_share: share, loadavg: os.loadavg().map((x) => x.toFixed(1)) };
  fs.writeFileSync(path.join(OUT, 'bench-live.json'), JSON.stringify(report, null, 2));
  console.log(`following a ${N}-record history (${(report.bytes / 1e6).toFixed(1)} MB) through ihist view: first view ${firstView} ms;`
    + ` ${SAVES} saves at 10/s: delay from save to visible p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${report.delay_ms.max} ms;`
    + ` ${updates.length} updates, median redraw ${renderMs.all} ms (chart ${renderMs.chart}, table ${renderMs.table}, summary ${renderMs.summary});`
    + ` page main thread busy ${(100 * share).toFixed(0)}% while records arrive (load average ${report.loadavg.join(' ')})`);
} finally {
  await browser.close();
  server.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
}
