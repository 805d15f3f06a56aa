// The package's wasi:filesystem host (src/fs-host.js) keeps the guest
// beneath its preopened directory: every escape of issue 23 item 1 tried
// against the host directly (in both resolutions it has: `descriptor`,
// Linux's /proc/self/fd, and the checked-path fallback used elsewhere), and
// through the package for the files the component writes (issue 24 item 6).
// Each case shows the attempt refused and the directory outside unchanged
// (hashed before and after).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as ih from 'iteration-history';

const host = await import(new URL('../node_modules/iteration-history/src/fs-host.js', import.meta.url).href)
  .catch(() => import('../src/fs-host.js'));

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ihist-sandbox-'));
const rw = { read: true, write: true };
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);
const isCode = (code) => (e) => e === code;

/** A hash of every name, type, link target and content beneath `dir`. */
function treeHash(dir) {
  const h = createHash('sha256');
  const walk = (d, rel) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      h.update(`${rel}/${name}\0${st.mode}\0`);
      if (st.isSymbolicLink()) h.update(`-> ${fs.readlinkSync(p)}\0`);
      else if (st.isDirectory()) walk(p, `${rel}/${name}`);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir, '');
  return h.digest('hex');
}

/** An outside directory with a secret file and a subdirectory, and its hash. */
function outsideDir() {
  const outside = tmp();
  fs.writeFileSync(path.join(outside, 'secret'), 'SECRET outside the preopen\n');
  fs.mkdirSync(path.join(outside, 'sub'));
  fs.writeFileSync(path.join(outside, 'sub', 'inner'), 'SECRET inner\n');
  return { outside, before: treeHash(outside) };
}

const linux = process.platform === 'linux';
const RESOLUTIONS = linux ? ['descriptor', 'path'] : ['path'];

test('the strongest resolution is used: /proc/self/fd beneath a held descriptor on Linux', () => {
  const fsys = host.createSyncFilesystem(tmp());
  assert.equal(fsys.resolution, linux ? 'descriptor' : 'path');
  fsys.close();
});

