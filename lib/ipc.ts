/**
 * The wire between a parent and a model host (isolation: 'process'): length-prefixed
 * JSON frames on a socket for control, tensor bytes in shared memory (native/shm.h).
 * A frame carries only metadata (dtypes, shapes, offsets), so its size does not grow
 * with a tensor's, and no element is touched on the way.
 */
import type { Socket } from 'node:net';

import { dtypeFromTf } from './dtypes';
import { InvalidArgumentError } from './errors';
import type { NativeData, NativeTensors, PackedStrings } from './native';
import { elementCount } from './tensor';

/** Where a tensor's bytes are in a segment. Strings: offsets (n+1 float64) then bytes. */
export interface TensorRef {
  dtype: number;
  shape: number[];
  /** Byte offset of the data (numeric) or of the n+1 offsets (strings). */
  at: number;
  /** Bytes of numeric data, or of the string bytes. */
  bytes: number;
  /** Strings only: byte offset of the packed string bytes. */
  strings?: number;
  /** Direct-path feeds only: the shared feed segment the bytes are in (absent: the run's slot). */
  segment?: number;
}

/** A shared segment as the peer opens it: /proc/<pid>/fd/<fd>, <bytes> long. */
export interface SegmentRef {
  pid: number;
  fd: number;
  bytes: number;
}

export const ALIGNMENT = 64;

export function align(n: number): number {
  return Math.ceil(n / ALIGNMENT) * ALIGNMENT;
}

function isPacked(data: NativeData): data is PackedStrings {
  return !ArrayBuffer.isView(data);
}

/** Bytes a tensor takes in a segment, alignment included. */
export function footprint(data: NativeData): number {
  return isPacked(data) ? align(data.offsets.byteLength) + align(data.bytes.byteLength) : align(data.byteLength);
}

/** Bytes a tensor written at `ref` takes, alignment included (footprint of what it came from). */
export function refFootprint(ref: TensorRef): number {
  if (ref.strings === undefined) return align(ref.bytes);
  return align(8 * (elementCount(ref.shape) + 1)) + align(ref.bytes);
}

/** Bytes the tensors of a flat [dtype, shape, data, ...] list take in a segment. */
export function footprintOf(flat: NativeTensors): number {
  let bytes = 0;
  for (let i = 2; i < flat.length; i += 3) bytes += footprint(flat[i] as NativeData);
  return bytes;
}

/** Copies every tensor of a flat list into a segment, one after the other from `at`. */
export function writeTensors(segment: ArrayBuffer, at: number, flat: NativeTensors): TensorRef[] {
  const refs: TensorRef[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const data = flat[i + 2] as NativeData;
    refs.push(writeTensor(segment, at, flat[i] as number, flat[i + 1] as number[], data));
    at += footprint(data);
  }
  return refs;
}

/** Copies a tensor into a segment at `at` (one memcpy per buffer); returns its ref. */
export function writeTensor(segment: ArrayBuffer, at: number, dtype: number, shape: readonly number[], data: NativeData): TensorRef {
  const out = new Uint8Array(segment);
  if (isPacked(data)) {
    const strings = at + align(data.offsets.byteLength);
    out.set(new Uint8Array(data.offsets.buffer, data.offsets.byteOffset, data.offsets.byteLength), at);
    out.set(data.bytes, strings);
    return { dtype, shape: [...shape], at, bytes: data.bytes.byteLength, strings };
  }
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  return { dtype, shape: [...shape], at, bytes: data.byteLength };
}

function arrayOf(dtype: number) {
  const info = dtypeFromTf(dtype);
  if (!info) throw new InvalidArgumentError(`dtype ${dtype} cannot cross to a model host`);
  return info;
}

