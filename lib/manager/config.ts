/**
 * The ModelManager's configuration: its types, as a user writes them in code or JSON, and
 * their validation (each field named in errors, as loadModel's options are). Mirrors
 * TensorFlow Serving's ModelServerConfig (model_config_list) where the two overlap.
 */
import { constants, open as fsOpen } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import * as path from 'node:path';

import { describe, invalidType, NotFoundError, outOfRange, wholeExpected } from '../errors';
import type { Isolation } from '../gpu';
import type { Feeds, Model } from '../model';
import type { RunSignal } from '../abort';
import type { BatchingOptions } from '../batching';
import { type LoadOptions, localDirectory, resolveLoadOptions, URI_SCHEME } from '../options';
import { parseModelServerConfig, withProtoFieldNames } from './tfs-config';

/**
 * Which versions on disk are served (TensorFlow Serving's model_version_policy).
 * 'latest' and `{ latest: n }`: the n (1) highest versions that load. A version that fails to
 * load (or warm up) is passed over for the next older one, until n serve or none is left; it
 * stays END with its error in status(), and is tried again once its files change.
 * `{ specific: [...] }` (those of them that exist) and 'all': exactly those versions; one that
 * fails stays END with its error, and no other version is loaded in its place.
 */
export type VersionPolicy = 'latest' | 'all'
  | {
    /** How many of the highest versions that load are served, an integer ≥ 1 (TensorFlow Serving's latest.num_versions). */
    readonly latest: number;
  }
  | {
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
  run?: ((model: Model, version: { version: number; path: string; signal: RunSignal }) => Promise<unknown>) | undefined;
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

/** @internal A warm-up, validated: feeds or a function. */
export type ResolvedWarmup = { readonly runs: number } & (
  | { readonly feeds: NonNullable<WarmupConfig['feeds']>; readonly signature: string | undefined }
  | { readonly run: NonNullable<WarmupConfig['run']> });

/** @internal A model's configuration, validated. */
export interface ResolvedModel {
  readonly name: string;
  readonly basePath: string;
  readonly gpuMemoryFraction: number | undefined;
  readonly versionPolicy: VersionPolicy;
  readonly loadOptions: LoadOptions;
  readonly warmup: ResolvedWarmup | undefined;
  readonly versionLabels: ReadonlyMap<string, number>;
  readonly maxQueuedRequests: number;
}

/** @internal The manager's configuration, validated. */
export interface Resolved {
  readonly models: readonly ResolvedModel[];
  readonly requireGpuFraction: boolean;
  readonly watch: boolean;
  readonly pollIntervalMs: number;
  readonly settleMs: number;
  readonly swapPolicy: SwapPolicy;
  readonly queueTimeoutMs: number;
  readonly allowVersionLabelsForUnavailableModels: boolean;
}

const MANAGER_KEYS = ['models', 'requireGpuFraction', 'watch', 'pollIntervalMs', 'settleMs', 'swapPolicy', 'queueTimeoutMs', 'allowVersionLabelsForUnavailableModels'];
const MODEL_KEYS = ['name', 'basePath', 'gpuMemoryFraction', 'isolation', 'tags', 'batching', 'versionPolicy', 'loadOptions', 'warmup', 'versionLabels', 'maxQueuedRequests'];
const WARMUP_KEYS = ['feeds', 'signature', 'run', 'runs'];
const MODEL_LEVEL_OPTIONS = ['gpuMemoryFraction', 'isolation', 'tags', 'batching'];
const LOAD_OPTION_KEYS = [
  'allowGrowth', 'gpuDevice', 'signature', 'intraOpThreads', 'interOpThreads', 'allowSoftPlacement',
  'logDevicePlacement', 'sessionConfig', 'maxConcurrentRuns', 'opLibraries', 'runTimeoutMs', 'opPolicy', 'hostMemoryLimitBytes',
  'hostHangTimeoutMs', 'partition', 'target', 'operationTimeoutMs',
];

function record(where: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType(where, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      // TensorFlow Serving's snake_case names (base_path, version_labels): the key meant, by name.
      const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      const meant = camel !== key && known.includes(camel) ? ` (did you mean ${camel}?)` : '';
      const error = new TypeError(`${where}.${key} is not a known key${meant}; the keys are ${known.join(', ')}`);
      (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
      throw error;
    }
  }
  return value as Record<string, unknown>;
}

function optionalInt(where: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidType(where, 'an integer', value);
  if (!Number.isSafeInteger(value) || value < min) throw outOfRange(where, wholeExpected(`an integer ≥ ${min}`, value), value);
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
  const runs = optionalInt(`${where}.runs`, w.runs, 1, 1);
  if (w.run !== undefined) {
    if (typeof w.run !== 'function') throw invalidType(`${where}.run`, 'a function (model, { version, path }) returning a promise', w.run);
    if (w.feeds !== undefined || w.signature !== undefined) throw invalidType(`${where}.${w.feeds !== undefined ? 'feeds' : 'signature'}`, `absent when ${where}.run is given (feeds or run, not both)`, w.feeds ?? w.signature);
    return { run: w.run as NonNullable<WarmupConfig['run']>, runs };
  }
  const feeds = w.feeds;
  if (typeof feeds !== 'function' && (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds))) {
    throw invalidType(`${where}.feeds`, 'an object of feeds by input key, or a function returning one (or give run instead)', feeds);
  }
  if (w.signature !== undefined && (typeof w.signature !== 'string' || w.signature === '')) {
    throw invalidType(`${where}.signature`, 'a non-empty string', w.signature);
  }
  return { feeds: feeds as NonNullable<WarmupConfig['feeds']>, signature: w.signature as string | undefined, runs };
}

