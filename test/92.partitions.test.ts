// Partitions on CPU, the stand-in for a GPU's virtual devices (configureRuntime({ cpuPartitions })):
// every fixture loaded by hand onto /device:CPU:k gives what TensorFlow's own loader gives, its
// nodes run on CPU:k (read back from TensorFlow's step stats), and the ledger holds one model per
// partition. The layout is per process: this file is its own process (tap runs each file apart).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { configureRuntime, loadModel, ModelManager, partitions, type Model, type Tensor } from '../lib/index';
import { expectOutput, FIXTURES, fixture, fixtureTags, python, ROOT, toTensor } from './helpers';

const CPUS = 3;
const tiny = fixture('tiny');
const tinyFeeds = () => ({ x: toTensor(tiny.golden.cases[0]!.inputs.x!) });

// The client's own nodes (feeds, fetches, the graph's source) stay on the client device, CPU:0,
// and so do the Identity nodes TensorFlow adds when it inlines a function call, to forward an
// argument from the device that produced it (inline_function_utils: the input's device): in
// `composite` a feed reaches an assertion's branch that way.
const CLIENT_NODE = /^(_SOURCE|_SINK|_arg_.*|_retval_.*)$/;
const FORWARDED_INPUT = /\/Func\/.*\/input\/_\d+(\/_\d+)?$/;