/** A view of a tensor in a segment (no copy): what the host feeds TensorFlow. */
export function viewTensor(segment: ArrayBuffer, ref: TensorRef): NativeData {
  const info = arrayOf(ref.dtype);
  if (!info.array) {
    return { offsets: new Float64Array(segment, ref.at, elementCount(ref.shape) + 1), bytes: new Uint8Array(segment, ref.strings!, ref.bytes) };
  }
  return new info.array(segment, ref.at, ref.bytes / info.array.BYTES_PER_ELEMENT);
}

/** A copy of a tensor out of a segment, in fresh JS memory: what the parent returns. */
export function copyTensor(segment: ArrayBuffer, ref: TensorRef): NativeData {
  const info = arrayOf(ref.dtype);
  if (!info.array) {
    const offsets = new Float64Array(segment.slice(ref.at, ref.at + 8 * (elementCount(ref.shape) + 1)));
    return { offsets, bytes: new Uint8Array(segment.slice(ref.strings!, ref.strings! + ref.bytes)) };
  }
  return new info.array(segment.slice(ref.at, ref.at + ref.bytes));
}

/** Writes one frame: a 4-byte little-endian length, then the JSON. */
export function sendFrame(socket: Socket, message: unknown): void {
  const json = Buffer.from(JSON.stringify(message));
  const frame = Buffer.allocUnsafe(4 + json.length);
  frame.writeUInt32LE(json.length, 0);
  json.copy(frame, 4);
  socket.write(frame);
}

/** A message from the peer that breaks the protocol (a bug or a hostile peer). */
export class ProtocolError extends Error {}

/** Frames carry metadata only (tensors travel in segments): far below this. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * Calls onFrames with every complete frame (a JSON object) of each chunk the socket
 * delivers. A frame that is not one, or a length past MAX_FRAME_BYTES, stops reading and
 * calls onError once: what follows cannot be trusted to be framed.
 */
export function readFrames(socket: Socket, onFrames: (frames: Record<string, unknown>[]) => void, onError: (error: ProtocolError) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    let buffer = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const frames: Record<string, unknown>[] = [];
    try {
      while (buffer.length >= 4) {
        const length = buffer.readUInt32LE(0);
        if (length > MAX_FRAME_BYTES) throw new ProtocolError(`a frame of ${length} bytes (the limit is ${MAX_FRAME_BYTES})`);
        if (buffer.length < 4 + length) break;
        let frame: unknown;
        try {
          frame = JSON.parse(buffer.toString('utf8', 4, 4 + length));
        } catch {
          throw new ProtocolError('a frame that is not JSON');
        }
        if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) throw new ProtocolError('a frame that is not a JSON object');
        frames.push(frame as Record<string, unknown>);
        buffer = buffer.subarray(4 + length);
      }
    } catch (error) {
      socket.off('data', onData);
      pending = Buffer.alloc(0);
      onError(error as ProtocolError);
      return;
    }
    pending = buffer;
    if (frames.length) onFrames(frames);
  };
  socket.on('data', onData);
}

/**
 * Checks a tensor a peer describes against the segment it lies in: a known dtype, a shape
 * TensorFlow accepts, a byte count that matches it, within `segmentBytes`.
 * @throws ProtocolError naming what is wrong
 */
export function checkRef(ref: TensorRef, segmentBytes: number): void {
  const info = dtypeFromTf(ref?.dtype);
  if (!info) throw new ProtocolError(`an output of unknown dtype ${String(ref?.dtype)}`);
  const shape = ref.shape;
  if (!Array.isArray(shape) || shape.length > 254 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ProtocolError('an output with a malformed shape');
  }
  const inSegment = (at: unknown, bytes: number) => Number.isSafeInteger(at) && (at as number) >= 0 && (at as number) + bytes <= segmentBytes;
  const n = elementCount(shape);
  if (info.array) {
    if (!Number.isSafeInteger(ref.bytes) || ref.bytes !== n * info.bytes || !inSegment(ref.at, ref.bytes)) {
      throw new ProtocolError(`an output whose shape [${shape.join(', ')}], dtype ${info.name} and ${String(ref.bytes)} bytes at ${String(ref.at)} disagree (segment of ${segmentBytes} bytes)`);
    }
  } else if (!Number.isSafeInteger(ref.bytes) || ref.bytes < 0 || !inSegment(ref.at, 8 * (n + 1)) || !inSegment(ref.strings, ref.bytes)) {
    throw new ProtocolError('a string output outside its segment');
  }
}

