// End-to-end tests of the viewer in Debian's Chromium, driven by
// playwright-core (no browser download). Run by scripts/test-viewer after
// scripts/build-viewer:  node --test e2e/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startView } from './view-server.mjs';
import { writeHistory, records, libraryLine } from './make-history.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const IHIST = path.resolve(here, '../..', process.env.IHIST || 'target/debug/ihist');
const SAMPLE = path.resolve(here, '../../samples/history.jsonl');
const OUT = path.resolve(here, '../test-output');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

// What the sample holds, read independently of the viewer (NaN/Infinity
// tokens appear only as values in this file).
const sampleText = fs.readFileSync(SAMPLE, 'utf8');
const sample = sampleText.trim().split('\n').map((l) => JSON.parse(l.replace(/-?\bInfinity\b|\bNaN\b/g, 'null')));
const expected = (() => {
  const ok = sample.filter((r) => r.execution_result.success === true).length;
  const failed = sample.filter((r) => r.execution_result.success === false);
  let best = null;
  for (const r of sample) {
    const v = r.metrics.sharpe_ratio;
    if (r.execution_result.success && typeof v === 'number' && (!best || v > best.v)) best = { v, it: r.iteration_num };
  }
  const champions = sample.filter((r) => r.champion_updated);
  const levels = {};
  for (const r of sample) levels[r.classification_level] = (levels[r.classification_level] || 0) + 1;
  return { n: sample.length, ok, failed, best, champions, levels };
})();

let server;
let base;
let ctx;
let profile;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ih-e2e-'));

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  server = await startView(IHIST, [SAMPLE]);
  base = `${server.origin}/`;
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ih-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 1000 }, acceptDownloads: true,
  });
  // The first load with the token sets the cookie every later page sends.
  const first = await ctx.newPage();
  const res = await first.goto(`${base}?token=${server.token}`);
  assert.equal(res.status(), 200);
  await first.close();
});

