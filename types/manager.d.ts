import type { Isolation } from './gpu';
import { type Feeds, type Model, type RunOptions } from './model';
import { type LoadOptions } from './options';
import { Tensor } from './tensor';
/**
 * Which versions on disk are served (TensorFlow Serving's model_version_policy).
 * 'latest' and `{ latest: n }`: the n (1) highest versions that load. A version that fails to
 * load (or warm up) is passed over for the next older one, until n serve or none is left; it
 * stays END with its error in status(), and is tried again once its files change.
 * `{ specific: [...] }` (those of them that exist) and 'all': exactly those versions; one that
 * fails stays END with its error, and no other version is loaded in its place.
 */
export type VersionPolicy = 'latest' | 'all' | {
    readonly latest: number;
} | {
    readonly specific: readonly number[];
};
/**
 * What a swap does when the GPU ledger cannot hold the old and the new version at once.
 * 'refuse': the new version fails with GPU_BUDGET_EXCEEDED and the old one keeps serving.
 * 'unload-first': the old version is drained and unloaded, then the new one loads; runs
 * arriving in between wait (up to queueTimeoutMs). If the new one still fails, the old one
 * is loaded again.
 */
export type SwapPolicy = 'refuse' | 'unload-first';
/** A version's state, as TensorFlow Serving names them (ModelVersionStatus.State). */
export type VersionState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';
/** A warm-up feed value: anything run() takes (a Tensor, `{ dtype, shape, data }`, or a value typed by the signature, such as JSON). */
export type WarmupValue = Feeds[string];
export type WarmupFeeds = Readonly<Record<string, WarmupValue>>;
export interface WarmupConfig {
    /** Feeds run once after each load, before the version becomes AVAILABLE; or a function returning them. */
    feeds: WarmupFeeds | (() => WarmupFeeds | Promise<WarmupFeeds>);
    /** Signature to run; the model's default when absent. */
    signature?: string;
    /** How many warm-up runs; default 1. */
    runs?: number;
}
export interface ManagedModelConfig {
    /** The name runs address the model by. */
    name: string;
    /** Directory whose numeric sub-directories (1, 2, 10, …) are the versions. */
    basePath: string;
    /** The model's share of the GPU's memory, (0, 1]; every version gets it. */
    gpuMemoryFraction?: number;
    /** 'process' hosts each version in a process of its own with its own budget. Default 'none'. */
    isolation?: Isolation;
    /** Tag-set to load; default ['serve']. */
    tags?: readonly string[];
    /** Default 'latest': the highest version that loads (see VersionPolicy). */
    versionPolicy?: VersionPolicy;
    /** Any other loadModel() option. */
    loadOptions?: Omit<LoadOptions, 'gpuMemoryFraction' | 'isolation' | 'tags'>;
    warmup?: WarmupConfig;
}
export interface ModelManagerConfig {
    models: readonly ManagedModelConfig[];
    /** A model without gpuMemoryFraction fails with NOT_FOUND "Fraction not set for model X". Default false. */
    requireGpuFraction?: boolean;
    /** Poll the base paths and load, swap and unload versions as they come and go. Default false. */
    watch?: boolean;
    /** Milliseconds between polls in watch mode. Default 1000 (TensorFlow Serving's file_system_poll_wait_seconds). */
    pollIntervalMs?: number;
    /** A version's files must stay unchanged this long (ms, seen at two looks) before it is loaded. Default 250. */
    settleMs?: number;
    /** Default 'refuse'. */
    swapPolicy?: SwapPolicy;
    /** How long a run waits for a version that is loading (ms) before it fails with UNAVAILABLE. Default 30000. */
    queueTimeoutMs?: number;
}
/** An error as status() reports it. */
export interface StatusError {
    readonly code: string;
    readonly message: string;
}
export interface VersionStatus {
    readonly version: number;
    readonly state: VersionState;
    /** The version directory. */
    readonly path: string;
    /** Why the version failed to load (or warm up); null otherwise. */
    readonly error: StatusError | null;
    /** Runs the manager routed to it that have not finished. */
    readonly inflight: number;
}
export interface ModelStatus {
    readonly name: string;
    readonly basePath: string;
    /** Every version seen, ascending. */
    readonly versions: readonly VersionStatus[];
    /** A problem of the model rather than a version: its fraction is not set, its base path cannot be read or holds no version. */
    readonly error: StatusError | null;
}
export interface StateEvent {
    readonly name: string;
    readonly version: number;
    readonly state: VersionState;
    /** With END after a failed load or warm-up. */
    readonly error?: Error;
}
export interface FailureEvent {
    readonly name: string;
    /** null for a problem of the model (fraction not set, base path unreadable, no version). */
    readonly version: number | null;
    readonly error: Error;
}
export interface ManagerRunOptions extends RunOptions {
    /** A specific version; default the newest AVAILABLE one. */
    version?: number;
}
export interface Prediction {
    readonly name: string;
    /** The version that served the run. */
    readonly version: number;
    readonly outputs: Record<string, Tensor>;
}
export interface ModelManagerEvents {
    state: [StateEvent];
    failure: [FailureEvent];
}
/**
 * Which of the candidate versions (ascending) a policy serves. The manager passes the versions
 * it may load: under 'latest' and `{ latest: n }` it leaves out those that failed with the files
 * they have now, so that the next older ones are chosen in their place.
 */
