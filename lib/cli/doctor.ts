/**
 * `tfslice doctor`: can tfslice run here, and on what? Node and N-API, the addon
 * build, which libtensorflow was found and how, TensorFlow's version, whether it is a
 * CUDA build, the devices a session gets (with memory), how many runs of one model
 * execute at once here and why (oneDNN), the per-user cache.
 * Exit 1, with the fix, when tfslice cannot run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { cacheHome, currentInstallFile, readCurrentInstall } from '../cache';
import { configureRuntime, loadTensorFlow, type Runtime } from '../library';
import { partitions, type GpuPartitionLayout } from '../partitions';
import { loadModel } from '../model';
import { native, PACKAGE_ROOT } from '../native';
import { defaultMaxConcurrentRuns } from '../options';

interface Problem {
  what: string;
  fix: string;
}

/** Which addon file loads, and where it came from. */
function addonOrigin(): { path: string | null; origin: string } {
  if (process.env.TFSLICE_ADDON) return { path: path.resolve(process.env.TFSLICE_ADDON), origin: 'TFSLICE_ADDON' };
  try {
    const file = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(PACKAGE_ROOT);
    const prebuilt = file.split(path.sep).includes('prebuilds');
    return { path: file, origin: prebuilt ? 'prebuilt (prebuilds/)' : 'built here (node-gyp, build/Release)' };
  } catch (error) {
    return { path: null, origin: `none found (${(error as Error).message.split('\n')[0]})` };
  }
}

const SOURCES: Record<Runtime['source'], string> = {
  env: 'TFSLICE_LIBTENSORFLOW',
  python: 'a pip-installed TensorFlow (./.venv, $VIRTUAL_ENV or python3 on PATH)',
  cache: `the per-user cache of tfslice install-tensorflow`,
  system: 'the system loader (LD_LIBRARY_PATH, ld.so.cache)',
};

