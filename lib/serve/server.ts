/**
 * The model server's HTTP side: TensorFlow Serving's REST API (/v1), KServe's v2 protocol
 * (/v2), health, and Prometheus metrics, as one fastify plugin over a ModelManager. Routing here,
 * the wire formats in tfs.ts and v2.ts, the models in the manager (nothing below it is
 * touched). `tfslice serve` is a thin shell over createServer(); a user's own fastify app can
 * mount the same routes with `app.register(tfsliceServing, { manager })`.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';

import fastifyCors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';

import { LazySignal, type RunSignal, timerFor } from '../abort';
import { InvalidArgumentError, invalidType, NotFoundError, outOfRange, QueueFullError, TensorFlowError } from '../errors';
import type { ModelManager, VersionStatus } from '../manager';
import { unrecognizedLabel } from '../manager/state';
import type { Model } from '../model';
import { native, PACKAGE_ROOT } from '../native';
import type { Tensor } from '../tensor';
import { type Body, BodyChunks, bodyParser, contiguous } from './body';
import { asBuffer, Codec, codecOptions, inputsOf, jsonWeight, lazySignal } from './codec';
import { cutShort, partialInputsError, signatureLimits } from './limits';
import { parseJson } from './json';
import { describeError, servingError, statusLabel, statusOf } from './status';
import { checkServingOptions } from './options';
import { versionOf } from './tensor-proto';
import { type AuthOptions, BearerAuth } from './auth';
import { modelLabel, ServerMetrics, type ServingApi } from './metrics';
import {
  checkMethodName, classifyResponse, feedsFromPayload, type Format, metadataResponse, predictResponse, readExamplesRequest, readPredictRequest,
  regressResponse, runExamplesSignature, servingSignature, statusResponse,
} from './tfs';
import {
  checkV2OutputNames, HEADER_LENGTH, type InferRequest, inferResponse, layOutBigBytes, modelMetadata, RAW_BINARY_REQUEST, type RawBody, rawBinaryFeeds, readInferRequest, splitBody, v2Signature,
} from './v2';

/** Options of the tfsliceServing plugin. */
export interface ServingOptions {
  /**
   * The models served. Started, or starting (start() called, not awaited): a request waits for
   * its model's first load, as ModelManager.run() does. One not started yet answers 503
   * (UNAVAILABLE, "has not started; call start() first"), and a stopped one 503 too, so the
   * plugin may be registered before start() is called.
   */
  manager: ModelManager;
  /**
   * Longest a request may take in its model (waiting for it, and running), in ms, before it is
   * answered DEADLINE_EXCEEDED (504), as TensorFlow Serving's --rest_api_timeout_in_ms; 0 for no
   * limit. Default 30000.
   * It is also the run's own TensorFlow timeout (RunOptions.timeout_in_ms, as TensorFlow
   * Serving sets it), so TensorFlow stops a run that outlives it.
   */
  timeoutMs?: number | undefined;
  /** Metrics to record and serve; false for none. Default: a ServerMetrics on a registry of its own. */
  metrics?: ServerMetrics | false | undefined;
  /**
   * One more path the metrics are served at, besides /monitoring/prometheus/metrics and /metrics
   * (TensorFlow Serving's MonitoringConfig prometheus_config.path). Starts with '/', outside /v1/
   * and /v2/. Default none.
   */
  metricsPath?: string | undefined;
  /**
   * TensorFlow Serving's --enable_signature_method_name_check: a signature's method_name must fit
   * the API (predict: predict, classify or regress signatures; classify and regress: their own).
   * Default false, as TensorFlow Serving (TensorFlow 2 writes every signature as predict).
   */
  signatureMethodNameCheck?: boolean | undefined;
  /**
   * Largest request body, in bytes (413 beyond), counted after decompression: bodies with
   * Content-Encoding gzip (as TensorFlow Serving) or deflate are decompressed, others are 415.
   * Default 64 MiB. The routes read their own bodies: a fastify app's own bodyLimit does not
   * apply to them (set this instead).
   */
  bodyLimit?: number | undefined;
  /** While this returns true the server reports not ready (the CLI sets it while draining). */
  draining?: (() => boolean) | undefined;
  /**
   * What GET /v2/health/ready says (KServe v2's server readiness, a Kubernetes readinessProbe).
   * true: ready when every configured model has an AVAILABLE version (the Open Inference
   * Protocol's "all the models are ready"), so one model that cannot load (a reload adding a
   * broken one) takes the server out of its Service. false: ready whenever the server is up and
   * not draining, as Triton's --strict-readiness=false; per-model readiness
   * (/v2/models/{m}/ready) still says which models serve. Default true.
   */
  strictReadiness?: boolean | undefined;
  /**
   * Bearer tokens every request must carry (`Authorization: Bearer <token>`, one such header),
   * else 401 with `WWW-Authenticate: Bearer` before the body is read, and the connection closes;
   * GET and HEAD of /v2/health/live and /v2/health/ready stay open unless auth.openHealth is
   * false. On the plugin the check covers its own routes; createServer() checks every path.
   * Default: no authentication.
   */
  auth?: AuthOptions | undefined;
  /**
   * Request bodies of at least this many bytes are read into tensors, and responses whose JSON
   * is estimated at least this big (two bytes per byte of numbers) are written, on worker
   * threads (lib/serve/codec.ts), so that the event loop goes on answering other requests
   * (health probes too) meanwhile: about 1 µs per element, a 30 MiB body held it for over a
   * second. A v2 body this big goes there whatever its JSON part's length (joining it would hold
   * the event loop); a smaller one goes when its JSON part is this big.
   * Infinity: always on the event loop. Time on those threads does not count toward timeoutMs;
   * a body to read is refused (UNAVAILABLE, a QueueFullError: 503) when 8 tasks per thread are in
   * their hands already, responses being written included; a response to write is always taken
   * (its request has run); a client
   * that closes its connection has its task dropped. A predict body this big is read once its
   * model is known, so an unknown model is reported before a malformed body (TensorFlow
   * Serving reports the body first). Default 262144 (256 KiB).
   */
  offloadBytes?: number | undefined;
  /** The most worker threads for offloadBytes' work. Default: the cores but one, from 1 to 4. */
  codecThreads?: number | undefined;
}

/** The HTTP status for an error code, as TensorFlow Serving maps them (500 for anything unknown). */
export function httpStatus(code: string): number {
  return statusOf(code);
}

/** A Content-Type fastify takes: type/subtype (RFC 9110 tokens), parameters after a ';'. */
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(?:;|$)/;

/** JSON-escaped error body, TensorFlow Serving's and KServe's shape. */
function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/** @internal KServe v2's ServerMetadata extensions, REST and gRPC alike (Triton lists them the same on both). */
export const V2_EXTENSIONS: readonly string[] = ['binary_tensor_data'];

/** @internal The package's version, as the v2 server metadata (REST and gRPC) gives it. */
export const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// TensorFlow Serving's routes (http_rest_api_util.cc), case-insensitive as there.
const POST_V1 = /^\/v1\/models\/([^/:]+)(?:\/versions\/(\d+)|\/labels\/([^/:]+))?:(classify|regress|predict)$/i;
const GET_V1 = /^\/v1\/models(?:\/([^/:]+))?(?:\/versions\/(\d+)|\/labels\/([^/:]+))?(?:\/(metadata))?$/i;
const V2_MODEL = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer))?$/;
/** The request body limit when none is given (413 beyond), bytes: `tfslice serve`'s default too. */
const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;
/** A response in parts of fewer bytes is joined and sent at once (cheaper than a stream). */
const PARTS_JOINED_BELOW = 64 * 1024;

