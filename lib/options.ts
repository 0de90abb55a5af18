/**
 * loadModel options: validated field by field (TypeError / RangeError naming the
 * field) and turned into the ConfigProto bytes TF_SetConfig takes.
 */
import { type BatchingOptions, resolveBatching, type ResolvedBatching } from './batching';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MAX_TIMER_MS } from './abort';
import { invalidType, outOfRange } from './errors';
import type { GpuRequest, Isolation } from './gpu';
import { type OpPolicy, resolveOpPolicy } from './ops';
import { decodeConfig, encodeConfig, type SessionConfig } from './proto';

/** Options of loadModel(). Every number's unit is in its comment. */
export interface LoadOptions {
  /** Share of the GPU's memory for this model: a fraction in (0, 1]. */
  gpuMemoryFraction?: number | undefined;
  /** Grow GPU memory on demand (2 MiB regions) instead of reserving it all up front. */
  allowGrowth?: boolean | undefined;
  /** Physical GPU index (becomes gpu_options.visible_device_list). */
  gpuDevice?: number | undefined;
  /**
   * Tag-set of the meta graph to load. Default ['serve']. `[]` loads a meta graph saved
   * with the empty tag-set (TF Hub's TF1 format).
   */
  tags?: readonly string[] | undefined;
  /**
   * Plug-in op libraries (.so) to load before the model (loadOpLibrary), for SavedModels
   * that use ops TensorFlow itself lacks (tensorflow_text, sentencepiece, custom ops). With
   * isolation: 'process' they are loaded in the host.
   */
  opLibraries?: readonly string[] | undefined;
  /** Signature run() uses when none is named. Default 'serving_default'. */
  signature?: string | undefined;
  /** Threads of each op's intra-op pool; 0 lets TensorFlow choose (one per core). At most MAX_POOL_THREADS (1024), else RangeError (ERR_OUT_OF_RANGE). */
  intraOpThreads?: number | undefined;
  /**
   * Threads of the inter-op pool; 0 lets TensorFlow choose, negative runs ops inline on
   * the calling thread. Default -1 (inline): measured faster for every benchmark model
   * (README, Performance). With a pool, a plan (the same feeds and fetches) whose runs take
   * at most 1 ms still runs on the calling thread (RunOptions.inter_op_thread_pool -1, as
   * TensorFlow advises for simple graphs) while that measures faster than the pool, unless
   * the run has a timeout (TensorFlow enforces one only on the pool). At most
   * MAX_POOL_THREADS (1024), else RangeError (ERR_OUT_OF_RANGE).
   */
  interOpThreads?: number | undefined;
  /** Place ops on CPU when the requested device has no kernel for them. */
  allowSoftPlacement?: boolean | undefined;
  /** Log where TensorFlow places each op (to stderr). */
  logDevicePlacement?: boolean | undefined;
  /** Raw ConfigProto bytes for anything else; the typed fields above override it. */
  sessionConfig?: Uint8Array | undefined;
  /**
   * Runs of this model executing at once (1 to 2^32 − 1, or Infinity; else RangeError); later ones wait their turn, in
   * call order (in the addon for an in-process model: a finishing run starts the next one on
   * its runner thread, without waiting for the event loop).
   * Default: Infinity when TensorFlow's oneDNN kernels are off, 1 when they are on or
   * unknown (concurrent runs on one session have crashed inside oneDNN; README, Concurrency).
   */
  maxConcurrentRuns?: number | undefined;
  /**
   * Where the session lives. 'none' (default): in this process, sharing its TensorFlow and
   * the GPU options the first GPU model fixed. 'process': in a child process of its own,
   * with its own TensorFlow, ConfigProto and GPU budget (README, GPU budgets).
   */
  isolation?: Isolation | undefined;
  /**
   * Dynamic batching (lib/batching.ts): concurrent run() calls on a signature whose inputs and
   * outputs all have an unknown leading dimension are joined along it and run once. `true`
   * takes TensorFlow Serving's defaults; an object sets its BatchingParameters. Default off.
   * Model.batching says which signatures are batched.
   */
  batching?: boolean | BatchingOptions | undefined;
  /**
   * TensorFlow's own limit on each run, in ms (RunOptions.timeout_in_ms): a run past it fails
   * with DEADLINE_EXCEEDED and the session stays usable. 0 (default): none. run() may set its own.
   * TensorFlow enforces it only with an inter-op pool (interOpThreads ≥ 0): a graph run inline
   * (the default, -1) goes to its end on the calling thread. So a value > 0 here needs
   * interOpThreads (RangeError otherwise).
   */
  runTimeoutMs?: number | undefined;
  /**
   * Op types the model may reach, checked from saved_model.pb before TensorFlow sees it
   * (lib/ops.ts): `'serve'` refuses file-system and process ops no inference needs
   * (SERVE_DENIED_OPS), `{ deny: [...] }` the op types listed, `{ allow: [...] }` every op type
   * not listed. Each signature, the init op and the saver's restore op are walked, into every
   * function they call. A refused model fails with PERMISSION_DENIED (PermissionDeniedError)
   * naming the op, the signature and the path. Default 'none' (nothing checked);
   * `tfslice serve` applies 'serve'.
   */
  opPolicy?: OpPolicy | undefined;
  /**
   * With isolation: 'process', the most private memory its host process may hold, in bytes
   * (RLIMIT_DATA, set in the host before TensorFlow loads: heap, anonymous mappings, thread
   * stacks). An allocation past it fails: TensorFlow answers that run RESOURCE_EXHAUSTED ("OOM
   * when allocating tensor"), or, when the allocation is not TensorFlow's, the host ends and its
   * runs fail MODEL_CRASHED naming the limit. Other models are not touched. At least 256 MiB
   * (a host holds about 190 MiB before its model's weights, measured with TensorFlow 2.21).
   * Default: none.
   */
  hostMemoryLimitBytes?: number | undefined;
  /**
   * With isolation: 'process', how long, in ms, its host may leave a run unanswered after that
   * run was given up on (its runTimeoutMs and then HOST_GRACE_MS, 1 s, passed without an
   * answer: the host is stopped, or inside an op TensorFlow cannot interrupt) before the host is
   * killed (SIGKILL) as hung: its runs fail MODEL_CRASHED naming this limit, as after any crash
   * (a ModelManager in watch mode loads the model again at once; without watch the version
   * stays END until a reload). Only runs with a time limit (runTimeoutMs, a server's request
   * limit) are ever given up on. Needs an inter-op pool (interOpThreads >= 0: with ops inline
   * TensorFlow stops no run at its limit, and a long one would be killed). At most 2^31 - 1 ms.
   * Default 0: never; the host lives on, and a run that never ends there keeps its turn
   * (maxConcurrentRuns) for good.
   * @throws ERR_OUT_OF_RANGE without isolation 'process', with ops inline, or out of range
   */
  hostHangTimeoutMs?: number | undefined;
  /**
   * Experimental: the partition (configureRuntime({ gpuPartitions })) to load the model onto:
   * 'auto' takes the first free one, k takes /device:GPU:k. Its graph is loaded by hand
   * (lib/loader.ts, as TensorFlow's loader does) with every node's default device set to the
   * partition, soft placement on (ops without a kernel there run on the CPU). One model per
   * partition: GPU_BUDGET_EXCEEDED naming the holders when it is taken. Not with isolation
   * 'process', target, gpuMemoryFraction, allowGrowth or gpuDevice (the partition is the budget).
   */
  partition?: 'auto' | number | undefined;
  /**
   * Experimental: where the session runs (TF_SetTarget). '' (default): this process.
   * 'grpc://host:port': a TensorFlow worker (tf.distribute.Server), TensorFlow's distributed
   * runtime. saved_model.pb is read here, but the variables and assets are read by the worker,
   * so the SavedModel must exist at the same path there. The session gets isolate_session_state
   * (its variables are its own on the worker) and a 60 s operationTimeoutMs unless sessionConfig
   * sets them.
   */
  target?: string | undefined;
  /**
   * TensorFlow's deadline for every blocking operation of the session, in ms
   * (ConfigProto.operation_timeout_in_ms): DEADLINE_EXCEEDED past it; a run's own runTimeoutMs
   * wins. Default: none, except with a `target`, where it is 60000 (a worker that never answers
   * would otherwise hold the load, and a worker thread, forever).
   */
  operationTimeoutMs?: number | undefined;
}

