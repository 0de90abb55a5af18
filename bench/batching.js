#!/usr/bin/env node
// The batching section of `npm run bench`: requests of one row each through run(), at
// concurrency 1 and 32, with dynamic batching off and on (batchTimeoutMicros 0 and 1000), on
// mlp (512→1024→1024→10), tiny and a small conv model. Each (model, setting) runs in a fresh
// process; repetitions interleave the settings and their samples are pooled.
//
//   node bench/batching.js [--quick] [--json] [--reps N]
//
// The targets (issue 15): mlp at c=32 ≥ 6× the requests/s of unbatched with a p99 no worse;
// tiny ≥ 2×; at c=1 with timeout 0, p50 ≤ 1.1× unbatched. The serving side (tfslice serve
// with --enable_batching at c=64) is in bench/serve.js.
'use strict';

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(__dirname, '.cache');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python3');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const reps = Number(args[args.indexOf('--reps') + 1] ?? 0) || (quick ? 1 : 3);
const SECONDS = quick ? 0.5 : 1.5;
const CONCURRENCY = [1, 32];

const log = (m) => process.stderr.write(`[bench batching] ${m}\n`);

const MODELS = {
  mlp: { dir: path.join(CACHE, 'models', 'mlp', 'model'), shape: [1, 512] },
  tiny: { dir: path.join(ROOT, 'test', 'fixtures', 'tiny', 'model'), shape: [1, 4] },
  conv: { dir: path.join(ROOT, 'test', 'fixtures', 'conv', 'model'), shape: [1, 8, 8, 3] },
};

const SETTINGS = {
  off: undefined,
  'on, timeout 0': { maxBatchSize: 32, batchTimeoutMicros: 0 },
  'on, timeout 1000 µs': { maxBatchSize: 32, batchTimeoutMicros: 1000 },
};

function batchStats(model) {
  return model.stats().batching.serving_default ?? { rows: 0, batches: 0 };
}

// One (model, setting) in this process: c=1 then c=32, each for SECONDS after a warm-up.
async function child(job) {
  const { loadModel, Tensor } = require(path.join(ROOT, 'dist', 'index.js'));
  const model = await loadModel(job.dir, job.batching ? { batching: job.batching } : {});
  const key = Object.keys(model.signatures.serving_default.inputs)[0];
  const size = job.shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: size }, (_, i) => (i % 97) / 97);
  const once = async () => {
    const out = await model.run({ [key]: new Tensor('float32', data, job.shape) });
    for (const t of Object.values(out)) t.dispose();
  };
  const result = {};
  for (const concurrency of CONCURRENCY) {
    for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: concurrency }, once));
    const samples = [];
    const before = batchStats(model);
    const until = performance.now() + job.seconds * 1000;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const a = performance.now();
        await once();
        samples.push((performance.now() - a) * 1000);
      }
    }));
    const wall_ms = performance.now() - t0;
    const after = batchStats(model);
    const meanBatch = after.batches > before.batches ? (after.rows - before.rows) / (after.batches - before.batches) : 1;
    result[concurrency] = { wall_ms, samples_us: samples, meanBatch };
  }
  await model.dispose();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function quantile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

function summarize(runs, concurrency) {
  const samples = runs.flatMap((r) => r[concurrency].samples_us).sort((a, b) => a - b);
  const wall = runs.reduce((n, r) => n + r[concurrency].wall_ms, 0);
  const meanBatch = runs.reduce((n, r) => n + r[concurrency].meanBatch, 0) / runs.length;
  return { rps: samples.length / (wall / 1000), p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), meanBatch };
}

function report(results) {
  const f = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const lines = [
    `Batching: requests of one row through run(), ${results.machine}; ${results.reps} repetition(s) × ${results.seconds} s per concurrency`, '',
    '| model | batching | req/s, c=1 | p50 µs, c=1 | req/s, c=32 | p50 µs, c=32 | p99 µs, c=32 | mean batch, c=32 | c=32 ÷ off | c=1 p50 ÷ off |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [model, settings] of Object.entries(results.models)) {
    const off = settings.off;
    for (const [name, s] of Object.entries(settings)) {
      lines.push(`| ${model} | ${name} | ${f(s[1].rps)} | ${f(s[1].p50)} | ${f(s[32].rps)} | ${f(s[32].p50)} | ${f(s[32].p99)} | ${f(s[32].meanBatch, 1)} | ${f(s[32].rps / off[32].rps, 2)} | ${f(s[1].p50 / off[1].p50, 2)} |`);
    }
  }
  lines.push('');
  const target = { mlp: 6, tiny: 2 };
  for (const [model, settings] of Object.entries(results.models)) {
    const off = settings.off;
    const best = Object.entries(settings).filter(([n]) => n !== 'off').sort((a, b) => b[1][32].rps - a[1][32].rps)[0];
    const on0 = settings['on, timeout 0'];
    lines.push(`${model}: c=32 ${(best[1][32].rps / off[32].rps).toFixed(2)}x unbatched (${best[0]}${target[model] ? `; target >= ${target[model]}` : ''}), ` +
      `p99 ${f(best[1][32].p99)} vs ${f(off[32].p99)} µs; c=1 timeout 0 p50 ${(on0[1].p50 / off[1].p50).toFixed(2)}x unbatched (target <= 1.1)`);
  }
  return lines.join('\n');
}

function prepare() {
  if (!fs.existsSync(path.join(MODELS.mlp.dir, 'saved_model.pb'))) {
    log('generating mlp with scripts/make-fixtures.py --bench');
    execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'make-fixtures.py'), '--bench', '--only', 'mlp'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

function main() {
  prepare();
  const raw = {};
  const jobs = Object.entries(MODELS).flatMap(([model, m]) => Object.entries(SETTINGS).map(([setting, batching]) => ({ model, setting, dir: m.dir, shape: m.shape, batching, seconds: SECONDS })));
  for (let rep = 0; rep < reps; rep++) {
    // Rotate so that no setting always runs first.
    const order = jobs.map((_, i) => jobs[(i + rep) % jobs.length]);
    for (const job of order) {
      log(`repetition ${rep + 1}/${reps}: ${job.model}, batching ${job.setting}`);
      const r = spawnSync(process.execPath, [__filename, '--child', JSON.stringify(job)], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' }, maxBuffer: 256 << 20 });
      if (r.status !== 0) throw new Error(`${job.model}, ${job.setting} failed: ${r.stderr.slice(-800)}`);
      ((raw[job.model] ??= {})[job.setting] ??= []).push(JSON.parse(r.stdout.trim().split('\n').pop()));
    }
  }
  const results = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`,
    reps, seconds: SECONDS, models: {},
  };
  for (const [model, settings] of Object.entries(raw)) {
    results.models[model] = {};
    for (const [setting, runs] of Object.entries(settings)) results.models[model][setting] = Object.fromEntries(CONCURRENCY.map((c) => [c, summarize(runs, c)]));
  }
  fs.mkdirSync(CACHE, { recursive: true });
  fs.writeFileSync(path.join(CACHE, 'batching.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(results)}\n` : `${report(results)}\n`);
}

module.exports = { report };

if (require.main === module) {
  const at = args.indexOf('--child');
  if (at >= 0) {
    child(JSON.parse(args[at + 1])).catch((error) => {
      process.stderr.write(`${error.stack}\n`);
      process.exit(1);
    });
  } else {
    main();
  }
}
