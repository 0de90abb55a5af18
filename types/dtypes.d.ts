/**
 * The dtypes tfslice handles: their names, TensorFlow's DataType numbers (the
 * same in TF_DataType and in the protobuf DataType enum) and the JS data type
 * that carries their elements.
 */
/** The dtypes whose elements a typed array holds (every dtype but 'string'). */
export type NumericDType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'float16' | 'bfloat16';
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
/** Every dtype name tfslice accepts, in TensorFlow's enum order. */
export declare const DTYPES: readonly DType[];
export declare function dtypeInfo(name: string): DTypeInfo | undefined;
export declare function dtypeFromTf(tf: number): DTypeInfo | undefined;
/** A readable name for any TensorFlow DataType number. */
export declare function tfDTypeName(tf: number): string;
export {};
