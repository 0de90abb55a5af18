/**
 * TensorFlow's and KServe's protobuf messages as tensors, both ways: the .proto files of proto/
 * (loaded once with protobufjs), TensorProto and InferTensorContents in and out, and the request
 * fields the gRPC services read. Nothing here needs grpc-js, so the codec threads
 * (codec-worker.ts) decode big messages with the same code as the event loop.
 */
import * as path from 'node:path';

import Long from 'long';
import { Root, type Type } from 'protobufjs';

import { dtypeFromTf, dtypeInfo, type DType, tfDTypeName, type TypedArray } from '../dtypes';
import { InvalidArgumentError, tensorFlowError } from '../errors';
import { PACKAGE_ROOT } from '../native';
import { checkShape, elementCount, exactCount, packedStringTensor, Tensor } from '../tensor';
import { classifications, regressions, tfDataTypeName } from './tfs';
import { BytesList, toBigInt, typedInferContents, typedTensorProto } from './tensor-proto-wire';
import { binaryTensor, dtypeOfV2, sharedMemoryUnsupported, v2Datatype } from './v2';

/** @internal Where the .proto files are (shipped with the package; grpc.ts exports it). */
export const PROTO_DIR = path.join(PACKAGE_ROOT, 'proto');


/**
 * @internal The most elements one request's typed fields with fewer values than elements are
 * filled out to, all its inputs together (4 MiB of float32). A 35-byte Predict filling 16 Mi
 * elements held ~200 MB and seconds of CPU, and 24 at once 3.8 GB: the fill is what a few bytes
 * can make the server allocate, so it is kept small; bigger tensors send their values.
 */
export const MAX_FILLED_ELEMENTS = 1024 * 1024;

/** @internal What is left of one request's MAX_FILLED_ELEMENTS. */
export interface FillBudget {
  left: number;
}

let root: Root | undefined;

/**
 * @internal The messages and services of proto/, loaded once. TensorProto's and
 * InferTensorContents' numeric fields decode into typed arrays (tensor-proto-wire.ts).
 */
export function protos(): Root {
  if (!root) {
    root = new Root();
    root.loadSync(['tensorflow_serving.proto', 'inference.proto', 'health.proto'].map((f) => path.join(PROTO_DIR, f)), { keepCase: true });
    root.resolveAll();
    typedTensorProto(root.lookupType('tensorflow.TensorProto'));
    typedInferContents(root.lookupType('inference.InferTensorContents'));
  }
  return root;
}


/** A decoded protobufjs message, as the services read and write them. */
export type Message = Record<string, unknown>;
/** A 64-bit integer as protobufjs decodes one. */
export type Int64 = Long | number | string | null | undefined;

/** A version as KServe's messages carry it: a string of decimal digits. */
export function versionOf(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new InvalidArgumentError(`${what} must be a version number (decimal digits), got ${JSON.stringify(value)}`);
  // Any number of digits, zeros in front too (helper-140: 16 digits, a microsecond timestamp, were refused).
  const version = Number(value);
  if (!Number.isSafeInteger(version)) throw new InvalidArgumentError(`${what} ${value} is past 2^53 - 1, the largest version tfslice takes`);
  return version;
}

