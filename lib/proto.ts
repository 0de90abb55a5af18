/**
 * The protocol buffers tfslice reads and writes, with a schema of our own that
 * holds only the fields we use. Field numbers are TensorFlow's:
 * tensorflow/core/protobuf/config.proto, meta_graph.proto, saved_model.proto and
 * tensorflow/core/framework/tensor_shape.proto. Unknown fields are skipped on decode.
 */
import { type INamespace, Reader, Root, Type } from 'protobufjs/light';

import { type DType, dtypeFromTf, tfDTypeName } from './dtypes';
import { InvalidArgumentError, invalidType, invalidValue } from './errors';

// protobufjs' JSON descriptor format; map fields (keyType) are IMapField, which
// INamespace's field type does not admit, hence the cast.
const SCHEMA = {
  nested: {
    tensorflow: {
      nested: {
        GPUOptions: {
          fields: {
            perProcessGpuMemoryFraction: { type: 'double', id: 1 },
            allowGrowth: { type: 'bool', id: 4 },
            visibleDeviceList: { type: 'string', id: 5 },
            experimental: { type: 'GPUExperimental', id: 9 },
          },
        },
        // GPUOptions.Experimental: the virtual devices (partitions) of each visible GPU.
        GPUExperimental: { fields: { virtualDevices: { rule: 'repeated', type: 'VirtualDevices', id: 1 } } },
        VirtualDevices: { fields: { memoryLimitMb: { rule: 'repeated', type: 'float', id: 1 } } },
        ConfigProto: {
          fields: {
            deviceCount: { keyType: 'string', type: 'int32', id: 1 },
            intraOpParallelismThreads: { type: 'int32', id: 2 },
            interOpParallelismThreads: { type: 'int32', id: 5 },
            gpuOptions: { type: 'GPUOptions', id: 6 },
            allowSoftPlacement: { type: 'bool', id: 7 },
            logDevicePlacement: { type: 'bool', id: 8 },
            operationTimeoutInMs: { type: 'int64', id: 11 },
            // Read only, to check what raw sessionConfig bytes ask for (options.ts).
            sessionInterOpThreadPool: { rule: 'repeated', type: 'ThreadPoolOptionProto', id: 12 },
            isolateSessionState: { type: 'bool', id: 15 },
          },
        },
        ThreadPoolOptionProto: { fields: { numThreads: { type: 'int32', id: 1 }, globalName: { type: 'string', id: 2 } } },
        Dim: { fields: { size: { type: 'int64', id: 1 }, name: { type: 'string', id: 2 } } },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dim', id: 2 },
            unknownRank: { type: 'bool', id: 3 },
          },
        },
        // One of name (1), coo_sparse (4) or composite_tensor (5): struct.proto's
        // StructuredValue only as far as a RaggedTensorSpec's state needs it.
        TensorInfo: {
          fields: {
            name: { type: 'string', id: 1 },
            dtype: { type: 'int32', id: 2 },
            tensorShape: { type: 'TensorShapeProto', id: 3 },
            cooSparse: { type: 'CooSparse', id: 4 },
            compositeTensor: { type: 'CompositeTensor', id: 5 },
          },
        },
        CooSparse: {
          fields: {
            valuesTensorName: { type: 'string', id: 1 },
            indicesTensorName: { type: 'string', id: 2 },
            denseShapeTensorName: { type: 'string', id: 3 },
          },
        },
        CompositeTensor: {
          fields: {
            typeSpec: { type: 'TypeSpecProto', id: 1 },
            components: { rule: 'repeated', type: 'TensorInfo', id: 2 },
          },
        },
        TypeSpecProto: {
          fields: {
            typeSpecClass: { type: 'int32', id: 1 },
            typeState: { type: 'StructuredValue', id: 2 },
            typeSpecClassName: { type: 'string', id: 3 },
          },
        },
        StructuredValue: {
          fields: {
            tensorShapeValue: { type: 'TensorShapeProto', id: 31 },
            tensorDtypeValue: { type: 'int32', id: 32 },
            tupleValue: { type: 'TupleValue', id: 52 },
          },
        },
        TupleValue: { fields: { values: { rule: 'repeated', type: 'StructuredValue', id: 1 } } },
        SignatureDef: {
          fields: {
            inputs: { keyType: 'string', type: 'TensorInfo', id: 1 },
            outputs: { keyType: 'string', type: 'TensorInfo', id: 2 },
            methodName: { type: 'string', id: 3 },
          },
        },
        MetaInfoDef: {
          fields: {
            tags: { rule: 'repeated', type: 'string', id: 4 },
            tensorflowVersion: { type: 'string', id: 5 },
          },
        },
        MetaGraphDef: {
          fields: {
            metaInfoDef: { type: 'MetaInfoDef', id: 1 },
            // Only its presence matters: the graph restores variables from a checkpoint.
            saverDef: { type: 'bytes', id: 3 },
            signatureDef: { keyType: 'string', type: 'SignatureDef', id: 5 },
          },
        },
        // op_def.proto: what TF_GetOpList reports a plug-in library registered.
        OpDef: { fields: { name: { type: 'string', id: 1 }, inputArg: { rule: 'repeated', type: 'ArgDef', id: 2 } } },
        ArgDef: { fields: { name: { type: 'string', id: 1 } } },
        OpList: { fields: { op: { rule: 'repeated', type: 'OpDef', id: 1 } } },
        SavedModel: {
          fields: {
            savedModelSchemaVersion: { type: 'int64', id: 1 },
            metaGraphs: { rule: 'repeated', type: 'MetaGraphDef', id: 2 },
          },
        },
        // The graph itself, for the op policy (lib/ops.ts): graph.proto, node_def.proto,
        // attr_value.proto (function-valued attributes, and `s` for PrintV2's stream),
        // function.proto, saver.proto, meta_graph.proto's collections. Decoded only when asked.
        AttrValue: {
          fields: {
            list: { type: 'ListValue', id: 1 },
            s: { type: 'bytes', id: 2 },
            tensor: { type: 'StringTensor', id: 8 },
            placeholder: { type: 'string', id: 9 },
            func: { type: 'NameAttrList', id: 10 },
          },
        },
        // A Const's value, as far as a file name in it matters: tensor.proto's string_val.
        StringTensor: { fields: { stringVal: { rule: 'repeated', type: 'bytes', id: 8 } } },
        ListValue: { fields: { func: { rule: 'repeated', type: 'NameAttrList', id: 9 } } },
        NameAttrList: { fields: { name: { type: 'string', id: 1 }, attr: { keyType: 'string', type: 'AttrValue', id: 2 } } },
        NodeDef: {
          fields: {
            name: { type: 'string', id: 1 },
            op: { type: 'string', id: 2 },
            input: { rule: 'repeated', type: 'string', id: 3 },
            attr: { keyType: 'string', type: 'AttrValue', id: 5 },
          },
        },
        // attr: api_implements, by which Grappler may run another function of the library in a call's place.
        FunctionDef: { fields: { signature: { type: 'OpDef', id: 1 }, nodeDef: { rule: 'repeated', type: 'NodeDef', id: 3 }, attr: { keyType: 'string', type: 'AttrValue', id: 5 } } },
        FunctionDefLibrary: {
          fields: {
            function: { rule: 'repeated', type: 'FunctionDef', id: 1 },
            gradient: { rule: 'repeated', type: 'GradientDef', id: 2 },
          },
        },
        GradientDef: { fields: { functionName: { type: 'string', id: 1 }, gradientFunc: { type: 'string', id: 2 } } },
        GraphDef: { fields: { node: { rule: 'repeated', type: 'NodeDef', id: 1 }, library: { type: 'FunctionDefLibrary', id: 2 } } },
        NodeList: { fields: { value: { rule: 'repeated', type: 'string', id: 1 } } },
        // TF1's Builder lists its assets in the saved_model_assets collection (AssetFileDefs in Anys).
        CollectionDef: { fields: { nodeList: { type: 'NodeList', id: 1 }, anyList: { type: 'AnyList', id: 5 } } },
        AnyList: { fields: { value: { rule: 'repeated', type: 'AnyMessage', id: 1 } } },
        AnyMessage: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
        SaverDef: { fields: { filenameTensorName: { type: 'string', id: 1 }, restoreOpName: { type: 'string', id: 3 } } },
        AssetFileDef: { fields: { tensorInfo: { type: 'TensorInfo', id: 1 }, filename: { type: 'string', id: 2 } } },
        // MetaGraphDef and SavedModel again, with the graph, the saver and the collections.
        GraphMetaGraphDef: {
          fields: {
            metaInfoDef: { type: 'MetaInfoDef', id: 1 },
            graphDef: { type: 'GraphDef', id: 2 },
            saverDef: { type: 'SaverDef', id: 3 },
            collectionDef: { keyType: 'string', type: 'CollectionDef', id: 4 },
            signatureDef: { keyType: 'string', type: 'SignatureDef', id: 5 },
            assetFileDef: { rule: 'repeated', type: 'AssetFileDef', id: 6 },
          },
        },
        GraphSavedModel: { fields: { metaGraphs: { rule: 'repeated', type: 'GraphMetaGraphDef', id: 2 } } },
        // What TensorFlow's loader reads besides the graph (lib/loader.ts): GraphMetaGraphDef less field 2.
        LoaderMetaGraphDef: {
          fields: {
            metaInfoDef: { type: 'MetaInfoDef', id: 1 },
            saverDef: { type: 'SaverDef', id: 3 },
            collectionDef: { keyType: 'string', type: 'CollectionDef', id: 4 },
            signatureDef: { keyType: 'string', type: 'SignatureDef', id: 5 },
            assetFileDef: { rule: 'repeated', type: 'AssetFileDef', id: 6 },
          },
        },
        // config.proto's RunMetadata and step_stats.proto, as far as where each node ran.
        RunMetadata: { fields: { stepStats: { type: 'StepStats', id: 1 } } },
        StepStats: { fields: { devStats: { rule: 'repeated', type: 'DeviceStepStats', id: 1 } } },
        DeviceStepStats: { fields: { device: { type: 'string', id: 1 }, nodeStats: { rule: 'repeated', type: 'NodeExecStats', id: 2 } } },
        NodeExecStats: { fields: { nodeName: { type: 'string', id: 1 } } },
      },
    },
  },
};