/** operationTimeoutMs of a session with a target, when none is given: 60 s. */
export const DEFAULT_REMOTE_OPERATION_TIMEOUT_MS = 60_000;

export interface ResolvedOptions {
  readonly gpuMemoryFraction: number | null;
  readonly gpuDevice: number | null;
  /** The GPU options asked for, as the ledger (lib/gpu.ts) compares them. */
  readonly gpu: GpuRequest;
  readonly isolation: Isolation;
  readonly tags: readonly string[];
  readonly opLibraries: readonly string[];
  /** null: run() picks 'serving_default', or the only signature there is. */
  readonly signature: string | null;
  /** null: the default, which depends on the loaded TensorFlow (defaultMaxConcurrentRuns). */
  readonly maxConcurrentRuns: number | null;
  readonly config: SessionConfig;
  /** ConfigProto bytes handed to TF_SetConfig. */
  readonly configBytes: Uint8Array;
  /** Those bytes decoded: what the session is created with (Model.config). */
  readonly applied: SessionConfig;
  /** null: no batching. */
  readonly batching: ResolvedBatching | null;
  /** 0: none. */
  readonly runTimeoutMs: number;
  readonly opPolicy: OpPolicy;
  /** 0: none. */
  readonly hostMemoryLimitBytes: number;
  /** 0: never. */
  readonly hostHangTimeoutMs: number;
  /** null: not loaded onto a partition. */
  readonly partition: 'auto' | number | null;
  /** '' for this process. */
  readonly target: string;
}

