/**
 * `tfslice install-tensorflow`: provisions a TensorFlow in the per-user cache
 * (lib/cache.ts) and records it in current.json, where the library looks for it.
 * --from pip: a private venv with tensorflow-cpu or tensorflow[and-cuda];
 * --from archive: the official libtensorflow C archive, downloaded and unpacked.
 * Either way the new library is loaded once in a child process before it is recorded.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Presets, SingleBar } from 'cli-progress';
import type { ReadEntry } from 'tar';

import { cacheHome, type CachedInstall, currentInstallFile } from '../cache';
import { CliError, UsageError } from './errors';

export const PIP_DEFAULT_VERSION = '2.21.0';
/** The newest official C archive we know of (they are not published for every release). */
export const ARCHIVE_DEFAULT_VERSION = '2.18.1';
export const ARCHIVE_DEFAULT_BASE_URL = 'https://storage.googleapis.com/tensorflow/versions';

export interface InstallFlags {
  gpu?: boolean;
  from: string;
  version?: string;
  dir?: string;
  baseUrl?: string;
  python: string;
  dryRun?: boolean;
  force?: boolean;
  progress?: boolean;
  json?: boolean;
}

interface Plan {
  from: 'pip' | 'archive';
  version: string;
  gpu: boolean;
  dir: string;
  /** archive: the URL; pip: the requirement. */
  what: string;
  commands: string[][];
}

const FIND_SPEC = "import importlib.util as u; s = u.find_spec('tensorflow'); " +
  "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";

const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`);

// --dir as an absolute path; a symbolic link to a directory as that directory (an install
// replaces the directory it names, which must not turn the link into a directory of its own).
function installDir(given: string): string {
  const dir = path.resolve(given);
  try {
    return fs.lstatSync(dir).isSymbolicLink() && fs.statSync(dir).isDirectory() ? fs.realpathSync(dir) : dir;
  } catch {
    return dir;
  }
}

/** Everything the install will do, decided from the flags alone. */
export function plan(flags: InstallFlags): Plan {
  if (flags.from !== 'pip' && flags.from !== 'archive') throw new UsageError(`--from ${flags.from}: expected pip or archive`);
  const from = flags.from;
  const gpu = flags.gpu === true;
  const version = flags.version ?? (from === 'pip' ? PIP_DEFAULT_VERSION : ARCHIVE_DEFAULT_VERSION);
  if (!/^\d+\.\d+(\.\d+)?([a-z0-9.+-]*)$/i.test(version)) throw new UsageError(`--version ${version}: expected a TensorFlow version such as ${PIP_DEFAULT_VERSION}`);
  if (flags.dir === '') throw new UsageError('--dir is empty; give a directory, or leave --dir out for the per-user cache');
  const dir = flags.dir !== undefined ? installDir(flags.dir) : path.join(cacheHome(), 'tensorflow', `${from}-${version}${gpu ? '-gpu' : ''}`);
  if (from === 'pip') {
    const requirement = `${gpu ? 'tensorflow[and-cuda]' : 'tensorflow-cpu'}==${version}`;
    const pipArgs = (process.env.TFSLICE_PIP_ARGS ?? '').split(/\s+/).filter(Boolean);
    const venv = path.join(dir, 'venv');
    return {
      from, version, gpu, dir, what: requirement,
      commands: [[flags.python, '-m', 'venv', venv], [path.join(venv, 'bin', 'python3'), '-m', 'pip', 'install', ...pipArgs, requirement]],
    };
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new UsageError(`--from archive: the official C archives tfslice knows are for linux-x64, this is ${process.platform}-${process.arch}; use --from pip`);
  }
  if (flags.baseUrl !== undefined && !/^https?:\/\//.test(flags.baseUrl)) throw new UsageError(`--base-url ${flags.baseUrl}: expected an http:// or https:// URL`);
  const base = (flags.baseUrl ?? process.env.TFSLICE_TF_ARCHIVE_BASE_URL ?? ARCHIVE_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const url = `${base}/${version}/libtensorflow-${gpu ? 'gpu' : 'cpu'}-linux-x86_64.tar.gz`;
  return { from, version, gpu, dir, what: url, commands: [] };
}

function progressBar(flags: InstallFlags): SingleBar | null {
  if (!(flags.progress || (!flags.json && process.stderr.isTTY === true))) return null;
  return new SingleBar({
    stream: process.stderr,
    format: 'download |{bar}| {percentage}% | {done} of {size} MiB',
    noTTYOutput: flags.progress === true,
    notTTYSchedule: 1000,
    hideCursor: true,
  }, Presets.shades_classic);
}

