/**
 * Tensors as people write and read them, the one conversion between plain values and
 * tensors: run()'s plain feeds, the ModelManager's warm-up feeds, the CLI's --input and
 * (to come) the HTTP server all go through tensorFromValue(); outputs leave as JSON through
 * tensorToJson() and as text through preview(). In: numbers, bigints, booleans, strings,
 * Uint8Arrays (raw bytes), nested arrays of them (shape from the nesting, dtype from the
 * signature) or one typed array of the signature's dtype. float16/bfloat16 travel as numbers
 * here and as raw bits in a Tensor. Elements are converted here, in one pass over the values;
 * TensorFlow sees only the finished typed array.
 */
import { dtypeInfo, type DType, type TypedArray } from './dtypes';
import { describe, InvalidArgumentError, TensorFlowError, withArticle } from './errors';
import type { TensorSpec } from './proto';
import { detachedData, elementCount, MAX_RANK, Tensor, viewOfDetached } from './tensor';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits → number. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * number → IEEE half bits, rounding to nearest even through float32, as TensorFlow converts a
 * double (Eigen's half from a float; its cast from float64, TensorFlow Serving's JSON reader).
 * Where float32's own rounding lands on a half tie, numpy's float16, which rounds from the
 * double, can differ by one unit (1 + 2^-11 + 2^-40: numpy 0x3c01, TensorFlow and tfslice 0x3c00).
 */
export function numberToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry rounds up into the exponent (to Inf at most)
  return sign | half;
}

/** bfloat16 bits → number. */
export function bfloat16ToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0]!;
}

/** number → bfloat16 bits, rounding to nearest even through float32 (as TensorFlow and ml_dtypes). */
export function numberToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if (Number.isNaN(value)) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float dtypes, whose elements are written shortest-round-trip. */
export type FloatDType = 'float16' | 'bfloat16' | 'float32' | 'float64';

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const words = new Uint32Array(f64.buffer);
const [LOW, HIGH] = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? [0, 1] : [1, 0]; // a double's 32-bit halves in memory
const FRACTION = (1n << 52n) - 1n; // a double's 52 fraction bits

/** The significant digits of a finite positive double's exact decimal value (m × 2^k is m × 5^-k / 10^-k for k < 0). */
function exactDigits(x: number): string {
  f64[0] = x;
  const bits = u64[0]!;
  const biased = Number(bits >> 52n);
  const fraction = bits & FRACTION;
  const m = biased === 0 ? fraction : fraction | (1n << 52n);
  const k = (biased === 0 ? 1 : biased) - 1075;
  return (k >= 0 ? m << BigInt(k) : m * 5n ** BigInt(-k)).toString().replace(/0+$/, '');
}

/** Whether `magnitude` lies exactly halfway between two decimals of `p` significant digits. */
function isHalfway(magnitude: number, p: number): boolean {
  const longer = magnitude.toExponential(p).split('e')[0]!; // p + 1 digits
  return longer.endsWith('5') && exactDigits(magnitude) === longer.replace('.', '');
}

/** Whether a finite positive double is a power of two (a zero fraction; subnormals say no, which only costs time). */
function isPowerOfTwo(x: number): boolean {
  f64[0] = x;
  return words[LOW]! === 0 && (words[HIGH]! & 0xfffff) === 0;
}

/**
 * The shortest decimal (returned as the number it denotes, which JS prints as that decimal)
 * that `narrow` (rounding to a dtype) turns back into `value`, a value of that dtype; at most
 * `digits` significant digits, which always suffice (9 for float32, 5 float16, 4 bfloat16).
 * Of two equally short, the nearer; of two equally near, the even one (as numpy prints).
 */
