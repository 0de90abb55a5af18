/**
 * Dynamic batching: concurrent run() calls on one signature are joined along dimension 0,
 * run as one TF_SessionRun, and each caller gets its rows of the outputs back. The model
 * (TensorFlow Serving's BatchingSession over a SharedBatchScheduler queue) and the option
 * names and defaults are TensorFlow Serving's BatchingParameters
 * (tensorflow_serving/servables/tensorflow/session_bundle_config.proto).
 *
 * Why our own code: batching is tfslice's own business (tensors crossing fast): no npm
 * package joins typed arrays by rows and schedules TensorFlow runs.
 *
 * Costs: feeds are joined with one TypedArray.set per request per input (strings: one copy
 * per element, as they are packed anyway); output rows go back as views of the batch's
 * output (no copy), except for requests split over several batches, whose pieces are joined
 * with one copy. Nothing here runs per element for numeric tensors, and nothing blocks.
 */
import * as os from 'node:os';

import { abortedRun, type RunSignal, timerFor, watchAbort } from './abort';
import { dtypeFromTf, type DTypeInfo } from './dtypes';
import { invalidType, InvalidArgumentError, ModelDisposedError, outOfRange, QueueFullError, TensorFlowError } from './errors';
import { native, type NativeData, type NativeTensors, type PackedStrings } from './native';
import type { SignatureInfo } from './proto';
import { detachedFeed } from './tensor';

/**
 * The `batching` load option: TensorFlow Serving's BatchingParameters, same meanings and
 * defaults. `true` takes every default.
 */
export interface BatchingOptions {
  /**
   * Largest batch, in rows (dimension 0 summed over requests), and largest request: one with
   * more rows fails with INVALID_ARGUMENT, with enableLargeBatchSplitting too (which then runs
   * batches of at most maxExecutionBatchSize). Default 1000 (TensorFlow Serving's
   * input_batch_size_limit).
   */
  maxBatchSize?: number | undefined;
  /**
   * How long a batch that is not full waits for more requests, in microseconds, from its
   * first request. 0 (default): a batch runs as soon as a batch thread is free, and requests
   * that arrive while every thread is busy join it. Node's timers have millisecond resolution:
   * a wait rounds up to whole milliseconds.
   */
  batchTimeoutMicros?: number | undefined;
  /**
   * Batches that may wait (the one filling included); a request that would need one more
   * fails at once with UNAVAILABLE (a QueueFullError, queue 'batch'; HTTP 503). Default 10.
   */
  maxEnqueuedBatches?: number | undefined;
  /**
   * Batches of one signature executing at once. Default: the number of CPUs
   * (os.availableParallelism(), TensorFlow Serving's port::MaxParallelism()). Never more than
   * the model's maxConcurrentRuns: a batch taken from the queue to wait for a run slot would
   * stop filling while the requests after it start a batch of their own.
   */
  numBatchThreads?: number | undefined;
  /**
   * Batch sizes the model may run, increasing; a batch is padded up to the next one with
   * copies of its last request's first row, and the padded rows are dropped from the outputs.
   * The last must equal maxBatchSize (tensorflow_model_server's rule) or, with splitting,
   * maxExecutionBatchSize (its batching library's); a batch is padded to the lowest size that
   * holds it, which may pass maxExecutionBatchSize. Default [] (any size).
   */
  allowedBatchSizes?: readonly number[] | undefined;
  /**
   * Requests whose inputs differ in dimensions past the first may join one batch: each input
   * is padded to the largest such dimensions in the batch, with its own first element
   * (TensorFlow Serving's pad_variable_length_inputs). Outputs then come back with the
   * padded dimensions. Default false: such requests go to separate batches.
   */
  padVariableLengthInputs?: boolean | undefined;
  /**
   * Split a request that does not fit into the batch being filled: its rows fill that batch
   * and the rest go to the next ones (at most maxExecutionBatchSize rows each), and its
   * outputs are joined back. Requests of more than maxBatchSize rows are still refused (as in
   * TensorFlow Serving, where max_batch_size is then the largest request). Default false.
   */
  enableLargeBatchSplitting?: boolean | undefined;
  /** With enableLargeBatchSplitting: the largest batch run, in rows (≤ maxBatchSize). Default maxBatchSize. */
  maxExecutionBatchSize?: number | undefined;
}

/** BatchingOptions with every default filled in (each field as documented there). */
export type ResolvedBatching = { readonly [K in keyof BatchingOptions]-?: Exclude<BatchingOptions[K], undefined> };

const KEYS: readonly (keyof BatchingOptions)[] = [
  'maxBatchSize', 'batchTimeoutMicros', 'maxEnqueuedBatches', 'numBatchThreads', 'allowedBatchSizes',
  'padVariableLengthInputs', 'enableLargeBatchSplitting', 'maxExecutionBatchSize',
];

// Sizes are int32 in TensorFlow Serving's scheduler; the timeout is int64 microseconds,
// held here within what setTimeout takes (2^31 − 1 ms).
const MAX_SIZE = 2 ** 31 - 1;
const MAX_TIMEOUT_MICROS = (2 ** 31 - 1) * 1000;

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidType(field, 'an integer', value);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw outOfRange(field, `an integer in [${min}, ${max}]`, value);
  return value;
}

/**
 * Validates the `batching` load option; null when batching is off (undefined or false).
 *
 * @param where the option's name in messages ('batching', 'models[0].batching')
 * @throws TypeError (ERR_INVALID_ARG_TYPE) or RangeError (ERR_OUT_OF_RANGE) naming the field
 */