function modelConfig(where: string, value: unknown): ResolvedModel {
  const m = record(where, value, MODEL_KEYS);
  if (typeof m.name !== 'string' || m.name === '') throw invalidType(`${where}.name`, 'a non-empty string', m.name);
  const basePath = localDirectory(`${where}.basePath`, m.basePath, 'a directory path');
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
    basePath,
    gpuMemoryFraction: m.gpuMemoryFraction as number | undefined,
    versionPolicy: versionPolicy(`${where}.versionPolicy`, m.versionPolicy),
    loadOptions: Object.freeze(loadOptions),
    warmup: warmupConfig(`${where}.warmup`, m.warmup),
    versionLabels: versionLabels(`${where}.versionLabels`, m.versionLabels),
    maxQueuedRequests: maxQueuedRequests(`${where}.maxQueuedRequests`, m.maxQueuedRequests),
  });
}

function maxQueuedRequests(where: string, value: unknown): number {
  if (value === undefined || value === Infinity) return Infinity;
  return optionalInt(where, value, 1, Infinity);
}

// A label is a name a URL can carry (/v1/models/m/labels/<label>): letters, digits, - and _.
const LABEL = /^[A-Za-z0-9_-]+$/;

function versionLabels(where: string, value: unknown): ReadonlyMap<string, number> {
  const labels = new Map<string, number>();
  if (value === undefined) return labels;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType(where, 'an object of versions by label', value);
  for (const [label, version] of Object.entries(value)) {
    if (!LABEL.test(label)) throw invalidType(`${where} key ${JSON.stringify(label)}`, 'a label of letters, digits, - and _', label);
    labels.set(label, optionalInt(`${where}.${label}`, version, 0, 0));
  }
  return labels;
}

/** @internal Validates a manager's configuration; relative base paths are resolved against the working directory. */
export function resolveManagerConfig(value: unknown, where = 'config'): Resolved {
  const c = record(where, value, MANAGER_KEYS);
  // An empty list is allowed, as TensorFlow Serving allows an empty model_config_list: models
  // can come later (reconfigure(), gRPC's HandleReloadConfigRequest).
  if (!Array.isArray(c.models)) throw invalidType(`${where}.models`, 'an array of model configs ([] for none yet)', c.models);
  const models = c.models.map((m, i) => modelConfig(`models[${i}]`, m));
  // (A set, not a search of the list for each: 40 000 models took 2.6 s, session 57.)
  const names = new Set<string>();
  models.forEach((m, i) => {
    if (names.has(m.name)) throw outOfRange(`models[${i}].name`, 'unique', m.name);
    names.add(m.name);
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
    allowVersionLabelsForUnavailableModels: optionalBool(`${where}.allowVersionLabelsForUnavailableModels`, c.allowVersionLabelsForUnavailableModels),
  });
}

// JSON.parse's "... at position N" with the line and column of N (1-based) added.
function withLine(message: string, text: string): string {
  const at = /at position (\d+)/.exec(message);
  if (!at) return message;
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: Error } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, error: error as Error };
  }
}

/**
 * @internal The most a configuration file may hold, in bytes (16 MiB): a model config of tens of
 * thousands of models, an SSLConfig of 1000 CA certificates (about 2 MB) fit; a bigger file is a
 * mistake, and one that never ends (/dev/zero, a pipe) would be read until memory ran out.
 */
