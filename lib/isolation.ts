/**
 * isolation: 'process', the parent's side. The model's session lives in a host: a child
 * Node process (lib/host.ts) with its own TensorFlow and ConfigProto. HostSession stands
 * in for the native session behind the same Model: run() copies the feeds into a shared
 * segment, sends one message, and hands out the outputs from the segment when the reply
 * comes. Runs of numeric tensors take the direct path (native/channel.h: a binary message
 * each way, served by native threads in the host); the rest go as JSON frames on fd 3. When the host dies, its runs reject with MODEL_CRASHED and the model stays
 * failed (load it again); dispose() ends the host, and its GPU memory goes with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

import { timerFor } from './abort';
import { CRASHED_ADVICE, fromNative, ModelCrashedError, ModelDisposedError, TensorFlowError } from './errors';
import { dtypeFromTf } from './dtypes';
import type { NumericDType } from './dtypes';
import { MODEL_HOST, NotStartedError } from './batching';
import { cancelRun, checkRef, CONTROL_WORDS, copyTensor, decodeReply, DIRECT_MESSAGE_BYTES, type DirectReply, encodeRun, footprint, footprintOf, monotonicMs, NO_PLAN, ProtocolError, readFrames, refFootprint, runTag, type RunWait, type SegmentRef, sendFrame, type TensorRef, Wire, writeTensor, writeTensors } from './ipc';
import type { Device } from './model';
import { native, PACKAGE_ROOT, type NativeChannel, type NativeData, type NativePlan, type NativeSession, type NativeTensors } from './native';
import type { LoadOptions } from './options';
import type { SessionConfig, SignatureInfo } from './proto';
import type { Runtime } from './library';
import { allocTensor, detachedFeed, MAX_BUFFER_BYTES, onDispose, type Tensor } from './tensor';

/** What a host reports once its model is loaded. */
export interface HostLoaded {
  pid: number;
  signatures: Record<string, SignatureInfo>;
  defaultSignature: string | null;
  devices: Device[];
  /** The ConfigProto the host's session was created with, decoded. */
  config: SessionConfig;
  tensorflowVersion: string;
}

interface HostPlan {
  id: number;
  inputs: string[];
  outputs: string[];
  /** Bytes the outputs took last time: a new segment leaves room for them after the feeds. */
  outputBytes: number;
  /** Whether its runs take the direct path: 'unknown' until the host has answered one. */
  direct: 'unknown' | 'yes' | 'no';
  /**
   * How long the last direct-path run took, in µs: a short one is polled for; 0: not known, or
   * its next run goes to the host's inter-op pool (never polled for: a poll would take a core
   * from that pool). With ops inline in the host, the round trip as measured here (a polled one
   * holds no wake-ups); with a pool, the host's own time for the request (the reply's micros),
   * since an unpolled round trip holds two wake-ups and would keep it unpolled for good: a short
   * plan runs on the host's serving thread all the same (native/session.cc).
   */
  lastMicros: number;
  /**
   * How long a direct-path run takes in the host, in µs: the median of the last three (fewer:
   * the shortest), each the reply's micros (from after any wait for a turn there), or, where the
   * host does not say (a plan on its inter-op pool), the round trip of a run not sent ahead; 0:
   * none yet. Whether a run may go ahead of its turn (mayRunAhead): a round trip alone varies with
   * whether this side polled for it (tiny: 20-450 µs), and one run the host's thread lost its core
   * in (a busy machine) must not send a short plan's next run ahead.
   */
  runMicros: number;
  /** The last three measures behind runMicros, oldest first. */
  recentMicros: number[];
}

// Adds a measure of `plan`'s run time in the host (HostPlan.runMicros).
function noteRunMicros(plan: HostPlan, micros: number): void {
  const recent = plan.recentMicros;
  if (recent.length === 3) recent.shift();
  recent.push(micros);
  const a = recent[0]!, b = recent[1] ?? a, c = recent[2] ?? Math.min(a, b);
  plan.runMicros = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}

/** What a run's reply carries, from either path. */
interface RunReply {
  outputs: TensorRef[];
  /** The host moved the slot to a bigger segment of its own. */
  segment?: SegmentRef;
}

interface Slot {
  index: number;
  buffer: ArrayBuffer;
  bytes: number;
  /** The segment as the host opens it: one of ours (we keep the fd) or one the host made. */
  ref: SegmentRef | null;
  /** The host has this segment mapped, for JSON frames and for the direct path. */
  announced: boolean;
  announcedDirect: boolean;
  /** Outputs handed out as views of this segment and not yet released. */
  views: number;
  /**
   * A run given up on (its host did not answer in time) may still write here: the slot is
   * not used again until its late answer comes.
   */
  abandoned: boolean;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  slot?: Slot;
  /** A run's backstop (#watch): its runTimeoutMs, and when it is given up on (monotonicMs). */
  limitMs?: number;
  giveUpAtMs?: number;
  /** The ticket that names it to cancelQueued() while it waits in the host (lastQueued() 3). */
  ticket?: number;
  /** Sent ahead of its turn (run()'s startBelow): it waits in the host for a turn, not for a thread. */
  ahead?: boolean;
}

const MIN_SEGMENT = 64 * 1024;
// Outputs this big are handed out as views of the segment (no copy, no fresh memory);
// the segment goes back to the pool once they are disposed or collected. Smaller ones
// are copied: cheaper than holding a segment for them.
const VIEW_MIN_BYTES = 16 * 1024;

const MAX_HELD_SEGMENTS = 2;

/**
 * How long past a run's runTimeoutMs this process waits for the host's answer (the host stops
 * the run at the limit and answers DEADLINE_EXCEEDED itself) before it gives up on the run, ms.
 */
export const HOST_GRACE_MS = 1000;
// The failures of runs given up on unanswered (#watch) → settled once each has ended in its host.
const stillInHost = new WeakMap<object, Promise<void>>();

/**
 * @internal For a run's failure: a promise settled once the run, given up on while its host did
 * not answer (DEADLINE_EXCEEDED past runTimeoutMs + HOST_GRACE_MS), has ended there (its late
 * answer came, or the host died); undefined for any other failure. The model's turn
 * (maxConcurrentRuns) stays taken until then: the run may still be executing.
 */
export function runStillInHost(error: unknown): Promise<void> | undefined {
  return typeof error === 'object' && error !== null ? stillInHost.get(error) : undefined;
}

/**
 * A run goes ahead of its turn (mayRunAhead) only when its plan's last run took this long or
 * longer in the host, in µs (HostPlan.runMicros). It waits in the host on a condition variable,
 * and the thread's wake-up costs tens of µs on a busy VM: tiny (17 µs a run) at 2 in flight fell
 * from 1.0-1.2x the calls/s of 1 in flight to 0.7-0.8x with every run sent ahead, while big_io
 * (450 µs: 4 MiB each way) rose from 0.85-0.99x to 1.05-1.33x (its outputs are copied while the
 * next run executes).
 */
