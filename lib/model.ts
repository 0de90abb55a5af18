/**
 * loadModel() and Model: one TF_Session per SavedModel, signatures decoded from
 * its MetaGraphDef, feeds checked against the signature before TensorFlow sees them.
 */
import * as fs from 'node:fs';
import { access } from 'node:fs/promises';
import * as path from 'node:path';

import { abortedRun, checkSignal, type RunSignal, timerFor, watchAbort } from './abort';
import { type BatchEvent, type BatchingStats, BatchQueue, type BatchResult, MODEL_HOST, NotStartedError, notStartedMessage, type ResolvedBatching, unbatchableReason } from './batching';
import { dtypeInfo, type NumericDType, type TypedArray } from './dtypes';
import { fromNative, GpuConfigConflictError, invalidType, InvalidArgumentError, outOfRange, ModelCrashedError, ModelDisposedError, NotFoundError, TensorFlowError, withArticle } from './errors';
import { loadOpLibrary, loadTensorFlow, opLibraryOps } from './library';
import { native, type NativeData, type NativeLoadExtra, type NativePlan, type NativeSession, type NativeTensors } from './native';
import { type Isolation, reserve } from './gpu';
import { allocShared, HostSession, runStillInHost } from './isolation';
import { defaultMaxConcurrentRuns, type LoadOptions, localDirectory, type ResolvedOptions, resolveLoadOptions, runsInline, runTimeout } from './options';
import { callListeners } from './listeners';
import { checkSavedModelFiles, readGraphFile } from './files';
import { checkLoadedOps, checkSavedModelOps, loopingAndKeyedWaitOps, outputsWithoutKeyedWaits } from './ops';
import { checkReachable, type LoadPlan, namedAssetFiles, planLoad } from './loader';
import { fixLayout, type Partition, partitionConfig, partitionType, takePartition } from './partitions';
import { decodeConfig, decodeMetaGraph, decodeSavedModel, encodeConfig, RUN_METADATA, type SessionConfig, type SignatureInfo, type TensorSpec } from './proto';
import { borrowFeeds, bufferOfView, detachedData, elementCount, type Ownership, readTakenOutputs, madeTensor, Tensor, type TensorLike, toTensor, viewOfDetached, writeTakenFeeds } from './tensor';
import { checkAgainstSpec, type FeedValue, isDigits, tensorFromValue } from './values';

/**
 * Feeds by signature input key: a Tensor, a plain `{ dtype, shape, data }`, or a value typed by
 * the signature (a number, bigint, boolean or string, nested arrays of them, or one typed
 * array of the input's dtype; see lib/values.ts).
 */
export type Feeds = Readonly<Record<string, Tensor | TensorLike | FeedValue>>;

/**
 * Options of one run() or runSync() call (placement() takes `signature` alone). An unknown key is
 * refused with ERR_INVALID_ARG_TYPE (a TypeError: run() rejects, runSync() throws) naming it and
 * the keys there are: a misspelt option is never ignored.
 */
export interface RunOptions {
  /** Signature to run; defaults to the model's default signature. */
  signature?: string | undefined;
  /**
   * Output keys to fetch; defaults to every output of the signature. The same keys in another
   * order are the same selection, and every key listed is the whole signature. TensorFlow builds
   * an executor for each different set of fetches and keeps it until the session closes
   * (DirectSession), as it does under TensorFlow Serving's output_filter: each new selection
   * costs that memory once. {@link ModelStats.outputSelections} counts them.
   */
  outputs?: readonly string[] | undefined;
  /**
   * Hold each feed to the shape its signature declares: its rank and every fixed dimension.
   * Default true. false checks the dtype only, as TensorFlow Serving does: TensorFlow does not
   * enforce a placeholder's declared shape, and clients rely on it (TensorFlow Serving's
   * quickstart feeds [3] to half_plus_two's x, declared [-1, 1]). TensorFlow's own shape rules
   * (rank ≤ 254, no int64 overflow) hold either way; a shape the graph cannot take fails in
   * TensorFlow with its INVALID_ARGUMENT.
   */
  checkShapes?: boolean | undefined;
  /**
   * TensorFlow's own limit on this run, in ms (RunOptions.timeout_in_ms): past it the run fails
   * with DEADLINE_EXCEEDED and the session stays usable. Default: the model's runTimeoutMs
   * (LoadOptions); 0: none. The limit counts from the call: a run that waited for its turn
   * (maxConcurrentRuns, a batch, a runner thread) gets what is left of it from TensorFlow, as
   * TensorFlow Serving passes a request's remaining deadline, and a run still waiting for its
   * turn (maxConcurrentRuns; in-process with maxConcurrentRuns Infinity, for a runner thread;
   * isolated, in its host) when the limit has passed is dropped with DEADLINE_EXCEEDED without
   * starting, whether or not the model has an inter-op pool (a limit past 2^31 - 1 ms, the
   * longest timer Node keeps, waits that long: about 24.8 days). A batch runs under the latest
   * limit of its requests (TensorFlow Serving's rule): a request whose own limit comes first
   * fails with DEADLINE_EXCEEDED at it while the batch goes on for the others. TensorFlow's
   * limit is enforced only when the model has an inter-op pool (interOpThreads ≥ 0); with ops
   * inline (the default) TensorFlow runs the graph to its end and only the wait is limited (the
   * servers pass their deadline either way).
   */
  runTimeoutMs?: number | undefined;
  /**
   * An AbortSignal (or an object that behaves as one: RunSignal). Aborting it drops the run if
   * it has not started: a run waiting for its turn (maxConcurrentRuns; in-process with
   * maxConcurrentRuns Infinity, for a runner thread; isolated, in its host) or in the batch queue
   * leaves it and rejects with CANCELLED, so a caller
   * that has given up (a server's client that went away) does not hold up the runs behind it.
   * A run that has started goes on to its end (TensorFlow cannot stop a graph run that it has
   * begun; runTimeoutMs bounds one) and resolves or rejects as usual. Already aborted: CANCELLED
   * at once. runSync() never waits, so it only checks that the signal is not aborted. The
   * CANCELLED error's `cause` is the signal's `reason` (what `abort(reason)` was given), where it
   * has one.
   */
  signal?: RunSignal | undefined;
}

/** @internal run()'s option keys. */
export const RUN_OPTIONS: ReadonlySet<string> = new Set<keyof RunOptions>(['signature', 'outputs', 'checkShapes', 'runTimeoutMs', 'signal']);


/** A device of the model's session (TF_SessionListDevices). */
export interface Device {
  /** e.g. "/job:localhost/replica:0/task:0/device:GPU:0" */
  readonly name: string;
  /** "CPU" or "GPU". */
  readonly type: string;
  /** Memory TensorFlow gives the device, in bytes (for a GPU: its allocator limit). */
  readonly memoryBytes: number;
}

/** Model.gpu: the GPU memory a model was given (TensorFlow's GPUOptions as applied). */
export interface GpuInfo {
  /** The fraction asked for in loadModel (0..1], or null when none was asked. */
  readonly requestedFraction: number | null;
  /** What TensorFlow applied to this session's GPU, in bytes; null without a GPU. */
  readonly memoryLimitBytes: number | null;
  /** The physical GPU index asked for (gpuDevice) or the partition's GPU, or null for TensorFlow's default. */
  readonly device: number | null;
  /**
   * The partition the model is on (loadModel(path, { partition })): TensorFlow's GPU device
   * index, /device:GPU:k; memoryLimitBytes is then that device's limit. null otherwise.
   */
  readonly partition: number | null;
}

// The plan key of a run that asks for every output (no `outputs`).
const WHOLE_SIGNATURE = '\u0000';

// Freezes a tree of plain objects and arrays (SignatureInfo's), and returns it.
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

// A plan's key among its signature's plans: the output key itself for one output (no string
// is built per run: a key of the caller's, often a literal, keeps its hash), NUL-led for several
// (sorted: the same set in another order is the same selection, as TensorFlow takes it) or all
// of them (distinct keys of the signature, as many as it has).
function planKey(outputKeys: readonly string[], all: readonly string[]): string {
  if (outputKeys.length === all.length) return WHOLE_SIGNATURE; // (all itself, too)
  return outputKeys.length === 1 ? outputKeys[0]! : `\u0000${[...outputKeys].sort().join('\u0000')}`;
}

// The output keys a run fetches from TensorFlow, and those that are one of the signature's inputs
// (echoed: copied from the feed, with its index among sig.inputSpecs).
function splitEchoes(sig: PreparedSignature, outputKeys: readonly string[]): { fetchKeys: string[]; echoes: Echo[] } {
  const inputs = sig.inputSpecs.map((s) => tensorName(s.name));
  const echoes: Echo[] = [];
  const fetchKeys = outputKeys.filter((key) => {
    const spec = sig.info.outputs[key]!;
    const input = spec.composite ? -1 : inputs.indexOf(tensorName(spec.name));
    if (input >= 0) echoes.push([key, input]);
    return input < 0;
  });
  return { fetchKeys, echoes };
}

// Planned.fetches: graph tensor names sorted (a name fetched twice stays twice, as in TensorFlow's key).
function fetchSetKey(names: readonly string[]): string {
  return [...names].sort().join('\u0000');
}

// A model host's run sent ahead of its turn (Model #ahead): `turn` once a run's end handed it one;
// `since` (performance.now()) and `limitMs`: when it was called and its wait limit then, which a
// DEADLINE_EXCEEDED for a wait past that limit names (set as it is sent).
interface AheadRun {
  turn: boolean;
  since: number;
  limitMs: number;
}

// A run waiting for its turn (Model #waiting): woken with true (its turn), false (dispose), or a
// place ahead of its turn, which #ended offers only when `goesAhead` says the run may go so.
type Waiter = ((granted: boolean | AheadRun) => void) & { goesAhead?: (() => boolean) | undefined };

// A signature's inputs in the order the native plan feeds them.
interface PreparedSignature {
  readonly name: string;
  readonly info: SignatureInfo;
  readonly inputKeys: readonly string[];
  readonly inputSpecs: readonly TensorSpec[];
  readonly outputKeys: readonly string[];
}

interface Prepared {
  plan: NativePlan;
  /** The feeds in the addon's flat form ([dtype, shape, data] per input, in the plan's order). */
  feeds: NativeTensors;
  /**
   * Per echo, its copy when the feed is small (under ECHO_OFF_THREAD_BYTES), made as the run is
   * prepared: an output fed back and disposed while its run is in flight is freed at once when
   * small (the addon copied it for TensorFlow; only big ones are borrowed), and the echo found it
   * empty (helper-84). undefined: copied from the feed once the run has ended (big ones).
   */
  echoCopies: (NativeData | undefined)[];
  /** Outputs that are inputs themselves: [result key, input index]. */
  echoes: readonly Echo[];
  /** The keys run() returns, in fetch order (a composite output's components under `${key}.${part}`). */
  resultKeys: readonly string[];
  /** The batch queue this run joins, or null when its signature is not batched. */
  queue: BatchQueue | null;
  /** TensorFlow's run timeout, ms; 0: none. */
  timeoutMs: number;
  /** How long the run may wait for its turn (the limit asked for, inline or not), ms; 0: no limit. */
  waitLimitMs: number;
  /** RunOptions.signal (not aborted when the run was prepared). */
  signal: RunSignal | undefined;
}

/** A plan, the keys its fetches are returned under, and its batch queue (when batched). */
interface Planned {
  plan: NativePlan;
  resultKeys: readonly string[];
  echoes: readonly Echo[];
  queue: BatchQueue | null;
  /**
   * The graph tensors it fetches, sorted, as TensorFlow keys the executor it builds for them
   * (DirectSession): selections that differ by echoed inputs only, or by keys of the same
   * tensor in another order, share one. '' when it fetches nothing (echoes only: no executor).
   */
  fetches: string;
}

/**
 * An output that is one of the signature's inputs (a TF1 signature passing a key through):
 * TensorFlow refuses to fetch a fed tensor ("both fed and fetched"), and Python's Session.run
 * answers it with the fed value. So does run(), with a copy of the feed: [output key, input index].
 */
