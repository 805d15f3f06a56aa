// Tests of the installed npm package (scripts/test-packages installs the
// `npm pack` tarball into a temp directory and runs these there).
// Environment: IHIST_SAMPLE (a history written by the original Python
// module), IHIST_BIN (the `ihist` binary).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as ih from 'iteration-history';

const { openHistory, parsePython } = ih;
// Under CI=true a test never skips: a missing input fails it instead.
const needs = (name) => (process.env[name] || process.env.CI === 'true' ? false : `set ${name} to run it (scripts/test-packages does)`);
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ihist-node-'));

function rec(i, extra = {}) {
  return {
    iteration_num: i,
    strategy_code: `def strategy(data):\n    return data.close.rolling(${i + 2}).mean()  # \u00e9 \u2192\n`,
    execution_result: { success: i % 5 !== 0, execution_time: 0.5 + i / 100 },
    metrics: {
      sharpe_ratio: i % 5 === 0 ? NaN : 1 + i / 10,
      total_return: i % 5 === 0 ? Infinity : 0.1,
      max_drawdown: i % 5 === 0 ? -Infinity : -0.2,
      trades: 10 * i,
      regime: { name: 'bull', probs: [0.5, 0.5], worst: -Infinity },
      flag: true,
    },
    classification_level: `LEVEL_${i % 4}`,
    timestamp: `2025-03-01T00:00:${String(i).padStart(2, '0')}.123456`,
    champion_updated: i % 7 === 0,
    ...extra,
  };
}

