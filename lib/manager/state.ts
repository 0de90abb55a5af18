/**
 * What the ModelManager knows about its models and versions, and how it reports it: version
 * states as TensorFlow Serving names them, the status() and event shapes, and the internal
 * records lifecycle (manager.ts) and routing (routing.ts) share.
 */
import * as path from 'node:path';

import type { BatchEvent } from '../batching';
import { InvalidArgumentError, TensorFlowError } from '../errors';
import type { Model, RunOptions } from '../model';
import type { LoadOptions } from '../options';
import type { Tensor } from '../tensor';
import type { ResolvedModel } from './config';
import { filesSaid, type SeenVersion, selectVersions } from './versions';

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
export type ManagerRunOptions = RunOptions & (
  | {
    /** The version to run, a number (TensorFlow Serving's ModelSpec.version); fails while it is not AVAILABLE. */
    version?: number | undefined;
    /** Not with `version`. */
    label?: undefined;
  }
  | {
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
  /** Why it was let go of (UNLOADING, or END without an error); null while it is not. */
  letGo: string | null;
  /** The options it was loaded with (its model's, then: a reload may change them since). */
  readonly options: LoadOptions;
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
  /**
   * Looks for versions under way that may bring a version not known yet (start(), load(name), a
   * new model's first look, the look after a crash), within busy, from their call until the
   * look has read the directory and chosen what to load (those versions are then in `loading`):
   * runs for a crashed version wait for them (see `reading` for a version with no entry). A load
   * of another version cannot bring it: such runs are NOT_FOUND meanwhile, as TensorFlow Serving
   * answers for a version not in its serving map.
   */
  looking: number;
  /**
   * Of those looks, the ones that have their turn on the model and are reading its base path
   * (a look queued behind a long load does not hold runs for unknown versions: helper-115, 404
   * after 15 s): runs for a version with no entry wait for these; a crashed one waits for any.
   */
  reading: number;
  /**
   * Versions some call is about to load or loading (load(name, version), a look's chosen
   * versions, an unload-first swap's incoming one), with how many such calls: runs for them
   * wait, even if END.
   */
  readonly loading: Map<number, number>;
  readonly waiters: Set<Waiter>;
  /** Requests use() holds now (waiting for a version, queued or running): at most config.maxQueuedRequests. */
  requests: number;
  /** Watch mode: its base path is looked at again every pollIntervalMs (else by load() and reconfigure() only). */
  readonly watched: boolean;
  /** Version directories said to be skipped (#noteSkipped), said again once they changed or left. */
  readonly skipped: Set<string>;
  /** Per version: loads in a row of these files (fingerprint) whose host died before the version loaded (MODEL_CRASHED). */
  readonly loadCrashes: Map<number, { fingerprint: string; count: number }>;
  /**
   * The labels a reconfigure() under way will give the model once its versions are settled;
   * null when none is. A version that a label names now, and that the reload moves the label
   * away from, is not unloaded before the labels move (helper-133: runs by that label failed
   * with NOT_FOUND in between).
   */
  labelsComing: ReadonlyMap<string, number> | null;
  /**
   * Unloads of versions a look let go of with runs still in flight: they drain outside the
   * model's turn (ModelManager #retire), by version entry; stop(), a removal, unload() and
   * 'unload-first' wait for them.
   */
  readonly retiring: Map<Entry, Promise<void>>;
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

/**
 * @internal "1 AVAILABLE, 2 END (why)": the versions for messages; past four, the newest three
 * after how many older ("997 older, 998 END, ..."), so that a model of thousands of versions
 * does not make every message as long.
 */
export function describeVersions(m: Managed): string {
  const all = [...m.versions.values()].sort((a, b) => a.version - b.version);
  const shown = all.length <= LISTED + 1 ? all : all.slice(-LISTED);
  const list = shown.map((e) => `${e.version} ${e.state}${e.error ? ` (${e.error.message})` : ''}`);
  if (shown.length < all.length) list.unshift(`${all.length - shown.length} older`);
  return list.length ? list.join(', ') : 'none';
}

/** @internal Why unload() let a version go, or the model's versions: said with its END, and to runs that ask for it. */
export function unloadedBy(name: string, version?: number): string {
  return version === undefined
    ? `unload('${name}') let the model's versions go; load('${name}') puts it back under its version policy`
    : `unload('${name}', ${version}) let it go; load('${name}', ${version}) brings it back`;
}

// How long a message's list of versions gets: the first few, then how many more.
const LISTED = 3;

/** @internal Versions for a message: "3, 2, 1", or the first three "and N more" (four are all said). */
export function versionsSaid(versions: readonly number[]): string {
  const shown = versions.length <= LISTED + 1 ? versions : versions.slice(0, LISTED);
  return shown.join(', ') + (shown.length < versions.length ? ` and ${versions.length - shown.length} more` : '');
}

/** @internal A version policy for a message: its JSON, a long 'specific' list cut (helper-118: 24 KB messages). */
export function policySaid(policy: ResolvedModel['versionPolicy']): string {
  if (typeof policy !== 'object' || !('specific' in policy) || policy.specific.length <= LISTED + 1) return JSON.stringify(policy);
  return `{"specific":[${policy.specific.slice(0, LISTED).join(',')},... ${policy.specific.length - LISTED} more]}`;
}

// What the last look saw that keeps a version directory from loading: no graph (or an empty
// one), files still changing, or files first seen then (loaded once seen unchanged for
// settleMs: helper-117, "still being written" of a version renamed into place whole); null when
// the look saw it complete, or saw no directory.
function incomplete(m: Managed, version: number): string | null {
  const seen = m.looks.get(version);
  if (seen === undefined || seen.unread) return null;
  if (seen.fingerprint === null) {
    const problem = seen.noGraph ?? 'no saved_model.pb (or .pbtxt)';
    return `its directory has ${problem}${problem.startsWith('no ') ? ' yet' : ''}`;
  }
  if (seen.changingSince === null) return null;
  if (seen.changed.length === 0) return 'it was first seen at the last look, and loads once its files are seen unchanged for settleMs';
  return `its files are still being written (lately ${filesSaid(seen.changed)})`;
}

// Without watch mode what a look saw holds until load() or reconfigure() looks again
// (helper-117: "no saved_model.pb yet" of a version completed since, for good); not while a
// look is under way or queued (start()'s second look, settleMs later).
function lastLook(m: Managed): string {
  return m.watched || m.busy > 0 ? '' : ` (as of the last look: without watch mode only load('${m.config.name}') or a reload looks again)`;
}

/**
 * @internal Why a version with no entry is not served: no directory for it, or one that is
 * incomplete, or one the version policy does not choose (helper-115: "has no version 1" of a
 * version there).
 */
export function notServed(m: Managed, version: number): string {
  const name = m.config.name;
  // (Its base path is not looked at while unload(name) holds it: helper-118.)
  if (!m.looks.has(version)) return `model '${name}' has no version ${version}${m.held ? ` known: ${unloadedBy(name)}, and its base path is not looked at meanwhile` : ''}`;
  if (m.excluded.has(version)) return `version ${version} of model '${name}' is not served: unload('${name}', ${version}) keeps it from loading; load('${name}', ${version}) loads it`;
  const why = incomplete(m, version);
  if (why !== null) return `version ${version} of model '${name}' is not served yet: ${why}${lastLook(m)}`;
  return `version ${version} of model '${name}' is not served: its directory is there, but ${policySays(m)}`;
}

// "the version policy (...) does not choose it now", and what serves instead.
function policySays(m: Managed): string {
  const serving = [...m.versions.values()].filter((e) => e.state === 'AVAILABLE').map((e) => e.version).sort((a, b) => b - a);
  const instead = serving.length === 0 ? '' : `; version${serving.length > 1 ? 's' : ''} ${versionsSaid(serving)} serve${serving.length > 1 ? '' : 's'}`;
  return `the version policy (${policySaid(m.config.versionPolicy)}) does not choose it now${instead}`;
}

/** @internal That a reload moved the model away from the base path `entry` was loaded from; null when it has not. */
export function movedAway(m: Managed, entry: Entry): string | null {
  return path.dirname(entry.path) === m.config.basePath ? null : `a reload moved model '${m.config.name}' to base path ${m.config.basePath}`;
}

/**
 * @internal Why a version let go of (END without an error) is not served now, for runs that ask
 * for it: unload() while it holds, else what the last look saw of its directory (incomplete, or
 * complete and not chosen by the policy), else why it went (its directory gone, the model moved,
 * a reload, stop()). helper-117: the reason it went was said after a later change made it false.
 */
export function letGoWhy(m: Managed, entry: Entry): string {
  const name = m.config.name;
  // What is true now first (helper-118: a gone directory's version said the policy's reason it
  // went, or that load(name, version) would bring it back, which then failed).
  const elsewhere = movedAway(m, entry);
  if (elsewhere !== null) return elsewhere;
  if (!m.looks.has(entry.version) && !m.held) return `its directory is gone${lastLook(m)}`;
  if (m.excluded.has(entry.version)) return unloadedBy(name, entry.version);
  if (m.held) return unloadedBy(name);
  const why = incomplete(m, entry.version);
  return why === null ? policySays(m) : `${why}${lastLook(m)}`;
}

/**
 * @internal Why a model serves no version when the versions its policy names are not complete
 * yet (no saved_model.pb, files still being written or not yet seen settled), or named by a
 * 'specific' policy without a directory: UNAVAILABLE, or null when a version serves or is being
 * loaded or unloaded, or nothing is held back so. status()'s model error and runs without a
 * version say it (helper-115: tfslice serve's start-up said only "no version serving", and why
 * ~10 looks later). The first few versions are named, then how many more.
 */
export function notYetServed(m: Managed): Error | null {
  if (m.held) return null;
  for (const entry of m.versions.values()) if (entry.state !== 'END') return null;
  // status() asks at every metrics scrape, and every run without a version that finds none:
  // worked out once per look (m.looks is replaced by each), configuration and unload(name,
  // version) set, in one pass over the versions seen (helper-119: 1–26 ms a call with 5000
  // version directories).
  const excluded = [...m.excluded].join();
  let said = whyNotYet.get(m.looks);
  if (said === undefined || said.config !== m.config || said.excluded !== excluded) {
    const policy = m.config.versionPolicy;
    const named = largest(namedVersions(m), (v) => !m.excluded.has(v) && incomplete(m, v) !== null);
    const why = named.top.map((v) => `version ${v} of model '${m.config.name}' is not served yet: ${incomplete(m, v)}`);
    if (named.top.length < named.count) why.push(`and ${named.count - named.top.length} more versions not complete yet`);
    if (typeof policy === 'object' && 'specific' in policy) {
      const missing = largest(policy.specific, (v) => !m.looks.has(v) && !m.excluded.has(v));
      if (missing.count > 0) why.push(`the version policy (${policySaid(policy)}) names version${missing.count > 1 ? 's' : ''} ${missing.top.join(', ')}${missing.top.length < missing.count ? ` and ${missing.count - missing.top.length} more` : ''}, with no directory under ${m.config.basePath}`);
    }
    said = { config: m.config, excluded, why: why.join('; '), incomplete: named.count > 0 };
    whyNotYet.set(m.looks, said);
  }
  return said.why === '' ? null : unavailable(`${said.why}${said.incomplete ? lastLook(m) : ''}`);
}

// notYetServed()'s text, by the look it was worked out from.
const whyNotYet = new WeakMap<ReadonlyMap<number, SeenVersion>, { config: ResolvedModel; excluded: string; why: string; incomplete: boolean }>();

// The versions seen that the version policy names (selectVersions over m.looks, without sorting
// them all where it need not).
function namedVersions(m: Managed): Iterable<number> {
  const policy = m.config.versionPolicy;
  if (policy === 'all') return m.looks.keys();
  if (policy === 'latest') return largest(m.looks.keys(), () => true, 1).top;
  if ('latest' in policy) return selectVersions(policy, [...m.looks.keys()]);
  return policy.specific.filter((v) => m.looks.has(v));
}

// Of `versions`, those `keep` keeps: the largest few, descending (all of them when one more
// would be all: versionsSaid()'s rule), and how many it kept.
function largest(versions: Iterable<number>, keep: (v: number) => boolean, most = LISTED + 1): { top: number[]; count: number } {
  const top: number[] = [];
  let count = 0;
  for (const v of versions) {
    if (!keep(v)) continue;
    count++;
    if (top.length === most && v <= top[most - 1]!) continue;
    let at = top.findIndex((t) => v > t);
    if (at < 0) at = top.length;
    top.splice(at, 0, v);
    if (top.length > most) top.pop();
  }
  return { top: count > most && most > 1 ? top.slice(0, most - 1) : top, count };
}

/**
 * @internal Versions that unload(name, version) let go of and holds (END), for a run without a
 * version that finds none serving (helper-118: "has no AVAILABLE version (versions: 1 END)" and
 * no why); null when there are none.
 */
export function unloadedVersions(m: Managed): string | null {
  // Those draining too (helper-133: the one just unloaded, UNLOADING, went unsaid, and an older one was named).
  const held = [...m.excluded].filter((v) => m.versions.get(v)?.state === 'END' || m.versions.get(v)?.state === 'UNLOADING').sort((a, b) => b - a);
  if (held.length === 0) return null;
  const name = m.config.name;
  return held.length === 1 ? unloadedBy(name, held[0]) : `unload('${name}', <version>) let versions ${versionsSaid(held)} go; load('${name}', <version>) brings one back`;
}

/**
 * @internal A model's status() entry. `live`: a model served (not one a reload removed, nor one
 * of a stopped manager), whose model error may say why it serves no version yet (notYetServed).
 */
export function statusOf(m: Managed, live = true): ModelStatus {
  const versions = [...m.versions.values()].sort((a, b) => a.version - b.version).map((e) => Object.freeze({
    version: e.version, state: e.state, path: e.path, error: statusError(e.error), inflight: e.inflight,
  }));
  return Object.freeze({ name: m.config.name, basePath: m.config.basePath, versions: Object.freeze(versions), error: statusError(m.error ?? (live ? noneServesYet(m) : null)) });
}

/**
 * @internal notYetServed() and the versions unload(name, version) holds: status()'s model error,
 * and what a run without a version is told (helper-118: status() named the incomplete versions
 * only, where runs said both).
 */
export function noneServesYet(m: Managed): Error | null {
  const notYet = notYetServed(m);
  const held = notYet && unloadedVersions(m);
  return held ? unavailable(`${notYet.message}; ${held}`) : notYet;
}

/**
 * @internal A label a model does not have (a run by it, the status API): TensorFlow Serving's
 * words, and the labels the model has when it is known.
 */
export function unrecognizedLabel(label: string, model?: { name: string; labels: ReadonlyMap<string, number> }): InvalidArgumentError {
  const known = model === undefined ? '' : ` (model '${model.name}' has labels ${[...model.labels.keys()].map((l) => `'${l}'`).join(', ') || 'none'})`;
  return new InvalidArgumentError(`Unrecognized servable version label: ${label}${known}`);
}
