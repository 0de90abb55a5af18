// The server's wire formats, table by table, with no server: TensorFlow Serving's JSON dialect
// (lib/serve/json.ts), its Predict/Classify/Regress JSON (lib/serve/tfs.ts, cases after
// tensorflow_serving/util/json_tensor_test.cc), KServe's v2 tensors and binary extension
// (lib/serve/v2.ts), and TensorFlow Serving's text-format model config (lib/manager/tfs-config.ts,
// the examples of its serving_config.md), and TensorProto's numeric fields on the wire
// (lib/serve/tensor-proto-wire.ts) against protobufjs's generated code.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

import fc from 'fast-check';
import Long from 'long';
import { Root, Writer } from 'protobufjs';
import t from 'tap';

import { Tensor } from '../lib/index';
import { native } from '../lib/native';
import type { ModelManager } from '../lib/manager';
import { readConfigFile } from '../lib/manager/config';
import { parseModelServerConfig } from '../lib/manager/tfs-config';
import { FloatLiteral, parseJson } from '../lib/serve/json';
import { cutShort, partialInputsError, signatureLimits } from '../lib/serve/limits';
import { inferFeeds, inferHead, MAX_FILLED_ELEMENTS, predictFeeds, PROTO_DIR, protos, tensorFromProto } from '../lib/serve/tensor-proto';
import { checkExamplesSignature, classifyResponse, feedsFromPayload, floatToken, predictResponse, readExamplesRequest, readPredictRequest, regressResponse, statusResponse } from '../lib/serve/tfs';
import { binaryTensor, inferResponse, layOutBigBytes, OFF_THREAD_LAYOUT_BYTES, outputBytes, type RawBody, rawBinaryFeeds, readInferRequest, splitBody } from '../lib/serve/v2';
import { shortestFloat, tensorFromValue, tensorToJson } from '../lib/values';
import { node, plain, ROOT } from './helpers';

t.test('numbers parse to the double Number() gives, by the fast path and the slow one', async (t) => {
  const value = (text: string) => {
    const v = parseJson(text);
    return v instanceof FloatLiteral ? v.valueOf() : typeof v === 'bigint' ? Number(v) : v;
  };
  // Every double, as JavaScript writes it (shortest round trip, exponents included).
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => Object.is(value(Object.is(x, -0) ? '-0' : String(x)), x)), { numRuns: 20_000 });
  // Every number the grammar allows: up to 30 digits each side, leading zeros in the fraction, any exponent.
  const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
  const literal = fc.tuple(fc.boolean(), digits(1, 30), fc.option(digits(1, 30)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 4))))
    .map(([minus, whole, fraction, exponent]) => `${minus ? '-' : ''}${whole.replace(/^0+(?=\d)/, '')}${fraction === null ? '' : `.${fraction}`}${exponent === null ? '' : exponent.join('')}`);
  fc.assert(fc.property(literal, (text) => {
    if (!Number.isFinite(Number(text))) {
      try {
        parseJson(text);
        return false;
      } catch (error) {
        return /too big to be stored in a double/.test((error as Error).message);
      }
    }
    const v = parseJson(text);
    const float = /[.eE]/.test(text);
    if (float) return Number.isInteger(Number(text)) ? v instanceof FloatLiteral && Object.is(v.valueOf(), Number(text)) : Object.is(v, Number(text));
    return Number.isSafeInteger(Number(text)) ? Object.is(v, Number(text)) : v === BigInt(text);
  }), { numRuns: 20_000 });
  t.pass('20 000 doubles and 20 000 literals each way');
});

t.test('float32 written shortest: reads back, no shorter decimal does, the nearest of its length (ties to even)', async (t) => {
  // The decimals of p digits around a value: the nearest one written by toExponential, and its neighbours.
  const around = (a: number, p: number): number[] => {
    const [mantissa, exponent] = a.toExponential(p - 1).split('e');
    const n = Number(mantissa!.replace('.', ''));
    return [n - 1, n, n + 1].map((d) => Number(`${d}e${Number(exponent) - (p - 1)}`));
  };
  fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }).filter((x) => x !== 0), (x) => {
    const written = shortestFloat('float32', x);
    if (Math.fround(written) !== x) return false;
    const a = Math.abs(x);
    const p = Math.abs(written).toExponential().split('e')[0]!.replace('.', '').length;
    for (let q = 1; q < p; q++) if (around(a, q).some((d) => Math.fround(Math.sign(x) * d) === x)) return false;
    const [below, , above] = around(Math.abs(written), p);
    const distance = Math.abs(Math.abs(written) - a);
    return [below!, above!].every((d) => Math.fround(Math.sign(x) * d) !== x || Math.abs(d - a) > distance || (Math.abs(d - a) === distance && Number(String(Math.abs(written)).replace(/\D/g, '').slice(-1)) % 2 === 0));
  }), { numRuns: 20_000 });
  t.pass('20 000 float32 values');
});

t.test('a body of many small objects takes a fraction of the memory an Object.create(null) object each took (196 bytes an empty one)', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const body = `[${'{},'.repeat(999_999)}{}]`;
  gc();
  const before = process.memoryUsage().heapUsed;
  const parsed = parseJson(body) as unknown[];
  gc();
  const bytesEach = (process.memoryUsage().heapUsed - before) / parsed.length;
  t.equal(parsed.length, 1_000_000);
  t.ok(bytesEach < 100, `${bytesEach.toFixed(1)} bytes per empty object (with its slot in the array)`);
});

t.test("TensorFlow Serving's JSON: NaN, Infinity, exact int64, floats that stay floats", async (t) => {
  t.same(parseJson('{"instances": [1, 2.5, -3]}'), { instances: [1, 2.5, -3] });
  const big = parseJson('[9007199254740993, -9223372036854775808, 18446744073709551615]') as bigint[];
  t.same(big, [9007199254740993n, -9223372036854775808n, 18446744073709551615n], 'integers past 2^53 keep every digit (bigints)');
  const special = parseJson('[NaN, Infinity, -Infinity]') as number[];
  t.ok(Number.isNaN(special[0]) && special[1] === Infinity && special[2] === -Infinity, 'NaN and ±Infinity are numbers');
  const floats = parseJson('[2.0, 1e3, 2.5, 2]') as unknown[];
  t.ok(floats[0] instanceof FloatLiteral && Number(floats[0]) === 2, '2.0 stays a float (TensorFlow Serving refuses it for an int dtype)');
  t.ok(floats[1] instanceof FloatLiteral, '1e3 too');
  t.equal(floats[2], 2.5);
  t.equal(floats[3], 2, '2 is an integer');
  t.same(parseJson('"a\\u00e9\\n\\"b\\/"'), 'aé\n"b/');
  const proto = parseJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  t.same(Object.keys(proto), ['__proto__'], '__proto__ is an ordinary key');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'and pollutes nothing');
  const members = parseJson('{"constructor": 1}') as Record<string, unknown>;
  t.same(Object.keys(members), ['constructor'], 'constructor is an ordinary key');
  for (const name of ['toString', 'hasOwnProperty', 'valueOf', '__proto__']) t.notOk(name in members, `no ${name} from a prototype`);
  t.equal(Object.getPrototypeOf(Object.getPrototypeOf(members)), null, 'its prototype has none');
  t.ok(Object.isFrozen(Object.getPrototypeOf(members)), 'and is frozen');
  t.same(parseJson(new TextEncoder().encode('[true,false,null]')), [true, false, null], 'bytes in');
  const bad: [string, RegExp][] = [
    ['', /an incomplete value at offset 0/],
    ['   ', /an incomplete value at offset 3/],
    ['instances = [1, 2]', /an unexpected character at offset 0/],
    ['{"instances": [1, 2}', /a missing ',' or ']' in an array at offset 19/],
    ['{"instances" [1]}', /a missing ':' after an object key at offset 13/],
    ['{"instances": [1.]}', /a malformed number at offset 15/],
    ['{"instances": [01]}', /a malformed number at offset 15/],
    ['{"instances": [+1]}', /an unexpected character at offset 15/],
    ['{"instances": [nan]}', /an unexpected token at offset 15/],
    ['{"instances": ["abc]}', /an unterminated string/],
    ['{"instances": ["\\x"]}', /a bad escape/],
    ["{'instances': [1]}", /an object key that is not a string at offset 1/],
    ['{"instances": [1]} junk', /more after the JSON value at offset 19/],
    ['[1,]', /an unexpected character at offset 3/],
    // Parsers disagree on which of two equal keys counts (rapidjson the first, JSON.parse the last).
    ['{"instances": [1], "instances": [2]}', /the key "instances" given twice in one object at offset 19/],
    ['{"inputs": {"x": [1], "y": [2], "x": [3]}}', /the key "x" given twice in one object at offset 32/],
    // A lone UTF-16 surrogate is no character (helper-93: it became U+FFFD's bytes); rapidjson refuses it too.
    ['["\\ud800"]', /a \\u escape of a lone high surrogate \(send raw bytes as \{"b64": \.\.\.\}\) at offset 8/],
    ['["\\ud800\\u0041"]', /a \\u escape of a lone high surrogate/],
    ['["\\udc00"]', /a \\u escape of a lone low surrogate/],
  ];
  for (const [text, message] of bad) t.throws(() => parseJson(text), { name: 'Error', message }, JSON.stringify(text));
  t.throws(() => parseJson('['.repeat(100_000)), /nesting deeper than 512/, 'deep nesting is refused, not a stack overflow');
  t.throws(() => parseJson(new Uint8Array([0x22, 0xff, 0x22])), /not valid UTF-8/);
  t.same(parseJson('["\\ud83d\\ude00", "\\u00e9"]'), ['\u{1F600}', '\u00e9'], 'a surrogate pair is its character');
});

const spec = (dtype: string, shape: number[] | null) => ({ name: 'x:0', dtype: dtype as 'float32', shape });