const AHEAD_MIN_MICROS = 200;

/** How often runs with a limit are looked at for their backstop (#watch), ms. */
const SWEEP_MS = 100;

/** Serving threads of a host's direct path: runs in flight at once, as the libuv pool's 4 in-process. */
export const HOST_SERVE_THREADS = 4;

/**
 * Runs answered with outputs by path, and runs that failed by the path they took, across all
 * hosts of this process, feeds that crossed as a place in a shared feed segment instead of a
 * copy, and runs sent ahead of their turn (mayRunAhead) (tests and the benchmark read it).
 */
export const runPaths = { direct: 0, framed: 0, sharedFeeds: 0, directFailed: 0, framedFailed: 0, ahead: 0 };

/**
 * @internal For tests: while `on`, every run goes as a JSON frame (as runs with strings, or
 * whose message the direct path has no room for, or that find its socket full, do).
 */
export const framedOnly = { on: false };

// A view's release: dispose() calls it at once, the collector eventually; only the first counts.
const collected = new FinalizationRegistry<() => void>((release) => release());

/** Model.alloc on an isolated model: tensors this small are plain memory (a copy costs less than a segment). */
export const SHARED_MIN_BYTES = 16 * 1024;
/**
 * Shared feed segments alive at once on this thread (one descriptor each); past it, plain
 * memory. A quarter of the descriptors the process may open (RLIMIT_NOFILE) at most, so that
 * sockets, files and model loads keep theirs.
 */
export const MAX_SHARED_FEEDS = 1024;

function sharedFeedLimit(): number {
  return Math.min(MAX_SHARED_FEEDS, Math.floor(native().openFileLimit() / 4));
}

// Shared feed segments by the buffer their tensor holds: memory of this process that any of
// its hosts maps once and reads in place, so a direct-path run sends only where a feed is.
const sharedFeeds = new WeakMap<ArrayBuffer, { id: number; ref: SegmentRef }>();
let nextSharedId = 1;
let liveSharedFeeds = 0;
// Freed segments (or dropped slots) named in one message at most (4 bytes each, well within
// DIRECT_MESSAGE_BYTES).
const MAX_RELEASES = 1024;
/**
 * Free slots a host session keeps with their segments (a descriptor and a mapping each here, a
 * mapping in the host), ready for the next runs. A slot freed past them lets go of its segment in
 * both processes: a burst of runs queued at once (hundreds waiting for a slow model) otherwise
 * held as many segments for good, thousands of descriptors at the peak.
 */
export const KEPT_FREE_SLOTS = 64;
// Hosts that may hold a mapping of a shared feed segment: told when one is freed.
const liveHosts = new Set<HostSession>();

/** Shared feed segments alive in this process (tests read it). */
export function sharedFeedCount(): number {
  return liveSharedFeeds;
}

/**
 * A zero-filled tensor for an isolated model's feeds: from SHARED_MIN_BYTES on, its memory is a
 * shared segment (sealed memfd) that each host maps on first use, so a run on the direct path
 * sends its place and copies nothing; smaller ones, and any past MAX_SHARED_FEEDS alive, are
 * Tensor.alloc's. dispose() frees the segment at once (after the runs in flight that read it),
 * else the collector does; either way the hosts that mapped it unmap it.
 */
export function allocShared<N extends NumericDType>(dtype: N, shape: readonly number[]): Tensor<N> {
  let forget: (() => void) | null = null;
  const tensor = allocTensor(dtype, shape, (bytes) => {
    if (bytes < SHARED_MIN_BYTES || liveSharedFeeds >= sharedFeedLimit()) return null;
    let segment: { fd: number; buffer: ArrayBuffer };
    try {
      segment = native().shmCreate(bytes);
    } catch {
      return null; // out of descriptors or memory for a segment: plain memory still works
    }
    const id = nextSharedId;
    nextSharedId = nextSharedId >= 0xffffffff ? 1 : nextSharedId + 1;
    sharedFeeds.set(segment.buffer, { id, ref: { pid: process.pid, fd: segment.fd, bytes } });
    liveSharedFeeds++;
    let forgotten = false;
    // Holds no reference to the buffer (the registry would keep it alive otherwise).
    forget = () => {
      if (forgotten) return;
      forgotten = true;
      liveSharedFeeds--;
      for (const host of liveHosts) host.forgetShared(id);
    };
    return segment.buffer;
  });
  if (forget !== null) {
    const release = forget as () => void;
    const buffer = (tensor.data as ArrayBufferView).buffer as ArrayBuffer;
    const token = {};
    onDispose(buffer, () => {
      collected.unregister(token);
      // A run handed this tensor again after dispose() must not announce the freed descriptor.
      sharedFeeds.delete(buffer);
      native().shmRelease(buffer);
      release();
    });
    collected.register(buffer, release, token);
  }
  return tensor;
}

function segmentSize(bytes: number): number {
  let size = MIN_SEGMENT;
  while (size < bytes) size *= 2;
  return size;
}

/** The script a host runs (compiled; the host never loads TypeScript). */
export const HOST_SCRIPT = path.join(PACKAGE_ROOT, 'dist', 'host.js');

/** The options a host resolves itself, in JSON (bytes as base64; isolation dropped). */
export function hostOptions(options: number | LoadOptions | undefined): Record<string, unknown> {
  const plain: Record<string, unknown> = typeof options === 'number' ? { gpuMemoryFraction: options } : { ...options };
  delete plain.isolation;
  delete plain.maxConcurrentRuns; // the parent's Model queues runs
  delete plain.hostHangTimeoutMs; // the parent kills a hung host
  if (plain.sessionConfig instanceof Uint8Array) plain.sessionConfig = { base64: Buffer.from(plain.sessionConfig).toString('base64') };
  return plain;
}

function remoteError(frame: { code?: string; message: string }): unknown {
  // The host did not start the run: its caller's runTimeoutMs passed while it waited there.
  if (frame.code === 'NOT_STARTED') return new NotStartedError(frame.message, MODEL_HOST);
  const error = Object.assign(new Error(frame.message), { code: frame.code });
  return fromNative(error);
}

