// The GPU ledger and the in-process GPU options, proven on CPU: the arithmetic,
// the refusals and what they name, shares given back. (test/gpu/ checks the limits
// TensorFlow applies on a real GPU.)
import * as path from 'node:path';
import t from 'tap';

import { gpuLedger, loadModel, ModelManager, processGpuOptions } from '../lib/index';
import { ServerMetrics } from '../lib/serve';
import { fitsNow, reserve, resetLedgerForTests } from '../lib/gpu';
import { fixture } from './helpers';

const tiny = fixture('tiny').dir;
const double = fixture('multi_sig').dir;

const used = (device = 0) => gpuLedger().find((b) => b.device === device)?.used ?? 0;

t.beforeEach(() => resetLedgerForTests());

t.test('isolated models: fractions add up per GPU, a load past 1.0 is refused naming the holders, dispose gives back', async (t) => {
  const a = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.3 });
  const b = await loadModel(double, { isolation: 'process', gpuMemoryFraction: 0.6 });
  t.equal(used(), 0.9, 'GPU 0 holds 0.3 + 0.6');
  t.same(gpuLedger()[0]!.holders, [
    { model: a.path, fraction: 0.3, isolation: 'process' },
    { model: b.path, fraction: 0.6, isolation: 'process' },
  ], 'and names both');
  t.same({ requestedFraction: a.gpu.requestedFraction, memoryLimitBytes: a.gpu.memoryLimitBytes, device: a.gpu.device },
    { requestedFraction: 0.3, memoryLimitBytes: null, device: null }, 'model.gpu: what was asked, and no limit without a GPU');

  const refused = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.2 }).catch((e: unknown) => e);
  t.match(refused, { name: 'GpuBudgetExceededError', code: 'GPU_BUDGET_EXCEEDED', device: 0 }, '0.9 + 0.2 > 1: refused');
  t.match((refused as Error).message, new RegExp(`asks for 0.2 of GPU 0, but 0.9 of it is held by .*${path.basename(path.dirname(a.path))}.*0\\.3.*${path.basename(path.dirname(b.path))}.*0\\.6.*0\\.1 is free`), 'the message names who holds the rest and what is free');
  t.equal((refused as { holders: unknown[] }).holders.length, 2, 'and lists them');
  t.equal(used(), 0.9, 'a refused load charges nothing');

  const elsewhere = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.5, gpuDevice: 1 });
  t.equal(used(1), 0.5, 'GPU 1 has its own budget');

  await b.dispose();
  t.equal(used(), 0.3, "dispose() gives b's 0.6 back");
  const c = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.7 });
  t.equal(used(), 1, 'exactly 1.0 is allowed');
  await Promise.all([a.dispose(), c.dispose(), elsewhere.dispose()]);
  t.same(gpuLedger(), [], 'all given back');
});

t.test('a load that fails gives its share back', async (t) => {
  await t.rejects(loadModel(path.join(tiny, 'missing'), { isolation: 'process', gpuMemoryFraction: 0.8 }), { code: 'NOT_FOUND' });
  t.same(gpuLedger(), [], 'isolated: nothing charged after the failure');
  await t.rejects(loadModel(path.join(tiny, 'missing'), { gpuMemoryFraction: 0.8 }), { code: 'NOT_FOUND' });
  t.equal(processGpuOptions(), null, 'in-process: a failed first load does not fix the process options');
  const m = await loadModel(tiny, 0.4);
  t.equal(processGpuOptions()?.fraction, 0.4, 'the next successful load does');
  await m.dispose();
});