test('the original API round-trips NaN, infinities and extra fields', async () => {
  const file = path.join(tmp(), 'runs', 'history.jsonl');
  const h = await openHistory(file);
  assert.equal(h.getLastIterationNum(), undefined);
  assert.equal(h.count(), 0);
  const report = h.openReport();
  assert.ok(report.created && report.writable && report.dirSync, JSON.stringify(report));
  assert.equal(report.lock, 'host', 'the OS lock, taken through flock(1), no lease');
  assert.ok(!fs.existsSync(`${file}.lease`) && fs.existsSync(`${file}.lock`));
  for (let i = 0; i < 6; i++) h.save(rec(i, { seed: 40 + i }));
  h.saveBatch([rec(6), rec(7)]);
  assert.equal(h.getLastIterationNum(), 7);
  assert.equal(h.count(), 8);
  const recent = h.loadRecent(3);
  assert.deepEqual(recent.map((r) => r.iteration_num), [5, 6, 7]);
  assert.deepEqual(recent[0], rec(5, { seed: 45 })); // NaN equals NaN here
  assert.deepEqual(h.loadRecent(), h.loadRecent(5));
  assert.deepEqual(h.getAll().slice(0, 6), [0, 1, 2, 3, 4, 5].map((i) => rec(i, { seed: 40 + i })));
  assert.deepEqual([...h.iter(3)].map((r) => r.iteration_num), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(h.verify().health, 'healthy');
  h.clear();
  assert.equal(h.count(), 0);
  h.close();
  h.close(); // idempotent
  assert.throws(() => h.count(), ih.HistoryClosed);
});

test('histories in different directories are open at once (a preopen per history)', async () => {
  const [a, b] = [tmp(), tmp()];
  const ha = await openHistory(path.join(a, 'h.jsonl'));
  const hb = await openHistory(path.join(b, 'h.jsonl'));
  ha.save(rec(1));
  hb.save(rec(2));
  hb.save(rec(3));
  assert.equal(ha.count(), 1);
  assert.equal(hb.count(), 2);
  ha.close();
  hb.close();
  assert.equal(fs.readFileSync(path.join(a, 'h.jsonl'), 'utf8').split('\n').length, 2);
  assert.equal(fs.readFileSync(path.join(b, 'h.jsonl'), 'utf8').split('\n').length, 3);
});

test('a history written by the original module reads exactly', { skip: needs('IHIST_SAMPLE') }, async () => {
  const file = path.join(tmp(), 'history.jsonl');
  fs.copyFileSync(process.env.IHIST_SAMPLE, file);
  const expected = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(parsePython);
  const r = await openHistory(file, { readOnly: true });
  assert.deepEqual(r.getAll(), expected);
  r.close();
  const h = await openHistory(file);
  assert.equal(h.getLastIterationNum(), 59);
  h.save(rec(60));
  assert.equal(h.count(), 61);
  h.close();
});

test('every error is a HistoryError subclass with its details', async () => {
  const dir = tmp();
  const file = path.join(dir, 'h.jsonl');
  const h = await openHistory(file);
  h.save(rec(0));
  await assert.rejects(openHistory(file), (e) => e instanceof ih.HistoryLocked && e.tag === 'locked' && /h\.jsonl/.test(e.message));
  assert.throws(() => h.save({ ...rec(1), timestamp: '' }), (e) => e instanceof ih.InvalidRecord && e.field === 'timestamp');
  assert.throws(() => h.saveBatch([rec(1), { ...rec(2), classification_level: '' }]),
    (e) => e instanceof ih.InvalidRecord && e.field === 'classification_level' && e.index === 1);
  assert.throws(() => h.save(42), (e) => e instanceof ih.InvalidRecord);
  assert.equal(h.count(), 1, 'nothing of a failed save is written');
  assert.throws(() => h.saveIfLast(5, [rec(6)]), (e) => e instanceof ih.Conflict && e.actual === 0);
  assert.equal(h.saveIfLast(0, [rec(1)]), true);
  assert.equal(h.saveIfLast(0, [rec(1)]), false);
  const r = await openHistory(file, { readOnly: true });
  assert.throws(() => r.save(rec(2)), ih.ReadOnlyHistory);
  r.close();
  h.close();
  await assert.rejects(openHistory(path.join(dir, 'a:b.jsonl')), ih.InvalidName);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const offset = Buffer.byteLength(lines[0]) + 1;
  lines[1] = '{"iteration_num": 1, "broken';
  lines.splice(2, 0, JSON.stringify(rec(2)));
  fs.writeFileSync(file, lines.join('\n'));
  await assert.rejects(openHistory(file), (e) => e instanceof ih.CorruptHistory && e.line === 2 && e.offset === offset);
  const fixed = await openHistory(file, { repairOnOpen: true });
  assert.equal(fixed.count(), 2);
  fixed.close();
  for (const tag of ['locked', 'invalid-name', 'disk-full', 'permission-denied', 'sync-failed', 'read-only',
    'changed-externally', 'invalid-cursor', 'lease-lost', 'io']) {
    const e = ih.errorFromWit({ tag, val: `${tag} happened` });
    assert.ok(e instanceof ih.HistoryError && e.tag === tag && e.message === `${tag} happened`, tag);
    assert.notEqual(e.constructor, ih.HistoryError);
  }
});

const WRITER = `
  import { openHistory } from 'iteration-history';
  const h = await openHistory(process.argv[1]);
  h.save(${JSON.stringify({ iteration_num: 0, strategy_code: 'x', execution_result: {}, metrics: {},
    classification_level: 'L', timestamp: 't', champion_updated: false })});
  console.log('saved', h.openReport().lock);
  setInterval(() => {}, 1000);
`;

function startWriter(file, env = {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, file],
    { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));
  return { child, line };
}

test('restart right after kill -9 of a Node writer opens at once (the kernel dropped the OS lock)', async () => {
  const file = path.join(tmp(), 'h.jsonl');
  const { child, line } = startWriter(file);
  assert.equal(await line, 'saved host');
  await assert.rejects(openHistory(file), ih.HistoryLocked);
  child.kill('SIGKILL');
  await once(child, 'exit');
  const t = Date.now();
  // The kernel drops the flock with the dead process's open file: at once, not after the 30 s of a lease.
  const h = await openHistory(file, { lockTimeoutMs: 5000 });
  assert.ok(Date.now() - t < 2000, `took ${Date.now() - t} ms`);
  assert.equal(h.count(), 1);
  h.close();
});

