// Bad calls are refused before TensorFlow sees them, with a code and a message that
// names the input and what was expected versus given.
import t from 'tap';

import { InvalidArgumentError, loadModel, NotFoundError, Tensor } from '../lib/index';
import { fixture } from './helpers';

t.test('feeds are checked against the signature', async (t) => {
  const model = await loadModel(fixture('multi_sig').dir);
  const x2 = new Tensor('float32', new Float32Array(4), [2, 2]);
  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    ['unknown feed key', () => model.run({ x: x2, z: x2 }), 'INVALID_ARGUMENT', /signature 'serving_default' has no input 'z'; its inputs are 'x'/],
    ['missing feed', () => model.run({}), 'INVALID_ARGUMENT', /signature 'serving_default' needs input 'x' \(float32 \[-1, 2\]\), which feeds lack/],
    ['dtype mismatch', () => model.run({ x: new Tensor('int32', new Int32Array(4), [2, 2]) }), 'INVALID_ARGUMENT', /feed 'x' of signature 'serving_default' expects dtype float32, got int32/],
    ['rank mismatch', () => model.run({ x: new Tensor('float32', new Float32Array(4)) }), 'INVALID_ARGUMENT', /feed 'x' of signature 'serving_default' expects rank 2 \[\?, 2\], got rank 1 \[4\]/],
    ['fixed dimension mismatch', () => model.run({ x: new Tensor('float32', new Float32Array(6), [2, 3]) }), 'INVALID_ARGUMENT', /expects shape \[\?, 2\], got \[2, 3\] \(dimension 1 must be 2\)/],
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

t.test('malformed arguments are TypeErrors, never crashes', async (t) => {
  const model = await loadModel(fixture('tiny').dir);
  await t.rejects(model.run(null as never), { name: 'TypeError', message: /^feeds must be an object of tensors by input key, got null/ });
  await t.rejects(model.run([] as never), TypeError);
  await t.rejects(model.run({ x: 'oops' } as never), { name: 'TypeError', message: /^feed 'x' must be a Tensor or \{ dtype, shape, data \}/ });
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
