// Shared by the tests: fixture paths, golden decoding, and the Python oracle.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { type DType, Tensor } from '../lib/index';
import { native } from '../lib/native';

export const ROOT = path.resolve(__dirname, '..');
/** The provisioned Python with TensorFlow (scripts/provision.js): the oracle. */
export const PYTHON = path.join(ROOT, '.venv', 'bin', 'python3');

/** Python: read_to_eof(sock), the bytes a socket receives until its peer closes (10 s at most). */
export const PY_READ_TO_EOF = `
def read_to_eof(sock):
    sock.settimeout(10)
    got = b''
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return got
        got += chunk
`;

export interface GoldenTensor {
  dtype: DType;
  shape: number[];
  data: (number | string | boolean)[];
}

export interface GoldenCase {
  signature: string;
  inputs: Record<string, GoldenTensor>;
  outputs: Record<string, GoldenTensor>;
}

export interface Golden {
  tags: string[][];
  signatures: Record<string, { inputs: Record<string, unknown>; outputs: Record<string, unknown>; methodName: string }>;
  cases: GoldenCase[];
}

/** test/fixtures/NAME: the SavedModel directory and what TensorFlow computed on it. */
export function fixture(name: string): { dir: string; golden: Golden } {
  const base = path.join(ROOT, 'test', 'fixtures', name);
  return { dir: path.join(base, 'model'), golden: JSON.parse(fs.readFileSync(path.join(base, 'golden.json'), 'utf8')) as Golden };
}

const ARRAYS: Record<string, (values: GoldenTensor['data']) => unknown> = {
  float32: (v) => Float32Array.from(v as number[]),
  float64: (v) => Float64Array.from(v as number[]),
  int8: (v) => Int8Array.from(v as number[]),
  int16: (v) => Int16Array.from(v as number[]),
  int32: (v) => Int32Array.from(v as number[]),
  int64: (v) => BigInt64Array.from((v as string[]).map((x) => BigInt(x))),
  uint8: (v) => Uint8Array.from(v as number[]),
  uint16: (v) => Uint16Array.from(v as number[]),
  uint32: (v) => Uint32Array.from(v as number[]),
  uint64: (v) => BigUint64Array.from((v as string[]).map((x) => BigInt(x))),
  bool: (v) => Uint8Array.from((v as boolean[]).map((x) => (x ? 1 : 0))),
  float16: (v) => Uint16Array.from(v as number[]),
  bfloat16: (v) => Uint16Array.from(v as number[]),
  string: (v) => (v as string[]).map((b64) => new Uint8Array(Buffer.from(b64, 'base64'))),
};

/** A golden tensor as a tfslice Tensor (strings as raw bytes). */
export function toTensor(golden: GoldenTensor): Tensor {
  return new Tensor(golden.dtype, ARRAYS[golden.dtype]!(golden.data) as never, golden.shape);
}

/** Plain comparable values of a Tensor: numbers, bigints as strings, bytes as base64. */
export function plain(tensor: Tensor): { dtype: string; shape: number[]; data: unknown[] } {
  const data = tensor.dtype === 'string'
    ? tensor.bytes().map((b) => Buffer.from(b).toString('base64'))
    : Array.from(tensor.data as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? x.toString() : x));
  return { dtype: tensor.dtype, shape: [...tensor.shape], data };
}

/** The golden tensor in plain()'s form. */
export function plainGolden(golden: GoldenTensor): { dtype: string; shape: number[]; data: unknown[] } {
  const data = golden.dtype === 'bool' ? golden.data.map((x) => (x ? 1 : 0)) : golden.data;
  return { dtype: golden.dtype, shape: golden.shape, data };
}

/** Largest relative difference between two float arrays (0 when equal). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const err = Math.abs(a - e) / Math.max(1e-6, Math.abs(e));
    if (err > worst || Number.isNaN(err)) worst = Number.isNaN(err) ? Infinity : err;
  }
  return worst;
}

/**
 * Tolerances for comparing floats computed on another CPU: those of TensorFlow's own
 * kernel tests (tensorflow/python/framework/test_util.py, assertAllCloseAccordingToType:
 * float32 and float64 rtol = atol = 1e-6, float16 1e-3, bfloat16 1e-2). The goldens were
 * computed on one host; oneDNN (on by default on AVX512-VNNI/AMX hosts) and Eigen order
 * their sums differently, which moves the last bits (1.350000023841858 vs 1.3499999046325684).
 */
