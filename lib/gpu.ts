/**
 * The GPU ledger: what each physical GPU's memory is promised to, across the models
 * of this process and the hosts it started (isolation: 'process').
 *
 * TensorFlow creates one GPU allocator per process and GPU, with the options of the
 * first session that touches the GPU; later sessions' options are ignored without a
 * word, and closing a session gives nothing back (DESIGN.md). So:
 * - in this process, the first model that fixes the GPU options fixes them for good:
 *   a later in-process model asking for other options is refused (GPU_CONFIG_CONFLICT),
 *   and the process's slice stays charged until the process exits;
 * - a model in its own host has its own allocator: its fraction is charged while the
 *   host lives and given back on dispose() or when the host dies;
 * - the fractions charged to one GPU may not sum past 1.0 (GPU_BUDGET_EXCEEDED).
 * A model that asks for no fraction but runs on a GPU is charged 1.0: TensorFlow's
 * default reserves the whole GPU.
 */
import { GpuBudgetExceededError, GpuConfigConflictError, type GpuHolder } from './errors';

/** Where a model's session lives: 'none' in this process, 'process' in a host process of its own (LoadOptions.isolation). */
export type Isolation = 'none' | 'process';

/** The GPU options a model asks for (null: not asked, TensorFlow's default). */
export interface GpuRequest {
  /** Share of the GPU's memory, a fraction in (0, 1] (per_process_gpu_memory_fraction). */
  readonly fraction: number | null;
  /** Grow GPU memory on demand (GPUOptions.allow_growth) instead of reserving the whole limit up front; null: not asked. */
  readonly allowGrowth: boolean | null;
  /** Physical GPU index (visible_device_list), null for TensorFlow's default. */
  readonly device: number | null;
}

/** One GPU's budget as the ledger sees it. */
export interface GpuBudget {
  /** Physical GPU index. */
  readonly device: number;
  /** Sum of the fractions charged to it. */
  readonly used: number;
  /** 1 - used, never below 0. */
  readonly free: number;
  /** The models charged to it, each with its fraction. */
  readonly holders: readonly GpuHolder[];
}

/** A load's place in the ledger: confirmed once the session exists, released at the end. */
export interface Reservation {
  /** The session loaded; hasGpu says whether it has a GPU device. May throw GPU_BUDGET_EXCEEDED. */
  confirm(hasGpu: boolean): void;
  /** Gives the share back (load failed, model disposed, host died). Idempotent. */
  release(): void;
}

interface Charge {
  device: number;
  fraction: number;
  holder: string;
  isolation: Isolation;
}

interface ProcessConfig {
  request: GpuRequest;
  /** The model whose load fixed it. */
  fixedBy: string;
  /** A load with these options succeeded: fixed until the process exits. */
  fixed: boolean;
  /** Loads relying on it that have not finished. */
  pending: number;
  charge: Charge | null;
}

const EPSILON = 1e-9;
const PROCESS_HOLDER = 'in-process TensorFlow';

const charges = new Set<Charge>();
let processConfig: ProcessConfig | null = null;

function asksForGpu(request: GpuRequest): boolean {
  return request.fraction !== null || request.allowGrowth !== null || request.device !== null;
}

function sameRequest(a: GpuRequest, b: GpuRequest): boolean {
  return a.fraction === b.fraction && a.allowGrowth === b.allowGrowth && a.device === b.device;
}

function describeRequest(request: GpuRequest): string {
  if (!asksForGpu(request)) return "TensorFlow's default GPU options (no fraction: the whole GPU)";
  const parts: string[] = [];
  if (request.fraction !== null) parts.push(`gpuMemoryFraction ${request.fraction}`);
  if (request.allowGrowth !== null) parts.push(`allowGrowth ${request.allowGrowth}`);
  if (request.device !== null) parts.push(`gpuDevice ${request.device}`);
  return parts.join(', ');
}

function holders(device: number): GpuHolder[] {
  return [...charges].filter((c) => c.device === device)
    .map((c) => Object.freeze({ model: c.holder, fraction: c.fraction, isolation: c.isolation }));
}

function used(device: number, except?: Charge): number {
  let sum = 0;
  for (const c of charges) if (c.device === device && c !== except) sum += c.fraction;
  return sum;
}

const round = (x: number): number => Number(x.toFixed(6));

// Whether a share of `fraction` fits beside `taken`. The sum may pass 1.0 by EPSILON (0.7 + 0.3
// reads 1.0000000000000002), but a GPU whose free share is within EPSILON is full: a fraction
// below EPSILON did fit on it before (helper-127).
function fitsBeside(taken: number, fraction: number): boolean {
  return taken + fraction <= 1 + EPSILON && 1 - taken > EPSILON;
}