function shortestDecimal(value: number, narrow: (x: number) => number, digits: number): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  const sign = Math.sign(value);
  const magnitude = Math.abs(value);
  const readsBack = (decimal: number): boolean => narrow(sign * decimal) === value;
  let p: number;
  if (isPowerOfTwo(magnitude)) {
    // The gap below a power of two is half the gap above: the nearest p-digit decimal can miss
    // below while the one above still reads back, so try both sides, digit by digit.
    for (p = 1; p < digits; p++) {
      const [mantissa, exponent] = magnitude.toExponential(p - 1).split('e');
      const n = Number(mantissa!.replace('.', ''));
      const e = Number(exponent) - (p - 1);
      const nearest = Number(`${n}e${e}`);
      if (readsBack(nearest)) break;
      const other = Number(`${nearest < magnitude ? n + 1 : n - 1}e${e}`);
      if (readsBack(other)) return sign * other;
    }
  } else {
    // Elsewhere the gaps are equal, so once p digits read back so do p + 1: a binary search.
    let lo = 1;
    let hi = digits;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (readsBack(Number(magnitude.toPrecision(mid)))) hi = mid;
      else lo = mid + 1;
    }
    p = lo;
  }
  // toPrecision rounds a tie up; numpy (and printf) round it to the even digit.
  const nearest = Number(magnitude.toPrecision(p));
  if (isHalfway(magnitude, p)) {
    const [mantissa, exponent] = magnitude.toExponential(p - 1).split('e');
    const n = Number(mantissa!.replace('.', ''));
    const even = Number(`${n - 1}e${Number(exponent) - (p - 1)}`);
    if (n % 2 === 1 && readsBack(even)) return sign * even;
  }
  return sign * nearest;
}

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i); // each exact in a double

/**
 * shortestDecimal(value, Math.fround, 9) by arithmetic for most float32 values, or undefined
 * where only the general search is sure: one correctly rounded 9-digit decimal (toExponential),
 * then its shorter roundings as integers, each read back through one correctly rounded
 * operation on exact operands (a 9-digit integer and a power of ten up to 10^22), as
 * Number(text) would. A rounding of the 9 digits equals the rounding of the value itself unless
 * the dropped digits are exactly half, which (like powers of two, whose gaps differ on either
 * side, and exponents beyond 10^±22) is left to the search.
 */
function shortestFloat32(value: number): number | undefined {
  const magnitude = Math.abs(value);
  if (isPowerOfTwo(magnitude)) return undefined;
  // The 9 digits: magnitude × 10^-scale, one correctly rounded operation (an error of at most
  // 1e9 × 2^-53 < 2e-7), rounded to an integer, which is exact unless the product lies that
  // close to a half; then toExponential says.
  let scale = Math.floor(Math.log10(magnitude)) - 8;
  if (scale + 8 > 22 || scale < -22) return undefined;
  let digits = 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    const product = scale <= 0 ? magnitude * POWERS_OF_TEN[-scale]! : magnitude / POWERS_OF_TEN[scale]!;
    if (product < 1e8 - 1) scale--; // log10 was one too high
    else if (product >= 1e9 - 0.5) scale++; // or one too low (or it rounds up to 10 digits)
    else {
      digits = Math.round(product);
      if (Math.abs(product - Math.floor(product) - 0.5) < 1e-6) {
        const text = magnitude.toExponential(8); // d.dddddddde±x, correctly rounded
        digits = Number(text[0]! + text.slice(2, 10));
        scale = Number(text.slice(11)) - 8;
      }
      break;
    }
  }
  if (digits === 0 || scale + 8 > 22 || scale < -22) return undefined;
  const sign = value < 0 ? -1 : 1;
  // The p-digit rounding as digits' × 10^(scale + 9 - p), or -1 where it is a tie.
  const rounded = (p: number): number => {
    if (p === 9) return digits;
    const unit = POWERS_OF_TEN[9 - p]!;
    const quotient = Math.floor(digits / unit);
    const remainder = digits - quotient * unit;
    if (remainder * 2 === unit) return -1;
    return remainder * 2 > unit ? quotient + 1 : quotient;
  };
  const decimal = (d: number, exponent: number): number => (exponent >= 0 ? sign * d * POWERS_OF_TEN[exponent]! : (sign * d) / POWERS_OF_TEN[-exponent]!);
  // Once p digits read back so do p + 1 (equal gaps): a binary search for the fewest.
  let lo = 1;
  let hi = 9;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const d = rounded(mid);
    if (d < 0) return undefined;
    if (Math.fround(decimal(d, scale + 9 - mid)) === value) hi = mid;
    else lo = mid + 1;
  }
  const d = rounded(lo);
  return d < 0 ? undefined : decimal(d, scale + 9 - lo);
}

