/**
 * `tfslice run <dir> --input key=…`: one run of a signature; prints each output
 * (dtype, shape, a preview) and with --out-dir writes it as .npy (.json for
 * strings and bfloat16, which .npy cannot hold).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Tensor } from '../tensor';
import { type ModelFlags, openModel, pickSignature } from './common';
import { UsageError } from './errors';
import { type InputArg, readInputs } from './inputs';
import { npyCanHold, writeNpy } from './npy';
import { preview, tensorToJson } from '../values';

export interface RunFlags extends ModelFlags {
  input: InputArg[];
  signature?: string;
  outputs?: string[];
  outDir?: string;
  json?: boolean;
}

/** Writes `tensor` into `dir` as <key>.npy, or <key>.json when .npy cannot hold its dtype. */
function save(dir: string, key: string, tensor: Tensor): string {
  const base = key.replace(/[^\w.-]/g, '_');
  const file = path.join(dir, npyCanHold(tensor.dtype) ? `${base}.npy` : `${base}.json`);
  fs.writeFileSync(file, npyCanHold(tensor.dtype) ? writeNpy(tensor) : `${JSON.stringify(tensorToJson(tensor))}\n`);
  return file;
}

/**
 * Makes --out-dir and its missing parents, one level at a time. (Node 20's mkdirSync with
 * `recursive: true` loops for ever on a path it cannot make under /proc.)
 */
function makeOutDir(dir: string): void {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  try {
    for (const part of missing) fs.mkdirSync(part);
  } catch (error) {
    throw new UsageError(`--out-dir ${dir}: cannot make it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give a directory you can write to`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--out-dir ${dir} exists and is not a directory`);
}

export async function run(dir: string, flags: RunFlags): Promise<void> {
  // Made before the model loads: a directory that cannot be made is a bad argument, found at once.
  if (flags.outDir !== undefined) makeOutDir(flags.outDir);
  const model = await openModel(dir, flags);
  try {
    const signature = pickSignature(model, flags.signature);
    const feeds = readInputs(flags.input, signature.info, signature.name);
    const known = Object.keys(signature.info.outputs);
    for (const key of flags.outputs ?? []) {
      if (!known.includes(key)) throw new UsageError(`--outputs ${key}: signature '${signature.name}' has no output '${key}'; its outputs are ${known.join(', ')}`);
    }
    const outputs = await model.run(feeds, { signature: signature.name, outputs: flags.outputs });
    const files: Record<string, string> = {};
    if (flags.outDir !== undefined) {
      for (const [key, tensor] of Object.entries(outputs)) files[key] = save(flags.outDir, key, tensor);
    }
    if (flags.json) {
      const out = Object.fromEntries(Object.entries(outputs).map(([key, t]) => [key, { dtype: t.dtype, shape: t.shape, data: tensorToJson(t) }]));
      process.stdout.write(`${JSON.stringify({ signature: signature.name, outputs: out, ...(flags.outDir !== undefined ? { files } : {}) })}\n`);
      return;
    }
    const lines: string[] = [];
    for (const [key, tensor] of Object.entries(outputs)) {
      lines.push(`${key}: ${tensor.dtype} [${tensor.shape.join(', ')}]${files[key] ? ` -> ${files[key]}` : ''}`);
      lines.push(...preview(tensor).split('\n').map((line) => `  ${line}`));
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await model.dispose();
  }
}
