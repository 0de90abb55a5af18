#!/usr/bin/env node
// The serving section of `npm run bench`: REST predict through `tfslice serve` against, in the
// same run, run() in-process (the floor), a FastAPI + uvicorn server calling TensorFlow, and a
// fastify server around tfjs-node; and a 4 MiB tensor through the v2 binary extension against
// v2 JSON; a fastify server answering a constant shows what HTTP alone costs. Load comes from
// autocannon (requests/s at concurrency 1, 8 and 64) and from a sequential keep-alive client
// (latency at concurrency 1, in µs); servers and clients share this machine's cores, the same
// for every contender. Then gRPC Predict through tfslice serve's gRPC side, against REST: with a
// grpc-js client, and (where nghttp2's h2load is on PATH) REST and gRPC with that one C client.
// Then a 31 MiB predict body read on the codec threads (the default) and on the event loop
// (--offload_bytes=Infinity): the request's time and the longest wait for a health probe. Last,
// overload: 2000 connections that send again as soon as they are answered (503s too), on tiny,
// with batching off and on (maxBatchSize 32): what gets answered, and how long fresh-connection
// health probes (REST and gRPC) wait meanwhile.
//
//   node bench/serve.js [--quick] [--json] [--no-tfjs] [--no-python] [--overload-only]
'use strict';

const { execFile, execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(__dirname, '.cache');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python3');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const SECONDS = quick ? 2 : 5;
const LATENCY_REQUESTS = quick ? 500 : 2000;

const log = (m) => process.stderr.write(`[bench serve] ${m}\n`);

const MODELS = {
  tiny: { dir: path.join(ROOT, 'test', 'fixtures', 'tiny', 'model'), shape: [1, 4] },
  mlp: { dir: path.join(CACHE, 'models', 'mlp', 'model'), shape: [1, 512] },
};
const BIG = path.join(CACHE, 'models', 'big_io', 'model'); // y = 2x on [1, 1048576] float32: 4 MiB each way
const HALF = path.join(ROOT, 'test', 'fixtures', 'half_plus_two', 'model'); // y = 0.5x + 2 on any number of floats

function prepare() {
  const missing = ['mlp', 'big_io'].filter((m) => !fs.existsSync(path.join(CACHE, 'models', m, 'model', 'saved_model.pb')));
  if (missing.length) {
    log(`generating ${missing.join(', ')} with scripts/make-fixtures.py --bench`);
    execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'make-fixtures.py'), '--bench', '--only', missing.join(',')], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

function pythonAvailable() {
  if (args.includes('--no-python')) return false;
  const probe = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn'], { stdio: 'ignore' });
  if (probe.status === 0) return true;
  log('installing fastapi and uvicorn into .venv for the Python contender');
  const pipArgs = (process.env.TFSLICE_PIP_ARGS ?? '--retries 0').split(/\s+/).filter(Boolean);
  return spawnSync(PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...pipArgs, 'fastapi', 'uvicorn'], { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
}

function tfjsAvailable() {
  if (args.includes('--no-tfjs')) return false;
  const setup = spawnSync('bash', [path.join(__dirname, 'tfjs', 'setup.sh')], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
  return setup.status === 0;
}

function freePort() {
  return new Promise((resolve) => {
    const server = http.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Resolves once something answers HTTP on the port (uvicorn prints its startup before it binds).
async function answering(url, until) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const request = http.get(url, (response) => { response.resume(); resolve(true); });
      request.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing answers on ${url}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startServer(command, argv, models) {
  const port = await freePort();
  const child = spawn(command, [...argv, String(port), ...models], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  let errors = ''; // shown only if the server fails (TensorFlow's start-up notices otherwise)
  child.stderr.on('data', (d) => { errors = (errors + d).slice(-4000); });
  const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`${command} ${argv.join(' ')} exited ${code}: ${errors}`))));
  const url = `http://127.0.0.1:${port}`;
  let out = '';
  const ready = new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
  });
  try {
    await Promise.race([ready.then(() => answering(url, Date.now() + 60_000)), exited]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { url, output: () => out, stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }) };
}

function body(model) {
  const n = MODELS[model].shape[1];
  return JSON.stringify({ instances: [Array.from({ length: n }, (_, i) => ((i % 97) / 97).toFixed(4)).map(Number)] });
}

// Latency at concurrency 1, in µs: sequential requests on one keep-alive connection, from a
// client that writes prebuilt request bytes and reads up to Content-Length (as wrk does), so
// the client's own cost stays small against the server's. `warmup` requests first, not counted.
function latency(url, payload, count, headers = { 'content-type': 'application/json' }, warmup = 500) {
  const target = new URL(url);
  const head = Object.entries({ ...headers, host: target.host, 'content-length': String(payload.length) }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const request = Buffer.concat([Buffer.from(`POST ${target.pathname} HTTP/1.1\r\n${head}\r\n`), Buffer.from(payload)]);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(target.port), target.hostname);
    socket.setNoDelay(true);
    const samples = [];
    let pending = Buffer.alloc(0); // a response head not complete yet
    let remaining = -1; // body bytes still to come (-1: reading a head)
    let status = '';
    let started = 0n;
    const send = () => {
      started = process.hrtime.bigint();
      socket.write(request);
    };
    const done = (leftover) => {
      const elapsed = Number(process.hrtime.bigint() - started) / 1000;
      if (!status.startsWith('HTTP/1.1 200')) return fail(new Error(`${url}: ${status}`));
      samples.push(elapsed);
      remaining = -1;
      pending = leftover;
      if (samples.length < warmup + count) return send();
      socket.end();
      const measured = samples.slice(warmup).sort((a, b) => a - b);
      resolve({ p50: measured[Math.floor(measured.length * 0.5)], p99: measured[Math.floor(measured.length * 0.99)], mean: measured.reduce((a, b) => a + b, 0) / measured.length });
    };
    const fail = (error) => {
      socket.destroy();
      reject(error);
    };
    socket.on('error', fail);
    socket.on('connect', send);
    socket.on('data', (chunk) => {
      if (remaining < 0) {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = pending.subarray(0, end).toString('latin1');
        const length = /\r\ncontent-length: *(\d+)/i.exec(text);
        if (!length) return fail(new Error(`${url}: a response without Content-Length`));
        status = text.slice(0, text.indexOf('\r\n'));
        remaining = Number(length[1]);
        chunk = pending.subarray(end + 4);
        pending = Buffer.alloc(0);
      }
      if (chunk.length < remaining) {
        remaining -= chunk.length;
        return;
      }
      done(chunk.subarray(remaining));
    });
  });
}

