import { type RunSignal } from './abort';
import { type BatchEvent, type BatchingStats, type ResolvedBatching } from './batching';
import { type NumericDType } from './dtypes';
import { ModelCrashedError } from './errors';
import { type NativeSession } from './native';
import { type Isolation } from './gpu';
import { type LoadOptions } from './options';
import { type Partition } from './partitions';
import { type SessionConfig, type SignatureInfo } from './proto';
import { Tensor, type TensorLike } from './tensor';
import { type FeedValue } from './values';
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
/** A loaded SavedModel with its own TF_Session. Create it with loadModel(). */
export declare class Model {
    #private;
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
    /** True once dispose() was called. */
    get disposed(): boolean;
    /**
     * The MODEL_CRASHED error every later run() fails with, once this model's host process died
     * while it was not being disposed (isolation: 'process'; what onCrash() listeners are given);
     * null before, and always for an in-process model. `disposed` stays false until dispose(), and
     * `hostPid` keeps naming the host that died (helper-130).
     */
    get crash(): ModelCrashedError | null;
    /**
     * Runs of this model executing now (at most maxConcurrentRuns): started, or about to (a runner
     * thread takes them). Runner threads and a host's serving threads take runs while this is read:
     * for a pair that adds up (executing + queued), read both from one stats() call.
     */
    get runsExecuting(): number;
    /**
     * Runs waiting to execute, in call order: for their turn (maxConcurrentRuns), or, in-process,
     * for one of the addon's runner threads while every one is busy (with maxConcurrentRuns
     * Infinity, the default with oneDNN off, that is where runs wait), or, isolated, in the model's
     * host, not yet taken by one of its serving threads.
     */
    get runsQueued(): number;
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
    alloc<N extends NumericDType>(dtype: N, shape: readonly number[]): Tensor<N>;
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
    run(feeds: Feeds, options?: RunOptions): Promise<Record<string, Tensor>>;
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
    placement(feeds: Feeds, options?: Pick<RunOptions, 'signature'>): Promise<Record<string, string[]>>;
    /**
     * What the model did since it was loaded: runs executing and waiting now, and per batched
     * signature its batches (sizes, padding, retries, queue delay).
     */
    stats(): ModelStats;
    /**
     * Calls `listener` after each batch this model runs (LoadOptions.batching), with its size,
     * padding, requests and their queue delays: what the server's batching metrics count.
     * A listener that throws does not stop the others or the batch; its first error is reported
     * as a process warning (code `TFSLICE_LISTENER_ERROR`), its later ones dropped.
     * Returns a function that removes the listener; ERR_INVALID_ARG_TYPE for a listener that is not
     * a function.
     */
    onBatch(listener: (event: BatchEvent) => void): () => void;
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
    onCrash(listener: (error: ModelCrashedError) => void): () => void;
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
    runSync(feeds: Feeds, options?: RunOptions): Record<string, Tensor>;
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
    dispose(options?: {
        killAfterMs?: number;
    }): Promise<void>;
    /**
     * dispose() without options, for `await using model = await loadModel(...)` (TypeScript 5.2's
     * explicit resource management): the model is disposed at the end of its block, as dispose()
     * does it: runs begun finish first; runs not yet begun (waiting for a run slot, or for a runner
     * thread while every one is busy) reject with MODEL_DISPOSED, so await the runs a block starts
     * before it ends. The same promise as dispose().
     */
    [Symbol.asyncDispose](): Promise<void>;
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
export declare function loadModel(modelPath: string, options?: number | LoadOptions): Promise<Model>;
