#!/usr/bin/env node
// The published package, as a user gets it (`npm run test:consumer`, run by .ci/run after
// `npm run prebuild`): `npm pack` into a temporary directory outside the repo, `npm install`
// the tarball into a fresh project with no compiler reachable (PATH holds only node, npm,
// npx and sh), then from that project:
//   - the install used the prebuild: no build/ was made, node-gyp-build resolves prebuilds/
//   - without any TensorFlow, require('tfslice') and the addon load, loadModel() rejects
//     with LIBRARY_NOT_FOUND
//   - with the repo's pip TensorFlow (VIRTUAL_ENV), require('tfslice') from CommonJS and
//     `import { loadModel } from 'tfslice'` from ESM run a fixture model to its goldens
//   - TypeScript files (CommonJS and ESM, nodenext, strict, no skipLibCheck) type-check
//     against the shipped declarations, and a misuse does not.
// Keeps the directory on failure (its path is printed); TFSLICE_CONSUMER_KEEP=1 keeps it always.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TOOLCHAIN = ['g++', 'gcc', 'cc', 'c++', 'clang', 'clang++', 'make', 'cmake', 'python3', 'python'];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-consumer-'));
const app = path.join(work, 'app');
const bin = path.join(work, 'bin');

function step(title) {
  console.log(`consumer: ${title}`);
}

function fail(message) {
  console.error(`consumer: FAILED: ${message}\n  (left in ${work})`);
  process.exit(1);
}

/** Runs a command; returns its stdout, or fails with everything it printed. */
function run(cmd, args, { cwd = app, env, expectFail = false } = {}) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const failed = r.status !== 0 || r.error !== undefined;
  if (failed !== expectFail) {
    fail(`${[cmd, ...args].join(' ')} ${failed ? `exited ${r.status ?? r.error}` : 'succeeded and should not have'}\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

function which(name, dirs) {
  return dirs.map((d) => path.join(d, name)).find((f) => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The environment of a user's shell: no npm run-script variables, no tfslice overrides, no toolchain. */
function userEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') && !['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig'].includes(k)) continue;
    if (k.startsWith('TFSLICE_') || ['VIRTUAL_ENV', 'PYTHONHOME', 'PYTHONPATH', 'LD_LIBRARY_PATH', 'NODE_OPTIONS'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, PATH: bin, ...extra };
}

// A PATH with node, npm, npx and sh, and nothing that could compile the addon.
fs.mkdirSync(bin);
const systemPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
fs.symlinkSync(process.execPath, path.join(bin, 'node'));
for (const tool of ['npm', 'npx', 'sh']) {
  const found = which(tool, [path.dirname(process.execPath), ...systemPath]);
  if (!found) fail(`no ${tool} on PATH`);
  fs.symlinkSync(found, path.join(bin, tool));
}
for (const tool of TOOLCHAIN) if (which(tool, [bin])) fail(`${tool} is reachable from the consumer's PATH`);

step('npm pack');
const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT }).replace(/^[^[]*/s, ''));
const tarball = path.join(work, packed[0].filename);
console.log(`  ${packed[0].filename}: ${packed[0].entryCount} files, ${packed[0].size} bytes packed, ${packed[0].unpackedSize} unpacked`);

step('npm install <tarball> with no compiler on PATH');
fs.mkdirSync(app);
fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'tfslice-consumer', version: '1.0.0', private: true }, null, 2));
const installEnv = userEnv({});
run('npm', ['install', '--no-fund', '--no-audit', '--foreground-scripts', tarball], { env: installEnv });
const installed = path.join(app, 'node_modules', 'tfslice');
if (fs.existsSync(path.join(installed, 'build'))) fail('the install built the addon from source (node_modules/tfslice/build exists)');
const addon = run('node', ['-p', `require('node-gyp-build').path(${JSON.stringify(installed)})`], { env: installEnv }).trim();
if (path.relative(installed, addon) !== path.join('prebuilds', 'linux-x64', 'tfslice.glibc.node')) fail(`node-gyp-build resolves ${addon}`);
console.log(`  addon: ${path.relative(app, addon)}`);

