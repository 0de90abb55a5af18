// loadModel + run against what TensorFlow itself computed (test/fixtures/*/golden.json).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { InvalidArgumentError, loadModel, loadOpLibrary, loadTensorFlow, Model, ModelDisposedError, NotFoundError, type RunOptions, runtime, Tensor } from '../lib/index';
import { native } from '../lib/native';
import { expectOutput, fixture, FIXTURES, fixtureTags, node, plain, python, ROOT, TF_PROTOS_ONLY, toTensor } from './helpers';

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
  t.ok(Object.isFrozen(model.tags), 'tags frozen, as signatures, devices and config are (helper-125)');
  // helper-125: new Model() read a property of undefined (the declarations keep a constructor:
  // InstanceType<typeof Model> works, helper-126).
  t.throws(() => new (Model as unknown as new () => Model)(), { code: 'ERR_ILLEGAL_CONSTRUCTOR', message: 'Model is not constructed with new: call loadModel(path, options?), which resolves to one' });
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
    const model = await loadModel(dir, fixtureTags(golden));
    t.same(model.signatures, golden.signatures, `${name}: signatures`);
    t.same([model.tags], golden.tags, `${name}: tags`);
    for (const [i, c] of golden.cases.entries()) {
      const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v)]));
      const out = await model.run(feeds, { signature: c.signature });
      t.same(Object.keys(out).sort(), Object.keys(c.outputs).sort(), `${name}#${i} ${c.signature}: output keys`);
      for (const [key, expected] of Object.entries(c.outputs)) expectOutput(t, out[key], expected, `${name}#${i} ${c.signature}.${key}`);
    }
    await model.dispose();
  }
});

