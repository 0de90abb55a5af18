// GPU partitions on a real GPU (configureRuntime({ gpuPartitions })): each partition's limit as
// TensorFlow applied it, an allocation past one partition failing alone, and one CUDA context
// for the whole process. Skips itself without a GPU TensorFlow, as the rest of the GPU suite.
// Its own file: the layout is fixed per process.
import { execFileSync } from 'node:child_process';
import t from 'tap';

import { configureRuntime, loadModel, Tensor } from '../../lib/index';
import { fixture } from '../helpers';

const tiny = fixture('tiny').dir;
const runaway = fixture('runaway').dir;
const MIB = 1024 * 1024;
const SIZES = [256, 512, 1024];

async function gpuHere(): Promise<boolean> {
  // A host of its own: the probe does not fix this process's layout.
  const model = await loadModel(tiny, { isolation: 'process', allowGrowth: true }).catch(() => null);
  const found = model?.devices.some((d) => d.type === 'GPU') ?? false;
  await model?.dispose();
  return found;
}

function computeApps(): string[][] {
  try {
    return execFileSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 20_000 })
      .trim().split('\n').filter(Boolean).map((r) => r.split(',').map((c) => c.trim()));
  } catch {
    return [];
  }
}

t.test('three models on three partitions of one GPU', async (t) => {
  if (!(await gpuHere())) {
    t.pass('no GPU TensorFlow here: the TensorFlow found lists no GPU device (see README, CUDA hosts)', { skip: true });
    return;
  }
  configureRuntime({ gpuPartitions: [{ gpu: 0, memoryMb: SIZES }] });
  const models = [
    await loadModel(runaway, { partition: 'auto', signature: 'fill' }),
    await loadModel(tiny, { partition: 'auto' }),
    await loadModel(tiny, { partition: 'auto' }),
  ];
  t.teardown(() => Promise.all(models.map((m) => m.dispose())));
  for (const [i, model] of models.entries()) {
    t.equal(model.gpu.partition, i, `model ${i} is on partition ${i}`);
    const limit = model.gpu.memoryLimitBytes!;
    // TensorFlow sizes a virtual device's allocator to memory_limit_mb exactly (gpu_device.cc).
    t.ok(Math.abs(limit - SIZES[i]! * MIB) <= 0.02 * SIZES[i]! * MIB, `partition ${i}: TensorFlow applied ${limit / MIB} MiB (asked ${SIZES[i]})`);
    t.equal(model.devices.filter((d) => d.type === 'GPU').length, SIZES.length, 'the session sees every partition');
  }
  await t.rejects(loadModel(tiny, { partition: 'auto' }), { code: 'GPU_BUDGET_EXCEEDED' }, 'a fourth model finds none free');
  await t.rejects(loadModel(tiny), { code: 'GPU_CONFIG_CONFLICT', message: /partition/ }, 'and none loads beside the layout');

  const fill = (k: number) => ({ n: new Tensor('int32', new Int32Array([k]), []) });
  t.equal((await models[0]!.run(fill(100))).total!.data[0], 1_000_000, 'a fill that fits runs (4 MB)');
  // 450^3 floats = 364 MB: past the 256 MiB partition.
  const failure = await models[0]!.run(fill(450)).then(() => null, (e: { code: string }) => e);
  t.match(failure, { code: 'RESOURCE_EXHAUSTED' }, 'an allocation past the partition fails in TensorFlow');
  const x = new Tensor('float32', new Float32Array(4).fill(1), [1, 4]);
  for (const model of models.slice(1)) t.same((await model.run({ x })).y!.shape, [1, 3], 'the other partitions keep running');
  t.equal((await models[0]!.run(fill(100))).total!.data[0], 1_000_000, 'and so does the one that failed');

  const apps = computeApps();
  if (apps.length === 0) {
    t.pass('nvidia-smi lists no compute apps here: the one-context check needs it', { skip: true });
  } else {
    t.equal(apps.filter(([pid]) => Number(pid) === process.pid).length, 1, 'one process, one CUDA context, for three models');
  }
});