async function download(url: string, file: string, flags: InstallFlags): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw new CliError(`cannot download ${url}: ${cause}\nFix: check the network, set --base-url (or TFSLICE_TF_ARCHIVE_BASE_URL) to a reachable mirror, or use --from pip`);
  }
  if (!response.ok || !response.body) {
    throw new CliError(`cannot download ${url}: HTTP ${response.status} ${response.statusText}\n` +
      `Fix: official C archives exist for some TensorFlow versions only (e.g. ${ARCHIVE_DEFAULT_VERSION}); pass another --version, a mirror with --base-url, or use --from pip`);
  }
  const size = Number(response.headers.get('content-length') ?? 0);
  const bar = progressBar(flags);
  const MiB = (n: number): string => (n / 2 ** 20).toFixed(1);
  let done = 0;
  bar?.start(size || 1, 0, { done: MiB(0), size: size ? MiB(size) : '?' });
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      bar?.update(size ? done : 0, { done: MiB(done) });
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), count, fs.createWriteStream(file));
  } catch (error) {
    // helper-132: a connection cut mid-body printed undici's "TypeError: terminated" with a stack.
    const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw new CliError(`the download of ${url} broke off after ${MiB(done)} MiB${size ? ` of ${MiB(size)} MiB` : ''}: ${cause}\nFix: try again; if it keeps breaking, set --base-url (or TFSLICE_TF_ARCHIVE_BASE_URL) to a closer mirror, or use --from pip`);
  } finally {
    bar?.stop();
  }
}

/** The file a directory install-tensorflow made holds, so that it may later replace that directory (and nothing else). */
const INSTALL_MARKER = '.tfslice-install';

/**
 * Whether install-tensorflow may put an install at `dir` (and with --force, or to replace an
 * earlier archive install, remove what is there): a directory that is absent or empty, one an
 * earlier install made (INSTALL_MARKER), or the per-user cache's own directory for it. Anything
 * else is the user's (helper-132: --dir of a directory of theirs was emptied, a file replaced).
 * @throws UsageError naming --dir
 */
function checkInstallDir(dir: string, chosen: boolean): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir); // a link to a directory is that directory (installDir() resolved it)
  } catch {
    if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) throw new UsageError(`--dir ${dir} is a symbolic link to nothing; give a new or empty directory`);
    return; // absent
  }
  if (!stat.isDirectory()) throw new UsageError(`--dir ${dir} is a file, not a directory; give a new or empty directory`);
  // The marker a regular file (helper-134: a directory, or a link to /etc/passwd, named so made
  // a directory of the user's eligible for replacement).
  const marked = fs.lstatSync(path.join(dir, INSTALL_MARKER), { throwIfNoEntry: false })?.isFile() === true;
  if (!chosen || marked || fs.readdirSync(dir).length === 0) return;
  throw new UsageError(`--dir ${dir} holds files that no install-tensorflow put there, and an install would replace them; give a new or empty directory`);
}

/** An archive entry that would land, or point, outside the directory it is unpacked into. */
class UnsafeArchiveError extends CliError {
  readonly code = 'ARCHIVE_UNSAFE_ENTRY';
}

/** A tar path's components without '' and '.': "./lib//x" -> ['lib', 'x']. */
const componentsOf = (p: string): string[] => p.split('/').filter((part) => part !== '' && part !== '.');

/** Symbolic links deeper than this are refused, as the kernel refuses them (ELOOP, 40 on Linux). */
const MAX_LINK_HOPS = 40;

/**
 * Where `target`, read from the directory `dir` (components from the archive's top), leads when
 * the archive's own symbolic links are followed: 'outside' once a '..' climbs above the top.
 */
function resolveInArchive(links: ReadonlyMap<string, string>, dir: readonly string[], target: string, hops = 0): string[] | 'outside' | 'too deep' {
  if (hops > MAX_LINK_HOPS) return 'too deep';
  const at = [...dir];
  for (const part of componentsOf(target)) {
    if (part === '..') {
      if (at.length === 0) return 'outside';
      at.pop();
      continue;
    }
    at.push(part);
    const link = links.get(at.join('/'));
    if (link === undefined) continue;
    at.pop();
    const next = resolveInArchive(links, at, link, hops + 1);
    if (!Array.isArray(next)) return next;
    at.splice(0, at.length, ...next);
  }
  return at;
}

/**
 * Checks each entry of an archive before tar writes it, and every symbolic link once all are known.
 * tar's own link check refuses a link to a link (lib/libtensorflow.so -> libtensorflow.so.2, a link
 * itself), so the extraction runs with preservePaths, which turns tar's path checks off; these
 * take their place: no entry path is absolute or has a '..'; none is written through a link of
 * the archive; a hard link names a file of the archive, not a link; a symbolic link is relative
 * and, followed through the archive's other links, stays inside. Anything written then lands
 * where its path says, inside the directory.
 */
