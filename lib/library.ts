/**
 * Finding and loading libtensorflow. Order: $TFSLICE_LIBTENSORFLOW (a file, or a
 * directory of the pip or C-archive layout); a pip-installed TensorFlow, found by
 * asking Python where the `tensorflow` package is *without importing it* (a
 * project-local .venv first, then $VIRTUAL_ENV, then python3 on PATH); the install
 * `tfslice install-tensorflow` made in the per-user cache (lib/cache.ts); the system
 * loader path (LD_LIBRARY_PATH, ld.so.cache). One TensorFlow per process. TensorFlow's INFO
 * lines are kept quiet (TF_CPP_MIN_LOG_LEVEL=1 unless set) unless TFSLICE_TF_LOGS=1.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { currentInstallFile, readCurrentInstall } from './cache';
import { fromNative, invalidType, LibraryNotFoundError, NotFoundError, outOfRange, TensorFlowError } from './errors';
import { native, type NativeLibraryInfo } from './native';
import { configurePartitions, type GpuPartitionLayout } from './partitions';
import { decodeOpList, primeProtobuf } from './proto';

/**
 * How libtensorflow was found: 'env' from $TFSLICE_LIBTENSORFLOW, 'python' a pip-installed
 * TensorFlow (./.venv, $VIRTUAL_ENV, python3 on PATH), 'cache' the per-user install of
 * `tfslice install-tensorflow`, 'system' the system loader's path.
 */
export type LibrarySource = 'env' | 'python' | 'cache' | 'system';

/** The TensorFlow this process runs on. */
export interface Runtime {
  /** TF_Version(), e.g. "2.21.0". */
  readonly tensorflowVersion: string;
  /** The library that was dlopen'ed (a bare soname when the system loader found it). */
  readonly path: string;
  /** How it was found. */
  readonly source: LibrarySource;
  /**
   * Whether TensorFlow's oneDNN CPU kernels are on, as TensorFlow itself reports it
   * (tensorflow::IsMKLEnabled); fixed when TensorFlow loaded. Unless configured, TensorFlow
   * decides by CPU (on with AVX512-VNNI/BF16, AVX-VNNI or AMX). null when unknown.
   */
  readonly oneDnn: boolean | null;
}

/** Settings of the TensorFlow runtime and of how tfslice waits for it. */
export interface RuntimeOptions {
  /**
   * oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS), read once when TensorFlow loads.
   * TensorFlow's default is on; off made a small MLP at batch 1 faster and the same MLP
   * at batch 32 slower (README, Performance).
   */
  oneDnn?: boolean;
  /**
   * While a run() is the only one in flight, its model runs ops inline (interOpThreads
   * -1, the default, or a short plan of a model with a pool, see LoadOptions.interOpThreads)
   * and its plan's last TF_SessionRun took at most this many
   * microseconds, the event loop polls for it instead of sleeping, for at most this long
   * per run (default 100; 0 turns polling off). Waking a sleeping
   * thread costs about as much as a short run on a VM; a long run never polls. Takes
   * effect at once, at any time.
   */
  busyPollMicros?: number;
  /**
   * Experimental: splits GPUs into partitions, TensorFlow virtual devices with a memory limit and
   * an allocator each (GPUOptions.experimental.virtual_devices, config.proto), numbered in order:
   * `[{ gpu: 0, memoryMb: [2048, 4096] }]` makes /device:GPU:0 (2048 MiB) and /device:GPU:1
   * (4096 MiB) on physical GPU 0. Every in-process model must then be loaded onto one with
   * loadModel(path, { partition: 'auto' | k }); one model per partition. Set before the first
   * in-process loadModel() (FAILED_PRECONDITION after; the same layout again is accepted).
   * README, GPU partitions.
   */
  gpuPartitions?: readonly GpuPartitionLayout[];
  /**
   * Experimental stand-in for gpuPartitions on CPU: n CPU devices (device_count { CPU: n }),
   * partition k is /device:CPU:k. They share one allocator, so nothing is limited: it proves the
   * placement path without a GPU. Models loaded without `partition` load as usual.
   */
  cpuPartitions?: number;
  /**
   * How long, in ms, a copy buffer of 32 MiB or more that tfslice made and freed (an echo, an
   * unaligned feed's copy, packed string outputs) is kept for reuse before the addon's free
   * thread hands it back to the system (a whole number from 0 to 86 400 000; default 10 000; 0
   * keeps none). Up to 128 MiB are kept in all, in the process's RSS meanwhile. Takes effect at
   * once, at any time. README, "What is copied".
   */
  keptBufferIdleMs?: number;
}

