import type { BatchEvent } from '../batching';
import type { RunOptions } from '../model';
import type { Tensor } from '../tensor';
/** A version's state, as TensorFlow Serving names them (ModelVersionStatus.State). */
export type VersionState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';
/** An error as status() reports it. */
export interface StatusError {
    /**
     * The error's own `code`: a TensorFlow status name ('NOT_FOUND', 'INVALID_ARGUMENT', ...),
     * tfslice's ('GPU_BUDGET_EXCEEDED', ...), or whatever else was thrown with one (Node's
     * ERR_INVALID_ARG_TYPE from a warm-up's feeds, EISDIR, ...); 'UNKNOWN' for an error without one.
     */
    readonly code: string;
    /** The error's message. */
    readonly message: string;
}
/** One version of a model, as status() reports it (TensorFlow Serving's ModelVersionStatus, with more). */
export interface VersionStatus {
    /** The version number: its directory's name under the base path. */
    readonly version: number;
    /** Where it is in its life: START, LOADING, AVAILABLE, UNLOADING, END. */
    readonly state: VersionState;
    /** The version directory. */
    readonly path: string;
    /** Why the version failed to load (or warm up); null otherwise. */
    readonly error: StatusError | null;
    /** Runs the manager routed to it that have not finished. */
    readonly inflight: number;
}
/** One model, as ModelManager.status() reports it. */
export interface ModelStatus {
    /** The model's name (ManagedModelConfig.name). */
    readonly name: string;
    /** Its base path, absolute (relative ones are resolved against the working directory). */
    readonly basePath: string;
    /** Every version seen, ascending. */
    readonly versions: readonly VersionStatus[];
    /**
     * A problem of the model rather than a version: its fraction is not set, its base path cannot
     * be read or holds no version; or, while no version serves or loads, the versions its policy
     * names are there but not complete (no saved_model.pb yet, files still being written: UNAVAILABLE).
     */
    readonly error: StatusError | null;
}
/** The 'state' event: a version of a model entered a state (every change, in order). */
export interface StateEvent {
    /** The model's name. */
    readonly name: string;
    /** The version. */
    readonly version: number;
    /** The state it entered. */
    readonly state: VersionState;
    /** With END after a failed load or warm-up; its `code` as FailureEvent's. */
    readonly error?: Error & {
        /** As FailureEvent.error's. */
        readonly code?: string;
    };
    /**
     * With UNLOADING and END when a version is let go of rather than failed: why, as it was then
     * (unload(), the version policy choosing other versions, its directory gone, a reload that
     * moved or removed the model, stop(), swapPolicy 'unload-first'). A crashed version let go of
     * (the policy no longer chooses it once the look after its crash has run, or unload(), a reload,
     * stop()) is said END again, with this reason and no error (its error said it would be loaded
     * again). Runs that ask for the version get NOT_FOUND saying why as it is now.
     */
    readonly reason?: string;
}
/**
 * The 'failure' event: a version failed to load or warm up, a loaded one crashed (its host died),
 * or the model itself has a problem.
 */
export interface FailureEvent {
    /** The model's name. */
    readonly name: string;
    /** null for a problem of the model (fraction not set, base path unreadable, no version). */
    readonly version: number | null;
    /**
     * What failed, with its `code` where it has one: a TfsliceError's (NOT_FOUND, UNAVAILABLE,
     * MODEL_CRASHED, ...; `instanceof TfsliceError` narrows it), or Node's for a file system error
     * (ENOENT, EACCES, ...).
     */
    readonly error: Error & {
        /** TfsliceError's code, or Node's; undefined where the error has none. */
        readonly code?: string;
    };
}
/**
 * run()'s options, and which version serves: `version` (a specific one) or `label` (a version by
 * its label, versionLabels), not both (INVALID_ARGUMENT); neither: the newest AVAILABLE one.
 */
export type ManagerRunOptions = RunOptions & ({
    /** The version to run, a number (TensorFlow Serving's ModelSpec.version); fails while it is not AVAILABLE. */
    version?: number | undefined;
    /** Not with `version`. */
    label?: undefined;
} | {
    /** The version to run, by its label (versionLabels; ModelSpec.version_label). */
    label?: string | undefined;
    /** Not with `label`. */
    version?: undefined;
});
/** What ModelManager.predict() resolves to: the outputs, and which model and version made them (run() resolves to the outputs alone). */
export interface Prediction {
    /** The model's name. */
    readonly name: string;
    /** The version that served the run. */
    readonly version: number;
    /** Outputs by key, as Model.run() returns them (dispose() each, or let the collector free them). */
    readonly outputs: Record<string, Tensor>;
}
/** A batch a version ran (its loadOptions' batching): Model.onBatch()'s event with the model named. */
export interface ManagedBatchEvent extends BatchEvent {
    /** The model's name. */
    readonly name: string;
    /** The version that ran the batch. */
    readonly version: number;
}
/** ModelManager.on()'s events and their arguments. */
export interface ModelManagerEvents {
    /** A version entered a state. */
    state: [StateEvent];
    /** A version failed (load, warm-up, crash) or the model has a problem. */
    failure: [FailureEvent];
    /** After each batch a batched version runs (the server's batching metrics). */
    batch: [ManagedBatchEvent];
}
