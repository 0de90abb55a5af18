// Tensors in and out: every dtype, strings as text and bytes, scalars, zero-size, and
// what is borrowed or copied (counted by the addon) with outputs that outlive the model.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import t from 'tap';

import { InvalidArgumentError, loadModel, type Model, Tensor, type TensorLike } from '../lib/index';
import { openSession } from '../lib/model';
import { native } from '../lib/native';
import { resolveLoadOptions } from '../lib/options';
import { preview, tensorToJson } from '../lib/values';
import { feedsReleased, fixture, node, plain, plainGolden, ROOT, toTensor } from './helpers';

const stats = () => native().stats();


t.test('every dtype, scalar and zero-size tensors, in and out', async (t) => {
  const { dir, golden } = fixture('dtypes');
  const model = await loadModel(dir);
  const echo = golden.cases.filter((c) => c.signature === 'serving_default');
  t.ok(echo.some((c) => Object.values(c.inputs).every((x) => x.shape[0] === 0)), 'a zero-size case');
  const dtypes = new Set<string>();
  for (const c of golden.cases) {
    const out = await model.run(Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v)])), { signature: c.signature });
    for (const [key, expected] of Object.entries(c.outputs)) {
      dtypes.add(expected.dtype);
      if (expected.dtype.startsWith('float') && expected.dtype !== 'float16') continue; // covered with tolerance in 30.model
      t.same(plain(out[key]!), plainGolden(expected), `${c.signature}.${key} ${expected.dtype} [${expected.shape.join(', ')}]`);
    }
  }
  t.same([...dtypes].sort(), ['bfloat16', 'bool', 'float16', 'float32', 'float64', 'int16', 'int32', 'int64', 'int8', 'string', 'uint16', 'uint32', 'uint64', 'uint8']);
  const scalar = await model.run({ x: new Tensor('float32', new Float32Array([2.5]), []) }, { signature: 'scalar' });
  t.same(scalar.y!.shape, [], 'a scalar comes back with shape []');
  t.equal(scalar.y!.size, 1);
  t.same(Array.from(scalar.y!.data as Float32Array), [7.5]);
  await model.dispose();
});

t.test("subnormal floats are flushed to zero as in TensorFlow's own threads, whichever thread runs the ops; the JS thread keeps IEEE subnormals", async (t) => {
  // helper-93: ops inline on a runner thread (or runSync's JS thread) kept subnormals, where
  // TensorFlow (its pools, eager kernels, Python) flushes them: 2 x 1e-45 was 3e-45, not 0.
  const feeds = {
    f32: [1e-45, 1e-40, 1.1754942e-38, 1], f64: [5e-324, 1e-310, 2.2e-308, 1], i32: [1, 1, 1, 1], i64: [1n, 1n, 1n, 1n], u8: [1, 1, 1, 1],
    b: [true, true, true, true], s: ['a', 'a', 'a', 'a'], f16: [1, 1, 1, 1], bf16: [1e-40, 1e-39, 1, 1],
  };
  const expected = { f32_out: [0, 0, 0, 2], f64_out: [0, 0, 0, 2], bf16_out: [0, 0, 0x4000, 0x4000] };
  for (const options of [{}, { interOpThreads: 0 }, { isolation: 'process' as const }]) {
    const model = await loadModel(fixture('dtypes').dir, { signature: 'transform', ...options });
    const runs = [['run()', await model.run(feeds)], ...(model.isolation === 'none' ? [['runSync()', model.runSync(feeds)] as const] : [])] as const;
    for (const [how, out] of runs) {
      t.same(Object.fromEntries(Object.keys(expected).map((k) => [k, Array.from(out[k]!.data as ArrayLike<number>)])), expected, `${JSON.stringify(options)} ${how}: x 2 of subnormals is 0`);
    }
    await model.dispose();
  }
  const tiny = new Float64Array([2.2e-308])[0]!; // read at run time, not folded by the compiler
  t.ok(tiny / 4 > 0 && tiny * 1e-10 > 0, "the JS thread's arithmetic still has subnormals after runSync()");
});

t.test('strings: text in, text out; bytes in, the same bytes out', async (t) => {
  const model = await loadModel(fixture('dtypes').dir);
  const feeds: Record<string, Tensor> = {};
  for (const [key, spec] of Object.entries(model.signatures.serving_default!.inputs)) {
    if (key !== 's') feeds[key] = Tensor.alloc(spec.dtype as 'float32', [0]);
  }
  const binary = [new Uint8Array([0, 255, 1]), new Uint8Array([]), new Uint8Array([0xc3, 0x28])];
  const bytesOut = await model.run({ ...feeds, s: new Tensor('string', binary) }, { outputs: ['s_out'] });
  t.same(bytesOut.s_out!.bytes().map((b) => Array.from(b)), binary.map((b) => Array.from(b)), 'raw bytes survive, NUL and invalid UTF-8 included');
  const text = ['héllo', '', '日本語', 'a\u0000b'];
  const textOut = await model.run({ ...feeds, s: new Tensor('string', text) }, { outputs: ['s_out'] });
  t.same(textOut.s_out!.data, text, 'UTF-8 text round-trips');
  t.equal(textOut.s_out!.dtype, 'string');
  await model.dispose();
});