const RUNTIME_OPTIONS = ['oneDnn', 'busyPollMicros', 'gpuPartitions', 'cpuPartitions', 'keptBufferIdleMs'];

/**
 * Sets runtime options. oneDnn takes effect when TensorFlow loads: set it before the
 * first loadModel(); once TensorFlow is loaded, asking for a different value throws
 * FAILED_PRECONDITION (the same value is accepted). busyPollMicros applies at once.
 * gpuPartitions / cpuPartitions: before the first in-process loadModel() (FAILED_PRECONDITION
 * after, unless the same); a bad layout throws TypeError / RangeError naming the field.
 * keptBufferIdleMs applies at once. A value of the wrong type is ERR_INVALID_ARG_TYPE (a
 * TypeError), one out of range ERR_OUT_OF_RANGE (a RangeError), an unknown key
 * ERR_INVALID_ARG_TYPE.
 */
export function configureRuntime(options: RuntimeOptions): void {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!RUNTIME_OPTIONS.includes(key)) throw invalidType(`option ${JSON.stringify(key)}`, RUNTIME_OPTIONS.join(' or '), key);
  }
  const { oneDnn, busyPollMicros, gpuPartitions, cpuPartitions, keptBufferIdleMs } = options;
  if (oneDnn !== undefined && typeof oneDnn !== 'boolean') throw invalidType('oneDnn', 'a boolean', oneDnn);
  const whole = (field: string, value: unknown, unit: string, max: number) => {
    if (typeof value !== 'number') throw invalidType(field, 'a number', value);
    if (!(Number.isInteger(value) && value >= 0 && value <= max)) throw outOfRange(field, `a whole number of ${unit} from 0 to ${max}`, value);
  };
  if (busyPollMicros !== undefined) whole('busyPollMicros', busyPollMicros, 'microseconds', 1_000_000);
  if (keptBufferIdleMs !== undefined) whole('keptBufferIdleMs', keptBufferIdleMs, 'milliseconds', 86_400_000);
  if (gpuPartitions !== undefined || cpuPartitions !== undefined) configurePartitions(gpuPartitions, cpuPartitions);
  if (oneDnn !== undefined) {
    if (current || pending) {
      const loaded = current ? current.oneDnn : null;
      if (loaded !== oneDnn) {
        const state = loaded === null ? 'loading or loaded' : `loaded with oneDNN ${loaded ? 'on' : 'off'}`;
        throw new TensorFlowError('FAILED_PRECONDITION', `TensorFlow is already ${state}; call configureRuntime() before the first loadModel()`);
      }
    } else {
      process.env.TF_ENABLE_ONEDNN_OPTS = oneDnn ? '1' : '0';
    }
  }
  if (busyPollMicros !== undefined) native().busyPoll(busyPollMicros);
  if (keptBufferIdleMs !== undefined) native().keptBufferIdle(keptBufferIdleMs);
}

interface Candidate {
  path: string;
  source: LibrarySource;
  /** Where it came from, for the "tried" list. */
  via: string;
}

/** Ask this interpreter for the tensorflow package directory. */
interface PythonQuery {
  python: string;
}

/** What an interpreter said: itself and the tensorflow package directory ('' for none), or why it could not be asked. */
type PythonAnswer = { executable: string; dir: string } | { problem: string };

/** A place a pip TensorFlow may be, named as the "tried" list names it. */
interface PythonPlace {
  label: string;
  python?: string;
  /** Why there is no interpreter to ask there. */
  problem?: string;
}