const KNOWN: ReadonlySet<string> = new Set<keyof LoadOptions>([
  'gpuMemoryFraction', 'allowGrowth', 'gpuDevice', 'tags', 'signature', 'intraOpThreads',
  'interOpThreads', 'allowSoftPlacement', 'logDevicePlacement', 'sessionConfig', 'maxConcurrentRuns', 'isolation', 'opLibraries', 'batching', 'runTimeoutMs', 'opPolicy', 'hostMemoryLimitBytes', 'hostHangTimeoutMs', 'partition', 'target', 'operationTimeoutMs',
]);

/** inter_op_parallelism_threads when neither interOpThreads nor sessionConfig sets it. */
export const DEFAULT_INTER_OP_THREADS = -1;

/**
 * maxConcurrentRuns when none is given: one at a time unless oneDNN is known to be off.
 * Kept although the reported oneDNN crash did not reproduce on AVX2, AVX512 EPYC or AMX hosts
 * (README, Concurrency): a crash ends the process and every model in it, while serialising
 * costs a bounded share of throughput (11-43 % at 2 in flight on 2 vCPUs, AMX host) and can be lifted.
 */
export function defaultMaxConcurrentRuns(oneDnn: boolean | null): number {
  return oneDnn === false ? Infinity : 1;
}

const INT32_MAX = 2 ** 31 - 1;

function int32(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number') throw invalidType(field, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > INT32_MAX) {
    throw outOfRange(field, `an integer in [${min}, ${INT32_MAX}]`, value);
  }
  return value;
}

/**
 * The most threads a TensorFlow pool option may ask for. TensorFlow starts a pool's threads when
 * the session (or the restore) makes it, and aborts the process when one cannot be created:
 * intraOpThreads 16384 aborted a 2-vCPU host, 100000 hung the load, 1e9 crashed it; 4096 loaded
 * `tiny` in 10 s. No host has use for more pool threads than this.
 */
export const MAX_POOL_THREADS = 1024;

// A thread-count option: an integer from 0 (TensorFlow's choice) to MAX_POOL_THREADS, or, where
// `inline` is allowed (inter_op_parallelism_threads), a negative one: ops run on the caller.
function poolThreads(field: string, value: unknown, inline: boolean): number {
  if (typeof value !== 'number') throw invalidType(field, 'an integer', value);
  if (!Number.isInteger(value) || value > MAX_POOL_THREADS || value < (inline ? -INT32_MAX : 0)) {
    throw outOfRange(field, `a thread count from 0 (TensorFlow picks one per core) to ${MAX_POOL_THREADS}` +
      `${inline ? ', or -1 (ops run inline, on the thread that runs the graph; any negative count does)' : ''}; ` +
      'TensorFlow starts them all at load and aborts the process when the system refuses one', value);
  }
  return value;
}

