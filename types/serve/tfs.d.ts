import type { VersionStatus } from '../manager';
import type { Model, RunOptions } from '../model';
import type { SignatureInfo, TensorSpec } from '../proto';
import { Tensor } from '../tensor';
import { type JsonValue } from './json';
/** Which JSON layout a Predict request used; the response uses the same. */
export type Format = 'row' | 'columnar';
/** A Predict request's top level, checked. */
export interface PredictRequest {
    /** '' or absent: the default signature. */
    readonly signatureName: string | undefined;
    readonly format: Format;
    /** The value of "instances" or "inputs". */
    readonly payload: JsonValue;
}
/** A Predict request's top level: exactly one of "instances" and "inputs", and the signature name. */
export declare function readPredictRequest(body: JsonValue): PredictRequest;
/**
 * The feeds a Predict payload gives a signature's inputs: dtypes from the signature, shapes
 * from the JSON (rows stacked on a new dimension 0).
 * @throws INVALID_ARGUMENT naming the instance and the input
 */
export declare function feedsFromPayload(format: Format, payload: JsonValue, inputs: Readonly<Record<string, Pick<TensorSpec, 'dtype' | 'shape'>>>): Record<string, Tensor>;
/** A float's JSON token as TensorFlow Serving writes them: NaN, Infinity, -Infinity bare; whole values with ".0". */
export declare function floatToken(value: number): string;
/**
 * A Predict response in the request's format. Row: {"predictions": [...]}, each row of
 * dimension 0 an element (an object keyed by output when there are several); columnar:
 * {"outputs": ...}, the tensor whole (an object when there are several).
 * @throws INVALID_ARGUMENT when outputs disagree on their batch size (row format)
 */
export declare function predictResponse(outputs: Readonly<Record<string, Tensor>>, format: Format): string;
/** A Classify or Regress request: the signature and the serialized tf.Examples (context merged into each). */
export interface ExamplesRequest {
    readonly signatureName: string | undefined;
    readonly examples: Tensor;
    readonly count: number;
}
/** Reads {"signature_name", "context", "examples"} into one string tensor of serialized tf.Examples. */
export declare function readExamplesRequest(body: JsonValue, api: 'classify' | 'regress'): ExamplesRequest;
/**
 * A model's signature by the name a request gives, as TensorFlow Serving looks it up: REST's
 * predict (http_rest_api_handler.cc) and KServe v2 answer INVALID_ARGUMENT; gRPC's Predict
 * (`api` 'grpc predict', predict_util.cc) FAILED_PRECONDITION, each in TensorFlow Serving's words.
 * @throws INVALID_ARGUMENT or FAILED_PRECONDITION naming the signatures there are
 */
export declare function servingSignature(model: Model, name: string, api?: 'rest' | 'grpc predict'): SignatureInfo;
/**
 * The API a MultiInference task's method_name asks for (TensorFlow Serving's multi_inference.cc):
 * classify or regress; any other name is UNIMPLEMENTED, naming the task by its index. gRPC's
 * MultiInference and warm-up's multi_inference_log share it.
 */
export declare function multiInferenceApi(method: string, task: number): 'classify' | 'regress';
/**
 * TensorFlow Serving's --enable_signature_method_name_check, when on: a signature's method_name
 * must fit the API that runs it. Predict takes predict, classify and regress signatures
 * (else INTERNAL, as TensorFlow Serving's predict_util.cc); Classify only classify signatures,
 * Regress only regress ones (else INVALID_ARGUMENT, as its classifier.cc and regressor.cc).
 * TensorFlow 2 writes every signature with the predict method name, so Classify and Regress
 * refuse a TF2 model's signatures unless its saved_model.pb was edited (TensorFlow Serving's
 * reason for leaving the check off by default).
 */
export declare function checkMethodName(info: SignatureInfo, api: 'predict' | 'classify' | 'regress'): void;
/**
 * A Classify or Regress request's signature, checked as those APIs check it: there
 * (INVALID_ARGUMENT naming the signatures there are), its method name with the check on
 * (checkMethodName), its inputs and outputs (checkExamplesSignature). REST, gRPC and warm-up
 * share it.
 * @returns the output keys the API reads, to fetch (checkExamplesSignature)
 */
export declare function examplesSignature(model: Model, name: string, api: 'classify' | 'regress', methodNameCheck: boolean): string[];
/**
 * A Classify or Regress signature run on serialized tf.Examples (its `inputs`) as those APIs run
 * it: the signature checked (examplesSignature), only the outputs the API reads fetched, shapes
 * not held to the signature's. REST, gRPC and warm-up share it.
 * @throws (rejects with) as examplesSignature, and as Model.run
 */
export declare function runExamplesSignature(model: Model, signature: string, api: 'classify' | 'regress', examples: Tensor, methodNameCheck: boolean, options?: Pick<RunOptions, 'runTimeoutMs' | 'signal'>): Promise<Record<string, Tensor>>;
/**
 * What Classify and Regress require of a signature (TensorFlow Serving's classifier.cc,
 * regressor.cc): one input, 'inputs'; to regress, one output, 'outputs'; to classify, one or two
 * outputs, 'classes' or 'scores' among them (the other of two is not fetched, as TensorFlow
 * Serving fetches only those).
 * @returns the output keys the API reads: 'classes' and/or 'scores', or 'outputs'
 * @throws INVALID_ARGUMENT naming the signature and what it has
 */
export declare function checkExamplesSignature(info: SignatureInfo, api: 'classify' | 'regress', name: string): string[];
/**
 * A classify signature's classes and/or scores, per example: each class's label (UTF-8; "" without
 * a classes output) and score (0 without a scores output), as TensorFlow Serving's classifier reads them.
 * @throws INVALID_ARGUMENT for outputs of the wrong dtype or shape
 */
export declare function classifications(outputs: Readonly<Record<string, Tensor>>, count: number): {
    label: string;
    score: number;
}[][];
/** {"results": [[[label, score], ...] per example]} from a classify signature's classes and/or scores. */
export declare function classifyResponse(outputs: Readonly<Record<string, Tensor>>, count: number): string;
/**
 * A regress signature's value per example, from its float output 'outputs' shaped [n] or [n, 1].
 * @throws INVALID_ARGUMENT for another dtype or shape
 */
export declare function regressions(outputs: Readonly<Record<string, Tensor>>, count: number): Float32Array;
/** {"results": [value per example]} from a regress signature's float outputs, shaped [n] or [n, 1]. */
export declare function regressResponse(outputs: Readonly<Record<string, Tensor>>, count: number): string;
/** GetModelStatusResponse as JSON: versions descending, versions as strings, status codes by name. */
export declare function statusResponse(versions: readonly VersionStatus[]): unknown;
/** A dtype as TensorFlow's DataType enum names it (DT_FLOAT). */
export declare function tfDataTypeName(dtype: string): string;
/** GetModelMetadataResponse as JSON: the model spec and every signature as a SignatureDef. */
export declare function metadataResponse(name: string, version: number, signatures: Readonly<Record<string, SignatureInfo>>): unknown;