export function resolveBatching(value: unknown, where = 'batching'): ResolvedBatching | null {
  if (value === undefined || value === false) return null;
  const given = (value === true ? {} : value) as Record<string, unknown>;
  const proto = given !== null && typeof given === 'object' ? Object.getPrototypeOf(given) : undefined;
  if (given === null || typeof given !== 'object' || (proto !== Object.prototype && proto !== null)) {
    throw invalidType(where, 'true, false or a plain object of batching parameters', value);
  }
  for (const key of Object.keys(given)) {
    if (!(KEYS as readonly string[]).includes(key)) throw invalidType(`${where}.${key}`, `absent: the batching parameters are ${KEYS.join(', ')}`, given[key]);
  }
  const field = (name: keyof BatchingOptions): string => `${where}.${name}`;
  // Own properties only: an inherited one is not a parameter the caller gave.
  const own = (name: keyof BatchingOptions): unknown => (Object.hasOwn(given, name) ? given[name] : undefined);
  const opt = <T>(name: keyof BatchingOptions, fallback: T, check: (v: unknown) => T): T => (own(name) === undefined ? fallback : check(own(name)));
  const maxBatchSize = opt('maxBatchSize', 1000, (v) => integer(field('maxBatchSize'), v, 1, MAX_SIZE));
  const batchTimeoutMicros = opt('batchTimeoutMicros', 0, (v) => integer(field('batchTimeoutMicros'), v, 0, MAX_TIMEOUT_MICROS));
  const maxEnqueuedBatches = opt('maxEnqueuedBatches', 10, (v) => integer(field('maxEnqueuedBatches'), v, 1, MAX_SIZE));
  const numBatchThreads = opt('numBatchThreads', os.availableParallelism(), (v) => integer(field('numBatchThreads'), v, 1, 1024));
  const bool = (name: keyof BatchingOptions) => opt(name, false, (v) => {
    if (typeof v !== 'boolean') throw invalidType(field(name), 'a boolean', v);
    return v;
  });
  const padVariableLengthInputs = bool('padVariableLengthInputs');
  const enableLargeBatchSplitting = bool('enableLargeBatchSplitting');
  if (!enableLargeBatchSplitting && own('maxExecutionBatchSize') !== undefined) {
    throw invalidType(field('maxExecutionBatchSize'), 'absent unless enableLargeBatchSplitting is true (it sizes the pieces a request is split into)', own('maxExecutionBatchSize'));
  }
  const maxExecutionBatchSize = opt('maxExecutionBatchSize', maxBatchSize, (v) => integer(field('maxExecutionBatchSize'), v, 1, maxBatchSize));
  const sizes = own('allowedBatchSizes') ?? [];
  if (!Array.isArray(sizes)) throw invalidType(field('allowedBatchSizes'), 'an array of increasing batch sizes', sizes);
  const allowed = sizes.map((s, i) => integer(`${field('allowedBatchSizes')}[${i}]`, s, 1, MAX_SIZE));
  allowed.forEach((s, i) => {
    if (i > 0 && s <= allowed[i - 1]!) throw outOfRange(`${field('allowedBatchSizes')}[${i}]`, `greater than the size before it (${allowed[i - 1]}): the sizes must increase`, s);
  });
  // The last allowed size: maxBatchSize, as tensorflow_model_server requires with or without
  // splitting (bundle_factory_util.cc; helper-129: a TF Serving file with splitting and
  // allowed_batch_sizes ending at max_batch_size was refused), or with splitting
  // maxExecutionBatchSize, as TensorFlow Serving's batching library requires
  // (batching_session.cc). A batch is padded to the lowest allowed size that holds it, which may
  // pass maxExecutionBatchSize, as there.
  const lastAllowed = allowed[allowed.length - 1];
  if (lastAllowed !== undefined && lastAllowed !== maxBatchSize && !(enableLargeBatchSplitting && lastAllowed === maxExecutionBatchSize)) {
    const expected = enableLargeBatchSplitting && maxExecutionBatchSize !== maxBatchSize
      ? `maxBatchSize (${maxBatchSize}) or maxExecutionBatchSize (${maxExecutionBatchSize})` : `maxBatchSize (${maxBatchSize})`;
    throw outOfRange(`${field('allowedBatchSizes')}[${allowed.length - 1}]`, `${expected}: the last allowed size is the largest batch (TensorFlow Serving's rule)`, lastAllowed);
  }
  return Object.freeze({
    maxBatchSize, batchTimeoutMicros, maxEnqueuedBatches, numBatchThreads, allowedBatchSizes: Object.freeze(allowed),
    padVariableLengthInputs, enableLargeBatchSplitting, maxExecutionBatchSize,
  });
}

/**
 * Why a signature cannot be batched, or null when it can: every input and output must be a
 * dense tensor whose leading dimension is unknown (-1), the batch dimension.
 */
export function unbatchableReason(info: SignatureInfo): string | null {
  if (Object.keys(info.inputs).length === 0) return 'it has no inputs';
  for (const [kind, specs] of [['input', info.inputs], ['output', info.outputs]] as const) {
    for (const [key, spec] of Object.entries(specs)) {
      if (spec.composite) return `${kind} '${key}' is a ${spec.composite.kind} tensor`;
      if (spec.shape === null) return `${kind} '${key}' has an unknown rank`;
      if (spec.shape.length === 0) return `${kind} '${key}' is a scalar`;
      if (spec.shape[0] !== -1) return `${kind} '${key}' has a fixed leading dimension (${spec.shape[0]})`;
    }
  }
  return null;
}

/** What batching did, per batched signature, since the model was loaded (Model.stats()). */
export interface BatchingStats {
  /** Batches run (retried ones once). */
  batches: number;
  /** Requests (or pieces of split requests) run in batches. */
  requests: number;
  /** Rows run, padding included. */
  rows: number;
  /** Rows added to reach an allowed batch size. */
  paddingRows: number;
  /** Batches that failed in TensorFlow and whose requests were run again in halves, down to single requests. */
  retriedBatches: number;
  /** Requests refused because maxEnqueuedBatches batches were waiting (UNAVAILABLE). */
  rejected: number;
  /** Time requests waited until their batch took a batch thread, summed, in seconds. */
  queueDelaySecondsSum: number;
  /** Requests (or pieces) waiting now: in the queue, or in full batches waiting in the addon. */
  queued: number;
  /** Batches by size run (rows, padding included). */
  batchSizes: Record<number, number>;
}

/** One batch run (Model.onBatch(); the server's batching metrics). */
export interface BatchEvent {
  /** The signature the batch ran. */
  readonly signature: string;
  /** Rows run, padding included. */
  readonly size: number;
  /** Requests (or pieces of split requests) in the batch. */
  readonly requests: number;
  /** Rows added to reach an allowed batch size (allowedBatchSizes), copies of the last request's first row. */
  readonly paddingRows: number;
  /** How long each request waited until its batch took a batch thread, in seconds. */
  readonly queueDelaysSeconds: readonly number[];
  /** The batch failed in TensorFlow and its requests were run again in halves. */
  readonly retried: boolean;
}

/** A flat [dtype, shape, data, ...] result and whether its buffers are the request's own. */
export interface BatchResult {
  tensors: NativeTensors;
  /**
   * 'heap': the data are views of a batch's outputs (shared; the collector frees them once no
   * view is left, and dispose() empties the tensor, as it does a runSync() output's). (Ownership's
   * values, spelt out: that type is internal.)
   */
  owned: true | 'heap';
}

interface Request {
  readonly rows: number;
  readonly pieces: (NativeTensors | undefined)[];
  /** Pieces not finished. */
  left: number;
  /** true: every piece came back as a request's own run; 'heap': views of a batch's outputs. */
  owned: true | 'heap';
  settled: boolean;
  /** Takes the request's queued pieces out when its wait limit passes (null: none, or done). */
  timer: NodeJS.Timeout | null;
  /** RunOptions.signal, if any. */
  readonly signal: RunSignal | undefined;
  /** Stops listening to its signal (null: none, or done). */
  unlisten: (() => void) | null;
  resolve(result: BatchResult): void;
  reject(error: unknown): void;
}

