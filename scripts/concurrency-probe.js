#!/usr/bin/env node
// Measures whether concurrent TF_SessionRun calls crash (issue: oneDNN segfaults on
// concurrent Conv2D runs in TensorFlow 2.21 CPU). Each trial is a child process that
// loads the conv fixture and fires `calls` runs with up to `inflight` at once, over
// `sessions` sessions of the same model. A trial passes when the child exits 0 with
// every output equal to the serial result; a crash is a signal exit.
//
//   node scripts/concurrency-probe.js [--trials 20] [--calls 200] [--inflight 2]
//        [--sessions 1] [--onednn 1|0] [--serialize] [--json]
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}
const flag = (name) => args.includes(`--${name}`);

if (process.env.TFSLICE_PROBE_CHILD) {
  child().catch((e) => {
    console.error(e);
    process.exit(3);
  });
} else {
  parent();
}

async function child() {
  const { loadModel, Tensor } = require(path.join(__dirname, '..', 'dist', 'index.js'));
  const calls = Number(opt('calls', 200));
  const inflight = Number(opt('inflight', 2));
  const sessions = Number(opt('sessions', 1));
  const serialize = flag('serialize');
  const dir = path.join(__dirname, '..', 'test', 'fixtures', opt('model', 'conv'), 'model');
  const models = [];
  for (let i = 0; i < sessions; i++) models.push(await loadModel(dir, serialize ? { maxConcurrentRuns: 1 } : {}));
  const batch = Number(opt('batch', 2));
  const image = new Tensor('float32', Float32Array.from({ length: batch * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [batch, 8, 8, 3]);
  const expected = models[0].runSync({ image }).output_0.data;
  let next = 0;
  let mismatches = 0;
  async function lane(k) {
    while (next < calls) {
      next++;
      const out = await models[k % sessions].run({ image });
      const got = out.output_0.data;
      for (let i = 0; i < got.length; i++) if (Math.abs(got[i] - expected[i]) > 1e-4) { mismatches++; break; }
    }
  }
  await Promise.all(Array.from({ length: inflight }, (_, k) => lane(k)));
  process.exit(mismatches ? 2 : 0);
}

function parent() {
  const trials = Number(opt('trials', 20));
  const env = { ...process.env, TFSLICE_PROBE_CHILD: '1', UV_THREADPOOL_SIZE: String(Math.max(4, Number(opt('inflight', 2)))) };
  if (opt('onednn', '') !== '') env.TF_ENABLE_ONEDNN_OPTS = opt('onednn', '1');
  const outcomes = { passed: 0, crashed: 0, wrong: 0, failed: 0 };
  const started = Date.now();
  for (let t = 0; t < trials; t++) {
    const r = spawnSync(process.execPath, [__filename, ...args], { env, encoding: 'utf8' });
    if (r.status === 0) outcomes.passed++;
    else if (r.signal) outcomes.crashed++;
    else if (r.status === 2) outcomes.wrong++;
    else {
      outcomes.failed++;
      process.stderr.write(r.stderr.slice(-2000));
    }
    process.stderr.write(`\rtrial ${t + 1}/${trials} ${JSON.stringify(outcomes)}`);
  }
  process.stderr.write('\n');
  const result = { args: args.join(' '), trials, ...outcomes, seconds: (Date.now() - started) / 1000 };
  console.log(flag('json') ? JSON.stringify(result) : result);
}
