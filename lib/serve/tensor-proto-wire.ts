/**
 * TensorProto's repeated numeric fields (float_val, int64_val, ...) read straight into typed
 * arrays and written straight from them, in place of protobufjs's generated code for that
 * message (and KServe's InferTensorContents read the same way). protobufjs reads a packed field into a JS array element by element (8 MiB of
 * float_val: 136-151 ms here, and 16 bytes of heap per float) and writes it element by element;
 * packed fixed-width values are the bytes of a typed array (little-endian), so here they are one
 * copy each way. Short runs (SMALL) go element by element, which is faster for them.
 *
 * No library does this: protobufjs's reflection decodes repeated scalars into JS arrays by
 * design (its static code too), and protobuf-es and google-protobuf do the same.
 *
 * The wire format is protobuf's (https://protobuf.dev/programming-guides/encoding/): a parser
 * takes a repeated scalar packed or not, in any number of pieces, which are joined in order, and
 * a message given twice is merged (scalars: the last wins; repeated fields: appended).
 */
import { Reader, type Type, Writer } from 'protobufjs';
import Long from 'long';

import { copyElement } from '../tensor';

/** How a numeric field's elements are stored on the wire and in memory. */
type Kind = 'f32' | 'f64' | 'i32' | 'u32' | 'i64' | 'u64' | 'bool';

/** The typed array each kind is read into. */
const ARRAY = {
  f32: Float32Array, f64: Float64Array, i32: Int32Array, u32: Uint32Array, i64: BigInt64Array, u64: BigUint64Array, bool: Uint8Array,
} as const;
type NumericArray = Float32Array | Float64Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Uint8Array;

/** Bytes per element of the fixed-width kinds (packed as raw little-endian bytes). */
const FIXED: Partial<Record<Kind, number>> = { f32: 4, f64: 8 };

interface NumericField {
  id: number;
  name: string;
  kind: Kind;
  /** Its index in its message's list. */
  slot: number;
}

/** A message's repeated numeric fields: in order, and by field number. */
interface NumericFields {
  list: NumericField[];
  byId: (NumericField | undefined)[];
}

function numericFields(fields: readonly (readonly [number, string, Kind])[]): NumericFields {
  const list = fields.map(([id, name, kind], slot) => ({ id, name, kind, slot }));
  const byId: (NumericField | undefined)[] = [];
  for (const field of list) byId[field.id] = field;
  return { list, byId };
}

/** TensorProto's (tensor.proto). */
const TENSOR_PROTO = numericFields([
  [5, 'float_val', 'f32'], [6, 'double_val', 'f64'], [7, 'int_val', 'i32'], [10, 'int64_val', 'i64'], [11, 'bool_val', 'bool'],
  [13, 'half_val', 'i32'], [16, 'uint32_val', 'u32'], [17, 'uint64_val', 'u64'],
]);

/** KServe's InferTensorContents (grpc_predict_v2.proto). */
const INFER_CONTENTS = numericFields([
  [1, 'bool_contents', 'bool'], [2, 'int_contents', 'i32'], [3, 'int64_contents', 'i64'], [4, 'uint_contents', 'u32'],
  [5, 'uint64_contents', 'u64'], [6, 'fp32_contents', 'f32'], [7, 'fp64_contents', 'f64'],
]);

/** Runs of at most this many elements are read element by element: a copy would need the typed array's ArrayBuffer, which V8 makes only on demand for small arrays. */
const SMALL = 64;

/** Wire type of one unpacked element of each kind. */
const WIRE: Record<Kind, number> = { f32: 5, f64: 1, i32: 0, u32: 0, i64: 0, u64: 0, bool: 0 };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// One little-endian float32 or float64 from its bytes, through a scratch buffer.
const scratch = new Uint8Array(8);
const scratch32 = new Float32Array(scratch.buffer, 0, 1);
const scratch64 = new Float64Array(scratch.buffer);

function float32At(buf: Uint8Array, pos: number): number {
  for (let i = 0; i < 4; i++) scratch[LITTLE_ENDIAN ? i : 3 - i] = buf[pos + i]!;
  return scratch32[0]!;
}

