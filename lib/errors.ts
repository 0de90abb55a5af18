/**
 * Errors with a stable `code`: TensorFlow's status names for what TensorFlow (or
 * our checks made on its behalf) reports, and tfslice's own codes.
 */

/** TensorFlow status codes (tensorflow/core/protobuf/error_codes.proto). */
export type TensorFlowCode =
  | 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND'
  | 'ALREADY_EXISTS' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION'
  | 'ABORTED' | 'OUT_OF_RANGE' | 'UNIMPLEMENTED' | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/** tfslice's own codes. */
export type TfsliceCode =
  | 'LIBRARY_NOT_FOUND' | 'LIBRARY_INCOMPATIBLE' | 'MODEL_DISPOSED'
  | 'GPU_BUDGET_EXCEEDED' | 'GPU_CONFIG_CONFLICT' | 'MODEL_CRASHED';

/** Every `code` a {@link TfsliceError} can carry: TensorFlow's status names and tfslice's own. */
export type ErrorCode = TensorFlowCode | TfsliceCode;

const TENSORFLOW_CODES: ReadonlySet<string> = new Set<TensorFlowCode>([
  'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
]);

/** Base class of every error tfslice raises, apart from option TypeError/RangeError. */
export class TfsliceError extends Error {
  /** What went wrong, stable across versions and messages: branch on this, not on `message`. */
  readonly code: ErrorCode;
  /** @param options `cause`: the error this one reports (Error's own option) */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A TensorFlow status, or a check tfslice made in TensorFlow's terms before calling it. */
export class TensorFlowError extends TfsliceError {
  /** TensorFlow's status code (TF_Code), as TensorFlow reported it or as its own check would. */
  declare readonly code: TensorFlowCode;
}

/** INVALID_ARGUMENT: a feed, shape or option that TensorFlow would (or did) refuse. */
export class InvalidArgumentError extends TensorFlowError {
  /** Always 'INVALID_ARGUMENT'. */
  declare readonly code: 'INVALID_ARGUMENT';
  /** @param message what was refused and how to fix it, naming the field */
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** NOT_FOUND: a path, signature, tag-set or tensor name that does not exist. */
export class NotFoundError extends TensorFlowError {
  /** Always 'NOT_FOUND'. */
  declare readonly code: 'NOT_FOUND';
  /** @param message what was not found, and what there is */
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', message, options);
  }
}

/**
 * NOT_FOUND from a ModelManager: no model of that name, or no such version of it (`version`
 * set). `model` and `version` say which, so a server can word it as TensorFlow Serving does
 * ("Servable not found for request: Latest(name)").
 */
export class ServableNotFoundError extends NotFoundError {
  /** The model name asked for. */
  readonly model: string;
  /** The version asked for; undefined when the model itself is unknown. */
  readonly version: number | undefined;
  /** The version label asked for, of a model that is unknown (TensorFlow Serving answers INVALID_ARGUMENT for it). */
  readonly label: string | undefined;
  /** The fields as documented above; `version` and `label` undefined when not asked for. */
  constructor(message: string, model: string, version?: number, label?: string) {
    super(message);
    this.model = model;
    this.version = version;
    this.label = label;
  }
}

/** Which limit a {@link QueueFullError} hit. */
export type QueueName =
  /** A signature's batch queue: batching.maxEnqueuedBatches batches wait. */
  | 'batch'
  /** A ModelManager model's request cap: maxQueuedRequests requests held. */
  | 'model'
  /** tfslice serve's codec threads: 8 big bodies per thread in their hands. */
  | 'codec';

/**
 * UNAVAILABLE because a queue is at its limit: the request was refused at once, without
 * running (load shedding), and the same request may succeed later. TensorFlow Serving answers a
 * full batch queue with UNAVAILABLE too. tfslice serve answers it 503 and closes the connection
 * (`Connection: close`; HTTP/1, with no request pipelined behind it), so that a client that
 * resends at once reconnects first (see README, "Overload").
 */
export class QueueFullError extends TensorFlowError {
  /** Always 'UNAVAILABLE' (TensorFlow Serving's code for a full batch queue). */
  declare readonly code: 'UNAVAILABLE';
  /** The queue that is full. */
  readonly queue: QueueName;
  /** @param queue the queue that is full */
  constructor(queue: QueueName, message: string) {
    super('UNAVAILABLE', message);
    this.queue = queue;
  }
}

/** No usable libtensorflow; the message lists what was tried and how to fix it. */
export class LibraryNotFoundError extends TfsliceError {
  /** LIBRARY_NOT_FOUND when none was found; LIBRARY_INCOMPATIBLE when one was found that lacks functions tfslice needs (an older TensorFlow). */
  declare readonly code: 'LIBRARY_NOT_FOUND' | 'LIBRARY_INCOMPATIBLE';
  /** Each place looked at, with what was found there. */
  readonly tried: readonly string[];
  /** @param tried each place looked at, with what was found there */
  constructor(message: string, tried: readonly string[], code: 'LIBRARY_NOT_FOUND' | 'LIBRARY_INCOMPATIBLE' = 'LIBRARY_NOT_FOUND') {
    super(code, message);
    this.tried = tried;
  }
}

/** The model was disposed before this call started. */
export class ModelDisposedError extends TfsliceError {
  /** Always 'MODEL_DISPOSED'. */
  declare readonly code: 'MODEL_DISPOSED';
  /** @param message by default, that the model was disposed and must be loaded again */
  constructor(message = 'the model was disposed; load it again to run it') {
    super('MODEL_DISPOSED', message);
  }
}

/** A model holding part of a GPU's budget, as GPU errors name it. */
export interface GpuHolder {
  /** The model's SavedModel path, or "in-process TensorFlow" for this process's slice. */
  readonly model: string;
  /** Its share of the GPU, a fraction; 0 for a partition holder (its budget is the partition). */
  readonly fraction: number;
  /** How it runs: 'none' in this process, 'process' in a host process of its own (LoadOptions.isolation). */
  readonly isolation: 'none' | 'process';
  /** The partition it holds (configureRuntime({ gpuPartitions })); absent for a fraction holder. */
  readonly partition?: number;
}

/** GPU_BUDGET_EXCEEDED: the fractions of live models on that GPU would sum past 1.0. */
export class GpuBudgetExceededError extends TfsliceError {
  /** Always 'GPU_BUDGET_EXCEEDED'. */
  declare readonly code: 'GPU_BUDGET_EXCEEDED';
  /** Physical GPU index. */
  readonly device: number;
  /** Who holds the rest. */
  readonly holders: readonly GpuHolder[];
  /**
   * @param device the physical GPU index
   * @param holders the models holding its budget
   */
  constructor(message: string, device: number, holders: readonly GpuHolder[]) {
    super('GPU_BUDGET_EXCEEDED', message);
    this.device = device;
    this.holders = holders;
  }
}

/** GPU_CONFIG_CONFLICT: this process's TensorFlow already has other GPU options. */
export class GpuConfigConflictError extends TfsliceError {
  /** Always 'GPU_CONFIG_CONFLICT'. */
  declare readonly code: 'GPU_CONFIG_CONFLICT';
  /** @param message the options asked for, those in force, and which model fixed them */
  constructor(message: string) {
    super('GPU_CONFIG_CONFLICT', message);
  }
}

/** @internal How a Model's MODEL_CRASHED message ends: what to do (a ModelManager says its own). */
export const CRASHED_ADVICE = 'the model stays failed: load it again to run it';

/** MODEL_CRASHED: the model's host process died; the model stays failed. */
export class ModelCrashedError extends TfsliceError {
  /** Always 'MODEL_CRASHED'. */
  declare readonly code: 'MODEL_CRASHED';
  /** @param message how the host died (signal or exit code) and what to do */
  constructor(message: string) {
    super('MODEL_CRASHED', message);
  }
}

/** Error as the native layer throws it: an Error with a string `code`. */
interface CodedError extends Error {
  code?: unknown;
}

/**
 * Turns an error from the native layer into the matching tfslice class, keeping
 * TensorFlow's message text. Anything without a known code is returned as is.
 */
export function fromNative(error: unknown, context?: string): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as CodedError).code;
  if (typeof code !== 'string') return error;
  const message = context ? `${context}: ${error.message}` : error.message;
  switch (code) {
    case 'MODEL_DISPOSED': return new ModelDisposedError(message);
    case 'LIBRARY_NOT_FOUND':
    case 'LIBRARY_INCOMPATIBLE': return new LibraryNotFoundError(message, [], code);
    default:
      if (TENSORFLOW_CODES.has(code)) return tensorFlowError(code as TensorFlowCode, message, { cause: error });
      return error;
  }
}

