// The plain-JS baseline the viewer benchmark (bench.mjs) measures against,
// in the same page and the same browser: the whole file as one string,
// split('\n'), JSON.parse of every line (retrying a line with NaN/Infinity
// replaced by null, as browser viewers of Python output must), then the same
// columns the wasm pass builds. It keeps every parsed object, as a plain-JS
// viewer does.
//
// It is benchmark code, so the shipped page (www/) does not contain it:
// bench.mjs installs it with page.addInitScript(installPlainLoader) before
// the page's own scripts run, as globalThis.__ihLoader, which www/load.js
// uses instead of its wasm worker. installPlainLoader runs in the page, so
// it is self-contained (Playwright sends its source text).
export function installPlainLoader() {
  const NON_FINITE = /\bNaN\b|-?\bInfinity\b/g;

  async function loadPlain(blob) {
    const t0 = performance.now();
    const text = await blob.text();
    const lines = text.split('\n');
    const recs = [];
    const lineNo = [];
    const warnings = [];
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      if (!l.trim()) continue;
      let o;
      try {
        o = JSON.parse(l);
      } catch {
        try {
          o = JSON.parse(l.replace(NON_FINITE, 'null'));
        } catch (e) {
          warnings.push({ kind: 'bad-line', line: i + 1, offset: -1, message: e.message });
          continue;
        }
      }
      recs.push(o);
      lineNo.push(i + 1);
    }
    const n = recs.length;
    const iteration = new Float64Array(n);
    const success = new Uint8Array(n);
    const champion = new Uint8Array(n);
    const level = new Uint32Array(n);
    const levels = [];
    const levelIds = new Map();
    const numeric = [];
    const byKey = new Map();
    const column = (group, name) => {
      const key = `${group}.${name}`;
      let c = byKey.get(key);
      if (!c) {
        c = { key, group, name, values: new Float64Array(n).fill(NaN), states: new Uint8Array(n).fill(1) };
        byKey.set(key, c);
        numeric.push(c);
      }
      return c;
    };
    for (let i = 0; i < n; i++) {
      const r = recs[i];
      iteration[i] = r.iteration_num;
      const er = r.execution_result || {};
      success[i] = er.success === true ? 1 : er.success === false ? 0 : 2;
      champion[i] = r.champion_updated ? 1 : 0;
      let id = levelIds.get(r.classification_level);
      if (id === undefined) { id = levels.length; levels.push(r.classification_level); levelIds.set(r.classification_level, id); }
      level[i] = id;
      for (const [group, obj] of [['execution_result', er], ['metrics', r.metrics || {}]]) {
        for (const name in obj) {
          if (group === 'execution_result' && name === 'success') continue;
          const v = obj[name];
          if (typeof v === 'number') { const c = column(group, name); c.values[i] = v; c.states[i] = 0; }
          else if (v === null) { const c = column(group, name); c.states[i] = 2; }
        }
      }
    }
    return {
      loader: 'js',
      n, iteration, success, champion, level, levels, numeric,
      lineNo: Uint32Array.from(lineNo),
      checksummed: new Uint8Array(n),
      warnings, warningsTotal: warnings.length, lines: lines.length - (text.endsWith('\n') ? 1 : 0),
      slowRows: 0, corrupt: false,
      parseMs: performance.now() - t0,
      record: (i) => ({ record: recs[i], checksummed: false, commit: null }),
    };
  }

  globalThis.__ihLoader = { name: 'js', label: 'plain-JS baseline', load: loadPlain };
}