const root = Root.fromJSON(SCHEMA as unknown as INamespace);

const ConfigProto: Type = root.lookupType('tensorflow.ConfigProto');
const MetaGraphDef: Type = root.lookupType('tensorflow.MetaGraphDef');
const SavedModel: Type = root.lookupType('tensorflow.SavedModel');
const OpList: Type = root.lookupType('tensorflow.OpList');
/** @internal A SavedModel with its graphs' nodes, functions, saver and collections (lib/ops.ts). */
export const GRAPH_SAVED_MODEL: Type = root.lookupType('tensorflow.GraphSavedModel');
/** @internal A MetaGraphDef with its graph's nodes, functions, saver and collections (lib/ops.ts). */
export const GRAPH_META_GRAPH: Type = root.lookupType('tensorflow.GraphMetaGraphDef');
/** @internal A MetaGraphDef without its graph: what the hand-made loader needs (lib/loader.ts). */
export const LOADER_META_GRAPH: Type = root.lookupType('tensorflow.LoaderMetaGraphDef');
/** @internal RunMetadata's step_stats: the device of each node a traced run ran (Model.placement). */
export const RUN_METADATA: Type = root.lookupType('tensorflow.RunMetadata');
/** @internal meta_graph.proto's AssetFileDef (lib/loader.ts reads TF1's saved_model_assets collection with it). */
export const ASSET_FILE_DEF: Type = root.lookupType('tensorflow.AssetFileDef');

