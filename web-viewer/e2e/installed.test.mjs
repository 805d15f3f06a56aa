// The installed `ihist` serves the viewer with no source tree: scripts/
// test-viewer installs it (`cargo install --path cli --root TMP`) and gives
// IHIST a wrapper that runs it in a private mount namespace where the clone
// is hidden under an empty tmpfs, from an empty directory. The page must
// load in Chromium from the files embedded in the binary.
//   IHIST=... HISTORY=... node --test e2e/installed.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startView } from './view-server.mjs';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

test('the installed ihist serves the whole viewer from the binary, no source tree reachable', async () => {
  assert.ok(process.env.IHIST && process.env.HISTORY, 'IHIST and HISTORY must be set (scripts/test-viewer)');
  const server = await startView(process.env.IHIST, [process.env.HISTORY]);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
  try {
    const page = await browser.newPage();
    const errors = [];
    const statuses = new Map();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('response', (r) => statuses.set(new URL(r.url()).pathname, r.status()));
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.loaded === '60' && document.body.dataset.ready === '1', null, { timeout: 30000 });
    assert.deepEqual(errors, []);
    for (const p of ['/', '/app.js', '/worker.js', '/style.css', '/vendor/uPlot.iife.min.js']) {
      assert.equal(statuses.get(p), 200, `${p}: ${statuses.get(p)}`);
    }
    const pkg = [...statuses].filter(([p]) => p.startsWith('/pkg/'));
    assert.ok(pkg.some(([p]) => p.endsWith('.wasm')) && pkg.some(([p]) => p.endsWith('.js')), JSON.stringify(pkg));
    for (const [p, status] of statuses) assert.equal(status, 200, p);
    console.log(`# installed ihist: the page loaded ${await page.evaluate(() => document.body.dataset.loaded)} records from ${server.origin}`);
  } finally {
    await browser.close();
    server.stop();
  }
});