function float64At(buf: Uint8Array, pos: number): number {
  for (let i = 0; i < 8; i++) scratch[LITTLE_ENDIAN ? i : 7 - i] = buf[pos + i]!;
  return scratch64[0]!;
}

// The two 32-bit halves of the last varint read (varint64), low first.
let low = 0;
let high = 0;

/**
 * Reads one varint of up to 64 bits at `pos` (bounded by the caller: the range it reads ends on a
 * varint's last byte) into `low`/`high`; returns the position after it.
 */
function varint64(buf: Uint8Array, pos: number): number {
  let lo = 0;
  let hi = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) { low = lo >>> 0; high = 0; return pos; }
  }
  b = buf[pos++]!;
  lo |= (b & 0x7f) << 28;
  hi = (b & 0x7f) >>> 4;
  if (b < 0x80) { low = lo >>> 0; high = hi; return pos; }
  for (let shift = 3; shift < 32; shift += 7) {
    b = buf[pos++]!;
    hi |= (b & 0x7f) << shift;
    if (b < 0x80) { low = lo >>> 0; high = hi >>> 0; return pos; }
  }
  throw new Error('invalid varint: more than 10 bytes');
}

/** A packed run of `kind` elements in buf[start, end) as a new typed array. */
function readPacked(buf: Uint8Array, start: number, end: number, kind: Kind, name: string): NumericArray {
  const width = FIXED[kind];
  if (width !== undefined) {
    const length = end - start;
    if (length % width !== 0) throw new RangeError(`packed ${name} of ${length} bytes is not a whole number of ${width}-byte values`);
    const n = length / width;
    if (n <= SMALL) {
      // Through JS numbers, which quiet a signaling NaN (as protobufjs's reads did): a copy of
      // the bytes keeps every bit, but making an ArrayBuffer costs 5x this whole decode.
      if (kind === 'f32') {
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = float32At(buf, start + 4 * i);
        return out;
      }
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = float64At(buf, start + 8 * i);
      return out;
    }
    const out = new ARRAY[kind](n);
    const bytes = new Uint8Array(out.buffer);
    bytes.set(buf.subarray(start, end));
    if (!LITTLE_ENDIAN) for (let i = 0; i < length; i += width) bytes.subarray(i, i + width).reverse();
    return out;
  }
  // Varints: one element per byte below 0x80 (each varint's last), and the run must end on one.
  if (end > start && buf[end - 1]! >= 0x80) throw new RangeError(`packed ${name} ends inside a varint`);
  let count = 0;
  for (let i = start; i < end; i++) if (buf[i]! < 0x80) count++;
  const out = new ARRAY[kind](count);
  let pos = start;
  if ((kind === 'i64' || kind === 'u64') && count <= SMALL) {
    const target = out as BigInt64Array | BigUint64Array;
    for (let i = 0; i < count; i++) {
      pos = varint64(buf, pos);
      const bits = (BigInt(high) << 32n) | BigInt(low);
      target[i] = kind === 'i64' ? BigInt.asIntN(64, bits) : bits;
    }
  } else if (kind === 'i64' || kind === 'u64') {
    const halves = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) {
      pos = varint64(buf, pos);
      halves[2 * i + (LITTLE_ENDIAN ? 0 : 1)] = low;
      halves[2 * i + (LITTLE_ENDIAN ? 1 : 0)] = high;
    }
  } else {
    const target = out as Int32Array | Uint32Array | Uint8Array;
    for (let i = 0; i < count; i++) {
      const b = buf[pos]!;
      if (b < 0x80) { pos++; target[i] = kind === 'bool' ? Number(b !== 0) : b; continue; }
      pos = varint64(buf, pos);
      // int32 and uint32 keep the low 32 bits (a negative int32 is sign-extended to 10 bytes).
      target[i] = kind === 'bool' ? Number(low !== 0 || high !== 0) : low;
    }
  }
  return out;
}