test('without flock(1) a Node writer holds the lease instead', async () => {
  const file = path.join(tmp(), 'h.jsonl');
  const { child, line } = startWriter(file, { IHIST_NO_FLOCK: '1' });
  assert.equal(await line, 'saved lease');
  assert.ok(fs.existsSync(`${file}.lease`));
  await assert.rejects(openHistory(file), (e) => e instanceof ih.HistoryLocked && /lease/.test(e.message));
  child.kill('SIGKILL');
  await once(child, 'exit');
});

test('Node and native (ihist) writers exclude each other', { skip: needs('IHIST_BIN') }, async () => {
  const ihist = process.env.IHIST_BIN;
  const file = path.join(tmp(), 'h.jsonl');
  const h = await openHistory(file);
  h.save(rec(0));
  const out = spawnSync(ihist, ['save', file, JSON.stringify(rec(1))], { encoding: 'utf8' });
  assert.equal(out.status, 5, out.stderr);
  h.close(); // closes the locked file: the lock is free at once (ihist waits up to 5 s all the same)
  const ok = spawnSync(ihist, ['--lock-timeout', '5', 'save', file, JSON.stringify(rec(1))], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  // A native writer (the demo loop) holds the lock; killed, its successor opens at once.
  const demo = spawn(ihist, ['-q', 'demo', file, '-n', '1000000'], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      const r = await openHistory(file, { readOnly: true });
      const n = r.count();
      r.close();
      if (n > 4) break;
      assert.ok(i < 600, 'the demo loop did not write');
      await new Promise((res) => setTimeout(res, 50));
    }
    await assert.rejects(openHistory(file), ih.HistoryLocked);
    demo.kill('SIGKILL');
    await once(demo, 'exit');
    const h2 = await openHistory(file);
    const n = h2.count();
    h2.save(rec(10 ** 9));
    assert.equal(h2.count(), n + 1);
    h2.close();
  } finally {
    demo.kill('SIGKILL');
  }
});

test('Node and Python package writers exclude each other', { skip: needs('IHIST_PYTHON') }, async () => {
  const file = path.join(tmp(), 'h.jsonl');
  const h = await openHistory(file);
  h.save(rec(0));
  const tryPython = () => spawnSync(process.env.IHIST_PYTHON, ['-c', `
import sys
from iteration_history import IterationHistory, HistoryLocked
try:
    IterationHistory(sys.argv[1], lock_timeout_ms=3000).close()
    print("opened")
except HistoryLocked:
    print("locked")
`, file], { encoding: 'utf8' });
  const held = spawnSync(process.env.IHIST_PYTHON, ['-c', `
import sys
from iteration_history import IterationHistory, HistoryLocked
try:
    IterationHistory(sys.argv[1])
    print("opened")
except HistoryLocked:
    print("locked")
`, file], { encoding: 'utf8' });
  assert.equal(held.stdout.trim(), 'locked', held.stderr);
  h.close();
  assert.equal(tryPython().stdout.trim(), 'opened');
  // A Python writer holds it: Node is kept out; killed, Node opens at once.
  const py = spawn(process.env.IHIST_PYTHON, ['-c', `
import sys, time
from iteration_history import IterationHistory
h = IterationHistory(sys.argv[1])
print("open", flush=True)
time.sleep(60)
`, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => py.stdout.once('data', resolve));
    await assert.rejects(openHistory(file), ih.HistoryLocked);
    py.kill('SIGKILL');
    await once(py, 'exit');
    const again = await openHistory(file);
    assert.equal(again.count(), 1);
    again.close();
  } finally {
    py.kill('SIGKILL');
  }
});

// The package's own wasi:filesystem host (src/fs-host.js), called directly.
const host = await import(new URL('../node_modules/iteration-history/src/fs-host.js', import.meta.url).href)
  .catch(() => import('../src/fs-host.js'));