async function throughput(url, payload, connections) {
  const autocannon = require('autocannon');
  const result = await autocannon({ url, method: 'POST', body: payload, headers: { 'content-type': 'application/json' }, connections, duration: SECONDS });
  return { rps: result.requests.average, errors: result.errors + result.non2xx, p99ms: result.latency.p99 };
}

// run() in-process: the floor under any server. p50 back to back (what the targets compare
// with), and p50 after 1 ms idle, as a server's run meets it between requests: a thread that
// slept longer than the hypervisor polls for takes that long to wake.
async function inProcess() {
  const { loadModel, Tensor } = require(path.join(ROOT, 'dist', 'index.js'));
  const out = {};
  const p50 = (samples) => samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
  for (const [name, m] of Object.entries(MODELS)) {
    const model = await loadModel(m.dir);
    const data = Float32Array.from({ length: m.shape[1] }, (_, i) => (i % 97) / 97);
    const key = Object.keys(model.signatures.serving_default.inputs)[0];
    const once = async () => {
      const t = process.hrtime.bigint();
      await model.run({ [key]: new Tensor('float32', data, m.shape) });
      return Number(process.hrtime.bigint() - t) / 1000;
    };
    for (let i = 0; i < 200; i++) await once();
    const hot = [];
    for (let i = 0; i < LATENCY_REQUESTS; i++) hot.push(await once());
    const idle = [];
    for (let i = 0; i < LATENCY_REQUESTS / 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      idle.push(await once());
    }
    let calls = 0;
    const until = Date.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (Date.now() < until) {
        await once();
        calls++;
      }
    }));
    out[name] = { p50: p50(hot), p50idle: p50(idle), rps64: calls / SECONDS };
    await model.dispose();
  }
  return out;
}

