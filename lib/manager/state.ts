/**
 * What the ModelManager knows about its models and versions, and how it reports it: version
 * states as TensorFlow Serving names them, the status() and event shapes, and the internal
 * records lifecycle (manager.ts) and routing (routing.ts) share.
 */
import type { BatchEvent } from '../batching';
import { InvalidArgumentError, TensorFlowError } from '../errors';
import type { Model, RunOptions } from '../model';
import type { Tensor } from '../tensor';
import type { ResolvedModel } from './config';
import type { SeenVersion } from './versions';

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
export type ManagerRunOptions = RunOptions & ({ version?: number | undefined; label?: undefined } | { label?: string | undefined; version?: undefined });

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

/** @internal A version the manager has seen: its state, its Model while it has one, and the runs routed to it. */
export interface Entry {
  readonly version: number;
  readonly path: string;
  /**
   * The version's files when it was loaded (a failed version is retried once they change); ''
   * once its directory is gone, so that it is loaded again when the directory comes back.
   */
  fingerprint: string;
  state: VersionState;
  error: Error | null;
  model: Model | null;
  inflight: number;
  drained: (() => void) | null;
  /** Loaded by load(name, version): kept whatever the policy says, until unload(). */
  pinned: boolean;
  /** Its host died (MODEL_CRASHED): loaded again by the next look, whatever its files. */
  crashed: boolean;
}

/** @internal A run waiting for a version to be routed to. */
export interface Waiter {
  readonly version: number | undefined;
  resolve(entry: Entry): void;
  reject(error: Error): void;
  /** Stops what bounds its wait (queueTimeoutMs, its run's limit and signal): called as it leaves m.waiters. */
  release(): void;
}

/** @internal A model: its configuration, its versions, and what its lifecycle and routing need. */
export interface Managed {
  /** Replaced by reconfigure() for a model it keeps. */
  config: ResolvedModel;
  readonly versions: Map<number, Entry>;
  error: Error | null;
  /** Serializes lifecycle work (looks, loads, unloads) of this model. */
  lock: Promise<void>;
  /** Per version directory: its last fingerprint and since when it has been unchanged. */
  looks: Map<number, SeenVersion>;
  /** unload(name) took the model out of its policy's hands until load(name). */
  held: boolean;
  /** unload(name, version): versions the policy may not load again until load(). */
  readonly excluded: Set<number>;
  /** Loads (or an unload-first swap) under way: runs without a version wait for them. */
  busy: number;
  /** Versions load(name, version) is loading, with how many such calls: runs for them wait, even if END. */
  readonly loading: Map<number, number>;
  readonly waiters: Set<Waiter>;
  /** Requests use() holds now (waiting for a version, queued or running): at most config.maxQueuedRequests. */
  requests: number;
  /** Version directories said to be skipped (#noteSkipped), said again once they changed or left. */
  readonly skipped: Set<string>;
  /** Per version: loads in a row of these files (fingerprint) whose host died before the version loaded (MODEL_CRASHED). */
  readonly loadCrashes: Map<number, { fingerprint: string; count: number }>;
}


/** @internal UNAVAILABLE, TensorFlow Serving's code for "no version can serve this now". */
export function unavailable(message: string): TensorFlowError {
  return new TensorFlowError('UNAVAILABLE', message);
}

/** @internal An error as status() reports it. */
export function statusError(error: Error | null): StatusError | null {
  if (!error) return null;
  const code = (error as Error & { code?: unknown }).code;
  return Object.freeze({ code: typeof code === 'string' ? code : 'UNKNOWN', message: error.message });
}

/** @internal Anything thrown, as an Error. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** @internal "1 AVAILABLE, 2 END (why)": the versions for messages. */
export function describeVersions(m: Managed): string {
  const list = [...m.versions.values()].sort((a, b) => a.version - b.version)
    .map((e) => `${e.version} ${e.state}${e.error ? ` (${e.error.message})` : ''}`);
  return list.length ? list.join(', ') : 'none';
}

/** @internal A model's status() entry. */
export function statusOf(m: Managed): ModelStatus {
  const versions = [...m.versions.values()].sort((a, b) => a.version - b.version).map((e) => Object.freeze({
    version: e.version, state: e.state, path: e.path, error: statusError(e.error), inflight: e.inflight,
  }));
  return Object.freeze({ name: m.config.name, basePath: m.config.basePath, versions: Object.freeze(versions), error: statusError(m.error) });
}

/**
 * @internal A label a model does not have (a run by it, the status API): TensorFlow Serving's
 * words, and the labels the model has when it is known.
 */
export function unrecognizedLabel(label: string, model?: { name: string; labels: ReadonlyMap<string, number> }): InvalidArgumentError {
  const known = model === undefined ? '' : ` (model '${model.name}' has labels ${[...model.labels.keys()].map((l) => `'${l}'`).join(', ') || 'none'})`;
  return new InvalidArgumentError(`Unrecognized servable version label: ${label}${known}`);
}