export function toNumber(value: Int64, what: string): number {
  const n = Long.isLong(value) ? (value as Long).toNumber() : Number(value ?? 0);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${what} is ${String(value)}, past 2^53`);
  return n;
}

// ---------------------------------------------------------------------------
// TensorProto
// ---------------------------------------------------------------------------

// A DataType number as TensorFlow's enum names it (DT_COMPLEX64), or DataType(n) for one it has not.
export function dataTypeName(tf: number): string {
  const name = tfDTypeName(tf);
  return name.startsWith('DataType(') ? name : tfDataTypeName(name);
}

// The typed field a dtype's elements travel in (tensor.proto).
function valueField(dtype: DType): string {
  switch (dtype) {
    case 'float32': return 'float_val';
    case 'float64': return 'double_val';
    case 'int64': return 'int64_val';
    case 'uint64': return 'uint64_val';
    case 'uint32': return 'uint32_val';
    case 'bool': return 'bool_val';
    case 'float16': case 'bfloat16': return 'half_val';
    case 'string': return 'string_val';
    default: return 'int_val';
  }
}

/**
 * @internal A TensorProto as a Tensor: tensor_content (raw little-endian bytes) or the typed field of its
 * dtype; as TensorFlow reads one, fewer values than elements repeat the last (a single value
 * fills the shape) and none means zeros. `aligned`: as binaryTensor's.
 * @throws INVALID_ARGUMENT for a shape or content that does not fit; UNIMPLEMENTED for a dtype tfslice cannot feed
 */
export function tensorFromProto(proto: Message, name: string, aligned = true, fill: FillBudget = { left: MAX_FILLED_ELEMENTS }): Tensor {
  const tf = Number(proto.dtype ?? 0);
  const info = dtypeFromTf(tf);
  if (!info) {
    throw tensorFlowError(tf === 0 ? 'INVALID_ARGUMENT' : 'UNIMPLEMENTED', tf === 0 ? `input '${name}' has no dtype` : `input '${name}' has dtype ${dataTypeName(tf)}, which tfslice does not feed`);
  }
  const shapeProto = proto.tensor_shape as Message | undefined;
  if (shapeProto?.unknown_rank) throw new InvalidArgumentError(`input '${name}' has an unknown rank; a fed tensor needs its shape`);
  const shape = ((shapeProto?.dim as Message[] | undefined) ?? []).map((d, i) => toNumber(d.size as Int64, `input '${name}' dimension ${i}`));
  checkShape(shape, `input '${name}' shape`);
  const n = elementCount(shape);
  const dtype = info.name as DType;
  const content = proto.tensor_content as Uint8Array | undefined;
  if (content && content.byteLength > 0) {
    if (dtype === 'string') throw new InvalidArgumentError(`input '${name}': DT_STRING goes in string_val, not tensor_content`);
    if (content.byteLength !== n * info.bytes) {
      throw new InvalidArgumentError(`input '${name}': tensor_content holds ${content.byteLength} bytes, but shape [${shape.join(', ')}] of ${dtype} needs ${exactCount(shape, info.bytes)}`);
    }
    return binaryTensor(name, dtype, shape, content, aligned);
  }
  // string_val as this server decodes it is a BytesList: packed as it came.
  const field = proto[valueField(dtype)] as ArrayLike<unknown> | BytesList | undefined;
  const given = field?.length ?? 0;
  if (given > n) throw new InvalidArgumentError(`input '${name}': ${given} values in ${valueField(dtype)} for shape [${shape.join(', ')}] (${n} elements)`);
  // A few bytes may declare any shape: what fewer values fill in is bounded, so that a small
  // request cannot make the server allocate without limit (the values themselves are bounded
  // by the message size).
  if (given < n) {
    // A string repeated fills in its bytes as often: counted as that many 4-byte elements.
    const last = dtype !== 'string' || given === 0 ? 0 : field instanceof BytesList ? field.at(given - 1).byteLength : ((field as ArrayLike<Uint8Array>)[given - 1]?.byteLength ?? 0);
    const cost = (n - given) * Math.max(1, Math.ceil(last / 4));
    if (cost > fill.left) {
      throw new InvalidArgumentError(`input '${name}': shape [${shape.join(', ')}] has ${exactCount(shape)} elements but ${valueField(dtype)} gives ${given}; ` + (dtype === 'string'
        ? `tfslice fills in at most ${MAX_FILLED_ELEMENTS * 4} bytes of strings per request from fewer values (each element filled in counted as at least 4, ` +
          `the last string's ${last} here): send every value`
        : `tfslice fills in at most ${MAX_FILLED_ELEMENTS} elements per request from fewer values: send every value (or tensor_content)`));
    }
    fill.left -= cost;
  }
  if (field instanceof BytesList) return packedStringTensor(shape, field.packed(n));
  const values = field ?? [];
  if (dtype === 'string') {
    const items: Uint8Array[] = new Array(n);
    const empty = new Uint8Array(0);
    for (let i = 0; i < n; i++) items[i] = (values[Math.min(i, values.length - 1)] as Uint8Array | undefined) ?? empty;
    return new Tensor('string', items, shape);
  }
  const data = numericArray(dtype, values, n);
  if (values.length > 0 && values.length < n) data.fill(data[values.length - 1] as never, values.length);
  return new Tensor(dtype, data as never, shape);
}

// A typed array of `n` elements of a numeric dtype with `values` at its start: a typed array as
// TensorProto's fields decode (tensor-proto-wire.ts; converted as TypedArray.set converts), or
// protobufjs's numbers, booleans or Longs; 64-bit integers exact.
function numericArray(dtype: DType, values: ArrayLike<unknown>, n: number): TypedArray {
  const ArrayOf = dtypeInfo(dtype)!.array!;
  const wide = dtype === 'int64' || dtype === 'uint64';
  if (ArrayBuffer.isView(values) && (values instanceof BigInt64Array || values instanceof BigUint64Array) === wide) {
    if (values.length === n && values instanceof ArrayOf) return values as TypedArray;
    const data = new ArrayOf(n);
    (data as Float64Array).set(values as unknown as Float64Array);
    return data as TypedArray;
  }
  const data = new ArrayOf(n) as unknown as (number | bigint)[];
  // BigInt64Array and BigUint64Array store a bigint modulo 2^64, as the dtype reads it.
  for (let i = 0; i < values.length; i++) data[i] = wide ? toBigInt(values[i]) : Number(values[i]);
  return data as unknown as TypedArray;
}