type Echo = readonly [string, number];
/** An echo whose copy is made on a runner thread: its key, and the feed in flat form. */
interface EchoCopy {
  key: string;
  dtype: number;
  shape: readonly number[];
  data: NativeData;
}
// An echo's feed (or its copy) that no longer holds what its shape says: the feed's buffer was
// transferred (detached) while its run was in flight, which README's rule forbids.
function checkEchoSource(key: string, shape: readonly number[], data: NativeData): void {
  const n = elementCount(shape);
  if (ArrayBuffer.isView(data) ? (data as TypedArray).length === n : data.offsets.length === n + 1) return;
  throw new TensorFlowError('FAILED_PRECONDITION', `output '${key}' is a copy of its feed, whose buffer was detached (transferred) before the run settled; do not transfer or change a feed until run() settles`);
}

// The built-in accessors and constructors, taken at load: a feed's own properties, its class's
// Symbol.species or a patched prototype cannot make overFixedMemory look at other memory than
// the addon reads (which it finds from the view's internal slots), nor make an echo's copy a
// view of the feed's memory.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const kindOfView = Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag)!.get!;
const resizableOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get;
const growableOf = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'growable')?.get;
const TYPED_ARRAYS: Record<string, new (source: ArrayLike<number> & ArrayLike<bigint>) => TypedArray> = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
} as never;

// The built-in constructor of a typed array's kind (undefined for another view: a DataView).
function builtInKind(view: ArrayBufferView): (new (source: ArrayLike<number> & ArrayLike<bigint>) => TypedArray) | undefined {
  let kind: string | undefined;
  try {
    kind = kindOfView.call(view) as string | undefined;
  } catch {
    return undefined;
  }
  return kind === undefined ? undefined : TYPED_ARRAYS[kind];
}

// A copy of an echo's feed made at once (runSync(), and run()'s small echoes): a big one in the
// addon's copy buffers, which are reused from 32 MiB on (V8 maps and faults in fresh memory for
// each: a 48 MiB echo through runSync() took 200-280 ms on a VM). Made with the built-in
// constructor: a subclass's slice() (its Symbol.species) could hand back a view of the feed,
// which dispose() of the echo would then detach.
function copyNow<T extends TypedArray>(view: T): T {
  const Kind = builtInKind(view)!;
  if (view.byteLength < ECHO_OFF_THREAD_BYTES) return new Kind(view as never) as T;
  return new (Kind as unknown as new (buffer: ArrayBuffer) => T)(native().copyNow(view));
}

// A copy of an echo's feed, now (copyNow), in its flat form.
function copyEcho(data: NativeData): NativeData {
  return ArrayBuffer.isView(data) ? copyNow(data as TypedArray) : { bytes: copyNow(data.bytes), offsets: copyNow(data.offsets) };
}

// Bytes of a feed in its flat form.
function flatBytes(data: NativeData): number {
  return ArrayBuffer.isView(data) ? data.byteLength : data.bytes.byteLength + data.offsets.byteLength;
}

// Echoes of this many bytes or more (as run()'s big outputs and unaligned feeds: native/tensor.h
// kZeroCopyMinBytes) are copied by run() on a runner thread, not on the event loop.
const ECHO_OFF_THREAD_BYTES = 16 * 1024;

// A tensor name with its output index (`x` is `x:0`).
const tensorName = (name: string): string => (name.includes(':') ? name : `${name}:0`);

/**
 * What `batching` became for a model (Model.batching): its parameters with their defaults,
 * the signatures batched and why the others are not.
 */
export interface BatchingInfo {
  /** The batching parameters as resolved, each option's default filled in (TensorFlow Serving's BatchingParameters); batchThreads is how many batches run at once. */
  readonly options: ResolvedBatching;
  /** Signatures whose run() calls are batched. */
  readonly signatures: readonly string[];
  /** The others, each with the reason (an input or output whose leading dimension is fixed, ...). */
  readonly unbatched: Readonly<Record<string, string>>;
  /** Batches of one signature that execute at once: numBatchThreads, at most maxConcurrentRuns. */
  readonly batchThreads: number;
}

/** Model.stats(): what the model did since it was loaded. */
export interface ModelStats {
  /** Runs executing now (Model.runsExecuting, at most maxConcurrentRuns); a batch counts once. */
  runsExecuting: number;
  /** Runs waiting to execute (Model.runsQueued): for a slot, a runner thread, or a host's serving thread; a batch counts once. */
  runsQueued: number;
  /** Per batched signature; empty without batching. */
  batching: Record<string, BatchingStats>;
  /**
   * Per signature that has run: the executors TensorFlow built and keeps for its output
   * selections (RunOptions.outputs, in any order), beside the whole signature's, which is not
   * counted. Selections that fetch the same graph tensors share one (keys that differ only by
   * outputs echoing an input, which are copied from the feed); echoes alone build none.
   */
  outputSelections: Record<string, number>;
}

// The graph tensors to fetch for these signature outputs, and the key each comes back
// under: a ragged or sparse output is fetched as its components (TensorSpec.composite).
function fetchesOf(info: SignatureInfo, keys: readonly string[]): { names: string[]; resultKeys: string[] } {
  const names: string[] = [];
  const resultKeys: string[] = [];
  for (const key of keys) {
    const spec = info.outputs[key]!;
    if (spec.composite) {
      for (const [part, component] of Object.entries(spec.composite.components)) {
        names.push(component.name);
        resultKeys.push(`${key}.${part}`);
      }
    } else {
      names.push(spec.name);
      resultKeys.push(key);
    }
  }
  // An output named like another's component ('r.flat_values' beside a ragged 'r') would
  // overwrite it in the result.
  const twice = resultKeys.find((k, i) => resultKeys.indexOf(k) !== i);
  if (twice !== undefined) {
    const owner = keys.find((k) => info.outputs[k]!.composite && twice.startsWith(`${k}.`));
    throw new InvalidArgumentError(`output '${twice}' has the key of a component of ${owner ? `${info.outputs[owner]!.composite!.kind} output '${owner}'` : 'another output'}; `
      + 'the result cannot hold both: ask for one of them only (RunOptions.outputs; tfslice run\'s --outputs; the output_filter of TensorFlow Serving\'s Predict)');
  }
  return { names, resultKeys };
}

/**
 * @internal run()'s error for a feed the signature has no input for; servers raise it before
 * they make a request's tensors (so that 200 000 unknown names are not made into tensors first).
 */
export function unknownInputError(signature: string, key: string, inputKeys: Iterable<string>): InvalidArgumentError {
  return new InvalidArgumentError(`signature '${signature}' has no input '${key}'; its inputs are ${list(inputKeys)}`);
}

function list(names: Iterable<string>): string {
  const all = [...names];
  return all.length ? all.map((n) => `'${n}'`).join(', ') : '(none)';
}

// A feed as a Tensor: as it is, a { dtype, shape, data } object checked like one, or a plain
// value converted for the signature's input (lib/values.ts).
function feedTensor(value: unknown, key: string, spec: TensorSpec): Tensor {
  if (value instanceof Tensor) return madeTensor(value, key);
  if (value !== null && typeof value === 'object' && 'dtype' in value && 'data' in value) return toTensor(value, key);
  return tensorFromValue(value, spec, `feed '${key}'`);
}

// Whether `buffer` can change size: a resizable ArrayBuffer, or a growable SharedArrayBuffer.
function adjustable(buffer: unknown): boolean {
  try {
    return resizableOf?.call(buffer) === true;
  } catch {
    // Not an ArrayBuffer: a SharedArrayBuffer.
    return growableOf?.call(buffer) === true;
  }
}

// A feed over a buffer that can change size, copied at the call into memory of fixed size:
// run() reads feeds (and copies their echoes) on a runner thread, and a resize() that shrinks a
// resizable ArrayBuffer meanwhile hands its pages back to the system under that thread (the
// process crashed, SIGSEGV), while a length-tracking view over a growable SharedArrayBuffer that
// grew no longer matched its shape when its echo was copied.
// @throws INVALID_ARGUMENT for a view its buffer was already shrunk below, or one whose buffer
//   was detached (transferred) since the tensor was made (a copy of it would throw V8's TypeError)
function overFixedMemory(tensor: Tensor, field: string): Tensor {
  const data = tensor.flat()[2];
  if (!ArrayBuffer.isView(data)) return tensor;
  if (viewOfDetached(data as TypedArray)) throw detachedData(field);
  const Kind = builtInKind(data); // undefined: not a typed array (the addon refuses it)
  if (Kind === undefined || !adjustable(bufferOfView.call(data))) return tensor;
  let copy: TypedArray;
  try {
    copy = new Kind(data as never);
  } catch {
    throw new InvalidArgumentError(`${field}: its view lies outside its buffer, which was resized below it; feed a view within its buffer`);
  }
  return new Tensor(tensor.dtype, copy as never, tensor.shape);
}

// TensorFlow names the variable but not why it is missing; the usual cause is known:
// "Could not find variable dense/kernel. This could mean ...".
const MISSING_VARIABLE = 'Could not find variable ';

// The variable MISSING_VARIABLE names, or null: of the word after it, the longest run of
// dot-separated non-empty parts that a '.' follows ("dense/kernel." -> "dense/kernel").
function missingVariable(message: string): string | null {
  const at = message.indexOf(MISSING_VARIABLE);
  if (at < 0) return null;
  const start = at + MISSING_VARIABLE.length;
  let end = start;
  while (end < message.length && !isSpace(message.charCodeAt(end))) end++;
  const parts = message.slice(start, end).split('.');
  const empty = parts.indexOf('');
  const last = Math.min(empty < 0 ? parts.length : empty, parts.length - 1) - 1;
  return last < 0 ? null : parts.slice(0, last + 1).join('.');
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

// dispose()'s options: killAfterMs (a host is killed; an in-process session closed).
/** @internal The killAfterMs of Model.dispose()'s and ModelManager.stop()'s options (`what`: 'dispose', 'stop'). */
export function disposeOptions(options: { killAfterMs?: number } | undefined, what = 'dispose'): number | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') throw invalidType('options', 'an object ({ killAfterMs })', options);
  for (const key of Object.keys(options)) if (key !== 'killAfterMs') throw invalidType(`${what} option ${JSON.stringify(key)}`, 'killAfterMs', key);
  const ms = options.killAfterMs;
  if (ms === undefined) return undefined;
  if (typeof ms !== 'number') throw invalidType('killAfterMs', 'a number of milliseconds', ms);
  if (!Number.isInteger(ms) || ms < 0 || ms > 2 ** 31 - 1) throw outOfRange('killAfterMs', 'a whole number of milliseconds from 0 to 2147483647', ms);
  return ms;
}

// `timeoutMs`: the limit TensorFlow ran it under (0: none; what was left of runTimeoutMs when the
// run started), named where TensorFlow's own words for passing it say nothing of it. A run sent
// ahead of its turn (#execute) waited in its host, which says what was left when it started there.
//
// Never throws, and reads messages without regular expressions: at the deepest JS depth where a
// call still fits (a deep recursion calling runSync()), V8 compiling one overflowed the stack,
// reported as a SyntaxError naming the pattern instead of the run's error (helper-106), or, when
// it compiled one to machine code there, ended the process ("RegExpCompiler Allocation failed -
// process out of memory", which no catch sees; helper-108). An overflow while explaining sends
// the addon's error out as it came: its code and TensorFlow's words, without tfslice's additions.
function runError(path: string, error: unknown, plan?: NativePlan, timeoutMs = 0): unknown {
  try {
    return explainRunError(path, error, plan, timeoutMs);
  } catch {
    return error;
  }
}

