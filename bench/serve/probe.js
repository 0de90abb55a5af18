#!/usr/bin/env node
// Fresh-connection probes, as a Kubernetes liveness probe makes them: a new TCP connection and
// one request each, one every `everyMs` for `forMs`, each given up after 30 s. For an http://
// URL, a GET (agent: false); for grpc://host:port, grpc.health.v1.Health/Check on a channel of
// its own (a local subchannel pool: grpc-js would otherwise share one connection).
// argv: url forMs everyMs. Prints JSON: { waitsMs: [answer after the probe began, ms, for each
// probe in the order sent; null for one not answered within 30 s or failed] }. Run in a
// process of its own so that the load generator's event loop does not delay it.
'use strict';

const http = require('node:http');

const [url, forMs, everyMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const GIVE_UP_MS = 30_000;

function httpProbe() {
  return new Promise((resolve) => {
    const started = performance.now();
    const request = http.get(url, { agent: false, timeout: GIVE_UP_MS }, (response) => {
      resolve(response.statusCode === 200 ? performance.now() - started : null);
      response.resume();
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', () => resolve(null));
  });
}

function grpcProbe() {
  const grpc = require('@grpc/grpc-js');
  const bytes = (b) => b;
  return new Promise((resolve) => {
    const started = performance.now();
    const client = new grpc.Client(url.slice('grpc://'.length), grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    // HealthCheckRequest { service: "" } is the empty message; SERVING is field 1 = 1 (0x08 0x01).
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', bytes, bytes, Buffer.alloc(0), { deadline: Date.now() + GIVE_UP_MS }, (error, answer) => {
      resolve(error === null && answer.equals(Buffer.from([0x08, 0x01])) ? performance.now() - started : null);
      client.close();
    });
  });
}

(async () => {
  const probe = url.startsWith('grpc://') ? grpcProbe : httpProbe;
  const waits = [];
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    waits.push(probe());
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  process.stdout.write(`${JSON.stringify({ waitsMs: await Promise.all(waits) })}\n`);
})();