/** Whether `dtype` is a float dtype. */
export const isFloat = (dtype: DType): dtype is FloatDType => Object.hasOwn(FLOATS, dtype);

/**
 * A float element as a number: `stored` is what the tensor's typed array holds (raw bits for
 * float16/bfloat16), the result its value rounded to the shortest decimal that reads back to it
 * in `dtype` (NaN and ±Infinity as they are). String() of it is that decimal.
 */
export function shortestFloat(dtype: FloatDType, stored: number): number {
  const value = FLOATS[dtype].read(stored);
  return Number.isFinite(value) ? FLOATS[dtype].shortest(value) : value;
}

/**
 * Every float dtype reads and writes the same way, through this table: NaN and ±Infinity, which
 * JSON has no numbers for, as the strings "NaN", "Infinity", "-Infinity" (floatToJson, floatFromJson);
 * a finite value as the shortest decimal that reads back to the same value in its dtype. Per dtype:
 * the number a Tensor element stands for, and that shortest decimal.
 */
const FLOATS: Record<FloatDType, { read(stored: number): number; shortest(value: number): number }> = {
  float16: { read: halfToNumber, shortest: (v) => shortestDecimal(v, (x) => halfToNumber(numberToHalf(x)), 5) },
  bfloat16: { read: bfloat16ToNumber, shortest: (v) => shortestDecimal(v, (x) => bfloat16ToNumber(numberToBfloat16(x)), 4) },
  float32: { read: (v) => v, shortest: (v) => shortestFloat32(v) ?? shortestDecimal(v, Math.fround, 9) },
  float64: { read: (v) => v, shortest: (v) => v }, // JS already prints a float64 shortest
};

/** A float element as JSON: NaN and ±Infinity as the strings JSON carries them in, else the shortest decimal for `dtype`. */
function floatToJson(dtype: FloatDType, value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return FLOATS[dtype].shortest(value);
}

const NON_FINITE = new Map<unknown, number>([['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]]);

/**
 * The number a JSON value gives a float element (what floatToJson() writes reads back), or
 * undefined. A Number object is a float written with a fraction or exponent whose value is
 * whole (lib/serve/json.ts FloatLiteral: `2.0`), which a float takes and an integer refuses.
 */
function floatFromJson(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  // An integer past 2^53 read exactly (TensorFlow Serving's JSON, the CLI's): to the nearest
  // double, as Number() on its digits would, and on to the dtype (JS writes a float of 1e16 to
  // 1e21 in integer digits, and TensorFlow Serving takes integer literals for float tensors).
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Number) return value.valueOf();
  return NON_FINITE.get(value);
}

type Scalar = number | bigint | boolean | string | Uint8Array;

// The largest finite value of each float dtype, and TensorFlow Serving's name for it.
// `limit`: the magnitude from which a number rounds to ±Infinity in the dtype (round to nearest,
// ties to even): its largest finite value plus half a unit in the last place there, so that the
// shortest decimal of that largest value (3.4028235e38 for float32), which reads as a double a
// little past it, still rounds to it.
const FLOAT_LIMITS: Record<FloatDType, { limit: number; name: string }> = {
  float32: { limit: 3.4028234663852886e38 + 2 ** 103, name: 'float' },
  float64: { limit: Infinity, name: 'double' },
  float16: { limit: 65504 + 16, name: 'half' },
  bfloat16: { limit: 3.3895313892515355e38 + 2 ** 119, name: 'bfloat16' },
};

/**
 * TensorFlow Serving's rule for JSON numbers fed to a float tensor (IsLosslessDecimal in its
 * json_tensor.cc), as far as it guards against a value that would not survive: NaN and
 * ±Infinity pass, a finite number that would round to ±Infinity in the dtype (past its largest
 * finite value by half a unit in the last place or more) is refused. Every other number goes to the nearest value of the dtype, an integer
 * literal too: TensorFlow Serving also refuses integer literals past 2^24 − 1 (float) and
 * 2^53 − 1 (double), but JavaScript's JSON.stringify writes floats from 1e16 to 1e21 in integer
 * digits, so tfslice takes them as it takes any decimal. Returns the message for a value that
 * breaks the rule, else null.
 */
export function lossyFloat(dtype: FloatDType, value: unknown): string | null {
  const { limit, name } = FLOAT_LIMITS[dtype];
  const v = typeof value === 'bigint' ? Number(value) : typeof value === 'number' || value instanceof Number ? value.valueOf() : NaN;
  if (!Number.isFinite(v) || Math.abs(v) < limit) return null;
  return `Cannot convert JSON value: ${String(typeof value === 'bigint' ? value : v).replace('e+', 'e')} to ${name} without loss of precision.`;
}

// Strings that are not UTF-8 travel in JSON as { "base64": "…" } (tfslice's CLI) or
// { "b64": "…" } (TensorFlow Serving's REST API).
const utf8 = new TextDecoder('utf-8', { fatal: true });
const isBase64 = (v: unknown): v is { base64: string } | { b64: string } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 &&
  (typeof (v as { base64?: unknown }).base64 === 'string' || typeof (v as { b64?: unknown }).b64 === 'string');
// Base64's letters, then at most two '=' of padding. Feeds are checked without regular
// expressions: runSync() converts them at its caller's JS depth, where V8 compiling one to
// machine code at the stack's limit ends the process (helper-109).
function isBase64Text(text: string): boolean {
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  if (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    if (!letter) return false;
  }
  return true;
}

// An optional '-', then one or more ASCII digits (as isBase64Text, without a regular expression).
function isDigitString(text: string): boolean {
  return isDigits(text.charCodeAt(0) === 0x2d ? text.slice(1) : text);
}

/** @internal One or more ASCII digits, checked without a regular expression (see isBase64Text). */
export function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

const INT_RANGES: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255], uint16: [0, 65535], uint32: [0, 2 ** 32 - 1],
};