export class HostSession implements NativeSession {
  readonly #child: ChildProcess;
  readonly #socket: Socket;
  readonly #modelPath: string;
  /** Called once the host has exited: with the crash, or null when it ended through close(). */
  readonly #onExit: (crash: ModelCrashedError | null) => void;
  readonly #channel: NativeChannel;
  readonly #outbox = new Wire(new ArrayBuffer(DIRECT_MESSAGE_BYTES));
  readonly #inbox = new Wire(new ArrayBuffer(DIRECT_MESSAGE_BYTES));
  #pending = new Map<number, Pending>();
  /** Runs given up on past their runTimeoutMs (HOST_GRACE_MS): the slots they hold, by message id. */
  #late = new Map<number, Slot>();
  /** Of the runs in #late given up on unanswered: what ends their runStillInHost() promise. */
  #lateEnded = new Map<number, () => void>();
  #nextId = 1;
  #nextPlan = 1;
  /** Free slots with a segment (at most KEPT_FREE_SLOTS), and free slots without one. */
  #free: Slot[] = [];
  #bare: Slot[] = [];
  /**
   * Slots whose segments this process let go of, not yet reported to the host (both paths), in
   * the order they were dropped. One taken again before the report leaves it: its next run
   * announces a new segment, which a later drop would take from the host.
   */
  #dropped = new Set<number>();
  /** Segments held by output views. */
  #held = 0;
  #slots = 0;
  #sentPlans = new Set<number>();
  /** Shared feed segments the host's direct path has confirmed it maps (a run naming one was answered). */
  #sharedMapped = new Set<number>();
  /** Shared feed segments ever announced to the host: the ones to tell it about when freed. */
  #sharedAnnounced = new Set<number>();
  /** Freed shared feed segments not yet reported to the host. */
  #sharedReleased: number[] = [];
  #dead: string | null = null;
  /** The host's session runs ops inline: its round trip says whether to poll (HostPlan.lastMicros). */
  #inlineOps = false;
  /** hostMemoryLimitBytes, to name in a crash; 0: none. */
  #memoryLimit = 0;
  /** hostHangTimeoutMs; 0: a host is never killed as hung. */
  #hangLimit = 0;
  /** Of the runs in #late given up on unanswered: the timer that kills the host as hung (hostHangTimeoutMs). */
  #hangTimers = new Map<number, NodeJS.Timeout>();
  #closing: Promise<void> | null = null;
  #exited: Promise<void>;
  /** The control segment shared with the host: a word per slot (lib/ipc.ts CONTROL_WORDS). */
  readonly #control: { fd: number; buffer: ArrayBuffer };
  readonly #words: Int32Array;
  /** Runs that wait in the host and may be cancelled there, by ticket: their message ids. */
  #queued = new Map<number, number>();
  /** Where the last run() waits: 0 nowhere known, 1 in the host for its turn (sent ahead), 3 in the host (behind HOST_SERVE_THREADS others). */
  #lastQueued: 0 | 1 | 3 = 0;
  /** lastSentDirect(). */
  #lastSentDirect = false;
  /**
   * Runs in the host (answered or not, given up on or not) that its count of executing runs may
   * miss: framed ones (the host's JS runs them), and direct ones of a plan not yet known to stay
   * direct (a 'fallback' reply sends them again framed). No run goes ahead of its turn while any is.
   */
  #unsure = new Set<number>();
  /**
   * Direct-path messages waiting for room in the socket (full: some hundred runs wait in the host
   * already), in the order they were made: each reply lets the next ones go. They count as sent
   * (their runs wait in the host, and are cancelled the same way); a run that went framed instead
   * would be taken by the host's JS at once, and could no longer be cancelled.
   */
  #backlog: { bytes: Uint8Array; expected: number }[] = [];
  pid: number;

