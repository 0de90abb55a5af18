/**
 * --input key=value for `run` and `bench`: value is a .npy file, a .json file, or
 * a JSON literal; the signature gives each input's dtype.
 */
import * as fs from 'node:fs';

import { dtypeInfo, type DType } from '../dtypes';
import { InvalidArgumentError } from '../errors';
import type { SignatureInfo, TensorSpec } from '../proto';
import type { Tensor } from '../tensor';
import { parseJson } from '../serve/json';
import { checkAgainstSpec, tensorFromValue } from '../values';
import { UsageError } from './errors';
import { readNpy } from './npy';

export interface InputArg {
  key: string;
  value: string;
}

/** commander's collector for a repeatable --input. */
export function collectInput(text: string, previous: InputArg[] = []): InputArg[] {
  const eq = text.indexOf('=');
  if (eq <= 0) {
    throw new UsageError(`--input ${JSON.stringify(text)}: expected key=value, e.g. --input x=in.npy, --input x=in.json or --input 'x=[[1,2,3,4]]'`);
  }
  return [...previous, { key: text.slice(0, eq), value: text.slice(eq + 1) }];
}

/** Formats a signature's inputs for messages: "a (float32 [2]), b (float32 [3])". */
export function describeInputs(signature: SignatureInfo): string {
  return Object.entries(signature.inputs).map(([key, spec]) => `${key} (${spec.dtype} ${formatShape(spec.shape)})`).join(', ') || '(none)';
}

/** [-1, 4], or "unknown rank". */
export function formatShape(shape: readonly number[] | null): string {
  return shape ? `[${shape.join(', ')}]` : 'unknown rank';
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

// What an --input holds, checked against the signature: a value that cannot be its input is
// a bad argument (exit 2), as any other.
function readOne(arg: InputArg, spec: TensorSpec, where: string): Tensor {
  try {
    const tensor = parseOne(arg, spec, where);
    checkAgainstSpec(spec, tensor, () => where);
    return tensor;
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UsageError(error.message);
    throw error;
  }
}

function parseOne(arg: InputArg, spec: TensorSpec, where: string): Tensor {
  const dtype = spec.dtype as DType;
  if (!dtypeInfo(dtype)) throw new UsageError(`${where}: the input is ${spec.dtype}, which tfslice cannot feed`);
  const { value } = arg;
  const named = /\.(npy|json)$/i.exec(value)?.[1]?.toLowerCase();
  if (named && !isFile(value)) throw new UsageError(`${where}: no such file ${value}`);
  if (!isFile(value)) {
    let parsed: unknown;
    try {
      parsed = parseJson(value);
    } catch (error) {
      throw new UsageError(`${where}: neither a file nor JSON (${(error as Error).message}); give a .npy or .json file, or a JSON literal such as ${arg.key}='[[1, 2, 3, 4]]'`);
    }
    // JSON text, as the server reads it: a float past its dtype's range is refused, not Infinity.
    return fromJson(parsed, spec, where);
  }
  const bytes = fs.readFileSync(value);
  if (named === 'npy' || (named === undefined && bytes.subarray(0, 6).toString('latin1') === '\x93NUMPY')) {
    const tensor = readNpy(bytes, `${where}: ${value}`);
    if (tensor.dtype !== dtype) {
      const fix = dtype === 'bfloat16' || dtype === 'string' ? `give ${dtype} values as JSON` : `save it with .astype('${dtype}')`;
      throw new UsageError(`${where}: ${value} holds ${tensor.dtype}, the signature wants ${dtype}; ${fix}`);
    }
    return tensor;
  }
  let parsed: unknown;
  try {
    parsed = parseJson(bytes);
  } catch (error) {
    throw new UsageError(`${where}: ${value} is not valid JSON (${(error as Error).message})`);
  }
  return fromJson(parsed, spec, `${where}: ${value}`);
}

// A value read as JSON: nested arrays (or a scalar), or one output as `run --json` writes it,
// `{ "dtype", "shape", "data" }` (helper-132: README said what --json writes can be fed back, and
// that object was refused), whose dtype and shape must then be the ones given.
function fromJson(parsed: unknown, spec: TensorSpec, where: string): Tensor {
  const keys = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.keys(parsed) : [];
  if (!keys.includes('data') || !keys.every((k) => k === 'dtype' || k === 'shape' || k === 'data')) return tensorFromValue(parsed, spec, where, { lossless: true });
  const given = parsed as { dtype?: unknown; shape?: unknown; data: unknown };
  if (given.dtype !== undefined && given.dtype !== spec.dtype) throw new UsageError(`${where}: its dtype is ${JSON.stringify(given.dtype)}, the signature wants ${spec.dtype}`);
  const tensor = tensorFromValue(given.data, spec, `${where}: data`, { lossless: true });
  const shape = Array.isArray(given.shape) ? given.shape.map(Number) : null;
  if (given.shape !== undefined && (shape === null || shape.length !== tensor.shape.length || shape.some((d, i) => d !== tensor.shape[i]))) {
    throw new UsageError(`${where}: its shape is ${JSON.stringify(given.shape)}, but its data is nested as [${tensor.shape.join(', ')}]`);
  }
  return tensor;
}

/** Every input of `signature` from the --input arguments; each must be given exactly once. */
export function readInputs(args: readonly InputArg[], signature: SignatureInfo, signatureName: string, options: { partial?: boolean } = {}): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const arg of args) {
    const spec = signature.inputs[arg.key];
    if (!spec) {
      throw new UsageError(`--input ${arg.key}: signature '${signatureName}' has no input '${arg.key}'; its inputs are ${describeInputs(signature)}`);
    }
    if (feeds[arg.key]) throw new UsageError(`--input ${arg.key} is given twice`);
    feeds[arg.key] = readOne(arg, spec, `--input ${arg.key}`);
  }
  const missing = Object.keys(signature.inputs).filter((key) => !feeds[key]);
  if (missing.length > 0 && !options.partial) {
    const wanted = missing.map((key) => `${key} (${signature.inputs[key]!.dtype} ${formatShape(signature.inputs[key]!.shape)})`).join(', ');
    throw new UsageError(`missing --input for ${wanted} of signature '${signatureName}'`);
  }
  return feeds;
}