after(async () => {
  await ctx?.close();
  server?.stop();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh page; every request it makes is recorded. */
async function open(query = '') {
  const page = await ctx.newPage();
  page.requests = [];
  page.errors = [];
  page.on('request', (r) => page.requests.push(r.url()));
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await page.goto(`${base}${query}`);
  await page.waitForSelector('body[data-ready="1"]');
  return page;
}

async function loaded(page) {
  await page.waitForFunction(() => document.body.dataset.loaded && document.body.dataset.loaded !== '');
  return page.evaluate(() => document.body.dataset.loaded);
}

async function byPicker(page, file) {
  await page.setInputFiles('#file', file);
  return loaded(page);
}

const text = (page, sel) => page.locator(sel).innerText();
const rowIters = (page) => page.$$eval('#rows .vrow', (rows) => rows
  .sort((a, b) => Number(a.dataset.pos) - Number(b.dataset.pos))
  .map((r) => Number(r.children[0].textContent)));
const rowCount = async (page) => Number(await page.getAttribute('#rowcount', 'data-count'));
/** Scrolls the table body and waits until the row at that end is rendered. */
async function scrollRows(page, where) {
  await page.locator('#rows').evaluate((b, w) => { b.scrollTop = w === 'bottom' ? b.scrollHeight : 0; }, where);
  await page.waitForFunction((w) => {
    const b = document.getElementById('rows');
    const pos = [...b.querySelectorAll('.vrow')].map((r) => Number(r.dataset.pos));
    const total = Number(document.getElementById('rowcount').dataset.count);
    return w === 'bottom' ? pos.includes(total - 1) : pos.includes(0);
  }, where);
}
async function settled(page) {
  await page.waitForFunction(() => !document.body.dataset.busy);
}

test('the sample opens by file picker: summary, table, chart, nothing leaves the page', async () => {
  const page = await open();
  assert.equal(await byPicker(page, SAMPLE), String(expected.n));
  assert.match(await text(page, '#sum-iterations'), new RegExp(`\\b${expected.n}\\b`));
  const rate = ((100 * expected.ok) / expected.n).toFixed(1);
  assert.match(await text(page, '#sum-success'), new RegExp(`${rate}%`));
  assert.match(await text(page, '#sum-success'), new RegExp(`${expected.failed.length} failed`));
  const bestText = await text(page, '#sum-best');
  assert.match(bestText, new RegExp(`${expected.best.v}`));
  assert.match(bestText, new RegExp(`at iteration ${expected.best.it}\\b`));
  const champ = expected.champions.at(-1);
  assert.match(await text(page, '#sum-champion'), new RegExp(`#${champ.iteration_num}\\b`));
  for (const [level, count] of Object.entries(expected.levels)) {
    assert.equal(await text(page, `#sum-levels [data-level="${level}"] b`), String(count));
  }
  assert.match(await text(page, '#sum-warnings'), /warnings\s+0\b/i);
  assert.equal(await page.isHidden('#warnings'), true);
  // Virtualised table: rows in file order, fewer in the DOM than in the file.
  const iters = await rowIters(page);
  assert.deepEqual(iters.slice(0, 5), [0, 1, 2, 3, 4]);
  assert.ok(iters.length < expected.n, `${iters.length} rows in the DOM`);
  assert.equal(await rowCount(page), expected.n);
  // A row's lazily decoded cells: timestamp and code.
  const first = page.locator('#rows .vrow[data-row="0"]');
  assert.match(await first.innerText(), new RegExp(sample[0].timestamp.replace(/\./g, '\\.')));
  assert.match(await first.innerText(), /momentum crossover, tuned → fast=6/);
  // The header follows the body when it scrolls sideways.
  await page.locator('#rows').evaluate((b) => { b.scrollLeft = 300; });
  await page.waitForFunction(() => document.querySelector('.vhead').style.transform === 'translateX(-300px)');
  const col = await page.$$eval('.vhead .cell', (cells) => cells.findIndex((c) => c.dataset.key === 'timestamp'));
  const headX = (await page.locator('.vhead .cell[data-key="timestamp"]').boundingBox()).x;
  const cellX = (await page.locator(`#rows .vrow[data-row="0"] .cell >> nth=${col}`).boundingBox()).x;
  assert.ok(Math.abs(headX - cellX) < 1, `${headX} vs ${cellX}`);
  // Chart: uPlot canvas with the four series.
  assert.equal(await page.locator('#chart canvas').count(), 1);
  const legend = await text(page, '#chart .u-legend');
  for (const s of ['metrics.sharpe_ratio', 'best so far', 'champion', 'failed']) assert.ok(legend.includes(s), legend);
  // Only the page's own files were requested.
  const origin = new URL(base).origin;
  const foreign = page.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a history dropped on the page opens', async () => {
  const page = await open();
  await page.evaluate(() => { document.body.dataset.loaded = ''; });
  const lines = sampleText.split('\n').slice(0, 10).join('\n') + '\n';
  const dt = await page.evaluateHandle((content) => {
    const d = new DataTransfer();
    d.items.add(new File([content], 'dropped.jsonl', { type: 'application/x-ndjson' }));
    return d;
  }, lines);
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  assert.equal(await loaded(page), '10');
  assert.match(await text(page, '#status'), /dropped\.jsonl: 10 iterations/);
  await page.close();
});

test('sort by a column, both directions; missing values last', async () => {
  const page = await open();
  await byPicker(page, SAMPLE);
  const sharpe = sample.map((r) => [r.iteration_num, r.metrics.sharpe_ratio]).filter(([, v]) => typeof v === 'number');
  const asc = [...sharpe].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([i]) => i);
  await page.click('.vhead .cell[data-key="metrics.sharpe_ratio"]');
  assert.deepEqual((await rowIters(page)).slice(0, 5), asc.slice(0, 5));
  assert.equal(await page.getAttribute('.vhead .cell[data-key="metrics.sharpe_ratio"]', 'aria-sort'), 'ascending');
  await page.click('.vhead .cell[data-key="metrics.sharpe_ratio"]');
  const desc = [...sharpe].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([i]) => i);
  assert.deepEqual((await rowIters(page)).slice(0, 5), desc.slice(0, 5));
  assert.equal((await rowIters(page))[0], expected.best.it);
  // The last rows are the iterations without a finite sharpe ratio (NaN).
  await scrollRows(page, 'bottom');
  const tail = await rowIters(page);
  const nan = expected.failed.map((r) => r.iteration_num);
  assert.ok(nan.includes(tail.at(-1)), `${tail.at(-1)} should be a failed iteration`);
  // Text columns sort by rank from the worker.
  await page.click('.vhead .cell[data-key="timestamp"]');
  await settled(page);
  const byTime = [...sample].sort((a, b) => (a.timestamp < b.timestamp ? -1 : 1)).map((r) => r.iteration_num);
  await scrollRows(page, 'top');
  assert.deepEqual((await rowIters(page)).slice(0, 5), byTime.slice(0, 5));
  await page.close();
});

