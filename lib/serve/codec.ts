/**
 * Big bodies off the event loop. Reading a request's JSON into tensors and writing outputs as
 * JSON cost about a microsecond per element on the thread that does it: a 30 MiB predict body
 * held the event loop for 1.3 s, a 17 MiB response for as long again, and every other request
 * (health probes too) waited. Bodies of at least `offloadBytes`, and responses whose JSON is
 * estimated at least that big, are read and written on a small pool of worker threads
 * (lib/serve/codec-worker.ts) with the same functions (tfs.ts, v2.ts); the event loop only moves
 * buffers (a request's body and the feeds' typed arrays are moved, not copied; outputs are
 * copied once to the worker, the JSON moved back).
 *
 * Why Piscina: a worker pool with a task queue, transfer lists and idle shutdown is what it is
 * for, and it is kept by Node's own maintainers.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';

import { Piscina } from 'piscina';

import type { DType } from '../dtypes';
import { invalidType, QueueFullError, TensorFlowError, tensorFlowError, type TensorFlowCode } from '../errors';
import type { NativeData, PackedStrings } from '../native';
import { PACKAGE_ROOT } from '../native';
import type { Model } from '../model';
import { Tensor } from '../tensor';
import { type Body, BodyChunks } from './body';
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
export type CodecAnswer<T> = { ok: T } | { error: TaskError };

/** The inputs of every signature of a model, as the worker converts a Predict body for them. */
export type SignatureInputs = Record<string, Record<string, { dtype: DType; shape: readonly number[] | null }>>;

// The tasks, as codec-worker.ts reads them (public: the worker's declarations name them).