function shown(value: unknown): string {
  // Digits as written (a bigint is an integer read exactly; NaN and ±Infinity by name, not JSON's null).
  if (typeof value === 'bigint' || typeof value === 'number') return String(value);
  if (value instanceof Number) return value.toFixed(1);
  if (value instanceof Uint8Array) return describe(value);
  try {
    return JSON.stringify(value) ?? describe(value);
  } catch {
    return describe(value);
  }
}

// The 64-bit integer dtypes' ranges, as bigints (both ends included).
const BIG_RANGES = { int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n] } as const;

function convert(dtype: DType, value: unknown, where: () => string): Scalar {
  const bad = (expected: string): never => {
    throw new InvalidArgumentError(`${where()}: ${shown(value)} is not ${expected}`);
  };
  switch (dtype) {
    case 'string':
      if (isBase64(value)) {
        const text = 'b64' in value ? value.b64 : value.base64;
        // Buffer.from skips what is not base64; a client's mistake must not pass as bytes.
        if (text.length % 4 !== 0 || !isBase64Text(text)) bad('valid base64 (its length a multiple of 4, only A-Z a-z 0-9 + / and = padding)');
        return new Uint8Array(Buffer.from(text, 'base64'));
      }
      return typeof value === 'string' || value instanceof Uint8Array ? value : bad('a string (raw bytes as {"b64": "…"} or {"base64": "…"} in JSON, or a Uint8Array)');
    case 'bool':
      if (typeof value === 'boolean') return value;
      return value === 0 || value === 1 || value === 0n || value === 1n ? value === 1 || value === 1n : bad('a boolean (true/false, or 0/1)');
    case 'int64':
    case 'uint64': {
      // A number past 2^53 has already lost its low digits: bigints and digit strings are exact.
      if (!(typeof value === 'number' && Number.isSafeInteger(value)) && typeof value !== 'bigint' && !(typeof value === 'string' && isDigitString(value))) {
        bad(`an integer (${dtype}; past 2^53 give a bigint, a string of digits, or the digits in JSON)`);
      }
      const n = BigInt(value as number | string | bigint);
      const [min, max] = BIG_RANGES[dtype];
      return n >= min && n <= max ? n : bad(`in the range of ${dtype}`);
    }
    default: {
      if (isFloat(dtype)) return floatFromJson(value) ?? bad(`a number (${dtype}; NaN and ±Infinity are "NaN", "Infinity", "-Infinity")`);
      const range = INT_RANGES[dtype]!;
      // A bigint is an integer read exactly, taken where it fits, as int64 and the floats take one.
      const n = typeof value === 'bigint' && value >= BigInt(range[0]) && value <= BigInt(range[1]) ? Number(value) : value;
      if (!(typeof n === 'number' && Number.isInteger(n) && n >= range[0] && n <= range[1])) {
        return bad(`an integer in [${range[0]}, ${range[1]}] (${dtype})`);
      }
      return n;
    }
  }
}

