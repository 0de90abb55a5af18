/**
 * KServe's v2 inference protocol (the Open Inference Protocol), REST: typed JSON tensors
 * (`name`, `shape`, `datatype` as FP32, INT64, BYTES, ..., `data` flat or nested as its shape, row-major)
 * and the binary tensor data extension (Triton's extension_binary_data.md): a JSON header whose
 * length is in the Inference-Header-Content-Length header, then each binary tensor's raw
 * little-endian bytes in the order the JSON names them (BYTES elements each prefixed with a
 * 4-byte little-endian length); per input `parameters.binary_data_size`, per output
 * `parameters.binary_data`, for all outputs `parameters.binary_data_output`.
 *
 * Beyond the protocol: FP16 and BF16 may be sent and returned as JSON numbers (Triton refuses
 * them in JSON), int64 is exact past 2^53 both ways, and NaN/±Infinity travel as bare tokens as
 * in TensorFlow Serving's JSON.
 */
import { isMainThread } from 'node:worker_threads';

import { type DType, dtypeInfo, type TypedArray } from '../dtypes';
import { InvalidArgumentError, TensorFlowError } from '../errors';
import type { ModelManager } from '../manager';
import type { Model } from '../model';
import { native, type PackedStrings } from '../native';
import type { SignatureInfo, TensorSpec } from '../proto';
import { checkShape, copyElement, elementCount, exactCount, packedStringTensor, Tensor } from '../tensor';
import { isFloat, shortestFloat, tensorFromValue } from '../values';
import { isObject, JsonSyntaxError, type JsonValue, parseJson } from './json';
import { floatToken } from './tfs';
import type { SignatureLimits } from './limits';

/** The header that gives the JSON part's length in a request or response with binary data. */
export const HEADER_LENGTH = 'inference-header-content-length';

const DATATYPES: Record<string, DType> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  FP16: 'float16', FP32: 'float32', FP64: 'float64', BF16: 'bfloat16', BYTES: 'string',
};
const NAMES = Object.fromEntries(Object.entries(DATATYPES).map(([v2, dtype]) => [dtype, v2])) as Record<string, string>;

/** The tfslice dtype of a v2 datatype (float32 for FP32), or undefined. */
export function dtypeOfV2(datatype: string): DType | undefined {
  return Object.hasOwn(DATATYPES, datatype) ? DATATYPES[datatype] : undefined;
}

/** The v2 datatype of a tfslice dtype (FP32 for float32, BYTES for string); null for one v2 has no name for. */
export function v2Datatype(dtype: string): string | null {
  return NAMES[dtype] ?? null;
}

/** A model's inputs or outputs as v2 metadata lists them: name, datatype, shape (-1 unknown). */
export function metadataTensors(specs: Readonly<Record<string, TensorSpec>>): { name: string; datatype: string; shape: number[] }[] {
  const out: { name: string; datatype: string; shape: number[] }[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    const parts = spec.composite ? Object.entries(spec.composite.components).map(([p, c]) => [`${key}.${p}`, c] as const) : [[key, spec] as const];
    for (const [name, s] of parts) out.push({ name, datatype: v2Datatype(s.dtype) ?? s.dtype, shape: s.shape ? [...s.shape] : [-1] });
  }
  return out;
}

/**
 * Checks the outputs a v2 request names (REST `outputs`, gRPC ModelInferRequest.outputs) against
 * the names metadata lists ({@link metadataTensors}): an output's key, or `key.part` for a
 * component of a ragged or sparse output (as run() returns them), before the model runs.
 * @throws INVALID_ARGUMENT for a name that no output has, listing the names there are
 */
export function checkV2OutputNames(outputs: Readonly<Record<string, TensorSpec>>, names: readonly string[]): void {
  for (const name of names) {
    const spec = Object.hasOwn(outputs, name) ? outputs[name]! : undefined; // not 'constructor' from the prototype
    if (spec !== undefined && !spec.composite) continue;
    const owned = Object.keys(outputs).some((key) => {
      const composite = outputs[key]!.composite;
      return composite !== undefined && name.startsWith(`${key}.`) && Object.hasOwn(composite.components, name.slice(key.length + 1));
    });
    if (!owned) {
      const known = [...new Set(metadataTensors(outputs).map((o) => o.name))].sort();
      throw new InvalidArgumentError(`the model has no output '${name}'; its outputs are ${known.join(', ')}`);
    }
  }
}

