// Both build systems compile the same sources, and the published declarations match lib/.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { ROOT } from './helpers';

function gypSources(): string[] {
  // binding.gyp takes its list from native/sources.gypi (a Python literal).
  const gypi = fs.readFileSync(path.join(ROOT, 'native', 'sources.gypi'), 'utf8');
  const binding = fs.readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8');
  t.match(binding, /'includes':\s*\['native\/sources\.gypi'\]/, 'binding.gyp includes sources.gypi');
  t.match(binding, /'sources':\s*\['<@\(tfslice_sources\)'\]/, 'binding.gyp compiles exactly tfslice_sources');
  return [...gypi.matchAll(/'(native\/[^']+\.cc)'/g)].map((m) => m[1]!).sort();
}

function cmakeSources(): string[] {
  // Evaluate the same native/sources.cmake that CMakeLists.txt includes.
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-cmake-')), 'print.cmake');
  fs.writeFileSync(script, `include("${ROOT}/native/sources.cmake")\nmessage(STATUS "SOURCES=\${TFSLICE_SOURCES}")\n`);
  const out = execFileSync('cmake', ['-P', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const line = out.split('\n').find((l) => l.includes('SOURCES='))!;
  return line.slice(line.indexOf('SOURCES=') + 8).split(';').filter(Boolean).sort();
}

t.test('binding.gyp and CMakeLists.txt compile the same native sources', async (t) => {
  const onDisk = fs.readdirSync(path.join(ROOT, 'native')).filter((f) => f.endsWith('.cc')).map((f) => `native/${f}`).sort();
  const gyp = gypSources();
  t.ok(gyp.length >= 5, 'the gyp list is not empty');
  t.same(gyp, onDisk, 'every native/*.cc is built by node-gyp, and nothing else');
  t.same(cmakeSources(), gyp, 'cmake-js builds the same list');
  const cmakeLists = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  t.match(cmakeLists, /include\(native\/sources\.cmake\)/, 'CMakeLists.txt reads the shared list');
  t.match(cmakeLists, /add_library\(\$\{PROJECT_NAME\} SHARED \$\{TFSLICE_SOURCES\}/, 'and compiles it');
});

t.test('the addon links nothing from TensorFlow', async (t) => {
  // The one the tests load: build/Release, else (after npm run prebuild) the prebuild.
  const addon = (require('node-gyp-build') as { path(dir: string): string }).path(ROOT);
  t.ok(fs.existsSync(addon), `${path.relative(ROOT, addon)} exists`);
  const needed = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' });
  t.notMatch(needed, /tensorflow/i, 'no DT_NEEDED entry names TensorFlow');
});

t.test('types/ is what tsc emits for lib/', async (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-types-'));
  // Not incremental: the project's build info (dist/.tsbuildinfo) would say a second run here has
  // nothing to emit.
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', ROOT, '--emitDeclarationOnly', '--declarationDir', out, '--outDir', out, '--incremental', 'false'], { stdio: 'pipe' });
  // Recursive: lib/cli/ emits types/cli/.
  const emitted = fs.readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts')).sort();
  const committed = fs.readdirSync(path.join(ROOT, 'types'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts')).sort();
  t.same(committed, emitted, 'the same declaration files');
  for (const file of emitted) {
    t.equal(fs.readFileSync(path.join(ROOT, 'types', file), 'utf8'), fs.readFileSync(path.join(out, file), 'utf8'), `types/${file} is current (run npm run build)`);
  }
});

t.test('the declarations type-check on their own, as a consumer compiles them', async (t) => {
  // stripInternal drops @internal declarations; a public file that still re-exports one
  // compiles here (lib/ has it) but fails in every TypeScript consumer. Same options as
  // scripts/consumer-test.js's project, with the library checks on.
  const files = fs.readdirSync(path.join(ROOT, 'types'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.d.ts')).map((f) => path.join(ROOT, 'types', f));
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'commonjs', '--moduleResolution', 'node10', '--esModuleInterop', '--types', 'node'];
  let report = '';
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), ...args, ...files], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    report = String((e as { stdout?: string }).stdout ?? e);
  }
  // Only our files count: scripts/consumer-test.js checks the package whole, dependencies included.
  const ours = report.split('\n').filter((l) => l.startsWith('types/'));
  t.same(ours, [], `${files.length} declaration files type-check`);
});

t.test("npm test at a terminal: tap reads a test file's stderr however much it writes (package.json's tap.reporter is raw TAP), and tests' child processes print no color codes (tap.color false)", async (t) => {
  // tap's interactive reporters (its default at a terminal) stopped reading a test process's
  // stderr after a few hundred KB: TensorFlow's log lines (test/timing/72's thousands of failed
  // runs) then blocked a compute thread in write(2), and the file hung until tap's timeout. And
  // at a terminal tap set FORCE_COLOR for the tests, so the Node processes they start wrote
  // numbers in color, and tests reading their output (test/70, 95, timing/40) failed.
  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (script.error) {
    t.pass(`no script(1) here to give tap a terminal: ${script.error.message}`, { skip: true });
    return;
  }
  // Inside the repository's .tap/ (git-ignored): tap, run from ROOT, saves a file's results under
  // .tap/test-results/ at its path from ROOT, and one in the system's /tmp landed in ROOT/tmp/
  // (committed by mistake, helper-126).
  fs.mkdirSync(path.join(ROOT, '.tap'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(ROOT, '.tap', 'tfslice-stderr-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const noisy = path.join(dir, 'noisy.test.js');
  fs.writeFileSync(noisy, `const t = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'tap'))});
for (let i = 0; i < 4000; i++) process.stderr.write('x'.repeat(499) + '\\n');
t.pass('wrote 2 MB to stderr');
t.equal(require('node:child_process').execFileSync(process.execPath, ['-e', "console.log('n', 1)"], { encoding: 'utf8' }), 'n 1\\n', 'a child process prints a number without color codes');
`);
  // A run of its own, as at a terminal, not a subtest of this one: none of the variables tap
  // sets for its children (COLOR=0 among them would choose the raw reporter by itself).
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(TAP|_TAPJS|NODE_OPTIONS$|NODE_V8_COVERAGE$|COLOR$|FORCE_COLOR$|NO_COLOR$|TS_NODE_)/.test(key)));
  const tap = path.join(ROOT, 'node_modules', '.bin', 'tap');
  const run = spawnSync('script', ['-qec', `${tap} --disable-coverage ${noisy}`, '/dev/null'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  t.equal(run.error, undefined, 'ended within 60 s');
  t.equal(run.status, 0, run.stdout.split('\n').filter((l) => !/^x+\r?$/.test(l)).slice(-20).join('\n'));
  t.match(run.stdout, /# \{ total: 2, pass: 2 \}/, 'the summary of raw TAP');
});

t.test("scripts/tap-failures.js names each failed assertion by its subtests' path, and a subtest that failed with none (a spawned test's crash)", async (t) => {
  // helper-142: test/timing/72's driver spawns its body; a body killed by a signal closed its
  // subtest with `not ok` and no failed assertion inside, which the script skipped (it printed
  // nothing while tap's summary said the run failed).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-tap-results-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'test'));
  fs.writeFileSync(path.join(dir, 'test', 'driver.test.ts.tap'), [
    'TAP version 14',
    '# Subtest: TF_ENABLE_ONEDNN_OPTS=0',
    '    # Subtest: a test',
    '        not ok 1 - one is two',
    '          ---',
    '          found: 1',
    '          wanted: 2',
    '          at:',
    '            line: 3',
    '          ...',
    '        1..1',
    '    not ok 1 - a test # time=5ms',
    '    1..1',
    'not ok 1 - TF_ENABLE_ONEDNN_OPTS=0 # time=9ms',
    '# Subtest: TF_ENABLE_ONEDNN_OPTS=1',
    '    ok 1 - a test',
    'not ok 2 - TF_ENABLE_ONEDNN_OPTS=1 # time=7ms',
    '  ---',
    '  signal: SIGSEGV',
    '  ...',
    '1..2',
    '',
  ].join('\n'));
  const out = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'tap-failures.js'), dir], { encoding: 'utf8' });
  t.match(out, /test\/driver\.test\.ts: TF_ENABLE_ONEDNN_OPTS=0 > a test > one is two\n\s+found: 1\n\s+wanted: 2\n/, 'the assertion, by its path, with its diff');
  t.notMatch(out, /at:|line: 3/, 'not where it is in the source');
  t.notMatch(out, /: TF_ENABLE_ONEDNN_OPTS=0 > a test\n|: TF_ENABLE_ONEDNN_OPTS=0\n/, 'the subtests that end with it are not named again');
  t.match(out, /test\/driver\.test\.ts: TF_ENABLE_ONEDNN_OPTS=1\n\s+signal: SIGSEGV/, 'the subtest that failed with no failed assertion, with its signal');
  t.equal(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'tap-failures.js'), fs.mkdtempSync(path.join(dir, 'none-'))], { encoding: 'utf8' }), '', 'nothing where nothing failed');
});
