#!/usr/bin/env node
// The tfjs-node contender of bench/serve.js: a fastify server around @tensorflow/tfjs-node
// (bench/tfjs/setup.sh installs it) answering TensorFlow Serving's predict request with
// tf.tensor -> model.predict -> arraySync, as a Node service would be written without tfslice.
// argv: port, then name=dir pairs. Prints "ready" once listening.
'use strict';

process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';
const path = require('node:path');

const tf = require(require.resolve('@tensorflow/tfjs-node', { paths: [path.join(__dirname, '.install')] }));
const Fastify = require(require.resolve('fastify', { paths: [path.resolve(__dirname, '..', '..')] }));

(async () => {
  const [port, ...pairs] = process.argv.slice(2);
  const models = new Map();
  for (const pair of pairs) {
    const [name, dir] = pair.split('=');
    models.set(name, await tf.node.loadSavedModel(dir, ['serve'], 'serving_default'));
  }
  const app = Fastify({ bodyLimit: 64 << 20 });
  app.post('/v1/models/:target', async (request, reply) => {
    const [name, verb] = request.params.target.split(':');
    const model = models.get(name);
    if (verb !== 'predict' || !model) return reply.code(404).send({ error: 'not found' });
    const predictions = tf.tidy(() => {
      const result = model.predict(tf.tensor(request.body.instances, undefined, 'float32'));
      return (result instanceof tf.Tensor ? result : Object.values(result)[0]).arraySync();
    });
    return { predictions };
  });
  await app.listen({ host: '127.0.0.1', port: Number(port) });
  process.stdout.write('ready\n');
})();
