/**
 * Tensors as people write and read them: nested JSON arrays in (shape from the
 * nesting, dtype from the signature), nested JSON values and a numpy-like preview
 * out. float16/bfloat16 travel as numbers here and as raw bits in a Tensor.
 */
import type { DType } from '../dtypes';
import { Tensor } from '../tensor';
/** IEEE half bits → number. */
export declare function halfToNumber(bits: number): number;
/** number → IEEE half bits, rounding to nearest even (through float32). */
export declare function numberToHalf(value: number): number;
/** bfloat16 bits → number. */
export declare function bfloat16ToNumber(bits: number): number;
/** number → bfloat16 bits, rounding to nearest even. */
export declare function numberToBfloat16(value: number): number;
/** A tensor of `dtype` from a JSON value: a scalar, or rectangular nested arrays. */
export declare function tensorFromJson(value: unknown, dtype: DType, where: string): Tensor;
/** The tensor's values as nested arrays (a bare value for a scalar). */
export declare function tensorToJson(tensor: Tensor): unknown;
/**
 * A numpy-like preview: nested brackets, at most `edge` leading and trailing entries
 * per dimension with "..." between once a dimension is longer than 2 × edge.
 */
export declare function preview(tensor: Tensor, edge?: number): string;
