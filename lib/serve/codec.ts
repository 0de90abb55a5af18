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
import { TensorFlowError } from '../errors';
import type { NativeData, PackedStrings } from '../native';
import { PACKAGE_ROOT } from '../native';
import type { Model } from '../model';
import { Tensor } from '../tensor';
import { type Body, BodyChunks } from './body';
import type { Format } from './tfs';
import type { InferRequest } from './v2';

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
export interface InferTask { body: TaskBody; headerLength: string | undefined }
/** Outputs to write as a Predict response. */
export interface PredictResponseTask { outputs: WireTensors; format: Format }
/** Outputs to write as a v2 inference response. */
export interface InferResponseTask { model: string; version: number; request: Omit<InferRequest, 'feeds'>; outputs: WireTensors }

function buffersOf(data: NativeData): ArrayBufferView[] {
  return ArrayBuffer.isView(data) ? [data] : [(data as PackedStrings).bytes, (data as PackedStrings).offsets];
}

// A view that is all of its ArrayBuffer: a structured clone copies a view's whole buffer, and only
// a buffer that is the view's alone may be moved.
function whole<V extends ArrayBufferView>(view: V): V {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view;
  const bytes = new Uint8Array(view.byteLength);
  bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  // (A Buffer's slice() is a view, not a copy: its copy is a plain Uint8Array.)
  const Type = (Buffer.isBuffer(view) ? Uint8Array : view.constructor) as new (buffer: ArrayBuffer) => V;
  return new Type(bytes.buffer);
}

/**
 * @internal Tensors in their flat form, each view over a buffer of its own (sliced where it was
 * not). `transfer`: the buffers, to move them (only for tensors whose memory nothing else holds).
 */
export function toWire(tensors: Readonly<Record<string, Tensor>>, copy: boolean): { tensors: WireTensors; transfer: ArrayBuffer[] } {
  const out: WireTensors = {};
  const transfer = new Set<ArrayBuffer>();
  for (const [key, tensor] of Object.entries(tensors)) {
    const flat: unknown[] = [];
    tensor.pushNative(flat as never);
    let data = flat[2] as NativeData;
    data = ArrayBuffer.isView(data) ? whole(data) : { bytes: whole((data as PackedStrings).bytes), offsets: whole((data as PackedStrings).offsets) };
    if (!copy) for (const view of buffersOf(data)) transfer.add(view.buffer as ArrayBuffer);
    out[key] = [flat[0] as number, [...(flat[1] as number[])], data];
  }
  return { tensors: out, transfer: [...transfer] };
}

/** @internal Tensors from their flat form (no copy). */
export function fromWire(tensors: WireTensors): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
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
    const flat: unknown[] = [];
    tensor.pushNative(flat as never);
    const data = flat[2] as NativeData;
    weight += ArrayBuffer.isView(data) ? 2 * data.byteLength : (data as PackedStrings).bytes.byteLength + 4 * tensor.size;
  }
  return weight;
}

const signatureInputs = new WeakMap<Model, SignatureInputs>();

function inputsOf(model: Model): SignatureInputs {
  let inputs = signatureInputs.get(model);
  if (!inputs) {
    inputs = {};
    for (const [name, sig] of Object.entries(model.signatures)) {
      inputs[name] = Object.fromEntries(Object.entries(sig.inputs).map(([key, spec]) => [key, { dtype: spec.dtype as DType, shape: spec.shape }]));
    }
    signatureInputs.set(model, inputs);
  }
  return inputs;
}

/** A body, moved to a worker: each buffer that is its own moved, any other copied first. */
function movable(body: Body): { body: TaskBody; transfer: ArrayBuffer[] } {
  if (body instanceof BodyChunks) {
    const chunks = body.chunks.map(whole);
    return { body: chunks, transfer: [...new Set(chunks.map((c) => c.buffer as ArrayBuffer))] };
  }
  const own = whole(body);
  return { body: own, transfer: [own.buffer as ArrayBuffer] };
}

