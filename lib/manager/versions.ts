/**
 * Versions on disk: which numeric sub-directories of a base path are versions, when one is
 * complete (its files unchanged for settleMs: a copy in progress is not loaded half-written),
 * and which of them a version policy serves.
 */
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';

import type { VersionPolicy } from './config';

/**
 * Which of the candidate versions (ascending) a policy serves. The manager passes the versions
 * it may load: under 'latest' and `{ latest: n }` it leaves out those that failed with the files
 * they have now, so that the next older ones are chosen in their place.
 */
export function selectVersions(policy: VersionPolicy, candidates: readonly number[]): number[] {
  const sorted = [...candidates].sort((a, b) => a - b);
  if (policy === 'all') return sorted;
  if (policy === 'latest') return sorted.slice(-1);
  if ('latest' in policy) return sorted.slice(-policy.latest);
  const chosen = new Set(policy.specific); // (a policy may name thousands: not a search per directory)
  return sorted.filter((v) => chosen.has(v));
}

async function statOrNull(file: string) {
  return stat(file).catch(() => null);
}

/**
 * @internal What a version directory's files look like now: undefined when it is not a directory,
 * null when it has no (non-empty) saved_model.pb or .pbtxt yet, else the sizes and mtimes of the
 * graph and of every file in variables/ and in assets.extra/ (TensorFlow Serving's warm-up file):
 * a version still being copied there is held back, and one that failed is tried again once one
 * of them changed (helper-111: a fixed warm-up file was never seen). Not assets/: a model's
 * load may write there (every poll then retried a failed version), and walking big asset trees
 * at every look cost seconds of CPU (helper-112: 7 s a look for 50 versions of 2000 files).
 */
export async function fingerprint(dir: string): Promise<string | null | undefined> {
  const self = await statOrNull(dir);
  if (!self?.isDirectory()) return undefined;
  let graph = await statOrNull(path.join(dir, 'saved_model.pb'));
  let name = 'pb';
  if (!graph?.isFile()) {
    graph = await statOrNull(path.join(dir, 'saved_model.pbtxt'));
    name = 'pbtxt';
  }
  if (!graph?.isFile() || graph.size === 0) return null;
  const parts: [string, number, number][] = [[`saved_model.${name}`, graph.size, graph.mtimeMs]];
  for (const sub of ['variables', 'assets.extra']) {
    const at = path.join(dir, sub);
    for (const file of (await readdir(at).catch(() => [] as string[])).sort()) {
      const s = await statOrNull(path.join(at, file));
      if (s) parts.push([`${sub}/${file}`, s.size, s.mtimeMs]);
    }
  }
  // JSON: file names may hold any character but '/'.
  return JSON.stringify(parts);
}

/**
 * @internal What is wrong with the graph of a version directory that fingerprint() found none
 * in: "no saved_model.pb (or .pbtxt)", "an empty saved_model.pb", "a saved_model.pb that is not
 * a file" (helper-118: all three were said to be missing).
 */
export async function graphProblem(dir: string): Promise<string> {
  for (const name of ['saved_model.pb', 'saved_model.pbtxt']) {
    const s = await statOrNull(path.join(dir, name));
    if (s === null) continue;
    return s.isFile() ? `an empty ${name}` : `a ${name} that is not a file`;
  }
  return 'no saved_model.pb (or .pbtxt)';
}

/**
 * @internal The files (relative to the version directory) that differ between two fingerprints
 * of it: changed in size or mtime, added or removed; the graph (saved_model.pb) when either is
 * null (no graph, or an empty one: a graph rewritten in place).
 */
export function changedFiles(before: string | null, after: string | null): string[] {
  if (before === null || after === null) return ['saved_model.pb'];
  const files = (print: string) => new Map((JSON.parse(print) as [string, number, number][]).map(([file, size, mtime]) => [file, `${size}:${mtime}`]));
  const a = files(before);
  const b = files(after);
  return [...new Set([...a.keys(), ...b.keys()])].filter((file) => a.get(file) !== b.get(file)).sort();
}

/** @internal What a version directory looked like when last seen, and since when (ms since the epoch). */
export interface SeenVersion {
  fingerprint: string | null;
  since: number;
  /**
   * Since when (ms since the epoch) its files have been changing without settling, through
   * consecutive looks; null once they were unchanged for settleMs (or when it has no graph).
   */
  changingSince: number | null;
  /** The files that changed between the last two looks (changedFiles()). */
  changed: readonly string[];
  /** The directory's name: the version's digits, perhaps zero-padded (`001`), as TensorFlow Serving takes them. */
  dir: string;
  /** With no fingerprint: what is wrong with its graph (graphProblem()); else null. */
  noGraph: string | null;
  /**
   * Present, but this look did not read its files (Wanted passed it over): what an earlier look
   * saw, or, if none read it, a fingerprint of '' that means nothing. Taken for complete in what
   * runs are told, and not said to be skipped.
   */
  unread?: true;
}

/** @internal A look at a base path. */
export interface Look {
  /** Version directories present, ready or not. */
  readonly present: ReadonlySet<number>;
  /** Complete versions: their fingerprint, unchanged for settleMs. */
  readonly ready: ReadonlyMap<number, string>;
  /** Present versions whose files are still changing (or lack saved_model.pb). */
  readonly pending: number;
  /** What each version directory looks like now, for the next look. */
  readonly seen: Map<number, SeenVersion>;
  /** Directories named by digits whose number is past 2^53 - 1: never versions here. */
  readonly unusable: readonly string[];
  /** Some present versions were not read (Wanted): `ready` is of the versions read. */
  readonly partial: boolean;
}