// ---------------------------------------------------------------------------
// The direct path: runs of numeric tensors as small binary messages on a socket pair,
// served natively in the host (native/channel.h has the layout; this mirrors it).
// ---------------------------------------------------------------------------

/** Longest message either way; a run that needs more goes as a JSON frame. */
export const DIRECT_MESSAGE_BYTES = 64 * 1024;

const NEW_SEGMENT = 1;
const NAMES = 2;
const SHARED = 4;
const RELEASED = 8;
const WAIT_UNTIL = 16;
const DROPPED = 32;
const TIMEOUT = 64;
const START_BELOW = 128;

/** A plan number that runs nothing: the request only maps or forgets shared feed segments. */
export const NO_PLAN = 0;

/** A run as the direct path carries it (feeds numeric only). */
export interface DirectRun {
  id: number;
  plan: number;
  slot: number;
  /** Bytes of the segment the feeds use; outputs go after them when they fit. */
  used: number;
  /** The slot's segment, when the host's direct path has not mapped it yet. */
  segment?: SegmentRef;
  /** The plan's tensor names, until the host has answered a run of it. */
  names?: { inputs: readonly string[]; outputs: readonly string[] };
  /** Shared feed segments for the host to map (those the feeds name and it may not hold yet). */
  shared?: readonly { id: number; ref: SegmentRef }[];
  /** Shared feed segments this process freed: the host unmaps them once no run reads them. */
  released?: readonly number[];
  /**
   * Slots whose segments this process let go of (free past KEPT_FREE_SLOTS): the host forgets
   * its mappings of them, as it reads the request (before any later request is served).
   */
  dropped?: readonly number[];
  /** The run starts only until `untilMs` (monotonicMs()): its runTimeoutMs (`limitMs`) from when it was sent. */
  wait?: RunWait;
  /** TensorFlow's run timeout in ms (RunOptions.timeout_in_ms), a whole number from 1; 0 or none: no timeout. */
  timeoutMs?: number;
  /**
   * A run sent ahead of its turn (lib/model.ts, maxConcurrentRuns): the host starts it only once
   * fewer than this many of the runs it read before it are executing there, and after the runs
   * sent ahead before it; 0 or none: at once.
   * Sent with the time it was made (monotonicMs()): its wait there, in the socket too, is taken
   * off its timeoutMs.
   */
  startBelow?: number;
  feeds: readonly TensorRef[];
}

/**
 * How long a run sent to a model host may wait there before it starts: until `untilMs`
 * (monotonicMs(), the same clock in both processes), its caller's runTimeoutMs (`limitMs`) from
 * when it was sent. The host does not start one later (code NOT_STARTED).
 */
export interface RunWait {
  untilMs: number;
  limitMs: number;
}

/**
 * Run words: a model host's parent shares a control segment with it, one int32 per slot
 * (CONTROL_WORDS; a slot past them is not cancellable). Before a run is sent the parent sets
 * its slot's word to runTag(id) (queued); the host takes it (takeRun: queued → RUN_STARTED)
 * before it starts the run, and the parent cancels it (cancelRun: queued → -runTag(id)) when
 * its caller gives up while it waits there. Both are compare-and-swaps, so exactly one of them
 * wins: a cancelled run is never started, and a started one is never reported cancelled.
 * native/channel.cc mirrors this for the direct path.
 */
export const CONTROL_WORDS = 16384;
/** A run's word once its host took it (or before any run used the slot). */
export const RUN_STARTED = 0;

