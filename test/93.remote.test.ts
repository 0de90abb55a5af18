// Sessions on a remote TensorFlow worker (loadModel(path, { target: 'grpc://host:port' })): a real
// tf.distribute.Server (Python TensorFlow) runs the fixtures. TensorFlow's server listens on every
// interface, so it runs in a network namespace of its own (unshare -n) with the Node process that
// uses it: nothing outside the machine, or outside the namespace, can reach it. Skipped, saying
// why, where namespaces cannot be made.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { loadModel } from '../lib/index';
import { fixture, PYTHON, ROOT } from './helpers';

const WORKER = `
import os, socket, sys
import tensorflow as tf
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
server = tf.distribute.Server(tf.train.ClusterSpec({'worker': ['127.0.0.1:%d' % port]}), job_name='worker', task_index=0, start=True)
print('READY %d' % port, flush=True)
sys.stdin.read()
`;

// Runs in the namespace: starts the worker (its cwd an empty directory), loads through it, prints JSON.
const CLIENT = `
const { spawn } = require('node:child_process');
const { loadModel } = require('./dist/index.js');
const [python, workerCode, emptyDir, relTiny] = process.argv.slice(1);
const worker = spawn(python, ['-c', workerCode], { cwd: emptyDir, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
const out = {};
let buffered = '';
worker.stdout.on('data', async (chunk) => {
  buffered += chunk;
  const ready = /READY (\\d+)/.exec(buffered);
  if (!ready || out.target) return;
  const target = out.target = 'grpc://127.0.0.1:' + ready[1];
  const plain = (t) => ({ dtype: t.dtype, shape: t.shape, data: t.dtype === 'string' ? t.bytes().map((b) => Buffer.from(b).toString()) : Array.from(t.data, (x) => typeof x === 'bigint' ? String(x) : x) });
  try {
    const tiny = await loadModel(relTiny, { target });
    out.devices = tiny.devices.map((d) => d.name);
    out.tiny = plain((await tiny.run({ x: { dtype: 'float32', shape: [2, 4], data: new Float32Array([1, 2, 3, 4, -1, 0.5, 0, 2]) } })).y);
    out.config = tiny.config;
    await tiny.dispose();
    const vocab = await loadModel(process.env.VOCAB, { target });
    out.vocab = Object.fromEntries(Object.entries(await vocab.run({ words: { dtype: 'string', shape: [3], data: ['banana', 'kiwi', 'apple'] } })).map(([k, v]) => [k, plain(v)]));
    await vocab.dispose();
    // Two sessions of one model on one worker: each has its own variables (isolate_session_state).
    const [c1, c2] = [await loadModel(process.env.COUNTER, { target }), await loadModel(process.env.COUNTER, { target })];
    out.counters = [];
    for (const m of [c1, c2, c1]) out.counters.push((await m.run({}, { signature: 'incr_counter' })).output.data[0]);
    out.placement = await c1.placement({}, { signature: 'get_counter' }).then(() => null, (e) => ({ code: e.code, message: e.message }));
    await Promise.all([c1.dispose(), c2.dispose()]);
    const elsewhere = '/proc/self/cwd/' + relTiny;
    out.missing = await loadModel(elsewhere, { target }).then(() => null, (e) => ({ code: e.code, message: e.message }));
  } catch (e) {
    out.error = { code: e.code, message: e.message };
  }
  worker.stdin.end();
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
});
setTimeout(() => { process.stdout.write(JSON.stringify({ error: { message: 'the worker did not start in 60 s: ' + buffered } })); process.exit(1); }, 60000).unref();
`;

