/**
 * `tfslice show <dir>`: the SavedModel's tag-sets and signatures, read from
 * saved_model.pb with tfslice's own protobuf schema (no TensorFlow needed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { decodeSavedModel, type MetaGraphSummary, type SignatureInfo, type TensorSpec } from '../proto';
import { savedModelFile } from './common';
import { CliError, UsageError } from './errors';
import { formatShape } from './inputs';

export interface ShowFlags {
  tags?: string[];
  signature?: string;
  json?: boolean;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));
const tagSet = (tags: readonly string[]): string => `[${tags.join(', ')}]`;

type Shown = MetaGraphSummary & { defaultSignature: string | null };

/** The meta graphs and signatures `flags` select. */
export function selectMetaGraphs(dir: string, flags: ShowFlags): Shown[] {
  const file = savedModelFile(dir);
  let metaGraphs: Shown[];
  try {
    metaGraphs = decodeSavedModel(fs.readFileSync(file)).map((m) => ({ ...m, defaultSignature: defaultOf(m.signatures) }));
  } catch (error) {
    throw new CliError(`${file} is not a readable SavedModel (${(error as Error).message})`);
  }
  if (flags.tags) {
    const wanted = flags.tags;
    metaGraphs = metaGraphs.filter((m) => sameSet(m.tags, wanted));
    if (metaGraphs.length === 0) {
      const sets = decodeSavedModel(fs.readFileSync(file)).map((m) => tagSet(m.tags)).join(', ');
      throw new UsageError(`--tags ${wanted.join(',')}: no meta graph has that tag-set; ${dir} has ${sets || '(none)'}`);
    }
  }
  if (flags.signature !== undefined) {
    const name = flags.signature;
    if (!metaGraphs.some((m) => m.signatures[name])) {
      const names = [...new Set(metaGraphs.flatMap((m) => Object.keys(m.signatures)))];
      throw new UsageError(`--signature ${name}: no such signature; ${dir} has ${names.join(', ') || '(none)'}`);
    }
    metaGraphs = metaGraphs
      .filter((m) => m.signatures[name])
      .map((m) => ({ ...m, signatures: { [name]: m.signatures[name]! } }));
  }
  return metaGraphs;
}

function table(rows: string[][], indent: string): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => indent + r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
}

// A ragged or sparse tensor is a row of its own, then a row per component under the key
// run() returns it by (key.component), with the graph tensor it is fetched from.
function rows(key: string, s: TensorSpec): string[][] {
  if (!s.composite) return [[key, s.dtype, formatShape(s.shape), s.name]];
  const parts = Object.entries(s.composite.components).map(([part, c]) => [`  ${key}.${part}`, c.dtype, formatShape(c.shape), c.name]);
  return [[key, `${s.composite.kind} ${s.dtype}`, formatShape(s.shape), '(its components:)'], ...parts];
}

function tensors(title: string, specs: Readonly<Record<string, TensorSpec>>): string[] {
  const entries = Object.entries(specs);
  if (entries.length === 0) return [`    ${title}: none`];
  return [`    ${title}:`, ...table(entries.flatMap(([key, s]) => rows(key, s)), '      ')];
}

function signatureLines(name: string, info: SignatureInfo, isDefault: boolean): string[] {
  return [
    `  signature '${name}'${isDefault ? ' (default)' : ''}, method ${info.methodName || '(none)'}`,
    ...tensors('inputs', info.inputs),
    ...tensors('outputs', info.outputs),
  ];
}

/** The signature loadModel() runs by default: serving_default, or the only one. */
function defaultOf(signatures: Readonly<Record<string, SignatureInfo>>): string | null {
  const names = Object.keys(signatures);
  return signatures.serving_default ? 'serving_default' : names.length === 1 ? names[0]! : null;
}

export function show(dir: string, flags: ShowFlags): void {
  const metaGraphs = selectMetaGraphs(dir, flags);
  const abs = path.resolve(dir);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ path: abs, metaGraphs: metaGraphs.map(({ hasSaver: _, ...m }) => m) }, null, 2)}\n`);
    return;
  }
  const lines = [`SavedModel ${abs}`, `tag-sets: ${metaGraphs.map((m) => tagSet(m.tags)).join(', ') || '(none)'}`];
  for (const m of metaGraphs) {
    const names = Object.keys(m.signatures);
    const saved = m.tensorflowVersion ? `, saved by TensorFlow ${m.tensorflowVersion}` : '';
    lines.push('', `tag-set ${tagSet(m.tags)}: ${names.length} signature${names.length === 1 ? '' : 's'}${saved}`);
    for (const name of names) lines.push(...signatureLines(name, m.signatures[name]!, name === m.defaultSignature));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