/**
 * A model's v2 metadata (REST GET /v2/models/{m}, gRPC ModelMetadata): its AVAILABLE versions and
 * the default signature's inputs and outputs.
 */
export function modelMetadata(manager: ModelManager, name: string, model: Model): { name: string; versions: string[]; platform: string; inputs: ReturnType<typeof metadataTensors>; outputs: ReturnType<typeof metadataTensors> } {
  const info = model.defaultSignature ? model.signatures[model.defaultSignature] : undefined;
  const versions = manager.status(name).versions.filter((v) => v.state === 'AVAILABLE').map((v) => String(v.version));
  return {
    name, versions, platform: 'tensorflow_savedmodel',
    inputs: info ? metadataTensors(info.inputs) : [], outputs: info ? metadataTensors(info.outputs) : [],
  };
}

/**
 * The signature a KServe v2 inference runs (REST and gRPC): the one the request's
 * `signature_name` parameter names (tfslice's), else the model's default (serving_default, or
 * its only signature), which {@link modelMetadata} describes.
 * @throws INVALID_ARGUMENT for a model without a default (several signatures, none of them
 *   serving_default) asked without `signature_name`, naming the parameter and the signatures
 */
export function v2Signature(name: string, model: Pick<Model, 'defaultSignature' | 'signatures'>, requested: string | undefined): string {
  if (requested) return requested;
  if (model.defaultSignature !== null) return model.defaultSignature;
  const names = Object.keys(model.signatures).sort().map((s) => `'${s}'`).join(', ');
  throw new InvalidArgumentError(`model '${name}' has no serving_default signature to run by default: name one of its signatures (${names || 'it has none'}) in the request's signature_name parameter`);
}

/** An inference request, read: the tensors by input name and what the response should hold. */
export interface InferRequest {
  readonly id: string | undefined;
  readonly feeds: Record<string, Tensor>;
  /** Output names asked for (all when null), and whether each goes as binary. */
  readonly outputs: readonly { name: string; binary: boolean }[] | null;
  /** How many outputs the request lists (`outputs` holds fewer when readInferRequest's limits cut it short). */
  readonly outputCount: number;
  /** The default for outputs not listed (parameters.binary_data_output). */
  readonly binaryByDefault: boolean;
  /** parameters.signature_name: the signature to run (tfslice's; the default one without it). */
  readonly signatureName: string | undefined;
  /** How many inputs the request has (`feeds` holds fewer when readInferRequest's limits cut it short). */
  readonly inputCount: number;
}

function field<T>(value: JsonValue | undefined, check: (v: JsonValue) => boolean, what: string): T {
  if (value === undefined || !check(value)) throw new InvalidArgumentError(what);
  return value as T;
}

// An input's `data` into `into`, row-major: flat, or nested as its shape says (KServe v2). Nesting
// that does not follow the shape is refused, not flattened (a ragged [[1, 2], [3]] read as three
// elements of shape [3]).
function flatten(name: string, data: JsonValue, shape: readonly number[], into: JsonValue[]): void {
  if (!Array.isArray(data)) {
    into.push(data);
    return;
  }
  if (!data.some(Array.isArray)) {
    for (const item of data) into.push(item);
    return;
  }
  const nested = (value: JsonValue, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(value)) throw new InvalidArgumentError(`input '${name}': data is nested deeper than its shape [${shape.join(', ')}]; give it flat, or nested as the shape`);
      into.push(value);
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[depth]) {
      throw new InvalidArgumentError(`input '${name}': data nested as arrays must follow shape [${shape.join(', ')}]: dimension ${depth} has ` +
        `${Array.isArray(value) ? `${value.length} element(s)` : 'a value, not an array'} where the shape says ${shape[depth]}; give it flat, or nested as the shape`);
    }
    for (const item of value) nested(item, depth + 1);
  };
  nested(data, 0);
}

