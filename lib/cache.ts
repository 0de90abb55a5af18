/**
 * The per-user cache where `tfslice install-tensorflow` provisions a TensorFlow:
 * $TFSLICE_HOME, else $XDG_CACHE_HOME/tfslice, else ~/.cache/tfslice. The active
 * install is recorded in <cache>/tensorflow/current.json, which the library reads
 * as one step of its search (lib/library.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What current.json records about the active install. */
export interface CachedInstall {
  /** The libtensorflow file to dlopen. */
  library: string;
  /** How it was provisioned. */
  from: 'pip' | 'archive';
  /** TF_Version() of the library, checked when it was installed. */
  version: string;
  /** A CUDA build (tensorflow[and-cuda] or the GPU archive) was asked for. */
  gpu: boolean;
  /** The install's directory. */
  dir: string;
}

/** The cache root (not created). */
export function cacheHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TFSLICE_HOME) return path.resolve(env.TFSLICE_HOME);
  // The XDG spec says a relative value is invalid and must be ignored.
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, 'tfslice');
  return path.join(os.homedir(), '.cache', 'tfslice');
}

/** <cache>/tensorflow/current.json. */
export function currentInstallFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheHome(env), 'tensorflow', 'current.json');
}

/** The recorded install, or why there is none usable (for the library's "tried" list). */
export function readCurrentInstall(env: NodeJS.ProcessEnv = process.env): { install: CachedInstall } | { problem: string } {
  const file = currentInstallFile(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { problem: 'no install there' };
  }
  let install: Partial<CachedInstall>;
  try {
    install = JSON.parse(text) as Partial<CachedInstall>;
  } catch (error) {
    return { problem: `unreadable (${(error as Error).message})` };
  }
  if (typeof install?.library !== 'string') return { problem: 'it names no library' };
  try {
    if (!fs.statSync(install.library).isFile()) return { problem: `${install.library} is not a file` };
  } catch {
    return { problem: `${install.library} is gone` };
  }
  return { install: install as CachedInstall };
}
