/**
 * TensorFlow Serving's REST JSON, both ways, as its own tensorflow_serving/util/json_tensor.cc
 * does it: Predict's row format ("instances": each element one instance, stacked on dimension
 * 0; objects keyed by input name when there are several inputs) and columnar format ("inputs":
 * the tensors whole), the response in the request's format ("predictions" or "outputs"),
 * {"b64": ...} for bytes (outputs whose key ends in "_bytes"), NaN and ±Infinity as bare
 * tokens, int64 exact; Classify and Regress from tf.Example JSON to "results"; model status and
 * metadata as GetModelStatusResponse and GetModelMetadataResponse render in JSON.
 *
 * Where tfslice differs, it goes further: floats are written shortest-round-trip for their
 * dtype (TensorFlow Serving writes `%.9g` when six digits do not read back, e.g.
 * 3.14159274 where 3.1415927 reads back the same float32); float16 and bfloat16 are accepted
 * and written (TensorFlow Serving refuses them with UNIMPLEMENTED); a string output that is not
 * UTF-8 is written as {"b64": ...} instead of invalid JSON.
 */
import { type DType, dtypeInfo } from '../dtypes';
import { InvalidArgumentError, TensorFlowError } from '../errors';
import type { VersionStatus } from '../manager';
import type { Model, RunOptions } from '../model';
import type { SignatureInfo, TensorSpec } from '../proto';
import { Tensor } from '../tensor';
import { isFloat, shortestFloat, tensorFromValue } from '../values';
import { exampleFromJson } from './example';
import { isObject, type JsonValue } from './json';
import { versionErrorCode } from './status';

/** Which JSON layout a Predict request used; the response uses the same. */
export type Format = 'row' | 'columnar';

/** A Predict request's top level, checked. */
export interface PredictRequest {
  /** '' or absent: the default signature. */
  readonly signatureName: string | undefined;
  readonly format: Format;
  /** The value of "instances" or "inputs". */
  readonly payload: JsonValue;
}

function signatureName(body: { [key: string]: JsonValue }): string | undefined {
  const name = body.signature_name;
  if (name === undefined || name === '') return undefined;
  if (typeof name !== 'string') throw new InvalidArgumentError("'signature_name' key must be a string value");
  return name;
}

/** A Predict request's top level: exactly one of "instances" and "inputs", and the signature name. */
export function readPredictRequest(body: JsonValue): PredictRequest {
  if (!isObject(body)) throw new InvalidArgumentError('the request body must be a JSON object with "instances" or "inputs"');
  const name = signatureName(body);
  const hasInstances = 'instances' in body;
  const hasInputs = 'inputs' in body;
  if (hasInstances && hasInputs) throw new InvalidArgumentError("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist");
  if (!hasInstances && !hasInputs) throw new InvalidArgumentError("Missing 'inputs' or 'instances' key");
  if (hasInstances) {
    const instances = body.instances!;
    if (!Array.isArray(instances)) throw new InvalidArgumentError("Expecting 'instances' to be an list/array");
    if (instances.length === 0) throw new InvalidArgumentError("No values in 'instances' array");
    return { signatureName: name, format: 'row', payload: instances };
  }
  return { signatureName: name, format: 'columnar', payload: body.inputs! };
}

// An object that is not a {"b64": ...} value: a map of tensors by input name.
function isNamedObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  if (!isObject(value)) return false;
  const keys = Object.keys(value);
  return !(keys.length === 1 && keys[0] === 'b64' && typeof value.b64 === 'string');
}

function names(list: readonly string[]): string {
  return [...list].sort().join(',');
}

/**
 * The feeds a Predict payload gives a signature's inputs: dtypes from the signature, shapes
 * from the JSON (rows stacked on a new dimension 0).
 * @throws INVALID_ARGUMENT naming the instance and the input
 */
