// Finding libtensorflow: every source in its order, both layouts, and the error when none works.
// Each case runs in a child process: a process can load only one TensorFlow.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { configureRuntime, runtime } from '../lib/index';
import { node, PYTHON, ROOT } from './helpers';

const DIST = JSON.stringify(path.join(ROOT, 'dist', 'index.js'));
const PIP_DIR = path.dirname(runtime().path);

// Prints runtime() as JSON, or the error's class, code, message and tried list.
const PROBE = `
const t = require(${DIST});
t.loadTensorFlow().then(
  (r) => console.log(JSON.stringify({ ok: r })),
  (e) => console.log(JSON.stringify({ error: { name: e.name, code: e.code, message: e.message, tried: e.tried } })));
`;

interface Probe {
  ok?: { tensorflowVersion: string; path: string; source: string };
  error?: { name: string; code: string; message: string; tried: string[] };
}

// The per-user cache of `tfslice install-tensorflow`: an empty one unless a case sets its own,
// so no probe ever reads the real ~/.cache.
const NO_CACHE = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-home-'));

function probe(env: NodeJS.ProcessEnv, cwd?: string): Probe {
  const result = node(PROBE, { PATH: process.env.PATH, HOME: process.env.HOME, TFSLICE_HOME: NO_CACHE, ...env }, cwd);
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Probe;
  } catch {
    throw new Error(`probe printed ${JSON.stringify(result.stdout)} / ${result.stderr}`);
  }
}

const EMPTY = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-empty-'));

t.test('runtime() reports TF_Version and the library it resolved', async (t) => {
  const r = runtime();
  t.equal(r.tensorflowVersion, '2.21.0');
  t.equal(path.basename(r.path), 'libtensorflow_cc.so.2', 'the pip layout');
  t.equal(r.source, 'python', 'found by asking the .venv python');
  t.equal(runtime(), r, 'later calls return the same runtime');
});

t.test('TFSLICE_LIBTENSORFLOW: a file, a pip directory, a C-archive directory', async (t) => {
  const file = probe({ TFSLICE_LIBTENSORFLOW: path.join(PIP_DIR, 'libtensorflow_cc.so.2') }, EMPTY);
  t.equal(file.ok?.source, 'env');
  t.equal(file.ok?.tensorflowVersion, '2.21.0');

  const dir = probe({ TFSLICE_LIBTENSORFLOW: PIP_DIR }, EMPTY);
  t.equal(dir.ok?.path, path.join(PIP_DIR, 'libtensorflow_cc.so.2'), 'the pip directory layout');

  // The official C archive: lib/libtensorflow.so.2 beside lib/libtensorflow_framework.so.2.
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-archive-'));
  fs.mkdirSync(path.join(archive, 'lib'));
  fs.symlinkSync(path.join(PIP_DIR, 'libtensorflow_cc.so.2'), path.join(archive, 'lib', 'libtensorflow.so.2'));
  fs.symlinkSync(path.join(PIP_DIR, 'libtensorflow_framework.so.2'), path.join(archive, 'lib', 'libtensorflow_framework.so.2'));
  const fromArchive = probe({ TFSLICE_LIBTENSORFLOW: archive }, EMPTY);
  t.equal(fromArchive.ok?.path, path.join(archive, 'lib', 'libtensorflow.so.2'), 'the archive layout');
  t.equal(fromArchive.ok?.tensorflowVersion, '2.21.0');
});

t.test('TFSLICE_LIBTENSORFLOW pointing at nothing is LIBRARY_NOT_FOUND, not a fallback', async (t) => {
  const missing = probe({ TFSLICE_LIBTENSORFLOW: '/nonexistent/libtensorflow.so.2' }, ROOT);
  t.equal(missing.error?.code, 'LIBRARY_NOT_FOUND');
  t.equal(missing.error?.name, 'LibraryNotFoundError');
  t.match(missing.error?.message, /TFSLICE_LIBTENSORFLOW=\/nonexistent\/libtensorflow\.so\.2: no such file or directory\n/, 'said as missing (helper-73: it read as a directory without the library)');
  t.match(probe({ TFSLICE_LIBTENSORFLOW: EMPTY }, ROOT).error?.message, /TFSLICE_LIBTENSORFLOW=\S+: no libtensorflow_cc\.so\.2 or libtensorflow\.so\.2 or .* there\n/, 'a directory without it: the layouts looked for');
  t.match(missing.error?.message, /pip install tensorflow-cpu/, 'fix 1: pip');
  t.match(missing.error?.message, /Set TFSLICE_LIBTENSORFLOW/, 'fix 2: the env var');
});