/** @internal A URI's scheme (`s3` of `s3://bucket/m`), at the start of a path given as one. */
export const URI_SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/**
 * @internal A directory path given by a user (a model's path, a manager's basePath), absolute: a
 * `file://` URL becomes its path; another URI (s3://, gs://, hdfs://, http://) is refused, since
 * tfslice lists and reads versions on the local file system (path.resolve would have made
 * `s3://b/m` into `./s3:/b/m`).
 * @throws TypeError (ERR_INVALID_ARG_TYPE) naming `field`: not a non-empty string, a NUL in it
 *   (TensorFlow's C strings would end there), or a remote URI
 */
export function localDirectory(field: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('\0')) throw invalidType(field, `${what} (non-empty, without NUL characters)`, value);
  const scheme = URI_SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    let decoded: string;
    try {
      decoded = fileURLToPath(value);
    } catch (error) {
      throw invalidType(field, `a file:// URL of a local directory (${(error as Error).message})`, value);
    }
    // %00 decodes to a NUL, where TensorFlow's C string would end.
    if (decoded.includes('\0')) throw invalidType(field, `${what} (non-empty, without NUL characters; %00 in a file:// URL is one)`, value);
    // Normalized as a plain path is (helper-119: `file:///dir/` kept its '/', and every version
    // of the model then seemed to be under another base path).
    return path.resolve(decoded);
  }
  if (scheme !== undefined) {
    throw invalidType(field, `${what} on this machine: tfslice reads models from the local file system, not ${scheme}:// (copy the model to a local directory, or mount the bucket: gcsfuse, s3fs, mountpoint-s3)`, value);
  }
  return path.resolve(value);
}

/** A run timeout in ms: a whole number ≥ 0 (0: none), within what TensorFlow takes (int64). */
export function runTimeout(field: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidType(field, 'a number of milliseconds', value);
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(field, `a whole number of milliseconds ≥ 0 (0: no limit) and at most ${Number.MAX_SAFE_INTEGER}`, value);
  return value;
}

function bool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidType(field, 'a boolean', value);
  return value;
}

// Whether raw ConfigProto bytes set `field` themselves (bytes TensorFlow cannot parse are left
// for TF_SetConfig to refuse).
function baseSets(base: Uint8Array | undefined, field: 'interOpParallelismThreads' | 'operationTimeoutInMs' | 'isolateSessionState'): boolean {
  if (!base || base.length === 0) return false;
  try {
    return decodeConfig(base)[field] !== undefined;
  } catch {
    return false;
  }
}

// The GPU options the session will get, from its merged ConfigProto.
function gpuRequest(applied: SessionConfig): GpuRequest {
  const gpu = applied.gpuOptions;
  // One set through sessionConfig's bytes is held to gpuMemoryFraction's range (0: TensorFlow's
  // default, none): a negative one was charged to the ledger as it was, and freed shares for
  // others (helper-127); one past 1 (TensorFlow's unified-memory oversubscription) is no share.
  const fraction = gpu?.perProcessGpuMemoryFraction;
  if (fraction !== undefined && fraction !== 0 && !(fraction > 0 && fraction <= 1)) {
    throw outOfRange('sessionConfig gpu_options.per_process_gpu_memory_fraction', 'a fraction in (0, 1], or 0 for none (set gpuMemoryFraction instead)', fraction);
  }
  // visible_device_list "2" or "2,3": the first listed GPU is the one the model runs on.
  const first = gpu?.visibleDeviceList?.split(',')[0]?.trim();
  const device = first !== undefined && /^\d+$/.test(first) ? Number(first) : null;
  return {
    fraction: gpu?.perProcessGpuMemoryFraction || null,
    allowGrowth: gpu?.allowGrowth ?? null,
    device,
  };
}