// pip wheel, official C archive (flat or with lib/), a site-packages directory.
const LAYOUTS = ['libtensorflow_cc.so.2', 'libtensorflow.so.2', 'lib/libtensorflow.so.2', 'tensorflow/libtensorflow_cc.so.2'];
const SYSTEM_SONAMES = ['libtensorflow.so.2', 'libtensorflow_cc.so.2'];
const FIND_SPEC = "import sys, importlib.util as u; s = u.find_spec('tensorflow'); print(sys.executable); " +
  "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";

function parseAnswer(stdout: string): PythonAnswer {
  const [executable = '', dir = ''] = stdout.split('\n').map((line) => line.trim());
  return { executable, dir };
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function libraryIn(dir: string): string | undefined {
  return LAYOUTS.map((layout) => path.join(dir, layout)).find(isFile);
}

function venvPlace(label: string, dir: string): PythonPlace {
  const python = path.join(dir, 'bin', 'python3');
  if (!fs.existsSync(dir)) return { label: `${label} (${dir})`, problem: 'no such directory' };
  if (!isFile(python)) return { label: `${label} (${python})`, problem: 'no such interpreter' };
  return { label: `${label} (${python})`, python };
}

// Every place a pip TensorFlow is looked for, absent ones too, so the "tried" list names each.
function pythonPlaces(): PythonPlace[] {
  const local = path.join(process.cwd(), '.venv');
  const places = [venvPlace('./.venv', local)];
  const venv = process.env.VIRTUAL_ENV;
  if (!venv) places.push({ label: '$VIRTUAL_ENV', problem: 'not set' });
  else if (path.resolve(venv) === local) places.push({ label: `$VIRTUAL_ENV=${venv}`, problem: 'the same venv as ./.venv' });
  else places.push(venvPlace(`$VIRTUAL_ENV=${venv}`, path.resolve(venv)));
  places.push({ label: 'python3 on PATH', python: 'python3' });
  return places;
}

/**
 * Every place to try, in order; each one that yields nothing is added to `tried`. Yields a
 * PythonQuery where a Python interpreter must be asked and expects its PythonAnswer back, so
 * the same search drives the async and the sync loader.
 */
function* search(tried: string[]): Generator<Candidate | PythonQuery, void, PythonAnswer | undefined> {
  const fromEnv = process.env.TFSLICE_LIBTENSORFLOW;
  if (fromEnv) {
    const file = isFile(fromEnv) ? fromEnv : libraryIn(fromEnv);
    if (file) yield { path: file, source: 'env', via: `TFSLICE_LIBTENSORFLOW=${fromEnv}` };
    else if (!fs.existsSync(fromEnv)) tried.push(`TFSLICE_LIBTENSORFLOW=${fromEnv}: no such file or directory`);
    else tried.push(`TFSLICE_LIBTENSORFLOW=${fromEnv}: no ${LAYOUTS.join(' or ')} there`);
    return; // an explicit choice is never second-guessed
  }
  tried.push('TFSLICE_LIBTENSORFLOW: not set');
  for (const place of pythonPlaces()) {
    if (!place.python) {
      tried.push(`${place.label}: ${place.problem}`);
      continue;
    }
    const answer = (yield { python: place.python }) ?? { problem: 'not asked' };
    if ('problem' in answer) {
      tried.push(`${place.label}: ${answer.problem}`);
      continue;
    }
    const label = place.python === 'python3' && answer.executable ? `${place.label} (${answer.executable})` : place.label;
    const file = answer.dir ? libraryIn(answer.dir) : undefined;
    if (file) yield { path: file, source: 'python', via: `${label} (tensorflow at ${answer.dir})` };
    else tried.push(`${label}: ${answer.dir ? `tensorflow at ${answer.dir} has no libtensorflow_cc.so.2` : 'no tensorflow package'}`);
  }
  const cached = readCurrentInstall();
  const record = currentInstallFile();
  if ('install' in cached) yield { path: cached.install.library, source: 'cache', via: `tfslice cache ${record} (${cached.install.from} TensorFlow ${cached.install.version})` };
  else tried.push(`tfslice cache ${record}: ${cached.problem}`);
  for (const soname of SYSTEM_SONAMES) yield { path: soname, source: 'system', via: `system loader (${soname})` };
}

function isQuery(step: Candidate | PythonQuery): step is PythonQuery {
  return 'python' in step;
}

// Why an interpreter could not be asked, in a few words.
function pythonProblem(error: unknown): string {
  const e = error as { code?: unknown; status?: unknown; signal?: unknown; message?: unknown };
  if (e.code === 'ENOENT') return 'not found';
  if (e.code === 'ETIMEDOUT' || e.signal === 'SIGTERM') return 'did not answer within 30 s';
  const status = typeof e.status === 'number' ? e.status : e.code; // execFileSync / execFile
  if (typeof status === 'number') return `could not be asked (it exited with status ${status})`;
  if (typeof e.signal === 'string') return `could not be asked (killed by ${e.signal})`;
  return `could not be asked (${String(e.message ?? error).split('\n')[0]})`;
}

function notFound(tried: string[]): LibraryNotFoundError {
  const message = [
    'tfslice could not load libtensorflow. Tried:',
    ...tried.map((t) => `  - ${t}`),
    'Possible solutions:',
    '  1. Install TensorFlow with pip, e.g. `python3 -m venv .venv && .venv/bin/pip install tensorflow-cpu`',
    '     (or tensorflow[and-cuda] on a CUDA host); tfslice finds ./.venv, $VIRTUAL_ENV and python3 on PATH.',
    '  2. Set TFSLICE_LIBTENSORFLOW to libtensorflow_cc.so.2 / libtensorflow.so.2, or to the directory',
    '     of a pip tensorflow package or an unpacked libtensorflow C archive.',
    '  3. Run `npx tfslice install-tensorflow` (add --gpu for CUDA): it installs a TensorFlow in the per-user',
    '     cache ($TFSLICE_HOME, else $XDG_CACHE_HOME/tfslice, else ~/.cache/tfslice), found with no env var.',
  ].join('\n');
  const incompatible = tried.some((t) => t.includes('missing symbol'));
  return new LibraryNotFoundError(message, tried, incompatible ? 'LIBRARY_INCOMPATIBLE' : 'LIBRARY_NOT_FOUND');
}

let current: Runtime | undefined;
let pending: Promise<Runtime> | undefined;

// TensorFlow logs every SavedModel load at INFO: keep its warnings and errors only, unless
// the user chose a level (TF_CPP_MIN_LOG_LEVEL) or asked for TensorFlow's own logs
// (TFSLICE_TF_LOGS=1). The addon holds the lines TensorFlow prints while it loads, before it
// reads the level itself, to the same level (native/tf_api.cc). Hosts inherit the env.
function quietTensorFlowLogs(): void {
  if (process.env.TFSLICE_TF_LOGS === '1') return;
  if (!process.env.TF_CPP_MIN_LOG_LEVEL) process.env.TF_CPP_MIN_LOG_LEVEL = '1';
}

function adopt(candidate: Candidate, info: NativeLibraryInfo): Runtime {
  current = Object.freeze({ tensorflowVersion: info.tensorflowVersion, path: candidate.path, source: candidate.source, oneDnn: info.oneDnn });
  return current;
}

/** Finds and loads libtensorflow off the event loop; later calls return the same runtime. */
export function loadTensorFlow(): Promise<Runtime> {
  if (current) return Promise.resolve(current);
  pending ??= (async () => {
    quietTensorFlowLogs();
    const tried: string[] = [];
    const steps = search(tried);
    let step = steps.next();
    while (!step.done) {
      const value = step.value;
      if (isQuery(value)) {
        const answer = await new Promise<PythonAnswer>((resolve) => {
          // A worker_thread terminated meanwhile kills and reaps it (its loop would have): by its
          // pidfd (watchChild), or, terminated before that call, by the marker.
          const child = execFile(value.python, ['-c', FIND_SPEC, native().childMarker], { timeout: 30_000 }, (error, stdout) => {
            native().unwatchChild(pidfd);
            resolve(error ? { problem: pythonProblem(error) } : parseAnswer(stdout));
          });
          const pidfd = child.pid === undefined ? -1 : native().watchChild(child.pid);
        });
        step = steps.next(answer);
        continue;
      }
      try {
        const loading = native().loadLibrary(value.path);
        try {
          primeProtobuf(); // on this thread, while dlopen runs on a worker
        } catch {
          // Only a head start (helper-141: where code generation is refused, as under
          // --disallow-code-generation-from-strings, this threw and read as LIBRARY_NOT_FOUND):
          // each decode that needs a type sets it up itself, and says so if it cannot.
        }
        const info = await loading;
        return adopt(value, info);
      } catch (error) {
        tried.push(`${value.via}: ${(error as Error).message}`);
      }
      step = steps.next();
    }
    throw notFound(tried);
  })().finally(() => {
    pending = undefined;
  });
  return pending;
}

/**
 * The loaded TensorFlow. When none is loaded yet this finds and loads it
 * synchronously (blocking for the few hundred ms dlopen takes): prefer
 * `await loadTensorFlow()` in a server.
 */
export function runtime(): Runtime {
  if (current) return current;
  quietTensorFlowLogs();
  const tried: string[] = [];
  const steps = search(tried);
  let step = steps.next();
  while (!step.done) {
    const value = step.value;
    if (isQuery(value)) {
      let answer: PythonAnswer;
      try {
        answer = parseAnswer(execFileSync(value.python, ['-c', FIND_SPEC], { timeout: 30_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
      } catch (error) {
        answer = { problem: pythonProblem(error) };
      }
      step = steps.next(answer);
      continue;
    }
    try {
      const info = native().loadLibrarySync(value.path);
      return adopt(value, info);
    } catch (error) {
      tried.push(`${value.via}: ${(error as Error).message}`);
    }
    step = steps.next();
  }
  throw notFound(tried);
}

const opLibraries = new Map<string, Promise<readonly string[]>>();
const libraryOps = new Set<string>();

/** @internal The op types that op libraries loaded into this process registered (loadOpLibrary). */
export function opLibraryOps(): ReadonlySet<string> {
  return libraryOps;
}

/**
 * Loads a plug-in library of TensorFlow ops and kernels (TF_LoadLibrary), such as
 * tensorflow_text's `_*_ops.so` or sentencepiece's, into this process's TensorFlow, so
 * SavedModels that use its ops load. Off the event loop; loads TensorFlow first if needed.
 * A library stays loaded for the life of the process (TensorFlow cannot unregister ops);
 * loading the same path again returns the same names. Models with isolation: 'process'
 * take the option `opLibraries` instead (their TensorFlow is the host's).
 *
 * @param libraryPath the shared library (.so), built against this TensorFlow version
 * @returns the names of the ops it registered
 * @throws NOT_FOUND (no such file), or TensorFlow's code when it cannot load it (a library
 *   built for another TensorFlow typically fails with an undefined symbol)
 */
export function loadOpLibrary(libraryPath: string): Promise<readonly string[]> {
  if (typeof libraryPath !== 'string' || libraryPath === '' || libraryPath.includes('\0')) return Promise.reject(invalidType('libraryPath', 'a path to a shared library (without NUL characters)', libraryPath));
  const resolved = path.resolve(libraryPath);
  let loading = opLibraries.get(resolved);
  if (!loading) {
    loading = (async () => {
      await loadTensorFlow();
      if (!isFile(resolved)) throw new NotFoundError(`op library ${resolved} ${fs.existsSync(resolved) ? 'is not a file (pass the shared library itself, a .so file)' : 'does not exist'}`);
      try {
        const names = Object.freeze(decodeOpList(await native().loadOpLibrary(resolved)));
        for (const name of names) libraryOps.add(name);
        return names;
      } catch (error) {
        throw fromNative(error, `loading op library ${resolved}`);
      }
    })();
    loading.catch(() => opLibraries.delete(resolved)); // a failure may be fixed and retried
    opLibraries.set(resolved, loading);
  }
  return loading;
}
