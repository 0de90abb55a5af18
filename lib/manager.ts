/**
 * ModelManager: what TensorFlow Serving's model manager does, on top of loadModel().
 * Models by name, versions as numeric sub-directories of a base path, a version policy
 * choosing which are served, a GPU memory fraction (and isolation) per model, version
 * states as TensorFlow Serving names them, and, in watch mode, new versions swapped in
 * without a failed request: runs are routed at call time and counted per version, and
 * a version is disposed only once the runs it was given have finished.
 */
import { EventEmitter } from 'node:events';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';

import { describe, invalidType, NotFoundError, outOfRange, TensorFlowError } from './errors';
import type { Isolation } from './gpu';
import { loadModel, type Feeds, type Model, type RunOptions } from './model';
import { type LoadOptions, resolveLoadOptions } from './options';
import { Tensor } from './tensor';

/**
 * Which versions on disk are served (TensorFlow Serving's model_version_policy).
 * 'latest' and `{ latest: n }`: the n (1) highest versions that load. A version that fails to
 * load (or warm up) is passed over for the next older one, until n serve or none is left; it
 * stays END with its error in status(), and is tried again once its files change.
 * `{ specific: [...] }` (those of them that exist) and 'all': exactly those versions; one that
 * fails stays END with its error, and no other version is loaded in its place.
 */
export type VersionPolicy = 'latest' | 'all' | { readonly latest: number } | { readonly specific: readonly number[] };

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

interface ResolvedModel {
  readonly name: string;
  readonly basePath: string;
  readonly gpuMemoryFraction: number | undefined;
  readonly versionPolicy: VersionPolicy;
  readonly loadOptions: LoadOptions;
  readonly warmup: { feeds: WarmupConfig['feeds']; signature: string | undefined; runs: number } | undefined;
}

interface Resolved {
  readonly models: readonly ResolvedModel[];
  readonly requireGpuFraction: boolean;
  readonly watch: boolean;
  readonly pollIntervalMs: number;
  readonly settleMs: number;
  readonly swapPolicy: SwapPolicy;
  readonly queueTimeoutMs: number;
}

