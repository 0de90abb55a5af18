#!/usr/bin/env node
// `npm run bench`: tfslice against the C API floor, Python TensorFlow and (when it
// installs) @tensorflow/tfjs-node, on the same SavedModels and inputs, in one run.
//
//   node bench/run.js [--quick] [--reps N] [--json] [--only tiny,mlp,big_io] [--no-tfjs] [--no-serve] [--no-batching]
//
// Then the batching section (bench/batching.js): run() with dynamic batching off and on, and
// the serving section (bench/serve.js): `tfslice serve` against peers over HTTP.
//
// Every contender is a child process that takes a JSON job list and prints one line
// {load_ms, wall_ms, calls, samples_us} per job. Repetitions interleave the
// contenders (their order rotates each repetition); samples of all repetitions are
// pooled. The table gives p50/p99/mean latency, throughput and load time, with
// ratios to the C floor of the same session options, then which performance targets the run
// meets (bench/targets.js). Progress goes to stderr; the tables to stdout; the JSON to
// bench/.cache/results.json (or stdout with --json).
'use strict';

const { execFileSync, spawnSync } = require('node:child_process');
const { evaluate, report: reportTargets } = require('./targets');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(__dirname, '.cache');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python3');
const TF_DIR = path.join(ROOT, '.venv', 'lib', `python3.${pythonMinor()}`, 'site-packages', 'tensorflow');
const TFJS = path.join(__dirname, 'tfjs');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const reps = Number(valueOf('--reps') ?? (quick ? 1 : 3));
const only = valueOf('--only')?.split(',');

function valueOf(flag) {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

function pythonMinor() {
  const lib = path.join(ROOT, '.venv', 'lib');
  const dir = fs.existsSync(lib) ? fs.readdirSync(lib).find((d) => d.startsWith('python3.')) : undefined;
  return dir ? dir.slice('python3.'.length) : '11';
}

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---------------------------------------------------------------------------
// What is measured
// ---------------------------------------------------------------------------

const SECONDS = quick ? 0.2 : 0.6; // timed loop per job and repetition

const MODELS = {
  tiny: { dir: path.join(ROOT, 'test', 'fixtures', 'tiny', 'model'), shape: [1, 4], iterations: 200000, warmup: 500, floor: 'c' },
  mlp: { dir: path.join(CACHE, 'models', 'mlp', 'model'), shape: [32, 512], iterations: 20000, warmup: 30, floor: 'c' },
  big_io: { dir: path.join(CACHE, 'models', 'big_io', 'model'), shape: [1, 1048576], iterations: 20000, warmup: 20, floor: 'c-nocopy' },
};

// Session options: TensorFlow's defaults, and ops inline on the calling thread
// (tfslice's default; the C floor and Python get the same ConfigProto bytes).
const OPTION_SETS = {
  'tf-default': { tfslice: { interOpThreads: 0 }, config: '' },
  inline: { tfslice: { interOpThreads: -1 }, config: '' /* filled in below */ },
};

// Contenders: how each runs a job. `options` lists the option sets it takes part in.
const CONTENDERS = [
  { name: 'c', kind: 'c', args: [] },
  { name: 'c-nocopy', kind: 'c', args: ['--reuse-input', '--no-copy-output'] },
  { name: 'c-2threads', kind: 'c', args: ['--threads', '2'], models: ['tiny'] },
  { name: 'tfslice-sync', kind: 'tfslice', mode: 'sync' },
  { name: 'tfslice-async', kind: 'tfslice', mode: 'async', inflight: 1 },
  { name: 'tfslice-async-2', kind: 'tfslice', mode: 'async', inflight: 2 },
  // The model in a host process of its own: what isolation adds on top of tfslice-async.
  { name: 'tfslice-isolated', kind: 'tfslice', mode: 'async', inflight: 1, isolation: 'process' },
  { name: 'tfslice-isolated-2', kind: 'tfslice', mode: 'async', inflight: 2, isolation: 'process' },
  { name: 'python-tf1', kind: 'python', mode: 'tf1' },
  { name: 'python-tf2', kind: 'python', mode: 'tf2', options: ['tf-default'] },
  { name: 'tfjs-node', kind: 'tfjs', options: ['tf-default'] },
];

// ---------------------------------------------------------------------------
// Preparation: models, the C floor, the ConfigProto bytes, tfjs-node
// ---------------------------------------------------------------------------

function prepare() {
  fs.mkdirSync(CACHE, { recursive: true });
  const missing = Object.entries(MODELS).filter(([name, m]) => selected(name) && !fs.existsSync(path.join(m.dir, 'saved_model.pb')));
  if (missing.length) {
    log(`generating ${missing.map(([n]) => n).join(', ')} with scripts/make-fixtures.py --bench`);
    execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'make-fixtures.py'), '--bench', '--only', missing.map(([n]) => n).join(',')], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const floor = path.join(CACHE, 'floor');
  const source = path.join(__dirname, 'floor.c');
  if (!fs.existsSync(floor) || fs.statSync(floor).mtimeMs < fs.statSync(source).mtimeMs) {
    log('compiling bench/floor.c against the pip wheel\'s C API');
    execFileSync('cc', ['-O2', '-std=c11', `-I${path.join(TF_DIR, 'include')}`, '-o', floor, source, `-L${TF_DIR}`,
      '-l:libtensorflow_cc.so.2', '-l:libtensorflow_framework.so.2', `-Wl,-rpath,${fs.realpathSync(TF_DIR)}`, '-lpthread'], { stdio: 'inherit' });
  }
  const { encodeConfig } = require(path.join(ROOT, 'dist', 'index.js'));
  OPTION_SETS.inline.config = Buffer.from(encodeConfig({ interOpParallelismThreads: -1 })).toString('hex');
  OPTION_SETS['tf-default'].config = Buffer.from(encodeConfig({ interOpParallelismThreads: 0 })).toString('hex');
  return { floor, tfjs: tfjsAvailable() };
}