const isCount = (v: JsonValue) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n);

/**
 * A string tensor from BYTES data (each element after its 4-byte little-endian length), packed
 * straight into one byte array and its offsets: 8 bytes per element besides the bytes, where a
 * Uint8Array per element took ~110 (a 33 MB body of 5 million elements took 551 MB of heap).
 */
function packedBytesTensor(name: string, shape: number[], bytes: Uint8Array): Tensor {
  checkShape(shape);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  let total = 0;
  for (let at = 0; at < bytes.byteLength; count++) {
    if (at + 4 > bytes.byteLength) throw new InvalidArgumentError(`input '${name}': its BYTES data is cut short (a 4-byte length prefix at byte ${at})`);
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.byteLength) throw new InvalidArgumentError(`input '${name}': element ${count} claims ${length} bytes past the end of its data`);
    total += length;
    at += 4 + length;
  }
  const n = elementCount(shape);
  if (count !== n) throw new InvalidArgumentError(`input '${name}': shape [${shape.join(', ')}] needs ${exactCount(shape)} elements, its BYTES data holds ${count}`);
  const packed: PackedStrings = { bytes: new Uint8Array(total), offsets: new Float64Array(n + 1) };
  let to = 0;
  for (let i = 0, at = 0; i < n; i++) {
    const length = view.getUint32(at, true);
    packed.offsets[i] = to;
    copyElement(packed.bytes, to, bytes, at + 4, at + 4 + length);
    to += length;
    at += 4 + length;
  }
  packed.offsets[n] = to;
  return packedStringTensor(shape, packed);
}

/**
 * A tensor from its raw little-endian bytes (BYTES: each element after its 4-byte length),
 * checked against its shape; `field` is what a size that does not fit calls the bytes
 * (binary_data_size over REST, raw_input_contents[i] over gRPC). `aligned` (the event loop's
 * way): numbers are a view of `bytes` where they start on a whole element (no copy here: run()
 * copies them, if TensorFlow needs them more aligned, on its runner thread), else a copy in
 * Tensor.alloc's memory (fed without another copy); false (a codec thread's way, whose body is
 * its own to move): a view of `bytes` too where they start on a whole element and are bigger
 * than Node's Buffer pool (so their buffer is not the pool, which small Buffers share), else a
 * typed array of their own.
 */
export function binaryTensor(name: string, dtype: DType, shape: number[], bytes: Uint8Array, aligned = true, field = 'binary_data_size'): Tensor {
  if (dtype === 'string') return packedBytesTensor(name, shape, bytes);
  const info = dtypeInfo(dtype)!;
  const n = elementCount(shape);
  if (bytes.byteLength !== n * info.bytes) {
    throw new InvalidArgumentError(`input '${name}': ${field} ${bytes.byteLength} bytes, but shape [${shape.join(', ')}] of ${v2Datatype(dtype)} needs ${exactCount(shape, info.bytes)}`);
  }
  if (bytes.byteOffset % info.bytes === 0 && (aligned || bytes.byteLength > Buffer.poolSize)) return new Tensor(dtype, new info.array!(bytes.buffer, bytes.byteOffset, n) as never, shape);
  // A copy into memory of its own, aligned for the typed array (and for TensorFlow).
  const data = (aligned ? Tensor.alloc(dtype as 'float32', shape).data : new info.array!(n)) as unknown as TypedArray;
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  return new Tensor(dtype, data as never, shape);
}

/** What the errors of a raw binary request begin with, and the request they ask for instead. */
const RAW_REQUEST = 'raw binary request (Inference-Header-Content-Length: 0)';
const SEND_JSON = 'send the JSON inference request first, its length in Inference-Header-Content-Length';

/**
 * A raw binary request (Triton's binary tensor data extension: Inference-Header-Content-Length
 * 0, the body no JSON but one input's raw bytes) as the route holds it until its signature is
 * known: no id, its feeds to come from {@link rawBinaryFeeds}, every output as binary data.
 */