t.test('in-process: the first GPU model fixes the options; other options are a GPU_CONFIG_CONFLICT, the same or none share', async (t) => {
  const first = await loadModel(tiny, { gpuMemoryFraction: 0.3 });
  t.match(processGpuOptions(), { fraction: 0.3, allowGrowth: null, device: null, fixedBy: first.path });
  t.same(gpuLedger()[0]!.holders, [{ model: 'in-process TensorFlow', fraction: 0.3, isolation: 'none' }], 'the process slice is charged once');

  for (const options of [{ gpuMemoryFraction: 0.5 }, { gpuMemoryFraction: 0.3, allowGrowth: true }, { gpuMemoryFraction: 0.3, gpuDevice: 1 }]) {
    const error = await loadModel(double, options).catch((e: unknown) => e);
    t.match(error, { name: 'GpuConfigConflictError', code: 'GPU_CONFIG_CONFLICT' }, `${JSON.stringify(options)} is refused`);
    t.match((error as Error).message, /already runs with gpuMemoryFraction 0\.3 \(fixed by .*tiny.*\).*isolation: 'process'/s,
      'the message says what the process has and points at isolation');
  }
  const same = await loadModel(double, { gpuMemoryFraction: 0.3 });
  const none = await loadModel(double, { signature: 'double' });
  t.equal(used(), 0.3, 'models with the same options, or none, share the slice: still 0.3');
  t.equal(none.gpu.requestedFraction, null, 'a model that asked for nothing reports so');

  const isolated = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.5 });
  t.equal(used(), 0.8, "an isolated model's fraction is its own: 0.3 + 0.5");
  await t.rejects(loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.3 }),
    { code: 'GPU_BUDGET_EXCEEDED', message: /in-process TensorFlow \(0\.3, isolation 'none'\)/ }, 'and the process slice counts against isolated ones');

  await Promise.all([first.dispose(), same.dispose(), none.dispose()]);
  t.equal(used(), 0.8, 'disposing in-process models keeps the slice: TensorFlow keeps that memory until the process exits');
  await t.rejects(loadModel(tiny, { gpuMemoryFraction: 0.2 }), { code: 'GPU_CONFIG_CONFLICT' }, 'and the options stay fixed');
  await isolated.dispose();
  t.equal(used(), 0.3, "the isolated share came back");
});

t.test("GPU_BUDGET_EXCEEDED's hint can be followed: the in-process slice is not for disposing, isolated holders are", async (t) => {
  // README's first snippet (an in-process model at 0.3, disposed), then its GPU-budget snippet (0.3 and 0.6, isolated).
  const first = await loadModel(tiny, 0.3);
  await first.dispose();
  const a = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.3 });
  const refused = await loadModel(double, { isolation: 'process', gpuMemoryFraction: 0.6 }).catch((e: unknown) => e) as Error;
  t.match(refused, { code: 'GPU_BUDGET_EXCEEDED' }, '0.3 (in-process, disposed) + 0.3 + 0.6 > 1');
  const message = refused.message;
  t.match(message, /in-process TensorFlow \(0\.3, isolation 'none'\)/, 'names the in-process slice as a holder');
  t.match(message, `To load it, give it a gpuMemoryFraction of at most 0.4, or dispose() ${a.path} (an isolated model's share comes back when its host ends; in a ModelManager or tfslice serve, unload that model or version, or lower this model's gpuMemoryFraction in the configuration (a holder's new fraction applies only to its next version)).`,
    'offers the fixes that work: what is free, and the isolated holder by path');
  t.notMatch(message, /Dispose one of them/, 'no longer tells the user to dispose a model that is already disposed');
  t.match(message, `The in-process slice (0.3, fixed by ${first.path}) stays charged until this process exits, even after its models are disposed`,
    'says why the in-process share cannot be given back, and which load fixed it');
  t.match(message, /start a new process and load the models that need their own fraction with isolation: 'process'/, 'and how to budget from scratch');

  // Each hint, followed, loads the model.
  const smaller = await loadModel(double, { isolation: 'process', gpuMemoryFraction: 0.4 });
  t.equal(used(), 1, 'at most the free 0.4: loads');
  await smaller.dispose();
  const shared = await loadModel(double, 0.3);
  t.equal(used(), 0.6, 'in-process with the same fraction shares the slice: nothing more charged (0.3 + 0.3)');
  await shared.dispose();
  await a.dispose();
  const b = await loadModel(double, { isolation: 'process', gpuMemoryFraction: 0.6 });
  t.equal(used(), 0.9, "after dispose() of the isolated holder, 0.6 fits beside the process's 0.3");
  await b.dispose();
});