/** What a feed may be besides a Tensor or { dtype, shape, data }: a value typed by the signature. */
export type FeedValue = number | bigint | boolean | string | Uint8Array | TypedArray
  | {
    /** A string element's bytes in base64 (tfslice's CLI and JSON): for bytes that are not UTF-8. */
    base64: string;
  }
  | {
    /** A string element's bytes in base64, as TensorFlow Serving's REST API writes them. */
    b64: string;
  }
  | readonly FeedValue[];

// The shape of one flat typed array for `spec`: the signature's, with its one unknown
// dimension (if any) taken from the length.
function flatShape(length: number, spec: Pick<TensorSpec, 'shape'>, where: string): number[] {
  const shape = spec.shape;
  if (shape === null || shape.length === 1) return [length];
  const unknown = shape.filter((d) => d < 0).length;
  const known = shape.reduce((n, d) => (d < 0 ? n : n * d), 1);
  if (unknown === 0 && known === length) return [...shape];
  if (unknown === 1 && known > 0 && length % known === 0) return shape.map((d) => (d < 0 ? length / known : d));
  throw new InvalidArgumentError(`${where}: a flat array of ${length} elements does not fill its shape [${shape.join(', ')}]; give a Tensor with a shape, or nested arrays`);
}

/**
 * A tensor for a signature input from a plain value: a scalar, rectangular nested arrays
 * (shape from the nesting), or one typed array of the input's dtype (shape from the
 * signature, its one unknown dimension from the length). dtype from `spec`. int64 and uint64
 * take bigints, safe-integer numbers and strings of digits; the other integer dtypes integers
 * (numbers or bigints) in their range; floats take numbers, bigints (to the nearest value) and
 * the strings "NaN", "Infinity", "-Infinity"; bool takes booleans and 0/1 (numbers or bigints);
 * strings take strings, Uint8Arrays and { base64 }.
 * The result is checked against TensorFlow's shape rules (Tensor), not against `spec`'s shape.
 *
 * @param where the value's name in messages, e.g. "feed 'x'" or "--input x"
 * @throws INVALID_ARGUMENT naming `where`, the element and what was expected; UNIMPLEMENTED for a
 *   dtype tfslice cannot feed (complex, resource, variant), as for one it cannot return
 */