export const RAW_BINARY_REQUEST: InferRequest = Object.freeze({
  id: undefined, feeds: Object.freeze(Object.create(null) as Record<string, Tensor>), outputs: null, outputCount: 0, binaryByDefault: true, signatureName: undefined, inputCount: 1,
});

/**
 * A raw binary request's body: its bytes, or, for a big body kept in chunks, its length and how
 * to join them (the server joins them on a runner thread).
 */
export type RawBody = Uint8Array | { readonly byteLength: number; join(): Promise<Uint8Array> };

/**
 * The feeds of a raw binary request ({@link RAW_BINARY_REQUEST}) to `signature`, whose one
 * input the body's bytes are, in its dtype, checked against its spec as Triton deduces the
 * tensor: a numeric input takes the spec's shape, the one dimension it leaves open (-1), if
 * any, given by the body's length (two or more cannot be); a BYTES input takes the whole body
 * as its one element, in the spec's shape with each open dimension 1. The body's length is
 * checked before its bytes are read (a big body's are joined then, {@link RawBody}). The tensor
 * is a view of the bytes (a numeric one where they start on a whole element; else a copy).
 * @throws (rejects with) INVALID_ARGUMENT naming what does not fit (a signature of several
 *   inputs, a body whose length the shape cannot take), and the JSON request to send instead
 */
export async function rawBinaryFeeds(signature: string, info: Pick<SignatureInfo, 'inputs'>, body: RawBody): Promise<Record<string, Tensor>> {
  const keys = Object.keys(info.inputs);
  if (keys.length !== 1) {
    throw new InvalidArgumentError(`${RAW_REQUEST}: the body is one input's raw bytes, but signature '${signature}' has ${keys.length} inputs (${keys.map((k) => `'${k}'`).join(', ')}); ${SEND_JSON}`);
  }
  const key = keys[0]!;
  const spec = info.inputs[key]!;
  const datatype = v2Datatype(spec.dtype);
  if (spec.composite || datatype === null || spec.shape === null) {
    const why = spec.composite ? `is a ${spec.composite.kind} tensor` : datatype === null ? `has dtype ${spec.dtype}, which v2 has no datatype for` : 'has no known rank to deduce a shape from';
    throw new InvalidArgumentError(`${RAW_REQUEST}: input '${key}' of signature '${signature}' ${why}; ${SEND_JSON}`);
  }
  const dtype = spec.dtype as DType;
  const bytes = body.byteLength;
  const described = `input '${key}' (${datatype}, shape [${spec.shape.join(', ')}])`;
  const feeds = Object.create(null) as Record<string, Tensor>;
  if (dtype === 'string') {
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    if (elementCount(shape) !== 1) throw new InvalidArgumentError(`${RAW_REQUEST}: the body is one BYTES element, but ${described} holds ${exactCount(shape)}; ${SEND_JSON}`);
    feeds[key] = packedStringTensor(shape, { bytes: await bytesOf(body), offsets: Float64Array.of(0, bytes) });
    return feeds;
  }
  const open = spec.shape.filter((d) => d < 0).length;
  if (open > 1) throw new InvalidArgumentError(`${RAW_REQUEST}: ${described} leaves ${open} dimensions open, and the body's length gives one; ${SEND_JSON}`);
  // The bytes of one step along the open dimension (of the whole tensor without one).
  const step = spec.shape.reduce((n, d) => (d < 0 ? n : n * d), dtypeInfo(dtype)!.bytes);
  if (open === 0 || step === 0 ? bytes !== step : bytes % step !== 0) {
    throw new InvalidArgumentError(`${RAW_REQUEST}: ${described} takes ${open === 0 || step === 0 ? '' : 'a multiple of '}${step} bytes, and the body has ${bytes}; ${SEND_JSON}`);
  }
  const shape = spec.shape.map((d) => (d >= 0 ? d : step === 0 ? 0 : bytes / step));
  feeds[key] = binaryTensor(key, dtype, shape, await bytesOf(body), true, 'the raw binary request holds');
  return feeds;
}

