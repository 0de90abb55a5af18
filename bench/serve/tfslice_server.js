#!/usr/bin/env node
// The tfslice contender of bench/serve.js: `tfslice serve`'s server (createServer) over a
// ModelManager of the given models, on 127.0.0.1:<port>. argv: [--batching] [--grpc] port, then name=dir
// pairs (each dir a SavedModel, served as version 1). --batching batches every model with
// TensorFlow Serving's defaults, as `tfslice serve --enable_batching`; --batching=N with
// maxBatchSize N and batchTimeoutMicros 1000. --offload_bytes=N sets the
// server's offloadBytes (a number, or Infinity). Prints "ready" once listening.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const { ModelManager } = require(path.join(ROOT, 'dist', 'index.js'));
const { bindGrpc, createGrpcServer, createServer } = require(path.join(ROOT, 'dist', 'serve', 'index.js'));

(async () => {
  const argv = process.argv.slice(2);
  // --batching=N: maxBatchSize N with a 1 ms batch timeout instead (the overload section's).
  const batchingArg = /^--batching(?:=(\d+))?$/.exec(argv[0] ?? '');
  if (batchingArg) argv.shift();
  const batching = batchingArg === null ? false : batchingArg[1] === undefined ? true : { maxBatchSize: Number(batchingArg[1]), batchTimeoutMicros: 1000 };
  // --grpc: the gRPC services too, on a free port (printed as "grpc <port>"), tensors out as tensor_content.
  const withGrpc = argv[0] === '--grpc';
  if (withGrpc) argv.shift();
  const offload = /^--offload_bytes=(.+)$/.exec(argv[0] ?? '');
  if (offload) argv.shift();
  const [port, ...pairs] = argv;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-bench-serve-'));
  process.on('exit', () => fs.rmSync(base, { recursive: true, force: true }));
  const models = pairs.map((pair) => {
    const [name, dir] = pair.split('=');
    fs.mkdirSync(path.join(base, name));
    fs.symlinkSync(dir, path.join(base, name, '1'));
    return batching ? { name, basePath: path.join(base, name), batching } : { name, basePath: path.join(base, name) };
  });
  const manager = new ModelManager({ models });
  await manager.start();
  const app = await createServer({ manager, timeoutMs: 0, ...(offload ? { offloadBytes: Number(offload[1]) } : {}) });
  await app.listen({ host: '127.0.0.1', port: Number(port) });
  if (withGrpc) {
    const grpcServer = createGrpcServer({ manager, tensorContent: true, timeoutMs: 0 });
    process.stdout.write(`grpc ${await bindGrpc(grpcServer, '127.0.0.1', 0)}\n`);
  }
  process.stdout.write('ready\n');
  const stop = () => app.close().then(() => manager.stop()).then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
})();
