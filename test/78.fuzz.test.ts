// A bounded fuzz test (fast-check) of the server's surfaces: TensorFlow Serving's REST API, KServe's
// v2 (JSON and the binary extension) and gRPC. Generated and mutated requests (bad JSON, wrong
// types, huge and overflowing shapes, invalid base64, truncated binary bodies, unknown paths, raw
// protobuf bytes): the server never crashes, every REST answer is JSON (a v2 answer with binary
// outputs: its JSON part) and every refusal a 4xx/5xx with {"error": "..."}, no answer is an
// internal error, and its memory stays flat. Time-bounded.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import t from 'tap';

import { protos } from '../lib/serve/tensor-proto';
import { parseJson } from '../lib/serve/json';
import { basePath, startServe } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-fuzz-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const config = path.join(tmp, 'models.json');
fs.writeFileSync(config, JSON.stringify({
  models: [
    { name: 'half', basePath: basePath(tmp, 'half', { 1: 'half_plus_two' }), versionLabels: { stable: 1 } },
    { name: 'ints', basePath: basePath(tmp, 'ints', { 1: 'ints' }) },
    { name: 'vocab', basePath: basePath(tmp, 'vocab', { 1: 'tf1_vocab' }) },
  ],
}));

// Each surface gets this long, and at most this many requests.
const TIME_LIMIT_MS = 20_000;
const RUNS = 5000;

let server: Awaited<ReturnType<typeof startServe>>;
t.before(async () => {
  server = await startServe(['--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0', '--rest_api_max_body_bytes', String(4 << 20),
    // Bodies past 128 bytes are read on the codec threads: both paths get hostile input.
    '--offload_bytes', '128']);
});
t.teardown(() => { server.child.kill('SIGKILL'); });

function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

interface Sent { method: string; path: string; headers: Record<string, string>; body: Buffer }
interface Answer { status: number; type: string; body: string; raw: Buffer; headerLength: string | undefined }

function send(request: Sent): Promise<Answer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: request.method, path: request.path, headers: { ...request.headers, 'content-length': String(request.body.length) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const headerLength = res.headers['inference-header-content-length'] as string | undefined;
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: raw.toString('utf8'), raw, headerLength });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(request.body);
  });
}

// -- what the REST requests are made of ----------------------------------------

// Mostly the real models, so most requests get as far as their signatures and TensorFlow.
const models = fc.oneof(
  { arbitrary: fc.constantFrom('half', 'ints', 'vocab'), weight: 6 },
  { arbitrary: fc.constantFrom('nope', '', '..', '%2e%2e%2f', 'HALF', 'half%00'), weight: 1 },
);
const versionPart = fc.oneof(
  { arbitrary: fc.constant(''), weight: 6 },
  fc.constantFrom('/versions/1', '/versions/2', '/versions/-1', '/versions/99999999999999999999', '/versions/1.5', '/versions/', '/labels/stable', '/labels/nope', '/labels/'),
  fc.string({ maxLength: 12 }).map((s) => `/versions/${encodeURIComponent(s)}`),
) as fc.Arbitrary<string>;
const v1Path = fc.tuple(models, versionPart, fc.constantFrom(':predict', ':predict', ':predict', ':classify', ':regress', ':PREDICT', ':explode', '', '/metadata')).map(([m, v, verb]) => `/v1/models/${m}${v}${verb}`);
const v2Path = fc.tuple(models, fc.constantFrom('', '', '/versions/1', '/versions/x'), fc.constantFrom('/infer', '/infer', '/infer', '/ready', '', '/explode')).map(([m, v, what]) => `/v2/models/${m}${v}${what}`);
const anyPath = fc.oneof(v1Path, v2Path, fc.webPath().map((p) => p || '/'), fc.constantFrom('/v2', '/v2/health/ready', '/metrics', '/v1/models', '/v1/'));

// Numbers as a client might send them, and the ones that break naive parsers.
const number = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(1e308, -0, 2 ** 53 + 1, 1.5, 'NaN', 'Infinity', -1));
const dim = fc.oneof(fc.integer({ min: -2, max: 4 }), fc.constantFrom(2 ** 31, 2 ** 53, 2 ** 62, 1e20, -1, 0.5, '3'));
const jsonish = fc.jsonValue({ maxDepth: 3 });
const b64 = fc.oneof(fc.base64String({ maxLength: 16 }), fc.string({ maxLength: 16 })).map((b) => ({ b64: b }));