function explainRunError(path: string, error: unknown, plan: NativePlan | undefined, timeoutMs: number): unknown {
  // The addon's own word for a run that no runner thread started within its wait limit.
  if (error instanceof NotStartedError) return error; // a model host's (lib/isolation.ts)
  if (error instanceof Error && (error as Error & { code?: unknown }).code === 'NOT_STARTED') return new NotStartedError(error.message, RUNNER_THREAD);
  const converted = fromNative(error);
  // The addon's session knows no path: a run its close() refused says which model it was.
  if (converted instanceof ModelDisposedError && converted.message === new ModelDisposedError().message) {
    converted.message = `the model at ${path} was disposed; load it again to run it`;
  }
  // TensorFlow's RunOptions.timeout_in_ms, passed: it says only "Timed out waiting for notification".
  if (timeoutMs > 0 && converted instanceof Error && (converted as Error & { code?: unknown }).code === 'DEADLINE_EXCEEDED' && converted.message.startsWith(TF_TIMED_OUT)) {
    const host = hostLeft(converted.message);
    const left = host === null ? `${timeoutMs} ms of it were left when it started`
      : `${host.ms} ms of it were left when it started, after it waited for its turn in its model host`;
    converted.message = `the run was still executing when its runTimeoutMs ran out (${left}), and TensorFlow stopped it (TensorFlow: ${host === null ? converted.message : host.said})`;
  }
  // The addon names a feed by its graph tensor ("feed 'serving_default_x:0'"); the caller knows its key.
  const keys = plan === undefined ? undefined : FEED_KEYS.get(plan);
  if (keys !== undefined && converted instanceof Error && converted.message.includes(FEED_QUOTE)) {
    converted.message = feedsByKey(converted.message, keys);
  }
  const variable = converted instanceof Error ? missingVariable(converted.message) : null;
  if (variable !== null) {
    (converted as Error).message += `\n(tfslice) The graph reads variable '${variable}', which restoring the SavedModel did not create. ` +
      'Keras 3 models wrapped in a plain tf.Module and saved with tf.saved_model.save run in Python but not through ' +
      "TensorFlow's C API; export them with model.export(dir) or keras.export.ExportArchive instead.";
  }
  return converted;
}

// What TensorFlow says of a run past its RunOptions.timeout_in_ms (DirectSession's WaitForNotification).
const TF_TIMED_OUT = 'Timed out waiting for notification';
// What a model host adds to it for a run that waited there for its turn (native/channel.cc, Run):
// "<TensorFlow's words> [<N> ms left at its start]".
const HOST_LEFT = ' ms left at its start]';

// A message with HOST_LEFT's ending, split: what TensorFlow said, and N; null for any other.
function hostLeft(message: string): { said: string; ms: string } | null {
  if (!message.endsWith(HOST_LEFT)) return null;
  const end = message.length - HOST_LEFT.length;
  const open = message.lastIndexOf(' [', end);
  const ms = message.slice(open + 2, end);
  return open >= 0 && isDigits(ms) ? { said: message.slice(0, open), ms } : null;
}

// "tensor 'StatefulPartitionedCall:0' has dtype ..." (a fetch the addon cannot return) with the
// output's key first where `keys` knows the tensor: "output 'y' (tensor '...') has dtype ...".
function outputsByKey(message: string, keys: ReadonlyMap<string, string>): string {
  return mapQuoted(message, "tensor '", (name, said, after) => {
    const key = keys.get(name);
    return key !== undefined && message.startsWith(' has dtype', after) ? `output '${key}' (${said})` : said;
  });
}

// `message` with each `prefix` + name + "'" (`said`, ending just before `after`) replaced by
// what `replace` makes of it. A string scan: these messages are read at the caller's JS depth
// (runError).
function mapQuoted(message: string, prefix: string, replace: (name: string, said: string, after: number) => string): string {
  let out = '';
  let from = 0;
  for (let at = message.indexOf(prefix); at >= 0; at = message.indexOf(prefix, from)) {
    const end = message.indexOf("'", at + prefix.length);
    if (end < 0) break;
    out += message.slice(from, at) + replace(message.slice(at + prefix.length, end), message.slice(at, end + 1), end + 1);
    from = end + 1;
  }
  return out + message.slice(from);
}

// How the addon names a feed: "feed 'serving_default_x:0'".
const FEED_QUOTE = "feed '";

// `message` with each feed named by the signature's input key where `keys` knows its tensor.
function feedsByKey(message: string, keys: ReadonlyMap<string, string>): string {
  return mapQuoted(message, FEED_QUOTE, (name) => `${FEED_QUOTE}${keys.get(name) ?? name}'`);
}

/** Per plan: its feeds' graph tensor names to the signature's input keys (runError). */
const FEED_KEYS = new WeakMap<NativePlan, ReadonlyMap<string, string>>();

// NotStartedError.waitedFor for a run that waited for a runner thread (no run limit).
const RUNNER_THREAD = 'a runner thread';

// DEADLINE_EXCEEDED for a run that no runner thread (no run limit: every run goes to the runners
// at once), or no serving thread of its model host, took within its runTimeoutMs; the addon's and
// the host's own checks say it in the same words.
function notStartedIn(waitedFor: string, started: number, limitMs: number): NotStartedError {
  return new NotStartedError(notStartedMessage(performance.now() - started, `for ${waitedFor}`, limitMs), waitedFor);
}

/** A tag-set as loadModel's `tags` option writes it. */
function tagSet(tags: readonly string[]): string {
  return `[${tags.map((t) => `'${t}'`).join(', ')}]`;
}

// The same tag-set as tfslice serve's --saved_model_tags takes it ('' for the empty one).
function flagTags(tags: readonly string[]): string {
  return tags.length === 0 ? "''" : tags.join(',');
}

// An op from a plug-in library (tensorflow_text, sentencepiece, a custom op) that this
// TensorFlow lacks: TensorFlow says so but not what to do in tfslice.
const UNREGISTERED_OP = /Op type not registered '([^']+)'/;
// Restoring variables/ read less than the index promised (a truncated or half-copied
// variables.data-* file): TensorFlow names neither the SavedModel nor the directory.
const RESTORE_FAILED = /RestoreV2|Read less bytes than requested|Checksum does not match/;

const NO_SAVED_MODEL = /Could not find SavedModel \.pb or \.pbtxt/;

/**
 * @internal What is at a path that holds no SavedModel, and what to pass instead (TensorFlow
 * says the same "Could not find SavedModel .pb or .pbtxt" for all of them): a missing path and
 * what its parent holds, a file (saved_model.pb itself: its directory), a model base path of
 * numbered versions (one of them, or a ModelManager), a directory without saved_model.pb.
 * null when the path does hold a saved_model.pb. Synchronous: it runs only when a load failed
 * (and in the CLI), reading one or two directories.
 */
export function whatIsThere(exportDir: string): string | null {
  let info: fs.Stats;
  try {
    info = fs.statSync(exportDir);
  } catch {
    const parent = path.dirname(exportDir);
    let near: string[];
    try {
      near = fs.readdirSync(parent);
    } catch {
      return `${exportDir} does not exist (nor does ${parent})`;
    }
    return `${exportDir} does not exist; ${parent} holds ${listed(near)}`;
  }
  if (!info.isDirectory()) {
    const fix = path.basename(exportDir) === 'saved_model.pb' ? `pass its directory, ${path.dirname(exportDir)}` : 'pass the SavedModel directory, the one holding saved_model.pb';
    return `${exportDir} is a file, not a SavedModel directory; ${fix}`;
  }
  if (fs.existsSync(path.join(exportDir, 'saved_model.pb'))) return null;
  const entries = fs.readdirSync(exportDir);
  const versions = entries.filter((e) => /^\d+$/.test(e) && fs.existsSync(path.join(exportDir, e, 'saved_model.pb'))).map(Number).sort((a, b) => a - b);
  if (versions.length > 0) {
    const latest = path.join(exportDir, String(versions[versions.length - 1]));
    return `${exportDir} is a model base path: it holds versions ${versions.join(', ')}, each a SavedModel; pass one, such as ${latest}, or serve them all with a ModelManager (basePath: ${JSON.stringify(exportDir)})`;
  }
  if (entries.includes('saved_model.pbtxt')) return `${exportDir} holds saved_model.pbtxt (text format), which tfslice does not read; re-save it in binary (tf.saved_model.save)`;
  const inside = entries.filter((e) => fs.existsSync(path.join(exportDir, e, 'saved_model.pb')));
  if (inside.length > 0) return `${exportDir} has no saved_model.pb, but ${inside.map((e) => path.join(exportDir, e)).join(' and ')} ${inside.length > 1 ? 'do' : 'does'}: pass ${inside.length > 1 ? 'one' : 'it'}`;
  return `${exportDir} has no saved_model.pb (it holds ${listed(entries)}); pass the directory a SavedModel was saved to`;
}

function listed(entries: readonly string[]): string {
  if (entries.length === 0) return 'nothing';
  const shown = entries.slice().sort().slice(0, 8).join(', ');
  return entries.length > 8 ? `${shown}, … (${entries.length} entries)` : shown;
}

/** Whether saved_model.pb is whole (a read or parse failure means it is not). */
async function savedModelParses(exportDir: string): Promise<boolean> {
  try {
    decodeSavedModel(await readGraphFile(path.join(exportDir, 'saved_model.pb')));
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'ENOENT';
  }
}

/**
 * TensorFlow's load errors with what tfslice knows about their usual cause: what is at a
 * path that holds no SavedModel, the tag-sets the SavedModel has, the op library a missing op
 * comes from, the directory a failed restore read.
 */
async function explainLoadError(error: unknown, exportDir: string, target = ''): Promise<unknown> {
  if (!(error instanceof Error)) return error;
  if (target !== '') {
    const code = (error as Error & { code?: string }).code;
    if (code === 'DEADLINE_EXCEEDED') {
      error.message += `\n(tfslice) The worker at ${target} did not answer within the session's operationTimeoutMs: check that a ` +
        'tf.distribute.Server of this TensorFlow version runs there (and raise operationTimeoutMs for a slow one).';
    } else if (code === 'UNIMPLEMENTED' && !/Op type not registered/.test(error.message)) {
      error.message += `\n(tfslice) What answers at ${target} is not a TensorFlow worker: start a tf.distribute.Server there.`;
    } else if (code === 'NOT_FOUND' && /matching files|No such file|not found/i.test(error.message)) {
      error.message += `\n(tfslice) This session runs on ${target}: saved_model.pb was read here, but the worker restores the ` +
        `variables and reads the assets itself, so ${exportDir} must exist at that same path on the worker too.`;
    }
    if (code === 'DEADLINE_EXCEEDED' || code === 'UNIMPLEMENTED' || code === 'NOT_FOUND') return error;
  }
  if (error instanceof NotFoundError && NO_SAVED_MODEL.test(error.message)) {
    let there: string | null = null;
    try {
      there = whatIsThere(exportDir);
    } catch {
      // Unreadable: TensorFlow's message stands alone.
    }
    if (there !== null) error.message = `${there}. (TensorFlow: ${error.message})`;
    return error;
  }
  if (error instanceof NotFoundError && /matching supplied tags/.test(error.message)) {
    try {
      const metaGraphs = decodeSavedModel(await readGraphFile(path.join(exportDir, 'saved_model.pb')));
      const sets = metaGraphs.map((m) => tagSet(m.tags));
      error.message += sets.length === 0
        ? `\n${exportDir}/saved_model.pb holds no meta graph at all: it is not a usable SavedModel; export the model again.`
        : `\nThe tag-sets in ${exportDir} are: ${sets.join(', ')}; pass one as loadModel(path, { tags: ${sets[0]} })` +
          ` (tfslice serve: --saved_model_tags ${flagTags(metaGraphs[0]!.tags)}, or the model's "tags" in a JSON --model_config_file).`;
    } catch {
      // An unreadable saved_model.pb: TensorFlow's message stands alone.
    }
    return error;
  }
  const op = UNREGISTERED_OP.exec(error.message);
  if (op) {
    error.message += `\n(tfslice) ${exportDir} uses op '${op[1]}', which this TensorFlow does not have: it comes from a plug-in ` +
      "op library (tensorflow_text, sentencepiece, or your own). Load that library first: loadOpLibrary('/path/to/its/ops.so'), " +
      "or loadModel(path, { opLibraries: ['/path/to/its/ops.so'] }) (CLI: --op-library); it must be built for this TensorFlow version.";
    return error;
  }
  if (RESTORE_FAILED.test(error.message) && !(await savedModelParses(exportDir))) {
    error.message += `\n(tfslice) ${path.join(exportDir, 'saved_model.pb')} does not parse: it is truncated or corrupt; copy it again from the source.`;
  } else if (RESTORE_FAILED.test(error.message)) {
    error.message += `\n(tfslice) Restoring the variables of the SavedModel at ${exportDir} failed: ` +
      `${path.join(exportDir, 'variables')} (variables.index and variables.data-*) is incomplete or corrupt; copy it again from the source.`;
  }
  return error;
}