interface Task {
  readonly request: Request;
  readonly piece: number;
  readonly rows: number;
  /** The task's feeds, flat (a split request's pieces: views of its rows). */
  readonly feeds: NativeTensors;
  /** The request's whole feeds (its own feeds, or what a split request's pieces are views of): padding takes their first element. */
  readonly whole: NativeTensors;
  readonly enqueued: number;
  /** The request's TensorFlow run timeout, ms (0: none). */
  readonly timeoutMs: number;
  /** How long the request may wait before it starts, ms from `enqueued` (its runTimeoutMs; 0: no limit). */
  readonly waitLimitMs: number;
  /** The batch it was added to. */
  batch: Batch | null;
}

interface Batch {
  tasks: Task[];
  rows: number;
  /** Per input: the shape past dimension 0 of the batch's first task. */
  inner: (readonly number[])[];
  ready: boolean;
  timer: NodeJS.Timeout | null;
  /** Taken from the queue: its tasks execute, or wait in the addon (handed over, BatchQueue's #handsOver). */
  started: boolean;
  /** When it took a batch thread (performance.now()); unset while it waits in the addon. */
  began?: number;
}

/**
 * Runs a batch's feeds: `timeoutMs` is TensorFlow's run timeout, `waitLimitMs` how long the run
 * may wait for a run slot (maxConcurrentRuns) before it is dropped with a NotStartedError (0: no limit);
 * a run whose `signal` is aborted while it waits for one is dropped with CANCELLED.
 */
type Execute = (feeds: NativeTensors, timeoutMs: number, waitLimitMs: number, signal?: RunSignal) => Promise<NativeTensors>;

/**
 * @internal How every run dropped before it started is told (NotStartedError, a model host's
 * NOT_STARTED): it waited `waitedMs` `where` ("for a runner thread", "in the batch queue of ..."),
 * past its runTimeoutMs of `limitMs`.
 */
export function notStartedMessage(waitedMs: number, where: string, limitMs: number): string {
  return `the run waited ${Math.round(waitedMs)} ms ${where}, past its runTimeoutMs of ${limitMs} ms, and was not started`;
}

/** What a run dropped before it started waited for, unless it says otherwise (NotStartedError.waitedFor). */
const RUN_SLOT = 'a run slot (maxConcurrentRuns)';

/** How a batch's run went (#attempt). */
type Attempt = 'ok' | 'retry' | 'failed' | 'not started';

// The latest of some limits, ms (0: no limit, which is later than any).
function latest(limits: readonly number[]): number {
  let most = 0;
  for (const ms of limits) {
    if (ms <= 0) return 0;
    if (ms > most) most = ms;
  }
  return most;
}
/** @internal NotStartedError.waitedFor for a run an isolated model's host did not start (it waited there behind other runs). */
export const MODEL_HOST = 'its model host';

/** @internal NotStartedError.waitedFor for a run that waited for its model's version to load (ModelManager). */
export const VERSION_LOAD = 'a version to load';

/**
 * `DEADLINE_EXCEEDED` for a run dropped before it started, past its `runTimeoutMs` (or a server's
 * request time limit): it waited for its turn (`maxConcurrentRuns`), a runner thread, its model
 * host, a batch queue or a version to load, and TensorFlow never saw it, so running it again
 * cannot do its work twice. A run that TensorFlow stopped, or that ran, is a plain
 * `TensorFlowError` with the same code. Thrown by `run()`, `predict()` and `ModelManager.run()`;
 * not meant to be constructed.
 */
export class NotStartedError extends TensorFlowError {
  /**
   * What it waited for besides a batch queue (whose wait the message tells), in words:
   * 'a run slot (maxConcurrentRuns)', 'a runner thread', 'its model host', 'a version to load'.
   */
  readonly waitedFor: string;
  /** @internal */
  constructor(message: string, waitedFor = RUN_SLOT) {
    super('DEADLINE_EXCEEDED', message);
    this.waitedFor = waitedFor;
  }
}

/** @internal The queue of one signature (and output selection) of one model. */
export class BatchQueue {
  readonly #options: ResolvedBatching;
  readonly #signature: string;
  readonly #inputKeys: readonly string[];
  readonly #outputKeys: readonly string[];
  readonly #execute: Execute;
  /** The signals of batches executing or waiting to (#attempt): looked at again when a request fails early. */
  readonly #abandoned = new Set<BatchAbandoned>();
  /** Batches executing at once: numBatchThreads, at most the model's maxConcurrentRuns. */
  readonly #threads: number;
  /**
   * Full batches beyond #threads are handed to the addon at once, where they wait in call order
   * and the runner that ends one run starts the next, with no turn of the event loop between
   * (under load a turn answers thousands of requests: a batch per turn left TensorFlow idle and
   * the queue full, so most requests were refused). Only where the addon holds them to #threads
   * (an in-process session's run limit, or its plan's: Model's #queue).
   */
  readonly #handsOver: boolean;
  /** Rows that fill a batch: maxExecutionBatchSize with large batch splitting, else maxBatchSize. */
  readonly #fullAt: number;
  readonly #stats: BatchingStats;
  readonly #emit: (event: BatchEvent) => void;
  readonly #waiting: Batch[] = [];
  /** Full batches handed to the addon that wait there, in the order the addon starts them, with their requests (stats.queued). */
  readonly #handed: { batch: Batch; requests: number }[] = [];
  #open: Batch | null = null;
  #executing = 0;
  #pumpQueued = false;
  #closed = false;

  constructor(init: {
    options: ResolvedBatching; signature: string; inputKeys: readonly string[]; outputKeys: readonly string[];
    execute: Execute; maxConcurrentRuns: number; handOver: boolean; stats: BatchingStats; emit: (event: BatchEvent) => void;
  }) {
    this.#options = init.options;
    this.#threads = Math.min(init.options.numBatchThreads, init.maxConcurrentRuns);
    this.#handsOver = init.handOver;
    this.#fullAt = init.options.enableLargeBatchSplitting ? init.options.maxExecutionBatchSize : init.options.maxBatchSize;
    this.#signature = init.signature;
    this.#inputKeys = init.inputKeys;
    this.#outputKeys = init.outputKeys;
    this.#execute = init.execute;
    this.#stats = init.stats;
    this.#emit = init.emit;
  }

