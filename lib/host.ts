/**
 * A model host (isolation: 'process'): a child process with its own TensorFlow and
 * one session, driven by its parent (lib/isolation.ts). Tensors arrive and leave through
 * shared segments the two map (lib/ipc.ts): TensorFlow reads the feeds in place, and
 * each output is copied once into the segment and freed at once. Runs of numeric tensors
 * come on fd 4 and are served by native threads (native/channel.h) without this JS;
 * control and runs with strings come as JSON frames on fd 3 and are served here.
 * The host dies with its parent (PR_SET_PDEATHSIG, and the socket closing).
 */
import { Socket } from 'node:net';

import { loadTensorFlow } from './library';
import { notStartedMessage } from './batching';
import { openSession, type OpenedSession } from './model';
import { native, type NativeData, type NativePlan, type NativeTensors } from './native';
import { HOST_SERVE_THREADS } from './isolation';
import { resolveLoadOptions } from './options';
import { align, footprintOf, monotonicMs, readFrames, type RunWait, type SegmentRef, sendFrame, takeRun, type TensorRef, viewTensor, writeTensors } from './ipc';

interface Segment {
  buffer: ArrayBuffer;
  bytes: number;
  /** Set when this host made it (the slot moved here): the fd the parent knows it by. */
  fd?: number;
}

interface RunFrame {
  op: 'run';
  id: number;
  slot: number;
  plan: number;
  inputs?: string[];
  outputs?: string[];
  feeds: TensorRef[];
  /** Bytes of the segment the feeds use; outputs go after them when they fit. */
  used: number;
  /** TensorFlow's run timeout in ms (RunOptions.timeout_in_ms); absent or 0 for none. */
  timeoutMs?: number;
  /** Until when the run may start (RunWait); absent for no limit. */
  wait?: RunWait;
  segment?: SegmentRef;
}

type Frame = RunFrame | { op: 'load'; id: number; path: string; options: Record<string, unknown>; control?: SegmentRef } | { op: 'close'; id: number };

/** Slots whose segments the parent let go of (lib/isolation.ts KEPT_FREE_SLOTS): no reply. */
interface DropFrame {
  op: 'drop';
  slots: number[];
}

const socket = new Socket({ fd: 3, readable: true, writable: true });
const segments = new Map<number, Segment>();
const plans = new Map<number, NativePlan>();
let opened: OpenedSession | null = null;
let inFlight = 0;
/** The parent's control segment: a word per slot (lib/ipc.ts CONTROL_WORDS); empty without one. */
let control = new Int32Array(0);
/**
 * Framed runs executing, at most HOST_SERVE_THREADS (the runner threads' count); the others wait
 * here, in order, and are taken (takeRun) only when their turn comes: until then the parent can
 * cancel them (its caller gave up), as it can runs waiting for the direct path's threads.
 */
let framedRunning = 0;
const framedWaiting: (() => void)[] = [];

function framedTurn(): Promise<void> | undefined {
  if (framedRunning < HOST_SERVE_THREADS) {
    framedRunning++;
    return undefined;
  }
  return new Promise<void>((resolve) => framedWaiting.push(resolve));
}

// A framed run ended: its turn goes to the next waiting one.
function framedDone(): void {
  const next = framedWaiting.shift();
  if (next) next();
  else framedRunning--;
}

function reply(message: Record<string, unknown>): void {
  sendFrame(socket, message);
}

function replyError(id: number, error: unknown): void {
  const e = error as { code?: unknown; message?: unknown };
  reply({ op: 'error', id, code: typeof e?.code === 'string' ? e.code : undefined, message: String(e?.message ?? error) });
}

async function load(frame: Extract<Frame, { op: 'load' }>): Promise<void> {
  const options = { ...frame.options };
  const config = options.sessionConfig as { base64: string } | undefined;
  if (config) options.sessionConfig = new Uint8Array(Buffer.from(config.base64, 'base64'));
  // This process is the one the model is isolated in (hostOptions leaves isolation out).
  const resolved = resolveLoadOptions({ ...options, isolation: 'process' });
  // Before TensorFlow loads: all it allocates, the model's weights included, counts.
  if (resolved.hostMemoryLimitBytes > 0) native().setDataLimit(resolved.hostMemoryLimitBytes);
  const tensorflow = await loadTensorFlow();
  opened = await openSession(frame.path, resolved);
  const words = frame.control ? native().shmOpen(frame.control.pid, frame.control.fd, frame.control.bytes) : undefined;
  if (words) control = new Int32Array(words);
  // Runs of numeric tensors arrive on fd 4 and are served by native threads from here on.
  native().serveRuns(4, opened.session, HOST_SERVE_THREADS, words);
  reply({
    op: 'loaded', id: frame.id, pid: process.pid,
    signatures: opened.signatures, defaultSignature: opened.defaultSignature, devices: opened.devices,
    config: opened.config, tensorflowVersion: tensorflow.tensorflowVersion,
  });
}