test('filters: level, result, champions, code text, metric range', async () => {
  const page = await open();
  await byPicker(page, SAMPLE);
  await page.selectOption('#f-level', { label: 'LEVEL_3' });
  assert.equal(await rowCount(page), expected.levels.LEVEL_3);
  await page.selectOption('#f-level', { label: 'all' });
  await page.selectOption('#f-success', '0');
  assert.equal(await rowCount(page), expected.failed.length);
  assert.deepEqual(await rowIters(page), expected.failed.map((r) => r.iteration_num));
  await page.selectOption('#f-success', '');
  await page.check('#f-champ');
  assert.equal(await rowCount(page), expected.champions.length);
  await page.uncheck('#f-champ');
  await page.fill('#f-code', 'RSI crossover');
  await page.waitForFunction(() => !document.body.dataset.busy);
  const rsi = sample.filter((r) => r.strategy_code.toLowerCase().includes('rsi crossover'));
  assert.ok(rsi.length > 0);
  assert.equal(await rowCount(page), rsi.length);
  await page.fill('#f-code', '');
  await settled(page);
  await page.click('#f-add-range');
  await page.fill('#f-ranges .range input[aria-label=minimum]', '1.2');
  await page.fill('#f-ranges .range input[aria-label=maximum]', '1.5');
  const inRange = sample.filter((r) => typeof r.metrics.sharpe_ratio === 'number' && r.metrics.sharpe_ratio >= 1.2 && r.metrics.sharpe_ratio <= 1.5);
  assert.equal(await rowCount(page), inRange.length);
  await page.click('#f-clear');
  assert.equal(await rowCount(page), expected.n);
  await page.close();
});