t.test('string feeds are packed in runs of 512: ASCII runs in one call, others string by string, bytes exact across run boundaries', async (t) => {
  const values: (string | Uint8Array)[] = Array.from({ length: 1700 }, (_, i) => `id-${i}`);
  values[511] = '\ud83d'; // a lone high surrogate ending one run ...
  values[512] = '\ude00'; // ... and a lone low one starting the next: two U+FFFD, not one emoji
  values[600] = 'é';
  values[700] = new Uint8Array([0, 255, 1]);
  values[800] = '';
  for (let i = 1536; i < 1700; i++) values[i] = '😀'.repeat(i % 5); // past the bytes first reserved (one per code unit)
  const encoder = new TextEncoder();
  const expected = values.map((v) => Array.from(typeof v === 'string' ? encoder.encode(v) : v));
  const tensor = new Tensor('string', values);
  t.same(tensor.bytes().map((b) => Array.from(b)), expected, 'each element is its own UTF-8 bytes (lone surrogates as U+FFFD)');
  t.same(Array.from(tensor.bytes()[511]!), [0xef, 0xbf, 0xbd]);
  const ascii = new Tensor('string', values.slice(0, 511) as string[]);
  t.same(ascii.data, values.slice(0, 511), 'an ASCII-only tensor reads back as its strings');
  const model = await loadModel(fixture('dtypes').dir);
  const feeds: Record<string, Tensor> = {};
  for (const [key, spec] of Object.entries(model.signatures.serving_default!.inputs)) {
    if (key !== 's') feeds[key] = Tensor.alloc(spec.dtype as 'float32', [0]);
  }
  for (const s of [tensor, values]) {
    const out = await model.run({ ...feeds, s }, { outputs: ['s_out'] });
    t.same(out.s_out!.bytes().map((b) => Array.from(b)), expected, `TensorFlow gets the same bytes (${s === values ? 'a plain array' : 'a Tensor'})`);
  }
  await model.dispose();
});

t.test('the Tensor constructor checks what it is given', async (t) => {
  t.throws(() => new Tensor('float32', new Float64Array(2) as unknown as Float32Array), { name: 'TypeError', message: /data of a float32 tensor must be a Float32Array, got a Float64Array/ });
  t.throws(() => new Tensor('int64', [1, 2] as unknown as BigInt64Array), { name: 'TypeError', message: /BigInt64Array/ });
  t.throws(() => new Tensor('complex64' as 'float32', new Float32Array(2)), { name: 'TypeError', message: /^dtype must be one of float32/ });
  t.throws(() => new Tensor('float32', new Float32Array(5), [2, 2]), InvalidArgumentError);
  t.throws(() => new Tensor('float32', new Float32Array(4), [2, -2]), { name: 'TypeError', message: /^shape\[1\] must be a non-negative integer below 2\^53 \(a safe integer\), got -2$/ });
  t.throws(() => new Tensor('string', ['a', 3] as unknown as string[]), { name: 'TypeError', message: /data\[1\] of a string tensor must be a string or a Uint8Array/ });
  t.throws(() => new Tensor('float32', new Float32Array(1)).bytes(), InvalidArgumentError);
  const tensor = new Tensor('bool', new Uint8Array([1, 0, 1, 1, 0, 0]), [2, 3]);
  t.same({ dtype: tensor.dtype, shape: tensor.shape, size: tensor.size }, { dtype: 'bool', shape: [2, 3], size: 6 });
  t.ok(Object.isFrozen(tensor.shape), 'shape is frozen');
  // TypeScript's readonly holds in JS too: what run() checked is what it feeds.
  t.throws(() => { (tensor as { dtype: string }).dtype = 'float32'; }, { name: 'TypeError', message: /Cannot set property dtype of #<Tensor> which has only a getter/ });
  t.throws(() => { (tensor as unknown as { shape: number[] }).shape = [6]; }, { name: 'TypeError', message: /Cannot set property shape/ });
  t.same([tensor.dtype, tensor.shape], ['bool', [2, 3]], 'unchanged');
  t.equal(JSON.stringify(tensor), '{"dtype":"bool","shape":[2,3]}', 'JSON: dtype and shape, as when they were own properties');
  t.equal(util.inspect(tensor, { breakLength: Infinity }), "Tensor { dtype: 'bool', shape: [ 2, 3 ], data: Uint8Array(6) [ 1, 0, 1, 1, 0, 0 ] }", 'console.log shows them');
  // is(): a type guard for outputs typed Tensor (any dtype).
  const any: Tensor = new Tensor('float32', new Float32Array([1.5]));
  t.same([any.is('float32'), any.is('float64'), any.is('nope' as 'float32')], [true, false, false], 'is(dtype)');
  if (any.is('float32')) {
    const narrowed: Float32Array = any.data; // compiles only where is() narrows
    t.equal(narrowed[0], 1.5);
  }
});

t.test('large feeds are borrowed, large outputs are not copied, small ones are copied', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir);
  const n = 1 << 20; // 4 MiB of float32
  const x = Tensor.alloc('float32', [n]);
  const data = x.data;
  for (let i = 0; i < n; i++) data[i] = i % 1000;
  const before = stats();
  const out = await model.run({ x }, { signature: 'double' });
  await feedsReleased();
  const after = stats();
  t.equal(after.borrowedFeeds - before.borrowedFeeds, 1, 'the aligned 4 MiB feed was read in place');
  t.equal(after.wrappedOutputs - before.wrappedOutputs, 1, "the 4 MiB output is TensorFlow's buffer, not a copy");
  t.equal(after.pinnedNow, 0, 'and TensorFlow let go of the feed');
  const y = out.y!.data as Float32Array;
  let wrong = 0;
  for (let i = 0; i < n; i++) if (y[i] !== (i % 1000) * 2) wrong++;
  t.equal(wrong, 0, 'y = 2x everywhere');

  const small = stats();
  await model.run({ x: new Tensor('float32', new Float32Array([1, 2, 3])) }, { signature: 'double' });
  const smallAfter = stats();
  t.equal(smallAfter.copiedFeeds - small.copiedFeeds, 1, 'a 12-byte feed is copied');
  t.equal(smallAfter.copiedOutputs - small.copiedOutputs, 1, 'and so is its output');

  const unaligned = new Float32Array(new ArrayBuffer(4 * n + 4), 4, n); // 4 bytes past an allocation: never 64-aligned
  unaligned.fill(1.5);
  const u = stats();
  const uOut = await model.run({ x: new Tensor('float32', unaligned) }, { signature: 'double' });
  t.equal(stats().copiedFeeds - u.copiedFeeds, 1, 'an unaligned feed is copied once');
  t.equal((uOut.y!.data as Float32Array)[n - 1], 3);

  const shared = new Float32Array(new SharedArrayBuffer(12));
  shared.set([1, 2, 3]);
  const sOut = await model.run({ x: new Tensor('float32', shared) }, { signature: 'double' });
  t.same(Array.from(sOut.y!.data as Float32Array), [2, 4, 6], 'a SharedArrayBuffer-backed feed works too');
  await model.dispose();
});

