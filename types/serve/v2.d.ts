import { type DType } from '../dtypes';
import type { ModelManager } from '../manager';
import type { Model } from '../model';
import type { SignatureInfo, TensorSpec } from '../proto';
import { Tensor } from '../tensor';
import { type JsonValue } from './json';
import type { SignatureLimits } from './limits';
/** The header that gives the JSON part's length in a request or response with binary data. */
export declare const HEADER_LENGTH = "inference-header-content-length";
/** The tfslice dtype of a v2 datatype (float32 for FP32), or undefined. */
export declare function dtypeOfV2(datatype: string): DType | undefined;
/** The v2 datatype of a tfslice dtype (FP32 for float32, BYTES for string); null for one v2 has no name for. */
export declare function v2Datatype(dtype: string): string | null;
/** A model's inputs or outputs as v2 metadata lists them: name, datatype, shape (-1 unknown). */
export declare function metadataTensors(specs: Readonly<Record<string, TensorSpec>>): {
    name: string;
    datatype: string;
    shape: number[];
}[];
/**
 * Checks the outputs a v2 request names (REST `outputs`, gRPC ModelInferRequest.outputs) against
 * the names metadata lists ({@link metadataTensors}): an output's key, or `key.part` for a
 * component of a ragged or sparse output (as run() returns them), before the model runs.
 * @throws INVALID_ARGUMENT for a name that no output has, listing the names there are
 */
export declare function checkV2OutputNames(outputs: Readonly<Record<string, TensorSpec>>, names: readonly string[]): void;
/**
 * A model's v2 metadata (REST GET /v2/models/{m}, gRPC ModelMetadata): its AVAILABLE versions and
 * the default signature's inputs and outputs.
 */
export declare function modelMetadata(manager: ModelManager, name: string, model: Model): {
    name: string;
    versions: string[];
    platform: string;
    inputs: ReturnType<typeof metadataTensors>;
    outputs: ReturnType<typeof metadataTensors>;
};
/**
 * The signature a KServe v2 inference runs (REST and gRPC): the one the request's
 * `signature_name` parameter names (tfslice's), else the model's default (serving_default, or
 * its only signature), which {@link modelMetadata} describes.
 * @throws INVALID_ARGUMENT for a model without a default (several signatures, none of them
 *   serving_default) asked without `signature_name`, naming the parameter and the signatures
 */
export declare function v2Signature(name: string, model: Pick<Model, 'defaultSignature' | 'signatures'>, requested: string | undefined): string;
/** An inference request, read: the tensors by input name and what the response should hold. */
export interface InferRequest {
    readonly id: string | undefined;
    readonly feeds: Record<string, Tensor>;
    /** Output names asked for (all when null), and whether each goes as binary. */
    readonly outputs: readonly {
        name: string;
        binary: boolean;
    }[] | null;
    /** How many outputs the request lists (`outputs` holds fewer when readInferRequest's limits cut it short). */
    readonly outputCount: number;
    /** The default for outputs not listed (parameters.binary_data_output). */
    readonly binaryByDefault: boolean;
    /** parameters.signature_name: the signature to run (tfslice's; the default one without it). */
    readonly signatureName: string | undefined;
    /** How many inputs the request has (`feeds` holds fewer when readInferRequest's limits cut it short). */
    readonly inputCount: number;
}
/**
 * A tensor from its raw little-endian bytes (BYTES: each element after its 4-byte length),
 * checked against its shape; `field` is what a size that does not fit calls the bytes
 * (binary_data_size over REST, raw_input_contents[i] over gRPC). `aligned` (the event loop's
 * way): numbers are a view of `bytes` where they start on a whole element (no copy here: run()
 * copies them, if TensorFlow needs them more aligned, on its runner thread), else a copy in
 * Tensor.alloc's memory (fed without another copy); false (a codec thread's way, whose body is
 * its own to move): a view of `bytes` too where they start on a whole element and are bigger
 * than Node's Buffer pool (so their buffer is not the pool, which small Buffers share), else a
 * typed array of their own.
 */
