#!/usr/bin/env node
// The HTTP floor of bench/serve.js: fastify answering TensorFlow Serving's predict path with a
// constant, after reading the body as the others do. What any Node server pays before a
// model runs. argv: port (model pairs are ignored). Prints "ready" once listening.
'use strict';

const path = require('node:path');

const Fastify = require(require.resolve('fastify', { paths: [path.resolve(__dirname, '..', '..')] }));

(async () => {
  const app = Fastify({ bodyLimit: 64 << 20 });
  app.post('/v1/models/:target', async () => ({ predictions: [[0]] }));
  await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) });
  process.stdout.write('ready\n');
})();
