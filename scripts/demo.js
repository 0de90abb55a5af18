#!/usr/bin/env node
// `npm start`: loads the two bundled example models with GPU fractions 0.3 and 0.6,
// prints their signatures, runs each on a sample input and prints the outputs next to
// the GPU limit TensorFlow applied (or says that this host runs TensorFlow on CPU).
'use strict';

const path = require('node:path');
const { loadModel, runtime, Tensor } = require('../dist/index.js');

const models = path.join(__dirname, '..', 'examples', 'models');

function shape(s) {
  return s === null ? '<unknown rank>' : `[${s.map((d) => (d < 0 ? '?' : d)).join(', ')}]`;
}

function printSignatures(model) {
  for (const [name, sig] of Object.entries(model.signatures)) {
    console.log(`  signature ${name} (${sig.methodName})`);
    for (const [key, spec] of Object.entries(sig.inputs)) console.log(`    in  ${key}: ${spec.dtype} ${shape(spec.shape)}  <- ${spec.name}`);
    for (const [key, spec] of Object.entries(sig.outputs)) console.log(`    out ${key}: ${spec.dtype} ${shape(spec.shape)}  -> ${spec.name}`);
  }
}

function printGpu(model) {
  const { requestedFraction, memoryLimitBytes } = model.gpu;
  const applied = memoryLimitBytes === null
    ? 'no GPU in this TensorFlow: runs on CPU, the fraction has nothing to apply to'
    : `${(memoryLimitBytes / 2 ** 20).toFixed(0)} MiB applied by TensorFlow`;
  console.log(`  gpu: requested fraction ${requestedFraction}; ${applied}`);
}

function printOutputs(outputs) {
  for (const [key, t] of Object.entries(outputs)) {
    const values = Array.from(t.data, (v) => (typeof v === 'number' ? Number(v.toFixed(4)) : String(v)));
    console.log(`    ${key} ${t.dtype} [${t.shape.join(', ')}] = ${JSON.stringify(values)}`);
  }
}

async function main() {
  const a = await loadModel(path.join(models, 'a'), 0.3);
  const b = await loadModel(path.join(models, 'b'), 0.6);
  const rt = runtime();
  console.log(`TensorFlow ${rt.tensorflowVersion} from ${rt.path} (found via ${rt.source})\n`);

  console.log(`model a: ${a.path}`);
  printSignatures(a);
  printGpu(a);
  const celsius = new Tensor('float32', new Float32Array([-40, 0, 37, 100]));
  console.log(`  run celsius = [${celsius.data.join(', ')}]`);
  printOutputs(await a.run({ celsius }));

  console.log(`\nmodel b: ${b.path}`);
  printSignatures(b);
  printGpu(b);
  const features = new Tensor('float32', new Float32Array([0.5, -1, 2, 3, 0.25, -0.5]), [2, 3]);
  console.log('  run features = [[0.5, -1, 2], [3, 0.25, -0.5]]');
  printOutputs(await b.run({ features }));

  await Promise.all([a.dispose(), b.dispose()]);
}

main().catch((error) => {
  console.error(`${error.name} [${error.code ?? 'no code'}]: ${error.message}`);
  process.exitCode = 1;
});
