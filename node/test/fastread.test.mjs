// The fast read path (one JSON text per page: getAll, iter, loadRecent,
// columns) against the typed path (typedPage: the component's `get-all`,
// every field lifted by jco): every record read both ways must be identical
// (NaN, ±Infinity, BigInt metrics, key order), on the bundled sample, on
// seeded generated records written by the package and by a CPython-style
// writer, and damage must be reported the same way. Run by
// scripts/test-packages against the installed tarball.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openHistory, CorruptHistory, stringifyPython } from 'iteration-history';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ihist-fast-'));
const SAMPLE = process.env.IHIST_SAMPLE;

function typedAll(h, limit = 7) {
  const out = [];
  let cursor = 0;
  while (cursor !== undefined) {
    const p = h.typedPage(cursor, limit);
    out.push(...p.records);
    cursor = p.nextCursor;
  }
  return out;
}

/** Values with their types and key order made explicit (NaN equals NaN; 1n differs from 1). */
function canon(v) {
  if (typeof v === 'bigint') return ['bigint', v.toString()];
  if (typeof v === 'number') return ['number', Object.is(v, -0) ? '-0' : String(v)];
  if (Array.isArray(v)) return ['array', v.map(canon)];
  if (v && typeof v === 'object') return ['object', Object.entries(v).map(([k, x]) => [k, canon(x)])];
  return [typeof v, v];
}

function assertSameBothWays(h) {
  const typed = typedAll(h).map(canon);
  const fast = h.getAll();
  assert.deepEqual(fast.map(canon), typed);
  assert.deepEqual([...h.iter(3)].map(canon), typed);
  for (const n of [1, 2, 5, typed.length + 3]) {
    assert.deepEqual(h.loadRecent(n).map(canon), typed.slice(Math.max(0, typed.length - n)));
  }
  return fast;
}

test('the sample reads the same both ways', async () => {
  assert.ok(SAMPLE, 'IHIST_SAMPLE is not set (scripts/test-packages sets it)');
  const file = path.join(tmp(), 'sample.jsonl');
  fs.copyFileSync(SAMPLE, file);
  const h = await openHistory(file, { readOnly: true });
  const got = assertSameBothWays(h);
  assert.ok(got.length > 0);
  h.close();
});

test('values stay exact both ways: NaN, infinities, 64-bit metrics, escapes, key order', async () => {
  const dir = tmp();
  const d = {
    iteration_num: 2 ** 53 - 1,
    strategy_code: 'caf\u00e9 \u6536\u76e4\u50f9 \u{1f600} "q" \\ \n\t\u0001',
    execution_result: { success: false, t: 1.5, nested: [NaN, -Infinity, { z: 3 }] },
    metrics: { sharpe_ratio: NaN, inf: Infinity, ninf: -Infinity, big: 2n ** 53n + 1n, neg: -(2n ** 53n) - 1n,
      max: 2n ** 63n - 1n, one: 1, s: 'x', n: null, l: [1, 2.5] },
    classification_level: 'LEVEL_3',
    timestamp: '2025-01-01T00:00:00',
    champion_updated: true,
    zeta: { b: 1, a: 2 },
    alpha: '\u00e9',
  };
  for (const how of ['library', 'cpython']) {
    const file = path.join(dir, `${how}.jsonl`);
    if (how === 'cpython') {
      fs.writeFileSync(file, `${stringifyPython(d)}\n${stringifyPython({ ...d, iteration_num: 1 })}\n`);
    } else {
      const w = await openHistory(file, { durability: 'none' });
      w.save(d);
      w.save({ ...d, iteration_num: 1 });
      w.close();
    }
    const h = await openHistory(file, { readOnly: true });
    const [got] = assertSameBothWays(h);
    assert.deepEqual(canon(got), canon(d), how);
    assert.deepEqual(Object.keys(got).slice(7), ['zeta', 'alpha']);
    assert.equal(typeof got.metrics.big, 'bigint');
    h.close();
  }
});

// splitmix32: a seeded generator, so a failure names its seed.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
}

function generator(seed) {
  const r = rng(seed);
  const int = (n) => Math.floor(r() * n);
  const pick = (xs) => xs[int(xs.length)];
  const chars = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '\u0001', '\u007f', '\u00e9', '\u2192', '\u6536', '\u{1f600}', '/', '.'];
  const str = (max = 8) => Array.from({ length: int(max + 1) }, () => pick(chars)).join('');
  // Floats below 2^53 in magnitude: an integral float beyond it is written
  // as an integer and read back (both ways) as one, a BigInt for a metric.
  const scalar = () => pick([
    () => null, () => r() < 0.5, () => int(2000) - 1000, () => (r() - 0.5) * 10 ** int(15), () => NaN, () => Infinity,
    () => -Infinity, () => str(), () => 0.1, () => 1e21, () => 5e-324,
  ])();
  const value = (depth = 0) => {
    if (depth > 2 || r() < 0.6) return scalar();
    if (r() < 0.5) return Array.from({ length: int(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: int(4) }, () => [str(5), value(depth + 1)]));
  };
  // A top-level metric may be a 64-bit integer (a BigInt when beyond 2^53).
  const metric = () => (r() < 0.15 ? BigInt.asIntN(64, BigInt(Math.floor(r() * 2 ** 53)) * 4099n) : value());
  const nb = () => `L${str(6)}`;
  return (i) => {
    const rec = {
      iteration_num: i,
      strategy_code: str(40),
      execution_result: Object.fromEntries(Array.from({ length: int(4) }, () => [str(6), value()])),
      metrics: Object.fromEntries(Array.from({ length: int(6) }, () => [`m${str(6)}`, metric()])),
      classification_level: nb(),
      timestamp: nb(),
      champion_updated: r() < 0.5,
    };
    for (let k = int(3); k > 0; k--) rec[`x${str(6)}`] = value();
    return rec;
  };
}