export declare function selectVersions(policy: VersionPolicy, candidates: readonly number[]): number[];
/**
 * Serves named, versioned SavedModels the way TensorFlow Serving's model manager does.
 * See the README, "Model manager".
 */
export declare class ModelManager {
    #private;
    constructor(config: ModelManagerConfig);
    /** Calls `listener` for every `event` ('state': a version changed state; 'failure': something failed). */
    on<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this;
    /** Like on(), for the next `event` only. */
    once<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this;
    /** Removes a listener added with on() or once(). */
    off<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this;
    /** A manager configured by a JSON file (same fields; relative base paths are resolved against the file's directory). */
    static fromFile(file: string): Promise<ModelManager>;
    /** The models' names, in configuration order. */
    get names(): string[];
    /**
     * Loads every model's versions as its policy says and, in watch mode, starts polling.
     * Resolves once each model's first load has finished, with status(): a model that failed
     * reports its error there (and in 'failure' events), start() does not reject for it. Under
     * 'latest', a newest version that fails to load is reported there too, and the highest older
     * version that loads serves in its place.
     */
    start(): Promise<ModelStatus[]>;
    /**
     * Loads a version: with none, puts the model back under its policy (after unload(name))
     * and resolves with the newest AVAILABLE version's Model; with one, loads that version and
     * keeps it loaded whatever the policy says, until unload(name, version). Rejects with the
     * load's error (NOT_FOUND "Fraction not set for model X" with requireGpuFraction).
     */
    load(name: string, version?: number): Promise<Model>;
    /**
     * Unloads a version (or, with none, every version, and stops applying the policy to the
     * model until load(name)). Runs already routed to it finish first. The policy does not
     * load an unloaded version again until load().
     */
    unload(name: string, version?: number): Promise<void>;
    /**
     * The Model of a version (default: the newest AVAILABLE one). Runs made on it directly are
     * not counted by the manager: a swap may dispose it under them (MODEL_DISPOSED). Use run().
     */
    get(name: string, version?: number): Model;
    /** Runs the newest AVAILABLE version (or options.version) and resolves with its outputs. */
    run(name: string, feeds: Feeds, options?: ManagerRunOptions): Promise<Record<string, Tensor>>;
    /**
     * run() that also says which version served (TensorFlow Serving's PredictResponse.model_spec).
     * Unknown model: NOT_FOUND naming the models there are. No AVAILABLE version: UNAVAILABLE with
     * the versions' states and errors, after waiting (up to queueTimeoutMs) while one is loading.
     */
    predict(name: string, feeds: Feeds, options?: ManagerRunOptions): Promise<Prediction>;
    /** Every model's status (or one model's), versions ascending. */
    status(): ModelStatus[];
    status(name: string): ModelStatus;
    /**
     * Stops watching and unloads every version: runs in flight finish, runs called from now on
     * reject with UNAVAILABLE. Idempotent; resolves once every version is END (and every
     * isolated host has exited). A stopped manager cannot be started again.
     */
    stop(): Promise<void>;
}