function segmentFor(frame: RunFrame): Segment {
  if (frame.segment) {
    const old = segments.get(frame.slot);
    const { pid, fd, bytes } = frame.segment;
    // The segment this slot holds already (it moved to one of ours): kept, since reopening
    // it would close the fd that names it. Anything else is opened before the old one is
    // released.
    if (!(pid === process.pid && old?.fd === fd && old.bytes >= bytes)) {
      segments.delete(frame.slot); // a failed open leaves the slot unmapped, not stale
      const buffer = native().shmOpen(pid, fd, bytes);
      if (old) native().shmRelease(old.buffer);
      segments.set(frame.slot, { buffer, bytes });
    }
  }
  return segments.get(frame.slot)!;
}

// Copies the outputs into the slot's segment (a bigger one of ours when they do not
// fit after the feeds), then frees TensorFlow's buffers.
function writeOutputs(frame: RunFrame, segment: Segment, outputs: NativeTensors): Record<string, unknown> {
  const need = footprintOf(outputs);
  let target = segment;
  const at = align(frame.used);
  let moved: SegmentRef | undefined;
  if (at + need > segment.bytes) {
    // Room for these feeds and these outputs, so the next such run fits without a move.
    let bytes = segment.bytes;
    while (bytes < at + need) bytes *= 2;
    const created = native().shmCreate(bytes);
    target = { buffer: created.buffer, bytes, fd: created.fd };
    moved = { pid: process.pid, fd: created.fd, bytes };
  }
  const refs = writeTensors(target.buffer, at, outputs);
  for (let i = 2; i < outputs.length; i += 3) {
    const data = outputs[i] as NativeData;
    if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer) native().releaseBuffer(data.buffer);
  }
  if (moved) {
    native().shmRelease(segment.buffer);
    segments.set(frame.slot, target);
  }
  return { op: 'done', id: frame.id, outputs: refs, segment: moved };
}

// A run alone in its batch with nothing else in flight runs on this thread (no
// worker hand-off), unless the model's runs may wait on something (OpenedSession.mayBlock);
// runs that arrive together go to worker threads concurrently.
async function run(frame: RunFrame, alone: boolean): Promise<void> {
  const session = opened!.session;
  // The segment first: a plan that fails to resolve must not lose its announcement.
  const segment = segmentFor(frame);
  let plan = plans.get(frame.plan);
  if (!plan) {
    plan = session.plan(frame.inputs!, frame.outputs!);
    plans.set(frame.plan, plan);
  }
  const feeds: NativeTensors = [];
  for (const ref of frame.feeds) feeds.push(ref.dtype, ref.shape, ownCopy(viewTensor(segment.buffer, ref)));
  const timeout = frame.timeoutMs ?? 0;
  const waiting = framedTurn();
  if (waiting) await waiting;
  try {
    await runInTurn(frame, plan, feeds, timeout, alone);
  } finally {
    framedDone();
  }
}

async function runInTurn(frame: RunFrame, plan: NativePlan, feeds: NativeTensors, timeout: number, alone: boolean): Promise<void> {
  const session = opened!.session;
  // A run still queued when its caller's limit has passed is not started (as native/channel.cc
  // does for the direct path); one that goes to a runner thread may wait there what is left.
  let waitLeft = 0;
  if (frame.wait !== undefined && frame.wait.untilMs > 0) {
    const now = monotonicMs();
    if (now > frame.wait.untilMs) throw notStartedHere(frame.wait);
    waitLeft = Math.max(1, Math.ceil(frame.wait.untilMs - now));
  }
  // Its caller gave up while it waited here (the parent cancelled it): not started.
  if (!takeRun(control, frame.slot, frame.id)) {
    throw Object.assign(new Error('the run was cancelled while it waited for its model host, and was not started'), { code: 'CANCELLED' });
  }
  let outputs: NativeTensors;
  try {
    // Never for a model whose runs may wait on something (a queue's dequeue): this thread reads
    // the frames, and the run that would end the wait (an enqueue) would wait behind it
    // (helper-108: an enqueue waited out the dequeue's 20 s limit; without one, for good).
    outputs = alone && inFlight === 1 && !opened!.mayBlock ? session.runSync(plan, feeds, timeout) : await session.run(plan, feeds, timeout, 0, waitLeft);
  } catch (error) {
    // Not started by a runner thread here within what was left of its wait: said as the wait in
    // this host that it was, against the caller's own limit.
    if ((error as { code?: unknown }).code === 'NOT_STARTED' && frame.wait !== undefined) throw notStartedHere(frame.wait);
    throw error;
  }
  reply(writeOutputs(frame, segments.get(frame.slot)!, outputs));
}

