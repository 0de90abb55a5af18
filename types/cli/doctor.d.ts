import { type GpuPartitionLayout } from '../partitions';
/** How many runs of one model execute at once, and why (bench and doctor print it). */
export interface ConcurrencyReport {
    /** model.maxConcurrentRuns; "Infinity" (JSON has no Infinity) for no limit. */
    maxConcurrentRuns: number | 'Infinity';
    /** TensorFlow's oneDNN kernels, as TensorFlow reports them (runtime().oneDnn); null: unknown. */
    oneDnn: boolean | null;
    /** True when maxConcurrentRuns is tfslice's default for that oneDNN state. */
    isDefault: boolean;
    /** One line: the limit and why. */
    reason: string;
}
/** The limit a model runs under, with the reason in words. */
export declare function concurrencyReport(maxConcurrentRuns: number, oneDnn: boolean | null): ConcurrencyReport;
/**
 * `--gpu-partitions` as configureRuntime's gpuPartitions: "GPU:MiB,MiB[;GPU:MiB...]", e.g.
 * "0:2048,4096;1:8192". Throws a RangeError naming the part it cannot read.
 */
export declare function parseGpuPartitions(spec: string): GpuPartitionLayout[];
export declare function doctor(flags: {
    json?: boolean;
    gpuPartitions?: string;
    cpuPartitions?: number;
}): Promise<number>;