export function feedsFromPayload(format: Format, payload: JsonValue, inputs: Readonly<Record<string, Pick<TensorSpec, 'dtype' | 'shape'>>>): Record<string, Tensor> {
  const keys = Object.keys(inputs);
  if (keys.length === 0) throw new InvalidArgumentError('the signature has no inputs');
  const feeds: Record<string, Tensor> = {};
  const make = (key: string, value: JsonValue, where: string) => {
    feeds[key] = tensorFromValue(value, inputs[key]!, where, { lossless: true });
  };
  if (format === 'columnar') {
    if (!isNamedObject(payload)) {
      if (keys.length > 1) throw new InvalidArgumentError(`inputs is a plain value/list, but expecting an object as multiple input tensors required as per tensorinfo_map (inputs: ${names(keys)})`);
      make(keys[0]!, payload, `input '${keys[0]}'`);
      return feeds;
    }
    for (const key of keys) {
      if (!(key in payload)) throw new InvalidArgumentError(`Missing named input: ${key} in 'inputs' object.`);
      make(key, payload[key]!, `input '${key}'`);
    }
    return feeds;
  }
  const instances = payload as JsonValue[];
  if (!isNamedObject(instances[0])) {
    if (keys.length > 1) throw new InvalidArgumentError(`instances is a plain list, but expecting list of objects as multiple input tensors required as per tensorinfo_map (inputs: ${names(keys)})`);
    instances.forEach((instance, i) => {
      if (isNamedObject(instance)) throw new InvalidArgumentError(`Expecting value/list but got object at item ${i} of input list`);
    });
    make(keys[0]!, instances, `'instances' of input '${keys[0]}'`);
    return feeds;
  }
  // Keyed by the client's names: no prototype, so 'constructor' or '__proto__' is just an unknown input.
  const columns = Object.create(null) as Record<string, JsonValue[]>;
  for (const key of keys) columns[key] = [];
  instances.forEach((instance, i) => {
    if (!isNamedObject(instance)) throw new InvalidArgumentError(`Expecting object but got list at item ${i} of input list`);
    const given = Object.keys(instance);
    for (const name of given) {
      if (!columns[name]) throw new InvalidArgumentError(`Failed to process element: ${i} key: ${name} of 'instances' list. JSON object: does not have named input: ${name}`);
      columns[name].push(instance[name]!);
    }
    if (given.length !== keys.length) throw new InvalidArgumentError(`Failed to process element: ${i} of 'instances' list. JSON object keys must be equal to: ${names(keys)}`);
  });
  for (const key of keys) make(key, columns[key]!, `'instances' of input '${key}'`);
  return feeds;
}

