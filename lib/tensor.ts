/**
 * Tensor: a dtype, a shape and the elements in a JS typed array (or strings).
 * Conversions to and from what the addon carries (lib/native.ts) happen here, once
 * per tensor, never per element through TensorFlow.
 */
import { constants } from 'node:buffer';
import { markAsUntransferable } from 'node:worker_threads';

import { type DataOf, type DType, type DTypeInfo, dtypeInfo, dtypeFromTf, DTYPES, type FeedDataOf, type NumericDType, type TypedArray, type TypedArrayOf } from './dtypes';
import { invalidType, InvalidArgumentError, withArticle } from './errors';
import { native, type NativeData, type NativeTensors, type PackedStrings } from './native';

// TypeScript 5.2's explicit resource management (`using`, `await using`), declared as
// @types/node and TypeScript's lib.esnext.disposable declare them, so that these types check
// in a program that has neither (Node 20 defines both symbols at run time).
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
    readonly asyncDispose: unique symbol;
  }
}

/**
 * @internal The most bytes one buffer from the addon may hold: Node's limit on an ArrayBuffer
 * (4 GiB on Node 20), and never past the addon's own (native/shm.h kMaxBufferBytes).
 */
export const MAX_BUFFER_BYTES = Math.min(constants.MAX_LENGTH, 2 ** 32);

// Called once when dispose() detaches an output buffer (set by lib/isolation.ts for
// outputs that are views of a shared segment, which then goes back to its pool).
const releaseHooks = new WeakMap<ArrayBuffer, () => void>();

/** @internal Runs `hook` when a tensor over `buffer` is disposed. */
export function onDispose(buffer: ArrayBuffer, hook: () => void): void {
  releaseHooks.set(buffer, hook);
}

// Outputs this big are fed to TensorFlow in place (native/tensor.h kZeroCopyMinBytes):
// while a run borrows one, dispose() of its tensor must wait, or TensorFlow would read
// memory that was freed (or, for an isolated model's view, handed to the next run).
const BORROWED_MIN_BYTES = 16 * 1024;
const outputBuffers = new WeakSet<ArrayBuffer>();
/** Runs in flight that borrow each output buffer. */
const borrowers = new WeakMap<ArrayBuffer, number>();
/** What dispose() put off until the last of those runs ends. */
const deferred = new WeakMap<ArrayBuffer, () => void>();

const NO_BUFFERS: readonly ArrayBuffer[] = Object.freeze([]);

// The buffers of `data` (flat native form) that a run reads after run() has returned: a numeric
// feed's of BORROWED_MIN_BYTES or more (borrowed in place, or copied as the run starts), a string
// feed's packed bytes and offsets when together that big (made into TF_TStrings as the run starts:
// native FeedSet::Add). None for smaller ones, which the addon copies at the call.
function readAfterCall(data: NativeData): readonly ArrayBuffer[] {
  if (ArrayBuffer.isView(data)) return data.byteLength >= BORROWED_MIN_BYTES ? [data.buffer as ArrayBuffer] : NO_BUFFERS;
  return data.bytes.byteLength + data.offsets.byteLength >= BORROWED_MIN_BYTES ? [data.bytes.buffer as ArrayBuffer, data.offsets.buffer as ArrayBuffer] : NO_BUFFERS;
}

// borrowFeeds(): counts a run borrowing `buffer` when it is an output's; returns `held` with it.
function borrow(held: ArrayBuffer[] | null, buffer: ArrayBuffer): ArrayBuffer[] | null {
  if (!outputBuffers.has(buffer)) return held;
  borrowers.set(buffer, (borrowers.get(buffer) ?? 0) + 1);
  (held ??= []).push(buffer);
  return held;
}

