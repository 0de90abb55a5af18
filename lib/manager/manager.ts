/**
 * ModelManager: what TensorFlow Serving's model manager does, on top of loadModel().
 * Models by name, versions as numeric sub-directories of a base path, a version policy
 * choosing which are served, a GPU memory fraction (and isolation) per model, version
 * states as TensorFlow Serving names them, and, in watch mode, new versions swapped in
 * without a failed request: runs are routed at call time and counted per version, and
 * a version is disposed only once the runs it was given have finished.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import * as path from 'node:path';

import { CRASHED_ADVICE, describe, invalidType, ModelCrashedError, ModelDisposedError, NotFoundError, outOfRange, QueueFullError, ServableNotFoundError, TensorFlowError, wholeExpected } from '../errors';
import { disposeOptions, loadModel, type Feeds, type Model, RUN_OPTIONS } from '../model';
import { abortedRun, checkSignalType, type RunSignal, timerFor } from '../abort';
import { callListeners } from '../listeners';
import { fitsNow, type GpuHolderRef } from '../gpu';
import { type LoadOptions, resolveLoadOptions, runTimeout } from '../options';
import type { Tensor } from '../tensor';
import { type ManagedModelConfig, type ModelManagerConfig, readConfigFile, type Resolved, type ResolvedModel, resolveManagerConfig } from './config';
import { acquire, newest, route, settle, wait } from './routing';
import {
  asError, describeVersions, type Entry, movedAway, type ManagerRunOptions, type Managed, type ModelManagerEvents, type ModelStatus, type Prediction,
  policySaid, type StateEvent, statusOf, unavailable, unloadedBy, unrecognizedLabel, versionsSaid, type VersionState,
} from './state';
import { changedFiles, filesSaid, fingerprint, type Look, lookAt, selectVersions, type Wanted } from './versions';


// Loads of a version in a row whose host dies before it loads that are tried again by the next
// look (whatever its files); after them it waits for its files to change, load() or a reload.
const LOAD_CRASH_RETRIES = 5;
const stoppedError = () => unavailable('the model manager is stopped; create a new one');
// A model asked for before start(): nothing loads until then.
const stoppedDuring = (name: string) => unavailable(`model '${name}': the model manager was stopped while this load was under way; its versions are unloaded`);
const USE_KEYS = new Set(['version', 'label', 'waitLimitMs', 'signal']);

// use()'s `which` and `work`, checked whether or not the call has to wait (helper-120: a bad
// waitLimitMs or signal passed unseen when a version was AVAILABLE, a missing `which` was a
// TypeError without a code).
function checkUse(which: unknown, work: unknown): void {
  if (typeof which !== 'object' || which === null) throw invalidType('which', 'an object ({ version?, label?, waitLimitMs?, signal? }; {} for the newest AVAILABLE version)', which);
  for (const key in which) if (!USE_KEYS.has(key)) throw invalidType(`use option ${JSON.stringify(key)}`, `one of ${[...USE_KEYS].join(', ')}`, key);
  const { waitLimitMs, signal } = which as { waitLimitMs?: unknown; signal?: unknown };
  if (waitLimitMs !== undefined) runTimeout('waitLimitMs', waitLimitMs);
  // (Its type here; one aborted already is CANCELLED once the model and version are found.)
  checkSignalType(signal);
  if (typeof work !== 'function') throw invalidType('work', 'a function (model, version) => Promise', work);
}

const notStarted = (name: string) => unavailable(`model '${name}': the model manager has not started; call start() first (it loads the models)`);

/** How many removed models status() still answers for (UNLOADING, then END), the most recently removed. */
const RETIRED_KEPT = 1024;

/**
 * How many looks (pollIntervalMs) and settle periods (settleMs), whichever is longer, a version
 * directory may lack saved_model.pb(txt), or a version's files keep changing, before it is said
 * to be skipped (#noteSkipped); at least a second.
 */
const SKIPPED_AFTER_LOOKS = 10;
/** Version directories said one by one at a look (#noteSkipped); past that, the first few in one 'failure'. */
const SKIPPED_LISTED = 3;
// The GPU shares of isolated versions, as fitsNow() counts them given back.
function shares(entries: readonly Entry[]): GpuHolderRef[] {
  return entries.map((e) => ({ holder: e.path, fraction: typeof e.options.gpuMemoryFraction === 'number' ? e.options.gpuMemoryFraction : null }));
}

/**
 * Serves named, versioned SavedModels the way TensorFlow Serving's model manager does.
 * See the README, "Model manager".
 */
export class ModelManager {
  // Composition, not inheritance: the published types then need no @types/node.
  readonly #events = new EventEmitter<ModelManagerEvents>();
  #config: Resolved;
  #models = new Map<string, Managed>();
  #started: Promise<ModelStatus[]> | null = null;
  #stopping: Promise<void> | null = null;
  /** The settle periods under way (#settling): each ends at once when called. */
  readonly #settlingNow = new Set<() => void>();
  /** stop({ killAfterMs }): when runs in flight stop being waited for (performance.now() ms). */
  #killAt: number | null = null;
  /** Versions draining their runs (#unloadVersion): each re-arms its wait for a new #killAt. */
  readonly #draining = new Set<() => void>();
  /** Models being disposed (#unloadVersion): a later killAfterMs reaches them too. */
  readonly #disposing = new Set<Model>();
  /** Versions loaded and running their warm-up (#loadVersion), with their model: stop() ends them, a reload removing the model its own. */
  readonly #warming = new Map<Model, Managed>();
  // The custom warm-ups (WarmupConfig.run) under way, by model: aborted where the warm-up stops.
  readonly #warmAborts = new Map<Model, AbortController>();
  #timer: NodeJS.Timeout | null = null;