const tfsBody = fc.oneof(
  fc.record({ instances: fc.oneof(fc.array(number, { maxLength: 6 }), fc.array(fc.array(number, { maxLength: 3 }), { maxLength: 3 }), jsonish, fc.array(b64, { maxLength: 3 })) }, { requiredKeys: [] }),
  fc.record({ inputs: fc.oneof(fc.dictionary(fc.constantFrom('x', 'words', 'a', 'b', 'inputs'), fc.oneof(fc.array(number, { maxLength: 4 }), jsonish, b64)), jsonish), signature_name: fc.oneof(fc.constantFrom('serving_default', 'classify_x_to_y', 'nope'), jsonish) }, { requiredKeys: [] }),
  fc.record({ examples: fc.oneof(fc.array(fc.dictionary(fc.constantFrom('x', 'y', 'x2'), fc.oneof(number, fc.array(number, { maxLength: 3 }), b64, jsonish)), { maxLength: 3 }), jsonish), context: jsonish, signature_name: fc.constantFrom('classify_x_to_y', 'regress_x_to_y', 'serving_default', 'x') }, { requiredKeys: [] }),
);
const v2Input = fc.record({
  name: fc.oneof(fc.constantFrom('x', 'words', 'a', 'b'), fc.string({ maxLength: 4 })),
  shape: fc.oneof(fc.array(dim, { maxLength: 4 }), jsonish),
  datatype: fc.oneof(fc.constantFrom('FP32', 'INT64', 'INT32', 'BYTES', 'BOOL', 'FP16', 'BF16', 'UINT64', 'fp32'), fc.string({ maxLength: 5 })),
  data: fc.oneof(fc.array(number, { maxLength: 6 }), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }), jsonish),
  parameters: fc.oneof(fc.constant(undefined), fc.record({ binary_data_size: dim })),
}, { requiredKeys: ['name'] });
const v2Body = fc.record({
  inputs: fc.oneof(fc.array(v2Input, { maxLength: 3 }), jsonish),
  outputs: fc.oneof(fc.constant(undefined), fc.array(fc.record({ name: fc.string({ maxLength: 4 }), parameters: fc.record({ binary_data: fc.oneof(fc.boolean(), jsonish) }) }), { maxLength: 2 })),
  id: fc.oneof(fc.string({ maxLength: 6 }), jsonish),
}, { requiredKeys: [] });

// A JSON text, then perhaps mutated: truncated, a byte replaced, a prefix, or raw bytes instead.
const mutate = (text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> => fc.tuple(text, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('keep', 'keep', 'cut', 'byte', 'junk')).map(([s, at, byte, how]) => {
  const bytes = Buffer.from(s);
  const i = bytes.length === 0 ? 0 : at % bytes.length;
  if (how === 'cut') return bytes.subarray(0, i);
  if (how === 'byte' && bytes.length > 0) { bytes[i] = byte; return bytes; }
  if (how === 'junk') return Buffer.concat([bytes, Buffer.from([byte, 0x7b, 0x22])]);
  return bytes;
});

// The binary extension: a JSON header whose length is in Inference-Header-Content-Length, then bytes.
const binary = fc.tuple(v2Body.map((b) => JSON.stringify(b)), fc.uint8Array({ maxLength: 64 }), fc.oneof(fc.constant('exact'), fc.integer({ min: -5, max: 5000 }).map(String), fc.constantFrom('abc', '1e3', '', ' 4', '99999999999999999999', '0', '00'))).map(([head, tail, length]) => ({
  body: Buffer.concat([Buffer.from(head), tail]),
  headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': length === 'exact' ? String(Buffer.byteLength(head)) : length },
}));

const restRequest: fc.Arbitrary<Sent> = fc.oneof(
  fc.tuple(v1Path, mutate(tfsBody.map((b) => JSON.stringify(b)))).map(([p, body]) => ({ method: 'POST', path: p, headers: { 'content-type': 'application/json' }, body })),
  fc.tuple(v2Path, mutate(v2Body.map((b) => JSON.stringify(b)))).map(([p, body]) => ({ method: 'POST', path: p, headers: { 'content-type': 'application/json' }, body })),
  fc.tuple(v2Path, binary).map(([p, b]) => ({ method: 'POST', path: p, headers: b.headers, body: b.body })),
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), anyPath, fc.oneof(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), mutate(fc.json())))
    .map(([method, p, body]) => ({ method, path: p, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? Buffer.alloc(0) : body })),
);

