// Run timeouts that TensorFlow itself enforces (RunOptions.timeout_in_ms): a run past its limit
// fails with DEADLINE_EXCEEDED long before it would have ended, and the session runs on; in this
// process, in a host process, through runSync, and for a batch (retried one by one).
import t from 'tap';

import { loadModel, Tensor } from '../lib/index';
import { fixture, slowN } from './helpers';

const SLOW = fixture('slow').dir;
const n = (k: number) => ({ n: new Tensor('int32', new Int32Array([k]), []) });

t.test('runTimeoutMs: checked, per model and per run', async (t) => {
  await t.rejects(loadModel(SLOW, { runTimeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /runTimeoutMs must be a whole number of milliseconds ≥ 0/ });
  await t.rejects(loadModel(SLOW, { runTimeoutMs: '5' as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /runTimeoutMs must be a number of milliseconds/ });
  await t.rejects(loadModel(SLOW, { runTimeoutMs: 250 }), { code: 'ERR_OUT_OF_RANGE', message: /runTimeoutMs must be used with an inter-op pool.*interOpThreads: 0/ },
    'with ops inline (the default) TensorFlow cannot stop a run: refused, with the fix');
  const model = await loadModel(SLOW, { runTimeoutMs: 250, interOpThreads: 0 });
  t.equal(model.runTimeoutMs, 250);
  await t.rejects(model.run(n(1), { runTimeoutMs: 1.5 }), { code: 'ERR_OUT_OF_RANGE' }, 'a run\'s own value is checked too');
  await model.dispose();
});

for (const isolation of ['none', 'process'] as const) {
  t.test(`a run past its limit is stopped by TensorFlow and the session runs on (isolation: '${isolation}')`, async (t) => {
    // TensorFlow enforces a run timeout only with an inter-op pool (interOpThreads ≥ 0).
    const model = await loadModel(SLOW, { isolation, interOpThreads: 0 });
    const long = await slowN(model, 4000);
    const started = performance.now();
    await t.rejects(model.run(n(long), { runTimeoutMs: 200 }), { code: 'DEADLINE_EXCEEDED' });
    const took = performance.now() - started;
    t.ok(took < 2500, `stopped after ${took.toFixed(0)} ms, not the ~4000 the run needs`);
    t.ok((await model.run(n(3))).y, 'the next run works');
    if (isolation === 'none') {
      t.throws(() => model.runSync(n(long), { runTimeoutMs: 200 }), { code: 'DEADLINE_EXCEEDED' }, 'runSync too');
    }
    const byDefault = await loadModel(SLOW, { isolation, runTimeoutMs: 200, interOpThreads: 0 });
    await t.rejects(byDefault.run(n(long)), { code: 'DEADLINE_EXCEEDED' }, "the model's runTimeoutMs applies when run() sets none");
    t.ok((await byDefault.run(n(long), { runTimeoutMs: 0 })).y, 'runTimeoutMs: 0 lifts it for one run');
    await byDefault.dispose();
    await model.dispose();
  });
}

t.test("a batch runs with the shortest limit of its requests; the one it stops runs again with its own", async (t) => {
  const model = await loadModel(fixture('batching').dir, { batching: { maxBatchSize: 8 } });
  const results = await Promise.allSettled([model.run({ x: [[1, 2]] }, { runTimeoutMs: 60_000 }), model.run({ x: [[3, 4]] })]);
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled'], 'a generous limit lets the batch through');
  t.equal(model.stats().batching.serving_default!.batches, 1);
  await model.dispose();
});
