#!/usr/bin/env node
// `npm start`: loads the two bundled example models with GPU fractions 0.3 and 0.6, each
// in a host process of its own (isolation: 'process': one TensorFlow, one budget each),
// prints their signatures, runs each on a sample input and prints the outputs next to
// the GPU limit TensorFlow applied (or says that this host runs TensorFlow on CPU), then
// the GPU ledger, and what happens when the same two fractions are asked in one process.
'use strict';

const path = require('node:path');
const { gpuLedger, loadModel, runtime, Tensor } = require('../dist/index.js');

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
  console.log(`  host: pid ${model.hostPid} (isolation '${model.isolation}'), ConfigProto ${JSON.stringify(model.config)}`);
}

function printOutputs(outputs) {
  for (const [key, t] of Object.entries(outputs)) {
    const values = Array.from(t.data, (v) => (typeof v === 'number' ? Number(v.toFixed(4)) : String(v)));
    console.log(`    ${key} ${t.dtype} [${t.shape.join(', ')}] = ${JSON.stringify(values)}`);
  }
}

async function main() {
  const a = await loadModel(path.join(models, 'a'), { gpuMemoryFraction: 0.3, isolation: 'process' });
  const b = await loadModel(path.join(models, 'b'), { gpuMemoryFraction: 0.6, isolation: 'process' });
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

  console.log('\nGPU ledger:');
  for (const budget of gpuLedger()) {
    console.log(`  GPU ${budget.device}: ${budget.used} used, ${budget.free} free`);
    for (const h of budget.holders) console.log(`    ${h.fraction}  ${h.model} (isolation '${h.isolation}')`);
  }
  await Promise.all([a.dispose(), b.dispose()]);

  // TensorFlow keeps the first session's GPU options for the whole process; tfslice says so.
  console.log('\nthe same fractions in this process:');
  const first = await loadModel(path.join(models, 'a'), 0.3);
  console.log('  a with 0.3: loaded');
  await loadModel(path.join(models, 'b'), 0.6).then(
    (m) => m.dispose(),
    (error) => console.log(`  b with 0.6: refused, ${error.code}: ${error.message.split(': TensorFlow')[0]}`),
  );
  await first.dispose();
}

main().catch((error) => {
  console.error(`${error.name} [${error.code ?? 'no code'}]: ${error.message}`);
  process.exitCode = 1;
});