test('detail panel: all fields, code, diff against the previous champion; go to iteration and champion', async () => {
  const page = await open();
  await byPicker(page, SAMPLE);
  const [prev, champ] = expected.champions.slice(-2);
  await page.fill('#goto', String(champ.iteration_num));
  await page.press('#goto', 'Enter');
  assert.match(await text(page, '#detail-title'), new RegExp(`Iteration ${champ.iteration_num}\\b`));
  assert.match(await text(page, '#detail-title'), /champion/);
  assert.equal(await page.textContent('#detail-code'), champ.strategy_code);
  const detail = await text(page, '#detail');
  for (const k of Object.keys(champ.metrics)) assert.ok(detail.includes(k), k);
  assert.ok(detail.includes('execution_time'));
  assert.match(await text(page, '#diff'), new RegExp(`previous champion, iteration ${prev.iteration_num}\\b`));
  const oldLines = new Set(prev.strategy_code.split('\n'));
  const newLines = new Set(champ.strategy_code.split('\n'));
  const added = champ.strategy_code.split('\n').filter((l) => !oldLines.has(l));
  const removed = prev.strategy_code.split('\n').filter((l) => !newLines.has(l));
  assert.deepEqual(await page.$$eval('#diff .add', (d) => d.map((x) => x.textContent)), added);
  assert.deepEqual(await page.$$eval('#diff .del', (d) => d.map((x) => x.textContent)), removed);
  assert.equal(await page.locator('#rows .vrow.selected').count(), 1);
  // Clicking a row opens it.
  const shown = await rowIters(page);
  const clicked = shown[Math.floor(shown.length / 2) + 1]; // in view (the ends are overscan)
  await page.click(`#rows .vrow[data-row="${clicked}"]`);
  assert.match(await text(page, '#detail-title'), new RegExp(`Iteration ${clicked}\\b`));
  // A failed iteration shows its error and NaN metrics.
  const failed = expected.failed[0];
  await page.fill('#goto', String(failed.iteration_num));
  await page.press('#goto', 'Enter');
  const fd = await text(page, '#detail');
  assert.match(fd, /failed/);
  assert.ok(fd.includes(failed.execution_result.error), fd);
  assert.match(fd, /sharpe_ratio\s+NaN/);
  await page.click('#goto-champion');
  assert.match(await text(page, '#detail-title'), new RegExp(`Iteration ${expected.champions.at(-1).iteration_num}\\b`));
  // The first champion has nothing to compare with.
  await page.fill('#goto', String(expected.champions[0].iteration_num));
  await page.press('#goto', 'Enter');
  assert.match(await text(page, '#diff'), /No earlier champion/);
  await page.fill('#goto', '100000');
  await page.press('#goto', 'Enter');
  assert.match(await text(page, '#status'), /no iteration 100000/);
  await page.close();
});

test('CSV export holds exactly the filtered rows', async () => {
  const page = await open();
  await byPicker(page, SAMPLE);
  await page.selectOption('#f-success', '0');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  assert.equal(download.suggestedFilename(), 'history.filtered.csv');
  const file = path.join(OUT, 'filtered.csv');
  await download.saveAs(file);
  const csv = fs.readFileSync(file, 'utf8');
  const header = csv.split('\n')[0].split(',');
  assert.deepEqual(header.slice(0, 5), ['iteration_num', 'timestamp', 'classification_level', 'success', 'champion_updated']);
  assert.equal(header.at(-1), 'strategy_code');
  // Records start with their iteration number; multi-line code is quoted.
  const starts = csv.split('\n').slice(1).filter((l) => /^\d+,2025-/.test(l));
  assert.deepEqual(starts.map((l) => Number(l.split(',')[0])), expected.failed.map((r) => r.iteration_num));
  for (const l of starts) {
    const cells = l.split(',');
    assert.equal(cells[3], 'false');
    assert.equal(cells[header.indexOf('metrics.sharpe_ratio')], 'NaN');
    assert.equal(cells[header.indexOf('metrics.max_drawdown')], '-Infinity');
  }
  assert.ok(csv.includes('"def strategy(data):\n'), 'code is quoted with its newlines');
  await page.close();
});

test('a bad line is a warning with its line number; the rest loads; a torn tail is reported', async () => {
  const lines = sampleText.split('\n').slice(0, 8);
  lines[2] = lines[2].slice(0, 60) + '}';
  const bad = path.join(tmp, 'bad-line.jsonl');
  fs.writeFileSync(bad, lines.join('\n') + '\n');
  const page = await open();
  assert.equal(await byPicker(page, bad), '7');
  assert.match(await text(page, '#sum-warnings'), /warnings\s+1\b/i);
  const w = page.locator('#warnings li[data-line="3"]');
  assert.equal(await w.count(), 1);
  assert.match(await w.innerText(), /bad line line 3 \(byte \d[\d,]*\): not valid JSON/);
  assert.match(await text(page, '#warnings'), /repair\(\)/);
  assert.deepEqual((await rowIters(page)), [0, 1, 3, 4, 5, 6, 7]);

  const torn = path.join(tmp, 'torn.jsonl');
  fs.writeFileSync(torn, sampleText.slice(0, sampleText.length - 25));
  assert.equal(await byPicker(page, torn), String(expected.n - 1));
  const t = page.locator(`#warnings li[data-kind="torn-tail"][data-line="${expected.n}"]`);
  assert.equal(await t.count(), 1);
  assert.match(await t.innerText(), /torn tail line \d+ .*unterminated line.*ignored/);
  await page.close();
});

