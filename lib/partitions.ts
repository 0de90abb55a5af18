/**
 * Partitions (experimental): one TensorFlow process split into devices up front, a model on each.
 *
 * TensorFlow fixes the GPU layout of a process with its first session (DESIGN.md), but that
 * layout may hold several virtual devices per GPU, each with its own allocator and memory limit
 * (ConfigProto gpu_options.experimental.virtual_devices, config.proto). configureRuntime({
 * gpuPartitions }) sets the layout before the first in-process load; every in-process model then
 * names a partition (loadModel(path, { partition: 'auto' | k })) and is placed on its device by
 * the hand-made loader (lib/loader.ts), one model per partition: the partition's size is the
 * model's budget, enforced by TensorFlow's allocator for that device.
 *
 * cpuPartitions is the same path on CPU devices (device_count { CPU: n }), so placement can be
 * proven without a GPU; CPU devices share one allocator, so it limits nothing.
 */
import { GpuBudgetExceededError, GpuConfigConflictError, type GpuHolder, invalidType, outOfRange, TensorFlowError } from './errors';
import type { SessionConfig } from './proto';

/** One GPU's partitions: memory limits in MiB, in the order TensorFlow numbers them. */
export interface GpuPartitionLayout {
  /** Physical GPU index (becomes visible_device_list). */
  readonly gpu: number;
  /** Each partition's memory limit, MiB (VirtualDevices.memory_limit_mb). */
  readonly memoryMb: readonly number[];
}

/** A partition and who holds it (partitions()). */
export interface Partition {
  /** TensorFlow's device index: partition k is /device:GPU:k (or /device:CPU:k). */
  readonly index: number;
  /** The device its model is placed on, e.g. "/device:GPU:1". */
  readonly device: string;
  /** 'GPU', or 'CPU' for cpuPartitions. */
  readonly type: 'GPU' | 'CPU';
  /** Physical GPU index; null for a CPU partition. */
  readonly gpu: number | null;
  /** The memory limit asked for, MiB; null for a CPU partition (no limit). */
  readonly memoryMb: number | null;
  /** The SavedModel path of the model on it, or null when free. */
  readonly holder: string | null;
}

interface Slot {
  index: number;
  type: 'GPU' | 'CPU';
  gpu: number | null;
  memoryMb: number | null;
  holder: string | null;
}

let slots: Slot[] = [];
let layoutKey = '';
/** An in-process session exists: the layout is TensorFlow's now. */
let fixed = false;

const MAX_CPU_PARTITIONS = 64;

function describe(slot: Slot): string {
  return slot.type === 'GPU' ? `partition ${slot.index} (GPU ${slot.gpu}, ${slot.memoryMb} MiB)` : `partition ${slot.index} (/device:CPU:${slot.index})`;
}