t.test('a TF1 signature that returns its inputs: the fed values, copied (TensorFlow refuses to fetch a fed tensor; Python answers with the feed)', async (t) => {
  const model = await loadModel(fixture('passthrough').dir);
  t.teardown(() => model.dispose());
  const x = new Tensor('float32', Float32Array.of(1, 2), [2]);
  const key = new Tensor('string', ['k1', 'k2'], [2]);
  for (const out of [await model.run({ x, key }), model.runSync({ x, key })]) {
    t.same(Object.keys(out).sort(), ['doubled', 'key', 'x_again', 'x_out']);
    t.same([Array.from(out.x_out!.data as Float32Array), Array.from(out.x_again!.data as Float32Array), out.key!.data, Array.from(out.doubled!.data as Float32Array)],
      [[1, 2], [1, 2], ['k1', 'k2'], [2, 4]]);
    t.not((out.x_out!.data as ArrayBufferView).buffer, (x.data as ArrayBufferView).buffer, 'a copy, not the feed');
    out.x_out!.dispose();
    t.same(Array.from(x.data as Float32Array), [1, 2], "disposing the output leaves the feed's memory alone");
  }
  t.same(Object.keys(await model.run({ x, key }, { outputs: ['x_out'] })), ['x_out'], 'only inputs asked for: nothing to fetch, no error');

  // Big ones are copied by run() on a runner thread (native copyOffThread), never on the event
  // loop; the copy is the feed's bytes at the time, in a buffer of its own, as for small ones.
  const n = 1 << 16;
  const bigX = Tensor.alloc('float32', [n]);
  (bigX.data as Float32Array).forEach((_, i, a) => { a[i] = i; });
  const strings = Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? '' : `key ${i} ${'é'.repeat(i % 30)}`));
  const bigKey = new Tensor('string', strings, [strings.length]);
  const bytes = [4 * n, (bigKey.flat()[2] as { bytes: Uint8Array }).bytes.byteLength, 8 * (strings.length + 1)];
  for (const [outputs, copies] of [[undefined, 4], [['key', 'x_out'], 3]] as const) {
    const before = native().stats().threadCopies;
    const out = await model.run({ x: bigX, key: bigKey }, outputs === undefined ? {} : { outputs: [...outputs] });
    t.equal(native().stats().threadCopies - before, copies, `outputs ${outputs ?? 'all'}: ${copies} buffers copied off the event loop (${bytes.join(', ')} bytes and the like)`);
    t.same(Object.keys(out), outputs ?? ['doubled', 'key', 'x_again', 'x_out'], 'the keys in their order');
    t.ok((out.x_out!.data as Float32Array).every((v, i) => v === i) && (out.x_out!.data as ArrayBufferView).buffer !== (bigX.data as ArrayBufferView).buffer, 'x_out: every element, in a buffer of its own');
    t.same(out.key!.data, strings, 'key: every string');
    if (out.x_again) t.not((out.x_again.data as ArrayBufferView).buffer, (out.x_out!.data as ArrayBufferView).buffer, 'x_again and x_out are two copies');
  }
  // A SharedArrayBuffer's memory too, copied at the time of the run.
  const shared = new Float32Array(new SharedArrayBuffer(4 * n)).fill(2.5);
  const fromShared = (await model.run({ x: shared, key: bigKey }, { outputs: ['x_out'] })).x_out!.data as Float32Array;
  t.ok(fromShared.length === n && fromShared.every((v) => v === 2.5) && !(fromShared.buffer instanceof SharedArrayBuffer), 'a SharedArrayBuffer feed echoed: a plain copy');
  // A feed transferred while its run is in flight: run() made its buffer untransferable, so the
  // transfer copies it (it was detached, and its echo failed FAILED_PRECONDITION; collected, its
  // memory was freed under the runner: test/70).
  const moved = new Float32Array(n).fill(3);
  const running = model.run({ x: moved, key: bigKey }, { outputs: ['x_out', 'doubled'] });
  const kept = structuredClone(moved.buffer, { transfer: [moved.buffer] });
  const echoed = await running;
  t.ok(echoed.x_out!.data.length === n && (echoed.x_out!.data as Float32Array).every((v) => v === 3), 'the echo: every element');
  t.equal(moved.length, n, 'the feed still holds its memory');
  t.equal(kept.byteLength, 4 * n, 'and the transfer had a copy');
  const before = native().stats().threadCopies;
  const sync = model.runSync({ x: bigX, key: bigKey });
  t.equal(native().stats().threadCopies - before, 0, 'runSync() copies them at once');
  t.ok((sync.x_out!.data as Float32Array).every((v, i) => v === i));
  t.throws(() => native().copyOffThread([new Float32Array(2), 'x' as unknown as Float32Array]), { name: 'TypeError', message: 'copyOffThread(views): views[1] is not a typed array' });
  t.throws(() => native().copyNow(new DataView(new ArrayBuffer(4))), { name: 'TypeError', message: 'copyNow(view) needs a typed array' });
  t.same(new Float64Array(native().copyNow(Float64Array.of(1.5, -2).subarray(1))), [-2], 'copyNow copies the view, not its whole buffer');
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
  // A misspelt option is refused, naming it and the options there are (not silently ignored).
  const misspelt = { timeoutMs: 5 } as unknown as RunOptions;
  await t.rejects(model.run(feeds, misspelt), { name: 'TypeError', message: /^run option "timeoutMs" must be one of signature, outputs, checkShapes, runTimeoutMs/ });
  t.throws(() => model.runSync(feeds, misspelt), { name: 'TypeError', message: /run option "timeoutMs"/ });
  await model.dispose();
});