/**
 * @internal A Tensor as a TensorProto: the typed field of its dtype (TensorFlow Serving's default, which
 * its own examples read: `outputs['y'].float_val`), or with `content` its raw bytes in
 * tensor_content (strings always in string_val).
 */
export function tensorToProto(tensor: Tensor, content: boolean): Message {
  const dtype = tensor.dtype as DType;
  const proto: Message = { dtype: dtypeInfo(dtype)!.tf, tensor_shape: { dim: tensor.shape.map((size) => ({ size })) } };
  if (dtype === 'string') {
    proto.string_val = tensor.bytes();
  } else if (content) {
    const data = tensor.data as TypedArray;
    proto.tensor_content = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else {
    proto[valueField(dtype)] = tensor.data;
  }
  return proto;
}


export function modelSpecOf(request: Message): { name: string; version?: number; label?: string; signature: string } {
  const spec = request.model_spec as Message | undefined;
  if (!spec || typeof spec.name !== 'string' || spec.name === '') throw new InvalidArgumentError('Missing ModelSpec: model_spec.name names the model');
  const out: { name: string; version?: number; label?: string; signature: string } = { name: spec.name, signature: (spec.signature_name as string | undefined) ?? '' };
  const version = spec.version as Message | undefined;
  if (version) out.version = toNumber(version.value as Int64, 'model_spec.version');
  if (typeof spec.version_label === 'string' && spec.version_label !== '') {
    if (out.version !== undefined) throw new InvalidArgumentError('model_spec has both version and version_label');
    out.label = spec.version_label;
  } else if (out.version === undefined && Object.hasOwn(spec, 'version_label')) {
    // Set, to '' (its oneof's case on the wire): a label, as TensorFlow Serving reads it
    // (server_core.cc), which no model has (helper-139: the latest version answered).
    throw new InvalidArgumentError('Unrecognized servable version label: "" (model_spec.version_label is set but empty; leave it unset for the latest version)');
  }
  return out;
}


// A v2 input from its typed contents (InferTensorContents), by datatype.
const CONTENTS: Partial<Record<DType, string>> = {
  bool: 'bool_contents', int8: 'int_contents', int16: 'int_contents', int32: 'int_contents', int64: 'int64_contents',
  uint8: 'uint_contents', uint16: 'uint_contents', uint32: 'uint_contents', uint64: 'uint64_contents',
  float32: 'fp32_contents', float64: 'fp64_contents', string: 'bytes_contents',
};

const CONTENTS_FIELDS: readonly string[] = [...new Set(Object.values(CONTENTS))];

function contentsTensor(name: string, dtype: DType, shape: number[], contents: Message | undefined): Tensor {
  const field = CONTENTS[dtype];
  if (!field) throw new InvalidArgumentError(`input '${name}': ${v2Datatype(dtype)} travels only in raw_input_contents`);
  const given = contents?.[field] as ArrayLike<unknown> | BytesList | undefined;
  // Values in another contents field are not this datatype's: refused, not ignored (as Triton).
  for (const other of CONTENTS_FIELDS) {
    const stray = other === field ? undefined : (contents?.[other] as ArrayLike<unknown> | undefined);
    if (stray !== undefined && stray !== null && stray.length > 0) {
      throw new InvalidArgumentError(`input '${name}': datatype ${v2Datatype(dtype)} takes its values in ${field}, but ${other} has ${stray.length}; send them in ${field} only`);
    }
  }
  const n = elementCount(shape);
  if ((given?.length ?? 0) !== n) throw new InvalidArgumentError(`input '${name}': shape [${shape.join(', ')}] needs ${exactCount(shape)} elements, ${field} has ${given?.length ?? 0}`);
  // bytes_contents as this server decodes it: packed already.
  if (given instanceof BytesList) return packedStringTensor(shape, given.packed());
  const values = given ?? [];
  if (dtype === 'string') return new Tensor('string', Array.from(values as ArrayLike<Uint8Array>), shape);
  const range = NARROW[dtype];
  if (range) {
    // int_contents and uint_contents are 32-bit: a value the datatype cannot hold is refused, as
    // v2 JSON refuses it, not wrapped (INT8 300 became 44).
    const [min, max] = range;
    for (let i = 0; i < n; i++) {
      const v = Number(values[i]);
      if (v < min || v > max) throw new InvalidArgumentError(`input '${name}': ${field}[${i}] is ${v}, which ${v2Datatype(dtype)} cannot hold (${min} to ${max})`);
    }
  }
  return new Tensor(dtype, numericArray(dtype, values, n) as never, shape);
}

// The datatypes narrower than the contents field that carries them, and their ranges.
const NARROW: Partial<Record<DType, readonly [number, number]>> = { int8: [-128, 127], int16: [-32768, 32767], uint8: [0, 255], uint16: [0, 65535] };

/** Predict's input aliases, in the message's order. */
export function predictAliases(request: Message): string[] {
  return Object.keys((request.inputs as object | undefined) ?? {});
}

/**
 * Predict's inputs (TensorProtos by alias) as feeds: the first `maxInputs + 1` of them (all by
 * default; see limits.ts). `aligned`: as binaryTensor's.
 */
export function predictFeeds(request: Message, aligned = true, maxInputs = Infinity): Record<string, Tensor> {
  // Keyed by the client's aliases: no prototype, so '__proto__' is an alias like any other.
  const feeds = Object.create(null) as Record<string, Tensor>;
  const inputs = request.inputs as Record<string, Message>;
  const fill: FillBudget = { left: MAX_FILLED_ELEMENTS };
  for (const key of predictAliases(request).slice(0, maxInputs + 1)) feeds[key] = tensorFromProto(inputs[key]!, key, aligned, fill);
  return feeds;
}

/**
 * ModelInfer's inputs (typed contents, or raw_input_contents one per input) as feeds: the first
 * `maxInputs + 1` of them (all by default; see limits.ts). `aligned`: as binaryTensor's.
 * @throws INVALID_ARGUMENT naming the input
 */
export function inferFeeds(request: Message, aligned = true, maxInputs = Infinity): Record<string, Tensor> {
  const raw = (request.raw_input_contents as Uint8Array[] | undefined) ?? [];
  const inputs = (request.inputs as Message[] | undefined) ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) throw new InvalidArgumentError(`raw_input_contents has ${raw.length} entries for ${inputs.length} inputs; give one per input, or none`);
  const feeds = Object.create(null) as Record<string, Tensor>;
  inputs.slice(0, maxInputs + 1).forEach((input, i) => {
    const key = input.name as string;
    if (Object.hasOwn(feeds, key)) throw new InvalidArgumentError(`input '${key}' is given twice`);
    if (raw.length > 0 && input.contents) throw new InvalidArgumentError(`input '${key}' has contents while raw_input_contents is given: send every input one way`);
    if (Object.hasOwn((input.parameters as object | undefined) ?? {}, 'shared_memory_region')) throw sharedMemoryUnsupported('input', key);
    const dtype = dtypeOfV2(input.datatype as string);
    if (!dtype) throw new InvalidArgumentError(`input '${key}': datatype ${JSON.stringify(input.datatype)} is not one of the v2 datatypes`);
    const shape = ((input.shape as Int64[] | undefined) ?? []).map((d, k) => toNumber(d, `input '${key}' shape[${k}]`));
    checkShape(shape, `input '${key}' shape`);
    try {
      feeds[key] = raw.length > 0 ? binaryTensor(key, dtype, shape, raw[i]!, aligned, `raw_input_contents[${i}] holds`) : contentsTensor(key, dtype, shape, input.contents as Message | undefined);
    } catch (error) {
      if (error instanceof Error && !error.message.startsWith(`input '${key}'`)) error.message = `input '${key}': ${error.message}`;
      throw error;
    }
  });
  return feeds;
}

