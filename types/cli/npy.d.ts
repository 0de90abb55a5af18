/**
 * NumPy .npy files (format versions 1, 2 and 3): read into a Tensor, write a Tensor.
 * Numeric dtypes numpy can store: <f2 (float16, as raw bits) <f4 <f8 |i1 <i2 <i4 <i8
 * |u1 <u2 <u4 <u8 |b1, either byte order, C or Fortran order. Strings and bfloat16
 * (which has no numpy dtype) are not .npy material: the CLI carries them as JSON.
 */
import { type NumericDType } from '../dtypes';
import { Tensor } from '../tensor';
/** Whether `bytes` start like a .npy file. */
export declare function isNpy(bytes: Uint8Array): boolean;
/** Parses .npy bytes; `where` names the file in errors. */
export declare function readNpy(bytes: Uint8Array, where: string): Tensor;
/** Whether a tensor of this dtype can be written as .npy. */
export declare function npyCanHold(dtype: string): dtype is NumericDType;
/** .npy bytes (version 1, or 2 for a huge header) of a numeric tensor other than bfloat16. */
export declare function writeNpy(tensor: Tensor): Uint8Array;