t.test("JSON numbers for float inputs: TensorFlow Serving's lossless rule (json_tensor.cc IsLosslessDecimal)", async (t) => {
  const feed = (text: string, dtype: string) => {
    const feeds = feedsFromPayload('columnar', parseJson(text), { x: { name: 'x:0', dtype, shape: null } } as never);
    return Array.from(feeds.x!.data as Float32Array);
  };
  t.same(feed('[16777217, 3.4e38, -3.4e38, 16777216.0, 1e-50]', 'float32'), [16777216, Math.fround(3.4e38), Math.fround(-3.4e38), 16777216, 0], 'within range: the nearest float32');
  t.same(feed('[NaN, Infinity, -Infinity]', 'float32'), [NaN, Infinity, -Infinity], 'the bare tokens pass');
  t.same(feed('[3.4028235e+38, -3.4028235e38]', 'float32'), [3.4028234663852886e38, -3.4028234663852886e38],
    "the largest float32 as the server writes it (its shortest decimal reads a little past it as a double) comes back: a client can echo an output");
  t.same(feed('[3.39e+38]', 'bfloat16').length, 1, 'the largest bfloat16 as written');
  t.same(feed('[9007199254740993, 1e308]', 'float64'), [9007199254740992, 1e308], 'integer literals to the nearest value, as any decimal');
  const refused: [string, string, RegExp][] = [
    ['[1e39]', 'float32', /input 'x': element 0: Cannot convert JSON value: 1e39 to float without loss of precision\./],
    ['[1, -3.5e38]', 'float32', /element 1: Cannot convert JSON value: -3\.5e38 to float/],
    ['[1000000000000000000000000000000000000000]', 'float32', /1000000000000000000000000000000000000000 to float without loss of precision/],
    ['[70000.0]', 'float16', /70000 to half without loss of precision/],
    ['[65520]', 'float16', /65520 to half/],
    ['[3.4028236e38]', 'float32', /3\.4028236e38 to float/],
    ['[3.4e38]', 'bfloat16', /3\.4e38 to bfloat16/],
  ];
  for (const [text, dtype, message] of refused) t.throws(() => feed(text, dtype), { code: 'INVALID_ARGUMENT', message }, `${dtype} ${text}`);
  t.throws(() => parseJson('[1e400]'), /a number too big to be stored in a double at offset 1/, 'past a double: a parse error, as rapidjson says');
  t.throws(() => parseJson('{"a": -1e309}'), /too big to be stored in a double/);
  t.throws(() => readInferRequest(parseJson('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1e39]}]}'), new Uint8Array(0)),
    { code: 'INVALID_ARGUMENT', message: /input 'x': element 0: Cannot convert JSON value: 1e39 to float/ }, 'KServe v2 JSON too');
});

t.test('Predict requests: row and columnar, one input and several, as TensorFlow Serving reads them', async (t) => {
  const req = (text: string) => readPredictRequest(parseJson(text));
  const quickstart = req('{"instances": [1.0, 2.0, 5.0]}');
  t.same({ format: quickstart.format, signature: quickstart.signatureName }, { format: 'row', signature: undefined });
  const feeds = feedsFromPayload(quickstart.format, quickstart.payload, { x: spec('float32', [-1, 1]) });
  t.same(plain(feeds.x!), { dtype: 'float32', shape: [3], data: [1, 2, 5] }, "the quickstart's [3] for an input declared [-1, 1]: shapes from the JSON");
  // A float written in integer digits past 2^53 (as JS writes 2.9874552e17): its nearest float, as from its digits.
  const wide = feedsFromPayload('row', req('{"instances": [298745521244209150, 100000000000000000000, -18446744073709551615]}').payload, { x: spec('float32', [-1]) });
  t.same(Array.from(wide.x!.data as Float32Array), [Math.fround(298745521244209150), 1e20, -18446744073709551615].map(Math.fround), 'integer literals past 2^53 for a float input');
  const two = req('{"signature_name": "s", "instances": [{"a": [1, 2], "b": "foo"}, {"a": [3, 4], "b": {"b64": "YmFy"}}]}');
  t.equal(two.signatureName, 's');
  const stacked = feedsFromPayload(two.format, two.payload, { a: spec('int32', null), b: spec('string', null) });
  t.same(plain(stacked.a!), { dtype: 'int32', shape: [2, 2], data: [1, 2, 3, 4] }, 'objects keyed by input, stacked on dimension 0');
  t.same(stacked.b!.data, ['foo', 'bar'], '{"b64": ...} is bytes');
  const named = req('{"instances": [{"x": 1}, {"x": 2}]}');
  t.same(plain(feedsFromPayload(named.format, named.payload, { x: spec('int64', null) }).x!).data, ['1', '2'], 'objects also for a single input');
  const columnar = req('{"inputs": {"a": [[1, 2, 3]], "b": {"b64": "aGVsbG8="}}}');
  const cols = feedsFromPayload(columnar.format, columnar.payload, { a: spec('int32', null), b: spec('string', null) });
  t.same(cols.a!.shape, [1, 3], 'columnar: tensors whole');
  t.same({ shape: cols.b!.shape, data: cols.b!.data }, { shape: [], data: ['hello'] }, 'a b64 scalar');
  const exact = req('{"instances": [9223372036854775807, -9223372036854775808]}');
  t.same(plain(feedsFromPayload(exact.format, exact.payload, { x: spec('int64', null) }).x!).data, ['9223372036854775807', '-9223372036854775808'], 'int64 exact');
  const nan = req('{"inputs": [NaN, Infinity, -Infinity]}');
  const values = feedsFromPayload(nan.format, nan.payload, { x: spec('float32', null) }).x!.data as Float32Array;
  t.ok(Number.isNaN(values[0]) && values[1] === Infinity && values[2] === -Infinity, 'NaN and Infinity in');

  const errors: [string, Record<string, ReturnType<typeof spec>>, RegExp][] = [
    ['{"instances": [1], "inputs": [1]}', { x: spec('float32', null) }, /expecting only one of 'inputs' or 'instances'/],
    ['{"foo": 1}', { x: spec('float32', null) }, /Missing 'inputs' or 'instances' key/],
    ['{"instances": []}', { x: spec('float32', null) }, /No values in 'instances' array/],
    ['{"instances": 5}', { x: spec('float32', null) }, /Expecting 'instances' to be an list\/array/],
    ['{"signature_name": 5, "instances": [1]}', { x: spec('float32', null) }, /'signature_name' key must be a string value/],
    ['[1, 2]', { x: spec('float32', null) }, /must be a JSON object/],
    ['{"instances": [1.5]}', { x: spec('int32', null) }, /element 0: 1\.5 is not an integer/],
    ['{"instances": [1.0]}', { x: spec('int32', null) }, /element 0: 1\.0 is not an integer/],
    ['{"instances": [[1, 2], [3, 4], [5, 6, 7]]}', { x: spec('int32', null) }, /ragged array: \[2\] should be an array of 2/],
    ['{"instances": [[1, 2], ["a", "b"]]}', { x: spec('int32', null) }, /element 2: "a" is not an integer/],
    ['{"instances": [1, 2]}', { a: spec('int32', null), b: spec('int32', null) }, /instances is a plain list, but expecting list of objects/],
    ['{"instances": [{"a": 1, "b": 2}, [1]]}', { a: spec('int32', null), b: spec('int32', null) }, /Expecting object but got list at item 1/],
    ['{"instances": [{"a": 1, "b": 2}, {"a": 2}]}', { a: spec('int32', null), b: spec('int32', null) }, /element: 1 of 'instances' list\. JSON object keys must be equal to: a,b/],
    ['{"instances": [{"a": 1, "c": 2}]}', { a: spec('int32', null), b: spec('int32', null) }, /does not have named input: c/],
    ['{"instances": [1, {"x": 2}]}', { x: spec('int32', null) }, /Expecting value\/list but got object at item 1/],
    ['{"inputs": {"a": 1}}', { a: spec('int32', null), b: spec('int32', null) }, /Missing named input: b in 'inputs' object/],
    ['{"inputs": [1, 2]}', { a: spec('int32', null), b: spec('int32', null) }, /inputs is a plain value\/list, but expecting an object/],
    ['{"instances": [{"b64": "not base64!"}]}', { x: spec('string', null) }, /is not valid base64/],
    ['{"instances": [true]}', { x: spec('float32', null) }, /true is not a number/],
  ];
  for (const [text, inputs, message] of errors) {
    t.throws(() => {
      const r = readPredictRequest(parseJson(text));
      feedsFromPayload(r.format, r.payload, inputs);
    }, { code: 'INVALID_ARGUMENT', message }, text);
  }
});

t.test('Predict responses: predictions per row or outputs whole, b64 for _bytes, NaN and exact int64 out', async (t) => {
  const f32 = (values: number[], shape: number[]) => new Tensor('float32', Float32Array.from(values), shape);
  t.equal(predictResponse({ y: f32([2.5, 3, 4.5], [3]) }, 'row'), '{"predictions":[2.5,3.0,4.5]}', "the quickstart's answer");
  t.equal(predictResponse({ y: f32([2.5, 3, 4.5], [3]) }, 'columnar'), '{"outputs":[2.5,3.0,4.5]}');
  t.equal(predictResponse({ y: f32([3.5], []) }, 'columnar'), '{"outputs":3.5}', 'a scalar, columnar');
  // Written in pieces of a few thousand tokens: the seams do not show.
  const many = Array.from({ length: 30_000 }, (_, i) => i - 0.5);
  t.same(JSON.parse(predictResponse({ y: f32(many, [100, 300]) }, 'columnar')).outputs.flat(), many, '30 000 floats, columnar');
  t.same(JSON.parse(predictResponse({ y: f32(many, [10_000, 3]), z: f32(many, [10_000, 3]) }, 'row')).predictions[9_999], { y: many.slice(-3), z: many.slice(-3) }, 'and by row');
  t.equal(predictResponse({ i: new Tensor('int32', Int32Array.of(1, 2, 3, 4, 5, 6), [3, 2]) }, 'row'), '{"predictions":[[1,2],[3,4],[5,6]]}');
  t.equal(predictResponse({ y: f32([9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5], [2, 3]) }, 'row'),
    '{"predictions":[[9000000.0,999999.0,0.5],[0.0003,0.00003,555557.5]]}', 'shortest decimals that read back as the same float32, whole ones with .0');
  t.equal(predictResponse({ y: f32([NaN, Infinity, 3, -Infinity], [2, 2]) }, 'row'), '{"predictions":[[NaN,Infinity],[3.0,-Infinity]]}', 'NaN and ±Infinity as bare tokens');
  t.equal(predictResponse({ y: f32([Math.fround(Math.PI), -0], [2]) }, 'columnar'), '{"outputs":[3.1415927,-0.0]}', 'π as the float32 it is; -0');
  t.equal(predictResponse({ n: new Tensor('int64', BigInt64Array.of(9223372036854775807n, -9223372036854775808n), [2]) }, 'row'),
    '{"predictions":[9223372036854775807,-9223372036854775808]}', 'int64 exact, as bare numbers');
  t.equal(predictResponse({ s_bytes: new Tensor('string', ['hello', 'world', 'tf', 'serving'], [2, 2]) }, 'row'),
    '{"predictions":[[{"b64":"aGVsbG8="},{"b64":"d29ybGQ="}],[{"b64":"dGY="},{"b64":"c2VydmluZw=="}]]}', 'outputs whose key ends in _bytes as b64');
  t.equal(predictResponse({ s: new Tensor('string', [new TextEncoder().encode('héllo'), new Uint8Array([0xff, 0])]) }, 'columnar'), '{"outputs":["héllo",{"b64":"/wA="}]}', 'text as strings, bytes that are not UTF-8 as b64');
  t.equal(predictResponse({ b: new Tensor('bool', Uint8Array.of(1, 0)), h: new Tensor('float16', Uint16Array.of(0x3e00, 0x7c00)) }, 'row'),
    '{"predictions":[{"b":true,"h":1.5},{"b":false,"h":Infinity}]}', 'several outputs: an object per row, keys sorted; bool and float16');
  t.equal(predictResponse({ y: new Tensor('float32', Float32Array.of(1, 3), [1, 2]), s: new Tensor('float32', Float32Array.of(4), [1]) }, 'row'),
    '{"predictions":[{"s":4.0,"y":[1.0,3.0]}]}', 'several outputs of one row: the row, not a batch of one');
  t.equal(predictResponse({ a: new Tensor('int32', new Int32Array(0), [0, 2]) }, 'row'), '{"predictions":[]}', 'no rows');
  t.throws(() => predictResponse({ a: new Tensor('int32', new Int32Array(6), [2, 3]), b: new Tensor('int32', new Int32Array(3), [1, 3]) }, 'row'), { code: 'INVALID_ARGUMENT', message: /inconsistent batch size: 1 expecting: 2/ });
  t.throws(() => predictResponse({ a: f32([1], []) }, 'row'), { code: 'INVALID_ARGUMENT', message: /Tensor name: a has no shape information/ });
  t.throws(() => predictResponse({}, 'row'), { code: 'INTERNAL', message: /Cannot convert empty tensor map to JSON/ });
  t.equal(floatToken(1e21), '1e+21');
  t.equal(floatToken(0.1), '0.1');
});