// The unshare flags that give a network namespace of its own here: -n as root, else -r -n (a user
// namespace too, where unprivileged ones are allowed). A string says why there is none.
function namespaceFlags(): string[] | string {
  let why = '';
  for (const flags of [['-n'], ['-r', '-n']]) {
    const probe = spawnSync('unshare', [...flags, 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
    if (probe.error) return `unshare cannot run: ${probe.error.message}`;
    if (probe.status === 0) return flags;
    why = probe.stderr.trim() || `status ${probe.status}`;
  }
  return `unshare -n and -r -n failed here (${why}): no network namespace to keep the worker's all-interfaces listener in`;
}

t.test('targets TensorFlow cannot open are refused before it tries, with the fix', async (t) => {
  const { dir } = fixture('tiny');
  await t.rejects(loadModel(dir, { target: 'local' }), { code: 'ERR_OUT_OF_RANGE', message: /'local' is TensorFlow 1's name for this process: use ''/ });
  await t.rejects(loadModel(dir, { target: '127.0.0.1:2222' }), { code: 'ERR_OUT_OF_RANGE', message: /write grpc:\/\/127\.0\.0\.1:2222/ });
  await t.rejects(loadModel(dir, { target: 'grpc://127.0.0.1' }), { code: 'ERR_OUT_OF_RANGE' });
  await t.rejects(loadModel(dir, { target: 'grpc://127.0.0.1:99999' }), { code: 'ERR_OUT_OF_RANGE', message: /target/ }, 'a port past 65535');
  await t.rejects(loadModel(dir, { target: 'grpc://[::1:2222' }), { code: 'ERR_OUT_OF_RANGE', message: /target/ }, 'an unclosed bracket');
  await t.rejects(loadModel(dir, { target: 7 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  await t.rejects(loadModel(dir, { operationTimeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /operationTimeoutMs/ });
  const started = Date.now();
  await t.rejects(loadModel(dir, { target: 'grpc://127.0.0.1:1' }), { code: 'UNAVAILABLE', message: /nothing answers at grpc:\/\/127\.0\.0\.1:1.*start the TensorFlow worker/ });
  t.ok(Date.now() - started < 5000, 'at once, not after TensorFlow\'s retries');
});

t.test('fixtures run on a tf.distribute.Server worker', async (t) => {
  const flags = namespaceFlags();
  if (typeof flags === 'string') {
    t.pass(flags, { skip: true });
    return;
  }
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-worker-'));
  t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
  const relTiny = path.relative(ROOT, fixture('tiny').dir);
  const run = spawnSync('unshare', [...flags, 'sh', '-c', 'ip link set lo up && exec "$0" -e "$1" "$2" "$3" "$4" "$5"', process.execPath, CLIENT, PYTHON, WORKER, empty, relTiny], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VOCAB: fixture('tf1_vocab').dir, COUNTER: fixture('counter').dir },
  });
  const out = JSON.parse(run.stdout || '{}') as Record<string, any>;
  t.equal(out.error, undefined, 'no failure');
  t.match(out.target, /^grpc:\/\/127\.0\.0\.1:\d+$/);
  t.same(out.devices, ['/job:worker/replica:0/task:0/device:CPU:0'], "the session's device is the worker's");
  const tiny = fixture('tiny').golden;
  t.equal(tiny.cases.length > 0, true);
  t.same(out.tiny.shape, [2, 3]);
  // y = x·w + b with the fixture's weights, as the local loader computes it (test/30 checks that against Python).
  const local = await loadModel(fixture('tiny').dir);
  const want = (await local.run({ x: { dtype: 'float32', shape: [2, 4], data: new Float32Array([1, 2, 3, 4, -1, 0.5, 0, 2]) } })).y!;
  await local.dispose();
  t.same(out.tiny.data, Array.from(want.data as Float32Array), 'the worker computes what this process computes');
  t.equal(out.config.operationTimeoutInMs, 60000, 'a remote session gets a deadline for blocking operations by default');
  t.equal(out.config.isolateSessionState, true, 'and variables of its own on the worker');
  t.same(out.vocab.ids.data, ['1', '-1', '0'], 'TF1 table initialised from its asset on the worker');
  t.same(out.counters, [1, 1, 2], 'two sessions of a model on one worker keep their own variables');
  t.match(out.placement, { code: 'UNIMPLEMENTED', message: /runs on grpc:/ }, 'placement() is for sessions in this process');
  t.match(out.missing, { code: 'NOT_FOUND', message: /must exist at that same path on the worker too/ }, 'a path the worker does not have: the error says so');
});
