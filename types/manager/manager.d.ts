import { type Feeds, type Model } from '../model';
import { type RunSignal } from '../abort';
import type { Tensor } from '../tensor';
import { type ManagedModelConfig, type ModelManagerConfig } from './config';
import { type ManagerRunOptions, type ModelManagerEvents, type ModelStatus, type Prediction } from './state';
/**
 * Serves named, versioned SavedModels the way TensorFlow Serving's model manager does.
 * See the README, "Model manager".
 */
export declare class ModelManager {
    #private;
    /**
     * Checks `config`; nothing loads until start().
     * @throws ERR_INVALID_ARG_TYPE (TypeError) or ERR_OUT_OF_RANGE (RangeError) naming the field
     *   (`models[2].basePath`, `config.swapPolicy`) and what it takes
     */
    constructor(config: ModelManagerConfig);
    /**
     * Serves a new list of models, as TensorFlow Serving's HandleReloadConfigRequest does: a model
     * left out is unloaded (its runs in flight finish; runs waiting for it, and later ones, fail
     * with NOT_FOUND; a load or warm-up of it under way stops at once, as at stop()) and forgotten,
     * and the call does not wait for that (as TensorFlow Serving
     * waits for the models a reload adds, not for those it removes; stop() waits for them, and a
     * model added back loads once its removal has ended); a new one is loaded; a model kept by name takes its new
     * configuration (version policy at once; load options for versions loaded from now on) and its
     * versions are reconciled with it, without holding the call when it is loading a version now
     * and its base path and version policy are unchanged (that look waits behind the load). The
     * manager-level settings stay. Labels apply last, once
     * every removal and load has finished, and only if each names an AVAILABLE version (TensorFlow
     * Serving's UpdateModelVersionLabelMap). Resolves with status(). Before start() it only
     * replaces the list.
     *
     * Calls apply one at a time, in the order they were made (TensorFlow Serving holds one lock
     * over a reload): a list given while another is being applied waits for it, so the last call
     * made is the configuration that stays.
     *
     * @throws TypeError/RangeError naming the field (`models[1].basePath`), before anything changes;
     *   FAILED_PRECONDITION when a label names a version that is not AVAILABLE (the other changes
     *   are made, no label changes); UNAVAILABLE once stopped
     */
    reconfigure(models: readonly ManagedModelConfig[]): Promise<ModelStatus[]>;
    /**
     * Calls `listener` for every `event` ('state': a version changed state; 'failure': something
     * failed; 'batch': a batch ran). Listeners are called in the order they were added, during the
     * manager's own work: one that throws (or, async, rejects: it is not waited for) does not stop
     * the others or that work, and its first error is reported as a process warning
     * (`process.emitWarning`, code `TFSLICE_LISTENER_ERROR`), its later ones dropped.
     */
    on<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this;
    /** Like on(), for the next `event` only. */
    once<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this;
    /** Removes a listener added with on() or once(). */
    off<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this;
    /**
     * A manager configured by a file: the JSON configuration, or TensorFlow Serving's model config
     * (a text-format ModelServerConfig, --model_config_file), told apart by content. Relative base
     * paths are resolved against the file's directory. `extra` adds manager-level settings (watch,
     * pollIntervalMs, ...) to what the file says.
     * @throws SyntaxError (TextFormatError for a text-format file) naming the line; the
     *   configuration's own TypeError/RangeError naming the field; NOT_FOUND for a missing file;
     *   RangeError (ERR_FS_FILE_TOO_LARGE) for a file over 16 MiB
     */
    static fromFile(file: string, extra?: Omit<ModelManagerConfig, 'models'>): Promise<ModelManager>;
    /** The models' names, in configuration order. */
    get names(): string[];
    /** Whether a model of this name is configured (loaded or not). */
    has(name: string): boolean;
    /**
     * Loads every model's versions as its policy says and, in watch mode, starts polling.
     * Resolves once each model's first load has finished, with status(): a model that failed
     * reports its error there (and in 'failure' events), start() does not reject for it. Under
     * 'latest', a newest version that fails to load is reported there too, and the highest older
     * version that loads serves in its place. Rejects with UNAVAILABLE once stopped.
     */
    start(): Promise<ModelStatus[]>;
    /**
     * Loads a version: with none, puts the model back under its policy (after unload(name))
     * and resolves with the newest AVAILABLE version's Model; with one, loads that version and
     * keeps it loaded whatever the policy says, until unload(name, version); runs asking for that
     * version meanwhile wait for it (up to queueTimeoutMs). Rejects with the load's error
     * (NOT_FOUND "Fraction not set for model X" with requireGpuFraction; NOT_FOUND when the
     * version's directory is missing), UNAVAILABLE when the version's files changed within settleMs
     * (naming them), once stopped, and when stop() is called while it loads; UNAVAILABLE before
     * start() (nothing loads until then).
     */
    load(name: string, version?: number): Promise<Model>;
    /**
     * Unloads a version (or, with none, every version, and stops applying the policy to the
     * model until load(name)). Runs already routed to it finish first. The policy does not
     * load an unloaded version again until load(); a version whose directory the last look saw
     * but that is not loaded is kept from loading so. Rejects with NOT_FOUND for a version with
     * no directory, and with UNAVAILABLE before start() and once stopped (stop() unloads every
     * version itself).
     */
    unload(name: string, version?: number): Promise<void>;
    /**
     * The Model of a version (default: the newest AVAILABLE one). Runs made on it directly are
     * not counted by the manager: a swap may dispose it under them (MODEL_DISPOSED). Use run().
     * The manager owns it: do not dispose() it (unload(name, version) does that); one disposed
     * here is found at its next run() through the manager, which rejects MODEL_DISPOSED and takes
     * the version out of routing, END with that error (loaded again at once with watch, as a
     * crashed host).
     * @throws NOT_FOUND (unknown model or version, or a version let go of), UNAVAILABLE (before
     *   start(), while no version is AVAILABLE yet, a version that failed, once stopped)
     */
    get(name: string, version?: number): Model;
    /** Runs the newest AVAILABLE version (or options.version) and resolves with its outputs. */
    run(name: string, feeds: Feeds, options?: ManagerRunOptions): Promise<Record<string, Tensor>>;
    /**
     * run() that also says which version served (TensorFlow Serving's PredictResponse.model_spec).
     * Unknown model: NOT_FOUND naming the models there are. Before start(): UNAVAILABLE, saying so
     * (nothing loads until then). No AVAILABLE version: UNAVAILABLE with
     * the versions' states and errors, after waiting (up to queueTimeoutMs) while one is loading;
     * a run's runTimeoutMs and signal bound that wait too (DEADLINE_EXCEEDED NotStartedError,
     * CANCELLED), and the run gets what is left of its runTimeoutMs.
     * A version asked for (by number or label) that was let go of (UNLOADING, or END without an
     * error: unloaded, swapped out, left out of the policy): NOT_FOUND, as TensorFlow Serving,
     * saying why (unload() holds it, the policy does not choose it, what the last look saw); one
     * END with its error (a failed load, a crashed host): UNAVAILABLE with that error.
     */
    predict(name: string, feeds: Feeds, options?: ManagerRunOptions): Promise<Prediction>;
    /**
     * Calls `work` with a version's Model (the newest AVAILABLE one, or the one `version` or
     * `label` names), counted as a run on that version for as long as `work` takes: a swap does
     * not dispose it under `work`. So several steps (read its signatures, convert the feeds, run)
     * see one version. Waits, up to queueTimeoutMs, while a load is under way, and no longer than
     * `which.waitLimitMs` (> 0: DEADLINE_EXCEEDED, a NotStartedError) or until `which.signal` is
     * aborted (CANCELLED; aborted already: CANCELLED at once, `work` not called, as Model.run()).
     * A MODEL_CRASHED
     * from `work` takes the version out of routing, as run() does. A model holding its
     * maxQueuedRequests already refuses the call at once.
     * @throws NOT_FOUND (unknown model or version, or a version let go of), INVALID_ARGUMENT
     *   (unknown label), UNAVAILABLE (not started, no version, one that failed, stopped; a QueueFullError when maxQueuedRequests is reached),
     *   CANCELLED (`which.signal` aborted before or while waiting), ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE (`which` not
     *   an object or with another key, a waitLimitMs that is not a whole number of ms ≥ 0, a
     *   signal that is not an AbortSignal, `work` not a function)
     */
    use<T>(name: string, which: {
        version?: number;
        label?: string;
        waitLimitMs?: number;
        signal?: RunSignal;
    }, work: (model: Model, version: number) => Promise<T>): Promise<T>;
    /** Every configured model's status, in configuration order, versions ascending. */
    status(): ModelStatus[];
    /**
     * One model's status, versions ascending.
     * @throws NOT_FOUND (ServableNotFoundError) for a name the manager has no model of
     */
    status(name: string): ModelStatus;
    /**
     * Stops watching and unloads every version: runs in flight finish, runs called from now on
     * reject with UNAVAILABLE. No load starts from then on (a load(name, version) waiting for its
     * turn or settling rejects UNAVAILABLE). A load under way finishes, but its warm-up stops at once (its model
     * disposed as Model.dispose({ killAfterMs: 0 }) does: nobody waits for a warm-up, and the version
     * will not serve); the version ends END with that error. Idempotent; resolves once every version is END (and every
     * isolated host has exited). A stopped manager cannot be started again.
     *
     * @param options.killAfterMs how long runs in flight may take, ms (default: as long as they
     *   take). Past it each version is disposed as Model.dispose({ killAfterMs: 0 }) does: a run
     *   still executing rejects MODEL_DISPOSED and an isolated model's host is killed, so a run
     *   on a host that answers nothing (stopped, stuck in an op) cannot hold stop() for ever.
     *   The earliest limit given holds: a later call's applies too (stop() then
     *   stop({ killAfterMs }) bounds the first one's wait), as with Model.dispose().
     * @throws (rejects) ERR_INVALID_ARG_TYPE for options that are not an object or have another key
     *   than killAfterMs, ERR_OUT_OF_RANGE for a killAfterMs that is not a whole number of ms from 0
     *   to 2^31 − 1 (as Model.dispose())
     */
    stop(options?: {
        killAfterMs?: number;
    }): Promise<void>;
    /**
     * stop() without options, for `await using manager = ...` (TypeScript 5.2's explicit resource
     * management): every version is unloaded at the end of its block, as stop() does (runs in flight finish first).
     */
    [Symbol.asyncDispose](): Promise<void>;
    /**
     * The version a label names for a model (versionLabels), or undefined.
     * @throws NOT_FOUND for an unknown model; ERR_INVALID_ARG_TYPE for a label that is not a string
     */
    versionOfLabel(name: string, label: string): number | undefined;
    /**
     * A model's labels and the versions they name: a copy (reconfigure() moves labels, checking
     * that each names an AVAILABLE version).
     * @throws NOT_FOUND (ServableNotFoundError) for a name the manager has no model of
     */
    labels(name: string): ReadonlyMap<string, number>;
}
