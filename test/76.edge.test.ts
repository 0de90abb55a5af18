// The server's edge (issue 17): bearer-token auth on REST and gRPC (curl and Python's grpcio, clients
// tfslice did not write), health endpoints open for probes unless protected, limits on headers,
// slow clients and connections, a per-model cap on the requests held (503 / UNAVAILABLE), and
// request paths that only ever select configured models.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

import { loadModel, ModelManager, QueueFullError, Tensor } from '../lib/index';
import { BearerAuth } from '../lib/serve';
import { basePath, curl, fixture, PYTHON, slowN, startServe } from './helpers';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-edge-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const half = basePath(tmp, 'half', { 1: 'half_plus_two' });
const slow = basePath(tmp, 'slow', { 1: 'slow' });
const tokens = path.join(tmp, 'tokens');
fs.writeFileSync(tokens, '# two tokens: one can be rotated in before the other goes\nsecret-one\n\nsecret.two~\n');
const config = path.join(tmp, 'models.json');
fs.writeFileSync(config, JSON.stringify({ models: [{ name: 'half', basePath: half }, { name: 'slow', basePath: slow }] }));

const AUTH = ['-H', 'Authorization: Bearer secret-one'];
const PREDICT = ['-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"instances": [1.0, 2.0, 5.0]}'];

// One server for most tests: short limits so slow clients are cut off within a test's time.
let server: Awaited<ReturnType<typeof startServe>>;
t.before(async () => {
  server = await startServe([
    '--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0',
    '--auth_token_file', tokens, '--rest_api_header_timeout_ms', '500', '--rest_api_read_timeout_ms', '1500',
    '--rest_api_max_header_bytes', '4096', '--max_queued_requests_per_model', '2',
  ]);
});
t.teardown(() => { server.child.kill('SIGKILL'); });

t.test('REST: a bearer token from --auth_token_file, compared in constant time; health stays open', async (t) => {
  const none = await curl(['-i', `${server.url}/v1/models/half`]);
  t.equal(none.status, 401);
  t.match(none.body, /www-authenticate: Bearer realm="tfslice"/i);
  t.match(none.body, /\{"error":"Unauthenticated: send Authorization: Bearer <token> \(once\) with a token of --auth_token_file"\}/);
  t.equal((await curl(['-H', 'Authorization: Bearer secret-three', `${server.url}/v1/models/half`])).status, 401, 'a wrong token');
  t.equal((await curl(['-H', 'Authorization: Bearer secret-on', `${server.url}/v1/models/half`])).status, 401, 'a prefix of a token');
  t.equal((await curl(['-H', 'Authorization: Basic c2VjcmV0LW9uZQ==', `${server.url}/v1/models/half`])).status, 401, 'another scheme');
  t.equal((await curl([...AUTH, `${server.url}/v1/models/half`])).status, 200);
  t.equal((await curl(['-H', 'Authorization: bearer secret.two~', `${server.url}/v1/models/half`])).status, 200, 'the second token; the scheme in any case');
  const predicted = await curl([...AUTH, ...PREDICT, `${server.url}/v1/models/half:predict`]);
  t.same(JSON.parse(predicted.body), { predictions: [2.5, 3.0, 4.5] });
  const big = await curl([...PREDICT.slice(0, 4), '--data-binary', `@${writeBig()}`, `${server.url}/v1/models/half:predict`]);
  t.equal(big.status, 401, 'a 16 MiB body without a token: refused before it is read');
  t.equal((await curl([`${server.url}/v2/health/live`])).status, 200, 'liveness: open');
  t.equal((await curl([`${server.url}/v2/health/ready`])).status, 200, 'readiness: open');
  t.equal((await curl([`${server.url}/v2/models/half/ready`])).status, 401, "a model's readiness is not a probe of the server: protected");
  t.equal((await curl([`${server.url}/metrics`])).status, 401, 'metrics are protected');
  const metrics = await curl([...AUTH, `${server.url}/metrics`]);
  t.match(metrics.body, /tfslice_requests_total\{[^}]*status="UNAUTHENTICATED"[^}]*\} \d+/, 'refusals are counted');
  // TensorFlow Serving has no tokens: a proxy checking them in front of it keeps its refusals out
  // of its counts, as gRPC's refusals are kept out here (helper-124: REST counted them there).
  t.notMatch(metrics.body, /:tensorflow:serving:request_count\{[^}]*status="UNAUTHENTICATED"/, "not in TensorFlow Serving's series");
});

function writeBig(): string {
  const file = path.join(tmp, 'big.json');
  if (!fs.existsSync(file)) fs.writeFileSync(file, `{"instances": [${'1.0,'.repeat(4 << 20)}1.0]}`);
  return file;
}

