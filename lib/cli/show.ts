/**
 * `tfslice show <dir>`: the SavedModel's tag-sets and signatures, read from
 * saved_model.pb with tfslice's own protobuf schema (no TensorFlow needed).
 */
import * as path from 'node:path';

import { readGraphFileSync } from '../files';
import { type EntryOps, entryLabel, reachedOps, serveRefusal } from '../ops';
import { decodeSavedModel, type MetaGraphSummary, type SignatureInfo, type TensorSpec } from '../proto';
import { savedModelFile } from './common';
import { CliError, UsageError } from './errors';
import { formatShape } from './inputs';

export interface ShowFlags {
  tags?: string[];
  signature?: string;
  json?: boolean;
  /** Also the op types each entry reaches (lib/ops.ts). */
  ops?: boolean;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));
const tagSet = (tags: readonly string[]): string => `[${tags.join(', ')}]`;

type Shown = MetaGraphSummary & { defaultSignature: string | null };

/** The meta graphs and signatures `flags` select. */
export function selectMetaGraphs(dir: string, flags: ShowFlags): Shown[] {
  const file = savedModelFile(dir);
  let metaGraphs: Shown[];
  try {
    metaGraphs = decodeSavedModel(readGraphFileSync(file)).map((m) => ({ ...m, defaultSignature: defaultOf(m.signatures) }));
  } catch (error) {
    throw new CliError(`${file} is not a readable SavedModel (${(error as Error).message})`);
  }
  if (flags.tags) {
    const wanted = flags.tags;
    metaGraphs = metaGraphs.filter((m) => sameSet(m.tags, wanted));
    if (metaGraphs.length === 0) {
      const sets = decodeSavedModel(readGraphFileSync(file)).map((m) => tagSet(m.tags)).join(', ');
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

// The entries `--ops` shows for one meta graph: the selected signatures, the init and restore ops.
function opsOf(dir: string, m: Pick<Shown, 'tags' | 'signatures'>): EntryOps[] {
  const all = reachedOps(readGraphFileSync(savedModelFile(dir)), m.tags) ?? [];
  return all.filter((e) => e.kind !== 'signature' || m.signatures[e.name] !== undefined);
}

function opLines(entry: EntryOps): string[] {
  const ops = [...entry.ops.keys()].map((op) => {
    const refused = serveRefusal(entry.kind, op);
    return refused ? `${op} (opPolicy 'serve' refuses: ${refused})` : op;
  });
  return [`    ${entry.kind === 'signature' ? 'ops' : `${entryLabel(entry)} reaches`} (${ops.length}): ${ops.join(', ')}`];
}

export function show(dir: string, flags: ShowFlags): void {
  const metaGraphs = selectMetaGraphs(dir, flags);
  const abs = path.resolve(dir);
  if (flags.json) {
    const shown = metaGraphs.map(({ hasSaver: _, ...m }) => {
      if (!flags.ops) return m;
      const ops = opsOf(dir, m).map((e) => ({ kind: e.kind, name: e.name, ops: Object.fromEntries(e.ops) }));
      return { ...m, ops };
    });
    process.stdout.write(`${JSON.stringify({ path: abs, metaGraphs: shown }, null, 2)}\n`);
    return;
  }
  const lines = [`SavedModel ${abs}`, `tag-sets: ${metaGraphs.map((m) => tagSet(m.tags)).join(', ') || '(none)'}`];
  for (const m of metaGraphs) {
    const names = Object.keys(m.signatures);
    const saved = m.tensorflowVersion ? `, saved by TensorFlow ${m.tensorflowVersion}` : '';
    lines.push('', `tag-set ${tagSet(m.tags)}: ${names.length} signature${names.length === 1 ? '' : 's'}${saved}`);
    const ops = flags.ops ? opsOf(dir, m) : [];
    for (const name of names) {
      lines.push(...signatureLines(name, m.signatures[name]!, name === m.defaultSignature));
      for (const entry of ops) if (entry.kind === 'signature' && entry.name === name) lines.push(...opLines(entry));
    }
    if (ops.some((e) => e.kind !== 'signature')) lines.push('  at load:');
    for (const entry of ops) if (entry.kind !== 'signature') lines.push(...opLines(entry));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
