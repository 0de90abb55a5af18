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
import { type DType, type TypedArray } from './dtypes';
import type { TensorSpec } from './proto';
import { Tensor } from './tensor';
/** IEEE half bits → number. */
export declare function halfToNumber(bits: number): number;
/**
 * number → IEEE half bits, rounding to nearest even through float32, as TensorFlow converts a
 * double (Eigen's half from a float; its cast from float64, TensorFlow Serving's JSON reader).
 * Where float32's own rounding lands on a half tie, numpy's float16, which rounds from the
 * double, can differ by one unit (1 + 2^-11 + 2^-40: numpy 0x3c01, TensorFlow and tfslice 0x3c00).
 */
export declare function numberToHalf(value: number): number;
/** bfloat16 bits → number. */
export declare function bfloat16ToNumber(bits: number): number;
/** number → bfloat16 bits, rounding to nearest even through float32 (as TensorFlow and ml_dtypes). */
export declare function numberToBfloat16(value: number): number;
/** The float dtypes, whose elements are written shortest-round-trip. */
export type FloatDType = 'float16' | 'bfloat16' | 'float32' | 'float64';
/** Whether `dtype` is a float dtype. */
export declare const isFloat: (dtype: DType) => dtype is FloatDType;
/**
 * A float element as a number: `stored` is what the tensor's typed array holds (raw bits for
 * float16/bfloat16), the result its value rounded to the shortest decimal that reads back to it
 * in `dtype` (NaN and ±Infinity as they are). String() of it is that decimal.
 */
export declare function shortestFloat(dtype: FloatDType, stored: number): number;
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
export declare function lossyFloat(dtype: FloatDType, value: unknown): string | null;
/** What a feed may be besides a Tensor or { dtype, shape, data }: a value typed by the signature. */
export type FeedValue = number | bigint | boolean | string | Uint8Array | TypedArray | {
    /** A string element's bytes in base64 (tfslice's CLI and JSON): for bytes that are not UTF-8. */
    base64: string;
} | {
    /** A string element's bytes in base64, as TensorFlow Serving's REST API writes them. */
    b64: string;
} | readonly FeedValue[];
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
export declare function tensorFromValue(value: unknown, spec: Pick<TensorSpec, 'dtype' | 'shape'>, where: string, options?: {
    lossless?: boolean;
}): Tensor;
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
export declare function checkAgainstSpec(spec: Pick<TensorSpec, 'dtype' | 'shape'>, tensor: Tensor, where: () => string, shapes?: boolean): void;
/** The tensor's values as nested arrays (a bare value for a scalar). */
export declare function tensorToJson(tensor: Tensor): unknown;
/**
 * A numpy-like preview: nested brackets, at most `edge` leading and trailing entries
 * per dimension with "..." between once a dimension is longer than 2 × edge.
 */
export declare function preview(tensor: Tensor, edge?: number): string;