  /**
   * Queues validated feeds (flat, one triple per signature input in order). `timeoutMs` is
   * TensorFlow's run timeout (0: none); a request still queued after `waitLimitMs` (its
   * runTimeoutMs; 0: no limit) is taken out of the queue and rejects with DEADLINE_EXCEEDED, as
   * a run waiting for its turn under maxConcurrentRuns does; one whose `signal` is aborted while
   * it is queued leaves the same way and rejects with CANCELLED. Throws before queueing:
   * INVALID_ARGUMENT for feeds that cannot be batched, UNAVAILABLE (QueueFullError) when the queue is full.
   */
  submit(feeds: NativeTensors, timeoutMs = 0, waitLimitMs = 0, signal?: RunSignal): Promise<BatchResult> {
    const rows = this.#rowsOf(feeds);
    const o = this.#options;
    if (rows > o.maxBatchSize) {
      throw new InvalidArgumentError(`the request has ${rows} rows (dimension 0 of its feeds), more than signature '${this.#signature}' batches at once ` +
        `(batching.maxBatchSize ${o.maxBatchSize}, the most rows of one request even with splitting on, as in TensorFlow Serving); send fewer rows per request, or raise maxBatchSize`);
    }
    // Nothing to join: it runs as it is, outside the queue.
    if (rows === 0) return this.#execute(feeds, timeoutMs, waitLimitMs, signal).then((tensors) => ({ tensors, owned: true }));
    const inner = this.#innerOf(feeds);
    // Where its rows go: into the open batch if it fits, then into new batches.
    const limit = this.#fullAt;
    // The open batch, or when it cannot take the request (other inner dimensions, too few
    // rows left) the newest waiting batch that can take it whole.
    let open = this.#open;
    if (open === null || !this.#compatible(open, inner) || (!o.enableLargeBatchSplitting && open.rows + rows > limit)) {
      open = null;
      for (let i = this.#waiting.length - 1; i >= 0 && open === null; i--) {
        const batch = this.#waiting[i]!;
        if (batch.rows + rows <= limit && this.#compatible(batch, inner)) open = batch;
      }
      open ??= this.#open !== null && this.#compatible(this.#open, inner) ? this.#open : null;
    }
    const room = open !== null ? limit - open.rows : 0;
    const first = o.enableLargeBatchSplitting ? Math.min(room, rows) : rows <= room ? rows : 0;
    const fresh = rows - first > 0 ? Math.ceil((rows - first) / limit) : 0;
    if (fresh > o.maxEnqueuedBatches) {
      throw new InvalidArgumentError(`the request's ${rows} rows need ${fresh} batches of at most ${limit} rows (batching.maxExecutionBatchSize), more than ` +
        `batching.maxEnqueuedBatches (${o.maxEnqueuedBatches}) lets wait at once, so it can never be queued; send fewer rows per request, or raise maxEnqueuedBatches or maxExecutionBatchSize`);
    }
    // Full batches waiting in the addon (#handsOver) count.
    const waiting = this.#waiting.length + (this.#open ? 1 : 0) + this.#handed.length;
    if (fresh > 0 && waiting + fresh > o.maxEnqueuedBatches) {
      this.#stats.rejected++;
      // TensorFlow Serving's words first (its BatchResource's), for clients that look for them.
      throw new QueueFullError('batch', `The batch scheduling queue to which this task was submitted is full: that of signature '${this.#signature}', where ${waiting} batch(es) wait and this request needs ${fresh} more, ` +
        `past batching.maxEnqueuedBatches (${o.maxEnqueuedBatches}); retry later, or raise maxEnqueuedBatches or numBatchThreads`);
    }
    const sizes: number[] = [];
    if (first > 0) sizes.push(first);
    for (let left = rows - first; left > 0; left -= limit) sizes.push(Math.min(limit, left));
    return new Promise<BatchResult>((resolve, reject) => {
      const request: Request = { rows, pieces: new Array(sizes.length), left: sizes.length, owned: true, settled: false, timer: null, signal, unlisten: null, resolve, reject };
      const now = performance.now();
      let at = 0;
      const tasks = sizes.map((size, piece) => {
        const task: Task = { request, piece, rows: size, feeds: size === rows ? feeds : sliceRows(feeds, at, size), whole: feeds, enqueued: now, timeoutMs, waitLimitMs, batch: null };
        at += size;
        const target = piece === 0 && first > 0 ? open! : this.#startBatch(inner);
        this.#add(target, task);
        return task;
      });
      if (waitLimitMs > 0) request.timer = timerFor(() => this.#expire(request, tasks), waitLimitMs);
      if (signal !== undefined) {
        try {
          request.unlisten = watchAbort(signal, () => this.#leave(request, tasks, () => abortedRun(signal)));
        } catch (error) {
          this.#leave(request, tasks, () => error); // a signal that cannot be listened to: the request leaves
        }
      }
      this.#schedulePump();
    });
  }

  /** Fails every queued request with MODEL_DISPOSED; batches executing finish. */
  close(message: string): void {
    this.#closed = true;
    const queued = [...this.#waiting.splice(0), ...(this.#open ? [this.#open] : [])];
    this.#open = null;
    for (const batch of queued) {
      if (batch.timer) clearTimeout(batch.timer);
      for (const task of batch.tasks) this.#fail(task.request, new ModelDisposedError(message));
      this.#stats.queued -= batch.tasks.length;
    }
    // Those handed to the addon still count until they end there (the session's close refuses them).
  }

  #rowsOf(feeds: NativeTensors): number {
    let rows = -1;
    for (let i = 0; i < this.#inputKeys.length; i++) {
      const shape = feeds[3 * i + 1] as readonly number[];
      if (shape.length === 0) {
        throw new InvalidArgumentError(`feed '${this.#inputKeys[i]}' of signature '${this.#signature}' is a scalar; a batched signature's feeds have their rows along dimension 0`);
      }
      if (rows === -1) rows = shape[0]!;
      else if (shape[0] !== rows) {
        throw new InvalidArgumentError(`the feeds of batched signature '${this.#signature}' must have the same number of rows (dimension 0): ` +
          `'${this.#inputKeys[0]}' has ${rows}, '${this.#inputKeys[i]}' has ${shape[0]}`);
      }
    }
    return rows;
  }

  #innerOf(feeds: NativeTensors): (readonly number[])[] {
    const inner: (readonly number[])[] = [];
    for (let i = 0; i < this.#inputKeys.length; i++) inner.push((feeds[3 * i + 1] as readonly number[]).slice(1));
    return inner;
  }

  #compatible(batch: Batch, inner: (readonly number[])[]): boolean {
    for (let i = 0; i < inner.length; i++) {
      const a = batch.inner[i]!;
      const b = inner[i]!;
      if (a.length !== b.length) return false;
      if (!this.#options.padVariableLengthInputs && !sameDims(a, b)) return false;
    }
    return true;
  }

  // A new open batch; the one filling (if any) waits for a thread.
  #startBatch(inner: (readonly number[])[]): Batch {
    if (this.#open) this.#seal(this.#open);
    const batch: Batch = { tasks: [], rows: 0, inner, ready: this.#options.batchTimeoutMicros === 0, timer: null, started: false };
    this.#open = batch;
    return batch;
  }

  #seal(batch: Batch): void {
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = null;
    batch.ready = true;
    if (this.#open === batch) this.#open = null;
    this.#waiting.push(batch);
  }

  #add(batch: Batch, task: Task): void {
    task.batch = batch;
    batch.tasks.push(task);
    batch.rows += task.rows;
    this.#stats.queued++;
    if (batch.rows >= this.#fullAt) {
      if (this.#open === batch) this.#seal(batch);
    } else if (!batch.ready && batch.timer === null) {
      batch.timer = setTimeout(() => {
        batch.timer = null;
        batch.ready = true;
        this.#pump();
      }, Math.ceil(this.#options.batchTimeoutMicros / 1000));
    }
  }

  // Batches are started from a microtask, so that run() calls made in one turn of the
  // event loop join one batch instead of the first running alone.
  #schedulePump(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (!this.#closed) {
      let batch: Batch | undefined;
      if (this.#executing < this.#threads) {
        batch = this.#waiting.shift();
        if (!batch && this.#open?.ready && this.#open.tasks.length > 0) {
          batch = this.#open;
          this.#open = null;
        }
      } else if (this.#handsOver && this.#waiting.length > 0 && this.#waiting[0]!.rows >= this.#fullAt) {
        // Full: no request can join it any more. One that is not full waits here for more rows.
        batch = this.#waiting.shift();
      }
      if (!batch) return;
      batch.started = true;
      const threads = this.#executing - this.#handed.length;
      this.#executing++;
      if (threads < this.#threads) {
        batch.began = performance.now();
        this.#stats.queued -= batch.tasks.length;
      } else {
        this.#handed.push({ batch, requests: batch.tasks.length });
      }
      void this.#run(batch).finally(() => {
        this.#executing--;
        // The addon starts the oldest batch waiting there as one ends. One that ends (or is
        // dropped) before this thread saw those ahead of it end took no other's place.
        const at = batch.began === undefined ? this.#handed.findIndex((h) => h.batch === batch) : 0;
        if (at >= 0 && at < this.#handed.length) {
          const { batch: next, requests } = this.#handed.splice(at, 1)[0]!;
          next.began = performance.now();
          this.#stats.queued -= requests;
        }
        this.#pump();
      });
    }
  }

  async #run(batch: Batch): Promise<void> {
    // A request whose wait ran out as its batch left the queue (before its own timer took it
    // out) is not waited for any more: it fails, and the batch runs without it (or not at all).
    const waiting: Task[] = [];
    for (const task of batch.tasks) {
      if (this.#waitLeft(task) < 0) this.#fail(task.request, this.#notStarted(task, `(batchTimeoutMicros ${this.#options.batchTimeoutMicros})`));
      else if (!this.#failedDetached(task)) waiting.push(task);
    }
    if (waiting.length < batch.tasks.length) {
      batch.tasks = waiting;
      batch.rows = waiting.reduce((rows, task) => rows + task.rows, 0);
      if (waiting.length === 0) return;
    }
    const started = performance.now();
    const size = paddedSize(this.#options.allowedBatchSizes, batch.rows);
    const { limit, left } = this.#limits(batch.tasks, started);
    const early = this.#failEarly(batch.tasks, limit > 0 ? started + limit : left > 0 ? started + left : Infinity);
    let outcome: Attempt;
    try {
      outcome = await this.#attempt(batch, batch, size, limit, left);
      // A failure inside TensorFlow: the requests run again in halves, so that only the one
      // that causes it fails (TensorFlow Serving fails the whole batch).
      if (outcome === 'retry') {
        this.#stats.retriedBatches++;
        await this.#bisect(batch, batch.tasks);
      }
    } finally {
      early?.stop();
    }
    // A batch dropped before it started (every request's wait had passed) did not run.
    if (outcome !== 'not started') this.#count(batch, size, outcome === 'retry');
  }

  // Fails `task`'s request when one of its feeds was detached while it waited (transferred, or
  // taken by a stream's BYOB read): joined, its rows threw V8's TypeError, and every request of
  // the batch failed with it (helper-126). True when it failed.
  #failedDetached(task: Task): boolean {
    const detached = detachedFeed(task.whole, this.#inputKeys);
    if (detached === null) return false;
    this.#fail(task.request, detached);
    return true;
  }

  // What is left of its requests' limits, ms, for a batch: TensorFlow's run timeout (`limit`)
  // and the wait for a run slot (`left`), the latest of each, as TensorFlow Serving's batching
  // session runs a batch under the latest deadline of its tasks (BatchingSession::ProcessBatch):
  // one impatient client does not cut the batch short for the others (it fails at its own
  // limit: #failEarly). 0: no limit (a request has none).
  #limits(tasks: readonly Task[], now: number): { limit: number; left: number } {
    const limit = latest(tasks.map((task) => this.#timeLeft(task, now)));
    // A request whose wait has passed (a retry's) does not lift the limit: it counts as 1 ms.
    const left = latest(tasks.map((task) => {
      const ms = this.#waitLeft(task);
      return ms < 0 ? 1 : ms;
    }));
    return { limit, left: left > 0 ? Math.ceil(left) : 0 };
  }

  // Runs `part` of `batch` (all of it, or a half being retried) as one batch of `size` rows and
  // delivers its rows. 'retry': it failed inside TensorFlow and has more than one request. Other
  // failures fail its requests here: a dead host, a disposed model (MODEL_CRASHED,
  // MODEL_DISPOSED: not TensorFlow's codes), outputs that cannot be split, a run stopped at its
  // limit (the latest of its requests': every one has passed) or cancelled because every
  // request was aborted; dropped while it waited for a run slot, its requests that still may
  // wait run alone ('not started' when none could).
  async #attempt(batch: Batch, part: Batch, size: number, limit: number, left: number): Promise<Attempt> {
    // Dropped where it waits once none of its requests waits for it: each aborted (with a
    // signal) or failed already at its own limit (#failEarly). Without signals it cannot be.
    const signal = part.tasks.some((task) => task.request.signal !== undefined) ? new BatchAbandoned(part.tasks) : undefined;
    if (signal) this.#abandoned.add(signal);
    try {
      let outputs: NativeTensors;
      try {
        outputs = await this.#execute(this.#join(part, size), limit, left, signal);
      } finally {
        if (signal) this.#abandoned.delete(signal);
      }
      this.#deliver(part, outputs, size);
      return 'ok';
    } catch (error) {
      if (error instanceof NotStartedError) {
        for (const task of part.tasks) await this.#runAlone(batch, task, error.waitedFor);
        return 'not started';
      }
      // Refused by dispose() where it waited: a run already begun is waited for, so it never ran.
      if (error instanceof ModelDisposedError) {
        for (const task of part.tasks) this.#fail(task.request, error);
        return 'not started';
      }
      if (signal?.aborted && error instanceof TensorFlowError && error.code === 'CANCELLED') {
        for (const task of part.tasks) this.#fail(task.request, error);
        return 'not started';
      }
      const retry = part.tasks.length > 1 && error instanceof TensorFlowError && !(error instanceof BatchOutputError) &&
        error.code !== 'DEADLINE_EXCEEDED' && error.code !== 'CANCELLED';
      if (retry) return 'retry';
      for (const task of part.tasks) this.#fail(task.request, error);
      return 'failed';
    }
  }

  // A batch that failed inside TensorFlow, run again in halves: a half that fails is halved
  // again, down to single requests, which fail alone. One failing request among n costs about
  // 2·log2(n) runs, not n (run one by one, one client's bad input multiplied the work of every
  // batch it joined by the batch's size).
  async #bisect(batch: Batch, tasks: readonly Task[]): Promise<void> {
    const live = tasks.filter((task) => !task.request.settled);
    const half = Math.ceil(live.length / 2);
    for (const tasksOfPart of [live.slice(0, half), live.slice(half)]) {
      // Those still waiting: one may have failed at its own limit while the other half ran (or
      // had its feed detached meanwhile).
      const now = tasksOfPart.filter((task) => !task.request.settled && !this.#failedDetached(task));
      if (now.length <= 1) {
        if (now.length === 1) await this.#runAlone(batch, now[0]!);
        continue;
      }
      const part: Batch = { tasks: now, rows: now.reduce((rows, task) => rows + task.rows, 0), inner: batch.inner, ready: true, timer: null, started: true };
      const { limit, left } = this.#limits(now, performance.now());
      if (await this.#attempt(batch, part, paddedSize(this.#options.allowedBatchSizes, part.rows), limit, left) === 'retry') await this.#bisect(batch, now);
    }
  }

  // Requests of a batch whose own limit comes before the batch's (`due`, performance.now() ms)
  // fail with DEADLINE_EXCEEDED at it, while the batch waits or runs on for the others (their
  // rows ride along, their outputs are dropped): one timer for the batch, set for the next such
  // limit. A request's limit is its runTimeoutMs (TensorFlow's run timeout, or with ops inline
  // only a limit on its wait). Null when there is none.
  #failEarly(tasks: readonly Task[], due: number): { stop(): void } | null {
    const dueOf = (task: Task) => task.enqueued + (task.timeoutMs > 0 ? task.timeoutMs : task.waitLimitMs);
    const early = tasks.filter((task) => (task.timeoutMs > 0 || task.waitLimitMs > 0) && dueOf(task) < due).sort((a, b) => dueOf(a) - dueOf(b));
    if (early.length === 0) return null;
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer = setTimeout(() => {
        const now = performance.now();
        for (; next < early.length && dueOf(early[next]!) <= now + 1; next++) {
          const late = early[next]!;
          this.#fail(late.request, new TensorFlowError('DEADLINE_EXCEEDED', `the run did not finish within its runTimeoutMs of ` +
            `${late.timeoutMs > 0 ? late.timeoutMs : late.waitLimitMs} ms; its batch of signature '${this.#signature}' goes on without it, under ` +
            "a later request's limit (TensorFlow Serving runs a batch under the latest deadline of its requests)"));
        }
        // A batch left with only aborted requests is dropped where it waits.
        for (const abandoned of this.#abandoned) abandoned.check();
        if (next < early.length) arm();
      }, Math.max(0, Math.ceil(dueOf(early[next]!) - performance.now())));
    };
    arm();
    return { stop: () => clearTimeout(timer) };
  }

  // What is left of a task's TensorFlow limit at `now` (it counts from its call), whole ms ≥ 1;
  // 0 for no limit.
  #timeLeft(task: Task, now: number): number {
    return task.timeoutMs > 0 ? Math.max(1, Math.ceil(task.timeoutMs - (now - task.enqueued))) : 0;
  }

  // The wait a task has left before it must start, ms: > 0, -1 when it has passed, 0 for no limit.
  #waitLeft(task: Task): number {
    if (task.waitLimitMs <= 0) return 0;
    const left = task.waitLimitMs - (performance.now() - task.enqueued);
    return left > 0 ? left : -1;
  }