function bytesOf(body: RawBody): Uint8Array | Promise<Uint8Array> {
  return body instanceof Uint8Array ? body : body.join();
}

/**
 * Reads an inference request: `header` is the JSON (parsed), `binary` the bytes after it (empty
 * without the binary extension). `aligned`: as binaryTensor's. Of more inputs than
 * `limits.inputs + 1` only the first `limits.inputs + 1` are read, and the same of outputs (see
 * limits.ts); all by default.
 * @throws INVALID_ARGUMENT naming the input and what is wrong
 */
export function readInferRequest(header: JsonValue, binary: Uint8Array, aligned = true, limits: SignatureLimits = { inputs: Infinity, outputs: Infinity }): InferRequest {
  if (!isObject(header)) throw new InvalidArgumentError('the inference request must be a JSON object with "inputs"');
  const id = header.id === undefined ? undefined : field<string>(header.id, (v) => typeof v === 'string', '"id" must be a string');
  const parameters = header.parameters === undefined ? {} : field<Record<string, JsonValue>>(header.parameters, isObject, '"parameters" must be an object');
  const inputs = field<JsonValue[]>(header.inputs, Array.isArray, '"inputs" must be an array of tensors');
  // Keyed by the client's names: no prototype, so '__proto__' is an input name like any other.
  const feeds = Object.create(null) as Record<string, Tensor>;
  let at = 0;
  const whole = inputs.length <= limits.inputs + 1;
  (whole ? inputs : inputs.slice(0, limits.inputs + 1)).forEach((input, i) => {
    if (!isObject(input)) throw new InvalidArgumentError(`inputs[${i}] must be an object with name, shape, datatype and data`);
    const name = field<string>(input.name, (v) => typeof v === 'string' && v !== '', `inputs[${i}].name must be a non-empty string`);
    if (feeds[name]) throw new InvalidArgumentError(`input '${name}' is given twice`);
    const datatype = field<string>(input.datatype, (v) => typeof v === 'string', `input '${name}': datatype must be a string such as "FP32"`);
    const dtype = dtypeOfV2(datatype);
    if (!dtype) throw new InvalidArgumentError(`input '${name}': datatype ${JSON.stringify(datatype)} is not one of ${Object.keys(DATATYPES).join(', ')}`);
    const rawShape = field<JsonValue[]>(input.shape, (v) => Array.isArray(v) && v.every(isCount), `input '${name}': shape must be an array of non-negative integers`);
    const shape = rawShape.map((d, k) => {
      if (typeof d !== 'bigint') return d as number;
      // Read exactly (json.ts); a Tensor's dimensions are JS numbers, exact up to 2^53 - 1.
      if (d > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`input '${name}': shape[${k}] is ${d}, past 2^53 - 1`);
      return Number(d);
    });
    try {
      checkShape(shape, `input '${name}' shape`);
    } catch (error) {
      if (error instanceof TypeError) throw new InvalidArgumentError(error.message);
      throw error;
    }
    const params = input.parameters === undefined ? {} : field<Record<string, JsonValue>>(input.parameters, isObject, `input '${name}': parameters must be an object`);
    if (params.shared_memory_region !== undefined) throw sharedMemoryUnsupported('input', name);
    const size = params.binary_data_size;
    if (size !== undefined) {
      if (input.data !== undefined) throw new InvalidArgumentError(`input '${name}' sets both data and parameters.binary_data_size; give one`);
      if (!isCount(size)) throw new InvalidArgumentError(`input '${name}': binary_data_size must be a non-negative integer`);
      const bytes = Number(size);
      if (at + bytes > binary.byteLength) {
        // (In BigInt: a size past 2^53 is named in digits, not as 1e+23.)
        const missing = BigInt(at) + BigInt(size as number | bigint) - BigInt(binary.byteLength);
        throw new InvalidArgumentError(`unexpected size for input '${name}', expecting ${missing} additional bytes (the binary part holds ${binary.byteLength})`);
      }
      feeds[name] = binaryTensor(name, dtype, shape, binary.subarray(at, at + bytes), aligned);
      at += bytes;
      return;
    }
    if (input.data === undefined) throw new InvalidArgumentError(`input '${name}' has no data (give "data", or parameters.binary_data_size with the binary data extension)`);
    const flat: JsonValue[] = [];
    flatten(name, input.data, shape, flat);
    const n = elementCount(shape);
    if (flat.length !== n) throw new InvalidArgumentError(`input '${name}': shape [${shape.join(', ')}] needs ${exactCount(shape)} elements, data has ${flat.length}`);
    const values = tensorFromValue(flat, { dtype, shape: [-1] }, `input '${name}'`, { lossless: true });
    // Strings keep their packed bytes (a Uint8Array per element cost ~100 bytes each).
    feeds[name] = values.dtype === 'string' ? packedStringTensor(shape, values.flat()[2] as PackedStrings) : new Tensor(dtype, values.data as never, shape);
  });
  if (whole && at !== binary.byteLength) throw new InvalidArgumentError(`unexpected additional input data: ${binary.byteLength - at} bytes after the inputs' binary data`);
  let outputs: { name: string; binary: boolean }[] | null = null;
  const binaryByDefault = parameters.binary_data_output === undefined ? false
    : field<boolean>(parameters.binary_data_output, (v) => typeof v === 'boolean', 'parameters.binary_data_output must be true or false');
  // An empty list asks for every output, as no list does (and as an empty `outputs` does over gRPC).
  const listed = header.outputs === undefined ? [] : field<JsonValue[]>(header.outputs, Array.isArray, '"outputs" must be an array of { name, parameters }');
  if (listed.length > 0) {
    outputs = listed.slice(0, limits.outputs + 1).map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw new InvalidArgumentError(`outputs[${i}] must be an object with a name`);
      const p = o.parameters === undefined ? {} : field<Record<string, JsonValue>>(o.parameters, isObject, `output '${o.name}': parameters must be an object`);
      // Triton's classification extension answers top-k labels instead of the tensor: a client
      // asking for it must not read the raw tensor as its answer.
      if (p.classification !== undefined) throw classificationUnsupported(o.name);
      if (p.shared_memory_region !== undefined) throw sharedMemoryUnsupported('output', o.name);
      const binary = p.binary_data === undefined ? binaryByDefault
        : field<boolean>(p.binary_data, (v) => typeof v === 'boolean', `output '${o.name}': parameters.binary_data must be true or false`);
      return { name: o.name, binary };
    });
    const twice = firstRepeated(outputs.map((o) => o.name));
    if (twice !== undefined) throw new InvalidArgumentError(`output '${twice}' is asked for twice`);
  }
  // An empty name is the default signature, as over gRPC and in TensorFlow Serving's requests.
  const signatureName = parameters.signature_name === undefined ? undefined
    : field<string>(parameters.signature_name, (v) => typeof v === 'string', 'parameters.signature_name must be a string') || undefined;
  return { id, feeds, outputs, outputCount: listed.length, binaryByDefault, signatureName, inputCount: inputs.length };
}