  private constructor(child: ChildProcess, channelFd: number, modelPath: string, onExit: (crash: ModelCrashedError | null) => void, control: { fd: number; buffer: ArrayBuffer }) {
    this.#child = child;
    this.#control = control;
    this.#words = new Int32Array(control.buffer);
    // Nothing the host sends may throw here: an exception in these callbacks would be
    // uncaught in this process. A malformed message fails this model, and only it.
    this.#channel = new (native().Channel)(channelFd, this.#inbox.bytes.buffer as ArrayBuffer, this.#outbox.bytes.buffer as ArrayBuffer,
      (length) => {
        try {
          this.#receive(decodeReply(this.#inbox, length));
          // A reply made room in the socket: messages waiting for it go now.
          if (this.#backlog.length > 0) this.#flush();
        } catch (error) {
          this.#broken(error);
        }
      });
    this.#channel.unref();
    this.#socket = child.stdio[3] as Socket;
    this.#modelPath = modelPath;
    this.#onExit = onExit;
    this.pid = child.pid ?? -1;
    // Should this thread's environment end first (a worker terminated), the addon kills and
    // reaps the host: this loop, the only one that would, is gone by then.
    const pidfd = this.pid > 0 ? native().watchChild(this.pid) : -1;
    readFrames(this.#socket, (frames) => {
      try {
        for (const frame of frames) this.#receive(frame as { op: string; id: number });
      } catch (error) {
        this.#broken(error);
      }
    }, (error) => this.#broken(error));
    this.#socket.on('error', () => { /* the exit handler reports it */ });
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        native().unwatchChild(pidfd);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        // An allocation past RLIMIT_DATA that is not a tensor's (V8's heap, a C++ new, a string
        // kernel's buffer) ends the host: SIGABRT or SIGSEGV, depending on who allocated.
        const limit = this.#memoryLimit > 0 && (signal !== null || code !== 0)
          ? ` (it had hostMemoryLimitBytes ${this.#memoryLimit}: an allocation past that limit ends the host when it is not a tensor's)` : '';
        this.#fail(`the host process of ${modelPath} (pid ${this.pid}) ${how}${limit}`);
        resolve();
      });
    });
    child.once('error', (error) => this.#fail(`the host process of ${modelPath} could not start: ${error.message}`));
  }

  /**
   * Starts a host and loads the model there. The host finds the same libtensorflow as
   * this process and inherits its environment (TF_ENABLE_ONEDNN_OPTS, CUDA_VISIBLE_DEVICES)
   * except NODE_OPTIONS. `script` is the host's program (tests put a misbehaving one there).
   */
  static async start(exportDir: string, options: number | LoadOptions | undefined, tensorflow: Runtime, inlineOps: boolean, onExit: (crash: ModelCrashedError | null) => void,
    script = HOST_SCRIPT): Promise<{ session: HostSession; loaded: HostLoaded }> {
    // The host spins as this process does (configureRuntime({ busyPollMicros }) at its start).
    const env: NodeJS.ProcessEnv = { ...process.env, TFSLICE_PARENT_PID: String(process.pid), TFSLICE_BUSY_POLL_MICROS: String(native().busyPoll()) };
    // A host is a plain Node: preloads meant for this process (test runners, APMs) could
    // catch its signals or slow its start, so they do not follow it.
    delete env.NODE_OPTIONS;
    if (tensorflow.source !== 'system') env.TFSLICE_LIBTENSORFLOW = tensorflow.path;
    // fd 3: JSON frames (control, and runs with strings); fd 4: the direct path.
    const [parentEnd, childEnd] = native().channelPair();
    let child: ChildProcess;
    let control: { fd: number; buffer: ArrayBuffer };
    try {
      control = native().shmCreate(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
      try {
        child = spawn(process.execPath, [script, native().childMarker], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', childEnd], env });
      } catch (error) {
        native().shmRelease(control.buffer);
        throw error;
      }
    } catch (error) {
      native().closeDescriptor(parentEnd);
      throw error;
    } finally {
      native().closeDescriptor(childEnd);
    }
    const session = new HostSession(child, parentEnd, exportDir, onExit, control);
    liveHosts.add(session);
    session.#memoryLimit = typeof options === 'object' && typeof options.hostMemoryLimitBytes === 'number' ? options.hostMemoryLimitBytes : 0;
    session.#hangLimit = typeof options === 'object' && typeof options.hostHangTimeoutMs === 'number' ? options.hostHangTimeoutMs : 0;
    session.#inlineOps = inlineOps;
    // The host holds no JS handle of ours: an idle model does not keep the loop alive.
    child.unref();
    (session.#socket as Socket & { unref(): void }).unref();
    try {
      const controlRef: SegmentRef = { pid: process.pid, fd: control.fd, bytes: control.buffer.byteLength };
      const loaded = await session.#call({ op: 'load', path: exportDir, options: hostOptions(options), control: controlRef }) as HostLoaded;
      return { session, loaded };
    } catch (error) {
      child.ref(); // keeps the loop alive until the exit is seen
      child.kill('SIGKILL');
      await session.#exited;
      // A host that died before answering never had a model to keep failed.
      if (error instanceof ModelCrashedError) {
        throw new ModelCrashedError(`${session.#dead} before it loaded ${exportDir} (its stderr is this process's stderr)`);
      }
      throw error;
    }
  }

  plan(inputs: string[], outputs: string[]): NativePlan {
    return { id: this.#nextPlan++, inputs, outputs, outputBytes: 0, direct: 'unknown', lastMicros: 0, runMicros: 0, recentMicros: [] } as HostPlan as unknown as NativePlan;
  }

  // waitLimitMs > 0: a run still queued in the host that long after this call is not started
  // there (code NOT_STARTED, which Model makes a NotStartedError): its caller has given up.
  // ticket ≥ 1: names the run to cancelQueued() while it waits in the host (lastQueued() 3).
  // startBelow ≥ 1: sent ahead of its turn (mayRunAhead() said it may): by the direct path only.
  async run(plan: NativePlan, feeds: NativeTensors, timeoutMs = 0, ticket = 0, waitLimitMs = 0, startBelow = 0): Promise<NativeTensors> {
    const hostPlan = plan as unknown as HostPlan;
    this.#lastQueued = 0;
    this.#lastSentDirect = false;
    if (this.#dead !== null) throw this.#crashed();
    // A run that waited for its turn in this process is copied to the host only now.
    const detached = detachedFeed(feeds, hostPlan.inputs);
    if (detached !== null) throw detached;
    const wait: RunWait | undefined = waitLimitMs > 0 ? { untilMs: monotonicMs() + waitLimitMs, limitMs: waitLimitMs } : undefined;
    // Room for every feed, though shared ones take none on the direct path: a run that goes
    // framed copies them too.
    const need = footprintOf(feeds);
    const slot = this.#slot(need, need + hostPlan.outputBytes);
    let numeric = true;
    for (let i = 2; i < feeds.length; i += 3) if (!ArrayBuffer.isView(feeds[i])) numeric = false;
    let reply: RunReply | null = null;
    let direct = false;
    try {
      direct = numeric && hostPlan.direct !== 'no' && !framedOnly.on;
      if (direct) reply = await this.#runDirect(hostPlan, slot, feeds, wait, ticket, timeoutMs, startBelow);
      direct = reply !== null;
      // Framed, it would start at once, past the run limit the host keeps for it (gone: #crashed).
      if (!direct && startBelow > 0) throw this.#dead !== null ? this.#crashed() : new TensorFlowError('INTERNAL', 'a run sent ahead of its turn could not go by the direct path');
      reply ??= await this.#runFramed(hostPlan, slot, writeTensors(slot.buffer, 0, feeds), need, timeoutMs, wait, ticket);
    } catch (error) {
      runPaths[direct ? 'directFailed' : 'framedFailed']++;
      if (this.#dead === null) {
        // The host refused the run and lives. It may have failed before mapping the segment
        // or resolving the plan: both go again with the next run (the host takes them again).
        // A segment the host made is never announced back to it (it holds it already, and
        // would close the fd that names it): the slot starts over on a new one of ours.
        if (slot.ref !== null && slot.ref.pid !== process.pid) this.#releaseSegment(slot);
        slot.announced = false;
        slot.announcedDirect = false;
        this.#sentPlans.delete(hostPlan.id);
        // A run given up on goes back to the free slots when its late answer comes.
        if (!slot.abandoned) this.#putBack(slot);
      }
      throw error;
    }
    runPaths[direct ? 'direct' : 'framed']++;
    try {
      try {
        if (reply.segment) this.#adopt(slot, reply.segment, direct);
        for (const ref of reply.outputs) checkRef(ref, slot.bytes);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        this.#broken(error);
        throw this.#crashed();
      }
      const flat: NativeTensors = [];
      // While earlier views still hold segments (outputs neither disposed nor collected yet),
      // copy instead of holding one more: a fresh segment per call costs more than a copy.
      const view = this.#held < MAX_HELD_SEGMENTS;
      hostPlan.outputBytes = 0;
      for (const ref of reply.outputs) {
        hostPlan.outputBytes += refFootprint(ref);
        flat.push(ref.dtype, ref.shape, view ? this.#output(slot, ref) : copyTensor(slot.buffer, ref));
      }
      if (slot.views > 0) this.#held++;
      return flat;
    } finally {
      if (slot.views === 0) this.#putBack(slot);
    }
  }

  // The run as one binary message, served natively in the host; null when this run
  // cannot go that way (the message would not fit, the socket is full, or the host
  // found the plan's outputs are strings): it then goes as a JSON frame.
  // Feeds in a shared feed segment (allocShared) are sent as their place in it; the rest are
  // copied into the slot.
  // `timeoutMs` > 0: TensorFlow's run timeout, as a framed run's (this side gives up
  // HOST_GRACE_MS after it).
  async #runDirect(plan: HostPlan, slot: Slot, flat: NativeTensors, wait: RunWait | undefined, ticket: number, timeoutMs: number, startBelow: number): Promise<RunReply | null> {
    const feeds: TensorRef[] = [];
    const shared: { id: number; ref: SegmentRef }[] = [];
    let used = 0;
    let inPlace = 0;
    for (let i = 0; i < flat.length; i += 3) {
      const data = flat[i + 2] as ArrayBufferView;
      const segment = sharedFeeds.get(data.buffer as ArrayBuffer);
      if (segment === undefined) {
        feeds.push(writeTensor(slot.buffer, used, flat[i] as number, flat[i + 1] as number[], data as NativeData));
        used += footprint(data as NativeData);
        continue;
      }
      feeds.push({ dtype: flat[i] as number, shape: [...(flat[i + 1] as number[])], at: data.byteOffset, bytes: data.byteLength, segment: segment.id });
      inPlace++;
      if (!this.#sharedMapped.has(segment.id) && !shared.some((s) => s.id === segment.id)) shared.push(segment);
    }
    const id = this.#nextId++;
    const released = this.#sharedReleased.slice(0, MAX_RELEASES);
    const length = encodeRun(this.#outbox, {
      id, plan: plan.id, slot: slot.index, used, feeds, shared, released, wait, timeoutMs: timeoutMs > 0 ? Math.ceil(timeoutMs) : 0, startBelow,
      segment: slot.announcedDirect ? undefined : slot.ref!,
      names: plan.direct === 'yes' ? undefined : { inputs: plan.inputs, outputs: plan.outputs },
    });
    const started = performance.now();
    if (length === 0) return null;
    this.#tag(slot, id);
    if (!this.#sendDirect(length, plan.lastMicros)) return null;
    this.#lastSentDirect = true;
    slot.announcedDirect = true;
    this.#sharedReleased.splice(0, released.length);
    for (const segment of shared) this.#sharedAnnounced.add(segment.id);
    const replied = this.#expect(id, slot);
    if (plan.direct !== 'yes') this.#unsure.add(id);
    if (startBelow > 0) runPaths.ahead++;
    this.#sent(id, slot, ticket, startBelow > 0);
    if (timeoutMs > 0) this.#watch(id, timeoutMs);
    else if (wait !== undefined) this.#watch(id, wait.limitMs);
    const reply = await replied as DirectReply;
    const roundTrip = Math.max(1, Math.round((performance.now() - started) * 1000));
    // (A run sent ahead waited for its turn in its round trip: a short plan's runs would keep
    // going ahead on their waits.)
    if (reply.op === 'done' && reply.micros > 0) noteRunMicros(plan, reply.micros);
    else if (reply.op === 'done' && startBelow === 0) noteRunMicros(plan, roundTrip);
    // With a pool, an error says nothing of where the plan's next run goes: the last done reply stands.
    if (this.#inlineOps) plan.lastMicros = roundTrip;
    else if (reply.op === 'done') plan.lastMicros = reply.micros;
    if (reply.op === 'fallback') {
      plan.direct = 'no';
      return null;
    }
    plan.direct = 'yes';
    for (const segment of shared) this.#sharedMapped.add(segment.id);
    runPaths.sharedFeeds += inPlace;
    return reply as RunReply;
  }

  /**
   * @internal A shared feed segment of this process was freed: the host unmaps it (now, or
   * with the next run when the socket is full) once no run of its reads it.
   */
  forgetShared(id: number): void {
    if (!this.#sharedAnnounced.delete(id)) return;
    this.#sharedMapped.delete(id);
    if (this.#dead !== null) return;
    this.#sharedReleased.push(id);
    this.#releasesDue();
  }

  // Once per turn of the loop: a thousand tensors disposed (or slots dropped) together go in one message.
  #releasesDue(): void {
    if (this.#sharedReleased.length + this.#dropped.size === 1) setImmediate(() => this.#sendReleases());
  }

  // Tells the host which shared feed segments to unmap, and which slots' segments to forget
  // (on both paths: JSON frames map a slot apart from the direct path), MAX_RELEASES a message.
  #sendReleases(): void {
    while (this.#dead === null && this.#sharedReleased.length + this.#dropped.size > 0) {
      const message = this.#nextId++;
      const released = this.#sharedReleased.slice(0, MAX_RELEASES);
      const dropped = [...this.#dropped].slice(0, MAX_RELEASES);
      const length = encodeRun(this.#outbox, { id: message, plan: NO_PLAN, slot: 0, used: 0, feeds: [], released, dropped });
      if (!this.#sendDirect(length, 0)) return;
      if (dropped.length > 0) sendFrame(this.#socket, { op: 'drop', slots: dropped });
      this.#sharedReleased.splice(0, released.length);
      for (const index of dropped) this.#dropped.delete(index);
      this.#expect(message).catch(() => { /* the host died: its mappings went with it */ });
    }
  }

  // A slot is free again: kept with its segment, or past KEPT_FREE_SLOTS without it (the host
  // is told to forget its mapping; the slot's next run announces a new segment).
  #putBack(slot: Slot): void {
    if (this.#free.length < KEPT_FREE_SLOTS) {
      this.#free.push(slot);
      return;
    }
    this.#releaseSegment(slot);
    slot.ref = null;
    slot.announced = false;
    slot.announcedDirect = false;
    this.#bare.push(slot);
    this.#dropped.add(slot.index);
    this.#releasesDue();
  }

  // Sends the first `length` bytes of the outbox on the direct path, or, while the socket is full
  // (or messages already wait for room), keeps a copy to send in order as replies make room
  // (#flush). False when the host is gone or the socket refused the message (it goes framed).
  #sendDirect(length: number, expected: number): boolean {
    if (this.#dead !== null) return false;
    if (this.#backlog.length === 0) {
      const sent = this.#channel.send(length, expected);
      if (sent !== 0) return sent === 1;
    }
    this.#backlog.push({ bytes: this.#outbox.bytes.slice(0, length), expected });
    return true;
  }

  // Sends the messages that waited for room, in order, until the socket is full again (or gone:
  // the host's exit then fails their runs, #fail).
  #flush(): void {
    while (this.#backlog.length > 0 && this.#dead === null) {
      const next = this.#backlog[0]!;
      this.#outbox.bytes.set(next.bytes);
      if (this.#channel.send(next.bytes.length, next.expected) !== 1) return;
      this.#backlog.shift();
    }
  }

  #runFramed(plan: HostPlan, slot: Slot, feeds: TensorRef[], used: number, timeoutMs: number, wait: RunWait | undefined, ticket: number): Promise<RunReply> {
    const message: Record<string, unknown> = { op: 'run', slot: slot.index, plan: plan.id, feeds, used };
    if (timeoutMs > 0) message.timeoutMs = timeoutMs;
    if (wait !== undefined) message.wait = wait;
    if (!this.#sentPlans.has(plan.id)) {
      message.inputs = plan.inputs;
      message.outputs = plan.outputs;
      this.#sentPlans.add(plan.id);
    }
    if (!slot.announced) message.segment = slot.ref!;
    slot.announced = true;
    return this.#call(message, slot, timeoutMs, ticket) as Promise<RunReply>;
  }

  runSync(): NativeTensors {
    throw new TensorFlowError('FAILED_PRECONDITION', `runSync() cannot reach a model in another process (${this.#modelPath} has isolation: 'process'); use run()`);
  }

  /**
   * Ends the host once its in-flight runs finished; resolves when it has exited. With
   * `killAfterMs`, a host whose runs have not finished by then is killed (SIGKILL), and those
   * runs reject with MODEL_DISPOSED.
   */
  close(killAfterMs?: number): Promise<void> {
    // Each call may set a limit, a later one too (dispose(), then dispose({ killAfterMs })).
    if (killAfterMs !== undefined && this.#dead === null) {
      const timer = setTimeout(() => {
        if (this.#dead !== null) return;
        this.#killed = true;
        this.#child.kill('SIGKILL');
      }, killAfterMs);
      void this.#exited.then(() => clearTimeout(timer));
    }
    this.#closing ??= (async () => {
      if (this.#dead === null) {
        this.#child.ref();
        // Runs sent ahead of their turn wait for one: refused at once, as runs waiting for a turn here are.
        this.#refuseWaiting(true);
        await this.#startingTaken();
        this.#refuseWaiting();
        try {
          await this.#call({ op: 'close' });
          // The host waits for this side to end before it exits (lib/host.ts): replies of runs
          // it executed may still come by the direct path, and outputs it moved to segments of
          // its own are mapped from its descriptors (helper-130).
          while (this.#dead === null && this.#pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 1));
          this.#socket.end();
        } catch {
          // It died on the way out (or was killed): the exit handler reports it.
        }
      }
      await this.#exited;
    })();
    return this.#closing;
  }

  // close()'s killAfterMs killed the host with runs still executing.
  #killed = false;

  #output(slot: Slot, ref: TensorRef): NativeData {
    const info = dtypeFromTf(ref.dtype);
    if (!info?.array || ref.bytes < VIEW_MIN_BYTES) return copyTensor(slot.buffer, ref);
    const buffer = native().shmView(slot.buffer, ref.at, ref.bytes);
    slot.views++;
    // The release must not reach the buffer, or the registry would keep it alive.
    const token = {};
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      collected.unregister(token);
      if (--slot.views > 0) return;
      this.#held--;
      if (this.#dead === null) this.#putBack(slot);
      else this.#releaseSegment(slot);
    };
    onDispose(buffer, release);
    collected.register(buffer, release, token);
    return new info.array(buffer);
  }

  // A free slot whose segment holds `need` bytes (a new segment gets room for `room`).
  #slot(need: number, room: number): Slot {
    let slot = this.#free.pop();
    if (!slot) {
      slot = this.#bare.pop();
      // Taken again before the host heard of its drop: no drop is sent for it.
      if (slot) this.#dropped.delete(slot.index);
    }
    if (!slot) slot = { index: this.#slots++, buffer: new ArrayBuffer(0), bytes: 0, ref: null, announced: false, announcedDirect: false, views: 0, abandoned: false };
    if (slot.bytes === 0 || slot.bytes < need) {
      this.#releaseSegment(slot);
      // A power of two up to the most one buffer may hold (the feeds alone may fill that).
      const { fd, buffer } = native().shmCreate(Math.max(need, Math.min(segmentSize(room), MAX_BUFFER_BYTES)));
      const ref: SegmentRef = { pid: process.pid, fd, bytes: buffer.byteLength };
      Object.assign(slot, { buffer, bytes: buffer.byteLength, ref, announced: false, announcedDirect: false });
    }
    return slot;
  }

  // The host moved the slot to a bigger segment of its own (the outputs did not fit);
  // the path that moved it has it mapped, the other one learns of it on its next run.
  #adopt(slot: Slot, segment: SegmentRef, direct: boolean): void {
    // Only a segment of the host's own: a reply naming another process's descriptor (this
    // one's, say) must not make this process map and write that file.
    if (segment?.pid !== this.pid || !Number.isSafeInteger(segment.fd) || !Number.isSafeInteger(segment.bytes) || segment.bytes <= 0) {
      throw new ProtocolError(`a segment that is not the host's (pid ${String(segment?.pid)}, fd ${String(segment?.fd)})`);
    }
    let buffer: ArrayBuffer;
    try {
      buffer = native().shmOpen(segment.pid, segment.fd, segment.bytes);
    } catch (error) {
      // The host moved on to a segment this process cannot map: the slot starts over
      // with a new segment of ours, announced to both paths. One that is not a sealed
      // segment (a file the host could truncate under the mapping) is the host's doing.
      this.#releaseSegment(slot);
      if ((error as { code?: unknown }).code === 'PERMISSION_DENIED') throw new ProtocolError((error as Error).message);
      throw error;
    }
    this.#releaseSegment(slot);
    Object.assign(slot, { buffer, bytes: segment.bytes, ref: segment, announced: !direct, announcedDirect: direct });
  }

  #releaseSegment(slot: Slot): void {
    if (slot.bytes > 0) native().shmRelease(slot.buffer);
    slot.bytes = 0;
  }

  // `timeoutMs`: the run's runTimeoutMs, which the host enforces; this side gives up
  // HOST_GRACE_MS after it (a host that is stopped, or inside an op that TensorFlow cannot
  // interrupt, answers nothing meanwhile).
  // `slot`: a run's (its word in the control segment is set); `ticket` as run()'s.
  #call(message: Record<string, unknown>, slot?: Slot, timeoutMs = 0, ticket = 0): Promise<unknown> {
    if (this.#dead !== null) return Promise.reject(this.#crashed());
    const id = this.#nextId++;
    message.id = id;
    if (slot) this.#tag(slot, id);
    sendFrame(this.#socket, message);
    const reply = this.#expect(id, slot);
    if (message.op === 'run') this.#unsure.add(id);
    if (slot) this.#sent(id, slot, ticket);
    if (timeoutMs > 0 && slot) this.#watch(id, timeoutMs);
    return reply;
  }

  // Run `id` is about to go to the host in `slot`: queued there until the host takes it.
  #tag(slot: Slot, id: number): void {
    if (slot.index < CONTROL_WORDS) Atomics.store(this.#words, slot.index, runTag(id));
  }

  // Run `id` went to the host: it waits there when HOST_SERVE_THREADS runs or more were in the
  // host before it (lastQueued() 3), or for its turn when sent ahead of it (`ahead`, lastQueued()
  // 1). Runs that start at once are not watched: a timer and a listener per run cost a fifth of a
  // tiny model's calls/s in-process at 64 in flight.
  #sent(id: number, slot: Slot, ticket: number, ahead = false): void {
    if (ahead) this.#pending.get(id)!.ahead = true;
    if (slot.index >= CONTROL_WORDS || (!ahead && this.#pending.size + this.#late.size <= HOST_SERVE_THREADS)) return;
    this.#lastQueued = ahead ? 1 : 3;
    if (ticket > 0) {
      this.#queued.set(ticket, id);
      this.#pending.get(id)!.ticket = ticket;
    }
  }

  /** Where the last run() waits: 1 in the host for its turn (sent ahead), 3 in the host behind as many runs as it has serving threads; else 0. */
  lastQueued(): 0 | 1 | 3 {
    return this.#lastQueued;
  }

  /** Whether the last run() went to the host by the direct path before it returned (its host counts it from there: mayRunAhead). */
  lastSentDirect(): boolean {
    return this.#lastSentDirect;
  }

  /**
   * Whether a run of `plan` with `feeds` may go ahead of its turn (run()'s startBelow) now: the
   * host must count every run that holds a turn (none framed, none of a plan that may still turn
   * out framed: #unsure), and this one must go by the direct path as well (numeric feeds, a plan
   * known direct, a message that fits).
   */
  mayRunAhead(plan: NativePlan, feeds: NativeTensors): boolean {
    const hostPlan = plan as unknown as HostPlan;
    if (this.#dead !== null || this.#closing !== null || this.#unsure.size > 0 || hostPlan.direct !== 'yes' || framedOnly.on || hostPlan.runMicros < AHEAD_MIN_MICROS) return false;
    // What a request takes beyond its feeds' descriptions is bounded (MAX_RELEASES, a segment):
    // 8 KiB leaves room for it; each feed takes at most 56 bytes (a shared segment's too) and 8 a dimension.
    let bytes = 8 * 1024;
    for (let i = 0; i < feeds.length; i += 3) {
      if (!ArrayBuffer.isView(feeds[i + 2])) return false;
      bytes += 56 + 8 * (feeds[i + 1] as number[]).length;
    }
    return bytes <= DIRECT_MESSAGE_BYTES;
  }

  /**
   * Takes a run that waits in the host out, if the host has not taken it yet (lib/ipc.ts
   * cancelRun): it rejects now and is never started there; its slot stays out of use until the
   * host's answer comes. False once the host took it (it runs to its end) or it ended.
   */
  cancelQueued(ticket: number): boolean {
    const id = this.#queued.get(ticket);
    if (id === undefined || this.#dead !== null) return false;
    const pending = this.#pending.get(id);
    if (pending?.slot === undefined || !cancelRun(this.#words, pending.slot.index, id)) return false;
    this.#giveUp(id, pending, pending.slot, new TensorFlowError('CANCELLED', 'the run was cancelled while it waited for its model host, and was not started'));
    return true;
  }

  /**
   * Runs sent to the host that wait there: not taken yet, past those its idle serving threads are
   * about to take (a run sent a moment ago to an idle host is not waiting). Read only when asked.
   */
  runnerQueued(): number {
    if (this.#dead !== null) return 0;
    return this.#untaken().waiting;
  }

  // Runs sent to the host that it has not taken yet (their control words still say queued), in
  // the order sent: `starting`, those its idle serving threads are about to take (slot index and
  // message id), then `waiting`, how many wait behind busy ones.
  #untaken(): { starting: [number, number][]; waiting: number } {
    const untaken: [number, number][] = [];
    let taken = 0;
    for (const [id, pending] of this.#pending) {
      const index = pending.slot?.index ?? CONTROL_WORDS;
      // One sent ahead waits for a turn, not a thread (Model counts it queued).
      if (index >= CONTROL_WORDS || pending.ahead) continue;
      if (Atomics.load(this.#words, index) === runTag(id)) untaken.push([index, id]);
      else taken++;
    }
    const idle = Math.max(0, HOST_SERVE_THREADS - taken);
    return { starting: untaken.slice(0, idle), waiting: Math.max(0, untaken.length - idle) };
  }

  // At close, once the runs sent to an idle host are taken: the runs still waiting in the host
  // (behind busy serving threads, or for room in the socket) are refused now, as in-process runs
  // waiting for a busy runner are, rather than when a serving thread frees up (never, behind runs
  // that never end; helper-84). Taken out by their control words, so the host never starts them.
  // `ahead`: only those sent ahead of their turn.
  #refuseWaiting(ahead = false): void {
    if (this.#dead !== null) return;
    for (const [id, pending] of [...this.#pending]) {
      const slot = pending.slot;
      if (ahead && pending.ahead !== true) continue;
      if (slot === undefined || slot.index >= CONTROL_WORDS || !cancelRun(this.#words, slot.index, id)) continue;
      this.#giveUp(id, pending, slot, new ModelDisposedError(`${this.#modelPath} was disposed before this run began`));
    }
  }

  // Runs sent to an idle host count as begun, as in-process runs that a free runner thread takes
  // (native/runner.cc, Admit): the close, which goes by another socket than the direct path's
  // runs, waits until the host has taken them (it begins a run as it takes it, native/channel.cc),
  // so that it cannot overtake them and refuse them. Runs waiting in the host behind busy serving
  // threads are refused by the close (MODEL_DISPOSED), as ever. Polled: a host takes a run within
  // microseconds; one that is stopped is left to killAfterMs.
  async #startingTaken(): Promise<void> {
    const starting = this.#untaken().starting;
    const untaken = ([index, id]: [number, number]) => this.#pending.has(id) && Atomics.load(this.#words, index) === runTag(id);
    while (this.#dead === null && starting.some(untaken)) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  // The reply to `id`, from either path; the child keeps the loop alive while one is due.
  #expect(id: number, slot?: Slot): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot });
      this.#child.ref();
    });
  }

  #unanswered(timeoutMs: number): TensorFlowError {
    return new TensorFlowError('DEADLINE_EXCEEDED', `the host process of ${this.#modelPath} (pid ${this.pid}) did not answer within ` +
      `${HOST_GRACE_MS} ms past this run's runTimeoutMs of ${timeoutMs} ms (it is stopped, or busy inside an op that TensorFlow cannot ` +
      'interrupt); the run may still be executing there, and keeps its turn (maxConcurrentRuns) until it has ended. The model takes further runs; ' +
      (this.#hangLimit > 0 ? `the host is killed as hung if it has not answered it ${this.#hangLimit} ms from now (hostHangTimeoutMs)`
        : 'dispose({ killAfterMs }) ends a host that never answers, and the load option hostHangTimeoutMs one that does not answer in time'));
  }

  // Rejects run `id` with DEADLINE_EXCEEDED when its host has not answered HOST_GRACE_MS past
  // its limit, on either path (inline sessions send none to the host, which cannot stop an
  // inline run). The host lives on (a stopped one may be continued): the run may still execute
  // there and write its outputs into the slot, which is kept out of use until the answer comes.
  // One sweep every SWEEP_MS while any such run is pending, not a timer per run (a server gives
  // every request a limit).
  #sweep: NodeJS.Timeout | null = null;

  #watch(id: number, limitMs: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    pending.limitMs = limitMs;
    pending.giveUpAtMs = monotonicMs() + limitMs + HOST_GRACE_MS;
    if (this.#sweep !== null) return;
    this.#sweep = setInterval(() => {
      let watched = false;
      const now = monotonicMs();
      for (const [pendingId, run] of this.#pending) {
        if (run.giveUpAtMs === undefined) continue;
        if (now < run.giveUpAtMs || this.#dead !== null || run.slot === undefined) watched = true;
        else this.#giveUp(pendingId, run, run.slot, this.#unanswered(run.limitMs!), true);
      }
      if (!watched) {
        clearInterval(this.#sweep!);
        this.#sweep = null;
      }
    }, SWEEP_MS);
    this.#sweep.unref();
  }

  // Rejects run `id` before its host answers (given up on, or cancelled while it waited there):
  // its slot, which the host may still write, is not used again until the late answer comes.
  // `executing`: given up on unanswered (#watch), it may still execute there, and holds its
  // model's turn until its answer comes or the host dies (runStillInHost).
  #giveUp(id: number, pending: Pending, slot: Slot, error: object, executing = false): void {
    this.#pending.delete(id);
    if (executing) {
      stillInHost.set(error, new Promise<void>((resolve) => this.#lateEnded.set(id, resolve)));
      if (this.#hangLimit > 0) {
        const limitMs = pending.limitMs ?? 0;
        const timer = timerFor(() => this.#hung(id, limitMs), this.#hangLimit);
        timer.unref();
        this.#hangTimers.set(id, timer);
      }
    }
    if (pending.ticket !== undefined) this.#queued.delete(pending.ticket);
    this.#unrefIfIdle();
    slot.abandoned = true;
    this.#late.set(id, slot);
    pending.reject(error);
  }

  // The child keeps this process alive while a run is due from it, or one given up on may still
  // execute there (it holds its model's turn): as long as a run in flight would.
  #unrefIfIdle(): void {
    if (this.#pending.size === 0 && this.#lateEnded.size === 0 && this.#closing === null) this.#child.unref();
  }

  // Run `id`, given up on, still unanswered hostHangTimeoutMs later: the host is killed as hung,
  // and this model fails as if it had crashed.
  #hung(id: number, limitMs: number): void {
    this.#hangTimers.delete(id);
    if (this.#dead !== null || !this.#late.has(id)) return;
    this.#child.ref(); // until its exit is seen (close() waits for it)
    this.#child.kill('SIGKILL');
    this.#fail(`the host process of ${this.#modelPath} (pid ${this.pid}) had not answered a run for ${HOST_GRACE_MS + this.#hangLimit} ms ` +
      `past its runTimeoutMs of ${limitMs} ms, and was killed as hung (hostHangTimeoutMs ${this.#hangLimit})`);
  }

  // The host broke the protocol: it cannot be trusted with another run. It is killed, and
  // this model fails as if it had crashed; nothing else in this process is touched.
  #broken(error: unknown): void {
    if (this.#dead !== null) return;
    this.#child.ref(); // until its exit is seen (close() waits for it)
    this.#child.kill('SIGKILL');
    this.#fail(`the host process of ${this.#modelPath} (pid ${this.pid}) broke the protocol (${(error as Error)?.message ?? String(error)}) and was killed`);
  }

  #receive(frame: { op: string; id: number; code?: string; message?: string }): void {
    if (typeof frame.id !== 'number') throw new ProtocolError('a frame without an id');
    this.#unsure.delete(frame.id);
    const pending = this.#pending.get(frame.id);
    if (!pending) {
      this.#lateAnswer(frame);
      return;
    }
    this.#pending.delete(frame.id);
    if (pending.ticket !== undefined) this.#queued.delete(pending.ticket);
    this.#unrefIfIdle();
    if (frame.op === 'error') pending.reject(remoteError(frame as { code?: string; message: string }));
    else if ((frame.op === 'done' && Array.isArray((frame as { outputs?: unknown }).outputs)) || frame.op === 'fallback' || frame.op === 'loaded' || frame.op === 'closed') pending.resolve(frame);
    else throw new ProtocolError(`an unexpected '${String(frame.op)}' reply`);
  }

  // The answer to a run given up on (#watch): its slot is free again, for the host too with
  // the next run that announces it (a segment the host moved it to is not taken).
  #lateAnswer(frame: { id: number }): void {
    const slot = this.#late.get(frame.id);
    if (slot === undefined) return;
    this.#late.delete(frame.id);
    this.#lateEnded.get(frame.id)?.();
    this.#lateEnded.delete(frame.id);
    clearTimeout(this.#hangTimers.get(frame.id));
    this.#hangTimers.delete(frame.id);
    this.#unrefIfIdle();
    slot.abandoned = false;
    slot.announced = false;
    slot.announcedDirect = false;
    if (slot.views === 0) this.#putBack(slot);
  }

  #crashed(): ModelCrashedError | ModelDisposedError {
    if (this.#killed) {
      // Not "after N ms": a ModelManager's stop({ killAfterMs }) waits first, then disposes with what is left (0).
      return new ModelDisposedError(`${this.#modelPath} was disposed with this run still executing when dispose's killAfterMs had passed: its host process was killed`);
    }
    // The host closed its session (dispose()) and ended: runs it had not begun (still in its
    // socket, or waiting here for room in it) are refused, as in-process.
    if (this.#closing !== null) {
      return new ModelDisposedError(`${this.#modelPath} was disposed before this run began`);
    }
    return new ModelCrashedError(`${this.#dead}; ${CRASHED_ADVICE}`);
  }

  #fail(reason: string): void {
    if (this.#dead !== null) return;
    liveHosts.delete(this);
    this.#dead = this.#closing ? `${this.#modelPath} was disposed` : reason;
    const inFlight = [...this.#pending.values()];
    this.#pending.clear();
    this.#queued.clear();
    this.#unsure.clear();
    this.#backlog = [];
    this.#channel.close();
    // Only this thread reads it (cancelQueued and runnerQueued check #dead first).
    native().shmRelease(this.#control.buffer);
    for (const slot of this.#free) this.#releaseSegment(slot);
    this.#free = [];
    for (const slot of this.#late.values()) this.#releaseSegment(slot);
    this.#late.clear();
    for (const ended of this.#lateEnded.values()) ended();
    this.#lateEnded.clear();
    for (const timer of this.#hangTimers.values()) clearTimeout(timer);
    this.#hangTimers.clear();
    const error = this.#closing ? null : new ModelCrashedError(`${reason} with ${inFlight.length} call(s) in flight; ${CRASHED_ADVICE}`);
    for (const call of inFlight) {
      if (call.slot) this.#releaseSegment(call.slot);
      call.reject(error ?? this.#crashed());
    }
    this.#onExit(this.#closing ? null : new ModelCrashedError(`${reason}; ${CRASHED_ADVICE}`));
  }
}