t.test('a library without the C API names the missing symbol', async (t) => {
  const libz = ['/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libz.so.1'].find((p) => fs.existsSync(p));
  if (!libz) return t.pass('no libz.so.1 on this machine', { skip: true });
  const wrong = probe({ TFSLICE_LIBTENSORFLOW: libz }, EMPTY);
  t.equal(wrong.error?.code, 'LIBRARY_INCOMPATIBLE');
  t.match(wrong.error?.message, /missing symbol TF_Version/);
});

t.test('with no env, no Python TensorFlow and nothing on the loader path: LIBRARY_NOT_FOUND listing what was tried', async (t) => {
  // An interpreter that has no tensorflow: python3 on a PATH holding only a symlink to it.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-bin-'));
  fs.symlinkSync('/usr/bin/python3', path.join(bin, 'python3'));
  const none = probe({ PATH: bin }, EMPTY);
  t.equal(none.error?.code, 'LIBRARY_NOT_FOUND');
  const cwd = fs.realpathSync(EMPTY);
  // Every place, in order, the absent ones too.
  t.same(none.error?.tried.slice(0, 5), [
    'TFSLICE_LIBTENSORFLOW: not set',
    `./.venv (${path.join(cwd, '.venv')}): no such directory`,
    '$VIRTUAL_ENV: not set',
    `python3 on PATH (${path.join(bin, 'python3')}): no tensorflow package`,
    `tfslice cache ${path.join(NO_CACHE, 'tensorflow', 'current.json')}: no install there`,
  ]);
  t.ok(none.error?.tried.some((x) => x.startsWith('system loader (libtensorflow.so.2)')), 'tried the system loader');
  for (const line of none.error?.tried.slice(0, 4) ?? []) t.ok(none.error?.message.includes(`  - ${line}`), `the message lists ${line}`);
  t.match(none.error?.message, /Possible solutions:/);
  t.match(none.error?.message, /npx tfslice install-tensorflow/, 'fix 3: the installer');
});

