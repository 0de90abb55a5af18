import Long from 'long';
import { type Type } from 'protobufjs';
import { Tensor } from '../tensor';
/** A decoded protobufjs message, as the services read and write them. */
export type Message = Record<string, unknown>;
/** A 64-bit integer as protobufjs decodes one. */
export type Int64 = Long | number | string | null | undefined;
/** A version as KServe's messages carry it: a string of decimal digits. */
export declare function versionOf(value: unknown, what: string): number | undefined;
export declare function toNumber(value: Int64, what: string): number;
export declare function dataTypeName(tf: number): string;
export declare function modelSpecOf(request: Message): {
    name: string;
    version?: number;
    label?: string;
    signature: string;
};
/** Predict's input aliases, in the message's order. */
export declare function predictAliases(request: Message): string[];
/**
 * Predict's inputs (TensorProtos by alias) as feeds: the first `maxInputs + 1` of them (all by
 * default; see limits.ts). `aligned`: as binaryTensor's.
 */
export declare function predictFeeds(request: Message, aligned?: boolean, maxInputs?: number): Record<string, Tensor>;
/**
 * ModelInfer's inputs (typed contents, or raw_input_contents one per input) as feeds: the first
 * `maxInputs + 1` of them (all by default; see limits.ts). `aligned`: as binaryTensor's.
 * @throws INVALID_ARGUMENT naming the input
 */
export declare function inferFeeds(request: Message, aligned?: boolean, maxInputs?: number): Record<string, Tensor>;
/**
 * `bytes` decoded as the message `type` (protos().lookupType('tensorflow.serving.PredictRequest'),
 * or a method's resolved request type), or why they are not one (answered INVALID_ARGUMENT:
 * grpc-js itself would answer INTERNAL, which says the server failed).
 */
export declare function decodeMessage(type: Type, bytes: Uint8Array): {
    message: Message;
} | {
    unreadable: string;
};
/** What a ModelInfer request says besides its inputs, unchecked (the service checks it in order). */
export interface InferHead {
    name: unknown;
    version: unknown;
    id: unknown;
    /** The outputs asked for by name (all when empty): the first `maxOutputs + 1`, and how many. */
    wanted: string[];
    wantedCount: number;
    /** parameters.signature_name's string_param; null when that parameter holds another kind (bool_param, int64_param, ...) or none. */
    signature: string | undefined | null;
    /** The first output asked for with parameters.classification (not supported), if any. */
    classified: string | undefined;
    /** The first output asked for into parameters.shared_memory_region (not supported), if any. */
    sharedMemory: string | undefined;
    /** How many inputs the request has (inferFeeds may have read fewer). */
    inputCount: number;
}
/** A ModelInfer request's fields besides its inputs, reading the first `maxOutputs + 1` outputs' names (all by default; limits.ts). */
export declare function inferHead(request: Message, maxOutputs?: number): InferHead;
/**
 * The tf.Examples of a Classify, Regress or MultiInference request's `input`, each serialized
 * again (protobufjs), the context's bytes first where there is one, so that parsing merges them
 * as TensorFlow Serving and the REST API do. `what`: the method, for the error.
 * @throws INVALID_ARGUMENT without an example ("Input is empty.", as TensorFlow Serving)
 */
export declare function serializedExamples(input: Message | undefined, what: string): Uint8Array[];
/**
 * One classify or regress signature's outputs for `count` examples as TensorFlow Serving's
 * ClassificationResult or RegressionResult, read as its classifier and regressor read them.
 * @throws INVALID_ARGUMENT for outputs of the wrong dtype or shape
 */
export declare function examplesResult(api: 'classify' | 'regress', outputs: Readonly<Record<string, Tensor>>, count: number): Message;
/** A classify or regress signature's run on a request's tf.Examples: what its response reports. */
export interface ExamplesRun {
    api: 'classify' | 'regress';
    /** The ModelSpec that ran (name, version, signature_name). */
    modelSpec: Message;
    outputs: Readonly<Record<string, Tensor>>;
    /** The examples fed. */
    count: number;
}
/**
 * The response message of Classify or Regress (one run: `{ model_spec, result }`), or of
 * MultiInference (`multi`: `{ results }`, a classification_result or regression_result each).
 * @throws INVALID_ARGUMENT as examplesResult
 */
export declare function examplesMessage(runs: readonly ExamplesRun[], multi: boolean): Message;