// The dtypes fixture's feeds, every one empty (shape [0]): a run feeds one of them for real.
function emptyFeeds(model: Model): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const [key, spec] of Object.entries(model.signatures.serving_default!.inputs)) {
    feeds[key] = spec.dtype === 'string' ? new Tensor('string', []) : Tensor.alloc(spec.dtype as 'float32', [0]);
  }
  return feeds;
}

// runSync() on an in-process model whose outputs are all small and numeric gets them through
// one scratch buffer of the addon's (no N-API object per output or dimension): each is copied into
// an array of JS's own before the call returns. So the next runSync() cannot change them, and
// dispose() has nothing of tfslice's to free: it empties the tensor, and an array read before
// stays as it was (an output in the addon's memory is detached instead).
t.test("runSync()'s small numeric outputs: arrays of JS's own, every dtype, as run() gives them", async (t) => {
  const { dir, golden } = fixture('dtypes');
  const model = await loadModel(dir);
  t.teardown(() => model.dispose());
  const cases = golden.cases.filter((c) => c.signature === 'serving_default');
  for (const c of cases) {
    const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v)]));
    const numeric = Object.keys(c.outputs).filter((key) => c.outputs[key]!.dtype !== 'string');
    const viaRun = await model.run(feeds, { outputs: numeric });
    const first = model.runSync(feeds, { outputs: numeric });
    const held = Object.fromEntries(numeric.map((key) => [key, first[key]!.data]));
    const kept = Object.fromEntries(numeric.map((key) => [key, plain(first[key]!)]));
    const second = model.runSync(feeds, { outputs: numeric });
    for (const key of numeric) {
      const expected = c.outputs[key]!;
      const label = `${key} ${expected.dtype} [${expected.shape.join(', ')}]`;
      t.same(plain(first[key]!), plain(viaRun[key]!), `${label}: as run() gives it`);
      t.same(first[key]!.shape, expected.shape, `${label}: its shape`);
      t.not((first[key]!.data as ArrayBufferView).buffer, (second[key]!.data as ArrayBufferView).buffer, `${label}: each call's array is its own`);
      first[key]!.dispose();
      t.ok(first[key]!.disposed && first[key]!.data.length === 0, `${label}: dispose() empties the tensor`);
      t.same(plain({ dtype: expected.dtype, shape: expected.shape, data: held[key] } as never), kept[key], `${label}: an array read before dispose() is intact`);
      t.same(plain(second[key]!), kept[key], `${label}: the second call's the same`);
    }
  }
  // A runSync() from inside another one (a replaced `shape` that runs code when read, a species
  // getter on the typed arrays) never makes the outer call read the inner one's feeds or outputs
  // from the scratch (helper-47's trial: a wrong shape, another call's data).
  const tiny = await loadModel(fixture('tiny').dir);
  t.teardown(() => tiny.dispose());
  const rows = (n: number, from = 0) => new Tensor('float32', Float32Array.from({ length: 4 * n }, (_, i) => from + i), [n, 4]);
  const slow = await loadModel(fixture('slow').dir);
  t.teardown(() => slow.dispose());
  const expected = plain((await tiny.run({ x: rows(2) })).y!);
  const hostile = rows(2);
  const shape = new Proxy([2, 4], {
    get(target, key, receiver) {
      if (key === '0') slow.runSync({ n: new Tensor('int32', Int32Array.of(1), []) }); // its header: int32, rank 0
      return Reflect.get(target, key, receiver);
    },
  });
  Object.defineProperty(hostile, 'shape', { value: shape });
  // Seen, the outer call goes the flat way, where the addon refuses a shape that is no array.
  t.throws(() => tiny.runSync({ x: hostile }), { name: 'TypeError', message: /feed 'x': shape must be an array of integers/ }, 'a shape that calls runSync() when read: never read wrong, refused');
  await t.rejects(tiny.run({ x: hostile }), { name: 'TypeError', message: /shape must be an array of integers/ }, 'as run() refuses it');
  let calls = 0; // Float32Array's own species getter shadows %TypedArray%'s until deleted
  Object.defineProperty(Float32Array, Symbol.species, { configurable: true, get() { if (calls++ < 4) tiny.runSync({ x: rows(3, 100) }); return Float32Array; } });
  try {
    t.same(plain(tiny.runSync({ x: rows(2) }).y!), expected, 'a species getter that calls runSync(): the outer result as run() gives it');
  } finally {
    delete (Float32Array as unknown as Record<symbol, unknown>)[Symbol.species];
  }
  // Detached by code that got hold of it (an internal API here): the addon makes another, never
  // writing where the old one was (a signature with no inputs used it without a look).
  const counter = await loadModel(fixture('counter').dir);
  t.teardown(() => counter.dispose());
  const old = native().takenScratch();
  structuredClone(old, { transfer: [old] });
  t.equal(old.byteLength, 0, 'the scratch is detached');
  t.same(plain(counter.runSync({}, { signature: 'get_counter' }).output!), plain((await counter.run({}, { signature: 'get_counter' })).output!), 'a run with no feeds after it: its output right');
  t.same(plain(tiny.runSync({ x: rows(2) }).y!), expected, 'and one with feeds');
  t.equal(native().takenScratch().byteLength, 64 * 1024, 'in a new scratch');

  // An output of 16 KiB or more is the addon's memory, as from run(): dispose() detaches it.
  const pass = await loadModel(fixture('passthrough').dir);
  t.teardown(() => pass.dispose());
  const big = pass.runSync({ x: new Float32Array(1 << 13).fill(2), key: ['k'] }, { outputs: ['doubled'] });
  const data = big.doubled!.data;
  t.equal(data.length, 1 << 13, 'a 32 KiB output');
  big.doubled!.dispose();
  t.equal(data.length, 0, 'detached by dispose()');
});

