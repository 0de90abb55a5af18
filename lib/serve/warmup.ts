/**
 * TensorFlow Serving's SavedModel warm-up (tensorflow_serving/servables/tensorflow/
 * saved_model_warmup.cc, saved_model_warmup_util.cc): a version directory may hold
 * assets.extra/tf_serving_warmup_requests, a TFRecord file of PredictionLog protos, whose
 * requests are run on the version once it is loaded and before it serves, so that its first
 * real requests do not pay for TensorFlow's lazy initialization.
 *
 * The file is read here, record by record: a TFRecord reader is a few lines over a CRC-32C
 * (the crc-32 package's), and no maintained npm package reads TFRecord files.
 */
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

import type * as Crc from 'crc-32';

import { InvalidArgumentError, invalidType, outOfRange, TensorFlowError, wholeExpected } from '../errors';
import { openRegularFile } from '../files';
import type { Model } from '../model';
import { Tensor } from '../tensor';
import { decodeMessage, type Message, predictFeeds, protos, serializedExamples } from './tensor-proto';
import { checkMethodName, multiInferenceApi, runExamplesSignature, servingSignature } from './tfs';

// crc-32 ships types for its CRC-32 module only; its CRC-32C module has the same functions.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const crc32c = require('crc-32/crc32c') as typeof Crc;

/** Where a version's warm-up requests are, under its directory (TensorFlow Serving's WarmupConsts::kRequestsFileName under assets.extra). */
export const WARMUP_REQUESTS_FILE: string = path.join('assets.extra', 'tf_serving_warmup_requests');

/** The most records a warm-up file may hold (TensorFlow Serving's WarmupConsts::kMaxNumRecords). */
export const MAX_WARMUP_RECORDS = 1000;

// The largest record read: a gRPC message's limit (2 GiB), past which no request could have come.
const MAX_RECORD_BYTES = 2 ** 31 - 1;

/** Options of runSavedModelWarmup(). */
export interface SavedModelWarmupOptions {
  /** How many times each request runs (TensorFlow Serving's ModelWarmupOptions.num_request_iterations). Default 1. */
  iterations?: number;
  /** Check each signature's method_name against its request's API, as TensorFlow Serving's --enable_signature_method_name_check (checkMethodName). Default false. */
  signatureMethodNameCheck?: boolean;
}

