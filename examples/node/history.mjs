// The iteration history, from Node, through the WASI component transpiled
// by jco (`npm run transpile` writes ./gen; preview2-shim runs its WASI
// imports on Node's fs).
//
//   const history = await openHistory('runs/history.jsonl');
//   const last = history.getLastIterationNum();   // undefined when empty
//   history.save({ iteration_num: (last ?? -1) + 1, ... });
//   history.loadRecent(5);
//
// Records are plain objects with the file's keys (iteration_num, metrics, ...).
// Errors throw a ComponentError whose `payload` is the WIT error: `{ tag, val }`
// with tag `locked`, `corrupt`, `invalid-record`, `invalid-name`, ...
import path from 'node:path';
import fs from 'node:fs';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

const FIELDS = ['iteration_num', 'strategy_code', 'execution_result', 'metrics',
  'classification_level', 'timestamp', 'champion_updated'];

let storePromise;
/** The component's `store` interface (instantiated once per process). */
export function loadStore() {
  storePromise ??= import('./gen/history.js').then((m) => m.store);
  return storePromise;
}

// Text from the component is Python's JSON dialect: strict JSON, except bare
// NaN / Infinity / -Infinity, which JSON.parse rejects. Read those too.
const NONFINITE = '\u0000nonfinite:';
export function parseJsonText(text) {
  try {
    return JSON.parse(text);
  } catch {
    const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g,
      (m) => (m[0] === '"' ? m : JSON.stringify(NONFINITE + m)));
    return JSON.parse(marked, (_k, v) =>
      (typeof v === 'string' && v.startsWith(NONFINITE) ? Number(v.slice(NONFINITE.length)) : v));
  }
}

function metricToWit(v) {
  if (typeof v === 'bigint') return { tag: 'integer', val: v };
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) ? { tag: 'integer', val: BigInt(v) } : { tag: 'number', val: v };
  }
  return { tag: 'json', val: JSON.stringify(v) };
}

function metricFromWit({ tag, val }) {
  if (tag === 'integer') return Number(val);
  if (tag === 'number') return val;
  return parseJsonText(val);
}

/** A plain record as the component's typed `iteration-record`. */
export function toWit(r) {
  const extra = Object.fromEntries(Object.entries(r).filter(([k]) => !FIELDS.includes(k)));
  return {
    iterationNum: BigInt(r.iteration_num),
    strategyCode: r.strategy_code,
    // JSON.stringify writes NaN as null here; metrics keep NaN exactly (f64).
    executionResult: JSON.stringify(r.execution_result ?? {}),
    metrics: Object.entries(r.metrics ?? {}).map(([name, v]) => ({ name, value: metricToWit(v) })),
    classificationLevel: r.classification_level,
    timestamp: r.timestamp,
    championUpdated: Boolean(r.champion_updated),
    extra: JSON.stringify(extra),
  };
}

/** The component's typed record as a plain record. */
export function fromWit(w) {
  return {
    iteration_num: Number(w.iterationNum),
    strategy_code: w.strategyCode,
    execution_result: parseJsonText(w.executionResult),
    metrics: Object.fromEntries(w.metrics.map((m) => [m.name, metricFromWit(m.value)])),
    classification_level: w.classificationLevel,
    timestamp: w.timestamp,
    champion_updated: w.championUpdated,
    ...parseJsonText(w.extra),
  };
}

/**
 * Opens the history at `filepath` for writing (`{ readOnly: true }` for a
 * reader; other options: strategy, durability, lockTimeoutMs, repairOnOpen,
 * leaseMs). Its directory becomes the component's preopened directory.
 */
export async function openHistory(filepath, { readOnly = false, ...options } = {}) {
  const store = await loadStore();
  const dir = path.dirname(path.resolve(filepath));
  fs.mkdirSync(dir, { recursive: true });
  _setPreopens({ '.': dir });
  const name = path.basename(filepath);
  let h;
  if (readOnly) {
    h = store.History.openReadOnly(name);
  } else if (Object.keys(options).length) {
    const opts = { ...store.defaultOptions(), ...options };
    for (const k of ['lockTimeoutMs', 'leaseMs']) if (opts[k] !== undefined) opts[k] = BigInt(opts[k]);
    h = store.History.openWith(name, opts);
  } else {
    h = store.History.open(name);
  }
  return {
    handle: h,
    openReport: () => h.openReport(),
    save: (r) => h.save(toWit(r)),
    saveBatch: (rs) => h.saveBatch(rs.map(toWit)),
    saveJson: (line) => h.saveJson(line),
    loadRecent: (n = 5) => h.loadRecent(n).map(fromWit),
    loadRecentJson: (n = 5) => h.loadRecentJson(n),
    getLastIterationNum: () => {
      const n = h.lastIterationNum();
      return n === undefined ? undefined : Number(n);
    },
    getAll(pageSize = 1000) {
      const out = [];
      let cursor = 0n;
      while (cursor !== undefined) {
        const page = h.getAll(cursor, pageSize);
        out.push(...page.records.map(fromWit));
        cursor = page.nextCursor;
      }
      return out;
    },
    count: () => Number(h.count()),
    clear: () => h.clear(),
    verify: () => h.verify(),
    /** Releases the history and its writer lease. */
    close: () => h[Symbol.dispose](),
  };
}
