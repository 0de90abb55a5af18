// run() and loadModel() keep the event loop free: TensorFlow works on a worker thread.
import { performance } from 'node:perf_hooks';
import t from 'tap';

import { loadModel, Tensor } from '../lib/index';
import { fixture } from './helpers';

// Samples a 5 ms interval while `work` runs: how many ticks fired and the longest gap.
async function ticksDuring(work: () => Promise<unknown> | unknown): Promise<{ ticks: number; longestGapMs: number; durationMs: number }> {
  let ticks = 0;
  let last = performance.now();
  let longestGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    ticks++;
  }, 5);
  const start = performance.now();
  await work();
  const durationMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 10)); // let a blocked timer report its gap
  clearInterval(timer);
  return { ticks, longestGapMs, durationMs };
}

t.test('a timer keeps firing while a slow model runs', async (t) => {
  const model = await loadModel(fixture('slow').dir);
  const n = new Tensor('int32', new Int32Array([6000]), []);
  const async = await ticksDuring(() => model.run({ n }));
  t.ok(async.durationMs > 250, `the run is slow enough to matter (${async.durationMs.toFixed(0)} ms)`);
  t.ok(async.ticks >= async.durationMs / 5 / 4, `the timer fired ${async.ticks} times`);
  t.ok(async.longestGapMs < 100, `no tick was held up for long (longest gap ${async.longestGapMs.toFixed(1)} ms)`);

  // The same measurement catches blocking: runSync holds the loop for the whole run.
  const sync = await ticksDuring(() => model.runSync({ n }));
  t.ok(sync.longestGapMs > sync.durationMs * 0.8, `runSync blocks (gap ${sync.longestGapMs.toFixed(0)} ms of ${sync.durationMs.toFixed(0)} ms)`);
  await model.dispose();
});

t.test('loading a model does not hold the loop either', async (t) => {
  const load = await ticksDuring(() => loadModel(fixture('conv').dir).then((m) => m.dispose()));
  t.ok(load.longestGapMs < 100, `longest gap while loading ${load.longestGapMs.toFixed(1)} ms (load took ${load.durationMs.toFixed(0)} ms)`);
});