/**
 * GPU_BUDGET_EXCEEDED with the fixes that apply: a smaller fraction when some is free,
 * dispose() of isolated holders, and, for the in-process slice, that it cannot be given
 * back in this process (telling a user to dispose it would send them in circles).
 */
function budgetExceeded(init: Charge, model: string, asked: boolean, others: readonly GpuHolder[], taken: number): GpuBudgetExceededError {
  // Rounded down, to 6 places: what it says is free must load (helper-127: 1/3 held, "at most
  // 0.666667" rounded up, and 0.666667 was refused with the same words). (The 1e-10 keeps 0.3 from
  // reading 0.299999; it is below the ledger's EPSILON.)
  const free = Math.max(0, Math.floor((1 - taken) * 1e6 + 1e-4) / 1e6);
  // Holders alike (one path loaded several times) once, with their count (helper-130: six copies
  // of one model were six identical entries, here and among the models to dispose).
  const counted = (items: readonly string[]) => [...new Set(items)].map((item) => {
    const n = items.filter((other) => other === item).length;
    return n > 1 ? `${item} × ${n}` : item;
  });
  const list = counted(others.map((h) => `${h.model} (${h.fraction}, isolation '${h.isolation}')`)).join(', ');
  const fixes: string[] = [];
  if (free > EPSILON) fixes.push(`give it a gpuMemoryFraction of at most ${free}`);
  const hosts = others.filter((h) => h.isolation === 'process').map((h) => h.model);
  const isolated = [...new Set(hosts)].map((model) => (hosts.length > 1 && hosts.every((h) => h === model) ? `one of the ${hosts.length} models loaded from ${model}` : model));
  if (isolated.length > 0) {
    // (Under a ModelManager, tfslice serve's too, the manager owns the models: dispose() is not
    // the user's to call, helper-127.)
    fixes.push(`dispose() ${isolated.length === 1 ? isolated[0] : `one of ${isolated.join(', ')}`} (an isolated model's share comes back when its host ends; ` +
      "in a ModelManager or tfslice serve, unload that model or version, or lower this model's gpuMemoryFraction in the configuration (a holder's new fraction applies only to its next version))");
  }
  const slice = others.find((h) => h.isolation === 'none');
  const fixedBy = processConfig?.fixedBy;
  const why = slice === undefined ? '' :
    ` The in-process slice (${slice.fraction}${fixedBy ? `, fixed by ${fixedBy}` : ''}) stays charged until this process exits, ` +
    'even after its models are disposed, because TensorFlow keeps that memory: to budget this GPU afresh, start a new ' +
    "process and load the models that need their own fraction with isolation: 'process' (models loaded in-process with " +
    'the same GPU options, or none, share that slice and cost nothing more).';
  return new GpuBudgetExceededError(
    `${model} asks for ${init.fraction} of GPU ${init.device}${asked ? '' : " (it set no gpuMemoryFraction, and TensorFlow's default takes the whole GPU)"}, ` +
    `but ${round(taken)} of it is held by ${list}; ${free} is free.` +
    (fixes.length > 0 ? ` To load it, ${fixes.join(', or ')}.` : '') + why,
    init.device, holders(init.device));
}

// Adds (or raises) a charge, refusing when the GPU's fractions would pass 1.0.
// `asked`: the fraction is the model's own (false: TensorFlow's default, the whole GPU).
function charge(existing: Charge | null, init: Charge, model: string, asked = true): Charge {
  const taken = used(init.device, existing ?? undefined);
  if (!fitsBeside(taken, init.fraction)) {
    const others = holders(init.device).filter((h) => existing === null || h.model !== existing.holder);
    throw budgetExceeded(init, model, asked, others, taken);
  }
  if (existing) {
    existing.fraction = init.fraction;
    return existing;
  }
  charges.add(init);
  return init;
}

function deviceOf(request: GpuRequest): number {
  return request.device ?? 0;
}

/** The budget of every GPU something is charged to. */
export function gpuLedger(): GpuBudget[] {
  const devices = [...new Set([...charges].map((c) => c.device))].sort((a, b) => a - b);
  return devices.map((device) => {
    const u = Number(used(device).toFixed(9));
    // Charges may pass 1.0 by rounding (EPSILON): nothing is free then, not a negative share.
    return Object.freeze({ device, used: u, free: Math.max(0, Number((1 - u).toFixed(9))), holders: Object.freeze(holders(device)) });
  });
}

/** The GPU options this process's TensorFlow runs with, once a model fixed them (else null). */
export function processGpuOptions(): (GpuRequest & { fixedBy: string }) | null {
  return processConfig ? Object.freeze({ ...processConfig.request, fixedBy: processConfig.fixedBy }) : null;
}

