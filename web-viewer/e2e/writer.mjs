// A learning loop's writer for the live tests: saves records one by one
// with `ihist save` (each a durable commit) at a steady rate, and prints
// "ITERATION MILLISECONDS" (wall clock after the save returned) per record.
//   node e2e/writer.mjs --ihist BIN --history FILE [--records N] [--rate PER_SECOND] [--start I] [--seed S]
import { spawnSync } from 'node:child_process';
import { records, pyDumps } from './make-history.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const ihist = opt('--ihist');
const history = opt('--history');
const n = Number(opt('--records', 300));
const rate = Number(opt('--rate', 30));
const start = Number(opt('--start', 0));
const seed = Number(opt('--seed', 42));
const all = [...records(start + n, seed)].slice(start);
const t0 = Date.now();
for (let k = 0; k < all.length; k++) {
  const due = t0 + (k * 1000) / rate;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const r = spawnSync(ihist, ['save', '-q', history, pyDumps(all[k])], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`writer: ihist save failed for iteration ${all[k].iteration_num}: ${r.stderr}`);
    process.exit(1);
  }
  process.stdout.write(`${all[k].iteration_num} ${Date.now()}\n`);
}
