import type { Isolation } from '../gpu';
import type { Feeds, Model } from '../model';
import type { RunSignal } from '../abort';
import type { BatchingOptions } from '../batching';
import { type LoadOptions } from '../options';
/**
 * Which versions on disk are served (TensorFlow Serving's model_version_policy).
 * 'latest' and `{ latest: n }`: the n (1) highest versions that load. A version that fails to
 * load (or warm up) is passed over for the next older one, until n serve or none is left; it
 * stays END with its error in status(), and is tried again once its files change.
 * `{ specific: [...] }` (those of them that exist) and 'all': exactly those versions; one that
 * fails stays END with its error, and no other version is loaded in its place.
 */
export type VersionPolicy = 'latest' | 'all' | {
    /** How many of the highest versions that load are served, an integer ≥ 1 (TensorFlow Serving's latest.num_versions). */
    readonly latest: number;
} | {
    /** The version numbers served, those of them that exist (TensorFlow Serving's specific.versions). */
    readonly specific: readonly number[];
};
/**
 * What a swap does when the GPU ledger cannot hold the old and the new version at once.
 * 'refuse': the new version fails with GPU_BUDGET_EXCEEDED and the old one keeps serving.
 * 'unload-first': the old version is drained and unloaded, then the new one loads; runs
 * arriving in between wait (up to queueTimeoutMs). If the new one still fails, the old one
 * is loaded again, with the options it ran with. A new version that would not fit even without
 * the old ones is refused as under 'refuse', and the old one serves on.
 */
export type SwapPolicy = 'refuse' | 'unload-first';
/** A warm-up feed value: anything run() takes (a Tensor, `{ dtype, shape, data }`, or a value typed by the signature, such as JSON). */
export type WarmupValue = Feeds[string];
/** Warm-up feeds by signature input key, as run() takes them. */
export type WarmupFeeds = Readonly<Record<string, WarmupValue>>;
/**
 * What runs on each version once it is loaded, before it becomes AVAILABLE: `feeds` (under
 * `signature`), or a function of its own (`run`); exactly one of the two. A warm-up that fails
 * fails the version.
 */
export interface WarmupConfig {
    /** Feeds run after each load; or a function returning them. */
    feeds?: WarmupFeeds | (() => WarmupFeeds | Promise<WarmupFeeds>) | undefined;
    /** Signature the feeds run under; the model's default when absent. Only with `feeds`. */
    signature?: string | undefined;
    /**
     * A warm-up of its own, called with the version's model and where it was loaded from; e.g.
     * TensorFlow Serving's warm-up requests file: `(model, { path }) => runSavedModelWarmup(model, path)`
     * (from tfslice's serve module). `signal` aborts when the warm-up is stopped (stop(), a reload
     * removing the model): the manager disposes the model and ends the version then, without
     * waiting for the function, which should stop its own work on that signal (an AbortSignal,
     * typed as RunSignal so that the declarations need no DOM or Node types; pass it to run()).
     */
    run?: ((model: Model, version: {
        version: number;
        path: string;
        signal: RunSignal;
    }) => Promise<unknown>) | undefined;
    /** How many times the feeds run, or `run` is called; default 1. */
    runs?: number | undefined;
}
/**
 * One model of a {@link ModelManagerConfig}: TensorFlow Serving's ModelConfig (name, base_path,
 * model_version_policy, version_labels) with tfslice's own GPU share, isolation, batching and
 * load options.
 */