// A 4 MiB float32 tensor through v2: the binary extension against JSON, mean ms per request.
async function bigTensor(url) {
  const n = 1 << 20;
  const values = Float32Array.from({ length: n }, (_, i) => (i % 1000) / 8);
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'x', shape: [1, n], datatype: 'FP32', parameters: { binary_data_size: n * 4 } }],
    parameters: { binary_data_output: true },
  }));
  const binary = Buffer.concat([header, Buffer.from(values.buffer)]);
  const json = JSON.stringify({ inputs: [{ name: 'x', shape: [1, n], datatype: 'FP32', data: Array.from(values) }] });
  const count = quick ? 5 : 20;
  const bin = await latency(`${url}/v2/models/big/infer`, binary, count, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) }, 3);
  const js = await latency(`${url}/v2/models/big/infer`, json, Math.max(3, count / 4), undefined, 1);
  return { binaryMs: bin.mean / 1000, jsonMs: js.mean / 1000, speedup: js.mean / bin.mean };
}

// A 31 MiB predict body (2 million floats) to half_plus_two, with the server's default
// offloadBytes and with Infinity (everything on the event loop): the request's time, and the
// longest the server took between two answers to /v2/health/live, asked every ~2 ms meanwhile.
// The big request is sent from a process of its own: sending 31 MiB and reading 17 MiB of
// answer would stall this process's event loop too, and the probes with it.
async function bigBodies() {
  const n = 2_000_000;
  const payload = Buffer.from(JSON.stringify({ instances: Array.from({ length: n }, (_, i) => (i % 1000) / 7) }));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-big-body-')), 'predict.json');
  fs.writeFileSync(file, payload);
  const client = `const body = require('node:fs').readFileSync(process.argv[2]); const t0 = performance.now();
fetch(process.argv[1], { method: 'POST', body }).then(async (r) => { const n = (await r.arrayBuffer()).byteLength; if (r.status !== 200) process.exit(1); console.log(n, performance.now() - t0); });`;
  const post = (url) => new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', client, url, file], (error, stdout) => (error ? reject(error) : resolve(Number(stdout.trim().split(' ')[1]))));
  });
  const out = {};
  for (const [name, argv] of [['offloaded', []], ['on the event loop', ['--offload_bytes=Infinity']]]) {
    const server = await startServer(process.execPath, [path.join(__dirname, 'serve', 'tfslice_server.js'), ...argv], [`half=${HALF}`]);
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const probe = () => new Promise((resolve, reject) => {
        http.get(`${server.url}/v2/health/live`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      });
      const runs = [];
      for (let rep = 0; rep < (quick ? 1 : 2); rep++) {
        await probe();
        let done = false;
        const request = post(`${server.url}/v1/models/half:predict`).finally(() => { done = true; });
        let longest = 0;
        let last = performance.now();
        while (!done) {
          await probe();
          longest = Math.max(longest, performance.now() - last);
          last = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        runs.push({ requestMs: await request, longestGapMs: longest });
      }
      agent.destroy();
      out[name] = runs;
    } finally {
      await server.stop();
    }
  }
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return { bodyMiB: payload.byteLength / 2 ** 20, ...out };
}

