// Bad calls are refused before TensorFlow sees them, with a code and a message that
// names the input and what was expected versus given.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { InvalidArgumentError, loadModel, NotFoundError, Tensor } from '../lib/index';
import { fixture, python, ROOT } from './helpers';

t.test('feeds are checked against the signature', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir);
  const x2 = new Tensor('float32', new Float32Array(4), [2, 2]);
  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    ['unknown feed key', () => model.run({ x: x2, z: x2 }), 'INVALID_ARGUMENT', /signature 'serving_default' has no input 'z'; its inputs are 'x'/],
    ['missing feed', () => model.run({}), 'INVALID_ARGUMENT', /signature 'serving_default' needs input 'x' \(float32 \[-1, 2\]\), which feeds lack/],
    ['a feed inherited, not own', () => model.run(Object.create({ x: x2 }) as never), 'INVALID_ARGUMENT', /needs input 'x' \(float32 \[-1, 2\]\), which feeds lack/],
    ['dtype mismatch', () => model.run({ x: new Tensor('int32', new Int32Array(4), [2, 2]) }), 'INVALID_ARGUMENT', /feed 'x' of signature 'serving_default' expects dtype float32, got int32/],
    ['rank mismatch', () => model.run({ x: new Tensor('float32', new Float32Array(4)) }), 'INVALID_ARGUMENT', /feed 'x' of signature 'serving_default' expects rank 2 \[-1, 2\], got rank 1 \[4\]/],
    ['fixed dimension mismatch', () => model.run({ x: new Tensor('float32', new Float32Array(6), [2, 3]) }), 'INVALID_ARGUMENT', /expects shape \[-1, 2\], got \[2, 3\] \(dimension 1 must be 2\)/],
    ['data length not matching shape', () => model.run({ x: { dtype: 'float32', shape: [3, 2], data: new Float32Array(4) } }), 'INVALID_ARGUMENT', /feed 'x': a float32 tensor of shape \[3, 2\] needs 6 elements, but data has 4/],
    ['unknown signature', () => model.run({ x: x2 }, { signature: 'nope' }), 'NOT_FOUND', /signature 'nope' does not exist in .*multi_sig.*; it has 'concat', 'double', 'serving_default'/],
    ['unknown output key', () => model.run({ x: x2 }, { outputs: ['sum', 'mean'] }), 'NOT_FOUND', /signature 'serving_default' has no output 'mean'; its outputs are 'prod', 'sum'/],
    ['concat with a wrong fixed size', () => model.run({ a: new Tensor('float32', new Float32Array(3)), b: new Tensor('float32', new Float32Array(3)) }, { signature: 'concat' }), 'INVALID_ARGUMENT', /feed 'a' of signature 'concat' expects shape \[2\], got \[3\]/],
  ];
  for (const [what, call, code, message] of cases) {
    const error = await call().catch((e: unknown) => e);
    t.type(error, code === 'NOT_FOUND' ? NotFoundError : InvalidArgumentError, what);
    t.match(error, { code, message }, what);
  }
  t.same(Object.keys(await model.run({ x: x2 })).sort(), ['prod', 'sum'], 'the model still runs');
  await model.dispose();
});