/** One unpacked element of `kind` at the reader's position. */
function readOne(r: Reader, kind: Kind): number | bigint {
  switch (kind) {
    case 'f32': return r.float();
    case 'f64': return r.double();
    default: {
      const start = r.pos;
      r.skip(); // bounded by the message's end
      if (r.pos - start > 10) throw new Error('invalid varint: more than 10 bytes');
      varint64(r.buf, start);
      if (kind === 'i64' || kind === 'u64') {
        const bits = (BigInt(high) << 32n) | BigInt(low);
        return kind === 'i64' ? BigInt.asIntN(64, bits) : bits;
      }
      if (kind === 'bool') return Number(low !== 0 || high !== 0);
      return kind === 'i32' ? low | 0 : low;
    }
  }
}

/** A field's pieces: packed runs as typed arrays, unpacked elements gathered in plain arrays. */
type Piece = NumericArray | (number | bigint)[];

/** The pieces of a field joined in order, as one typed array (a lone typed array as it is). */
function join(kind: Kind, pieces: Piece[]): NumericArray {
  if (pieces.length === 1 && !Array.isArray(pieces[0])) return pieces[0]!;
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const out = new ARRAY[kind](total);
  let at = 0;
  for (const piece of pieces) {
    (out as Float64Array).set(piece as Float64Array, at);
    at += piece.length;
  }
  return out;
}

/** An existing value of a numeric field (a merge target's) as a typed array of its kind. */
function asTyped(kind: Kind, values: ArrayLike<unknown>): NumericArray {
  if (values instanceof ARRAY[kind]) return values;
  if (kind === 'i64' || kind === 'u64') return ARRAY[kind].from(Array.from(values, toBigInt) as bigint[]);
  return (ARRAY[kind] as Float64ArrayConstructor).from(values as ArrayLike<number>, Number);
}

/**
 * @internal A 64-bit integer as protobufjs and its users give one (bigint, Long, number or decimal
 * string; null or undefined: 0) as a bigint; a Long as its 64 bits unsigned, which a
 * BigInt64Array stores as the signed value.
 */
export function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (Long.isLong(value)) {
    const l = value as Long;
    return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  }
  return BigInt((value ?? 0) as number | string);
}

/** protobufjs's generated decode with the arguments its own nested calls pass (typed as two). */
type GeneratedDecode = (r: Reader, length: number, endGroup: undefined, depth: number, into: unknown) => Record<string, unknown>;
const decodeNested = (type: Type, r: Reader, length: number, depth: number, into: unknown) =>
  (type.decode as unknown as GeneratedDecode).call(type, r, length, undefined, depth, into ?? undefined);

/**
 * Reads a field that is not numeric into `m` (the reader at its value); false to skip it.
 */
type OtherField = (r: Reader, m: Record<string, unknown>, id: number, wire: number, depth: number) => boolean;

/**
 * @internal A repeated bytes field as decoded here (TensorProto's string_val, InferTensorContents'
 * bytes_contents): the elements copied into one byte array as they come, their offsets beside
 * (the addon's packed strings). A Uint8Array per element took ~170 bytes of heap each (a 19 MB
 * message of short strings, 1.7 GB); this takes 8 besides the bytes. Iterable (the encoder
 * writes a decoded message again), not indexable: protobufjs's toObject() cannot read it.
 */
export class BytesList {
  #bytes = new Uint8Array(64);
  #offsets = new Float64Array(17);
  #length = 0;