// Small numeric outputs are copied out and deleted on the thread that ran the session (a runner
// for run(), the JS thread inside runSync()), so a loop of small runs leaves the reaper's thread
// nothing to delete, and never wakes it.
t.test('small outputs are deleted where the session ran: nothing for the reaper', async (t) => {
  const { dir, golden } = fixture('dtypes');
  const model = await loadModel(dir);
  const cases = golden.cases.filter((c) => c.signature === 'serving_default');
  for (const c of cases) {
    const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v)]));
    const viaRun = await model.run(feeds);
    const viaSync = model.runSync(feeds);
    for (const [key, expected] of Object.entries(c.outputs)) {
      if (expected.dtype === 'string') continue;
      t.same(plain(viaSync[key]!), plain(viaRun[key]!), `${key} ${expected.dtype} [${expected.shape.join(', ')}]: runSync() as run()`);
      if (!expected.dtype.startsWith('float') || expected.dtype === 'float16') t.same(plain(viaRun[key]!), plainGolden(expected), `${key}: the golden value`);
    }
  }
  await model.dispose();

  // In a process of its own: here the collector may finalize other tests' tensors meanwhile,
  // and those deletions go to the reaper too.
  const child = node(`
    const { loadModel } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
    const { native } = require(${JSON.stringify(path.join(ROOT, 'dist', 'native.js'))});
    (async () => {
      const tiny = await loadModel(${JSON.stringify(fixture('tiny').dir)});
      const x = tiny.alloc('float32', [1, 4]);
      x.data.set([1, 2, 3, 4]);
      const first = tiny.runSync({ x }).y.data[0];
      while (native().stats().pendingDeletes > 0) await new Promise((r) => setTimeout(r, 5));
      const before = native().stats();
      let queued = 0, wrong = 0;
      for (let i = 0; i < 200; i++) {
        const out = i % 2 === 0 ? tiny.runSync({ x }) : await tiny.run({ x });
        if (native().stats().pendingDeletes !== 0) queued++;
        if (out.y.data[0] !== first) wrong++;
        out.y.dispose();
      }
      const after = native().stats();
      console.log(JSON.stringify({ queued, wrong, copied: after.copiedOutputs - before.copiedOutputs, wrapped: after.wrappedOutputs - before.wrappedOutputs }));
      await tiny.dispose();
    })();
  `, { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' });
  t.equal(child.status, 0, child.stderr);
  const counts = JSON.parse(child.stdout.trim().split('\n').pop()!);
  t.equal(counts.queued, 0, 'no deletion queued for the reaper after any of 200 runs');
  t.equal(counts.wrong, 0, 'every run gave the first run\'s value');
  t.equal(counts.copied, 200, 'each small output copied into JS memory');
  t.equal(counts.wrapped, 0, 'none wrapped');

  // Rank 9 (more dims than a small output keeps aside): copied on the JS thread as before.
  const pass = await loadModel(fixture('passthrough').dir);
  const shape = [1, 1, 1, 1, 1, 1, 1, 1, 2];
  const feed = { x: new Tensor('float32', new Float32Array([1.5, -2]), shape), key: new Tensor('string', ['a', 'b'], [2]) };
  for (const out of [await pass.run(feed, { checkShapes: false, outputs: ['doubled'] }), pass.runSync(feed, { checkShapes: false, outputs: ['doubled'] })]) {
    t.same(out.doubled!.shape, shape, 'rank 9 kept');
    t.same(Array.from(out.doubled!.data as Float32Array), [3, -4]);
  }
  await pass.dispose();
});

t.test('an output fed back and disposed while its run is in flight: the run\'s echoes of it still hold what was fed', async (t) => {
  // A small output is freed at once by dispose() (the addon copied it for TensorFlow); the echo
  // (passthrough's x_again, x_out: outputs that are the input x) was then copied from an empty
  // array: FAILED_PRECONDITION "whose buffer was detached" (helper-84). A big one is borrowed.
  for (const isolation of ['none', 'process'] as const) {
    const pass = await loadModel(fixture('passthrough').dir, { isolation });
    for (const n of [4, 8192]) {
      const first = await pass.run({ x: new Float32Array(n).fill(1), key: ['k'] });
      const fed = first.doubled!;
      const running = pass.run({ x: fed, key: ['k'] });
      fed.dispose();
      const out = await running;
      for (const key of ['x_again', 'x_out', 'doubled']) t.equal((out[key]!.data as Float32Array).length, n, `${isolation}, ${n} floats: ${key}`);
      t.same([(out.x_again!.data as Float32Array)[n - 1], (out.doubled!.data as Float32Array)[n - 1]], [2, 4], `${isolation}, ${n} floats: the values fed`);
    }
    await pass.dispose();
  }
});

