#!/usr/bin/env node
// Fresh-connection probes, as a Kubernetes liveness probe makes them: a new TCP connection and
// one GET each (agent: false), one every `everyMs` for `forMs`, each given up after 30 s.
// argv: url forMs everyMs. Prints JSON: { waitsMs: [first byte after connect() began, ms, for
// each probe in the order sent; null for one not answered within 30 s] }. Run in a process of
// its own so that the load generator's event loop does not delay it.
'use strict';

const http = require('node:http');

const [url, forMs, everyMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const GIVE_UP_MS = 30_000;

function probe() {
  return new Promise((resolve) => {
    const started = performance.now();
    const request = http.get(url, { agent: false, timeout: GIVE_UP_MS }, (response) => {
      resolve(performance.now() - started);
      response.resume();
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', () => resolve(null));
  });
}

(async () => {
  const waits = [];
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    waits.push(probe());
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  process.stdout.write(`${JSON.stringify({ waitsMs: await Promise.all(waits) })}\n`);
})();