// The model and its goldens, as a user's own files.
fs.cpSync(path.join(ROOT, 'test', 'fixtures', 'tiny', 'model'), path.join(app, 'model'), { recursive: true });
fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'tiny', 'golden.json'), path.join(app, 'golden.json'));
const CHECK = `
  const golden = JSON.parse(fs.readFileSync('golden.json', 'utf8')).cases[0];
  const model = await loadModel('model');
  const out = await model.run({ x: new Tensor('float32', Float32Array.from(golden.inputs.x.data), golden.inputs.x.shape) });
  assert.deepStrictEqual(out.y.shape, golden.outputs.y.shape);
  out.y.data.forEach((v, i) => assert.ok(Math.abs(v - golden.outputs.y.data[i]) < 1e-5, \`y[\${i}] = \${v}\`));
  await model.dispose();
  // The same model in a host process: dist/host.js ships and starts from the installed package.
  const isolated = await loadModel('model', { isolation: 'process', gpuMemoryFraction: 0.5 });
  const again = await isolated.run({ x: new Tensor('float32', Float32Array.from(golden.inputs.x.data), golden.inputs.x.shape) });
  assert.deepStrictEqual(Array.from(again.y.data), Array.from(out.y.data));
  await isolated.dispose();
  const rt = runtime();
  console.log(\`ran model/ to its goldens on TensorFlow \${rt.tensorflowVersion} (\${rt.source}), in-process and isolated\`);
`;
fs.writeFileSync(path.join(app, 'cjs.js'), `'use strict';
const assert = require('node:assert');
const fs = require('node:fs');
const { loadModel, runtime, Tensor } = require('tfslice');
(async () => {${CHECK}})().catch((e) => { console.error(e); process.exit(1); });
`);
fs.writeFileSync(path.join(app, 'esm.mjs'), `import assert from 'node:assert';
import fs from 'node:fs';
import { loadModel, runtime, Tensor } from 'tfslice';
${CHECK}`);
fs.writeFileSync(path.join(app, 'no-tensorflow.js'), `'use strict';
const assert = require('node:assert');
const { loadModel, Tensor } = require('tfslice');
// Tensor.alloc allocates through the addon: loading it needs no TensorFlow.
assert.strictEqual(Tensor.alloc('float32', [2, 2]).size, 4);
loadModel('model').then(
  () => { console.error('loadModel resolved without TensorFlow'); process.exit(1); },
  (e) => {
    assert.strictEqual(e.code, 'LIBRARY_NOT_FOUND', e.stack);
    assert.match(e.message, /pip install|TFSLICE_LIBTENSORFLOW/);
    console.log('addon loaded; loadModel rejected with LIBRARY_NOT_FOUND');
  });
`);

step('without TensorFlow');
console.log(`  ${run('node', ['no-tensorflow.js'], { env: userEnv({}) }).trim()}`);

const venv = path.join(ROOT, '.venv');
if (!fs.existsSync(path.join(venv, 'bin', 'python3'))) fail(`no ${venv} with TensorFlow (run npm run provision)`);
const withTf = userEnv({ VIRTUAL_ENV: venv });
step("require('tfslice') (CommonJS)");
console.log(`  ${run('node', ['cjs.js'], { env: withTf }).trim()}`);
step("import { loadModel } from 'tfslice' (ESM)");
console.log(`  ${run('node', ['esm.mjs'], { env: withTf }).trim()}`);

