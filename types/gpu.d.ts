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
import { type GpuHolder } from './errors';
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
/** The budget of every GPU something is charged to. */
export declare function gpuLedger(): GpuBudget[];
/** The GPU options this process's TensorFlow runs with, once a model fixed them (else null). */
export declare function processGpuOptions(): (GpuRequest & {
    fixedBy: string;
}) | null;
/**
 * Takes a model's place in the ledger before its load starts. Throws
 * GPU_CONFIG_CONFLICT or GPU_BUDGET_EXCEEDED without charging anything.
 */
export declare function reserve(model: string, isolation: Isolation, request: GpuRequest): Reservation;
