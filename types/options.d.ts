/**
 * loadModel options: validated field by field (TypeError / RangeError naming the
 * field) and turned into the ConfigProto bytes TF_SetConfig takes.
 */
import { type BatchingOptions, type ResolvedBatching } from './batching';
import type { GpuRequest, Isolation } from './gpu';
import { type OpPolicy } from './ops';
import { type SessionConfig } from './proto';
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
export declare const DEFAULT_REMOTE_OPERATION_TIMEOUT_MS = 60000;
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
/** inter_op_parallelism_threads when neither interOpThreads nor sessionConfig sets it. */
export declare const DEFAULT_INTER_OP_THREADS = -1;
/**
 * maxConcurrentRuns when none is given: one at a time unless oneDNN is known to be off.
 * Kept although the reported oneDNN crash did not reproduce on AVX2, AVX512 EPYC or AMX hosts
 * (README, Concurrency): a crash ends the process and every model in it, while serialising
 * costs a bounded share of throughput (11-43 % at 2 in flight on 2 vCPUs, AMX host) and can be lifted.
 */
export declare function defaultMaxConcurrentRuns(oneDnn: boolean | null): number;
/**
 * The most threads a TensorFlow pool option may ask for. TensorFlow starts a pool's threads when
 * the session (or the restore) makes it, and aborts the process when one cannot be created:
 * intraOpThreads 16384 aborted a 2-vCPU host, 100000 hung the load, 1e9 crashed it; 4096 loaded
 * `tiny` in 10 s. No host has use for more pool threads than this.
 */
export declare const MAX_POOL_THREADS = 1024;
/** A run timeout in ms: a whole number ≥ 0 (0: none), within what TensorFlow takes (int64). */
export declare function runTimeout(field: string, value: unknown): number;
/** Validates loadModel's second argument: a GPU fraction or an options object. */
export declare function resolveLoadOptions(arg: unknown): ResolvedOptions;
/** The smallest hostMemoryLimitBytes: 256 MiB. */
export declare const MIN_HOST_MEMORY_LIMIT_BYTES: number;
