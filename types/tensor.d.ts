import { type DataOf, type DType, type FeedDataOf, type NumericDType } from './dtypes';
declare global {
    interface SymbolConstructor {
        readonly dispose: unique symbol;
        readonly asyncDispose: unique symbol;
    }
}
/** The most dimensions TensorFlow allows a tensor (TensorShape::MaxDimensions()). */
export declare const MAX_RANK = 254;
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
export declare function checkShape(shape: unknown, field?: string): asserts shape is readonly number[];
/** Number of elements of a shape (1 for a scalar). */
export declare function elementCount(shape: readonly number[]): number;
/**
 * A tensor. Numeric data lives in a typed array (see DataOf); string tensors hold
 * their elements as bytes and decode them as UTF-8 on first access to `data`.
 */
export declare class Tensor<D extends DType = DType> {
    #private;
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
    constructor(dtype: D, data: FeedDataOf<D>, shape?: readonly number[]);
    /** Element type, e.g. 'float32'. Read-only. */
    get dtype(): D;
    /**
     * Whether this tensor's dtype is `dtype`, as a type guard: run()'s outputs are typed
     * `Tensor` (any dtype), and `if (y.is('float32'))` makes `y.data` a `Float32Array` without a
     * cast. Never throws (an unknown dtype is simply not this one's).
     */
    is<T extends DType>(dtype: T): this is Tensor<T>;
    /** Dimensions, frozen ([] for a scalar). Read-only. */
    get shape(): readonly number[];
    /** JSON.stringify(tensor): its dtype and shape, as before they were accessors (not its data). */
    toJSON(): {
        dtype: D;
        shape: readonly number[];
    };
    /** Number of elements. */
    get size(): number;
    /** The elements: a typed array, or for 'string' a string[] decoded as UTF-8. */
    get data(): DataOf<D>;
    /** For 'string' tensors: each element's raw bytes (views, no copy). */
    bytes(): Uint8Array[];
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
    dispose(): void;
    /** dispose(), for `using y = outputs.y` (TypeScript 5.2's explicit resource management): disposed at the end of its block. */
    [Symbol.dispose](): void;
    /**
     * True once dispose() has freed this tensor's memory (an output's, or Model.alloc's shared
     * memory; set at once, though a run in flight that reads it keeps it until that run ends).
     * Such a tensor cannot be fed again. Tensors over memory you provided are never freed.
     */
    get disposed(): boolean;
    /**
     * A zero-filled tensor whose memory is aligned for TensorFlow, so feeding it
     * never copies (feeds of 16 KiB and more are borrowed when aligned).
     * @throws ERR_INVALID_ARG_TYPE (TypeError) for a string or unknown dtype or a bad dimension;
     *   INVALID_ARGUMENT for a shape past TensorFlow's limits or over MAX_BUFFER_BYTES (4 GiB on
     *   Node 20) to allocate
     */
    static alloc<N extends NumericDType>(dtype: N, shape: readonly number[]): Tensor<N>;
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
export declare function madeTensor(value: Tensor, key: string): Tensor;
/**
 * Accepts a Tensor or a TensorLike for feed `key` and returns a Tensor (validated).
 * On the per-run path: the "feed 'key'" label is only built for an error.
 */
export declare function toTensor(value: unknown, key: string): Tensor;