// An isolated model that is collected without dispose(): its host (a process with its own
// TensorFlow, GPU memory and ledger share) ends then. The host session holds nothing that
// reaches the Model, so an idle Model can be collected while its host runs; an in-process
// session is freed by the native Session's own finalizer.
const abandonedHosts = new FinalizationRegistry<NativeSession>((session) => {
  session.close().catch(() => { /* it died already: nothing left to end */ });
});

// A model on a partition that is collected without dispose(): its native session is freed by
// its finalizer, and the partition is given back here.
const abandonedPartitions = new FinalizationRegistry<() => void>((release) => release());

/** What loadModel() makes a Model of. */
interface ModelInit {
  path: string; tags: readonly string[]; session: NativeSession; signatures: Record<string, SignatureInfo>;
  defaultSignature: string | null; devices: Device[]; gpu: GpuInfo; maxConcurrentRuns: number;
  isolation: Isolation; hostPid: number | null; config: SessionConfig; batching: ResolvedBatching | null; runTimeoutMs: number;
  partition?: Partition | null; onDisposed?: (() => void) | null; target?: string;
}
// loadModel()'s token to Model's constructor.
const LOADING = Symbol('loadModel');

/** A loaded SavedModel with its own TF_Session. Create it with loadModel(). */
export class Model {
  /** Absolute path of the SavedModel directory. */
  readonly path: string;
  /** The tag-set that was loaded. */
  readonly tags: readonly string[];
  /** Every signature of the loaded meta graph, by name. */
  readonly signatures: Readonly<Record<string, SignatureInfo>>;
  /** The signature run() uses when none is named; null when the model has no obvious one. */
  readonly defaultSignature: string | null;
  /** The session's devices. */
  readonly devices: readonly Device[];
  /** The GPU share asked for and the limit TensorFlow applied. */
  readonly gpu: GpuInfo;

  /** Runs allowed to execute at once; more wait in FIFO order (LoadOptions.maxConcurrentRuns). */
  readonly maxConcurrentRuns: number;
  /** 'none': the session is in this process; 'process': in a host process of its own. */
  readonly isolation: Isolation;
  /** The host's process id (isolation: 'process'), else null. */
  readonly hostPid: number | null;
  /** The ConfigProto the session was created with, decoded (for a host: as the host applied it). */
  readonly config: SessionConfig;
  /** Dynamic batching (LoadOptions.batching): which signatures are batched, with what parameters; null when off. */
  readonly batching: BatchingInfo | null;
  /** TensorFlow's limit on each run, in ms, unless run() sets its own (LoadOptions.runTimeoutMs); 0: none. */
  readonly runTimeoutMs: number;
  /** The partition the model is on (LoadOptions.partition, experimental), or null. partitions() says who holds each now. */
  readonly partition: Omit<Partition, 'holder'> | null;
  /** Where the session runs (LoadOptions.target): '' for this process, else the worker's grpc:// address. */
  readonly target: string;

  #session: NativeSession | null;
  #onDisposed: (() => void) | null;
  #closed: Promise<void> | null = null;
  // The session dispose() is closing (its close() takes a later killAfterMs).
  #disposing: NativeSession | null = null;
  #running = 0;
  // Each waiter is resolved with true when a finishing run hands it its slot, false on dispose, or
  // with a place ahead of its turn (#ended: a model host's run next in line, `goesAhead`).
  #waiting: Waiter[] = [];
  // An in-process session keeps maxConcurrentRuns itself (NativeSession.setRunLimit): every
  // run() goes to the addon at once, and #inFlight counts them.
  #gated = false;
  #inFlight = 0;
  // Runs of a model host sent ahead of their turn (#execute) that wait there for one (at most
  // one): the next run to end hands its turn to the first (`turn` true), not to #waiting.
  #ahead: AheadRun[] = [];
  // Runs handed a turn (#ended) whose #execute has not sent them yet: until it has, their host
  // cannot count them, and none may go ahead (one framed would run beside it, past the limit).
  #handing = 0;
  #tickets = 0;
  #prepared = new Map<string, PreparedSignature>();
  // Plans by signature, then by output selection (plan key, below).
  #plans = new Map<string, Map<string, Planned>>();
  #queues: BatchQueue[] = [];
  /** Ops run inline (runsInline(config)): TensorFlow cannot enforce a run timeout. */
  readonly #inline: boolean;
  #batchStats = new Map<string, BatchingStats>();
  #batchListeners = new Set<(event: BatchEvent) => void>();
  #crashListeners = new Set<(error: ModelCrashedError) => void>();
  #crash: ModelCrashedError | null = null;

  /**
   * @internal Use loadModel(). From JS, `new Model()` throws ERR_ILLEGAL_CONSTRUCTOR, a TypeError
   * (helper-125: it read a property of undefined). Not private in the declarations, where it
   * would make `typeof Model` no constructor type (InstanceType<typeof Model> failed, helper-126);
   * as Node's AbortSignal, whose constructor throws.
   */
  constructor(init: ModelInit, token?: symbol) {
    if (token !== LOADING) {
      throw Object.assign(new TypeError('Model is not constructed with new: call loadModel(path, options?), which resolves to one'), { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
    }
    this.target = init.target ?? '';
    this.partition = init.partition ? Object.freeze({ index: init.partition.index, device: init.partition.device, type: init.partition.type, gpu: init.partition.gpu, memoryMb: init.partition.memoryMb }) : null;
    const onDisposed = init.onDisposed ?? null;
    this.#onDisposed = onDisposed;
    if (onDisposed) abandonedPartitions.register(this, onDisposed, this);
    this.runTimeoutMs = init.runTimeoutMs;
    this.#inline = runsInline(init.config);
    this.maxConcurrentRuns = init.maxConcurrentRuns;
    this.isolation = init.isolation;
    this.hostPid = init.hostPid;
    this.config = Object.freeze(init.config);
    this.path = init.path;
    this.tags = Object.freeze([...init.tags]);
    this.#session = init.session;
    if (Number.isFinite(init.maxConcurrentRuns) && init.session.setRunLimit && init.session.cancelQueued) {
      init.session.setRunLimit(init.maxConcurrentRuns);
      this.#gated = true;
    }
    // Frozen all the way down: the model checks feeds against these specs, so a caller's
    // `signatures.x.inputs.y.shape[1] = 7` must not change what it accepts.
    this.signatures = deepFreeze(init.signatures);
    this.defaultSignature = init.defaultSignature;
    this.devices = Object.freeze(init.devices.map((d) => Object.freeze({ ...d })));
    this.gpu = Object.freeze(init.gpu);
    this.batching = null;
    if (init.batching) {
      const signatures: string[] = [];
      const unbatched: Record<string, string> = {};
      for (const [name, info] of Object.entries(init.signatures)) {
        const reason = unbatchableReason(info);
        if (reason === null) signatures.push(name);
        else unbatched[name] = reason;
      }
      this.batching = Object.freeze({
        options: init.batching, signatures: Object.freeze(signatures), unbatched: Object.freeze(unbatched),
        batchThreads: Math.min(init.batching.numBatchThreads, init.maxConcurrentRuns),
      });
      for (const name of signatures) {
        this.#batchStats.set(name, { batches: 0, requests: 0, rows: 0, paddingRows: 0, retriedBatches: 0, rejected: 0, queueDelaySecondsSum: 0, queued: 0, batchSizes: {} });
      }
    }
    if (init.isolation === 'process') abandonedHosts.register(this, init.session, this);
  }

  /** True once dispose() was called. */
  get disposed(): boolean {
    return this.#session === null;
  }

  /**
   * The MODEL_CRASHED error every later run() fails with, once this model's host process died
   * while it was not being disposed (isolation: 'process'; what onCrash() listeners are given);
   * null before, and always for an in-process model. `disposed` stays false until dispose(), and
   * `hostPid` keeps naming the host that died (helper-130).
   */
  get crash(): ModelCrashedError | null {
    return this.#crash;
  }

  /**
   * Runs of this model executing now (at most maxConcurrentRuns): started, or about to (a runner
   * thread takes them). Runner threads and a host's serving threads take runs while this is read:
   * for a pair that adds up (executing + queued), read both from one stats() call.
   */
  get runsExecuting(): number {
    return this.#executing(this.#forRunner());
  }

  // runsExecuting, given #forRunner() (stats() reads it once for both).
  #executing(forRunner: number): number {
    const taken = this.#gated ? Math.min(this.#inFlight, this.maxConcurrentRuns) : this.#running;
    return Math.max(0, taken - forRunner);
  }

  /**
   * Runs waiting to execute, in call order: for their turn (maxConcurrentRuns), or, in-process,
   * for one of the addon's runner threads while every one is busy (with maxConcurrentRuns
   * Infinity, the default with oneDNN off, that is where runs wait), or, isolated, in the model's
   * host, not yet taken by one of its serving threads.
   */
  get runsQueued(): number {
    return this.#queued(this.#forRunner());
  }

  // runsQueued, given #forRunner().
  #queued(forRunner: number): number {
    // After dispose() no run waits any more: those that did are failing with MODEL_DISPOSED.
    if (this.#session === null) return this.#gated ? 0 : this.#waiting.length;
    const turn = this.#gated ? Math.max(0, this.#inFlight - this.maxConcurrentRuns) : this.#waiting.length + this.#ahead.length;
    return turn + forRunner;
  }

  // This model's runs that took their turn and wait for a runner thread (in-process; read from
  // the addon's queue, so only when asked: stats, metrics), or in its host (isolated).
  #forRunner(): number {
    const session = this.#session;
    return session?.runnerQueued === undefined ? 0 : session.runnerQueued();
  }

  /**
   * A zero-filled tensor of `shape` for this model's feeds, in the memory a run reads fastest.
   * In-process that is Tensor.alloc's (aligned: TensorFlow borrows it, no copy). With isolation
   * 'process', a tensor of 16 KiB or more lives in shared memory that the host maps once and
   * reads in place, so run() sends where it is instead of copying its bytes (about 0.1–0.5 ms
   * per 4 MiB); any isolated model of this process can read it, and in-process models borrow it
   * as usual. Runs that go as JSON frames (strings, a runTimeoutMs) still copy it.
   *
   * Unlike Tensor.alloc's memory, this memory belongs to tfslice: dispose() frees it at once
   * (after the runs in flight that read it; a graph that keeps it, a queue, keeps it mapped) and
   * its data becomes empty; else the garbage collector frees it. At most 1024 shared tensors are
   * alive at once per JS thread, and at most a quarter of RLIMIT_NOFILE (each holds a file
   * descriptor); past that, and below 16 KiB, the tensor is Tensor.alloc's memory, fed with a
   * copy, which dispose() only forgets.
   *
   * @param dtype a numeric dtype
   * @param shape dimensions (elements: their product)
   * @throws TypeError (ERR_INVALID_ARG_TYPE) for a string or unknown dtype; INVALID_ARGUMENT for
   *   a bad shape or one too large to allocate; MODEL_DISPOSED after dispose()
   */
  alloc<N extends NumericDType>(dtype: N, shape: readonly number[]): Tensor<N> {
    this.#live();
    return this.isolation === 'process' ? allocShared(dtype, shape) : Tensor.alloc(dtype, shape);
  }

