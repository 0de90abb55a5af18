import type { Model } from '../model';
/** Where a version's warm-up requests are, under its directory (TensorFlow Serving's WarmupConsts::kRequestsFileName under assets.extra). */
export declare const WARMUP_REQUESTS_FILE: string;
/** The most records a warm-up file may hold (TensorFlow Serving's WarmupConsts::kMaxNumRecords). */
export declare const MAX_WARMUP_RECORDS = 1000;
/** Options of runSavedModelWarmup(). */
export interface SavedModelWarmupOptions {
    /** How many times each request runs (TensorFlow Serving's ModelWarmupOptions.num_request_iterations). Default 1. */
    iterations?: number;
    /** Check each signature's method_name against its request's API, as TensorFlow Serving's --enable_signature_method_name_check (checkMethodName). Default false. */
    signatureMethodNameCheck?: boolean;
}
/**
 * Runs the warm-up requests of a SavedModel version, as TensorFlow Serving does after loading
 * one (its `--enable_model_warmup`, on by default): the PredictionLog records of
 * `<exportDir>/assets.extra/tf_serving_warmup_requests` (TFRecord), at most 1000, each request
 * (predict_log, classify_log, regress_log, multi_inference_log) run `iterations` times on
 * `model`, in order, under the signature it names. No file: nothing runs. Resolves with the
 * number of records read.
 *
 * For a ModelManager, as a model's warm-up:
 * `warmup: { run: (model, { path }) => runSavedModelWarmup(model, path) }`.
 *
 * @throws DATA_LOSS for a file that is not TFRecord (a checksum that does not match, a record cut
 *   short); INVALID_ARGUMENT for a record that is not a PredictionLog, for more than 1000
 *   records, and for requests that cannot run (as the APIs answer them); UNIMPLEMENTED for a
 *   session_run_log; INVALID_ARGUMENT for a file that is not a regular one (a FIFO, a device); the
 *   file system's own error for a file that cannot be read. The message
 *   names the record (its number, from 1). ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE for
 *   `options.iterations` that is not a whole number ≥ 1.
 */
export declare function runSavedModelWarmup(model: Model, exportDir: string, options?: SavedModelWarmupOptions): Promise<number>;
