import { type Feeds, type Model } from '../model';
import type { Tensor } from '../tensor';
import { type ModelManagerConfig } from './config';
import { type ManagerRunOptions, type ModelManagerEvents, type ModelStatus, type Prediction } from './state';
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
