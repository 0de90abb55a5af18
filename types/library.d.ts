import { type GpuPartitionLayout } from './partitions';
/**
 * How libtensorflow was found: 'env' from $TFSLICE_LIBTENSORFLOW, 'python' a pip-installed
 * TensorFlow (./.venv, $VIRTUAL_ENV, python3 on PATH), 'cache' the per-user install of
 * `tfslice install-tensorflow`, 'system' the system loader's path.
 */
export type LibrarySource = 'env' | 'python' | 'cache' | 'system';
/** The TensorFlow this process runs on. */
export interface Runtime {
    /** TF_Version(), e.g. "2.21.0". */
    readonly tensorflowVersion: string;
    /** The library that was dlopen'ed (a bare soname when the system loader found it). */
    readonly path: string;
    /** How it was found. */
    readonly source: LibrarySource;
    /**
     * Whether TensorFlow's oneDNN CPU kernels are on, as TensorFlow itself reports it
     * (tensorflow::IsMKLEnabled); fixed when TensorFlow loaded. Unless configured, TensorFlow
     * decides by CPU (on with AVX512-VNNI/BF16, AVX-VNNI or AMX). null when unknown.
     */
    readonly oneDnn: boolean | null;
}
/** Settings of the TensorFlow runtime and of how tfslice waits for it. */
export interface RuntimeOptions {
    /**
     * oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS), read once when TensorFlow loads.
     * TensorFlow's default is on; off made a small MLP at batch 1 faster and the same MLP
     * at batch 32 slower (README, Performance).
     */
    oneDnn?: boolean;
    /**
     * While a run() is the only one in flight, its model runs ops inline (interOpThreads
     * -1, the default, or a short plan of a model with a pool, see LoadOptions.interOpThreads)
     * and its plan's last TF_SessionRun took at most this many
     * microseconds, the event loop polls for it instead of sleeping, for at most this long
     * per run (default 100; 0 turns polling off). Waking a sleeping
     * thread costs about as much as a short run on a VM; a long run never polls. Takes
     * effect at once, at any time.
     */
    busyPollMicros?: number;
    /**
     * Experimental: splits GPUs into partitions, TensorFlow virtual devices with a memory limit and
     * an allocator each (GPUOptions.experimental.virtual_devices, config.proto), numbered in order:
     * `[{ gpu: 0, memoryMb: [2048, 4096] }]` makes /device:GPU:0 (2048 MiB) and /device:GPU:1
     * (4096 MiB) on physical GPU 0. Every in-process model must then be loaded onto one with
     * loadModel(path, { partition: 'auto' | k }); one model per partition. Set before the first
     * in-process loadModel() (FAILED_PRECONDITION after; the same layout again is accepted).
     * README, GPU partitions.
     */
    gpuPartitions?: readonly GpuPartitionLayout[];
    /**
     * Experimental stand-in for gpuPartitions on CPU: n CPU devices (device_count { CPU: n }),
     * partition k is /device:CPU:k. They share one allocator, so nothing is limited: it proves the
     * placement path without a GPU. Models loaded without `partition` load as usual.
     */
    cpuPartitions?: number;
    /**
     * How long, in ms, a copy buffer of 32 MiB or more that tfslice made and freed (an echo, an
     * unaligned feed's copy, packed string outputs) is kept for reuse before the addon's free
     * thread hands it back to the system (a whole number from 0 to 86 400 000; default 10 000; 0
     * keeps none). Up to 128 MiB are kept in all, in the process's RSS meanwhile. Takes effect at
     * once, at any time. README, "What is copied".
     */
    keptBufferIdleMs?: number;
}
/**
 * Sets runtime options. oneDnn takes effect when TensorFlow loads: set it before the
 * first loadModel(); once TensorFlow is loaded, asking for a different value throws
 * FAILED_PRECONDITION (the same value is accepted). busyPollMicros applies at once.
 * gpuPartitions / cpuPartitions: before the first in-process loadModel() (FAILED_PRECONDITION
 * after, unless the same); a bad layout throws TypeError / RangeError naming the field.
 * keptBufferIdleMs applies at once. A value of the wrong type is ERR_INVALID_ARG_TYPE (a
 * TypeError), one out of range ERR_OUT_OF_RANGE (a RangeError), an unknown key
 * ERR_INVALID_ARG_TYPE.
 */
export declare function configureRuntime(options: RuntimeOptions): void;
/** Finds and loads libtensorflow off the event loop; later calls return the same runtime. */
export declare function loadTensorFlow(): Promise<Runtime>;
/**
 * The loaded TensorFlow. When none is loaded yet this finds and loads it
 * synchronously (blocking for the few hundred ms dlopen takes): prefer
 * `await loadTensorFlow()` in a server.
 */
export declare function runtime(): Runtime;
/**
 * Loads a plug-in library of TensorFlow ops and kernels (TF_LoadLibrary), such as
 * tensorflow_text's `_*_ops.so` or sentencepiece's, into this process's TensorFlow, so
 * SavedModels that use its ops load. Off the event loop; loads TensorFlow first if needed.
 * A library stays loaded for the life of the process (TensorFlow cannot unregister ops);
 * loading the same path again returns the same names. Models with isolation: 'process'
 * take the option `opLibraries` instead (their TensorFlow is the host's).
 *
 * @param libraryPath the shared library (.so), built against this TensorFlow version
 * @returns the names of the ops it registered
 * @throws NOT_FOUND (no such file), or TensorFlow's code when it cannot load it (a library
 *   built for another TensorFlow typically fails with an undefined symbol)
 */
export declare function loadOpLibrary(libraryPath: string): Promise<readonly string[]>;