/**
 * `bytes` decoded as the message `type` (protos().lookupType('tensorflow.serving.PredictRequest'),
 * or a method's resolved request type), or why they are not one (answered INVALID_ARGUMENT:
 * grpc-js itself would answer INTERNAL, which says the server failed).
 */
export function decodeMessage(type: Type, bytes: Uint8Array): { message: Message } | { unreadable: string } {
  try {
    return { message: type.decode(bytes) as unknown as Message };
  } catch (error) {
    return { unreadable: `the request is not a valid ${type.fullName.slice(1)} message (${(error as Error).message})` };
  }
}

/** What a ModelInfer request says besides its inputs, unchecked (the service checks it in order). */
export interface InferHead {
  name: unknown;
  version: unknown;
  id: unknown;
  /** The outputs asked for by name (all when empty): the first `maxOutputs + 1`, and how many. */
  wanted: string[];
  wantedCount: number;
  /** parameters.signature_name's string_param; null when that parameter holds another kind (bool_param, int64_param, ...) or none. */
  signature: string | undefined | null;
  /** The first output asked for with parameters.classification (not supported), if any. */
  classified: string | undefined;
  /** The first output asked for into parameters.shared_memory_region (not supported), if any. */
  sharedMemory: string | undefined;
  /** How many inputs the request has (inferFeeds may have read fewer). */
  inputCount: number;
}