/** The op names in OpList bytes (TF_GetOpList). */
export function decodeOpList(bytes: Uint8Array): string[] {
  return ((OpList.decode(bytes) as unknown as { op?: { name?: string }[] }).op ?? []).map((op) => op.name ?? '');
}

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
export function encodeConfig(config: SessionConfig, base?: Uint8Array): Uint8Array {
  if (typeof config !== 'object' || config === null) throw invalidType('config', 'an object (a SessionConfig: ConfigProto\'s fields, camelCase)', config);
  if (base !== undefined && !(base instanceof Uint8Array)) throw invalidType('base', 'a Uint8Array of ConfigProto bytes', base);
  let message: ReturnType<typeof ConfigProto.fromObject>;
  try {
    message = ConfigProto.fromObject(config);
  } catch (error) {
    // protobufjs: ".tensorflow.ConfigProto.gpuOptions: object expected"
    throw invalidValue('config', `${(error as Error).message.replace(/^\.tensorflow\./, '')}`);
  }
  const ours = ConfigProto.encode(message).finish();
  if (!base || base.length === 0) return ours;
  const merged = new Uint8Array(base.length + ours.length);
  merged.set(base, 0);
  merged.set(ours, base.length);
  return merged;
}

/**
 * Reads back the fields of `bytes` (a serialized ConfigProto) that tfslice models (for reports and tests).
 * @throws ERR_INVALID_ARG_TYPE (`bytes` not a Uint8Array), INVALID_ARGUMENT (bytes that are no ConfigProto)
 */