function layoutOf(gpuPartitions: unknown, cpuPartitions: unknown): Slot[] {
  if (gpuPartitions !== undefined && cpuPartitions !== undefined) {
    throw outOfRange('gpuPartitions', 'given without cpuPartitions (a process is split into GPU partitions or, as a stand-in, CPU ones)', 'both');
  }
  if (cpuPartitions !== undefined) {
    if (typeof cpuPartitions !== 'number') throw invalidType('cpuPartitions', 'a number of CPU devices', cpuPartitions);
    if (!Number.isInteger(cpuPartitions) || cpuPartitions < 1 || cpuPartitions > MAX_CPU_PARTITIONS) {
      throw outOfRange('cpuPartitions', `a whole number of devices from 1 to ${MAX_CPU_PARTITIONS}`, cpuPartitions);
    }
    return Array.from({ length: cpuPartitions }, (_, index) => ({ index, type: 'CPU' as const, gpu: null, memoryMb: null, holder: null }));
  }
  if (!Array.isArray(gpuPartitions) || gpuPartitions.length === 0) {
    throw invalidType('gpuPartitions', 'a non-empty array of { gpu, memoryMb: [MiB, ...] }', gpuPartitions);
  }
  const out: Slot[] = [];
  const seen = new Set<number>();
  gpuPartitions.forEach((entry: unknown, i) => {
    const field = `gpuPartitions[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw invalidType(field, 'an object { gpu, memoryMb }', entry);
    const { gpu, memoryMb, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw invalidType(`${field}.${extra}`, 'absent (the fields are gpu and memoryMb)', extra);
    if (typeof gpu !== 'number' || !Number.isInteger(gpu) || gpu < 0 || gpu > 1023) throw outOfRange(`${field}.gpu`, 'a physical GPU index (a whole number ≥ 0)', gpu);
    if (seen.has(gpu)) throw outOfRange(`${field}.gpu`, 'a GPU listed once (give all its partitions in one memoryMb list)', gpu);
    seen.add(gpu);
    if (!Array.isArray(memoryMb) || memoryMb.length === 0) throw invalidType(`${field}.memoryMb`, 'a non-empty array of partition sizes in MiB', memoryMb);
    memoryMb.forEach((mb: unknown, j) => {
      if (typeof mb !== 'number' || !Number.isFinite(mb) || mb < 1 || mb > 16 * 1024 * 1024) {
        throw outOfRange(`${field}.memoryMb[${j}]`, 'a partition size in MiB, from 1 to 16777216', mb);
      }
    });
    for (const mb of memoryMb as number[]) out.push({ index: 0, type: 'GPU', gpu, memoryMb: mb, holder: null });
  });
  // TensorFlow numbers virtual devices by visible GPU, in visible_device_list order (sorted here).
  out.sort((a, b) => a.gpu! - b.gpu!);
  out.forEach((slot, index) => { slot.index = index; });
  return out;
}

/**
 * @internal configureRuntime({ gpuPartitions | cpuPartitions }). Before the first in-process
 * session only; the same layout again is accepted. Throws FAILED_PRECONDITION afterwards.
 */
export function configurePartitions(gpuPartitions: unknown, cpuPartitions: unknown): void {
  const next = layoutOf(gpuPartitions, cpuPartitions);
  const key = JSON.stringify(next.map((s) => [s.type, s.gpu, s.memoryMb]));
  if (key === layoutKey) return;
  if (fixed) {
    throw new TensorFlowError('FAILED_PRECONDITION', 'this process already has an in-process TensorFlow session, which fixed its device layout ' +
      `(${slots.length === 0 ? 'no partitions' : slots.map(describe).join(', ')}); give configureRuntime() the layout before the first loadModel()`);
  }
  slots = next;
  layoutKey = key;
}

/** @internal An in-process session was created: the layout can no longer change. */
export function fixLayout(): void {
  fixed = true;
}

/** The partitions configureRuntime() set up, and their holders ([] when none). */
export function partitions(): Partition[] {
  return slots.map((s) => Object.freeze({
    index: s.index, device: `/device:${s.type}:${s.index}`, type: s.type, gpu: s.gpu, memoryMb: s.memoryMb, holder: s.holder,
  }));
}

/** @internal 'GPU' or 'CPU' when partitions are configured, else null. */
export function partitionType(): 'GPU' | 'CPU' | null {
  return slots[0]?.type ?? null;
}

/**
 * @internal The ConfigProto fields every in-process partition session carries (the same in each,
 * so TensorFlow never sees two layouts): the virtual devices per GPU, or device_count for CPU
 * partitions; soft placement, so ops without a kernel on the device fall back to the CPU.
 */
export function partitionConfig(): SessionConfig {
  if (slots[0]?.type === 'CPU') return { deviceCount: { CPU: slots.length }, allowSoftPlacement: true };
  const gpus = [...new Set(slots.map((s) => s.gpu!))];
  return {
    allowSoftPlacement: true,
    gpuOptions: {
      visibleDeviceList: gpus.join(','),
      experimental: { virtualDevices: gpus.map((gpu) => ({ memoryLimitMb: slots.filter((s) => s.gpu === gpu).map((s) => s.memoryMb!) })) },
    },
  };
}

/** A partition taken for a load; release() gives it back (load failed, model disposed). */
export interface PartitionLease {
  readonly partition: Partition;
  release(): void;
}

function holdersOf(gpu: number | null): GpuHolder[] {
  return slots.filter((s) => s.holder !== null && s.gpu === gpu)
    .map((s) => Object.freeze({ model: s.holder!, fraction: 0, isolation: 'none' as const, partition: s.index }));
}

/**
 * @internal Takes partition `ask` ('auto': the first free one, in index order) for `model`.
 * GPU_CONFIG_CONFLICT when no partitions are configured; RangeError for an index outside the
 * layout; GPU_BUDGET_EXCEEDED when it (or every one) is taken, naming the holders.
 */
export function takePartition(model: string, ask: 'auto' | number): PartitionLease {
  if (slots.length === 0) {
    throw new GpuConfigConflictError(`${model} asks for partition ${JSON.stringify(ask)}, but this process has no partitions: ` +
      'call configureRuntime({ gpuPartitions: [{ gpu: 0, memoryMb: [...] }] }) before the first loadModel(), or load it without partition');
  }
  if (ask !== 'auto' && ask >= slots.length) {
    throw outOfRange('partition', `'auto' or a partition index from 0 to ${slots.length - 1} (this process has ${slots.length}: ${slots.map(describe).join(', ')})`, ask);
  }
  const slot = ask === 'auto' ? slots.find((s) => s.holder === null) : slots[ask]!;
  if (!slot || slot.holder !== null) {
    const taken = ask === 'auto' ? slots : [slot!];
    const gpu = taken[0]!.gpu;
    throw new GpuBudgetExceededError(
      `${model} asks for ${ask === 'auto' ? 'a free partition' : describe(slot!)}, but ${ask === 'auto' ? 'every partition is held' : 'it is held'}: ` +
      `${taken.map((s) => `${describe(s)} by ${s.holder}`).join(', ')}. A partition holds one model: dispose() one of them, or load this one with ` +
      "isolation: 'process' (a TensorFlow of its own, with a gpuMemoryFraction).",
      gpu ?? -1, holdersOf(gpu));
  }
  slot.holder = model;
  let held = true;
  return {
    partition: partitions()[slot.index]!,
    release() {
      if (held && slot.holder === model) slot.holder = null;
      held = false;
    },
  };
}

/** @internal Tests only: forget the layout (TensorFlow would not). */
export function resetPartitionsForTests(): void {
  slots = [];
  layoutKey = '';
  fixed = false;
}
