// The npm package's side of scripts/bench-packages: opens history FILE,
// saves N copies of the record in TEMPLATE (one JSON line; iteration_num
// counts up), each a durable commit unless `none` is given, and prints
// `node-save-us median=… mean=…`. With `start` instead: one save, and
// prints the time since the process started.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { openHistory, parsePython } from 'iteration-history';

const [file, template, n, mode] = process.argv.slice(2);
const rec = parsePython(fs.readFileSync(template, 'utf8'));
if (mode === 'start') {
  const h = await openHistory(file);
  h.save(rec);
  h.close();
  console.log(`node-start-ms ms=${performance.now().toFixed(1)}`);
} else {
  const h = await openHistory(file, { durability: mode === 'none' ? 'none' : 'full' });
  const start = (h.getLastIterationNum() ?? -1) + 1;
  const times = [];
  for (let i = 0; i < Number(n); i++) {
    rec.iteration_num = start + i;
    const t = performance.now();
    h.save(rec);
    times.push((performance.now() - t) * 1000);
  }
  h.close();
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  times.sort((a, b) => a - b);
  console.log(`node-save-us median=${times[times.length >> 1].toFixed(1)} mean=${mean.toFixed(1)}`);
}
