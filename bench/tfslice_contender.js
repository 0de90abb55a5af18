#!/usr/bin/env node
// Benchmark contender: tfslice itself. argv[2] is a JSON list of jobs; prints one
// JSON line per job: {load_ms, wall_ms, calls, samples_us}. Modes: "sync" (runSync),
// "async" (run, `inflight` calls in flight). Feeds use model.alloc (Tensor.alloc in-process;
// shared memory for an isolated model), so large inputs are read without a copy (borrowed by
// TensorFlow, or read in place by the host); outputs are not read, and each call
// disposes its output (as the C floor deletes its output tensor every call).
'use strict';

const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { loadModel, loadTensorFlow } = require(path.join(__dirname, '..', 'dist', 'index.js'));

function fill(tensor) {
  const data = tensor.data;
  for (let i = 0; i < data.length; i++) data[i] = (i % 97) / 97;
  return tensor;
}

async function measure(job, model, x) {
  const feeds = { [job.input]: x };
  const options = { signature: job.signature, outputs: [job.output] };
  const release = (out) => out[job.output].dispose();
  const call = job.mode === 'sync'
    ? () => release(model.runSync(feeds, options))
    : () => model.run(feeds, options).then(release);
  const deadline = () => performance.now() + job.seconds * 1000;
  const samples = [];
  const inflight = job.mode === 'sync' ? 1 : job.inflight;
  // Warm-up, then the timed loop: `inflight` lanes each awaiting its own calls.
  for (const phase of ['warmup', 'timed']) {
    const limit = phase === 'warmup' ? job.warmup : job.iterations;
    const until = phase === 'warmup' ? Infinity : deadline();
    let started = 0;
    const t0 = performance.now();
    const lane = async () => {
      while (started < limit && performance.now() < until) {
        started++;
        const a = performance.now();
        await call();
        if (phase === 'timed') samples.push((performance.now() - a) * 1000);
      }
    };
    await Promise.all(Array.from({ length: inflight }, lane));
    if (phase === 'timed') return { wall_ms: performance.now() - t0, calls: samples.length, samples_us: samples };
  }
  return null;
}

async function main() {
  const jobs = JSON.parse(process.argv[2]);
  await loadTensorFlow();
  for (const job of jobs) {
    const t0 = performance.now();
    const model = await loadModel(job.model, { ...job.options, signature: job.signature });
    const load_ms = performance.now() - t0;
    const x = fill(model.alloc('float32', job.shape));
    const result = await measure(job, model, x);
    await model.dispose();
    process.stdout.write(`${JSON.stringify({ load_ms, ...result })}\n`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