t.test('Classify and Regress: tf.Examples from JSON (with context), results as TensorFlow Serving writes them', async (t) => {
  const request = readExamplesRequest(parseJson('{"signature_name": "r", "context": {"q": "pizza"}, "examples": [{"x": 1.0, "n": [1, true, false]}, {"x": [2.5], "s": {"b64": "aGk="}}]}'), 'regress');
  t.equal(request.signatureName, 'r');
  t.equal(request.count, 2);
  t.same(request.examples.shape, [2]);
  const errors: [string, RegExp][] = [
    ['{"instances": []}', /When method is regress, key 'examples' is expected and was not found/],
    ['{"examples": {}}', /Expecting 'examples' value to be an list\/array/],
    ['{"examples": []}', /'examples' value is an empty array/],
    ['{"examples": [[1]]}', /Example must be JSON object but got JSON Array/],
    ['{"context": [1], "examples": [{}]}', /Example must be JSON object but got JSON Array/],
    ['{"examples": [{"names": [10, null]}]}', /Feature: names has element with unexpected JSON type: Null/],
    ['{"examples": [{"names": [10, "a"]}]}', /Unexpected element type in feature: names expecting type: int64/],
    ['{"examples": [{"names": [10, {"t": 1}]}]}', /unexpected JSON type: Object/],
    // TensorFlow Serving: an integer literal is not a float, and a float_list holds float32.
    ['{"examples": [{"x": [1.0, 2]}]}', /Unexpected element type in feature: x expecting type: float/],
    ['{"examples": [{"x": 1e39}]}', /Feature: x: Cannot convert JSON value: 1e39 to float without loss of precision\./],
  ];
  for (const [text, message] of errors) t.throws(() => readExamplesRequest(parseJson(text), 'regress'), { code: 'INVALID_ARGUMENT', message }, text);
  const scores = new Tensor('float32', Float32Array.of(0.2, 0.7, 0.1, 0.7, 0.1, 0.2), [2, 3]);
  const classes = new Tensor('string', ['car', 'bike', 'bus', 'car', 'bike', 'bus'], [2, 3]);
  t.equal(classifyResponse({ classes, scores }, 2), '{"results":[[["car",0.2],["bike",0.7],["bus",0.1]],[["car",0.7],["bike",0.1],["bus",0.2]]]}');
  t.equal(classifyResponse({ scores: new Tensor('float32', Float32Array.of(12), [1, 1]) }, 1), '{"results":[[["",12.0]]]}', 'scores only: empty labels');
  t.equal(regressResponse({ outputs: new Tensor('float32', Float32Array.of(0.2, Infinity, 1, -Infinity, NaN), [5, 1]) }, 5), '{"results":[0.2,Infinity,1.0,-Infinity,NaN]}');
  t.throws(() => regressResponse({ outputs: new Tensor('float32', Float32Array.of(1, 2), [1, 2]) }, 1), { code: 'INVALID_ARGUMENT', message: /expected \[1\] or \[1, 1\]/ });
});

t.test("tf.Example integers as rapidjson reads them for TensorFlow Serving: past int64 but a uint64 is refused, past uint64 a float", async (t) => {
  const feature = (text: string) => {
    const example = protos().lookupType('tensorflow.Example').decode(readExamplesRequest(parseJson(`{"examples": [{"n": ${text}}]}`), 'regress').examples.bytes()[0]!) as unknown as { features: { feature: Record<string, Record<string, { value: unknown[] }>> } };
    const kind = example.features.feature.n!;
    return Object.keys(kind).map((k) => [k, kind[k]!.value.map(String)]);
  };
  t.same(feature('9223372036854775807'), [['int64_list', ['9223372036854775807']]]);
  t.same(feature('-9223372036854775808'), [['int64_list', ['-9223372036854775808']]]);
  for (const text of ['9223372036854775808', '18446744073709551615']) {
    t.throws(() => feature(text), { code: 'INVALID_ARGUMENT', message: /^Feature: n has uint64_t element\. Only int64_t is supported/ }, `${text}: json_tensor.cc's error (was a float feature)`);
  }
  t.same(feature('18446744073709551616'), [['float_list', ['18446744073709552000']]], 'past uint64: a double, so a float');
  t.same(feature('-9223372036854775809'), [['float_list', ['-9223372036854776000']]], 'below int64: a double, so a float');
});

t.test("what Classify and Regress fetch of a signature, as TensorFlow Serving's classifier.cc and regressor.cc read it", async (t) => {
  const spec = { name: 't:0', dtype: 'string' as const, shape: [-1] };
  const signature = (outputs: string[]) => ({ inputs: { inputs: spec }, outputs: Object.fromEntries(outputs.map((o) => [o, { ...spec, dtype: 'float32' as const }])), methodName: 'tensorflow/serving/classify' });
  t.same(checkExamplesSignature(signature(['classes', 'scores']), 'classify', 's'), ['classes', 'scores']);
  t.same(checkExamplesSignature(signature(['classes']), 'classify', 's'), ['classes']);
  t.same(checkExamplesSignature(signature(['scores', 'logits']), 'classify', 's'), ['scores'], 'a second output beside scores: served, not fetched (was refused)');
  t.same(checkExamplesSignature(signature(['classes', 'probabilities']), 'classify', 's'), ['classes'], 'beside classes too');
  t.same(checkExamplesSignature(signature(['outputs']), 'regress', 's'), ['outputs']);
  const refused: [string[], 'classify' | 'regress', RegExp][] = [
    [['logits', 'probabilities'], 'classify', /^signature 's' cannot classify: it needs one or two outputs, 'classes' or 'scores' among them; it has 'logits', 'probabilities'$/],
    [['classes', 'scores', 'logits'], 'classify', /it has 'classes', 'scores', 'logits'$/],
    [[], 'classify', /it has none$/],
    [['outputs', 'extra'], 'regress', /^signature 's' cannot regress: it needs exactly one output, 'outputs'; it has 'outputs', 'extra'$/],
  ];
  for (const [outputs, api, message] of refused) t.throws(() => checkExamplesSignature(signature(outputs), api, 's'), { code: 'INVALID_ARGUMENT', message }, `${api}: ${outputs.join(', ')}`);
});