  /**
   * Runs a signature on a worker thread; the event loop stays free. Many runs may
   * be in flight at once. Output typed arrays belong to JS and outlive the model's dispose();
   * an output's own dispose() empties its `data` (copy what must outlive it). A feed of 16 KiB or
   * more is read after run() returns: do not change, transfer or detach it (a web stream's BYOB
   * read) until the run settles. Its buffer is made untransferable for good
   * (worker_threads.markAsUntransferable: a transfer list naming it copies it on Node 20, throws
   * DataCloneError on later Nodes), so that no postMessage or structuredClone frees it under
   * the run; a BYOB read still can, and crashes the process (README, "What is copied").
   * Never throws: every failure rejects, by `code`: ERR_INVALID_ARG_TYPE (a TypeError) for an
   * option or feed of the wrong type or an unknown option key; INVALID_ARGUMENT for a feed the
   * signature refuses; NOT_FOUND for an unknown signature or output key; MODEL_DISPOSED;
   * DEADLINE_EXCEEDED past runTimeoutMs; CANCELLED when `signal` drops it; UNAVAILABLE, not
   * started, when 4096 runs failed on its runner thread (or host serving thread) while other runs
   * were in flight, and as many on the addon's thread where it goes after those, for a
   * signature that reaches a queue, barrier or accumulator op (README, "Runs that never end": a
   * TensorFlow bug worked around); or TensorFlow's own code for a run it refuses.
   */
  run(feeds: Feeds, options?: RunOptions): Promise<Record<string, Tensor>> {
    let session: NativeSession;
    let prepared: Prepared;
    try {
      session = this.#live();
      prepared = this.#prepare(session, feeds, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // Outputs of earlier runs fed here stay allocated until this run is done with them (its
    // echoes copied too).
    const giveBack = borrowFeeds(prepared.feeds);
    // The common case in one promise reaction: the run starts now or waits in the addon's queue,
    // and nothing is to be watched (no batch queue, no echo, no borrowed output, no limit on a
    // wait). Through #runAwaited's three async layers a tiny run cost the JS thread ~1 µs more,
    // and at two runs in flight that thread is the bound (README, Performance). In-process, only
    // a run with no limit or signal to watch (#submit watches one that waits, at its model's run
    // limit or for a runner thread); with turns kept here (maxConcurrentRuns Infinity, the default
    // with oneDNN off, or a host process), only one that gets its turn at once. A host process is
    // handed the run's limit, and does not start it past then.
    const gated = this.#gated;
    const plain = giveBack === null && prepared.queue === null && prepared.echoes.length === 0;
    const watched = prepared.waitLimitMs > 0 || prepared.signal !== undefined;
    if (plain && (gated ? !watched : this.#running < this.maxConcurrentRuns && (!watched || session.lastQueued === undefined))) {
      let pending: Promise<NativeTensors>;
      try {
        pending = gated
          ? session.run(prepared.plan, prepared.feeds, prepared.timeoutMs, ++this.#tickets)
          : session.run(prepared.plan, prepared.feeds, prepared.timeoutMs, 0, prepared.waitLimitMs);
      } catch (error) {
        return Promise.reject(runError(this.path, error, prepared.plan, prepared.timeoutMs));
      }
      if (gated) this.#inFlight++;
      else this.#running++;
      return pending.then(
        (flat) => {
          this.#ended(gated);
          return Model.#collect(prepared, flat, true, true) as Record<string, Tensor>;
        },
        (error: unknown) => {
          this.#endedAfter(error, gated);
          throw runError(this.path, error, prepared.plan, prepared.timeoutMs);
        });
    }
    // A run that may wait under a limit or a signal (a server's requests): watched while it waits.
    if (plain && (gated || this.#running < this.maxConcurrentRuns)) {
      if (!gated) this.#running++;
      return this.#submit(session, prepared.plan, prepared.feeds, prepared.timeoutMs, prepared.waitLimitMs, prepared.signal, gated)
        .then((flat) => Model.#collect(prepared, flat, true, true) as Record<string, Tensor>);
    }
    return this.#runAwaited(session, prepared, giveBack);
  }

  // run() when something is to be waited for or watched: a batch queue, echoes, borrowed outputs,
  // a run that may wait for its turn under a limit or a signal, or turns kept in JS.
  async #runAwaited(session: NativeSession, prepared: Prepared, giveBack: (() => void) | null): Promise<Record<string, Tensor>> {
    // Only inputs asked for: TensorFlow would refuse a run with nothing to fetch.
    try {
      if (prepared.resultKeys.length === 0 && prepared.echoes.length > 0) return await Model.#collect(prepared, [], true, true);
      if (prepared.queue !== null) {
        const result = await prepared.queue.submit(prepared.feeds, prepared.timeoutMs, prepared.waitLimitMs, prepared.signal);
        return await Model.#collect(prepared, result.tensors, result.owned, true);
      }
      return await Model.#collect(prepared, await this.#execute(session, prepared.plan, prepared.feeds, prepared.timeoutMs, prepared.waitLimitMs, prepared.signal), true, true);
    } finally {
      giveBack?.();
    }
  }

  /**
   * Experimental: runs a signature once traced (RunOptions.trace_level
   * SOFTWARE_TRACE) and returns where each node ran, read back from RunMetadata.step_stats: device
   * name (e.g. "/job:localhost/replica:0/task:0/device:CPU:1") → the names of the nodes it ran,
   * function bodies included. For checking placement (a partition's model runs on its device),
   * not for serving: a traced run is slower and not batched. Feeds as run(); of run()'s options
   * only `signature`.
   * @throws (rejects with) UNIMPLEMENTED with isolation 'process' (the trace is read in this
   *   process); ERR_INVALID_ARG_TYPE (a TypeError) for an option other than `signature`; else as run()
   */
  async placement(feeds: Feeds, options?: Pick<RunOptions, 'signature'>): Promise<Record<string, string[]>> {
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object') throw invalidType('placement() options', 'an object ({ signature })', options);
      // Not ignored: a caller passing run()'s options would think they held (helper-90).
      // (One given as undefined is left out, as every option is: a spread RunOptions passes.)
      for (const [key, value] of Object.entries(options)) if (key !== 'signature' && value !== undefined) throw invalidType(`placement() option ${JSON.stringify(key)}`, 'signature (the only option placement() takes)', key);
    }
    const session = this.#live();
    if (!session.trace) throw new TensorFlowError('UNIMPLEMENTED', `placement() reads the trace of an in-process session; ${this.path} runs in a host process (isolation: 'process')`);
    if (this.target !== '') throw new TensorFlowError('UNIMPLEMENTED', `placement() reads the trace of a session in this process; ${this.path} runs on ${this.target}, whose step stats TensorFlow does not return here`);
    const prepared = this.#prepare(session, feeds, options === undefined || options === null ? undefined : { signature: options.signature });
    const giveBack = borrowFeeds(prepared.feeds);
    let bytes: Uint8Array;
    try {
      bytes = await session.trace(prepared.plan, prepared.feeds);
    } catch (error) {
      throw fromNative(error);
    } finally {
      giveBack?.();
    }
    const metadata = RUN_METADATA.decode(bytes) as unknown as { stepStats?: { devStats?: { device?: string; nodeStats?: { nodeName?: string }[] }[] } };
    const byDevice = new Map<string, Set<string>>();
    for (const dev of metadata.stepStats?.devStats ?? []) {
      const nodes = byDevice.get(dev.device ?? '') ?? new Set<string>();
      byDevice.set(dev.device ?? '', nodes);
      for (const node of dev.nodeStats ?? []) if (node.nodeName) nodes.add(node.nodeName);
    }
    return Object.fromEntries([...byDevice].map(([device, nodes]) => [device, [...nodes]]));
  }

  // One TF_SessionRun (a request's or a batch's) in its turn among maxConcurrentRuns. A run
  // still waiting for its turn, or for a runner thread, when waitLimitMs has passed never starts
  // (DEADLINE_EXCEEDED): its caller has given up, and it would hold up the runs behind it
  // (whether or not TensorFlow can stop the run once it starts). One whose `signal` is aborted
  // while it waits never starts either (CANCELLED).
  async #execute(session: NativeSession, plan: NativePlan, feeds: NativeTensors, timeoutMs: number, waitLimitMs = 0, signal?: RunSignal): Promise<NativeTensors> {
    if (this.#gated) return this.#submit(session, plan, feeds, timeoutMs, waitLimitMs, signal, true);
    if (this.#running < this.maxConcurrentRuns) {
      this.#running++;
    } else if (this.#ahead.length === 0 && this.#waiting.length === 0 && this.#handing === 0 && session.mayRunAhead?.(plan, feeds) === true) {
      // First in line for a model host's turn: sent now, it waits in the host, which starts it
      // as the first of the runs holding the turns ends there, with no round trip through this
      // process between the two (at maxConcurrentRuns 1, runs in flight otherwise alternate with
      // the host idle while each reply crosses back and the next run crosses over). The turn
      // passes to it here too (#ended) as that run's reply comes.
      return this.#submit(session, plan, feeds, timeoutMs, waitLimitMs, signal, false, this.maxConcurrentRuns);
    } else {
      const asked = performance.now();
      const askedLimitMs = waitLimitMs;
      const goesAhead = session.mayRunAhead === undefined ? undefined : () => session.mayRunAhead!(plan, feeds);
      const granted = await this.#turn(waitLimitMs, signal, goesAhead);
      if (granted === true) this.#handing--; // sent below, in this same turn of the microtask queue
      if (granted === false) this.#live(); // disposed while waiting: rejects with MODEL_DISPOSED, never started
      // What is left of its wait, for a runner thread, and of its limit, for TensorFlow (the
      // limit counts the wait for a turn: TensorFlow Serving passes the remaining deadline).
      const waited = performance.now() - asked;
      if (waitLimitMs > 0) waitLimitMs = Math.max(1, Math.ceil(waitLimitMs - waited));
      if (timeoutMs > 0) timeoutMs = Math.max(1, Math.ceil(timeoutMs - waited));
      // Next in line as the run sent ahead took its turn: it goes ahead in turn.
      if (typeof granted === 'object') {
        Object.assign(granted, { since: asked, limitMs: askedLimitMs });
        return this.#submit(session, plan, feeds, timeoutMs, waitLimitMs, signal, false, this.maxConcurrentRuns, granted);
      }
      // Handed a turn by a run that ended (none was sent ahead: a queue that built up while runs
      // could not go ahead, behind a framed run or a plan's first run): once this one is in its
      // host's count, the next in line may go ahead, and runs go ahead from then on.
      const run = this.#submit(session, plan, feeds, timeoutMs, waitLimitMs, signal, false);
      if (session.lastSentDirect?.() === true) this.#promote();
      return run;
    }
    return this.#submit(session, plan, feeds, timeoutMs, waitLimitMs, signal, false);
  }

  // #ended, for a run that failed: one given up on while its host did not answer may still
  // execute there, and keeps its turn until it has ended (maxConcurrentRuns holds).
  #endedAfter(error: unknown, gated: boolean): void {
    const late = runStillInHost(error);
    if (late === undefined) this.#ended(gated);
    else void late.then(() => this.#ended(gated));
  }

  // A run #submit handed over has ended (`error` when it failed): one sent ahead of its turn
  // (`sent`), or one that held its turn (#endedAfter).
  #runEnded(gated: boolean, sent: AheadRun | undefined, error?: unknown): void {
    if (sent !== undefined) this.#aheadEnded(sent, error);
    else if (error === undefined) this.#ended(gated);
    else this.#endedAfter(error, gated);
  }

  // A run sent ahead of its turn has ended (`error` when it failed): the turn it took here goes on
  // (#ended); one that never got a turn here gives back none. Its host started it, if at all,
  // only once fewer than maxConcurrentRuns runs were executing there (native/channel.cc,
  // WaitBelow), so it may end before the reply of the run whose end let it start: that reply,
  // read later, hands its turn on past it.
  #aheadEnded(sent: AheadRun, error?: unknown): void {
    const end = () => {
      if (sent.turn) this.#ended(false);
      else this.#ahead.splice(this.#ahead.indexOf(sent), 1);
    };
    const late = error === undefined ? undefined : runStillInHost(error);
    if (late === undefined) end();
    else void late.then(end);
  }

  // A run that run() or #execute started has ended: one fewer in the addon (gated), or its turn
  // goes straight to the run sent ahead of its turn, or else to the next waiter, so that no
  // newcomer can slip in between.
  #ended(gated: boolean): void {
    if (gated) {
      this.#inFlight--;
      return;
    }
    const ahead = this.#ahead.shift();
    if (ahead !== undefined) {
      ahead.turn = true;
      // The next in line goes ahead in its place.
      this.#promote();
      return;
    }
    const next = this.#waiting.shift();
    if (next) {
      this.#handing++;
      next(true);
    } else {
      this.#running--;
    }
  }

  // The run first in line goes ahead of its turn, if none is ahead, no run handed a turn is
  // still to be sent, and `goesAhead` says it may: its place in #ahead is reserved now, and it is
  // sent once its #turn() resolves.
  #promote(): void {
    const head = this.#waiting[0];
    if (this.#ahead.length > 0 || this.#handing > 0 || head?.goesAhead?.() !== true) return;
    this.#waiting.shift();
    const next: AheadRun = { turn: false, since: 0, limitMs: 0 };
    this.#ahead.push(next);
    head(next);
  }

