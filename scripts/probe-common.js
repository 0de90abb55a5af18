// Shared by concurrency-probe.js and throughput.js: their flags, the parent/child
// split (each measurement runs in a fresh process), and feeds for a fixture model.
'use strict';

const path = require('node:path');

const args = process.argv.slice(2);

/** Value of --name, or fallback. */
function opt(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

const flag = (name) => args.includes(`--${name}`);
const list = (name, fallback) => String(opt(name, fallback)).split(',').filter(Boolean);

/** Runs child() when `envVar` is set (exit 3 on error), parent() otherwise. */
function parentOrChild(envVar, parent, child) {
  if (!process.env[envVar]) return parent();
  return child().catch((e) => {
    console.error(e);
    process.exit(3);
  });
}

/**
 * test/fixtures/NAME/model, or the SavedModel directory NAME when it is a path (holds a /),
 * with tfslice's default of one run at a time (oneDNN on) turned off.
 */
async function loadFixture(name, options = {}) {
  const { loadModel } = require(path.join(__dirname, '..', 'dist', 'index.js'));
  const dir = name.includes('/') ? path.resolve(name) : path.join(__dirname, '..', 'test', 'fixtures', name, 'model');
  return loadModel(dir, { maxConcurrentRuns: Infinity, ...options });
}

/**
 * Feeds for a model with one float32 input of known rank: unknown dimensions become
 * `batch`, values sin(i).
 */
function singleInputFeeds(model, batch) {
  const { Tensor } = require(path.join(__dirname, '..', 'dist', 'index.js'));
  const sig = model.signatures[model.defaultSignature];
  const [key, ...more] = Object.keys(sig.inputs);
  if (more.length || sig.inputs[key].dtype !== 'float32' || sig.inputs[key].shape === null) {
    throw new Error('the model needs one float32 input of known rank');
  }
  const shape = sig.inputs[key].shape.map((d) => (d < 0 ? batch : d));
  const size = shape.reduce((a, b) => a * b, 1);
  return { [key]: new Tensor('float32', Float32Array.from({ length: size }, (_, i) => Math.sin(i)), shape) };
}

module.exports = { args, opt, flag, list, parentOrChild, loadFixture, singleInputFeeds };