test('?src= loads a same-origin history and refuses another origin', async () => {
  const page = await open('?src=history.jsonl');
  assert.equal(await loaded(page), String(expected.n));
  await page.close();
  const other = await open('?src=http://example.invalid/h.jsonl');
  assert.equal(await loaded(other), 'error');
  assert.match(await text(other, '#status'), /own origin/);
  assert.ok(!other.requests.some((u) => new URL(u).hostname === 'example.invalid'));
  await other.close();
});

test('20,000 records: library format with checksums, virtualised rows, scroll, go to iteration', async () => {
  const big = path.join(tmp, 'library-20k.jsonl');
  writeHistory(big, 20000, 'library');
  const page = await open();
  assert.equal(await byPicker(page, big), '20000');
  assert.ok((await page.locator('#rows .vrow').count()) < 80);
  await scrollRows(page, 'bottom');
  assert.equal((await rowIters(page)).at(-1), 19999);
  assert.ok((await page.locator('#rows .vrow').count()) < 80);
  await page.fill('#goto', '12345');
  await page.press('#goto', 'Enter');
  assert.match(await text(page, '#detail-title'), /Iteration 12345\b.*checksum ✓/s);
  assert.ok((await rowIters(page)).includes(12345));
  // Same generator, same record: the page decoded our own line format.
  const rec = [...records(12346)][12345];
  assert.equal(await page.textContent('#detail-code'), rec.strategy_code);
  assert.ok(libraryLine(rec).endsWith('"}'));
  await page.screenshot({ path: path.join(OUT, 'viewer-20k.png') });
  await page.close();
});

test('screenshot of the loaded sample', async () => {
  const page = await open();
  await byPicker(page, SAMPLE);
  await page.fill('#goto', String(expected.champions.at(-1).iteration_num));
  await page.press('#goto', 'Enter');
  await page.waitForTimeout(200);
  const shot = path.join(OUT, 'viewer.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(fs.statSync(shot).size > 20000);
  await page.locator('#diff').scrollIntoViewIfNeeded();
  await page.locator('#detail').screenshot({ path: path.join(OUT, 'detail.png') });
  await page.close();
});

test('several files picked at once are compared as runs', async () => {
  const a = path.join(tmp, 'first.jsonl');
  const b = path.join(tmp, 'second.jsonl');
  fs.writeFileSync(a, sampleText);
  fs.writeFileSync(b, sampleText.split('\n').slice(0, 12).join('\n') + '\n');
  const page = await open();
  await page.setInputFiles('#file', [a, b]);
  assert.equal(await loaded(page), String(expected.n + 12));
  assert.equal(await page.getAttribute('#run-0 .count', 'data-count'), String(expected.n));
  assert.equal(await page.getAttribute('#run-1 .count', 'data-count'), '12');
  assert.match(await text(page, '#status'), /2 histories: 72 iterations/);
  // The detail of a row of the second run decodes that run's bytes.
  await page.selectOption('#f-run', { label: 'second.jsonl' });
  assert.equal(await rowCount(page), 12);
  await page.click('#rows .vrow >> nth=0');
  assert.match(await text(page, '#detail-title'), /Iteration 0\b.*second\.jsonl/s);
  assert.deepEqual(page.errors, []);
  await page.close();
});