for (const resolution of RESOLUTIONS) {
  const open = (dir) => {
    const fsys = host.createSyncFilesystem(dir, { resolution });
    assert.equal(fsys.resolution, resolution);
    return { fsys, root: fsys.preopens.getDirectories()[0][0] };
  };

  test(`[${resolution}] symlink-follow is refused: links to a directory, a file, and a dangling one outside`, () => {
    const dir = tmp();
    const { outside, before } = outsideDir();
    fs.symlinkSync(outside, path.join(dir, 'todir'));
    fs.symlinkSync(path.join(outside, 'secret'), path.join(dir, 'tofile'));
    fs.symlinkSync('/etc/hostname', path.join(dir, 'hostname'));
    fs.symlinkSync(path.join(outside, 'created'), path.join(dir, 'dangling'));
    const { fsys, root } = open(dir);
    const follow = { symlinkFollow: true };
    assert.throws(() => root.openAt(follow, 'todir', { directory: true }, { read: true }), isCode('not-permitted'));
    assert.throws(() => root.openAt(follow, 'tofile', {}, { read: true }), isCode('not-permitted'));
    assert.throws(() => root.openAt(follow, 'hostname', {}, { read: true }), isCode('not-permitted'));
    assert.throws(() => root.statAt(follow, 'tofile'), isCode('not-permitted'));
    assert.throws(() => root.statAt(follow, 'hostname'), isCode('not-permitted'));
    assert.throws(() => root.openAt(follow, 'dangling', { create: true }, rw), isCode('not-permitted'));
    // Without the flag: links are never followed (the last component is opened O_NOFOLLOW).
    assert.throws(() => root.openAt({}, 'tofile', {}, { read: true }), isCode('loop'));
    assert.throws(() => root.openAt({}, 'hostname', {}, { read: true }), isCode('loop'));
    assert.throws(() => root.openAt({}, 'todir', { directory: true }, { read: true }), isCode('not-permitted'));
    assert.equal(root.statAt({}, 'tofile').type, 'symbolic-link');
    assert.equal(treeHash(outside), before);
    fsys.close();
  });

  test(`[${resolution}] a subdirectory cannot be opened, so no handle can follow one swapped for a link`, () => {
    const dir = tmp();
    const { outside, before } = outsideDir();
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'inner'), 'inside');
    const { fsys, root } = open(dir);
    assert.throws(() => root.openAt({}, 'sub', { directory: true }, { read: true }), isCode('not-permitted'));
    assert.throws(() => root.openAt({}, 'sub', {}, { read: true }), isCode('is-directory'));
    assert.throws(() => root.openAt({}, 'sub/inner', {}, { read: true }), isCode('not-permitted'));
    // `.` is the directory itself: swap the subdirectory for a link to outside; nothing reaches it.
    const dot = root.openAt({}, '.', { directory: true }, { read: true });
    fs.rmSync(path.join(dir, 'sub'), { recursive: true });
    fs.symlinkSync(outside, path.join(dir, 'sub'));
    assert.throws(() => dot.openAt({}, 'sub', { directory: true }, { read: true }), isCode('not-permitted'));
    assert.throws(() => dot.openAt({}, 'sub', {}, { read: true }), isCode('loop'));
    assert.throws(() => dot.unlinkFileAt('sub/secret'), isCode('not-permitted'));
    assert.throws(() => dot.openAt({}, '.', { directory: true }, rw), isCode('is-directory'));
    assert.equal(treeHash(outside), before);
    dot[Symbol.dispose]();
    fsys.close();
  });

  test(`[${resolution}] create through a dangling link planted in the directory: refused, nothing made outside`, () => {
    const dir = tmp();
    const { outside, before } = outsideDir();
    // The names the shipped component opens: the history, its lock, lease,
    // .idx, .commit, and a temp name of its pattern (`.<name>.<16 hex>.tmp`).
    const names = ['h.jsonl', 'h.jsonl.lock', 'h.jsonl.lease', 'h.jsonl.idx', 'h.jsonl.commit',
      '.h.jsonl.0123456789abcdef.tmp'];
    for (const name of names) {
      fs.symlinkSync(path.join(outside, `new-${name}`), path.join(dir, name)); // dangling
    }
    fs.symlinkSync(path.join(outside, 'secret'), path.join(dir, 'existing'));
    const { fsys, root } = open(dir);
    for (const name of [...names, 'existing']) {
      assert.throws(() => root.openAt({}, name, { create: true }, rw), isCode('loop'), name);
      assert.throws(() => root.openAt({}, name, { create: true, truncate: true }, rw), isCode('loop'), name);
      assert.throws(() => root.openAt({}, name, { create: true, exclusive: true }, rw), isCode('exist'), name);
      assert.throws(() => root.openAt({}, name, {}, rw), isCode('loop'), name);
    }
    // A rename onto a link replaces the link, never its target.
    const f = root.openAt({}, 'fresh', { create: true, exclusive: true }, rw);
    f.write(enc('inside'), 0n);
    f[Symbol.dispose]();
    root.renameAt('fresh', root, 'existing');
    assert.equal(fs.readFileSync(path.join(dir, 'existing'), 'utf8'), 'inside');
    root.unlinkFileAt('h.jsonl'); // removes the link itself
    assert.ok(!fs.existsSync(path.join(dir, 'h.jsonl')));
    assert.equal(treeHash(outside), before);
    fsys.close();
  });

  test(`[${resolution}] write and set-size at 2^53 and beyond are refused as wasmtime refuses them; reads are bounded`, () => {
    const dir = tmp();
    const { fsys, root } = open(dir);
    const f = root.openAt({}, 'h.jsonl', { create: true }, rw);
    const content = Buffer.alloc(200 * 1024, 'a');
    assert.equal(f.write(content, 0n), BigInt(content.length));
    const hash = () => createHash('sha256').update(fs.readFileSync(path.join(dir, 'h.jsonl'))).digest('hex');
    const was = hash();
    for (const [offset, code] of [[2n ** 53n, 'file-too-large'], [2n ** 63n - 1n, 'file-too-large'],
      [2n ** 63n, 'invalid'], [2n ** 64n - 1n, 'invalid']]) {
      assert.throws(() => f.write(enc('X'), offset), isCode(code), String(offset));
      assert.throws(() => f.setSize(offset), isCode(code), String(offset));
    }
    // Ending at 2^53 or beyond: refused too.
    assert.throws(() => f.write(enc('XY'), 2n ** 53n - 1n), isCode('file-too-large'));
    assert.equal(hash(), was, 'no write landed anywhere');
    assert.equal(f.stat().size, BigInt(content.length));
    // Reads: at the exact offset, however large; at most 64 KiB per call whatever is asked.
    assert.deepEqual(f.read(10n, 2n ** 60n), [new Uint8Array(0), true]);
    assert.throws(() => f.read(10n, 2n ** 64n - 1n), isCode('invalid'));
    for (const len of [2n ** 64n - 1n, 2n ** 40n, 10n ** 9n]) {
      const [bytes, eof] = f.read(len, 0n);
      assert.equal(bytes.length, host.MAX_READ, String(len));
      assert.equal(eof, false);
    }
    assert.equal(host.MAX_READ, 64 * 1024);
    f[Symbol.dispose]();
    fsys.close();
  });

  test(`[${resolution}] ':' and Windows device names are refused, whatever the case or extension`, () => {
    const dir = tmp();
    const { fsys, root } = open(dir);
    const names = ['a:b', 'h.jsonl:stream', 'C:', 'CON', 'con', 'NUL', 'nul.txt', 'Nul.jsonl', 'PRN', 'AUX', 'aux.h.jsonl',
      'COM1', 'com9.jsonl', 'COM0', 'LPT1', 'lpt9', 'COM\u00b9', 'CONIN$', 'conout$', 'CON .jsonl',
      '..', '.', '', '/etc/passwd', '../x', 'a/b', 'a\\b', 'a\0b'];
    for (const name of names) {
      assert.throws(() => root.openAt({}, name, { create: true }, rw), isCode('not-permitted'), name);
      assert.throws(() => root.statAt({}, name), isCode('not-permitted'), name);
      assert.throws(() => root.unlinkFileAt(name), isCode('not-permitted'), name);
      assert.throws(() => root.renameAt(name, root, 'x'), isCode('not-permitted'), name);
      assert.throws(() => root.renameAt('x', root, name), isCode('not-permitted'), name);
    }
    // Names that merely contain a device name are plain names.
    for (const name of ['CONSOLE', 'nul_', 'com10', 'h.CON', 'xlpt1']) root.openAt({}, name, { create: true }, rw)[Symbol.dispose]();
    assert.deepEqual(fs.readdirSync(dir).sort(), ['CONSOLE', 'com10', 'h.CON', 'nul_', 'xlpt1']);
    fsys.close();
  });

  test(`[${resolution}] a preopen whose path is swapped for a link after open never reaches the link's target`, () => {
    const parent = tmp();
    const dir = path.join(parent, 'hist');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'mine'), 'inside');
    const { outside, before } = outsideDir();
    const { fsys, root } = open(dir);
    const dot = root.openAt({}, '.', { directory: true }, { read: true });
    // Swap the directory's path for a link to outside.
    fs.renameSync(dir, path.join(parent, 'moved'));
    fs.symlinkSync(outside, dir);
    if (resolution === 'descriptor') {
      // Every call stays in the directory held (now at parent/moved).
      for (const d of [root, dot]) {
        assert.throws(() => d.openAt({}, 'secret', {}, { read: true }), isCode('no-entry'));
        assert.throws(() => d.statAt({}, 'secret'), isCode('no-entry'));
        assert.throws(() => d.unlinkFileAt('secret'), isCode('no-entry'));
        const list = d.readDirectory();
        assert.deepEqual(list.readDirectoryEntry(), { type: 'regular-file', name: 'mine' });
        assert.equal(list.readDirectoryEntry(), undefined);
      }
      const f = root.openAt({}, 'mine', {}, { read: true });
      assert.equal(dec(f.read(100n, 0n)[0]), 'inside');
      root.openAt({}, 'new', { create: true }, rw)[Symbol.dispose]();
      assert.ok(fs.existsSync(path.join(parent, 'moved', 'new')));
    } else {
      // The checked path no longer is the held directory: every name-based call is refused.
      for (const d of [root, dot]) {
        assert.throws(() => d.openAt({}, 'secret', {}, { read: true }), isCode('not-permitted'));
        assert.throws(() => d.openAt({}, 'new', { create: true }, rw), isCode('not-permitted'));
        assert.throws(() => d.statAt({}, 'secret'), isCode('not-permitted'));
        assert.throws(() => d.unlinkFileAt('secret'), isCode('not-permitted'));
        assert.throws(() => d.renameAt('secret', d, 'x'), isCode('not-permitted'));
        assert.throws(() => d.readDirectory(), isCode('not-permitted'));
        assert.throws(() => d.openAt({}, '.', { directory: true }, { read: true }), isCode('not-permitted'));
      }
      // A parent swapped (the real path changes) is refused the same way.
      fs.unlinkSync(dir);
      fs.renameSync(path.join(parent, 'moved'), dir);
      root.statAt({}, 'mine'); // back in place: allowed again
      const elsewhere = tmp();
      fs.renameSync(parent, path.join(elsewhere, 'p'));
      fs.symlinkSync(path.join(elsewhere, 'p'), parent);
      assert.throws(() => root.statAt({}, 'mine'), isCode('not-permitted'));
    }
    assert.equal(treeHash(outside), before);
    dot[Symbol.dispose]();
    fsys.close();
  });
}