// NOT_STARTED for a run whose caller's limit passed while it waited in this host (the parent
// makes it a NotStartedError).
function notStartedHere(wait: RunWait): Error {
  const message = notStartedMessage(monotonicMs() - wait.untilMs + wait.limitMs, 'for its model host', Math.round(wait.limitMs));
  return Object.assign(new Error(message), { code: 'NOT_STARTED' });
}

// A numeric feed in memory of its own (aligned, so TensorFlow borrows it): the slot it came in
// is the next run's, and a graph may keep a fed tensor past its run (a queue). The direct path
// moves the slot instead (native/channel.cc KeptFeeds); these runs are the rarer, framed ones.
function ownCopy(data: NativeData): NativeData {
  if (!ArrayBuffer.isView(data)) return data; // strings: TensorFlow copies them into its own layout
  const buffer = native().allocAligned(data.byteLength);
  new Uint8Array(buffer).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return new (data.constructor as new (buffer: ArrayBuffer) => typeof data)(buffer);
}

// Forgets the segments of slots the parent let go of, before any later frame is taken (a run
// that announces a new segment for one of them comes later). A slot's run has taken its feeds
// out of the segment (ownCopy) and written its outputs before the parent frees the slot.
function dropSlots(frame: DropFrame): void {
  if (!Array.isArray(frame.slots)) return;
  for (const slot of frame.slots) {
    const segment = segments.get(slot);
    if (segment === undefined) continue;
    segments.delete(slot);
    native().shmRelease(segment.buffer);
  }
}

/** How long a closed host waits for the parent to end its side (close(), lib/isolation.ts), ms. */
const CLOSE_WAIT_MS = 10_000;

async function handle(frame: Frame, alone: boolean): Promise<void> {
  inFlight++;
  try {
    if (frame.op === 'run') await run(frame, alone);
    else if (frame.op === 'load') await load(frame);
    else {
      await opened?.session.close();
      reply({ op: 'closed', id: frame.id });
      // Not yet gone: replies of runs that ended here may still be on their way by the direct
      // path (its threads send them after the session counts the runs ended), and the parent
      // maps outputs this process moved to segments of its own through /proc/<pid>/fd, which go
      // with it (helper-130: UNAVAILABLE "open /proc/<pid>/fd/<n>" for runs that had executed).
      // The parent ends its side once it has every reply (socket 'close' below exits); should
      // that not come, the host exits anyway after CLOSE_WAIT_MS.
      setTimeout(() => process.exit(0), CLOSE_WAIT_MS);
    }
  } catch (error) {
    replyError(frame.id, error);
  } finally {
    inFlight--;
  }
}

function main(): void {
  const parent = Number(process.env.TFSLICE_PARENT_PID);
  if (!native().setParentDeathSignal(parent)) process.exit(1);
  native().busyPoll(Number(process.env.TFSLICE_BUSY_POLL_MICROS ?? 100));
  readFrames(socket, (frames) => {
    const runs = frames.filter((f) => (f as unknown as Frame).op === 'run').length;
    for (const frame of frames) {
      if ((frame as unknown as DropFrame).op === 'drop') dropSlots(frame as unknown as DropFrame);
      else void handle(frame as unknown as Frame, runs === 1);
    }
  }, (error) => {
    // The parent is the host's only peer; a broken stream from it leaves nothing to serve.
    process.stderr.write(`tfslice model host: ${error.message} from the parent; exiting\n`);
    process.exit(1);
  });
  // The parent closed its end: nothing can reach this session any more.
  socket.on('close', () => process.exit(0));
  socket.on('error', () => process.exit(0));
}

main();