t.test('REST and v2: generated and mutated requests are answered, never with a crash or an internal error', async (t) => {
  let sent = 0;
  const statuses = new Map<number, number>();
  // Measured once the first 1000 requests have warmed the server up (JIT, pools, first loads).
  let warm = 0;
  await fc.assert(fc.asyncProperty(restRequest, async (request) => {
    const answer = await send(request);
    if (++sent === 1000) warm = rssBytes(server.child.pid!);
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    // Prometheus' text format is the one answer that is not JSON.
    if (answer.status === 200 && request.method === 'GET' && /^\/(metrics|monitoring\/prometheus\/metrics)$/.test(request.path)) return;
    // A v2 answer with binary outputs (asked for with binary_data, or all of them for Triton's raw
    // binary request, which a header length of 0 makes): its JSON part, then the bytes.
    if (answer.status === 200 && answer.headerLength !== undefined && /^application\/octet-stream/.test(answer.type)) {
      parseJson(answer.raw.subarray(0, Number(answer.headerLength)));
      return;
    }
    if (!/json/.test(answer.type)) throw new Error(`${request.method} ${request.path}: a ${answer.status} that is not JSON: ${answer.type} ${answer.body.slice(0, 200)}`);
    // TensorFlow Serving's JSON: NaN and ±Infinity may appear in predictions (the server's own reader takes them).
    const body = parseJson(answer.body) as { error?: unknown };
    if (answer.status >= 400 && typeof body.error !== 'string') throw new Error(`${request.method} ${request.path}: ${answer.status} without an error string: ${answer.body.slice(0, 200)}`);
    if (answer.status >= 500 && answer.status !== 503 && answer.status !== 501 && answer.status !== 504) {
      throw new Error(`${request.method} ${request.path} ${request.body.toString('utf8').slice(0, 300)}: ${answer.status} ${answer.body.slice(0, 300)}`);
    }
  }), { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, seed: Number(process.env.TFSLICE_FUZZ_SEED ?? Date.now() % 2 ** 31) });
  t.ok(sent >= 2000, `${sent} requests; statuses ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`);
  t.ok(server.child.exitCode === null, 'the server is up');
  const after = rssBytes(server.child.pid!);
  t.ok(after - warm < 48 << 20, `resident memory after warm-up ${(warm / 2 ** 20).toFixed(0)} → ${(after / 2 ** 20).toFixed(0)} MiB`);
});

// -- gRPC: raw bytes to every method but HandleReloadConfigRequest (a valid one unloads models) --

const METHODS = [
  '/tensorflow.serving.PredictionService/Predict', '/tensorflow.serving.PredictionService/Classify', '/tensorflow.serving.PredictionService/Regress',
  '/tensorflow.serving.PredictionService/MultiInference',
  '/tensorflow.serving.PredictionService/GetModelMetadata', '/tensorflow.serving.ModelService/GetModelStatus',
  '/inference.GRPCInferenceService/ModelInfer', '/inference.GRPCInferenceService/ModelMetadata', '/inference.GRPCInferenceService/ModelReady',
  '/inference.GRPCInferenceService/ServerMetadata', '/grpc.health.v1.Health/Check',
];

function validPredict(): Buffer {
  const type = protos().lookupType('tensorflow.serving.PredictRequest');
  return Buffer.from(type.encode(type.fromObject({
    model_spec: { name: 'half' },
    inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: 3 }] }, float_val: [1, 2, 5] } },
  })).finish());
}

function validInfer(): Buffer {
  const type = protos().lookupType('inference.ModelInferRequest');
  return Buffer.from(type.encode(type.fromObject({
    model_name: 'half',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [3], contents: { fp32_contents: [1, 2, 5] } }],
  })).finish());
}

// Valid messages with bytes flipped, cut, or a varint made huge; and random bytes.
const grpcBytes = fc.oneof(
  fc.uint8Array({ maxLength: 96 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.constantFrom(validPredict(), validInfer()), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.option(fc.nat())).map(([valid, flips, cut]) => {
    const bytes = Buffer.from(valid);
    for (const [at, byte] of flips) bytes[at % bytes.length] = byte;
    return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
  }),
  fc.constantFrom(validPredict(), validInfer()).map((valid) => Buffer.concat([valid, Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f])])),
);

t.test('gRPC: generated and mutated messages get a status, never a crash or INTERNAL', async (t) => {
  const client = new grpc.Client(server.grpc, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const same = (b: Buffer) => b;
  let sent = 0;
  const codes = new Map<string, number>();
  await fc.assert(fc.asyncProperty(fc.constantFrom(...METHODS), grpcBytes, async (method, bytes) => {
    const code = await new Promise<number>((resolve) => {
      client.makeUnaryRequest(method, same, same, bytes, { deadline: Date.now() + 20_000 }, (error) => resolve(error ? error.code ?? grpc.status.UNKNOWN : grpc.status.OK));
    });
    sent++;
    const name = grpc.status[code] ?? String(code);
    codes.set(name, (codes.get(name) ?? 0) + 1);
    if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) throw new Error(`${method} ${bytes.toString('hex').slice(0, 200)}: ${name}`);
  }), { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, seed: Number(process.env.TFSLICE_FUZZ_SEED ?? Date.now() % 2 ** 31) });
  t.ok(sent >= 500, `${sent} calls; codes ${[...codes].map(([c, n]) => `${c}×${n}`).join(' ')}`);
  t.ok(server.child.exitCode === null, 'the server is up');
  const predict = await new Promise<number>((resolve) => {
    client.makeUnaryRequest(METHODS[0]!, same, same, validPredict(), (error) => resolve(error ? error.code ?? -1 : 0));
  });
  t.equal(predict, grpc.status.OK, 'and answers a valid Predict');
});
