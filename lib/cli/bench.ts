/**
 * `tfslice bench <dir>`: inputs synthesized from the signature (unknown dimensions
 * from --batch / --shape), `--concurrency` run() calls in flight for --iterations
 * runs or --duration seconds, a progress bar on stderr, then latency percentiles
 * and throughput, with how many of those calls TensorFlow executed at once
 * (the model's maxConcurrentRuns) and why.
 */
import { performance } from 'node:perf_hooks';
import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError } from 'commander';

import { dtypeInfo, type DType, type NumericDType } from '../dtypes';
import { runtime } from '../library';
import type { TensorSpec } from '../proto';
import { Tensor } from '../tensor';
import { type ModelFlags, openModel, pickSignature } from './common';
import { concurrencyReport } from './doctor';
import { UsageError } from './errors';
import { formatShape, type InputArg, readInputs } from './inputs';
import { numberToBfloat16, numberToHalf } from '../values';

export interface BenchFlags extends ModelFlags {
  signature?: string;
  batch: number;
  concurrency: number;
  duration?: number;
  iterations?: number;
  warmup: number;
  shape: Record<string, number[]>;
  input: InputArg[];
  json?: boolean;
  progress?: boolean;
}

/** commander's collector for a repeatable --shape key=d0,d1,… */
export function collectShape(text: string, previous: Record<string, number[]> = {}): Record<string, number[]> {
  const match = /^([^=]+)=(\d+(?:,\d+)*)?$/.exec(text);
  if (!match) throw new InvalidArgumentError('expected key=d0,d1,... with non-negative integers, e.g. x=8,4 (key= for a scalar)');
  return { ...previous, [match[1]!]: match[2] ? match[2].split(',').map(Number) : [] };
}

const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'a', 'lazy', 'dog', 'tfslice'];
const randomInt = (n: number): number => Math.floor(Math.random() * n);

/** Random values of the dtype: floats in [-1, 1), integers in [0, 10), words for strings. */
function synthesize(dtype: DType, shape: readonly number[]): Tensor {
  if (dtype === 'string') {
    const n = shape.reduce((a, b) => a * b, 1);
    return new Tensor('string', Array.from({ length: n }, () => WORDS[randomInt(WORDS.length)]!), shape);
  }
  const tensor = Tensor.alloc(dtype as NumericDType, shape);
  const data = tensor.data as unknown as { [i: number]: number | bigint; length: number };
  const next: () => number | bigint =
    dtype === 'float32' || dtype === 'float64' ? () => Math.random() * 2 - 1
      : dtype === 'float16' ? () => numberToHalf(Math.random() * 2 - 1)
        : dtype === 'bfloat16' ? () => numberToBfloat16(Math.random() * 2 - 1)
          : dtype === 'bool' ? () => randomInt(2)
            : dtype === 'int64' || dtype === 'uint64' ? () => BigInt(randomInt(10))
              : () => randomInt(10);
  for (let i = 0; i < data.length; i++) data[i] = next();
  return tensor;
}

function resolveShape(key: string, spec: TensorSpec, flags: BenchFlags): number[] {
  const given = flags.shape[key];
  if (given) {
    const ok = spec.shape === null || (given.length === spec.shape.length && given.every((d, i) => spec.shape![i] === -1 || spec.shape![i] === d));
    if (!ok) throw new UsageError(`--shape ${key}=${given.join(',')}: the signature declares ${formatShape(spec.shape)}`);
    return given;
  }
  if (spec.shape === null) throw new UsageError(`input ${key} has an unknown rank; give its shape with --shape ${key}=d0,d1,...`);
  return spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? flags.batch : 1));
}