t.test('an output that aliases a borrowed feed is copied, so JS never sees shared memory', async (t) => {
  const model = await loadModel(fixture('dtypes').dir);
  const feeds = emptyFeeds(model);
  const big = Tensor.alloc('float32', [1 << 16]);
  big.data.fill(4);
  const before = stats();
  const out = await model.run({ ...feeds, f32: big }, { outputs: ['f32_out'] });
  const after = stats();
  t.equal(after.borrowedFeeds - before.borrowedFeeds, 1, 'borrowed');
  t.equal(after.wrappedOutputs - before.wrappedOutputs, 0, 'identity output not wrapped');
  t.equal(after.copiedOutputs - before.copiedOutputs, 1, 'but copied');
  t.equal(after.preparedOutputs - before.preparedOutputs, 1, 'on the runner thread, not the JS thread');
  big.data.fill(9);
  t.equal((out.f32_out!.data as Float32Array)[0], 4, 'changing the feed afterwards does not change the output');
  t.ok((out.f32_out!.data as Float32Array).every((v) => v === 4), 'every element copied');
  out.f32_out!.dispose();
  t.equal(out.f32_out!.data.length, 0, 'dispose() frees the copy at once');
  const sync = model.runSync({ ...feeds, f32: big }, { outputs: ['f32_out'] });
  t.ok((sync.f32_out!.data as Float32Array).every((v) => v === 9), 'runSync() copies it on the JS thread, as it waits anyway');
  await model.dispose();
});

t.test('a big string output fed to a run that waits for its turn, then disposed: freed only when that run is done', async (t) => {
  const model = await loadModel(fixture('dtypes').dir, { maxConcurrentRuns: 1 });
  const feeds = (s: Tensor): Record<string, Tensor> => ({ ...emptyFeeds(model), s });
  const words = Array.from({ length: 100_000 }, (_, i) => `word-${i}`);
  const { s_out: out } = await model.run(feeds(new Tensor('string', words)), { outputs: ['s_out'] });
  const busy = model.run(feeds(new Tensor('string', words)), { outputs: ['s_out'] });
  const fed = model.run(feeds(out!), { outputs: ['s_out'] }); // waits behind `busy`: its strings are read when it starts
  out!.dispose();
  t.ok(out!.disposed, 'disposed at once, as far as JS can tell');
  t.equal(out!.bytes().length, words.length, 'but its memory stays while the waiting run holds it');
  t.equal(out!.data.length, words.length, 'and its strings read from it');
  await busy;
  t.same((await fed).s_out!.data, words, 'the waiting run read every string intact');
  t.equal(out!.bytes().length, 0, 'and the memory is freed after it');
  t.same(out!.data, [], 'the strings read meanwhile with it');
  await feedsReleased();
  t.equal(stats().pinnedNow, 0);
  await model.dispose();
});

t.test('a big string output is packed on the runner thread; small ones where JS wants them', async (t) => {
  const model = await loadModel(fixture('dtypes').dir);
  const feeds = emptyFeeds(model);
  // Every kind of string: empty, binary (NUL, invalid UTF-8), long (past TF_TString's inline 22 bytes).
  const kinds = [new Uint8Array(0), Uint8Array.of(0, 255, 0xc3), new TextEncoder().encode('héllo'), new Uint8Array(300).fill(7)];
  const strings = Array.from({ length: 4000 }, (_, i) => kinds[i % kinds.length]!);
  for (const [n, prepared] of [[strings.length, 1], [8, 0]] as const) {
    const before = stats();
    const out = await model.run({ ...feeds, s: new Tensor('string', strings.slice(0, n), [n]) }, { outputs: ['s_out'] });
    t.equal(stats().preparedOutputs - before.preparedOutputs, prepared, `${n} strings: packed ${prepared ? 'on the runner' : 'on the JS thread'}`);
    const got = out.s_out!.bytes();
    t.equal(got.length, n);
    t.ok(got.every((b, i) => Buffer.from(b).equals(Buffer.from(strings[i]!))), `${n} strings: every one byte for byte`);
    t.same(out.s_out!.shape, [n]);
    out.s_out!.dispose();
  }
  await model.dispose();
});

t.test('outputs are ordinary JS memory that outlives the model', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir);
  const x = Tensor.alloc('float32', [1 << 18]);
  x.data.fill(0.25);
  const big = await model.run({ x }, { signature: 'double' });
  const small = await model.run({ x: new Tensor('float32', new Float32Array([3])) }, { signature: 'double' });
  await model.dispose();
  global.gc?.();
  t.equal((big.y!.data as Float32Array)[12345], 0.5, 'a wrapped output reads fine after dispose');
  t.equal((small.y!.data as Float32Array)[0], 6, 'and so does a copied one');
  t.ok((big.y!.data as Float32Array).buffer instanceof ArrayBuffer);
});

t.test('plain { dtype, shape, data } objects are validated like Tensors', async (t) => {
  const model = await loadModel(fixture('tiny').dir);
  const bad: TensorLike = { dtype: 'float32', shape: [1, 4], data: new Float32Array(3) };
  await t.rejects(model.run({ x: bad }), { code: 'INVALID_ARGUMENT', message: /^feed 'x': a float32 tensor of shape \[1, 4\] needs 4 elements, but data has 3/ });
  await model.dispose();
});

