/**
 * Errors with a stable `code`: TensorFlow's status names for what TensorFlow (or
 * our checks made on its behalf) reports, and tfslice's own codes.
 */
/** TensorFlow status codes (tensorflow/core/protobuf/error_codes.proto). */
export type TensorFlowCode = 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION' | 'ABORTED' | 'OUT_OF_RANGE' | 'UNIMPLEMENTED' | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS' | 'UNAUTHENTICATED';
/** tfslice's own codes. */
export type TfsliceCode = 'LIBRARY_NOT_FOUND' | 'LIBRARY_INCOMPATIBLE' | 'MODEL_DISPOSED' | 'GPU_BUDGET_EXCEEDED' | 'GPU_CONFIG_CONFLICT' | 'MODEL_CRASHED';
/** Every `code` a {@link TfsliceError} can carry: TensorFlow's status names and tfslice's own. */
export type ErrorCode = TensorFlowCode | TfsliceCode;
/** Base class of every error tfslice raises, apart from option TypeError/RangeError. */
export declare class TfsliceError extends Error {
    /** What went wrong, stable across versions and messages: branch on this, not on `message`. */
    readonly code: ErrorCode;
    /** @param options `cause`: the error this one reports (Error's own option) */
    constructor(code: ErrorCode, message: string, options?: {
        cause?: unknown;
    });
}
/** A TensorFlow status, or a check tfslice made in TensorFlow's terms before calling it. */
export declare class TensorFlowError extends TfsliceError {
    /** TensorFlow's status code (TF_Code), as TensorFlow reported it or as its own check would. */
    readonly code: TensorFlowCode;
}
/** INVALID_ARGUMENT: a feed, shape or option that TensorFlow would (or did) refuse. */
export declare class InvalidArgumentError extends TensorFlowError {
    /** Always 'INVALID_ARGUMENT'. */
    readonly code: 'INVALID_ARGUMENT';
    /** @param message what was refused and how to fix it, naming the field */
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
/** NOT_FOUND: a path, signature, tag-set or tensor name that does not exist. */
export declare class NotFoundError extends TensorFlowError {
    /** Always 'NOT_FOUND'. */
    readonly code: 'NOT_FOUND';
    /** @param message what was not found, and what there is */
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
/**
 * NOT_FOUND from a ModelManager: no model of that name, or no such version of it (`version`
 * set). `model` and `version` say which, so a server can word it as TensorFlow Serving does
 * ("Servable not found for request: Latest(name)").
 */
export declare class ServableNotFoundError extends NotFoundError {
    /** The model name asked for. */
    readonly model: string;
    /** The version asked for; undefined when the model itself is unknown. */
    readonly version: number | undefined;
    /** The version label asked for, of a model that is unknown (TensorFlow Serving answers INVALID_ARGUMENT for it). */
    readonly label: string | undefined;
    /** The fields as documented above; `version` and `label` undefined when not asked for. */
    constructor(message: string, model: string, version?: number, label?: string);
}
/** Which limit a {@link QueueFullError} hit. */
export type QueueName = 
/** A signature's batch queue: batching.maxEnqueuedBatches batches wait. */
'batch'
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
export declare class QueueFullError extends TensorFlowError {
    /** Always 'UNAVAILABLE' (TensorFlow Serving's code for a full batch queue). */
    readonly code: 'UNAVAILABLE';
    /** The queue that is full. */
    readonly queue: QueueName;
    /** @param queue the queue that is full */
    constructor(queue: QueueName, message: string);
}
/** No usable libtensorflow; the message lists what was tried and how to fix it. */
export declare class LibraryNotFoundError extends TfsliceError {
    /** LIBRARY_NOT_FOUND when none was found; LIBRARY_INCOMPATIBLE when one was found that lacks functions tfslice needs (an older TensorFlow). */
    readonly code: 'LIBRARY_NOT_FOUND' | 'LIBRARY_INCOMPATIBLE';
    /** Each place looked at, with what was found there. */
    readonly tried: readonly string[];
    /** @param tried each place looked at, with what was found there */
    constructor(message: string, tried: readonly string[], code?: 'LIBRARY_NOT_FOUND' | 'LIBRARY_INCOMPATIBLE');
}
/** The model was disposed before this call started. */
export declare class ModelDisposedError extends TfsliceError {
    /** Always 'MODEL_DISPOSED'. */
    readonly code: 'MODEL_DISPOSED';
    /** @param message by default, that the model was disposed and must be loaded again */
    constructor(message?: string);
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
export declare class GpuBudgetExceededError extends TfsliceError {
    /** Always 'GPU_BUDGET_EXCEEDED'. */
    readonly code: 'GPU_BUDGET_EXCEEDED';
    /** Physical GPU index. */
    readonly device: number;
    /** Who holds the rest. */
    readonly holders: readonly GpuHolder[];
    /**
     * @param device the physical GPU index
     * @param holders the models holding its budget
     */
    constructor(message: string, device: number, holders: readonly GpuHolder[]);
}
/** GPU_CONFIG_CONFLICT: this process's TensorFlow already has other GPU options. */
export declare class GpuConfigConflictError extends TfsliceError {
    /** Always 'GPU_CONFIG_CONFLICT'. */
    readonly code: 'GPU_CONFIG_CONFLICT';
    /** @param message the options asked for, those in force, and which model fixed them */
    constructor(message: string);
}
/** MODEL_CRASHED: the model's host process died; the model stays failed. */
export declare class ModelCrashedError extends TfsliceError {
    /** Always 'MODEL_CRASHED'. */
    readonly code: 'MODEL_CRASHED';
    /** @param message how the host died (signal or exit code) and what to do */
    constructor(message: string);
}
/**
 * Turns an error from the native layer into the matching tfslice class, keeping
 * TensorFlow's message text. Anything without a known code is returned as is.
 */
export declare function fromNative(error: unknown, context?: string): unknown;
/** A TypeError whose message names the offending field (Node's ERR_INVALID_ARG_TYPE). */
export declare function invalidType(field: string, expected: string, got: unknown): TypeError;
/** A TypeError for a value of the right type that cannot be used, naming the field and why (Node's ERR_INVALID_ARG_VALUE). */
export declare function invalidValue(field: string, reason: string): TypeError;
/** A RangeError whose message names the offending field (Node's ERR_OUT_OF_RANGE). */
export declare function outOfRange(field: string, expected: string, got: unknown): RangeError;
/**
 * The indefinite article for `word`, by its sound: 'an' before a vowel sound (an int64,
 * an Int32Array, an 8-bit), 'a' otherwise (a uint8, a Uint8Array, a oneDNN, a float32).
 */
export declare function article(word: string): 'a' | 'an';
/** `word` with its indefinite article: withArticle('int64') is 'an int64'. */
export declare function withArticle(word: string): string;
/** A short, safe rendering of a value for error messages. */
export declare function describe(value: unknown): string;