  // One task of a batch run as a run of its own (a retry), unless its wait limit has passed.
  // `waitedFor`: what the batch was dropped waiting for (NotStartedError.waitedFor), if it was.
  async #runAlone(batch: Batch, task: Task, waitedFor = RUN_SLOT): Promise<void> {
    if (task.request.settled) return; // failed already (its own limit, another piece)
    if (task.request.signal?.aborted) {
      this.#fail(task.request, abortedRun(task.request.signal));
      return;
    }
    const left = this.#waitLeft(task);
    if (left < 0) {
      this.#fail(task.request, this.#notStarted(task, `and for ${waitedFor}`));
      return;
    }
    const alone: Batch = { tasks: [task], rows: task.rows, inner: batch.inner, ready: true, timer: null, started: true };
    const aloneSize = paddedSize(this.#options.allowedBatchSizes, task.rows);
    const limit = this.#timeLeft(task, performance.now());
    try {
      this.#deliver(alone, await this.#execute(this.#join(alone, aloneSize), limit, left > 0 ? Math.ceil(left) : 0, task.request.signal), aloneSize);
    } catch (e) {
      // Its wait ran out at the run slot this time: said with the request's own limit, not the
      // remainder the retry was given (a message with "0.4018 ms" in it, seen on a loaded machine).
      this.#fail(task.request, e instanceof NotStartedError ? this.#notStarted(task, `and for ${e.waitedFor}`) : e);
    }
  }