/** A request body as a task carries it: one buffer, or its chunks in order. */
export type TaskBody = Uint8Array | Uint8Array[];
/** A Predict body to read for a model's signatures. */
export interface PredictTask { body: TaskBody; signatures: SignatureInputs; defaultSignature: string | null }
/** A Classify or Regress body to read. */
export interface ExamplesTask { body: TaskBody; api: 'classify' | 'regress' }
/** A v2 inference body to read; headerLength is Inference-Header-Content-Length's value. */
export interface InferTask { body: TaskBody; headerLength: string | undefined; limits: SignatureLimits }
/** Outputs to write as a Predict response. */
export interface PredictResponseTask { outputs: WireTensors; format: Format }
/** A Classify or Regress signature's outputs for `count` examples, to write as its response. */
export interface ExamplesResponseTask { outputs: WireTensors; count: number; api: 'classify' | 'regress' }
/** Outputs to write as a v2 inference response. */
export interface InferResponseTask { model: string; version: number; request: Omit<InferRequest, 'feeds'>; outputs: WireTensors }
/** What a Predict body says: its signature and format, and its feeds or why they do not fit the signature. */
export interface PredictRead { signature: string; format: Format; feeds: WireTensors | null; feedsError: TaskError | null }
/** A gRPC request message to decode (Predict's or ModelInfer's), reading no more inputs and outputs than `limits` (limits.ts) allow. */
export interface GrpcTask { body: TaskBody; limits: SignatureLimits }
/** What a Predict message says: each part, or the error reading it gave (raised where the event loop would raise it). */
export interface GrpcPredictRead {
  unreadable?: string;
  spec?: { name: string; version?: number; label?: string; signature: string };
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
export interface GrpcInferRead { unreadable?: string; head?: InferHead; feeds: WireTensors | null; feedsError: TaskError | null }
/** A Classify, Regress or MultiInference message to decode: `type` its message type, `method` the method (for errors). */
export interface GrpcExamplesTask { body: TaskBody; type: string; method: string }
/** What such a message says: the message but its input, encoded again; its tf.Examples serialized (as `inputs`), or why not. */
export interface GrpcExamplesRead { unreadable?: string; head?: Uint8Array; examples: WireTensors | null; examplesError: TaskError | null }
/** A Classify, Regress or MultiInference response (message `type`) to build from its runs and encode. */
export interface GrpcExamplesResponseTask { type: string; multi: boolean; runs: (Omit<ExamplesRun, 'outputs'> & { outputs: WireTensors })[] }
/** A PredictResponse to encode: its model_spec, and the outputs as TensorProtos (typed fields, or tensor_content). */
export interface GrpcPredictResponseTask { modelSpec: Message; outputs: WireTensors; content: boolean }
/** A ModelInferResponse to encode: the message but its raw_output_contents, and the outputs for them in order. */
export interface GrpcInferResponseTask { message: Message; outputs: WireTensors; names: string[] }

/** The bytes of a tensor's elements (a string tensor's: its strings' bytes). */
function dataBytes(data: NativeData): number {
  return ArrayBuffer.isView(data) ? data.byteLength : (data as PackedStrings).bytes.byteLength;
}

function buffersOf(data: NativeData): ArrayBufferView[] {
  return ArrayBuffer.isView(data) ? [data] : [(data as PackedStrings).bytes, (data as PackedStrings).offsets];
}

/**
 * @internal A view that is all of its ArrayBuffer (`view` itself, or a copy): a structured clone
 * copies a view's whole buffer, and only a buffer that is the view's alone may be moved.
 */
export function whole<V extends ArrayBufferView>(view: V): V {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view;
  const bytes = new Uint8Array(view.byteLength);
  bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  // (A Buffer's slice() is a view, not a copy: its copy is a plain Uint8Array.)
  const Type = (Buffer.isBuffer(view) ? Uint8Array : view.constructor) as new (buffer: ArrayBuffer) => V;
  return new Type(bytes.buffer);
}

/**
 * Whether a buffer may be moved to another thread with what lies in it: an ArrayBuffer (not
 * shared) other than Node's Buffer pool, the buffer of Buffer.poolSize bytes that small Buffers
 * share (a pool moved away would take every other small Buffer's memory with it).
 */
function movableBuffer(buffer: ArrayBufferLike): buffer is ArrayBuffer {
  return buffer instanceof ArrayBuffer && buffer.byteLength !== Buffer.poolSize;
}

/** A view to move: as it is, with all of its buffer (which the sender then no longer has), or copied out of the pool. */
function movableView<V extends ArrayBufferView>(view: V): V {
  return movableBuffer(view.buffer) ? view : whole(view);
}

/**
 * @internal Tensors in their flat form. `copy`: each view over a buffer of its own (sliced where
 * it was not), for a structured clone to copy; else each view moved with its whole buffer
 * (`transfer`: the buffers, each once), for a codec thread's own tensors: a feed that is a view
 * of a body the thread joined goes back with the body, not copied out of it.
 */
export function toWire(tensors: Readonly<Record<string, Tensor>>, copy: boolean): { tensors: WireTensors; transfer: ArrayBuffer[] } {
  const out = Object.create(null) as WireTensors; // keys may be a client's: no prototype
  const transfer = new Set<ArrayBuffer>();
  const own = copy ? whole : movableView;
  for (const [key, tensor] of Object.entries(tensors)) {
    const [tf, shape, native] = tensor.flat();
    const data = ArrayBuffer.isView(native) ? own(native) : { bytes: own((native as PackedStrings).bytes), offsets: own((native as PackedStrings).offsets) };
    if (!copy) for (const view of buffersOf(data)) transfer.add(view.buffer as ArrayBuffer);
    out[key] = [tf, [...shape], data];
  }
  return { tensors: out, transfer: [...transfer] };
}

/** @internal Tensors from their flat form (no copy). */
export function fromWire(tensors: WireTensors): Record<string, Tensor> {
  const out = Object.create(null) as Record<string, Tensor>;
  for (const [key, [tf, shape, data]] of Object.entries(tensors)) out[key] = Tensor.fromNative(tf, shape, data, false);
  return out;
}

/**
 * @internal About how many bytes of JSON these tensors make (two per byte of numbers, the bytes
 * and a few more per string): what decides whether a response is written on a worker.
 */
export function jsonWeight(tensors: Iterable<Tensor>): number {
  let weight = 0;
  for (const tensor of tensors) {
    const data = tensor.flat()[2];
    weight += ArrayBuffer.isView(data) ? 2 * data.byteLength : dataBytes(data) + 4 * tensor.size;
  }
  return weight;
}

/** What a codec thread needs of a model to read a Predict body for it. */
export interface ModelInputs {
  signatures: SignatureInputs;
  defaultSignature: string | null;
}

const modelInputs = new WeakMap<Model, ModelInputs>();

/** @internal A model's signatures' inputs (dtype and shape), as the codec threads read Predict bodies for them. */
export function inputsOf(model: Model): ModelInputs {
  let inputs = modelInputs.get(model);
  if (!inputs) {
    const signatures: SignatureInputs = {};
    for (const [name, sig] of Object.entries(model.signatures)) {
      signatures[name] = Object.fromEntries(Object.entries(sig.inputs).map(([key, spec]) => [key, { dtype: spec.dtype as DType, shape: spec.shape }]));
    }
    inputs = { signatures, defaultSignature: model.defaultSignature };
    modelInputs.set(model, inputs);
  }
  return inputs;
}

/**
 * A body, moved to a worker: each buffer that is its own moved, any other copied first. A view
 * that is all of its buffer but a few bytes (grpc-js' message after its 5-byte frame header) is
 * moved with its buffer: the buffer is the message's alone (movableBuffer: not the pool).
 */
function movable(body: Body | Uint8Array): { body: TaskBody; transfer: ArrayBuffer[] } {
  if (body instanceof BodyChunks) {
    const chunks = body.chunks.map(whole);
    return { body: chunks, transfer: [...new Set(chunks.map((c) => c.buffer as ArrayBuffer))] };
  }
  const buffer = body.buffer;
  if (movableBuffer(buffer) && buffer.byteLength - body.byteLength <= 64) return { body, transfer: [buffer] };
  const own = whole(body);
  return { body: own, transfer: [own.buffer as ArrayBuffer] };
}

/** @internal The error a codec thread reported, to throw on the event loop. */
export function taskFailure({ code, message, detail }: TaskError): Error {
  // The server logs what is not a TensorFlowError and answers it without details.
  if (code === 'INTERNAL' && detail !== undefined) return new Error(`codec worker: ${detail}`);
  return tensorFlowError(code as TensorFlowCode, message);
}

/** @internal About how many bytes these tensors' elements take (what decides whether a gRPC response is encoded on a worker). */
export function tensorBytes(tensors: Iterable<Tensor>): number {
  let bytes = 0;
  for (const tensor of tensors) bytes += dataBytes(tensor.flat()[2]);
  return bytes;
}

/** Tasks a codec thread may have waiting for it (beyond, UNAVAILABLE). */
const QUEUED_PER_THREAD = 8;

/**
 * @internal The server's codec threads: a Piscina pool, started on the first big body and
 * closed with the server.
 */
export class Codec {
  readonly #threads: number;
  #pool: Piscina | null = null;
  #closed = false;
  /** Tasks given to the pool and not yet answered (running or waiting). */
  #inFlight = 0;

