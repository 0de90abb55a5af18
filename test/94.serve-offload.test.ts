// Big bodies off the event loop (lib/serve/codec.ts): a server that reads and writes every body
// on its codec threads (offloadBytes 0) answers byte for byte as one that does it all on the
// event loop (offloadBytes Infinity), for TensorFlow Serving's REST API and KServe v2 (JSON and
// the binary extension), every dtype and the errors; Python's requests is the client. And while
// a big body is read, the server goes on answering health probes.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

import { ModelManager, Tensor } from '../lib/index';
import { createServer } from '../lib/serve';
import { fromWire, jsonWeight, toWire } from '../lib/serve/codec';
import { basePath as sharedBasePath, PYTHON } from './helpers';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-offload-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const basePath = (name: string, versions: Record<number, string>): string => sharedBasePath(tmp, name, versions);

const manager = new ModelManager({
  models: [
    { name: 'half', basePath: basePath('half', { 1: 'half_plus_two' }) },
    { name: 'dtypes', basePath: basePath('dtypes', { 1: 'dtypes' }) },
    { name: 'ints', basePath: basePath('ints', { 1: 'ints' }) },
    { name: 'vocab', basePath: basePath('vocab', { 1: 'tf1_vocab' }) },
    { name: 'pass', basePath: basePath('pass', { 1: 'passthrough' }) },
  ],
});

let offloaded = '';
let inline = '';
t.before(async () => {
  await manager.start();
  const a = await createServer({ manager, offloadBytes: 0, codecThreads: 2 });
  const b = await createServer({ manager, offloadBytes: Infinity });
  offloaded = await a.listen({ host: '127.0.0.1', port: 0 });
  inline = await b.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await a.close();
    await b.close();
    await manager.stop();
  });
});

interface Request {
  what: string;
  path: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

const json = (what: string, where: string, body: unknown): Request => ({ what, path: where, body: JSON.stringify(body) });
const raw = (what: string, where: string, body: string): Request => ({ what, path: where, body });

/** A v2 request with the binary extension: the JSON header, then the bytes. */
function binary(what: string, where: string, header: unknown, ...parts: Buffer[]): Request {
  const head = Buffer.from(JSON.stringify(header));
  return { what, path: where, body: Buffer.concat([head, ...parts]), headers: { 'Inference-Header-Content-Length': String(head.byteLength), 'Content-Type': 'application/octet-stream' } };
}

const f32 = (...values: number[]) => Buffer.from(new Float32Array(values).buffer);
const bytesElements = (...items: Buffer[]) => Buffer.concat(items.flatMap((b) => [Buffer.from(new Uint32Array([b.byteLength]).buffer), b]));

const everyDtype = {
  b: [true, false], bf16: [1.5, -2], f16: [0.5, 65504], f32: ['NaN', 3.4028234663852886e38], f64: [0.1, '-Infinity'],
  i16: [-32768, 7], i32: [2147483647, -1], i64: [9223372036854775807n, -9007199254740993n], i8: [-128, 127],
  s: ['héllo', { b64: Buffer.from([0xff, 0x00, 0xfe]).toString('base64') }], u16: [65535, 0], u32: [4294967295, 1],
  u64: [18446744073709551615n, 0], u8: [255, 0],
};
// JSON with bigints written as integer digits (JSON.stringify cannot), and NaN as a bare token.
const dialect = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `@@${v}@@` : v)).replace(/"@@(-?\d+)@@"/g, '$1').replace(/"(NaN|-?Infinity)"/g, '$1');