t.test('model status as GetModelStatusResponse renders it', async (t) => {
  t.same(statusResponse([
    { version: 1, state: 'AVAILABLE', path: '/m/1', error: null, inflight: 0 },
    { version: 2, state: 'END', path: '/m/2', error: { code: 'NOT_FOUND', message: 'gone' }, inflight: 0 },
  ]), { model_version_status: [
    { version: '2', state: 'END', status: { error_code: 'NOT_FOUND', error_message: 'gone' } },
    { version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
  ] }, 'versions descending, as strings; errors by code name');
});

t.test("KServe v2: typed JSON tensors, and the binary data extension's bytes", async (t) => {
  const json = readInferRequest(parseJson('{"id": "r1", "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, NaN]]}, {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}, {"name": "i", "shape": [1], "datatype": "INT64", "data": [9007199254740993]}], "outputs": [{"name": "y"}]}'), new Uint8Array(0));
  t.equal(json.id, 'r1');
  t.same(json.feeds.x!.shape, [2, 2], 'nested data, the given shape');
  t.same(json.feeds.s!.data, ['a', 'b']);
  t.same(plain(json.feeds.i!).data, ['9007199254740993'], 'INT64 exact');
  t.same(json.outputs, [{ name: 'y', binary: false }]);
  // Binary: x as 4 float32s, s as two length-prefixed strings.
  const floats = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);
  const strings = new Uint8Array([1, 0, 0, 0, 0x61, 2, 0, 0, 0, 0x62, 0x63]);
  const header = JSON.stringify({ inputs: [
    { name: 'x', shape: [4], datatype: 'FP32', parameters: { binary_data_size: 16 } },
    { name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 11 } },
  ], parameters: { binary_data_output: true } });
  const body = Buffer.concat([Buffer.from(header), floats, strings]);
  const split = splitBody(body, String(Buffer.byteLength(header)));
  t.equal(readInferRequest(parseJson('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "outputs": []}'), new Uint8Array(0)).outputs, null, 'an empty outputs list asks for them all, as over gRPC');
  t.equal(readInferRequest(parseJson('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "parameters": {"signature_name": ""}}'), new Uint8Array(0)).signatureName, undefined,
    'an empty signature_name is the default signature, as over gRPC and TensorFlow Serving\'s REST API (helper-77: "" not found)');
  const bin = readInferRequest(split.header, split.binary);
  t.same(Array.from(bin.feeds.x!.data as Float32Array), [1, 2, 3, 4], 'FP32 from the binary part');
  t.same(bin.feeds.s!.data, ['a', 'bc'], 'BYTES from 4-byte length prefixes');
  t.equal(bin.binaryByDefault, true);
  const errors: [string, Uint8Array, RegExp][] = [
    ['{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}', new Uint8Array(0), /shape \[3\] needs 3 elements, data has 2/],
    ['{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [[1, 2], [3]]}]}', new Uint8Array(0), /input 'x': data nested as arrays must follow shape \[3\]: dimension 0 has 2 element\(s\) where the shape says 3/],
    ['{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3]]}]}', new Uint8Array(0), /dimension 1 has 1 element\(s\) where the shape says 2/],
    ['{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], 3, 4]}]}', new Uint8Array(0), /dimension 0 has 3 element\(s\) where the shape says 2/],
    ['{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [[1], [2]]}]}', new Uint8Array(0), /input 'x': data is nested deeper than its shape \[2\]/],
    ['{"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]}', new Uint8Array(0), /datatype "FP128" is not one of BOOL/],
    ['{"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1.5]}]}', new Uint8Array(0), /1\.5 is not an integer/],
    ['{"inputs": [{"name": "x", "shape": [4294967296, 4294967296, 0], "datatype": "FP32", "data": []}]}', new Uint8Array(0), /multiply past 2\^63-1/],
    ['{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}', new Uint8Array(4), /expecting 4 additional bytes/],
    ['{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 99999999999999999999999}}]}', new Uint8Array(4), /expecting 99999999999999999999995 additional bytes/],
    ['{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}', new Uint8Array(6), /unexpected additional input data: 2 bytes/],
    ['{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}', new Uint8Array(4), /binary_data_size 4 bytes, but shape \[2\] of FP32 needs 8/],
    ['{"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]}', new Uint8Array([9, 0, 0, 0, 0x61, 0x62]), /element 0 claims 9 bytes past the end/],
    ['{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}', new Uint8Array(0), /input 'x' has no data/],
    ['{"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 15}}]}', Uint8Array.of(1, 0, 0, 0, 0x61, 1, 0, 0, 0, 0x62, 1, 0, 0, 0, 0x63), /input 's': shape \[2\] needs 2 elements, its BYTES data holds 3/],
    ['{"inputs": {}}', new Uint8Array(0), /"inputs" must be an array/],
    ['{"inputs": [{"name": "x", "shape": [4611686018427387904, 0], "datatype": "FP32", "data": []}]}', new Uint8Array(0), /input 'x': shape\[0\] is 4611686018427387904, past 2\^53/],
    ['{"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]}', new Uint8Array(0), /output 'y': parameters\.binary_data must be true or false/],
    ['{"inputs": [], "parameters": {"binary_data_output": 1}}', new Uint8Array(0), /parameters\.binary_data_output must be true or false/],
    ['{"inputs": [], "outputs": [{"name": "y"}, {"name": "z"}, {"name": "y"}]}', new Uint8Array(0), /output 'y' is asked for twice/],
  ];
  for (const [text, binary, message] of errors) t.throws(() => readInferRequest(parseJson(text), binary), { code: 'INVALID_ARGUMENT', message }, text);
  t.throws(() => readInferRequest(parseJson('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 4}}]}'), new Uint8Array(0)),
    { code: 'UNIMPLEMENTED', message: /^input 'x': parameters\.shared_memory_region \(the shared-memory extension\) is not supported/ }, 'shared memory in: refused, not read as no data');
  t.throws(() => readInferRequest(parseJson('{"inputs": [], "outputs": [{"name": "y", "parameters": {"shared_memory_region": "r"}}]}'), new Uint8Array(0)),
    { code: 'UNIMPLEMENTED', message: /^output 'y': parameters\.shared_memory_region .*read the output from the response$/ }, 'shared memory out: refused, not ignored');
  t.throws(() => readInferRequest(parseJson('{"inputs": [], "outputs": [{"name": "y", "parameters": {"classification": 3}}]}'), new Uint8Array(0)),
    { code: 'UNIMPLEMENTED', message: /output 'y': parameters\.classification \(the classification extension\) is not supported/ }, 'not the raw tensor in its place');
  // Over gRPC the bytes are raw_input_contents[i], and the error says so (no binary_data_size there).
  t.throws(() => inferFeeds({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1] }], raw_input_contents: [new Uint8Array(4)] }),
    { code: 'INVALID_ARGUMENT', message: /^input 'x': raw_input_contents\[0\] holds 4 bytes, but shape \[2, 1\] of FP32 needs 8$/ });
  // int_contents and uint_contents are 32-bit: values the datatype cannot hold were wrapped (INT8 300 became 44).
  for (const [datatype, field, values, message] of [
    ['INT8', 'int_contents', [1, 300], /^input 'x': int_contents\[1\] is 300, which INT8 cannot hold \(-128 to 127\)$/],
    ['INT16', 'int_contents', [-40000, 1], /^input 'x': int_contents\[0\] is -40000, which INT16 cannot hold/],
    ['UINT8', 'uint_contents', [256, 1], /^input 'x': uint_contents\[0\] is 256, which UINT8 cannot hold \(0 to 255\)$/],
    ['UINT16', 'uint_contents', [1, 70000], /^input 'x': uint_contents\[1\] is 70000, which UINT16 cannot hold/],
  ] as const) {
    t.throws(() => inferFeeds({ inputs: [{ name: 'x', datatype, shape: [2], contents: { [field]: values } }] }), { code: 'INVALID_ARGUMENT', message }, datatype);
  }
  t.same(Array.from(inferFeeds({ inputs: [{ name: 'x', datatype: 'INT8', shape: [2], contents: { int_contents: Int32Array.of(-128, 127) } }] }).x!.data as Int8Array), [-128, 127], 'the ends of the range pass');
  t.throws(() => splitBody(Buffer.from('{}'), '5'), { code: 'INVALID_ARGUMENT', message: /Inference-Header-Content-Length must be a byte count within the body/ });
  t.throws(() => splitBody(Buffer.from('{}'), '0'), { code: 'INVALID_ARGUMENT', message: /Inference-Header-Content-Length is 0, but the body starts with the JSON inference request/ }, 'an empty JSON part is named as such');
  // Raw tensor bytes after the JSON without the header (helper-83: "the body is not valid UTF-8", no more).
  const hint = /; a body in the binary tensor data extension \(the JSON request, then raw tensor bytes\) needs the Inference-Header-Content-Length header giving the JSON part's length in bytes$/;
  t.throws(() => splitBody(Buffer.concat([Buffer.from('{"inputs":[]}'), Buffer.of(0, 0, 0x80, 0xff)]), undefined), { message: new RegExp(`^the body is not valid UTF-8${hint.source}`) }, 'bytes that are not UTF-8: the header is named');
  t.throws(() => splitBody(Buffer.concat([Buffer.from('{"inputs":[]}'), Buffer.of(0, 0, 0x20, 0x3f)]), undefined), { message: new RegExp(`^more after the JSON value at offset 13.*${hint.source}`) }, 'bytes that are UTF-8');
  t.throws(() => splitBody(Buffer.from('{"inputs": [}'), undefined), { message: /^an unexpected character at offset 12 \(near "}"\)$/ }, 'a JSON mistake alone is not given the hint');

  const y = new Tensor('float32', Float32Array.of(0.5, NaN), [2]);
  const n = new Tensor('int64', BigInt64Array.of(-9223372036854775808n), [1]);
  const response = inferResponse('m', 3, { id: 'r1', outputs: null, binaryByDefault: false }, { y, n });
  t.equal(response.json, '{"id":"r1","model_name":"m","model_version":"3","outputs":[{"name":"n","datatype":"INT64","shape":[1],"data":[-9223372036854775808]},{"name":"y","datatype":"FP32","shape":[2],"data":[0.5,NaN]}]}');
  t.equal(response.binary, null);
  const binary = inferResponse('m', 3, { id: undefined, outputs: [{ name: 'y', binary: true }], binaryByDefault: false }, { y, n });
  t.equal(binary.json, '{"model_name":"m","model_version":"3","outputs":[{"name":"y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}');
  t.same(Array.from(new Float32Array(Uint8Array.from(Buffer.concat(binary.binary!)).buffer)), [0.5, NaN]);
  t.throws(() => inferResponse('m', 3, { id: undefined, outputs: [{ name: 'z', binary: false }], binaryByDefault: false }, { y }), { code: 'INVALID_ARGUMENT', message: /no output 'z'/ });
  const raw = new Tensor('string', [new TextEncoder().encode('ok'), Uint8Array.of(0xff)]);
  t.throws(() => inferResponse('m', 3, { id: undefined, outputs: null, binaryByDefault: false }, { s: raw }),
    { code: 'FAILED_PRECONDITION', message: /output 's' holds bytes that are not UTF-8, which v2 JSON cannot carry unchanged; ask for it as binary data: "outputs": \[\{"name": "s", "parameters": \{"binary_data": true\}\}\]/ }, 'BYTES that are not UTF-8 are not sent changed as JSON');
  const rawBinary = inferResponse('m', 3, { id: undefined, outputs: null, binaryByDefault: true }, { s: raw });
  t.same(Buffer.concat(rawBinary.binary!), Buffer.from([2, 0, 0, 0, 0x6f, 0x6b, 1, 0, 0, 0, 0xff]), 'and go as binary data unchanged');

  // BYTES out are written from the packed form: each string's length, then its bytes (short
  // ones copied byte by byte, longer ones in a call), whatever their lengths and contents.
  const reference = (items: Uint8Array[]) => Buffer.concat(items.flatMap((b) => [Buffer.from(Uint32Array.of(b.byteLength).buffer), Buffer.from(b)]));
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 40 }), (items) => {
    const written = outputBytes(new Tensor('string', items, [items.length]));
    return Buffer.from(written).equals(reference(items));
  }), { numRuns: 2000 });
  const lengths = [0, 1, 31, 32, 33, 1000];
  const edges = lengths.map((k) => Uint8Array.from({ length: k }, (_, i) => (i * 7 + k) & 255));
  const edgeTensor = new Tensor('string', edges, [2, 3]);
  t.same(Buffer.from(outputBytes(edgeTensor)), reference(edges), `strings of ${lengths.join(', ')} bytes`);
  t.same(readInferRequest(parseJson(`{"inputs": [{"name": "s", "shape": [2, 3], "datatype": "BYTES", "parameters": {"binary_data_size": ${reference(edges).byteLength}}}]}`), outputBytes(edgeTensor)).feeds.s!.bytes(), edges, 'and read back as they were');
  t.equal(outputBytes(new Tensor('string', [], [0])).byteLength, 0, 'no strings: no bytes');
  // A codec thread never loads the addon: it runs the same layout in JS.
  const fromWorker = await new Promise<Uint8Array>((resolve, reject) => {
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const { Tensor } = require(workerData.dist + '/tensor.js');
      const { outputBytes } = require(workerData.dist + '/serve/v2.js');
      parentPort.postMessage(outputBytes(new Tensor('string', workerData.edges, [2, 3])));
    `, { eval: true, workerData: { dist: path.join(ROOT, 'dist'), edges } });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  t.same(Buffer.from(fromWorker), reference(edges), 'on a worker thread (JS) as on the event loop (the addon)');
  // The addon's writer checks what it is given, whoever calls it.
  for (const offsets of [[0, 3, 2], [0, 9], [-1, 1], [0, 1.5], [0, NaN], [1, 0], [NaN], [4]]) {
    t.throws(() => native().lengthPrefixed(Uint8Array.of(1, 2, 3), Float64Array.from(offsets)), { name: 'TypeError', message: /ascending whole offsets within it/ }, `offsets ${offsets.join(', ')}`);
  }
  t.throws(() => native().lengthPrefixed(new Uint16Array(2) as unknown as Uint8Array, new Float64Array(1)), { name: 'TypeError' }, 'not a Uint8Array');
  t.same(Buffer.from(native().lengthPrefixed(Uint8Array.of(9, 7, 8), Float64Array.of(1, 1, 3))), Buffer.from([0, 0, 0, 0, 2, 0, 0, 0, 7, 8]), 'offsets need not start at 0');

  // Laid out on a runner thread: the same bytes, the same checks (made before it is queued).
  await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 40 }), async (items) => {
    const { bytes, offsets } = new Tensor('string', items, [items.length]).flat()[2] as { bytes: Uint8Array; offsets: Float64Array };
    return Buffer.from(await native().lengthPrefixedOffThread(bytes, offsets)).equals(reference(items));
  }), { numRuns: 300 });
  for (const offsets of [[0, 3, 2], [0, 9], [-1, 1], [0, 1.5], [1, 0], [NaN]]) {
    t.throws(() => native().lengthPrefixedOffThread(Uint8Array.of(1, 2, 3), Float64Array.from(offsets)), { name: 'TypeError', message: /^lengthPrefixedOffThread\(bytes, offsets\) needs .*ascending whole offsets within it/ }, `off the thread: offsets ${offsets.join(', ')} refused at the call`);
  }
  t.equal((await native().lengthPrefixedOffThread(new Uint8Array(0), Float64Array.of(0))).byteLength, 0, 'off the thread: no strings, no bytes');
  // Offsets in a SharedArrayBuffer that change after the call: never read out of bounds, never
  // old memory sent (refused), or the layout of what was there when it ran.
  const shared = new Float64Array(new SharedArrayBuffer(8 * 3));
  shared.set([0, 1, 3]);
  const laying = native().lengthPrefixedOffThread(Uint8Array.of(5, 6, 7), shared);
  shared[2] = 1e9;
  await laying.then(
    (out) => t.same(Buffer.from(out), Buffer.from([1, 0, 0, 0, 5, 2, 0, 0, 0, 6, 7]), 'laid out before the offsets changed'),
    (error: Error) => t.match(error, { name: 'TypeError', message: /the offsets changed while the strings were laid out/ }, 'or refused'));
  // A response of big BYTES (over OFF_THREAD_LAYOUT_BYTES) takes them laid out off the thread.
  const many = Array.from({ length: 300_000 }, (_, i) => `s${i}`);
  const manyTensor = new Tensor('string', many, [many.length]);
  const request = { id: undefined, outputs: null, binaryByDefault: true };
  const laidOut = layOutBigBytes(request, { s: manyTensor });
  t.ok(laidOut, `${many.length} strings (${OFF_THREAD_LAYOUT_BYTES} bytes or more laid out) go to a runner thread`);
  const offThread = inferResponse('m', 1, request, { s: manyTensor }, await laidOut!);
  t.same(Buffer.concat(offThread.binary!), Buffer.from(outputBytes(manyTensor)), 'the same response body as laid out on the event loop');
  t.equal(layOutBigBytes(request, { s: raw }), undefined, 'small BYTES: laid out where they are (nothing to wait for)');
  t.equal(layOutBigBytes({ ...request, binaryByDefault: false }, { s: manyTensor }), undefined, 'BYTES asked for as JSON: nothing laid out');
});

t.test("KServe v2: a raw binary request's feed (Triton's Inference-Header-Content-Length: 0), its shape deduced from the body's length as Triton deduces it", async (t) => {
  const signature = (dtype: string, shape: number[] | null) => ({ inputs: { x: { name: 'x:0', dtype, shape } } }) as never;
  const feed = async (dtype: string, shape: number[] | null, body: RawBody) => (await rawBinaryFeeds('s', signature(dtype, shape), body)).x!;
  t.same((await feed('float32', [-1, 2], new Uint8Array(16))).shape, [2, 2], 'the open dimension, from the length');
  t.same((await feed('int8', [3], Uint8Array.of(1, 2, 3))).shape, [3], 'no open dimension: the length fits the shape');
  t.same((await feed('float32', [], new Uint8Array(4))).shape, [], 'a scalar');
  t.same((await feed('float32', [-1, 0], new Uint8Array(0))).shape, [0, 0], 'a shape of no bytes: an empty body, and the open dimension 0');
  const text = await feed('string', [-1], Buffer.from('a b'));
  t.same([text.shape, text.bytes().map((b) => Buffer.from(b).toString())], [[1], ['a b']], 'BYTES: the whole body is one element, without a length prefix');
  const whole = new Uint8Array(Float32Array.of(1, 2, 3).buffer);
  t.equal(((await feed('float32', [-1], whole)).data as Float32Array).buffer, whole.buffer, 'a body that starts on a whole element: the tensor views it');
  const shifted = new Uint8Array(13);
  shifted.set(whole, 1);
  t.same(Array.from((await feed('float32', [-1], shifted.subarray(1))).data as Float32Array), [1, 2, 3], 'one that does not: copied');
  // A big body's blocks are joined on a runner thread (the server), once its length is checked.
  const [joined, ...more] = await native().copyOffThread([Uint8Array.of(1, 2), Uint8Array.of(3), new Uint8Array(0), new Uint16Array([0x0504])], true);
  t.same([Array.from(new Uint8Array(joined!)), more.length], [[1, 2, 3, 4, 5], 0], 'copyOffThread(views, true): one buffer of all the views, in order');
  t.same(Array.from(new Uint8Array((await native().copyOffThread([], true))[0]!)), [], 'of no views: an empty buffer');
  t.throws(() => native().copyOffThread([Uint8Array.of(1)], 1 as never), { name: 'TypeError', message: /join must be a boolean/ });
  let joins = 0;
  const chunked = (bytes: Uint8Array): RawBody => ({ byteLength: bytes.byteLength, join: async () => { joins++; return bytes; } });
  t.same(Array.from((await feed('float32', [-1], chunked(whole))).data as Float32Array), [1, 2, 3], 'a body in chunks: joined');
  await t.rejects(feed('float32', [-1], chunked(new Uint8Array(6))), { code: 'INVALID_ARGUMENT' }, 'one whose length does not fit');
  t.equal(joins, 1, 'is refused without being joined');
  const fix = /; send the JSON inference request first, its length in Inference-Header-Content-Length$/;
  for (const [dtype, shape, bytes, message] of [
    ['float32', [-1, -1, 3], 12, /input 'x' \(FP32, shape \[-1, -1, 3\]\) leaves 2 dimensions open, and the body's length gives one/],
    ['float32', [2], 4, /input 'x' \(FP32, shape \[2\]\) takes 8 bytes, and the body has 4/],
    ['float32', [-1, 3], 8, /input 'x' \(FP32, shape \[-1, 3\]\) takes a multiple of 12 bytes, and the body has 8/],
    ['string', [2], 1, /the body is one BYTES element, but input 'x' \(BYTES, shape \[2\]\) holds 2/],
    ['float32', null, 4, /input 'x' of signature 's' has no known rank to deduce a shape from/],
    ['complex64', [1], 8, /input 'x' of signature 's' has dtype complex64, which v2 has no datatype for/],
  ] as const) {
    await t.rejects(feed(dtype, shape as number[] | null, new Uint8Array(bytes)), { code: 'INVALID_ARGUMENT', message }, `${dtype} [${String(shape)}]`);
    await t.rejects(feed(dtype, shape as number[] | null, new Uint8Array(bytes)), { message: fix }, 'and the request to send instead');
  }
});

t.test('requests naming more inputs or outputs than any signature has are read only as far as the first that cannot be', async (t) => {
  const limits = { inputs: 3, outputs: 2 };
  const n = 1000;
  const names = Array.from({ length: n }, (_, i) => `k${i}`);
  // v2 JSON: entry 500 is malformed, but only the first 4 inputs (and 3 outputs) are read.
  const inputs = names.map((name, i) => (i === 500 ? { name, datatype: 'FP128' } : { name, datatype: 'FP32', shape: [1], data: [i] }));
  const header = parseJson(JSON.stringify({ inputs, outputs: names.map((name) => ({ name })) }));
  const cut = readInferRequest(header, new Uint8Array(0), true, limits);
  t.same(Object.keys(cut.feeds), ['k0', 'k1', 'k2', 'k3'], 'the first limit + 1 inputs, in order');
  t.equal(cut.inputCount, n);
  t.same(cut.outputs!.map((o) => o.name), ['k0', 'k1', 'k2']);
  t.equal(cut.outputCount, n);
  t.throws(() => readInferRequest(header, new Uint8Array(0)), /input 'k500': datatype "FP128"/, 'read whole without limits');
  // Binary inputs: the bytes after the part read are not "additional input data".
  const binHeader = parseJson(JSON.stringify({ inputs: names.slice(0, 10).map((name) => ({ name, datatype: 'FP32', shape: [1], parameters: { binary_data_size: 4 } })) }));
  const bin = readInferRequest(binHeader, new Uint8Array(40), true, limits);
  t.same([Object.keys(bin.feeds).length, bin.inputCount], [4, 10]);
  const twice = parseJson(JSON.stringify({ inputs: ['a', 'b', 'a', 'c', 'd'].map((name) => ({ name, datatype: 'FP32', shape: [1], data: [1] })) }));
  t.throws(() => readInferRequest(twice, new Uint8Array(0), true, limits), /input 'a' is given twice/, 'a repeat within the part read is named');
  // gRPC: ModelInfer's inputs and outputs, Predict's aliases.
  const infer = { inputs: inputs.map((x, i) => (i === 500 ? { name: x.name, datatype: 'FP128' } : { name: x.name, datatype: 'FP32', shape: [1], contents: { fp32_contents: [i] } })), outputs: names.map((name) => ({ name })) };
  t.same(Object.keys(inferFeeds(infer, true, limits.inputs)), ['k0', 'k1', 'k2', 'k3']);
  t.throws(() => inferFeeds(infer), /input 'k500': datatype "FP128"/);
  const head = inferHead(infer, limits.outputs);
  t.same([head.wanted, head.wantedCount, head.inputCount], [['k0', 'k1', 'k2'], n, n]);
  const predict = { inputs: Object.fromEntries(names.map((name, i) => [name, { dtype: i === 500 ? 8 : 1, tensor_shape: { dim: [{ size: 1 }] }, float_val: [i] }])) };
  t.same(Object.keys(predictFeeds(predict, true, limits.inputs)), ['k0', 'k1', 'k2', 'k3']);
  t.throws(() => predictFeeds(predict), /k500/);
  // The error for the part read: run()'s for its first unknown input, or UNAVAILABLE when it has none.
  const info = { inputs: { k1: { dtype: 'float32', shape: [1] }, k2: { dtype: 'float32', shape: [1] } }, outputs: {}, methodName: '' } as never;
  t.equal(partialInputsError(4, ['k1', 'k2', 'k0', 'k3'], 'serving_default', info), null, 'read whole: nothing to say');
  t.match(partialInputsError(n, ['k1', 'k2', 'k0', 'k3'], 'serving_default', info), { code: 'INVALID_ARGUMENT', message: "signature 'serving_default' has no input 'k0'; its inputs are 'k1', 'k2'" });
  const wide = { inputs: Object.fromEntries(['k0', 'k1', 'k2', 'k3'].map((k) => [k, { dtype: 'float32', shape: [1] }])), outputs: {}, methodName: '' } as never;
  t.match(partialInputsError(n, ['k0', 'k1', 'k2', 'k3'], 'serving_default', wide), { code: 'UNAVAILABLE', message: /names 1000 inputs, more than any signature served had when it was read; send it again/ });
  t.match(cutShort(7, 'outputs'), { code: 'UNAVAILABLE', message: /names 7 outputs/ });
});

t.test("the limits are the largest signature's inputs and outputs (at least 64), counted again when a version changes state", async (t) => {
  const listeners: (() => void)[] = [];
  let width = 10;
  const signature = () => ({
    inputs: Object.fromEntries(Array.from({ length: width }, (_, i) => [`i${i}`, {}])),
    outputs: Object.fromEntries(Array.from({ length: width * 2 }, (_, i) => [`o${i}`, {}])),
  });
  let counted = 0;
  const manager = {
    on: (_: string, listener: () => void) => { listeners.push(listener); },
    status: () => { counted++; return [{ name: 'm', versions: [{ version: 1, state: 'AVAILABLE' }, { version: 2, state: 'LOADING' }] }]; },
    get: (_: string, version: number) => { if (version !== 1) throw new Error('not AVAILABLE'); return { signatures: { a: signature(), b: { inputs: {}, outputs: {} } } }; },
  } as unknown as ModelManager;
  t.same(signatureLimits(manager), { inputs: 64, outputs: 64 }, 'small signatures: the floor');
  width = 100;
  t.same(signatureLimits(manager), { inputs: 64, outputs: 64 }, 'kept while no version changes state');
  t.equal(counted, 1);
  for (const listener of listeners) listener();
  t.same(signatureLimits(manager), { inputs: 100, outputs: 200 });
  t.equal(listeners.length, 1, 'one listener per manager');
});

t.test('binary tensors: a view of the request where they start on a whole element, else a copy', async (t) => {
  const body = new Uint8Array(4 + 4 * 3 + 1);
  new DataView(body.buffer).setFloat32(4, 1.5, true);
  const view = binaryTensor('x', 'float32', [3], body.subarray(4, 16));
  t.equal((view.data as Float32Array).buffer, body.buffer, 'no copy on the event loop: run() copies it on its runner thread if TensorFlow needs it aligned');
  t.equal((view.data as Float32Array)[0], 1.5);
  const odd = binaryTensor('x', 'float32', [3], body.subarray(1, 13));
  t.not((odd.data as Float32Array).buffer, body.buffer, 'bytes that do not start on a whole float are copied');
  // Counts past 2^53 are said exactly (helper-93: 2^64 read 18446744073709552000).
  t.throws(() => binaryTensor('x', 'float32', [2 ** 31, 2 ** 31, 4], body.subarray(4, 16)), { code: 'INVALID_ARGUMENT', message: /^input 'x': binary_data_size 12 bytes, but shape \[2147483648, 2147483648, 4\] of FP32 needs 73786976294838206464$/ });
  const own = binaryTensor('x', 'float32', [3], body.subarray(4, 16), false);
  t.not((own.data as Float32Array).buffer, body.buffer, "a codec thread's small tensors get buffers of their own (a small body's may be Node's Buffer pool, not the thread's to move)");
  t.same(Array.from(own.data as Float32Array), [1.5, 0, 0]);
  // A codec thread's body is its own: a big tensor in it is a view, moved back with the body.
  const n = Buffer.poolSize / 4 + 1;
  const big = new Uint8Array(8 + 4 * n + 1);
  new DataView(big.buffer).setFloat32(8 + 4 * (n - 1), -2.5, true);
  const moved = binaryTensor('x', 'float32', [n], big.subarray(8, 8 + 4 * n), false);
  t.equal((moved.data as Float32Array).buffer, big.buffer, 'a big aligned tensor on a codec thread is a view of its body');
  t.equal((moved.data as Float32Array)[n - 1], -2.5);
  const misaligned = binaryTensor('x', 'float32', [n], big.subarray(9, 9 + 4 * n), false);
  t.not((misaligned.data as Float32Array).buffer, big.buffer, 'a big misaligned one is copied there');
  t.equal(misaligned.data.constructor, Float32Array, 'into a typed array of its own, not the addon\'s memory');
});

t.test('string inputs are packed as they are read: BYTES binary data, v2 JSON, string_val and bytes_contents', async (t) => {
  // A Uint8Array per element took ~110-170 bytes of heap each (helper-60: 20 million empty
  // strings in a 57 MB body, +3.75 GB); packed, 8 bytes each besides the bytes.
  const n = 1_000_000;
  const words = ['', 'a', 'kiwi', '\u00e9t\u00e9', 'x'.repeat(70)];
  const utf8 = new TextEncoder();
  const elements = Array.from({ length: n }, (_, i) => utf8.encode(words[i % words.length]!));
  const check = (tensor: Tensor, how: string) => {
    const [, , data] = tensor.flat();
    t.ok(!ArrayBuffer.isView(data) && (data as { offsets: Float64Array }).offsets.length === n + 1, `${how}: packed bytes and offsets`);
    const got = tensor.bytes();
    let wrong = 0;
    for (let i = 0; i < n; i++) if (Buffer.compare(got[i]!, elements[i]!) !== 0) wrong++;
    t.equal(wrong, 0, `${how}: every element as sent`);
  };
  const binary = outputBytes(new Tensor('string', elements, [n]));
  check(binaryTensor('s', 'string', [n], binary), 'BYTES binary data');
  const json = parseJson(`{"inputs": [{"name": "s", "shape": [${n}], "datatype": "BYTES", "data": ${JSON.stringify(Array.from({ length: n }, (_, i) => words[i % words.length]))}}]}`);
  check(readInferRequest(json, new Uint8Array(0)).feeds.s!, 'v2 JSON');
  const predict = protos().lookupType('tensorflow.serving.PredictRequest');
  const predictBytes = predict.encode({ inputs: { s: { dtype: 7, tensor_shape: { dim: [{ size: n }] }, string_val: elements } } }).finish();
  check(predictFeeds(predict.decode(predictBytes) as never).s!, 'string_val');
  const infer = protos().lookupType('inference.ModelInferRequest');
  const inferBytes = infer.encode({ inputs: [{ name: 's', datatype: 'BYTES', shape: [n], contents: { bytes_contents: elements } }] }).finish();
  check(inferFeeds(infer.decode(inferBytes) as never).s!, 'bytes_contents');
  // Fewer values than the shape: the last fills in, as before.
  const short = predict.decode(predict.encode({ inputs: { s: { dtype: 7, tensor_shape: { dim: [{ size: 3 }] }, string_val: [utf8.encode('a'), utf8.encode('bc')] } } }).finish());
  t.same(predictFeeds(short as never).s!.data, ['a', 'bc', 'bc']);
  t.same(predictFeeds(predict.decode(predict.encode(short).finish()) as never).s!.data, ['a', 'bc', 'bc'], 'a decoded message encodes again');

  // Where the memory goes: 3 million one-byte strings read in a process whose heap holds 64 MB (string_val also 1000 short)
  // (a view per element needed ~330 MB; V8 ends a process past its heap limit).
  const script = `
    const { binaryTensor } = require('./dist/serve/v2.js');
    const { protos, predictFeeds, inferFeeds } = require('./dist/serve/tensor-proto.js');
    const n = 3_000_000;
    const prefixed = Buffer.alloc(5 * n);
    for (let i = 0; i < n; i++) { prefixed.writeUInt32LE(1, 5 * i); prefixed[5 * i + 4] = 97 + (i % 26); }
    // A repeated bytes field on the wire (tag, length 1, the byte), inside a message of the given tag.
    const repeated = (tag) => { const b = Buffer.alloc(3 * n); for (let i = 0; i < n; i++) { b[3 * i] = tag; b[3 * i + 1] = 1; b[3 * i + 2] = 97 + (i % 26); } return b; };
    const varint = (v) => { const out = []; while (v > 127) { out.push((v & 127) | 128); v = Math.floor(v / 128); } out.push(v); return Buffer.from(out); };
    const nested = (tag, body) => Buffer.concat([Buffer.from([tag]), varint(body.length), body]);
    const shape = (size) => nested(0x12, nested(0x12, Buffer.concat([Buffer.from([8]), varint(size)])));
    const strings = repeated(0x42);
    // string_val with every value, and with 1000 fewer than the shape (the last fills them in).
    const predictOf = (size) => nested(0x12, Buffer.concat([nested(0x0a, Buffer.from('s')), nested(0x12, Buffer.concat([Buffer.from([8, 7]), shape(size), strings]))]));
    const predict = predictOf(n);
    const filled = predictOf(n + 1000);
    const infer = nested(0x2a, Buffer.concat([nested(0x0a, Buffer.from('s')), nested(0x12, Buffer.from('BYTES')), Buffer.from([0x18]), varint(n), nested(0x2a, repeated(0x42))]));
    const got = [
      binaryTensor('s', 'string', [n], prefixed),
      predictFeeds(protos().lookupType('tensorflow.serving.PredictRequest').decode(predict)).s,
      predictFeeds(protos().lookupType('tensorflow.serving.PredictRequest').decode(filled)).s,
      inferFeeds(protos().lookupType('inference.ModelInferRequest').decode(infer)).s,
    ];
    const last = (x) => { const { bytes, offsets } = x.flat()[2]; const k = x.shape[0]; return Buffer.from(bytes.subarray(offsets[k - 1], offsets[k])).toString(); };
    console.log(JSON.stringify(got.map((x) => [x.shape[0], last(x)])));`;
  const run = node(script, { PATH: process.env.PATH, NODE_OPTIONS: '--max-old-space-size=64' }, ROOT);
  t.equal(run.status, 0, `read within a 64 MB heap${run.status === 0 ? '' : `: ${run.stderr.slice(-400)}`}`);
  const last = String.fromCharCode(97 + ((3_000_000 - 1) % 26));
  t.same(JSON.parse(run.stdout || 'null'), [[3_000_000, last], [3_000_000, last], [3_001_000, last], [3_000_000, last]], 'every element read, the last filling in');
});

t.test("TensorFlow Serving's text-format model config (serving_config.md's examples)", async (t) => {
  t.same(parseModelServerConfig(`
model_config_list {
  config {
    name: 'my_first_model'
    base_path: '/tmp/my_first_model/'
    model_platform: 'tensorflow'
  }
  config {
    name: 'my_second_model'
    base_path: '/tmp/my_second_model/'
    model_platform: 'tensorflow'
    # serving_config.md's request logging block: accepted (and ignored)
    logging_config {
      log_collector_config {
        type: ""
        filename_prefix: "/tmp/"
      }
      sampling_config {
        sampling_rate: .01
        # the rest of logging_config.proto (helper-139: refused as unknown fields)
        attributes: 3
        per_task_sampling_configs { dc: "aa" task_index: 0 sampling_rate: 1.0 }
        per_task_sampling_configs { dc: "aa" sampling_rate: 0.0 }
      }
      custom_logging_config { type_url: "type.googleapis.com/my.LogConfig" value: "\\001" }
    }
  }
}`), { models: [{ name: 'my_first_model', basePath: '/tmp/my_first_model/' }, { name: 'my_second_model', basePath: '/tmp/my_second_model/' }] });
  t.same(parseModelServerConfig(`
model_config_list: {
  config: {
    name: "half" base_path: "/models/half", model_platform: "tensorflow"
    # versions 42 and 43, and their labels
    model_version_policy { specific { versions: 42 versions: 43 } }
    version_labels { key: 'stable' value: 42 }
    version_labels { key: 'canary' value: 43 }
  }
  config { name: 'b' base_path: '/b' model_version_policy { latest { num_versions: 2 } } }
  config { name: 'c' base_path: '/c' model_version_policy { all {} } }
  config { name: 'd' base_path: '/d' model_version_policy { latest { } } }
}`).models, [
    { name: 'half', basePath: '/models/half', versionPolicy: { specific: [42, 43] }, versionLabels: { stable: 42, canary: 43 } },
    { name: 'b', basePath: '/b', versionPolicy: { latest: 2 } },
    { name: 'c', basePath: '/c', versionPolicy: 'all' },
    { name: 'd', basePath: '/d', versionPolicy: 'latest' },
  ], 'policies, labels, comments, colons and commas as text format allows');
  t.same(parseModelServerConfig(`model_config_list { config [
    { name: 'a' base_path: '/a' version_labels [{ key: "s" value: 1 }, { key: "c" value: 2 }] model_version_policy { specific { versions: [1, 2] } } },
    { name: 'b' base_path: '/b' version_labels: [] logging_config { sampling_config { sampling_rate: 1e-3 } } }
  ] }`).models, [
    { name: 'a', basePath: '/a', versionPolicy: { specific: [1, 2] }, versionLabels: { s: 1, c: 2 } },
    { name: 'b', basePath: '/b' },
  ], 'lists of messages with or without a colon, empty lists, scalar lists');
  t.same(parseModelServerConfig('model_config_list {}').models, [], 'an empty list: no model yet, as TensorFlow Serving serves it (helper-71: refused)');
  // The deprecated model_type, as older configs write it (helper-71: refused as an unknown field).
  t.same(parseModelServerConfig("model_config_list { config { name: 'a' base_path: '/a' model_type: TENSORFLOW } config { name: 'b' base_path: '/b' model_type: 1 } }").models,
    [{ name: 'a', basePath: '/a' }, { name: 'b', basePath: '/b' }], 'model_type: TENSORFLOW (by name or number) is a TensorFlow model');
  const errors: [string, RegExp][] = [
    ['model_config_list { config { name: "a" base_path: "/a" model_type: OTHER } }', /config\[0\] \(a\): model_type OTHER is not served by tfslice/],
    ['model_config_list { config { name: "a" base_path: "/a" model_type: TENSORFLOW model_platform: "tensorflow" } }', /Illegal setting both model_type \(deprecated\) and model_platform/],
    ['model_config_list { config { name: "a" base_path: "/a" model_type: TF } }', /expected one of MODEL_TYPE_UNSPECIFIED, TENSORFLOW, OTHER for ModelServerConfig\.model_config_list\.config\.model_type, found 'TF/],
    ['model_config_list { config { name: ["a", "b"] base_path: "/a" } }', /model_config_list\.config\.name is not a repeated field: give one value, not a list/],
    ['model_config_list { config { name: "a" base_path: "/a" logging_config { sampling_config { sampling_rate: high } } } }', /expected a number for ModelServerConfig\.model_config_list\.config\.logging_config\.sampling_config\.sampling_rate, found 'high'$/],
    ['model_config_list { config { name: "a" base_pth: "/a" } }', /line 1: ModelServerConfig\.model_config_list\.config has no field 'base_pth'/],
    ['model_config_list {\n config { name: "a" }\n}', /config\[0\] \(a\): base_path is missing/],
    ['model_config_list { config { name: "a" base_path: "/a" model_platform: "pytorch" } }', /model_platform "pytorch" is not served by tfslice/],
    ['model_config_list {\n  config {\n    name: "a\n', /line 3: an unterminated string/],
    ['model_config_list { config { name: "a" base_path: "/a" }', /missing '}' to close ModelServerConfig\.model_config_list/],
    ['', /no model_config_list \{ config \{ \.\.\. \} \}: write model_config_list \{\} for no model yet/],
    ['model_config_list { config { name: "a" base_path: "/a" model_version_policy { latest {} all {} } } }', /needs exactly one of latest, all, specific/],
    // Read exactly (a bigint), it is past the bound the message must then name (helper-139: "an integer ≥ 0, got 9007199254740993").
    ['model_config_list { config { name: "a" base_path: "/a" version_labels { key: "big" value: 9007199254740993 } } }', /version_labels\["big"\] must be an integer ≥ 0 and at most 2\^53 − 1 \(Number\.MAX_SAFE_INTEGER\), got 9007199254740993$/],
  ];
  for (const [text, message] of errors) t.throws(() => parseModelServerConfig(text), { name: 'TextFormatError', message }, text);
});

t.test('a text config of 100 000 models is read in about a second, not minutes (each repeated field was copied at every item: 91 s)', async (t) => {
  // Not a speed test: the bound is ~20× what it takes here, and catches only the quadratic.
  const n = 100_000;
  const text = `model_config_list { ${Array.from({ length: n }, (_, i) => `config { name: 'm${i}' base_path: '/models/m${i}' version_labels { key: 'stable' value: ${i} } } `).join('')}}`;
  const started = performance.now();
  const { models } = parseModelServerConfig(text);
  const took = performance.now() - started;
  t.equal(models.length, n);
  t.same(models[n - 1], { name: `m${n - 1}`, basePath: `/models/m${n - 1}`, versionLabels: { stable: n - 1 } });
  t.ok(took < 15_000, `read in ${took.toFixed(0)} ms`);
});

t.test('a text-format model config that the ModelManager would refuse is named in its own field names', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-tfs-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cases: [string, RegExp][] = [
    ['model_config_list { config { name: "a" base_path: "/a" } config { name: "a" base_path: "/b" } }', /^\S+ \(TensorFlow Serving's text-format model config\): model_config_list\.config\[1\]\.name must be unique, got "a"$/],
    ['model_config_list { config { name: "a" base_path: "/a" model_version_policy { specific { } } } }', /^\S+ \(TensorFlow Serving's text-format model config\): model_config_list\.config\[0\]\.model_version_policy\.specific\.versions must be a non-empty array of versions/],
    ['model_config_list { config { name: "a" base_path: "/a" version_labels { key: "st able" value: 1 } } }', /^\S+ \(TensorFlow Serving's text-format model config\): model_config_list\.config\[0\]\.version_labels key "st able" must be a label/],
  ];
  for (const [text, message] of cases) {
    const file = path.join(dir, 'models.conf');
    fs.writeFileSync(file, text);
    await t.rejects(readConfigFile(file), { message }, text);
  }
});

t.test('plain values: bool bytes other than 0 and 1 read as true; nesting past 254 levels is INVALID_ARGUMENT, not a stack overflow', async (t) => {
  t.same(tensorToJson(new Tensor('bool', Uint8Array.of(2, 0, 1, 255), [4])), [true, false, true, true], 'any nonzero byte is true, as numpy and the kernels read it');
  let deep: unknown = [1];
  for (let i = 0; i < 20_000; i++) deep = [deep];
  t.throws(() => tensorFromValue(deep, { dtype: 'float32', shape: null }, "feed 'x'"), { code: 'INVALID_ARGUMENT', message: /^feed 'x': shape has more than 255 dimensions; TensorFlow allows at most 254/ });
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  t.throws(() => tensorFromValue(cyclic, { dtype: 'float32', shape: null }, "feed 'x'"), { code: 'INVALID_ARGUMENT', message: /^feed 'x': shape has more than 255 dimensions; TensorFlow allows at most 254/ }, 'an array that contains itself (was an endless loop, then V8 out of memory)');
  // float16/bfloat16 through float32, as TensorFlow's cast from float64 (numpy's float16 gives 0x3c01).
  t.same(Array.from(tensorFromValue([1 + 2 ** -11 + 2 ** -40, 65519.99999], { dtype: 'float16', shape: [2] }, "feed 'h'").data as Uint16Array), [0x3c00, 0x7c00], 'float16 as tf.cast from float64 rounds');
  t.same(Array.from(tensorFromValue([(1 + 2 ** -8) * (1 + 2 ** -40)], { dtype: 'bfloat16', shape: [1] }, "feed 'b'").data as Uint16Array), [0x3f80], 'bfloat16 as tf.cast from float64 rounds');
  let ok: unknown = 1;
  for (let i = 0; i < 254; i++) ok = [ok];
  t.same(tensorFromValue(ok, { dtype: 'float32', shape: null }, "feed 'x'").shape.length, 254, '254 levels are a tensor of rank 254');
});

t.test("TensorProto's and InferTensorContents' numeric fields: typed arrays, read (and TensorProto's written) as protobufjs's generated code reads and writes them", async (t) => {
  const ours = protos().lookupType('tensorflow.TensorProto');
  const reference = new Root().loadSync(path.join(PROTO_DIR, 'tensorflow.proto'), { keepCase: true }).resolveAll().lookupType('tensorflow.TensorProto');
  const FIELDS = { float_val: 5, double_val: 6, int_val: 7, int64_val: 10, bool_val: 11, half_val: 13, uint32_val: 16, uint64_val: 17 } as const;
  type Field = keyof typeof FIELDS;
  // A decoded message's fields as plain values, so either decoder's can be compared.
  const plainOf = (m: Record<string, unknown>) => {
    const out: Record<string, unknown> = { dtype: m.dtype ?? 0, version_number: m.version_number ?? 0, tensor_content: Buffer.from((m.tensor_content as Uint8Array | undefined) ?? []).toString('hex') };
    out.tensor_shape = ((m.tensor_shape as { dim?: { size: unknown }[] } | undefined)?.dim ?? []).map((d) => String(d.size));
    out.string_val = Array.from((m.string_val as Iterable<Uint8Array> | undefined) ?? [], (s) => Buffer.from(s).toString('hex')); // ours: a BytesList
    for (const field of Object.keys(FIELDS)) {
      out[field] = Array.from((m[field] as ArrayLike<unknown> | undefined) ?? [], (v) => (typeof v === 'number' ? (Object.is(v, -0) ? '-0' : String(v)) : typeof v === 'boolean' ? String(Number(v)) : String(v)));
    }
    return out;
  };
  // Short lists, and lists past the 64 elements read element by element (longer ones are copied).
  const list = <T>(arb: fc.Arbitrary<T>) => fc.oneof(fc.array(arb, { maxLength: 8 }), fc.array(arb, { minLength: 60, maxLength: 140 }));
  const message = fc.record({
    dtype: fc.integer({ min: 0, max: 30 }),
    version_number: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    tensor_shape: fc.record({ dim: fc.array(fc.record({ size: fc.bigInt({ min: -1n, max: 2n ** 40n }).map(String) }), { maxLength: 4 }) }),
    tensor_content: fc.uint8Array({ maxLength: 16 }),
    float_val: list(fc.float({ noNaN: true })),
    double_val: list(fc.double({ noNaN: true })),
    int_val: list(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
    half_val: list(fc.integer({ min: 0, max: 65535 })),
    uint32_val: list(fc.nat({ max: 2 ** 32 - 1 })),
    bool_val: list(fc.boolean()),
    int64_val: list(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
    uint64_val: list(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    string_val: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 4 }),
  });
  const forReference = (m: Record<string, unknown>) => ({ ...m, int64_val: (m.int64_val as bigint[]).map(String), uint64_val: (m.uint64_val as bigint[]).map(String) });
  fc.assert(fc.property(message, message, (a, b) => {
    // Both decoders on the generated encoder's bytes, one message and two concatenated (a merge).
    const bytesA = reference.encode(forReference(a)).finish();
    const both = Buffer.concat([bytesA, reference.encode(forReference(b)).finish()]);
    for (const bytes of [bytesA, both]) {
      const decoded = ours.decode(bytes) as unknown as Record<string, unknown>;
      const kinds: [string, unknown][] = [['float_val', Float32Array], ['double_val', Float64Array], ['int_val', Int32Array], ['int64_val', BigInt64Array], ['uint64_val', BigUint64Array], ['bool_val', Uint8Array]];
      for (const [field, kind] of kinds) if ((decoded[field] as unknown[]).length > 0) assert.equal((decoded[field] as object).constructor, kind, field);
      assert.deepStrictEqual(plainOf(decoded), plainOf(reference.decode(bytes) as unknown as Record<string, unknown>));
    }
    // Our encoder, from typed arrays and from arrays: the generated decoder reads back the message.
    const typed = { ...a, float_val: Float32Array.from(a.float_val), int64_val: BigInt64Array.from(a.int64_val), uint64_val: BigUint64Array.from(a.uint64_val), int_val: Int32Array.from(a.int_val) };
    for (const m of [a, typed]) assert.deepStrictEqual(plainOf(reference.decode(ours.encode(m).finish()) as unknown as Record<string, unknown>), plainOf(reference.decode(bytesA) as unknown as Record<string, unknown>));
  }), { numRuns: 300 });
  t.pass('300 random pairs: decoded alike alone and merged, and written so the generated code reads them back');

  // Repeated scalars unpacked, or packed in several pieces, are read as one list (protobuf's rule).
  const int64s = [0n, 1n, -1n, 127n, 128n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n];
  const values: Record<Field, unknown[]> = {
    float_val: [1.5, -0, 3e38, -2.5], double_val: [1e-300, -0, 5e300], int_val: [0, 1, -1, 300, -(2 ** 31), 2 ** 31 - 1], half_val: [0, 15360, 65535],
    uint32_val: [0, 127, 128, 2 ** 32 - 1], bool_val: [true, false, true], int64_val: int64s.map(String), uint64_val: [0n, 2n ** 64n - 1n, 2n ** 63n].map(String),
  };
  const wireType = (field: Field) => (field === 'float_val' ? 5 : field === 'double_val' ? 1 : 0);
  const writeOne = (w: Writer, field: Field, v: unknown) => {
    switch (field) {
      case 'float_val': return w.float(v as number);
      case 'double_val': return w.double(v as number);
      case 'int_val': case 'half_val': return w.int32(v as number);
      case 'uint32_val': return w.uint32(v as number);
      case 'bool_val': return w.bool(v as boolean);
      default: return w.uint64(Long.fromString(v as string, field === 'uint64_val'));
    }
  };
  for (const field of Object.keys(values) as Field[]) {
    const list = values[field];
    const w = Writer.create().uint32(8).int32(1);
    // The first element unpacked, the next two packed, the rest unpacked again.
    writeOne(w.uint32((FIELDS[field] << 3) | wireType(field)), field, list[0]);
    w.uint32((FIELDS[field] << 3) | 2).fork();
    for (const v of list.slice(1, 3)) writeOne(w, field, v);
    w.ldelim();
    for (const v of list.slice(3)) writeOne(w.uint32((FIELDS[field] << 3) | wireType(field)), field, v);
    const bytes = w.finish();
    t.same(plainOf(ours.decode(bytes) as unknown as Record<string, unknown>), plainOf(reference.decode(bytes) as unknown as Record<string, unknown>), `${field}: unpacked and packed pieces`);
  }

  // Many unpacked elements (as a proto2 writer sends them) gather into one typed array.
  const many = Writer.create();
  for (let i = 0; i < 100_000; i++) many.uint32((FIELDS.float_val << 3) | 5).float(i / 4).uint32(FIELDS.int64_val << 3).int64(-i);
  const gathered = ours.decode(many.finish()) as unknown as Record<string, unknown>;
  t.ok(gathered.float_val instanceof Float32Array && (gathered.float_val as Float32Array).length === 100_000 && (gathered.float_val as Float32Array)[99_999] === 99_999 / 4, '100 000 unpacked float_val values');
  t.ok(gathered.int64_val instanceof BigInt64Array && (gathered.int64_val as BigInt64Array)[99_999] === -99_999n, 'and int64_val values, interleaved');

  // Hostile bytes (random, or a valid message with bytes changed and its end cut off): an Error
  // or the generated decoder's answer, never anything else.
  const damaged = fc.tuple(message, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }), fc.nat()).map(([m, edits, cut]) => {
    const bytes = Uint8Array.from(reference.encode(forReference(m)).finish());
    for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value;
    return bytes.subarray(0, bytes.length - (cut % 3));
  });
  let agreed = 0;
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), damaged), (bytes) => {
    let mine: Record<string, unknown> | Error;
    let theirs: Record<string, unknown> | Error;
    try { mine = ours.decode(bytes) as unknown as Record<string, unknown>; } catch (error) { mine = error as Error; }
    try { theirs = reference.decode(bytes) as unknown as Record<string, unknown>; } catch (error) { theirs = error as Error; }
    if (mine instanceof Error) return true;
    if (theirs instanceof Error) return false;
    agreed++;
    assert.deepStrictEqual(plainOf(mine), plainOf(theirs));
    return true;
  }), { numRuns: 10_000 });
  t.ok(agreed > 1000, `${agreed} of 10 000 hostile byte strings decoded, alike; the rest refused`);

  // KServe's InferTensorContents, decoded the same way.
  const contents = protos().lookupType('inference.InferTensorContents');
  const contentsReference = new Root().loadSync(path.join(PROTO_DIR, 'inference.proto'), { keepCase: true }).resolveAll().lookupType('inference.InferTensorContents');
  const CONTENTS = ['bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents'];
  const contentsOf = (m: Record<string, unknown>) => Object.fromEntries([...CONTENTS.map((f) => [f, Array.from((m[f] as ArrayLike<unknown> | undefined) ?? [], (v) => (typeof v === 'boolean' ? String(Number(v)) : Object.is(v, -0) ? '-0' : String(v)))]),
    ['bytes_contents', Array.from((m.bytes_contents as Iterable<Uint8Array> | undefined) ?? [], (b) => Buffer.from(b).toString('hex'))]]);
  const contentsMessage = fc.record({
    bool_contents: list(fc.boolean()), int_contents: list(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
    int64_contents: list(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)), uint_contents: list(fc.nat({ max: 2 ** 32 - 1 })),
    uint64_contents: list(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String)), fp32_contents: list(fc.float({ noNaN: true })),
    fp64_contents: list(fc.double({ noNaN: true })), bytes_contents: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 4 }),
  });
  fc.assert(fc.property(contentsMessage, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 2 }), (m, edits) => {
    const bytes = Uint8Array.from(contentsReference.encode(m).finish());
    for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value;
    let mine: Record<string, unknown> | Error;
    let theirs: Record<string, unknown> | Error;
    try { mine = contents.decode(bytes) as unknown as Record<string, unknown>; } catch (error) { mine = error as Error; }
    try { theirs = contentsReference.decode(bytes) as unknown as Record<string, unknown>; } catch (error) { theirs = error as Error; }
    if (mine instanceof Error) return edits.length > 0; // only damaged bytes may be refused
    if (theirs instanceof Error) return false;
    if (edits.length === 0 && (m.fp32_contents.length > 0) !== (mine.fp32_contents instanceof Float32Array)) return false;
    assert.deepStrictEqual(contentsOf(mine), contentsOf(theirs));
    return true;
  }), { numRuns: 1000 });
  t.pass("InferTensorContents: 1000 random messages, some damaged, decoded as protobufjs's generated code decodes them");

  // Into tensors: the typed array itself when it holds every element, a copy when one value fills the shape.
  const x = ours.decode(ours.encode({ dtype: 1, tensor_shape: { dim: [{ size: 3 }] }, float_val: [1, 2, 3] }).finish()) as unknown as Record<string, unknown>;
  const tensor = tensorFromProto(x, 'x');
  t.equal(tensor.data, x.float_val, 'float_val becomes the tensor without a copy');
  const filled = tensorFromProto(ours.decode(ours.encode({ dtype: 9, tensor_shape: { dim: [{ size: 3 }] }, int64_val: ['9007199254740993'] }).finish()) as unknown as Record<string, unknown>, 'x');
  t.same(Array.from(filled.data as BigInt64Array), [2n ** 53n + 1n, 2n ** 53n + 1n, 2n ** 53n + 1n], 'one int64 value fills the shape, exact past 2^53');
  t.same(Array.from(tensorFromProto({ dtype: 4, tensor_shape: { dim: [{ size: 2 }] }, int_val: Int32Array.of(257, -1) }, 'x').data as Uint8Array), [1, 255], 'int_val into uint8 wraps as TensorFlow casts');
  // What a request fills in from fewer values is bounded for the request, all inputs together:
  // a 35-byte Predict filling 16 Mi elements held ~200 MB (found by a trial, helper-39).
  const fillOf = (size: number) => ({ dtype: 1, tensor_shape: { dim: [{ size }] }, float_val: [1] });
  t.equal(predictFeeds({ inputs: { a: fillOf(MAX_FILLED_ELEMENTS + 1) } }).a!.size, MAX_FILLED_ELEMENTS + 1, 'one value fills 1 Mi elements');
  t.throws(() => predictFeeds({ inputs: { a: fillOf(600_000), b: fillOf(600_000) } }),
    { code: 'INVALID_ARGUMENT', message: /^input 'b': shape \[600000\] has 600000 elements but float_val gives 1; tfslice fills in at most 1048576 elements per request from fewer values: send every value \(or tensor_content\)$/ }, 'two inputs share the bound');
  // A string repeated fills in its bytes as often: one 1 MB string in 1000 elements was 1 GB (found by helper-40).
  const stringFill = (size: number, bytes: number) => ({ dtype: 7, tensor_shape: { dim: [{ size }] }, string_val: [new Uint8Array(bytes)] });
  t.throws(() => predictFeeds({ inputs: { s: stringFill(1000, 1_000_000) } }), { code: 'INVALID_ARGUMENT', message: /^input 's': shape \[1000\] has 1000 elements but string_val gives 1; tfslice fills in at most 4194304 bytes of strings per request from fewer values \(each element filled in counted as at least 4, the last string's 1000000 here\): send every value$/ });
  t.equal(predictFeeds({ inputs: { s: stringFill(1000, 4000) } }).s!.size, 1000, 'a 4 KB string fills 1000 elements (4 MB)');
});