export function decodeConfig(bytes: Uint8Array): SessionConfig {
  if (!(bytes instanceof Uint8Array)) throw invalidType('bytes', 'a Uint8Array of ConfigProto bytes', bytes);
  let message: ReturnType<typeof ConfigProto.decode>;
  try {
    message = ConfigProto.decode(bytes);
  } catch (error) {
    throw new InvalidArgumentError(`bytes are no ConfigProto (${(error as Error).message})`);
  }
  return ConfigProto.toObject(message, { defaults: false, longs: Number }) as SessionConfig;
}

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

interface DecodedShape {
  dim?: { size?: number | { toNumber(): number } }[];
  unknownRank?: boolean;
}

interface DecodedTensorInfo {
  name?: string;
  dtype?: number;
  tensorShape?: DecodedShape | null;
  cooSparse?: { valuesTensorName?: string; indicesTensorName?: string; denseShapeTensorName?: string } | null;
  compositeTensor?: {
    typeSpec?: { typeSpecClass?: number; typeState?: { tupleValue?: { values?: { tensorShapeValue?: DecodedShape | null; tensorDtypeValue?: number }[] } | null } | null } | null;
    components?: DecodedTensorInfo[];
  } | null;
}

interface DecodedMetaGraph {
  metaInfoDef?: { tags?: string[]; tensorflowVersion?: string };
  saverDef?: Uint8Array;
  signatureDef?: Record<string, { inputs?: Record<string, DecodedTensorInfo>; outputs?: Record<string, DecodedTensorInfo>; methodName?: string }>;
}