/**
 * Splits a request body into its JSON header and binary part. `headerLength` is the value of
 * Inference-Header-Content-Length, or undefined (the whole body is JSON).
 */
export function splitBody(body: Uint8Array, headerLength: string | undefined): { header: JsonValue; binary: Uint8Array } {
  let length = body.byteLength;
  if (headerLength !== undefined) {
    if (!/^\d+$/.test(headerLength) || Number(headerLength) > body.byteLength) {
      throw new InvalidArgumentError(`Inference-Header-Content-Length must be a byte count within the body (0 to ${body.byteLength}), got ${JSON.stringify(headerLength)}`);
    }
    length = Number(headerLength);
    if (length === 0) throw new InvalidArgumentError('Inference-Header-Content-Length is 0, but the body starts with the JSON inference request: give that JSON part\'s length in bytes');
  }
  try {
    return { header: parseJson(body.subarray(0, length)), binary: body.subarray(length) };
  } catch (error) {
    // Raw tensor bytes after the JSON, sent without the header that says where the JSON ends.
    if (headerLength === undefined && error instanceof JsonSyntaxError && /^(the body is not valid UTF-8|more after the JSON value)/.test(error.message)) {
      error.message += `; a body in the binary tensor data extension (the JSON request, then raw tensor bytes) needs the Inference-Header-Content-Length header giving the JSON part's length in bytes`;
    }
    throw error;
  }
}