t.test('run options of the wrong type are TypeErrors naming the option, and outputs are named once each', async (t) => {
  // checkShapes: 'yes' was taken as true, signature: 5 and outputs: [1] were NOT_FOUND, outputs: []
  // reached TensorFlow ("Must specify at least one target"), ['y', 'y'] a message about components (found by a trial, helper-38).
  const model = await loadModel(fixture('tiny').dir);
  t.teardown(() => model.dispose());
  const x = model.alloc('float32', [1, 4]);
  await t.rejects(model.run({ x }, { checkShapes: 'yes' as unknown as boolean }), { name: 'TypeError', message: /^checkShapes must be a boolean, got "yes"$/ });
  await t.rejects(model.run({ x }, { signature: 5 as unknown as string }), { name: 'TypeError', message: /^signature must be a signature name \(a string\), got 5$/ });
  await t.rejects(model.run({ x }, { outputs: [1 as unknown as string] }), { name: 'TypeError', message: /^outputs\[0\] must be an output key \(a string\), got 1$/ });
  await t.rejects(model.run({ x }, { outputs: [] }), { name: 'TypeError', message: /^outputs must be a non-empty array of output keys \(leave it out for every output\)/ });
  t.throws(() => model.runSync({ x }, { outputs: [] }), { name: 'TypeError', message: /^outputs must be a non-empty array/ });
  await t.rejects(model.run({ x }, { outputs: ['y', 'y'] }), { code: 'INVALID_ARGUMENT', message: /^outputs names 'y' twice; name each output once$/ });
  t.same(Object.keys(await model.run({ x }, { outputs: ['y'], checkShapes: false })), ['y'], 'good options pass');
  // null is no options, as for loadModel() (helper-73: run() refused it, loadModel() took it).
  t.same(Object.keys(await model.run({ x }, null as never)), ['y'], 'run(feeds, null): no options');
  t.same(Object.keys(model.runSync({ x }, null as never)), ['y'], 'runSync(feeds, null) too');
  await t.rejects(model.run({ x }, 'fast' as never), { name: 'TypeError', message: /^options must be an object, got "fast"$/ }, 'a string is still refused');
  const other = await loadModel(fixture('tiny').dir, null as never);
  await other.dispose(null as never);
  t.ok(other.disposed, 'loadModel(dir, null) and dispose(null): no options');
});

t.test('malformed arguments are TypeErrors, never crashes', async (t) => {
  const model = await loadModel(fixture('tiny').dir);
  await t.rejects(model.run(null as never), { name: 'TypeError', message: /^feeds must be an object of tensors by input key, got null/ });
  await t.rejects(model.run([] as never), TypeError);
  await t.rejects(model.run(new Map([['x', [[1, 2, 3, 4]]]]) as never), { code: 'ERR_INVALID_ARG_TYPE', message: 'feeds must be an object of tensors by input key (a Map: pass Object.fromEntries(map)), got an object (Map)' }, 'a Map: said so, not "feeds lack x"');
  t.throws(() => new Tensor('float32', new Float32Array(4), [4n as never]), { code: 'ERR_INVALID_ARG_TYPE', message: 'shape[0] must be a non-negative integer below 2^53 (a safe integer), got 4n' }, 'a bigint dimension reads as one');
  await t.rejects(model.run({ x: Symbol('s') } as never), { code: 'INVALID_ARGUMENT', message: /^feed 'x': a symbol \(Symbol\(s\)\) is not a number/ }, 'a symbol, said so (helper-125: "an object (Symbol)")');
  await t.rejects(model.run({ x: 'oops' } as never), { code: 'INVALID_ARGUMENT', message: /^feed 'x': "oops" is not a number \(float32; NaN and ±Infinity are "NaN", "Infinity", "-Infinity"\)/ });
  await t.rejects(model.run({ x: { values: [1, 2, 3, 4] } } as never), { code: 'INVALID_ARGUMENT', message: /^feed 'x' must be a Tensor, \{ dtype, shape, data \} or a nested array of numbers \(float32\); got an object \(Object\)/ });
  await t.rejects(model.run({ x: { dtype: 'float32', shape: [1, 4], data: [1, 2, 3, 4] } } as never), { name: 'TypeError', message: /feed 'x': data of a float32 tensor must be a Float32Array/ });
  await t.rejects(model.run({ x: new Tensor('float32', new Float32Array(4), [1, 4]) }, { outputs: 'y' } as never), { name: 'TypeError', message: /^outputs must be an array/ });
  await t.rejects(model.run({ x: new Tensor('float32', new Float32Array(4), [1, 4]) }, 5 as never), { name: 'TypeError', message: /^options must be an object/ });
  await model.dispose();
});

t.test('a model without serving_default asks for a signature by name', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir, { signature: 'double' });
  t.equal(model.defaultSignature, 'double');
  const out = await model.run({ x: new Tensor('float32', new Float32Array([1, 2])) });
  t.same(Array.from(out.y!.data as Float32Array), [2, 4]);
  await model.dispose();
  const error = await loadModel(fixture('multi_sig').dir, { signature: 'triple' }).catch((e: unknown) => e);
  t.type(error, NotFoundError);
  t.match(error, { message: /signature 'triple' does not exist .*; it has 'concat', 'double', 'serving_default'/ });
});

