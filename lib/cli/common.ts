/**
 * What several commands share: flag parsers, the SavedModel directory check,
 * loading a model with the flags' options, picking a signature.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';

import { NotFoundError } from '../errors';
import { readGraphFileSync } from '../files';
import { PACKAGE_ROOT } from '../native';
import { loadModel, type Model, whatIsThere } from '../model';
import type { LoadOptions } from '../options';
import { decodeSavedModel, type SignatureInfo } from '../proto';
import { UsageError } from './errors';

// What a write to a stdout or stderr whose reader is gone fails with: a pipe (EPIPE), a socket
// (ECONNRESET), a terminal that hung up (EIO).
const CLOSED = new Set(['EPIPE', 'ECONNRESET', 'EIO']);

/**
 * A reader that closed the pipe early (`tfslice show m | head`) loses the rest of the output,
 * not the command: Node ignores SIGPIPE, so such a write fails with EPIPE, which crashed the
 * process with a stack. The command goes on to its end and exits with its own code (a failure
 * stays one; an install is not cut off half-written), and `tfslice serve` serves on. Any other
 * error of the stream (ENOSPC: output redirected to a full disk) ends the command at once with
 * exit 1 and one line on stderr naming the stream, where it ended with an uncaught stack
 * (helper-141).
 */
export function onClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (CLOSED.has(error.code ?? '')) return;
    const name = stream === process.stdout ? 'stdout' : stream === process.stderr ? 'stderr' : 'its output';
    try {
      if (stream !== process.stderr) process.stderr.write(`tfslice: cannot write to ${name}: ${error.message}\n`);
    } finally {
      process.exit(1);
    }
  });
}

/** tfslice's version, from its package.json ('0.1.0'). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** --gpu-fraction: a fraction in (0, 1]. */
export function parseFraction(value: string): number {
  const f = Number(value);
  if (value.trim() === '' || !(f > 0 && f <= 1)) throw new InvalidArgumentError('expected a fraction in (0, 1], e.g. 0.3');
  return f;
}

/** An integer ≥ 1 (--batch, --concurrency, --iterations). */
export function parseCount(value: string): number {
  return wholeNumber(value, 1);
}

/** A count of 0 or more (--warmup). */
export function parseCountFromZero(value: string): number {
  return wholeNumber(value, 0);
}

function wholeNumber(value: string, least: number): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < least) throw new InvalidArgumentError(`expected an integer ≥ ${least}`);
  return n;
}

/** A positive number of seconds (--duration). */
export function parseSeconds(value: string): number {
  const s = Number(value);
  if (value.trim() === '' || !(s > 0 && Number.isFinite(s))) throw new InvalidArgumentError('expected a positive number of seconds, e.g. 10');
  return s;
}

/** "a,b" → ['a', 'b'] (--tags, --outputs). */
export function parseList(value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list, e.g. a,b');
  return items;
}

/** "serve,gpu" → ['serve', 'gpu']; '' → [], the empty tag-set (TF Hub's TF1 format). */
export function parseTags(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Collects a repeatable option's values (--op-library). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The saved_model.pb of `dir`, or a UsageError saying what is there instead and what to pass. */
export function savedModelFile(dir: string): string {
  const there = whatIsThere(dir);
  if (there !== null) throw new UsageError(there);
  return path.join(dir, 'saved_model.pb');
}

/** Flags every model-loading command takes. */
export interface ModelFlags {
  tags?: string[];
  opLibrary?: string[];
  gpuFraction?: number;
  isolation?: string;
}

/** loadModel() with the flags' options; the library's own errors pass through. */
export async function openModel(dir: string, flags: ModelFlags): Promise<Model> {
  savedModelFile(dir);
  const options: LoadOptions = {};
  if (flags.tags) options.tags = flags.tags;
  if (flags.opLibrary?.length) options.opLibraries = flags.opLibrary;
  if (flags.gpuFraction !== undefined) options.gpuMemoryFraction = flags.gpuFraction;
  // Checked by loadModel, whose TypeError names the field and the values it takes.
  if (flags.isolation !== undefined) options.isolation = flags.isolation as LoadOptions['isolation'];
  for (const library of flags.opLibrary ?? []) {
    if (!fs.existsSync(library)) throw new UsageError(`--op-library ${library}: no such file`);
  }
  try {
    return await loadModel(dir, options);
  } catch (error) {
    // A tag-set that is not there is a bad --tags: say the flag that loads one.
    if (error instanceof NotFoundError && /matching supplied tags/.test(error.message)) {
      const sets = decodeSavedModel(readGraphFileSync(savedModelFile(dir))).map((m) => m.tags);
      const flag = (tags: readonly string[]) => `--tags ${tags.length ? tags.join(',') : "''"}`;
      // helper-132: a SavedModel with no meta graph at all was told to pass the tag-set that had just failed.
      if (sets.length === 0) throw new UsageError(`${dir} holds no meta graph at all (its saved_model.pb is empty of them): it is no SavedModel tfslice can load; export it again`, false);
      throw new UsageError(`${flag(options.tags ?? ['serve'])}: ${dir} has no meta graph with that tag-set; its tag-sets are ${sets.map((s) => `[${s.join(', ')}]`).join(', ')}; pass one, e.g. ${flag(sets[0]!)}`);
    }
    throw error;
  }
}

/** The signature to use: --signature, else the model's default; a UsageError listing them otherwise. */
export function pickSignature(model: Model, name: string | undefined): { name: string; info: SignatureInfo } {
  const names = Object.keys(model.signatures);
  const chosen = name ?? model.defaultSignature;
  // helper-132: "pass --signature, one of (none)" for a meta graph without signatures.
  if (names.length === 0) throw new UsageError(`${model.path} has no signatures in this tag-set, so there is nothing to run${name === undefined ? '' : ` (--signature ${name})`}; \`tfslice show ${model.path}\` lists each tag-set's signatures`, false);
  if (chosen === null) {
    throw new UsageError(`${model.path} has no default signature; pass --signature, one of ${names.join(', ')}`);
  }
  const info = model.signatures[chosen];
  if (!info) throw new UsageError(`--signature ${chosen}: no such signature in ${model.path}; it has ${names.join(', ')}`);
  return { name: chosen, info };
}