t.test('the tried list names ./.venv and $VIRTUAL_ENV whatever they hold, and a missing python3', async (t) => {
  // ./.venv with an interpreter but no tensorflow; $VIRTUAL_ENV a directory with no interpreter.
  const project = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-project-')));
  fs.mkdirSync(path.join(project, '.venv', 'bin'), { recursive: true });
  fs.symlinkSync('/usr/bin/python3', path.join(project, '.venv', 'bin', 'python3'));
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-venv-'));
  const noPython = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-bin-')); // PATH with no python3
  const tried = (env: NodeJS.ProcessEnv, cwd: string) => probe({ PATH: noPython, ...env }, cwd).error?.tried.slice(1, 4);

  t.same(tried({ VIRTUAL_ENV: venv }, project), [
    `./.venv (${path.join(project, '.venv', 'bin', 'python3')}): no tensorflow package`,
    `$VIRTUAL_ENV=${venv} (${path.join(venv, 'bin', 'python3')}): no such interpreter`,
    'python3 on PATH: not found',
  ], 'an interpreter without tensorflow, a venv without an interpreter, no python3');
  t.same(tried({ VIRTUAL_ENV: path.join(venv, 'gone') }, EMPTY)?.[1], `$VIRTUAL_ENV=${path.join(venv, 'gone')} (${path.join(venv, 'gone')}): no such directory`);
  t.same(tried({ VIRTUAL_ENV: path.join(project, '.venv') }, project)?.[1], `$VIRTUAL_ENV=${path.join(project, '.venv')}: the same venv as ./.venv`);

  // An interpreter that cannot answer is named with why.
  const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-venv-'));
  fs.mkdirSync(path.join(broken, 'bin'));
  fs.writeFileSync(path.join(broken, 'bin', 'python3'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
  t.same(tried({ VIRTUAL_ENV: broken }, EMPTY)?.[1], `$VIRTUAL_ENV=${broken} (${path.join(broken, 'bin', 'python3')}): could not be asked (it exited with status 3)`);
});

t.test('the per-user cache: after Python, before the system loader, with no env var', async (t) => {
  // What install-tensorflow leaves: an unpacked archive and current.json naming its library.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-home-'));
  const dir = path.join(home, 'tensorflow', 'archive-2.21.0');
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.symlinkSync(path.join(PIP_DIR, 'libtensorflow_cc.so.2'), path.join(dir, 'lib', 'libtensorflow.so.2'));
  fs.symlinkSync(path.join(PIP_DIR, 'libtensorflow_framework.so.2'), path.join(dir, 'lib', 'libtensorflow_framework.so.2'));
  const library = path.join(dir, 'lib', 'libtensorflow.so.2');
  const record = path.join(home, 'tensorflow', 'current.json');
  fs.writeFileSync(record, JSON.stringify({ library, from: 'archive', version: '2.21.0', gpu: false, dir }));
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-bin-'));

  const found = probe({ PATH: bin, TFSLICE_HOME: home }, EMPTY);
  t.equal(found.ok?.source, 'cache');
  t.equal(found.ok?.path, library);
  t.equal(found.ok?.tensorflowVersion, '2.21.0');

  const xdg = probe({ PATH: bin, TFSLICE_HOME: '', XDG_CACHE_HOME: path.dirname(home), HOME: EMPTY }, EMPTY);
  t.match(xdg.error?.tried.join('\n') ?? '', path.join(path.dirname(home), 'tfslice', 'tensorflow', 'current.json'), 'else $XDG_CACHE_HOME/tfslice');
  const byHome = probe({ PATH: bin, TFSLICE_HOME: '', HOME: EMPTY }, EMPTY);
  t.match(byHome.error?.tried.join('\n') ?? '', path.join(EMPTY, '.cache', 'tfslice', 'tensorflow', 'current.json'), 'else ~/.cache/tfslice');

  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-project-'));
  fs.symlinkSync(path.dirname(path.dirname(PYTHON)), path.join(project, '.venv'));
  t.equal(probe({ PATH: bin, TFSLICE_HOME: home }, project).ok?.source, 'python', 'a Python TensorFlow comes first');

  fs.writeFileSync(record, JSON.stringify({ library: path.join(home, 'gone.so'), from: 'pip', version: '2.21.0', gpu: false, dir }));
  const gone = probe({ PATH: bin, TFSLICE_HOME: home }, EMPTY);
  t.equal(gone.error?.code, 'LIBRARY_NOT_FOUND');
  t.ok(gone.error?.tried.includes(`tfslice cache ${record}: ${path.join(home, 'gone.so')} is gone`), 'a stale record is reported');
  fs.writeFileSync(record, '{not json');
  t.match(probe({ PATH: bin, TFSLICE_HOME: home }, EMPTY).error?.tried.join('\n') ?? '', /current\.json: unreadable/);
});

t.test('a project-local .venv is found from the working directory', async (t) => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-project-'));
  fs.symlinkSync(path.dirname(path.dirname(PYTHON)), path.join(project, '.venv'));
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-bin-'));
  const found = probe({ PATH: bin }, project);
  t.equal(found.ok?.source, 'python');
  t.equal(fs.realpathSync(found.ok?.path ?? '/'), fs.realpathSync(path.join(PIP_DIR, 'libtensorflow_cc.so.2')));
  t.ok(found.ok?.path.startsWith(fs.realpathSync(project)) || found.ok?.path.startsWith(project), 'through the project .venv');
});

t.test('the system loader path is the last resort', async (t) => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-bin-'));
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-ld-'));
  fs.symlinkSync(path.join(PIP_DIR, 'libtensorflow_cc.so.2'), path.join(archive, 'libtensorflow.so.2'));
  fs.symlinkSync(path.join(PIP_DIR, 'libtensorflow_framework.so.2'), path.join(archive, 'libtensorflow_framework.so.2'));
  const found = probe({ PATH: bin, LD_LIBRARY_PATH: archive }, EMPTY);
  t.equal(found.ok?.source, 'system');
  t.equal(found.ok?.path, 'libtensorflow.so.2');
});