interface Entry {
  readonly version: number;
  readonly path: string;
  /** The version's files when it was loaded (a failed version is retried once they change). */
  readonly fingerprint: string;
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

interface Waiter {
  readonly version: number | undefined;
  resolve(entry: Entry): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface Look {
  /** Version directories present, ready or not. */
  readonly present: ReadonlySet<number>;
  /** Complete versions: their fingerprint, unchanged for settleMs. */
  readonly ready: ReadonlyMap<number, string>;
  /** Present versions whose files are still changing (or lack saved_model.pb). */
  readonly pending: number;
}

interface Managed {
  readonly config: ResolvedModel;
  readonly versions: Map<number, Entry>;
  error: Error | null;
  /** Serializes lifecycle work (looks, loads, unloads) of this model. */
  lock: Promise<void>;
  /** Per version directory: its last fingerprint and since when it has been unchanged. */
  looks: Map<number, { fingerprint: string | null; since: number }>;
  /** unload(name) took the model out of its policy's hands until load(name). */
  held: boolean;
  /** unload(name, version): versions the policy may not load again until load(). */
  readonly excluded: Set<number>;
  /** Loads (or an unload-first swap) under way: runs without a version wait for them. */
  busy: number;
  readonly waiters: Set<Waiter>;
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

const MANAGER_KEYS = ['models', 'requireGpuFraction', 'watch', 'pollIntervalMs', 'settleMs', 'swapPolicy', 'queueTimeoutMs'];
const MODEL_KEYS = ['name', 'basePath', 'gpuMemoryFraction', 'isolation', 'tags', 'versionPolicy', 'loadOptions', 'warmup'];
const WARMUP_KEYS = ['feeds', 'signature', 'runs'];
const MODEL_LEVEL_OPTIONS = ['gpuMemoryFraction', 'isolation', 'tags'];
const LOAD_OPTION_KEYS = [
  'allowGrowth', 'gpuDevice', 'signature', 'intraOpThreads', 'interOpThreads', 'allowSoftPlacement',
  'logDevicePlacement', 'sessionConfig', 'maxConcurrentRuns', 'opLibraries',
];

function record(where: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType(where, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const error = new TypeError(`${where}.${key} is not a known key; the keys are ${known.join(', ')}`);
      (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
      throw error;
    }
  }
  return value as Record<string, unknown>;
}

function optionalInt(where: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidType(where, 'an integer', value);
  if (!Number.isSafeInteger(value) || value < min) throw outOfRange(where, `an integer ≥ ${min}`, value);
  return value;
}

function optionalBool(where: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidType(where, 'a boolean', value);
  return value;
}

function versionPolicy(where: string, value: unknown): VersionPolicy {
  if (value === undefined || value === 'latest') return 'latest';
  if (value === 'all') return 'all';
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length !== 1) {
    throw invalidType(where, "'latest', 'all', { latest: n } or { specific: [versions] }", value);
  }
  const v = record(where, value, ['latest', 'specific']);
  if (v.latest !== undefined) return Object.freeze({ latest: optionalInt(`${where}.latest`, v.latest, 1, 1) });
  const list = v.specific;
  if (!Array.isArray(list) || list.length === 0) throw invalidType(`${where}.specific`, 'a non-empty array of versions', list);
  list.forEach((n, i) => optionalInt(`${where}.specific[${i}]`, n, 0, 0));
  return Object.freeze({ specific: Object.freeze([...(list as number[])]) });
}

function warmupConfig(where: string, value: unknown): ResolvedModel['warmup'] {
  if (value === undefined) return undefined;
  const w = record(where, value, WARMUP_KEYS);
  const feeds = w.feeds;
  if (typeof feeds !== 'function' && (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds))) {
    throw invalidType(`${where}.feeds`, 'an object of feeds by input key, or a function returning one', feeds);
  }
  if (w.signature !== undefined && (typeof w.signature !== 'string' || w.signature === '')) {
    throw invalidType(`${where}.signature`, 'a non-empty string', w.signature);
  }
  return { feeds: feeds as WarmupConfig['feeds'], signature: w.signature as string | undefined, runs: optionalInt(`${where}.runs`, w.runs, 1, 1) };
}

function modelConfig(where: string, value: unknown): ResolvedModel {
  const m = record(where, value, MODEL_KEYS);
  if (typeof m.name !== 'string' || m.name === '') throw invalidType(`${where}.name`, 'a non-empty string', m.name);
  if (typeof m.basePath !== 'string' || m.basePath === '') throw invalidType(`${where}.basePath`, 'a non-empty directory path', m.basePath);
  const given = m.loadOptions;
  for (const key of MODEL_LEVEL_OPTIONS) {
    if (given !== null && typeof given === 'object' && key in given) {
      throw invalidType(`${where}.loadOptions.${key}`, `absent (set ${where}.${key} instead)`, (given as Record<string, unknown>)[key]);
    }
  }
  const extra = given === undefined ? {} : record(`${where}.loadOptions`, given, LOAD_OPTION_KEYS);
  const loadOptions: LoadOptions = { ...extra };
  for (const key of MODEL_LEVEL_OPTIONS) if (m[key] !== undefined) (loadOptions as Record<string, unknown>)[key] = m[key];
  try {
    resolveLoadOptions(loadOptions);
  } catch (error) {
    // loadModel names the option; here it is a field of this model.
    if (error instanceof Error) {
      const field = MODEL_LEVEL_OPTIONS.some((k) => error.message.startsWith(k)) ? `${where}.` : `${where}.loadOptions.`;
      error.message = field + error.message;
    }
    throw error;
  }
  return Object.freeze({
    name: m.name,
    basePath: path.resolve(m.basePath),
    gpuMemoryFraction: m.gpuMemoryFraction as number | undefined,
    versionPolicy: versionPolicy(`${where}.versionPolicy`, m.versionPolicy),
    loadOptions: Object.freeze(loadOptions),
    warmup: warmupConfig(`${where}.warmup`, m.warmup),
  });
}

/** @internal Validates a manager's configuration; relative base paths are resolved against the working directory. */
export function resolveManagerConfig(value: unknown, where = 'config'): Resolved {
  const c = record(where, value, MANAGER_KEYS);
  if (!Array.isArray(c.models) || c.models.length === 0) throw invalidType(`${where}.models`, 'a non-empty array of model configs', c.models);
  const models = c.models.map((m, i) => modelConfig(`models[${i}]`, m));
  models.forEach((m, i) => {
    if (models.findIndex((o) => o.name === m.name) !== i) throw outOfRange(`models[${i}].name`, 'unique', m.name);
  });
  const swapPolicy = c.swapPolicy ?? 'refuse';
  if (swapPolicy !== 'refuse' && swapPolicy !== 'unload-first') throw invalidType(`${where}.swapPolicy`, "'refuse' or 'unload-first'", swapPolicy);
  return Object.freeze({
    models,
    requireGpuFraction: optionalBool(`${where}.requireGpuFraction`, c.requireGpuFraction),
    watch: optionalBool(`${where}.watch`, c.watch),
    pollIntervalMs: optionalInt(`${where}.pollIntervalMs`, c.pollIntervalMs, 1, 1000),
    settleMs: optionalInt(`${where}.settleMs`, c.settleMs, 0, 250),
    swapPolicy,
    queueTimeoutMs: optionalInt(`${where}.queueTimeoutMs`, c.queueTimeoutMs, 0, 30_000),
  });
}

// ---------------------------------------------------------------------------
// Versions on disk
// ---------------------------------------------------------------------------

/**
 * Which of the candidate versions (ascending) a policy serves. The manager passes the versions
 * it may load: under 'latest' and `{ latest: n }` it leaves out those that failed with the files
 * they have now, so that the next older ones are chosen in their place.
 */
export function selectVersions(policy: VersionPolicy, candidates: readonly number[]): number[] {
  const sorted = [...candidates].sort((a, b) => a - b);
  if (policy === 'all') return sorted;
  if (policy === 'latest') return sorted.slice(-1);
  if ('latest' in policy) return sorted.slice(-policy.latest);
  return sorted.filter((v) => policy.specific.includes(v));
}

async function statOrNull(file: string) {
  return stat(file).catch(() => null);
}

/**
 * What a version directory's files look like now: undefined when it is not a directory,
 * null when it has no (non-empty) saved_model.pb or .pbtxt yet, else the sizes and mtimes
 * of the graph and of every file in variables/.
 */
async function fingerprint(dir: string): Promise<string | null | undefined> {
  const self = await statOrNull(dir);
  if (!self?.isDirectory()) return undefined;
  let graph = await statOrNull(path.join(dir, 'saved_model.pb'));
  let name = 'pb';
  if (!graph?.isFile()) {
    graph = await statOrNull(path.join(dir, 'saved_model.pbtxt'));
    name = 'pbtxt';
  }
  if (!graph?.isFile() || graph.size === 0) return null;
  const parts = [`${name}:${graph.size}:${graph.mtimeMs}`];
  const variables = path.join(dir, 'variables');
  for (const file of (await readdir(variables).catch(() => [] as string[])).sort()) {
    const s = await statOrNull(path.join(variables, file));
    if (s) parts.push(`${file}:${s.size}:${s.mtimeMs}`);
  }
  return parts.join('|');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function unavailable(message: string): TensorFlowError {
  return new TensorFlowError('UNAVAILABLE', message);
}

function statusError(error: Error | null): StatusError | null {
  if (!error) return null;
  const code = (error as Error & { code?: unknown }).code;
  return Object.freeze({ code: typeof code === 'string' ? code : 'UNKNOWN', message: error.message });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

// ---------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------

/**
 * Serves named, versioned SavedModels the way TensorFlow Serving's model manager does.
 * See the README, "Model manager".
 */
export class ModelManager {
  // Composition, not inheritance: the published types then need no @types/node.
  readonly #events = new EventEmitter<ModelManagerEvents>();
  readonly #config: Resolved;
  readonly #models = new Map<string, Managed>();
  #started: Promise<ModelStatus[]> | null = null;
  #stopping: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(config: ModelManagerConfig) {
    this.#config = resolveManagerConfig(config);
    for (const model of this.#config.models) {
      this.#models.set(model.name, {
        config: model, versions: new Map(), error: null, lock: Promise.resolve(), looks: new Map(),
        held: false, excluded: new Set(), busy: 0, waiters: new Set(),
      });
    }
  }