// ---------------------------------------------------------------------------
// Writing tensors
// ---------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A float's JSON token as TensorFlow Serving writes them: NaN, Infinity, -Infinity bare; whole values with ".0". */
export function floatToken(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (Object.is(value, -0)) return '-0.0';
  const text = String(value);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

// The JSON token of element i, for each dtype.
function tokens(tensor: Tensor, bytesKey: boolean): (i: number) => string {
  const dtype = tensor.dtype as DType;
  if (dtype === 'string') {
    const all = tensor.bytes();
    return (i) => {
      const bytes = all[i]!;
      if (!bytesKey) {
        try {
          return JSON.stringify(utf8.decode(bytes));
        } catch {
          // Not UTF-8: bytes JSON can carry, instead of the invalid JSON a raw copy would be.
        }
      }
      return `{"b64":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"}`;
    };
  }
  const data = tensor.data as ArrayLike<number | bigint>;
  if (isFloat(dtype)) return (i) => floatToken(shortestFloat(dtype, data[i] as number));
  if (dtype === 'bool') return (i) => (data[i] ? 'true' : 'false');
  return (i) => String(data[i]);
}

/**
 * A tensor as nested JSON arrays (a scalar as its value), or only its row `only` of dimension 0.
 * `token`: the tensor's tokens(), made once for all its rows (for strings it views every element).
 */
function tensorText(tensor: Tensor, key: string, only?: number, token = tokens(tensor, key.endsWith('_bytes'))): string {
  const shape = tensor.shape;
  if (shape.length === 0) return token(0);
  const inner = shape.slice(1);
  const rowSize = inner.reduce((n, d) => n * d, 1);
  // Pieces are joined a few thousand at a time: an array of one string per element would hold
  // millions of them at once for a big tensor (tens of bytes each), and the collector with them.
  const chunks: string[] = [];
  let parts: string[] = [];
  const piece = (text: string) => {
    parts.push(text);
    if (parts.length >= 4096) {
      chunks.push(parts.join(''));
      parts = [];
    }
  };
  const nest = (depth: number, offset: number): void => {
    if (depth === inner.length) {
      piece(token(offset));
      return;
    }
    piece('[');
    const stride = inner.slice(depth + 1).reduce((n, d) => n * d, 1);
    for (let j = 0; j < inner[depth]!; j++) {
      if (j > 0) piece(',');
      nest(depth + 1, offset + j * stride);
    }
    piece(']');
  };
  const row = (b: number) => nest(0, b * rowSize);
  if (only !== undefined) {
    row(only);
  } else {
    piece('[');
    for (let b = 0; b < shape[0]!; b++) {
      if (b > 0) piece(',');
      row(b);
    }
    piece(']');
  }
  chunks.push(parts.join(''));
  return chunks.length === 1 ? chunks[0]! : chunks.join('');
}

function checkWritable(key: string, tensor: Tensor): void {
  if (!dtypeInfo(tensor.dtype)) throw new InvalidArgumentError(`Failed to write JSON value for tensor type: ${tensor.dtype} (output '${key}')`);
}

/**
 * A Predict response in the request's format. Row: {"predictions": [...]}, each row of
 * dimension 0 an element (an object keyed by output when there are several); columnar:
 * {"outputs": ...}, the tensor whole (an object when there are several).
 * @throws INVALID_ARGUMENT when outputs disagree on their batch size (row format)
 */
export function predictResponse(outputs: Readonly<Record<string, Tensor>>, format: Format): string {
  const keys = Object.keys(outputs).sort();
  if (keys.length === 0) throw new TensorFlowError('INTERNAL', 'Cannot convert empty tensor map to JSON');
  for (const key of keys) checkWritable(key, outputs[key]!);
  if (format === 'columnar') {
    if (keys.length === 1) return `{"outputs":${tensorText(outputs[keys[0]!]!, keys[0]!)}}`;
    return `{"outputs":{${keys.map((k) => `${JSON.stringify(k)}:${tensorText(outputs[k]!, k)}`).join(',')}}}`;
  }
  let batch = -1;
  for (const key of keys) {
    const shape = outputs[key]!.shape;
    if (shape.length === 0) throw new InvalidArgumentError(`Tensor name: ${key} has no shape information (a scalar has no rows; ask with "inputs" for the columnar format)`);
    if (batch >= 0 && shape[0] !== batch) throw new InvalidArgumentError(`Tensor name: ${key} has inconsistent batch size: ${shape[0]} expecting: ${batch}`);
    batch = shape[0]!;
  }
  if (keys.length === 1) return `{"predictions":${tensorText(outputs[keys[0]!]!, keys[0]!)}}`;
  const columns = keys.map((k) => ({ tensor: outputs[k]!, key: k, name: `${JSON.stringify(k)}:`, token: tokens(outputs[k]!, k.endsWith('_bytes')) }));
  const rows: string[] = [];
  for (let b = 0; b < batch; b++) rows.push(`{${columns.map((c) => `${c.name}${tensorText(c.tensor, c.key, b, c.token)}`).join(',')}}`);
  return `{"predictions":[${rows.join(',')}]}`;
}

// ---------------------------------------------------------------------------
// Classify and Regress
// ---------------------------------------------------------------------------

/** A Classify or Regress request: the signature and the serialized tf.Examples (context merged into each). */
export interface ExamplesRequest {
  readonly signatureName: string | undefined;
  readonly examples: Tensor;
  readonly count: number;
}

/** Reads {"signature_name", "context", "examples"} into one string tensor of serialized tf.Examples. */
export function readExamplesRequest(body: JsonValue, api: 'classify' | 'regress'): ExamplesRequest {
  if (!isObject(body)) throw new InvalidArgumentError('the request body must be a JSON object with "examples"');
  const name = signatureName(body);
  const context = body.context === undefined ? null : exampleFromJson(body.context);
  const examples = body.examples;
  if (examples === undefined) throw new InvalidArgumentError(`When method is ${api}, key 'examples' is expected and was not found`);
  if (!Array.isArray(examples)) throw new InvalidArgumentError("Expecting 'examples' value to be an list/array");
  if (examples.length === 0) throw new InvalidArgumentError("'examples' value is an empty array");
  // As TensorFlow Serving: the context's bytes, then the example's; parsing merges them, and a
  // feature in both takes the example's value.
  const serialized = examples.map((e) => {
    const example = exampleFromJson(e);
    return context ? Buffer.concat([context, example]) : example;
  });
  return { signatureName: name, examples: new Tensor('string', serialized), count: serialized.length };
}

/**
 * A model's signature by the name a request gives, as TensorFlow Serving looks it up: REST's
 * predict (http_rest_api_handler.cc) and KServe v2 answer INVALID_ARGUMENT; gRPC's Predict
 * (`api` 'grpc predict', predict_util.cc) FAILED_PRECONDITION, each in TensorFlow Serving's words.
 * @throws INVALID_ARGUMENT or FAILED_PRECONDITION naming the signatures there are
 */
export function servingSignature(model: Model, name: string, api: 'rest' | 'grpc predict' = 'rest'): SignatureInfo {
  const info = Object.hasOwn(model.signatures, name) ? model.signatures[name] : undefined;
  if (info) return info;
  if (api === 'rest') throw signatureNotFound(name, Object.keys(model.signatures));
  throw new TensorFlowError('FAILED_PRECONDITION', `Serving signature key "${name}" not found. (the model has ${Object.keys(model.signatures).map((s) => `"${s}"`).join(', ')})`);
}

/** @internal TensorFlow Serving's error for a signature name the model does not have, naming those it has. */
export function signatureNotFound(name: string, names: readonly string[]): TensorFlowError {
  return new InvalidArgumentError(`Serving signature name: "${name}" not found in signature def (the model has ${names.map((s) => `"${s}"`).join(', ')})`);
}

/** TensorFlow's SignatureDef method names (tensorflow/cc/saved_model/signature_constants.h). */
const METHOD_NAMES = { predict: 'tensorflow/serving/predict', classify: 'tensorflow/serving/classify', regress: 'tensorflow/serving/regress' } as const;

/**
 * The API a MultiInference task's method_name asks for (TensorFlow Serving's multi_inference.cc):
 * classify or regress; any other name is UNIMPLEMENTED, naming the task by its index. gRPC's
 * MultiInference and warm-up's multi_inference_log share it.
 */
export function multiInferenceApi(method: string, task: number): 'classify' | 'regress' {
  if (method === METHOD_NAMES.classify) return 'classify';
  if (method === METHOD_NAMES.regress) return 'regress';
  throw new TensorFlowError('UNIMPLEMENTED', `Unsupported signature method_name: ${method} (tasks[${task}]; ${METHOD_NAMES.classify} or ${METHOD_NAMES.regress})`);
}

/**
 * TensorFlow Serving's --enable_signature_method_name_check, when on: a signature's method_name
 * must fit the API that runs it. Predict takes predict, classify and regress signatures
 * (else INTERNAL, as TensorFlow Serving's predict_util.cc); Classify only classify signatures,
 * Regress only regress ones (else INVALID_ARGUMENT, as its classifier.cc and regressor.cc).
 * TensorFlow 2 writes every signature with the predict method name, so Classify and Regress
 * refuse a TF2 model's signatures unless its saved_model.pb was edited (TensorFlow Serving's
 * reason for leaving the check off by default).
 */
export function checkMethodName(info: SignatureInfo, api: 'predict' | 'classify' | 'regress'): void {
  const method = info.methodName;
  if (api === 'predict') {
    if (!Object.values(METHOD_NAMES).includes(method as never)) {
      throw new TensorFlowError('INTERNAL', `Expected prediction signature method_name to be one of {${Object.values(METHOD_NAMES).join(', ')}}. Was: ${method}`);
    }
    return;
  }
  if (method !== METHOD_NAMES[api]) {
    throw new InvalidArgumentError(`Expected ${api === 'classify' ? 'classification' : 'regression'} signature method_name to be ${METHOD_NAMES[api]}. Was: ${method}`);
  }
}

/**
 * A Classify or Regress request's signature, checked as those APIs check it: there
 * (INVALID_ARGUMENT naming the signatures there are), its method name with the check on
 * (checkMethodName), its inputs and outputs (checkExamplesSignature). REST, gRPC and warm-up
 * share it.
 * @returns the output keys the API reads, to fetch (checkExamplesSignature)
 */
export function examplesSignature(model: Model, name: string, api: 'classify' | 'regress', methodNameCheck: boolean): string[] {
  const info = Object.hasOwn(model.signatures, name) ? model.signatures[name] : undefined;
  // TensorFlow Serving's words for Classify and Regress (classifier.cc, regressor.cc), not Predict's.
  if (!info) throw new InvalidArgumentError(`No signature was found with the name: ${name} (the model has ${Object.keys(model.signatures).sort().map((s) => `"${s}"`).join(', ')})`);
  if (methodNameCheck) checkMethodName(info, api);
  return checkExamplesSignature(info, api, name);
}

/**
 * A Classify or Regress signature run on serialized tf.Examples (its `inputs`) as those APIs run
 * it: the signature checked (examplesSignature), only the outputs the API reads fetched, shapes
 * not held to the signature's. REST, gRPC and warm-up share it.
 * @throws (rejects with) as examplesSignature, and as Model.run
 */
export async function runExamplesSignature(model: Model, signature: string, api: 'classify' | 'regress', examples: Tensor, methodNameCheck: boolean, options: Pick<RunOptions, 'runTimeoutMs' | 'signal'> = {}): Promise<Record<string, Tensor>> {
  const fetch = examplesSignature(model, signature, api, methodNameCheck);
  return model.run({ inputs: examples }, { signature, outputs: fetch, checkShapes: false, ...options });
}

/**
 * What Classify and Regress require of a signature (TensorFlow Serving's classifier.cc,
 * regressor.cc): one input, 'inputs'; to regress, one output, 'outputs'; to classify, one or two
 * outputs, 'classes' or 'scores' among them (the other of two is not fetched, as TensorFlow
 * Serving fetches only those).
 * @returns the output keys the API reads: 'classes' and/or 'scores', or 'outputs'
 * @throws INVALID_ARGUMENT naming the signature and what it has
 */
export function checkExamplesSignature(info: SignatureInfo, api: 'classify' | 'regress', name: string): string[] {
  const inputs = Object.keys(info.inputs);
  if (inputs.length !== 1 || !Object.hasOwn(info.inputs, 'inputs')) {
    throw new InvalidArgumentError(`signature '${name}' cannot ${api}: it needs exactly one input, 'inputs' (serialized tf.Examples); it has ${inputs.join(', ') || 'none'}`);
  }
  const outputs = Object.keys(info.outputs);
  const listed = outputs.map((o) => `'${o}'`).join(', ') || 'none';
  if (api === 'regress') {
    if (outputs.length !== 1 || !Object.hasOwn(info.outputs, 'outputs')) throw new InvalidArgumentError(`signature '${name}' cannot regress: it needs exactly one output, 'outputs'; it has ${listed}`);
    return ['outputs'];
  }
  const read = ['classes', 'scores'].filter((key) => Object.hasOwn(info.outputs, key));
  if (outputs.length < 1 || outputs.length > 2 || read.length === 0) {
    throw new InvalidArgumentError(`signature '${name}' cannot classify: it needs one or two outputs, 'classes' or 'scores' among them; it has ${listed}`);
  }
  return read;
}

function rowsOf(tensor: Tensor, key: string, count: number): number {
  const shape = tensor.shape;
  if (shape.length < 1 || shape[0] !== count) throw new InvalidArgumentError(`output '${key}' has shape [${shape.join(', ')}]; expected ${count} rows, one per example`);
  return shape.length === 1 ? 1 : shape.slice(1).reduce((n, d) => n * d, 1);
}

/**
 * A classify signature's classes and/or scores, per example: each class's label (UTF-8; "" without
 * a classes output) and score (0 without a scores output), as TensorFlow Serving's classifier reads them.
 * @throws INVALID_ARGUMENT for outputs of the wrong dtype or shape
 */
export function classifications(outputs: Readonly<Record<string, Tensor>>, count: number): { label: string; score: number }[][] {
  const { classes, scores } = outputs;
  if (scores && scores.dtype !== 'float32') throw new InvalidArgumentError(`output 'scores' must be float32, got ${scores.dtype}`);
  if (classes && classes.dtype !== 'string') throw new InvalidArgumentError(`output 'classes' must be string, got ${classes.dtype}`);
  const n = classes ? rowsOf(classes, 'classes', count) : rowsOf(scores!, 'scores', count);
  if (classes && scores && rowsOf(scores, 'scores', count) !== n) throw new InvalidArgumentError('outputs classes and scores disagree on the number of classes');
  const labels = classes?.bytes();
  const values = scores?.data as Float32Array | undefined;
  const results: { label: string; score: number }[][] = [];
  for (let e = 0; e < count; e++) {
    const row: { label: string; score: number }[] = [];
    for (let c = 0; c < n; c++) row.push({ label: labels ? Buffer.from(labels[e * n + c]!).toString('utf8') : '', score: values ? values[e * n + c]! : 0 });
    results.push(row);
  }
  return results;
}

/** {"results": [[[label, score], ...] per example]} from a classify signature's classes and/or scores. */
export function classifyResponse(outputs: Readonly<Record<string, Tensor>>, count: number): string {
  const rows = classifications(outputs, count).map((row) => `[${row.map((c) => `[${JSON.stringify(c.label)},${floatToken(shortestFloat('float32', c.score))}]`).join(',')}]`);
  return `{"results":[${rows.join(',')}]}`;
}

/**
 * A regress signature's value per example, from its float output 'outputs' shaped [n] or [n, 1].
 * @throws INVALID_ARGUMENT for another dtype or shape
 */
export function regressions(outputs: Readonly<Record<string, Tensor>>, count: number): Float32Array {
  const out = outputs.outputs!;
  if (out.dtype !== 'float32') throw new InvalidArgumentError(`output 'outputs' must be float32, got ${out.dtype}`);
  if (rowsOf(out, 'outputs', count) !== 1) throw new InvalidArgumentError(`output 'outputs' has shape [${out.shape.join(', ')}]; expected [${count}] or [${count}, 1]`);
  return (out.data as Float32Array).subarray(0, count);
}

/** {"results": [value per example]} from a regress signature's float outputs, shaped [n] or [n, 1]. */
export function regressResponse(outputs: Readonly<Record<string, Tensor>>, count: number): string {
  return `{"results":[${Array.from(regressions(outputs, count), (v) => floatToken(shortestFloat('float32', v))).join(',')}]}`;
}

// ---------------------------------------------------------------------------
// Status and metadata
// ---------------------------------------------------------------------------

/** GetModelStatusResponse as JSON: versions descending, versions as strings, status codes by name. */
export function statusResponse(versions: readonly VersionStatus[]): unknown {
  return {
    model_version_status: [...versions].sort((a, b) => b.version - a.version).map((v) => ({
      version: String(v.version),
      state: v.state,
      status: { error_code: v.error ? versionErrorCode(v.error.code) : 'OK', error_message: v.error?.message ?? '' },
    })),
  };
}

const TF_NAMES: Record<string, string> = {
  float32: 'DT_FLOAT', float64: 'DT_DOUBLE', int8: 'DT_INT8', int16: 'DT_INT16', int32: 'DT_INT32', int64: 'DT_INT64',
  uint8: 'DT_UINT8', uint16: 'DT_UINT16', uint32: 'DT_UINT32', uint64: 'DT_UINT64', bool: 'DT_BOOL',
  float16: 'DT_HALF', bfloat16: 'DT_BFLOAT16', string: 'DT_STRING', complex64: 'DT_COMPLEX64', complex128: 'DT_COMPLEX128',
  qint8: 'DT_QINT8', quint8: 'DT_QUINT8', qint16: 'DT_QINT16', quint16: 'DT_QUINT16', qint32: 'DT_QINT32', resource: 'DT_RESOURCE', variant: 'DT_VARIANT',
};

/** A dtype as TensorFlow's DataType enum names it (DT_FLOAT). */
export function tfDataTypeName(dtype: string): string {
  return TF_NAMES[dtype] ?? (/^DataType\((\d+)\)$/.exec(dtype) ? `DT_INVALID` : `DT_${dtype.toUpperCase()}`);
}

function shapeJson(shape: readonly number[] | null): unknown {
  return shape === null ? { dim: [], unknown_rank: true } : { dim: shape.map((d) => ({ size: String(d), name: '' })), unknown_rank: false };
}

function tensorInfoJson(spec: TensorSpec): unknown {
  const common = { dtype: tfDataTypeName(spec.dtype), tensor_shape: shapeJson(spec.shape) };
  if (!spec.composite) return { ...common, name: spec.name };
  const parts = spec.composite.components;
  if (spec.composite.kind === 'sparse') {
    return { ...common, coo_sparse: { values_tensor_name: parts.values!.name, indices_tensor_name: parts.indices!.name, dense_shape_tensor_name: parts.dense_shape!.name } };
  }
  return { ...common, composite_tensor: { components: Object.values(parts).map(tensorInfoJson) } };
}

/** GetModelMetadataResponse as JSON: the model spec and every signature as a SignatureDef. */
export function metadataResponse(name: string, version: number, signatures: Readonly<Record<string, SignatureInfo>>): unknown {
  const defs: Record<string, unknown> = {};
  for (const [key, sig] of Object.entries(signatures)) {
    defs[key] = {
      inputs: Object.fromEntries(Object.entries(sig.inputs).map(([k, s]) => [k, tensorInfoJson(s)])),
      outputs: Object.fromEntries(Object.entries(sig.outputs).map(([k, s]) => [k, tensorInfoJson(s)])),
      method_name: sig.methodName,
      defaults: {},
    };
  }
  return {
    model_spec: { name, signature_name: '', version: String(version) },
    metadata: { signature_def: { signature_def: defs } },
  };
}