test('a closed filesystem host refuses every call with bad-descriptor', () => {
  const dir = tmp();
  const fsys = host.createSyncFilesystem(dir);
  const [[root]] = fsys.preopens.getDirectories();
  const dot = root.openAt({}, '.', { directory: true }, { read: true });
  fsys.close();
  for (const d of [root, dot]) {
    assert.throws(() => d.openAt({}, 'x', { create: true }, rw), isCode('bad-descriptor'));
    assert.throws(() => d.statAt({}, 'x'), isCode('bad-descriptor'));
    assert.throws(() => d.readDirectory(), isCode('bad-descriptor'));
  }
  assert.deepEqual(fs.readdirSync(dir), []);
});

// Another process swaps the preopen's path, a file name and a subdirectory
// for links to outside, as fast as it can, while the host makes every
// name-based call: no call reaches outside (Linux: the descriptor resolution;
// the path fallback has a window between check and use: node/README.md).
test('another process swapping directories and links during the calls never lets a call out', { skip: !linux && 'needs /proc/self/fd (Linux)' }, async (t) => {
  const parent = tmp();
  const dir = path.join(parent, 'hist');
  fs.mkdirSync(dir);
  const { outside } = outsideDir();
  fs.writeFileSync(path.join(outside, 'h.jsonl'), 'SECRET history outside\n');
  const before = treeHash(outside);
  const fsys = host.createSyncFilesystem(dir);
  assert.equal(fsys.resolution, 'descriptor');
  const [[root]] = fsys.preopens.getDirectories();
  const swapper = spawn(process.execPath, ['-e', `
    const fs = require('fs'), path = require('path');
    const [parent, outside] = process.argv.slice(1);
    const dir = path.join(parent, 'hist'), moved = path.join(parent, 'moved');
    process.stdout.write('go\\n');
    for (;;) {
      try { fs.renameSync(dir, moved); fs.symlinkSync(outside, dir); } catch {}
      for (const n of ['h.jsonl', 'h.jsonl.idx', 'x']) {
        try { fs.unlinkSync(path.join(moved, n)); } catch {}
        try { fs.symlinkSync(path.join(outside, n === 'x' ? 'sub' : 'h.jsonl'), path.join(moved, n)); } catch {}
      }
      try { fs.unlinkSync(dir); fs.renameSync(moved, dir); } catch {}
      for (const n of ['h.jsonl', 'x']) { try { fs.unlinkSync(path.join(dir, n)); } catch {} }
    }
  `, parent, outside], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(swapper.stdout, 'data');
  let calls = 0;
  let reachedInside = 0;
  const until = Date.now() + 3000;
  try {
    while (Date.now() < until) {
      for (const name of ['h.jsonl', 'h.jsonl.idx', 'x']) {
        const tryCall = (fn) => {
          calls++;
          try { return fn(); } catch (e) { if (typeof e !== 'string') throw e; return undefined; }
        };
        const f = tryCall(() => root.openAt({}, name, { create: true }, rw));
        if (f) {
          reachedInside++;
          const [bytes] = f.read(4096n, 0n);
          assert.ok(!dec(bytes).includes('SECRET'), `read outside through ${name}`);
          f.write(enc('written inside\n'), 0n);
          f[Symbol.dispose]();
        }
        const st = tryCall(() => root.statAt({}, name));
        if (st) assert.ok(st.type === 'regular-file' || st.type === 'symbolic-link', st.type);
        tryCall(() => root.openAt({}, name, {}, { read: true })?.[Symbol.dispose]());
        tryCall(() => root.renameAt(name, root, `${name}.r`));
        tryCall(() => root.unlinkFileAt(`${name}.r`));
        const list = tryCall(() => root.readDirectory());
        for (let e = list?.readDirectoryEntry(); e; e = list.readDirectoryEntry()) {
          assert.ok(!['secret', 'sub'].includes(e.name), `listed outside: ${e.name}`);
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    swapper.kill('SIGKILL');
    await once(swapper, 'exit');
    fsys.close();
  }
  t.diagnostic(`${calls} calls during the swaps, ${reachedInside} files opened (all inside)`);
  assert.ok(calls > 300 && reachedInside > 3, `calls ${calls}, files opened ${reachedInside}`);
  assert.equal(treeHash(outside), before, `the outside directory is unchanged: ${JSON.stringify(fs.readdirSync(outside, { recursive: true }))}`);
});

// ---- through the package: the files the component writes (issue 24 item 6) ----

const { openHistory } = ih;

function rec(i) {
  return {
    iteration_num: i, strategy_code: 'x', execution_result: {}, metrics: { m: i },
    classification_level: 'L', timestamp: 't', champion_updated: false,
  };
}

// The writer's work, in a child process (so that IHIST_NO_FLOCK=1 can make
// the lease the lock): open, a save, a batch (its .commit record), a
// compaction (a temp file renamed), close (writes .idx, ignoring errors by
// design).
const WORK = `
  import { openHistory, HistoryError } from 'iteration-history';
  const [file] = process.argv.slice(1);
  const rec = (i) => ({ iteration_num: i, strategy_code: 'x', execution_result: {}, metrics: { m: i },
    classification_level: 'L', timestamp: 't', champion_updated: false });
  try {
    const h = await openHistory(file, { lockTimeoutMs: 0 });
    try { h.save(rec(0)); h.saveBatch([rec(1), rec(2)]); h.compact(); } finally { h.close(); }
    console.log(JSON.stringify({ ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, historyError: e instanceof HistoryError, message: String(e.message ?? e) }));
  }
`;

for (const suffix of ['', '.lock', '.lease', '.idx', '.commit']) {
  for (const target of ['dangling', 'existing']) {
    test(`a writer meets ${target === 'dangling' ? 'a dangling link' : 'a link to a file'} outside as h.jsonl${suffix}: refused, nothing outside changes`, () => {
      const dir = tmp();
      const { outside, before } = outsideDir();
      const link = path.join(dir, `h.jsonl${suffix}`);
      const to = target === 'dangling' ? path.join(outside, 'made-here') : path.join(outside, 'secret');
      fs.symlinkSync(to, link);
      const file = path.join(dir, 'h.jsonl');
      const env = { ...process.env, IHIST_NO_FLOCK: suffix === '.lease' ? '1' : '0' };
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', WORK, file],
        { cwd: process.cwd(), env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop());
      if (suffix === '.idx') {
        assert.ok(out.ok, `the .idx is advisory: the writer works without it (${out.message})`);
      } else {
        assert.ok(!out.ok && out.historyError, `expected a HistoryError, got ${JSON.stringify(out)}`);
        const named = new RegExp(`h\\.jsonl${suffix.replace('.', '\\.')}|symbolic link|loop`);
        assert.match(out.message, named);
      }
      assert.equal(fs.readlinkSync(link), to, 'the link is left as it was');
      assert.equal(treeHash(outside), before, 'the outside directory is unchanged');
    });
  }
}

// ---- the lock file: 0600, no link, not another user's (issue 23 item 4) ----

function otherUser() {
  if (process.getuid?.() !== 0) return { why: 'needs root to create a second user' };
  const name = 'ihist-other';
  if (spawnSync('id', ['-u', name]).status !== 0) {
    const r = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
    if (r.status !== 0) return { why: `useradd failed: ${r.stderr}` };
  }
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  return { name, uid };
}
const other = otherUser();
const mustRun = process.env.CI === 'true';

test('the lock file is created 0600 and not through a link; another user cannot open it', { skip: !other.name && !mustRun && other.why }, async () => {
  assert.ok(other.name, `CI=true: ${other.why}`);
  const dir = tmp();
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'h.jsonl');
  const old = process.umask(0o000); // even with no umask at all
  let h;
  try {
    h = await openHistory(file);
  } finally {
    process.umask(old);
  }
  h.save(rec(0));
  const lock = `${file}.lock`;
  assert.equal(fs.statSync(lock).mode & 0o777, 0o600);
  const r = spawnSync('runuser', ['-u', other.name, '--', process.execPath, '-e',
    'try { require("fs").openSync(process.argv[1], "r"); console.log("opened") } catch (e) { console.log(e.code) }', lock],
  { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'EACCES', r.stderr);
  h.close();
  // A lock file left 0644 by an older writer is narrowed to 0600 when opened.
  fs.chmodSync(lock, 0o644);
  (await openHistory(file)).close();
  assert.equal(fs.statSync(lock).mode & 0o777, 0o600);
});

test('a lock file owned by another user is refused with an error naming it', { skip: !other.name && !mustRun && other.why }, async () => {
  assert.ok(other.name, `CI=true: ${other.why}`);
  const dir = tmp();
  fs.chmodSync(dir, 0o1777); // a shared directory: anyone may create files in it
  const file = path.join(dir, 'h.jsonl');
  const lock = `${file}.lock`;
  const made = spawnSync('runuser', ['-u', other.name, '--', 'sh', '-c', 'umask 0; : >"$1"', 'sh', lock], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  assert.equal(fs.statSync(lock).uid, other.uid);
  await assert.rejects(openHistory(file), (e) => e instanceof ih.HistoryPermissionError
    && e.message.includes('h.jsonl.lock') && /owned by another user/.test(e.message) && e.message.includes(`uid ${other.uid}`));
  assert.ok(!fs.existsSync(file), 'nothing was written');
  // And a link planted as the lock file is refused, naming it.
  fs.unlinkSync(lock);
  const { outside, before } = outsideDir();
  fs.symlinkSync(path.join(outside, 'secret'), lock);
  await assert.rejects(openHistory(file), (e) => e instanceof ih.HistoryPermissionError
    && e.message.includes('h.jsonl.lock') && /symbolic link/.test(e.message));
  assert.equal(treeHash(outside), before);
});

test('a history whose directory is itself a symlink opens, and its records land in the real directory', async () => {
  const real = tmp();
  const parent = tmp();
  const linked = path.join(parent, 'runs');
  fs.symlinkSync(real, linked);
  const h = await openHistory(path.join(linked, 'h.jsonl'));
  h.save(rec(0));
  h.saveBatch([rec(1), rec(2)]);
  assert.equal(h.count(), 3);
  assert.equal(h.compact(), 3); // a rewrite: temp file, rename, directory sync through `.`
  assert.equal(h.verify().health, 'healthy');
  assert.equal(h.openReport().dirSync, true);
  h.close();
  assert.equal(fs.readFileSync(path.join(real, 'h.jsonl'), 'utf8').split('\n').filter(Boolean).length, 3);
  const r = await openHistory(path.join(linked, 'h.jsonl'), { readOnly: true });
  assert.equal(r.getLastIterationNum(), 2);
  r.close();
});
