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
function writeTensor(segment: ArrayBuffer, at: number, dtype: number, shape: readonly number[], data: NativeData): TensorRef {
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

/** Calls onFrames with every complete frame of each chunk the socket delivers. */
export function readFrames(socket: Socket, onFrames: (frames: unknown[]) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let buffer = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const frames: unknown[] = [];
    while (buffer.length >= 4) {
      const length = buffer.readUInt32LE(0);
      if (buffer.length < 4 + length) break;
      frames.push(JSON.parse(buffer.toString('utf8', 4, 4 + length)));
      buffer = buffer.subarray(4 + length);
    }
    pending = buffer;
    if (frames.length) onFrames(frames);
  });
}