  // Hands one run to the addon. `gated`: the addon keeps the turns (an in-process session with a
  // run limit): the run waits there, and a run finishing on a runner thread starts the next at
  // once, with no trip through the event loop. Otherwise the caller holds the run's turn
  // (#running), given back here when the run ends (maxConcurrentRuns Infinity: no gate). Either
  // way it may wait for a runner thread too (every one busy). A run still waiting at
  // waitLimitMs, or when its signal is aborted, is taken out of the addon's queue (an in-process
  // session). One promise reaction, no async frame: run() takes this path for every run that may
  // wait under a limit or a signal (a server's requests, at 64 in flight).
  // `startBelow` ≥ 1: a model host's run sent ahead of its turn (#execute, #ahead), holding none
  // yet; `reserved`: its place in #ahead, when #ended gave it one.
  #submit(session: NativeSession, plan: NativePlan, feeds: NativeTensors, timeoutMs: number, waitLimitMs: number, signal: RunSignal | undefined, gated: boolean,
    startBelow = 0, reserved?: AheadRun): Promise<NativeTensors> {
    const ahead = this.#inFlight - this.maxConcurrentRuns; // gated, ≥ 0: this run waits behind that many
    const mayWatch = (waitLimitMs > 0 || signal !== undefined) && session.lastQueued !== undefined;
    const ticket = mayWatch ? ++this.#tickets : 0;
    const sent = startBelow > 0 ? reserved ?? { turn: false, since: performance.now(), limitMs: waitLimitMs } : undefined;
    if (sent !== undefined && reserved === undefined) this.#ahead.push(sent);
    let run: Promise<NativeTensors>;
    try {
      run = sent !== undefined ? session.run(plan, feeds, timeoutMs, ticket, waitLimitMs, startBelow) : session.run(plan, feeds, timeoutMs, ticket, gated ? 0 : waitLimitMs);
    } catch (error) {
      if (sent !== undefined) this.#aheadEnded(sent);
      else if (!gated) this.#ended(false);
      return Promise.reject(runError(this.path, error, plan, timeoutMs));
    }
    if (gated) this.#inFlight++;
    // Watched only where it waits (a listener and a timer per run cost a fifth of a tiny model's
    // calls/s at 64 in flight); one that starts now needs none, and the addon still drops one
    // with no run limit that no runner took within waitLimitMs.
    const where = mayWatch ? session.lastQueued!() : 0;
    if (where === 0) {
      return run.then(
        (flat) => {
          this.#runEnded(gated, sent);
          return flat;
        },
        (error: unknown) => {
          this.#runEnded(gated, sent, error);
          throw this.#aheadFailure(sent, runError(this.path, error, plan, timeoutMs));
        });
    }
    let timer: NodeJS.Timeout | undefined;
    let unwatch: (() => void) | undefined;
    let dropped: unknown;
    const started = performance.now();
    // Taken out of the addon's queue, its run rejects with CANCELLED at once; unless it has
    // started (then TensorFlow's own limit applies, and it runs to its end).
    const dropWith = (error: () => unknown) => {
      if (dropped === undefined && session.cancelQueued!(ticket)) dropped = error();
    };
    if (waitLimitMs > 0) {
      // Said as where it waited when it was handed over.
      timer = timerFor(() => dropWith(() => where === 1 ? this.#notStarted(started, Math.max(0, ahead), waitLimitMs)
        : where === 3 ? notStartedIn(MODEL_HOST, started, waitLimitMs) : notStartedIn(RUNNER_THREAD, started, waitLimitMs)), waitLimitMs);
    }
    if (signal !== undefined) {
      try {
        unwatch = watchAbort(signal, () => dropWith(() => abortedRun(signal)));
      } catch (error) {
        dropWith(() => error); // a signal that cannot be listened to: the run is not started
      }
    }
    const ended = (error?: unknown) => {
      clearTimeout(timer);
      unwatch?.();
      this.#runEnded(gated, sent, error);
    };
    return run.then(
      (flat) => {
        ended();
        return flat;
      },
      (error: unknown) => {
        ended(error);
        throw this.#aheadFailure(sent, dropped ?? runError(this.path, error, plan, timeoutMs));
      });
  }

  // A run sent ahead (`sent`) that was not started waited for its turn since its call, whichever
  // side said so first (this one or its host, which knew only the wait left when it was sent).
  #aheadFailure(sent: AheadRun | undefined, failure: unknown): unknown {
    return sent !== undefined && failure instanceof NotStartedError ? this.#notStarted(sent.since, 0, sent.limitMs) : failure;
  }

  // DEADLINE_EXCEEDED for a run still waiting for its turn when its runTimeoutMs passed (it never starts).
  #notStarted(started: number, ahead: number, limitMs: number): NotStartedError {
    return new NotStartedError(notStartedMessage(performance.now() - started,
      `for its turn (maxConcurrentRuns ${this.maxConcurrentRuns}, ${ahead} run(s) queued ahead of it)`, limitMs));
  }

  // Resolves true when a finishing run hands this one its slot, false on dispose, a place in
  // #ahead when it is next in line as a run sent ahead takes its turn and `goesAhead` says it may
  // go ahead too (#ended); rejects (and leaves the queue) with DEADLINE_EXCEEDED after limitMs > 0,
  // with CANCELLED when `signal` is aborted.
  #turn(limitMs: number, signal: RunSignal | undefined, goesAhead?: () => boolean): Promise<boolean | AheadRun> {
    return new Promise<boolean | AheadRun>((resolve, reject) => {
      if (limitMs <= 0 && signal === undefined) {
        const wake: Waiter = (granted) => resolve(granted);
        wake.goesAhead = goesAhead;
        this.#waiting.push(wake);
        return;
      }
      const ahead = this.#waiting.length;
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      let unwatch: (() => void) | undefined;
      const done = () => {
        clearTimeout(timer);
        unwatch?.();
      };
      const wake: Waiter = (granted) => {
        done();
        resolve(granted);
      };
      wake.goesAhead = goesAhead;
      const leave = (error: unknown) => {
        const at = this.#waiting.indexOf(wake);
        if (at < 0) return;
        this.#waiting.splice(at, 1);
        done();
        reject(error);
      };
      this.#waiting.push(wake);
      try {
        if (signal !== undefined) unwatch = watchAbort(signal, () => leave(abortedRun(signal)));
      } catch (error) {
        leave(error); // a signal that cannot be listened to: the run leaves the queue with its error
        return;
      }
      if (limitMs > 0) timer = timerFor(() => leave(this.#notStarted(started, ahead, limitMs)), limitMs);
    });
  }

  /**
   * What the model did since it was loaded: runs executing and waiting now, and per batched
   * signature its batches (sizes, padding, retries, queue delay).
   */
  stats(): ModelStats {
    const batching: Record<string, BatchingStats> = {};
    for (const [name, stats] of this.#batchStats) batching[name] = { ...stats, batchSizes: { ...stats.batchSizes } };
    // The runner queue (or the host's words) read once for both counts.
    const forRunner = this.#forRunner();
    const outputSelections: Record<string, number> = {};
    for (const [name, plans] of this.#plans) outputSelections[name] = this.#selections(name, plans);
    return { runsExecuting: this.#executing(forRunner), runsQueued: this.#queued(forRunner), batching, outputSelections };
  }

  // ModelStats.outputSelections of one signature: the executors its selections made TensorFlow
  // build, beside the whole signature's (whether or not that ran).
  #selections(name: string, plans: Map<string, Planned>): number {
    const whole = plans.get(WHOLE_SIGNATURE)?.fetches ?? this.#wholeFetches(name);
    const made = new Set<string>();
    for (const planned of plans.values()) if (planned.fetches !== '' && planned.fetches !== whole) made.add(planned.fetches);
    return made.size;
  }

  // The fetches of signature `name` run whole, for a model that has not run it whole (stats());
  // null when it cannot be (outputs whose keys clash: fetchesOf).
  #wholeFetches(name: string): string | null {
    const sig = this.#signature(name);
    try {
      return fetchSetKey(fetchesOf(sig.info, splitEchoes(sig, sig.outputKeys).fetchKeys).names);
    } catch {
      return null;
    }
  }

  /**
   * Calls `listener` after each batch this model runs (LoadOptions.batching), with its size,
   * padding, requests and their queue delays: what the server's batching metrics count.
   * A listener that throws does not stop the others or the batch; its first error is reported
   * as a process warning (code `TFSLICE_LISTENER_ERROR`), its later ones dropped.
   * Returns a function that removes the listener; ERR_INVALID_ARG_TYPE for a listener that is not
   * a function.
   */
  onBatch(listener: (event: BatchEvent) => void): () => void {
    if (typeof listener !== 'function') throw invalidType('listener', 'a function', listener);
    this.#batchListeners.add(listener);
    return () => this.#batchListeners.delete(listener);
  }

  /**
   * Calls `listener` once if this model's host process dies (isolation: 'process'; killed,
   * crashed, out of memory) while it is not being disposed, with the MODEL_CRASHED error every
   * later run() fails with: a service learns it when it happens, not from its next run. Never
   * called for an in-process model, or after dispose(). A listener added after the crash is
   * called at once. It does not keep the event loop alive (an idle isolated model does not).
   * A listener that throws does not stop the others; its error is reported as a process warning
   * (code `TFSLICE_LISTENER_ERROR`, once per listener), as onBatch's.
   * Returns a function that removes the listener; ERR_INVALID_ARG_TYPE for a listener that is not
   * a function.
   */
  onCrash(listener: (error: ModelCrashedError) => void): () => void {
    if (typeof listener !== 'function') throw invalidType('listener', 'a function', listener);
    if (this.#crash) {
      const crash = this.#crash;
      queueMicrotask(() => callListeners([listener], [crash], 'Model onCrash'));
      return () => {};
    }
    this.#crashListeners.add(listener);
    return () => this.#crashListeners.delete(listener);
  }

  /** @internal loadModel(): the host died (not through dispose()). */
  static crashed(model: Model, error: ModelCrashedError): void {
    if (model.#crash || model.#closed) return;
    model.#crash = error;
    const listeners = [...model.#crashListeners];
    model.#crashListeners.clear();
    // A listener's failure is its own (as onBatch's): the others are called, and the host's exit
    // is handled to its end (dispose() would otherwise wait for it for ever).
    callListeners(listeners, [error], 'Model onCrash');
  }

  /**
   * run() on the calling thread: blocks the event loop for the whole TF_SessionRun.
   * For scripts and benchmarks; servers should use run(). It takes one of the model's
   * maxConcurrentRuns run slots as run() does, and does not wait for one.
   *
   * @throws synchronously, by `code`: what run() rejects with (ERR_INVALID_ARG_TYPE,
   *   INVALID_ARGUMENT, NOT_FOUND for an unknown signature or output, MODEL_DISPOSED,
   *   DEADLINE_EXCEEDED, TensorFlow's own codes); FAILED_PRECONDITION while run()s hold every
   *   run slot (maxConcurrentRuns) or wait for one, and on an isolated model (isolation 'process');
   *   UNAVAILABLE as run() says, once 4096 runs failed on the calling thread and as many on the
   *   addon's thread where it goes after the first 4096
   */
  runSync(feeds: Feeds, options?: RunOptions): Record<string, Tensor> {
    const session = this.#live();
    const prepared = this.#prepare(session, feeds, options);
    // Copies made here (no offThread): no promise.
    if (prepared.resultKeys.length === 0 && prepared.echoes.length > 0) return Model.#collect(prepared, [], true) as Record<string, Tensor>;
    let outputs: NativeTensors | number;
    try {
      // In-process, the feeds' shapes go and small outputs come back through the addon's scratch
      // (writeTakenFeeds, readTakenOutputs).
      const compact = this.isolation === 'process' ? null : writeTakenFeeds(prepared.feeds);
      outputs = compact === null
        ? session.runSync(prepared.plan, prepared.feeds, prepared.timeoutMs)
        : session.runSync(prepared.plan, compact, prepared.timeoutMs, true);
    } catch (error) {
      throw runError(this.path, error, prepared.plan, prepared.timeoutMs);
    }
    if (typeof outputs === 'number') return Model.#collect(prepared, readTakenOutputs(outputs), 'heap') as Record<string, Tensor>;
    return Model.#collect(prepared, outputs, true) as Record<string, Tensor>;
  }

  /**
   * Frees the session. Runs already handed over finish first: a run begins as it is handed to a
   * free runner thread (an isolated model's: sent to its host while a serving thread there is
   * free), so `run()` then `dispose()` in the same tick runs it. Runs that had not begun (waiting
   * for a run slot, maxConcurrentRuns, for a runner while every one is busy, or in a busy host)
   * reject with MODEL_DISPOSED at once, as do requests still in a batch queue. Idempotent;
   * resolves once freed.
   *
   * @param options.killAfterMs runs still executing this many ms after the call are ended, and
   *   reject with MODEL_DISPOSED. An isolated model's host is killed (SIGKILL); an in-process
   *   model's session is closed (TF_CloseSession), which makes TensorFlow cancel its runs, ops
   *   inline too, as soon as their executor sees it (an op already executing runs to its end;
   *   one that never ends, such as a custom op's endless loop, still holds dispose()). Without
   *   it a run that never ends holds dispose() for ever.
   * @throws TypeError/RangeError (ERR_OUT_OF_RANGE) for a bad killAfterMs. A killAfterMs given
   *   to a later call (after a plain dispose()) applies too
   */
  dispose(options?: { killAfterMs?: number }): Promise<void> {
    let killAfterMs: number | undefined;
    try {
      killAfterMs = disposeOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) {
      // A limit given after a plain dispose() still applies to the host.
      if (killAfterMs !== undefined) void this.#disposing?.close(killAfterMs);
    } else {
      const session = this.#session!;
      this.#disposing = session;
      this.#session = null;
      this.#plans.clear();
      for (const queue of this.#queues.splice(0)) queue.close(`the model at ${this.path} was disposed while this request waited for its batch`);
      abandonedHosts.unregister(this);
      // Waiting runs wake to find the model disposed and reject with MODEL_DISPOSED.
      for (const wake of this.#waiting.splice(0)) wake(false);
      const onDisposed = this.#onDisposed;
      if (onDisposed) abandonedPartitions.unregister(this);
      const closing = session.close(killAfterMs);
      this.#closed = onDisposed ? closing.finally(onDisposed) : closing;
    }
    return this.#closed;
  }

  /**
   * dispose() without options, for `await using model = await loadModel(...)` (TypeScript 5.2's
   * explicit resource management): the model is disposed at the end of its block, as dispose()
   * does it: runs begun finish first; runs not yet begun (waiting for a run slot, or for a runner
   * thread while every one is busy) reject with MODEL_DISPOSED, so await the runs a block starts
   * before it ends. The same promise as dispose().
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #live(): NativeSession {
    if (this.#session === null) throw new ModelDisposedError(`the model at ${this.path} was disposed; load it again to run it`);
    return this.#session;
  }

  #signature(name: string | undefined): PreparedSignature {
    const wanted = name ?? this.defaultSignature;
    if (wanted === null) {
      throw new NotFoundError(`${this.path} has no 'serving_default' signature; name one of ${list(Object.keys(this.signatures))} in run(feeds, { signature })`);
    }
    let prepared = this.#prepared.get(wanted);
    if (!prepared) {
      const info = Object.hasOwn(this.signatures, wanted) ? this.signatures[wanted] : undefined;
      if (!info) throw new NotFoundError(`signature '${wanted}' does not exist in ${this.path}; it has ${list(Object.keys(this.signatures))}`);
      const inputKeys = Object.keys(info.inputs);
      prepared = { name: wanted, info, inputKeys, inputSpecs: inputKeys.map((k) => info.inputs[k]!), outputKeys: Object.keys(info.outputs) };
      this.#prepared.set(wanted, prepared);
    }
    return prepared;
  }

  #prepare(session: NativeSession, feeds: Feeds, options: RunOptions | undefined): Prepared {
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor || feeds instanceof Map) {
      // A Map's entries are no properties: it would read as feeds lacking every input.
      throw invalidType('feeds', `an object of tensors by input key${feeds instanceof Map ? ' (a Map: pass Object.fromEntries(map))' : ''}`, feeds);
    }
    // null: no options, as undefined (loadModel() and Node's own APIs take it so too).
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object') throw invalidType('options', 'an object', options);
      // A misspelt option (timeoutMs for runTimeoutMs) would otherwise be ignored without a word.
      for (const key in options) {
        if (!RUN_OPTIONS.has(key)) throw invalidType(`run option ${JSON.stringify(key)}`, `one of ${[...RUN_OPTIONS].join(', ')}`, key);
      }
      if (options.signature !== undefined && typeof options.signature !== 'string') throw invalidType('signature', 'a signature name (a string)', options.signature);
      if (options.checkShapes !== undefined && typeof options.checkShapes !== 'boolean') throw invalidType('checkShapes', 'a boolean', options.checkShapes);
    }
    const sig = this.#signature(options?.signature);
    const outputKeys = options?.outputs ?? sig.outputKeys;
    if (!Array.isArray(outputKeys)) throw invalidType('outputs', 'an array of output keys', outputKeys);
    if (outputKeys.length === 0 && outputKeys !== sig.outputKeys) throw invalidType('outputs', 'a non-empty array of output keys (leave it out for every output)', outputKeys);
    for (let i = 0; i < outputKeys.length; i++) {
      const key = outputKeys[i];
      if (typeof key !== 'string') throw invalidType(`outputs[${i}]`, 'an output key (a string)', key);
      if (!Object.hasOwn(sig.info.outputs, key)) {
        throw new NotFoundError(`signature '${sig.name}' has no output '${key}'; its outputs are ${list(sig.outputKeys)}`);
      }
      if (outputKeys !== sig.outputKeys && outputKeys.indexOf(key) !== i) throw new InvalidArgumentError(`outputs names '${key}' twice; name each output once`);
    }
    for (const key of Object.keys(feeds)) {
      if (!Object.hasOwn(sig.info.inputs, key)) {
        throw unknownInputError(sig.name, key, sig.inputKeys);
      }
    }
    const natives: NativeTensors = [];
    for (let i = 0; i < sig.inputKeys.length; i++) {
      const key = sig.inputKeys[i]!;
      const spec = sig.inputSpecs[i]!;
      // Own keys only: an input named like an Object.prototype member ('toString') is not fed by it.
      const value = Object.hasOwn(feeds, key) ? feeds[key] : undefined;
      if (value === undefined) {
        throw new InvalidArgumentError(`signature '${sig.name}' needs input '${key}' (${spec.dtype} ${spec.shape ? `[${spec.shape.join(', ')}]` : 'of any shape'}), which feeds lack`);
      }
      if (spec.composite) {
        throw new TensorFlowError('UNIMPLEMENTED', `input '${key}' of signature '${sig.name}' is ${withArticle(spec.composite.kind)} tensor; tfslice feeds only dense tensors`);
      }
      if (!dtypeInfo(spec.dtype)) {
        throw new TensorFlowError('UNIMPLEMENTED', `input '${key}' of signature '${sig.name}' has dtype ${spec.dtype}, which tfslice cannot feed`);
      }
      const fed = feedTensor(value, key, spec);
      if (fed.disposed) throw new InvalidArgumentError(`feed '${key}' of signature '${sig.name}' was disposed: its memory is freed; feed a live tensor`);
      const tensor = overFixedMemory(fed, `feed '${key}' of signature '${sig.name}'`);
      checkAgainstSpec(spec, tensor, () => `feed '${key}' of signature '${sig.name}'`, options?.checkShapes !== false);
      tensor.pushNative(natives);
    }
    const { plan, resultKeys, echoes, queue } = this.#plan(session, sig, outputKeys);
    const asked = options?.runTimeoutMs === undefined ? this.runTimeoutMs : runTimeout('runTimeoutMs', options.runTimeoutMs);
    const signal = checkSignal(options?.signal);
    // TensorFlow cannot stop a graph run inline; sending no limit keeps an isolated model's
    // runs on the direct path (a limit goes framed).
    const timeoutMs = this.#inline ? 0 : asked;
    const echoCopies = echoes.map(([key, input]) => {
      const data = natives[3 * input + 2] as NativeData;
      if (flatBytes(data) >= ECHO_OFF_THREAD_BYTES) return undefined;
      checkEchoSource(key, natives[3 * input + 1] as readonly number[], data);
      return copyEcho(data);
    });
    return { plan, feeds: natives, echoCopies, echoes, resultKeys, queue, timeoutMs, waitLimitMs: asked, signal };
  }

  #plan(session: NativeSession, sig: PreparedSignature, outputKeys: readonly string[]): Planned {
    let plans = this.#plans.get(sig.name);
    if (plans === undefined) this.#plans.set(sig.name, (plans = new Map()));
    const cacheKey = planKey(outputKeys, sig.outputKeys);
    let planned = plans.get(cacheKey);
    if (!planned) {
      const { fetchKeys, echoes } = splitEchoes(sig, outputKeys);
      const { names, resultKeys } = fetchesOf(sig.info, fetchKeys);
      let plan: NativePlan;
      try {
        plan = session.plan(sig.inputSpecs.map((s) => s.name), names);
      } catch (error) {
        const converted = fromNative(error, `signature '${sig.name}'`);
        // The addon names a fetch it cannot return by its graph tensor; the caller knows its key.
        if (converted instanceof Error) {
          const keyOf = new Map(fetchKeys.map((key) => [sig.info.outputs[key]!.name, key]));
          converted.message = outputsByKey(converted.message, keyOf);
        }
        throw converted;
      }
      FEED_KEYS.set(plan, new Map(sig.inputKeys.map((key, i) => [sig.inputSpecs[i]!.name, key])));
      planned = { plan, resultKeys, echoes, queue: this.#queue(session, sig, plan, fetchKeys), fetches: fetchSetKey(names) };
      plans.set(cacheKey, planned);
    }
    return planned;
  }

  // A batch queue for this signature and output selection, when the signature is batched.
  #queue(session: NativeSession, sig: PreparedSignature, plan: NativePlan, outputKeys: readonly string[]): BatchQueue | null {
    if (!this.batching?.signatures.includes(sig.name)) return null;
    const stats = this.#batchStats.get(sig.name)!;
    const { numBatchThreads } = this.batching.options;
    // Full batches can wait in the addon (BatchQueue's handOver) when it holds them to
    // numBatchThreads: a session's run limit that is no higher, or with none (maxConcurrentRuns
    // Infinity) a gate of this plan's own. A limit above numBatchThreads cannot (a run passes one gate).
    let handOver = this.#gated && numBatchThreads >= this.maxConcurrentRuns;
    if (!this.#gated && session.setPlanRunLimit !== undefined && !Number.isFinite(this.maxConcurrentRuns)) {
      session.setPlanRunLimit(plan, numBatchThreads);
      handOver = true;
    }
    const queue = new BatchQueue({
      options: this.batching.options,
      signature: sig.name,
      inputKeys: sig.inputKeys,
      // A copy: the caller may change its `outputs` array after this call.
      outputKeys: Object.freeze([...outputKeys]),
      execute: (feeds, timeoutMs, waitLimitMs, signal) => this.#execute(session, plan, feeds, timeoutMs, waitLimitMs, signal),
      maxConcurrentRuns: this.maxConcurrentRuns,
      handOver,
      stats,
      emit: (event) => {
        // A listener's failure is its own; the batch was delivered.
        callListeners(this.#batchListeners, [event], 'Model onBatch');
      },
    });
    this.#queues.push(queue);
    return queue;
  }

  // The outputs as Tensors. Echoes (outputs that are feeds) are copies of the feeds in their
  // flat form: strings as their packed bytes and offsets (two copies, not one array per string:
  // a million of those stalled the collector for seconds). `offThread` (run()): an echo of
  // ECHO_OFF_THREAD_BYTES or more is copied on a runner thread, and a promise is returned.
  static #collect(prepared: Prepared, flat: NativeTensors, owned: Ownership, offThread = false): Record<string, Tensor> | Promise<Record<string, Tensor>> {
    const keys = prepared.resultKeys;
    const result: Record<string, Tensor> = {};
    for (let i = 0; i < keys.length; i++) {
      result[keys[i]!] = Tensor.fromNative(flat[3 * i] as number, flat[3 * i + 1] as number[], flat[3 * i + 2] as NativeData, owned);
    }
    let later: EchoCopy[] | null = null;
    for (const [index, [key, input]] of prepared.echoes.entries()) {
      const dtype = prepared.feeds[3 * input] as number;
      const shape = prepared.feeds[3 * input + 1] as readonly number[];
      const early = prepared.echoCopies[index];
      if (early !== undefined) {
        result[key] = Tensor.fromNative(dtype, [...shape], early, true);
        continue;
      }
      const data = prepared.feeds[3 * input + 2] as NativeData;
      checkEchoSource(key, shape, data);
      if (offThread && flatBytes(data) >= ECHO_OFF_THREAD_BYTES) {
        result[key] = undefined as unknown as Tensor; // its place among the keys, filled below
        (later ??= []).push({ key, dtype, shape, data });
        continue;
      }
      // A copy of tfslice's making, so an output like any other: dispose() empties it.
      result[key] = Tensor.fromNative(dtype, [...shape], copyEcho(data), true);
    }
    return later === null ? result : Model.#copyEchoes(result, later);
  }

  static async #copyEchoes(result: Record<string, Tensor>, echoes: readonly EchoCopy[]): Promise<Record<string, Tensor>> {
    const views = echoes.flatMap(({ data }) => (ArrayBuffer.isView(data) ? [data] : [data.bytes, data.offsets]));
    let buffers: ArrayBuffer[];
    try {
      buffers = await native().copyOffThread(views);
    } catch (error) {
      throw fromNative(error);
    }
    let at = 0;
    for (const { key, dtype, shape, data } of echoes) {
      // Sized by what was copied: the feed may have been detached since (README's rule broken).
      const copy: NativeData = ArrayBuffer.isView(data)
        ? new (data.constructor as new (buffer: ArrayBuffer) => TypedArray)(buffers[at++]!)
        : { bytes: new Uint8Array(buffers[at++]!), offsets: new Float64Array(buffers[at++]!) };
      checkEchoSource(key, shape, copy);
      result[key] = Tensor.fromNative(dtype, [...shape], copy, true);
    }
    return result;
  }
}

/** A session and what its SavedModel declares: what a Model (or a model host) is built on. */
export interface OpenedSession {
  session: NativeSession;
  signatures: Record<string, SignatureInfo>;
  defaultSignature: string | null;
  devices: Device[];
  /** The ConfigProto the session was created with, decoded. */
  config: SessionConfig;
  /**
   * A run may wait on something outside itself (lib/ops.ts loopingOrBlockingOp: a queue's
   * dequeue, a loop for as long as its values say) or on a remote worker: a model host runs
   * such a model's framed runs on runner threads only, never on its JS thread (lib/host.ts).
   */
  mayBlock: boolean;
}

/**
 * @internal Loads a SavedModel into a TF_Session of this process (on a worker thread)
 * and decodes its signatures; loadModel() and the model host (lib/host.ts) share it.
 */
export async function openSession(exportDir: string, resolved: ResolvedOptions, device: { name: string; type: 'GPU' | 'CPU' } | null = null): Promise<OpenedSession> {
  for (const library of resolved.opLibraries) await loadOpLibrary(library);
  let configBytes = resolved.configBytes;
  let extra: NativeLoadExtra | undefined = resolved.target === '' ? undefined : { target: resolved.target };
  let planned: LoadPlan | null = null;
  if (device !== null) {
    // Onto a partition: loaded by hand (lib/loader.ts), with the layout every partition session shares.
    planned = await planLoad(exportDir, resolved.tags, device);
    configBytes = encodeConfig(partitionConfig(), configBytes);
    extra = { graphDef: planned.graphDef, device: device.name, steps: planned.steps };
  }
  if (resolved.target !== '') await checkReachable(resolved.target);
  fixLayout();
  let loaded: Awaited<ReturnType<ReturnType<typeof native>['loadSession']>>;
  try {
    loaded = await native().loadSession(exportDir, [...resolved.tags], configBytes, runsInline(resolved.applied), extra);
  } catch (error) {
    throw await explainLoadError(fromNative(error), exportDir, resolved.target);
  }
  const metaGraph = loaded.metaGraph ?? planned!.metaGraph;
  const meta = decodeMetaGraph(metaGraph);
  try {
    await checkLoadedOps(metaGraph, resolved.opPolicy, exportDir);
  } catch (error) {
    await loaded.session.close();
    throw error;
  }
  // TensorFlow skips the restore when variables/ is gone and fails only at the first run.
  const index = path.join(exportDir, 'variables', 'variables.index');
  if (meta.hasSaver && !(await access(index).then(() => true, () => false))) {
    await loaded.session.close();
    throw new NotFoundError(`${index} does not exist, but the SavedModel's graph restores its variables from it; the variables/ directory is missing or incomplete`);
  }
  // A short plan's run with a timeout may skip the inter-op pool, as one without does, where
  // nothing in the graph loops or blocks (TensorFlow enforces the timeout only on the pool). Where
  // no queue, barrier or accumulator is in the graph, runs need no fresh stack address
  // (native/session.cc, AtFreshStackDepth; inline sessions too: a failing op or the session's
  // operation timeout cancels a step's waits there as well); where one is, runs of the
  // signatures that reach none need none either (helper-106: a loop's runs stopped at their
  // limit beside a long run were refused after 4096, for a queue that only another signature
  // used). A remote target's steps keep their cancellation managers in the worker, never on
  // this thread's stack.
  let mayBlock = true;
  if (resolved.target === '') {
    const custom = opLibraryOps();
    const ops = await loopingAndKeyedWaitOps(metaGraph, custom);
    mayBlock = ops.loopingOrBlocking !== null;
    if (ops.loopingOrBlocking === null && !runsInline(resolved.applied)) loaded.session.setBounded?.();
    if (ops.keyedWait === null) loaded.session.setNoKeyedWaits?.();
    else loaded.session.setNoKeyedWaits?.(await outputsWithoutKeyedWaits(metaGraph, custom));
  } else {
    loaded.session.setNoKeyedWaits?.();
  }
  const names = Object.keys(meta.signatures);
  let defaultSignature: string | null = resolved.signature;
  if (defaultSignature === null) {
    defaultSignature = names.includes('serving_default') ? 'serving_default' : names.length === 1 ? names[0]! : null;
  } else if (!names.includes(defaultSignature)) {
    await loaded.session.close();
    throw new NotFoundError(`signature '${defaultSignature}' does not exist in ${exportDir}; it has ${list(names)}`);
  }
  const config = device !== null ? decodeConfig(configBytes) : resolved.applied;
  return { session: loaded.session, signatures: meta.signatures, defaultSignature, devices: loaded.devices, config, mayBlock };
}

/**
 * Loads a SavedModel into its own TF_Session, on a worker thread, or with
 * isolation: 'process' into a host process of its own. The GPU ledger is consulted
 * first: GPU_CONFIG_CONFLICT or GPU_BUDGET_EXCEEDED refuse the load before it starts.
 *
 * @param modelPath SavedModel directory (holds saved_model.pb and variables/)
 * @param options a GPU memory fraction in (0, 1], or LoadOptions
 * @throws (rejects with) by `code`: ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE (TypeError /
 *   RangeError) for a bad path or option, naming it; NOT_FOUND for a directory that is missing
 *   or holds no SavedModel, or tags it lacks; INVALID_ARGUMENT when a file TensorFlow's loader
 *   opens (saved_model.pb, fingerprint.pb, the checkpoint's files in variables/, an asset file
 *   the graph names) is no regular file (a FIFO, a device: checked before TensorFlow opens it);
 *   PERMISSION_DENIED where it cannot be read;
 *   LIBRARY_NOT_FOUND / LIBRARY_INCOMPATIBLE when no usable libtensorflow is found;
 *   GPU_BUDGET_EXCEEDED, GPU_CONFIG_CONFLICT (the ledger, above); INVALID_ARGUMENT or
 *   TensorFlow's own code for a SavedModel TensorFlow refuses; MODEL_CRASHED when an isolated
 *   model's host dies while loading
 */
export async function loadModel(modelPath: string, options?: number | LoadOptions): Promise<Model> {
  const exportDir = localDirectory('modelPath', modelPath, 'a SavedModel directory path');
  const resolved = resolveLoadOptions(options);
  // A FIFO or a device among the files TensorFlow's loader opens would hold it (and a libuv thread) for ever.
  await checkSavedModelFiles(exportDir, () => namedAssetFiles(exportDir));
  // Before TensorFlow reads the graph: its loader runs the restore and init ops.
  await checkSavedModelOps(exportDir, resolved.tags, resolved.opPolicy);
  if (resolved.partition === null && partitionType() === 'GPU' && resolved.isolation === 'none' && resolved.target === '') {
    throw new GpuConfigConflictError(`${exportDir} would load in this process without a partition, but configureRuntime({ gpuPartitions }) ` +
      "split this process's GPUs into partitions, one model each: pass loadModel(path, { partition: 'auto' }) (or an index), " +
      "or isolation: 'process' to give it a TensorFlow of its own.");
  }
  const lease = resolved.partition === null ? null : takePartition(exportDir, resolved.partition);
  const reservation = lease ? { confirm() {}, release: () => lease.release() } : reserve(exportDir, resolved.isolation, resolved.gpu);
  // An isolated model's host may die at any time, before the Model below exists too. Held
  // weakly: the host session (which the process's list of live hosts holds) must not keep the
  // Model from being collected (a collected isolated model ends its host).
  let model: WeakRef<Model> | null = null;
  let diedEarly: ModelCrashedError | null = null;
  try {
    const tensorflow = await loadTensorFlow();
    let opened: OpenedSession;
    let hostPid: number | null = null;
    if (resolved.isolation === 'process') {
      const { session, loaded } = await HostSession.start(exportDir, options, tensorflow, runsInline(resolved.applied), (crash) => {
        reservation.release();
        if (crash) {
          if (model) {
            const alive = model.deref();
            if (alive) Model.crashed(alive, crash);
          } else {
            diedEarly = crash;
          }
        }
      });
      opened = { session, signatures: loaded.signatures, defaultSignature: loaded.defaultSignature, devices: loaded.devices, config: loaded.config, mayBlock: true };
      hostPid = loaded.pid;
    } else {
      opened = await openSession(exportDir, resolved, lease ? { name: lease.partition.device, type: lease.partition.type } : null);
    }
    const onPartition = lease ? opened.devices.find((d) => d.name.endsWith(lease.partition.device)) : undefined;
    if (lease && !onPartition) {
      await opened.session.close();
      throw new TensorFlowError('FAILED_PRECONDITION', `partition ${lease.partition.index} is ${lease.partition.device}, but this TensorFlow has no such ` +
        `device (it has ${opened.devices.map((d) => d.name).join(', ')}): ${lease.partition.type === 'GPU' ? 'a CPU-only TensorFlow, or no GPU visible to it; ' +
        'install a GPU TensorFlow (tfslice install-tensorflow --gpu); in a new process, configureRuntime({ cpuPartitions }) tries the same path on CPU' : 'TensorFlow made fewer CPU devices than asked'}`);
    }
    const gpuDevice = lease ? (onPartition!.type === 'GPU' ? onPartition : undefined) : opened.devices.find((d) => d.type === 'GPU');
    try {
      reservation.confirm(gpuDevice !== undefined);
    } catch (error) {
      await opened.session.close();
      throw error;
    }
    const loaded = new Model({
      path: exportDir,
      tags: resolved.tags,
      ...opened,
      gpu: {
        requestedFraction: resolved.gpu.fraction,
        memoryLimitBytes: gpuDevice ? gpuDevice.memoryBytes : null,
        device: lease ? lease.partition.gpu : resolved.gpu.device,
        partition: lease ? lease.partition.index : null,
      },
      partition: lease ? lease.partition : null,
      target: resolved.target,
      onDisposed: lease ? () => lease.release() : null,
      maxConcurrentRuns: resolved.maxConcurrentRuns ?? defaultMaxConcurrentRuns(tensorflow.oneDnn),
      isolation: resolved.isolation,
      hostPid,
      batching: resolved.batching,
      runTimeoutMs: resolved.runTimeoutMs,
    }, LOADING);
    model = new WeakRef(loaded);
    if (diedEarly) Model.crashed(loaded, diedEarly);
    return loaded;
  } catch (error) {
    reservation.release();
    throw error;
  }
}
