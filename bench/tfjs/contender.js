#!/usr/bin/env node
// Benchmark contender: @tensorflow/tfjs-node 4.22.0 (installed by bench/tfjs/setup.sh into
// bench/tfjs/.install, running on the TensorFlow 2.21 C library of the pip wheel).
// argv[2] is a JSON list of jobs:
//   [{ "model": dir, "signature": "serving_default", "input": key, "shape": [1,4],
//      "iterations": N, "warmup": W, "output"?: key, "seconds"?: limit }]
// and one JSON line per job is printed: {load_ms, wall_ms, calls, samples_us}.
// One call = tf.tensor(Float32Array of (i%97)/97, shape) -> model.predict -> dataSync()
// of the output(s), inside tf.tidy so the input and output tensors are disposed.
'use strict';

process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';
const path = require('node:path');
const { performance } = require('node:perf_hooks');

let tfPath;
try {
  tfPath = require.resolve('@tensorflow/tfjs-node', { paths: [path.join(__dirname, '.install')] });
} catch (e) {
  console.error('contender.js: @tensorflow/tfjs-node is not installed in bench/tfjs/.install; run bench/tfjs/setup.sh');
  process.exit(2);
}
if (!tfPath.startsWith(path.join(__dirname, '.install', 'node_modules') + path.sep)) {
  console.error(`contender.js: resolved @tensorflow/tfjs-node outside bench/tfjs/.install: ${tfPath}`);
  process.exit(2);
}
const tf = require(tfPath);

function inputData(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i % 97) / 97;
  return data;
}

// predict() returns a Tensor for single-output signatures, a name->Tensor map otherwise.
function readOutputs(result, output) {
  if (result instanceof tf.Tensor) return result.dataSync();
  if (output !== undefined) return result[output].dataSync();
  let last;
  for (const key of Object.keys(result)) last = result[key].dataSync();
  return last;
}

async function main() {
  const jobs = JSON.parse(process.argv[2]);
  for (const job of jobs) {
    const t0 = performance.now();
    const model = await tf.node.loadSavedModel(job.model, ['serve'], job.signature || 'serving_default');
    const load_ms = performance.now() - t0;

    const data = inputData(job.shape);
    const feedsFor = (x) => (job.input === undefined ? x : { [job.input]: x });
    const call = () => tf.tidy(() => {
      const x = tf.tensor(data, job.shape, 'float32');
      readOutputs(model.predict(feedsFor(x)), job.output);
    });

    for (let i = 0; i < (job.warmup || 0); i++) call();

    const samples = [];
    const start = performance.now();
    const deadline = job.seconds === undefined ? Infinity : start + job.seconds * 1000;
    while (samples.length < job.iterations && performance.now() < deadline) {
      const a = performance.now();
      call();
      samples.push((performance.now() - a) * 1000);
    }
    const wall_ms = performance.now() - start;
    model.dispose();
    process.stdout.write(`${JSON.stringify({ load_ms, wall_ms, calls: samples.length, samples_us: samples })}\n`);
  }
}

main().catch((error) => {
  console.error(error && error.stack || error);
  process.exit(1);
});
