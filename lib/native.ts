/**
 * The compiled addon (native/) and the shapes of what crosses into it. Loading
 * it needs no TensorFlow: the addon dlopens libtensorflow only when asked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';

/**
 * Feeds and outputs cross the addon as one flat array, a triple per tensor:
 * [dtype (TensorFlow's DataType number), shape, data, dtype, shape, data, ...].
 * Indexed elements are much cheaper through N-API than named properties.
 */
export type NativeTensors = (number | readonly number[] | NativeData)[];

/** A typed array for numeric dtypes; strings packed as all bytes plus n+1 offsets. */
export type NativeData = ArrayBufferView | PackedStrings;

export interface PackedStrings {
  bytes: Uint8Array;
  offsets: Float64Array;
}

/** Opaque handle to resolved feeds and fetches (native RunPlan). */
export type NativePlan = { readonly __brand: 'NativePlan' };

export interface NativeSession {
  plan(inputs: string[], outputs: string[]): NativePlan;
  /**
   * timeoutMs > 0: TensorFlow's run timeout (RunOptions.timeout_in_ms); DEADLINE_EXCEEDED past it.
   * ticket ≥ 1: names the run to cancelQueued() while it waits at the session's run limit, or,
   * with no run limit, for a runner thread.
   * waitLimitMs ≥ 1: a run that no runner thread has started that long after this call is not
   * started (code NOT_STARTED, "was not started": lib/model.ts's runError() makes it a
   * DEADLINE_EXCEEDED NotStartedError): for runs no run limit holds.
   * startBelow ≥ 1 (a model host, once mayRunAhead() said so): the run is sent ahead of its turn,
   * and its host starts it once fewer than that many of the runs sent before it execute there.
   */
  run(plan: NativePlan, feeds: NativeTensors, timeoutMs?: number, ticket?: number, waitLimitMs?: number, startBelow?: number): Promise<NativeTensors>;
  /**
   * A model host (isolation 'process'): whether a run of `plan` with these feeds may be sent
   * ahead of its turn now (run()'s startBelow): the host sees every run that holds a turn (all go
   * by its direct path), and this one goes that way too.
   */
  mayRunAhead?(plan: NativePlan, feeds: NativeTensors): boolean;
  /**
   * A model host: whether the last run() sent its run by the direct path before it returned
   * (false: it goes framed a moment later, or failed). The host counts such a run from when it
   * reads it, so a run sent ahead of its turn after it cannot start beside it.
   */
  lastSentDirect?(): boolean;
  runSync(plan: NativePlan, feeds: NativeTensors, timeoutMs?: number): NativeTensors;
  /**
   * An in-process session's compact form (lib/tensor.ts): `data` is the feeds' data only (the
   * one feed's itself, or an array), their dtypes and shapes in takenScratch() (writeTakenFeeds);
   * when every output is small and numeric, they are written into takenScratch() and their
   * number is returned (readTakenOutputs).
   */
  runSync(plan: NativePlan, data: NativeData | NativeData[], timeoutMs: number, compact: true): NativeTensors | number;
  /** One run traced (RunOptions SOFTWARE_TRACE); resolves the RunMetadata bytes. In-process sessions only. */
  trace?(plan: NativePlan, feeds: NativeTensors): Promise<Uint8Array>;
  /**
   * Frees the session once its runs in flight end; those still executing `killAfterMs` after
   * the call are cancelled (in-process: TF_CloseSession) or end with their host (killed). A
   * later call only sets its own limit (the earliest holds) and resolves at once in-process.
   */
  close(killAfterMs?: number): Promise<void>;
  /**
   * In-process sessions: at most `limit` run()s execute at once (0: no limit); the others wait
   * in the addon in call order, and the runner that finishes one starts the next itself
   * (native/runner.h, Gate).
   */
  setRunLimit?(limit: number): void;
  /**
   * The graph reaches no op that loops or blocks (lib/ops.ts loopingOrBlockingOp): a short plan
   * may run on the calling thread with a run timeout too (native/session.cc MayRunOnCaller).
   * In-process sessions only.
   */
  setBounded?(): void;
  /**
   * The graph reaches no op whose wait TensorFlow finds, to cancel it, by the step's cancellation
   * manager address (lib/ops.ts keyedWaitOp: queues, barriers, accumulators), or its steps run
   * on a remote worker: runs need no fresh stack address (native/session.cc AtFreshStackDepth).
   * With `outputs`: only plans fetching nothing but these output tensors need none (lib/ops.ts
   * outputsWithoutKeyedWaits); called before the first plan.
   */
  setNoKeyedWaits?(outputs?: readonly string[]): void;
  /**
   * In-process sessions with no run limit: at most `limit` (≥ 1) run()s of `plan` execute at
   * once, the others wait in the addon at a gate of the plan's own, as setRunLimit's (a batch
   * queue's numBatchThreads). Called before the plan's first run.
   */
  setPlanRunLimit?(plan: NativePlan, limit: number): void;
  /**
   * Takes a run() still waiting at the run limit, or (no limit) for a runner thread, or in its
   * model host (isolation 'process'), out (it rejects with CANCELLED): true; false once it started.
   */
  cancelQueued?(ticket: number): boolean;
  /**
   * Where the last run() of this thread waits, rather than starting now: 0 nowhere, 1 at the run
   * limit (or, sent ahead of its turn, in its model host for it), 2 for a runner thread (every
   * runner busy, or left for a busy one), 3 in its model host (isolation 'process': behind as many
   * runs as the host has serving threads).
   */
  lastQueued?(): 0 | 1 | 2 | 3;
  /**
   * This session's runs waiting for a runner thread now (every runner busy), not at the run
   * limit, and those waiting at a plan's gate (setPlanRunLimit); for a model host, its runs
   * sent and not yet taken by one of its serving threads, but for one sent ahead of its turn.
   */
  runnerQueued?(): number;
}

