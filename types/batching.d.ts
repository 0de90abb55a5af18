import { TensorFlowError } from './errors';
import { type NativeTensors } from './native';
import type { SignatureInfo } from './proto';
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
export type ResolvedBatching = {
    readonly [K in keyof BatchingOptions]-?: Exclude<BatchingOptions[K], undefined>;
};
/**
 * Validates the `batching` load option; null when batching is off (undefined or false).
 *
 * @param where the option's name in messages ('batching', 'models[0].batching')
 * @throws TypeError (ERR_INVALID_ARG_TYPE) or RangeError (ERR_OUT_OF_RANGE) naming the field
 */
export declare function resolveBatching(value: unknown, where?: string): ResolvedBatching | null;
/**
 * Why a signature cannot be batched, or null when it can: every input and output must be a
 * dense tensor whose leading dimension is unknown (-1), the batch dimension.
 */
export declare function unbatchableReason(info: SignatureInfo): string | null;
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
/**
 * `DEADLINE_EXCEEDED` for a run dropped before it started, past its `runTimeoutMs` (or a server's
 * request time limit): it waited for its turn (`maxConcurrentRuns`), a runner thread, its model
 * host, a batch queue or a version to load, and TensorFlow never saw it, so running it again
 * cannot do its work twice. A run that TensorFlow stopped, or that ran, is a plain
 * `TensorFlowError` with the same code. Thrown by `run()`, `predict()` and `ModelManager.run()`;
 * not meant to be constructed.
 */
export declare class NotStartedError extends TensorFlowError {
    /**
     * What it waited for besides a batch queue (whose wait the message tells), in words:
     * 'a run slot (maxConcurrentRuns)', 'a runner thread', 'its model host', 'a version to load'.
     */
    readonly waitedFor: string;
}
