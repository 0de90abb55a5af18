#!/usr/bin/env node
// Measures whether concurrent TF_SessionRun calls crash (issue: oneDNN segfaults on
// concurrent Conv2D runs in TensorFlow 2.21 CPU). Each trial is a child process that
// loads a fixture (--model, default conv) and fires `calls` runs with up to `inflight` at once, over
// `sessions` sessions of the same model. A trial passes when the child exits 0 with
// every output equal to the serial result; a crash is a signal exit.
//
//   node scripts/concurrency-probe.js [--trials 20] [--calls 200] [--inflight 2]
//        [--sessions 1] [--onednn 1|0] [--serialize] [--model conv] [--batch 2] [--json]
//
// The model must have one float32 input of known rank (test/fixtures/MODEL/model); the
// input's unknown dimensions are filled with --batch, and every output is compared.
//
// Without --onednn the child inherits TensorFlow's default, which depends on the CPU: on
// CPUs without AVX512_VNNI/AVX512_BF16/AVX_VNNI/AMX (e.g. an AVX2-only AMD EPYC) TF 2.21
// leaves its oneDNN custom ops OFF, so Conv2D never reaches oneDNN's convolution; pass
// --onednn 1 to test the oneDNN path there. oneDNN picks its convolution implementation by
// shape: e.g. gemm:jit (im2col) at batch 1 but brg_conv_fwd at batch 2 and up for these
// small NHWC convs on AVX2 (ONEDNN_VERBOSE=1 prints the choice).
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
  for (let i = 0; i < sessions; i++) models.push(await loadModel(dir, { maxConcurrentRuns: serialize ? 1 : Infinity }));
  // Any float32 single-input model: the input key and shape come from the default
  // signature (unknown dimensions become --batch), every output is compared.
  const batch = Number(opt('batch', 2));
  const sig = models[0].signatures[models[0].defaultSignature];
  const inputKeys = Object.keys(sig.inputs);
  if (inputKeys.length !== 1) throw new Error(`expected one input, got ${inputKeys.join(', ')}`);
  const [key] = inputKeys;
  const spec = sig.inputs[key];
  if (spec.dtype !== 'float32' || spec.shape === null) throw new Error(`input '${key}' must be float32 of known rank`);
  const shape = spec.shape.map((d) => (d < 0 ? batch : d));
  const size = shape.reduce((a, b) => a * b, 1);
  const feeds = { [key]: new Tensor('float32', Float32Array.from({ length: size }, (_, i) => Math.sin(i)), shape) };
  const reference = models[0].runSync(feeds);
  const outputKeys = Object.keys(reference);
  let next = 0;
  let mismatches = 0;
  async function lane(k) {
    while (next < calls) {
      next++;
      const out = await models[k % sessions].run(feeds);
      for (const o of outputKeys) {
        const got = out[o].data;
        const expected = reference[o].data;
        let bad = got.length !== expected.length;
        for (let i = 0; !bad && i < got.length; i++) bad = Math.abs(got[i] - expected[i]) > 1e-4 * Math.max(1, Math.abs(expected[i]));
        if (bad) { mismatches++; break; }
      }
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