  /**
   * Checks `config`; nothing loads until start().
   * @throws ERR_INVALID_ARG_TYPE (TypeError) or ERR_OUT_OF_RANGE (RangeError) naming the field
   *   (`models[2].basePath`, `config.swapPolicy`) and what it takes
   */
  constructor(config: ModelManagerConfig) {
    this.#config = resolveManagerConfig(config);
    for (const model of this.#config.models) this.#models.set(model.name, managed(model, this.#config.watch));
  }

  /**
   * @internal A model's configuration as given (its load options split back out), or undefined:
   * what gRPC's HandleReloadConfigRequest keeps of a model TensorFlow Serving's config cannot
   * describe (GPU fraction, isolation, batching, ...).
   */
  modelConfig(name: string): ManagedModelConfig | undefined {
    const m = this.#models.get(name);
    if (!m) return undefined;
    const { gpuMemoryFraction: _fraction, isolation, tags, batching, ...loadOptions } = m.config.loadOptions;
    const out: ManagedModelConfig = { name, basePath: m.config.basePath, versionPolicy: m.config.versionPolicy, loadOptions };
    if (m.config.gpuMemoryFraction !== undefined) out.gpuMemoryFraction = m.config.gpuMemoryFraction;
    if (isolation !== undefined) out.isolation = isolation;
    if (tags !== undefined) out.tags = tags;
    if (batching !== undefined) out.batching = batching;
    if (m.config.warmup) out.warmup = m.config.warmup;
    if (m.config.versionLabels.size > 0) out.versionLabels = Object.fromEntries(m.config.versionLabels);
    return out;
  }

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
  async reconfigure(models: readonly ManagedModelConfig[]): Promise<ModelStatus[]> {
    this.#running();
    const c = this.#config;
    const next = resolveManagerConfig({
      models, requireGpuFraction: c.requireGpuFraction, watch: c.watch, pollIntervalMs: c.pollIntervalMs,
      settleMs: c.settleMs, swapPolicy: c.swapPolicy, queueTimeoutMs: c.queueTimeoutMs,
      allowVersionLabelsForUnavailableModels: c.allowVersionLabelsForUnavailableModels,
    });
    if (this.#started === null && this.#reconfiguring === null) return this.#reconfigure(next);
    const turn = (this.#reconfiguring ?? Promise.resolve()).then(() => {
      this.#running();
      return this.#reconfigure(next);
    });
    const settled = turn.then(() => undefined, () => undefined);
    this.#reconfiguring = settled;
    void settled.then(() => {
      if (this.#reconfiguring === settled) this.#reconfiguring = null;
    });
    return turn;
  }

  // A model of a new list looked at (#refresh), after `before` when given; a new one is counted
  // busy until then, so that runs without a version wait for it, as at start().
  // looked: a new model's first look (beginLook), ended here.
  #reconfigured(m: Managed, looked: Looked | undefined, before?: Promise<unknown>): Promise<void> {
    const refresh = before === undefined ? this.#refresh(m, true, looked) : before.then(() => this.#refresh(m, true, looked));
    return refresh.finally(() => {
      if (looked) endLook(m, looked);
      settle(m, this.#stopping !== null);
    });
  }

  // The reconfigurations not yet applied, in order; null when none is.
  #reconfiguring: Promise<void> | null = null;
  // New models waiting for removals to end before they load (#reconfigure).
  readonly #awaitingRemovals = new Set<Managed>();
  // Models reconfigure() removed whose versions are still unloading, by name, and the end of that:
  // status() shows their versions beside those of a model of that name added back meanwhile.
  readonly #removing = new Map<string, { managed: Managed; unloaded: Promise<void> }>();
  // Models reconfigure() removed (and not added back), by name, for retiredStatus().
  readonly #retired = new Map<string, Managed>();

  /**
   * @internal Why a request for a configured model can have no answer yet: UNAVAILABLE before
   * start() (as runs are answered then); null once started.
   */
  notStartedError(name: string): Error | null {
    return this.#started === null ? notStarted(name) : null;
  }

  /**
   * @internal The status of a model that reconfigure() removed and no later list added back: its
   * versions UNLOADING, then END (TensorFlow Serving's GetModelStatus answers them so, from its
   * ServableStateMonitor); undefined for a name never removed.
   */
  retiredStatus(name: string): ModelStatus | undefined {
    const m = this.#retired.get(name);
    return m === undefined ? undefined : statusOf(m, false);
  }

  /**
   * @internal The models reconfigure() removed whose versions are still unloading (runs in
   * flight finishing), and that no later list added back: what the server's metrics show beside
   * status() until they are END.
   */
  drainingRemoved(): ModelStatus[] {
    return [...this.#removing].filter(([name]) => !this.#models.has(name)).map(([, removal]) => statusOf(removal.managed, false));
  }

  async #reconfigure(next: Resolved): Promise<ModelStatus[]> {
    const previous = this.#models;
    const wanted = new Set(next.models.map((m) => m.name));
    const work: Promise<void>[] = [];
    const added: { m: Managed; looked: Looked }[] = [];
    this.#models = new Map();
    this.#config = next;
    for (const model of next.models) {
      const kept = previous.get(model.name);
      const m = kept ?? managed(model, this.#config.watch);
      const before = kept?.config;
      // Once started, the new labels apply when the versions are settled (#applyLabels); until
      // then the old ones.
      m.config = this.#started === null ? model : { ...model, versionLabels: kept?.config.versionLabels ?? new Map<string, number>() };
      this.#models.set(model.name, m);
      if (this.#started === null) continue;
      if (kept) m.labelsComing = model.versionLabels;
      this.#retired.delete(model.name);
      if (kept) {
        // TensorFlow Serving's reload waits for the models it adds, not for those it keeps.
        // tfslice waits for a kept one's look (a version that appeared meanwhile loads, and a
        // label may name it) unless the model is loading now and its base path and version
        // policy are unchanged: the look, queued behind that load or warm-up, held the reload
        // for as long (helper-111: every later reload waited for a model left as it was).
        const idle = m.busy === 0;
        // Its look holds runs without a version while none serves, as load()'s does (helper-118:
        // one failed at once while the look was about to load a version); not runs for versions
        // not known yet, which a reload of a model it keeps answers at once, as TensorFlow
        // Serving does (helper-119: each waited out the look's settle pause).
        const refresh = this.#reconfigured(m, beginBusy(m));
        const changed = before === undefined || before.basePath !== model.basePath || JSON.stringify(before.versionPolicy) !== JSON.stringify(model.versionPolicy);
        if (changed || idle) work.push(refresh);
        else void refresh.catch(() => undefined);
      } else {
        // Runs without a version wait for the first look of a new model, as at start().
        added.push({ m, looked: beginLook(m) });
      }
    }
    for (const [name, m] of previous) {
      if (wanted.has(name)) continue;
      for (const waiter of m.waiters) {
        waiter.release();
        waiter.reject(new ServableNotFoundError(`model '${name}' was removed from the configuration`, name, waiter.version));
      }
      m.waiters.clear();
      // Its warm-ups stop now, as at stop(): the versions will not serve (helper-115: a removed
      // model's 16 s warm-up ran on, its version went AVAILABLE, and adding it back waited).
      for (const [model, owner] of this.#warming) if (owner === m) this.#stopWarmup(model);
      // Not waited for here: TensorFlow Serving's reload waits for the models it adds, not for
      // those it removes (their runs in flight may take long); stop() waits for them. Their
      // versions' states stay readable, UNLOADING then END (retiredStatus()).
      this.#retired.delete(name); // (re-inserted: the newest last)
      this.#retired.set(name, m);
      // The oldest forgotten past RETIRED_KEPT: a reload loop with new names each time grew this
      // for ever (helper-87: ~6 MB per 300 models added and removed).
      for (const old of this.#retired.keys()) {
        if (this.#retired.size <= RETIRED_KEPT) break;
        this.#retired.delete(old);
      }
      const unloaded: Promise<void> = this.#exclusive(m, () => this.#unloadAll(m, `a reload removed model '${name}' from the configuration`)).catch(() => undefined).finally(() => {
        if (this.#removing.get(name)?.managed === m) this.#removing.delete(name);
      });
      this.#removing.set(name, { managed: m, unloaded });
    }
    // A model added back while its removal still drains loads once that has ended (its
    // sessions, host processes and GPU share gone first); one whose GPU share the ledger cannot
    // hold beside the models being removed (the same reload's too) loads once they are gone,
    // not refused for a share about to be freed. Polls pass them by meanwhile (#refresh).
    for (const { m, looked } of added) {
      let before: Promise<unknown> | undefined = this.#removing.get(m.config.name)?.unloaded;
      if (before === undefined && this.#removing.size > 0 && !this.#fits(m)) before = Promise.all([...this.#removing.values()].map((r) => r.unloaded));
      if (before !== undefined) {
        this.#awaitingRemovals.add(m);
        before = before.then(() => { this.#awaitingRemovals.delete(m); });
      }
      work.push(this.#reconfigured(m, looked, before));
    }
    // Versions kept for a label this reload moves away from them (labelsComing) go once it has
    // moved, or failed to (the model then serves as its policy says, as before): looked at again
    // then, and waited for as the reload's other unloads of models it keeps are.
    const moving: Managed[] = [];
    const settleLabels = () => {
      for (const m of this.#models.values()) {
        const coming = m.labelsComing;
        if (coming === null) continue;
        m.labelsComing = null;
        if ([...m.config.versionLabels].some(([label, at]) => coming.get(label) !== at)) moving.push(m);
      }
    };
    try {
      await Promise.all(work);
    } catch (error) {
      settleLabels();
      for (const m of moving) void this.#refresh(m, false);
      throw error;
    }
    settleLabels();
    // Stopped meanwhile: said so, not a label refused for a version the stop unloaded (helper-134).
    if (this.#stopping) throw stoppedError();
    let refused: unknown = null;
    try {
      if (this.#started !== null) this.#applyLabels(next.models);
    } catch (error) {
      refused = error;
    }
    await Promise.all(moving.map((m) => this.#refresh(m, false)));
    if (refused !== null) throw refused;
    return this.status();
  }

  // TensorFlow Serving's UpdateModelVersionLabelMap (server_core.cc): every label must name a
  // version that is AVAILABLE now, else no label changes and the reload fails. With
  // allowVersionLabelsForUnavailableModels (--allow_version_labels_for_unavailable_models), only
  // a label moved from one version to another must.
  #applyLabels(models: readonly ResolvedModel[]): void {
    const anyVersion = this.#config.allowVersionLabelsForUnavailableModels;
    for (const model of models) {
      const m = this.#models.get(model.name);
      if (!m) continue;
      for (const [label, version] of model.versionLabels) {
        if (m.versions.get(version)?.state === 'AVAILABLE') continue;
        const before = m.config.versionLabels.get(label);
        if (anyVersion && (before === undefined || before === version)) continue;
        throw new TensorFlowError('FAILED_PRECONDITION', `Request to assign label to version ${version} of model ${model.name}, which is not currently available for inference. `
          + `(label '${label}'; the models' other changes are made, their labels stay as they were)`);
      }
    }
    for (const model of models) {
      const m = this.#models.get(model.name);
      if (m) m.config = model;
    }
  }

  /**
   * Calls `listener` for every `event` ('state': a version changed state; 'failure': something
   * failed; 'batch': a batch ran). Listeners are called in the order they were added, during the
   * manager's own work: one that throws (or, async, rejects: it is not waited for) does not stop
   * the others or that work, and its first error is reported as a process warning
   * (`process.emitWarning`, code `TFSLICE_LISTENER_ERROR`), its later ones dropped.
   */
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

  /**
   * A manager configured by a file: the JSON configuration, or TensorFlow Serving's model config
   * (a text-format ModelServerConfig, --model_config_file), told apart by content. Relative base
   * paths are resolved against the file's directory. `extra` adds manager-level settings (watch,
   * pollIntervalMs, ...) to what the file says.
   * @throws SyntaxError (TextFormatError for a text-format file) naming the line; the
   *   configuration's own TypeError/RangeError naming the field; NOT_FOUND for a missing file;
   *   RangeError (ERR_FS_FILE_TOO_LARGE) for a file over 16 MiB
   */
  static async fromFile(file: string, extra: Omit<ModelManagerConfig, 'models'> = {}): Promise<ModelManager> {
    return new ModelManager({ ...(await readConfigFile(file)), ...extra });
  }

  /** The models' names, in configuration order. */
  get names(): string[] {
    return [...this.#models.keys()];
  }

  /** Whether a model of this name is configured (loaded or not). */
  has(name: string): boolean {
    return this.#models.has(name);
  }

  /**
   * Loads every model's versions as its policy says and, in watch mode, starts polling.
   * Resolves once each model's first load has finished, with status(): a model that failed
   * reports its error there (and in 'failure' events), start() does not reject for it. Under
   * 'latest', a newest version that fails to load is reported there too, and the highest older
   * version that loads serves in its place. Rejects with UNAVAILABLE once stopped.
   */
  start(): Promise<ModelStatus[]> {
    if (this.#stopping) return Promise.reject(stoppedError());
    this.#started ??= (async () => {
      await Promise.all([...this.#models.values()].map(async (m) => {
        const looked = beginLook(m); // runs arriving during the first load wait for it
        try {
          await this.#refresh(m, true, looked);
        } finally {
          endLook(m, looked);
          settle(m, this.#stopping !== null);
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
   * keeps it loaded whatever the policy says, until unload(name, version); runs asking for that
   * version meanwhile wait for it (up to queueTimeoutMs). Rejects with the load's error
   * (NOT_FOUND "Fraction not set for model X" with requireGpuFraction; NOT_FOUND when the
   * version's directory is missing), UNAVAILABLE when the version's files changed within settleMs
   * (naming them), once stopped, and when stop() is called while it loads; UNAVAILABLE before
   * start() (nothing loads until then).
   */
  async load(name: string, version?: number): Promise<Model> {
    const m = this.#model(name, version);
    this.#running();
    // Before start() runs are refused: a version loaded then would be AVAILABLE in status() and
    // serve nothing (helper-120).
    if (this.#started === null) throw notStarted(name);
    if (version === undefined) {
      m.held = false;
      m.excluded.clear();
      // Runs called from now on wait for this load (route()), as during start(): the refresh
      // marks its own work only once it has its turn.
      const looked = beginLook(m);
      try {
        await this.#refresh(m, true, looked);
      } finally {
        endLook(m, looked);
        settle(m, this.#stopping !== null);
      }
      // stop() during the load: its Model is disposed, or about to be (helper-84: load() resolved with it).
      if (this.#stopping !== null) throw stoppedDuring(name);
      const best = newest(m);
      if (best) return best.model!;
      const failed = [...m.versions.values()].filter((e) => e.error).sort((a, b) => b.version - a.version)[0];
      throw m.error ?? failed?.error ?? unavailable(`model '${name}' has no version to load under ${m.config.basePath}`);
    }
    this.#checkVersion(version);
    m.excluded.delete(version);
    // Runs for this version arriving meanwhile wait for the load (route()), as during start(),
    // also when it is END now (unloaded, or failed before).
    m.busy++;
    markLoading(m, version);
    try {
      // stop() during the load: UNAVAILABLE, as load(name) says, whether the load ended or its
      // warm-up was stopped (helper-112: MODEL_DISPOSED, from the warm-up stop() cut short).
      const model = await this.#loadPinned(m, name, version).catch((error: unknown) => {
        throw this.#stopping !== null ? stoppedDuring(name) : error;
      });
      if (this.#stopping !== null) throw stoppedDuring(name);
      return model;
    } finally {
      m.busy--;
      unmarkLoading(m, version);
      settle(m, this.#stopping !== null);
    }
  }

  // load(name, version): that version, loaded and kept whatever the policy says.
  #loadPinned(m: Managed, name: string, version: number): Promise<Model> {
    return this.#exclusive(m, async () => {
      // stop() or a reload that removed the model while this waited for its turn: no load starts
      // (helper-115: a version went START after stop(), and an isolated one started a host).
      this.#throwIfCut(m);
      const current = m.versions.get(version);
      if (current?.state === 'AVAILABLE') {
        current.pinned = true;
        return current.model!;
      }
      this.#checkFraction(m);
      const dir = path.join(m.config.basePath, m.looks.get(version)?.dir ?? String(version));
      const before = await fingerprint(dir);
      if (before === undefined) throw new NotFoundError(`model '${name}' has no version ${version}: ${dir} is not a directory`);
      if (before === null) throw new NotFoundError(`version ${version} of model '${name}' has no saved_model.pb (or .pbtxt) in ${dir}`);
      await this.#settling();
      this.#throwIfCut(m);
      const after = await fingerprint(dir);
      if (after !== before) {
        const changed = after === undefined ? 'the directory went away' : `${filesSaid(changedFiles(before, after))} changed`;
        throw unavailable(`version ${version} of model '${name}' is still being written: within ${this.#config.settleMs} ms (settleMs) ${changed} in ${dir}; load it once its files are complete`);
      }
      const entry = await this.#loadVersion(m, version, dir, before, true);
      if (entry.state !== 'AVAILABLE') throw entry.error!;
      return entry.model!;
    });
  }

  /**
   * Unloads a version (or, with none, every version, and stops applying the policy to the
   * model until load(name)). Runs already routed to it finish first. The policy does not
   * load an unloaded version again until load(); a version whose directory the last look saw
   * but that is not loaded is kept from loading so. Rejects with NOT_FOUND for a version with
   * no directory, and with UNAVAILABLE before start() and once stopped (stop() unloads every
   * version itself).
   */
  async unload(name: string, version?: number): Promise<void> {
    const m = this.#model(name, version);
    this.#running();
    if (this.#started === null) throw notStarted(name);
    if (version === undefined) {
      m.held = true;
    } else {
      this.#checkVersion(version);
      // A version a load(name, version) is bringing in (still in its settle check, not listed
      // yet) is unloaded once that load ends: the calls apply in order. One the last look saw but
      // that is not loaded (a look may be settling it) is kept from loading (helper-118: it was
      // NOT_FOUND "has no version").
      if (!m.versions.has(version) && !m.loading.has(version) && !m.looks.has(version)) throw new ServableNotFoundError(`model '${name}' has no version ${version}; it has ${describeVersions(m)}`, name, version);
      m.excluded.add(version);
    }
    // A version a look let go of that still drains (#retire) is waited for too, as unloaded.
    const draining: Promise<void>[] = [];
    await this.#exclusive(m, async () => {
      for (const entry of [...m.versions.values()]) {
        if (version !== undefined && entry.version !== version) continue;
        entry.pinned = false;
        const retiring = m.retiring.get(entry);
        if (retiring !== undefined) draining.push(retiring);
        await this.#unloadVersion(m, entry, unloadedBy(name, version));
      }
    });
    await Promise.all(draining);
    settle(m, this.#stopping !== null);
  }

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
  get(name: string, version?: number): Model {
    const m = this.#model(name, version);
    if (version !== undefined) this.#checkVersion(version);
    if (this.#started === null) throw notStarted(name);
    const routed = route(m, version, this.#stopping !== null);
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
  async predict(name: string, feeds: Feeds, options: ManagerRunOptions = {}): Promise<Prediction> {
    options ??= {}; // null: no options, as undefined (as Model.run())
    if (typeof options !== 'object') throw invalidType('options', 'an object', options);
    for (const key in options) {
      if (key !== 'version' && key !== 'label' && !RUN_OPTIONS.has(key)) throw invalidType(`run option ${JSON.stringify(key)}`, `one of version, label, ${[...RUN_OPTIONS].join(', ')}`, key);
    }
    const { version, label, ...runOptions } = options;
    // Checked here too: they bound the wait for a version to load (use()).
    const waitLimitMs = runOptions.runTimeoutMs === undefined ? 0 : runTimeout('runTimeoutMs', runOptions.runTimeoutMs);
    // (Its type; one aborted already is use()'s to answer, after the model is found.)
    const signal = checkSignalType(runOptions.signal);
    const asked = performance.now();
    return this.use(name, { version, label, waitLimitMs, signal }, async (model, served) => {
      // What is left of its limit after that wait (as a run that waited for its turn gets).
      if (waitLimitMs > 0) runOptions.runTimeoutMs = Math.max(1, Math.ceil(waitLimitMs - (performance.now() - asked)));
      return { name, version: served, outputs: await model.run(feeds, runOptions) };
    });
  }

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
  async use<T>(name: string, which: { version?: number; label?: string; waitLimitMs?: number; signal?: RunSignal }, work: (model: Model, version: number) => Promise<T>): Promise<T> {
    checkUse(which, work);
    // The label asked for goes with a model not found (tfslice serve answers as TensorFlow
    // Serving, which resolves a label first: "Unrecognized servable version label").
    const m = this.#model(name, which.version, typeof which.label === 'string' ? which.label : undefined);
    const version = this.#version(m, which.version, which.label);
    // Aborted already: CANCELLED at once, as Model.run() answers it, whether or not the call
    // would wait (work ran under it when a version was AVAILABLE). After the arguments' checks
    // and the lookups, as there (helper-126: an unknown model was CANCELLED).
    if (which.signal?.aborted) throw abortedRun(which.signal);
    if (m.requests >= m.config.maxQueuedRequests) {
      throw new QueueFullError('model', `model '${name}' holds ${m.requests} requests already, its maxQueuedRequests; retry later`);
    }
    // Before start() nothing loads, so nothing would come of a wait.
    if (this.#started === null) throw notStarted(name);
    m.requests++;
    try {
      const entry = acquire(m, version, this.#stopping !== null) ?? await wait(m, version, this.#config.queueTimeoutMs, which.waitLimitMs, which.signal);
      try {
        // Counted before the work starts: the version is not disposed until it is done.
        return await work(entry.model!, entry.version);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'MODEL_CRASHED') throw this.#crashed(m, entry, asError(error));
        // A run that waited on this version when its host died was dropped by the dispose that
        // followed: it failed because of the crash, and says so.
        if (code === 'MODEL_DISPOSED' && entry.crashed && entry.error) throw new ModelCrashedError(entry.error.message);
        // Disposed behind the manager's back (dispose() on what get() returned): it was routed
        // to for good until unloaded. Now it leaves routing as a crashed host does.
        if (code === 'MODEL_DISPOSED' && entry.model?.disposed === true && entry.state === 'AVAILABLE') {
          throw this.#crashed(m, entry, new ModelDisposedError(`version ${entry.version} of model '${m.config.name}' was disposed outside the manager (dispose() on a Model that get() returned: the manager owns it, unload() lets it go)`), ModelDisposedError);
        }
        throw error;
      } finally {
        if (--entry.inflight === 0 && entry.drained) entry.drained();
      }
    } finally {
      m.requests--;
    }
  }

  /** Every configured model's status, in configuration order, versions ascending. */
  status(): ModelStatus[];
  /**
   * One model's status, versions ascending.
   * @throws NOT_FOUND (ServableNotFoundError) for a name the manager has no model of
   */
  status(name: string): ModelStatus;
  status(name?: string): ModelStatus | ModelStatus[] {
    if (name !== undefined) return this.#statusOf(this.#model(name));
    return [...this.#models.values()].map((m) => this.#statusOf(m));
  }

  // statusOf(m), with the versions still unloading of a model of its name that a reload removed
  // before adding it back (until they are END and the new ones load).
  #statusOf(m: Managed): ModelStatus {
    const status = statusOf(m, this.#stopping === null);
    const old = this.#removing.get(m.config.name)?.managed;
    if (old === undefined || old === m) return status;
    const mine = new Set(status.versions.map((v) => v.version));
    const versions = [...status.versions, ...statusOf(old, false).versions.filter((v) => !mine.has(v.version))].sort((a, b) => a.version - b.version);
    return Object.freeze({ ...status, versions: Object.freeze(versions) });
  }

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
  stop(options?: { killAfterMs?: number }): Promise<void> {
    // Checked as Model.dispose() checks it (each version is disposed with it: helper-120, a
    // limit past 2^31 - 1 ms was taken here and refused there, in a promise nobody awaited).
    let killAfterMs: number | undefined;
    try {
      killAfterMs = disposeOptions(options, 'stop');
    } catch (error) {
      return Promise.reject(error);
    }
    if (killAfterMs !== undefined) {
      // The earliest limit given holds, a later call's too (as Model.dispose's): versions still
      // draining take it now, and models already being disposed are told it.
      const at = performance.now() + killAfterMs;
      if (this.#killAt === null || at < this.#killAt) {
        this.#killAt = at;
        for (const rearm of this.#draining) rearm();
        for (const model of this.#disposing) void model.dispose({ killAfterMs });
      }
    }
    this.#stopping ??= (async () => {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      for (const over of [...this.#settlingNow]) over();
      // A warm-up is no request: nobody waits for it, and the version will not serve. Its model
      // is disposed now, its run in flight stopped where TensorFlow can stop it (a host killed),
      // so the load ends at once (helper-111: stop() waited out a 20 s warm-up, and tfslice serve
      // past its grace period exited 1 saying requests were in flight).
      for (const model of this.#warming.keys()) this.#stopWarmup(model);
      for (const m of this.#models.values()) settle(m, this.#stopping !== null);
      await Promise.all([...this.#models.values()].map((m) => this.#exclusive(m, () => this.#unloadAll(m, 'the model manager stopped'))));
      await Promise.all([...this.#removing.values()].map((r) => r.unloaded));
    })();
    return this.#stopping;
  }

  /**
   * stop() without options, for `await using manager = ...` (TypeScript 5.2's explicit resource
   * management): every version is unloaded at the end of its block, as stop() does (runs in flight finish first).
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  // -- lifecycle -------------------------------------------------------------

  #exclusive<T>(m: Managed, work: () => Promise<T>): Promise<T> {
    const result = m.lock.then(work);
    m.lock = result.then(() => undefined, () => undefined);
    return result;
  }

  // Watch mode's polls: every pollIntervalMs, each model whose last poll has ended is looked at
  // again. Models are polled apart: one whose poll is still loading (a long warm-up) does not
  // hold back the others' (their new versions waited for it before).
  #schedule(): void {
    if (!this.#config.watch || this.#stopping) return;
    this.#timer = timerFor(() => {
      this.#timer = null;
      for (const m of this.#models.values()) {
        if (this.#polling.has(m)) continue;
        this.#polling.add(m);
        void this.#refresh(m, false).finally(() => this.#polling.delete(m));
      }
      this.#schedule();
    }, this.#config.pollIntervalMs);
    this.#timer.unref();
  }

  // Models whose poll (#schedule) is under way.
  readonly #polling = new WeakSet<Managed>();

  // Looks at the model's versions on disk and loads, swaps and unloads as its policy says.
  // settle: a version still changing gets one more look, settleMs later (start, load).
  // looked: a look that holds runs for versions not known yet (beginLook), told once this one
  // has chosen what to load (#reconcile).
  #refresh(m: Managed, settle: boolean, looked?: Looked): Promise<void> {
    return this.#exclusive(m, async () => {
      looked?.reading();
      if (this.#stopping) return;
      if (m.held) return;
      // Added back while its removal drains: nothing of it loads before that has ended (its
      // sessions, hosts and GPU share gone first); reconfigure() looks again then, and a poll
      // meanwhile passes it by.
      if (this.#removing.has(m.config.name) || this.#awaitingRemovals.has(m)) return;
      try {
        this.#checkFraction(m);
      } catch {
        return;
      }
      // `settleNow`: versions still changing (or first seen) get one more look, settleMs later.
      const settledLook = async (settleNow: boolean) => {
        const first = await this.#look(m);
        if (first === null || !settleNow || first.pending === 0) return first;
        await this.#settling();
        return this.#look(m);
      };
      // A look that read only the newest versions (#wanted), one of which then failed to load:
      // the next older ones are read and tried at once, as a look of them all offers them (not
      // at the next poll, nor, without watch, never). Each round fails a version more, or ends.
      // (Versions read for the first time then are looked at again settleMs later, as at start.)
      for (let look = await settledLook(settle), outcome = { failed: false }; look; look = outcome.failed && look.partial && this.#cut(m) === null ? await settledLook(true) : null) {
        outcome = { failed: false };
        await this.#reconcile(m, look, looked, outcome);
      }
    }).catch((error: unknown) => this.#modelError(m, asError(error)));
  }

  async #look(m: Managed): Promise<Look | null> {
    const base = m.config.basePath;
    let look: Look;
    try {
      look = await lookAt(base, m.looks, this.#config.settleMs, this.#wanted(m));
    } catch (error) {
      this.#modelError(m, new NotFoundError(`model '${m.config.name}': cannot read its basePath ${base}: ${asError(error).message}`));
      return null;
    }
    m.looks = look.seen;
    this.#noteSkipped(m, base, look);
    if (look.present.size === 0) {
      // The most common mistake: basePath is the SavedModel itself, not the directory of its versions.
      const savedModel = ['saved_model.pb', 'saved_model.pbtxt'].some((f) => existsSync(path.join(base, f)));
      const hint = savedModel ? `; ${base} is itself a SavedModel, and basePath is the directory above a model's versions (TensorFlow Serving's layout): put it at <dir>/1 and give <dir>` : '';
      this.#modelError(m, new NotFoundError(`no versions of model '${m.config.name}' found under ${base} (versions are numeric sub-directories)${hint}`));
    } else if (m.error) {
      m.error = null;
    }
    return look;
  }

  // Which versions a look reads the files of (versions.ts Wanted): a `specific` policy's; under
  // 'latest' the newest, until as many as it serves were found ready (not unloaded by hand, not
  // failed: those are passed over for the next older); every one under 'all'.
  #wanted(m: Managed): Wanted | undefined {
    const policy = m.config.versionPolicy;
    if (policy === 'all') return undefined;
    if (typeof policy === 'object' && 'specific' in policy) {
      const named = new Set(policy.specific);
      return { consider: (v) => named.has(v), enough: () => false };
    }
    const serves = policy === 'latest' ? 1 : policy.latest;
    let usable = 0;
    return {
      consider: () => true,
      enough: (v) => {
        const entry = m.versions.get(v);
        if (!m.excluded.has(v) && !(entry?.state === 'END' && entry.error !== null)) usable++;
        return usable >= serves;
      },
    };
  }

  // outcome.failed: set when a version it loaded failed (END with an error).
  async #reconcile(m: Managed, look: Look, looked?: Looked, outcome?: { failed: boolean }): Promise<void> {
    // Versions whose directory is gone stay END in status() (TensorFlow Serving's
    // ServableStateMonitor keeps END states: a script polls for END to see an unload through),
    // and are loaded again if it comes back, the same files too (a failed one as well); loaded,
    // they serve until replaced. Only complete directories are loaded (look.ready).
    for (const entry of m.versions.values()) {
      if (entry.state === 'END' && !look.present.has(entry.version)) entry.fingerprint = '';
    }
    const loaded = () => [...m.versions.values()].filter((e) => e.state === 'AVAILABLE');
    const policy = m.config.versionPolicy;
    // 'latest' asks for the newest versions that serve, so a broken one is passed over for the
    // next older; 'all' and 'specific' name their versions, and a broken one stays their gap.
    const fallBack = policy === 'latest' || (typeof policy === 'object' && 'latest' in policy);
    // A version refused for its GPU share is tried again once the ledger can hold it (another
    // model gave its share back, a reload lowered the fraction): said only for an isolated model
    // with a fraction, whose fit the ledger knows before a load (helper-127: under tfslice serve
    // it stayed END until its files changed, and nobody there can call load()).
    // Under 'unload-first', with a policy that serves one version, a new one fits once every
    // version serving now has gone (helper-128: the check left them in, and the version stayed
    // END); pinned ones stay, so they free nothing. Other policies keep versions beside it, and
    // the check counts them as held (a swap that would retire none would be refused each look).
    // (Asked only when a version was refused for its share: resolving the model's options each
    // look of every model would be work for nothing.)
    const single = policy === 'latest' || (typeof policy === 'object' && 'latest' in policy && policy.latest === 1);
    let budgetFits: boolean | undefined;
    const again = (entry: Entry) => (entry.error as { code?: unknown } | null)?.code === 'GPU_BUDGET_EXCEEDED' &&
      (budgetFits ??= this.#budgetKnownToFit(m, this.#config.swapPolicy === 'unload-first' && single ? loaded().filter((e) => !e.pinned) : []));
    // Failed with the files it has now: not tried again by this look (nor the next, until they change).
    const failed = (v: number) => {
      const entry = m.versions.get(v);
      return entry?.state === 'END' && entry.error !== null && !entry.crashed && entry.fingerprint === look.ready.get(v) && !again(entry);
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
    const pending = () => [...aspired].filter((v) => {
      if (tried.has(v) || !look.ready.has(v)) return false;
      const entry = m.versions.get(v);
      if (!entry) return true;
      // A failed version is tried again once its files change (or its GPU share fits).
      return entry.state === 'END' && (entry.error === null || entry.crashed || entry.fingerprint !== look.ready.get(v) || again(entry));
    }).sort((a, b) => b - a);
    // The look has chosen: runs for the versions it loads wait for them, and runs for a version
    // it did not choose no longer wait for this look (helper-112: a run for a version that never
    // existed waited through start()'s loads and warm-ups, up to queueTimeoutMs, for its 404).
    const chosen = new Set(pending());
    for (const version of chosen) markLoading(m, version);
    looked?.chosen();
    // Versions this look loaded (AVAILABLE at its end), looked at again below before any retires.
    const loadedNow = new Set<number>();
    try {
      for (let toLoad = [...chosen]; toLoad.length > 0; toLoad = pending()) {
        for (const version of toLoad) {
          if (this.#cut(m)) return;
          tried.add(version);
          const dir = path.join(m.config.basePath, look.seen.get(version)?.dir ?? String(version));
          const print = look.ready.get(version)!;
          // 'unload-first' unloads first when the ledger cannot hold the new version beside the
          // old ones (no refused attempt in between); a load refused all the same (another model
          // took the share meanwhile) is tried once more after them.
          const unloadFirst = this.#config.swapPolicy === 'unload-first';
          try {
            if (unloadFirst && !this.#fits(m) && await this.#unloadFirst(m, version, dir, print, aspired)) continue;
            // Versions let go of that still drain hold their GPU shares: a version the ledger
            // cannot hold beside them waits for them rather than fail GPU_BUDGET_EXCEEDED, as it
            // did when their drain held the look (helper-140).
            if (m.retiring.size > 0 && !this.#fits(m)) await Promise.all(m.retiring.values());
            const entry = await this.#loadVersion(m, version, dir, print, false);
            if (entry.state === 'AVAILABLE') loadedNow.add(version);
            else if (entry.error !== null && outcome) outcome.failed = true;
            if (unloadFirst && entry.state === 'END' && (entry.error as { code?: unknown } | null)?.code === 'GPU_BUDGET_EXCEEDED') {
              await this.#unloadFirst(m, version, dir, print, aspired);
            }
          } finally {
            if (chosen.delete(version)) unmarkLoading(m, version);
          }
        }
        if (!fallBack || this.#cut(m)) break;
        aspired = choose(loadable());
      }
    } finally {
      for (const version of chosen) unmarkLoading(m, version);
    }
    // The old versions go once a version the policy wants is serving (or none is left to
    // wait for); until then they keep serving, even when a new version failed to load.
    if (this.#cut(m)) return;
    // A crashed version the policy no longer chooses (a newer one took its place meanwhile) is
    // let go of, as an unloaded one: NOT_FOUND, and not "being loaded again" as its error said
    // (helper-115: that stayed in status(), and runs for it waited, then 503).
    // Said END again, with why and no error (helper-116: serve's log kept "being loaded again").
    const notChosen = (v: number) => {
      const entry = m.versions.get(v);
      const elsewhere = entry === undefined ? null : movedAway(m, entry);
      if (elsewhere !== null) return elsewhere;
      if (!look.present.has(v)) return 'its directory is gone';
      const versions = [...aspired].sort((a, b) => b - a);
      const now = versions.length === 0 ? 'no version' : `version${versions.length > 1 ? 's' : ''} ${versionsSaid(versions)}`;
      return `the version policy (${policySaid(policy)}) chooses ${now} now`;
    };
    for (const entry of m.versions.values()) {
      if (entry.state === 'END' && entry.crashed && !aspired.has(entry.version)) await this.#retire(m, entry, notChosen(entry.version));
    }
    // A version whose directory went away while it loaded does not take the place of those
    // serving (helper-138: it did, and the next look loaded the good one again, warm-up and all):
    // let go of now; the next look serves what is there.
    for (const version of loadedNow) {
      const entry = m.versions.get(version);
      if (entry?.state !== 'AVAILABLE' || await access(entry.path).then(() => true, () => false)) continue;
      aspired = new Set([...aspired].filter((v) => v !== version));
      await this.#retire(m, entry, 'its directory is gone');
    }
    if ((aspired.size > 0 || named.size > 0) && ![...aspired].some((v) => m.versions.get(v)?.state === 'AVAILABLE')) return;
    // A version a label names now, which the reload under way moves the label away from, serves
    // until the label has moved (#reconfigure looks again then).
    const labelMovesFrom = (v: number) => m.labelsComing !== null && !m.excluded.has(v) && look.present.has(v) &&
      [...m.config.versionLabels].some(([label, at]) => at === v && m.labelsComing!.get(label) !== v);
    for (const entry of loaded()) {
      if (aspired.has(entry.version) || labelMovesFrom(entry.version)) continue;
      await this.#retire(m, entry, m.excluded.has(entry.version) ? unloadedBy(m.config.name, entry.version) : notChosen(entry.version));
    }
  }

  // Every version of the model unloaded, those a look let go of that still drain (#retire) too.
  async #unloadAll(m: Managed, why: string): Promise<void> {
    await Promise.all([...[...m.versions.values()].map((entry) => this.#unloadVersion(m, entry, why)), ...m.retiring.values()]);
  }

  // A version a look lets go of: out of routing at once (UNLOADING). An idle one is disposed
  // before the look ends, as any unload; one with runs in flight drains, and is disposed, after
  // the look, outside the model's turn (m.retiring): the model's next look (a newer version come
  // meanwhile) and a reconfigure() do not wait for runs that may take long (helper-138: an 11 s
  // run held version 3 back, and a deleted version left the model serving nothing while a new
  // one was there; TensorFlow Serving unloads on threads of its own). stop(), a removal of the
  // model, unload() and 'unload-first' wait for them.
  async #retire(m: Managed, entry: Entry, why: string): Promise<void> {
    if (entry.state !== 'AVAILABLE' || entry.inflight === 0) return this.#unloadVersion(m, entry, why);
    const done: Promise<void> = this.#unloadVersion(m, entry, why).catch(() => undefined).finally(() => {
      if (m.retiring.get(entry) === done) m.retiring.delete(entry);
    });
    m.retiring.set(entry, done);
  }

  // swapPolicy 'unload-first': the ledger could not hold both, so the old versions go first;
  // runs wait meanwhile. If the new version still fails, the old ones are loaded again, with the
  // options they ran with (helper-127: the model's new ones, a larger share that did not fit
  // either, and the model served nothing). Returns false, and does nothing, when no version is
  // there to retire, or when the new version would not fit even without them (the old ones keep
  // serving, as under 'refuse').
  async #unloadFirst(m: Managed, version: number, dir: string, print: string, aspired: ReadonlySet<number>): Promise<boolean> {
    // Versions a look let go of that still drain hold their shares until they are gone.
    if (m.retiring.size > 0) await Promise.all(m.retiring.values());
    const retiring = [...m.versions.values()].filter((e) => e.state === 'AVAILABLE' && !aspired.has(e.version));
    if (retiring.length === 0 || !this.#fits(m, retiring)) return false;
    m.busy++;
    // Runs for the incoming version wait while the old ones drain, as once it is LOADING
    // (helper-112: NOT_FOUND until then, since a load of another version no longer holds them).
    markLoading(m, version);
    try {
      for (const entry of retiring) await this.#unloadVersion(m, entry, `swapPolicy 'unload-first' let it go to make room for version ${version} in the GPU budget`);
      const entry = await this.#loadVersion(m, version, dir, print, false);
      if (entry.state === 'AVAILABLE') return true;
      for (const old of retiring) await this.#loadVersion(m, old.version, old.path, old.fingerprint, old.pinned, old.options);
      return true;
    } finally {
      m.busy--;
      unmarkLoading(m, version);
      settle(m, this.#stopping !== null);
    }
  }

  async #loadVersion(m: Managed, version: number, dir: string, print: string, pinned: boolean, options: LoadOptions = m.config.loadOptions): Promise<Entry> {
    const entry: Entry = {
      version, path: dir, fingerprint: print, state: 'START', error: null, model: null, inflight: 0, drained: null, pinned, crashed: false, letGo: null, options,
    };
    m.versions.set(version, entry);
    m.busy++;
    let model: Model | null = null;
    try {
      this.#set(m, entry, 'START');
      this.#set(m, entry, 'LOADING');
      model = await loadModel(dir, options);
      this.#throwIfCut(m);
      this.#warming.set(model, m);
      try {
        await this.#warmup(m, model, version, dir);
      } finally {
        this.#warming.delete(model);
      }
    } catch (error) {
      if (model) await model.dispose();
      model = null;
      // Its warm-up stopped by stop() or by a reload that removed the model (or the load outlived
      // either): said as such, not as the MODEL_DISPOSED the stopped warm-up run rejected with.
      entry.error = this.#cut(m) ?? asError(error);
      // A host that died while loading (killed, out of memory) is a crash, not files that do not
      // load: the next look tries again, whatever its files (helper-92: END until they changed),
      // up to LOAD_CRASH_RETRIES times in a row (TensorFlow Serving's max_num_load_retries
      // default), so that a model whose host always dies loading does not start one a look.
      if ((error as { code?: unknown }).code === 'MODEL_CRASHED') {
        const before = m.loadCrashes.get(version);
        const crashes = before?.fingerprint === print ? before.count + 1 : 1;
        m.loadCrashes.set(version, { fingerprint: print, count: crashes });
        entry.crashed = crashes <= LOAD_CRASH_RETRIES;
        entry.error = new ModelCrashedError(`${entry.error.message}; ${entry.crashed
          ? `loaded again by the next look for versions (${crashes} of ${LOAD_CRASH_RETRIES} such tries in a row)`
          : `its host died loading it ${crashes} times in a row: not tried again until its files change, load() or a reload`}`);
      }
    }
    m.busy--;
    if (model) {
      m.loadCrashes.delete(version);
      entry.model = model;
      if (model.batching) model.onBatch((event) => this.#emit('batch', { ...event, name: m.config.name, version }));
      // An isolated version whose host dies leaves routing then, not at its next run.
      model.onCrash((error) => {
        if (entry.model === model) this.#crashed(m, entry, error);
      });
      this.#set(m, entry, 'AVAILABLE');
    } else {
      this.#set(m, entry, 'END');
      // Not a failure when stop() or a reload removing the model ended it (helper-133: alerting
      // on 'failure' went off at every shutdown during a warm-up).
      if (this.#cut(m) === null) this.#emit('failure', { name: m.config.name, version, error: entry.error! });
    }
    return entry;
  }

  async #warmup(m: Managed, model: Model, version: number, dir: string): Promise<void> {
    const warmup = m.config.warmup;
    if (!warmup) return;
    try {
      for (let i = 0; i < warmup.runs; i++) {
        this.#throwIfCut(m);
        if ('run' in warmup) {
          // stop(), or a reload removing the model, aborts `signal` (it disposes the model too,
          // which ends a run() the function awaits) and does not wait for the function to
          // return: the version ends now (helper-133: a function that awaited something else
          // held stop() until it returned, and the version went AVAILABLE meanwhile).
          const controller = new AbortController();
          this.#warmAborts.set(model, controller);
          try {
            const called = Promise.resolve().then(() => warmup.run(model, { version, path: dir, signal: controller.signal }));
            called.catch(() => undefined);
            await Promise.race([called, new Promise<never>((_resolve, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true }))]);
          } finally {
            this.#warmAborts.delete(model);
          }
          continue;
        }
        // JSON values are typed by the signature in run() itself (lib/values.ts).
        const feeds = typeof warmup.feeds === 'function' ? await warmup.feeds() : warmup.feeds;
        await model.run(feeds, { signature: warmup.signature });
      }
    } catch (error) {
      const failed = asError(error);
      const message = `warm-up of version ${version} of model '${m.config.name}' failed: ${failed.message}`;
      // Reflect.set says false, where an assignment would throw, for a message that cannot be set.
      if (Reflect.set(failed, 'message', message) && failed.message === message) throw failed;
      // One whose message cannot be set (a DOMException's is a getter; a frozen error): a new one,
      // with its code (helper-134: the TypeError of the assignment replaced the user's error).
      const code = (failed as { code?: unknown }).code;
      throw Object.assign(new Error(message, { cause: error }), typeof code === 'string' ? { code } : {});
    }
  }

  // Past #killAt (stop({ killAfterMs })), runs in flight are not waited for: the model is
  // disposed with what is left of the limit (0).
  // `why`: the reason its UNLOADING and END events give (a run that asks for it is told why as
  // it is then: letGoWhy()). A crashed version (END) is said END again, without its error.
  async #unloadVersion(m: Managed, entry: Entry, why: string): Promise<void> {
    if (entry.state === 'END' && entry.crashed) {
      // A crashed version let go of (helper-117: its error said it would be loaded again, 503).
      entry.crashed = false;
      entry.error = null;
      entry.letGo = `its host died, and ${why}`;
      this.#set(m, entry, 'END');
      return;
    }
    if (entry.state !== 'AVAILABLE') return;
    entry.letGo = why;
    this.#set(m, entry, 'UNLOADING');
    if (entry.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      let rearm = () => {};
      await new Promise<void>((resolve) => {
        entry.drained = resolve;
        rearm = () => {
          clearTimeout(timer);
          if (this.#killAt !== null) timer = setTimeout(resolve, Math.max(0, this.#killAt - performance.now()));
        };
        rearm();
        this.#draining.add(rearm);
      });
      clearTimeout(timer);
      this.#draining.delete(rearm);
    }
    entry.drained = null;
    const model = entry.model!;
    this.#disposing.add(model);
    try {
      await (this.#killAt === null ? model.dispose() : model.dispose({ killAfterMs: Math.max(0, Math.ceil(this.#killAt - performance.now())) }));
    } finally {
      this.#disposing.delete(model);
    }
    entry.model = null;
    this.#set(m, entry, 'END');
  }

  // An isolated version whose host died: out of routing at once, reloaded by the next look.
  // Returns the error for the run, which says what loads the version again here (the Model's
  // own message says to load it again, which a server's client cannot do).
  #crashed(m: Managed, entry: Entry, died: Error, kind: new (message: string) => Error = ModelCrashedError): Error {
    if (entry.state !== 'AVAILABLE') return entry.crashed && entry.error ? entry.error : died;
    const reload = this.#config.watch && this.#stopping === null;
    const again = reload
      ? `version ${entry.version} is being loaded again (watch mode), and runs without a version wait for it`
      : `version ${entry.version} is END until it is loaded again: load('${m.config.name}') or reconfigure() (tfslice serve: ModelService/HandleReloadConfigRequest)`;
    const what = died.message.endsWith(`; ${CRASHED_ADVICE}`) ? died.message.slice(0, -`; ${CRASHED_ADVICE}`.length) : died.message;
    const error = new kind(`${what}; ${again}`);
    const model = entry.model!;
    entry.model = null;
    entry.error = error;
    entry.crashed = true;
    this.#set(m, entry, 'END');
    this.#emit('failure', { name: m.config.name, version: entry.version, error });
    void model.dispose();
    if (reload) {
      // Loaded again now, not at the next look, and runs without a version wait for it
      // meanwhile (up to queueTimeoutMs), as during any load: they failed at once until the next
      // look (helper-91: ~1000 immediate 503s over a crash, under load). One that asks for this
      // very version waits too (LOADING), once the look has begun it.
      const looked = beginLook(m);
      void this.#refresh(m, false, looked).finally(() => {
        endLook(m, looked);
        settle(m, this.#stopping !== null);
      });
    }
    return error;
  }

  // A settle period (settleMs, and 10 ms for the file system's clock): over at once when stop()
  // is called, which waits for the loads and looks that settle (helper-121: with settleMs in
  // minutes, stop() waited as long; a settleMs past what setTimeout holds, 2^31 - 1 ms, took 1 ms).
  #settling(): Promise<void> {
    if (this.#stopping !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const over = () => {
        clearTimeout(timer);
        this.#settlingNow.delete(over);
        resolve();
      };
      const timer = timerFor(over, this.#config.settleMs + 10);
      this.#settlingNow.add(over);
    });
  }

  // The listeners of `event`, each called even where one throws (callListeners): a listener's
  // error must not leave a state change half made.
  #emit<E extends keyof ModelManagerEvents>(event: E, ...args: ModelManagerEvents[E]): void {
    callListeners(this.#events.rawListeners(event) as ((...a: ModelManagerEvents[E]) => void)[], args, `ModelManager '${event}'`);
  }

  #set(m: Managed, entry: Entry, state: VersionState): void {
    entry.state = state;
    // An entry a new load of its version replaced (load(name, v) while the old one drained:
    // #retire) ends unseen: its END said after the new one's AVAILABLE read as the version's
    // (helper-140), for the state metrics too.
    if (m.versions.get(entry.version) !== entry) {
      settle(m, this.#stopping !== null);
      return;
    }
    const event: StateEvent = state === 'END' && entry.error
      ? { name: m.config.name, version: entry.version, state, error: entry.error }
      : (state === 'END' || state === 'UNLOADING') && entry.letGo !== null
        ? { name: m.config.name, version: entry.version, state, reason: entry.letGo }
        : { name: m.config.name, version: entry.version, state };
    this.#emit('state', event);
    settle(m, this.#stopping !== null);
  }

  // Version directories that are not served, said once each (a 'failure' of the model, which
  // tfslice serve logs; said again if one changes and stays so): a number past 2^53 - 1, a
  // directory that has had no saved_model.pb(txt) for SKIPPED_AFTER_LOOKS looks, and one the
  // policy names whose files have kept changing that long (UNAVAILABLE: once they settle it loads).
  // The first two were passed over without a word (helper-86); TensorFlow Serving fails the second (END, "Could not find
  // SavedModel .pb or .pbtxt"), where tfslice waits for a version still being written.
  #noteSkipped(m: Managed, base: string, look: Look): void {
    const now = Date.now();
    const after = Math.max(SKIPPED_AFTER_LOOKS * this.#config.pollIntervalMs, SKIPPED_AFTER_LOOKS * this.#config.settleMs, 1000);
    // By a key that changes when the directory does (a graph-less one: since when it has been so).
    // held: a version held back for now (UNAVAILABLE), not one that is no version (NOT_FOUND).
    const skipped = new Map<string, { dir: string; why: string; held?: true }>();
    for (const dir of look.unusable) skipped.set(dir, { dir, why: 'its number is past 2^53 - 1, the largest version tfslice takes' });
    // The versions the policy names among those there.
    const named = new Set(selectVersions(m.config.versionPolicy, [...look.present]));
    for (const [version, seen] of look.seen) {
      if (seen.unread) continue;
      // Not of a version loaded or being loaded (helper-118: a serving version whose graph was
      // emptied was said "not served"): it keeps the files it loaded.
      const state = m.versions.get(version)?.state;
      const inUse = state === 'AVAILABLE' || state === 'LOADING' || state === 'START';
      if (seen.fingerprint === null && now - seen.since >= after && !inUse) {
        skipped.set(`${seen.dir}@${seen.since}`, { dir: seen.dir, why: `it has had ${seen.noGraph ?? 'no saved_model.pb (or .pbtxt)'} for ${Math.round((now - seen.since) / 1000)} s (not a SavedModel, or one still being written); it is served once it has a graph and its files settle` });
      }
      // Files that never settle hold a version back (helper-112: without a word): a writer that
      // keeps touching variables/ or assets.extra/. Said of a version the policy names and that
      // is not serving (one serving keeps the files it loaded).
      const wanted = named.has(version) && !m.held && !m.excluded.has(version);
      if (seen.changingSince !== null && now - seen.changingSince >= after && wanted && !inUse) {
        skipped.set(`${seen.dir}@changing@${seen.changingSince}`, { dir: seen.dir, why: `its files have kept changing for ${Math.round((now - seen.changingSince) / 1000)} s (lately ${filesSaid(seen.changed)}); it is loaded once they are unchanged for settleMs (${this.#config.settleMs} ms)`, held: true });
      }
    }
    // By version, as status() lists them (a name past 2^53 - 1 sorts by its digits' length).
    const fresh = [...skipped].filter(([key]) => !m.skipped.has(key)).sort(([, a], [, b]) => a.dir.length - b.dir.length || (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
    for (const [key] of fresh) m.skipped.add(key);
    for (const key of m.skipped) if (!skipped.has(key)) m.skipped.delete(key);
    const said = (dir: string, why: string) => `version directory ${path.join(base, dir)} is not served: ${why}`;
    const failure = (message: string, held: boolean | undefined) => this.#emit('failure', { name: m.config.name, version: null, error: held ? unavailable(message) : new NotFoundError(message) });
    // Said one by one, or past SKIPPED_LISTED at once in one, the first few named (helper-117:
    // 2000 empty version directories made 2000 lines of tfslice serve's log at once).
    if (fresh.length <= SKIPPED_LISTED) {
      for (const [, { dir, why, held }] of fresh) failure(`model '${m.config.name}': ${said(dir, why)}`, held);
    } else {
      const named = fresh.slice(0, SKIPPED_LISTED).map(([, { dir, why }]) => said(dir, why)).join('; ');
      failure(`model '${m.config.name}': ${fresh.length} version directories are not served: ${named}; and ${fresh.length - SKIPPED_LISTED} more`, fresh.every(([, { held }]) => held));
    }
  }

  #modelError(m: Managed, error: Error): void {
    const repeated = m.error?.message === error.message;
    m.error = error;
    if (!repeated) this.#emit('failure', { name: m.config.name, version: null, error });
  }

  // Whether the model is isolated with a GPU fraction that the ledger can hold now (false for
  // any other model: the ledger cannot tell before a load).
  // `freeing`: the versions an 'unload-first' swap would let go of to make room.
  #budgetKnownToFit(m: Managed, freeing: readonly Entry[] = []): boolean {
    const resolved = resolveLoadOptions(m.config.loadOptions);
    return resolved.partition === null && resolved.isolation === 'process' && resolved.gpu.fraction !== null && fitsNow(resolved.isolation, resolved.gpu, shares(freeing));
  }

  // Whether the GPU ledger could hold one more version of m beside what it holds now (or once the
  // isolated versions at `freeing` have given their shares back).
  #fits(m: Managed, freeing: readonly Entry[] = []): boolean {
    const resolved = resolveLoadOptions(m.config.loadOptions);
    return resolved.partition !== null || fitsNow(resolved.isolation, resolved.gpu, shares(freeing));
  }

  #checkFraction(m: Managed): void {
    if (this.#config.requireGpuFraction && m.config.gpuMemoryFraction === undefined) {
      const error = new NotFoundError(`Fraction not set for model ${m.config.name}`);
      this.#modelError(m, error);
      throw error;
    }
  }

  // -- helpers ---------------------------------------------------------------

  // `version`, `label`: what was asked for with it, carried by its ServableNotFoundError
  // (TensorFlow Serving's "Specific(name, version)" for an unknown model asked by version).
  #model(name: string, version?: unknown, label?: string): Managed {
    // A name that is not a string is the caller's bug, not a model that is not there.
    // The names, listed only for an error (this runs for every request).
    // (The first ten: a server of thousands of models answered each unknown name with all of them.)
    const names = () => {
      const all = this.names;
      return all.slice(0, 10).map((n) => `'${n}'`).join(', ') + (all.length > 10 ? ` and ${all.length - 10} more` : '');
    };
    if (typeof name !== 'string') throw invalidType('name', this.#models.size > 0 ? `a model name (one of ${names()})` : 'a model name (none is configured)', name);
    const m = this.#models.get(name);
    if (!m) {
      // helper-118: a model a reload removed was answered as one never configured.
      const removed = this.#retired.has(name) ? 'a reload removed it from the configuration; ' : '';
      const others = this.#models.size > 0 ? `the models are ${names()}` : 'none is configured (an empty model list; reconfigure() adds models, as a reload of tfslice serve\'s model config does)';
      throw new ServableNotFoundError(`no model named ${describe(name)}; ${removed}${others}`, String(name), typeof version === 'number' ? version : undefined, label);
    }
    return m;
  }

  #running(): void {
    if (this.#stopping) throw stoppedError();
  }

  // The version a run asks for: by number, by label, or none (the newest AVAILABLE).
  #version(m: Managed, version: unknown, label: unknown): number | undefined {
    if (label === undefined) {
      if (version !== undefined) this.#checkVersion(version);
      return version as number | undefined;
    }
    if (version !== undefined) throw invalidType('options', 'either version or label, not both', { version, label });
    if (typeof label !== 'string') throw invalidType('label', 'a string', label);
    const labelled = m.config.versionLabels.get(label);
    if (labelled === undefined) throw unrecognizedLabel(label, { name: m.config.name, labels: m.config.versionLabels });
    return labelled;
  }

  /**
   * The version a label names for a model (versionLabels), or undefined.
   * @throws NOT_FOUND for an unknown model; ERR_INVALID_ARG_TYPE for a label that is not a string
   */
  versionOfLabel(name: string, label: string): number | undefined {
    const m = this.#model(name);
    if (typeof label !== 'string') throw invalidType('label', 'a string', label);
    return m.config.versionLabels.get(label);
  }

  /**
   * A model's labels and the versions they name: a copy (reconfigure() moves labels, checking
   * that each names an AVAILABLE version).
   * @throws NOT_FOUND (ServableNotFoundError) for a name the manager has no model of
   */
  labels(name: string): ReadonlyMap<string, number> {
    return new Map(this.#model(name).config.versionLabels);
  }

  // Why a load of m must not go on: stop() was called, or a reload removed m (its name gone or
  // given to a model added back); null while it may.
  #cut(m: Managed): Error | null {
    if (this.#stopping !== null) return stoppedDuring(m.config.name);
    if (this.#models.get(m.config.name) !== m) return unavailable(`model '${m.config.name}': a reload removed it from the configuration while this load was under way`);
    return null;
  }

  // A version's warm-up stops at once (stop(), a reload removing its model): its model is
  // disposed (a warm-up run in flight is cut), and a custom warm-up's signal aborted.
  #stopWarmup(model: Model): void {
    const owner = this.#warming.get(model);
    this.#warmAborts.get(model)?.abort(owner === undefined ? undefined : this.#cut(owner) ?? undefined);
    void model.dispose({ killAfterMs: 0 }).catch(() => undefined);
  }

  #throwIfCut(m: Managed): void {
    const cut = this.#cut(m);
    if (cut) throw cut;
  }

  #checkVersion(version: unknown): void {
    if (typeof version !== 'number') throw invalidType('version', 'an integer', version);
    if (!Number.isSafeInteger(version) || version < 0) throw outOfRange('version', wholeExpected('an integer ≥ 0', version), version);
  }
}

// A look for versions that may bring one not known yet (Managed.looking, Managed.reading),
// counted as a load (busy): runs without a version wait for it, runs for a crashed version until
// it has chosen, and runs for one with no entry while it reads (route()).
// Returns what moves its hold on versions not known yet on (Looked); endLook() ends it, if the
// look never got that far, and the look's busy count.
function beginLook(m: Managed): Looked {
  m.busy++;
  m.looking++;
  let phase: 'queued' | 'reading' | 'chosen' = 'queued';
  return {
    reading: () => {
      if (phase !== 'queued') return;
      phase = 'reading';
      m.reading++;
    },
    chosen: () => {
      if (phase === 'chosen') return;
      if (phase === 'reading') m.reading--;
      m.looking--;
      phase = 'chosen';
    },
  };
}

// Work that holds runs without a version while none serves (Managed.busy), and nothing else:
// ended by endLook() as a look is.
function beginBusy(m: Managed): Looked {
  m.busy++;
  return { reading: () => undefined, chosen: () => undefined };
}

function endLook(m: Managed, looked: Looked): void {
  m.busy--;
  looked.chosen();
}

// A look's hold on runs for versions it may bring: `reading` once it has its turn on the model
// (it reads the base path), `chosen` once it has chosen what to load (or ended); idempotent.
interface Looked {
  reading(): void;
  chosen(): void;
}

// Runs for `version` wait while some call has it marked (Managed.loading), even when it is END.
function markLoading(m: Managed, version: number): void {
  m.loading.set(version, (m.loading.get(version) ?? 0) + 1);
}

function unmarkLoading(m: Managed, version: number): void {
  const left = m.loading.get(version)! - 1;
  if (left > 0) m.loading.set(version, left);
  else m.loading.delete(version);
}

function managed(config: ResolvedModel, watched: boolean): Managed {
  return {
    config, watched, versions: new Map(), error: null, lock: Promise.resolve(), looks: new Map(),
    held: false, excluded: new Set(), busy: 0, looking: 0, reading: 0, loading: new Map(), waiters: new Set(), requests: 0, skipped: new Set(), loadCrashes: new Map(), labelsComing: null, retiring: new Map(),
  };
}
