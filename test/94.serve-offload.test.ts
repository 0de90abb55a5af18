// Big bodies off the event loop (lib/serve/codec.ts): a server that reads and writes every body
// on its codec threads (offloadBytes 0) answers byte for byte as one that does it all on the
// event loop (offloadBytes Infinity), for TensorFlow Serving's REST API and KServe v2 (JSON and
// the binary extension), every dtype and the errors, with Python's requests as the client; and
// for gRPC's Predict and ModelInfer, with Python's grpcio and message classes protoc generates.
// And while a big body is read, the server goes on answering health probes.
import { execFile, execFileSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { Piscina } from 'piscina';
import t from 'tap';

import { loadModel, ModelManager, QueueFullError, Tensor } from '../lib/index';
import { native } from '../lib/native';
import { bindGrpc, closeGrpc, createGrpcServer, createServer } from '../lib/serve';
import { Codec, fromWire, jsonWeight, toWire } from '../lib/serve/codec';
import { Deadline, withDeadline } from '../lib/serve/server';
import { basePath as sharedBasePath, fixture, PYTHON, ROOT, startServe } from './helpers';

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
let grpcOffloaded = '';
let grpcInline = '';
t.before(async () => {
  await manager.start();
  const a = await createServer({ manager, offloadBytes: 0, codecThreads: 2 });
  const b = await createServer({ manager, offloadBytes: Infinity });
  offloaded = await a.listen({ host: '127.0.0.1', port: 0 });
  inline = await b.listen({ host: '127.0.0.1', port: 0 });
  const ga = createGrpcServer({ manager, offloadBytes: 0 });
  const gb = createGrpcServer({ manager, offloadBytes: Infinity });
  grpcOffloaded = `127.0.0.1:${await bindGrpc(ga, '127.0.0.1', 0)}`;
  grpcInline = `127.0.0.1:${await bindGrpc(gb, '127.0.0.1', 0)}`;
  t.teardown(async () => {
    await a.close();
    await b.close();
    await closeGrpc(ga);
    await closeGrpc(gb);
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
  { what: 'gzip', path: '/v1/models/half:predict', body: zlib.gzipSync('{"instances": [1.0, 2.0]}'), headers: { 'Content-Encoding': 'gzip' } },
  { what: 'deflate, v2', path: '/v2/models/half/infer', body: zlib.deflateSync('{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [4]}]}'), headers: { 'Content-Encoding': 'deflate' } },
  { what: 'an encoding not supported', path: '/v1/models/half:predict', body: zlib.gzipSync('{"instances": [1.0]}'), headers: { 'Content-Encoding': 'br' } },
  { what: 'not gzip at all', path: '/v1/models/half:predict', body: 'garbage', headers: { 'Content-Encoding': 'gzip' } },
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
  t.same(a!.slice(-4).map(([s]) => s), [200, 200, 415, 400], 'gzip and deflate bodies are read; other encodings are 415, bad gzip 400');
  // And counted alike: a body that does not read is no run, of no version.
  const counted = async (url: string) => (await (await fetch(`${url}/metrics`)).text()).split('\n')
    .filter((line) => /^tfslice_(requests_total|run_duration_seconds_count)\{.*model="(half|dtypes|ints|vocab|pass)"/.test(line)).sort();
  const [ma, mb] = await Promise.all([counted(offloaded), counted(inline)]);
  t.ok(ma.some((line) => /version="",api="predict",status="INVALID_ARGUMENT"/.test(line)), 'malformed bodies counted without a version');
  t.same(ma, mb, 'the same requests and runs counted by model, version, API and status');
});

t.test('a body sent a few bytes at a time (chunked, from a Python generator) is kept in 64 KiB blocks, and answered as inline', async (t) => {
  const body = JSON.stringify({ instances: Array.from({ length: 30_000 }, (_, i) => i / 4) });
  const file = path.join(tmp, 'chunked.json');
  fs.writeFileSync(file, body);
  const { stdout } = await run(PYTHON, ['-c', `
import json, sys, requests
data = open(sys.argv[1], 'rb').read()
def pieces():
    for i in range(0, len(data), 7):
        yield data[i:i + 7]
out = []
for url in sys.argv[2:]:
    r = requests.post(url + '/v1/models/half:predict', data=pieces())
    out.append([r.status_code, r.text[:60], len(r.text)])
print(json.dumps(out))
`, file, offloaded, inline], { maxBuffer: 16 << 20 });
  const [a, b] = JSON.parse(stdout) as [number, string, number][];
  t.equal(a![0], 200);
  t.same(a, b, `${Math.ceil(body.length / 7)} chunks of 7 bytes: the same answer`);

  // The parser itself: 100 000 chunks of 3 bytes become a handful of blocks.
  const { bodyParser, BodyChunks } = await import('../lib/serve/body');
  const pieces = Array.from({ length: 100_000 }, (_, i) => Buffer.from([i & 0xff, (i >> 8) & 0xff, 7]));
  const read = await new Promise<unknown>((resolve, reject) => bodyParser(1 << 30, 0)({ headers: {} }, Readable.from(pieces), (error, value) => (error ? reject(error) : resolve(value))));
  t.ok(read instanceof BodyChunks);
  const chunks = (read as InstanceType<typeof BodyChunks>).chunks;
  t.ok(chunks.length <= 5 && chunks.slice(0, -1).every((c) => c.byteLength >= 64 * 1024), `${chunks.length} blocks for 300 000 bytes`);
  t.ok(Buffer.concat(pieces).equals((read as InstanceType<typeof BodyChunks>).join()), 'the same bytes, in order');
});

t.test('time on the codec threads is not the model\'s: a body that takes longer to read than the time limit is answered', async (t) => {
  const app = await createServer({ manager, offloadBytes: 0, timeoutMs: 250 });
  t.teardown(() => app.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const n = 1_000_000;
  const body = JSON.stringify({ instances: Array.from({ length: n }, (_, i) => (i % 1000) / 7) });
  const started = performance.now();
  const response = await fetch(`${url}/v1/models/half:predict`, { method: 'POST', body });
  const took = performance.now() - started;
  t.equal(response.status, 200, `answered in ${took.toFixed(0)} ms against a limit of 250 ms for the model`);
  t.equal((JSON.parse(await response.text()).predictions as number[]).length, n);
  const v2 = await fetch(`${url}/v2/models/half/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [n, 1], datatype: 'FP32', data: Array.from({ length: n }, (_, i) => i / 7) }] }) });
  t.equal(v2.status, 200, 'v2 JSON too');
});

// Codec tasks read every input and output named (the server passes signatureLimits()).
const NO_LIMITS = { inputs: Infinity, outputs: Infinity };

t.test('the codec threads take a bounded number of bodies to read (UNAVAILABLE beyond; responses always), and drop those of clients gone', async (t) => {
  const codec = new Codec(0, 1);
  t.teardown(() => codec.close());
  t.equal(codec.limit, 8);
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [20_000], datatype: 'FP32', data: Array.from({ length: 20_000 }, (_, i) => i) }] }));
  const reads = Array.from({ length: 12 }, () => codec.infer(Buffer.from(body), undefined, NO_LIMITS));
  // A response to write, given while the reads fill the limit, is taken all the same: its
  // request has run, and refusing it ("retry later") would have the client run it again.
  const y = new Tensor('float32', new Float32Array(20_000).fill(0.5), [20_000]);
  const answer = codec.predictResponse({ y }, 'columnar');
  const settled = await Promise.allSettled(reads);
  const refused = settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as { code?: string; message: string });
  t.equal(settled.filter((r) => r.status === 'fulfilled').length, 8, 'as many as the limit are read');
  t.equal(refused.length, 4);
  t.match((await answer).toString('utf8', 0, 20), /^\{"outputs":\[0\.5,0\.5/, 'a response past the limit is written');
  t.ok(refused[0] instanceof QueueFullError);
  t.match(refused[0], { code: 'UNAVAILABLE', queue: 'codec', message: /the server is busy: 8 big bodies are being read or written already, and one more is read only while fewer than 8 are; retry later/ });
  const controller = new AbortController();
  const gone = codec.infer(Buffer.from(body), undefined, NO_LIMITS, controller.signal);
  controller.abort();
  await t.rejects(gone, { code: 'CANCELLED', message: /closed the connection/ }, 'a client gone: its task is dropped');
  t.equal((await codec.infer(Buffer.from(body), undefined, NO_LIMITS)).feeds.x!.size, 20_000, 'and the threads serve on');
});

t.test("the codec threads' pool reporting an error that belongs to no task does not end the process", async (t) => {
  // Piscina emits 'error' for what belongs to no task: a task whose client left is dropped by
  // stopping its thread, and when that thread had just answered, the answer still arrives
  // ("Unexpected message from Worker"; seen 1 to 3 times in 40 such aborts in a plain
  // process). With nobody listening, an 'error' event is an uncaught exception. The pool the
  // codec makes is caught as it subscribes, and made to emit both kinds.
  const pools: EventEmitter[] = [];
  const on = Piscina.prototype.on;
  Piscina.prototype.on = function (this: EventEmitter, name: string | symbol, listener: (...args: unknown[]) => void) {
    if (name === 'error') pools.push(this);
    return on.call(this, name, listener);
  } as typeof on;
  t.teardown(() => { Piscina.prototype.on = on; });
  const codec = new Codec(0, 1);
  t.teardown(() => codec.close());
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] }));
  t.equal((await codec.infer(Buffer.from(body), undefined, NO_LIMITS)).feeds.x!.size, 2);
  t.equal(pools.length, 1, 'the pool has an error listener');
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof write;
  try {
    t.doesNotThrow(() => pools[0]!.emit('error', new Error('Unexpected message from Worker: { taskId: 9 }')), 'an answer for a dropped task: ignored');
    t.doesNotThrow(() => pools[0]!.emit('error', new Error('a thread failed between tasks')), 'any other: reported');
  } finally {
    process.stderr.write = write;
  }
  t.same(written, [written[0]], 'one line written');
  t.match(written[0], /^tfslice serve: a codec thread failed: Error: a thread failed between tasks/);
  t.equal((await codec.infer(Buffer.from(body), undefined, NO_LIMITS)).feeds.x!.size, 2, 'and the threads serve on');
});

t.test('Deadline counts only the time within(): outside() stops the clock', async (t) => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const clock = new Deadline(150, () => 'too late');
  t.equal(await clock.within((async () => { await sleep(20); await clock.outside(sleep(300)); await sleep(30); return 'done'; })()), 'done', '300 ms outside, 50 inside: within a 150 ms limit');
  await sleep(200);
  t.equal(await clock.within(sleep(20).then(() => 'again')), 'again', 'time between within() calls is not counted either');
  await t.rejects(clock.within(sleep(500)), { code: 'DEADLINE_EXCEEDED', message: 'too late' }, 'what is left of the limit (about 80 ms) runs out inside');
  t.equal(await new Deadline(0, () => 'never').within(sleep(10).then(() => 'no limit')), 'no limit');
  // Past what setTimeout keeps (2^31 - 1 ms), Node fires a timer after 1 ms: such limits must wait.
  t.equal(await new Deadline(3_000_000_000, () => 'at once').within(sleep(30).then(() => 'long limit')), 'long limit', 'a limit of 3e9 ms');
  t.equal(await withDeadline(sleep(30).then(() => 'long deadline'), 2 ** 40, () => 'at once'), 'long deadline', 'withDeadline() too');
  await t.rejects(withDeadline(sleep(300), 20, () => 'too late'), { code: 'DEADLINE_EXCEEDED', message: 'too late' }, 'withDeadline(): a short one expires');
});

/** Python message classes that protoc generates from proto/ (made once). */
function pythonClasses(): string {
  const generated = path.join(tmp, 'py');
  if (!fs.existsSync(generated)) {
    fs.mkdirSync(generated);
    const files = fs.readdirSync(path.join(ROOT, 'proto')).filter((f) => f.endsWith('.proto'));
    execFileSync('protoc', ['-I', path.join(ROOT, 'proto'), `--python_out=${generated}`, ...files], { stdio: 'pipe' });
  }
  return generated;
}

t.test('gRPC Predict, ModelInfer, Classify, Regress and MultiInference: offloadBytes 0 and Infinity answer byte for byte alike (Python grpcio)', async (t) => {
  const generated = pythonClasses();
  const { stdout } = await run(PYTHON, ['-c', `
import base64, json, struct, sys, grpc
sys.path.insert(0, sys.argv[1])
import tensorflow_pb2 as tf, tensorflow_serving_pb2 as ts, inference_pb2 as inf
P = '/tensorflow.serving.PredictionService/Predict'
I = '/inference.GRPCInferenceService/ModelInfer'
cases = []
def predict(what, model, inputs, **spec):
    r = ts.PredictRequest()
    r.model_spec.name = model
    for k, v in spec.items():
        if k == 'output_filter': r.output_filter.extend(v)
        elif k == 'version': r.model_spec.version.value = v
        else: setattr(r.model_spec, k, v)
    for key, (dtype, shape, field, values) in inputs.items():
        x = r.inputs[key]; x.dtype = dtype
        for d in shape: x.tensor_shape.dim.add(size=d)
        if field == 'tensor_content': x.tensor_content = values
        else: getattr(x, field).extend(values)
    cases.append([what, P, r.SerializeToString()])
def infer(what, model, inputs, raw=None, outputs=(), **fields):
    r = inf.ModelInferRequest(model_name=model, **fields)
    for name, datatype, shape, field, values in inputs:
        x = r.inputs.add(name=name, datatype=datatype, shape=shape)
        if field: getattr(x.contents, field).extend(values)
    if raw: r.raw_input_contents.extend(raw)
    for o in outputs: r.outputs.add(name=o)
    cases.append([what, I, r.SerializeToString()])
F = tf.DT_FLOAT
predict('float_val', 'half', {'x': (F, [3], 'float_val', [1.0, 2.0, 5.0])})
predict('tensor_content', 'half', {'x': (F, [2, 1], 'tensor_content', struct.pack('<2f', 1.5, -2.0))})
predict('one value fills the shape', 'half', {'x': (F, [4], 'float_val', [3.0])})
predict('a named signature and version', 'half', {'x': (F, [1], 'float_val', [1.0])}, signature_name='serving_default', version=1)
predict('output_filter', 'pass', {'x': (F, [2], 'float_val', [1.0, 2.0]), 'key': (tf.DT_STRING, [2], 'string_val', [b'a', bytes([255])])}, output_filter=['key', 'doubled'])
predict('output_filter twice', 'half', {'x': (F, [1], 'float_val', [1.0])}, output_filter=['y', 'y'])
predict('output_filter unknown', 'half', {'x': (F, [1], 'float_val', [1.0])}, output_filter=['nope'])
predict('int64 past 2^53', 'ints', {'a': (tf.DT_INT32, [2], 'int_val', [1, -2]), 'b': (tf.DT_INT64, [2], 'int64_val', [9007199254740993, -9223372036854775808])})
predict('strings', 'vocab', {'words': (tf.DT_STRING, [3], 'string_val', [b'apple', b'kiwi', b'banana'])})
predict('every dtype', 'dtypes', {
    'b': (tf.DT_BOOL, [2], 'bool_val', [True, False]), 'bf16': (tf.DT_BFLOAT16, [1], 'half_val', [16320]), 'f16': (tf.DT_HALF, [1], 'half_val', [15872]),
    'f32': (F, [1], 'float_val', [float('nan')]), 'f64': (tf.DT_DOUBLE, [1], 'double_val', [0.1]), 'i16': (tf.DT_INT16, [1], 'int_val', [-32768]),
    'i32': (tf.DT_INT32, [1], 'int_val', [7]), 'i64': (tf.DT_INT64, [1], 'int64_val', [-1]), 'i8': (tf.DT_INT8, [1], 'int_val', [-128]),
    's': (tf.DT_STRING, [1], 'string_val', [b'x']), 'u16': (tf.DT_UINT16, [1], 'int_val', [65535]), 'u32': (tf.DT_UINT32, [1], 'uint32_val', [4294967295]),
    'u64': (tf.DT_UINT64, [1], 'uint64_val', [18446744073709551615]), 'u8': (tf.DT_UINT8, [1], 'int_val', [255])})
predict('no model name', '', {'x': (F, [1], 'float_val', [1.0])})
predict('an unknown model, and a dtype tfslice does not feed', 'nope', {'x': (tf.DT_COMPLEX64, [1], 'float_val', [1.0])})
predict('a dtype tfslice does not feed', 'half', {'x': (tf.DT_COMPLEX64, [1], 'float_val', [1.0])})
predict('tensor_content of the wrong size', 'half', {'x': (F, [3], 'tensor_content', b'12345')})
predict('an unknown version label', 'half', {'x': (F, [1], 'float_val', [1.0])}, version_label='nope')
cases.append(['bytes that are no PredictRequest', P, b'\\xff\\xff\\xff\\xff'])
infer('typed contents', 'half', [['x', 'FP32', [3, 1], 'fp32_contents', [1, 2, 5]]], id='q1')
infer('raw_input_contents', 'half', [['x', 'FP32', [2, 1], None, []]], raw=[struct.pack('<2f', 1, 2)])
infer('BYTES in, outputs chosen', 'vocab', [['words', 'BYTES', [2], 'bytes_contents', [b'apple', b'date']]], outputs=['scores'])
infer('INT64 exact', 'ints', [['a', 'INT32', [1], 'int_contents', [1]], ['b', 'INT64', [1], 'int64_contents', [9007199254740993]]])
infer('no model_name', '', [['x', 'FP32', [1, 1], 'fp32_contents', [1]]])
infer('a version that is no number', 'half', [['x', 'FP32', [1, 1], 'fp32_contents', [1]]], model_version='one')
infer('raw contents not one per input', 'half', [['x', 'FP32', [1, 1], None, []]], raw=[b'', b''])
infer('too few elements', 'half', [['x', 'FP32', [2, 1], 'fp32_contents', [1]]])
infer('an output twice', 'half', [['x', 'FP32', [1, 1], 'fp32_contents', [1]]], outputs=['y', 'y'])
infer('an unknown output', 'half', [['x', 'FP32', [1, 1], 'fp32_contents', [1]]], outputs=['nope'])
cases.append(['bytes that are no ModelInferRequest', I, b'\\x0a\\xff'])
C = '/tensorflow.serving.PredictionService/Classify'
R = '/tensorflow.serving.PredictionService/Regress'
M = '/tensorflow.serving.PredictionService/MultiInference'
def examples(r, xs, context=None):
    if context is None:
        for x in xs:
            e = r.input.example_list.examples.add()
            if x is not None: e.features.feature['x'].float_list.value.append(x)
    else:
        ctx = r.input.example_list_with_context
        ctx.context.features.feature['x'].float_list.value.append(context)
        for x in xs:
            e = ctx.examples.add()
            if x is not None: e.features.feature['x'].float_list.value.append(x)
def classify(what, xs, context=None, model='half', signature='classify_x_to_y', method=C, Request=ts.ClassificationRequest):
    r = Request(); r.model_spec.name = model; r.model_spec.signature_name = signature
    examples(r, xs, context)
    cases.append([what, method, r.SerializeToString()])
classify('classify', [1.0, 20.0, 3.5])
classify('classify, a context', [20.0, None], context=4.0)
classify('classify, no examples', [])
classify('classify, no model name and no examples', [], model='')
classify('classify, a signature that does not classify', [1.0], signature='serving_default')
classify('regress', [2.0, -7.5], method=R, signature='regress_x_to_y', Request=ts.RegressionRequest)
classify('regress, a context', [None, 8.0], context=1.5, method=R, signature='regress_x_to_y', Request=ts.RegressionRequest)
m = ts.MultiInferenceRequest()
for sig, method in [('classify_x_to_y', 'tensorflow/serving/classify'), ('regress_x_to_y', 'tensorflow/serving/regress')]:
    task = m.tasks.add(); task.model_spec.name = 'half'; task.model_spec.signature_name = sig; task.method_name = method
examples(m, [1.0, 2.0])
cases.append(['MultiInference', M, m.SerializeToString()])
m.tasks[1].method_name = 'tensorflow/serving/predict'
cases.append(['MultiInference, a method not supported', M, m.SerializeToString()])
m2 = ts.MultiInferenceRequest(); m2.tasks.add(model_spec=m.tasks[0].model_spec, method_name='tensorflow/serving/classify')
cases.append(['MultiInference, no examples', M, m2.SerializeToString()])
cases.append(['bytes that are no ClassificationRequest', C, b'\\x12\\x05\\x0a\\x03'])
out = []
for address in sys.argv[2:]:
    channel = grpc.insecure_channel(address)
    answers = []
    for what, method, body in cases:
        try:
            res = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)(body, timeout=60)
            answers.append([what, 'OK', '', base64.b64encode(res).decode()])
        except grpc.RpcError as e:
            answers.append([what, e.code().name, e.details(), ''])
    out.append(answers)
print(json.dumps(out))
`, generated, grpcOffloaded, grpcInline], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' }, maxBuffer: 64 << 20 });
  const [a, b] = JSON.parse(stdout) as [string, string, string, string][][];
  a!.forEach((answer, i) => t.same(answer, b![i], `${answer[0]}: ${answer[1]} ${answer[2].slice(0, 100)}`));
  t.ok(a!.filter(([, code]) => code === 'OK').length >= 15, 'successes compared');
  t.ok(a!.filter(([, code]) => code !== 'OK').length >= 18, 'errors compared');
});

t.test('a big body offloaded is read after its model is known: an unknown model is named first', async (t) => {
  const post = (url: string) => fetch(`${url}/v1/models/nope:predict`, { method: 'POST', body: '{"instances": [1.0,' });
  const [a, b] = await Promise.all([post(offloaded), post(inline)]);
  t.equal(a.status, 404, 'offloaded: the model is looked up first');
  t.match(await a.json(), { error: /nope/ });
  t.equal(b.status, 400, 'on the event loop: the body is read first (as TensorFlow Serving)');
});

/**
 * Polls /v2/health/live on the offloading server (the same event loop as every server here) until
 * `work` settles: its value, the probes' statuses, and the longest wait between two answers.
 */
async function probing<T>(work: Promise<T>): Promise<{ value: T; statuses: number[]; longest: number; took: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () => new Promise<number>((resolve, reject) => {
    http.get(`${offloaded}/v2/health/live`, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
  });
  try {
    await get();
    const started = performance.now();
    let done = false;
    const settled = work.finally(() => { done = true; });
    const statuses: number[] = [];
    let longest = 0;
    let last = started;
    while (!done) {
      statuses.push(await get());
      longest = Math.max(longest, performance.now() - last);
      last = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return { value: await settled, statuses, longest, took: performance.now() - started };
  } finally {
    agent.destroy();
  }
}

function checkProbes(t: tap.Test, { statuses, longest, took }: { statuses: number[]; longest: number; took: number }): void {
  t.same(statuses.filter((s) => s !== 200), [], 'every probe answered 200');
  t.ok(statuses.length >= 5, `${statuses.length} probes answered in the ${took.toFixed(0)} ms the request took`);
  t.ok(longest < took / 3, `the longest wait between two probe answers, ${longest.toFixed(0)} ms, is under a third of the request's ${took.toFixed(0)} ms`);
}

t.test('while a big body is read and its answer written, health probes are answered', async (t) => {
  const n = 1_000_000;
  const values = Array.from({ length: n }, (_, i) => (i % 997) / 8);
  const body = Buffer.from(JSON.stringify({ instances: values }));
  const probed = await probing(fetch(`${offloaded}/v1/models/half:predict`, { method: 'POST', body }).then(async (r) => ({ status: r.status, text: await r.text() })));
  t.equal(probed.value.status, 200);
  const predictions = JSON.parse(probed.value.text).predictions as number[];
  t.equal(predictions.length, n);
  t.equal(predictions[996], 0.5 * (996 / 8) + 2, 'the answer is the model\'s');
  checkProbes(t, probed);
});

t.test('while a big gRPC Predict (float_val) is decoded and its answer encoded, health probes are answered', async (t) => {
  const generated = pythonClasses();
  const n = 2_000_000;
  const probed = await probing(run(PYTHON, ['-c', `
import sys, grpc
sys.path.insert(0, sys.argv[1])
import tensorflow_pb2 as tf, tensorflow_serving_pb2 as ts
n = int(sys.argv[3])
r = ts.PredictRequest()
r.model_spec.name = 'half'
x = r.inputs['x']; x.dtype = tf.DT_FLOAT; x.tensor_shape.dim.add(size=n)
x.float_val.extend([(i % 997) / 8 for i in range(n)])
channel = grpc.insecure_channel(sys.argv[2], options=[('grpc.max_receive_message_length', -1), ('grpc.max_send_message_length', -1)])
res = channel.unary_unary('/tensorflow.serving.PredictionService/Predict', request_serializer=lambda m: m.SerializeToString(), response_deserializer=ts.PredictResponse.FromString)(r, timeout=120)
y = res.outputs['y'].float_val
print(len(y), y[996])
`, generated, grpcOffloaded, String(n)], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } }));
  t.equal(probed.value.stdout.trim(), `${n} ${0.5 * (996 / 8) + 2}`, 'every value came back, computed');
  checkProbes(t, probed);
});

/**
 * Runs `work` and returns its value with the most bytes the event loop copied at once meanwhile,
 * as JS copies (Buffer.concat, Buffer#copy, TypedArray#set) or Tensor.alloc's memory to fill.
 * The server runs in this process; its codec threads have their own Buffer and typed arrays.
 */
async function biggestCopy<T>(work: () => Promise<T>): Promise<{ value: T; biggest: number }> {
  let biggest = 0;
  const note = (bytes: number) => { biggest = Math.max(biggest, bytes); };
  const typedSet = Object.getPrototypeOf(Uint8Array.prototype) as { set: (this: ArrayBufferView, source: ArrayLike<number>, offset?: number) => void };
  const saved = { concat: Buffer.concat, copy: Buffer.prototype.copy, set: typedSet.set, alloc: Tensor.alloc };
  Buffer.concat = function concat(list: readonly Uint8Array[], total?: number) {
    note(total ?? list.reduce((n, b) => n + b.byteLength, 0));
    return saved.concat.call(Buffer, list, total);
  } as typeof Buffer.concat;
  Buffer.prototype.copy = function copy(this: Buffer, target: Uint8Array, targetStart?: number, sourceStart?: number, sourceEnd?: number) {
    note((sourceEnd ?? this.byteLength) - (sourceStart ?? 0));
    return saved.copy.call(this, target, targetStart, sourceStart, sourceEnd);
  };
  typedSet.set = function set(this: ArrayBufferView, source: ArrayLike<number>, offset?: number) {
    note(ArrayBuffer.isView(source) ? source.byteLength : source.length);
    return saved.set.call(this, source, offset);
  };
  Tensor.alloc = function alloc(...args: Parameters<typeof Tensor.alloc>) {
    const tensor = saved.alloc.apply(Tensor, args);
    note((tensor.data as ArrayBufferView).byteLength);
    return tensor;
  } as typeof Tensor.alloc;
  try {
    return { value: await work(), biggest };
  } finally {
    Object.assign(Buffer, { concat: saved.concat });
    Object.assign(Buffer.prototype, { copy: saved.copy });
    Object.assign(typedSet, { set: saved.set });
    Object.assign(Tensor, { alloc: saved.alloc });
  }
}

/**
 * A Python client (requests, numpy) sending `half` n = argv[2] floats x as `post` does (which
 * sets r), then printing `first` (Python expressions, each followed by ", "), y's shape and
 * length, y[996], and whether every y is 0.5x + 2 (binary data after the JSON part).
 */
function halfBinaryClient(post: string, first = ''): string {
  return `
import sys, json, requests, numpy as np
n = int(sys.argv[2])
x = ((np.arange(n) % 997) / 8).astype('<f4')${post}
assert r.status_code == 200, r.text[:500]
length = int(r.headers["Inference-Header-Content-Length"])
meta = json.loads(r.content[:length])
y = np.frombuffer(r.content[length:], dtype="<f4")
print(${first}meta["outputs"][0]["shape"], len(y), repr(float(y[996])), bool((y == x * np.float32(0.5) + np.float32(2)).all()))
`;
}

t.test('a big v2 binary-extension request (default offloadBytes): the event loop copies none of its tensors, and answers health probes meanwhile', async (t) => {
  const server = await createServer({ manager });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  const n = 4_000_000;
  // Python's requests, the request built by hand as the extension describes it; the JSON part
  // is one byte past a multiple of 4, so the floats after it start misaligned.
  const client = halfBinaryClient(`
head = json.dumps({"inputs": [{"name": "x", "shape": [n, 1], "datatype": "FP32", "parameters": {"binary_data_size": n * 4}}], "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
head += b" " * ((1 - len(head)) % 4)
r = requests.post(sys.argv[1] + "/v2/models/half/infer", data=head + x.tobytes(), headers={"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})`, 'len(head) % 4, r.headers["Content-Length"], ');
  const { value: probed, biggest } = await biggestCopy(() => probing(run(PYTHON, ['-c', client, url, String(n)])));
  t.ok((await fetch(`${url}/v2/models/half`)).ok, 'the server still answers');
  const [misaligned, contentLength, shape, count, y996, all] = probed.value.stdout.trim().split(/ (?![^[]*\])/);
  t.equal(misaligned, '1', 'the binary part started misaligned');
  t.ok(Number(contentLength) > n * 4, `Content-Length given (${contentLength}), not chunked`);
  t.equal(shape, `[${n}, 1]`);
  t.equal(Number(count), n);
  t.equal(Number(y996), 0.5 * (996 / 8) + 2);
  t.equal(all, 'True', "every value is the model's");
  t.ok(biggest < 1 << 20, `the event loop's biggest copy was ${biggest} bytes (the tensors are ${n * 4})`);
  checkProbes(t, probed);
});

t.test("a big raw binary request (Triton's Inference-Header-Content-Length: 0): the event loop copies none of its body into the tensor, and answers health probes meanwhile", async (t) => {
  // helper-95's finding: the body's chunks were copied into the tensor on the event loop once the
  // signature was known (rawBinaryFeeds), 44-57 ms for 64 MiB here. Now a runner thread joins them.
  const server = await createServer({ manager });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  const n = 4_000_000;
  const client = halfBinaryClient(`
r = requests.post(sys.argv[1] + "/v2/models/half/infer", data=x.tobytes(), headers={"Inference-Header-Content-Length": "0", "Content-Type": "application/octet-stream"})`);
  const copies = native().stats().threadCopies;
  const { value: probed, biggest } = await biggestCopy(() => probing(run(PYTHON, ['-c', client, url, String(n)])));
  t.equal(native().stats().threadCopies - copies, 1, "the body's chunks were joined on a runner thread, into one buffer");
  const [shape, count, y996, all] = probed.value.stdout.trim().split(/ (?![^[]*\])/);
  t.equal(shape, `[${n}, 1]`, "the open dimension from the body's length");
  t.equal(Number(count), n);
  t.equal(Number(y996), 0.5 * (996 / 8) + 2);
  t.equal(all, 'True', "every value is the model's");
  t.ok(biggest < 1 << 20, `the event loop's biggest copy was ${biggest} bytes (the tensor is ${n * 4})`);
  // A big body the signature cannot take is refused with the same words as a small one.
  const odd = await fetch(`${url}/v2/models/half/infer`, { method: 'POST', body: new Uint8Array(4 * n + 2), headers: { 'Inference-Header-Content-Length': '0', 'Content-Type': 'application/octet-stream' } });
  t.equal(odd.status, 400);
  t.match(await odd.json(), { error: /^raw binary request \(Inference-Header-Content-Length: 0\): input 'x' \(FP32, shape \[-1, 1\]\) takes a multiple of 4 bytes, and the body has 16000002; send the JSON/ });
  checkProbes(t, probed);
});

t.test("a big raw binary request waits for a runner thread to join its body within the request's time limit, as a run does (helper-99: it waited unbounded)", async (t) => {
  const server = await createServer({ manager, timeoutMs: 1000 });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  // Every runner thread held by a run that waits on an empty queue (until its own limit).
  const queue = await loadModel(fixture('queue').dir, { interOpThreads: 0, maxConcurrentRuns: 32 });
  const blockers = Array.from({ length: 16 }, () => queue.run({}, { signature: 'dequeue', runTimeoutMs: 4000 }).catch((e: { code?: string }) => e.code));
  await new Promise((r) => setTimeout(r, 300));
  const started = performance.now();
  const answer = await fetch(`${url}/v2/models/half/infer`, { method: 'POST', body: new Uint8Array(1 << 20), headers: { 'Inference-Header-Content-Length': '0', 'Content-Type': 'application/octet-stream' } });
  const took = performance.now() - started;
  t.equal(answer.status, 504, `504 after ${took.toFixed(0)} ms`);
  t.ok(took < 2500, 'at the time limit, not when a runner frees up');
  t.match(await answer.json(), { error: /did not answer within 1000 ms \(--rest_api_timeout_in_ms\)/ });
  t.same(await Promise.all(blockers), Array(16).fill('DEADLINE_EXCEEDED'));
  await queue.dispose();
});

t.test('while a big gRPC Classify (100 000 tf.Examples) is read and its answer written, health probes are answered', async (t) => {
  const generated = pythonClasses();
  const n = 100_000;
  const handed: string[] = [];
  const saved = { read: Codec.prototype.grpcExamples, write: Codec.prototype.grpcExamplesResponse };
  Codec.prototype.grpcExamples = function grpcExamples(this: Codec, ...args: Parameters<Codec['grpcExamples']>) {
    handed.push('read');
    return saved.read.apply(this, args);
  };
  Codec.prototype.grpcExamplesResponse = function grpcExamplesResponse(this: Codec, ...args: Parameters<Codec['grpcExamplesResponse']>) {
    handed.push('write');
    return saved.write.apply(this, args);
  };
  t.teardown(() => Object.assign(Codec.prototype, { grpcExamples: saved.read, grpcExamplesResponse: saved.write }));
  const probed = await probing(run(PYTHON, ['-c', `
import sys, grpc
sys.path.insert(0, sys.argv[1])
import tensorflow_serving_pb2 as ts
n = int(sys.argv[3])
c = ts.ClassificationRequest(); c.model_spec.name = 'half'; c.model_spec.signature_name = 'classify_x_to_y'
for i in range(n):
    c.input.example_list.examples.add().features.feature['x'].float_list.value.append(float(i % 100))
channel = grpc.insecure_channel(sys.argv[2], options=[('grpc.max_receive_message_length', -1), ('grpc.max_send_message_length', -1)])
res = channel.unary_unary('/tensorflow.serving.PredictionService/Classify', request_serializer=lambda m: m.SerializeToString(), response_deserializer=ts.ClassificationResponse.FromString)(c, timeout=120)
r = res.result.classifications
print(len(r), r[7].classes[0].score, r[n - 1].classes[0].score)
`, generated, grpcOffloaded, String(n)], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } }));
  t.equal(probed.value.stdout.trim(), `${n} ${0.5 * 7 + 2} ${0.5 * 99 + 2}`, 'every example classified (y = 0.5x + 2 as the score)');
  t.same(handed, ['read', 'write'], 'the request was read, and its answer written, on a codec thread');
  checkProbes(t, probed);
});

t.test('while a big REST Classify or Regress (300 000 tf.Examples) is read and its answer written, health probes are answered', async (t) => {
  // helper-87: the answer was written on the event loop (1.4 s held for a million examples to regress, 3-4 s to classify).
  const n = 300_000;
  const handed: string[] = [];
  const saved = { read: Codec.prototype.examples, write: Codec.prototype.examplesResponse };
  Codec.prototype.examples = function examples(this: Codec, ...args: Parameters<Codec['examples']>) {
    handed.push(`read ${args[1]}`);
    return saved.read.apply(this, args);
  };
  Codec.prototype.examplesResponse = function examplesResponse(this: Codec, ...args: Parameters<Codec['examplesResponse']>) {
    handed.push(`write ${args[2]}`);
    return saved.write.apply(this, args);
  };
  t.teardown(() => Object.assign(Codec.prototype, { examples: saved.read, examplesResponse: saved.write }));
  for (const api of ['classify', 'regress'] as const) {
    const body = `{"signature_name": "${api}_x_to_y", "examples": [${Array.from({ length: n }, (_, i) => `{"x": ${i % 100}.5}`).join(',')}]}`;
    const probed = await probing(fetch(`${offloaded}/v1/models/half:${api}`, { method: 'POST', body }).then(async (r) => ({ status: r.status, text: await r.text() })));
    t.equal(probed.value.status, 200, `${api}: 200 ${probed.value.status === 200 ? "" : probed.value.text.slice(0, 300)}`);
    const results = JSON.parse(probed.value.text).results as unknown[];
    t.equal(results.length, n, `${api}: every example answered`);
    t.same(results[7], api === 'classify' ? [['', 0.5 * 7.5 + 2]] : 0.5 * 7.5 + 2, `${api}: the answer is the model's (y = 0.5x + 2)`);
    checkProbes(t, probed);
  }
  t.same(handed, ['read classify', 'write classify', 'read regress', 'write regress'], 'each request was read, and its answer written, on a codec thread');
});

t.test('a MultiInference grows linearly with its tasks: 20 000 take about 10 times as long as 2000, not 100 times (the event loop checks them)', async (t) => {
  const generated = pythonClasses();
  const { stdout } = await run(PYTHON, ['-c', `
import sys, time, grpc
sys.path.insert(0, sys.argv[1])
import tensorflow_serving_pb2 as ts
channel = grpc.insecure_channel(sys.argv[2])
call = channel.unary_unary('/tensorflow.serving.PredictionService/MultiInference', request_serializer=lambda b: b, response_deserializer=lambda b: b)
def took(n):
    m = ts.MultiInferenceRequest()
    for i in range(n):
        task = m.tasks.add(); task.model_spec.name = 'half'; task.model_spec.signature_name = 'sig_%d' % i; task.method_name = 'tensorflow/serving/regress'
    m.input.example_list.examples.add().features.feature['x'].float_list.value.append(1.0)
    body = m.SerializeToString()
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        try:
            call(body, timeout=120)
        except grpc.RpcError as e:
            detail = e.code().name + ' ' + e.details()[:58]
        best = min(best or 1e9, time.perf_counter() - t0)
    return best, detail
small, _ = took(2000)
big, detail = took(20000)
print('%.1f' % (big / small), detail)
`, generated, grpcInline], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
  const [ratio, ...detail] = stdout.trim().split(' ');
  t.match(detail.join(' '), /^INVALID_ARGUMENT Requested signature not found in model graph: sig_0 /, 'answered: no such signature');
  t.ok(Number(ratio) < 40, `20 000 tasks took ${ratio} times as long as 2000 (each task checked against the others took 214 times as long)`);
});

t.test('a v2 response with only binary outputs is not handed to a codec thread (offloadBytes 0): there is nothing to write, only to copy', async (t) => {
  let handed = 0;
  const saved = Codec.prototype.inferResponse;
  Codec.prototype.inferResponse = function inferResponse(this: Codec, ...args: Parameters<Codec['inferResponse']>) {
    handed++;
    return saved.apply(this, args);
  };
  t.teardown(() => { Codec.prototype.inferResponse = saved; });
  const n = 100_000;
  const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [n], datatype: 'FP32', parameters: { binary_data_size: 4 * n } }], parameters: { binary_data_output: true } }));
  const values = Float32Array.from({ length: n }, (_, i) => i);
  const post = (outputs?: unknown) => {
    const header = outputs ? Buffer.from(JSON.stringify({ ...JSON.parse(String(head)), outputs })) : head;
    return fetch(`${offloaded}/v2/models/half/infer`, { method: 'POST', body: Buffer.concat([header, Buffer.from(values.buffer)]), headers: { 'Inference-Header-Content-Length': String(header.byteLength) } });
  };
  const binary = await post();
  t.equal(binary.status, 200);
  const length = Number(binary.headers.get('inference-header-content-length'));
  const bytes = Buffer.from(await binary.arrayBuffer());
  t.equal(new Float32Array(bytes.buffer.slice(bytes.byteOffset + length + 4 * 9, bytes.byteOffset + length + 4 * 10))[0], 0.5 * 9 + 2);
  t.equal(handed, 0, 'written on the event loop: its binary part is a view of the output');
  const json = await post([{ name: 'y', parameters: { binary_data: false } }]);
  t.equal(json.status, 200);
  t.equal((await json.json() as { outputs: { data: number[] }[] }).outputs[0]!.data[9], 6.5);
  t.equal(handed, 1, 'an output written as JSON is written on a codec thread');
});