export interface ManagedModelConfig {
    /** The name runs address the model by. */
    name: string;
    /** Directory whose numeric sub-directories (1, 2, 10, …) are the versions. */
    basePath: string;
    /** The model's share of the GPU's memory, (0, 1]; every version gets it. */
    gpuMemoryFraction?: number | undefined;
    /** 'process' hosts each version in a process of its own with its own budget. Default 'none'. */
    isolation?: Isolation | undefined;
    /** Tag-set to load; default ['serve']. */
    tags?: readonly string[] | undefined;
    /** Default 'latest': the highest version that loads (see VersionPolicy). */
    versionPolicy?: VersionPolicy | undefined;
    /**
     * Dynamic batching for every version (loadModel's `batching`: true, or TensorFlow Serving's
     * BatchingParameters as an object). Default off; `tfslice serve --enable_batching` sets it for
     * models that leave it out.
     */
    batching?: boolean | BatchingOptions | undefined;
    /** Any other loadModel() option. */
    loadOptions?: Omit<LoadOptions, 'gpuMemoryFraction' | 'isolation' | 'tags' | 'batching'> | undefined;
    /**
     * What runs on each version after it loads, before it is AVAILABLE (see WarmupConfig). Default
     * none; `tfslice serve` (--enable_model_warmup, on by default) runs each version's
     * assets.extra/tf_serving_warmup_requests for models that leave it out.
     */
    warmup?: WarmupConfig | undefined;
    /**
     * Names for versions (TensorFlow Serving's version_labels): `{ stable: 1, canary: 2 }`. A run
     * may ask for a label instead of a version; it goes to that version when it is AVAILABLE.
     */
    versionLabels?: Readonly<Record<string, number>> | undefined;
    /**
     * Requests of this model held at once (waiting for a version, queued for a run slot or a
     * batch, or running): more fail at once with UNAVAILABLE (a QueueFullError; HTTP 503), so one hot model cannot
     * take the process's memory. An integer ≥ 1 or Infinity (default; `tfslice serve` sets 1024,
     * --max_queued_requests_per_model).
     */
    maxQueuedRequests?: number | undefined;
}
/**
 * A ModelManager's configuration: tfslice's JSON counterpart of TensorFlow Serving's
 * ModelServerConfig (`{ models: [{ name, basePath }] }`; see README "Model manager").
 * ModelManager.fromFile() reads it, or TensorFlow Serving's text format, from a file (not
 * TensorFlow Serving's proto JSON). `new ModelManager(config)` checks it and throws
 * ERR_INVALID_ARG_TYPE or ERR_OUT_OF_RANGE naming the field (`models[2].basePath`).
 */
export interface ModelManagerConfig {
    /** The models; [] for none yet (reconfigure() adds them), as TensorFlow Serving's empty model_config_list. */
    models: readonly ManagedModelConfig[];
    /** A model without gpuMemoryFraction fails with NOT_FOUND "Fraction not set for model X". Default false. */
    requireGpuFraction?: boolean | undefined;
    /** Poll the base paths and load, swap and unload versions as they come and go. Default false. */
    watch?: boolean | undefined;
    /** Milliseconds between polls in watch mode. Default 1000 (TensorFlow Serving's file_system_poll_wait_seconds). */
    pollIntervalMs?: number | undefined;
    /** A version's files must stay unchanged this long (ms, seen at two looks) before it is loaded. Default 250. */
    settleMs?: number | undefined;
    /** Default 'refuse'. */
    swapPolicy?: SwapPolicy | undefined;
    /** How long a run waits for a version that is loading (ms) before it fails with UNAVAILABLE. Default 30000. */
    queueTimeoutMs?: number | undefined;
    /**
     * TensorFlow Serving's --allow_version_labels_for_unavailable_models: reconfigure() may give a
     * label that is new (or unchanged) a version that is not AVAILABLE yet (say, before it is
     * pushed); moving a label from one version to another still needs the new one AVAILABLE.
     * A run that asks for such a label gets its version's answer: NOT_FOUND while there is no such
     * version, a wait while it loads. Default false.
     */
    allowVersionLabelsForUnavailableModels?: boolean | undefined;
}
/**
 * Reads a configuration file: JSON (a ModelManagerConfig object), or TensorFlow Serving's model
 * config (a text-format ModelServerConfig: any text that neither parses as JSON nor starts with
 * '{' or '['). A JSON file's relative base paths are resolved against its directory; a text-format
 * file's, as TensorFlow Serving reads them, against the working directory.
 *
 * @throws SyntaxError for JSON or text format that does not parse; TypeError/RangeError naming
 *   the field (in TensorFlow Serving's names for a text-format file), also for JSON that is not
 *   an object or is TensorFlow Serving's ModelServerConfig as proto JSON; NOT_FOUND for a missing
 *   file; RangeError (ERR_FS_FILE_TOO_LARGE) for one over 16 MiB, before the rest of it is read
 */
export declare function readConfigFile(file: string): Promise<ModelManagerConfig>;
