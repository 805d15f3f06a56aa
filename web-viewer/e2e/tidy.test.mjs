// Tidy check of the shipped page (www/, as scripts/build-viewer leaves it):
//   - every import, dynamic import, worker and `new URL(…, import.meta.url)`
//     of a www script names a file inside www/ that exists (so the page never
//     loads benchmark or test code from e2e/, nor a package by bare name);
//   - every script under www/ is reached from index.html (no dead module).
// Scripts are parsed with acorn, not searched with patterns. The checks are
// attacked on copies of www/ with a bad import or a dead module added.
//   node --test e2e/tidy.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as acorn from 'acorn';
import * as walk from 'acorn-walk';

const here = path.dirname(fileURLToPath(import.meta.url));
const WWW = path.resolve(here, '../www');
// Third-party files copied in by scripts/build-viewer: reached, not parsed.
const VENDOR = 'vendor/';

/** The files (relative to the script) a parsed script loads. */
function references(code, file) {
  const ast = acorn.parse(code, { ecmaVersion: 'latest', sourceType: 'module', locations: true });
  const out = [];
  const add = (node, how) => {
    if (node && node.type === 'Literal' && typeof node.value === 'string') out.push({ spec: node.value, how, line: node.loc.start.line });
    else out.push({ spec: null, how, line: node ? node.loc.start.line : 0 });
  };
  const isImportMetaUrl = (n) => n && n.type === 'MemberExpression' && n.object.type === 'MetaProperty'
    && n.object.meta.name === 'import' && n.property.name === 'url';
  walk.full(ast, (node) => {
    if (node.type === 'ImportDeclaration' || ((node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') && node.source)) {
      add(node.source, 'import');
    } else if (node.type === 'ImportExpression') {
      add(node.source, 'dynamic import');
    } else if (node.type === 'NewExpression' && node.callee.type === 'Identifier') {
      const [first, second] = node.arguments;
      if (node.callee.name === 'URL' && isImportMetaUrl(second)) add(first, 'new URL(…, import.meta.url)');
      else if ((node.callee.name === 'Worker' || node.callee.name === 'SharedWorker') && first && first.type !== 'NewExpression') add(first, 'worker');
    }
  });
  return out.map((r) => ({ ...r, file }));
}

/** Checks a www/ tree; returns its problems (empty when tidy) and the files reached. */
export function checkWww(root) {
  const problems = [];
  const all = [];
  (function list(dir) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) list(p);
      else if (/\.(m?js)$/.test(e.name)) all.push(path.relative(root, p).split(path.sep).join('/'));
    }
  })(root);
  const html = fs.readFileSync(path.join(root, 'index.html'), 'utf8');
  const queue = [];
  for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) queue.push({ spec: m[1], how: 'script', file: 'index.html', line: 0, base: '' });
  const reached = new Set();
  while (queue.length) {
    const r = queue.shift();
    const where = `${r.file}${r.line ? `:${r.line}` : ''}`;
    if (r.spec === null) { problems.push(`${where}: ${r.how} of a computed name (the check cannot follow it)`); continue; }
    if (/^[a-z][a-z0-9+.-]*:/i.test(r.spec) || r.spec.startsWith('/')) { problems.push(`${where}: ${r.how} of ${r.spec}: not a relative path inside www/`); continue; }
    if (r.how !== 'script' && r.how !== 'new URL(…, import.meta.url)' && !r.spec.startsWith('./') && !r.spec.startsWith('../')) {
      problems.push(`${where}: ${r.how} of the bare name ${r.spec}: the page has no packages`);
      continue;
    }
    const rel = path.posix.normalize(path.posix.join(r.base, r.spec));
    if (rel.startsWith('../') || rel === '..') { problems.push(`${where}: ${r.how} of ${r.spec} reaches outside www/ (${rel})`); continue; }
    if (!fs.existsSync(path.join(root, rel))) { problems.push(`${where}: ${r.how} of ${r.spec}: no such file in www/`); continue; }
    if (reached.has(rel)) continue;
    reached.add(rel);
    if (!/\.m?js$/.test(rel) || rel.startsWith(VENDOR)) continue;
    let refs;
    try {
      refs = references(fs.readFileSync(path.join(root, rel), 'utf8'), rel);
    } catch (err) {
      problems.push(`${rel}: cannot parse: ${err.message}`);
      continue;
    }
    for (const ref of refs) queue.push({ ...ref, base: path.posix.dirname(rel) });
  }
  for (const f of all) if (!reached.has(f)) problems.push(`${f}: not loaded by the page (a dead module)`);
  return { problems, reached };
}

