// Tensors in and out: every dtype, strings as text and bytes, scalars, zero-size, and
// what is borrowed or copied (counted by the addon) with outputs that outlive the model.
import t from 'tap';

import { InvalidArgumentError, loadModel, Tensor, type TensorLike } from '../lib/index';
import { native } from '../lib/native';
import { fixture, plain, plainGolden, toTensor } from './helpers';

const stats = () => native().stats();

async function settle(): Promise<void> {
  // Borrowed buffers are released through the JS thread's queue: give it a turn.
  await new Promise((resolve) => setImmediate(resolve));
}

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

t.test('the Tensor constructor checks what it is given', async (t) => {
  t.throws(() => new Tensor('float32', new Float64Array(2) as unknown as Float32Array), { name: 'TypeError', message: /data of a float32 tensor must be a Float32Array, got a Float64Array/ });
  t.throws(() => new Tensor('int64', [1, 2] as unknown as BigInt64Array), { name: 'TypeError', message: /BigInt64Array/ });
  t.throws(() => new Tensor('complex64' as 'float32', new Float32Array(2)), { name: 'TypeError', message: /^dtype must be one of float32/ });
  t.throws(() => new Tensor('float32', new Float32Array(5), [2, 2]), InvalidArgumentError);
  t.throws(() => new Tensor('float32', new Float32Array(4), [2, -2]), { name: 'TypeError', message: /^shape must be an array of non-negative integers/ });
  t.throws(() => new Tensor('string', ['a', 3] as unknown as string[]), { name: 'TypeError', message: /data\[1\] of a string tensor must be a string or a Uint8Array/ });
  t.throws(() => new Tensor('float32', new Float32Array(1)).bytes(), InvalidArgumentError);
  const tensor = new Tensor('bool', new Uint8Array([1, 0, 1, 1, 0, 0]), [2, 3]);
  t.same({ dtype: tensor.dtype, shape: tensor.shape, size: tensor.size }, { dtype: 'bool', shape: [2, 3], size: 6 });
  t.ok(Object.isFrozen(tensor.shape), 'shape is frozen');
});

t.test('large feeds are borrowed, large outputs are not copied, small ones are copied', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir);
  const n = 1 << 20; // 4 MiB of float32
  const x = Tensor.alloc('float32', [n]);
  const data = x.data;
  for (let i = 0; i < n; i++) data[i] = i % 1000;
  const before = stats();
  const out = await model.run({ x }, { signature: 'double' });
  await settle();
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

t.test('an output that aliases a borrowed feed is copied, so JS never sees shared memory', async (t) => {
  const model = await loadModel(fixture('dtypes').dir);
  const feeds: Record<string, Tensor> = {};
  for (const [key, spec] of Object.entries(model.signatures.serving_default!.inputs)) {
    feeds[key] = spec.dtype === 'string' ? new Tensor('string', []) : Tensor.alloc(spec.dtype as 'float32', [0]);
  }
  const big = Tensor.alloc('float32', [1 << 16]);
  big.data.fill(4);
  const before = stats();
  const out = await model.run({ ...feeds, f32: big }, { outputs: ['f32_out'] });
  const after = stats();
  t.equal(after.borrowedFeeds - before.borrowedFeeds, 1, 'borrowed');
  t.equal(after.wrappedOutputs - before.wrappedOutputs, 0, 'identity output not wrapped');
  big.data.fill(9);
  t.equal((out.f32_out!.data as Float32Array)[0], 4, 'changing the feed afterwards does not change the output');
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
  await Promise.all([model.dispose(), strings.dispose()]);
});
