// Read benchmark of the npm package (run by scripts/bench-packages, not in
// CI): getAll(), a full iter(), loadRecent(5) (its first call in a fresh
// process, the history opened before timing) and columns(3 fields), against
// plain Node reading the same file in the same run: JSON.parse of every line
// (the bare NaN/Infinity tokens of a CPython-written file replaced with
// null first) and a plain tail read (the last 64 KiB, JSON.parse of its last
// 5 lines). Each measure runs in its own process; best of --rounds.
//
//   node bench-reads.mjs --rounds 3 FILE...
//   node bench-reads.mjs --measure WHAT FILE   (one measure; prints JSON)
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const COLUMNS = ['iteration_num', 'metrics.sharpe_ratio', 'classification_level'];
const NONFINITE = /\bNaN\b|-?\bInfinity\b/g;

function plainAll(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  for (const line of text.split('\n')) {
    if (line.trim()) out.push(JSON.parse(line.replace(NONFINITE, 'null')));
  }
  return out;
}

function plainTail(file, n = 5) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 65536);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim());
    return lines.slice(-n).map((l) => JSON.parse(l.replace(NONFINITE, 'null')));
  } finally {
    fs.closeSync(fd);
  }
}

async function measure(what, file) {
  let h;
  if (what.startsWith('package')) {
    const { openHistory } = await import('iteration-history');
    h = await openHistory(file, { readOnly: true });
    h.getLastIterationNum(); // opened and the component running before timing
  }
  const t = process.hrtime.bigint();
  let n;
  if (what === 'plain.all') n = plainAll(file).length;
  else if (what === 'plain.tail') n = plainTail(file).length;
  else if (what === 'package.getAll') n = h.getAll().length;
  else if (what === 'package.iter') { n = 0; for (const _ of h.iter()) n++; } // eslint-disable-line no-unused-vars
  else if (what === 'package.loadRecent') n = h.loadRecent(5).length;
  else if (what === 'package.typed') {
    // The typed interface (`get-all`, every field lifted by jco): how getAll() read before the text pages.
    n = 0;
    let cursor = 0;
    while (cursor !== undefined) {
      const p = h.typedPage(cursor, 1000);
      n += p.records.length;
      cursor = p.nextCursor;
    }
  } else if (what === 'package.columns') n = h.columns(COLUMNS).iteration_num.length;
  else throw new Error(`unknown measure ${what}`);
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  return { s, n };
}

function run(what, file, rounds) {
  let best;
  for (let i = 0; i < rounds; i++) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', what, file], { encoding: 'utf8' });
    const got = JSON.parse(out.trim().split('\n').pop());
    if (!best || got.s < best.s) best = got;
  }
  return best;
}

const fmt = (s) => (s < 1 ? `${(s * 1000).toFixed(2)} ms` : `${s.toFixed(2)} s`);

const args = process.argv.slice(2);
if (args[0] === '--measure') {
  console.log(JSON.stringify(await measure(args[1], args[2])));
} else {
  let rounds = 3;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--rounds') rounds = Number(args[++i]);
    else files.push(args[i]);
  }
  console.log(`\n## Reads: npm package vs plain Node (best of ${rounds}, each measure in its own process)\n`);
  console.log('| file | measure | package | plain Node | plain is | ratio | goal |');
  console.log('|---|---|---:|---:|---|---:|---|');
  for (const file of files) {
    const label = file.split('/').pop();
    const all = run('plain.all', file, rounds);
    const tail = run('plain.tail', file, rounds);
    const rows = [
      ['getAll()', 'package.getAll', all, 'JSON.parse of every line', '<= 1.2x'],
      ['full iter()', 'package.iter', all, 'JSON.parse of every line', '<= 1.2x'],
      ['loadRecent(5), first call', 'package.loadRecent', tail, 'tail read, 64 KiB', '<= 2x'],
      ['columns(3 fields)', 'package.columns', all, 'JSON.parse of every line', '(none)'],
      ['getAll() through the typed `get-all` (before)', 'package.typed', all, 'JSON.parse of every line', ''],
    ];
    for (const [name, what, base, baseIs, goal] of rows) {
      const got = run(what, file, rounds);
      if (what !== 'package.loadRecent' && got.n !== base.n) throw new Error(`${what}: ${got.n} records, plain ${base.n}`);
      console.log(`| ${label} | ${name} | ${fmt(got.s)} | ${fmt(base.s)} | ${baseIs} | ${(got.s / base.s).toFixed(2)}x | ${goal} |`);
    }
  }
}