export const FLOAT_TOLERANCE: Readonly<Record<string, number>> = { float32: 1e-6, float64: 1e-6, float16: 1e-3, bfloat16: 1e-2 };

/**
 * The first element where |actual - expected| > atol + rtol * |expected| (numpy's
 * allclose, as TensorFlow's tests use it), or null when all are close. NaN matches NaN
 * and an infinity only the same infinity.
 */
export function firstNotClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): { index: number; actual: number; expected: number } | null {
  if (actual.length !== expected.length) return { index: -1, actual: actual.length, expected: expected.length };
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Number.isNaN(e) ? Number.isNaN(a) : a === e || Math.abs(a - e) <= tolerance + tolerance * Math.abs(e)) continue;
    return { index: i, actual: a, expected: e };
  }
  return null;
}

/** Runs Python code with the oracle TensorFlow (`args` its sys.argv[1:]); returns its stdout parsed as JSON. */
export function python<T>(code: string, input?: string, args: readonly string[] = []): T {
  const out = execFileSync(PYTHON, ['-c', code, ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as T;
}

/**
 * Python lines that make TensorFlow's generated protobuf modules (`tensorflow.core.*_pb2`)
 * importable without running `tensorflow/__init__.py`: TensorFlow's own message definitions
 * and the protobuf runtime, in 0.1 s instead of the 3-5 s of loading TensorFlow itself. Put
 * them before `from tensorflow.core... import ..._pb2`; nothing else of TensorFlow is usable.
 */
export const TF_PROTOS_ONLY = `
import importlib.util as _util, sys as _sys, types as _types
_tf = _types.ModuleType('tensorflow')
_tf.__path__ = list(_util.find_spec('tensorflow').submodule_search_locations)
_sys.modules['tensorflow'] = _tf
`;

/** Runs `node -e script` in a child process (for per-process TensorFlow state). */
export function node(script: string, env: NodeJS.ProcessEnv, cwd = ROOT): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['-e', script], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

// keras_module runs in Python only, custom_op needs its op library: their own tests check
// them (test/30). init_writes writes a file next to its asset when TensorFlow loads it: test/74
// loads copies of it.
export const FIXTURES = fs.readdirSync(path.join(ROOT, 'test', 'fixtures')).filter((f) => f !== 'keras_module' && f !== 'custom_op' && f !== 'init_writes').sort();

/** The tag-set a fixture was saved with, when it is not ['serve'] (tagless: []). */
/**
 * Calls `fn` on every item, at most `width` at once (independent child processes keep both
 * cores of a small CI machine busy), and returns the results in the items' order, so that
 * assertions on them can be made in that order.
 */
export async function inParallel<I, R>(items: readonly I[], width: number, fn: (item: I, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return results;
}

export function fixtureTags(golden: Golden): { tags?: string[] } {
  const tags = golden.tags[0]!;
  return tags.length === 1 && tags[0] === 'serve' ? {} : { tags };
}

/** Checks an output against TensorFlow's golden value (floats within FLOAT_TOLERANCE). */
export function expectOutput(t: tap.Test, actual: Tensor | undefined, expected: GoldenTensor, what: string): void {
  if (!actual) {
    t.fail(`${what}: missing`);
    return;
  }
  const a = plain(actual);
  const e = plainGolden(expected);
  t.same({ dtype: a.dtype, shape: a.shape }, { dtype: e.dtype, shape: e.shape }, `${what}: dtype and shape`);
  const tolerance = FLOAT_TOLERANCE[expected.dtype];
  if (tolerance !== undefined && expected.dtype !== 'float16' && expected.dtype !== 'bfloat16') {
    const off = firstNotClose(a.data as number[], e.data as number[], tolerance);
    t.equal(off, null, `${what}: values within ${tolerance} (rtol and atol) of TensorFlow's`);
  } else {
    // Integers, strings, booleans, and float16/bfloat16 as raw bits (the fixtures only echo
    // or double them, which is exact on every CPU).
    t.same(a.data, e.data, `${what}: values equal TensorFlow's`);
  }
}

/** CPU time of this process's JS thread (its task has the process id), in ms (10 ms ticks). */
export function jsThreadCpuMs(): number {
  const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime
}

/**
 * An `n` for the 'slow' fixture (n rounds of a 128x128 matmul) whose run on `model` takes
 * about `ms` milliseconds on this host. Kernel speed differs by CPU and by oneDNN (a fixed
 * n took 307 ms with Eigen and 241 ms with oneDNN), so timing tests measure instead of
 * assuming. `together`: the n for which that many runs started at once all end within about
 * `ms` (how they share the cores differs by host and by oneDNN: one run alone may take one
 * core or all of them), for tests whose runs execute side by side.
 */
export async function slowN(model: { run(feeds: Record<string, Tensor>): Promise<unknown> }, ms: number, together = 1): Promise<number> {
  const n = (k: number) => new Tensor('int32', new Int32Array([k]), []);
  await model.run({ n: n(200) });
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: together }, () => model.run({ n: n(1000) })));
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  // The fastest of the timings, so the run is at least about `ms` long.
  return Math.min(1_000_000, Math.ceil((ms / best) * 1000));
}