/** A ModelInfer request's fields besides its inputs, reading the first `maxOutputs + 1` outputs' names (all by default; limits.ts). */
export function inferHead(request: Message, maxOutputs = Infinity): InferHead {
  const parameter = ((request.parameters as Record<string, Message> | undefined) ?? {}).signature_name;
  // A decoded message holds the oneof member that was sent as its own property (unset fields are
  // defaults on the prototype: string_param reads '' beside an int64_param). A parameter with
  // none set is no string either (REST refuses `"signature_name": null` alike).
  const signature = parameter === undefined ? undefined : Object.hasOwn(parameter, 'string_param') ? String(parameter.string_param) : null;
  const outputs = (request.outputs as Message[] | undefined) ?? [];
  const classified = outputs.find((o) => Object.hasOwn((o.parameters as object | undefined) ?? {}, 'classification'))?.name as string | undefined;
  const sharedMemory = outputs.find((o) => Object.hasOwn((o.parameters as object | undefined) ?? {}, 'shared_memory_region'))?.name as string | undefined;
  return { name: request.model_name, version: request.model_version, id: request.id, wanted: outputs.slice(0, maxOutputs + 1).map((o) => o.name as string), wantedCount: outputs.length, signature, classified, sharedMemory, inputCount: ((request.inputs as unknown[] | undefined) ?? []).length };
}

/**
 * The tf.Examples of a Classify, Regress or MultiInference request's `input`, each serialized
 * again (protobufjs), the context's bytes first where there is one, so that parsing merges them
 * as TensorFlow Serving and the REST API do. `what`: the method, for the error.
 * @throws INVALID_ARGUMENT without an example ("Input is empty.", as TensorFlow Serving)
 */
export function serializedExamples(input: Message | undefined, what: string): Uint8Array[] {
  const example = protos().lookupType('tensorflow.Example');
  const list = (input?.example_list ?? input?.example_list_with_context) as Message | undefined;
  const examples = (list?.examples as Message[] | undefined) ?? [];
  // TensorFlow Serving's words first (util.cc InputToSerializedExampleTensor), then the fix.
  if (examples.length === 0) throw new InvalidArgumentError(`Input is empty. ${what} needs input.example_list (or example_list_with_context) with at least one example`);
  const context = (input?.example_list_with_context as Message | undefined)?.context as Message | undefined;
  const head = context ? example.encode(context).finish() : null;
  return examples.map((e) => {
    const bytes = example.encode(e).finish();
    return head ? Buffer.concat([head, bytes]) : bytes;
  });
}

/**
 * One classify or regress signature's outputs for `count` examples as TensorFlow Serving's
 * ClassificationResult or RegressionResult, read as its classifier and regressor read them.
 * @throws INVALID_ARGUMENT for outputs of the wrong dtype or shape
 */
export function examplesResult(api: 'classify' | 'regress', outputs: Readonly<Record<string, Tensor>>, count: number): Message {
  if (api === 'classify') return { classifications: classifications(outputs, count).map((classes) => ({ classes })) };
  return { regressions: Array.from(regressions(outputs, count), (value) => ({ value })) };
}

/** A classify or regress signature's run on a request's tf.Examples: what its response reports. */
export interface ExamplesRun {
  api: 'classify' | 'regress';
  /** The ModelSpec that ran (name, version, signature_name). */
  modelSpec: Message;
  outputs: Readonly<Record<string, Tensor>>;
  /** The examples fed. */
  count: number;
}

/**
 * The response message of Classify or Regress (one run: `{ model_spec, result }`), or of
 * MultiInference (`multi`: `{ results }`, a classification_result or regression_result each).
 * @throws INVALID_ARGUMENT as examplesResult
 */
export function examplesMessage(runs: readonly ExamplesRun[], multi: boolean): Message {
  if (!multi) return { model_spec: runs[0]!.modelSpec, result: examplesResult(runs[0]!.api, runs[0]!.outputs, runs[0]!.count) };
  return { results: runs.map((run) => ({ model_spec: run.modelSpec, [run.api === 'classify' ? 'classification_result' : 'regression_result']: examplesResult(run.api, run.outputs, run.count) })) };
}