t.test('GPU_BUDGET_EXCEEDED when nothing is free, or for a model that asked for no fraction', async (t) => {
  const a = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 1 });
  const full = await loadModel(double, { isolation: 'process', gpuMemoryFraction: 0.1 }).catch((e: unknown) => e) as Error;
  t.match(full.message, `0 is free. To load it, dispose() ${a.path} (an isolated model's share comes back when its host ends; in a ModelManager or tfslice serve, unload that model or version, or lower this model's gpuMemoryFraction in the configuration (a holder's new fraction applies only to its next version)).`, 'no "smaller fraction" when none fits');
  t.notMatch(full.message, /in-process slice/, 'and no word on a slice nobody holds');
  await a.dispose();

  // A model that set no fraction and landed on a GPU is charged the whole GPU (confirm(true) stands in for a GPU here).
  const held = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.25 });
  const noFraction = reserve('/models/c', 'process', { fraction: null, allowGrowth: null, device: null });
  let error: unknown;
  try {
    noFraction.confirm(true);
  } catch (e) {
    error = e;
  }
  t.match(error, { code: 'GPU_BUDGET_EXCEEDED' });
  t.match((error as Error).message, "/models/c asks for 1 of GPU 0 (it set no gpuMemoryFraction, and TensorFlow's default takes the whole GPU), but 0.25 of it is held by",
    'says where the 1 comes from');
  t.match((error as Error).message, 'give it a gpuMemoryFraction of at most 0.75', 'and the fraction that would fit');
  noFraction.release();
  await held.dispose();
  t.same(gpuLedger(), [], 'nothing left charged');
});

t.test('fractions that pass 1.0 only by rounding are charged, and leave nothing free (not a negative share)', async (t) => {
  const third = { fraction: 0.3333333335, allowGrowth: null, device: null };
  const held = ['/models/a', '/models/b', '/models/c'].map((m) => reserve(m, 'process', third));
  t.same(gpuLedger().map((b) => [b.used, b.free]), [[1.000000001, 0]], 'used is the sum (to 9 places), free 0');
  t.throws(() => reserve('/models/d', 'process', { ...third, fraction: 0.001 }), { code: 'GPU_BUDGET_EXCEEDED', message: /0 is free/ });
  // helper-127: a share below the rounding tolerance (1e-9) fitted on a full GPU.
  t.throws(() => reserve('/models/d', 'process', { ...third, fraction: 5e-10 }), { code: 'GPU_BUDGET_EXCEEDED' }, 'a full GPU holds no share, however small');
  t.notOk(fitsNow('process', { ...third, fraction: 5e-10 }), 'and fitsNow() says so');
  for (const r of held) r.release();
  t.same(gpuLedger(), []);
  const whole = reserve('/models/a', 'process', { ...third, fraction: 1 });
  t.throws(() => reserve('/models/b', 'process', { ...third, fraction: 1e-12 }), { code: 'GPU_BUDGET_EXCEEDED' }, 'nor does a GPU one model holds whole');
  whole.release();
  const tinyShare = reserve('/models/a', 'process', { ...third, fraction: 1e-12 });
  t.doesNotThrow(() => reserve('/models/b', 'process', { ...third, fraction: 1 - 1e-12 }).release(), 'what is left beside a tiny share still loads');
  tinyShare.release();
  // helper-127: the share it says is free loads (it was rounded up: 0.666667 free, and refused).
  for (const taken of [1 / 3, 0.7, 0.1 + 0.2, 0.123456789]) {
    const one = reserve('/models/a', 'process', { ...third, fraction: taken });
    let said = 0;
    try {
      reserve('/models/b', 'process', { ...third, fraction: 1 });
    } catch (error) {
      said = Number(/gpuMemoryFraction of at most ([\d.]+)/.exec((error as Error).message)?.[1]);
    }
    t.ok(said > 0 && 1 - taken - said < 1e-6, `${taken} held: at most ${said} said`);
    t.doesNotThrow(() => reserve('/models/b', 'process', { ...third, fraction: said }).release(), 'and that loads');
    one.release();
  }
});