/** The queued word of run `id`: 1 … 2^31 - 2 (never RUN_STARTED, and its negation never one either). */
export function runTag(id: number): number {
  return (id % 0x7FFFFFFE) + 1;
}

/** Host: whether run `id` in `slot` may start (not cancelled first); see CONTROL_WORDS. */
export function takeRun(words: Int32Array, slot: number, id: number): boolean {
  if (slot >= words.length) return true;
  const tag = runTag(id);
  const seen = Atomics.compareExchange(words, slot, tag, RUN_STARTED);
  return seen === tag || seen !== -tag;
}

/** Parent: cancels run `id` in `slot` if its host has not taken it yet; see CONTROL_WORDS. */
export function cancelRun(words: Int32Array, slot: number, id: number): boolean {
  if (slot >= words.length) return false;
  const tag = runTag(id);
  return Atomics.compareExchange(words, slot, tag, -tag) === tag;
}

/**
 * CLOCK_MONOTONIC in ms (libuv's hrtime; std::chrono::steady_clock in the addon): the same clock
 * in a model host as in its parent, unlike performance.now(), whose origin is each process's start.
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}

/**
 * A direct-path reply. 'done': u32 id, u32 status 0, u32 flags (bit 0: the slot moved to
 * `segment`), u32 `micros`, the segment when moved, u32 count, the outputs. `micros`: how long
 * the request took in the host, from its receipt to its reply (its wait for a turn, the run, the
 * output copies; not the round trip's wake-ups), when the plan's next run goes to the host's
 * serving thread; 0 when it goes to an inter-op pool, or nothing ran (native/channel.cc).
 */
export type DirectReply =
  | { op: 'done'; id: number; outputs: TensorRef[]; segment?: SegmentRef; micros: number }
  | { op: 'error'; id: number; code: string; message: string }
  /** Nothing ran: the plan has outputs the direct path cannot carry (strings). */
  | { op: 'fallback'; id: number };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

class Full extends Error {}

/** Reads and writes one message in a fixed buffer. */
export class Wire {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  at = 0;

  constructor(buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.#view = new DataView(buffer);
  }

