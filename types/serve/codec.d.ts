import type { DType } from '../dtypes';
import type { NativeData } from '../native';
import type { ExamplesRun, InferHead, Message } from './tensor-proto';
import type { Format } from './tfs';
import type { InferRequest } from './v2';
import type { SignatureLimits } from './limits';
/** Tensors in the addon's flat form, by key: [dtype (TensorFlow's number), shape, data]. */
export type WireTensors = Record<string, [number, number[], NativeData]>;
/** A task's failure, as the worker reports it (a structured clone would drop an error's `code`). */
export interface TaskError {
    code: string;
    message: string;
    /** For INTERNAL: the stack, for the server's log (never sent to a client). */
    detail?: string;
}
/** What a task answers. */
export type CodecAnswer<T> = {
    ok: T;
} | {
    error: TaskError;
};
/** The inputs of every signature of a model, as the worker converts a Predict body for them. */
export type SignatureInputs = Record<string, Record<string, {
    dtype: DType;
    shape: readonly number[] | null;
}>>;
/** A request body as a task carries it: one buffer, or its chunks in order. */
export type TaskBody = Uint8Array | Uint8Array[];
/** A Predict body to read for a model's signatures. */
export interface PredictTask {
    body: TaskBody;
    signatures: SignatureInputs;
    defaultSignature: string | null;
}
/** A Classify or Regress body to read. */
export interface ExamplesTask {
    body: TaskBody;
    api: 'classify' | 'regress';
}
/** A v2 inference body to read; headerLength is Inference-Header-Content-Length's value. */
export interface InferTask {
    body: TaskBody;
    headerLength: string | undefined;
    limits: SignatureLimits;
}
/** Outputs to write as a Predict response. */
export interface PredictResponseTask {
    outputs: WireTensors;
    format: Format;
}
/** A Classify or Regress signature's outputs for `count` examples, to write as its response. */
export interface ExamplesResponseTask {
    outputs: WireTensors;
    count: number;
    api: 'classify' | 'regress';
}
/** Outputs to write as a v2 inference response. */
export interface InferResponseTask {
    model: string;
    version: number;
    request: Omit<InferRequest, 'feeds'>;
    outputs: WireTensors;
}
/** What a Predict body says: its signature and format, and its feeds or why they do not fit the signature. */
export interface PredictRead {
    signature: string;
    format: Format;
    feeds: WireTensors | null;
    feedsError: TaskError | null;
}
/** A gRPC request message to decode (Predict's or ModelInfer's), reading no more inputs and outputs than `limits` (limits.ts) allow. */
export interface GrpcTask {
    body: TaskBody;
    limits: SignatureLimits;
}
/** What a Predict message says: each part, or the error reading it gave (raised where the event loop would raise it). */
export interface GrpcPredictRead {
    unreadable?: string;
    spec?: {
        name: string;
        version?: number;
        label?: string;
        signature: string;
    };
    specError?: TaskError;
    /** output_filter: its first `limits.outputs + 1` names, and how many it has. */
    filter: string[];
    filterCount: number;
    /** Its input aliases, the first `limits.inputs + 1` (in order), and how many it has. */
    aliases: string[];
    inputCount: number;
    feeds: WireTensors | null;
    feedsError: TaskError | null;
}
/** What a ModelInfer message says, as GrpcPredictRead. */
export interface GrpcInferRead {
    unreadable?: string;
    head?: InferHead;
    feeds: WireTensors | null;
    feedsError: TaskError | null;
}
/** A Classify, Regress or MultiInference message to decode: `type` its message type, `method` the method (for errors). */
export interface GrpcExamplesTask {
    body: TaskBody;
    type: string;
    method: string;
}
/** What such a message says: the message but its input, encoded again; its tf.Examples serialized (as `inputs`), or why not. */
export interface GrpcExamplesRead {
    unreadable?: string;
    head?: Uint8Array;
    examples: WireTensors | null;
    examplesError: TaskError | null;
}
/** A Classify, Regress or MultiInference response (message `type`) to build from its runs and encode. */
export interface GrpcExamplesResponseTask {
    type: string;
    multi: boolean;
    runs: (Omit<ExamplesRun, 'outputs'> & {
        outputs: WireTensors;
    })[];
}
/** A PredictResponse to encode: its model_spec, and the outputs as TensorProtos (typed fields, or tensor_content). */
export interface GrpcPredictResponseTask {
    modelSpec: Message;
    outputs: WireTensors;
    content: boolean;
}
/** A ModelInferResponse to encode: the message but its raw_output_contents, and the outputs for them in order. */
export interface GrpcInferResponseTask {
    message: Message;
    outputs: WireTensors;
    names: string[];
}
/** What a codec thread needs of a model to read a Predict body for it. */
export interface ModelInputs {
    signatures: SignatureInputs;
    defaultSignature: string | null;
}
