// What `tfslice bench` and `tfslice doctor` say about concurrency: how many runs of a model
// TensorFlow executes at once (model.maxConcurrentRuns) and why (oneDNN, as TensorFlow reports
// it), with oneDNN forced on and off so the test does not depend on the host's ISA. Also the
// article helper error messages share (lib/errors.ts: an int64, a uint8).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { concurrencyReport } from '../lib/cli/doctor';
import { article, describe, withArticle } from '../lib/errors';
import { Tensor } from '../lib/index';
import { type CliResult, fixture, jsonOf, tfslice } from './helpers';

const HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-cli82-home-'));
const conv = fixture('conv').dir;

/** Runs `tfslice ...args` with this file's TFSLICE_HOME and extra environment. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => tfslice(args, { home: HOME, env, timeoutMs: 120_000 });
const json = jsonOf;

interface BenchSummary {
  oneDnn: boolean | null;
  concurrency: number;
  executing: number;
  maxConcurrentRuns: number | 'Infinity';
  concurrencyReason: string;
  runs: number;
}

t.test('bench --concurrency 2 says how many runs executed at once, and why', async (t) => {
  const on = json<BenchSummary>(await cli(['bench', conv, '--iterations', '40', '--concurrency', '2', '--json'], { TF_ENABLE_ONEDNN_OPTS: '1' }));
  t.match(on, { oneDnn: true, concurrency: 2, executing: 1, maxConcurrentRuns: 1, runs: 40 }, 'oneDNN on: 2 in flight, 1 executing');
  t.match(on.concurrencyReason, /^maxConcurrentRuns 1 \(one run of a model at a time, the rest wait their turn\): tfslice's default while TensorFlow's oneDNN kernels are on/);
  t.match(on.concurrencyReason, /TF_ENABLE_ONEDNN_OPTS=0/, 'and how to lift it');

  const off = json<BenchSummary>(await cli(['bench', conv, '--iterations', '40', '--concurrency', '2', '--json'], { TF_ENABLE_ONEDNN_OPTS: '0' }));
  t.match(off, { oneDnn: false, concurrency: 2, executing: 2, maxConcurrentRuns: 'Infinity' }, 'oneDNN off: both execute');
  t.match(off.concurrencyReason, /^maxConcurrentRuns Infinity \(runs of a model execute in parallel\): tfslice's default while TensorFlow's oneDNN kernels are off/);

  const text = await cli(['bench', conv, '--iterations', '40', '--concurrency', '2'], { TF_ENABLE_ONEDNN_OPTS: '1' });
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /^model .*TensorFlow 2\.\d+\.\d+, oneDNN on\)$/m, 'the model line says oneDNN');
  t.match(text.stdout, /^runs {8}40 in [\d.]+ s, 2 in flight, 1 executing at a time \(3 warm-up runs not counted\)$/m, 'no more "2 in flight" alone');
  t.match(text.stdout, /^concurrency maxConcurrentRuns 1 \(one run of a model at a time/m, 'and a line with the reason');
  const parallel = await cli(['bench', conv, '--iterations', '40', '--concurrency', '2'], { TF_ENABLE_ONEDNN_OPTS: '0' });
  t.match(parallel.stdout, /2 in flight, all executing at once/);
  // No more in flight than runs to make (helper-58: 100 000 "in flight" for 50 runs, each timed
  // from before the 100 000 calls were made).
  const capped = json<BenchSummary>(await cli(['bench', conv, '--iterations', '5', '--concurrency', '100000', '--json'], { TF_ENABLE_ONEDNN_OPTS: '0' }));
  t.match(capped, { concurrency: 5, executing: 5, runs: 5 }, '--concurrency past --iterations: as many in flight as runs');
});

t.test('doctor says the default concurrency here and why, in text and --json', async (t) => {
  for (const [flag, oneDnn, limit] of [['1', true, 1], ['0', false, 'Infinity']] as const) {
    const report = json<{ ok: boolean; tensorflow: { oneDnn: boolean }; concurrency: Record<string, unknown> }>(await cli(['doctor', '--json'], { TF_ENABLE_ONEDNN_OPTS: flag }));
    t.equal(report.ok, true);
    t.equal(report.tensorflow.oneDnn, oneDnn, `TF_ENABLE_ONEDNN_OPTS=${flag}`);
    t.match(report.concurrency, { maxConcurrentRuns: limit, oneDnn, isDefault: true, reason: new RegExp(`^maxConcurrentRuns ${limit} .*oneDNN kernels are ${oneDnn ? 'on' : 'off'}`) });
    const text = await cli(['doctor'], { TF_ENABLE_ONEDNN_OPTS: flag });
    t.match(text.stdout, new RegExp(`^concurrency {4}maxConcurrentRuns ${limit} \\(`, 'm'), 'a row of its own');
  }
  // Without the variable, TensorFlow decides by CPU; the row follows whatever it reports.
  const host = json<{ tensorflow: { oneDnn: boolean | null }; concurrency: { maxConcurrentRuns: unknown } }>(await cli(['doctor', '--json'], { TF_ENABLE_ONEDNN_OPTS: undefined }));
  t.equal(host.concurrency.maxConcurrentRuns, host.tensorflow.oneDnn === false ? 'Infinity' : 1, `this host: oneDNN ${String(host.tensorflow.oneDnn)}`);
});

t.test('concurrencyReport: a limit that is not the default says so', async (t) => {
  t.match(concurrencyReport(4, true), { maxConcurrentRuns: 4, isDefault: false, reason: 'maxConcurrentRuns 4 (4 runs of a model at a time, the rest wait their turn): as maxConcurrentRuns asks' });
  t.match(concurrencyReport(Infinity, true), { maxConcurrentRuns: 'Infinity', isDefault: false });
  t.match(concurrencyReport(1, null), { isDefault: true, reason: /TensorFlow does not say whether its oneDNN kernels are on/ });
});

t.test('error messages take "an" before a vowel sound', async (t) => {
  const cases: [string, 'a' | 'an'][] = [
    ['int64', 'an'], ['Int32Array', 'an'], ['int8', 'an'], ['object', 'an'], ['array', 'an'], ['undefined', 'an'],
    ['uint8', 'a'], ['Uint8Array', 'a'], ['BigUint64Array', 'a'], ['float32', 'a'], ['bfloat16', 'a'], ['bool', 'a'],
    ['string', 'a'], ['oneDNN', 'a'], ['ragged', 'a'], ['8-bit', 'an'], ['18', 'an'], ['1', 'a'], ['', 'a'],
  ];
  for (const [word, expected] of cases) t.equal(article(word), expected, `${expected} ${word}`);
  t.equal(withArticle('int64'), 'an int64');
  t.equal(describe(new Int32Array(1)), 'an Int32Array');
  t.equal(describe(new Uint16Array(1)), 'a Uint16Array');
  t.throws(() => new Tensor('float32', new Int32Array(1) as unknown as Float32Array, [1]), { name: 'TypeError', message: /, got an Int32Array$/ },
    'as a user meets it');
});