/** A tensor's raw bytes as the binary extension and gRPC's raw_output_contents carry them. */
export function outputBytes(tensor: Tensor): Uint8Array {
  const data = tensor.flat()[2];
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return lengthPrefixed(data.bytes, data.offsets);
}

/**
 * Strings laid out as the v2 protocol's BYTES (each a 4-byte little-endian length, then its
 * bytes), from the packed form. On the event loop the addon writes them (a JS loop took 120–340
 * ms for 2 000 000 strings before V8 optimized it, and tensor.bytes() with a view per string
 * 1.4–1.9 s); a codec thread, which never loads the addon, runs the same loop in JS.
 */
function lengthPrefixed(bytes: Uint8Array, offsets: Float64Array): Uint8Array {
  if (isMainThread) return new Uint8Array(native().lengthPrefixed(bytes, offsets));
  const n = Math.max(0, offsets.length - 1);
  const out = Buffer.allocUnsafe(bytes.byteLength + 4 * n);
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const start = offsets[i]!;
    const end = offsets[i + 1]!;
    out.writeUInt32LE(end - start, at);
    at += 4;
    at += source.copy(out, at, start, end);
  }
  return out.subarray(0, at);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function dataJson(name: string, tensor: Tensor): string {
  const dtype = tensor.dtype as DType;
  if (dtype === 'string') {
    try {
      return JSON.stringify(tensor.bytes().map((b) => utf8.decode(b)));
    } catch {
      // JSON strings are text: bytes that are not UTF-8 would arrive changed (U+FFFD).
      throw new TensorFlowError('FAILED_PRECONDITION', `output '${name}' holds bytes that are not UTF-8, which v2 JSON cannot carry unchanged; ask for it as binary data: "outputs": [{"name": ${JSON.stringify(name)}, "parameters": {"binary_data": true}}]`);
    }
  }
  const data = tensor.data as ArrayLike<number | bigint>;
  const parts: string[] = new Array(data.length);
  if (isFloat(dtype)) for (let i = 0; i < data.length; i++) parts[i] = floatToken(shortestFloat(dtype, data[i] as number));
  else if (dtype === 'bool') for (let i = 0; i < data.length; i++) parts[i] = data[i] ? 'true' : 'false';
  else for (let i = 0; i < data.length; i++) parts[i] = String(data[i]);
  return `[${parts.join(',')}]`;
}

/**
 * @internal The answer to an input or output that names a shared-memory region (Triton's
 * shared-memory extensions, REST and gRPC): its data is not in the request, or is wanted there,
 * and answering without it would leave a client reading stale memory.
 */
export function sharedMemoryUnsupported(kind: 'input' | 'output', name: string): TensorFlowError {
  return new TensorFlowError('UNIMPLEMENTED', `${kind} '${name}': parameters.shared_memory_region (the shared-memory extension) is not supported; ` +
    (kind === 'input' ? 'send the tensor in the request (data, binary data or raw contents)' : 'read the output from the response'));
}

/** @internal The answer to an output asked for with parameters.classification (REST and gRPC). */
export function classificationUnsupported(output: string): TensorFlowError {
  return new TensorFlowError('UNIMPLEMENTED', `output '${output}': parameters.classification (the classification extension) is not supported; ask for the output tensor itself`);
}

/**
 * @internal The first name that comes again in `names`, or undefined: in linear time (a client's list of
 * 150 000 output names held the event loop for 19 s with indexOf()).
 */