// The ConfigProto the session gets, typed fields and sessionConfig bytes merged. Bytes
// TensorFlow cannot parse are left for TF_SetConfig to refuse; until then the typed
// fields stand for them.
function decodeApplied(configBytes: Uint8Array, typed: SessionConfig): SessionConfig {
  try {
    return decodeConfig(configBytes);
  } catch {
    return typed;
  }
}

/** Validates loadModel's second argument: a GPU fraction or an options object. */
export function resolveLoadOptions(arg: unknown): ResolvedOptions {
  const options = (typeof arg === 'number' ? { gpuMemoryFraction: arg } : arg ?? {}) as Record<string, unknown>;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidType('options', 'a GPU memory fraction or an options object', arg);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw invalidType(`option ${JSON.stringify(key)}`, `one of ${[...KNOWN].join(', ')}`, key);
  }
  const config: SessionConfig = {};
  const gpu: NonNullable<SessionConfig['gpuOptions']> = {};

  let gpuMemoryFraction: number | null = null;
  if (options.gpuMemoryFraction !== undefined) {
    const f = options.gpuMemoryFraction;
    if (typeof f !== 'number') throw invalidType('gpuMemoryFraction', 'a number', f);
    if (!(f > 0 && f <= 1)) throw outOfRange('gpuMemoryFraction', 'a fraction in (0, 1]', f);
    gpuMemoryFraction = f;
    gpu.perProcessGpuMemoryFraction = f;
  }
  if (options.allowGrowth !== undefined) gpu.allowGrowth = bool('allowGrowth', options.allowGrowth);
  let gpuDevice: number | null = null;
  if (options.gpuDevice !== undefined) {
    gpuDevice = int32('gpuDevice', options.gpuDevice, 0);
    gpu.visibleDeviceList = String(gpuDevice);
  }
  if (Object.keys(gpu).length > 0) config.gpuOptions = gpu;
  if (options.intraOpThreads !== undefined) config.intraOpParallelismThreads = poolThreads('intraOpThreads', options.intraOpThreads, false);
  if (options.interOpThreads !== undefined) config.interOpParallelismThreads = poolThreads('interOpThreads', options.interOpThreads, true);
  if (options.allowSoftPlacement !== undefined) config.allowSoftPlacement = bool('allowSoftPlacement', options.allowSoftPlacement);
  if (options.logDevicePlacement !== undefined) config.logDevicePlacement = bool('logDevicePlacement', options.logDevicePlacement);

  let tags: readonly string[] = ['serve'];
  if (options.tags !== undefined) {
    const t = options.tags;
    if (!Array.isArray(t) || !t.every((x) => typeof x === 'string' && x.length > 0)) {
      throw invalidType('tags', 'an array of non-empty strings ([] for the empty tag-set)', t);
    }
    tags = Object.freeze([...t]);
  }
  let opLibraries: readonly string[] = [];
  if (options.opLibraries !== undefined) {
    const l = options.opLibraries;
    if (!Array.isArray(l) || !l.every((x) => typeof x === 'string' && x.length > 0 && !x.includes('\0'))) {
      throw invalidType('opLibraries', 'an array of paths to op libraries (.so), without NUL characters', l);
    }
    opLibraries = Object.freeze([...l]);
  }
  let signature: string | null = null;
  if (options.signature !== undefined) {
    if (typeof options.signature !== 'string' || options.signature === '') throw invalidType('signature', 'a non-empty string', options.signature);
    signature = options.signature;
  }
  const base = options.sessionConfig;
  if (base !== undefined && !(base instanceof Uint8Array)) {
    throw invalidType('sessionConfig', 'a Uint8Array of serialized ConfigProto bytes', base);
  }
  if (config.interOpParallelismThreads === undefined && !baseSets(base, 'interOpParallelismThreads')) {
    config.interOpParallelismThreads = DEFAULT_INTER_OP_THREADS;
  }
  let maxConcurrentRuns: number | null = null;
  if (options.maxConcurrentRuns !== undefined) {
    const m = options.maxConcurrentRuns;
    if (typeof m !== 'number') throw invalidType('maxConcurrentRuns', 'a number', m);
    // The addon counts in 32 bits: past that, Infinity says the same.
    if (!(m === Infinity || (Number.isInteger(m) && m >= 1 && m <= 2 ** 32 - 1))) throw outOfRange('maxConcurrentRuns', 'an integer from 1 to 4294967295, or Infinity', m);
    maxConcurrentRuns = m;
  }
  let isolation: Isolation = 'none';
  if (options.isolation !== undefined) {
    if (options.isolation !== 'none' && options.isolation !== 'process') throw invalidType('isolation', "'none' or 'process'", options.isolation);
    isolation = options.isolation;
  }
  const batching = resolveBatching(options.batching);
  const runTimeoutMs = options.runTimeoutMs === undefined ? 0 : runTimeout('runTimeoutMs', options.runTimeoutMs);
  const opPolicy = options.opPolicy === undefined ? 'none' : resolveOpPolicy(options.opPolicy, 'opPolicy');
  const hostMemoryLimitBytes = options.hostMemoryLimitBytes === undefined ? 0 : hostMemoryLimit(options.hostMemoryLimitBytes, isolation);
  const hostHangTimeoutMs = options.hostHangTimeoutMs === undefined ? 0 : hostHangTimeout(options.hostHangTimeoutMs, isolation);
  const target = options.target === undefined ? '' : resolveTarget(options.target);
  const partition = options.partition === undefined ? null : resolvePartition(options, isolation, target);
  if (options.operationTimeoutMs !== undefined) {
    const ms = runTimeout('operationTimeoutMs', options.operationTimeoutMs);
    if (ms > 0) config.operationTimeoutInMs = ms;
  } else if (target !== '' && !baseSets(base, 'operationTimeoutInMs')) {
    config.operationTimeoutInMs = DEFAULT_REMOTE_OPERATION_TIMEOUT_MS;
  }
  // On a worker, variables are shared by name across the sessions of every client (a second
  // model with the same variable names restored over the first's): each session keeps its own.
  if (target !== '' && !baseSets(base, 'isolateSessionState')) config.isolateSessionState = true;
  const configBytes = encodeConfig(config, base);
  const applied = decodeApplied(configBytes, config);
  // What raw sessionConfig bytes ask of TensorFlow's pools: more threads than MAX_POOL_THREADS,
  // or a negative pool size where TensorFlow CHECKs for one ≥ 0, abort or exhaust the process.
  const pools: [string, number | undefined, number][] = [
    ['intra_op_parallelism_threads', applied.intraOpParallelismThreads, 0],
    ['inter_op_parallelism_threads', applied.interOpParallelismThreads, -INT32_MAX],
    ...(applied.sessionInterOpThreadPool ?? []).map((p, i): [string, number | undefined, number] => [`session_inter_op_thread_pool[${i}].num_threads`, p.numThreads, 0]),
  ];
  for (const [proto, n, min] of pools) {
    if (n !== undefined && (n > MAX_POOL_THREADS || n < min)) {
      throw outOfRange(`sessionConfig's ${proto}`, `from ${min === 0 ? 0 : 'any negative (inline)'} to ${MAX_POOL_THREADS} threads (TensorFlow starts them all at load and aborts the process when the system refuses one, or on a negative pool size)`, n);
    }
  }
  if (runTimeoutMs > 0 && runsInline(applied)) {
    // DirectSession runs an inline graph to its end on the calling thread and looks at the
    // deadline only then: the limit would never stop anything.
    throw outOfRange('runTimeoutMs', 'used with an inter-op pool: TensorFlow enforces a run timeout only then, and ops run inline by default (interOpThreads -1); add interOpThreads: 0 (or leave runTimeoutMs out)', runTimeoutMs);
  }
  if (hostHangTimeoutMs > 0 && runsInline(applied)) {
    // Inline, every run past its limit goes on to its end: a long one would be killed as hung (helper-100).
    throw outOfRange('hostHangTimeoutMs', 'used with an inter-op pool: with ops inline (interOpThreads -1, the default) TensorFlow cannot stop a run past its limit, so a long run would be killed as hung; add interOpThreads: 0', hostHangTimeoutMs);
  }
  return {
    gpuMemoryFraction, gpuDevice, gpu: gpuRequest(applied), isolation, tags, opLibraries, signature, maxConcurrentRuns, config, configBytes, applied, batching, runTimeoutMs, opPolicy, hostMemoryLimitBytes, hostHangTimeoutMs, partition, target,
  };
}