  #count(batch: Batch, size: number, retried: boolean): void {
    // Waited until it took a batch thread: one handed to the addon, until the batch ahead of it
    // ended (seen now, if not yet).
    const began = batch.began ?? performance.now();
    const delays = batch.tasks.map((t) => (began - t.enqueued) / 1000);
    const stats = this.#stats;
    stats.batches++;
    stats.requests += batch.tasks.length;
    stats.rows += size;
    stats.paddingRows += size - batch.rows;
    stats.batchSizes[size] = (stats.batchSizes[size] ?? 0) + 1;
    for (const d of delays) stats.queueDelaySecondsSum += d;
    this.#emit({ signature: this.#signature, size, requests: batch.tasks.length, paddingRows: size - batch.rows, queueDelaysSeconds: delays, retried });
  }

  // The batch's feeds: a lone task's own when nothing needs padding, else joined.
  #join(batch: Batch, size: number): NativeTensors {
    const tasks = batch.tasks;
    if (tasks.length === 1 && size === batch.rows) return tasks[0]!.feeds;
    const out: NativeTensors = [];
    for (let i = 0; i < this.#inputKeys.length; i++) {
      const dtype = tasks[0]!.feeds[3 * i] as number;
      // Padded with the request's own first element, a split request's pieces too (TensorFlow Serving pads a task with its first element).
      const parts = tasks.map((t) => ({ shape: t.feeds[3 * i + 1] as readonly number[], data: t.feeds[3 * i + 2] as NativeData, first: t.whole[3 * i + 2] as NativeData }));
      const inner = this.#options.padVariableLengthInputs ? maxDims(parts.map((p) => p.shape.slice(1))) : parts[0]!.shape.slice(1);
      out.push(dtype, [size, ...inner], joinRows(dtypeFromTf(dtype)!, parts, inner, size));
    }
    return out;
  }

  #deliver(batch: Batch, outputs: NativeTensors, size: number): void {
    for (let k = 0; k < this.#outputKeys.length; k++) {
      const shape = outputs[3 * k + 1] as readonly number[];
      if (shape.length === 0 || shape[0] !== size) {
        throw new BatchOutputError(`output '${this.#outputKeys[k]}' of batched signature '${this.#signature}' has ` +
          `${shape.length === 0 ? 'no dimension 0 (a scalar)' : `${shape[0]} row(s) along dimension 0`} for a batch of ${size} rows ` +
          `(${batch.tasks.length} request(s)): its rows do not follow the inputs' rows, so it cannot be split among requests; ` +
          'load the model without batching for this signature');
      }
    }
    const whole = batch.tasks.length === 1 && size === batch.rows;
    let row = 0;
    for (const task of batch.tasks) {
      const request = task.request;
      if (whole) {
        request.pieces[task.piece] = outputs;
      } else {
        const piece: NativeTensors = [];
        for (let k = 0; k < this.#outputKeys.length; k++) {
          const dtype = outputs[3 * k] as number;
          const shape = outputs[3 * k + 1] as readonly number[];
          piece.push(dtype, [task.rows, ...shape.slice(1)], rowsOf(dtypeFromTf(dtype)!, outputs[3 * k + 2] as NativeData, shape, row, task.rows));
        }
        request.pieces[task.piece] = piece;
        request.owned = 'heap';
      }
      row += task.rows;
      if (--request.left === 0 && !request.settled) this.#finish(request);
    }
  }

  // A request's wait limit passed: its pieces still queued leave their batches, and it fails
  // (pieces already executing finish unseen). One whose pieces all execute is left to
  // TensorFlow's own limit.
  #expire(request: Request, tasks: readonly Task[]): void {
    request.timer = null;
    this.#leave(request, tasks, () => this.#notStarted(tasks[0]!, `(batchTimeoutMicros ${this.#options.batchTimeoutMicros}, ${this.#executing} batch(es) executing)`));
  }

  // A request's pieces still queued leave their batches, and it fails with `error()`; one whose
  // pieces all execute is left to finish.
  #leave(request: Request, tasks: readonly Task[], error: () => unknown): void {
    if (request.settled) return;
    const queued = tasks.filter((task) => !task.batch!.started);
    if (queued.length === 0) return;
    for (const task of queued) this.#remove(task);
    this.#fail(request, error());
  }

  // DEADLINE_EXCEEDED for a request whose runTimeoutMs passed before it started; `how`: what it waited for besides the queue.
  #notStarted(task: Task, how: string): NotStartedError {
    return new NotStartedError(notStartedMessage(performance.now() - task.enqueued, `in the batch queue of signature '${this.#signature}' ${how}`, task.waitLimitMs));
  }

  #remove(task: Task): void {
    const batch = task.batch!;
    batch.tasks.splice(batch.tasks.indexOf(task), 1);
    batch.rows -= task.rows;
    this.#stats.queued--;
    if (batch.tasks.length > 0) return;
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = null;
    if (this.#open === batch) this.#open = null;
    else this.#waiting.splice(this.#waiting.indexOf(batch), 1);
  }

  #finish(request: Request): void {
    request.settled = true;
    if (request.timer) clearTimeout(request.timer);
    request.unlisten?.();
    if (request.pieces.length === 1) {
      request.resolve({ tensors: request.pieces[0]!, owned: request.owned });
      return;
    }
    try {
      const tensors: NativeTensors = [];
      for (let k = 0; k < this.#outputKeys.length; k++) {
        // Joined as they are (same dimensions: nothing is padded here).
        const pieces = request.pieces.map((p) => ({ shape: p![3 * k + 1] as readonly number[], data: p![3 * k + 2] as NativeData, first: p![3 * k + 2] as NativeData }));
        const inner = pieces[0]!.shape.slice(1);
        const other = pieces.find((p) => !rowsAre(p.shape, inner));
        if (other) {
          throw new TensorFlowError('FAILED_PRECONDITION', `output '${this.#outputKeys[k]}' of signature '${this.#signature}' came back as [${pieces[0]!.shape.join(', ')}] ` +
            `and [${other.shape.join(', ')}] for two pieces of one split request, which cannot be joined (padVariableLengthInputs padded them differently); ` +
            'send requests of at most maxExecutionBatchSize rows');
        }
        const dtype = request.pieces[0]![3 * k] as number;
        tensors.push(dtype, [request.rows, ...inner], joinRows(dtypeFromTf(dtype)!, pieces, inner, request.rows));
      }
      request.resolve({ tensors, owned: true });
    } catch (error) {
      request.reject(error);
    }
  }

  #fail(request: Request, error: unknown): void {
    if (request.settled) return;
    request.settled = true;
    if (request.timer) clearTimeout(request.timer);
    request.unlisten?.();
    request.reject(error);
  }
}