export function firstRepeated(names: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

// The outputs a response holds, in order: those the request named, else all in name order.
function wantedOutputs(request: Pick<InferRequest, 'outputs' | 'binaryByDefault'>, outputs: Readonly<Record<string, Tensor>>): readonly { name: string; binary: boolean }[] {
  return request.outputs ?? Object.keys(outputs).sort().map((name) => ({ name, binary: request.binaryByDefault }));
}

/** BYTES outputs whose layout takes this many bytes or more are laid out on a runner thread. */
export const OFF_THREAD_LAYOUT_BYTES = 1 << 20;

/**
 * The BYTES outputs a response sends as binary data that are big enough
 * ({@link OFF_THREAD_LAYOUT_BYTES} laid out, or more), laid out on one of the addon's runner
 * threads, by output name: inferResponse()'s `laidOut`. On the event loop, 2 000 000 strings
 * held it 50-150 ms (mostly page faults of the fresh memory). Undefined when there are none
 * (no promise to wait for), and off the main thread (a codec thread lays out in JS, without
 * the addon).
 * @throws RESOURCE_EXHAUSTED (the promise rejects) without memory for a layout
 */
export function layOutBigBytes(request: Pick<InferRequest, 'outputs' | 'binaryByDefault'>, outputs: Readonly<Record<string, Tensor>>): Promise<Map<string, Uint8Array>> | undefined {
  if (!isMainThread) return undefined;
  const big: [string, PackedStrings][] = [];
  for (const { name, binary } of wantedOutputs(request, outputs)) {
    const tensor = outputs[name];
    if (!binary || tensor?.dtype !== 'string') continue;
    const packed = tensor.flat()[2] as PackedStrings;
    if (packed.bytes.byteLength + 4 * Math.max(0, packed.offsets.length - 1) >= OFF_THREAD_LAYOUT_BYTES) big.push([name, packed]);
  }
  if (big.length === 0) return undefined;
  return Promise.all(big.map(async ([name, { bytes, offsets }]) => [name, new Uint8Array(await native().lengthPrefixedOffThread(bytes, offsets))] as const))
    .then((entries) => new Map(entries));
}

/** A response: the JSON, and the binary part to follow it (null without binary outputs). */
export interface InferResponse {
  readonly json: string;
  readonly binary: Uint8Array[] | null;
}

/**
 * The response to an inference: the outputs asked for (all, in name order, when the request
 * named none), each as JSON data or, when asked, as binary data after the JSON.
 * @throws INVALID_ARGUMENT for an output the model does not have; FAILED_PRECONDITION for BYTES
 *   that are not UTF-8 asked for as JSON
 */
export function inferResponse(model: string, version: number, request: Pick<InferRequest, 'id' | 'outputs' | 'binaryByDefault'>, outputs: Readonly<Record<string, Tensor>>, laidOut?: ReadonlyMap<string, Uint8Array>): InferResponse {
  const wanted = wantedOutputs(request, outputs);
  const entries: string[] = [];
  const binary: Uint8Array[] = [];
  for (const { name, binary: asBinary } of wanted) {
    const tensor = Object.hasOwn(outputs, name) ? outputs[name] : undefined; // not 'constructor' from the prototype
    if (!tensor) throw new InvalidArgumentError(`the model has no output '${name}'; its outputs are ${Object.keys(outputs).sort().join(', ')}`);
    const datatype = v2Datatype(tensor.dtype);
    if (!datatype) throw new TensorFlowError('UNIMPLEMENTED', `output '${name}' has dtype ${tensor.dtype}, which the v2 protocol has no datatype for`);
    const head = `"name":${JSON.stringify(name)},"datatype":"${datatype}","shape":[${tensor.shape.join(',')}]`;
    if (asBinary) {
      const bytes = laidOut?.get(name) ?? outputBytes(tensor);
      binary.push(bytes);
      entries.push(`{${head},"parameters":{"binary_data_size":${bytes.byteLength}}}`);
    } else {
      entries.push(`{${head},"data":${dataJson(name, tensor)}}`);
    }
  }
  const id = request.id === undefined ? '' : `"id":${JSON.stringify(request.id)},`;
  const json = `{${id}"model_name":${JSON.stringify(model)},"model_version":"${version}","outputs":[${entries.join(',')}]}`;
  return { json, binary: binary.length > 0 ? binary : null };
}