/**
 * Takes a model's place in the ledger before its load starts. Throws
 * GPU_CONFIG_CONFLICT or GPU_BUDGET_EXCEEDED without charging anything.
 */
export function reserve(model: string, isolation: Isolation, request: GpuRequest): Reservation {
  return isolation === 'process' ? reserveHost(model, request) : reserveInProcess(model, request);
}

function reserveHost(model: string, request: GpuRequest): Reservation {
  const device = deviceOf(request);
  let held: Charge | null = request.fraction === null ? null
    : charge(null, { device, fraction: request.fraction, holder: model, isolation: 'process' }, model);
  return {
    confirm(hasGpu) {
      if (hasGpu && request.fraction === null) held = charge(held, { device, fraction: 1, holder: model, isolation: 'process' }, model, false);
    },
    release() {
      if (held) charges.delete(held);
      held = null;
    },
  };
}

function reserveInProcess(model: string, request: GpuRequest): Reservation {
  const config = processConfig;
  if (config && asksForGpu(request) && !sameRequest(config.request, request)) {
    throw new GpuConfigConflictError(
      `${model} asks for ${describeRequest(request)}, but this process's TensorFlow already runs with ` +
      `${describeRequest(config.request)} (fixed by ${config.fixedBy}): TensorFlow applies the first session's GPU ` +
      "options to the whole process and would silently ignore these. Load it with isolation: 'process' to give it " +
      'its own TensorFlow and budget, or ask for the same options (or none) to share the process slice.');
  }
  let mine: ProcessConfig | null = null;
  if (!config && asksForGpu(request)) {
    const fraction = request.fraction;
    const held = fraction === null ? null
      : charge(null, { device: deviceOf(request), fraction, holder: PROCESS_HOLDER, isolation: 'none' }, model);
    mine = processConfig = { request, fixedBy: model, fixed: false, pending: 0, charge: held };
  }
  const relied = mine ?? (config && asksForGpu(request) ? config : null);
  if (relied) relied.pending++;
  let settled = false;
  const settle = (ok: boolean) => {
    if (settled || !relied) return;
    settled = true;
    relied.pending--;
    if (ok) relied.fixed = true;
    else if (!relied.fixed && relied.pending === 0 && processConfig === relied) {
      if (relied.charge) charges.delete(relied.charge);
      processConfig = null;
    }
  };
  return {
    confirm(hasGpu) {
      settle(true);
      // A model that asked for nothing but got a GPU fixed TensorFlow's defaults.
      if (hasGpu && !processConfig) {
        const held = charge(null, { device: 0, fraction: 1, holder: PROCESS_HOLDER, isolation: 'none' }, model, false);
        processConfig = { request: { fraction: null, allowGrowth: null, device: null }, fixedBy: model, fixed: true, pending: 0, charge: held };
      } else if (hasGpu && processConfig && processConfig.request.fraction === null && processConfig.charge === null) {
        processConfig.charge = charge(null, { device: deviceOf(processConfig.request), fraction: 1, holder: PROCESS_HOLDER, isolation: 'none' }, model, false);
      }
    },
    // In-process shares are never given back: TensorFlow keeps the memory.
    release() {
      settle(false);
    },
  };
}

/**
 * @internal Whether reserve() would charge this request without GPU_BUDGET_EXCEEDED now (or once the
 * isolated models at the paths `freeing` gave their shares back): false only for an isolated
 * model with a fraction that the GPU's free share cannot hold. Charges nothing.
 * Used by the ModelManager's swapPolicy 'unload-first' to unload the old version before a load
 * that would be refused, rather than after.
 */
export function fitsNow(isolation: Isolation, request: GpuRequest, freeing: readonly GpuHolderRef[] = []): boolean {
  if (isolation !== 'process' || request.fraction === null) return true;
  const device = deviceOf(request);
  // The shares `freeing` names (isolated models' paths and fractions, one share each) counted as
  // given back. By fraction too: two models on one base path hold shares under one path
  // (helper-128: the other model's was counted).
  let taken = used(device);
  const left = [...freeing];
  for (const c of charges) {
    const at = c.device === device && c.isolation === 'process' ? left.findIndex((f) => f.holder === c.holder && (f.fraction === null || f.fraction === c.fraction)) : -1;
    if (at < 0) continue;
    taken -= c.fraction;
    left.splice(at, 1);
  }
  return fitsBeside(taken, request.fraction);
}

/** @internal A share fitsNow() counts as given back: its holder's path, and its fraction where known. */
export interface GpuHolderRef {
  holder: string;
  fraction: number | null;
}

/** @internal Tests only: forget everything (the process's TensorFlow would not). */
export function resetLedgerForTests(): void {
  charges.clear();
  processConfig = null;
}