/**
 * @internal Marks the output buffers among `feeds` (flat native form; a string feed's packed
 * bytes and offsets too) as borrowed by a run until the returned function is called: dispose()
 * of their tensors waits until then. Returns null when no feed is an output's buffer (the
 * common case: nothing to undo).
 *
 * The buffer of every feed of BORROWED_MIN_BYTES or more, which a runner thread reads after
 * run() has returned (borrowed in place, copied as the run starts, or echoed after it), is made
 * untransferable (worker_threads.markAsUntransferable), for good: one transferred away
 * (postMessage, structuredClone with `transfer`) and collected while its run was in flight had
 * its memory freed under that thread, and the process crashed (helper-125). N-API gives an addon
 * no hold on an ArrayBuffer's memory that a transfer cannot take away.
 */
export function borrowFeeds(feeds: NativeTensors): (() => void) | null {
  let held: ArrayBuffer[] | null = null;
  for (let i = 2; i < feeds.length; i += 3) {
    const data = feeds[i] as NativeData;
    for (const buffer of readAfterCall(data)) markAsUntransferable(buffer);
    if (ArrayBuffer.isView(data)) {
      held = borrow(held, data.buffer as ArrayBuffer);
    } else {
      // A string feed's packed bytes and offsets: a big one is read when its run starts.
      held = borrow(held, data.bytes.buffer as ArrayBuffer);
      held = borrow(held, data.offsets.buffer as ArrayBuffer);
    }
  }
  if (held === null) return null;
  const buffers = held;
  return () => {
    for (const buffer of buffers) {
      const left = borrowers.get(buffer)! - 1;
      if (left > 0) {
        borrowers.set(buffer, left);
        continue;
      }
      borrowers.delete(buffer);
      const release = deferred.get(buffer);
      deferred.delete(buffer);
      release?.();
    }
  };
}

// Set by Tensor.fromNative() for the one constructor call it makes.
let adopting: { info: DTypeInfo; shape: number[]; data: NativeData; owned: Ownership } | undefined;

/**
 * @internal Who holds an output's memory: `true`, tfslice (memory of the addon's, freed by
 * dispose()); `false`, the caller (dispose() only forgets it); `'heap'`, an array JS made or
 * shares (runSync()'s small outputs, copied out of the addon's scratch; a batch's output rows,
 * views of the whole batch's): the collector frees it, and dispose() only empties the tensor.
 */
export type Ownership = boolean | 'heap';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The most dimensions TensorFlow allows a tensor (TensorShape::MaxDimensions()). */
export const MAX_RANK = 254;
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Checks a shape against TensorFlow's own rules before anything reaches it: every
 * dimension a whole number ≥ 0, at most 254 of them, and the product of the non-zero
 * dimensions within int64 (2^63 − 1). TensorFlow's TensorShape constructor aborts the
 * process on a shape that breaks the last two, even when a later 0 makes it empty
 * (`[2**32, 2**32, 0]`), so shapes from users and clients all pass through here.
 *
 * @param field what the shape belongs to, for messages ('shape', "feed 'x' shape")
 * @throws TypeError (ERR_INVALID_ARG_TYPE) naming the bad element; INVALID_ARGUMENT for
 *   the rank and overflow rules
 */
export function checkShape(shape: unknown, field = 'shape'): asserts shape is readonly number[] {
  if (!Array.isArray(shape)) throw invalidType(field, 'an array of non-negative integers', shape);
  if (shape.length > MAX_RANK) {
    throw new InvalidArgumentError(`${field} has ${shape.length} dimensions; TensorFlow allows at most ${MAX_RANK}`);
  }
  let product = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw invalidType(`${field}[${i}]`, 'a non-negative integer below 2^53 (a safe integer)', d);
    if (d !== 0) product *= d;
  }
  // Doubles are exact up to 2^53; past it, redo the product exactly.
  if (product <= 2 ** 53) return;
  let exact = 1n;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 0) continue;
    exact *= BigInt(shape[i] as number);
    if (exact > INT64_MAX) {
      throw new InvalidArgumentError(`${field} [${shape.join(', ')}]: its non-zero dimensions multiply past 2^63-1 at ${field}[${i}], which TensorFlow refuses (even when another dimension is 0)`);
    }
  }
}