/** A scratch copy of www/ to attack. */
function copyWww() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ih-tidy-'));
  fs.cpSync(WWW, path.join(dir, 'www'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'e2e'));
  fs.writeFileSync(path.join(dir, 'e2e', 'baseline.mjs'), 'export function installPlainLoader() {}\n');
  return { dir, www: path.join(dir, 'www') };
}

function withCopy(fn) {
  const { dir, www } = copyWww();
  try { return fn(www); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

test('the built page is tidy: only its own files, and every module is used', () => {
  assert.ok(fs.existsSync(path.join(WWW, 'pkg')), 'www/pkg is missing: run scripts/build-viewer first');
  const { problems, reached } = checkWww(WWW);
  assert.deepEqual(problems, []);
  // The page reaches its modules, the worker and the wasm through the imports.
  for (const f of ['app.js', 'live.js', 'worker.js', 'pkg/iteration_history_viewer.js', 'pkg/iteration_history_viewer_bg.wasm', 'vendor/uPlot.iife.min.js']) {
    assert.ok(reached.has(f), `${f} not reached`);
  }
  // The benchmark's baseline is not shipped.
  assert.ok(!fs.existsSync(path.join(WWW, 'baseline.js')));
});

test('an import of benchmark code from www/ is refused', () => {
  const attacks = [
    ['load.js', "import { installPlainLoader } from '../e2e/baseline.mjs';\n", /load\.js:1: import of \.\.\/e2e\/baseline\.mjs reaches outside www\//],
    ['live.js', "export { installPlainLoader } from '../e2e/baseline.mjs';\n", /live\.js:1: import of \.\.\/e2e\/baseline\.mjs reaches outside www\//],
    ['load.js', "const b = () => import('../e2e/baseline.mjs');\n", /dynamic import of \.\.\/e2e\/baseline\.mjs reaches outside/],
    ['app.js', "new Worker(new URL('../e2e/baseline.mjs', import.meta.url));\n", /new URL\(…, import\.meta\.url\) of \.\.\/e2e\/baseline\.mjs reaches outside/],
    ['app.js', "import 'playwright-core';\n", /import of the bare name playwright-core/],
    ['app.js', "import x from '/e2e/baseline.mjs';\n", /not a relative path inside www/],
    ['app.js', "const m = 'bench.mjs'; import(`./${m}`);\n", /dynamic import of a computed name/],
    ['filters.js', "import './nowhere.js';\n", /filters\.js:1: import of \.\/nowhere\.js: no such file/],
  ];
  for (const [file, line, expect] of attacks) {
    withCopy((www) => {
      const p = path.join(www, file);
      fs.writeFileSync(p, line + fs.readFileSync(p, 'utf8'));
      const { problems } = checkWww(www);
      assert.ok(problems.some((x) => expect.test(x)), `${file} with ${JSON.stringify(line)}: ${JSON.stringify(problems)}`);
    });
  }
  // The attacks changed scratch copies only: the real page is still tidy.
  assert.deepEqual(checkWww(WWW).problems, []);
});

test('a module the page does not load is refused as dead', () => {
  withCopy((www) => {
    fs.writeFileSync(path.join(www, 'baseline.js'), 'export async function loadPlain() {}\n');
    fs.mkdirSync(path.join(www, 'extra'));
    fs.writeFileSync(path.join(www, 'extra', 'x.mjs'), '');
    assert.deepEqual(checkWww(www).problems.sort(), [
      'baseline.js: not loaded by the page (a dead module)',
      'extra/x.mjs: not loaded by the page (a dead module)',
    ]);
  });
  withCopy((www) => {
    // Unwiring a module (the entry no longer imports export.js) leaves it dead.
    const app = path.join(www, 'app.js');
    const text = fs.readFileSync(app, 'utf8');
    assert.match(text, /^import \{ exportCsv \} from '\.\/export\.js';$/m);
    fs.writeFileSync(app, text.replace(/^import \{ exportCsv \} from '\.\/export\.js';$/m, 'const exportCsv = () => {};'));
    assert.deepEqual(checkWww(www).problems, ['export.js: not loaded by the page (a dead module)']);
  });
});