/**
 * A batch's RunSignal: aborted once none of its requests waits for it any more, each aborted
 * (RunOptions.signal) or failed already (its own limit passed first: #failEarly, which calls
 * check()). The addon then drops the batch where it waits.
 */
class BatchAbandoned implements RunSignal {
  readonly #listeners: (() => void)[] = [];
  readonly #check = () => this.check();
  #fired = false;

  constructor(private readonly tasks: readonly Task[]) {}

  get aborted(): boolean {
    return this.tasks.every((task) => task.request.settled || task.request.signal?.aborted === true);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#listeners.length === 0) for (const task of this.tasks) task.request.signal?.addEventListener('abort', this.#check, { once: true });
    this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners.indexOf(listener);
    if (at < 0) return;
    this.#listeners.splice(at, 1);
    if (this.#listeners.length === 0) for (const task of this.tasks) task.request.signal?.removeEventListener('abort', this.#check);
  }

  check(): void {
    if (this.#fired || this.#listeners.length === 0 || !this.aborted) return;
    this.#fired = true;
    for (const listener of this.#listeners.splice(0)) listener();
  }
}

/** A batch's output that cannot be split among its requests (FAILED_PRECONDITION, never retried). */
class BatchOutputError extends TensorFlowError {
  constructor(message: string) {
    super('FAILED_PRECONDITION', message);
  }
}

/** The smallest allowed size that holds `rows` (rows itself when any size is allowed). */
function paddedSize(allowed: readonly number[], rows: number): number {
  for (const size of allowed) if (size >= rows) return size;
  return rows;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Whether a part's rows are `inner` (its shape past dimension 0): sameDims(shape.slice(1), inner)
// without the copy, once per request of every batch.
function rowsAre(shape: readonly number[], inner: readonly number[]): boolean {
  if (shape.length !== inner.length + 1) return false;
  for (let i = 0; i < inner.length; i++) if (shape[i + 1] !== inner[i]) return false;
  return true;
}

function maxDims(shapes: (readonly number[])[]): number[] {
  const out = [...shapes[0]!];
  for (const s of shapes) for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i]!, s[i]!);
  return out;
}

function product(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** The typed-array methods used here, common to every numeric dtype's array (bigint ones included). */
interface Numeric {
  readonly length: number;
  readonly [index: number]: number | bigint;
  set(source: Numeric, at: number): void;
  subarray(begin: number, end: number): Numeric;
  fill(value: number | bigint, begin: number, end: number): unknown;
  copyWithin(target: number, begin: number, end: number): unknown;
}

/**
 * Calls `line(src, dst, length)` for each run of the last dimension of a tensor of shape
 * `from` (rows first) placed at the start of each dimension of `to` (same rank, each
 * dimension at least as large): what padding a tensor at its ends copies.
 */
function forEachLine(from: readonly number[], to: readonly number[], line: (src: number, dst: number, length: number) => void): void {
  const rank = from.length;
  if (rank === 0) {
    line(0, 0, 1);
    return;
  }
  const last = from[rank - 1]!;
  const lines = product(from.slice(0, -1));
  if (last === 0 || lines === 0) return;
  // Strides of `to`, in elements.
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1]! * to[d + 1]!;
  const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
  for (let n = 0; n < lines; n++) {
    let dst = 0;
    for (let d = 0; d < rank - 1; d++) dst += index[d]! * strides[d]!;
    line(n * last, dst, last);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d]! < from[d]!) break;
      index[d] = 0;
    }
  }
}