/** What JSON.parse-based readers give for a BigInt that is a safe integer: a number. */
function normalize(v) {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

test('generated records read the same both ways (seeded)', async () => {
  const dir = tmp();
  for (let seed = 1; seed <= 30; seed++) {
    const gen = generator(seed);
    const recs = Array.from({ length: 1 + (seed % 6) }, (_, i) => gen(i));
    const lib = path.join(dir, `lib-${seed}.jsonl`);
    const w = await openHistory(lib, { durability: 'none' });
    const half = Math.floor(recs.length / 2) + 1;
    w.saveBatch(recs.slice(0, half));
    for (const x of recs.slice(half)) w.save(x);
    w.close();
    const cpy = path.join(dir, `cpy-${seed}.jsonl`);
    fs.writeFileSync(cpy, recs.map((x) => `${stringifyPython(x)}\n`).join(''));
    for (const file of [lib, cpy]) {
      const h = await openHistory(file, { readOnly: true });
      const got = assertSameBothWays(h);
      assert.deepEqual(got.map(canon), recs.map((x) => canon(normalize(x))), `seed ${seed} ${file}`);
      const cols = h.columns(['iteration_num', 'classification_level', 'champion_updated']);
      assert.deepEqual(cols.iteration_num, recs.map((x) => x.iteration_num));
      assert.deepEqual(cols.classification_level, recs.map((x) => x.classification_level));
      assert.deepEqual(cols.champion_updated, recs.map((x) => x.champion_updated));
      h.close();
    }
  }
});

const mini = (i, extra = {}) => ({ iteration_num: i, strategy_code: 's', execution_result: {}, metrics: {},
  classification_level: 'L', timestamp: 't', champion_updated: false, ...extra });

function corruptAt(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CorruptHistory, String(e));
    return [e.line, e.offset];
  }
  assert.fail('no CorruptHistory');
}

test('a page reaching a corrupt line throws CorruptHistory with its line and offset; a torn tail is not returned', async () => {
  const dir = tmp();
  const file = path.join(dir, 'h.jsonl');
  const w = await openHistory(file, { durability: 'none' });
  for (let i = 0; i < 10; i++) w.save(mini(i, { metrics: { m: NaN } }));
  w.close();
  const lines = fs.readFileSync(file).toString('utf8').split('\n');
  const offset = lines.slice(0, 6).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  lines[6] = lines[6].replace('"s"', '"S"');
  fs.writeFileSync(file, lines.join('\n'));
  let h = await openHistory(file, { readOnly: true });
  const typed = corruptAt(() => typedAll(h));
  assert.deepEqual(typed, [7, offset]);
  assert.deepEqual(corruptAt(() => h.getAll()), typed);
  assert.deepEqual(corruptAt(() => [...h.iter(100)]), typed);
  assert.deepEqual(corruptAt(() => h.columns(['iteration_num'])), typed);
  h.close();

  const torn = path.join(dir, 't.jsonl');
  const t = await openHistory(torn, { durability: 'none' });
  t.saveBatch([0, 1, 2, 3, 4].map((i) => mini(i)));
  t.save(mini(5));
  t.close();
  const whole = fs.readFileSync(torn);
  fs.writeFileSync(torn, whole.subarray(0, whole.length - 10));
  h = await openHistory(torn, { readOnly: true });
  assert.deepEqual(h.getAll().map((r) => r.iteration_num), [0, 1, 2, 3, 4]);
  assert.deepEqual(h.loadRecent(2).map((r) => r.iteration_num), [3, 4]);
  assert.deepEqual(h.columns('iteration_num'), { iteration_num: [0, 1, 2, 3, 4] });
  h.close();
});

test('columns pick fields, dotted paths and extra fields; NaN and BigInt restored', async () => {
  const file = path.join(tmp(), 'h.jsonl');
  const w = await openHistory(file, { durability: 'none' });
  w.save(mini(0, { metrics: { m: NaN, big: 2n ** 60n, 'x.y': 3 }, execution_result: { success: true }, seed: 9 }));
  w.save(mini(1, { metrics: { m: 0.5 } }));
  w.close();
  const h = await openHistory(file, { readOnly: true });
  const cols = h.columns(['iteration_num', 'metrics.m', 'metrics.big', 'metrics.x.y', 'execution_result.success', 'seed', 'nope']);
  assert.deepEqual(Object.keys(cols), ['iteration_num', 'metrics.m', 'metrics.big', 'metrics.x.y', 'execution_result.success', 'seed', 'nope']);
  assert.deepEqual(cols, {
    iteration_num: [0, 1],
    'metrics.m': [NaN, 0.5],
    'metrics.big': [2n ** 60n, null],
    'metrics.x.y': [3, null],
    'execution_result.success': [true, null],
    seed: [9, null],
    nope: [null, null],
  });
  h.close();
});