t.test('big BYTES sent as binary data are laid out on a runner thread, not the event loop (Python requests)', async (t) => {
  const server = await createServer({ manager });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  const layouts = () => native().stats().threadLayouts;
  const before = layouts();
  const n = 400_000;
  // The request built by hand as the extension describes it; `key` comes back as it went.
  const { stdout } = await run(PYTHON, ['-c', `
import sys, json, struct, requests
n = int(sys.argv[2])
words = [("w%d" % (i * 7919 % 100003)).encode() * (1 + i % 3) for i in range(n)]
key = b"".join(struct.pack("<I", len(w)) + w for w in words)
head = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
  {"name": "key", "shape": [n], "datatype": "BYTES", "parameters": {"binary_data_size": len(key)}}],
  "outputs": [{"name": "key", "parameters": {"binary_data": True}}]}).encode()
r = requests.post(sys.argv[1] + "/v2/models/pass/infer", data=head + key, headers={"Inference-Header-Content-Length": str(len(head))})
assert r.status_code == 200, r.text[:500]
length = int(r.headers["Inference-Header-Content-Length"])
meta = json.loads(r.content[:length])
print(meta["outputs"][0]["datatype"], meta["outputs"][0]["parameters"]["binary_data_size"], len(key), r.content[length:] == key)
`, url, String(n)], { maxBuffer: 1 << 20 });
  const [datatype, size, sent, same] = stdout.trim().split(' ');
  t.equal(datatype, 'BYTES');
  t.equal(size, sent, 'binary_data_size is the layout\'s length');
  t.equal(same, 'True', 'the strings come back byte for byte, each after its length');
  t.equal(layouts() - before, 1, `the ${n} strings were laid out on a runner thread`);
  // Small ones are laid out where they are: nothing to wait for.
  const small = await fetch(`${url}/v2/models/pass/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }, { name: 'key', shape: [2], datatype: 'BYTES', data: ['a', 'bc'] }], outputs: [{ name: 'key', parameters: { binary_data: true } }] }) });
  const body = Buffer.from(await small.arrayBuffer());
  t.same(body.subarray(Number(small.headers.get('inference-header-content-length'))), bytesElements(Buffer.from('a'), Buffer.from('bc')));
  t.equal(layouts() - before, 1, 'two strings: on the event loop');
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
  t.equal(backing[0], 9, 'the caller\'s buffer is untouched');
  t.equal(jsonWeight([tensors.view, tensors.s]), 24 + 2 + 12, 'two bytes per byte of numbers; strings: bytes + 4 each');
  const moved = toWire(tensors, false);
  t.equal(moved.transfer.length, 5, 'every buffer listed once: view, int64, strings bytes and offsets, bool');
  t.equal(moved.transfer[0], backing.buffer, 'a view moves with its whole buffer (a codec thread\'s body), not copied out of it');
  const back = fromWire(structuredClone(moved.tensors, { transfer: moved.transfer }));
  t.equal(backing.byteLength, 0, 'the sender no longer has it');
  t.same([...(back.view!.data as Float32Array)], [1, 2, 3]);
  t.equal((back.view!.data as Float32Array).byteOffset, 4, 'the same view on the other side');
  t.same(back.big!.shape, [2, 1]);
  t.same([...(back.big!.data as BigInt64Array)], [2n ** 62n, -1n]);
  t.same(back.s!.bytes().map((b) => [...b]), [[0x61], [0xff], []]);
  t.same([...(back.b!.data as Uint8Array)], [1, 0]);
  const pooled = Buffer.from([1, 2, 3, 4]);
  t.equal(pooled.buffer.byteLength, Buffer.poolSize, '(a small Buffer lies in the pool)');
  const fromPool = toWire({ p: new Tensor('uint8', pooled, [4]) }, false);
  t.not(fromPool.transfer[0], pooled.buffer, 'a view of Node\'s Buffer pool is copied out, never moved');
  t.same([...(fromPool.tensors.p![2] as Uint8Array)], [1, 2, 3, 4]);
});

t.test('options are checked', async (t) => {
  await t.rejects(createServer({ manager, offloadBytes: -1 }), { name: 'TypeError', message: /offloadBytes/ });
  await t.rejects(createServer({ manager, codecThreads: 0 }), { name: 'TypeError', message: /codecThreads/ });
  t.throws(() => createGrpcServer({ manager, offloadBytes: Number.NaN }), { name: 'TypeError', message: /offloadBytes/ });
});

t.test('tfslice serve --offload_bytes Infinity reads every body on the event loop, and answers as the default', async (t) => {
  const served = await Promise.all([['--offload_bytes', 'Infinity'], []].map((flags) => startServe(['--model_name', 'half', '--model_base_path', path.join(tmp, 'half'), '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0', ...flags])));
  t.teardown(() => { for (const s of served) s.child.kill('SIGKILL'); });
  const big = JSON.stringify({ instances: Array.from({ length: 80_000 }, (_, i) => i / 8) });
  t.ok(big.length > 256 * 1024, 'a body the default offloads');
  const answers = await Promise.all(served.map(async (s) => {
    const r = await fetch(`${s.url}/v1/models/half:predict`, { method: 'POST', body: big });
    return { status: r.status, text: await r.text() };
  }));
  t.equal(answers[0]!.status, 200);
  t.equal(answers[0]!.text, answers[1]!.text, 'the same answer as the default (offloaded) server');
});