t.test('dispose() frees an output now; it never detaches memory the caller owns', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir, { signature: 'double' });
  const x = Tensor.alloc('float32', [1 << 18]);
  x.data.fill(2);
  const out = await model.run({ x });
  const y = out.y!;
  t.equal((y.data as Float32Array)[7], 4);
  y.dispose();
  t.equal(y.data.length, 0, 'the output is detached');
  y.dispose();
  t.pass('dispose() is idempotent');
  const small = (await model.run({ x: new Tensor('float32', new Float32Array([1])) })).y!;
  small.dispose();
  t.equal(small.data.length, 0, 'copied outputs are released too');
  x.dispose();
  t.equal(x.data.length, 1 << 18, "a caller's tensor keeps its memory");
  const strings = await loadModel(fixture('dtypes').dir);
  const feeds: Record<string, Tensor> = {};
  for (const [key, spec] of Object.entries(strings.signatures.serving_default!.inputs)) {
    feeds[key] = spec.dtype === 'string' ? new Tensor('string', ['a', 'b']) : Tensor.alloc(spec.dtype as 'float32', [0]);
  }
  const s = (await strings.run(feeds, { outputs: ['s_out'] })).s_out!;
  t.same(s.data, ['a', 'b']);
  s.dispose();
  t.same(s.bytes().length, 0, 'a string output disposes its bytes');
  t.same(s.data, [], 'and the strings decoded from them before');
  await Promise.all([model.dispose(), strings.dispose()]);
});