/** @internal A TensorFlow status as its class: InvalidArgumentError, NotFoundError, else TensorFlowError. */
export function tensorFlowError(code: TensorFlowCode, message: string, options?: { cause?: unknown }): TensorFlowError {
  if (code === 'INVALID_ARGUMENT') return new InvalidArgumentError(message, options);
  if (code === 'NOT_FOUND') return new NotFoundError(message, options);
  return new TensorFlowError(code, message, options);
}

/** A TypeError whose message names the offending field (Node's ERR_INVALID_ARG_TYPE). */
export function invalidType(field: string, expected: string, got: unknown): TypeError {
  const error = new TypeError(`${field} must be ${expected}, got ${describe(got)}`);
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

/** A TypeError for a value of the right type that cannot be used, naming the field and why (Node's ERR_INVALID_ARG_VALUE). */
export function invalidValue(field: string, reason: string): TypeError {
  const error = new TypeError(`${field} is invalid: ${reason}`);
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  return error;
}

/**
 * @internal `expected` ("an integer ≥ 0"), with the upper bound that every whole-number field has
 * (2^53 − 1, the largest integer a JS number holds exactly) where `got` is past it: else the
 * message named a value that met the rule it stated (helper-120: "must be an integer ≥ 0, got
 * 9007199254740992").
 */
export function wholeExpected(expected: string, got: unknown): string {
  // A bigint: a text-format integer read exactly (helper-139: 9007199254740993 in version_labels).
  return (typeof got === 'number' || typeof got === 'bigint') && got > Number.MAX_SAFE_INTEGER ? `${expected} and at most 2^53 − 1 (Number.MAX_SAFE_INTEGER)` : expected;
}

/** A RangeError whose message names the offending field (Node's ERR_OUT_OF_RANGE). */
export function outOfRange(field: string, expected: string, got: unknown): RangeError {
  const error = new RangeError(`${field} must be ${expected}, got ${describe(got)}`);
  (error as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return error;
}

/**
 * The indefinite article for `word`, by its sound: 'an' before a vowel sound (an int64,
 * an Int32Array, an 8-bit), 'a' otherwise (a uint8, a Uint8Array, a oneDNN, a float32).
 */
export function article(word: string): 'a' | 'an' {
  // Without regular expressions: error messages are made at the caller's JS depth (runSync()'s
  // feeds), where V8 compiling one at the stack's limit can end the process (helper-109).
  const w = word.toLowerCase();
  // u read as "you" (uint, unique, usual, utility) and o read as "w" (one, once, oneDNN) take 'a'.
  if (['uint', 'uni', 'use', 'usu', 'uti', 'one', 'onc'].some((p) => w.startsWith(p))) return 'a';
  const digitAt = (i: number) => w.charCodeAt(i) >= 0x30 && w.charCodeAt(i) <= 0x39;
  if ('aeiou8'.includes(w.charAt(0)) && w.length > 0) return 'an';
  return (w.startsWith('11') || w.startsWith('18')) && !digitAt(2) ? 'an' : 'a';
}

/** `word` with its indefinite article: withArticle('int64') is 'an int64'. */
export function withArticle(word: string): string {
  return `${article(word)} ${word}`;
}

/** A short, safe rendering of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return withArticle(value.constructor.name);
  switch (typeof value) {
    case 'string': return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'number': case 'boolean': return String(value);
    case 'bigint': return `${value}n`; // 4n, not 4: a bigint where a number is wanted reads as one
    case 'undefined': return 'undefined';
    case 'function': return 'a function';
    case 'symbol': return `a symbol (${String(value)})`;
    default: return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  }
}