/** Calls gRPC methods by full name with Python's grpcio, each with the request bytes given in hex (none by default): each one's status name. */
async function grpcCodes(address: string, calls: { method: string; token?: string; bytes?: string }[]): Promise<string[]> {
  const script = `
import grpc, json, sys
channel = grpc.insecure_channel(sys.argv[1])
same = lambda b: b
out = []
for call in json.loads(sys.argv[2]):
    stub = channel.unary_unary(call["method"], request_serializer=same, response_deserializer=same)
    metadata = [("authorization", "Bearer " + call["token"])] if call.get("token") else None
    try:
        stub(bytes.fromhex(call.get("bytes", "")), metadata=metadata, timeout=20)
        out.append("OK")
    except grpc.RpcError as e:
        out.append(e.code().name)
print(json.dumps(out))
`;
  const { stdout } = await run(PYTHON, ['-c', script, address, JSON.stringify(calls)]);
  return JSON.parse(stdout) as string[];
}

t.test('gRPC: the token in the authorization metadata (Python grpcio); health open', async (t) => {
  const codes = await grpcCodes(server.grpc, [
    { method: '/tensorflow.serving.PredictionService/Predict' },
    { method: '/tensorflow.serving.PredictionService/Predict', token: 'wrong' },
    { method: '/tensorflow.serving.PredictionService/Predict', token: 'secret-one' },
    { method: '/tensorflow.serving.ModelService/GetModelStatus' },
    { method: '/inference.GRPCInferenceService/ModelInfer' },
    { method: '/grpc.health.v1.Health/Check' },
    { method: '/inference.GRPCInferenceService/ServerLive' },
    { method: '/inference.GRPCInferenceService/ServerReady' },
  ]);
  t.same(codes.slice(0, 2), ['UNAUTHENTICATED', 'UNAUTHENTICATED']);
  t.not(codes[2], 'UNAUTHENTICATED', `with the token the request is read (an empty PredictRequest: ${codes[2]})`);
  t.same(codes.slice(3), ['UNAUTHENTICATED', 'UNAUTHENTICATED', 'OK', 'OK', 'OK']);
});

t.test('before any body is read: unknown paths, non-GET health calls, two Authorization headers', async (t) => {
  const started = performance.now();
  const unknown = await curl(['-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', `@${writeBig()}`, `${server.url}/nonexistent`]);
  t.equal(unknown.status, 401, `an unknown path without a token: 401 (${(performance.now() - started).toFixed(0)} ms)`);
  const known = await curl([...AUTH, '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', `@${writeBig()}`, `${server.url}/nonexistent`]);
  t.equal(known.status, 404);
  t.match(JSON.parse(known.body), { error: /no such endpoint: POST \/nonexistent/ }, "with a token: the server's own 404, not a parser's error");
  t.equal((await curl(['-X', 'POST', '-d', '{}', `${server.url}/v2/health/live`])).status, 401, 'only GET and HEAD of the health paths are open');
  t.equal((await curl(['-I', `${server.url}/v2/health/live`])).status, 200, 'HEAD is');
  t.equal((await curl([...AUTH, '-H', 'Authorization: Bearer wrong', `${server.url}/v1/models/half`])).status, 401, 'two Authorization headers: refused, whichever is good');
  const asked = await curl(['-i', '-H', 'Expect: 100-continue', '-X', 'POST', '-d', '{"instances": [1]}', `${server.url}/v1/models/half:predict`]);
  t.notMatch(asked.body, /100 Continue/, 'Expect: 100-continue without a token: no invitation to send the body');
  t.match(asked.body, /^HTTP\/1.1 401[\s\S]*connection: close/im, 'a 401 closes the connection: a body still coming is not read');
  const invited = await curl(['-i', ...AUTH, '-H', 'Expect: 100-continue', '-X', 'POST', '-d', '{"instances": [1]}', `${server.url}/v1/models/half:predict`]);
  t.match(invited.body, /^HTTP\/1.1 100 Continue[\s\S]*HTTP\/1.1 200/m, 'with the token: invited, then answered');
  t.equal((await curl(['-H', 'Authorization: Bearer wrong', ...AUTH, `${server.url}/v1/models/half`])).status, 401, 'in either order');
});