step('TypeScript against the shipped declarations');
const USE = `
export async function predict(dir: string, x: Float32Array): Promise<number[]> {
  const model: Model = await loadModel(dir, { gpuMemoryFraction: 0.5, maxConcurrentRuns: 2 });
  const spec: TensorSpec | undefined = model.signatures['serving_default']?.inputs['x'];
  const dtype = spec?.dtype;
  const out = await model.run({ x: new Tensor('float32', x, [1, x.length]) });
  const y = out['y'];
  if (y === undefined || dtype === undefined) throw new TfsliceError('LIBRARY_NOT_FOUND', 'unreachable');
  await model[Symbol.asyncDispose]();
  return Array.from(y.data as Float32Array);
}
export async function serve(basePath: string): Promise<string[]> {
  const manager = new ModelManager({ models: [{ name: 'a', basePath, gpuMemoryFraction: 0.3, isolation: 'process' }] });
  manager.on('state', (e) => console.log(e.name, e.version, e.state));
  const budgets: GpuBudget[] = gpuLedger();
  await manager.start();
  await manager.stop();
  return budgets.map((b) => String(b.device));
}
// @ts-expect-error: the path is a string, so the declarations are really in force
void loadModel(42);
`;
fs.writeFileSync(path.join(app, 'use-cjs.ts'), `import { gpuLedger, loadModel, ModelManager, Tensor, TfsliceError, type GpuBudget, type Model, type TensorSpec } from 'tfslice';\n${USE}`);
fs.writeFileSync(path.join(app, 'use-esm.mts'), `import { gpuLedger, loadModel, ModelManager, Tensor, TfsliceError, type GpuBudget, type Model, type TensorSpec } from 'tfslice';\n${USE}`);
fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
  compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: [] },
  files: ['use-cjs.ts', 'use-esm.mts'],
}, null, 2));
const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
run('node', [tsc, '-p', '.'], { env: userEnv({}) });
// The misuse is caught: without the expect-error line, tsc fails on it.
fs.writeFileSync(path.join(app, 'use-esm.mts'), fs.readFileSync(path.join(app, 'use-esm.mts'), 'utf8').replace(/\/\/ @ts-expect-error.*\n/, ''));
const misuse = run('node', [tsc, '-p', '.'], { env: userEnv({}), expectFail: true });
if (!/use-esm\.mts.*TS2345/.test(misuse)) fail(`tsc failed, but not on loadModel(42):\n${misuse}`);
console.log('  use-cjs.ts and use-esm.mts type-check (nodenext, strict); loadModel(42) does not');
// 'tfslice/serve' under both resolutions: nodenext reads package.json's exports, and the classic
// CommonJS setup (module commonjs, moduleResolution node10, what many projects still have) its
// typesVersions (helper-73: TS2307 there).
const SERVE = `import { ModelManager } from 'tfslice';
import { createServer, ServerMetrics, type ServerOptions } from 'tfslice/serve';
export async function mount(manager: ModelManager): Promise<string> {
  const options: ServerOptions = { manager, metrics: new ServerMetrics(manager), timeoutMs: 1000 };
  const app = await createServer(options);
  return app.printRoutes();
}
`;
fs.writeFileSync(path.join(app, 'use-serve.ts'), SERVE);
for (const [module, moduleResolution] of [['nodenext', 'nodenext'], ['commonjs', 'node10']]) {
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module, moduleResolution, target: 'es2022', strict: true, noEmit: true, types: [], esModuleInterop: true },
    files: ['use-cjs.ts', 'use-serve.ts'],
  }, null, 2));
  run('node', [tsc, '-p', '.'], { env: userEnv({}) });
  console.log(`  use-cjs.ts and use-serve.ts ('tfslice/serve') type-check (module ${module}, moduleResolution ${moduleResolution})`);
}
// exactOptionalPropertyTypes (helper-90: an option passed on as `T | undefined` was TS2379,
// while the code takes undefined for any option as left out).
fs.writeFileSync(path.join(app, 'use-exact.ts'), `import { loadModel, ModelManager, type RunOptions } from 'tfslice';
import { createServer, createGrpcServer } from 'tfslice/serve';
export async function exact(dir: string, basePath: string, signal: RunOptions['signal'], ms: number | undefined, version: number | undefined): Promise<void> {
  const model = await loadModel(dir, { runTimeoutMs: ms, gpuMemoryFraction: ms, batching: { maxBatchSize: ms } });
  const y = (await model.run({ x: [[1, 2, 3, 4]] }, { signal, runTimeoutMs: ms, signature: undefined }))['y'];
  if (y?.is('float32')) { const f: Float32Array = y.data; void f; }
  const manager = new ModelManager({ models: [{ name: 'a', basePath, gpuMemoryFraction: ms, warmup: { feeds: {}, runs: ms } }], pollIntervalMs: ms });
  await manager.run('a', { x: [[1, 2, 3, 4]] }, { version, signal });
  await createServer({ manager, timeoutMs: ms, requestTimeoutMs: ms });
  createGrpcServer({ manager, timeoutMs: ms, maxConnections: ms });
}
`);
fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
  compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, noEmit: true, types: [] },
  files: ['use-exact.ts', 'use-cjs.ts'],
}, null, 2));
run('node', [tsc, '-p', '.'], { env: userEnv({}) });
console.log('  use-exact.ts (options passed on as `T | undefined`) type-checks with exactOptionalPropertyTypes');
// `await using` (TypeScript 5.2's explicit resource management) where the program has
// TypeScript's own lib.esnext.disposable: its declarations and tfslice's agree.
fs.writeFileSync(path.join(app, 'use-using.ts'), `import { loadModel, ModelManager } from 'tfslice';
export async function scoped(dir: string, basePath: string): Promise<number> {
  await using model = await loadModel(dir);
  await using manager = new ModelManager({ models: [{ name: 'a', basePath }] });
  await manager.start();
  using y = (await model.run({ x: [[1, 2, 3, 4]] }))['y']!;
  return y.shape.length;
}
`);
fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
  compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'esnext.disposable'], strict: true, noEmit: true, types: [] },
  files: ['use-using.ts'],
}, null, 2));
run('node', [tsc, '-p', '.'], { env: userEnv({}) });
console.log('  use-using.ts (`await using` a Model and a ModelManager, `using` a Tensor) type-checks with lib esnext.disposable');

if (process.env.TFSLICE_CONSUMER_KEEP === '1') console.log(`consumer: ok (kept ${work})`);
else {
  fs.rmSync(work, { recursive: true, force: true });
  console.log('consumer: ok');
}