t.test('options are checked before anything loads', async (t) => {
  t.throws(() => configureRuntime({ cpuPartitions: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /cpuPartitions/ });
  t.throws(() => configureRuntime({ cpuPartitions: 2.5 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => configureRuntime({ cpuPartitions: '3' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => configureRuntime({ gpuPartitions: [] }), { code: 'ERR_INVALID_ARG_TYPE', message: /gpuPartitions/ });
  t.throws(() => configureRuntime({ gpuPartitions: [{ gpu: 0, memoryMb: [0] }] }), { message: /gpuPartitions\[0\]\.memoryMb\[0\]/ });
  t.throws(() => configureRuntime({ gpuPartitions: [{ gpu: -1, memoryMb: [10] }] }), { message: /gpuPartitions\[0\]\.gpu/ });
  t.throws(() => configureRuntime({ gpuPartitions: [{ gpu: 0, memoryMb: [10] }, { gpu: 0, memoryMb: [20] }] }), { message: /gpuPartitions\[1\]\.gpu.*listed once/ });
  t.throws(() => configureRuntime({ gpuPartitions: [{ gpu: 0, memoryMb: [10], mb: 3 } as never] }), { message: /gpuPartitions\[0\]\.mb/ });
  t.throws(() => configureRuntime({ gpuPartitions: [{ gpu: 0, memoryMb: [10] }], cpuPartitions: 2 }), { code: 'ERR_OUT_OF_RANGE' });
  t.same(partitions(), [], 'a refused layout leaves none');

  await t.rejects(loadModel(tiny.dir, { partition: 0 }), { code: 'GPU_CONFIG_CONFLICT', message: /no partitions.*configureRuntime/ });
  await t.rejects(loadModel(tiny.dir, { partition: 'any' as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /partition/ });
  await t.rejects(loadModel(tiny.dir, { partition: 0, isolation: 'process' }), { code: 'ERR_OUT_OF_RANGE', message: /in this process/ });
  await t.rejects(loadModel(tiny.dir, { partition: 0, gpuMemoryFraction: 0.5 }), { code: 'ERR_OUT_OF_RANGE', message: /without gpuMemoryFraction/ });
  await t.rejects(loadModel(tiny.dir, { partition: 0, target: 'grpc://127.0.0.1:1' }), { code: 'ERR_OUT_OF_RANGE', message: /without target/ });
  await t.rejects(loadModel(tiny.dir, { partition: 0, allowSoftPlacement: false }), { code: 'ERR_OUT_OF_RANGE', message: /soft placement/ });
});

t.test('a layout of CPU partitions, fixed by the first in-process session', async (t) => {
  configureRuntime({ cpuPartitions: CPUS });
  configureRuntime({ cpuPartitions: CPUS });
  t.same(partitions().map((p) => [p.index, p.device, p.type, p.holder]), [[0, '/device:CPU:0', 'CPU', null], [1, '/device:CPU:1', 'CPU', null], [2, '/device:CPU:2', 'CPU', null]]);
  const model = await loadModel(tiny.dir, { partition: 1 });
  t.equal(model.gpu.partition, 1);
  t.equal(model.gpu.memoryLimitBytes, null, 'a CPU partition has no GPU limit');
  t.equal(model.partition?.device, '/device:CPU:1');
  t.notOk(model.partition && 'holder' in model.partition, 'model.partition describes the device; partitions() says who holds it');
  t.same(model.config.deviceCount, { CPU: CPUS }, 'the session was made with the layout');
  t.equal(model.config.allowSoftPlacement, true);
  t.equal(model.devices.filter((d) => d.type === 'CPU').length, CPUS, 'TensorFlow made the devices');
  t.throws(() => configureRuntime({ cpuPartitions: 2 }), { code: 'FAILED_PRECONDITION', message: /before the first loadModel/ });
  configureRuntime({ cpuPartitions: CPUS });
  await model.dispose();
});

t.test('every fixture loaded by hand onto a partition gives what TensorFlow\'s loader gives, on that device', async (t) => {
  for (const [i, name] of FIXTURES.entries()) {
    const { dir, golden } = fixture(name);
    const k = i % CPUS;
    const reference = await loadModel(dir, fixtureTags(golden));
    const placed = await loadModel(dir, { ...fixtureTags(golden), partition: k });
    t.same(placed.signatures, reference.signatures, `${name}: the same signatures`);
    t.equal(placed.defaultSignature, reference.defaultSignature, `${name}: the same default signature`);
    for (const [j, c] of golden.cases.entries()) {
      const feeds = Object.fromEntries(Object.entries(c.inputs).map(([key, v]) => [key, toTensor(v)]));
      const [want, got] = [await reference.run(feeds, { signature: c.signature }), await placed.run(feeds, { signature: c.signature })];
      for (const [key, expected] of Object.entries(c.outputs)) {
        expectOutput(t, got[key], expected, `${name}#${j} ${c.signature}.${key} on CPU:${k}`);
        t.same(plainOf(got[key]!), plainOf(want[key]!), `${name}#${j} ${c.signature}.${key}: the same as TensorFlow's loader`);
      }
    }
    const first = golden.cases[0];
    if (first) {
      const feeds = Object.fromEntries(Object.entries(first.inputs).map(([key, v]) => [key, toTensor(v)]));
      const where = await placed.placement(feeds, { signature: first.signature });
      const ran = Object.entries(where).flatMap(([device, nodes]) => nodes.filter((n) => !CLIENT_NODE.test(n)).map((node) => ({ device, node })));
      const elsewhere = ran.filter((r) => !r.device.endsWith(`/device:CPU:${k}`) && !(FORWARDED_INPUT.test(r.node) && r.device.endsWith('/device:CPU:0')));
      t.ok(ran.length > 0, `${name}: the trace lists the nodes that ran`);
      t.same(elsewhere, [], `${name}: every node of ${first.signature} ran on /device:CPU:${k}`);
    }
    await Promise.all([reference.dispose(), placed.dispose()]);
  }
});

function plainOf(tensor: Tensor): { dtype: string; shape: readonly number[]; data: unknown[] } {
  const data = tensor.dtype === 'string' ? tensor.bytes().map((b) => Buffer.from(b).toString('base64')) : Array.from(tensor.data as ArrayLike<unknown>, String);
  return { dtype: tensor.dtype, shape: tensor.shape, data };
}

t.test('one model per partition', async (t) => {
  const models: Model[] = [];
  for (let i = 0; i < CPUS; i++) models.push(await loadModel(tiny.dir, { partition: 'auto' }));
  t.same(models.map((m) => m.gpu.partition), [0, 1, 2], "'auto' takes the first free partition");
  t.same(partitions().map((p) => p.holder), [tiny.dir, tiny.dir, tiny.dir]);
  const full = await loadModel(tiny.dir, { partition: 'auto' }).catch((e: unknown) => e);
  t.match(full, { code: 'GPU_BUDGET_EXCEEDED', message: /every partition is held.*partition 0 .*by .*tiny/ }, 'no free partition: refused, naming the holders');
  t.same((full as { holders: { partition?: number }[] }).holders.map((h) => h.partition), [0, 1, 2]);
  await t.rejects(loadModel(tiny.dir, { partition: 1 }), { code: 'GPU_BUDGET_EXCEEDED', message: /partition 1 .*it is held/ });
  await t.rejects(loadModel(tiny.dir, { partition: 3 }), { code: 'ERR_OUT_OF_RANGE', message: /from 0 to 2/ });
  await models[1]!.dispose();
  t.equal(partitions()[1]!.holder, null, 'dispose() gives the partition back');
  const again = await loadModel(tiny.dir, { partition: 'auto' });
  t.equal(again.gpu.partition, 1);
  t.same(Array.from((await again.run(tinyFeeds())).y!.data as Float32Array).length, 3, 'and the next model runs there');
  await Promise.all([again, models[0]!, models[2]!].map((m) => m.dispose()));
  t.same(partitions().map((p) => p.holder), [null, null, null]);
});

t.test('a load that fails gives its partition back, with TensorFlow\'s loader\'s errors', async (t) => {
  await t.rejects(loadModel(tiny.dir, { partition: 0, tags: ['gpu'] }), { code: 'NOT_FOUND', message: /no meta graph with the tag-set \[gpu\]; its tag-sets are \[serve\]/ });
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-partition-'));
  t.teardown(() => fs.rmSync(copy, { recursive: true, force: true }));
  fs.copyFileSync(path.join(tiny.dir, 'saved_model.pb'), path.join(copy, 'saved_model.pb'));
  await t.rejects(loadModel(copy, { partition: 0 }), { code: 'NOT_FOUND', message: /variables\.index does not exist/ }, 'no variables: refused as without a partition');
  const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-partition-'));
  t.teardown(() => fs.rmSync(broken, { recursive: true, force: true }));
  fs.cpSync(tiny.dir, broken, { recursive: true });
  const pb = fs.readFileSync(path.join(broken, 'saved_model.pb'));
  fs.writeFileSync(path.join(broken, 'saved_model.pb'), pb.subarray(0, pb.length >> 1));
  await t.rejects(loadModel(broken, { partition: 0 }), { code: 'DATA_LOSS', message: /saved_model\.pb is not a readable SavedModel.*truncated or corrupt/ }, 'a truncated saved_model.pb');
  await t.rejects(loadModel(broken), { message: /saved_model\.pb does not parse: it is truncated or corrupt/ }, 'without a partition, TensorFlow\'s error is not blamed on variables/');
  fs.renameSync(path.join(broken, 'saved_model.pb'), path.join(broken, 'saved_model.pbtxt'));
  await t.rejects(loadModel(broken, { partition: 0 }), { code: 'UNIMPLEMENTED', message: /saved_model\.pbtxt \(text format\); a partition load reads saved_model\.pb/ });
  t.same(partitions().map((p) => p.holder), [null, null, null]);
});

t.test('nodes saved pinned to a device (TF1, clear_devices=False) are moved onto the partition', async (t) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-pinned-')), 'model');
  t.teardown(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
  const devices = python<string[]>(`
import json, sys
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
out = sys.stdin.read()
g = tf.Graph()
with g.as_default(), tf.device('/device:CPU:0'):
    x = tf.placeholder(tf.float32, [None], name='x')
    w = tf.Variable(3.0, name='w')
    y = tf.identity(x * w + 1.0, name='y')
    with tf.Session(graph=g) as s:
        s.run(tf.global_variables_initializer())
        b = tf.saved_model.Builder(out)
        sig = tf.saved_model.predict_signature_def({'x': x}, {'y': y})
        b.add_meta_graph_and_variables(s, ['serve'], signature_def_map={'serving_default': sig}, clear_devices=False)
        b.save()
print(json.dumps([n.device for n in g.as_graph_def().node if n.name == 'y']))
`, dir);
  t.same(devices, ['/device:CPU:0'], 'the export keeps its devices');
  const model = await loadModel(dir, { partition: 2 });
  const feeds = { x: { dtype: 'float32' as const, shape: [2], data: new Float32Array([1, 2]) } };
  t.same(Array.from((await model.run(feeds)).y!.data as Float32Array), [4, 7]);
  const where = await model.placement(feeds);
  const ran = Object.entries(where).flatMap(([device, nodes]) => nodes.filter((n) => !CLIENT_NODE.test(n)).map((node) => ({ device, node })));
  t.ok(ran.length > 0);
  t.same(ran.filter((r) => !r.device.endsWith('/device:CPU:2')), [], 'every node pinned to CPU:0 ran on CPU:2');
  await model.dispose();
});

t.test('in CPU mode, other loads are as before; placement() is in-process only', async (t) => {
  const plain = await loadModel(tiny.dir);
  t.equal(plain.gpu.partition, null);
  t.equal(plain.partition, null);
  const where = await plain.placement(tinyFeeds());
  t.ok(Object.keys(where).every((d) => d.endsWith('/device:CPU:0')), 'without a partition, TensorFlow places on CPU:0');
  await t.rejects(plain.placement(tinyFeeds(), { runTimeoutMs: -5 } as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^placement\(\) option "runTimeoutMs" must be signature/ }, "run()'s other options are refused, not ignored");
  const isolated = await loadModel(tiny.dir, { isolation: 'process' });
  t.same((await isolated.run(tinyFeeds())).y!.shape, [1, 3]);
  await t.rejects(isolated.placement(tinyFeeds()), { code: 'UNIMPLEMENTED', message: /in-process/ });
  await Promise.all([plain.dispose(), isolated.dispose()]);
});

t.test('tfslice doctor --cpu-partitions shows each partition and the limit TensorFlow applied', async (t) => {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), 'doctor', '--cpu-partitions', '2', '--json'], { encoding: 'utf8', timeout: 120_000 });
  const report = JSON.parse(out) as { ok: boolean; partitions: { device: string; memoryLimitBytes: number | null }[]; devices: unknown[] };
  t.equal(report.ok, true);
  t.same(report.partitions.map((p) => [p.device, p.memoryLimitBytes]), [['/device:CPU:0', null], ['/device:CPU:1', null]]);
  t.equal(report.devices.length, 2, 'the probe session has both devices');
  const bad = (() => {
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), 'doctor', '--gpu-partitions', '0-256'], { encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
      return null;
    } catch (error) {
      return error as { status: number; stderr: string };
    }
  })();
  t.equal(bad?.status, 2, 'a layout that cannot be read is a bad argument (exit 2), as README says');
  t.match(bad?.stderr, /cannot read "0-256"; write GPU:MiB/);
  const both = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), 'doctor', '--gpu-partitions', '0:256', '--cpu-partitions', '2'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(both.status, 2);
  t.match(both.stderr, /--gpu-partitions and --cpu-partitions: give one/);
});

t.test('a ModelManager loads onto partitions through loadOptions', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-partition-base-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  fs.cpSync(tiny.dir, path.join(base, '1'), { recursive: true });
  const manager = new ModelManager({ models: [{ name: 'tiny', basePath: base, loadOptions: { partition: 'auto' } }] });
  t.teardown(() => manager.stop());
  await manager.start();
  const model = manager.get('tiny');
  t.equal(model.gpu.partition, 0, 'the version took the first free partition');
  expectOutput(t, (await manager.run('tiny', tinyFeeds())).y, tiny.golden.cases[0]!.outputs.y!, 'and serves');
  t.throws(() => new ModelManager({ models: [{ name: 'x', basePath: base, loadOptions: { partition: -1 } }] }), { message: /loadOptions\.partition/ });
  await manager.stop();
  t.equal(partitions()[0]!.holder, null, 'stop() gives it back');
});