  /**
   * @param offloadBytes bodies (and estimated JSON responses) of at least this many bytes are
   *   read (written) on a worker; Infinity for never
   * @param threads the most worker threads
   */
  constructor(readonly offloadBytes: number, threads: number) {
    this.#threads = threads;
  }

  /** Whether something of `bytes` goes to a worker. */
  wants(bytes: number): boolean {
    return bytes >= this.offloadBytes;
  }

  /**
   * The most tasks running and waiting at once; a body to read beyond it is refused
   * (QueueFullError, UNAVAILABLE: each may hold a body of up to the body limit). A response to
   * write is taken whatever the count: its request has run.
   */
  get limit(): number {
    return this.#threads * QUEUED_PER_THREAD;
  }

  // A response to encode (`responding`) is never refused: its request has run, and a
  // retry would run it again. It counts toward the limit: reads beyond it are refused meanwhile.
  async #run<T>(name: string, task: object, transfer: ArrayBuffer[], signal?: AbortSignal, responding = false): Promise<T> {
    if (this.#closed) throw new TensorFlowError('UNAVAILABLE', 'the server is shutting down');
    if (!responding && this.#inFlight >= this.limit) {
      throw new QueueFullError('codec', `the server is busy: ${this.#inFlight} big bodies are being read or written already, and one more is read only while fewer than ${this.limit} are; retry later`);
    }
    this.#pool ??= this.#start();
    this.#inFlight++;
    let answer: CodecAnswer<T>;
    try {
      answer = await this.#pool.run(task, { name, transferList: transfer, signal }) as CodecAnswer<T>;
    } catch (error) {
      // A client gone: its task left the queue (or its thread was stopped); nobody reads this.
      if (signal?.aborted) throw new TensorFlowError('CANCELLED', 'the client closed the connection');
      if ((error as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new TensorFlowError('RESOURCE_EXHAUSTED', 'the request is too big to read or write within a codec thread\'s memory; send a smaller one, or tensors in binary (v2\'s binary extension, gRPC\'s tensor_content)');
      }
      throw error;
    } finally {
      this.#inFlight--;
    }
    if ('ok' in answer) return answer.ok;
    throw taskFailure(answer.error);
  }

  /**
   * A Predict body's signature, format and feeds, for a model's `inputs`; feeds() throws what
   * does not fit the signature.
   * @throws as parseJson and readPredictRequest (INVALID_ARGUMENT)
   */
  async predict(body: Body, inputs: ModelInputs, signal?: AbortSignal): Promise<{ signature: string; format: Format; feeds: () => Record<string, Tensor> }> {
    const moved = movable(body);
    const task: PredictTask = { body: moved.body, ...inputs };
    const read = await this.#run<PredictRead>('predict', task, moved.transfer, signal);
    return { signature: read.signature, format: read.format, feeds: () => { if (read.feedsError) throw taskFailure(read.feedsError); return fromWire(read.feeds!); } };
  }

  /** A Classify or Regress body's signature and serialized tf.Examples (readExamplesRequest). */
  async examples(body: Body, api: 'classify' | 'regress', signal?: AbortSignal): Promise<{ signatureName: string | undefined; examples: Tensor; count: number }> {
    const moved = movable(body);
    const task: ExamplesTask = { body: moved.body, api };
    const result = await this.#run<{ signatureName: string | undefined; examples: WireTensors; count: number }>('examples', task, moved.transfer, signal);
    return { ...result, examples: fromWire(result.examples).inputs! };
  }

  /** A v2 inference body (splitBody, readInferRequest within `limits`). */
  async infer(body: Body, headerLength: string | undefined, limits: SignatureLimits, signal?: AbortSignal): Promise<InferRequest> {
    const moved = movable(body);
    const task: InferTask = { body: moved.body, headerLength, limits };
    const result = await this.#run<Omit<InferRequest, 'feeds'> & { feeds: WireTensors }>('infer', task, moved.transfer, signal);
    return { ...result, feeds: fromWire(result.feeds) };
  }

  /** predictResponse() on a worker, as UTF-8. */
  async predictResponse(outputs: Readonly<Record<string, Tensor>>, format: Format, signal?: AbortSignal): Promise<Buffer> {
    const task: PredictResponseTask = { outputs: toWire(outputs, true).tensors, format };
    return asBuffer(await this.#run<Uint8Array>('predictResponseJson', task, [], signal, true));
  }

  /** classifyResponse() or regressResponse() on a worker, as UTF-8. */
  async examplesResponse(outputs: Readonly<Record<string, Tensor>>, count: number, api: 'classify' | 'regress', signal?: AbortSignal): Promise<Buffer> {
    const task: ExamplesResponseTask = { outputs: toWire(outputs, true).tensors, count, api };
    return asBuffer(await this.#run<Uint8Array>('examplesResponseJson', task, [], signal, true));
  }

  /** inferResponse() on a worker: its JSON as UTF-8, and the binary parts. */
  async inferResponse(model: string, version: number, request: InferRequest, outputs: Readonly<Record<string, Tensor>>, signal?: AbortSignal): Promise<{ json: Uint8Array; binary: Uint8Array[] | null }> {
    const { feeds: _, ...rest } = request;
    const task: InferResponseTask = { model, version, request: rest, outputs: toWire(outputs, true).tensors };
    return this.#run('inferResponseJson', task, [], signal, true);
  }

  /** A gRPC Predict message, read within `limits` (the parts that failed say how, to be raised in order). */
  async grpcPredict(body: Uint8Array, limits: SignatureLimits, signal?: AbortSignal): Promise<GrpcPredictRead> {
    const moved = movable(body);
    return this.#run<GrpcPredictRead>('grpcPredict', { body: moved.body, limits } satisfies GrpcTask, moved.transfer, signal);
  }

  /** A gRPC ModelInfer message, read within `limits`. */
  async grpcInfer(body: Uint8Array, limits: SignatureLimits, signal?: AbortSignal): Promise<GrpcInferRead> {
    const moved = movable(body);
    return this.#run<GrpcInferRead>('grpcInfer', { body: moved.body, limits } satisfies GrpcTask, moved.transfer, signal);
  }

  /** A gRPC Classify, Regress or MultiInference message of `type`, read. */
  async grpcExamples(body: Uint8Array, type: string, method: string, signal?: AbortSignal): Promise<GrpcExamplesRead> {
    const moved = movable(body);
    return this.#run<GrpcExamplesRead>('grpcExamples', { body: moved.body, type, method } satisfies GrpcExamplesTask, moved.transfer, signal);
  }

  /** A Classify, Regress or MultiInference response (examplesMessage), encoded as `type`. */
  async grpcExamplesResponse(type: string, runs: readonly ExamplesRun[], multi: boolean, signal?: AbortSignal): Promise<Buffer> {
    const task: GrpcExamplesResponseTask = { type, multi, runs: runs.map((run) => ({ ...run, outputs: toWire(run.outputs, true).tensors })) };
    return asBuffer(await this.#run<Uint8Array>('grpcExamplesResponse', task, [], signal, true));
  }

  /** A PredictResponse, encoded. */
  async grpcPredictResponse(modelSpec: Message, outputs: Readonly<Record<string, Tensor>>, content: boolean, signal?: AbortSignal): Promise<Buffer> {
    const task: GrpcPredictResponseTask = { modelSpec, outputs: toWire(outputs, true).tensors, content };
    return asBuffer(await this.#run<Uint8Array>('grpcPredictResponse', task, [], signal, true));
  }

  /** A ModelInferResponse, encoded: `message` with the raw bytes of `names`' outputs, in order. */
  async grpcInferResponse(message: Message, outputs: Readonly<Record<string, Tensor>>, names: string[], signal?: AbortSignal): Promise<Buffer> {
    const task: GrpcInferResponseTask = { message, outputs: toWire(Object.fromEntries(names.map((n) => [n, outputs[n]!])), true).tensors, names };
    return asBuffer(await this.#run<Uint8Array>('grpcInferResponse', task, [], signal, true));
  }

  #start(): Piscina {
    const pool = new Piscina({
      filename: path.join(PACKAGE_ROOT, 'dist', 'serve', 'codec-worker.js'),
      minThreads: 0, maxThreads: this.#threads, idleTimeout: 30_000,
    });
    // Piscina emits 'error' for what belongs to no task, and an 'error' nobody listens to ends
    // the process. A task whose client left is dropped by stopping its thread; when the thread
    // had just finished it, its answer still arrives ("Unexpected message from Worker"):
    // nothing to do. Anything else (a thread that failed between tasks) is written to stderr;
    // the pool starts another thread for the next task.
    pool.on('error', (error: Error) => {
      if (!error.message.startsWith('Unexpected message from Worker')) process.stderr.write(`tfslice serve: a codec thread failed: ${error.stack ?? error.message}\n`);
    });
    return pool;
  }

  /** Stops the threads (tasks still queued fail). */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = null;
    await pool?.destroy();
  }
}

/**
 * @internal An AbortSignal for a codec task of one request, made when first asked for (small
 * requests never need one): aborted at once if `gone()`, else when `watch` calls its abort
 * (the client closed its connection, or cancelled its call).
 */
export function lazySignal(gone: () => boolean, watch: (abort: () => void) => void): () => AbortSignal {
  let controller: AbortController | undefined;
  return () => {
    if (!controller) {
      const made = new AbortController();
      if (gone()) made.abort();
      else watch(() => made.abort());
      controller = made;
    }
    return controller.signal;
  };
}

/** @internal Bytes as a Buffer over the same memory (a Buffer as it is). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * @internal A server's offloadBytes and codecThreads options, checked, with their defaults
 * (256 KiB; the cores but one, the event loop's, from 1 to 4).
 * @throws TypeError naming the option
 */
export function codecOptions(options: { offloadBytes?: number; codecThreads?: number }): { offloadBytes: number; threads: number } {
  const offloadBytes = options.offloadBytes ?? 256 * 1024;
  if (typeof offloadBytes !== 'number' || !(offloadBytes >= 0)) throw invalidType('offloadBytes', 'a byte count (0 or more, or Infinity)', offloadBytes);
  const threads = options.codecThreads ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw invalidType('codecThreads', 'an integer from 1 to 64', threads);
  return { offloadBytes, threads };
}
