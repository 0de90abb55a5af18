import { type ExamplesResponseTask, type ExamplesTask, type GrpcExamplesResponseTask, type GrpcExamplesTask, type GrpcInferResponseTask, type GrpcPredictResponseTask, type GrpcTask, type InferResponseTask, type InferTask, type PredictResponseTask, type PredictTask } from './codec';
/** A Predict body into its signature, format and feeds (tfs.ts, as on the event loop). */
export declare function predict(task: PredictTask): unknown;
/** A Classify or Regress body into its serialized tf.Examples. */
export declare function examples(task: ExamplesTask): unknown;
/** A v2 inference body (its JSON header, and the binary part after it) into the request. */
export declare function infer(task: InferTask): unknown;
/** A Predict response, as UTF-8 JSON. */
export declare function predictResponseJson(task: PredictResponseTask): unknown;
/** A Classify or Regress response, as UTF-8 JSON. */
export declare function examplesResponseJson(task: ExamplesResponseTask): unknown;
/** A v2 inference response: its JSON as UTF-8, then the binary parts. */
export declare function inferResponseJson(task: InferResponseTask): unknown;
/** A Predict message: its model_spec, output_filter and inputs as feeds (tensor-proto.ts, as on the event loop). */
export declare function grpcPredict(task: GrpcTask): unknown;
/** A ModelInfer message: its fields and inputs as feeds. */
export declare function grpcInfer(task: GrpcTask): unknown;
/** A Classify, Regress or MultiInference message: the message but its input (encoded again, small), and its tf.Examples serialized. */
export declare function grpcExamples(task: GrpcExamplesTask): unknown;
/** A Classify, Regress or MultiInference response, built from its runs' outputs and encoded. */
export declare function grpcExamplesResponse(task: GrpcExamplesResponseTask): unknown;
/** A PredictResponse, encoded. */
export declare function grpcPredictResponse(task: GrpcPredictResponseTask): unknown;
/** A ModelInferResponse, encoded, with its outputs' raw bytes. */
export declare function grpcInferResponse(task: GrpcInferResponseTask): unknown;