t.test('configureRuntime({ oneDnn }) reaches TensorFlow before it loads, and only then', async (t) => {
  const script = (value: boolean) => `
    const t = require(${DIST});
    t.configureRuntime({ oneDnn: ${value} });
    t.loadModel(${JSON.stringify(path.join(ROOT, 'test', 'fixtures', 'tiny', 'model'))}).then(async (m) => {
      await m.run({ x: new t.Tensor('float32', new Float32Array(4), [1, 4]) });
      let late = 'accepted';
      try { t.configureRuntime({ oneDnn: ${!value} }); } catch (e) { late = e.code; }
      console.log(JSON.stringify({ oneDnn: t.runtime().oneDnn, late }));
    });`;
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, TF_CPP_MIN_LOG_LEVEL: '0' };
  const on = node(script(true), env);
  const off = node(script(false), env);
  t.same(JSON.parse(on.stdout.trim()), { oneDnn: true, late: 'FAILED_PRECONDITION' });
  t.same(JSON.parse(off.stdout.trim()), { oneDnn: false, late: 'FAILED_PRECONDITION' });
  t.match(on.stderr, /oneDNN custom operations are on/, 'TensorFlow says oneDNN is on');
  t.notMatch(off.stderr, /oneDNN custom operations are on/, 'and says nothing of it when off');
  t.throws(() => configureRuntime({ oneDnn: 'no' as unknown as boolean }), { name: 'TypeError', message: /^oneDnn must be a boolean/ });

  // Left to TensorFlow, the answer depends on the CPU: it must agree with TensorFlow's log.
  const byDefault = node(`
    const t = require(${DIST});
    t.loadModel(${JSON.stringify(path.join(ROOT, 'test', 'fixtures', 'tiny', 'model'))}).then((m) =>
      console.log(JSON.stringify({ oneDnn: t.runtime().oneDnn, maxConcurrentRuns: String(m.maxConcurrentRuns) })));`, env);
  const reported = JSON.parse(byDefault.stdout.trim()) as { oneDnn: boolean; maxConcurrentRuns: string };
  t.equal(reported.oneDnn, /oneDNN custom operations are on/.test(byDefault.stderr), `runtime().oneDnn (${reported.oneDnn}) is what TensorFlow says`);
  t.equal(reported.maxConcurrentRuns, reported.oneDnn ? '1' : 'Infinity', 'and sets the default maxConcurrentRuns');
});

t.test('a worker_thread terminated while Python is asked where TensorFlow is leaves no child behind', async (t) => {
  // Its event loop, which would have reaped the interpreter, ends with it; the addon's teardown
  // kills and reaps the children lib/ marked (helper-85: a zombie python3 per termination).
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-venv-'));
  fs.mkdirSync(path.join(venv, 'bin'));
  const pidFile = path.join(venv, 'pid');
  // Slow to answer, as a big site-packages on a cold disk is; keeps the arguments it was given.
  fs.writeFileSync(path.join(venv, 'bin', 'python3'), `#!/bin/sh\necho $$ > ${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile}\nexec /usr/bin/python3 -c 'import time; time.sleep(30)' "$@"\n`, { mode: 0o755 });
  const result = node(`
    const fs = require('node:fs');
    const { Worker } = require('node:worker_threads');
    const worker = new Worker('require(${JSON.stringify(JSON.parse(DIST))}).loadTensorFlow().catch(() => {})', { eval: true });
    (async () => {
      const until = async (done) => { for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10)); return done(); };
      await until(() => fs.existsSync(${JSON.stringify(pidFile)}));
      const pid = Number(fs.readFileSync(${JSON.stringify(pidFile)}, 'utf8'));
      // (Empty for a moment while the shell execs the interpreter, as the addon's teardown knows:
      // read until it is not. CI once read it in that moment.)
      let cmdline = [];
      await until(() => { try { cmdline = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0'); } catch { cmdline = []; } return cmdline.join('') !== ''; });
      await worker.terminate();
      const gone = await until(() => !fs.existsSync('/proc/' + pid));
      let state = '';
      try { state = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/^.*\\) /, '')[0]; } catch {}
      console.log(JSON.stringify({ pid, marked: cmdline.includes('--tfslice-child'), gone, state }));
    })();`, { PATH: process.env.PATH, HOME: process.env.HOME, TFSLICE_HOME: NO_CACHE, VIRTUAL_ENV: venv }, EMPTY);
  const got = JSON.parse(result.stdout.trim().split('\n').pop() || '{}') as { pid: number; marked: boolean; gone: boolean; state: string };
  t.ok(got.pid > 0, `the interpreter started (pid ${got.pid}) ${result.stderr}`);
  t.ok(got.marked, 'with the marker argument');
  t.ok(got.gone, `it is gone from /proc once the worker ended${got.state ? ` (state ${got.state})` : ''}`);
});

t.test('loadTensorFlow() loads where code generation from strings is refused (protobufjs cannot set its coders up ahead then; helper-141: that read as LIBRARY_NOT_FOUND)', async (t) => {
  const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))}).loadTensorFlow().then((r) => console.log('loaded', r.tensorflowVersion), (e) => { console.log('failed', e.code, e.message); process.exit(1); });`;
  const result = node(script, { ...process.env, NODE_OPTIONS: '--disallow-code-generation-from-strings', TF_CPP_MIN_LOG_LEVEL: '3' });
  t.equal(result.status, 0, result.stdout + result.stderr.slice(-400));
  t.match(result.stdout, /^loaded \d+\.\d+/);
});