/**
 * @internal Copies `source[start, end)`, one string element's bytes, into packed bytes at `at`:
 * short ones byte by byte, since a subarray per element is what packing them avoids.
 */
export function copyElement(target: Uint8Array, at: number, source: Uint8Array, start: number, end: number): void {
  if (end - start < 64) for (let i = start; i < end; i++) target[at++] = source[i]!;
  else target.set(source.subarray(start, end), at);
}

/** @internal A string tensor over packed bytes and offsets made in JS (no copy; `shape` checked by the caller). */
export function packedStringTensor(shape: number[], packed: PackedStrings): Tensor {
  return Tensor.fromNative(STRING.tf, shape, packed, 'heap');
}

const STRING = dtypeInfo('string')!;

/** Number of elements of a shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * @internal elementCount(shape) x `times` (bytes per element) in digits, exact past 2^53 (for
 * messages: 2^64 elements read 18446744073709551616, not 18446744073709552000).
 */
export function exactCount(shape: readonly number[], times = 1): string {
  const n = elementCount(shape) * times;
  if (Number.isSafeInteger(n)) return String(n);
  let exact = BigInt(times);
  for (const d of shape) exact *= BigInt(d);
  return String(exact);
}

/** Strings joined per call in packStrings' ASCII fast path (256-1024 measured alike; 8192 slower). */
const PACK_CHUNK = 512;

function packStrings(values: readonly (string | Uint8Array)[]): PackedStrings {
  const n = values.length;
  const offsets = new Float64Array(n + 1);
  // Every UTF-8 encoding takes at least a byte per UTF-16 code unit: exactly that for ASCII.
  let capacity = 0;
  for (let i = 0; i < n; i++) capacity += values[i]!.length;
  let bytes = new Uint8Array(capacity);
  let total = 0;
  // Code units (and Uint8Array bytes) of the values up to the current run's end.
  let seen = 0;
  // Runs of PACK_CHUNK strings (ids, tokens, keys: mostly ASCII) are joined and encoded in one
  // call; a run that is not all ASCII is encoded again string by string (joined, a lone surrogate
  // could pair with its neighbour's). Only ASCII encodes to as many bytes as code units, so a
  // run read and written whole in as many bytes is ASCII. 1 000 000 strings of 40 characters
  // took 550-740 ms one by one (a TextEncoder call each), about 30 ms so.
  for (let start = 0; start < n; start += PACK_CHUNK) {
    const end = Math.min(n, start + PACK_CHUNK);
    let strings = true;
    for (let i = start; i < end; i++) {
      const value = values[i]!;
      seen += value.length;
      if (typeof value !== 'string') strings = false;
    }
    if (strings) {
      const text = values.slice(start, end).join('');
      const { read, written } = encoder.encodeInto(text, bytes.subarray(total));
      if (read === text.length && written === text.length) {
        for (let i = start; i < end; i++) {
          offsets[i] = total;
          total += values[i]!.length;
        }
        continue;
      }
    }
    const parts = values.slice(start, end).map((v) => (typeof v === 'string' ? encoder.encode(v) : v));
    let size = 0;
    for (const part of parts) size += part.length;
    if (total + size > bytes.length) {
      // Non-ASCII text: room for this run, the rest at a byte per code unit, or half as much again.
      const grown = new Uint8Array(Math.max(total + size + capacity - seen, Math.ceil(bytes.length * 1.5)));
      grown.set(bytes.subarray(0, total));
      bytes = grown;
    }
    parts.forEach((part, k) => {
      offsets[start + k] = total;
      bytes.set(part, total);
      total += part.length;
    });
  }
  offsets[n] = total;
  // The packed bytes are exactly the strings' (the addon reads the whole view).
  return { bytes: total === bytes.length ? bytes : bytes.slice(0, total), offsets };
}

/**
 * A tensor. Numeric data lives in a typed array (see DataOf); string tensors hold
 * their elements as bytes and decode them as UTF-8 on first access to `data`.
 */