t.test('GPU_BUDGET_EXCEEDED names holders alike once, with their count (helper-130: six copies of one model read as six entries)', async (t) => {
  const request = { allowGrowth: null, device: null };
  const held = [...Array.from({ length: 3 }, () => reserve('/models/a', 'process', { ...request, fraction: 0.3 }))];
  // The refusal of 0.2 more, as its message says it.
  const refusal = (): string => {
    try {
      reserve('/models/b', 'process', { ...request, fraction: 0.2 }).release();
      return 'no refusal';
    } catch (error) {
      return (error as Error).message;
    }
  };
  let message = refusal();
  t.match(message, "but 0.9 of it is held by /models/a (0.3, isolation 'process') × 3; 0.1 is free.");
  t.match(message, 'dispose() one of the 3 models loaded from /models/a (');
  held.push(reserve('/models/c', 'process', { ...request, fraction: 0.05 }));
  message = refusal();
  t.match(message, "held by /models/a (0.3, isolation 'process') × 3, /models/c (0.05, isolation 'process');");
  t.match(message, 'dispose() one of /models/a, /models/c (');
  for (const r of held) r.release();
});

t.test('tfslice_gpu_memory_fraction: the shares of one path are summed, so the series add up to the ledger (helper-127: the last one set was kept)', async (t) => {
  const request = { allowGrowth: null, device: null };
  const held = [reserve('/models/a/1', 'process', { ...request, fraction: 0.6 }), reserve('/models/a/1', 'process', { ...request, fraction: 0.05 }), reserve('/models/c', 'process', { ...request, fraction: 0.1 })];
  const metrics = new ServerMetrics(new ModelManager({ models: [] }));
  const lines = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('tfslice_gpu_memory_fraction{'));
  t.same(lines, ['tfslice_gpu_memory_fraction{gpu="0",holder="/models/a/1"} 0.65', 'tfslice_gpu_memory_fraction{gpu="0",holder="/models/c"} 0.1']);
  t.equal(used(), 0.75);
  for (const r of held) r.release();
});

t.test('sessionConfig GPU options count like the typed ones', async (t) => {
  const { encodeConfig } = await import('../lib/index');
  const bytes = encodeConfig({ gpuOptions: { perProcessGpuMemoryFraction: 0.45, visibleDeviceList: '1' } });
  const m = await loadModel(tiny, { isolation: 'process', sessionConfig: bytes });
  t.same(gpuLedger(), [{ device: 1, used: 0.45, free: 0.55, holders: [{ model: m.path, fraction: 0.45, isolation: 'process' }] }]);
  t.equal(m.gpu.requestedFraction, 0.45);
  await m.dispose();
  // helper-127: a negative one was charged as it was (the ledger said 1.5 free); past 1, a budget refusal.
  for (const fraction of [-0.5, 1.5, Number.NaN]) {
    for (const isolation of ['process', 'none'] as const) {
      await t.rejects(loadModel(tiny, { isolation, sessionConfig: encodeConfig({ gpuOptions: { perProcessGpuMemoryFraction: fraction } }) }),
        { code: 'ERR_OUT_OF_RANGE', message: /^sessionConfig gpu_options\.per_process_gpu_memory_fraction must be a fraction in \(0, 1\], or 0 for none/ }, `${fraction}, isolation ${isolation}`);
    }
  }
  t.same(gpuLedger(), [], 'nothing charged');
  const none = await loadModel(tiny, { isolation: 'process', sessionConfig: encodeConfig({ gpuOptions: { perProcessGpuMemoryFraction: 0 } }) });
  t.equal(none.gpu.requestedFraction, null, "0: TensorFlow's default, no share");
  await none.dispose();
});

t.test('isolation must be none or process', async (t) => {
  await t.rejects(loadModel(tiny, { isolation: 'thread' as 'process' }), { name: 'TypeError', message: /^isolation must be 'none' or 'process', got "thread"/ });
});