/** Whether the library is a CUDA build, and how we know. */
function cudaBuild(rt: Runtime, gpus: number): string {
  // A pip package says so in tensorflow/python/platform/build_info.py.
  const buildInfo = path.join(path.dirname(rt.path), 'python', 'platform', 'build_info.py');
  try {
    const text = fs.readFileSync(buildInfo, 'utf8');
    const cuda = /is_cuda_build'\s*[,:]\s*(True|False)/.exec(text)?.[1];
    const version = /cuda_version'\s*[,:]\s*'([^']*)'/.exec(text)?.[1];
    if (cuda) return `${cuda === 'True' ? `yes${version ? ` (CUDA ${version})` : ''}` : 'no'} (is_cuda_build in ${buildInfo})`;
  } catch {
    // not a pip layout
  }
  if (gpus > 0) return `yes (${gpus} GPU device${gpus === 1 ? '' : 's'} registered)`;
  const install = readCurrentInstall();
  if (rt.source === 'cache' && 'install' in install) {
    return install.install.gpu ? 'yes, as installed (tfslice install-tensorflow --gpu), but no GPU is visible' : 'no (installed without --gpu)';
  }
  return 'unknown: not a pip package, and no GPU device is registered (a CPU build, or a CUDA build without a usable GPU)';
}

/** How many runs of one model execute at once, and why (bench and doctor print it). */
export interface ConcurrencyReport {
  /** model.maxConcurrentRuns; "Infinity" (JSON has no Infinity) for no limit. */
  maxConcurrentRuns: number | 'Infinity';
  /** TensorFlow's oneDNN kernels, as TensorFlow reports them (runtime().oneDnn); null: unknown. */
  oneDnn: boolean | null;
  /** True when maxConcurrentRuns is tfslice's default for that oneDNN state. */
  isDefault: boolean;
  /** One line: the limit and why. */
  reason: string;
}

const onOff = (oneDnn: boolean | null): string => (oneDnn === null ? 'unknown' : oneDnn ? 'on' : 'off');

/** The limit a model runs under, with the reason in words. */
export function concurrencyReport(maxConcurrentRuns: number, oneDnn: boolean | null): ConcurrencyReport {
  const isDefault = maxConcurrentRuns === defaultMaxConcurrentRuns(oneDnn);
  const limit = maxConcurrentRuns === Infinity ? 'runs of a model execute in parallel'
    : `${maxConcurrentRuns === 1 ? 'one run' : `${maxConcurrentRuns} runs`} of a model at a time, the rest wait their turn`;
  let why: string;
  if (!isDefault) why = 'as maxConcurrentRuns asks';
  else if (oneDnn === false) why = "tfslice's default while TensorFlow's oneDNN kernels are off (runtime().oneDnn)";
  else {
    why = `tfslice's default while ${oneDnn ? "TensorFlow's oneDNN kernels are on (runtime().oneDnn)" : 'TensorFlow does not say whether its oneDNN kernels are on (runtime().oneDnn null)'}, ` +
      'since concurrent runs on one session have crashed inside oneDNN on some CPUs; pass maxConcurrentRuns or set ' +
      'TF_ENABLE_ONEDNN_OPTS=0 to run them in parallel (README, Concurrency)';
  }
  return {
    maxConcurrentRuns: maxConcurrentRuns === Infinity ? 'Infinity' : maxConcurrentRuns,
    oneDnn,
    isDefault,
    reason: `maxConcurrentRuns ${maxConcurrentRuns} (${limit}): ${why}`,
  };
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** A SavedModel with an empty graph: enough for a session, and so for its device list. */
function emptySavedModel(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-doctor-'));
  const tag = Buffer.from('serve');
  const metaInfo = Buffer.concat([Buffer.from([0x22, tag.length]), tag]); // MetaInfoDef.tags = ['serve']
  const metaGraph = Buffer.concat([Buffer.from([0x0a, metaInfo.length]), metaInfo]); // MetaGraphDef.meta_info_def
  const savedModel = Buffer.concat([Buffer.from([0x08, 1, 0x12, metaGraph.length]), metaGraph]); // schema 1, meta_graphs
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), savedModel);
  return dir;
}

/**
 * `--gpu-partitions` as configureRuntime's gpuPartitions: "GPU:MiB,MiB[;GPU:MiB...]", e.g.
 * "0:2048,4096;1:8192". Throws a RangeError naming the part it cannot read.
 */
export function parseGpuPartitions(spec: string): GpuPartitionLayout[] {
  return spec.split(';').filter((part) => part.trim() !== '').map((part) => {
    const match = /^\s*(\d+)\s*:\s*(\d+(?:\.\d+)?(?:\s*,\s*\d+(?:\.\d+)?)*)\s*$/.exec(part);
    if (!match) throw new RangeError(`--gpu-partitions: cannot read ${JSON.stringify(part)}; write GPU:MiB,MiB[;GPU:MiB...], e.g. 0:2048,4096;1:8192`);
    return { gpu: Number(match[1]), memoryMb: match[2]!.split(',').map((mb) => Number(mb.trim())) };
  });
}

/** Loads `dir` onto each partition and reports the limit TensorFlow applied to its device. */
async function reportPartitions(dir: string, flags: { gpuPartitions?: string; cpuPartitions?: number }, rows: [string, string][], report: Record<string, unknown>, problems: Problem[]): Promise<void> {
  try {
    if (flags.gpuPartitions !== undefined && flags.cpuPartitions !== undefined) throw new RangeError('--gpu-partitions and --cpu-partitions: give one (a process is split into GPU partitions or, as a stand-in, CPU ones)');
    configureRuntime(flags.gpuPartitions !== undefined ? { gpuPartitions: parseGpuPartitions(flags.gpuPartitions) } : { cpuPartitions: flags.cpuPartitions! });
    const found: Record<string, unknown>[] = [];
    for (const p of partitions()) {
      const model = await loadModel(dir, { partition: p.index });
      const limit = model.gpu.memoryLimitBytes;
      rows.push([p.index === 0 ? 'partitions' : '', `${p.device}${p.gpu === null ? '' : ` on GPU ${p.gpu}`}, asked ${p.memoryMb === null ? 'no limit (CPU)' : `${p.memoryMb} MiB`}, ` +
        `TensorFlow applied ${limit === null ? 'none (CPU devices share one allocator)' : mib(limit)}`]);
      found.push({ ...p, memoryLimitBytes: limit });
      await model.dispose();
    }
    report.partitions = found;
  } catch (error) {
    problems.push({
      what: `the partitions asked for do not work here: ${(error as Error).message}`,
      fix: error instanceof RangeError || error instanceof TypeError ? 'correct the layout (doctor --help)'
        : 'partitions need a GPU TensorFlow and a visible GPU; --cpu-partitions tries the same path on CPU',
    });
  }
}

export async function doctor(flags: { json?: boolean; gpuPartitions?: string; cpuPartitions?: number }): Promise<number> {
  const rows: [string, string][] = [];
  const problems: Problem[] = [];
  const report: Record<string, unknown> = {};
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string; binary?: { napi_versions?: number[] } };
  const targets = pkg.binary?.napi_versions ?? [];

  rows.push(['tfslice', `${pkg.version} (${PACKAGE_ROOT})`]);
  rows.push(['Node.js', `${process.version} on ${process.platform}-${process.arch}, N-API ${process.versions.napi}`]);
  report.tfslice = pkg.version;
  report.node = { version: process.version, napi: Number(process.versions.napi), platform: `${process.platform}-${process.arch}` };

  const addon = addonOrigin();
  rows.push(['addon', `${addon.path ?? '-'}, ${addon.origin}, targets N-API ${targets.join(', ') || '?'}`]);
  report.addon = { ...addon, napiVersions: targets };
  let addonOk = false;
  try {
    native();
    addonOk = true;
  } catch (error) {
    problems.push({
      what: `the addon does not load: ${(error as Error).message.split('\n')[0]}`,
      fix: 'rebuild it for this Node.js with `npm rebuild tfslice` (needs a C++17 compiler and python3), or set TFSLICE_ADDON to a tfslice.node that matches',
    });
  }

  const home = cacheHome();
  const cached = readCurrentInstall();
  rows.push(['cache', `${home} (${'install' in cached ? `${cached.install.from} TensorFlow ${cached.install.version} at ${cached.install.dir}` : `${currentInstallFile()}: ${cached.problem}`})`]);
  report.cache = { home, install: 'install' in cached ? cached.install : null };

  let rt: Runtime | null = null;
  if (addonOk) {
    try {
      rt = await loadTensorFlow();
    } catch (error) {
      rows.push(['libtensorflow', 'not found']);
      const fix = process.env.TFSLICE_LIBTENSORFLOW
        ? 'TFSLICE_LIBTENSORFLOW is set, so nothing else is tried: point it at a libtensorflow, or unset it (and run `npx tfslice install-tensorflow` if there is no other TensorFlow)'
        : 'run `npx tfslice install-tensorflow` (add --gpu for CUDA), or one of the solutions above';
      problems.push({ what: (error as Error).message, fix });
    }
  }
  if (rt) {
    const real = rt.path.includes(path.sep) ? fs.realpathSync(rt.path) : rt.path;
    rows.push(['libtensorflow', rt.path + (real !== rt.path ? ` (-> ${real})` : '')]);
    rows.push(['found by', rt.source === 'env' ? `TFSLICE_LIBTENSORFLOW=${process.env.TFSLICE_LIBTENSORFLOW}` : SOURCES[rt.source]]);
    rows.push(['search order', 'TFSLICE_LIBTENSORFLOW, pip TensorFlow (./.venv, $VIRTUAL_ENV, python3), the tfslice cache, the system loader']);
    rows.push(['TensorFlow', `${rt.tensorflowVersion}, oneDNN ${onOff(rt.oneDnn)}`]);
    report.tensorflow = { ...rt };
    const dir = emptySavedModel();
    const split = flags.gpuPartitions !== undefined || flags.cpuPartitions !== undefined;
    try {
      if (split) await reportPartitions(dir, flags, rows, report, problems);
      // With partitions, in-process models go onto one; when they failed, a host of its own shows the devices.
      const model = await loadModel(dir, !split ? { allowGrowth: true } : report.partitions ? { partition: 0 } : { isolation: 'process', allowGrowth: true });
      const gpus = model.devices.filter((d) => d.type === 'GPU').length;
      const cuda = cudaBuild(rt, gpus);
      rows.push(['CUDA build', cuda]);
      model.devices.forEach((d, i) => rows.push([i === 0 ? 'devices' : '', `${d.type.padEnd(4)} ${d.name}, ${mib(d.memoryBytes)}`]));
      // What a model loaded without options gets here (the limit bench runs under, too).
      const concurrency = concurrencyReport(model.maxConcurrentRuns, rt.oneDnn);
      rows.push(['concurrency', concurrency.reason]);
      report.concurrency = concurrency;
      report.tensorflow = { ...rt, cudaBuild: cuda };
      report.devices = model.devices;
      await model.dispose();
    } catch (error) {
      problems.push({
        what: `TensorFlow ${rt.tensorflowVersion} loaded but could not create a session: ${(error as Error).message}`,
        fix: 'check that the library and libtensorflow_framework.so.2 beside it come from the same TensorFlow (reinstall it)',
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  report.ok = problems.length === 0;
  report.problems = problems;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
    if (report.ok) process.stdout.write('\nOK: tfslice can load and run SavedModels here.\n');
  }
  for (const p of problems) process.stderr.write(`\ntfslice cannot run: ${p.what}\nFix: ${p.fix}\n`);
  return problems.length === 0 ? 0 : 1;
}