/** A task's rows for one input: its shape, its data, and the data its first element (the padding) is taken from. */
interface Part {
  shape: readonly number[];
  data: NativeData;
  first: NativeData;
}

/**
 * Joins tensors along dimension 0 into `size` rows of shape `inner`: each part copied in
 * (padded past dimension 0 with its request's first element where its shape is smaller), then
 * rows up to `size` filled with copies of the last part's first row.
 */
function joinRows(info: DTypeInfo, parts: Part[], inner: readonly number[], size: number): NativeData {
  const rowElems = product(inner);
  if (!info.array) return joinStrings(parts, inner, size);
  const count = size * rowElems;
  const bytes = count * info.bytes;
  const out = new info.array(bytes > 0 ? native().allocAligned(bytes) : new ArrayBuffer(0)) as unknown as Numeric;
  let row = 0;
  let lastStart = 0;
  for (const part of parts) {
    const data = part.data as unknown as Numeric;
    const rows = part.shape[0]!;
    const at = row * rowElems;
    if (rowsAre(part.shape, inner)) {
      out.set(data, at);
    } else {
      const first = part.first as unknown as Numeric;
      if (first.length > 0) out.fill(first[0]!, at, at + rows * rowElems);
      forEachLine(part.shape, [rows, ...inner], (src, dst, length) => out.set(data.subarray(src, src + length), at + dst));
    }
    lastStart = row;
    row += rows;
  }
  for (; row < size; row++) out.copyWithin(row * rowElems, lastStart * rowElems, (lastStart + 1) * rowElems);
  return out as unknown as NativeData;
}

function joinStrings(parts: Part[], inner: readonly number[], size: number): PackedStrings {
  const rowElems = product(inner);
  const elements: Uint8Array[] = new Array(size * rowElems);
  const empty = new Uint8Array(0);
  let row = 0;
  let lastStart = 0;
  for (const part of parts) {
    const { bytes, offsets } = part.data as PackedStrings;
    const rows = part.shape[0]!;
    const at = row * rowElems;
    const element = (k: number) => bytes.subarray(offsets[k], offsets[k + 1]);
    if (rowsAre(part.shape, inner)) {
      for (let k = 0; k < rows * rowElems; k++) elements[at + k] = element(k);
    } else {
      const first = part.first as PackedStrings;
      const pad = first.offsets.length > 1 ? first.bytes.subarray(first.offsets[0], first.offsets[1]) : empty;
      elements.fill(pad, at, at + rows * rowElems);
      forEachLine(part.shape, [rows, ...inner], (src, dst, length) => {
        for (let k = 0; k < length; k++) elements[at + dst + k] = element(src + k);
      });
    }
    lastStart = row;
    row += rows;
  }
  for (; row < size; row++) for (let k = 0; k < rowElems; k++) elements[row * rowElems + k] = elements[lastStart * rowElems + k]!;
  const offsets = new Float64Array(elements.length + 1);
  let total = 0;
  for (let k = 0; k < elements.length; k++) {
    offsets[k] = total;
    total += elements[k]!.length;
  }
  offsets[elements.length] = total;
  const bytes = new Uint8Array(total);
  for (let k = 0; k < elements.length; k++) bytes.set(elements[k]!, offsets[k]!);
  return { bytes, offsets };
}

/** Rows [start, start + rows) of a tensor: a view for numeric data (no copy). */
function rowsOf(info: DTypeInfo, data: NativeData, shape: readonly number[], start: number, rows: number): NativeData {
  const rowElems = product(shape.slice(1));
  if (info.array) {
    const view = data as unknown as Numeric;
    return view.subarray(start * rowElems, (start + rows) * rowElems) as unknown as NativeData;
  }
  const { bytes, offsets } = data as PackedStrings;
  const first = start * rowElems;
  const n = rows * rowElems;
  const base = offsets[first]!;
  const out = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) out[k] = offsets[first + k]! - base;
  return { bytes: bytes.subarray(base, offsets[first + n]), offsets: out };
}

/** A request's feeds, rows [start, start + rows) of each (views). */
function sliceRows(feeds: NativeTensors, start: number, rows: number): NativeTensors {
  const out: NativeTensors = [];
  for (let i = 0; i < feeds.length; i += 3) {
    const dtype = feeds[i] as number;
    const shape = feeds[i + 1] as readonly number[];
    out.push(dtype, [rows, ...shape.slice(1)], rowsOf(dtypeFromTf(dtype)!, feeds[i + 2] as NativeData, shape, start, rows));
  }
  return out;
}