interface Target {
  name: string;
  version?: number;
  label?: string;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InvalidArgumentError(`the ${what} in the path is not valid percent-encoding: ${part}`);
  }
}

/** The model name a request path gives under any route (percent-decoded); undefined when none does. */
function nameInPath(path: string): string | undefined {
  const named = (POST_V1.exec(path) ?? GET_V1.exec(path) ?? V2_MODEL.exec(path))?.[1];
  return named === undefined ? undefined : nameOf(named);
}

/** A model name as a path holds it, decoded; undefined when it is not valid percent-encoding. */
function nameOf(encoded: string): string | undefined {
  try {
    return decode(encoded, 'model name');
  } catch {
    return undefined;
  }
}

function target(name: string, version: string | undefined, label: string | undefined): Target {
  const t: Target = { name: decode(name, 'model name') };
  if (version !== undefined) {
    const v = Number(version);
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`Failed to convert version: ${version} to numeric.`);
    t.version = v;
  }
  if (label !== undefined) t.label = decode(label, 'label');
  return t;
}

/**
 * Why the server is not ready (KServe's readiness, gRPC's health), or null when it is: the
 * server is not shutting down, and (`strict`, ServingOptions.strictReadiness) every configured
 * model has an AVAILABLE version.
 */
export function notReadyReason(manager: ModelManager, draining: () => boolean, strict = true): string | null {
  if (draining()) return 'the server is shutting down';
  if (!strict) return null;
  for (const m of manager.status()) {
    if (!m.versions.some((v) => v.state === 'AVAILABLE')) return `model '${m.name}' has no AVAILABLE version`;
  }
  return null;
}

/**
 * @internal `run`, or DEADLINE_EXCEEDED with `message()` once `ms` have passed (the run goes on;
 * its result is then dropped).
 */