  #room(n: number): number {
    const at = this.at;
    if (at + n > this.bytes.length) throw new Full();
    this.at += n;
    return at;
  }

  u32(value: number): void { this.#view.setUint32(this.#room(4), value, true); }
  i32(value: number): void { this.#view.setInt32(this.#room(4), value, true); }
  f64(value: number): void { this.#view.setFloat64(this.#room(8), value, true); }
  string(text: string): void {
    const at = this.#room(4);
    const { read, written } = utf8.encodeInto(text, this.bytes.subarray(this.at));
    if (read < text.length) throw new Full();
    this.#view.setUint32(at, written, true);
    this.at += written;
  }

  /** Where reading must stop: the length of the message received. */
  end = 0;

  readU32(): number { return this.#view.getUint32(this.#take(4), true); }
  readI32(): number { return this.#view.getInt32(this.#take(4), true); }
  readF64(): number { return this.#view.getFloat64(this.#take(8), true); }
  readString(): string {
    const length = this.readU32();
    const at = this.#take(length);
    return fromUtf8.decode(this.bytes.subarray(at, at + length));
  }

  #take(n: number): number {
    const at = this.at;
    if (at + n > this.end) throw new ProtocolError('a direct-path reply cut short');
    this.at += n;
    return at;
  }
}

function writeRef(wire: Wire, ref: TensorRef): void {
  wire.i32(ref.dtype);
  wire.u32(ref.shape.length);
  wire.f64(ref.at);
  wire.f64(ref.bytes);
  for (const dim of ref.shape) wire.f64(dim);
}

function readRef(wire: Wire): TensorRef {
  const dtype = wire.readI32();
  const rank = wire.readU32();
  const at = wire.readF64();
  const bytes = wire.readF64();
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(wire.readF64());
  return { dtype, shape, at, bytes };
}

function writeSegment(wire: Wire, ref: SegmentRef): void {
  wire.i32(ref.pid);
  wire.i32(ref.fd);
  wire.f64(ref.bytes);
}

function readSegment(wire: Wire): SegmentRef {
  return { pid: wire.readI32(), fd: wire.readI32(), bytes: wire.readF64() };
}

/** Writes a run request from the start of `wire`; its length, or 0 when it does not fit. */
export function encodeRun(wire: Wire, run: DirectRun): number {
  wire.at = 0;
  try {
    wire.u32(run.id);
    wire.u32(run.plan);
    wire.u32(run.slot);
    const shared = run.shared?.length ? run.shared : undefined;
    const released = run.released?.length ? run.released : undefined;
    const waitUntil = run.wait !== undefined && run.wait.untilMs > 0;
    const dropped = run.dropped?.length ? run.dropped : undefined;
    const timeout = run.timeoutMs !== undefined && run.timeoutMs > 0;
    const below = run.startBelow !== undefined && run.startBelow > 0;
    wire.u32((run.segment ? NEW_SEGMENT : 0) | (run.names ? NAMES : 0) | (shared ? SHARED : 0) | (released ? RELEASED : 0) | (waitUntil ? WAIT_UNTIL : 0) | (dropped ? DROPPED : 0) |
      (timeout ? TIMEOUT : 0) | (below ? START_BELOW : 0));
    wire.f64(run.used);
    // Right after the header: the host's reading thread takes them before it reads on.
    if (dropped) {
      wire.u32(dropped.length);
      for (const slot of dropped) wire.u32(slot);
    }
    if (below) {
      wire.u32(Math.min(run.startBelow!, 0xFFFFFFFF));
      wire.f64(monotonicMs());
    }
    if (waitUntil) {
      wire.f64(run.wait!.untilMs);
      wire.f64(run.wait!.limitMs);
    }
    if (timeout) wire.f64(run.timeoutMs!);
    if (run.segment) writeSegment(wire, run.segment);
    if (shared) {
      wire.u32(shared.length);
      for (const { id, ref } of shared) {
        wire.u32(id);
        writeSegment(wire, ref);
      }
    }
    if (released) {
      wire.u32(released.length);
      for (const id of released) wire.u32(id);
    }
    if (run.names) {
      wire.u32(run.names.inputs.length);
      wire.u32(run.names.outputs.length);
      for (const name of run.names.inputs) wire.string(name);
      for (const name of run.names.outputs) wire.string(name);
    }
    wire.u32(run.feeds.length);
    for (const ref of run.feeds) {
      wire.u32(ref.segment ?? 0);
      writeRef(wire, ref);
    }
  } catch (error) {
    if (error instanceof Full) return 0;
    throw error;
  }
  return wire.at;
}

/**
 * Reads a reply of `length` bytes the host wrote (native/channel.cc).
 * @throws ProtocolError when it is cut short or malformed
 */
export function decodeReply(wire: Wire, length: number): DirectReply {
  wire.at = 0;
  wire.end = Math.min(length, wire.bytes.length);
  const id = wire.readU32();
  const status = wire.readU32();
  if (status === 1) return { op: 'error', id, code: wire.readString(), message: wire.readString() };
  if (status === 2) return { op: 'fallback', id };
  if (status !== 0) throw new ProtocolError(`a direct-path reply of unknown status ${status}`);
  const moved = (wire.readU32() & 1) !== 0;
  const micros = wire.readU32();
  const segment = moved ? readSegment(wire) : undefined;
  const count = wire.readU32();
  // Each output takes at least 24 bytes: a count past that cannot be in the message.
  if (count * 24 > wire.end - wire.at) throw new ProtocolError(`a direct-path reply announcing ${count} outputs`);
  const outputs: TensorRef[] = [];
  for (let i = 0; i < count; i++) outputs.push(readRef(wire));
  return { op: 'done', id, outputs, segment, micros };
}