export function tensorFromValue(value: unknown, spec: Pick<TensorSpec, 'dtype' | 'shape'>, where: string, options: { lossless?: boolean } = {}): Tensor {
  const dtype = spec.dtype as DType;
  const info = dtypeInfo(dtype);
  if (!info) throw new TensorFlowError('UNIMPLEMENTED', `${where}: the input is ${spec.dtype}, which tfslice cannot feed`);
  if (ArrayBuffer.isView(value) && !(dtype === 'string' && value instanceof Uint8Array)) {
    if (!info.array || !(value instanceof info.array)) {
      throw new InvalidArgumentError(`${where}: ${describe(value)} cannot hold ${dtype}; give ${info.array ? withArticle(info.array.name) : 'strings'} or nested arrays`);
    }
    if (viewOfDetached(value as TypedArray)) throw detachedData(where);
    return new Tensor(dtype, value as never, flatShape((value as TypedArray).length, spec, where));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Number) && !isBase64(value)) {
    const of = dtype === 'string' ? 'strings' : dtype === 'bool' ? 'booleans' : 'numbers';
    throw new InvalidArgumentError(`${where} must be a Tensor, { dtype, shape, data } or a nested array of ${of} (${dtype}); got ${describe(value)}`);
  }
  const shape: number[] = [];
  // No further than one level past the limit: an array that contains itself nests without end.
  let level: unknown = value;
  for (; Array.isArray(level) && shape.length <= MAX_RANK; level = level[0]) shape.push(level.length);
  // Before walk() recurses that deep (a stack overflow past some thousands of levels).
  if (shape.length > MAX_RANK) {
    throw new InvalidArgumentError(`${where}: shape has ${Array.isArray(level) ? 'more than ' : ''}${shape.length} dimensions; TensorFlow allows at most ${MAX_RANK}`);
  }
  let flat: unknown[] = [];
  const walk = (node: unknown, depth: number, path: number[]): void => {
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new InvalidArgumentError(`${where}: ragged array: [${path.join('][')}] should be an array of ${shape[depth]} like the first one at that depth`);
    }
    if (depth + 1 < shape.length) {
      for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, [...path, i]);
      return;
    }
    for (let i = 0; i < node.length; i++) {
      const leaf: unknown = node[i];
      if (Array.isArray(leaf)) throw new InvalidArgumentError(`${where}: ragged array: element [${[...path, i].join('][')}] is nested deeper than the first element`);
      flat.push(leaf);
    }
  };
  if (shape.length === 0) {
    flat.push(value);
  } else if (shape.length === 1) {
    // A flat array is its own list of elements (not copied: what is kept below is made anew).
    flat = value as unknown[];
    for (let i = 0; i < flat.length; i++) {
      if (Array.isArray(flat[i])) throw new InvalidArgumentError(`${where}: ragged array: element [${i}] is nested deeper than the first element`);
    }
  } else {
    walk(value, 0, []);
  }
  const element = (i: number) => () => (shape.length === 0 ? where : `${where}: element ${i}`);
  if (options.lossless && isFloat(dtype)) {
    for (let i = 0; i < flat.length; i++) {
      const lossy = lossyFloat(dtype, flat[i]);
      if (lossy !== null) throw new InvalidArgumentError(`${element(i)()}: ${lossy}`);
    }
  }
  let data: unknown;
  // float32/64 and the 8- to 32-bit integers: numbers go straight into the typed array (a JSON
  // request's thousands of elements); anything else goes through convert(), which names it.
  const range = INT_RANGES[dtype];
  if (info.array && (range !== undefined || dtype === 'float32' || dtype === 'float64')) {
    const out = new info.array(flat.length) as unknown as number[];
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      out[i] = typeof v === 'number' && (range === undefined || (Number.isInteger(v) && v >= range[0] && v <= range[1])) ? v : convert(dtype, v, element(i)) as number;
    }
    data = out;
  } else if (dtype === 'string') {
    // Strings and Uint8Arrays as they are; anything else ({ b64 }, a mistake) through convert().
    const out: unknown[] = new Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      out[i] = typeof v === 'string' || v instanceof Uint8Array ? v : convert(dtype, v, element(i));
    }
    data = out;
  } else if (dtype === 'float16' || dtype === 'bfloat16') {
    // Numbers straight to their bits, the rest through convert() (was 5x float32's time: an
    // array of converted values, then Uint16Array.from with a callback).
    const bits = dtype === 'float16' ? numberToHalf : numberToBfloat16;
    const out = new Uint16Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      out[i] = bits(typeof v === 'number' ? v : convert(dtype, v, element(i)) as number);
    }
    data = out;
  } else if (dtype === 'int64' || dtype === 'uint64') {
    const out = dtype === 'int64' ? new BigInt64Array(flat.length) : new BigUint64Array(flat.length);
    const [min, max] = BIG_RANGES[dtype];
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      out[i] = typeof v === 'bigint' && v >= min && v <= max ? v : typeof v === 'number' && Number.isSafeInteger(v) && (v >= 0 || dtype === 'int64') ? BigInt(v) : convert(dtype, v, element(i)) as bigint;
    }
    data = out;
  } else {
    // bool, the one dtype left.
    const out = new Uint8Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      out[i] = (typeof v === 'boolean' ? v : convert(dtype, v, element(i))) ? 1 : 0;
    }
    data = out;
  }
  try {
    return new Tensor(dtype, data as never, shape);
  } catch (error) {
    if (error instanceof Error) error.message = `${where}: ${error.message}`;
    throw error;
  }
}

/**
 * Whether a tensor fits a signature input: its dtype, its rank, and each dimension the
 * signature fixes. (TensorFlow itself does not hold a feed to the shape a signature declares;
 * tfslice does, so a wrong feed fails here, named, instead of deep in a kernel.)
 *
 * @param where e.g. "feed 'x' of signature 'serving_default'"
 * @param shapes false: the dtype only (RunOptions.checkShapes)
 * @throws INVALID_ARGUMENT saying what was expected and what was given; an unknown dimension
 *   is written -1, as signatures hold it
 */
