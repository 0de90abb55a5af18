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
// The model must have one float32 input of known rank (--model NAME: test/fixtures/NAME/model;
// a path with a / names any SavedModel directory); the input's unknown dimensions are filled
// with --batch, and every output is compared.
//
// Without --onednn the child inherits TensorFlow's default, which depends on the CPU: on
// CPUs without AVX512_VNNI/AVX512_BF16/AVX_VNNI/AMX (e.g. an AVX2-only AMD EPYC) TF 2.21
// leaves its oneDNN custom ops OFF, so Conv2D never reaches oneDNN's convolution; pass
// --onednn 1 to test the oneDNN path there. oneDNN picks its convolution implementation by
// shape: e.g. gemm:jit (im2col) at batch 1 but brg_conv_fwd at batch 2 and up for these
// small NHWC convs on AVX2 (ONEDNN_VERBOSE=1 prints the choice).
'use strict';

const { spawnSync } = require('node:child_process');

const { args, flag, loadFixture, opt, parentOrChild, singleInputFeeds } = require('./probe-common');

parentOrChild('TFSLICE_PROBE_CHILD', parent, child);

async function child() {
  const calls = Number(opt('calls', 200));
  const inflight = Number(opt('inflight', 2));
  const sessions = Number(opt('sessions', 1));
  const serialize = flag('serialize');
  const models = [];
  for (let i = 0; i < sessions; i++) models.push(await loadFixture(opt('model', 'conv'), serialize ? { maxConcurrentRuns: 1 } : {}));
  // Any float32 single-input model; every output is compared with a serial run.
  const feeds = singleInputFeeds(models[0], Number(opt('batch', 2)));
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