export function withDeadline<T>(run: Promise<T>, ms: number, message: () => string): Promise<T> {
  // One promise and one reaction (an async function racing a second promise made three of
  // each): every gRPC request passes here. A run that settles after the deadline is dropped.
  return new Promise<T>((resolve, reject) => {
    const timer = timerFor(() => reject(new TensorFlowError('DEADLINE_EXCEEDED', message())), ms);
    run.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * @internal A request's time limit (--rest_api_timeout_in_ms) that counts only the time spent in
 * within(): waiting for a model and running it. Time in outside() (a codec thread reading or
 * writing a big body) and between calls is not counted, as reading a body on the event loop was
 * not. ms <= 0: no limit.
 */
export class Deadline {
  #left: number;
  #since = 0;
  #timer: NodeJS.Timeout | undefined;
  #expire: ((error: Error) => void) | undefined;
  readonly #message: () => string;

  constructor(ms: number, message: () => string) {
    this.#left = ms > 0 ? ms : Infinity;
    this.#message = message;
  }

  #start(): void {
    this.#since = performance.now();
    if (Number.isFinite(this.#left)) {
      this.#timer = timerFor(() => this.#expire?.(new TensorFlowError('DEADLINE_EXCEEDED', this.#message())), Math.max(0, this.#left));
    }
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#left -= performance.now() - this.#since;
  }

  /** `work`, or DEADLINE_EXCEEDED once the time left has passed in here (the work goes on; its result is dropped). */
  within<T>(work: Promise<T>): Promise<T> {
    if (!Number.isFinite(this.#left)) return work;
    // One promise and one reaction, as withDeadline(): every REST request passes here.
    return new Promise<T>((resolve, reject) => {
      let ended = false;
      const end = () => {
        if (ended) return false;
        ended = true;
        this.#stop();
        this.#expire = undefined;
        return true;
      };
      this.#expire = (error) => {
        if (end()) reject(error);
      };
      this.#start();
      work.then((value) => {
        if (end()) resolve(value);
      }, (error: unknown) => {
        if (end()) reject(error);
      });
    });
  }

  /**
   * `work`, with the clock stopped meanwhile: for a step of within()'s work that starts after
   * within() has (it is called from that work once it has awaited something).
   */
  async outside<T>(work: Promise<T>): Promise<T> {
    const ticking = this.#expire !== undefined && this.#timer !== undefined;
    if (ticking) this.#stop();
    try {
      return await work;
    } finally {
      if (ticking && this.#expire !== undefined) this.#start();
    }
  }
}

/**
 * @internal The versions a status request asks for (TensorFlow Serving's GetModelStatus, REST and
 * gRPC): all of the model's, or the one given by number or label. TensorFlow Serving ignores a
 * label here (it answers every version); tfslice answers the labelled one.
 * @throws NOT_FOUND for an unknown model or version; INVALID_ARGUMENT for an unknown label;
 *   UNAVAILABLE before the manager's start()
 */
export function statusVersions(manager: ModelManager, t: { name: string; version?: number; label?: string }): readonly VersionStatus[] {
  // TensorFlow Serving's words (get_model_status_impl.cc) for a model it does not know as for one
  // with no such version.
  const known = manager.has(t.name);
  // Before start() a configured model has no versions to list: 503, as its other routes answer
  // (helper-120: 404 "Could not find any versions").
  const notStarted = known ? manager.notStartedError(t.name) : null;
  if (notStarted) throw notStarted;
  // A model a reload removed: its versions END, as TensorFlow Serving keeps them.
  const status = known ? manager.status(t.name) : manager.retiredStatus(t.name) ?? { versions: [] };
  let version = t.version;
  if (version === undefined && t.label !== undefined) {
    version = known ? manager.versionOfLabel(t.name, t.label) : undefined;
    if (version === undefined) throw unrecognizedLabel(t.label, known ? { name: t.name, labels: manager.labels(t.name) } : undefined);
  }
  const versions = version === undefined ? status.versions : status.versions.filter((v) => v.version === version);
  if (versions.length === 0) {
    throw new NotFoundError(version === undefined ? `Could not find any versions of model ${t.name}` : `Could not find version ${version} of model ${t.name}`);
  }
  return versions;
}

/** What manager.use() is given for a request: its version or label, and its limit and client's leaving as its wait's bounds. */
function useOptions(t: { version?: number; label?: string }, waitLimitMs: number, signal: RunSignal | undefined) {
  return { version: t.version, label: t.label, waitLimitMs, signal };
}

/**
 * @internal manager.use() that records, for the metrics, the version that served and how long
 * the work on it took when it answered (REST and gRPC alike): a request refused before it ran
 * (an unknown input, too many rows, a full queue) would count a run that never was.
 */
export function useTimed<T>(manager: ModelManager, t: { name: string; version?: number; label?: string }, outcome: { version: number | null; runSeconds: number | null },
  work: (model: Model, version: number) => Promise<T>, waitLimitMs = 0, signal?: RunSignal): Promise<T> {
  // The request's limit, and its client's leaving, bound its wait for a version to load too: one
  // answered 504 (or gone) meanwhile does not keep its place (maxQueuedRequests) until the load ends.
  return manager.use(t.name, useOptions(t, waitLimitMs, signal), async (model, version) => {
    outcome.version = version;
    const started = performance.now();
    const result = await work(model, version);
    outcome.runSeconds = (performance.now() - started) / 1000;
    return result;
  });
}

/** What one request did, for the metrics. */
interface Outcome {
  api: ServingApi;
  model: string;
  version: number | null;
  runSeconds: number | null;
}

/**
 * Requests pipelined on one HTTP/1.1 connection held at once, waiting for those before them to be
 * answered: beyond, the connection is not read until half of them have run.
 */
const MAX_HELD_PIPELINED = 32;

/** ServingOptions' keys (checkServingOptions). */
const SERVING_KEYS = ['manager', 'timeoutMs', 'metrics', 'metricsPath', 'bodyLimit', 'draining', 'strictReadiness', 'auth', 'offloadBytes', 'codecThreads', 'signatureMethodNameCheck'];

// Options fastify passes to every plugin besides its own (register()'s prefix, logLevel, ...).
const FASTIFY_PLUGIN_KEYS = ['prefix', 'logLevel', 'logSerializers'];

/**
 * TensorFlow Serving's REST API and KServe's v2 protocol over `options.manager`, with
 * /monitoring/prometheus/metrics and /metrics. Register it on a fastify instance, under any
 * prefix (`{ prefix: '/tf' }`, a parameter such as '/:tenant' too). It is encapsulated (no
 * fastify-plugin wrapper): it parses its own bodies (TensorFlow Serving's JSON dialect: NaN,
 * exact int64, and the v2 binary extension) whatever their Content-Type, so it takes over the
 * content-type parsers in its scope, and answers its own errors as `{"error": ...}` with its
 * error handler, which the app's own never sees; the app's hooks (an onRequest auth hook) run
 * for its routes as for any. Paths match case-sensitively, as the app's router says (createServer
 * sets caseSensitive: false, as TensorFlow Serving's paths are). Each registration has its own
 * ServerMetrics unless `metrics` passes one. Errors raised when registered: ERR_INVALID_ARG_TYPE /
 * ERR_OUT_OF_RANGE naming the option; fastify's own for a route registered twice.
 */
export const tfsliceServing: FastifyPluginAsync<ServingOptions> = async (app, options) => {
  checkServingOptions('tfsliceServing', options, [...SERVING_KEYS, ...FASTIFY_PLUGIN_KEYS]);
  const { manager } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const methodNameCheck = options.signatureMethodNameCheck ?? false;
  const metrics = options.metrics === false ? null : options.metrics ?? new ServerMetrics(manager);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const draining = options.draining ?? (() => false);
  const { offloadBytes, threads } = codecOptions(options);
  const codec = new Codec(offloadBytes, threads);
  app.addHook('onClose', () => codec.close());

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', bodyParser(bodyLimit, offloadBytes));
  // The request last read from each connection: another than this one when the client pipelined
  // it behind this one (HTTP/1.1: the next request sent before this one's answer).
  const lastFrom = new WeakMap<object, { request: IncomingMessage; response: ServerResponse; held: number }>();
  const lastRead = (request: FastifyRequest): boolean => lastFrom.get(request.raw.socket)?.request === request.raw;
  app.addHook('onRequest', (request, reply, done) => {
    // TensorFlow Serving reads a body whatever its Content-Type says; fastify answers 415 to a
    // header that is not a media type (empty, "json"), before any parser: such a one is dropped.
    const type = request.headers['content-type'];
    if (type !== undefined && !MEDIA_TYPE.test(type)) delete request.headers['content-type'];
    const socket = request.raw.socket as Socket & { _paused?: boolean };
    const last = lastFrom.get(socket);
    const before = last?.response;
    const held = last?.held ?? 0;
    const connection = { request: request.raw, response: reply.raw, held };
    lastFrom.set(socket, connection);
    // Pipelined behind a request not yet answered: it starts once that one is answered, as
    // TensorFlow Serving's HTTP server takes a connection's requests one at a time (RFC 9112
    // 9.3.2 lets pipelined requests run in parallel only when all are safe methods, and a
    // prediction is a POST). Node reads them at once: they would run side by side, in any order.
    // A connection that ends first closes this request (not the responses queued before it).
    if (before === undefined || before.writableFinished || before.destroyed || request.raw.destroyed) return done();
    // And Node would read every request the client sends, each held here, without end (a
    // client that pipelines and never reads its answers takes the server's memory): with
    // MAX_HELD_PIPELINED held, the connection is not read until half of them have run, as Node
    // itself stops reading a connection whose client does not read its answers (its _paused
    // flag: it pauses the parser too once the bytes read so far are parsed, and resumes it).
    connection.held = held + 1;
    if (connection.held >= MAX_HELD_PIPELINED && !socket._paused) {
      socket._paused = true;
      socket.pause();
    }
    const go = () => {
      before.off('close', go);
      request.raw.off('close', go);
      const now = lastFrom.get(socket);
      if (now !== undefined && --now.held === MAX_HELD_PIPELINED >> 1 && socket._paused && !socket.writableNeedDrain) {
        // Node's socketOnDrain, which resumes a connection it paused when its answers drain.
        socket.emit('drain');
      }
      done();
    };
    before.once('close', go);
    request.raw.once('close', go);
  });

  // The time limit of a request for model t: the time it waits for the model and runs in it.
  const deadline = (t: Target) => new Deadline(timeoutMs, () => `Deadline Exceeded: model '${t.name}' did not answer within ${timeoutMs} ms (--rest_api_timeout_in_ms)`);

  // Runs `work` on a version of the model, within the request's time limit.
  // The route has set outcome.model (modelLabel) before it reads the body.
  // `gone`: the request's ClientGone (its run's signal too): the wait for a version listens to it.
  const withModel = <T>(t: Target, outcome: Outcome, clock: Deadline, gone: RunSignal, work: (model: Model, version: number) => Promise<T>): Promise<T> =>
    clock.within(useTimed(manager, t, outcome, work, timeoutMs, gone));

  // Aborted when the client goes before its answer: a codec task for it is dropped. Made when
  // a request first hands a codec thread work (small requests never need one).
  const closed = (reply: FastifyReply): (() => AbortSignal) =>
    lazySignal(() => reply.raw.closed, (abort) => reply.raw.once('close', () => { if (!reply.raw.writableFinished) abort(); }));

  // JSON is UTF-8, said the same for a string and for a Buffer (fastify adds the charset only to strings).
  // A body in parts (a v2 response's JSON, then its binary outputs) is written part by part
  // when it is big, with its Content-Length, not joined into one more copy on the event loop.
  const send = (reply: FastifyReply, outcome: Outcome, started: number, status: number, body: string | Buffer | readonly Uint8Array[], code: string, type = 'application/json; charset=utf-8') => {
    if (metrics) {
      const model = outcome.model;
      // An answer that has nobody to go to (the client closed the connection first) is counted
      // as the client saw the request end, as gRPC counts a call its client cancelled.
      // A 408 closes the connection itself: the server's time limit, not the client's leaving.
      const label = code === 'HTTP_408' ? 'DEADLINE_EXCEEDED' : reply.raw.closed ? 'CANCELLED' : statusLabel(code);
      metrics.answered(outcome.api, model, outcome.version, label, (performance.now() - started) / 1000, outcome.runSeconds);
    }
    reply.code(status).type(type);
    // Nobody to write it to: a stream would fail on the closed socket (and come back here as an error).
    if (reply.raw.closed) return reply.send('');
    if (!Array.isArray(body)) return reply.send(body);
    const bytes = body.reduce((n, part) => n + part.byteLength, 0);
    if (bytes < PARTS_JOINED_BELOW) return reply.send(Buffer.concat(body, bytes));
    return reply.header('content-length', String(bytes)).send(Readable.from(body.map(asBuffer)));
  };

  const handle = (api: ServingApi, work: (request: FastifyRequest, outcome: Outcome, reply: FastifyReply) => Promise<{ body: string | Buffer | readonly Uint8Array[]; type?: string; header?: number } | { status: number; body: string }>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const started = performance.now();
      const outcome: Outcome = { api, model: '', version: null, runSeconds: null };
      try {
        const result = await work(request, outcome, reply);
        if ('status' in result) return send(reply, outcome, started, result.status, result.body, result.status < 400 ? 'OK' : 'UNAVAILABLE');
        if (result.header !== undefined) reply.header(HEADER_LENGTH, String(result.header));
        return send(reply, outcome, started, 200, result.body, 'OK', result.type);
      } catch (error) {
        const { code, message } = describeError(servingError(outcome.api, error));
        if (code === 'INTERNAL' && !(error instanceof TensorFlowError)) logFailure(request, error);
        const status = code.startsWith('HTTP_') ? Number(code.slice(5)) : httpStatus(code);
        // Load shed: the connection closes after this 503 (as Envoy's overload manager stops
        // keep-alive), so a client that resends at once waits in the kernel's accept queue
        // instead of keeping its socket readable. Readable sockets are what new connections
        // wait behind: libuv accepts one connection each time epoll reports the listening
        // socket, once per batch of up to 1 024 events it handles (README, "Overload"). Not
        // with requests pipelined behind this one: they have been read, and would run unanswered
        // (those ahead of it are answered first, in order). HTTP/1 only (HTTP/2 forbids the
        // header; its streams share the connection).
        if (error instanceof QueueFullError && request.raw.httpVersionMajor === 1 && lastRead(request)) void reply.header('Connection', 'close');
        return send(reply, outcome, started, status, errorBody(message), code);
      }
    };

  // What the client's answer calls "internal error (see the server log)": to the app's logger,
  // or to stderr where it has none (fastify's `logger: false`, tfslice serve's), as gRPC's.
  const logFailure = (request: FastifyRequest, error: unknown): void => {
    if (typeof request.log.level === 'string') request.log.error({ err: error }, 'tfslice: request failed');
    else process.stderr.write(`tfslice serve: a request to ${request.method} ${pathOf(request)} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  };

  const bodyOf = (request: FastifyRequest): Body => (Buffer.isBuffer(request.body) || request.body instanceof BodyChunks ? request.body : Buffer.alloc(0));

  // A Predict response, written on a codec thread (outside the time limit) when it is big. Row
  // format repeats each output's key in every row when there are several.
  const writePredict = (outputs: Record<string, Tensor>, format: Format, clock: Deadline, signal: () => AbortSignal): string | Promise<Buffer> => {
    const tensors = Object.values(outputs);
    const keys = format === 'row' && tensors.length > 1 ? Object.keys(outputs).reduce((n, k) => n + k.length + 4, 0) * (tensors[0]!.shape[0] ?? 1) : 0;
    if (!codec.wants(jsonWeight(tensors) + keys)) return predictResponse(outputs, format);
    return clock.outside(codec.predictResponse(outputs, format, signal()));
  };
  // The path as the routes see it: without the query, and without the prefix the plugin was
  // registered under (app.register(tfsliceServing, { prefix: '/tf' }) serves /tf/v1/...).
  const skip = prefixSegments(app.prefix);
  const pathOf = (request: FastifyRequest): string => routePath(request.url, skip);

  // Before the body is read: an unauthenticated client cannot make the server take 64 MiB.
  if (options.auth) app.addHook('onRequest', authHook(new BearerAuth(options.auth), skip, metrics));

  // -- TensorFlow Serving: /v1 -------------------------------------------------

  // The model label of a name as a path holds it (percent-encoded): "" when it does not decode.
  const modelLabelOf = (encoded: string): string => {
    const name = nameOf(encoded);
    return name === undefined ? '' : modelLabel(manager, name);
  };

  const malformed = (request: FastifyRequest) => new InvalidArgumentError(`Malformed request: ${request.method} ${pathOf(request)}`);

  const v1Post = async (request: FastifyRequest, outcome: Outcome, reply: FastifyReply) => {
    const match = POST_V1.exec(pathOf(request));
    if (!match) throw malformed(request);
    // A request refused before it reaches its model still counts under it, if it is one: as
    // TensorFlow Serving names it once its path matched (a method in capitals, a version past
    // int64; helper-124).
    outcome.model = modelLabelOf(match[1]!);
    const method = match[4]!.toLowerCase() as 'predict' | 'classify' | 'regress';
    outcome.api = method;
    if (match[4] !== method) throw malformed(request);
    const t = target(match[1]!, match[2], match[3]);
    const raw = bodyOf(request);
    const offload = codec.wants(raw.byteLength);
    const clock = deadline(t);
    const signal = closed(reply);
    if (method === 'predict' && offload) {
      // The body's feeds depend on the model's signatures: they are looked up first (the wait for
      // the model counts toward the time limit), the body read on a codec thread, then run on
      // the version that serves then (its signature checked again by run()).
      const gone = new ClientGone(reply);
      const inputs = await clock.within(manager.use(t.name, useOptions(t, timeoutMs, gone), async (model) => inputsOf(model)));
      const { signature, format, feeds } = await codec.predict(raw, inputs, signal());
      return {
        body: await withModel(t, outcome, clock, gone, async (model) => {
          if (methodNameCheck) checkMethodName(servingSignature(model, signature), 'predict');
          return writePredict(await model.run(feeds(), { signature, checkShapes: false, runTimeoutMs: timeoutMs, signal: gone }), format, clock, signal);
        }),
      };
    }
    if (method === 'predict') {
      const parsed = readPredictRequest(parseJson(contiguous(raw)));
      const gone = new ClientGone(reply);
      return {
        body: await withModel(t, outcome, clock, gone, async (model) => {
          const name = parsed.signatureName ?? model.defaultSignature ?? 'serving_default';
          const info = servingSignature(model, name);
          if (methodNameCheck) checkMethodName(info, 'predict');
          const feeds = feedsFromPayload(parsed.format, parsed.payload, info.inputs);
          return writePredict(await model.run(feeds, { signature: name, checkShapes: false, runTimeoutMs: timeoutMs, signal: gone }), parsed.format, clock, signal);
        }),
      };
    }
    const parsed = offload ? await codec.examples(raw, method, signal()) : readExamplesRequest(parseJson(contiguous(raw)), method);
    const gone = new ClientGone(reply);
    return {
      body: await withModel(t, outcome, clock, gone, async (model) => {
        const name = parsed.signatureName ?? 'serving_default';
        const outputs = await runExamplesSignature(model, name, method, parsed.examples, methodNameCheck, { runTimeoutMs: timeoutMs, signal: gone });
        // Written on a codec thread when big, as a Predict response (helper-87: a million
        // examples held the event loop for 1.4 s to regress, 3-4 s to classify).
        if (codec.wants(jsonWeight(Object.values(outputs)))) return clock.outside(codec.examplesResponse(outputs, parsed.count, method, signal()));
        return method === 'classify' ? classifyResponse(outputs, parsed.count) : regressResponse(outputs, parsed.count);
      }),
    };
  };

  const v1Get = async (request: FastifyRequest, outcome: Outcome, reply: FastifyReply) => {
    const match = GET_V1.exec(pathOf(request));
    if (!match) throw malformed(request);
    if (match[1] === undefined) throw new InvalidArgumentError('Missing model name in request.');
    outcome.model = modelLabelOf(match[1]);
    const t = target(match[1], match[2], match[3]);
    if (match[4] === 'metadata') {
      outcome.api = 'metadata';
      return { body: JSON.stringify(await withModel(t, outcome, deadline(t), new ClientGone(reply), async (model, version) => metadataResponse(t.name, version, model.signatures))) };
    }
    outcome.api = 'status';
    return { body: JSON.stringify(statusResponse(statusVersions(manager, t))) };
  };

  // A CORS preflight (OPTIONS), as TensorFlow Serving answers it on any /v1 path (http_server.cc):
  // OK, with nothing in it, when it says its Origin (http or https); else FAILED_PRECONDITION.
  // Only the CORS headers of createServer({ corsSupport }) (--rest_api_enable_cors_support)
  // let a browser go on; those answer a preflight before this route (@fastify/cors).
  const v1Options = async (request: FastifyRequest) => {
    if (/https?:\/\//i.test(request.headers.origin ?? '')) return { status: 200, body: '' };
    throw new TensorFlowError('FAILED_PRECONDITION', 'Origin header is missing in CORS preflight');
  };

  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'],
    url: '/v1/*',
    handler: async (request, reply) => {
      if (request.method === 'POST') return handle('predict', v1Post)(request, reply);
      if (request.method === 'GET') return handle('status', v1Get)(request, reply);
      if (request.method === 'OPTIONS') return handle('status', v1Options)(request, reply);
      return handle('status', async () => { throw malformed(request); })(request, reply);
    },
  });

  // -- KServe v2 ---------------------------------------------------------------

  const notReady = (why: string) => ({ status: 503, body: errorBody(why) });

  const strictReadiness = options.strictReadiness ?? true;
  const serverReady = () => notReadyReason(manager, draining, strictReadiness);

  app.get('/v2', handle('v2_metadata', async () => ({ body: JSON.stringify({ name: 'tfslice', version: VERSION, extensions: V2_EXTENSIONS }) })));
  app.get('/v2/health/live', handle('v2_ready', async () => ({ body: '{"live":true}' })));
  app.get('/v2/health/ready', handle('v2_ready', async (request) => {
    const why = serverReady();
    if (why === null) return { body: '{"ready":true}' };
    // A probe without a token learns that the server is not ready, not which models it has.
    return notReady(PROBES.has(request) ? 'Server is not ready' : `Server is not ready: ${why}`);
  }));

  app.route({
    method: ['GET', 'POST'],
    url: '/v2/models/*',
    handler: async (request, reply) => {
      const match = V2_MODEL.exec(pathOf(request));
      const what = match?.[3];
      if (!match) {
        return handle('v2_infer', async () => { throw new NotFoundError(`no such v2 endpoint: ${request.method} ${pathOf(request)}`); })(request, reply);
      }
      if ((request.method === 'POST') !== (what === 'infer')) {
        return handle(request.method === 'POST' ? 'v2_infer' : 'v2_metadata', async () => { throw methodNotAllowed(reply, request.method, pathOf(request), v2Allowed(match)); })(request, reply);
      }
      let t: Target;
      try {
        t = target(match[1]!, undefined, undefined);
        // KServe's version is a string; a SavedModel's is a number, read as ModelInfer's model_version is over gRPC.
        if (match[2] !== undefined) t.version = versionOf(decode(match[2], 'version'), 'version');
      } catch (error) {
        return handle(what === 'infer' ? 'v2_infer' : what === 'ready' ? 'v2_ready' : 'v2_metadata', async () => { throw error; })(request, reply);
      }
      if (what === 'ready') {
        return handle('v2_ready', async (_, outcome) => {
          outcome.model = modelLabel(manager, t.name);
          const status = manager.status(t.name);
          const ready = status.versions.some((v) => v.state === 'AVAILABLE' && (t.version === undefined || v.version === t.version));
          return ready && !draining() ? { body: JSON.stringify({ name: t.name, ready: true }) } : notReady(`Model with name ${t.name}${t.version === undefined ? '' : ` version ${t.version}`} is not ready.`);
        })(request, reply);
      }
      if (what === undefined) {
        return handle('v2_metadata', async (_, outcome, reply) => {
          outcome.model = modelLabel(manager, t.name);
          return { body: JSON.stringify(await withModel(t, outcome, deadline(t), new ClientGone(reply), async (model) => modelMetadata(manager, t.name, model))) };
        })(request, reply);
      }
      return handle('v2_infer', async (req, outcome, reply) => {
        outcome.model = modelLabel(manager, t.name);
        const clock = deadline(t);
        const signal = closed(reply);
        const headers = req.headers[HEADER_LENGTH];
        const header = Array.isArray(headers) ? headers[0] : headers;
        const raw = bodyOf(req);
        // A body kept in chunks (offloadBytes or more) is read on a codec thread even when its
        // JSON part is small: joining it, and copying binary tensors that start misaligned, held
        // the event loop (48 MiB of floats in and out, with the response joined too: 360-400 ms
        // without a turn, now 29-58 ms). Smaller bodies: the JSON part's length decides.
        const jsonBytes = header !== undefined && /^\d+$/.test(header) ? Math.min(Number(header), raw.byteLength) : raw.byteLength;
        let parsed: InferRequest;
        // Triton's raw binary request: no JSON part, the body one input's raw bytes, read into
        // that input once the signature is known and the body's length checked (rawBinaryFeeds).
        // A big body's chunks are then joined on a runner thread into aligned memory, which the
        // tensor views (joined on the event loop, a 64 MiB body held it for 44-57 ms); the wait for
        // a runner counts toward the request's time limit, as a run's does (helper-99).
        const rawRequest = header !== undefined && /^0+$/.test(header);
        let rawBody: RawBody | undefined;
        if (rawRequest) {
          parsed = RAW_BINARY_REQUEST;
          rawBody = raw instanceof BodyChunks ? { byteLength: raw.byteLength, join: async () => new Uint8Array((await native().copyOffThread(raw.chunks, true))[0]!) } : raw;
        } else if (raw instanceof BodyChunks || codec.wants(jsonBytes)) {
          parsed = await codec.infer(raw, header, signatureLimits(manager), signal());
        } else {
          const { header: json, binary } = splitBody(contiguous(raw), header);
          parsed = readInferRequest(json, binary, true, signatureLimits(manager));
        }
        const gone = new ClientGone(reply);
        const response = await withModel(t, outcome, clock, gone, async (model, version) => {
          const signature = v2Signature(t.name, model, parsed.signatureName);
          const info = servingSignature(model, signature);
          const feeds = rawBody ? await rawBinaryFeeds(signature, info, rawBody) : parsed.feeds;
          const partial = partialInputsError(parsed.inputCount, Object.keys(feeds), signature, info);
          if (partial) throw partial;
          // An output that is not there is the request's mistake, told before the model runs. The
          // whole signature runs (each different selection would cost an executor TensorFlow keeps:
          // RunOptions.outputs), and the response holds what was asked for.
          if (parsed.outputs !== null) checkV2OutputNames(info.outputs, parsed.outputs.map((o) => o.name));
          if (parsed.outputs && parsed.outputs.length < parsed.outputCount) throw cutShort(parsed.outputCount, 'outputs');
          const outputs: Record<string, Tensor> = await model.run(feeds, { signature, checkShapes: false, runTimeoutMs: timeoutMs, signal: gone });
          // Only outputs written as JSON weigh (binary ones are copied as they are).
          const asJson = (parsed.outputs ?? (parsed.binaryByDefault ? [] : Object.keys(outputs).map((name) => ({ name, binary: false }))))
            .filter((o) => !o.binary && outputs[o.name]).map((o) => outputs[o.name]!);
          // (Only binary outputs: nothing to write; they would only be copied to the thread.)
          if (asJson.length === 0 || !codec.wants(jsonWeight(asJson))) {
            const laying = layOutBigBytes(parsed, outputs); // big BYTES: laid out on a runner thread
            return inferResponse(t.name, version, parsed, outputs, laying && (await clock.outside(laying)));
          }
          return clock.outside(codec.inferResponse(t.name, version, parsed, parsed.outputs ? Object.fromEntries(parsed.outputs.map((o) => [o.name, outputs[o.name]!])) : outputs, signal()));
        });
        const json = typeof response.json === 'string' ? response.json : asBuffer(response.json);
        if (!response.binary) return { body: json };
        const head = typeof json === 'string' ? Buffer.from(json) : json;
        return { body: [head, ...response.binary], type: 'application/octet-stream', header: head.byteLength };
      })(request, reply);
    },
  });

  // -- metrics ---------------------------------------------------------------

  if (metrics) {
    const scrape = async (_request: FastifyRequest, reply: FastifyReply) => {
      const { body, contentType } = await metrics.render();
      return reply.type(contentType).send(body);
    };
    app.get('/monitoring/prometheus/metrics', scrape);
    app.get('/metrics', scrape);
    // (Routes match without regard to case.)
    const extra = options.metricsPath;
    if (extra !== undefined && !['/monitoring/prometheus/metrics', '/metrics'].includes(extra.toLowerCase())) app.get(extra, scrape);
  }

  // Errors fastify raises before a route runs (413 for a body over the limit, a bad
  // content-length, ...): TensorFlow Serving's {"error": ...}, counted like the rest.
  app.setErrorHandler((error, request, reply) => {
    // A response that failed while it was written (its client went: a stream's premature close)
    // was answered and counted already.
    if (reply.sent || reply.raw.headersSent) return;
    const { code, message } = describeError(error);
    if (code === 'INTERNAL') logFailure(request, error);
    const status = code.startsWith('HTTP_') ? Number(code.slice(5)) : httpStatus(code);
    const path = pathOf(request);
    // A request refused before its route ran (a body over the limit, or cut off by its client)
    // still counts under the configured model its path names.
    const named = nameInPath(path);
    const model = named === undefined ? '' : modelLabel(manager, named);
    const outcome: Outcome = { api: apiOf(request, path), model, version: null, runSeconds: null };
    return send(reply, outcome, performance.now() - reply.elapsedTime, status, errorBody(status === 413 ? `the request body is larger than the limit of ${bodyLimit} bytes` : message), code);
  });
};

/**
 * A request's RunSignal: aborted once its client has gone before its answer, for a run that still
 * waits for its turn or in a batch queue (no AbortSignal to make per request; it listens to the
 * connection only when a run waits).
 */
class ClientGone extends LazySignal {
  constructor(private readonly reply: FastifyReply) {
    super();
  }

  get aborted(): boolean {
    return this.reply.raw.closed && !this.reply.raw.writableFinished;
  }

  protected watch(fire: () => void): void {
    this.reply.raw.once('close', fire);
  }
}

/** What a probe calls (GET or HEAD): open without a token unless auth.openHealth is false. */
const HEALTH_PATHS: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready']);

/** Requests let through without a token because they are a probe's. */
const PROBES = new WeakSet<FastifyRequest>();

const UNAUTHENTICATED = errorBody('Unauthenticated: send Authorization: Bearer <token> (once) with a token of --auth_token_file');

/** Requests that asked to send a body past the limit (Expect: 100-continue): never invited. */
const UNINVITED = new WeakSet<IncomingMessage>();

/**
 * @internal How many path segments a plugin prefix takes: '/tf', '/tf/' and '/:tenant' one,
 * '/a/b' two. Its segments, not its characters: what the router matched for a parametric prefix
 * ('/:tenant'), a percent-encoded one ('/t%66' for '/tf') or doubled slashes
 * (ignoreDuplicateSlashes) is not as long as the prefix as written (helper-74: the routes cut a
 * fixed number of characters, and answered 400 under those).
 */
export function prefixSegments(prefix: string): number {
  return prefix.split('/').filter((segment) => segment !== '').length;
}

/**
 * @internal A request's path as tfslice's routes see it: the raw URL without its query and its
 * first `skip` segments (the prefix), starting with '/' ('/v1/models/m:predict').
 */
export function routePath(url: string, skip: number): string {
  const path = url.split('?')[0]!;
  let at = 0;
  for (let i = 0; i < skip; i++) {
    while (path[at] === '/') at++;
    const end = path.indexOf('/', at);
    at = end < 0 ? path.length : end;
  }
  // Slashes doubled after the prefix (a router that ignores them matched the route): one.
  let from = at;
  while (path[from + 1] === '/') from++;
  return path.slice(from) || '/';
}

/**
 * An onRequest hook that lets through requests with exactly one Authorization header carrying
 * an accepted bearer token, and probes' GETs of the health paths while auth.openHealth; others
 * get 401 with WWW-Authenticate: Bearer, before their body is read.
 */
function authHook(auth: BearerAuth, skip: number, metrics: ServerMetrics | null) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const path = routePath(request.url, skip);
    // A client that asked before sending its body (Expect: 100-continue) is invited once let in.
    const invite = () => { if (/100-continue/i.test(request.headers.expect ?? '') && !UNINVITED.has(request.raw)) reply.raw.writeContinue(); };
    if (auth.openHealth && (request.method === 'GET' || request.method === 'HEAD') && HEALTH_PATHS.has(path)) {
      PROBES.add(request);
      invite();
      return;
    }
    // Two Authorization headers (a proxy that appends one) are refused, not read as the first.
    const raw = request.raw.rawHeaders;
    let headers = 0;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') headers++;
    if (headers === 1 && auth.accepts(request.headers.authorization)) {
      invite();
      return;
    }
    // (Not in TensorFlow Serving's series, as gRPC's refusals are not: it has no tokens, and a
    // proxy that checks them in front of it keeps what it refuses from its counts.)
    if (metrics) countUnrouted(metrics, request, path, reply, 'UNAUTHENTICATED', false);
    // The connection closes after the answer: the body the client may still send is not read.
    return reply.code(401).header('WWW-Authenticate', 'Bearer realm="tfslice"').header('Connection', 'close').type('application/json').send(UNAUTHENTICATED);
  };
}

/** Counts a request answered before any route (no model): a refused token, a path no route has. */
function countUnrouted(metrics: ServerMetrics, request: FastifyRequest, path: string, reply: FastifyReply, status: string, tfServing = true): void {
  // (TensorFlow Serving's request_count only for its REST API's paths, as its handler counts them:
  // helper-123, a probe of /favicon.ico was a NOT_FOUND there)
  metrics.answered(apiOf(request, path), '', null, status, reply.elapsedTime / 1000, null, tfServing && /^\/v1\//i.test(path));
}

/** The API a request was for, from its method and path (for requests that failed before their route ran). */
function apiOf(request: FastifyRequest, path: string): ServingApi {
  if (path.startsWith('/v2')) return request.method === 'POST' ? 'v2_infer' : 'v2_metadata';
  const verb = /:(classify|regress|predict)$/i.exec(path)?.[1]?.toLowerCase() as ServingApi | undefined;
  return verb ?? (request.method === 'POST' ? 'predict' : 'status');
}

/** The methods a KServe v2 model path answers (HEAD with GET, as fastify serves it). */
function v2Allowed(match: RegExpExecArray): string {
  return match[3] === 'infer' ? 'POST' : 'GET, HEAD';
}

/**
 * A known path asked with a method it does not answer: 405 with its Allow header (RFC 9110
 * 15.5.6), as Triton answers on KServe v2's paths. TensorFlow Serving's /v1 paths keep its 400
 * ("Malformed request").
 */
function methodNotAllowed(reply: FastifyReply, method: string, path: string, allowed: string): Error {
  void reply.header('allow', allowed);
  return Object.assign(new Error(`method ${method} is not allowed on ${path}; it answers ${allowed}`), { statusCode: 405 });
}

/** The methods a path answers when no route has it for the method asked, or null for a path no route has. */
function allowedMethods(app: FastifyInstance, path: string): string | null {
  const v2 = V2_MODEL.exec(path);
  if (v2) return v2Allowed(v2);
  // hasRoute() reads its url as a route pattern (':name', '*'): only plain paths are asked.
  if (!/^[\w./-]*$/.test(path)) return null;
  try {
    return app.hasRoute({ method: 'GET', url: path }) ? 'GET, HEAD' : null;
  } catch {
    return null;
  }
}

/** A 404 in TensorFlow Serving's shape, for a path no route has. */
function notFound(request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0]!;
  void reply.code(404).type('application/json').send(errorBody(`no such endpoint: ${request.method} ${path} (TensorFlow Serving's API is under /v1/models, KServe's v2 under /v2)`));
}

// createServer()'s servers: what closeServer() calls to make every later request a 503 (the
// same as fastify's preClose does).
const BEGIN_CLOSING = new WeakMap<FastifyInstance, () => void>();
// closeServer()'s close under way, by server: a second call shares it.
const CLOSING = new WeakMap<FastifyInstance, Promise<void>>();

/** How long closeServer() keeps idle keep-alive connections open by default, in ms. */
export const CLOSE_LINGER_MS = 500;

/**
 * Closes a server createServer() made (or a fastify server of your own with the plugin on it), for
 * a shutdown that resets no request: at once, it stops
 * accepting connections and every request it reads from then on is answered 503 with
 * `Connection: close` (requests in flight finish; their answers close their connections too).
 * The connections kept alive stay open up to `lingerMs` (default 500 ms; sooner once none is
 * left), so that a request a client had just sent on one gets that 503 and not a reset; then
 * `app.close()` closes those still idle and waits for the requests in flight. `app.close()`
 * alone closes idle keep-alive connections at once (Node's http server does), and a request on
 * its way on one of them is lost without an answer: the client cannot tell whether it ran.
 * A second call while one is under way returns the first one's promise (its lingerMs holds).
 * @param lingerMs how long idle connections may stay open, in ms (0: close them at once)
 * @throws ERR_INVALID_ARG_TYPE (TypeError) / ERR_OUT_OF_RANGE (RangeError) for a lingerMs that is
 *   not a number of milliseconds, 0 or more; else rejects as `app.close()` does
 */
export function closeServer(app: FastifyInstance, options: { lingerMs?: number | undefined } = {}): Promise<void> {
  const lingerMs = options?.lingerMs ?? CLOSE_LINGER_MS;
  if (typeof lingerMs !== 'number' || Number.isNaN(lingerMs)) throw invalidType('closeServer\'s options.lingerMs', 'a number of milliseconds', lingerMs);
  if (lingerMs < 0) throw outOfRange('closeServer\'s options.lingerMs', 'a number of milliseconds, 0 or more', lingerMs);
  // A second call (a second signal) shares the first one's close: it would find the listener
  // closed and close the idle connections at once (helper-92).
  let closing = CLOSING.get(app);
  if (closing === undefined) {
    closing = lingerThenClose(app, Math.min(lingerMs, 2 ** 31 - 1));
    CLOSING.set(app, closing);
  }
  return closing;
}

async function lingerThenClose(app: FastifyInstance, lingerMs: number): Promise<void> {
  BEGIN_CLOSING.get(app)?.();
  const server = app.server;
  if (lingerMs > 0 && server.listening) {
    // net.Server's close stops the listener and leaves the connections (http.Server's closes the
    // idle ones too); fastify's own close below then finds it closed, which it expects.
    NetServer.prototype.close.call(server);
    const end = performance.now() + lingerMs;
    while (performance.now() < end) {
      const open = await new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
      if (open === 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, end - performance.now()))));
    }
  }
  // app.close() closes the connections idle when it starts; one whose request is in flight
  // goes idle once answered and stays open until the keep-alive timeout (fastify's 72 s on a
  // server of the user's own, whose answers do not say Connection: close: helper-133, closeServer
  // took 70 s). Those are closed as they go idle.
  const idle = setInterval(() => app.server.closeIdleConnections?.(), 20);
  try {
    await app.close();
  } finally {
    clearInterval(idle);
  }
}

/** Options of createServer(): the plugin's, and the HTTP server's own limits. */
export interface ServerOptions extends ServingOptions {
  /**
   * Longest a client may take to send a whole request, in ms (slow clients are cut off; 408).
   * Also the longest the 400 for invalid HTTP waits for the answers to requests pipelined
   * before it on its connection (60000 when 0). Default 60000.
   */
  requestTimeoutMs?: number | undefined;
  /**
   * How long an idle keep-alive connection stays open, in ms (Node's keepAliveTimeout; 0: until
   * its client closes it). Default 50000, as TensorFlow Serving's HTTP server (libevent's
   * HTTP_READ_TIMEOUT, 50 s): behind a load balancer, keep it above the balancer's own idle
   * timeout (AWS ALB: 60 s), or a request it sends on a connection just closed fails with 502.
   */
  keepAliveTimeoutMs?: number | undefined;
  /**
   * Longest a client may take to send a request's headers, in ms (slow-header clients are cut
   * off; 408). At most requestTimeoutMs. Default 10000.
   */
  headersTimeoutMs?: number | undefined;
  /** Largest request head (request line and headers), in bytes (431 beyond). Default 16384 (Node's). */
  maxHeaderBytes?: number | undefined;
  /** Connections open at once; more are closed as they come. 0: no limit. Default 4096. */
  maxConnections?: number | undefined;
  /** fastify's logger (pino) options, or false. Default false. */
  logger?: boolean | Record<string, unknown> | undefined;
  /**
   * TensorFlow Serving's --rest_api_enable_cors_support: every answer carries
   * `Access-Control-Allow-Origin: *`, and a CORS preflight (OPTIONS with `Origin` and
   * `Access-Control-Request-Method`) is answered 200 with `Access-Control-Allow-Methods: POST, GET`
   * and `Access-Control-Allow-Headers: Content-Type, Inference-Header-Content-Length`
   * (`Authorization` too with `auth`; TensorFlow Serving allows Content-Type alone), before any
   * token is asked for, so that a web page of any origin can call the server; a v2 answer's
   * `Inference-Header-Content-Length` is exposed to it. @fastify/cors does it. Preflights are not
   * counted in the metrics. Default false (a preflight of a /v1 path is answered 200 without
   * those headers, as TensorFlow Serving does: the browser then refuses the call).
   * On the plugin, register @fastify/cors yourself.
   */
  corsSupport?: boolean | undefined;
}

/**
 * A fastify server with tfsliceServing registered: call `listen({ host, port })` on it, and
 * `close()` to stop (requests in flight finish; idle connections close at once).
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  checkServingOptions('createServer', options, [...SERVING_KEYS, 'requestTimeoutMs', 'keepAliveTimeoutMs', 'headersTimeoutMs', 'maxHeaderBytes', 'maxConnections', 'logger', 'corsSupport']);
  if (options.corsSupport !== undefined && typeof options.corsSupport !== 'boolean') throw invalidType('createServer() option corsSupport', 'a boolean', options.corsSupport);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  // Made here when not given (not in the plugin): unknown paths and unparsable HTTP, answered
  // outside the plugin, are counted in it too.
  const counted = options.metrics === false ? null : options.metrics ?? new ServerMetrics(options.manager);
  const app = Fastify({
    bodyLimit,
    requestTimeout,
    http: {
      maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
      // Node checks it only when requestTimeout is set too, and wants it no larger.
      headersTimeout: Math.min(options.headersTimeoutMs ?? 10_000, requestTimeout > 0 ? requestTimeout : Infinity),
      // How often Node looks for connections past those limits (its default, 30 s, would let a
      // 1 s limit run 31 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, (options.headersTimeoutMs ?? 10_000) / 4)),
    },
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 50_000,
    // A request target in absolute form (`POST http://host/v1/models/m:predict`, as sent to a
    // proxy): servers must take it (RFC 9112 3.2.2), as its path.
    rewriteUrl: (request) => {
      const url = request.url ?? '/';
      if (url.startsWith('/')) return url;
      const origin = /^https?:\/\/[^/?#]*/i.exec(url);
      return origin === null ? url : `/${url.slice(origin[0].length).replace(/^\//, '')}`;
    },
    forceCloseConnections: 'idle',
    // fastify's own 503 while closing is {"error", "message", "statusCode"}: answered below in
    // TensorFlow Serving's shape instead.
    return503OnClosing: false,
    logger: options.logger ?? false,
    // Model names and labels are matched by the routes' own regexes (case-insensitive, as
    // TensorFlow Serving's), not by fastify's router.
    routerOptions: { caseSensitive: false },
    // A path that is not valid percent-encoding, and the like: 400 in TensorFlow Serving's shape.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).code(400).type('application/json').send(errorBody(`Malformed request: ${error.message}`));
    },
    // HTTP that Node's parser refuses (a bad chunk, both Content-Length and Transfer-Encoding):
    // the same shape, then the connection closes.
    // When requests read whole before it are still unanswered (pipelined), it waits for their
    // answers (at most the server's request timeout), so that they are not lost and it comes last.
    clientErrorHandler: (error, socket) => {
      const connection = connections.get(socket);
      if (!socket.writable || connection?.refusal) return;
      const code = (error as { code?: string }).code;
      const [status, text, why, label] = code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'the request line and headers are larger than the server takes', 'RESOURCE_EXHAUSTED']
        : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'the request did not arrive whole within the time the server gives a client', 'DEADLINE_EXCEEDED']
          : [400, 'Bad Request', 'the request is not valid HTTP', 'INVALID_ARGUMENT'];
      // It names no model or API: counted apart from tfslice_requests_total.
      counted?.unparsedRequests.inc({ status: label });
      const body = errorBody(`${text}: ${why} (${code ?? error.message})`);
      let timer: NodeJS.Timeout | undefined;
      const refuse = () => {
        clearTimeout(timer);
        if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      };
      // Not for a request whose body is being read (a bad chunk, a body that never ends): that
      // one can never be answered.
      if (connection === undefined || connection.unanswered === 0 || !connection.last.complete) return refuse();
      connection.refusal = refuse;
      timer = timerFor(refuse, requestTimeout > 0 ? requestTimeout : 60_000).unref();
      socket.once('close', () => clearTimeout(timer));
    },
  });
  // Per connection: its requests not yet answered, and the last one read (for the handler above).
  const connections = new WeakMap<Socket, { unanswered: number; last: IncomingMessage; refusal?: () => void }>();
  app.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    let connection = connections.get(socket);
    if (connection === undefined) connections.set(socket, connection = { unanswered: 0, last: request });
    connection.unanswered++;
    connection.last = request;
    // A response closes once written (Node writes pipelined answers in order) or when the
    // connection ends first.
    response.once('close', () => {
      if (--connection.unanswered === 0) connection.refusal?.();
    });
  });
  // A path no route has is counted too (with no model), when the server counts requests.
  const unrouted = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    const allowed = allowedMethods(app, path);
    if (counted) countUnrouted(counted, request, path, reply, allowed === null ? 'NOT_FOUND' : 'UNIMPLEMENTED');
    if (allowed === null) notFound(request, reply);
    else void reply.code(405).type('application/json').send(errorBody(methodNotAllowed(reply, request.method, path, allowed).message));
  };
  app.setNotFoundHandler(unrouted);
  let closing = false;
  const startClosing = () => {
    closing = true;
  };
  BEGIN_CLOSING.set(app, startClosing);
  app.addHook('preClose', (done) => {
    startClosing();
    done();
  });
  const maxConnections = options.maxConnections ?? 4096;
  if (maxConnections > 0) app.server.maxConnections = maxConnections;
  // CORS headers first, and preflights answered before any other hook (the token's: a browser's
  // preflight carries none).
  if (options.corsSupport) {
    // @fastify/cors answers a preflight in its hook, before the body limit and the token check:
    // Node then read and dropped whatever body came with it to keep the connection (helper-126:
    // 14.6 GiB in 6 s, no token). A preflight has no body; one that says it has closes the
    // connection after its answer.
    app.addHook('onRequest', async (request, reply) => {
      const { headers } = request.raw;
      if (request.raw.method === 'OPTIONS' && (headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0)) void reply.header('connection', 'close');
    });
    await app.register(fastifyCors, {
      origin: '*',
      methods: 'POST, GET',
      allowedHeaders: `Content-Type, Inference-Header-Content-Length${options.auth ? ', Authorization' : ''}`,
      exposedHeaders: 'Inference-Header-Content-Length',
      optionsSuccessStatus: 200,
    });
  }
  const { auth, ...serving } = options;
  // Here, not in the plugin: the token is checked for every path, unknown ones too.
  if (auth) app.addHook('onRequest', authHook(new BearerAuth(auth), 0, counted));
  // Node answers Expect: 100-continue itself, inviting the body before any check. Taken over: a
  // Content-Length past the limit gets no invitation (the body parser answers 413 from the header
  // alone, and the connection closes, in case the client sends the body anyway: RFC 9110
  // 10.1.1), and with tokens the invitation goes out once the token is accepted (authHook).
  app.server.on('checkContinue', (request, response) => {
    if (Number(request.headers['content-length']) > bodyLimit) {
      UNINVITED.add(request);
      response.shouldKeepAlive = false;
    } else if (!auth) {
      response.writeContinue();
    }
    app.server.emit('request', request, response);
  });
  // Answers sent while closing close their connection (Connection: close): a keep-alive client
  // would otherwise send its next request on it just as the server lets idle connections go,
  // and get nothing back.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // While closing, every request is a 503 in TensorFlow Serving's shape; a path no route has is
  // answered before its body is read (nothing outside the routes parses JSON). One hook for both.
  app.addHook('onRequest', async (request, reply) => {
    if (closing) {
      void reply.code(503).header('connection', 'close').type('application/json').send(errorBody('the server is shutting down; send the request to another replica, or again once it is back'));
      return reply;
    }
    if (!request.is404) return;
    unrouted(request, reply);
    return reply;
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    void reply.code(status).type('application/json').send(errorBody(status === 500 ? 'internal error (see the server log)' : error.message));
  });
  // The plugin's own options only (the HTTP server's were applied above).
  const plugin = { ...Object.fromEntries(Object.entries(serving).filter(([key]) => SERVING_KEYS.includes(key))), metrics: counted ?? false } as unknown as ServingOptions;
  await app.register(tfsliceServing, plugin);
  return app;
}
