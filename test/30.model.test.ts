// loadModel + run against what TensorFlow itself computed (test/fixtures/*/golden.json).
import t from 'tap';

import { InvalidArgumentError, loadModel, loadTensorFlow, Model, ModelDisposedError, NotFoundError, Tensor } from '../lib/index';
import { expectOutput, fixture, FIXTURES, plain, toTensor } from './helpers';

t.test('TensorFlow runs with oneDNN as TF_ENABLE_ONEDNN_OPTS says (npm run test:isa forces it each way)', async (t) => {
  const forced = process.env.TF_ENABLE_ONEDNN_OPTS;
  const { oneDnn } = await loadTensorFlow();
  if (forced === '0' || forced === '1') t.equal(oneDnn, forced === '1', `TF_ENABLE_ONEDNN_OPTS=${forced}`);
  else t.pass(`oneDNN is ${oneDnn ? 'on' : 'off'} by this CPU's default`);
});

t.test('the float32 model computes what TensorFlow computed', async (t) => {
  const { dir, golden } = fixture('tiny');
  const model = await loadModel(dir);
  t.type(model, Model);
  t.equal(golden.cases.length, 2);
  for (const c of golden.cases) {
    const out = await model.run({ x: toTensor(c.inputs.x!) });
    t.same(Object.keys(out), ['y']);
    expectOutput(t, out.y, c.outputs.y!, 'float32 y');
  }
  await model.dispose();
});

t.test('int32 and int64 (beyond 2^53) round-trip exactly', async (t) => {
  const { dir, golden } = fixture('ints');
  const model = await loadModel(dir);
  for (const c of golden.cases) {
    const out = await model.run({ a: toTensor(c.inputs.a!), b: toTensor(c.inputs.b!) });
    expectOutput(t, out.a2, c.outputs.a2!, 'a2');
    expectOutput(t, out.b1, c.outputs.b1!, 'b1');
  }
  const big = await model.run({ a: new Tensor('int32', new Int32Array([1])), b: new Tensor('int64', new BigInt64Array([9007199254740993n])) });
  t.equal((big.b1!.data as BigInt64Array)[0], 9007199254740994n);
  await model.dispose();
});

t.test('every fixture: signatures as TensorFlow declares them, outputs as TensorFlow computed them', async (t) => {
  t.ok(FIXTURES.length >= 8, 'fixtures present');
  for (const name of FIXTURES) {
    const { dir, golden } = fixture(name);
    const model = await loadModel(dir);
    t.same(model.signatures, golden.signatures, `${name}: signatures`);
    t.same(model.tags, ['serve'], `${name}: tags`);
    for (const [i, c] of golden.cases.entries()) {
      const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v)]));
      const out = await model.run(feeds, { signature: c.signature });
      t.same(Object.keys(out).sort(), Object.keys(c.outputs).sort(), `${name}#${i} ${c.signature}: output keys`);
      for (const [key, expected] of Object.entries(c.outputs)) expectOutput(t, out[key], expected, `${name}#${i} ${c.signature}.${key}`);
    }
    await model.dispose();
  }
});

t.test('runSync gives what run gives; outputs selects a subset', async (t) => {
  const { dir, golden } = fixture('multi_sig');
  const model = await loadModel(dir);
  const c = golden.cases.find((x) => x.signature === 'serving_default')!;
  const feeds = { x: toTensor(c.inputs.x!) };
  const sync = model.runSync(feeds);
  const async = await model.run(feeds);
  t.same(plain(sync.sum!), plain(async.sum!));
  t.same(plain(sync.prod!), plain(async.prod!));
  const onlySum = await model.run(feeds, { outputs: ['sum'] });
  t.same(Object.keys(onlySum), ['sum']);
  t.same(plain(onlySum.sum!).data, plain(async.sum!).data);
  await model.dispose();
});

t.test('plain { dtype, shape, data } feeds work like Tensors', async (t) => {
  const model = await loadModel(fixture('tiny').dir);
  const x = { dtype: 'float32' as const, shape: [1, 4], data: new Float32Array([1, -2, 0.5, 3.25]) };
  const out = await model.run({ x });
  expectOutput(t, out.y, fixture('tiny').golden.cases[0]!.outputs.y!, 'y');
  await model.dispose();
});