class ArchiveGuard {
  /** The archive's symbolic links so far: path (components joined by '/') -> target, in archive order. */
  private readonly links = new Map<string, string>();
  /** Each link's name as the archive spells it ("./lib/x"), for messages. */
  private readonly names = new Map<string, string>();
  private refusal: string | null = null;

  constructor(private readonly url: string) {}

  /** tar's filter: whether to write `entry`; a refused entry is remembered for check(). */
  admit(entry: { path: string; type: string; linkpath?: string }): boolean {
    const why = this.problem(entry);
    if (why === null) {
      const key = componentsOf(entry.path).join('/');
      if (entry.type === 'SymbolicLink') {
        this.links.set(key, entry.linkpath ?? '');
        this.names.set(key, entry.path);
      } else {
        this.links.delete(key); // tar replaces a link with what comes later at its path
      }
      return true;
    }
    this.refusal ??= `${this.describe(entry)}: ${why}`;
    return false;
  }

  /** Throws the first refusal, or the first symbolic link that the archive's later links make lead outside. */
  check(): void {
    if (this.refusal === null) {
      for (const [key, target] of this.links) {
        const where = resolveInArchive(this.links, componentsOf(key).slice(0, -1), target);
        if (Array.isArray(where)) continue;
        this.refusal = `${this.names.get(key)} -> ${target}: ${where === 'outside' ? "followed through the archive's other links, it leads outside the archive" : `more than ${MAX_LINK_HOPS} links deep`}`;
        break;
      }
    }
    if (this.refusal !== null) {
      throw new UnsafeArchiveError(`${this.url}: refused to unpack ${this.refusal}.\n` +
        'Fix: the official libtensorflow archives have no such entry; check that --base-url (or TFSLICE_TF_ARCHIVE_BASE_URL) names a mirror you trust');
    }
  }

  private describe(entry: { path: string; type: string; linkpath?: string }): string {
    if (entry.type === 'SymbolicLink') return `${entry.path} -> ${entry.linkpath}`;
    return entry.type === 'Link' ? `${entry.path} (a hard link to ${entry.linkpath})` : entry.path;
  }

  /** Why `entry` must not be written, or null. */
  private problem(entry: { path: string; type: string; linkpath?: string }): string | null {
    const parts = componentsOf(entry.path);
    if (entry.path.startsWith('/')) return 'its path is absolute';
    if (parts.includes('..')) return "its path climbs with '..'";
    const through = this.linkAmong(parts.slice(0, -1));
    if (through) return `its path goes through the symbolic link ${through}`;
    if (entry.type === 'Link') {
      const target = entry.linkpath ?? '';
      const targetParts = componentsOf(target);
      if (target.startsWith('/')) return 'the file it links to is an absolute path';
      if (targetParts.includes('..')) return "the file it links to climbs with '..'";
      const via = this.linkAmong(targetParts);
      if (via) return `the file it links to is, or goes through, the symbolic link ${via}`;
    }
    if (entry.type === 'SymbolicLink') {
      const target = entry.linkpath ?? '';
      if (target.startsWith('/')) return 'the link is absolute';
      if (resolveInArchive(new Map(), parts.slice(0, -1), target) === 'outside') return "the link climbs out of the archive with '..'";
    }
    return null;
  }

  /** The first of `parts`' leading paths that is a symbolic link of the archive. */
  private linkAmong(parts: readonly string[]): string | undefined {
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.links.has(prefix)) return prefix;
    }
    return undefined;
  }
}

/** Unpacks the .tar.gz `archive` into `into`; returns the library's path relative to `into`. */
async function unpack(archive: string, into: string, url: string): Promise<string> {
  fs.mkdirSync(into, { recursive: true });
  const guard = new ArchiveGuard(url);
  // Loaded here: every other command would pay for it at start.
  const tar = await import('tar');
  try {
    await tar.x({ file: archive, cwd: into, strict: true, preservePaths: true, filter: (_path, entry) => guard.admit(entry as ReadEntry) });
  } catch (error) {
    throw new CliError(`${url} is not a readable .tar.gz: ${(error as Error).message}`);
  }
  guard.check();
  const library = ['lib/libtensorflow.so.2', 'lib/libtensorflow.so'].map((p) => path.join(into, p)).find((p) => fs.existsSync(p));
  if (!library) {
    const listing = fs.readdirSync(into).join(', ') || '(nothing)';
    throw new CliError(`${url} has no lib/libtensorflow.so.2; it holds ${listing}. Is it a libtensorflow C archive?`);
  }
  return path.relative(into, library);
}