t.test('plain values as feeds: dtype and rank from the signature, unknown dimensions from the nesting', async (t) => {
  const a = await loadModel(ROOT + '/examples/models/a');
  const f = await a.run({ celsius: [-40, 0, 37, 100] });
  t.same(Array.from(f.fahrenheit!.data as Float32Array, (v) => Math.round(v * 10) / 10), [-40, 32, 98.6, 212], 'run({ celsius: [..] }) as in README');
  t.same(Array.from(a.runSync({ celsius: new Float32Array([100]) }).fahrenheit!.data as Float32Array), Array.from((await a.run({ celsius: [100] })).fahrenheit!.data as Float32Array), 'a typed array of the dtype, and runSync');
  await a.dispose();

  const tiny = await loadModel(fixture('tiny').dir);
  const asTensor = await tiny.run({ x: new Tensor('float32', new Float32Array([1, -2, 0.5, 3.25]), [1, 4]) });
  t.same((await tiny.run({ x: [[1, -2, 0.5, 3.25]] })).y!.data, asTensor.y!.data, 'nested arrays equal the same Tensor');
  t.same((await tiny.run({ x: new Float32Array([1, -2, 0.5, 3.25, 1, -2, 0.5, 3.25]) })).y!.shape, [2, 3], 'a flat typed array fills [-1, 4] as [2, 4]');
  const bad: [unknown, RegExp][] = [
    [[[1, 2, 3]], /^feed 'x' of signature 'serving_default' expects shape \[-1, 4\], got \[1, 3\] \(dimension 1 must be 4\)/],
    [[1, 2, 3, 4], /^feed 'x' of signature 'serving_default' expects rank 2 \[-1, 4\], got rank 1 \[4\]/],
    [[[1, 2, 3, 4], [1, 2]], /^feed 'x': ragged array: \[1\] should be an array of 4/],
    [[[1, 2, 3, [4]]], /^feed 'x': ragged array: element \[0\]\[3\] is nested deeper/],
    [[[1, 2, 3, true]], /^feed 'x': element 3: true is not a number \(float32/],
    [new Int32Array(4), /^feed 'x': an Int32Array cannot hold float32; give a Float32Array or nested arrays/],
    [new Float32Array(6), /^feed 'x': a flat array of 6 elements does not fill its shape \[-1, 4\]/],
    // Passes instanceof with none of a Tensor's fields (helper-90: a TypeError with no code).
    [Object.create(Tensor.prototype), /^feed 'x' is an object with Tensor's prototype that the Tensor constructor did not make/],
  ];
  for (const [value, message] of bad) await t.rejects(tiny.run({ x: value as never }), { code: 'INVALID_ARGUMENT', message }, String(message));
  await tiny.dispose();

  const ints = await loadModel(fixture('ints').dir);
  const exact = await ints.run({ a: [1], b: [9007199254740993n] });
  t.equal((exact.b1!.data as BigInt64Array)[0], 9007199254740994n, 'int64 from a bigint, exact past 2^53');
  t.equal(((await ints.run({ a: [1], b: ['9007199254740993'] })).b1!.data as BigInt64Array)[0], 9007199254740994n, 'and from a string of digits');
  await t.rejects(ints.run({ a: [1], b: [2 ** 53 + 2] }), { code: 'INVALID_ARGUMENT', message: /element 0: 9007199254740994 is not an integer \(int64; past 2\^53 give a bigint, a string of digits, or the digits in JSON\)/ }, 'a number past 2^53 is refused (its low digits are gone)');
  await t.rejects(ints.run({ a: [1.5], b: [1] }), { code: 'INVALID_ARGUMENT', message: /feed 'a': element 0: 1.5 is not an integer in/ });
  await ints.dispose();

  const counter = await loadModel(fixture('counter').dir);
  t.same(Array.from((await counter.run({ delta: 2.5 }, { signature: 'incr_counter_by' })).output!.data as Float32Array), [2.5], 'a scalar for an input of unknown rank');
  await counter.dispose();

  const dtypes = await loadModel(fixture('dtypes').dir, { signature: 'transform' });
  const out = await dtypes.run({ f32: [0.5], f64: [0.25], i32: [1], i64: [2n], u8: [255], b: [true], s: ['abc', new Uint8Array([0x78])], f16: [1.5, 'Infinity'], bf16: ['NaN'] });
  t.same(Array.from(out.f16_out!.data as Uint16Array), [0x4200, 0x7c00], 'float16 from numbers and "Infinity" (raw bits out)');
  t.ok(Number.isNaN(new Float32Array(new Uint32Array([(out.bf16_out!.data as Uint16Array)[0]! << 16]).buffer)[0]), 'bfloat16 "NaN"');
  t.same(out.s_out!.data, ['ABC', 'X'], 'strings and raw bytes');
  t.same(Array.from(out.b_out!.data as Uint8Array), [0], 'booleans');
  t.same(Array.from(out.u8_out!.data as Uint8Array), [0], 'uint8 255 + 1 wraps');
  // A bool tensor's bytes other than 0/1 reached TensorFlow, whose logical_not answered 253 for 2.
  const rest = { f32: [0.5], f64: [0.25], i32: [1], i64: [2n], u8: [255], s: ['a'], f16: [1.5], bf16: [1] };
  const bools = (bytes: Uint8Array) => dtypes.run({ ...rest, b: new Tensor('bool', bytes) });
  const big = new Uint8Array(1 << 16);
  big[40_001] = 255;
  for (const [bytes, at, byte] of [[new Uint8Array([1, 0, 2]), 2, 2], [big, 40_001, 255]] as const) {
    await t.rejects(bools(bytes), { name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', message: new RegExp(`^feed 'b': bool element ${at} is the byte ${byte}; a bool is 0 \\(false\\) or 1 \\(true\\)$`) }, `${bytes.length} bytes`);
  }
  t.same(Array.from((await bools(new Uint8Array([1, 0, 1]))).b_out!.data as Uint8Array), [0, 1, 0], '0 and 1 pass');
  // The addon's own checks name the input by its key too, not by its graph tensor.
  const detached = new Tensor('float32', new Float32Array([0.5]));
  structuredClone(detached.data.buffer, { transfer: [detached.data.buffer as ArrayBuffer] });
  await t.rejects(dtypes.run({ ...rest, b: [true], f32: detached }), { code: 'INVALID_ARGUMENT', message: /^feed 'f32' of signature 'transform': its buffer was detached/ }, 'a feed whose buffer was transferred away');
  // Bigints are integers read exactly: every numeric dtype takes one where it fits (helper-73:
  // int32 refused 3n as "3 is not an integer", while float32 and int64 took bigints).
  const outputs = (o: Record<string, Tensor>) => ['i32_out', 'u8_out', 'b_out', 'f32_out'].map((k) => Array.from(o[k]!.data as ArrayLike<number>));
  t.same(outputs(await dtypes.run({ ...rest, i32: [-3n], u8: [254n], b: [1n], f32: [2n] })), outputs(await dtypes.run({ ...rest, i32: [-3], u8: [254], b: [1], f32: [2] })),
    'int32, uint8, bool (0/1) and float32 from bigints, as from numbers');
  await t.rejects(dtypes.run({ ...rest, b: [true], i32: [2n ** 31n] }), { code: 'INVALID_ARGUMENT', message: /^feed 'i32': element 0: 2147483648 is not an integer in \[-2147483648, 2147483647\] \(int32\)$/ }, 'a bigint past int32');
  await t.rejects(dtypes.run({ ...rest, b: [2n] }), { code: 'INVALID_ARGUMENT', message: /^feed 'b': element 0: 2 is not a boolean/ }, 'a bigint other than 0/1 for a bool');
  t.throws(() => dtypes.runSync({ ...rest, b: new Tensor('bool', new Uint8Array([3])) }), { code: 'INVALID_ARGUMENT', message: /^feed 'b': bool element 0 is the byte 3/ }, 'runSync() too');
  await dtypes.dispose();
});

t.test('output selections: the same keys in any order are one selection, every key listed is the whole signature, and stats().outputSelections counts them (each an executor TensorFlow keeps)', async (t) => {
  const model = await loadModel(fixture('dtypes').dir, { signature: 'transform' });
  t.teardown(() => model.dispose());
  const feeds = { f32: [0.5], f64: [0.25], i32: [1], i64: [2n], u8: [255], b: [true], s: ['a'], f16: [1.5], bf16: [1] };
  const keys = Object.keys(model.signatures.transform!.outputs);
  await model.run(feeds);
  t.same(model.stats().outputSelections, { transform: 0 }, 'every output is not a selection');
  // Every output alone, then each pair in both orders: 9 + 36 selections.
  const pairs = keys.flatMap((a, i) => keys.slice(i + 1).map((b) => [a, b]));
  for (const outputs of [...keys.map((k) => [k]), ...pairs]) t.same(Object.keys(await model.run(feeds, { outputs })), outputs);
  for (const [a, b] of pairs) t.same(Object.keys(model.runSync(feeds, { outputs: [b!, a!] })).sort(), [a, b].sort());
  t.same(model.stats().outputSelections, { transform: 45 }, 'a pair in either order is one selection');
  t.same(Object.keys(await model.run(feeds, { outputs: [...keys].reverse() })).sort(), [...keys].sort(), 'every key listed');
  t.same(model.stats().outputSelections, { transform: 45 }, 'is the whole signature');
});

t.test('stats().outputSelections counts executors: selections that differ by echoed inputs only share the whole signature\'s, and echoes alone build none', async (t) => {
  // passthrough: `doubled` is computed, `key`, `x_out` and `x_again` are its inputs passed through.
  const model = await loadModel(fixture('passthrough').dir);
  t.teardown(() => model.dispose());
  const feeds = { key: ['a'], x: [1.5] };
  for (const outputs of [['key'], ['x_out', 'x_again'], ['doubled'], ['doubled', 'key'], ['x_again', 'doubled']]) {
    const out = await model.run(feeds, { outputs });
    t.same(Object.keys(out).sort(), [...outputs].sort());
  }
  t.same(model.stats().outputSelections, { serving_default: 0 }, 'every selection fetches what the whole signature fetches, or nothing');
  await model.run(feeds);
  t.same(model.stats().outputSelections, { serving_default: 0 }, 'the whole signature after them');
});

t.test("an output tfslice cannot return (complex64) is named by its key; the others can still be asked for; feeding one is UNIMPLEMENTED too", async (t) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-complex-')), 'model');
  python(`
import sys
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
g = tf.Graph()
with g.as_default():
    x = tf.placeholder(tf.float32, [None], name='x')
    y = tf.identity(x * 2.0, name='y')
    c = tf.complex(x, x, name='c')
    cin = tf.placeholder(tf.complex64, [None], name='cin')
    with tf.Session(graph=g) as s:
        b = tf.saved_model.Builder(sys.stdin.read())
        b.add_meta_graph_and_variables(s, ['serve'], signature_def_map={
            'serving_default': tf.saved_model.predict_signature_def({'x': x}, {'y': y, 'z': c}),
            'complex_in': tf.saved_model.predict_signature_def({'c': cin}, {'r': tf.math.real(cin)})})
        b.save()
print('null')
`, dir);
  const model = await loadModel(dir);
  t.teardown(() => model.dispose());
  const x = new Tensor('float32', new Float32Array([1, 2]));
  await t.rejects(model.run({ x }), { code: 'UNIMPLEMENTED', message: /^signature 'serving_default': output 'z' \(tensor 'c:0'\) has dtype complex64, which tfslice cannot return/ });
  t.same(Array.from((await model.run({ x }, { outputs: ['y'] })).y!.data as Float32Array), [2, 4], 'outputs: [y] runs');
  // Feeding one is the same limit, and the same code.
  await t.rejects(model.run({ c: x }, { signature: 'complex_in' }), { code: 'UNIMPLEMENTED', message: /^input 'c' of signature 'complex_in' has dtype complex64, which tfslice cannot feed$/ });
});