function toNumber(value: number | { toNumber(): number } | undefined): number {
  if (value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

// A TF1 graph that fetches a variable directly lists a reference dtype (DT_FLOAT_REF = 101 =
// DT_FLOAT + 100, types.proto); fetching it yields the base dtype.
function baseDType(tf: number): number {
  return tf > 100 && tf < 200 ? tf - 100 : tf;
}

function dtypeName(tf: number): DType | OtherDType {
  const base = baseDType(tf);
  return (dtypeFromTf(base)?.name ?? tfDTypeName(base)) as DType | OtherDType;
}

function shapeOf(shape: DecodedShape | null | undefined): number[] | null {
  return !shape || shape.unknownRank ? null : (shape.dim ?? []).map((d) => toNumber(d.size));
}

// struct.proto TypeSpecProto.TypeSpecClass.RAGGED_TENSOR_SPEC
const RAGGED_TENSOR_SPEC = 3;

function tensorSpec(info: DecodedTensorInfo): TensorSpec {
  if (info.cooSparse) {
    // tf.SparseTensor (coo_sparse encoding): dtype and shape are the dense tensor's.
    const { valuesTensorName = '', indicesTensorName = '', denseShapeTensorName = '' } = info.cooSparse;
    const shape = shapeOf(info.tensorShape);
    const rank = shape === null ? -1 : shape.length;
    const dtype = dtypeName(info.dtype ?? 0);
    return {
      name: '', dtype, shape,
      composite: {
        kind: 'sparse',
        components: {
          indices: { name: indicesTensorName, dtype: 'int64', shape: [-1, rank] },
          values: { name: valuesTensorName, dtype, shape: [-1] },
          dense_shape: { name: denseShapeTensorName, dtype: 'int64', shape: [rank] },
        },
      },
    };
  }
  if (info.compositeTensor) {
    const parts = (info.compositeTensor.components ?? []).map(tensorSpec);
    const typeSpec = info.compositeTensor.typeSpec;
    if (typeSpec?.typeSpecClass === RAGGED_TENSOR_SPEC) {
      // A RaggedTensorSpec's state is (shape, dtype, ragged_rank, row_splits_dtype); its
      // components are flat_values, then the row splits from the outermost in.
      const [shape, dtype] = typeSpec.typeState?.tupleValue?.values ?? [];
      const components: Record<string, TensorSpec> = {};
      parts.forEach((part, i) => { components[i === 0 ? 'flat_values' : `nested_row_splits.${i - 1}`] = part; });
      return { name: '', dtype: dtypeName(dtype?.tensorDtypeValue ?? 0), shape: shapeOf(shape?.tensorShapeValue), composite: { kind: 'ragged', components } };
    }
    const components: Record<string, TensorSpec> = {};
    parts.forEach((part, i) => { components[`components.${i}`] = part; });
    return { name: '', dtype: parts[0]?.dtype ?? 'float32', shape: null, composite: { kind: 'composite', components } };
  }
  return { name: info.name ?? '', dtype: dtypeName(info.dtype ?? 0), shape: shapeOf(info.tensorShape) };
}

function specs(map: Record<string, DecodedTensorInfo> | undefined): Record<string, TensorSpec> {
  const out: Record<string, TensorSpec> = {};
  for (const key of Object.keys(map ?? {}).sort()) out[key] = tensorSpec(map![key]!);
  return out;
}

// TF2 SavedModels carry this internal NoOp signature; TensorFlow hides it too.
const HIDDEN_SIGNATURES = new Set(['__saved_model_init_op']);

export interface MetaGraphSummary {
  readonly tags: readonly string[];
  readonly tensorflowVersion: string;
  readonly signatures: Readonly<Record<string, SignatureInfo>>;
  /** The graph restores variables from variables/ (it has a SaverDef). */
  readonly hasSaver: boolean;
}

function summarize(meta: DecodedMetaGraph): MetaGraphSummary {
  const signatures: Record<string, SignatureInfo> = {};
  for (const name of Object.keys(meta.signatureDef ?? {}).sort()) {
    if (HIDDEN_SIGNATURES.has(name)) continue;
    const def = meta.signatureDef![name]!;
    signatures[name] = { inputs: specs(def.inputs), outputs: specs(def.outputs), methodName: def.methodName ?? '' };
  }
  return {
    tags: meta.metaInfoDef?.tags ?? [],
    tensorflowVersion: meta.metaInfoDef?.tensorflowVersion ?? '',
    signatures,
    hasSaver: meta.saverDef !== undefined && meta.saverDef.length > 0,
  };
}

/** Signatures and tags of the MetaGraphDef bytes TF_LoadSessionFromSavedModel returned. */
export function decodeMetaGraph(bytes: Uint8Array): MetaGraphSummary {
  return summarize(MetaGraphDef.decode(bytes) as unknown as DecodedMetaGraph);
}

/** Every meta graph of a saved_model.pb (tag-sets and their signatures). */
export function decodeSavedModel(bytes: Uint8Array): MetaGraphSummary[] {
  const model = SavedModel.decode(bytes) as unknown as { metaGraphs?: DecodedMetaGraph[] };
  return (model.metaGraphs ?? []).map(summarize);
}

/**
 * @internal The length-delimited fields of a message's bytes, in order, as [field number, view]
 * (views of `bytes`, no copies): those numbered `only`, or all; the other fields are skipped
 * (protobufjs's Reader). Lazy: a consumer that stops early reads no further.
 * @throws RangeError (or protobufjs's Error for a bad wire type) on a malformed message
 */
export function* lengthDelimitedFields(bytes: Uint8Array, only?: number): Generator<[number, Uint8Array]> {
  const reader = Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if ((tag & 7) !== 2 || (only !== undefined && tag >>> 3 !== only)) {
      reader.skipType(tag & 7);
      continue;
    }
    const length = reader.uint32();
    const start = reader.pos;
    reader.skip(length);
    yield [tag >>> 3, bytes.subarray(start, start + length)];
  }
}

let primed = false;

/**
 * protobufjs builds each message type's encoder, decoder and converters on its first use
 * (Type#setup: ~20-25 ms for this schema in all on a 2-vCPU VM, most of it for the graph types
 * the op policy check reads). loadTensorFlow() calls this while dlopen runs on a worker thread,
 * so the first loadModel() does not pay for it.
 */
export function primeProtobuf(): void {
  if (primed) return;
  primed = true;
  const setUp = (namespace: { nestedArray: readonly unknown[] }): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof Type) nested.setup();
      if (nested !== null && typeof nested === 'object' && 'nestedArray' in nested) setUp(nested as { nestedArray: readonly unknown[] });
    }
  };
  setUp(root);
}