export const CONFIG_FILE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * @internal Reads a configuration file as UTF-8 text, a byte order mark (as some editors write)
 * dropped, reading no more than CONFIG_FILE_MAX_BYTES + 1 bytes of it (of a FIFO, no more than
 * one chunk past that).
 *
 * @throws RangeError (code ERR_FS_FILE_TOO_LARGE, as Node's readFile past 2 GiB) for a longer
 *   file, before the rest is read; Node's own errors (ENOENT, EACCES, EISDIR, ...) with their codes
 */
export async function readConfigText(file: string): Promise<string> {
  // A FIFO: open() would wait in a thread of libuv's pool for a writer, and hold up the
  // process's exit until one came (helper-71: two SIGTERMs did not end it). Opened without
  // waiting and read on the event loop, it reads what its writer writes until it closes, and
  // nothing when no writer has it open. Anything else is read through its file handle, at most
  // one byte past the limit (`end` is inclusive).
  const source: AsyncIterable<Buffer> = (await stat(file)).isFIFO()
    ? new Socket({ fd: await openFifo(file), readable: true, writable: false })
    : (await open(file, 'r')).createReadStream({ end: CONFIG_FILE_MAX_BYTES, highWaterMark: 1 << 20 });
  const chunks: Buffer[] = [];
  let total = 0;
  // (Leaving the loop, by its end or a throw, destroys the stream: its file is closed.)
  for await (const chunk of source) {
    chunks.push(chunk);
    total += chunk.length;
    if (total > CONFIG_FILE_MAX_BYTES) {
      throw Object.assign(new RangeError(`${file} holds more than ${CONFIG_FILE_MAX_BYTES} bytes (16 MiB), the most a configuration file may hold`), { code: 'ERR_FS_FILE_TOO_LARGE' });
    }
  }
  return Buffer.concat(chunks, total).toString('utf8').replace(/^\uFEFF/, '');
}

function openFifo(file: string): Promise<number> {
  return new Promise((resolve, reject) => fsOpen(file, constants.O_RDONLY | constants.O_NONBLOCK, (error, fd) => (error ? reject(error) : resolve(fd))));
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
export async function readConfigFile(file: string): Promise<ModelManagerConfig> {
  if (typeof file !== 'string' || file === '') throw invalidType('file', 'a configuration file path', file);
  let text: string;
  try {
    text = await readConfigText(file);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(`no model config file at ${path.resolve(file)} (${(error as Error).message})`);
    throw error; // EACCES, EISDIR, ...: Node's own error, with its code
  }
  let config: ModelManagerConfig | undefined;
  // JSON when it parses as JSON, or looks like it (a text-format file starts with a field name or a comment).
  const json = parseJson(text);
  if (json.ok || /^\s*[{[]/.test(text)) {
    if (!json.ok) throw Object.assign(new SyntaxError(`${file} is not valid JSON: ${withLine(json.error.message, text)}`), { code: 'INVALID_ARGUMENT' });
    const value = json.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TypeError(`${file}: a JSON model config must be an object ({"models": [{"name": ..., "basePath": ...}]}), not ${Array.isArray(value) ? 'an array' : describe(value)}`);
    }
    if ('model_config_list' in value) {
      throw new TypeError(`${file}: "model_config_list" is TensorFlow Serving's ModelServerConfig as proto JSON, which tfslice does not read; ` +
        'write it in TensorFlow Serving\'s text format (model_config_list { config { name: ... base_path: ... } }), or as tfslice\'s JSON ({"models": [{"name": ..., "basePath": ...}]})');
    }
    config = value as ModelManagerConfig;
    resolveAgainst(config, path.dirname(path.resolve(file)));
  }
  // Named as the file names them: a JSON file's fields by tfslice's names, a text-format one's by
  // TensorFlow Serving's.
  const where = json.ok ? file : `${file} (TensorFlow Serving's text-format model config)`;
  try {
    config ??= parseModelServerConfig(text);
    // Checked here too, so that what the ModelManager would refuse is named as the file names it.
    resolveManagerConfig(config);
  } catch (error) {
    if (error instanceof SyntaxError) error.message = `${where}: ${error.message}`;
    else if (error instanceof TypeError || error instanceof RangeError) error.message = `${where}: ${json.ok ? error.message : withProtoFieldNames(error.message, 'model_config_list.config')}`;
    throw error;
  }
  return config;
}

// A JSON config's relative base paths, against its file's directory.
function resolveAgainst(config: ModelManagerConfig, dir: string): void {
  const models = (config as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) return;
  for (const m of models) {
    // A URI is left for resolveManagerConfig to read (a file:// URL) or refuse.
    if (m !== null && typeof m === 'object' && typeof m.basePath === 'string' && !URI_SCHEME.test(m.basePath)) m.basePath = path.resolve(dir, m.basePath);
  }
}