export declare function binaryTensor(name: string, dtype: DType, shape: number[], bytes: Uint8Array, aligned?: boolean, field?: string): Tensor;
/**
 * A raw binary request (Triton's binary tensor data extension: Inference-Header-Content-Length
 * 0, the body no JSON but one input's raw bytes) as the route holds it until its signature is
 * known: no id, its feeds to come from {@link rawBinaryFeeds}, every output as binary data.
 */
export declare const RAW_BINARY_REQUEST: InferRequest;
/**
 * A raw binary request's body: its bytes, or, for a big body kept in chunks, its length and how
 * to join them (the server joins them on a runner thread).
 */
export type RawBody = Uint8Array | {
    readonly byteLength: number;
    join(): Promise<Uint8Array>;
};
/**
 * The feeds of a raw binary request ({@link RAW_BINARY_REQUEST}) to `signature`, whose one
 * input the body's bytes are, in its dtype, checked against its spec as Triton deduces the
 * tensor: a numeric input takes the spec's shape, the one dimension it leaves open (-1), if
 * any, given by the body's length (two or more cannot be); a BYTES input takes the whole body
 * as its one element, in the spec's shape with each open dimension 1. The body's length is
 * checked before its bytes are read (a big body's are joined then, {@link RawBody}). The tensor
 * is a view of the bytes (a numeric one where they start on a whole element; else a copy).
 * @throws (rejects with) INVALID_ARGUMENT naming what does not fit (a signature of several
 *   inputs, a body whose length the shape cannot take), and the JSON request to send instead
 */
export declare function rawBinaryFeeds(signature: string, info: Pick<SignatureInfo, 'inputs'>, body: RawBody): Promise<Record<string, Tensor>>;
/**
 * Reads an inference request: `header` is the JSON (parsed), `binary` the bytes after it (empty
 * without the binary extension). `aligned`: as binaryTensor's. Of more inputs than
 * `limits.inputs + 1` only the first `limits.inputs + 1` are read, and the same of outputs (see
 * limits.ts); all by default.
 * @throws INVALID_ARGUMENT naming the input and what is wrong
 */
export declare function readInferRequest(header: JsonValue, binary: Uint8Array, aligned?: boolean, limits?: SignatureLimits): InferRequest;
/**
 * Splits a request body into its JSON header and binary part. `headerLength` is the value of
 * Inference-Header-Content-Length, or undefined (the whole body is JSON).
 */
export declare function splitBody(body: Uint8Array, headerLength: string | undefined): {
    header: JsonValue;
    binary: Uint8Array;
};
/** A tensor's raw bytes as the binary extension and gRPC's raw_output_contents carry them. */
export declare function outputBytes(tensor: Tensor): Uint8Array;
/** BYTES outputs whose layout takes this many bytes or more are laid out on a runner thread. */
export declare const OFF_THREAD_LAYOUT_BYTES: number;
/**
 * The BYTES outputs a response sends as binary data that are big enough
 * ({@link OFF_THREAD_LAYOUT_BYTES} laid out, or more), laid out on one of the addon's runner
 * threads, by output name: inferResponse()'s `laidOut`. On the event loop, 2 000 000 strings
 * held it 50-150 ms (mostly page faults of the fresh memory). Undefined when there are none
 * (no promise to wait for), and off the main thread (a codec thread lays out in JS, without
 * the addon).
 * @throws RESOURCE_EXHAUSTED (the promise rejects) without memory for a layout
 */
export declare function layOutBigBytes(request: Pick<InferRequest, 'outputs' | 'binaryByDefault'>, outputs: Readonly<Record<string, Tensor>>): Promise<Map<string, Uint8Array>> | undefined;
/** A response: the JSON, and the binary part to follow it (null without binary outputs). */
export interface InferResponse {
    readonly json: string;
    readonly binary: Uint8Array[] | null;
}
/**
 * The response to an inference: the outputs asked for (all, in name order, when the request
 * named none), each as JSON data or, when asked, as binary data after the JSON.
 * @throws INVALID_ARGUMENT for an output the model does not have; FAILED_PRECONDITION for BYTES
 *   that are not UTF-8 asked for as JSON
 */
export declare function inferResponse(model: string, version: number, request: Pick<InferRequest, 'id' | 'outputs' | 'binaryByDefault'>, outputs: Readonly<Record<string, Tensor>>, laidOut?: ReadonlyMap<string, Uint8Array>): InferResponse;