test('the filesystem host reaches only plain names in its preopened directory', () => {
  const dir = tmp();
  const outside = tmp();
  fs.writeFileSync(path.join(outside, 'secret'), 'x');
  fs.symlinkSync(path.join(outside, 'secret'), path.join(dir, 'link'));
  const [[root, guest]] = host.createSyncFilesystem(dir).preopens.getDirectories();
  assert.equal(guest, '.');
  const rw = { read: true, write: true };
  for (const name of ['..', '../x', `../${path.basename(outside)}/secret`, '/etc/passwd', 'a/b', 'a\\b', '', 'a\0b']) {
    assert.throws(() => root.openAt({}, name, { create: true }, rw), (e) => e === 'not-permitted', name);
    assert.throws(() => root.statAt({}, name), (e) => e === 'not-permitted', name);
  }
  // A symlink is never followed: not by default, and the guest cannot ask
  // (symlink-follow is refused; the escapes are in sandbox.test.mjs).
  assert.throws(() => root.openAt({}, 'link', {}, { read: true }), (e) => e === 'loop');
  assert.equal(root.statAt({}, 'link').type, 'symbolic-link');
  assert.throws(() => root.statAt({ symlinkFollow: true }, 'link'), (e) => e === 'not-permitted');
  assert.throws(() => root.openAt({ symlinkFollow: true }, 'link', {}, { read: true }), (e) => e === 'not-permitted');
  assert.deepEqual(fs.readdirSync(outside), ['secret']);
  assert.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'x');
});

test('the filesystem host does what the component asks, with WASI error codes', () => {
  const dir = tmp();
  const { preopens, types } = host.createSyncFilesystem(dir);
  const [[root]] = preopens.getDirectories();
  const rw = { read: true, write: true };
  const f = root.openAt({}, 'h.jsonl', { create: true, exclusive: true }, rw);
  assert.ok(f instanceof types.Descriptor);
  assert.throws(() => root.openAt({}, 'h.jsonl', { create: true, exclusive: true }, rw), (e) => e === 'exist');
  assert.throws(() => root.openAt({}, 'none', {}, rw), (e) => e === 'no-entry');
  assert.equal(f.write(new TextEncoder().encode('hello\nworld\n'), 0n), 12n);
  assert.equal(f.write(new TextEncoder().encode('W'), 6n), 1n);
  f.syncData();
  f.sync();
  const st = f.stat();
  assert.equal(st.type, 'regular-file');
  assert.equal(st.size, 12n);
  assert.equal(typeof st.dataModificationTimestamp.seconds, 'bigint');
  const [bytes, eof] = f.read(100n, 6n);
  assert.equal(new TextDecoder().decode(bytes), 'World\n');
  assert.equal(eof, false);
  assert.deepEqual(f.read(10n, 12n), [new Uint8Array(0), true]);
  f.setSize(5n);
  assert.equal(root.statAt({}, 'h.jsonl').size, 5n);
  assert.throws(() => f.readDirectory(), (e) => e === 'not-directory');
  f[Symbol.dispose]();
  assert.throws(() => f.stat(), (e) => e === 'bad-descriptor');
  // The directory: synced through itself and through `.` opened from it.
  root.sync();
  const dot = root.openAt({}, '.', { directory: true }, { read: true });
  dot.sync();
  assert.throws(() => dot.write(new Uint8Array(1), 0n), (e) => e === 'is-directory');
  root.renameAt('h.jsonl', dot, 'g.jsonl');
  const list = dot.readDirectory();
  assert.deepEqual(list.readDirectoryEntry(), { type: 'regular-file', name: 'g.jsonl' });
  assert.equal(list.readDirectoryEntry(), undefined);
  root.unlinkFileAt('g.jsonl');
  assert.throws(() => root.unlinkFileAt('g.jsonl'), (e) => e === 'no-entry');
  assert.deepEqual(fs.readdirSync(dir), []);
  dot[Symbol.dispose]();
});