// TFRecord's checksum: CRC-32C, masked (tensorflow/core/lib/hash/crc32c.h, Mask).
function maskedCrc(data: Uint8Array): number {
  const crc = crc32c.buf(data) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

// DATA_LOSS, as TensorFlow's record reader says it, with TensorFlow Serving's advice.
function dataLoss(file: string, what: string): TensorFlowError {
  return new TensorFlowError('DATA_LOSS', `${what} in ${file}. Please verify your warmup data is in TFRecord format.`);
}

// Reads exactly `length` bytes at `position` (fewer only at the end of the file).
async function readAt(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    // (fs.read takes at most 2^31 - 1 bytes at once.)
    const { bytesRead } = await handle.read(bytes, filled, Math.min(length - filled, 2 ** 30), position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return bytes.subarray(0, filled);
}

/**
 * The records of a TFRecord file, one at a time: each a uint64 length, its masked CRC-32C, the
 * data and the data's masked CRC-32C (little-endian).
 * @throws DATA_LOSS for a truncated or corrupted record
 */
async function* tfRecords(handle: FileHandle, file: string): AsyncGenerator<Buffer> {
  const { size } = await handle.stat();
  for (let offset = 0; ;) {
    const head = await readAt(handle, 12, offset);
    if (head.length === 0) return;
    if (head.length < 12) throw dataLoss(file, `truncated record at ${offset}`);
    if (maskedCrc(head.subarray(0, 8)) !== head.readUInt32LE(8)) throw dataLoss(file, `corrupted record at ${offset}`);
    const length = head.readBigUInt64LE(0);
    if (length > BigInt(MAX_RECORD_BYTES)) throw dataLoss(file, `record at ${offset} of ${length} bytes, more than a request can be (${MAX_RECORD_BYTES})`);
    const n = Number(length);
    // Told before a buffer of the length a header says is made: a few bytes can say 2 GiB.
    if (offset + 12 + n + 4 > size) throw dataLoss(file, `truncated record at ${offset}`);
    const body = await readAt(handle, n + 4, offset + 12);
    if (body.length < n + 4) throw dataLoss(file, `truncated record at ${offset}`);
    const data = body.subarray(0, n);
    if (maskedCrc(data) !== body.readUInt32LE(n)) throw dataLoss(file, `corrupted record at ${offset}`);
    yield data;
    offset += 12 + n + 4;
  }
}

// One record's request, run as the API it names would run it on this version.
async function runRecord(model: Model, log: Message, methodNameCheck: boolean): Promise<void> {
  const signatureOf = (request: Message | undefined) => ((request?.model_spec as Message | undefined)?.signature_name as string | undefined) || '';
  if (log.predict_log) {
    const request = ((log.predict_log as Message).request as Message | undefined) ?? {};
    const signature = signatureOf(request) || model.defaultSignature || 'serving_default';
    const info = servingSignature(model, signature);
    if (methodNameCheck) checkMethodName(info, 'predict');
    const filter = (request.output_filter as string[] | undefined) ?? [];
    await model.run(predictFeeds(request), { signature, outputs: filter.length > 0 ? filter : undefined, checkShapes: false });
  } else if (log.classify_log || log.regress_log) {
    const api = log.classify_log ? 'classify' : 'regress';
    const request = (((log.classify_log ?? log.regress_log) as Message).request as Message | undefined) ?? {};
    const examples = new Tensor('string', serializedExamples(request.input as Message | undefined, api === 'classify' ? 'Classify' : 'Regress'));
    await runExamplesSignature(model, signatureOf(request) || 'serving_default', api, examples, methodNameCheck);
  } else if (log.multi_inference_log) {
    const request = ((log.multi_inference_log as Message).request as Message | undefined) ?? {};
    const tasks = (request.tasks as Message[] | undefined) ?? [];
    if (tasks.length === 0) throw new InvalidArgumentError('Tasks field is empty.');
    const examples = new Tensor('string', serializedExamples(request.input as Message | undefined, 'MultiInference'));
    for (const [i, task] of tasks.entries()) {
      const method = (task.method_name as string | undefined) ?? '';
      await runExamplesSignature(model, signatureOf(task) || 'serving_default', multiInferenceApi(method, i), examples, methodNameCheck);
    }
  } else if (log.session_run_log) {
    throw new TensorFlowError('UNIMPLEMENTED', 'Unsupported log_type for warmup: session_run_log');
  }
  // A streamed predict, or a record that names no request: passed over, as TensorFlow Serving does.
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
export async function runSavedModelWarmup(model: Model, exportDir: string, options: SavedModelWarmupOptions = {}): Promise<number> {
  const iterations = options.iterations ?? 1;
  if (typeof iterations !== 'number') throw invalidType('options.iterations', 'a whole number ≥ 1', iterations);
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw outOfRange('options.iterations', wholeExpected('a whole number ≥ 1', iterations), iterations);
  const file = path.join(exportDir, WARMUP_REQUESTS_FILE);
  let handle: FileHandle;
  try {
    // Regular files only: a FIFO held the load (and a libuv thread) until a writer came (helper-138).
    handle = await openRegularFile(file);
  } catch (error) {
    // Having warm-up requests is optional (TensorFlow Serving: "No warmup data file found").
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 0;
    throw error;
  }
  const type = protos().lookupType('tensorflow.serving.PredictionLog');
  let count = 0;
  try {
    for await (const record of tfRecords(handle, file)) {
      if (++count > MAX_WARMUP_RECORDS) throw new InvalidArgumentError(`Number of warmup records exceeds the maximum (${MAX_WARMUP_RECORDS}) at ${file}`);
      const decoded = decodeMessage(type, record);
      if (!('message' in decoded)) throw new InvalidArgumentError(`Failed to parse warmup record ${count} from ${file}: ${decoded.unreadable}`);
      try {
        for (let i = 0; i < iterations; i++) await runRecord(model, decoded.message, options.signatureMethodNameCheck === true);
      } catch (error) {
        if (error instanceof Error) error.message = `warmup record ${count} of ${file}: ${error.message}`;
        throw error;
      }
    }
  } finally {
    await handle.close();
  }
  return count;
}
