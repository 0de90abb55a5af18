// The GPU suite: the limits TensorFlow applies on a real GPU. It runs with everything
// else (`npm test`) and skips itself when the TensorFlow found has no GPU; on a CUDA host
// with a GPU TensorFlow (README, CUDA hosts) it runs by itself: `npx tap test/gpu`.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';

import { loadModel, type Model } from '../../lib/index';
import { resetLedgerForTests } from '../../lib/gpu';
import { fixture } from '../helpers';

const tiny = fixture('tiny').dir;

// GPU 0's total memory and each process's use of it, from nvidia-smi (null without it).
function nvidiaSmi(query: string): string[] | null {
  try {
    return execFileSync('nvidia-smi', [query, '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 20_000 })
      .trim().split('\n').filter(Boolean);
  } catch {
    return null;
  }
}

const totalMiB = (): number | null => {
  const rows = nvidiaSmi('--query-gpu=memory.total');
  return rows ? Number(rows[0]) : null;
};

const usedByPid = (pid: number): number => {
  const rows = nvidiaSmi('--query-compute-apps=pid,used_memory') ?? [];
  const row = rows.map((r) => r.split(',').map((c) => c.trim())).find(([p]) => Number(p) === pid);
  return row ? Number(row[1]) : 0;
};

async function probe(): Promise<Model | null> {
  // A host of its own, growing from 2 MiB: finding out costs the GPU next to nothing.
  const model = await loadModel(tiny, { isolation: 'process', allowGrowth: true }).catch(() => null);
  if (model && model.devices.some((d) => d.type === 'GPU')) return model;
  await model?.dispose();
  return null;
}

// Whether a GPU TensorFlow is here; without one the test is skipped, saying so. The probe's
// host is gone and the ledger empty when it returns true.
async function gpuHere(t: Test): Promise<boolean> {
  const found = await probe();
  if (!found) {
    t.pass('no GPU TensorFlow here: the TensorFlow found lists no GPU device (see README, CUDA hosts)', { skip: true });
    return false;
  }
  await found.dispose();
  resetLedgerForTests();
  return true;
}

t.test('GPU budgets on a real GPU', async (t) => {
  if (!(await gpuHere(t))) return;
  const total = totalMiB();

  const a = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.3 });
  const b = await loadModel(tiny, { isolation: 'process', gpuMemoryFraction: 0.6 });
  for (const [model, fraction] of [[a, 0.3], [b, 0.6]] as const) {
    t.ok(model.gpu.memoryLimitBytes !== null, `${fraction}: TensorFlow reports a GPU limit`);
    if (total !== null) {
      const ratio = model.gpu.memoryLimitBytes! / (total * 2 ** 20);
      t.ok(Math.abs(ratio - fraction) < 0.05, `${fraction}: limit ${(model.gpu.memoryLimitBytes! / 2 ** 20).toFixed(0)} MiB ≈ ${fraction} × ${total} MiB (ratio ${ratio.toFixed(3)})`);
    }
  }
  t.ok(b.gpu.memoryLimitBytes! > 1.8 * a.gpu.memoryLimitBytes!, 'the 0.6 host has about twice the 0.3 host’s limit');

  const first = await loadModel(tiny, { gpuMemoryFraction: 0.05 });
  t.ok(first.gpu.memoryLimitBytes !== null, 'in-process model on the GPU');
  await t.rejects(loadModel(tiny, { gpuMemoryFraction: 0.04 }), { code: 'GPU_CONFIG_CONFLICT' }, 'a second in-process fraction is refused');
  await first.dispose();

  // Make the host allocate (allow_growth false reserves the limit at the first allocation).
  const x = { x: { dtype: 'float32' as const, shape: [1, 4], data: new Float32Array(4) } };
  await a.run(x);
  const host = a.hostPid!;
  const before = usedByPid(host);
  await a.dispose();
  if (nvidiaSmi('--query-compute-apps=pid,used_memory') === null) {
    t.pass('nvidia-smi not available: cannot watch the memory go back', { skip: true });
  } else {
    t.ok(before > 0, `host ${host} held ${before} MiB`);
    t.equal(usedByPid(host), 0, 'after dispose() its memory is back with the driver');
  }
  await b.dispose();
});

t.test('dynamic batching on a real GPU: same results, and what it buys (requests of one row, 32 in flight)', async (t) => {
  if (!(await gpuHere(t))) return;
  const conv = fixture('conv').dir;
  const rate: Record<string, number> = {};
  let reference: number[][] | null = null;
  for (const [name, options] of [['off', { isolation: 'process' as const, allowGrowth: true }], ['on', { isolation: 'process' as const, allowGrowth: true, batching: { maxBatchSize: 32 } }]] as const) {
    const model = await loadModel(conv, options);
    t.ok(model.devices.some((d) => d.type === 'GPU'), `${name}: on the GPU`);
    const one = (i: number) => ({ image: { dtype: 'float32' as const, shape: [1, 8, 8, 3], data: Float32Array.from({ length: 192 }, (_, k) => ((i * 7 + k) % 13) / 13) } });
    const outputs = (await Promise.all(Array.from({ length: 32 }, (_, i) => model.run(one(i))))).map((o) => Array.from(o.output_0!.data as Float32Array));
    if (reference === null) reference = outputs;
    else outputs.forEach((row, i) => row.forEach((v, k) => t.ok(Math.abs(v - reference![i]![k]!) <= 1e-4 * Math.max(1, Math.abs(v)), `row ${i}[${k}] batched ≈ alone`)));
    let calls = 0;
    const until = performance.now() + 3000;
    await Promise.all(Array.from({ length: 32 }, async (_, i) => {
      while (performance.now() < until) {
        await model.run(one(i));
        calls++;
      }
    }));
    rate[name] = calls / 3;
    await model.dispose();
  }
  t.comment(`conv on the GPU, 32 in flight: ${rate.off!.toFixed(0)} req/s unbatched, ${rate.on!.toFixed(0)} batched (${(rate.on! / rate.off!).toFixed(2)}x)`);
  t.ok(rate.on! > rate.off!, 'batching pays on the GPU');
});