  /** Calls `listener` for every `event` ('state': a version changed state; 'failure': something failed). */
  on<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  /** Like on(), for the next `event` only. */
  once<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this {
    this.#events.once(event, listener as never);
    return this;
  }

  /** Removes a listener added with on() or once(). */
  off<E extends keyof ModelManagerEvents>(event: E, listener: (...args: ModelManagerEvents[E]) => void): this {
    this.#events.off(event, listener as never);
    return this;
  }

  /** A manager configured by a JSON file (same fields; relative base paths are resolved against the file's directory). */
  static async fromFile(file: string): Promise<ModelManager> {
    if (typeof file !== 'string' || file === '') throw invalidType('file', 'a JSON file path', file);
    const text = await readFile(file, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new SyntaxError(`${file} is not valid JSON: ${asError(error).message}`);
    }
    const models = (json as { models?: unknown } | null)?.models;
    if (Array.isArray(models)) {
      const dir = path.dirname(path.resolve(file));
      for (const m of models) {
        if (m !== null && typeof m === 'object' && typeof m.basePath === 'string') m.basePath = path.resolve(dir, m.basePath);
      }
    }
    return new ModelManager(json as ModelManagerConfig);
  }

  /** The models' names, in configuration order. */
  get names(): string[] {
    return [...this.#models.keys()];
  }

  /**
   * Loads every model's versions as its policy says and, in watch mode, starts polling.
   * Resolves once each model's first load has finished, with status(): a model that failed
   * reports its error there (and in 'failure' events), start() does not reject for it. Under
   * 'latest', a newest version that fails to load is reported there too, and the highest older
   * version that loads serves in its place.
   */
  start(): Promise<ModelStatus[]> {
    this.#running();
    this.#started ??= (async () => {
      await Promise.all([...this.#models.values()].map(async (m) => {
        m.busy++; // runs arriving during the first load wait for it
        try {
          await this.#refresh(m, true);
        } finally {
          m.busy--;
          this.#settle(m);
        }
      }));
      this.#schedule();
      return this.status();
    })();
    return this.#started;
  }

  /**
   * Loads a version: with none, puts the model back under its policy (after unload(name))
   * and resolves with the newest AVAILABLE version's Model; with one, loads that version and
   * keeps it loaded whatever the policy says, until unload(name, version). Rejects with the
   * load's error (NOT_FOUND "Fraction not set for model X" with requireGpuFraction).
   */
  async load(name: string, version?: number): Promise<Model> {
    const m = this.#model(name);
    this.#running();
    if (version === undefined) {
      m.held = false;
      m.excluded.clear();
      await this.#refresh(m, true);
      const newest = this.#newest(m);
      if (newest) return newest.model!;
      const failed = [...m.versions.values()].filter((e) => e.error).sort((a, b) => b.version - a.version)[0];
      throw m.error ?? failed?.error ?? unavailable(`model '${name}' has no version to load under ${m.config.basePath}`);
    }
    this.#checkVersion(version);
    m.excluded.delete(version);
    return this.#exclusive(m, async () => {
      const current = m.versions.get(version);
      if (current?.state === 'AVAILABLE') {
        current.pinned = true;
        return current.model!;
      }
      this.#checkFraction(m);
      const dir = path.join(m.config.basePath, String(version));
      const before = await fingerprint(dir);
      if (before === undefined) throw new NotFoundError(`model '${name}' has no version ${version}: ${dir} is not a directory`);
      if (before === null) throw new NotFoundError(`version ${version} of model '${name}' has no saved_model.pb (or .pbtxt) in ${dir}`);
      await sleep(this.#config.settleMs + 10);
      if ((await fingerprint(dir)) !== before) {
        throw unavailable(`version ${version} of model '${name}' is still being written: its files changed within ${this.#config.settleMs} ms`);
      }
      const entry = await this.#loadVersion(m, version, dir, before, true);
      if (entry.state !== 'AVAILABLE') throw entry.error!;
      return entry.model!;
    });
  }

  /**
   * Unloads a version (or, with none, every version, and stops applying the policy to the
   * model until load(name)). Runs already routed to it finish first. The policy does not
   * load an unloaded version again until load().
   */
  async unload(name: string, version?: number): Promise<void> {
    const m = this.#model(name);
    if (version === undefined) {
      m.held = true;
    } else {
      this.#checkVersion(version);
      if (!m.versions.has(version)) throw new NotFoundError(`model '${name}' has no version ${version}; it has ${this.#describeVersions(m)}`);
      m.excluded.add(version);
    }
    await this.#exclusive(m, async () => {
      for (const entry of [...m.versions.values()]) {
        if (version !== undefined && entry.version !== version) continue;
        entry.pinned = false;
        await this.#unloadVersion(m, entry);
      }
    });
    this.#settle(m);
  }

  /**
   * The Model of a version (default: the newest AVAILABLE one). Runs made on it directly are
   * not counted by the manager: a swap may dispose it under them (MODEL_DISPOSED). Use run().
   */
  get(name: string, version?: number): Model {
    const m = this.#model(name);
    if (version !== undefined) this.#checkVersion(version);
    const routed = this.#route(m, version);
    if (routed === null) throw unavailable(`model '${name}' is loading: no version is AVAILABLE yet`);
    if (routed instanceof Error) throw routed;
    return routed.model!;
  }

  /** Runs the newest AVAILABLE version (or options.version) and resolves with its outputs. */
  async run(name: string, feeds: Feeds, options?: ManagerRunOptions): Promise<Record<string, Tensor>> {
    return (await this.predict(name, feeds, options)).outputs;
  }

  /**
   * run() that also says which version served (TensorFlow Serving's PredictResponse.model_spec).
   * Unknown model: NOT_FOUND naming the models there are. No AVAILABLE version: UNAVAILABLE with
   * the versions' states and errors, after waiting (up to queueTimeoutMs) while one is loading.
   */
  async predict(name: string, feeds: Feeds, options: ManagerRunOptions = {}): Promise<Prediction> {
    const m = this.#model(name);
    if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
    const { version, ...runOptions } = options;
    if (version !== undefined) this.#checkVersion(version);
    const entry = this.#acquire(m, version) ?? await this.#wait(m, version);
    try {
      // Counted before the call starts: the version is not disposed until this run is done.
      const outputs = await entry.model!.run(feeds, runOptions);
      return { name, version: entry.version, outputs };
    } catch (error) {
      if ((error as { code?: unknown }).code === 'MODEL_CRASHED') this.#crashed(m, entry, asError(error));
      throw error;
    } finally {
      if (--entry.inflight === 0 && entry.drained) entry.drained();
    }
  }

  /** Every model's status (or one model's), versions ascending. */
  status(): ModelStatus[];
  status(name: string): ModelStatus;
  status(name?: string): ModelStatus | ModelStatus[] {
    if (name !== undefined) return this.#status(this.#model(name));
    return [...this.#models.values()].map((m) => this.#status(m));
  }

  /**
   * Stops watching and unloads every version: runs in flight finish, runs called from now on
   * reject with UNAVAILABLE. Idempotent; resolves once every version is END (and every
   * isolated host has exited). A stopped manager cannot be started again.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      for (const m of this.#models.values()) this.#settle(m);
      await Promise.all([...this.#models.values()].map((m) => this.#exclusive(m, async () => {
        await Promise.all([...m.versions.values()].map((entry) => this.#unloadVersion(m, entry)));
      })));
    })();
    return this.#stopping;
  }

  // -- lifecycle -------------------------------------------------------------

  #exclusive<T>(m: Managed, work: () => Promise<T>): Promise<T> {
    const result = m.lock.then(work);
    m.lock = result.then(() => undefined, () => undefined);
    return result;
  }

  #schedule(): void {
    if (!this.#config.watch || this.#stopping) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void Promise.all([...this.#models.values()].map((m) => this.#refresh(m, false))).finally(() => this.#schedule());
    }, this.#config.pollIntervalMs);
    this.#timer.unref();
  }

  // Looks at the model's versions on disk and loads, swaps and unloads as its policy says.
  // settle: a version still changing gets one more look, settleMs later (start, load).
  #refresh(m: Managed, settle: boolean): Promise<void> {
    return this.#exclusive(m, async () => {
      if (this.#stopping) return;
      if (m.held) return;
      try {
        this.#checkFraction(m);
      } catch {
        return;
      }
      let look = await this.#look(m);
      if (look && settle && look.pending > 0) {
        await sleep(this.#config.settleMs + 10);
        look = await this.#look(m);
      }
      if (look) await this.#reconcile(m, look);
    }).catch((error: unknown) => this.#modelError(m, asError(error)));
  }

  async #look(m: Managed): Promise<Look | null> {
    const base = m.config.basePath;
    let names: string[];
    try {
      names = await readdir(base);
    } catch (error) {
      this.#modelError(m, new NotFoundError(`model '${m.config.name}': cannot read its basePath ${base}: ${asError(error).message}`));
      return null;
    }
    const now = Date.now();
    const present = new Set<number>();
    const ready = new Map<number, string>();
    const looks = new Map<number, { fingerprint: string | null; since: number }>();
    let pending = 0;
    for (const name of names) {
      if (!/^\d+$/.test(name) || !Number.isSafeInteger(Number(name))) continue;
      const version = Number(name);
      const print = await fingerprint(path.join(base, name));
      if (print === undefined) continue;
      present.add(version);
      const before = m.looks.get(version);
      const since = before && before.fingerprint === print ? before.since : now;
      looks.set(version, { fingerprint: print, since });
      if (print !== null && before?.fingerprint === print && now - since >= this.#config.settleMs) ready.set(version, print);
      else pending++;
    }
    m.looks = looks;
    if (present.size === 0) {
      this.#modelError(m, new NotFoundError(`no versions of model '${m.config.name}' found under ${base} (versions are numeric sub-directories)`));
    } else if (m.error) {
      m.error = null;
    }
    return { present, ready, pending };
  }

  async #reconcile(m: Managed, look: Look): Promise<void> {
    // Versions whose directory is gone are forgotten once END; loaded, they serve until replaced.
    for (const entry of [...m.versions.values()]) {
      if (entry.state === 'END' && !look.present.has(entry.version)) m.versions.delete(entry.version);
    }
    const loaded = () => [...m.versions.values()].filter((e) => e.state === 'AVAILABLE');
    const policy = m.config.versionPolicy;
    // 'latest' asks for the newest versions that serve, so a broken one is passed over for the
    // next older; 'all' and 'specific' name their versions, and a broken one stays their gap.
    const fallBack = policy === 'latest' || (typeof policy === 'object' && 'latest' in policy);
    // Failed with the files it has now: not tried again by this look (nor the next, until they change).
    const failed = (v: number) => {
      const entry = m.versions.get(v);
      return entry?.state === 'END' && entry.error !== null && !entry.crashed && entry.fingerprint === look.ready.get(v);
    };
    const candidates = new Set([...look.ready.keys(), ...loaded().map((e) => e.version).filter((v) => look.present.has(v))]);
    const choose = (pool: Iterable<number>) => {
      const chosen = new Set<number>();
      if (m.held) return chosen;
      for (const v of selectVersions(policy, [...pool])) if (!m.excluded.has(v)) chosen.add(v);
      for (const entry of loaded()) if (entry.pinned && look.present.has(entry.version)) chosen.add(entry.version);
      return chosen;
    };
    // The next older versions take the place of those that failed with the files they have now.
    const loadable = () => [...candidates].filter((v) => !(fallBack && failed(v)));
    // What the policy names among the directories there, broken or still being written: while
    // one is there, a version serving now stays (it may be the last one that loads).
    const named = choose(look.present);
    let aspired = choose(loadable());
    // Each version is tried at most once per look, so one whose host keeps dying (crashed
    // versions are tried again) cannot keep this loop going; only complete (ready) ones at all.
    const tried = new Set<number>();
    for (;;) {
      const toLoad = [...aspired].filter((v) => {
        if (tried.has(v) || !look.ready.has(v)) return false;
        const entry = m.versions.get(v);
        if (!entry) return true;
        // A failed version is tried again once its files change.
        return entry.state === 'END' && (entry.error === null || entry.crashed || entry.fingerprint !== look.ready.get(v));
      }).sort((a, b) => b - a);
      if (toLoad.length === 0) break;
      for (const version of toLoad) {
        if (this.#stopping) return;
        tried.add(version);
        const dir = path.join(m.config.basePath, String(version));
        const print = look.ready.get(version)!;
        const entry = await this.#loadVersion(m, version, dir, print, false);
        if (entry.state === 'END' && (entry.error as { code?: unknown } | null)?.code === 'GPU_BUDGET_EXCEEDED' && this.#config.swapPolicy === 'unload-first') {
          await this.#unloadFirst(m, version, dir, print, aspired);
        }
      }
      if (!fallBack || this.#stopping) break;
      aspired = choose(loadable());
    }
    // The old versions go once a version the policy wants is serving (or none is left to
    // wait for); until then they keep serving, even when a new version failed to load.
    if (this.#stopping) return;
    if ((aspired.size > 0 || named.size > 0) && ![...aspired].some((v) => m.versions.get(v)?.state === 'AVAILABLE')) return;
    for (const entry of loaded()) if (!aspired.has(entry.version)) await this.#unloadVersion(m, entry);
  }

  // swapPolicy 'unload-first': the ledger could not hold both, so the old versions go first;
  // runs wait meanwhile. If the new version still fails, the old ones are loaded again.
  async #unloadFirst(m: Managed, version: number, dir: string, print: string, aspired: ReadonlySet<number>): Promise<void> {
    const retiring = [...m.versions.values()].filter((e) => e.state === 'AVAILABLE' && !aspired.has(e.version));
    if (retiring.length === 0) return;
    m.busy++;
    try {
      for (const entry of retiring) await this.#unloadVersion(m, entry);
      const entry = await this.#loadVersion(m, version, dir, print, false);
      if (entry.state === 'AVAILABLE') return;
      for (const old of retiring) await this.#loadVersion(m, old.version, old.path, old.fingerprint, old.pinned);
    } finally {
      m.busy--;
      this.#settle(m);
    }
  }

  async #loadVersion(m: Managed, version: number, dir: string, print: string, pinned: boolean): Promise<Entry> {
    const entry: Entry = {
      version, path: dir, fingerprint: print, state: 'START', error: null, model: null, inflight: 0, drained: null, pinned, crashed: false,
    };
    m.versions.set(version, entry);
    m.busy++;
    let model: Model | null = null;
    try {
      this.#set(m, entry, 'START');
      this.#set(m, entry, 'LOADING');
      model = await loadModel(dir, m.config.loadOptions);
      await this.#warmup(m, model, version);
    } catch (error) {
      if (model) await model.dispose();
      model = null;
      entry.error = asError(error);
    }
    m.busy--;
    if (model) {
      entry.model = model;
      this.#set(m, entry, 'AVAILABLE');
    } else {
      this.#set(m, entry, 'END');
      this.#events.emit('failure', { name: m.config.name, version, error: entry.error! });
    }
    return entry;
  }

  async #warmup(m: Managed, model: Model, version: number): Promise<void> {
    const warmup = m.config.warmup;
    if (!warmup) return;
    try {
      for (let i = 0; i < warmup.runs; i++) {
        // JSON values are typed by the signature in run() itself (lib/values.ts).
        const feeds = typeof warmup.feeds === 'function' ? await warmup.feeds() : warmup.feeds;
        await model.run(feeds, { signature: warmup.signature });
      }
    } catch (error) {
      const failed = asError(error);
      failed.message = `warm-up of version ${version} of model '${m.config.name}' failed: ${failed.message}`;
      throw failed;
    }
  }

  async #unloadVersion(m: Managed, entry: Entry): Promise<void> {
    if (entry.state !== 'AVAILABLE') return;
    this.#set(m, entry, 'UNLOADING');
    if (entry.inflight > 0) await new Promise<void>((resolve) => { entry.drained = resolve; });
    entry.drained = null;
    await entry.model!.dispose();
    entry.model = null;
    this.#set(m, entry, 'END');
  }

  // An isolated version whose host died: out of routing at once, reloaded by the next look.
  #crashed(m: Managed, entry: Entry, error: Error): void {
    if (entry.state !== 'AVAILABLE') return;
    const model = entry.model!;
    entry.model = null;
    entry.error = error;
    entry.crashed = true;
    this.#set(m, entry, 'END');
    this.#events.emit('failure', { name: m.config.name, version: entry.version, error });
    void model.dispose();
  }

  #set(m: Managed, entry: Entry, state: VersionState): void {
    entry.state = state;
    const event: StateEvent = state === 'END' && entry.error
      ? { name: m.config.name, version: entry.version, state, error: entry.error }
      : { name: m.config.name, version: entry.version, state };
    this.#events.emit('state', event);
    this.#settle(m);
  }

  #modelError(m: Managed, error: Error): void {
    const repeated = m.error?.message === error.message;
    m.error = error;
    if (!repeated) this.#events.emit('failure', { name: m.config.name, version: null, error });
  }

  #checkFraction(m: Managed): void {
    if (this.#config.requireGpuFraction && m.config.gpuMemoryFraction === undefined) {
      const error = new NotFoundError(`Fraction not set for model ${m.config.name}`);
      this.#modelError(m, error);
      throw error;
    }
  }

  // -- routing ---------------------------------------------------------------

  #newest(m: Managed): Entry | undefined {
    let best: Entry | undefined;
    for (const entry of m.versions.values()) {
      if (entry.state === 'AVAILABLE' && (!best || entry.version > best.version)) best = entry;
    }
    return best;
  }

  // The version a run goes to now; null: wait (a load is under way); an Error: fail.
  #route(m: Managed, version: number | undefined): Entry | Error | null {
    const name = m.config.name;
    if (this.#stopping) return unavailable(`model '${name}': the model manager is stopped`);
    if (version === undefined) {
      const newest = this.#newest(m);
      if (newest) return newest;
      if (m.busy > 0) return null;
      const why = m.error ? `; ${m.error.message}` : '';
      return unavailable(`model '${name}' has no AVAILABLE version (versions: ${this.#describeVersions(m)})${why}`);
    }
    const entry = m.versions.get(version);
    if (entry?.state === 'AVAILABLE') return entry;
    if (entry?.state === 'START' || entry?.state === 'LOADING' || (!entry && m.busy > 0)) return null;
    if (!entry) return new NotFoundError(`model '${name}' has no version ${version}; it has ${this.#describeVersions(m)}`);
    return unavailable(`version ${version} of model '${name}' is ${entry.state}${entry.error ? `: ${entry.error.message}` : ''}`);
  }

  #acquire(m: Managed, version: number | undefined): Entry | null {
    const routed = this.#route(m, version);
    if (routed instanceof Error) throw routed;
    if (routed) routed.inflight++;
    return routed;
  }

  #wait(m: Managed, version: number | undefined): Promise<Entry> {
    return new Promise<Entry>((resolve, reject) => {
      const ms = this.#config.queueTimeoutMs;
      const waiter: Waiter = {
        version, resolve, reject,
        timer: setTimeout(() => {
          m.waiters.delete(waiter);
          reject(unavailable(`model '${m.config.name}': no version became AVAILABLE within ${ms} ms (versions: ${this.#describeVersions(m)})`));
        }, ms),
      };
      m.waiters.add(waiter);
    });
  }

  // Hands waiting runs a version, or their error, once there is one.
  #settle(m: Managed): void {
    for (const waiter of m.waiters) {
      const routed = this.#route(m, waiter.version);
      if (routed === null) continue;
      m.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      if (routed instanceof Error) {
        waiter.reject(routed);
      } else {
        routed.inflight++;
        waiter.resolve(routed);
      }
    }
  }

  // -- helpers ---------------------------------------------------------------

  #model(name: string): Managed {
    const m = typeof name === 'string' ? this.#models.get(name) : undefined;
    if (!m) throw new NotFoundError(`no model named ${describe(name)}; the models are ${this.names.map((n) => `'${n}'`).join(', ')}`);
    return m;
  }

  #running(): void {
    if (this.#stopping) throw unavailable('the model manager is stopped; create a new one');
  }

  #checkVersion(version: unknown): void {
    if (typeof version !== 'number') throw invalidType('version', 'an integer', version);
    if (!Number.isSafeInteger(version) || version < 0) throw outOfRange('version', 'an integer ≥ 0', version);
  }

  #describeVersions(m: Managed): string {
    const list = [...m.versions.values()].sort((a, b) => a.version - b.version)
      .map((e) => `${e.version} ${e.state}${e.error ? ` (${e.error.message})` : ''}`);
    return list.length ? list.join(', ') : 'none';
  }

  #status(m: Managed): ModelStatus {
    const versions = [...m.versions.values()].sort((a, b) => a.version - b.version).map((e) => Object.freeze({
      version: e.version, state: e.state, path: e.path, error: statusError(e.error), inflight: e.inflight,
    }));
    return Object.freeze({ name: m.config.name, basePath: m.config.basePath, versions: Object.freeze(versions), error: statusError(m.error) });
  }
}
