// Tests of the installed npm package (scripts/test-packages installs the
// `npm pack` tarball into a temp directory and runs these there).
// Environment: IHIST_SAMPLE (a history written by the original Python
// module), IHIST_BIN (the `ihist` binary).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ih from 'iteration-history';

const { openHistory, parsePython } = ih;
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

test('a history written by the original module reads exactly', { skip: !process.env.IHIST_SAMPLE }, async () => {
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

test('a native writer (ihist) honours the Node writer\'s lease', { skip: !process.env.IHIST_BIN }, async () => {
  const file = path.join(tmp(), 'h.jsonl');
  const h = await openHistory(file);
  h.save(rec(0));
  const out = spawnSync(process.env.IHIST_BIN, ['save', file, JSON.stringify(rec(1))], { encoding: 'utf8' });
  assert.equal(out.status, 5, out.stderr);
  h.close();
  const ok = spawnSync(process.env.IHIST_BIN, ['save', file, JSON.stringify(rec(1))], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
});