/**
 * A session target: '' or grpc://host:port. TensorFlow 2.21 registers only the direct and gRPC
 * session factories, so its own 'local' and a bare host:port fail inside it with a message that
 * lists factories; refused here with the fix instead.
 */
function resolveTarget(value: unknown): string {
  if (typeof value !== 'string') throw invalidType('target', "a string: '' (this process) or 'grpc://host:port'", value);
  const hostPort = /^grpc:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+):(\d{1,5})$/.exec(value);
  if (value === '' || (hostPort && Number(hostPort[2]) >= 1 && Number(hostPort[2]) <= 65535)) return value;
  throw outOfRange('target', "'' (this process) or 'grpc://host:port' (a tf.distribute.Server): this TensorFlow has no session " +
    `factory for ${JSON.stringify(value)}${/^[^\s/:]+:\d+$/.test(value) ? `; write grpc://${value}` : value === 'local' ? " ('local' is TensorFlow 1's name for this process: use '')" : ''}`, value);
}

function resolvePartition(options: Record<string, unknown>, isolation: Isolation, target: string): 'auto' | number {
  const value = options.partition;
  if (value !== 'auto' && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
    throw invalidType('partition', "'auto' or a partition index (a whole number ≥ 0)", value);
  }
  if (isolation === 'process') {
    throw outOfRange('partition', "used in this process: a partition is a device of this process's TensorFlow, and an isolated model has its own (give it a gpuMemoryFraction instead)", value);
  }
  if (target !== '') throw outOfRange('partition', 'used without target: a partition is a device of this process', value);
  if (options.allowSoftPlacement === false) {
    throw outOfRange('partition', 'used with soft placement (allowSoftPlacement left out or true): an op with no kernel on the partition\'s device must run on the CPU', value);
  }
  for (const key of ['gpuMemoryFraction', 'allowGrowth', 'gpuDevice']) {
    if (options[key] !== undefined) throw outOfRange('partition', `used without ${key}: the partition's size is the model's budget`, value);
  }
  return value;
}


