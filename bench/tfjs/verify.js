#!/usr/bin/env node
// Checks that the isolated @tensorflow/tfjs-node install (bench/tfjs/.install) loads and
// runs a SavedModel: argv[2] = model dir (default test/fixtures/tiny/model).
'use strict';
process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';
const path = require('node:path');

async function main() {
  const model = process.argv[2] || path.join(__dirname, '..', '..', 'test', 'fixtures', 'tiny', 'model');
  const tf = require(require.resolve('@tensorflow/tfjs-node', { paths: [path.join(__dirname, '.install')] }));
  const m = await tf.node.loadSavedModel(model, ['serve'], 'serving_default');
  const y = m.predict(tf.tensor2d([[1, 2, 3, 4]]));
  const out = Array.from(y.dataSync());
  if (out.length !== 3 || !out.every(Number.isFinite)) throw new Error(`expected 3 numbers, got ${JSON.stringify(out)}`);
  console.log(JSON.stringify({ tfjs: tf.version.tfjs, tfjs_node: tf.version['tfjs-node'],
    libtensorflow: tf.backend().binding.TF_Version, backend: tf.getBackend(), output: out }));
  m.dispose();
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