t.test("shapes are held to TensorFlow's own rules before anything reaches it (rank <= 254, no int64 overflow)", async (t) => {
  const overflow = [2 ** 32, 2 ** 32, 0];
  t.throws(() => new Tensor('float32', new Float32Array(0), overflow), { code: 'INVALID_ARGUMENT', message: /^shape \[4294967296, 4294967296, 0\]: its non-zero dimensions multiply past 2\^63-1 at shape\[1\]/ }, 'overflow hidden by a later 0');
  t.throws(() => new Tensor('float32', new Float32Array(1), Array(255).fill(1)), { code: 'INVALID_ARGUMENT', message: /^shape has 255 dimensions; TensorFlow allows at most 254/ });
  t.ok(new Tensor('float32', new Float32Array(1), Array(254).fill(1)), 'rank 254 is fine');
  t.ok(new Tensor('float32', new Float32Array(0), [2 ** 31, 2 ** 31, 0]), '2^62 before the 0 is fine');
  t.throws(() => Tensor.alloc('float32', overflow), { code: 'INVALID_ARGUMENT' }, 'Tensor.alloc too');
  t.throws(() => new Tensor('float32', new Float32Array(1), [1.5]), { name: 'TypeError', message: /^shape\[0\] must be a non-negative integer below 2\^53 \(a safe integer\), got 1.5/ });
  // Its product is 2^64 - 1: the string feed's "n + 1 offsets" check wrapped to 0 on it.
  const wraps = [3, 5, 17, 257, 641, 65537, 6700417];
  t.throws(() => new Tensor('string', [], wraps), { code: 'INVALID_ARGUMENT', message: /multiply past 2\^63-1/ });

  // counter's delta has unknown rank: nothing in the signature stops a shape.
  const model = await loadModel(fixture('counter').dir);
  const run = (shape: number[], data = new Float32Array(0)) => model.run({ delta: { dtype: 'float32', shape, data } }, { signature: 'incr_counter_by' });
  await t.rejects(run(overflow), { code: 'INVALID_ARGUMENT', message: /^feed 'delta': shape .*multiply past 2\^63-1/ }, 'a plain feed names the feed and the rule');
  await t.rejects(run(Array(255).fill(1), new Float32Array(1)), { code: 'INVALID_ARGUMENT', message: /^feed 'delta': shape has 255 dimensions/ });

  // The addon checks on its own too (a caller below the Tensor class).
  const { session: raw } = await native().loadSession(fixture('counter').dir, ['serve'], null, true);
  const plan = raw.plan(['delta:0'], ['incr_counter_by_op/AssignAdd:0']);
  t.throws(() => raw.runSync(plan, [1, overflow, new Float32Array(0)]), { code: 'INVALID_ARGUMENT', message: /feed 'delta:0': shape's non-zero dimensions multiply past 2\^63-1/ });
  t.throws(() => raw.runSync(plan, [1, Array(255).fill(1), new Float32Array(1)]), { code: 'INVALID_ARGUMENT', message: /feed 'delta:0': shape has 255 dimensions/ });
  t.throws(() => raw.runSync(plan, [7, wraps, { bytes: new Uint8Array(0), offsets: new Float64Array(0) }]), { code: 'INVALID_ARGUMENT', message: /multiply past 2\^63-1/ }, 'a string feed whose element count would wrap n + 1');
  t.same(Array.from(raw.runSync(plan, [1, [], new Float32Array([2])])[2] as Float32Array), [2], 'and the session runs on');
  // runSync()'s compact form reads dtypes and shapes from the addon's scratch: held to the same
  // rules, and a header that is garbage (or runs past the scratch) is refused, not read.
  const header = new Float64Array(native().takenScratch());
  const compact = (values: number[], data: unknown = new Float32Array(0)) => {
    header.set(values);
    return () => raw.runSync(plan, data as Float32Array, 0, true);
  };
  t.throws(compact([1, 3, ...overflow]), { code: 'INVALID_ARGUMENT', message: /feed 'delta:0': shape's non-zero dimensions multiply past 2\^63-1/ });
  t.throws(compact([1, 255, ...Array(255).fill(1)], new Float32Array(1)), { name: 'TypeError', message: /feed 'delta:0': its shape's header is malformed/ });
  t.throws(compact([1, 2, 1.5, 2]), { name: 'TypeError', message: /feed 'delta:0': shape\[0\] must be a non-negative integer/ });
  t.throws(compact([1, 1, -1]), { name: 'TypeError', message: /shape\[0\] must be a non-negative integer/ });
  t.throws(compact([NaN, 0]), { name: 'TypeError', message: /unsupported dtype number/ });
  t.throws(compact([1e300, 0]), { name: 'TypeError', message: /unsupported dtype number/ });
  t.throws(compact([1, 0], new Int32Array(1)), { name: 'TypeError', message: /not the typed array its dtype needs/ }, 'data of another dtype');
  t.throws(compact([1, 1, 2], new Float32Array(3)), { code: 'INVALID_ARGUMENT', message: /data has 3 elements but its shape needs 2/ });
  header.fill(3e9);
  header[0] = 1;
  t.throws(() => raw.runSync(plan, new Float32Array(1), 0, true), { name: 'TypeError', message: /header is malformed/ }, 'a rank past 254');
  const ran = compact([1, 0], new Float32Array([5]))();
  t.same(typeof ran === 'number' ? ran : -1, 1, 'a good header runs: one output, in the scratch');
  await raw.close();
  await model.dispose();
  t.pass('the process is alive (TensorFlow would have aborted it)');
});

t.test('outputs that share memory TensorFlow keeps (a constant, a variable, one tensor under two keys) are copies: writing to them changes nothing', async (t) => {
  const model = await loadModel(fixture('shared_outputs').dir);
  const x = new Tensor('float32', Float32Array.from({ length: 8192 }, (_, i) => i));
  const first = await model.run({ x });
  const anchors = first.anchors!.data as Float32Array;
  const w = first.w!.data as Float32Array;
  t.equal(anchors[5], 5);
  t.equal(w[8], 1);
  anchors.fill(42);
  w.fill(0);
  (first.y!.data as Float32Array).fill(-1);
  t.equal((first.y_again!.data as Float32Array)[3], 6, 'one tensor under two keys: two buffers');
  const second = await model.run({ x });
  t.equal((second.anchors!.data as Float32Array)[5], 5, 'the constant is untouched');
  t.equal((second.w!.data as Float32Array)[8], 1, 'the variable is untouched');
  t.equal((second.y!.data as Float32Array)[3], 6);
  for (const out of [first, second]) for (const tensor of Object.values(out)) tensor.dispose();
  await model.dispose();
});

t.test('dispose() of an output that a run in flight reads as a feed waits for that run', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir, { signature: 'double' });
  const n = 1 << 20;
  const x = Tensor.alloc('float32', [n]);
  x.data.fill(1);
  for (let round = 0; round < 20; round++) {
    const { y } = await model.run({ x });
    const pending = model.run({ x: y! });
    y!.dispose(); // TensorFlow reads y's 4 MiB in place right now
    const z = (await pending).y!.data as Float32Array;
    t.equal(y!.data.length, 0, `round ${round}: y is freed once the run is done`);
    if (z[0] !== 4 || z[n - 1] !== 4) t.fail(`round ${round}: z = 4x expected, got ${z[0]} ... ${z[n - 1]}`);
  }
  t.pass('20 rounds computed from memory that stayed allocated');
  // The same with the run waiting for its turn (maxConcurrentRuns) when dispose() is called.
  const one = await loadModel(fixture('multi_sig').dir, { signature: 'double', maxConcurrentRuns: 1 });
  const { y } = await one.run({ x });
  const busy = one.run({ x });
  const queued = one.run({ x: y! });
  y!.dispose();
  await busy;
  t.equal(((await queued).y!.data as Float32Array)[n - 1], 4, 'a queued run still reads it');
  await Promise.all([model.dispose(), one.dispose()]);
});

t.test('run() copies a big unaligned feed on the runner thread as its run starts, not on the JS thread', async (t) => {
  // The queue fixture: `dequeue` on an empty queue blocks until its runTimeoutMs (enforced with
  // an inter-op pool), holding the model's one run slot, so the `enqueue` after it waits.
  const model = await loadModel(fixture('queue').dir, { maxConcurrentRuns: 1, interOpThreads: 1 });
  const n = 1 << 12; // 16 KiB of float32, the size from which feeds are borrowed
  const x = new Float32Array(new ArrayBuffer(4 * n + 4), 4, n).fill(1); // never 64-aligned
  const busy = model.run({}, { signature: 'dequeue', runTimeoutMs: 500 });
  const before = stats();
  const queued = model.run({ x: new Tensor('float32', x) }, { signature: 'enqueue' });
  t.equal(stats().pinnedNow - before.pinnedNow, 1, "the waiting run holds the feed's memory");
  t.equal(stats().copiedFeeds - before.copiedFeeds, 0, 'and has not copied it on the JS thread');
  x.fill(2); // against the rule (a borrowed feed is not to be changed before its run settles), to see when it is read
  await t.rejects(busy, { code: 'DEADLINE_EXCEEDED' });
  t.equal(((await queued).size!.data as Int32Array)[0], 1);
  t.equal(stats().copiedFeeds - before.copiedFeeds, 1, 'copied once, when its run started');
  const { sum } = await model.run({}, { signature: 'dequeue' });
  t.equal((sum!.data as Float32Array)[0], 2 * n, 'so the run read the values the feed held then');
  await feedsReleased();
  t.equal(stats().pinnedNow, 0, 'and let go of it');

  // A run that never starts lets go of its feed too.
  const blocked = model.run({}, { signature: 'dequeue', runTimeoutMs: 2000 });
  const dropped = model.run({ x: new Tensor('float32', x) }, { signature: 'enqueue' });
  t.equal(stats().pinnedNow, 1);
  const settled = Promise.allSettled([blocked, dropped]);
  await model.dispose();
  const [, outcome] = await settled;
  t.match(outcome, { status: 'rejected', reason: { code: /MODEL_DISPOSED|CANCELLED/ } }, 'the waiting run is dropped by dispose()');
  await feedsReleased();
  t.equal(stats().pinnedNow, 0, 'a run dropped before it started unpins its feed');
});

t.test('run() makes a big string feed into TensorFlow strings on the runner thread as its run starts', async (t) => {
  // tf1_vocab: words -> ids in the vocabulary apple 0, banana 1, cherry 2, date 3 (-1 else).
  const model = await loadModel(fixture('tf1_vocab').dir, { maxConcurrentRuns: 1 });
  const vocabulary = ['apple', 'banana', 'cherry', 'date', '', 'kiwi', 'x'.repeat(40)];
  const ids = [0, 1, 2, 3, -1, -1, -1];
  const n = 200_000;
  const words = new Tensor('string', Array.from({ length: n }, (_, i) => vocabulary[i % vocabulary.length]!), [n]);
  const before = stats();
  const first = model.run({ words });
  // The second waits for the model's one run slot: it holds its feed's two buffers (bytes and
  // offsets) until it starts.
  const second = model.run({ words });
  t.ok(stats().pinnedNow - before.pinnedNow >= 2, 'a waiting run pins its string feed instead of converting it on the JS thread');
  for (const [i, out] of (await Promise.all([first, second])).entries()) {
    const got = out.ids!.data as BigInt64Array;
    let wrong = 0;
    for (let j = 0; j < n; j++) if (got[j] !== BigInt(ids[j % ids.length]!)) wrong++;
    t.equal(wrong, 0, `run ${i}: all ${n} words looked up`);
  }
  await feedsReleased();
  t.equal(stats().pinnedNow, 0, 'both let go of their feeds');
  const small = await model.run({ words: new Tensor('string', ['cherry', 'nope'], [2]) });
  t.same(Array.from(small.ids!.data as BigInt64Array), [2n, -1n], 'a small string feed is converted at once, as before');
  t.same(Array.from(model.runSync({ words }).ids!.data.slice(0, 7) as BigInt64Array), ids.map(BigInt), 'runSync() converts at once');
  await model.dispose();

  // The packed form is JS memory: offsets changed while the run waited are checked again
  // when it starts (the addon reads no byte outside them), and the run fails alone.
  const { session } = await openSession(fixture('tf1_vocab').dir, resolveLoadOptions({}));
  session.setRunLimit!(1);
  const plan = session.plan(['words:0'], ['ids:0']);
  const flat = words.flat();
  const busy = session.run(plan, [...flat]);
  const offsets = Float64Array.from((flat[2] as { offsets: Float64Array }).offsets);
  const hostile = session.run(plan, [flat[0], [...flat[1]], { bytes: (flat[2] as { bytes: Uint8Array }).bytes, offsets }]);
  offsets[1] = 1e12;
  await busy;
  await t.rejects(hostile, { code: 'INVALID_ARGUMENT', message: /string offsets changed while the run waited to start/ });
  await session.close();
});

t.test('shared segments are sealed; buffers of one kind are never taken for the other', async (t) => {
  const { fd, buffer } = native().shmCreate(65536);
  t.throws(() => fs.ftruncateSync(fd, 0), { code: 'EPERM' }, 'a segment cannot be shrunk (SIGBUS for its mappings)');
  t.throws(() => fs.ftruncateSync(fd, 1 << 20), { code: 'EPERM' }, 'nor grown');
  const file = path.join(os.tmpdir(), `tfslice-not-a-segment-${process.pid}`);
  fs.writeFileSync(file, Buffer.alloc(65536));
  const plain = fs.openSync(file, 'r+');
  t.throws(() => native().shmOpen(process.pid, plain, 65536), { code: 'PERMISSION_DENIED', message: /is not a sealed tfslice tensor segment/ }, 'a file that is not a sealed segment is never mapped');
  fs.closeSync(plain);
  fs.rmSync(file);
  native().releaseBuffer(buffer); // a segment's buffer given to the output release: only detached
  t.equal(buffer.byteLength, 0);
  native().shmRelease(buffer);
  native().shmRelease(buffer);
  t.pass('shmRelease twice is harmless');
  t.throws(() => native().shmView(buffer, 0, 1), { name: 'TypeError' }, 'a released segment gives no views');
  const output = (await (await loadModel(fixture('multi_sig').dir, { signature: 'double' })).run({ x: Tensor.alloc('float32', [1 << 16]) })).y!;
  const outputBuffer = (output.data as Float32Array).buffer as ArrayBuffer;
  t.throws(() => native().shmRelease(outputBuffer), { name: 'TypeError' }, "an output's buffer is not a segment");
  output.dispose();
  native().releaseBuffer(outputBuffer);
  t.pass('releasing an output twice is harmless');
});

t.test("a zero-size tensor's preview (tfslice run) nests as its JSON: down to its first 0 dimension", async (t) => {
  for (const [shape, shown] of [[[0, 3], '[]'], [[1, 0], '[[]]'], [[2, 0, 5], '[[],\n []]'], [[0], '[]']] as const) {
    const tensor = new Tensor('float32', new Float32Array(0), [...shape]);
    t.equal(preview(tensor), shown, `[${shape.join(', ')}]`);
    t.equal(JSON.stringify(tensorToJson(tensor)), shown.replace(/\s/g, ''), 'as its JSON');
  }
});
