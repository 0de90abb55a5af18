/**
 * The dtypes tfslice handles: their names, TensorFlow's DataType numbers (the
 * same in TF_DataType and in the protobuf DataType enum) and the JS data type
 * that carries their elements.
 */

/** The dtypes whose elements a typed array holds (every dtype but 'string'). */
export type NumericDType =
  | 'float32' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool' | 'float16' | 'bfloat16';

/** A dtype tfslice carries, by TensorFlow's Python name (tf.float32 is 'float32'; DT_HALF is 'float16', DT_STRING 'string'). */
export type DType = NumericDType | 'string';

/** The typed array that holds each numeric dtype; float16/bfloat16 are raw bits. */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
}

/** Any typed array that holds a numeric dtype's elements (Float32Array, BigInt64Array, Uint16Array for float16, ...). */
export type TypedArray = TypedArrayOf[NumericDType];

/** What `Tensor.data` holds for dtype D. */
export type DataOf<D extends DType> = D extends NumericDType ? TypedArrayOf[D] : string[];

/** What a feed may carry for dtype D: a 'string' tensor's elements may be strings (sent as UTF-8), raw bytes, or a mix. */
export type FeedDataOf<D extends DType> = D extends NumericDType ? TypedArrayOf[D] : (string | Uint8Array)[];

interface TypedArrayConstructor {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

export interface DTypeInfo {
  readonly name: DType;
  /** TF_DataType / protobuf DataType number. */
  readonly tf: number;
  /** Element size in bytes; 0 for string. */
  readonly bytes: number;
  readonly array: TypedArrayConstructor | null;
}

const TABLE: readonly DTypeInfo[] = [
  { name: 'float32', tf: 1, bytes: 4, array: Float32Array },
  { name: 'float64', tf: 2, bytes: 8, array: Float64Array },
  { name: 'int32', tf: 3, bytes: 4, array: Int32Array },
  { name: 'uint8', tf: 4, bytes: 1, array: Uint8Array },
  { name: 'int16', tf: 5, bytes: 2, array: Int16Array },
  { name: 'int8', tf: 6, bytes: 1, array: Int8Array },
  { name: 'string', tf: 7, bytes: 0, array: null },
  { name: 'int64', tf: 9, bytes: 8, array: BigInt64Array as unknown as TypedArrayConstructor },
  { name: 'bool', tf: 10, bytes: 1, array: Uint8Array },
  { name: 'bfloat16', tf: 14, bytes: 2, array: Uint16Array },
  { name: 'uint16', tf: 17, bytes: 2, array: Uint16Array },
  { name: 'float16', tf: 19, bytes: 2, array: Uint16Array },
  { name: 'uint32', tf: 22, bytes: 4, array: Uint32Array },
  { name: 'uint64', tf: 23, bytes: 8, array: BigUint64Array as unknown as TypedArrayConstructor },
];

const BY_NAME = new Map<string, DTypeInfo>(TABLE.map((d) => [d.name, d]));
const BY_TF = new Map<number, DTypeInfo>(TABLE.map((d) => [d.tf, d]));

/** Every dtype name tfslice accepts, in TensorFlow's enum order. */
export const DTYPES: readonly DType[] = TABLE.map((d) => d.name);

export function dtypeInfo(name: string): DTypeInfo | undefined {
  return BY_NAME.get(name);
}

export function dtypeFromTf(tf: number): DTypeInfo | undefined {
  return BY_TF.get(tf);
}

// TensorFlow DataType names for dtypes tfslice cannot carry, so errors can name them.
const OTHER_TF_NAMES: Record<number, string> = {
  8: 'complex64', 11: 'qint8', 12: 'quint8', 13: 'qint32', 15: 'qint16', 16: 'quint16',
  18: 'complex128', 20: 'resource', 21: 'variant',
};

/** A readable name for any TensorFlow DataType number. */
export function tfDTypeName(tf: number): string {
  return BY_TF.get(tf)?.name ?? OTHER_TF_NAMES[tf] ?? `DataType(${tf})`;
}