/**
 * @internal Which versions a look reads the files of (its fingerprints), from the version
 * policy: the others are listed present (when they may be directories) and keep what the last
 * look that read them saw. A look reads newest first, so `latest` stops once it has the
 * versions it can serve (helper-138: 3000 old exports, each read every look, took 70 % of a core).
 */
export interface Wanted {
  /** Whether the look reads this version's files at all (a `specific` policy's versions). */
  consider(version: number): boolean;
  /** Told each version found ready, newest first: true when no older one needs reading. */
  enough(version: number): boolean;
}

/**
 * @internal Looks at the version directories under `base`: a version is ready once its
 * fingerprint is the one `seen` had, for at least `settleMs`. `wanted`: which versions to read
 * (all when left out). Throws when `base` cannot be read.
 */
export async function lookAt(base: string, seen: ReadonlyMap<number, SeenVersion>, settleMs: number, wanted?: Wanted): Promise<Look> {
  const entries = await readdir(base, { withFileTypes: true });
  const now = Date.now();
  const present = new Set<number>();
  const ready = new Map<number, string>();
  const next = new Map<number, SeenVersion>();
  let pending = 0;
  const unusable: string[] = [];
  // Each version's directory names, the one without zeros in front first: `1` wins over `001`
  // (`001` is the version when `1` is no directory).
  const canonical = (name: string) => (name === String(Number(name)) ? 0 : 1);
  const names = new Map<number, { name: string; maybeDirectory: boolean }[]>();
  for (const entry of [...entries].sort((a, b) => canonical(a.name) - canonical(b.name))) {
    const name = entry.name;
    if (!/^\d+$/.test(name)) continue;
    if (!Number.isSafeInteger(Number(name))) {
      unusable.push(name);
      continue;
    }
    const list = names.get(Number(name)) ?? [];
    list.push({ name, maybeDirectory: entry.isDirectory() || entry.isSymbolicLink() });
    names.set(Number(name), list);
  }
  let enough = false;
  let partial = false;
  for (const version of [...names.keys()].sort((a, b) => b - a)) {
    const list = names.get(version)!;
    if (enough || (wanted !== undefined && !wanted.consider(version))) {
      // Not read: present if it may be a directory, as the last look that read it saw it.
      const dir = list.find((n) => n.maybeDirectory);
      if (dir === undefined) continue;
      partial = true;
      present.add(version);
      const before = seen.get(version);
      next.set(version, before ? { ...before, unread: true } : { fingerprint: '', since: now, dir: dir.name, changingSince: null, changed: [], noGraph: null, unread: true });
      continue;
    }
    let name = '';
    let found: string | null | undefined;
    for (const candidate of list) {
      name = candidate.name;
      found = await fingerprint(path.join(base, name));
      if (found !== undefined) break;
    }
    if (found === undefined) continue;
    const print = found;
    present.add(version);
    const last = seen.get(version);
    const before = last?.unread && last.fingerprint === '' ? undefined : last;
    const since = before && before.fingerprint === print ? before.since : now;
    const settled = print !== null && before?.fingerprint === print && now - since >= settleMs;
    // A graph caught empty or missing between two looks of a spell (rewritten in place) keeps the
    // spell going (helper-115: each such look started it again, and it was never said).
    const changingSince = settled ? null : print === null ? before?.changingSince ?? null : before?.changingSince ?? now;
    const changed = before === undefined || before.fingerprint === print ? before?.changed ?? [] : changedFiles(before.fingerprint, print);
    const noGraph = print === null ? await graphProblem(path.join(base, name)) : null;
    next.set(version, { fingerprint: print, since, dir: name, changingSince, changed, noGraph });
    if (settled) {
      ready.set(version, print);
      if (wanted?.enough(version)) enough = true;
    } else {
      pending++;
    }
  }
  return { present, ready, pending, seen: next, unusable, partial };
}

/**
 * @internal Files named in a message: the first few, and how many more. A name is whatever was
 * written there: one with characters other than letters, digits and `_ . / + = @ -` is quoted,
 * each `"`, `\` and character past printable ASCII as \u{hex} (no control or bidi character
 * reaches a log: JSON.stringify leaves U+202E as it is), and one past 100 characters is cut to
 * its first 100, quoted, with "(the first 100 of its N characters)" after the quotes.
 */
export function filesSaid(files: readonly string[]): string {
  if (files.length === 0) return 'its files';
  const said = (file: string) => {
    // By code point: a cut never leaves half a surrogate pair.
    const chars = [...file];
    // Bare only when nothing in it could be read as the list's own punctuation (helper-117: a
    // name 'a, b and 3 more' or with a '"' was listed as it was), nor taken for a cut name
    // (helper-118: the cut ended in a bare '...', as a name may).
    if (chars.length <= 100 && /^[\w./+=@-]+$/.test(file)) return file;
    const escaped = chars.slice(0, 100).map((c) => (/^[\x20-\x7e]$/.test(c) && c !== '"' && c !== '\\' ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`));
    return `"${escaped.join('')}"${chars.length > 100 ? ` (the first 100 of its ${chars.length} characters)` : ''}`;
  };
  const shown = files.slice(0, 3).map(said).join(', ');
  return files.length > 3 ? `${shown} and ${files.length - 3} more` : shown;
}
