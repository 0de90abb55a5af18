/**
 * What the ModelManager knows about its models and versions, and how it reports it: version
 * states as TensorFlow Serving names them, the status() and event shapes, and the internal
 * records lifecycle (manager.ts) and routing (routing.ts) share.
 */
import type { BatchEvent } from '../batching';
import type { RunOptions } from '../model';
import type { Tensor } from '../tensor';
/** A version's state, as TensorFlow Serving names them (ModelVersionStatus.State). */
export type VersionState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';
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
/**
 * run()'s options, and which version serves: `version` (a specific one) or `label` (a version by
 * its label, versionLabels), not both (INVALID_ARGUMENT); neither: the newest AVAILABLE one.
 */
export type ManagerRunOptions = RunOptions & ({
    version?: number | undefined;
    label?: undefined;
} | {
    label?: string | undefined;
    version?: undefined;
});
export interface Prediction {
    readonly name: string;
    /** The version that served the run. */
    readonly version: number;
    readonly outputs: Record<string, Tensor>;
}
/** A batch a version ran (its loadOptions' batching): Model.onBatch()'s event with the model named. */
export interface ManagedBatchEvent extends BatchEvent {
    readonly name: string;
    readonly version: number;
}
export interface ModelManagerEvents {
    state: [StateEvent];
    failure: [FailureEvent];
    /** After each batch a batched version runs (the server's batching metrics). */
    batch: [ManagedBatchEvent];
}
