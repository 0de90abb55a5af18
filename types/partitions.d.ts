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
/** The partitions configureRuntime() set up, and their holders ([] when none). */
export declare function partitions(): Partition[];
/** A partition taken for a load; release() gives it back (load failed, model disposed). */
export interface PartitionLease {
    readonly partition: Partition;
    release(): void;
}