const REQUESTS: Request[] = [
  json('the quickstart', '/v1/models/half:predict', { instances: [1.0, 2.0, 5.0] }),
  json('columnar', '/v1/models/half:predict', { inputs: [[1.5], [2.5]] }),
  json('a named signature', '/v1/models/half:predict', { signature_name: 'serving_default', instances: [[3]] }),
  raw('every dtype, columnar', '/v1/models/dtypes:predict', dialect({ inputs: everyDtype })),
  raw('every dtype, row format', '/v1/models/dtypes:predict', dialect({ instances: [0, 1].map((i) => Object.fromEntries(Object.entries(everyDtype).map(([k, v]) => [k, v[i]]))) })),
  json('strings in, int64 and float out', '/v1/models/vocab:predict', { instances: ['apple', 'kiwi', 'banana'] }),
  json('outputs that are inputs, several outputs by row', '/v1/models/pass:predict', { instances: [{ x: 1, key: 'a' }, { x: 2, key: { b64: 'AAE=' } }] }),
  raw('int64 past 2^53', '/v1/models/ints:predict', '{"inputs": {"a": [1, 2], "b": [9007199254740993, -9223372036854775808]}}'),
  raw('classify with a context', '/v1/models/half:classify', '{"signature_name": "classify_x_to_y", "context": {"x": 1.0}, "examples": [{}, {"x": 3.0}]}'),
  raw('regress', '/v1/models/half:regress', '{"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": [4.5]}]}'),
  raw('malformed JSON', '/v1/models/half:predict', '{"instances": [1.0,'),
  { what: 'not UTF-8', path: '/v1/models/half:predict', body: Buffer.concat([Buffer.from('{"instances": ["'), Buffer.from([0xff]), Buffer.from('"]}')]) },
  raw('an empty body', '/v1/models/half:predict', ''),
  json('no instances', '/v1/models/half:predict', { instances: [] }),
  json('both keys', '/v1/models/half:predict', { instances: [1], inputs: [1] }),
  raw('a float past float32', '/v1/models/half:predict', '{"instances": [1e39]}'),
  json('an unknown signature', '/v1/models/half:predict', { signature_name: 'nope', instances: [1] }),
  json('1.5 for an int32', '/v1/models/ints:predict', { inputs: { a: [1.5], b: [1] } }),
  json('ragged', '/v1/models/half:predict', { instances: [[1], [2, 3]] }),
  raw('nested past 254 levels', '/v1/models/half:predict', `{"instances": ${'['.repeat(300)}1${']'.repeat(300)}}`),
  json('classify without examples', '/v1/models/half:classify', { signature_name: 'classify_x_to_y' }),
  json('a tf.Example of mixed types', '/v1/models/half:regress', { signature_name: 'regress_x_to_y', examples: [{ x: [1.0, 2] }] }),
  json('v2 JSON', '/v2/models/half/infer', { id: 'q', inputs: [{ name: 'x', shape: [3, 1], datatype: 'FP32', data: [[1], [2], [5]] }] }),
  raw('v2 INT64 exact', '/v2/models/ints/infer', '{"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}, {"name": "b", "shape": [2], "datatype": "INT64", "data": [9007199254740993, 1]}]}'),
  json('v2 BYTES, one output, binary by default', '/v2/models/vocab/infer', { inputs: [{ name: 'words', shape: [2], datatype: 'BYTES', data: ['apple', 'date'] }], outputs: [{ name: 'ids' }], parameters: { binary_data_output: true } }),
  json('v2 one output as JSON, one binary', '/v2/models/pass/infer', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }, { name: 'key', shape: [1], datatype: 'BYTES', data: ['a'] }], outputs: [{ name: 'key' }, { name: 'doubled', parameters: { binary_data: true } }] }),
  json('v2 an unknown output', '/v2/models/half/infer', { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }], outputs: [{ name: 'nope' }] }),
  json('v2 a shape the data does not fill', '/v2/models/half/infer', { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1] }] }),
  binary('v2 binary both ways', '/v2/models/half/infer', { inputs: [{ name: 'x', shape: [3, 1], datatype: 'FP32', parameters: { binary_data_size: 12 } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] }, f32(1, 2, 5)),
  binary('v2 binary BYTES in, JSON out', '/v2/models/vocab/infer', { inputs: [{ name: 'words', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 17 } }] }, bytesElements(Buffer.from('apple'), Buffer.from('kiwi'))),
  binary('v2 BYTES that are not UTF-8 asked for as JSON', '/v2/models/pass/infer', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }, { name: 'key', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 6 } }], outputs: [{ name: 'key' }] }, f32(1), bytesElements(Buffer.from([0xff, 0xfe]))),
  binary('v2 binary cut short', '/v2/models/half/infer', { inputs: [{ name: 'x', shape: [3, 1], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }, f32(1, 2)),
  binary('v2 binary with bytes left over', '/v2/models/half/infer', { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }, f32(1, 2)),
  { what: 'v2 a header length past the body', path: '/v2/models/half/infer', body: '{}', headers: { 'Inference-Header-Content-Length': '99' } },
];

t.test('offloadBytes 0 and Infinity answer byte for byte alike (Python requests)', async (t) => {
  const requests = REQUESTS.map((r) => ({ path: r.path, body: Buffer.from(r.body).toString('base64'), headers: r.headers ?? { 'Content-Type': 'application/json' } }));
  const file = path.join(tmp, 'requests.json');
  fs.writeFileSync(file, JSON.stringify(requests));
  const { stdout } = await run(PYTHON, ['-c', `
import base64, json, sys, requests
out = []
for url in sys.argv[2:]:
    answers = []
    for r in json.load(open(sys.argv[1])):
        a = requests.post(url + r['path'], data=base64.b64decode(r['body']), headers=r['headers'])
        answers.append([a.status_code, a.headers.get('Content-Type'), a.headers.get('Inference-Header-Content-Length'), base64.b64encode(a.content).decode()])
    out.append(answers)
print(json.dumps(out))
`, file, offloaded, inline], { maxBuffer: 64 << 20 });
  const [a, b] = JSON.parse(stdout) as [string, string, string, string][][];
  REQUESTS.forEach((r, i) => {
    const [status, type, header, body] = a![i]!;
    const text = Buffer.from(body, 'base64').toString();
    t.same([status, type, header, text], [b![i]![0], b![i]![1], b![i]![2], Buffer.from(b![i]![3], 'base64').toString()], `${r.what}: ${status} ${text.slice(0, 100)}`);
  });
  // Both kinds of answer are in the list: the comparison is not of errors alone.
  t.ok(a!.filter(([s]) => Number(s) === 200).length >= 12, 'successes compared');
  t.ok(a!.filter(([s]) => Number(s) === 400).length >= 10, 'errors compared');
});

t.test('a big body offloaded is read after its model is known: an unknown model is named first', async (t) => {
  const post = (url: string) => fetch(`${url}/v1/models/nope:predict`, { method: 'POST', body: '{"instances": [1.0,' });
  const [a, b] = await Promise.all([post(offloaded), post(inline)]);
  t.equal(a.status, 404, 'offloaded: the model is looked up first');
  t.match(await a.json(), { error: /nope/ });
  t.equal(b.status, 400, 'on the event loop: the body is read first (as TensorFlow Serving)');
});

t.test('while a big body is read and its answer written, health probes are answered', async (t) => {
  const n = 1_000_000;
  const values = Array.from({ length: n }, (_, i) => (i % 997) / 8);
  const body = Buffer.from(JSON.stringify({ instances: values }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = (url: string) => new Promise<number>((resolve, reject) => {
    http.get(`${url}/v2/health/live`, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
  });
  await get(offloaded);
  const started = performance.now();
  let done = false;
  const big = fetch(`${offloaded}/v1/models/half:predict`, { method: 'POST', body }).then(async (r) => ({ status: r.status, text: await r.text() })).finally(() => { done = true; });
  const answered: number[] = [];
  const failed: number[] = [];
  while (!done) {
    const status = await get(offloaded);
    if (status !== 200) failed.push(status);
    answered.push(performance.now());
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const result = await big;
  const took = performance.now() - started;
  t.equal(result.status, 200);
  const predictions = JSON.parse(result.text).predictions as number[];
  t.equal(predictions.length, n);
  t.equal(predictions[996], 0.5 * (996 / 8) + 2, 'the answer is the model\'s');
  let longest = 0;
  let last = started;
  for (const at of answered) {
    longest = Math.max(longest, at - last);
    last = at;
  }
  t.same(failed, [], 'every probe answered 200');
  t.ok(answered.length >= 5, `${answered.length} probes answered in the ${took.toFixed(0)} ms the request took`);
  t.ok(longest < took / 3, `the longest wait between two probe answers, ${longest.toFixed(0)} ms, is under a third of the request's ${took.toFixed(0)} ms`);
});

t.test('tensors cross to a codec thread and back in their flat form, unchanged', async (t) => {
  const backing = new Float32Array([9, 1, 2, 3, 9]);
  const tensors = {
    view: new Tensor('float32', backing.subarray(1, 4), [3]),
    big: new Tensor('int64', new BigInt64Array([2n ** 62n, -1n]), [2, 1]),
    s: new Tensor('string', ['a', new Uint8Array([0xff]), ''], [3]),
    b: new Tensor('bool', new Uint8Array([1, 0]), [2]),
  };
  const copied = toWire(tensors, true);
  t.same(copied.transfer, [], 'outputs are copied, not moved (their memory is not ours to detach)');
  t.equal((copied.tensors.view![2] as Float32Array).byteLength, 12, 'a view is sent as its own bytes, not its whole buffer');
  const moved = toWire(tensors, false);
  t.equal(moved.transfer.length, 5, 'every buffer listed once: view, int64, strings bytes and offsets, bool');
  const back = fromWire(structuredClone(moved.tensors));
  t.same([...(back.view!.data as Float32Array)], [1, 2, 3]);
  t.same(back.big!.shape, [2, 1]);
  t.same([...(back.big!.data as BigInt64Array)], [2n ** 62n, -1n]);
  t.same(back.s!.bytes().map((b) => [...b]), [[0x61], [0xff], []]);
  t.same([...(back.b!.data as Uint8Array)], [1, 0]);
  t.equal(backing[0], 9, 'the caller\'s buffer is untouched');
  t.equal(jsonWeight([tensors.view, tensors.s]), 24 + 2 + 12, 'two bytes per byte of numbers; strings: bytes + 4 each');
});

t.test('options are checked', async (t) => {
  await t.rejects(createServer({ manager, offloadBytes: -1 }), { name: 'TypeError', message: /offloadBytes/ });
  await t.rejects(createServer({ manager, codecThreads: 0 }), { name: 'TypeError', message: /codecThreads/ });
});