function tfjsAvailable() {
  if (args.includes('--no-tfjs')) return { ok: false, why: 'left out with --no-tfjs' };
  const setup = path.join(TFJS, 'setup.sh');
  if (!fs.existsSync(setup)) return { ok: false, why: 'bench/tfjs/setup.sh is missing' };
  const result = spawnSync('bash', [setup], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  if (result.status === 0) return { ok: true };
  const why = `${result.stderr || result.stdout}`.trim().split('\n').slice(-3).join(' ');
  return { ok: false, why: why || `setup.sh exited ${result.status}` };
}

function selected(model) {
  return !only || only.includes(model);
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

function signatureOf(dir) {
  const golden = path.join(path.dirname(dir), 'golden.json');
  const sig = JSON.parse(fs.readFileSync(golden, 'utf8')).signatures.serving_default;
  const input = Object.keys(sig.inputs)[0];
  const output = Object.keys(sig.outputs)[0];
  return { signature: 'serving_default', input, output, feed: sig.inputs[input].name, fetch: sig.outputs[output].name };
}

function jobsFor(contender) {
  const jobs = [];
  for (const [modelName, model] of Object.entries(MODELS)) {
    if (!selected(modelName) || (contender.models && !contender.models.includes(modelName))) continue;
    for (const [optionName, options] of Object.entries(OPTION_SETS)) {
      if (contender.options && !contender.options.includes(optionName)) continue;
      jobs.push({
        key: `${modelName}|${optionName}|${contender.name}`,
        model: model.dir, shape: model.shape, ...signatureOf(model.dir),
        iterations: model.iterations, warmup: model.warmup, seconds: SECONDS,
        mode: contender.mode, inflight: contender.inflight ?? 1, config: options.config,
        options: contender.isolation ? { ...options.tfslice, isolation: contender.isolation } : options.tfslice,
      });
    }
  }
  return jobs;
}

function parseLines(stdout) {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

function runContender(contender, env) {
  const jobs = jobsFor(contender);
  if (jobs.length === 0) return [];
  const childEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' };
  const run = (command, argv) => {
    const r = spawnSync(command, argv, { env: childEnv, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${contender.name} failed (${r.status ?? r.signal}): ${r.stderr.slice(-800)}`);
    return parseLines(r.stdout);
  };
  let results;
  switch (contender.kind) {
    case 'c':
      // One process per job: the floor program takes a single model.
      results = jobs.flatMap((job) => run(env.floor, ['--model', job.model, '--feed', job.feed, '--fetch', job.fetch,
        '--shape', job.shape.join(','), '--config', job.config, '--iterations', String(job.iterations),
        '--seconds', String(job.seconds), '--warmup', String(job.warmup), ...contender.args]));
      break;
    case 'tfslice':
      // One process per job, like the C floor, so every load is a first load.
      results = jobs.flatMap((job) => run(process.execPath, [path.join(__dirname, 'tfslice_contender.js'), JSON.stringify([job])]));
      break;
    case 'python':
      results = run(PYTHON, [path.join(__dirname, 'python_contender.py'), JSON.stringify(jobs)]);
      break;
    case 'tfjs':
      if (!env.tfjs.ok) return [];
      results = run(process.execPath, [path.join(TFJS, 'contender.js'), JSON.stringify(jobs)]);
      break;
    default:
      throw new Error(`unknown contender kind ${contender.kind}`);
  }
  return jobs.map((job, i) => ({ key: job.key, ...results[i] }));
}

// ---------------------------------------------------------------------------
// Statistics and report
// ---------------------------------------------------------------------------

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summarize(runs) {
  const samples = runs.flatMap((r) => r.samples_us).sort((a, b) => a - b);
  const calls = runs.reduce((n, r) => n + r.calls, 0);
  const wall = runs.reduce((n, r) => n + r.wall_ms, 0);
  const loads = runs.map((r) => r.load_ms).sort((a, b) => a - b);
  return {
    calls,
    p50_us: quantile(samples, 0.5),
    p99_us: quantile(samples, 0.99),
    mean_us: samples.reduce((a, b) => a + b, 0) / samples.length,
    calls_per_s: calls / (wall / 1000),
    load_ms: quantile(loads, 0.5),
  };
}

function fmt(x, digits = 1) {
  if (!Number.isFinite(x)) return '–';
  if (x >= 1000) return x.toFixed(0);
  return x.toFixed(digits);
}

function table(summary) {
  const lines = [
    '| model | options | contender | p50 µs | p99 µs | mean µs | calls/s | load ms | p50 ÷ floor | calls/s ÷ floor |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [modelName, model] of Object.entries(MODELS)) {
    for (const optionName of Object.keys(OPTION_SETS)) {
      const floor = summary[`${modelName}|${optionName}|${model.floor}`];
      for (const contender of CONTENDERS) {
        const s = summary[`${modelName}|${optionName}|${contender.name}`];
        if (!s) continue;
        const batch = `${modelName} [${model.shape.join('×')}]`;
        const ratio = floor ? fmt(s.p50_us / floor.p50_us, 2) : '–';
        const tput = floor ? fmt(s.calls_per_s / floor.calls_per_s, 2) : '–';
        lines.push(`| ${batch} | ${optionName} | ${contender.name} | ${fmt(s.p50_us)} | ${fmt(s.p99_us)} | ${fmt(s.mean_us)} | ${fmt(s.calls_per_s, 0)} | ${fmt(s.load_ms)} | ${ratio} | ${tput} |`);
      }
    }
  }
  return lines.join('\n');
}

// A warm 4 MiB Buffer.copy in a fresh process, p50 in µs: the unit of the isolated-model budget
// (bench/targets.js), measured on the same host in the same run as the rows it judges.
const COPY_PROBE = `
const a = Buffer.alloc(4 << 20, 1), b = Buffer.alloc(4 << 20), s = [];
for (let i = 0; i < 2000; i++) { const t = process.hrtime.bigint(); a.copy(b); s.push(Number(process.hrtime.bigint() - t) / 1000); }
s.sort((x, y) => x - y);
process.stdout.write(String(s[s.length >> 1]));`;

function copyMicros() {
  const r = spawnSync(process.execPath, ['-e', COPY_PROBE], { encoding: 'utf8', timeout: 60_000 });
  const value = Number(r.stdout);
  if (r.status !== 0 || !Number.isFinite(value)) throw new Error(`the 4 MiB copy probe failed (${r.status ?? r.signal}): ${r.stderr.slice(-400)}`);
  return value;
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

function main() {
  const started = Date.now();
  const env = prepare();
  if (!env.tfjs.ok) log(`tfjs-node is not a contender in this run: ${env.tfjs.why}`);
  const contenders = CONTENDERS.filter((c) => c.kind !== 'tfjs' || env.tfjs.ok);
  const raw = {};
  const copies = [];
  for (let rep = 0; rep < reps; rep++) {
    if (selected('big_io')) copies.push(copyMicros());
    // Rotate the order so no contender always runs first (cold caches) or last.
    const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]);
    for (const contender of order) {
      log(`repetition ${rep + 1}/${reps}: ${contender.name}`);
      for (const result of runContender(contender, env)) (raw[result.key] ??= []).push(result);
    }
  }
  const summary = Object.fromEntries(Object.entries(raw).map(([key, runs]) => [key, summarize(runs)]));
  const copyUs = copies.length ? quantile(copies.sort((a, b) => a - b), 0.5) : undefined;
  const targets = evaluate(summary, { floors: Object.fromEntries(Object.entries(MODELS).map(([name, m]) => [name, m.floor])), copyUs });
  const report = {
    machine: machine(),
    tensorflow: require(path.join(ROOT, 'dist', 'index.js')).runtime().tensorflowVersion,
    date: new Date().toISOString(),
    quick, reps, seconds_per_job: SECONDS,
    tfjs: env.tfjs,
    results: summary,
    copy_4mib_us: copyUs,
    targets,
  };
  if (!args.includes('--no-batching')) {
    log('batching section: node bench/batching.js');
    const passed = ['--quick'].filter((flag) => args.includes(flag));
    const batching = spawnSync(process.execPath, [path.join(__dirname, 'batching.js'), ...passed, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_800_000 });
    if (batching.status !== 0) throw new Error(`bench/batching.js failed (exit ${batching.status})`);
    report.batching = JSON.parse(batching.stdout);
  }
  if (!args.includes('--no-serve')) {
    log('serving section: node bench/serve.js');
    const passed = ['--quick', '--no-tfjs'].filter((flag) => args.includes(flag));
    const serve = spawnSync(process.execPath, [path.join(__dirname, 'serve.js'), ...passed, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_800_000 });
    if (serve.status !== 0) throw new Error(`bench/serve.js failed (exit ${serve.status})`);
    report.serve = JSON.parse(serve.stdout);
  }
  fs.writeFileSync(path.join(CACHE, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (asJson) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`Machine: ${report.machine}; TensorFlow ${report.tensorflow}; ${reps} repetition(s) × ${SECONDS} s per job\n\n`);
    process.stdout.write(`${table(summary)}\n\n`);
    process.stdout.write(`${reportTargets(targets)}\n\n`);
    if (report.batching) process.stdout.write(`${require('./batching').report(report.batching)}\n\n`);
    if (report.serve) process.stdout.write(`${require('./serve').report(report.serve)}\n\n`);
    if (!env.tfjs.ok) process.stdout.write(`tfjs-node: not measured (${env.tfjs.why})\n`);
    process.stdout.write(`JSON: ${path.relative(ROOT, path.join(CACHE, 'results.json'))}\n`);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main();