export function checkAgainstSpec(spec: Pick<TensorSpec, 'dtype' | 'shape'>, tensor: Tensor, where: () => string, shapes = true): void {
  if (tensor.dtype !== spec.dtype) throw new InvalidArgumentError(`${where()} expects dtype ${spec.dtype}, got ${tensor.dtype}`);
  const expected = spec.shape;
  if (expected === null || !shapes) return;
  const shape = tensor.shape;
  if (shape.length !== expected.length) {
    throw new InvalidArgumentError(`${where()} expects rank ${expected.length} [${expected.join(', ')}], got rank ${shape.length} [${shape.join(', ')}]`);
  }
  for (let i = 0; i < expected.length; i++) {
    const d = expected[i]!;
    if (d >= 0 && shape[i] !== d) {
      throw new InvalidArgumentError(`${where()} expects shape [${expected.join(', ')}], got [${shape.join(', ')}] (dimension ${i} must be ${d})`);
    }
  }
}


type JsonElement = number | string | boolean | { base64: string };

/**
 * Reads a tensor's elements as JSON-able values: int64 as a string when past 2^53,
 * floats as floatToJson() writes them, a string that is not UTF-8 as { base64 }.
 */
function elements(tensor: Tensor): (i: number) => JsonElement {
  if (tensor.dtype === 'string') {
    const all = tensor.bytes();
    return (i) => {
      try {
        return utf8.decode(all[i]!);
      } catch {
        return { base64: Buffer.from(all[i]!).toString('base64') };
      }
    };
  }
  const data = tensor.data as ArrayLike<number | bigint>;
  const dtype = tensor.dtype;
  if (isFloat(dtype)) {
    const { read } = FLOATS[dtype];
    return (i) => floatToJson(dtype, read(data[i] as number));
  }
  return (i) => {
    const v = data[i]!;
    // Any nonzero byte is true, as TensorFlow's kernels and numpy read it.
    if (dtype === 'bool') return v !== 0;
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    return v;
  };
}

function nest<T>(shape: readonly number[], at: (i: number) => T): unknown {
  let offset = 0;
  const build = (depth: number): unknown => {
    if (depth === shape.length) return at(offset++);
    return Array.from({ length: shape[depth]! }, () => build(depth + 1));
  };
  return build(0);
}

/** The tensor's values as nested arrays (a bare value for a scalar). */
export function tensorToJson(tensor: Tensor): unknown {
  return nest(tensor.shape, elements(tensor));
}

function formatter(tensor: Tensor): (i: number) => string {
  const at = elements(tensor);
  return (i) => {
    const v = at(i);
    if (typeof v === 'object') return `b64:${v.base64}`;
    if (tensor.dtype === 'string') return JSON.stringify(v);
    return Object.is(v, -0) ? '-0' : String(v); // floats are already their shortest decimal, NaN and ±Infinity their strings
  };
}

/**
 * A numpy-like preview: nested brackets, at most `edge` leading and trailing entries
 * per dimension with "..." between once a dimension is longer than 2 × edge.
 */
export function preview(tensor: Tensor, edge = 3): string {
  const shape = tensor.shape;
  // A zero-size tensor nests down to its first 0 dimension ([0, 3]: [], [1, 0]: [[]]), as its JSON.
  const strides = shape.map((_, k) => elementCount(shape.slice(k + 1)));
  const format = formatter(tensor);
  const render = (depth: number, offset: number): string => {
    if (depth === shape.length) return format(offset);
    const n = shape[depth]!;
    const picks = n > 2 * edge ? [...Array(edge).keys(), -1, ...Array.from({ length: edge }, (_, j) => n - edge + j)] : [...Array(n).keys()];
    const parts = picks.map((i) => (i < 0 ? '...' : render(depth + 1, offset + i * strides[depth]!)));
    const separator = depth === shape.length - 1 ? ', ' : `,\n${' '.repeat(depth + 1)}`;
    return `[${parts.join(separator)}]`;
  };
  return render(0, 0);
}
