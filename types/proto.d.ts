import { type DType } from './dtypes';
/** The op names in OpList bytes (TF_GetOpList). */
export declare function decodeOpList(bytes: Uint8Array): string[];
/** The ConfigProto fields tfslice sets; absent fields keep TensorFlow's defaults. */
export interface SessionConfig {
    /** Devices per type this session creates (device_count; partitions use CPU). */
    deviceCount?: Record<string, number>;
    /** Threads each op may use inside (intra_op_parallelism_threads); 0: TensorFlow picks (the cores). */
    intraOpParallelismThreads?: number;
    /** Threads of the pool that runs independent ops (inter_op_parallelism_threads); -1: ops run on the calling thread, 0: TensorFlow picks. */
    interOpParallelismThreads?: number;
    /** Put an op on a device that can run it when the one asked for cannot (allow_soft_placement). */
    allowSoftPlacement?: boolean;
    /** Log the device each op is placed on, through TensorFlow's own log (log_device_placement). */
    logDevicePlacement?: boolean;
    /** Deadline of every blocking operation of the session, ms (remote sessions get one by default). */
    operationTimeoutInMs?: number;
    /** Resource variables private to the session, not shared by name on the worker (remote sessions get it). */
    isolateSessionState?: boolean;
    /** Inter-op pools a run may pick (RunOptions.inter_op_thread_pool); read from raw sessionConfig bytes, never set by tfslice. */
    sessionInterOpThreadPool?: {
        /** The pool's threads (ThreadPoolOptionProto.num_threads); 0: TensorFlow picks. */
        numThreads?: number;
        /** A name pools of other sessions with the same name share (global_name). */
        globalName?: string;
    }[];
    /** TensorFlow's GPUOptions. */
    gpuOptions?: {
        /** The GPU's memory this process may take, a fraction in (0, 1] (per_process_gpu_memory_fraction). */
        perProcessGpuMemoryFraction?: number;
        /** Take GPU memory as needed instead of the whole limit up front (allow_growth). */
        allowGrowth?: boolean;
        /** The physical GPUs this process sees, in order, e.g. "0,2" (visible_device_list). */
        visibleDeviceList?: string;
        /** The virtual devices (partitions) of each visible GPU, memory limits in MiB. */
        experimental?: {
            /** One entry per visible GPU (GPUOptions.Experimental.virtual_devices). */
            virtualDevices?: {
                /** Each virtual device's memory, in MiB (memory_limit_mb). */
                memoryLimitMb?: number[];
            }[];
        };
    };
}
/**
 * Serialises `config` as ConfigProto bytes for TF_SetConfig. `base` (raw
 * ConfigProto bytes) goes first, so protobuf merge rules let our fields win while
 * every field we do not model is kept.
 * @throws ERR_INVALID_ARG_TYPE (`config` not an object, `base` not a Uint8Array),
 *   ERR_INVALID_ARG_VALUE (a field of `config` of the wrong type, named as ConfigProto's path)
 */
export declare function encodeConfig(config: SessionConfig, base?: Uint8Array): Uint8Array;
/**
 * Reads back the fields of `bytes` (a serialized ConfigProto) that tfslice models (for reports and tests).
 * @throws ERR_INVALID_ARG_TYPE (`bytes` not a Uint8Array), INVALID_ARGUMENT (bytes that are no ConfigProto)
 */
export declare function decodeConfig(bytes: Uint8Array): SessionConfig;
/** Names TensorFlow uses for dtypes tfslice cannot carry (still shown in signatures). */
export type OtherDType = 'complex64' | 'complex128' | 'qint8' | 'quint8' | 'qint16' | 'quint16' | 'qint32' | 'resource' | 'variant' | `DataType(${number})`;
/** One input or output of a signature as the SavedModel declares it. */
export interface TensorSpec {
    /** Graph tensor name, e.g. "serving_default_x:0"; '' for a ragged, sparse or other composite tensor. */
    readonly name: string;
    /** The element dtype (a TF1 reference dtype such as DT_FLOAT_REF is listed as its base dtype). */
    readonly dtype: DType | OtherDType;
    /** Dimensions with -1 for unknown ones; null when even the rank is unknown. */
    readonly shape: readonly number[] | null;
    /**
     * Only for a tensor that is not one graph tensor: what it is, and the graph tensors it is
     * made of by component key. run() returns each component as `${key}.${component}`:
     * ragged `flat_values` and `nested_row_splits.0`, `.1`, … (the arguments of
     * tf.RaggedTensor.from_nested_row_splits); sparse `indices`, `values`, `dense_shape`
     * (tf.SparseTensor's); any other composite `components.0`, `.1`, …
     */
    readonly composite?: CompositeSpec;
}
/** TensorSpec.composite: a ragged, sparse or other composite tensor and the graph tensors it is made of. */
export interface CompositeSpec {
    /** 'ragged' (tf.RaggedTensor), 'sparse' (tf.SparseTensor, coo_sparse) or 'composite' (any other CompositeTensor). */
    readonly kind: 'ragged' | 'sparse' | 'composite';
    /** Each component's graph tensor, by component key ('flat_values', 'nested_row_splits.0'; 'indices', 'values', 'dense_shape'; 'components.0'). */
    readonly components: Readonly<Record<string, TensorSpec>>;
}
/** One signature of a SavedModel (its SignatureDef), as Model.signatures lists it. */
export interface SignatureInfo {
    /** Inputs by key, the keys run() takes as feeds. */
    readonly inputs: Readonly<Record<string, TensorSpec>>;
    /** Outputs by key, the keys run() returns (a composite output's components as `key.component`). */
    readonly outputs: Readonly<Record<string, TensorSpec>>;
    /** e.g. "tensorflow/serving/predict". */
    readonly methodName: string;
}
export interface MetaGraphSummary {
    readonly tags: readonly string[];
    readonly tensorflowVersion: string;
    readonly signatures: Readonly<Record<string, SignatureInfo>>;
    /** The graph restores variables from variables/ (it has a SaverDef). */
    readonly hasSaver: boolean;
}
/** Signatures and tags of the MetaGraphDef bytes TF_LoadSessionFromSavedModel returned. */
export declare function decodeMetaGraph(bytes: Uint8Array): MetaGraphSummary;
/** Every meta graph of a saved_model.pb (tag-sets and their signatures). */
export declare function decodeSavedModel(bytes: Uint8Array): MetaGraphSummary[];
/**
 * protobufjs builds each message type's encoder, decoder and converters on its first use
 * (Type#setup: ~20-25 ms for this schema in all on a 2-vCPU VM, most of it for the graph types
 * the op policy check reads). loadTensorFlow() calls this while dlopen runs on a worker thread,
 * so the first loadModel() does not pay for it.
 */
export declare function primeProtobuf(): void;