/**
 * @internal Whether a session with this ConfigProto runs ops on the calling thread: only then
 * does a short run leave the cores to the thread that runs it, so its wait may be polled; and
 * TensorFlow then stops no run at its timeout.
 */
export function runsInline(config: SessionConfig): boolean {
  return (config.interOpParallelismThreads ?? 0) < 0;
}

function hostHangTimeout(value: unknown, isolation: Isolation): number {
  if (typeof value !== 'number') throw invalidType('hostHangTimeoutMs', 'a number of milliseconds', value);
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_TIMER_MS) {
    throw outOfRange('hostHangTimeoutMs', `a whole number of milliseconds from 0 (never) to ${MAX_TIMER_MS} (about 24.8 days)`, value);
  }
  if (value > 0 && isolation !== 'process') {
    throw outOfRange('hostHangTimeoutMs', "used with isolation: 'process' (it kills the model's host process; a model in this process has none); add isolation: 'process'", value);
  }
  return value;
}

/** The smallest hostMemoryLimitBytes: 256 MiB. */
export const MIN_HOST_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;

function hostMemoryLimit(value: unknown, isolation: Isolation): number {
  if (typeof value !== 'number') throw invalidType('hostMemoryLimitBytes', 'a number of bytes', value);
  if (!Number.isSafeInteger(value) || value < MIN_HOST_MEMORY_LIMIT_BYTES) {
    throw outOfRange('hostMemoryLimitBytes', `a whole number of bytes from ${MIN_HOST_MEMORY_LIMIT_BYTES} (256 MiB: a host holds about 190 MiB before its model) to 2^53 - 1`, value);
  }
  if (isolation !== 'process') {
    throw outOfRange('hostMemoryLimitBytes', "used with isolation: 'process' (it limits the model's host process; a model in this process shares its memory); add isolation: 'process'", value);
  }
  return value;
}