t.test('signatures are frozen all the way down: a caller cannot change what the model accepts', async (t) => {
  const model = await loadModel(fixture('tiny').dir);
  const spec = model.signatures.serving_default!.inputs.x!;
  t.ok(Object.isFrozen(spec) && Object.isFrozen(spec.shape) && Object.isFrozen(model.signatures.serving_default!.inputs), 'specs and shapes');
  t.throws(() => { (spec.shape as number[])[1] = 7; }, TypeError);
  t.throws(() => { (spec as { dtype: string }).dtype = 'int32'; }, TypeError);
  t.same(Array.from((await model.run({ x: [[1, 2, 3, 4]] })).y!.shape), [1, 3], 'feeds are checked against the specs as loaded');
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
  t.match(error, { code: 'NOT_FOUND', message: /^\/nonexistent\/model does not exist \(nor does \/nonexistent\)\. \(TensorFlow: Could not find SavedModel \.pb or \.pbtxt at supplied export directory path: \/nonexistent\/model/ });
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

t.test("`await using`: a Model is AsyncDisposable, a Tensor Disposable (Symbol.asyncDispose / Symbol.dispose, TypeScript 5.2's explicit resource management)", async (t) => {
  let kept: Model | undefined;
  let output: Tensor | undefined;
  {
    await using model = await loadModel(fixture('tiny').dir);
    kept = model;
    using y = (await model.run({ x: new Tensor('float32', new Float32Array(4), [1, 4]) })).y!;
    output = y;
    t.equal(y.shape.length, 2);
  }
  t.equal(output.data.length, 0, 'the output was disposed at the end of its block');
  t.equal(kept.disposed, true, 'the model was disposed at the end of its block');
  t.equal(kept[Symbol.asyncDispose](), kept.dispose(), 'the same promise as dispose()');
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

t.test('a run failing at the deepest JS depth still fails with its own code: no SyntaxError, no process ended by V8', async (t) => {
  // A fresh process per case, where no run error was explained before. Explaining read the message
  // with regular expressions, which V8 compiles at their first uses: at the stack's limit the
  // compile failed as a SyntaxError naming the pattern (helper-106: 19 of 20 calls with
  // keras_module), or, compiling to machine code, ended the process ("RegExpCompiler Allocation
  // failed - process out of memory", exit 134; helper-108: the queue fixture's `count`).
  const queue = fixture('queue').dir;
  const cases: [string, string, string, string][] = [
    ['keras_module', fixture('keras_module').dir, 'model.runSync({ x: new Tensor(\'float32\', new Float32Array(3), [1, 3]) })', 'FAILED_PRECONDITION'],
    ['a failing Assert', queue, 'model.runSync({ n: -1 }, { signature: \'count\' })', 'INVALID_ARGUMENT'],
    ['a run stopped at its limit', queue, 'model.runSync({ n: 2e9 }, { signature: \'count\', runTimeoutMs: 1 })', 'DEADLINE_EXCEEDED'],
    // Feeds are converted at the same depth (helper-109: an int64 as a digit string, exit 134).
    ['an int64 feed as a string of digits', fixture('ints').dir, 'model.runSync({ a: [1], b: [\'12\'] })', 'resolved'],
    ['an int64 feed as a string that is not one', fixture('ints').dir, 'model.runSync({ a: [1], b: [\'1x\'] })', 'INVALID_ARGUMENT'],
  ];
  for (const [what, dir, call, code] of cases) {
    const child = node(`
      const { loadModel, Tensor } = require('./dist/index.js');
      (async () => {
        const model = await loadModel(${JSON.stringify(dir)}, { interOpThreads: 0 });
        const call = () => {
          try { ${call}; return 'resolved'; } catch (e) {
            if (e instanceof RangeError && String(e.message).includes('call stack')) throw e;
            return e.code ?? e.name;
          }
        };
        // The deepest depth where the call returns rather than overflowing the stack.
        const deepest = (n) => {
          let r;
          try { r = deepest(n + 1); } catch { r = undefined; }
          if (r !== undefined) return r;
          try { return call(); } catch (e) { if (e instanceof RangeError) return undefined; throw e; }
        };
        const seen = {};
        for (let i = 0; i < 10; i++) { const c = deepest(0); seen[c] = (seen[c] ?? 0) + 1; }
        console.log(JSON.stringify(seen));
        await model.dispose();
      })();`, { ...process.env, NODE_OPTIONS: '' });
    t.same({ status: child.status, seen: JSON.parse(child.stdout.trim() || 'null') }, { status: 0, seen: { [code]: 10 } },
      `${what}: its outcome every time${child.status === 0 ? '' : ` (stderr: ${child.stderr.slice(-300)})`}`);
  }
});

t.test('tags that do not exist: the error lists the tag-sets that do', async (t) => {
  const error = await loadModel(fixture('tiny').dir, { tags: ['serve', 'gpu'] }).catch((e: unknown) => e);
  t.type(error, NotFoundError);
  t.match(error, { code: 'NOT_FOUND', message: /Could not find meta graph def matching supplied tags: \{ (serve gpu|gpu serve) \}/ });
  t.match(error, { message: /The tag-sets in .*tiny.* are: \['serve'\]; pass one as loadModel\(path, \{ tags: \['serve'\] \}\) \(tfslice serve: --saved_model_tags serve,/ });
  // A saved_model.pb with no meta graph suggested the tags that had just failed (found by helper-40).
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-nometa-'));
  t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
  fs.writeFileSync(path.join(empty, 'saved_model.pb'), Buffer.from([0x08, 0x01]));
  await t.rejects(loadModel(empty, { opPolicy: 'none' }), { code: 'NOT_FOUND', message: /saved_model\.pb holds no meta graph at all: it is not a usable SavedModel; export the model again\.$/ });
});

t.test("TF1 reference dtypes (TensorFlow Serving's saved_model_counter): listed and returned as their base dtype", async (t) => {
  const model = await loadModel(fixture('counter').dir);
  t.same(model.signatures.get_counter!.outputs.output, { name: 'counter:0', dtype: 'float32', shape: [] }, 'DT_FLOAT_REF (101) is listed as float32');
  t.same(model.signatures.incr_counter_by!.inputs.delta, { name: 'delta:0', dtype: 'float32', shape: null });
  const value = async (signature: string, feeds = {}) => (await model.run(feeds, { signature })).output!.data[0];
  const delta = new Tensor('float32', new Float32Array([3]), []);
  const seen = [await value('get_counter'), await value('incr_counter'), await value('incr_counter_by', { delta }),
    await value('get_counter'), await value('reset_counter'), await value('get_counter')];
  t.same(seen, [0, 1, 4, 4, 0, 0], 'what Python TF1 gives for get, incr, incr_by(3), get, reset, get');
  t.equal(model.runSync({}, { signature: 'incr_counter' }).output!.dtype, 'float32', 'runSync too');
  await model.dispose();
});

t.test('a SavedModel saved with the empty tag-set (TF Hub TF1 format) loads with tags: []', async (t) => {
  const { dir } = fixture('tagless');
  const error = await loadModel(dir).catch((e: unknown) => e);
  t.match(error, { code: 'NOT_FOUND', message: /The tag-sets in .*tagless.* are: \[\]; pass one as loadModel\(path, \{ tags: \[\] \}\) \(tfslice serve: --saved_model_tags '', or the model's "tags" in a JSON --model_config_file\)\./ }, 'the error gives the option that works');
  const model = await loadModel(dir, { tags: [] });
  t.same(model.tags, []);
  t.equal(model.defaultSignature, 'default', 'its only signature is the default');
  const out = await model.run({ words: new Tensor('string', ['b', 'zz']) });
  t.same(plain(out.ids!), { dtype: 'int64', shape: [2], data: ['2', '-1'] }, 'the main_op initialised the table {a:1, b:2, c:3}, default -1');
  await model.dispose();
});

t.test('ragged and sparse outputs: listed with their components, returned as them', async (t) => {
  const model = await loadModel(fixture('composite').dir);
  const { r, s, n } = model.signatures.serving_default!.outputs;
  t.match(r, { name: '', dtype: 'int64', shape: [-1, -1], composite: { kind: 'ragged' } });
  t.same(Object.keys(r!.composite!.components), ['flat_values', 'nested_row_splits.0']);
  t.match(s, { name: '', dtype: 'float32', shape: [1, -1], composite: { kind: 'sparse' } });
  t.same(Object.keys(s!.composite!.components), ['indices', 'values', 'dense_shape']);
  t.equal(n!.composite, undefined, 'a dense output has no composite');
  const lens = new Tensor('int64', BigInt64Array.from([2n, 0n, 1n]));
  const out = await model.run({ lens });
  t.same(Object.keys(out).sort(), ['n', 'r.flat_values', 'r.nested_row_splits.0', 's.dense_shape', 's.indices', 's.values']);
  t.same(plain(out['r.flat_values']!).data, ['0', '1', '2'], 'ragged values');
  t.same(plain(out['r.nested_row_splits.0']!).data, ['0', '2', '2', '3'], 'ragged row_splits');
  t.same(plain(out['s.indices']!), { dtype: 'int64', shape: [2, 2], data: ['0', '0', '0', '2'] }, 'sparse indices');
  t.same(plain(out['s.values']!).data, [2, 1]);
  t.same(plain(out['s.dense_shape']!).data, ['1', '3']);
  t.same(plain(out.n!).data, [3]);
  const only = await model.run({ lens }, { outputs: ['r'] });
  t.same(Object.keys(only), ['r.flat_values', 'r.nested_row_splits.0'], "outputs: ['r'] fetches the ragged output's components");
  // A dense output keyed 'r.flat_values' beside ragged 'r': the result cannot hold both.
  await t.rejects(model.run({ lens }, { signature: 'collide' }), { code: 'INVALID_ARGUMENT', message: /output 'r\.flat_values' has the key of a component of ragged output 'r'; .*ask for one of them only \(RunOptions\.outputs/ });
  t.same(plain((await model.run({ lens }, { signature: 'collide', outputs: ['r.flat_values'] }))['r.flat_values']!).data, [20, 0, 10], 'the dense one alone');
  t.same(plain((await model.run({ lens }, { signature: 'collide', outputs: ['r'] }))['r.flat_values']!).data, ['0', '1', '2'], 'or the ragged one');
  await model.dispose();
});

t.test('ops from a plug-in library: the load error names the op and the fix; loadOpLibrary() and opLibraries load it', async (t) => {
  const { dir, golden } = fixture('custom_op');
  const library = buildCustomOp(t);
  const error = await loadModel(dir).catch((e: unknown) => e);
  t.match(error, { code: 'NOT_FOUND', message: /Op type not registered 'TfsliceAddOne'/ }, "TensorFlow's code and text");
  t.match(error, { message: /\(tfslice\) .*custom_op.* uses op 'TfsliceAddOne'.*loadOpLibrary\(.*opLibraries.*--op-library/s }, 'and the fix');
  const missing = loadOpLibrary(path.join(path.dirname(library), 'missing.so'));
  await t.rejects(missing, { code: 'NOT_FOUND', message: /missing\.so does not exist/ });
  t.ok(await missing.catch((e: unknown) => e instanceof NotFoundError), 'a NotFoundError, as README says of NOT_FOUND');
  // helper-125: a directory was said not to exist.
  await t.rejects(loadOpLibrary(path.dirname(library)), { code: 'NOT_FOUND', message: / is not a file \(pass the shared library itself, a \.so file\)$/ });
  t.same(await loadOpLibrary(library), ['TfsliceAddOne'], 'the ops the library registered');
  t.same(await loadOpLibrary(library), ['TfsliceAddOne'], 'loading it again is harmless');
  const model = await loadModel(dir);
  expectOutput(t, (await model.run({ x: toTensor(golden.cases[0]!.inputs.x!) })).y, golden.cases[0]!.outputs.y!, 'y = x + 1');
  await model.dispose();
  // A process of its own, where nothing loaded the library yet: the load option does it.
  const child = node(`
    const { loadModel, Tensor } = require('./dist/index.js');
    loadModel(${JSON.stringify(dir)}, { opLibraries: [${JSON.stringify(library)}] })
      .then((m) => m.run({ x: new Tensor('float32', new Float32Array([1, 2])) }))
      .then((out) => console.log(JSON.stringify(Array.from(out.y.data))), (e) => console.log(e.code, e.message));`, { ...process.env, NODE_OPTIONS: '' });
  t.equal(child.stdout.trim(), '[2,3]', 'loadModel(path, { opLibraries }) in a fresh process');
});

t.test('a corrupt SavedModel: truncated variables and an out-of-range tensor index are errors naming the model', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-corrupt-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const truncated = path.join(tmp, 'truncated');
  fs.cpSync(fixture('tiny').dir, truncated, { recursive: true });
  const data = fs.readdirSync(path.join(truncated, 'variables')).find((f) => f.startsWith('variables.data'))!;
  fs.truncateSync(path.join(truncated, 'variables', data), 10);
  const error = await loadModel(truncated).catch((e: unknown) => e);
  t.match(error, { code: 'OUT_OF_RANGE', message: /Read less bytes than requested/ }, "TensorFlow's code and text");
  t.match(error, { message: new RegExp(`Restoring the variables of the SavedModel at ${truncated} failed: ${truncated}/variables .* is incomplete or corrupt`) }, 'which SavedModel, and that variables/ is the problem');

  // A signature whose tensor names an output index past int32 (atoi made it negative).
  const bad = path.join(tmp, 'bad_index');
  fs.cpSync(fixture('tiny').dir, bad, { recursive: true });
  python<null>(`${TF_PROTOS_ONLY}
import sys
from tensorflow.core.protobuf import saved_model_pb2
p = sys.argv[1] if len(sys.argv) > 1 else ${JSON.stringify(path.join(bad, 'saved_model.pb'))}
sm = saved_model_pb2.SavedModel(); sm.ParseFromString(open(p, 'rb').read())
sd = sm.meta_graphs[0].signature_def['serving_default']
for name, index in (('wrap', '2147483648'), ('minus_one', '4294967295'), ('huge', '99999999999999999999999')):
    sd.outputs[name].CopyFrom(sd.outputs['y']); sd.outputs[name].name = sd.outputs['y'].name.split(':')[0] + ':' + index
open(p, 'wb').write(sm.SerializeToString())
print('null')`);
  const model = await loadModel(bad);
  const x = new Tensor('float32', new Float32Array(4), [1, 4]);
  for (const key of ['wrap', 'minus_one', 'huge']) {
    await t.rejects(model.run({ x }, { outputs: [key] }), { code: 'NOT_FOUND', message: /no tensor '.*:\d+' to fetch/ }, `${key}: NOT_FOUND, no crash`);
  }
  t.ok((await model.run({ x }, { outputs: ['y'] })).y, 'the valid output still runs');
  await model.dispose();
});

/** Builds test/fixtures/custom_op/add_one.cc against the TensorFlow the tests use. */
function buildCustomOp(t: tap.Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-op-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tensorflow = path.dirname(runtime().path);
  const library = path.join(dir, 'add_one.so');
  execFileSync('c++', ['-std=c++17', '-shared', '-fPIC', '-O2', '-o', library, path.join(ROOT, 'test', 'fixtures', 'custom_op', 'add_one.cc'),
    `-I${path.join(tensorflow, 'include')}`, `-L${tensorflow}`, '-l:libtensorflow_framework.so.2', `-Wl,-rpath,${tensorflow}`]);
  return library;
}

t.test('a path that holds no SavedModel: the error names what is there and what to pass', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-paths-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const base = path.join(tmp, 'base');
  for (const version of ['1', '2']) fs.cpSync(fixture('tiny').dir, path.join(base, version), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'empty'));
  const cases: [string, RegExp][] = [
    [path.join(tmp, 'missing'), /^\S+\/missing does not exist; \S+ holds base, empty\. \(TensorFlow: Could not find SavedModel/],
    [path.join(base, '1', 'saved_model.pb'), /^\S+\/1\/saved_model\.pb is a file, not a SavedModel directory; pass its directory, \S+\/base\/1\. \(TensorFlow/],
    [base, /^\S+\/base is a model base path: it holds versions 1, 2, each a SavedModel; pass one, such as \S+\/base\/2, or serve them all with a ModelManager \(basePath: "\S+\/base"\)/],
    [path.join(tmp, 'empty'), /^\S+\/empty has no saved_model\.pb \(it holds nothing\); pass the directory a SavedModel was saved to/],
  ];
  for (const [where, message] of cases) {
    await t.rejects(loadModel(where), { code: 'NOT_FOUND', message }, path.relative(tmp, where));
  }
  const model = await loadModel(path.join(base, '2'));
  t.ok(model, 'the version it suggests loads');
  await model.dispose();
});