// gRPC Predict through `tfslice serve`'s gRPC side (tensor_content out), with a grpc-js client in
// this process: p50 at c=1 and requests/s at c=64 on `tiny` (typed float_val in, as TensorFlow
// Serving's clients send it), and a 4 MiB tensor (tensor_content both ways), mean ms.
async function grpcBench() {
  const grpc = require('@grpc/grpc-js');
  const { Root } = require('protobufjs');
  const root = new Root();
  root.loadSync(path.join(ROOT, 'proto', 'tensorflow_serving.proto'), { keepCase: true });
  const Request = root.lookupType('tensorflow.serving.PredictRequest');
  const Response = root.lookupType('tensorflow.serving.PredictResponse');
  const Client = grpc.makeGenericClientConstructor({
    Predict: {
      path: '/tensorflow.serving.PredictionService/Predict', requestStream: false, responseStream: false,
      requestSerialize: (m) => Buffer.from(Request.encode(m).finish()), requestDeserialize: (b) => Request.decode(b),
      responseSerialize: (m) => Buffer.from(Response.encode(m).finish()), responseDeserialize: (b) => Response.decode(b),
    },
  }, 'PredictionService');
  const running = await startServer(process.execPath, [path.join(__dirname, 'serve', 'tfslice_server.js'), '--grpc'], [`tiny=${MODELS.tiny.dir}`, `big=${BIG}`]);
  try {
    const port = /grpc (\d+)/.exec(running.output())[1];
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
    const predict = (request) => new Promise((resolve, reject) => client.Predict(request, (e, r) => (e ? reject(e) : resolve(r))));
    const tiny = Request.create({ model_spec: { name: 'tiny' }, inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: 1 }, { size: 4 }] }, float_val: [0.1, 0.2, 0.3, 0.4] } } });
    for (let i = 0; i < 500; i++) await predict(tiny);
    const samples = [];
    for (let i = 0; i < LATENCY_REQUESTS; i++) {
      const t0 = process.hrtime.bigint();
      await predict(tiny);
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    samples.sort((a, b) => a - b);
    let calls = 0;
    const until = Date.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (Date.now() < until) {
        await predict(tiny);
        calls++;
      }
    }));
    const n = 1 << 20;
    const values = Float32Array.from({ length: n }, (_, i) => (i % 1000) / 8);
    const big = Request.create({ model_spec: { name: 'big' }, inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: 1 }, { size: n }] }, tensor_content: Buffer.from(values.buffer) } } });
    await predict(big);
    const count = quick ? 5 : 20;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await predict(big);
    const bigMs = (performance.now() - t0) / count;
    client.close();
    const h2 = await h2loadBoth(running.url, port, Buffer.from(Request.encode(tiny).finish()));
    return { p50us: samples[Math.floor(samples.length / 2)], rps64: calls / SECONDS, bigMs, h2load: h2 };
  } finally {
    await running.stop();
  }
}

