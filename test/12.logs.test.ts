// TensorFlow's log lines: quiet by default (its INFO lines, the oneDNN line it prints while it
// loads, absl's preamble) in scripts, the CLI and model hosts, with oneDNN off and on; all of
// them with TFSLICE_TF_LOGS=1; the user's TF_CPP_MIN_LOG_LEVEL as given. Each case runs in a
// child process: TensorFlow prints these once per process.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { node, ROOT } from './helpers';

const DIST = JSON.stringify(path.join(ROOT, 'dist', 'index.js'));
const TINY = path.join(ROOT, 'test', 'fixtures', 'tiny', 'model');

// absl's line format: severity, MMDD, time, thread id, file:line.
const INFO = /^I\d{4} [\d:.]+ +\d+ [^ ]+:\d+\] /m;
const PREAMBLE = /^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$/m;
const ONEDNN_LINE = /^I\d{4} .* port\.cc:\d+\] oneDNN custom operations are on/m;
const LOAD_LINE = /^I\d{4} .* reader\.cc:\d+\] Reading SavedModel from: /m;

// Loads tiny (in this process or a host), runs it, prints the output and TensorFlow's oneDNN answer.
const script = (isolation: 'none' | 'process') => `
  const t = require(${DIST});
  (async () => {
    const m = await t.loadModel(${JSON.stringify(TINY)}, { isolation: '${isolation}' });
    const out = await m.run({ x: new t.Tensor('float32', new Float32Array([1, 2, 3, 4]), [1, 4]) });
    await m.dispose();
    console.log(JSON.stringify({ y: Array.from(out.y.data), oneDnn: t.runtime().oneDnn }));
  })();`;

const BASE = { PATH: process.env.PATH, HOME: process.env.HOME };

function runScript(isolation: 'none' | 'process', env: NodeJS.ProcessEnv): { oneDnn: boolean; stderr: string } {
  const result = node(script(isolation), { ...BASE, ...env });
  if (result.status !== 0) throw new Error(`exit ${result.status}: ${result.stderr}`);
  const printed = JSON.parse(result.stdout.trim().split('\n').pop()!) as { y: number[]; oneDnn: boolean };
  return { oneDnn: printed.oneDnn, stderr: result.stderr };
}

for (const oneDnn of ['0', '1']) {
  for (const isolation of ['none', 'process'] as const) {
    t.test(`TF_ENABLE_ONEDNN_OPTS=${oneDnn}, isolation '${isolation}': quiet, and TensorFlow's logs with TFSLICE_TF_LOGS=1`, async (t) => {
      const quiet = runScript(isolation, { TF_ENABLE_ONEDNN_OPTS: oneDnn });
      t.equal(quiet.oneDnn, oneDnn === '1', `oneDNN ${oneDnn === '1' ? 'on' : 'off'}`);
      t.notMatch(quiet.stderr, INFO, 'no INFO line');
      t.notMatch(quiet.stderr, PREAMBLE, "no absl 'All log messages before' line");

      const loud = runScript(isolation, { TF_ENABLE_ONEDNN_OPTS: oneDnn, TFSLICE_TF_LOGS: '1' });
      t.match(loud.stderr, PREAMBLE, "absl's line");
      t.match(loud.stderr, LOAD_LINE, isolation === 'process' ? "the host's INFO lines" : 'INFO lines of the load');
      if (oneDnn === '1') t.match(loud.stderr, ONEDNN_LINE, 'the oneDNN line TensorFlow prints while it loads');
      else t.notMatch(loud.stderr, ONEDNN_LINE, 'no oneDNN line with oneDNN off');
    });
  }
}

t.test("the user's TF_CPP_MIN_LOG_LEVEL holds, from TensorFlow's first line", async (t) => {
  const all = runScript('none', { TF_ENABLE_ONEDNN_OPTS: '1', TF_CPP_MIN_LOG_LEVEL: '0' });
  t.match(all.stderr, ONEDNN_LINE, '0: the oneDNN line');
  t.match(all.stderr, LOAD_LINE, '0: and the INFO lines of the load');
  const none = runScript('none', { TF_ENABLE_ONEDNN_OPTS: '1', TF_CPP_MIN_LOG_LEVEL: '3', TFSLICE_TF_LOGS: '1' });
  t.equal(none.stderr, '', '3: nothing, TFSLICE_TF_LOGS=1 or not');
});