/**
 * For the batching fixture's `spin` signature, which runs for as long as its largest x[:, 1]
 * says: the x[:, 1] that takes about `ms` (measured, as slowN).
 */
export async function spinFor(model: { run(feeds: Record<string, number[][]>, options: { signature: string }): Promise<unknown> }, ms: number): Promise<number> {
  await model.run({ x: [[0, 100]] }, { signature: 'spin' });
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    await model.run({ x: [[0, 1000]] }, { signature: 'spin' });
    best = Math.min(best, performance.now() - started);
  }
  return Math.ceil((ms / best) * 1000);
}

/** What a `tfslice` command did. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tfslice ...args` (bin/tfslice.js) in a child process, asynchronously so a server in the
 * test can answer it, with its own TFSLICE_HOME so no test touches the real ~/.cache. `bare`
 * starts from an environment with only PATH and HOME; TFSLICE_LIBTENSORFLOW is never inherited.
 */
export function tfslice(args: string[], options: { home: string; env?: NodeJS.ProcessEnv; cwd?: string; bare?: boolean; timeoutMs?: number }): Promise<CliResult> {
  const base: NodeJS.ProcessEnv = options.bare ? { PATH: process.env.PATH, HOME: process.env.HOME } : { ...process.env };
  delete base.TFSLICE_LIBTENSORFLOW;
  const env = { ...base, TFSLICE_HOME: options.home, ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), ...args], { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A command's stdout as JSON, or an error that shows what it printed instead. */
export function jsonOf<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

/** A `tfslice serve` process: its REST URL once it prints it, its exit, and its stderr so far. */
export interface ServeProcess {
  child: import('node:child_process').ChildProcess;
  url: string;
  /** host:port of the gRPC server. */
  grpc: string;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Starts `tfslice serve <args>` (add --rest_api_port 0) and resolves once it prints the URL it listens on. */
export async function startServe(args: string[]): Promise<ServeProcess> {
  // gRPC's --port defaults to 8500: tests that run side by side each take a free one.
  const all = args.includes('--port') ? args : [...args, '--port', '0'];
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), 'serve', ...all], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const [url, grpc] = await new Promise<[string, string]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const found = /REST API at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      const rpc = /gRPC at (127\.0\.0\.1:\d+)/.exec(out);
      if (found && rpc) resolve([found[1]!, rpc[1]!]);
    });
    void exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { child, url, grpc, exited, stderr: () => stderr };
}

/** A model base path under `dir` whose numbered versions are copies of fixtures. */
export function basePath(dir: string, name: string, versions: Record<number, string>): string {
  const base = path.join(dir, name);
  for (const [version, from] of Object.entries(versions)) fs.cpSync(fixture(from).dir, path.join(base, version), { recursive: true });
  return base;
}

/** curl's answer (a client tfslice did not write): the HTTP status and the body. */
export async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await promisify(execFile)('curl', ['-s', '-S', '-w', '\n%{http_code}', ...args], { maxBuffer: 64 << 20 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/**
 * Waits until TensorFlow holds no borrowed JS buffer (at most 2 s; at least one turn of the
 * loop): the addon drops a feed's reference on the JS thread, in a task of its own, once
 * TensorFlow frees the tensor, which may be after the run's promise has resolved.
 */
export async function feedsReleased(): Promise<void> {
  const until = Date.now() + 2000;
  do await new Promise((resolve) => setTimeout(resolve, 1));
  while (native().stats().pinnedNow > 0 && Date.now() < until);
}