// REST and gRPC Predict on `tiny` at 64 in flight against the same server, both driven by h2load
// (nghttp2's load generator, C): a client that costs the shared cores little and the same for
// both. REST: HTTP/1.1, 64 keep-alive connections; gRPC: one connection with 64 streams, as a
// gRPC channel sends them. `reps` pairs, the order swapped every pair (what runs second may find
// the VM in another mood); per pair the ratio gRPC / REST. h2load counts an HTTP 200 as done, and
// a gRPC error is a 200 too, so the message is first sent once over node:http2 and its
// grpc-status read. null without h2load on PATH.
async function h2loadBoth(restUrl, grpcPort, message) {
  if (spawnSync('h2load', ['--version'], { encoding: 'utf8' }).status !== 0) {
    log('h2load: not on PATH (apt-get install nghttp2-client): gRPC vs REST measured with grpc-js and autocannon only');
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-h2load-'));
  try {
    const framed = Buffer.alloc(5 + message.length);
    framed.writeUInt32BE(message.length, 1); // gRPC's length-prefixed message: no compression flag, then the length
    message.copy(framed, 5);
    const grpcUrl = `http://127.0.0.1:${grpcPort}/tensorflow.serving.PredictionService/Predict`;
    const status = await grpcStatusOf(grpcUrl, framed);
    if (status !== '0') throw new Error(`the gRPC message h2load would send is answered with grpc-status ${status}`);
    fs.writeFileSync(path.join(dir, 'grpc.bin'), framed);
    fs.writeFileSync(path.join(dir, 'rest.json'), body('tiny'));
    const seconds = String(quick ? 2 : 3);
    const rate = (argv) => {
      const out = spawnSync('h2load', ['-D', seconds, ...argv], { encoding: 'utf8', timeout: 60_000 }).stdout ?? '';
      const done = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
      const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(out);
      if (!done || !rps || Number(done[2]) > 0) throw new Error(`h2load failed or saw failures: ${out.slice(-500)}`);
      return Number(rps[1]);
    };
    const restRate = () => rate(['--h1', '-c', '64', '-d', path.join(dir, 'rest.json'), '-H', 'content-type: application/json', `${restUrl}/v1/models/tiny:predict`]);
    const grpcRate = () => rate(['-c', '1', '-m', '64', '-d', path.join(dir, 'grpc.bin'), '-H', 'content-type: application/grpc', '-H', 'te: trailers', grpcUrl]);
    const rest = [];
    const grpc = [];
    const reps = quick ? 3 : 7;
    for (let i = 0; i < reps; i++) {
      if (i % 2 === 0) {
        rest.push(restRate());
        grpc.push(grpcRate());
      } else {
        grpc.push(grpcRate());
        rest.push(restRate());
      }
    }
    const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
    const ratios = grpc.map((g, i) => g / rest[i]);
    log(`h2load, tiny at 64 in flight: REST ${rest.map((x) => x.toFixed(0)).join(', ')}; gRPC ${grpc.map((x) => x.toFixed(0)).join(', ')} req/s`);
    return { restRps64: median(rest), grpcRps64: median(grpc), ratio: median(ratios), above: ratios.filter((r) => r >= 1).length, reps };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The grpc-status of one gRPC call made by hand over node:http2 (the trailers' status).
function grpcStatusOf(url, framed) {
  const { origin, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': pathname, 'content-type': 'application/grpc', te: 'trailers' });
    let status = null;
    stream.on('response', (headers) => { status = headers['grpc-status'] ?? status; });
    stream.on('trailers', (trailers) => { status = trailers['grpc-status'] ?? status; });
    stream.on('error', reject);
    stream.on('end', () => { session.close(); resolve(status); });
    stream.resume();
    stream.end(framed);
  });
}

// Overload: OVERLOAD_CONNECTIONS autocannon connections on tiny, each sending again as soon as
// it is answered, a refusal (503: the batch queue or the model's request cap is full) too:
// answers (2xx) and refusals per second, with batching off and on (maxBatchSize 32, 1 ms
// timeout, maxEnqueuedBatches 10: fewer rows wait than connections send, so the queue refuses).
// Before full batches were handed to the addon, batching answered a tenth of what unbatched did
// here: each batch waited for an event-loop turn, which the refusals made long.
const OVERLOAD_CONNECTIONS = 2000;
const OVERLOAD_BATCH = 32;
// Fresh-connection health probes (bench/serve/probe.js, a process of its own) this often meanwhile,
// over REST (the flooded listener) and gRPC (a listener of its own, on the same event loop).
const PROBE_EVERY_MS = 250;

async function overload() {
  const autocannon = require('autocannon');
  const out = {};
  for (const [name, flags] of [['unbatched', []], ['batched', [`--batching=${OVERLOAD_BATCH}`]]]) {
    const running = await startServer(process.execPath, [path.join(__dirname, 'serve', 'tfslice_server.js'), ...flags, '--grpc'], [`tiny=${MODELS.tiny.dir}`]);
    try {
      const grpcPort = /grpc (\d+)/.exec(running.output())[1];
      const probing = (target) => promisify(execFile)(process.execPath, [path.join(__dirname, 'serve', 'probe.js'), target, String(2 * SECONDS * 1000), String(PROBE_EVERY_MS)])
        .then(({ stdout }) => {
          const waits = JSON.parse(stdout).waitsMs;
          const answered = waits.filter((w) => w !== null).sort((x, y) => x - y);
          return { sent: waits.length, unanswered: waits.length - answered.length, p50Ms: answered[answered.length >> 1] ?? null, maxMs: answered.at(-1) ?? null };
        });
      const probes = Promise.all([probing(`${running.url}/v2/health/live`), probing(`grpc://127.0.0.1:${grpcPort}`)]);
      const r = await autocannon({ url: `${running.url}/v1/models/tiny:predict`, method: 'POST', body: body('tiny'), headers: { 'content-type': 'application/json' },
        connections: OVERLOAD_CONNECTIONS, duration: 2 * SECONDS });
      const [restProbes, grpcProbes] = await probes;
      out[name] = { okPerSecond: r['2xx'] / r.duration, refusedPerSecond: r.non2xx / r.duration, errors: r.errors, timeouts: r.timeouts, probes: restProbes, grpcProbes };
      log(`overload, ${name}: ${out[name].okPerSecond.toFixed(0)} answered/s, ${out[name].refusedPerSecond.toFixed(0)} refused/s; fresh-connection probes: REST ${probeText(restProbes)}, gRPC ${probeText(grpcProbes)}`);
    } finally {
      await running.stop();
    }
  }
  return out;
}

function probeText(p) {
  return `p50 ${p.p50Ms === null ? '-' : p.p50Ms.toFixed(0)} ms, max ${p.maxMs === null ? '-' : p.maxMs.toFixed(0)} ms${p.unanswered ? `, ${p.unanswered} of ${p.sent} unanswered in 30 s` : ''}`;
}

function overloadLine(o) {
  return `Overload (${OVERLOAD_CONNECTIONS} connections resending at once, tiny, maxBatchSize ${OVERLOAD_BATCH}): unbatched ${o.unbatched.okPerSecond.toFixed(0)} answered/s ` +
    `(${o.unbatched.refusedPerSecond.toFixed(0)} refused/s), batched ${o.batched.okPerSecond.toFixed(0)} answered/s (${o.batched.refusedPerSecond.toFixed(0)} refused/s): ` +
    `${(o.batched.okPerSecond / o.unbatched.okPerSecond).toFixed(2)}x. Fresh-connection probes meanwhile (one per ${PROBE_EVERY_MS} ms each): ` +
    `REST /v2/health/live unbatched ${probeText(o.unbatched.probes)}, batched ${probeText(o.batched.probes)}; ` +
    `gRPC Health/Check (its own listener) unbatched ${probeText(o.unbatched.grpcProbes)}, batched ${probeText(o.batched.grpcProbes)}`;
}

function row(cells) {
  return `| ${cells.join(' | ')} |`;
}

const SERVERS = [
  { name: 'tfslice serve', command: process.execPath, script: ['serve', 'tfslice_server.js'] },
  { name: 'tfslice serve --enable_batching', command: process.execPath, script: ['serve', 'tfslice_server.js'], flags: ['--batching'], batched: true },
  { name: 'fastify, constant answer (HTTP floor)', command: process.execPath, script: ['serve', 'http_floor.js'], floor: true },
  { name: 'FastAPI + uvicorn (TF 2.21)', command: PYTHON, script: ['serve', 'fastapi_server.py'], available: pythonAvailable },
  { name: 'fastify + tfjs-node', command: process.execPath, script: ['tfjs', 'serve.js'], available: tfjsAvailable },
];

async function measureServer(server, results) {
  const models = Object.entries(MODELS).map(([name, m]) => `${name}=${m.dir}`);
  const running = await startServer(server.command, [path.join(__dirname, ...server.script), ...(server.flags ?? [])], models);
  try {
    for (const model of Object.keys(MODELS)) {
      const url = `${running.url}/v1/models/${model}:predict`;
      const payload = body(model);
      const c1 = await latency(url, payload, LATENCY_REQUESTS);
      const rps = {};
      let errors = 0;
      for (const connections of [1, 8, 64]) {
        const r = await throughput(url, payload, connections);
        rps[connections] = r.rps;
        errors += r.errors;
      }
      results.models[model].servers[server.name] = { p50us: c1.p50, p99us: c1.p99, rps1: rps[1], rps8: rps[8], rps64: rps[64], errors, floor: Boolean(server.floor), batched: Boolean(server.batched) };
      log(`${server.name} ${model}: p50 ${c1.p50.toFixed(0)} µs; ${rps[1].toFixed(0)}, ${rps[8].toFixed(0)}, ${rps[64].toFixed(0)} req/s at 1, 8, 64`);
    }
  } finally {
    await running.stop();
  }
}

function report(results) {
  const f = (n) => (n === undefined ? '' : n.toFixed(0));
  const lines = [`Serving: REST predict, ${results.machine.cpus} × ${results.machine.model}, Node ${results.machine.node}; servers and load generator share these cores`, '',
    row(['model', 'server', 'p50 µs, c=1', 'p99 µs, c=1', 'req/s, c=1', 'req/s, c=8', 'req/s, c=64', 'errors']), row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:'])];
  for (const [model, r] of Object.entries(results.models)) {
    lines.push(row([model, 'run() in-process (after 1 ms idle)', `${f(r.floor.p50)} (${f(r.floor.p50idle)})`, '', '', '', f(r.floor.rps64), '']));
    for (const [name, s] of Object.entries(r.servers)) lines.push(row([model, name, f(s.p50us), f(s.p99us), f(s.rps1), f(s.rps8), f(s.rps64), String(s.errors)]));
  }
  const b = results.big;
  lines.push('', `4 MiB float32 in and out through /v2/models/big/infer: binary extension ${b.binaryMs.toFixed(1)} ms, JSON ${b.jsonMs.toFixed(1)} ms (${b.speedup.toFixed(1)}x; target >= 5)`);
  const bb = results.bigBodies;
  if (bb) {
    const range = (runs, key) => `${Math.min(...runs.map((r) => r[key])).toFixed(0)}–${Math.max(...runs.map((r) => r[key])).toFixed(0)}`;
    lines.push(`A ${bb.bodyMiB.toFixed(0)} MiB predict body: longest wait for a health probe ${range(bb.offloaded, 'longestGapMs')} ms offloaded, ` +
      `${range(bb['on the event loop'], 'longestGapMs')} ms on the event loop; the request ${range(bb.offloaded, 'requestMs')} vs ${range(bb['on the event loop'], 'requestMs')} ms`);
  }
  const g = results.grpc;
  if (g) {
    const rest = results.models.tiny?.servers['tfslice serve'];
    lines.push(`gRPC Predict (grpc-js client): tiny p50 ${f(g.p50us)} µs at c=1, ${f(g.rps64)} req/s at c=64` +
      `${rest ? ` (${(g.rps64 / rest.rps64).toFixed(2)}x REST's ${f(rest.rps64)} with autocannon, a lighter client on the shared cores; the target >= 1 is read from h2load, below)` : ''}; ` +
      `4 MiB with tensor_content both ways ${g.bigMs.toFixed(1)} ms (${(b.jsonMs / g.bigMs).toFixed(1)}x v2 JSON; target >= 5)`);
    if (g.h2load) {
      lines.push(`gRPC vs REST with one C load generator (h2load, ${g.h2load.reps} pairs, order swapped every pair): tiny at 64 in flight, gRPC ${f(g.h2load.grpcRps64)} req/s ` +
        `(one connection, 64 streams; median) vs REST ${f(g.h2load.restRps64)} (64 connections): median ratio ${g.h2load.ratio.toFixed(2)}x, gRPC at or above REST in ` +
        `${g.h2load.above} of ${g.h2load.reps} pairs (target >= 1)`);
    }
  }
  if (results.overload) lines.push(overloadLine(results.overload));
  for (const [model, r] of Object.entries(results.models)) {
    const ours = r.servers['tfslice serve'];
    const batched = r.servers['tfslice serve --enable_batching'];
    const peers = Object.values(r.servers).filter((s) => s !== ours && !s.floor && !s.batched).map((s) => s.rps64);
    const best = Math.max(...peers, 0);
    lines.push(`${model}: c=64 ${best ? `${(ours.rps64 / best).toFixed(2)}x the best peer (target >= 2)` : 'no peer ran'}; c=1 p50 ${(ours.p50us - r.floor.p50).toFixed(0)} µs over run() (target <= 150)` +
      (batched ? `; with batching c=64 ${(batched.rps64 / ours.rps64).toFixed(2)}x unbatched (target >= 3)${best ? `, ${(batched.rps64 / best).toFixed(2)}x the best peer` : ''}` : ''));
  }
  return lines.join('\n');
}

async function main() {
  if (args.includes('--overload-only')) {
    process.stdout.write(`${overloadLine(await overload())}\n`);
    return;
  }
  prepare();
  const results = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, models: {}, big: null };
  log('run() in-process');
  const floor = await inProcess();
  for (const model of Object.keys(MODELS)) results.models[model] = { floor: floor[model], servers: {} };
  for (const server of SERVERS) {
    if (server.available && !server.available()) {
      log(`${server.name}: left out (not installable here, or turned off by a flag)`);
      continue;
    }
    log(`${server.name}: measuring`);
    await measureServer(server, results);
  }
  log('4 MiB through v2: binary vs JSON');
  const big = await startServer(process.execPath, [path.join(__dirname, 'serve', 'tfslice_server.js')], [`big=${BIG}`]);
  try {
    results.big = await bigTensor(big.url);
  } finally {
    await big.stop();
  }
  log('a 31 MiB predict body: offloaded and on the event loop');
  results.bigBodies = await bigBodies();
  log('gRPC Predict: tiny at c=1 and 64, 4 MiB with tensor_content');
  results.grpc = await grpcBench();
  log(`overload: ${OVERLOAD_CONNECTIONS} connections on tiny, batching off and on`);
  results.overload = await overload();
  fs.mkdirSync(CACHE, { recursive: true });
  fs.writeFileSync(path.join(CACHE, 'serve.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(results)}\n` : `${report(results)}\n`);
}

module.exports = { report, bigBodies };

if (require.main === module) main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