export class Tensor<D extends DType = DType> {
  // Accessors over private fields: a tensor's dtype and shape cannot be reassigned from JS
  // (run() feeds them as they were checked), at no cost per tensor.
  #dtype: D;
  #shape: readonly number[];
  #data: DataOf<D> | undefined;
  #packed: PackedStrings | undefined;
  #tf: number;
  // Set for outputs: their buffers belong to tfslice, so dispose() may free them.
  #owned = false;
  // An output in an array JS made (Ownership 'heap'): dispose() drops it.
  #heap = false;
  #freed = false;

  /**
   * @param dtype element type, e.g. 'float32'
   * @param data the elements, row-major: the typed array for the dtype, or for
   *   'string' an array of strings (sent as UTF-8) and Uint8Arrays (raw bytes), mixed or not
   * @param shape dimensions; defaults to [data.length]
   * @throws ERR_INVALID_ARG_TYPE (TypeError) for an unknown dtype, data of another kind than the
   *   dtype's typed array (or strings), or a dimension that is not a safe integer ≥ 0;
   *   INVALID_ARGUMENT when the shape's element count is not data's length, or data's buffer
   *   (a string element's too) was detached (transferred). A bool byte other than 0 or 1 is
   *   refused when the tensor is fed, not here
   */
  constructor(dtype: D, data: FeedDataOf<D>, shape?: readonly number[]) {
    if (adopting) {
      // fromNative(): the addon's output, already consistent; take it without checks.
      const { info, shape: dims, data: payload, owned } = adopting;
      adopting = undefined;
      this.#dtype = info.name as D;
      this.#shape = Object.freeze(dims);
      this.#tf = info.tf;
      this.#owned = owned !== false;
      this.#heap = owned === 'heap';
      if (info.array) this.#data = payload as DataOf<D>;
      else this.#packed = payload as PackedStrings;
      if (owned === true) for (const buffer of readAfterCall(payload)) outputBuffers.add(buffer);
      return;
    }
    const info = dtypeInfo(dtype);
    if (!info) throw invalidType('dtype', `one of ${DTYPES.join(', ')}`, dtype);
    const length = (data as { length?: unknown } | null)?.length;
    if (info.array) {
      if (!(data instanceof info.array)) throw invalidType(`data of ${withArticle(dtype)} tensor`, withArticle(info.array.name), data);
      if (viewOfDetached(data as TypedArray)) throw detachedData('data');
      this.#data = data as DataOf<D>;
    } else {
      if (!Array.isArray(data)) throw invalidType('data of a string tensor', 'an array of strings or Uint8Arrays', data);
      let strings = true;
      for (let i = 0; i < data.length; i++) {
        const s: unknown = data[i];
        if (typeof s === 'string') continue;
        if (!(s instanceof Uint8Array)) throw invalidType(`data[${i}] of a string tensor`, 'a string or a Uint8Array', s);
        if (viewOfDetached(s)) throw detachedData(`data[${i}] of a string tensor`);
        strings = false;
      }
      this.#packed = packStrings(data as (string | Uint8Array)[]);
      if (strings) this.#data = data as DataOf<D>;
    }
    const dims = shape ?? [length as number];
    checkShape(dims);
    if (elementCount(dims) !== length) {
      throw new InvalidArgumentError(`${withArticle(dtype)} tensor of shape [${dims.join(', ')}] needs ${elementCount(dims)} elements, but data has ${String(length)}`);
    }
    this.#dtype = dtype;
    this.#shape = Object.freeze([...dims]);
    this.#tf = info.tf;
  }

  /** Element type, e.g. 'float32'. Read-only. */
  get dtype(): D {
    return this.#dtype;
  }

