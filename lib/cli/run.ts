/**
 * `tfslice run <dir> --input key=…`: one run of a signature; prints each output
 * (dtype, shape, a preview) and with --out-dir writes it as .npy (.json for
 * strings and bfloat16, which .npy cannot hold).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Tensor } from '../tensor';
import { type ModelFlags, openModel, pickSignature } from './common';
import { CliError, UsageError } from './errors';
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

// JSON text of what --json and .json files hold: as JSON.stringify, but a float -0 stays -0.0
// (helper-132: JSON.stringify writes 0, where the preview, .npy and TensorFlow keep the sign).
const NEGATIVE_ZERO = '\u0000-0\u0000';
function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (Object.is(v, -0) ? NEGATIVE_ZERO : v)).replaceAll(JSON.stringify(NEGATIVE_ZERO), '-0.0');
}

/**
 * @internal The files --out-dir gets, by output key: <key>.npy, or <key>.json when .npy cannot hold its
 * dtype, the key's characters other than letters, digits, '_', '.' and '-' as '_'. Keys that
 * come out alike get _2, _3, ... (helper-132: `a/b` and `a_b` wrote one file, the first lost);
 * a key too long for a file name is cut, with a digest of it kept (ENAMETOOLONG, naming no flag).
 */
export function fileNames(dir: string, outputs: Readonly<Record<string, Tensor>>): Record<string, string> {
  const planned = Object.entries(outputs).map(([key, tensor]) => {
    let base = key.replace(/[^\w.-]/g, '_');
    if (base === '.' || base === '..') base = base.replace(/\./g, '_');
    if (base.length > 200) base = `${base.slice(0, 180)}_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
    return { key, base, ext: npyCanHold(tensor.dtype) ? '.npy' : '.json' };
  });
  // Keys whose names need no change keep them; the others come after (helper-134: a_b.npy held
  // output a/b, and a_b went to a_b_2.npy).
  planned.sort((a, b) => Number(a.base !== a.key) - Number(b.base !== b.key));
  const taken = new Set<string>();
  const files: Record<string, string> = {};
  for (const { key, base, ext } of planned) {
    let name = `${base}${ext}`;
    for (let n = 2; taken.has(name); n++) name = `${base}_${n}${ext}`;
    taken.add(name);
    files[key] = path.join(dir, name);
  }
  return Object.fromEntries(Object.keys(outputs).map((key) => [key, files[key]!]));
}

/** Writes `tensor` to `file` (fileNames()), never through a symbolic link there (one to a file elsewhere would be overwritten). */
function save(file: string, tensor: Tensor): void {
  const data = npyCanHold(tensor.dtype) ? writeNpy(tensor) : `${jsonText(tensorToJson(tensor))}\n`;
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o666);
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new UsageError(`--out-dir: ${file} is a symbolic link, and tfslice writes no output through one; remove it, or give another --out-dir`);
    throw new CliError(`cannot write ${file}: ${(error as Error).message}`);
  }
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
  // Printed once the model is disposed: a dispose() that fails is then the command's one
  // failure, not a second JSON document after the outputs (helper-141).
  let text: string;
  try {
    const signature = pickSignature(model, flags.signature);
    const feeds = readInputs(flags.input, signature.info, signature.name);
    const known = Object.keys(signature.info.outputs);
    for (const key of flags.outputs ?? []) {
      if (!known.includes(key)) throw new UsageError(`--outputs ${key}: signature '${signature.name}' has no output '${key}'; its outputs are ${known.join(', ')}`);
    }
    const outputs = await model.run(feeds, { signature: signature.name, outputs: flags.outputs });
    const files = flags.outDir !== undefined ? fileNames(flags.outDir, outputs) : {};
    for (const [key, file] of Object.entries(files)) save(file, outputs[key]!);
    if (flags.json) {
      const out = Object.fromEntries(Object.entries(outputs).map(([key, t]) => [key, { dtype: t.dtype, shape: t.shape, data: tensorToJson(t) }]));
      text = `${jsonText({ signature: signature.name, outputs: out, ...(flags.outDir !== undefined ? { files } : {}) })}\n`;
    } else {
      const lines: string[] = [];
      for (const [key, tensor] of Object.entries(outputs)) {
        lines.push(`${key}: ${tensor.dtype} [${tensor.shape.join(', ')}]${files[key] ? ` -> ${files[key]}` : ''}`);
        lines.push(...preview(tensor).split('\n').map((line) => `  ${line}`));
      }
      text = `${lines.join('\n')}\n`;
    }
  } finally {
    await model.dispose();
  }
  process.stdout.write(text);
}