/** How a session is loaded besides TensorFlow's loader defaults (lib/loader.ts). */
export interface NativeLoadExtra {
  /** TF_SetTarget: "" for this process, "grpc://host:port" for a tf.distribute.Server. */
  target?: string;
  /** Load by hand: this GraphDef, imported with `device` as every node's default device. */
  graphDef?: Uint8Array;
  device?: string;
  /** Run after the import, in order (restore, init): scalar string feeds [name, value, ...]. */
  steps?: readonly { feeds: readonly string[]; target: string; what: string }[];
}

/** The parent's end of a host's direct path (native/channel.h). */
export interface NativeChannel {
  /**
   * Sends outbox[0, length) without blocking: 1 sent, 0 the socket is full (try again once a
   * reply came), -1 it is gone or refused the message. A lone request whose kind was last
   * answered within `expectedMicros` has the loop poll for the reply.
   */
  send(length: number, expectedMicros: number): 1 | 0 | -1;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeDevice {
  name: string;
  type: string;
  memoryBytes: number;
}

export interface NativeLibraryInfo {
  path: string;
  tensorflowVersion: string;
  /** TF_TensorDefaultAlignment(): feeds less aligned than this are copied by TensorFlow. */
  tensorAlignment: number;
  /** tensorflow::IsMKLEnabled(), or null when the library does not export it. */
  oneDnn: boolean | null;
}

/** Process-wide counters of the addon's copy decisions (native/tensor.h). */
export interface NativeStats {
  borrowedFeeds: number;
  copiedFeeds: number;
  wrappedOutputs: number;
  copiedOutputs: number;
  /** Outputs copied or packed on a runner thread after run(), so the JS thread only wraps them. */
  preparedOutputs: number;
  /** Buffers copyOffThread() copied on a runner thread (run()'s big echoes of feeds). */
  threadCopies: number;
  /** BYTES layouts lengthPrefixedOffThread() made on a runner thread (the server's big BYTES outputs). */
  threadLayouts: number;
  /** JS buffers TensorFlow holds right now. */
  pinnedNow: number;
  /** Times released outputs were handed back to the kernel (glibc malloc_trim). */
  trims: number;
  /** Times the free thread looked at glibc's arenas for a trim (mallinfo2): at most one per 200 ms, after each 32 MiB of released outputs. */
  arenaChecks: number;
  /** Bytes of outputs released since that look; from 32 MiB on, one is due (within 200 ms of the last). */
  releasedSinceCheck: number;
  /** Tensors the JS thread let go that the addon's free thread has not deleted yet. */
  pendingDeletes: number;
  /**
   * Copy buffers of 32 MiB or more (echoes, unaligned feeds, BYTES laid out) handed out again
   * from the up to 128 MiB the addon keeps, instead of mapped (and page-faulted) afresh.
   */
  reusedBuffers: number;
  /**
   * Bytes of those copy buffers kept now, each handed back to the system once unused for
   * keptBufferIdle() ms (10 s by default).
   */
  keptBufferBytes: number;
  /** TF_Sessions created and not yet freed, across all environments. */
  liveSessions: number;
  /**
   * Runs of sessions with an inter-op pool (interOpThreads ≥ 0) that TensorFlow executed on
   * the calling thread (RunOptions.inter_op_thread_pool -1) because the plan measured faster
   * there, and those it executed on the pool (native/session.cc, RunPlanOnce).
   */
  callerRuns: number;
  pooledRuns: number;
  /**
   * Runs of short plans (last run within the busy-poll limit) that, on a host whose cores the
   * runners executing already take (all but the JS thread's), waited for a busy runner instead
   * of waking another; and those of them that got a runner of their own after all, because the
   * runs ahead took longer than the event loop's poll for them (native/runner.cc, Deferrable).
   */
  deferredRuns: number;
  rescuedRuns: number;
  /**
   * The addon's threads (runners, free thread) that allocate from glibc's main malloc arena,
   * the main JS thread's. 0 unless the addon was loaded after the process had used up glibc's
   * arenas (8 per core) or MALLOC_ARENA_MAX is small: such a runner contends with the JS thread
   * for the arena's lock at each of TensorFlow's allocations (native/runner.h, StartThreads).
   */
  threadsOnMainArena: number;
}

export interface Binding {
  loadLibrary(path: string): Promise<NativeLibraryInfo>;
  loadLibrarySync(path: string): NativeLibraryInfo;
  runtime(): NativeLibraryInfo | null;
  /** inlineOps: the ConfigProto has inter_op_parallelism_threads < 0 (short runs are polled for). */
  loadSession(exportDir: string, tags: string[], config: Uint8Array | null, inlineOps: boolean, extra?: NativeLoadExtra): Promise<{
    session: NativeSession;
    /** The MetaGraphDef TensorFlow's loader used; null for a load by hand (graphDef given). */
    metaGraph: Uint8Array | null;
    devices: NativeDevice[];
  }>;
  /** TF_LoadLibrary of a plug-in op library (TensorFlow must be loaded); resolves its OpList bytes. */
  loadOpLibrary(path: string): Promise<Uint8Array>;
  allocAligned(bytes: number): ArrayBuffer;
  stats(): NativeStats;
  /** A runner-thread round trip that does nothing: the floor under every async run (native/runner.h). */
  asyncNoop(): Promise<void>;
  /**
   * Copies of the views' bytes (each into a new ArrayBuffer, aligned as TensorFlow wants), made
   * on a runner thread; the views stay referenced until then and must not change, be
   * transferred or shrink (resizable ArrayBuffer) meanwhile: model.ts copies feeds over
   * buffers that can change size first. `join`: one ArrayBuffer holding all the views' bytes,
   * one after the other (a big request body's chunks). RESOURCE_EXHAUSTED without memory.
   */
  copyOffThread(views: readonly ArrayBufferView[], join?: boolean): Promise<ArrayBuffer[]>;
  /**
   * A copy of the typed array's bytes, made at once in a copy buffer of the addon's (from 32 MiB
   * on, one kept from an earlier copy when there is one: no fresh pages to fault in).
   * RESOURCE_EXHAUSTED without memory.
   */
  copyNow(view: ArrayBufferView): ArrayBuffer;
  /**
   * Packed strings (string i is bytes[offsets[i], offsets[i + 1])) as KServe v2's BYTES lay them
   * out: each a 4-byte little-endian length, then its bytes. TypeError for offsets that are not
   * whole, ascending and within `bytes`.
   */
  lengthPrefixed(bytes: Uint8Array, offsets: Float64Array): ArrayBuffer;
  /**
   * lengthPrefixed() made on a runner thread: the offsets are checked here (TypeError), the
   * strings laid out there. Rejects with a TypeError if a SharedArrayBuffer's offsets changed
   * meanwhile, RESOURCE_EXHAUSTED without memory. Until it settles, neither array may be
   * transferred, nor its buffer shrunk (resizable ArrayBuffer): the runner reads them in place,
   * and only the addon's own buffers (outputs) wait for it when freed.
   */
  lengthPrefixedOffThread(bytes: Uint8Array, offsets: Float64Array): Promise<ArrayBuffer>;
  /** Sets the busy-poll limit in microseconds when given; returns the current one. */
  busyPoll(micros?: number): number;
  /**
   * Sets, when given, how long (ms) a kept big copy buffer (see `keptBufferBytes`) may stay
   * unused before the addon's free thread hands it back to the system (default 10000; 0: at
   * once); returns the current value. TypeError outside 0 to 86 400 000.
   */
  keptBufferIdle(ms?: number): number;
  /**
   * Main thread, as the process exits: no run or tensor deletion starts any more, and this
   * returns once those under way have ended (exit() then tears down TensorFlow's statics).
   * Runs still executing after 2000 ms end the process at once with `code` (_exit()).
   */
  stopForExit(code: number): void;
  /** Detaches an output's ArrayBuffer and frees TensorFlow's memory behind it now. */
  releaseBuffer(buffer: ArrayBuffer): void;
  /** The memory runSync(..., compact) writes small outputs into (64 KiB, one per environment). */
  takenScratch(): ArrayBuffer;
  /** A shared memory segment (memfd) of this process; the fd stays open while it lives. */
  shmCreate(bytes: number): { fd: number; buffer: ArrayBuffer };
  /** Maps another process's segment through /proc/<pid>/fd/<fd>. */
  shmOpen(pid: number, fd: number, bytes: number): ArrayBuffer;
  /** A buffer over part of a segment; it keeps the mapping alive until collected or detached. */
  shmView(buffer: ArrayBuffer, offset: number, bytes: number): ArrayBuffer;
  /** Detaches a segment's buffer and drops its mapping now (idempotent; views keep theirs). */
  shmRelease(buffer: ArrayBuffer): void;
  /** A SOCK_SEQPACKET socket pair for a host's direct path: [parent's end, child's end]. */
  channelPair(): [number, number];
  /** Closes an end channelPair() made. */
  closeDescriptor(fd: number): void;
  /**
   * A pidfd for the child process `pid` (one this environment spawned: a host, the Python asked
   * where TensorFlow is), or -1 where the kernel has none (before Linux 5.3). If the environment ends (a worker_thread terminated)
   * before unwatchChild(pidfd), the child is killed and reaped natively: its libuv loop is gone.
   */
  watchChild(pid: number): number;
  /** The child's exit was seen: closes its pidfd (unknown ones are ignored). */
  unwatchChild(pidfd: number): void;
  /** The soft RLIMIT_NOFILE. */
  openFileLimit(): number;
  /** In a host: native threads that serve direct-path runs on `fd` for `session` (native/channel.h). */
  /** `control`: the parent's control segment (lib/ipc.ts CONTROL_WORDS), mapped with shmOpen. */
  serveRuns(fd: number, session: NativeSession, threads: number, control?: ArrayBuffer): void;
  /** The parent's end of a direct path: onMessage(length) gets each message, copied into inbox. */
  Channel: new (fd: number, inbox: ArrayBuffer, outbox: ArrayBuffer, onMessage: (length: number) => void) => NativeChannel;
  /** SIGKILL this process when its parent dies; false when the parent is already gone. */
  setParentDeathSignal(parentPid: number): boolean;
  /** setrlimit(RLIMIT_DATA) to `bytes`, soft and hard: this process's private writable memory. */
  setDataLimit(bytes: number): void;
  /**
   * The last argument of every child process lib/ starts (model hosts, the Python asked where
   * TensorFlow is): a worker_thread's ending kills and reaps those of its children that no
   * watchChild() registered (native/addon.cc, AddUnwatchedChildren): ones its termination
   * interrupted between the spawn and that call. A fallback only: a child read while it execs
   * shows no arguments for a moment.
   */
  childMarker: string;
}

/** The package root (holds package.json, build/ and prebuilds/), from lib/ or dist/. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

let binding: Binding | undefined;

// The addon file native() loads.
function addonPath(): string {
  const explicit = process.env.TFSLICE_ADDON;
  return explicit ? path.resolve(explicit) : (require('node-gyp-build') as { path(dir: string): string }).path(PACKAGE_ROOT);
}

/**
 * The addon for this environment, loaded on first use: $TFSLICE_ADDON (a .node file, e.g. a
 * cmake-js build elsewhere) when set, otherwise what node-gyp-build picks (a matching
 * prebuild, else build/Release).
 */
export function native(): Binding {
  binding ??= require(addonPath()) as Binding;
  return binding;
}

// The copies of the addon this process has loaded, on any thread: the files mapped (Linux's
// /proc/self/maps) that are the one this thread would load now or did at require time (a
// relative $TFSLICE_ADDON moves with the working directory), or other .node files that are the
// addon (a worker may load another copy, through its own $TFSLICE_ADDON). Each copy keeps its
// own runs, so each is told to stop.
/** The symbol native/addon.cc exports by name: other copies of the addon are known by it. */
const ADDON_SYMBOL = 'tfslice_addon_marker';
/** A string in every build's read-only data (a resource name of native/session.cc): the check for files that are no 64-bit little-endian ELF. */
const ADDON_MARKER = 'tfslice:trace';
// Resolved at require only when relative: node-gyp-build's pick is absolute (the package root).
const explicitAtRequire = isMainThread && process.env.TFSLICE_ADDON ? path.resolve(process.env.TFSLICE_ADDON) : null;

// The real path of the file `file()` names (null when it names none, or throws: no build).
function realPath(file: () => string | null): string | null {
  try {
    const named = file();
    return named === null ? null : fs.realpathSync(named);
  } catch {
    return null;
  }
}

const DELETED = ' (deleted)';

/** @internal The .node files mapped in this process that are copies of the addon (process.exit()'s handler tells each to stop its runs). */
export function loadedAddons(): string[] {
  let maps: string;
  try {
    maps = fs.readFileSync('/proc/self/maps', 'latin1');
  } catch {
    return [];
  }
  const ours = new Set([realPath(() => explicitAtRequire), realPath(addonPath)]);
  // Each file is looked at once: it has a line per mapping (four or five for a library).
  const seen = new Map<string, boolean>();
  for (const line of maps.split('\n')) {
    const at = line.indexOf('/');
    if (at < 0) continue;
    // A file removed or replaced since it was mapped (a rebuild, a reinstall, a copy's directory
    // removed) is named with " (deleted)" after it (helper-142: such a copy was missed, and the
    // exit waited for its run for ever); the kernel writes a newline in a name as \012.
    const deleted = line.endsWith(DELETED);
    const file = line.slice(at, deleted ? -DELETED.length : undefined).replaceAll('\\012', '\n');
    if (!file.endsWith('.node') || seen.has(file)) continue;
    // A deleted file is read through the mapping's /proc/self/map_files entry (root only; for
    // others such a copy is known only when it was this thread's own addon, by its path).
    seen.set(file, ours.has(file) || isAddonFile(deleted ? `/proc/self/map_files/${line.slice(0, line.indexOf(' '))}` : file));
  }
  return [...seen].filter(([, addon]) => addon).map(([file]) => file);
}

/**
 * @internal Whether `file` is a build of the addon: its dynamic symbol table (ELF .dynsym's
 * string table, a few KB) names ADDON_SYMBOL. Reading every mapped .node file whole for a string
 * (once per mapping, four or five per file) cost about 1 s of CPU at each exit of a process that
 * had a 10 MB addon of another package mapped (tap's TypeScript loader, @swc/core). A file that
 * is no 64-bit little-endian ELF, or an older build of the addon (its C++ names, no symbol), is
 * searched whole for ADDON_MARKER, as before, up to 256 MiB.
 */
export function isAddonFile(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const names = dynamicSymbolNames(fd, size);
    if (names !== null && names.includes(`\0${ADDON_SYMBOL}\0`)) return true;
    // Builds from before the symbol are searched whole, but only those whose C++ names are tfslice's.
    if (names !== null && !names.includes('\0_ZN7tfslice')) return false;
    return size < 256 * 2 ** 20 && fs.readFileSync(fd).includes(ADDON_MARKER);
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The string table of an ELF64 little-endian file (open as `fd`, `size` bytes long)'s .dynsym
 * (SHT_DYNSYM's sh_link), as latin1 text; null when the file is no such ELF or has none. Reads the header, the section headers
 * (at most 4 MB) and that table (at most 16 MiB), each only where the file holds it whole.
 */
function dynamicSymbolNames(fd: number, size: number): string | null {
  const read = (position: number, length: number): Buffer | null => {
    if (position < 0 || length < 0 || position + length > size) return null;
    const buffer = Buffer.alloc(length);
    return fs.readSync(fd, buffer, 0, length, position) === length ? buffer : null;
  };
  const header = read(0, 64);
  // e_ident: the magic, ELFCLASS64 (2), ELFDATA2LSB (1); Elf64_Shdr entries are 64 bytes.
  if (header === null || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1 || header.readUInt16LE(0x3a) !== 64) return null;
  const count = header.readUInt16LE(0x3c);
  const sections = read(Number(header.readBigUInt64LE(0x28)), 64 * count);
  if (sections === null) return null;
  const section = (i: number) => ({ type: sections.readUInt32LE(i * 64 + 4), offset: Number(sections.readBigUInt64LE(i * 64 + 0x18)), size: Number(sections.readBigUInt64LE(i * 64 + 0x20)), link: sections.readUInt32LE(i * 64 + 0x28) });
  for (let i = 0; i < count; i++) {
    const { type, link } = section(i);
    if (type !== 11 /* SHT_DYNSYM */ || link >= count) continue;
    const strings = section(link);
    if (strings.size > 16 * 2 ** 20) return null;
    return read(strings.offset, strings.size)?.toString('latin1') ?? null;
  }
  return null;
}

// process.exit() with a run in flight: exit() destroys TensorFlow's static objects while a
// runner thread, or a worker inside runSync(), may still be inside TensorFlow (a segfault).
// stopForExit lets those runs end first, and cancels them past 2 s. Installed when this module
// loads on the main thread, not when the addon does: with only a worker using tfslice (the main
// thread requiring it alone), an endless runSync() there held the process's exit for ever (found
// by helper-46's trial). Only the main thread: a worker's exit ends that worker, not the process.
if (isMainThread) {
  process.once('exit', (code) => {
    const stopped = new Set<Binding>();
    if (binding !== undefined) {
      binding.stopForExit(code);
      stopped.add(binding);
    }
    for (const file of loadedAddons()) {
      let copy: Binding;
      try {
        copy = require(file) as Binding;
      } catch {
        // A copy whose file is gone: dlopen finds the library loaded under that name without the
        // file (require() looks for the file first).
        try {
          const module = { exports: {} };
          process.dlopen(module, file);
          copy = module.exports as Binding;
        } catch {
          continue;
        }
      }
      if (!stopped.has(copy) && typeof copy.stopForExit === 'function') {
        copy.stopForExit(code);
        stopped.add(copy);
      }
    }
  });
}