  /**
   * Whether this tensor's dtype is `dtype`, as a type guard: run()'s outputs are typed
   * `Tensor` (any dtype), and `if (y.is('float32'))` makes `y.data` a `Float32Array` without a
   * cast. Never throws (an unknown dtype is simply not this one's).
   */
  is<T extends DType>(dtype: T): this is Tensor<T> {
    return (this.#dtype as DType) === dtype;
  }

  /** @internal Whether the constructor made `value` (Object.create(Tensor.prototype) passes instanceof, with no fields). */
  static made(value: Tensor): boolean {
    return #dtype in value;
  }

  /** Dimensions, frozen ([] for a scalar). Read-only. */
  get shape(): readonly number[] {
    return this.#shape;
  }

  /** How console.log and util.inspect show a tensor (its dtype and shape are accessors). */
  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: object, inspect: (value: unknown, options: object) => string): string {
    return `Tensor ${inspect({ dtype: this.#dtype, shape: this.#shape, data: this.data }, options)}`;
  }

  /** JSON.stringify(tensor): its dtype and shape, as before they were accessors (not its data). */
  toJSON(): { dtype: D; shape: readonly number[] } {
    return { dtype: this.#dtype, shape: this.#shape };
  }

  /** Number of elements. */
  get size(): number {
    return elementCount(this.shape);
  }

  /** The elements: a typed array, or for 'string' a string[] decoded as UTF-8. */
  get data(): DataOf<D> {
    if (this.#data === undefined) {
      const { bytes, offsets } = this.#packed!;
      const strings: string[] = new Array(Math.max(0, offsets.length - 1)); // 0 once disposed
      for (let i = 0; i < strings.length; i++) strings[i] = decoder.decode(bytes.subarray(offsets[i], offsets[i + 1]));
      // Once disposed, not kept: a free that waits for a run leaves the bytes readable until then.
      if (this.#freed) return strings as DataOf<D>;
      this.#data = strings as DataOf<D>;
    }
    return this.#data;
  }

  /** For 'string' tensors: each element's raw bytes (views, no copy). */
  bytes(): Uint8Array[] {
    if (!this.#packed) throw new InvalidArgumentError(`bytes() is for string tensors; this one is ${this.dtype}`);
    const { bytes, offsets } = this.#packed;
    const out: Uint8Array[] = new Array(Math.max(0, offsets.length - 1)); // 0 once disposed
    for (let i = 0; i < out.length; i++) out[i] = bytes.subarray(offsets[i], offsets[i + 1]);
    return out;
  }

  /**
   * Frees an output's memory now instead of when the garbage collector gets to it:
   * its data becomes empty (the ArrayBuffer is detached; runSync()'s small outputs are in
   * arrays JS made, left to the collector: only this tensor lets go of it). Large outputs live in
   * TensorFlow's own buffers, so a loop that disposes what it is done with lets
   * TensorFlow reuse that memory at once. When a run still in flight reads this tensor
   * as a feed, the memory is freed when that run ends instead. For tensors you created
   * it only forgets them (your buffers are never detached). An output's shape and size stay as
   * they were; `disposed` says it was disposed. Idempotent.
   */
  dispose(): void {
    if (this.#heap) {
      // Nothing of tfslice's to free: the tensor lets go of its array (the collector's).
      this.#freed = true;
      this.#heap = false;
      // (Strings: none left to decode. emptyOf() is for typed arrays: a string output's dispose()
      // threw, helper-126.)
      if (this.#packed) {
        this.#packed = NO_STRINGS;
        this.#data = undefined;
      } else {
        this.#data = emptyOf(this.#tf) as DataOf<D>;
      }
    } else if (this.#owned) {
      this.#freed = true;
      // Strings decoded from the packed bytes go with them (read again, they are what is left).
      if (this.#packed) this.#data = undefined;
      const views: ArrayBufferView[] = this.#packed ? [this.#packed.bytes, this.#packed.offsets] : [this.#data as ArrayBufferView];
      for (const view of views) {
        const buffer = view.buffer;
        if (!(buffer instanceof ArrayBuffer) || isDetached(buffer)) continue;
        if (borrowers.has(buffer)) deferred.set(buffer, () => releaseOutput(buffer));
        else releaseOutput(buffer);
      }
    }
    this.#owned = false;
  }

  /** dispose(), for `using y = outputs.y` (TypeScript 5.2's explicit resource management): disposed at the end of its block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * True once dispose() has freed this tensor's memory (an output's, or Model.alloc's shared
   * memory; set at once, though a run in flight that reads it keeps it until that run ends).
   * Such a tensor cannot be fed again. Tensors over memory you provided are never freed.
   */
  get disposed(): boolean {
    return this.#freed;
  }

  /**
   * A zero-filled tensor whose memory is aligned for TensorFlow, so feeding it
   * never copies (feeds of 16 KiB and more are borrowed when aligned).
   * @throws ERR_INVALID_ARG_TYPE (TypeError) for a string or unknown dtype or a bad dimension;
   *   INVALID_ARGUMENT for a shape past TensorFlow's limits or over MAX_BUFFER_BYTES (4 GiB on
   *   Node 20) to allocate
   */
  static alloc<N extends NumericDType>(dtype: N, shape: readonly number[]): Tensor<N> {
    return allocTensor(dtype, shape, () => null);
  }

  /** @internal Appends [dtype, shape, data] in the addon's flat form. */
  pushNative(out: NativeTensors): void {
    out.push(this.#tf, this.shape, this.#packed ?? (this.#data as TypedArrayOf[NumericDType]));
  }

  /** @internal [dtype, shape, data] in the addon's flat form (strings as packed bytes and offsets), no copy. */
  flat(): [number, readonly number[], NativeData] {
    return [this.#tf, this.shape, this.#packed ?? (this.#data as TypedArrayOf[NumericDType])];
  }

  /**
   * @internal A tensor over what the addon returned (no copy), its memory held as `owned` says.
   */
  static fromNative(dtype: number, shape: number[], data: NativeData, owned: Ownership = true): Tensor {
    const info = dtypeFromTf(dtype);
    if (!info) throw new InvalidArgumentError(`TensorFlow returned dtype ${dtype}, which tfslice cannot represent`);
    adopting = { info, shape, data, owned };
    return new Tensor(info.name, undefined as never);
  }
}

/**
 * @internal Tensor.alloc's checks, then memory from `allocate(bytes)`: a buffer of at least
 * that many bytes that the tensor owns (dispose() detaches it and calls its onDispose hook),
 * or null for Tensor.alloc's own aligned memory.
 */
export function allocTensor<N extends NumericDType>(dtype: N, shape: readonly number[], allocate: (bytes: number) => ArrayBuffer | null): Tensor<N> {
  const info = dtypeInfo(dtype);
  if (!info?.array) throw invalidType('dtype', 'a numeric dtype', dtype);
  checkShape(shape);
  const n = elementCount(shape);
  if (!Number.isSafeInteger(n * info.bytes) || n * info.bytes > MAX_BUFFER_BYTES) {
    throw new InvalidArgumentError(`${withArticle(dtype)} tensor of shape [${shape.join(', ')}] is too large to allocate: this Node allows at most ${MAX_BUFFER_BYTES} bytes in one buffer`);
  }
  const owned = allocate(n * info.bytes);
  if (owned !== null) return Tensor.fromNative(info.tf, [...shape], new info.array(owned, 0, n)) as Tensor<N>;
  const buffer = native().allocAligned(n * info.bytes);
  return new Tensor(dtype, new info.array(buffer, 0, n) as FeedDataOf<N>, shape);
}

// A disposed 'heap' output's data: one frozen empty array per dtype (a new one each time cost a
// memset through V8's runtime: 2 % of a runSync() loop on `tiny`).
const empties = new Map<number, ArrayBufferView>();
// A disposed string output in memory JS holds: no strings, no bytes.
const NO_STRINGS: PackedStrings = Object.freeze({ bytes: new Uint8Array(0), offsets: new Float64Array(0) });

function emptyOf(tf: number): ArrayBufferView {
  let empty = empties.get(tf);
  if (empty === undefined) empties.set(tf, (empty = Object.freeze(new (dtypeFromTf(tf)!.array!)(0))));
  return empty;
}

// The addon's scratch for runSync()'s compact feeds and small outputs, and a view of it as doubles.
let takenScratch: { buffer: ArrayBuffer; header: Float64Array } | undefined;
// How many times writeTakenFeeds() began writing it.
let scratchWrites = 0;

// The built-in copy, taken before user code could replace it: copying the scratch must run no
// user code (a species getter or a patched set() could call runSync(), which writes there).
const typedArraySet = Object.getPrototypeOf(Uint8Array.prototype).set as (this: ArrayBufferView, source: ArrayLike<number | bigint>) => void;
const apply = Reflect.apply;

function scratch(): { buffer: ArrayBuffer; header: Float64Array } {
  // Detached (a view of it transferred by code that got hold of it): the addon made a new one.
  if (takenScratch === undefined || takenScratch.header.length === 0) {
    const buffer = native().takenScratch();
    takenScratch = { buffer, header: new Float64Array(buffer) };
  }
  return takenScratch;
}

/**
 * @internal runSync()'s compact feeds: writes each feed's dtype and shape into the addon's
 * scratch as doubles ([dtype, rank, dims...], read by FeedSet::AddFromHeader in native/tensor.h)
 * and returns only their data: the one feed's itself, or an array of them. Null when the shapes
 * do not fit (the flat form is then sent as it is).
 */
export function writeTakenFeeds(flat: NativeTensors): NativeData | NativeData[] | null {
  // Reading a shape may run user code (a replaced `shape`, a Proxy), and a runSync() there
  // writes the same scratch: the count of writes tells (helper-47's trial). Anything but plain
  // numbers goes the flat way too.
  const { header } = scratch();
  const epoch = ++scratchWrites;
  let at = 0;
  for (let i = 0; i < flat.length; i += 3) {
    const shape = flat[i + 1] as readonly number[];
    const rank = shape.length;
    if (typeof rank !== 'number' || at + 2 + rank > header.length) return null;
    header[at++] = flat[i] as number;
    header[at++] = rank;
    for (let d = 0; d < rank; d++) {
      const dim = shape[d];
      if (typeof dim !== 'number') return null;
      header[at++] = dim;
    }
  }
  if (scratchWrites !== epoch) return null;
  if (flat.length === 3) return flat[2] as NativeData;
  const data: NativeData[] = [];
  for (let i = 2; i < flat.length; i += 3) data.push(flat[i] as NativeData);
  return data;
}

/**
 * @internal runSync()'s compact result: the `count` outputs the addon wrote into its scratch
 * (TakeOutputsInto in native/tensor.h: per output [dtype, rank, dims..., byte length] as
 * doubles, then its bytes padded to 8), in the flat [dtype, shape, data] form, each data a copy
 * in an array of JS's own (Ownership 'heap'). Read at once: the next runSync() writes there.
 */
export function readTakenOutputs(count: number): NativeTensors {
  const { buffer, header } = scratch();
  const flat: NativeTensors = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const dtype = header[at++]!;
    const rank = header[at++]!;
    const shape = new Array<number>(rank);
    for (let d = 0; d < rank; d++) shape[d] = header[at++]!;
    const bytes = header[at++]!;
    const info = dtypeFromTf(dtype)!;
    const data = new info.array!(bytes / info.bytes);
    apply(typedArraySet, data, [new info.array!(buffer, at * 8, bytes / info.bytes)]);
    flat.push(dtype, shape, data);
    at += Math.ceil(bytes / 8);
  }
  return flat;
}

function releaseOutput(buffer: ArrayBuffer): void {
  if (isDetached(buffer)) return;
  native().releaseBuffer(buffer);
  releaseHooks.get(buffer)?.();
  releaseHooks.delete(buffer);
}

function isDetached(buffer: ArrayBuffer): boolean {
  // Node 20 has no ArrayBuffer.prototype.detached; a detached buffer reports 0 bytes.
  return (buffer as ArrayBuffer & { detached?: boolean }).detached ?? buffer.byteLength === 0;
}

/**
 * @internal The built-in `buffer` accessor of typed arrays, taken at load: a view's own `buffer`
 * property or a patched prototype cannot make a check look at other memory than the addon reads.
 */
export const bufferOfView = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'buffer')!.get!;

/**
 * @internal Whether a typed array's buffer was detached (transferred, to a worker or by
 * structuredClone). Such a view reads as empty, and any copy of it throws V8's TypeError. Only a
 * view of no bytes can be one; an empty buffer of its own is told apart by making a view of it.
 */
export function viewOfDetached(view: TypedArray): boolean {
  if (view.byteLength !== 0) return false;
  const buffer = bufferOfView.call(view) as ArrayBufferLike;
  if (!(buffer instanceof ArrayBuffer)) return false; // a SharedArrayBuffer is never detached
  const detached = (buffer as ArrayBuffer & { detached?: boolean }).detached;
  if (detached !== undefined) return detached;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** @internal INVALID_ARGUMENT for a feed (or tensor data) whose buffer was detached. */
export function detachedData(field: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field}: its buffer was detached (transferred, to a worker or by structuredClone), so it holds nothing; pass a typed array whose memory this thread still owns`);
}

/**
 * @internal INVALID_ARGUMENT naming the first of `feeds` (flat native form; `names` in their
 * order) whose buffer was detached after run() took it, while its run waited to be read on the
 * JS thread (a batch's join, a model host's copy): that run fails alone, with a code (helper-126:
 * V8's uncoded TypeError, and in a batch every request of it failed). Null when none was.
 */
export function detachedFeed(feeds: NativeTensors, names: readonly string[]): InvalidArgumentError | null {
  for (let i = 2; i < feeds.length; i += 3) {
    const data = feeds[i] as NativeData;
    const views = ArrayBuffer.isView(data) ? [data] : [data.bytes, data.offsets];
    if (views.some((view) => viewOfDetached(view as TypedArray))) return detachedData(`feed '${names[(i - 2) / 3] ?? (i - 2) / 3}'`);
  }
  return null;
}

/** A plain feed object: `{ dtype, shape, data }`, same rules as the Tensor constructor. */
export interface TensorLike<D extends DType = DType> {
  /** Element type, e.g. 'float32'. */
  dtype: D;
  /** Dimensions; their product is data's length (an element count, not bytes). Default [data.length], as the Tensor constructor's. */
  shape?: readonly number[];
  /** The elements, row-major: the dtype's typed array, or for 'string' an array of strings (UTF-8) and Uint8Arrays (raw bytes), mixed or not. */
  data: FeedDataOf<D>;
}

/** `value` when the Tensor constructor made it; else INVALID_ARGUMENT naming feed `key` (not the TypeError its fields' absence would throw later). */
export function madeTensor(value: Tensor, key: string): Tensor {
  if (Tensor.made(value)) return value;
  throw new InvalidArgumentError(`feed '${key}' is an object with Tensor's prototype that the Tensor constructor did not make; make it with new Tensor(dtype, data, shape)`);
}

/**
 * Accepts a Tensor or a TensorLike for feed `key` and returns a Tensor (validated).
 * On the per-run path: the "feed 'key'" label is only built for an error.
 */
export function toTensor(value: unknown, key: string): Tensor {
  if (value instanceof Tensor) return madeTensor(value, key);
  if (value === null || typeof value !== 'object') throw invalidType(`feed '${key}'`, 'a Tensor or { dtype, shape, data }', value);
  const { dtype, shape, data } = value as TensorLike;
  try {
    return new Tensor(dtype, data, shape);
  } catch (error) {
    if (error instanceof Error) error.message = `feed '${key}': ${error.message}`;
    throw error;
  }
}