/** Nearest-rank percentile of ascending `sorted`. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

export async function bench(dir: string, flags: BenchFlags): Promise<void> {
  if (flags.duration !== undefined && flags.iterations !== undefined) {
    throw new UsageError('--duration and --iterations exclude each other; give one (the default is --duration 10)');
  }
  const duration = flags.iterations === undefined ? flags.duration ?? 10 : undefined;
  const model = await openModel(dir, flags);
  let text: string | undefined;
  try {
    const signature = pickSignature(model, flags.signature);
    for (const key of Object.keys(flags.shape)) {
      if (!signature.info.inputs[key]) throw new UsageError(`--shape ${key}: signature '${signature.name}' has no input '${key}'`);
    }
    const feeds: Record<string, Tensor> = readInputs(flags.input, signature.info, signature.name, { partial: true });
    for (const [key, spec] of Object.entries(signature.info.inputs)) {
      if (feeds[key]) continue;
      if (!dtypeInfo(spec.dtype)) throw new UsageError(`input ${key} is ${spec.dtype}, which tfslice cannot synthesize; give it with --input ${key}=…`);
      const shape = resolveShape(key, spec, flags);
      try {
        feeds[key] = synthesize(spec.dtype as DType, shape);
      } catch (error) {
        // Too large to allocate (the only way synthesizing fails): a bad argument, named by its flag.
        const flag = flags.shape[key] ? `--shape ${key}=${shape.join(',')}` : `--batch ${flags.batch}`;
        throw new UsageError(`${flag}: input ${key} would be ${spec.dtype} of shape ${formatShape(shape)}, which cannot be made (${(error as Error).message}); give a smaller one`);
      }
    }
    const options = { signature: signature.name };
    for (let i = 0; i < flags.warmup; i++) for (const t of Object.values(await model.run(feeds, options))) t.dispose();

    const latencies: number[] = [];
    let started = 0;
    const start = performance.now();
    const deadline = duration === undefined ? Infinity : start + duration * 1000;
    const more = (): boolean => (flags.iterations !== undefined ? started < flags.iterations : performance.now() < deadline);

    const showBar = flags.progress || (!flags.json && process.stderr.isTTY === true);
    const total = flags.iterations ?? Math.round(duration! * 10);
    const bar = showBar
      ? new SingleBar({
        stream: process.stderr,
        format: `bench |{bar}| {percentage}% | {runs} runs | {rate} runs/s | ETA {eta_formatted}`,
        noTTYOutput: flags.progress === true,
        notTTYSchedule: 1000,
        hideCursor: true,
      }, Presets.shades_classic)
      : null;
    bar?.start(total, 0, { runs: 0, rate: 0 });
    const tick = (): void => {
      const elapsed = (performance.now() - start) / 1000;
      const done = latencies.length;
      bar?.update(flags.iterations !== undefined ? done : Math.min(total, Math.round(elapsed * 10)), { runs: done, rate: elapsed > 0 ? Math.round(done / elapsed) : 0 });
    };
    const timer = bar ? setInterval(tick, 100) : null;

    const worker = async (): Promise<void> => {
      while (more()) {
        started++;
        const t0 = performance.now();
        const out = await model.run(feeds, options);
        latencies.push(performance.now() - t0);
        for (const t of Object.values(out)) t.dispose();
      }
    };
    // No more calls in flight than runs to make.
    const inFlight = flags.iterations === undefined ? flags.concurrency : Math.min(flags.concurrency, flags.iterations);
    try {
      await Promise.all(Array.from({ length: inFlight }, worker));
    } finally {
      if (timer) clearInterval(timer);
      if (bar) {
        tick();
        bar.stop();
      }
    }
    const elapsed = (performance.now() - start) / 1000;
    // helper-132: --duration 1e-6 made no run, and the summary's percentiles were undefined.
    if (latencies.length === 0) throw new UsageError(`no timed run started within --duration ${duration} s; give a longer --duration, or --iterations`);
    const sorted = [...latencies].sort((a, b) => a - b);
    // Samples per run: the leading dimension of the first input whose leading dimension is unknown.
    const batched = Object.keys(signature.info.inputs).find((k) => signature.info.inputs[k]!.shape?.[0] === -1);
    const batch = batched ? feeds[batched]!.shape[0] ?? 1 : 1;
    const limit = concurrencyReport(model.maxConcurrentRuns, runtime().oneDnn);
    const summary = {
      model: model.path,
      signature: signature.name,
      tensorflow: runtime().tensorflowVersion,
      oneDnn: limit.oneDnn,
      devices: model.devices.map((d) => d.name),
      inputs: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape }])),
      batch,
      /** run() calls in flight (--concurrency, at most --iterations). */
      concurrency: inFlight,
      /** Of those, how many TensorFlow executed at once: the model's maxConcurrentRuns caps them. */
      executing: Math.min(inFlight, model.maxConcurrentRuns),
      maxConcurrentRuns: limit.maxConcurrentRuns,
      concurrencyReason: limit.reason,
      warmup: flags.warmup,
      runs: latencies.length,
      seconds: elapsed,
      latencyMs: {
        min: sorted[0] ?? 0,
        mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1] ?? 0,
      },
      runsPerSecond: latencies.length / elapsed,
      samplesPerSecond: (latencies.length * batch) / elapsed,
    };
    if (flags.json) {
      text = `${JSON.stringify(summary, null, 2)}\n`;
      return;
    }
    const l = summary.latencyMs;
    const inputs = Object.entries(summary.inputs).map(([k, v]) => `${k} ${v.dtype} [${v.shape.join(', ')}]`).join(', ');
    const oneDnn = summary.oneDnn === null ? 'unknown' : summary.oneDnn ? 'on' : 'off';
    const executing = summary.executing === summary.concurrency ? 'all executing at once' : `${summary.executing} executing at a time`;
    text = [
      `model       ${summary.model} (signature ${summary.signature}, TensorFlow ${summary.tensorflow}, oneDNN ${oneDnn})`,
      `inputs      ${inputs || '(none)'}`,
      `runs        ${summary.runs} in ${elapsed.toFixed(2)} s, ${summary.concurrency} in flight, ${executing} (${summary.warmup} warm-up runs not counted)`,
      `concurrency ${summary.concurrencyReason}`,
      `latency ms  p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}  (min ${ms(l.min)}, mean ${ms(l.mean)})`,
      `throughput  ${summary.runsPerSecond.toFixed(1)} runs/s, ${summary.samplesPerSecond.toFixed(1)} samples/s (batch ${batch})`,
    ].join('\n') + '\n';
  } finally {
    await model.dispose();
    // Printed once the model is disposed: a dispose() that fails is then the command's one
    // failure, not a second JSON document after the summary (helper-141).
    if (text !== undefined) process.stdout.write(text);
  }
}