/**
 * @internal The server's codec threads: a Piscina pool, started on the first big body and
 * closed with the server.
 */
export class Codec {
  readonly #threads: number;
  #pool: Piscina | null = null;
  #closed = false;

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

  async #run<T>(name: string, task: object, transfer: ArrayBuffer[]): Promise<T> {
    if (this.#closed) throw new TensorFlowError('UNAVAILABLE', 'the server is shutting down');
    this.#pool ??= new Piscina({
      filename: path.join(PACKAGE_ROOT, 'dist', 'serve', 'codec-worker.js'),
      minThreads: 0, maxThreads: this.#threads, idleTimeout: 30_000,
    });
    const answer = await this.#pool.run(task, { name, transferList: transfer }) as CodecAnswer<T>;
    if ('ok' in answer) return answer.ok;
    const { code, message, detail } = answer.error;
    // The server logs what is not a TensorFlowError and answers it without details.
    if (code === 'INTERNAL' && detail !== undefined) throw new Error(`codec worker: ${detail}`);
    throw new TensorFlowError(code as never, message);
  }

  /**
   * A Predict body's signature, format and feeds, for `model`.
   * @throws as readPredictRequest and feedsFromPayload (INVALID_ARGUMENT)
   */
  async predict(body: Body, model: Model): Promise<{ signature: string; format: Format; feeds: Record<string, Tensor> }> {
    const moved = movable(body);
    const task: PredictTask = { body: moved.body, signatures: inputsOf(model), defaultSignature: model.defaultSignature };
    const result = await this.#run<{ signature: string; format: Format; feeds: WireTensors }>('predict', task, moved.transfer);
    return { ...result, feeds: fromWire(result.feeds) };
  }

  /** A Classify or Regress body's signature and serialized tf.Examples (readExamplesRequest). */
  async examples(body: Body, api: 'classify' | 'regress'): Promise<{ signatureName: string | undefined; examples: Tensor; count: number }> {
    const moved = movable(body);
    const task: ExamplesTask = { body: moved.body, api };
    const result = await this.#run<{ signatureName: string | undefined; examples: WireTensors; count: number }>('examples', task, moved.transfer);
    return { ...result, examples: fromWire(result.examples).inputs! };
  }

  /** A v2 inference body (splitBody, readInferRequest). */
  async infer(body: Body, headerLength: string | undefined): Promise<InferRequest> {
    const moved = movable(body);
    const task: InferTask = { body: moved.body, headerLength };
    const result = await this.#run<Omit<InferRequest, 'feeds'> & { feeds: WireTensors }>('infer', task, moved.transfer);
    return { ...result, feeds: fromWire(result.feeds) };
  }

  /** predictResponse() on a worker, as UTF-8. */
  async predictResponse(outputs: Readonly<Record<string, Tensor>>, format: Format): Promise<Buffer> {
    const task: PredictResponseTask = { outputs: toWire(outputs, true).tensors, format };
    const json = await this.#run<Uint8Array>('predictResponseJson', task, []);
    return Buffer.from(json.buffer, json.byteOffset, json.byteLength);
  }

  /** inferResponse() on a worker: its JSON as UTF-8, and the binary parts. */
  async inferResponse(model: string, version: number, request: InferRequest, outputs: Readonly<Record<string, Tensor>>): Promise<{ json: Uint8Array; binary: Uint8Array[] | null }> {
    const { feeds: _, ...rest } = request;
    const task: InferResponseTask = { model, version, request: rest, outputs: toWire(outputs, true).tensors };
    return this.#run('inferResponseJson', task, []);
  }

  /** Stops the threads (tasks still queued fail). */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = null;
    await pool?.destroy();
  }
}

/** @internal The default number of codec threads: the cores but one (the event loop's), 1 to 4. */
export function defaultCodecThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}