t.test('a missing directory is NOT_FOUND with TensorFlow\'s text', async (t) => {
  const error = await loadModel('/nonexistent/model').catch((e: unknown) => e);
  t.type(error, NotFoundError);
  t.match(error, { code: 'NOT_FOUND', message: /Could not find SavedModel \.pb or \.pbtxt at supplied export directory path: \/nonexistent\/model/ });
});

t.test('dispose() is idempotent; run after it rejects with MODEL_DISPOSED', async (t) => {
  const model = await loadModel(fixture('tiny').dir);
  const first = model.dispose();
  t.equal(model.dispose(), first, 'the same promise');
  await first;
  await model.dispose();
  t.equal(model.disposed, true);
  const x = new Tensor('float32', new Float32Array(4), [1, 4]);
  const error = await model.run({ x }).catch((e: unknown) => e);
  t.type(error, ModelDisposedError);
  t.match(error, { code: 'MODEL_DISPOSED', message: /disposed/ });
  t.throws(() => model.runSync({ x }), { code: 'MODEL_DISPOSED' });
});

t.test('a TensorFlow error at run time keeps its code and text', async (t) => {
  const model = await loadModel(fixture('reshape').dir);
  const x = new Tensor('float32', new Float32Array(5));
  const rows = new Tensor('int32', new Int32Array([2]), []);
  const error = await model.run({ x, rows }).catch((e: unknown) => e);
  t.type(error, InvalidArgumentError);
  t.match(error, { code: 'INVALID_ARGUMENT', message: /Input to reshape is a tensor with 5 values, but the requested shape requires a multiple of 2/ });
  t.throws(() => model.runSync({ x, rows }), { code: 'INVALID_ARGUMENT', message: /Input to reshape/ });
  const ok = await model.run({ x: new Tensor('float32', new Float32Array(6)), rows }).catch((e: unknown) => e);
  t.same((ok as Record<string, Tensor>).y?.shape, [2, 3], 'the session is fine afterwards');
  await model.dispose();
});

t.test('SavedModel kinds: TF1 with assets and init ops, TF2 modules, Keras exports', async (t) => {
  const tf1 = await loadModel(fixture('tf1_vocab').dir);
  const ids = await tf1.run({ words: new Tensor('string', ['cherry', 'apple', 'kiwi', 'date']) });
  t.same(plain(ids.ids!).data, ['2', '0', '-1', '3'], 'the vocabulary table was initialised from the asset file');
  await tf1.dispose();
  const keras = await loadModel(fixture('keras_export').dir);
  t.same(Object.keys(keras.signatures), ['serve', 'serving_default'], 'model.export() writes two signatures');
  t.equal(keras.defaultSignature, 'serving_default');
  await keras.dispose();
});

t.test('a Keras 3 model saved through a plain tf.Module: the error says what is missing and why', async (t) => {
  const { dir, golden } = fixture('keras_module');
  t.equal(golden.cases.length, 1, 'Python TensorFlow runs it');
  const model = await loadModel(dir);
  const error = await model.run({ x: toTensor(golden.cases[0]!.inputs.x!) }).catch((e: unknown) => e);
  t.match(error, { code: 'FAILED_PRECONDITION', message: /Could not find variable dense\/(kernel|bias)/ }, "TensorFlow's code and text");
  t.match(error, { message: /\(tfslice\) The graph reads variable 'dense\/(kernel|bias)'.*model\.export\(dir\)/s }, 'and the fix');
  await model.dispose();
});

t.test('tags that do not exist: the error lists the tag-sets that do', async (t) => {
  const error = await loadModel(fixture('tiny').dir, { tags: ['serve', 'gpu'] }).catch((e: unknown) => e);
  t.type(error, NotFoundError);
  t.match(error, { code: 'NOT_FOUND', message: /Could not find meta graph def matching supplied tags: \{ (serve gpu|gpu serve) \}/ });
  t.match(error, { message: /The tag-sets in .*tiny.* are: \['serve'\]; pass one as loadModel\(path, \{ tags \}\)/ });
});
