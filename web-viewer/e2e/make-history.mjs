// Writes a deterministic history of N records for tests and the benchmark.
//   node e2e/make-history.mjs OUT N [python|library]
// python:  what the original module wrote (CPython json.dumps defaults:
//          ", " / ": " separators, bare NaN/-Infinity, \uXXXX escapes).
// library: what iteration-history writes (compact JSON, raw UTF-8,
//          non-finite numbers as null + "_nonfinite", CRC-32C in "_ih").
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const INDICATORS = ['sma', 'ema', 'rsi', 'macd', 'bollinger', 'momentum', 'atr'];
const ERRORS = ["KeyError: 'close'", 'ZeroDivisionError: division by zero', 'TimeoutError: backtest exceeded 60 s'];

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The records, in order (plain objects; NaN/±Infinity as JS numbers). */
export function* records(n, seed = 42) {
  const r = rng(seed);
  const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
  const gauss = (mu, sd) => mu + sd * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  let best = -Infinity;
  for (let i = 0; i < n; i++) {
    const fast = 3 + Math.floor(r() * 18);
    const slow = 21 + Math.floor(r() * 100);
    const ind = INDICATORS[Math.floor(r() * INDICATORS.length)];
    const code = `def strategy(data):\n    # ${ind} crossover, tuned \u2192 fast=${fast}, slow=${slow}\n`
      + `    fast = data.close.rolling(${fast}).mean()\n    slow = data.close.rolling(${slow}).mean()\n`
      + '    return (fast > slow).astype(int)\n';
    const ok = r() > 0.15;
    let metrics;
    let result;
    let level;
    if (ok) {
      const sharpe = round(gauss(0.6 + Math.log1p(i) * 0.05, 0.45), 4);
      metrics = { sharpe_ratio: sharpe, total_return: round(sharpe * 0.18 + gauss(0, 0.05), 4),
        max_drawdown: round(-Math.abs(gauss(0.15, 0.07)), 4), win_rate: round(0.4 + r() * 0.25, 4) };
      level = sharpe > 1.2 ? 3 : sharpe > 0.8 ? 2 : sharpe > 0 ? 1 : 0;
      result = { success: true, execution_time: round(0.8 + r() * 5.2, 3) };
    } else {
      metrics = { sharpe_ratio: NaN, total_return: NaN, max_drawdown: -Infinity, win_rate: 0.0 };
      level = 0;
      result = { success: false, execution_time: round(0.1 + r() * 0.9, 3), error: ERRORS[Math.floor(r() * 3)] };
    }
    const champion = ok && metrics.sharpe_ratio > best;
    if (champion) best = metrics.sharpe_ratio;
    const day = 1 + Math.floor(i / 1440);
    const t = i % 1440;
    yield {
      iteration_num: i, strategy_code: code, execution_result: result, metrics,
      classification_level: `LEVEL_${level}`,
      timestamp: `2025-03-${String(day).padStart(2, '0')}T${String(Math.floor(t / 60) % 24).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}:00.${String(Math.floor(r() * 1e6)).padStart(6, '0')}`,
      champion_updated: champion,
    };
  }
}

/** CPython's json.dumps with its defaults. */
export function pyDumps(v) {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) < 1e16 && !String(v).includes('e') ? String(v) : pyFloat(v);
  }
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (v === null || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(pyDumps).join(', ')}]`;
  return `{${Object.entries(v).map(([k, x]) => `${pyDumps(k)}: ${pyDumps(x)}`).join(', ')}}`;
}
function pyFloat(v) {
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
/** CRC-32C (Castagnoli) of bytes. */
export function crc32c(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One line as iteration-history writes it (without the final newline). */
export function libraryLine(rec) {
  const nonfinite = {};
  const clean = (group, obj) => Object.fromEntries(Object.entries(obj).map(([k, x]) => {
    if (typeof x === 'number' && !Number.isFinite(x)) {
      nonfinite[`/${group}/${k}`] = Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
      return [k, null];
    }
    return [k, x];
  }));
  const out = { ...rec, execution_result: clean('execution_result', rec.execution_result), metrics: clean('metrics', rec.metrics) };
  if (Object.keys(nonfinite).length) out._nonfinite = nonfinite;
  const body = `${JSON.stringify(out).slice(0, -1)},"_ih":"`;
  const crc = crc32c(Buffer.from(body, 'utf8')).toString(16).padStart(8, '0');
  return `${body}${crc}"}`;
}

/** Writes N records to `out` in the given format. */
export function writeHistory(out, n, format = 'python') {
  const fd = fs.openSync(out, 'w');
  let buf = [];
  for (const rec of records(n)) {
    buf.push(format === 'library' ? libraryLine(rec) : pyDumps(rec));
    if (buf.length === 5000) { fs.writeSync(fd, `${buf.join('\n')}\n`); buf = []; }
  }
  if (buf.length) fs.writeSync(fd, `${buf.join('\n')}\n`);
  fs.closeSync(fd);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [out, n, format = 'python'] = process.argv.slice(2);
  writeHistory(out, Number(n), format);
  console.log(`${out}: ${n} records (${format}), ${fs.statSync(out).size} bytes`);
}