  /** Elements so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends `source[start, end)`. */
  push(source: Uint8Array, start: number, end: number): void {
    const at = this.#offsets[this.#length]!;
    const size = end - start;
    if (at + size > this.#bytes.length) this.#bytes = grown(this.#bytes, at + size);
    if (this.#length + 2 > this.#offsets.length) this.#offsets = grown(this.#offsets, this.#length + 2);
    copyElement(this.#bytes, at, source, start, end);
    this.#offsets[++this.#length] = at + size;
  }

  /** Element `i`'s bytes (a view). */
  at(i: number): Uint8Array {
    return this.#bytes.subarray(this.#offsets[i], this.#offsets[i + 1]);
  }

  /**
   * Every element, packed (views, no copy); with `n` past the elements given, the last repeated
   * up to `n` elements (TensorFlow's rule for fewer values than the shape; copied then).
   */
  packed(n = this.#length): { bytes: Uint8Array; offsets: Float64Array } {
    const given = this.#length;
    const end = this.#offsets[given]!;
    if (n <= given || given === 0) return { bytes: this.#bytes.subarray(0, end), offsets: this.#offsets.subarray(0, given + 1) };
    const last = this.at(given - 1);
    const bytes = new Uint8Array(end + (n - given) * last.byteLength);
    bytes.set(this.#bytes.subarray(0, end));
    const offsets = new Float64Array(n + 1);
    offsets.set(this.#offsets.subarray(0, given + 1));
    for (let i = given; i < n; i++) {
      bytes.set(last, offsets[i]!);
      offsets[i + 1] = offsets[i]! + last.byteLength;
    }
    return { bytes, offsets };
  }

  /** The elements as views, in order (the encoder writes a decoded message's list this way). */
  *[Symbol.iterator](): IterableIterator<Uint8Array> {
    for (let i = 0; i < this.#length; i++) yield this.at(i);
  }
}

/** A copy of `array` with room for at least `size` elements (doubling). */
function grown<A extends Uint8Array | Float64Array>(array: A, size: number): A {
  const next = new (array.constructor as new (n: number) => A)(Math.max(size, array.length * 2));
  next.set(array);
  return next;
}

/** Appends a bytes value to the repeated field `name` of `m` (a BytesList). */
function pushBytes(r: Reader, m: Record<string, unknown>, name: string): void {
  let list = Object.hasOwn(m, name) ? m[name] : undefined;
  if (!(list instanceof BytesList)) {
    const earlier = (list ?? []) as Uint8Array[];
    list = m[name] = new BytesList();
    for (const b of earlier) (list as BytesList).push(b, 0, b.byteLength);
  }
  const length = r.uint32();
  const start = r.pos;
  if (start + length > r.len) throw new RangeError(`index out of range: ${start} + ${length} > ${r.len}`);
  r.pos = start + length;
  (list as BytesList).push(r.buf, start, start + length);
}

/**
 * A message's decoder: protobufjs's generated signature (reader or bytes, length, end-group
 * tag, depth, message to merge into), the numeric fields as typed arrays, the others by `other`.
 */
function decoder(type: Type, numeric: NumericFields, other: OtherField) {
  return function decode(input: Reader | Uint8Array, length?: number, endGroup?: number, depth = 0, into?: Record<string, unknown> | null): Record<string, unknown> {
    const r = input instanceof Reader ? input : Reader.create(input);
    if (depth > (Reader as unknown as { recursionLimit: number }).recursionLimit) throw new Error('max depth exceeded');
    const outer = r.len;
    const end = length === undefined ? r.len : r.pos + length;
    if (end > r.len) throw new RangeError('index out of range');
    r.len = end;
    const m = into ?? (new type.ctor() as unknown as Record<string, unknown>);
    // Each numeric field's pieces in order (most fields come in one piece), by slot.
    let pieces: (Piece[] | undefined)[] | undefined;
    while (r.pos < end) {
      const tag = r.tag();
      if (tag === endGroup) break;
      const id = tag >>> 3;
      const wire = tag & 7;
      if (id === 0) throw new Error('illegal tag: field number 0');
      const field = numeric.byId[id];
      if (field) {
        pieces ??= [];
        const list = pieces[field.slot] ??= [];
        if (wire === 2) {
          const size = r.size();
          const stop = r.pos + size;
          if (stop > end) throw new RangeError('index out of range');
          list.push(readPacked(r.buf, r.pos, stop, field.kind, field.name));
          r.pos = stop;
        } else if (wire === WIRE[field.kind]) {
          const last = list[list.length - 1];
          const loose = Array.isArray(last) ? last : [];
          if (loose !== last) list.push(loose);
          loose.push(readOne(r, field.kind));
        } else {
          throw new Error(`${field.name} has wire type ${wire}`);
        }
        continue;
      }
      if (!other(r, m, id, wire, depth)) r.skipType(wire, depth, id);
    }
    r.len = outer;
    if (r.pos > end) throw new RangeError('index out of range');
    if (pieces === undefined) return m;
    for (let slot = 0; slot < pieces.length; slot++) {
      const list = pieces[slot];
      if (!list) continue;
      const { name, kind } = numeric.list[slot]!;
      const before = m[name] as ArrayLike<unknown> | undefined;
      if (before && before.length > 0) list.unshift(asTyped(kind, before));
      m[name] = join(kind, list);
    }
    return m;
  };
}

/** The bytes of a packed run of `values` as `kind` (fixed-width: a view, no copy). */
function packedBytes(kind: Kind, values: ArrayLike<unknown>): Uint8Array {
  if (FIXED[kind] !== undefined) {
    const typed = asTyped(kind, values);
    if (LITTLE_ENDIAN) return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    const bytes = Uint8Array.from(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
    for (let i = 0; i < bytes.length; i += FIXED[kind]) bytes.subarray(i, i + FIXED[kind]).reverse();
    return bytes;
  }
  // Varints: each value's low and high 32 bits (int32: sign-extended to 64, as protobuf writes it).
  const n = values.length;
  const halves = new Uint32Array(2 * n);
  if (kind === 'i64' || kind === 'u64') {
    const typed = asTyped(kind, values);
    const raw = new Uint32Array(typed.buffer, typed.byteOffset, 2 * n);
    for (let i = 0; i < n; i++) {
      halves[2 * i] = raw[2 * i + (LITTLE_ENDIAN ? 0 : 1)]!;
      halves[2 * i + 1] = raw[2 * i + (LITTLE_ENDIAN ? 1 : 0)]!;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = Number(values[i]);
      if (kind === 'bool') halves[2 * i] = v ? 1 : 0;
      else if (kind === 'u32') halves[2 * i] = v >>> 0;
      else {
        halves[2 * i] = v | 0;
        halves[2 * i + 1] = (v | 0) < 0 ? 0xffffffff : 0;
      }
    }
  }
  let size = 0;
  for (let i = 0; i < n; i++) size += varintSize(halves[2 * i]!, halves[2 * i + 1]!);
  const out = new Uint8Array(size);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    let lo = halves[2 * i]!;
    let hi = halves[2 * i + 1]!;
    while (hi !== 0 || lo > 0x7f) {
      out[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    out[pos++] = lo;
  }
  return out;
}

/** Bytes of the varint of a 64-bit value given as its 32-bit halves. */
function varintSize(lo: number, hi: number): number {
  if (hi === 0) return lo < 2 ** 7 ? 1 : lo < 2 ** 14 ? 2 : lo < 2 ** 21 ? 3 : lo < 2 ** 28 ? 4 : 5;
  return hi < 2 ** 3 ? 5 : hi < 2 ** 10 ? 6 : hi < 2 ** 17 ? 7 : hi < 2 ** 24 ? 8 : hi < 2 ** 31 ? 9 : 10;
}

/** A packed field: small ones value by value, others as one run of bytes. */
function writePacked(writer: Writer, id: number, kind: Kind, values: ArrayLike<unknown>): void {
  const n = values.length;
  writer.uint32((id << 3) | 2);
  if (n > SMALL) {
    writer.bytes(packedBytes(kind, values));
    return;
  }
  if (kind === 'f32' || kind === 'f64') {
    writer.uint32(n * FIXED[kind]!);
    for (let i = 0; i < n; i++) {
      if (kind === 'f32') writer.float(Number(values[i]));
      else writer.double(Number(values[i]));
    }
    return;
  }
  writer.fork();
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case 'i32': writer.int32(Number(values[i])); break;
      case 'u32': writer.uint32(Number(values[i]) >>> 0); break;
      case 'bool': writer.uint32(Number(values[i]) ? 1 : 0); break;
      default: {
        const bits = BigInt.asUintN(64, toBigInt(values[i]));
        writer.uint64({ low: Number(bits & 0xffffffffn), high: Number(bits >> 32n) } as unknown as number);
      }
    }
  }
  writer.ldelim();
}

/** TensorProto's encoder (protobufjs's signature: message, writer to append to). */
function encoder(shapeType: Type) {
  return function encode(m: Record<string, unknown>, w?: Writer): Writer {
    const writer = w ?? Writer.create();
    const dtype = m.dtype as number | undefined;
    if (dtype) writer.uint32(8).int32(dtype);
    if (m.tensor_shape != null) shapeType.encode(m.tensor_shape as never, writer.uint32(18).fork()).ldelim();
    const version = m.version_number as number | undefined;
    if (version) writer.uint32(24).int32(version);
    const content = m.tensor_content as Uint8Array | undefined;
    if (content && content.length > 0) writer.uint32(34).bytes(content);
    // By name, not in a loop over the names: a property read at one site with eight names is slow.
    type Values = ArrayLike<unknown> | null | undefined;
    let values: Values;
    if ((values = m.float_val as Values) && values.length > 0) writePacked(writer, 5, 'f32', values);
    if ((values = m.double_val as Values) && values.length > 0) writePacked(writer, 6, 'f64', values);
    if ((values = m.int_val as Values) && values.length > 0) writePacked(writer, 7, 'i32', values);
    const strings = m.string_val as Iterable<Uint8Array> | undefined;
    if (strings) for (const s of strings) writer.uint32(66).bytes(s);
    if ((values = m.int64_val as Values) && values.length > 0) writePacked(writer, 10, 'i64', values);
    if ((values = m.bool_val as Values) && values.length > 0) writePacked(writer, 11, 'bool', values);
    if ((values = m.half_val as Values) && values.length > 0) writePacked(writer, 13, 'i32', values);
    if ((values = m.uint32_val as Values) && values.length > 0) writePacked(writer, 16, 'u32', values);
    if ((values = m.uint64_val as Values) && values.length > 0) writePacked(writer, 17, 'u64', values);
    return writer;
  };
}

/**
 * @internal Makes `type` (tensorflow.TensorProto of a loaded protobufjs Root) decode its numeric
 * fields into typed arrays (float_val: Float32Array, double_val: Float64Array, int_val and
 * half_val: Int32Array, uint32_val: Uint32Array, int64_val: BigInt64Array, uint64_val:
 * BigUint64Array, bool_val: Uint8Array of 0/1; a field not on the wire stays the empty array
 * protobufjs gives it) and encode them from typed arrays or arrays (64-bit integers as bigint,
 * Long, number or decimal string) as packed fields. Malformed bytes throw an Error, as
 * protobufjs's own decoders do. Messages that contain a
 * TensorProto (PredictRequest's inputs, ...) use it through protobufjs's generated code, which
 * calls the nested type's decode and encode.
 */
export function typedTensorProto(type: Type): void {
  type.setup();
  const shapeType = type.fields.tensor_shape!.resolve().resolvedType as Type;
  type.decode = decoder(type, TENSOR_PROTO, (r, m, id, wire, depth) => {
    switch (id) {
      case 1: if (wire !== 0) return false; m.dtype = r.int32(); return true;
      case 2: if (wire !== 2) return false; m.tensor_shape = decodeNested(shapeType, r, r.size(), depth + 1, m.tensor_shape); return true;
      case 3: if (wire !== 0) return false; m.version_number = r.int32(); return true;
      case 4: if (wire !== 2) return false; m.tensor_content = r.bytes(); return true;
      case 8: if (wire !== 2) return false; pushBytes(r, m, 'string_val'); return true;
      default: return false;
    }
  }) as unknown as Type['decode'];
  type.encode = encoder(shapeType) as unknown as Type['encode'];
}

/**
 * @internal Makes `type` (inference.InferTensorContents, KServe's typed tensor contents) decode
 * its numeric fields into typed arrays, as typedTensorProto() does for TensorProto's
 * (bool_contents: Uint8Array of 0/1, int_contents: Int32Array, int64_contents: BigInt64Array,
 * uint_contents: Uint32Array, uint64_contents: BigUint64Array, fp32_contents: Float32Array,
 * fp64_contents: Float64Array). The server never writes the message (outputs go as
 * raw_output_contents), so its encoder stays protobufjs's, which takes typed arrays too.
 */
export function typedInferContents(type: Type): void {
  type.setup();
  type.decode = decoder(type, INFER_CONTENTS, (r, m, id, wire) => {
    if (id !== 8 || wire !== 2) return false;
    pushBytes(r, m, 'bytes_contents');
    return true;
  }) as unknown as Type['decode'];
}