t.test('the CLI is quiet unless asked', async (t) => {
  const cli = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), 'run', TINY, '--input', 'x=[[1,2,3,4]]'],
    { cwd: ROOT, env: { ...BASE, TF_ENABLE_ONEDNN_OPTS: '1', ...env }, encoding: 'utf8', timeout: 120_000 });
  const quiet = cli({});
  t.equal(quiet.status, 0);
  t.match(quiet.stdout, /^y: float32 \[1, 3\]/m);
  t.notMatch(quiet.stderr, INFO, 'no INFO line');
  t.notMatch(quiet.stderr, PREAMBLE, "no absl 'All log messages before' line");
  const loud = cli({ TFSLICE_TF_LOGS: '1' });
  t.match(loud.stderr, ONEDNN_LINE);
  t.match(loud.stderr, PREAMBLE);
});

// What a library's static initialisers print while dlopen runs them, as TensorFlow's do: absl
// lines of each severity, absl's preamble, other text, a line written in two parts, a last line
// with no newline; with FAKE_ABORT, a FATAL line and abort(), as TensorFlow's CPU check does.
const FAKE_SOURCE = String.raw`
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void say(const char* s) { if (write(2, s, strlen(s)) < 0) abort(); }
__attribute__((constructor)) static void init(void) {
  say("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n");
  say("I0000 00:00:1796037507.597365    8655 port.cc:153] an info line\n");
  say("W0000 00:00:1796037507.597365    8655 port.cc:154] a warning line\n");
  say("E0000 00:00:1796037507.597365    8655 port.cc:155] an error line\n");
  say("a plain line\nI0000 not absl] x\n");
  say("I0000 00:00:1796037507.597365    8655 port.cc:156] an info line ");
  usleep(20000);
  say("written in two parts\n");
  if (getenv("FAKE_ABORT")) { say("F0000 00:00:1796037507.597365    8655 guard.cc:1] a fatal line\n"); abort(); }
  say("a last line with no newline");
}
`;

const KEPT = [
  'W0000 00:00:1796037507.597365    8655 port.cc:154] a warning line',
  'E0000 00:00:1796037507.597365    8655 port.cc:155] an error line',
  'a plain line',
  'I0000 not absl] x',
];

t.test('while TensorFlow loads, only absl lines below the level and absl\'s preamble are held back; fd 2 comes back', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-fake-'));
  const fake = path.join(dir, 'fake.so');
  fs.writeFileSync(path.join(dir, 'fake.c'), FAKE_SOURCE);
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-o', fake, path.join(dir, 'fake.c')], { stdio: 'pipe' });
  } catch (error) {
    return t.pass(`no C compiler: ${(error as Error).message}`, { skip: true });
  }
  // The fake has no C API: LIBRARY_INCOMPATIBLE, after its initialisers ran.
  const load = (how: 'async' | 'sync', env: NodeJS.ProcessEnv) => node(`
    const t = require(${DIST});
    console.error('before');
    const after = (e) => console.error('after: ' + e.code);
    ${how === 'async' ? 't.loadTensorFlow().catch(after);' : 'try { t.runtime(); } catch (e) { after(e); }'}`,
  { ...BASE, TFSLICE_LIBTENSORFLOW: fake, ...env });

  for (const how of ['async', 'sync'] as const) {
    const quiet = load(how, {});
    t.equal(quiet.stderr, ['before', ...KEPT, 'a last line with no newline' + 'after: LIBRARY_INCOMPATIBLE', ''].join('\n'),
      `${how}: warnings, errors and other text pass, in order, before the load settles; INFO and the preamble do not`);
  }
  const level2 = load('async', { TF_CPP_MIN_LOG_LEVEL: '2' });
  t.notMatch(level2.stderr, /a warning line/, 'TF_CPP_MIN_LOG_LEVEL=2 holds back warnings too');
  t.match(level2.stderr, /an error line/);

  const everything = load('async', { TFSLICE_TF_LOGS: '1' });
  t.match(everything.stderr, PREAMBLE, 'TFSLICE_TF_LOGS=1: all of it');
  t.match(everything.stderr, /an info line\n/);
  t.match(everything.stderr, /an info line written in two parts\n/);

  const aborted = load('async', { FAKE_ABORT: '1' });
  t.equal(aborted.status, null, 'an initialiser that aborts still aborts the process');
  for (const line of [...KEPT, 'F0000 00:00:1796037507.597365    8655 guard.cc:1] a fatal line']) {
    t.ok(aborted.stderr.includes(`${line}\n`), `and its output reaches stderr: ${line}`);
  }
});