function runCommand(command: string[]): void {
  process.stderr.write(`$ ${command.map(quote).join(' ')}\n`);
  const result = spawnSync(command[0]!, command.slice(1), { stdio: ['ignore', process.stderr, process.stderr] });
  if (result.error) throw new CliError(`cannot run ${command[0]}: ${result.error.message}\nFix: install python3 with venv (e.g. apt install python3-venv), or pass --python`);
  if (result.status !== 0) {
    throw new CliError(`${command.map(quote).join(' ')} failed (exit ${result.status ?? result.signal})\n` +
      'Fix: check pip can reach its index (PIP_INDEX_URL, TFSLICE_PIP_ARGS for extra pip arguments) and that the version exists for this Python');
  }
}

/** Loads `library` in a child process (one TensorFlow per process); returns TF_Version(). */
function verify(library: string): string {
  const index = JSON.stringify(path.join(__dirname, '..', 'index.js'));
  const script = `require(${index}).loadTensorFlow().then((r) => console.log(JSON.stringify(r.tensorflowVersion)), (e) => { console.error(e.message); process.exit(1); });`;
  const env = { ...process.env, TFSLICE_LIBTENSORFLOW: library };
  const result = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new CliError(`installed ${library}, but it does not load: ${(result.stderr || result.error?.message || '').trim()}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as string;
}

function record(install: CachedInstall & Record<string, unknown>): string {
  const file = currentInstallFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(install, null, 2)}\n`);
  fs.renameSync(tmp, file);
  return file;
}

export async function installTensorflow(flags: InstallFlags): Promise<void> {
  const p = plan(flags);
  checkInstallDir(p.dir, flags.dir !== undefined);
  if (flags.dryRun) {
    const steps = p.from === 'pip'
      ? p.commands.map((c) => c.map(quote).join(' '))
      : [`download ${p.what}`, `unpack into ${p.dir}`];
    const out = { ...p, steps, record: currentInstallFile() };
    process.stdout.write(flags.json ? `${JSON.stringify(out, null, 2)}\n` : `${[...steps, `record the library in ${out.record}`].join('\n')}\n`);
    return;
  }
  // A pip install starts over in the directory; an archive install replaces it only once the
  // archive has been unpacked (helper-132: --force removed it before a download that failed).
  if (flags.force && p.from === 'pip') fs.rmSync(p.dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(p.dir), { recursive: true });
  let library: string;
  if (p.from === 'pip') {
    fs.mkdirSync(p.dir, { recursive: true });
    fs.writeFileSync(path.join(p.dir, INSTALL_MARKER), `${p.what}\n`);
    for (const command of p.commands) runCommand(command);
    const python = p.commands[1]![0]!;
    const found = spawnSync(python, ['-c', FIND_SPEC], { encoding: 'utf8' });
    const tfDir = found.status === 0 ? found.stdout.trim() : '';
    library = path.join(tfDir, 'libtensorflow_cc.so.2');
    if (!tfDir || !fs.existsSync(library)) throw new CliError(`pip installed ${p.what}, but ${python} shows no tensorflow package with libtensorflow_cc.so.2${tfDir ? ` (at ${tfDir})` : ''}`);
  } else {
    const staging = `${p.dir}.partial-${process.pid}`;
    const archive = `${staging}.tar.gz`;
    fs.rmSync(staging, { recursive: true, force: true });
    try {
      process.stderr.write(`downloading ${p.what}\n`);
      await download(p.what, archive, flags);
      const relative = await unpack(archive, staging, p.what);
      fs.writeFileSync(path.join(staging, INSTALL_MARKER), `${p.what}\n`);
      fs.rmSync(p.dir, { recursive: true, force: true });
      fs.renameSync(staging, p.dir);
      library = path.join(p.dir, relative);
    } finally {
      fs.rmSync(archive, { force: true });
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  const version = verify(library);
  const file = record({ library, from: p.from, version, gpu: p.gpu, dir: p.dir, [p.from === 'pip' ? 'requirement' : 'url']: p.what, installedAt: new Date().toISOString() });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ library, from: p.from, version, gpu: p.gpu, dir: p.dir, record: file }, null, 2)}\n`);
    return;
  }
  process.stdout.write([
    `Installed TensorFlow ${version} (${p.from}, ${p.gpu ? 'GPU' : 'CPU'}) in ${p.dir}`,
    `library  ${library}`,
    `recorded ${file}`,
    'tfslice now finds it with no env var, unless TFSLICE_LIBTENSORFLOW is set or a pip TensorFlow',
    '(./.venv, $VIRTUAL_ENV, python3 on PATH) comes first; `npx tfslice doctor` shows which one loads.',
  ].join('\n') + '\n');
}