t.test('gRPC: big messages without a token are refused; --grpc_max_message_bytes bounds what a call may send', async (t) => {
  const script = `
import grpc, json, sys, threading
channel = grpc.insecure_channel(sys.argv[1], options=[('grpc.max_send_message_length', -1)])
stub = channel.unary_unary('/tensorflow.serving.PredictionService/Predict', request_serializer=lambda b: b, response_deserializer=lambda b: b)
out = []
def call(metadata):
    try:
        stub(b'\\x0a' * (64 << 20), metadata=metadata, timeout=60); out.append('OK')
    except grpc.RpcError as e:
        out.append(e.code().name)
threads = [threading.Thread(target=call, args=(None,)) for _ in range(3)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps(out))
`;
  const { stdout } = await run(PYTHON, ['-c', script, server.grpc]);
  t.same(JSON.parse(stdout), ['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED'], 'three 64 MiB messages without a token');
  const small = await startServe(['--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0', '--grpc_max_message_bytes', '1024']);
  t.teardown(() => { small.child.kill('SIGKILL'); });
  t.same(await grpcCodes(small.grpc, [{ method: '/grpc.health.v1.Health/Check' }]), ['OK']);
  const big = `
import grpc, json, sys
stub = grpc.insecure_channel(sys.argv[1]).unary_unary('/tensorflow.serving.PredictionService/Predict', request_serializer=lambda b: b, response_deserializer=lambda b: b)
try:
    stub(b'\\x0a\\x00' * 2048, timeout=20); print(json.dumps('OK'))
except grpc.RpcError as e:
    print(json.dumps(e.code().name))
`;
  t.equal(JSON.parse((await run(PYTHON, ['-c', big, small.grpc])).stdout), 'RESOURCE_EXHAUSTED', 'a 4 KiB message past a 1 KiB limit');
  t.same(await grpcCodes(small.grpc, [{ method: '/tensorflow.serving.PredictionService/Predict', bytes: 'ffffff' }]), ['INVALID_ARGUMENT'], 'bytes that are no PredictRequest');
  // helper-124: the message past the limit was counted nowhere (REST counts a 413), and the one
  // that does not parse was in TensorFlow Serving's series, where its gRPC server never counts it.
  const text = (await curl([`${small.url}/metrics`])).body;
  t.match(text, /^tfslice_requests_total\{model="",version="",api="grpc_predict",status="RESOURCE_EXHAUSTED"\} 1$/m, 'the message past the limit is counted, under no model');
  t.match(text, /^tfslice_requests_total\{model="",version="",api="grpc_predict",status="INVALID_ARGUMENT"\} 1$/m, 'the unreadable one too');
  t.notMatch(text, /^:tensorflow:serving:request_count\{/m, "neither is in TensorFlow Serving's series");
  // helper-126: calls that ended before any handler ran, by grpc-js's answer or the client's
  // deadline, were counted nowhere: each is counted once, under no model.
  const ended = `
import grpc, json, sys, time
channel = grpc.insecure_channel(sys.argv[1])
same = lambda b: b
stub = channel.stream_unary('/tensorflow.serving.PredictionService/Predict', request_serializer=same, response_deserializer=same)
def late():
    time.sleep(1.5)
    yield b''
out = []
for name, messages, timeout in (('none', iter([]), 20), ('two', iter([b'', b'']), 20), ('late', late(), 0.5)):
    try:
        stub(messages, timeout=timeout); out.append('OK')
    except grpc.RpcError as e:
        out.append(e.code().name)
print(json.dumps(out))
`;
  const countOf = (body: string, status: string) => Number(new RegExp(`^tfslice_requests_total\\{model="",version="",api="grpc_predict",status="${status}"\\} (\\d+)$`, 'm').exec(body)?.[1] ?? 0);
  const before = (await curl([`${small.url}/metrics`])).body;
  t.same(JSON.parse((await run(PYTHON, ['-c', ended, small.grpc])).stdout), ['UNIMPLEMENTED', 'UNIMPLEMENTED', 'DEADLINE_EXCEEDED'], 'no message, two messages, a deadline before the message');
  await new Promise((r) => setTimeout(r, 1500)); // (the late call's end, seen by the server)
  const after = (await curl([`${small.url}/metrics`])).body;
  t.same([countOf(after, 'UNIMPLEMENTED') - countOf(before, 'UNIMPLEMENTED'), countOf(after, 'DEADLINE_EXCEEDED') - countOf(before, 'DEADLINE_EXCEEDED')], [2, 1], 'each counted once');
  small.child.kill('SIGTERM');
  await small.exited;
});

t.test("--rest_api_enable_cors_support: CORS headers on every answer, preflights answered before the token is asked for (curl, as a browser sends them)", async (t) => {
  const cors = await startServe(['--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0', '--auth_token_file', tokens, '--rest_api_enable_cors_support']);
  t.teardown(() => { cors.child.kill('SIGKILL'); });
  const ORIGIN = ['-H', 'Origin: https://page.example'];
  const headersOf = (text: string) => Object.fromEntries(text.split('\r\n\r\n')[0]!.split('\r\n').slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const preflight = await curl(['-i', '-X', 'OPTIONS', ...ORIGIN, '-H', 'Access-Control-Request-Method: POST', '-H', 'Access-Control-Request-Headers: content-type, authorization', `${cors.url}/v1/models/half:predict`]);
  t.equal(preflight.status, 200, 'a preflight without a token: 200 (TensorFlow Serving answers it OK)');
  t.match(headersOf(preflight.body), { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST, GET', 'access-control-allow-headers': 'Content-Type, Inference-Header-Content-Length, Authorization' });
  const predicted = await curl(['-i', ...ORIGIN, ...AUTH, ...PREDICT, `${cors.url}/v1/models/half:predict`]);
  t.equal(predicted.status, 200);
  t.equal(headersOf(predicted.body)['access-control-allow-origin'], '*', 'the answer says any origin may read it');
  const refused = await curl(['-i', ...ORIGIN, ...PREDICT, `${cors.url}/v1/models/half:predict`]);
  t.equal(refused.status, 401);
  t.equal(headersOf(refused.body)['access-control-allow-origin'], '*', 'a 401 too: the page can read why');
  const v2 = await curl(['-i', ...ORIGIN, ...AUTH, '-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "outputs": [{"name": "y", "parameters": {"binary_data": true}}]}', `${cors.url}/v2/models/half/infer`]);
  t.equal(v2.status, 200);
  t.match(headersOf(v2.body), { 'access-control-expose-headers': 'Inference-Header-Content-Length', 'inference-header-content-length': /^\d+$/ }, "a v2 binary answer's header length is exposed to the page");
  // helper-126: a preflight that says it has a body (answered in @fastify/cors's hook, before the
  // body limit and the token) had Node read and drop all of it, 14.6 GiB in 6 s, with no token.
  const { port } = new URL(cors.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let answer = '';
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1'); });
  socket.on('error', () => {});
  socket.write('OPTIONS /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nOrigin: https://page.example\r\nAccess-Control-Request-Method: POST\r\nContent-Length: 10000000000\r\n\r\n');
  // Its answer comes from the headers alone; then the body is sent, for as long as it is taken.
  for (const until = Date.now() + 5000; !answer.includes('\r\n\r\n') && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
  t.match(answer, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close/i, 'answered 200, saying the connection closes');
  const chunk = Buffer.alloc(1 << 20, 120);
  let sent = 0;
  for (const until = Date.now() + 3000; Date.now() < until && !socket.destroyed && socket.writable && sent < 256 << 20;) {
    if (!socket.write(chunk)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); setTimeout(r, 200); });
    sent += chunk.length;
  }
  socket.destroy();
  t.ok(sent < 64 << 20, `the server stopped taking the body (${sent >> 20} MiB written)`);
  // Without the flag (the server of the other tests, no token asked for a preflight's sake: TensorFlow Serving's answer).
  const plain = await startServe(['--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0']);
  t.teardown(() => { plain.child.kill('SIGKILL'); });
  const bare = await curl(['-i', '-X', 'OPTIONS', ...ORIGIN, '-H', 'Access-Control-Request-Method: POST', `${plain.url}/v1/models/half:predict`]);
  t.equal(bare.status, 200, 'without the flag: 200, as tensorflow_model_server answers a preflight of /v1');
  t.equal(headersOf(bare.body)['access-control-allow-origin'], undefined, 'with no CORS header (the browser refuses the call)');
  const noOrigin = await curl(['-X', 'OPTIONS', `${plain.url}/v1/models/half:predict`]);
  t.same([noOrigin.status, JSON.parse(noOrigin.body)], [400, { error: 'Origin header is missing in CORS preflight' }], "no Origin: TensorFlow Serving's FAILED_PRECONDITION");
  const metrics = (await curl([`${plain.url}/metrics`])).body;
  t.match(metrics, /^:tensorflow:serving:request_count\{model_name="",status="OK"\} 1$/m, 'counted as TensorFlow Serving counts it (OK, no model)');
  t.match(metrics, /^:tensorflow:serving:request_count\{model_name="",status="FAILED_PRECONDITION"\} 1$/m);
});

t.test('BearerAuth checks its tokens and what it is sent', async (t) => {
  t.throws(() => new BearerAuth({ tokens: [] }), { code: 'ERR_INVALID_ARG_TYPE', message: /auth.tokens must be a non-empty array/ });
  t.throws(() => new BearerAuth({ tokens: ['ok', 'has space'] }), { message: /auth.tokens\[1\] must be a bearer token/ });
  const auth = new BearerAuth({ tokens: ['abc'] });
  for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Bearer abcd', 'Bearer ab', 'Bearer abc extra', 'Token abc', 'Bearerabc']) t.notOk(auth.accepts(header), String(header));
  t.ok(auth.accepts('Bearer abc') && auth.accepts('BEARER  abc '));
  t.equal(auth.openHealth, true);
});

t.test('header and slow-client limits: 431, and 408 for headers or a body that do not arrive', async (t) => {
  const big = await curl([...AUTH, '-H', `X-Padding: ${'x'.repeat(5000)}`, `${server.url}/v2/health/live`]);
  t.equal(big.status, 431);
  t.match(JSON.parse(big.body), { error: /Request Header Fields Too Large/ });
  const { port } = new URL(server.url);
  const slowly = async (head: string): Promise<{ answer: string; ms: number }> => {
    const socket = net.connect(Number(port), '127.0.0.1');
    const started = performance.now();
    let answer = '';
    socket.on('data', (d) => { answer += d; });
    socket.write(head);
    await new Promise((resolve) => socket.on('close', resolve));
    return { answer, ms: performance.now() - started };
  };
  const headers = await slowly('GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  t.match(headers.answer, /^HTTP\/1.1 408/, 'headers that never end');
  t.match(headers.answer, /\{"error":"Request Timeout: the request did not arrive whole within the time the server gives a client \(ERR_HTTP_REQUEST_TIMEOUT\)"\}$/, 'saying so (it said "not valid HTTP")');
  t.ok(headers.ms < 3000, `cut off after ${headers.ms.toFixed(0)} ms (--rest_api_header_timeout_ms 500)`);
  const body = await slowly('POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret-one\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"inst');
  t.match(body.answer, /^HTTP\/1.1 408/, 'a body that never ends');
  t.ok(body.ms < 5000, `cut off after ${body.ms.toFixed(0)} ms (--rest_api_read_timeout_ms 1500)`);
  t.equal((await curl([...AUTH, ...PREDICT, `${server.url}/v1/models/half:predict`])).status, 200, 'and the server serves on');
});

t.test("idle keep-alive connections stay open 50 s, as TensorFlow Serving's libevent keeps them (Node's 5 s closed them under load balancers: helper-139); --rest_api_keep_alive_timeout_ms sets it", async (t) => {
  // One connection: a request, an idle gap longer than the header timeout (500 ms here) and Node's 5 s, then another on the same socket.
  const exchange = async (url: string, gapMs: number): Promise<{ first: string; second: string; closedAfterMs: number | null }> => {
    const { port } = new URL(url);
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    let closedAt: number | null = null;
    socket.on('data', (d) => { answer += d; });
    socket.on('close', () => { closedAt = performance.now(); });
    const get = `GET /v2/health/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret-one\r\n\r\n`;
    socket.write(get);
    while (!answer.includes('{"live":true}')) await new Promise((resolve) => setTimeout(resolve, 10));
    const first = answer;
    answer = '';
    const idleFrom = performance.now();
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    if (closedAt === null) {
      socket.write(get);
      const until = performance.now() + 5000;
      while (!answer.includes('{"live":true}') && closedAt === null && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    socket.destroy();
    return { first, second: answer, closedAfterMs: closedAt === null ? null : closedAt - idleFrom };
  };
  const kept = await exchange(server.url, 6000);
  t.match(kept.first, /\r\nKeep-Alive: timeout=50\r\n/i, 'the answer says 50 s');
  t.equal(kept.closedAfterMs, null, 'open after 6 s idle');
  t.match(kept.second, /^HTTP\/1.1 200/, 'and the next request on it is answered');

  const short = await startServe(['--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0', '--auth_token_file', tokens, '--rest_api_keep_alive_timeout_ms', '1000']);
  try {
    const closed = await exchange(short.url, 3000);
    t.match(closed.first, /\r\nKeep-Alive: timeout=1\r\n/i, 'the answer says 1 s');
    t.ok(closed.closedAfterMs !== null && closed.closedAfterMs < 3000, `closed ${closed.closedAfterMs?.toFixed(0)} ms into the idle gap (--rest_api_keep_alive_timeout_ms 1000)`);
  } finally {
    short.child.kill('SIGKILL');
  }
});

t.test('a body is read whatever its Content-Type says, as TensorFlow Serving reads it: none, empty, not a media type', async (t) => {
  // curl: 'Content-Type:' sends none, 'Content-Type;' an empty one.
  for (const header of [['-H', 'Content-Type:'], ['-H', 'Content-Type;'], ['-H', 'Content-Type: json'], ['-H', 'Content-Type: text/plain'], ['-H', 'Content-Type: /']]) {
    const answer = await curl([...AUTH, '-X', 'POST', ...header, '--data-binary', '{"instances": [1.0, 2.0, 5.0]}', `${server.url}/v1/models/half:predict`]);
    t.same([answer.status, JSON.parse(answer.body)], [200, { predictions: [2.5, 3.0, 4.5] }], `-H ${JSON.stringify(header[1])}`);
  }
});

t.test('a model holding --max_queued_requests_per_model answers 503; other models serve on', async (t) => {
  const model = await loadModel(fixture('slow').dir);
  const n = await slowN(model, 700);
  await model.dispose();
  const body = JSON.stringify({ inputs: { n } });
  // -D -: the response's head, then its body.
  const answers = (await Promise.all(Array.from({ length: 6 }, () => curl([...AUTH, '-D', '-', '-X', 'POST', '-d', body, `${server.url}/v1/models/slow:predict`]))))
    .map(({ status, body: text }) => ({ status, head: text.slice(0, text.indexOf('\r\n\r\n')), body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
  const statuses = answers.map((a) => a.status).sort();
  t.ok(statuses.filter((s) => s === 200).length >= 2, `two are held and answered: ${statuses.join(' ')}`);
  const refused = answers.filter((a) => a.status === 503);
  t.ok(refused.length >= 1, 'the rest are refused at once');
  for (const a of refused) {
    t.match(JSON.parse(a.body), { error: /model 'slow' holds 2 requests already, its maxQueuedRequests; retry later/ });
    t.match(a.head, /\r\nconnection: close(\r\n|$)/i, 'and the connection closes after the refusal');
  }
  for (const a of answers.filter((a) => a.status === 200)) t.match(a.head, /\r\nconnection: keep-alive(\r\n|$)/i, 'answered ones stay open');
  t.equal((await curl([...AUTH, ...PREDICT, `${server.url}/v1/models/half:predict`])).status, 200, 'another model is not limited by it');
});

t.test('ModelManager maxQueuedRequests: checked; a call past it fails UNAVAILABLE at once', async (t) => {
  t.throws(() => new ModelManager({ models: [{ name: 'm', basePath: slow, maxQueuedRequests: 0 }] }), { code: 'ERR_OUT_OF_RANGE', message: /models\[0\].maxQueuedRequests must be an integer ≥ 1/ });
  t.throws(() => new ModelManager({ models: [{ name: 'm', basePath: slow, maxQueuedRequests: '2' as never }] }), { code: 'ERR_INVALID_ARG_TYPE' });
  const manager = new ModelManager({ models: [{ name: 'slow', basePath: slow, maxQueuedRequests: 1 }] });
  await manager.start();
  const model = manager.get('slow');
  const n = await slowN(model, 300);
  const feeds = { n: new Tensor('int32', new Int32Array([n]), []) };
  const [first, second] = await Promise.allSettled([manager.run('slow', feeds), manager.run('slow', feeds)]);
  t.equal(first.status, 'fulfilled');
  t.match(second, { status: 'rejected', reason: { code: 'UNAVAILABLE', queue: 'model', message: /maxQueuedRequests/ } });
  t.ok((second as PromiseRejectedResult).reason instanceof QueueFullError);
  t.ok(await manager.run('slow', feeds), 'once the first is done, the next is taken');
  await manager.stop();
});

t.test('names, versions and labels from a request select configured models only', async (t) => {
  for (const [url, status] of [
    ['/v1/models/..%2F..%2Fetc', 404], ['/v1/models/%2e%2e', 404], ['/v1/models/half/versions/..%2F1', 400],
    ['/v1/models/half/labels/..', 400], ['/v1/models/half/versions/1e3', 400], ['/v1/models/half/versions/99999999999999999999999', 404],
    [`/v1/models/${encodeURIComponent(half)}`, 404], ['/v2/models/..%2Fhalf/ready', 404],
  ] as const) {
    const answer = await curl([...AUTH, '--path-as-is', `${server.url}${url}`]);
    t.ok(answer.status === status || (answer.status >= 400 && answer.status < 500), `${url}: ${answer.status} ${answer.body}`);
    t.type((JSON.parse(answer.body) as { error: unknown }).error, 'string');
  }
  const status = await curl([...AUTH, `${server.url}/v1/models/half`]);
  t.equal(status.status, 200, 'the server serves on');
});

t.test('--auth_protect_health, and --rest_api_max_connections', async (t) => {
  const guarded = await startServe(['--model_config_file', config, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0',
    '--auth_token_file', tokens, '--auth_protect_health', '--rest_api_max_connections', '2']);
  t.teardown(() => { guarded.child.kill('SIGKILL'); });
  t.equal((await curl([`${guarded.url}/v2/health/ready`])).status, 401, 'health needs the token too');
  t.equal((await curl([...AUTH, `${guarded.url}/v2/health/ready`])).status, 200);
  t.same(await grpcCodes(guarded.grpc, [{ method: '/grpc.health.v1.Health/Check' }, { method: '/grpc.health.v1.Health/Check', token: 'secret-one' }]), ['UNAUTHENTICATED', 'OK']);
  const { port } = new URL(guarded.url);
  const open = await Promise.all([0, 1].map(() => new Promise<net.Socket>((resolve) => { const s = net.connect(Number(port), '127.0.0.1', () => resolve(s)); })));
  await new Promise((r) => setTimeout(r, 100));
  const third = await curl([...AUTH, '--max-time', '5', `${guarded.url}/v2/health/live`]).then((a) => a.status, () => 0);
  t.equal(third, 0, 'a third connection is closed unanswered');
  for (const s of open) s.destroy();
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await curl([...AUTH, `${guarded.url}/v2/health/live`])).status, 200, 'once they are gone, connections are taken again');
  guarded.child.kill('SIGTERM');
  t.equal(await guarded.exited, 0);
});

t.test('serve refuses a token file that is missing, empty or holds a bad token', async (t) => {
  const empty = path.join(tmp, 'empty');
  fs.writeFileSync(empty, '# nothing\n\n');
  const bad = path.join(tmp, 'bad');
  fs.writeFileSync(bad, 'good\nnot good\n');
  for (const [file, message] of [[path.join(tmp, 'missing'), /--auth_token_file: ENOENT/], [empty, /holds no token/], [bad, /bad:2 is not a bearer token/]] as const) {
    const r = await run(process.execPath, [path.join(__dirname, '..', 'bin', 'tfslice.js'), 'serve', '--model_name', 'half', '--model_base_path', half, '--rest_api_port', '0', '--port', '0', '--auth_token_file', file]).then(() => null, (e: { code: number; stderr: string }) => e);
    t.ok(r && r.code !== 0, 'exits non-zero');
    t.match(r?.stderr, message);
  }
});

t.test("serve refuses JSON configs of the wrong shape, naming them; a JSON config's watch and pollIntervalMs apply unless the flag is given", async (t) => {
  const serveWith = (file: string) => run(process.execPath, [path.join(__dirname, '..', 'bin', 'tfslice.js'), 'serve', '--model_config_file', file, '--rest_api_port', '0', '--port', '0'])
    .then(() => null, (e: { code: number; stderr: string }) => e);
  const shapes: [string, RegExp][] = [
    ['{"model_config_list": {"config": [{"name": "hp", "base_path": "/models/hp"}]}}', /"model_config_list" is TensorFlow Serving's ModelServerConfig as proto JSON, which tfslice does not read; write it in TensorFlow Serving's text format/],
    ['{}', /config\.models must be an array of model configs \(\[\] for none yet\), got undefined/],
    ['{"models": "hp"}', /config\.models must be an array of model configs \(\[\] for none yet\), got "hp"/],
    ['{"models": [1]}', /models\[0\] must be an object, got 1/],
    ['[]', /a JSON model config must be an object \(\{"models": .*\), not an array/],
    ['null', /a JSON model config must be an object .*, not null/],
    ['{"models": [{"name": "hp", "basePath": "hp"}], "watch": "yes"}', /config\.watch must be a boolean, got "yes"/],
    ['\uFEFF{"models": [{"name": "hp", "basePath": "hp"}], "watch": "yes"}', /config\.watch must be a boolean/],
  ];
  for (const [text, message] of shapes) {
    const file = path.join(tmp, 'shape.json');
    fs.writeFileSync(file, text);
    const r = await serveWith(file);
    t.equal(r?.code, 2, `${text}: a usage error`);
    t.match(r?.stderr, message, text);
    t.notMatch(r?.stderr, /at .*\.js:\d+|TypeError|Cannot read/, 'no stack, no raw JavaScript error');
  }

  const missing = await serveWith(path.join(tmp, 'no-such.json'));
  t.equal(missing?.code, 2, 'a config file that is not there: a usage error');
  t.match(missing?.stderr, /cannot read --model_config_file \S+no-such\.json: no model config file at \S+no-such\.json \(ENOENT/);

  // The config's own polling: off, then every 200 ms (pollIntervalMs alone: watching stays on, as
  // serve's default); no --file_system_poll_wait_seconds.
  const versions = async (url: string) => JSON.parse((await curl([`${url}/v1/models/w`])).body) as { model_version_status: { version: string; state: string }[] };
  for (const [watch, expected] of [[{ watch: false }, ['1']], [{ pollIntervalMs: 200 }, ['1', '2']]] as const) {
    const base = basePath(fs.mkdtempSync(path.join(tmp, 'w-')), 'w', { 1: 'half_plus_two' });
    const file = path.join(tmp, 'watch.json');
    fs.writeFileSync(file, JSON.stringify({ models: [{ name: 'w', basePath: base, versionPolicy: 'all' }], ...watch }));
    const served = await startServe(['--model_config_file', file, '--rest_api_port', '0']);
    try {
      fs.cpSync(fixture('half_plus_two').dir, path.join(base, '2'), { recursive: true });
      const until = performance.now() + 4000;
      let seen: string[] = [];
      while (performance.now() < until) {
        seen = (await versions(served.url)).model_version_status.filter((v) => v.state === 'AVAILABLE').map((v) => v.version).sort();
        if (seen.length === 2) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      t.same(seen, expected, `${JSON.stringify(watch)}: versions AVAILABLE ${seen.join(', ')}`);
      if (expected.length === 2) t.match(served.stderr(), /^tfslice serve: model 'w' version 2: AVAILABLE$/m, 'the new version is logged as it comes');
    } finally {
      served.child.kill('SIGTERM');
      await served.exited;
    }
  }
});

t.test('serve: SIGTERM while the models load stops it with 0, before it listens; SIGTERM just after they loaded exits 0 too', async (t) => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'tfslice.js'), 'serve', '--model_name', 'half', '--model_base_path', half, '--rest_api_port', '0', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
  // libtensorflow mapped: start() is loading the models.
  const until = performance.now() + 30_000;
  while (performance.now() < until && !fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8').includes('libtensorflow')) await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGTERM');
  t.same(await exited, [0, null], 'exit code 0, not killed by the signal');
  t.match(stderr, /SIGTERM while starting: stopping/);
  t.notMatch(stdout, /REST API at/, 'it never listened');

  // Between the models' first load and listening there is no moment without a handler.
  for (let i = 0; i < 3; i++) {
    const next = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'tfslice.js'), 'serve', '--model_name', 'half', '--model_base_path', half, '--rest_api_port', '0', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const done = new Promise<[number | null, string | null]>((resolve) => next.on('exit', (code, signal) => resolve([code, signal])));
    let log = '';
    next.stderr.on('data', (d: Buffer) => {
      if (/serving version 1/.test(log)) return; // signalled already
      log += d;
      if (/serving version 1/.test(log)) next.kill('SIGTERM');
    });
    t.same(await done, [0, null], `SIGTERM as the models' line is printed: exit 0 (${i + 1})`);
  }
});

t.test('serve: SIGTERM during a long warm-up, while starting and in watch mode after it, exits 0 at once, not when the warm-up run ends', async (t) => {
  // helper-111: while starting it waited out the warm-up (21 s after SIGTERM); after the start,
  // the drain did, then exited 1 saying "requests still in flight" with none.
  const probe = await loadModel(fixture('slow').dir, { interOpThreads: 0 });
  const long = await slowN(probe, 30_000);
  await probe.dispose();
  // TensorFlow Serving's warm-up file: one PredictionLog (predict_log { request { model_spec
  // { name } inputs { n: int32 scalar } } }), in a TFRecord file written by TensorFlow.
  const warmup = path.join(tmp, 'tf_serving_warmup_requests');
  await promisify(execFile)(PYTHON, ['-c', `
import sys, tensorflow as tf
def varint(n):
    out = b''
    while True:
        b = n & 0x7f; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, wt, payload):
    return varint((num << 3) | wt) + (varint(payload) if wt == 0 else varint(len(payload)) + payload)
tensor = field(1, 0, 3) + field(2, 2, b'') + field(7, 0, int(sys.argv[2]))
request = field(1, 2, field(1, 2, b'slow')) + field(2, 2, field(1, 2, b'n') + field(2, 2, tensor))
with tf.io.TFRecordWriter(sys.argv[1]) as w:
    w.write(field(6, 2, field(1, 2, request)))
`, warmup, String(long)], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
  const withWarmup = (dir: string) => {
    fs.mkdirSync(path.join(dir, 'assets.extra'), { recursive: true });
    fs.copyFileSync(warmup, path.join(dir, 'assets.extra', 'tf_serving_warmup_requests'));
  };
  const config = path.join(tmp, 'warm_slow.json');
  for (const when of ['starting', 'watch'] as const) {
    // Starting: version 1 warms up for ~30 s. Watch: version 1 serves (no warm-up file), version 2 comes with one.
    const base = basePath(tmp, `warm_slow_${when}`, { 1: 'slow' });
    if (when === 'starting') withWarmup(path.join(base, '1'));
    fs.writeFileSync(config, JSON.stringify({ models: [{ name: 'slow', basePath: base, loadOptions: { interOpThreads: 0 } }] }));
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'tfslice.js'), 'serve', '--model_config_file', config, '--rest_api_port', '0', '--port', '0',
      '--shutdown_grace_period_seconds', '20', '--file_system_poll_wait_seconds', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = performance.now() + 30_000;
    const waitFor = async (done: () => boolean | Promise<boolean>) => {
      while (performance.now() < until && !(await done())) await new Promise((r) => setTimeout(r, 50));
    };
    if (when === 'watch') {
      await waitFor(() => /REST API at (\S+)/.test(stdout));
      const url = /REST API at (\S+)/.exec(stdout)![1];
      const two = path.join(tmp, 'warm_slow_2');
      fs.cpSync(path.join(base, '1'), two, { recursive: true });
      withWarmup(two);
      fs.renameSync(two, path.join(base, '2'));
      await waitFor(async () => (await curl([`${url}/v1/models/slow/versions/2`])).body.includes('LOADING'));
    } else {
      await waitFor(() => fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8').includes('libtensorflow'));
    }
    await new Promise((r) => setTimeout(r, 1500)); // loaded; its warm-up run executes
    const started = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    const seconds = (performance.now() - started) / 1000;
    t.equal(code, 0, `${when}: exit code 0 (${stderr.split('\n').filter((l) => /SIGTERM|exiting|stopped/.test(l)).join(' | ')})`);
    t.ok(seconds < 10, `${when}: ended ${seconds.toFixed(1)} s after SIGTERM (the warm-up run takes ~30 s)`);
  }
});

t.test('serve: a config file that is a FIFO is read on the event loop: from its writer, and while it has none a signal exits at once', async (t) => {
  const fifo = path.join(tmp, 'models.fifo');
  await run('mkfifo', [fifo]);
  // A writer: what it writes until it closes is the config.
  const writer = spawn('sh', ['-c', 'printf "%s" "$0" > "$1"', `model_config_list { config { name: 'half' base_path: '${half}' } }`, fifo], { stdio: 'ignore' });
  // A failing run leaves nothing behind waiting on the FIFO (killing one that exited does nothing).
  const started: ChildProcess[] = [writer];
  t.teardown(() => { for (const c of started) c.kill('SIGKILL'); });
  const fed = await startServe(['--model_config_file', fifo, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0']);
  started.push(fed.child);
  t.equal((await curl([`${fed.url}/v1/models/half`])).status, 200, 'the models its writer wrote serve');
  if (writer.exitCode === null) await new Promise((resolve) => writer.once('exit', resolve));
  t.equal(writer.exitCode, 0, 'its writer was read to the end');
  fed.child.kill('SIGTERM');
  t.equal(await fed.exited, 0);
  // None: it waits for one, and a signal is heard (helper-71: open() waited in a thread of
  // libuv's pool, and the process could not exit, even on a second signal). Nothing is loaded
  // or bound while it reads its files: the first signal exits at once, with 0.
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'tfslice.js'), 'serve', '--model_config_file', fifo, '--rest_api_port', '0', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(child.exitCode, null, 'it waits for a writer');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  t.equal(await exited, 0, `the first signal exits at once, with 0 (${stderr.trim().split('\n').join(' | ')})`);
  t.match(stderr, /SIGTERM while reading the configuration: stopped/);
  clearTimeout(timer);
});

t.test('the server stops cleanly after all that', async (t) => {
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
});
