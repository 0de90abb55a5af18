/**
 * The server's gRPC side (@grpc/grpc-js), beside REST over the same ModelManager:
 * TensorFlow Serving's PredictionService (Predict, Classify, Regress, GetModelMetadata) and ModelService
 * (GetModelStatus), KServe's GRPCInferenceService (the Open Inference Protocol), and gRPC's
 * standard health service. The messages are the .proto files in proto/ (tfslice's own, with
 * TensorFlow's, TensorFlow Serving's and KServe's packages, names and field numbers), read with
 * protobufjs; each method's bytes are decoded and encoded by protobufjs' reflection, except
 * TensorProto's numeric fields, read into typed arrays and written from them
 * (tensor-proto-wire.ts). Predict, ModelInfer, Classify, Regress and MultiInference messages of
 * offloadBytes or more are decoded, and their responses encoded, on the codec threads (codec.ts),
 * so the event loop serves on.
 *
 * Why no @grpc/proto-loader: it turns every message into plain objects (int64 as strings or
 * numbers, repeated floats as arrays), where tensors need typed arrays and exact 64-bit integers.
 */
import { X509Certificate } from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createSecureContext } from 'node:tls';

import * as grpc from '@grpc/grpc-js';

import { LazySignal, MAX_TIMER_MS, type RunSignal } from '../abort';
import { dtypeInfo } from '../dtypes';
import { InvalidArgumentError, invalidType, invalidValue, NotFoundError, TensorFlowError } from '../errors';
import type { ManagedModelConfig, ModelManager, ModelStatus } from '../manager';
import { withProtoFieldNames } from '../manager/tfs-config';
import { type Model, unknownInputError } from '../model';
import type { SignatureInfo, TensorSpec } from '../proto';
import { Tensor } from '../tensor';
import { type AuthOptions, BearerAuth } from './auth';
import { asBuffer, Codec, codecOptions, fromWire, lazySignal, taskFailure, tensorBytes } from './codec';
import { cutShort, partialInputsError, signatureLimits } from './limits';
import { modelLabel, type ServerMetrics, type ServingApi } from './metrics';
import { notReadyReason, statusVersions, useTimed, V2_EXTENSIONS, VERSION, withDeadline } from './server';
import { codeName, describeError, servingError, statusCode, statusLabel, versionErrorCode } from './status';
import {
  decodeMessage, examplesMessage, type ExamplesRun, inferFeeds, inferHead, type Int64, type Message, modelSpecOf, predictAliases, predictFeeds, PROTO_DIR as protoDir, protos, serializedExamples,
  tensorToProto, toNumber, versionOf,
} from './tensor-proto';
import { checkMethodName, multiInferenceApi, runExamplesSignature, servingSignature } from './tfs';
import { CHANNEL_ARGUMENT, channelValueProblem, checkServingOptions } from './options';
import { checkV2OutputNames, classificationUnsupported, firstRepeated, modelMetadata, outputBytes, sharedMemoryUnsupported, v2Datatype, v2Signature } from './v2';

/** Where the .proto files are (shipped with the package). */
export const PROTO_DIR: string = protoDir;

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * grpc-js (1.14.7, server-interceptors.js handleTimeoutHeader) reads a request's grpc-timeout
 * with `| 0`: a deadline past 2^31 - 1 ms (24.8 days; gRPC allows up to 99999999 hours) wraps
 * negative and the call fails at once with DEADLINE_EXCEEDED. A deadline that far away is none
 * here (a timer cannot hold it anyway), so such a header is dropped before grpc-js reads it;
 * every other header goes to grpc-js unchanged. Applied once, only when grpc-js has the method.
 */
function mendLongDeadlines(): void {
  let proto: { handleTimeoutHeader?: (header: unknown) => void; tfsliceMended?: boolean } | undefined;
  try {
    proto = (require('@grpc/grpc-js/build/src/server-interceptors') as { BaseServerInterceptingCall?: { prototype: typeof proto } }).BaseServerInterceptingCall?.prototype;
  } catch {
    return;
  }
  const original = proto?.handleTimeoutHeader;
  if (!proto || typeof original !== 'function' || proto.tfsliceMended) return;
  proto.tfsliceMended = true;
  proto.handleTimeoutHeader = function (this: unknown, header: unknown) {
    const match = /^(\d{1,8})\s*([HMSmun])$/.exec(String(header));
    if (match && Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]! > MAX_TIMER_MS) return;
    original.call(this, header);
  };
}

// Messages past 1 KiB are cut, as TensorFlow Serving cuts them.
const MAX_MESSAGE = 1024;

/**
 * An error as a gRPC status, and the code the REST API would give (status.ts), which the metrics
 * count under both APIs: tfslice's own (MODEL_CRASHED, ...) where the status says UNAVAILABLE.
 */
function grpcError(error: unknown): { status: Partial<grpc.StatusObject>; code: string } {
  let { code, message } = describeError(error);
  if (code === 'INTERNAL' && !(error instanceof TensorFlowError)) process.stderr.write(`tfslice serve: a gRPC call failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`;
  return { status: { code: statusCode(code), details: message }, code };
}

/**
 * The output names a call asks for, in one pass as TensorFlow Serving's predict_util.cc checks
 * output_filter: each must be the signature's, then not asked for before, so the set holds at
 * most the signature's outputs however long the list. INVALID_ARGUMENT with `unknown(name)` or
 * `twice(name)`.
 */
function checkOutputNames(names: readonly string[], info: Pick<SignatureInfo, 'outputs'>, unknown: (name: string) => string, twice: (name: string) => string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (!Object.hasOwn(info.outputs, name)) throw new InvalidArgumentError(unknown(name));
    if (seen.has(name)) throw new InvalidArgumentError(twice(name));
    seen.add(name);
  }
}

/** Marks a request whose bytes did not decode; its value says why. */
const UNREADABLE = Symbol('unreadable request');

/** Why a request's bytes did not decode, or undefined when they did. */
const unreadableOf = (request: Message): string | undefined => (request as { [UNREADABLE]?: string })[UNREADABLE];
/** The errors of requests whose bytes did not decode (on a codec thread): not in TensorFlow Serving's series. */
const UNREADABLE_ERRORS = new WeakSet<object>();

/** The PredictionService methods whose input is a list of tf.Examples. */
const EXAMPLES_METHODS = ['Classify', 'Regress', 'MultiInference'] as const;
type ExamplesMethod = typeof EXAMPLES_METHODS[number];

const examplesTypes = new Map<ExamplesMethod, { request: string; response: string }>();

/** A PredictionService method's request and response message types, as proto/ declares them. */
function messageTypes(method: ExamplesMethod): { request: string; response: string } {
  let types = examplesTypes.get(method);
  if (types === undefined) {
    const m = protos().lookupService('tensorflow.serving.PredictionService').methods[method]!;
    types = { request: m.resolvedRequestType!.fullName, response: m.resolvedResponseType!.fullName };
    examplesTypes.set(method, types);
  }
  return types;
}

/** Marks a request left undecoded, for a codec thread to decode: its value is the bytes. */
const DEFERRED = Symbol('deferred request');

/** A deferred request's bytes, or undefined for a decoded one. */
const deferredOf = (request: Message): Buffer | undefined => (request as { [DEFERRED]?: Buffer })[DEFERRED];

/** Marks a response already encoded (on a codec thread): its value is the bytes. */
const ENCODED = Symbol('encoded response');

/**
 * A grpc-js service definition from a service of proto/: each method's bytes through protobufjs,
 * except requests `defer(method, bytes)` leaves undecoded ({ [DEFERRED]: bytes }) and responses
 * already encoded ({ [ENCODED]: bytes }).
 */
function definition(service: string, defer: (method: string, bytes: Buffer) => boolean = () => false): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of protos().lookupService(service).methodsArray) {
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    def[method.name] = {
      path: `/${service}/${method.name}`,
      requestStream: false,
      responseStream: method.responseStream === true,
      requestSerialize: (m: object) => asBuffer(request.encode(m).finish()),
      // Bytes that are not the message: answered INVALID_ARGUMENT by unary() (grpc-js itself
      // would answer INTERNAL, which says the server failed).
      requestDeserialize: (bytes: Buffer) => {
        if (defer(method.name, bytes)) return { [DEFERRED]: bytes };
        const decoded = decodeMessage(request, bytes);
        return 'message' in decoded ? decoded.message : { [UNREADABLE]: decoded.unreadable };
      },
      responseSerialize: (m: object) => (m as { [ENCODED]?: Buffer })[ENCODED] ?? asBuffer(response.encode(m).finish()),
      responseDeserialize: (bytes: Buffer) => response.decode(bytes),
      originalName: method.name,
    } as grpc.MethodDefinition<object, object>;
  }
  return def as grpc.ServiceDefinition;
}

// ---------------------------------------------------------------------------
// The services
// ---------------------------------------------------------------------------

/** Options of createGrpcServer(). */
export interface GrpcServingOptions {
  /** The models served: a ModelManager you start and stop (when REST is served too, the same one as createServer()'s). */
  manager: ModelManager;
  /** Outputs as tensor_content (raw bytes) instead of the typed fields (TensorFlow Serving's --enable_serialization_as_tensor_content). Default false. */
  tensorContent?: boolean | undefined;
  /** Longest a request may take in its model, in ms, when the client set no deadline (0: none). Default 30000. */
  timeoutMs?: number | undefined;
  /** While this returns true the server reports not ready (health NOT_SERVING, ServerReady false). */
  draining?: (() => boolean) | undefined;
  /** As ServingOptions.strictReadiness, for ServerReady and the health service. Default true. */
  strictReadiness?: boolean | undefined;
  /** Where calls are counted (api grpc_predict, grpc_v2_infer, ...): the REST server's, to serve both at /metrics. Default none. */
  metrics?: ServerMetrics | undefined;
  /**
   * What a model new to the manager gets from HandleReloadConfigRequest beyond TensorFlow
   * Serving's fields (tfslice serve: --enable_batching's batching). Default none.
   */
  modelDefaults?: Omit<ManagedModelConfig, 'name' | 'basePath'> | undefined;
  /**
   * Bearer tokens every call must carry in its `authorization` metadata ("Bearer <token>"), else
   * UNAUTHENTICATED; health calls (grpc.health.v1 Check, KServe ServerLive/ServerReady) stay open
   * unless auth.openHealth is false. Default: no authentication.
   */
  auth?: AuthOptions | undefined;
  /** Largest request message, in bytes (RESOURCE_EXHAUSTED beyond). Default 2^31 - 1 (2 GiB). */
  maxMessageBytes?: number | undefined;
  /**
   * Predict and ModelInfer messages of at least this many bytes are decoded, and responses whose
   * tensors hold at least this many bytes encoded, on worker threads, as the REST server's
   * offloadBytes (at most 8 per thread at once, beyond UNAVAILABLE; a cancelled call's task is
   * dropped). Infinity: always on the event loop. Default 262144 (256 KiB).
   */
  offloadBytes?: number | undefined;
  /** The most worker threads for that. Default: the cores but one, from 1 to 4. */
  codecThreads?: number | undefined;
  /**
   * grpc-js server options (TensorFlow Serving's --grpc_channel_arguments), over tfslice's own
   * (`grpc.max_receive_message_length` here wins over maxMessageBytes), for instance
   * `{ 'grpc.max_connection_age_ms': 60000, 'grpc.keepalive_time_ms': 10000 }`. Keys are gRPC's
   * channel argument names; values 32-bit integers, or strings for gRPC's string arguments
   * (grpc.primary_user_agent, ...). grpc-js ignores keys it does not know.
   * Default none, beyond tfslice's `grpc.max_concurrent_streams` of 100 (streams one connection
   * may have open at once; grpc-js sets no limit).
   */
  channelOptions?: Record<string, number | string> | undefined;
  /** TensorFlow Serving's --enable_signature_method_name_check, as the REST server's signatureMethodNameCheck (Predict, Classify, Regress, MultiInference). Default false. */
  signatureMethodNameCheck?: boolean | undefined;
  /**
   * Longest a client may take to send a call's request message once its metadata arrived, in ms
   * (DEADLINE_EXCEEDED beyond, and what it sent is let go), as the REST server's
   * requestTimeoutMs; a client's own deadline, when shorter, ends the call first. 0: no limit
   * (grpc-js holds a message sent in part for as long as its connection is open). Default 60000.
   */
  readTimeoutMs?: number | undefined;
  /**
   * Connections open at once on the port bindGrpc() opens; more are closed as they come, as the
   * REST server's maxConnections. 0: no limit. Default 4096.
   */
  maxConnections?: number | undefined;
  /**
   * Longest a new connection on that port may take to set up, in ms: one whose client has not
   * sent its HTTP/2 preface and SETTINGS (after TLS) within it is closed, as gRPC core's server
   * handshake timeout (120 s there) and the REST server's headersTimeoutMs. 0: no limit. Default
   * 10000.
   */
  handshakeTimeoutMs?: number | undefined;
  /**
   * Called once a ModelService/HandleReloadConfigRequest has been applied or refused: the models
   * served before and after it (names), the error it was answered with and that answer's status
   * code name (null, null when it succeeded; a refused one changes nothing, one whose new models
   * failed to load keeps the rest of the change). tfslice serve logs it. What the listener
   * throws, or the promise it returns rejects with, is dropped: the client's answer is the reload's.
   */
  onReload?: ((event: { before: readonly string[]; after: readonly string[]; error: Error | null; code: string | null }) => void | Promise<void>) | undefined;
}

/**
 * A unary call, with what it did (for the metrics), and its end (the client cancelled it, or its
 * deadline passed) as an AbortSignal for codec tasks (made when first asked for) and as a
 * RunSignal for its runs.
 */
type Call = grpc.ServerUnaryCall<Message, Message> & { outcome: Outcome; signal: () => AbortSignal; gone: RunSignal };

/** What one call did, for the metrics. */
interface Outcome {
  model: string;
  version: number | null;
  runSeconds: number | null;
  /** What is left of the client's deadline (else the server's limit) for TensorFlow's run timeout, ms; 0: none. */
  runTimeoutMs: number;
}

const VERSION_STATES: Record<string, number> = { START: 10, LOADING: 20, AVAILABLE: 30, UNLOADING: 40, END: 50 };

function tensorInfo(spec: TensorSpec): Message {
  const shape = spec.shape === null ? { unknown_rank: true } : { dim: spec.shape.map((size) => ({ size })) };
  const common = { dtype: dtypeInfo(spec.dtype)?.tf ?? 0, tensor_shape: shape };
  // A ragged or sparse tensor has no name: its encoding says what it is made of, as in the
  // SavedModel's SignatureDef (and the REST metadata).
  if (!spec.composite) return { name: spec.name, ...common };
  const parts = spec.composite.components;
  if (spec.composite.kind === 'sparse') {
    return { coo_sparse: { values_tensor_name: parts.values!.name, indices_tensor_name: parts.indices!.name, dense_shape_tensor_name: parts.dense_shape!.name }, ...common };
  }
  return { composite_tensor: { components: Object.values(parts).map(tensorInfo) }, ...common };
}

/**
 * A grpc-js Server with tfslice's services over `options.manager`, not yet bound. Messages may
 * be up to 2 GiB each way (grpc-js takes 4 MiB by default).
 */
export function createGrpcServer(options: GrpcServingOptions): grpc.Server {
  checkServingOptions('createGrpcServer', options, ['manager', 'tensorContent', 'timeoutMs', 'draining', 'strictReadiness', 'metrics', 'modelDefaults', 'auth', 'maxMessageBytes', 'offloadBytes', 'codecThreads', 'channelOptions', 'signatureMethodNameCheck', 'readTimeoutMs', 'maxConnections', 'handshakeTimeoutMs', 'onReload']);
  const methodNameCheck = options.signatureMethodNameCheck ?? false;
  const channelOptions = checkChannelOptions(options.channelOptions);
  mendLongDeadlines();
  const { manager } = options;
  const content = options.tensorContent ?? false;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const draining = options.draining ?? (() => false);
  const metrics = options.metrics ?? null;
  const auth = options.auth ? new BearerAuth(options.auth) : null;
  // The token is checked on the call's metadata, before its message is read: a client without
  // one cannot make the server take a 2 GiB message.
  const interceptors: grpc.ServerInterceptor[] = [];
  // (Past what a timer holds, 24.8 days, a limit is none.)
  const readTimeoutMs = options.readTimeoutMs ?? 60_000;
  const readLimit = readTimeoutMs > 0 && readTimeoutMs <= MAX_TIMER_MS ? readTimeoutMs : 0;
  if (readLimit > 0 || metrics) interceptors.push(callGuard(readLimit, metrics));
  if (auth) {
    interceptors.push((method, call) => new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, forward) => {
          const values = metadata.get('authorization');
          const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
          if ((auth.openHealth && HEALTH_METHODS.has(method.path)) || auth.accepts(header)) {
            forward(metadata);
            return;
          }
          countedElsewhere(metadata);
          if (metrics) countWithoutModel(metrics, method.path, 'UNAUTHENTICATED');
          call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'Unauthenticated: send the metadata authorization: Bearer <token> with a token of --auth_token_file' });
        },
      }),
    }));
  }
  const maxMessage = options.maxMessageBytes ?? 2 ** 31 - 1;
  const { offloadBytes, threads } = codecOptions(options);
  // Channelz (grpc-js's per-call and per-session tracing, read through its admin service) is
  // off: tfslice does not serve that service, and it costs every call.
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessage,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.enable_channelz': 0,
    // Streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS; clients queue
    // calls past it). grpc-js sets none, and each open stream holds about 4.6 KB of the heap
    // until its message or the read timeout comes (helper-131: 200 000 HEADERS frames, 4 MB on
    // the wire, took the server from 0.8 to 1.7 GiB in 7 s). 100 is the least RFC 9113 asks a
    // peer to allow; channelOptions (--grpc_channel_arguments) may set another.
    'grpc.max_concurrent_streams': DEFAULT_MAX_CONCURRENT_STREAMS,
    ...channelOptions,
    interceptors,
  });

  // Runs `work` on a version within the client's deadline (else the server's limit).
  const withModel = async <T>(call: Call, t: { name: string; version?: number; label?: string }, work: (model: Model, version: number) => Promise<T>): Promise<T> => {
    const outcome = call.outcome;
    outcome.model = modelLabel(manager, t.name);
    // The client's deadline, else the server's limit: the wait, and TensorFlow's run timeout.
    const deadline = call.getDeadline();
    const until = deadline instanceof Date ? deadline.getTime() : Number(deadline);
    const limit = { until, ms: Number.isFinite(until) ? until - Date.now() : timeoutMs };
    outcome.runTimeoutMs = limit.ms > MAX_TIMER_MS ? 0 : limit.ms > 0 ? Math.ceil(limit.ms) : Number.isFinite(until) ? 1 : 0;
    const run = useTimed(manager, t, outcome, work, outcome.runTimeoutMs, call.gone);
    // setTimeout takes at most 2^31 - 1 ms (about 24.8 days); a deadline past that is none here.
    if ((!Number.isFinite(limit.until) && timeoutMs <= 0) || limit.ms > MAX_TIMER_MS) return run;
    const ms = Math.max(0, limit.ms);
    return withDeadline(run, ms, () => `Deadline Exceeded: model '${t.name}' did not answer within ${Math.round(ms)} ms`);
  };

  // Aborted when the client cancels the call (or its deadline passes): a codec task for it is
  // dropped. Made when the call first hands a codec thread work (small calls never need one).
  const cancelled = (call: grpc.ServerUnaryCall<Message, Message>): (() => AbortSignal) => lazySignal(() => call.cancelled, (abort) => call.once('cancelled', abort));

  const unary = (api: ServingApi, work: (call: Call) => Promise<Message>): grpc.handleUnaryCall<Message, Message> => (call, callback) => {
    countedElsewhere(call.metadata); // (below, however it ends)
    const started = performance.now();
    const outcome: Outcome = { model: '', version: null, runSeconds: null, runTimeoutMs: 0 };
    // How the call ended for its client if it ended before its answer: it cancelled it, or its deadline passed.
    let ended: 'CANCELLED' | 'DEADLINE_EXCEEDED' | undefined;
    call.once('cancelled', () => { ended = deadlinePassed(call, DEADLINE_SLACK_MS) ? 'DEADLINE_EXCEEDED' : 'CANCELLED'; });
    const count = (code: string, tfServing = true) => {
      if (!metrics) return;
      const { model, version, runSeconds } = outcome;
      // Counted as the client saw the call end.
      metrics.answered(api, model, version, ended ?? code, (performance.now() - started) / 1000, runSeconds, tfServing);
    };
    const unreadable = unreadableOf(call.request);
    if (unreadable !== undefined) {
      // Not in TensorFlow Serving's series: its gRPC server refuses a message that does not
      // parse before PredictionServiceImpl, which counts, is called (helper-124).
      count('INVALID_ARGUMENT', false);
      callback({ code: grpc.status.INVALID_ARGUMENT, details: unreadable });
      return;
    }
    Promise.resolve().then(() => work(Object.assign(call, { outcome, signal: cancelled(call), gone: new CallEnded(call) }))).then((response) => {
      count('OK');
      callback(null, response);
    }, (error: unknown) => {
      const { status, code } = grpcError(servingError(api, error));
      count(code, !UNREADABLE_ERRORS.has(error as object));
      callback(status);
    });
  };
  // A message that a codec thread found unreadable (a big one) fails as one read here does.
  const unreadableError = (why: string): InvalidArgumentError => {
    const error = new InvalidArgumentError(why);
    UNREADABLE_ERRORS.add(error);
    return error;
  };

  const serving = protos().lookupType('tensorflow.serving.SignatureDefMap');
  // One classify or regress signature run on serialized examples (a string tensor, one
  // tf.Example each): its model_spec and outputs.
  const runExamples = async (call: Call, model: Model, version: number, name: string, signature: string, api: 'classify' | 'regress', examples: Tensor): Promise<ExamplesRun> => {
    const outputs = await runExamplesSignature(model, signature, api, examples, methodNameCheck, { runTimeoutMs: call.outcome.runTimeoutMs, signal: call.gone });
    return { api, modelSpec: { name, version: { value: version }, signature_name: signature }, outputs, count: examples.size };
  };

  // The response of Classify, Regress (one run) or MultiInference (`multi`: each run a result):
  // built and encoded on a codec thread when the request was big enough to be read there (a
  // result per example: 200 000 of them held the event loop for ~250 ms).
  const examplesResponse = async (call: Call, method: ExamplesMethod, runs: ExamplesRun[]): Promise<Message> => {
    if (deferredOf(call.request) !== undefined) {
      return { [ENCODED]: await codec.grpcExamplesResponse(messageTypes(method).response, runs, method === 'MultiInference', call.signal()) };
    }
    return examplesMessage(runs, method === 'MultiInference');
  };

  const examplesCall = async (call: Call, api: 'classify' | 'regress'): Promise<Message> => {
    const method = api === 'classify' ? 'Classify' : 'Regress';
    const read = await readExamples(call, method);
    const t = modelSpecOf(read.request);
    const examples = read.examples();
    return withModel(call, t, async (model, version) =>
      examplesResponse(call, method, [await runExamples(call, model, version, t.name, t.signature || 'serving_default', api, examples)]));
  };

  // MultiInference (TensorFlow Serving's): several classify and regress signatures of one model
  // version on the same examples. TensorFlow Serving runs them in one Session::Run; here each
  // signature is a run of its own, one after the other, on the version the first task picked.
  const multiInference = async (call: Call): Promise<Message> => {
    const read = await readExamples(call, 'MultiInference');
    const tasks = (read.request.tasks as Message[] | undefined) ?? [];
    if (tasks.length === 0) throw new InvalidArgumentError('Tasks field is empty.');
    const specs = tasks.map((task, i) => {
      // TensorFlow Serving's checks and words (multi_inference.cc).
      const named = (task.model_spec as Message | undefined)?.name;
      if (typeof named !== 'string' || named === '') throw new InvalidArgumentError('Found ModelSpec with an empty model name.');
      const spec = modelSpecOf(task);
      const method = task.method_name as string | undefined ?? '';
      return { ...spec, api: multiInferenceApi(method, i), signature: spec.signature || 'serving_default' };
    });
    const first = specs[0]!;
    // (A set: tens of thousands of tasks, each looked for among the others, held the event loop for seconds.)
    const signatures = new Set<string>();
    for (const [i, spec] of specs.entries()) {
      if (spec.name !== first.name) throw new InvalidArgumentError('All ModelSpecs in a MultiInferenceRequest must access the same model name.');
      if (spec.version !== first.version || spec.label !== first.label) throw new InvalidArgumentError(`All ModelSpecs in a MultiInferenceRequest must ask for the same version or version_label (tasks[${i}] does not)`);
      if (signatures.has(spec.signature)) throw new InvalidArgumentError(`Duplicate evaluation of signature: ${spec.signature}`);
      signatures.add(spec.signature);
    }
    const examples = read.examples();
    return withModel(call, first, async (model, version) => {
      for (const spec of specs) {
        if (!Object.hasOwn(model.signatures, spec.signature)) {
          throw new InvalidArgumentError(`Requested signature not found in model graph: ${spec.signature} (it has ${Object.keys(model.signatures).sort().join(', ')})`);
        }
      }
      const runs: ExamplesRun[] = [];
      for (const spec of specs) runs.push(await runExamples(call, model, version, first.name, spec.signature, spec.api, examples));
      return examplesResponse(call, 'MultiInference', runs);
    });
  };

  // Predict and ModelInfer messages of offloadBytes or more are decoded, and their responses
  // encoded, on the codec threads (codec.ts): an 8 MiB Predict in float_val held the event loop
  // ~350 ms before TensorProto's fields were read into typed arrays, and big messages still cost
  // milliseconds per MiB here (varints, string_val lists, and the encoding of big responses).
  // So are Classify, Regress and MultiInference messages (their tf.Examples decoded and
  // serialized again, a result built per example): 200 000 examples (3.8 MB) held it 250-420 ms,
  // now 17-29 ms.
  const codec = new Codec(offloadBytes, threads);
  codecs.set(server, codec);
  connectionLimits.set(server, { maxConnections: options.maxConnections ?? CONNECTION_LIMITS.maxConnections, handshakeTimeoutMs: options.handshakeTimeoutMs ?? CONNECTION_LIMITS.handshakeTimeoutMs });
  const defer = (method: string, bytes: Buffer) => (method === 'Predict' || method === 'ModelInfer' || (EXAMPLES_METHODS as readonly string[]).includes(method)) && codec.wants(bytes.byteLength);

  // A Predict request's parts; each throws, when asked for, what reading it threw.
  const readPredict = async (request: Message, signal: () => AbortSignal) => {
    const bytes = deferredOf(request);
    if (bytes === undefined) {
      const aliases = predictAliases(request);
      const filter = (request.output_filter as string[] | undefined) ?? [];
      return { spec: () => modelSpecOf(request), filter, filterCount: filter.length, aliases, inputCount: aliases.length, feeds: () => predictFeeds(request) };
    }
    const read = await codec.grpcPredict(bytes, signatureLimits(manager), signal());
    if (read.unreadable !== undefined) throw unreadableError(read.unreadable);
    return {
      spec: () => { if (read.specError) throw taskFailure(read.specError); return read.spec!; },
      filter: read.filter,
      filterCount: read.filterCount,
      aliases: read.aliases,
      inputCount: read.inputCount,
      feeds: () => { if (read.feedsError) throw taskFailure(read.feedsError); return fromWire(read.feeds!); },
    };
  };

  // A ModelInfer request's fields and feeds, as readPredict.
  const readInfer = async (request: Message, signal: () => AbortSignal) => {
    const bytes = deferredOf(request);
    if (bytes === undefined) {
      const limits = signatureLimits(manager);
      return { head: inferHead(request, limits.outputs), feeds: () => inferFeeds(request, true, limits.inputs) };
    }
    const read = await codec.grpcInfer(bytes, signatureLimits(manager), signal());
    if (read.unreadable !== undefined) throw unreadableError(read.unreadable);
    return { head: read.head!, feeds: () => { if (read.feedsError) throw taskFailure(read.feedsError); return fromWire(read.feeds!); } };
  };

  // A Classify, Regress or MultiInference request: the message but for its input (decoded here
  // when a codec thread read it), and the input's tf.Examples serialized again, as one string
  // tensor; examples() throws, when asked for, what reading them threw (after the model_spec's
  // errors, as when the whole message is read here).
  const readExamples = async (call: Call, method: ExamplesMethod): Promise<{ request: Message; examples: () => Tensor }> => {
    const bytes = deferredOf(call.request);
    if (bytes === undefined) return { request: call.request, examples: () => new Tensor('string', serializedExamples(call.request.input as Message | undefined, method)) };
    const type = messageTypes(method).request;
    const read = await codec.grpcExamples(bytes, type, method, call.signal());
    if (read.unreadable !== undefined) throw unreadableError(read.unreadable);
    const head = decodeMessage(protos().lookupType(type), read.head!);
    if (!('message' in head)) throw new Error(`codec worker: the ${method} request without its input did not decode: ${head.unreadable}`);
    return { request: head.message, examples: () => { if (read.examplesError) throw taskFailure(read.examplesError); return fromWire(read.examples!).inputs!; } };
  };

  server.addService(definition('tensorflow.serving.PredictionService', defer), {
    Predict: unary('grpc_predict', async (call) => {
      const signal = call.signal;
      const read = await readPredict(call.request, signal);
      const t = read.spec();
      return withModel(call, t, async (model, version) => {
        const signature = t.signature || model.defaultSignature || 'serving_default';
        const info = servingSignature(model, signature, 'grpc predict');
        if (methodNameCheck) checkMethodName(info, 'predict');
        // run() refuses an alias the signature lacks; here before the tensors are made.
        const unknown = read.aliases.find((key) => !Object.hasOwn(info.inputs, key));
        if (unknown !== undefined) throw unknownInputError(signature, unknown, Object.keys(info.inputs));
        if (read.aliases.length < read.inputCount) throw cutShort(read.inputCount, 'inputs');
        const feeds = read.feeds();
        const filter = read.filter;
        checkOutputNames(filter, info,
          (key) => `output tensor alias not found in signature: ${key} Outputs expected to be in the set {${Object.keys(info.outputs).sort().join(',')}}.`,
          (key) => `duplicate output tensor alias: ${key}`);
        if (filter.length < read.filterCount) throw cutShort(read.filterCount, 'outputs');
        const outputs = await model.run(feeds, { signature, outputs: filter.length > 0 ? filter : undefined, checkShapes: false, runTimeoutMs: call.outcome.runTimeoutMs, signal: call.gone });
        const modelSpec = { name: t.name, version: { value: version }, signature_name: signature };
        if (codec.wants(tensorBytes(Object.values(outputs)))) return { [ENCODED]: await codec.grpcPredictResponse(modelSpec, outputs, content, signal()) };
        const out: Record<string, Message> = {};
        for (const [key, tensor] of Object.entries(outputs)) out[key] = tensorToProto(tensor, content);
        return { model_spec: modelSpec, outputs: out };
      });
    }),
    GetModelMetadata: unary('grpc_metadata', async (call) => {
      const request = call.request;
      const t = modelSpecOf(request);
      const fields = (request.metadata_field as string[] | undefined) ?? [];
      // TensorFlow Serving's checks and words (get_model_metadata_impl.cc), with the fix.
      if (fields.length === 0) throw new InvalidArgumentError('GetModelMetadataRequest must specify at least one metadata_field; ask for metadata_field: "signature_def"');
      const unsupported = fields.find((field) => field !== 'signature_def');
      if (unsupported !== undefined) throw new InvalidArgumentError(`Metadata field ${unsupported} is not supported; ask for metadata_field: "signature_def"`);
      return withModel(call, t, async (model, version) => {
        const defs: Record<string, Message> = {};
        for (const [key, sig] of Object.entries(model.signatures)) {
          defs[key] = {
            inputs: Object.fromEntries(Object.entries(sig.inputs).map(([k, s]) => [k, tensorInfo(s)])),
            outputs: Object.fromEntries(Object.entries(sig.outputs).map(([k, s]) => [k, tensorInfo(s)])),
            method_name: sig.methodName,
          };
        }
        const value = serving.encode({ signature_def: defs }).finish();
        return {
          model_spec: { name: t.name, version: { value: version }, signature_name: '' },
          metadata: { signature_def: { type_url: 'type.googleapis.com/tensorflow.serving.SignatureDefMap', value } },
        };
      });
    }),
    MultiInference: unary('grpc_multi_inference', multiInference),
    Classify: unary('grpc_classify', async (call) => examplesCall(call, 'classify')),
    Regress: unary('grpc_regress', async (call) => examplesCall(call, 'regress')),
  });

  // ModelService/HandleReloadConfigRequest's work: the new model list applied through the manager.
  const reload = async (request: Message): Promise<Message> => {
    const config = (request.config as Message | undefined)?.model_config_list as Message | undefined;
    // TensorFlow Serving's words (server_core.cc's ReloadConfig): only a ModelConfigList may follow one.
    if (!config) throw new TensorFlowError('FAILED_PRECONDITION', 'Cannot transition to requested config. It is only legal to transition from one ModelConfigList to another. (ReloadConfigRequest needs config.model_config_list; custom_model_config is not served)');
    const models = ((config.config as Message[] | undefined) ?? []).map((c, i) => reloadedModel(manager, c, i, options.modelDefaults ?? {}));
    const added = new Set(models.map((m) => m.name).filter((name) => !manager.has(name)));
    let status: ModelStatus[];
    try {
      status = await manager.reconfigure(models);
    } catch (error) {
      // The ModelManager names its own fields; the request has ModelServerConfig's.
      if (error instanceof TypeError || error instanceof RangeError) error.message = withProtoFieldNames(error.message, 'config.model_config_list.config');
      throw error;
    }
    const failed = notAvailable(status.filter((m) => added.has(m.name)));
    if (failed !== null) throw new TensorFlowError('UNKNOWN', failed);
    return { status: { error_code: 0, error_message: '' } };
  };

  server.addService(definition('tensorflow.serving.ModelService'), {
    HandleReloadConfigRequest: unary('grpc_reload', async (call) => {
      const before = manager.status().map((m) => m.name);
      let answer: Error | null = null;
      try {
        return await reload(call.request);
      } catch (error) {
        answer = error as Error;
        throw error;
      } finally {
        // onReload hears of every reload, applied or refused; its own failure is not the client's answer.
        try {
          const code = answer === null ? null : statusLabel(describeError(answer).code);
          const returned: unknown = options.onReload?.({ before, after: manager.status().map((m) => m.name), error: answer, code });
          if (returned instanceof Promise) returned.catch(() => undefined);
        } catch {
          // dropped
        }
      }
    }),
    GetModelStatus: unary('grpc_status', async (call) => {
      const t = modelSpecOf(call.request);
      call.outcome.model = modelLabel(manager, t.name);
      const versions = statusVersions(manager, t);
      return {
        model_version_status: [...versions].sort((a, b) => b.version - a.version).map((v) => ({
          version: v.version,
          state: VERSION_STATES[v.state] ?? 0,
          status: { error_code: v.error ? statusCode(versionErrorCode(v.error.code)) : 0, error_message: v.error?.message ?? '' },
        })),
      };
    }),
  });

  const strictReadiness = options.strictReadiness ?? true;
  const ready = () => notReadyReason(manager, draining, strictReadiness) === null;

  server.addService(definition('inference.GRPCInferenceService', defer), {
    ServerLive: unary('grpc_v2_ready', async () => ({ live: true })),
    ServerReady: unary('grpc_v2_ready', async () => ({ ready: ready() })),
    ModelReady: unary('grpc_v2_ready', async (call) => {
      const { name, version } = call.request as { name?: string; version?: string };
      if (!name) throw new InvalidArgumentError('ModelReady needs the model name');
      const wanted = versionOf(version, 'version');
      call.outcome.model = modelLabel(manager, name);
      const status = manager.status(name);
      return { ready: !draining() && status.versions.some((v) => v.state === 'AVAILABLE' && (wanted === undefined || v.version === wanted)) };
    }),
    ServerMetadata: unary('grpc_v2_metadata', async () => ({ name: 'tfslice', version: VERSION, extensions: V2_EXTENSIONS })),
    ModelMetadata: unary('grpc_v2_metadata', async (call) => {
      const { name, version } = call.request as { name?: string; version?: string };
      if (!name) throw new InvalidArgumentError('ModelMetadata needs the model name');
      return withModel(call, { name, version: versionOf(version, 'version') }, async (model) => modelMetadata(manager, name, model));
    }),
    ModelInfer: unary('grpc_v2_infer', async (call) => {
      const signal = call.signal;
      const read = await readInfer(call.request, signal);
      const { head } = read;
      const name = head.name as string;
      if (!name) throw new InvalidArgumentError('ModelInfer needs model_name');
      call.outcome.model = modelLabel(manager, name);
      const version = versionOf(head.version, 'model_version');
      const feeds = read.feeds();
      const wanted = head.wanted;
      if (head.classified !== undefined) throw classificationUnsupported(head.classified);
      if (head.sharedMemory !== undefined) throw sharedMemoryUnsupported('output', head.sharedMemory);
      // (REST refuses a signature_name that is not a string too.)
      if (head.signature === null) throw new InvalidArgumentError('parameters.signature_name must be a string (string_param)');
      return withModel(call, { name, version }, async (model, served) => {
        const signature = v2Signature(name, model, head.signature || undefined);
        const info = servingSignature(model, signature);
        const partial = partialInputsError(head.inputCount, Object.keys(feeds), signature, info);
        if (partial) throw partial;
        const twice = firstRepeated(wanted);
        if (twice !== undefined) throw new InvalidArgumentError(`output '${twice}' is asked for twice`);
        // The names metadata lists (a ragged or sparse output's components too); the whole
        // signature runs, as over REST.
        checkV2OutputNames(info.outputs, wanted);
        if (wanted.length < head.wantedCount) throw cutShort(head.wantedCount, 'outputs');
        const outputs = await model.run(feeds, { signature, checkShapes: false, runTimeoutMs: call.outcome.runTimeoutMs, signal: call.gone });
        const names = wanted.length > 0 ? wanted : Object.keys(outputs).sort();
        const tensors: Message[] = [];
        for (const key of names) {
          const tensor = outputs[key]!;
          const datatype = v2Datatype(tensor.dtype);
          if (!datatype) throw new TensorFlowError('UNIMPLEMENTED', `output '${key}' has dtype ${tensor.dtype}, which the v2 protocol has no datatype for`);
          tensors.push({ name: key, datatype, shape: tensor.shape });
        }
        const message = { model_name: name, model_version: String(served), id: head.id ?? '', outputs: tensors };
        if (codec.wants(tensorBytes(names.map((key) => outputs[key]!)))) return { [ENCODED]: await codec.grpcInferResponse(message, outputs, names, signal()) };
        return { ...message, raw_output_contents: names.map((key) => outputBytes(outputs[key]!)) };
      });
    }),
  });

  // Watch (gRPC's health protocol): the status now, then each change (looked at on every version
  // state change and every WATCH_POLL_MS); an unknown service is SERVICE_UNKNOWN, not an error.
  // When the server drains the stream says NOT_SERVING and ends, so no watcher holds up shutdown.
  // One 'state' listener for every watch (probes may hold hundreds of streams open).
  const watchers = new Set<() => void>();
  const lookAll = () => { for (const look of watchers) look(); };
  const watch = (call: grpc.ServerWritableStream<Message, Message>): void => {
    countedElsewhere(call.metadata);
    const unreadable = unreadableOf(call.request);
    if (unreadable !== undefined) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: unreadable });
      return;
    }
    metrics?.requests.inc({ model: '', version: '', api: 'grpc_health', status: 'OK' });
    const service = (call.request.service as string | undefined) ?? '';
    let last = -1;
    const look = () => {
      const status = service !== '' && !HEALTH_SERVICES.includes(service) ? 3 : ready() ? 1 : 2;
      if (status !== last) {
        last = status;
        call.write({ status });
      }
      if (draining()) {
        stop();
        call.end();
      }
    };
    const timer = setInterval(look, WATCH_POLL_MS);
    const stop = () => {
      clearInterval(timer);
      watchers.delete(look);
      if (watchers.size === 0) manager.off('state', lookAll);
    };
    if (watchers.size === 0) manager.on('state', lookAll);
    watchers.add(look);
    call.on('cancelled', stop);
    call.on('error', stop);
    look();
  };

  server.addService(definition('grpc.health.v1.Health'), {
    Check: unary('grpc_health', async (call) => {
      const service = (call.request.service as string | undefined) ?? '';
      if (service !== '' && !HEALTH_SERVICES.includes(service)) throw new NotFoundError(`unknown service ${JSON.stringify(service)}; this server has ${HEALTH_SERVICES.join(', ')}`);
      return { status: ready() ? 1 : 2 };
    }),
    Watch: watch,
  });
  return server;
}

/**
 * A call's end as its runs' RunSignal: aborted once the client cancelled it or its deadline
 * passed (it listens to the call only when a run waits).
 */
class CallEnded extends LazySignal {
  constructor(private readonly call: grpc.ServerUnaryCall<Message, Message>) {
    super();
  }

  get aborted(): boolean {
    return this.call.cancelled;
  }

  protected watch(fire: () => void): void {
    this.call.once('cancelled', fire);
  }
}

/**
 * How close to its deadline a cancelled call counts as ended by it, ms: a grpc-js client resets
 * the stream at its own deadline, which the server, having read the call's headers later, sees
 * before its own (by as much as the event loop lags: 19 of 60 calls behind a long run, 200 ms
 * deadlines, were counted CANCELLED while their clients saw DEADLINE_EXCEEDED).
 */
const DEADLINE_SLACK_MS = 100;

/** Whether a call's deadline (the client's grpc-timeout) has passed, or is less than `slackMs` away. */
function deadlinePassed(call: { getDeadline(): grpc.Deadline }, slackMs = 0): boolean {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && at <= Date.now() + slackMs;
}

/** The calls a probe makes: open without a token unless auth.openHealth is false. */
const HEALTH_METHODS: ReadonlySet<string> = new Set([
  '/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch', '/inference.GRPCInferenceService/ServerLive', '/inference.GRPCInferenceService/ServerReady',
]);

/** How a method's calls are counted at /metrics (the `api` label). */
const METHOD_API: Readonly<Record<string, ServingApi>> = {
  Predict: 'grpc_predict', Classify: 'grpc_classify', Regress: 'grpc_regress', MultiInference: 'grpc_multi_inference',
  GetModelMetadata: 'grpc_metadata', GetModelStatus: 'grpc_status', HandleReloadConfigRequest: 'grpc_reload',
  ModelInfer: 'grpc_v2_infer', ModelMetadata: 'grpc_v2_metadata', ServerMetadata: 'grpc_v2_metadata',
  ServerLive: 'grpc_v2_ready', ServerReady: 'grpc_v2_ready', ModelReady: 'grpc_v2_ready', Check: 'grpc_health', Watch: 'grpc_health',
};

/** The API label of a call to `path` (/package.Service/Method) answered before its handler ran. */
function apiOfMethod(path: string): ServingApi {
  return METHOD_API[path.slice(path.lastIndexOf('/') + 1)] ?? 'grpc_predict';
}

/** How often a health Watch looks at readiness beyond version state changes (draining has no event), ms. */
const WATCH_POLL_MS = 250;

const SERVICES = ['tensorflow.serving.PredictionService', 'tensorflow.serving.ModelService', 'inference.GRPCInferenceService', 'grpc.health.v1.Health'];
// The names a health check may ask: the services, and the two that tensorflow_model_server
// registers with --enable_grpc_healthcheck_service (server.cc), which its users' probes name.
const HEALTH_SERVICES = [...SERVICES, 'PredictionService', 'ModelService'];

/**
 * TensorFlow Serving's answer to a reload whose new models did not all load
 * (ServerCore::WaitUntilModelsAvailable: UNKNOWN, "N model(s) did not become available: {...}",
 * each with its error), for the models a reload added that have no AVAILABLE version; null when
 * each has one. The configuration is applied either way, as there.
 */
function notAvailable(added: readonly ModelStatus[]): string | null {
  const failed = added.filter((m) => !m.versions.some((v) => v.state === 'AVAILABLE'));
  if (failed.length === 0) return null;
  const why = (error: { code: string; message: string } | null) => (error ? ` due to error: ${error.code}: ${error.message}` : '');
  const each = failed.map((m) => {
    const versions = m.versions.filter((v) => v.state !== 'AVAILABLE');
    if (versions.length === 0) return `{{name: ${m.name}}${why(m.error)}}, `;
    return versions.map((v) => `{{name: ${m.name} version: ${v.version}}${why(v.error ?? m.error)}}, `).join('');
  });
  return `${failed.length} model(s) did not become available: {${each.join('')}}`;
}

/**
 * A ModelConfig of a reload request as the ModelManager's model config: TensorFlow Serving's
 * fields (name, base path, version policy, labels) over what the manager had for a model of
 * that name that TensorFlow Serving's config cannot say (GPU fraction, isolation, batching, ...).
 */
function reloadedModel(manager: ModelManager, c: Message, i: number, defaults: Omit<ManagedModelConfig, 'name' | 'basePath'>): ManagedModelConfig {
  const where = `config.model_config_list.config[${i}]`;
  const name = c.name as string;
  if (!name) throw new InvalidArgumentError(`${where}.name is missing`);
  if (c.model_platform && c.model_platform !== 'tensorflow') {
    throw new InvalidArgumentError(`${where} (${name}): model_platform "${String(c.model_platform)}" is not served by tfslice; it serves "tensorflow" SavedModels`);
  }
  const model: ManagedModelConfig = { ...(manager.modelConfig(name) ?? { ...defaults, name, basePath: '' }), name, basePath: c.base_path as string };
  const policy = c.model_version_policy as Message | undefined;
  if (policy?.all) model.versionPolicy = 'all';
  else if (policy?.specific) model.versionPolicy = { specific: ((policy.specific as Message).versions as Int64[] ?? []).map((v, k) => toNumber(v, `${where}.model_version_policy.specific.versions[${k}]`)) };
  else if (policy?.latest) {
    const n = Number((policy.latest as Message).num_versions ?? 0);
    model.versionPolicy = n <= 1 ? 'latest' : { latest: n };
  } else model.versionPolicy = 'latest';
  const labels = (c.version_labels as Record<string, Int64> | undefined) ?? {};
  model.versionLabels = Object.fromEntries(Object.entries(labels).map(([label, v]) => [label, toNumber(v, `${where}.version_labels["${label}"]`)]));
  return model;
}

/** Streams one gRPC connection may have open at once unless channelOptions say otherwise (grpc.max_concurrent_streams). */
const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

// createGrpcServer's channelOptions: gRPC channel argument names, to numbers or strings.
function checkChannelOptions(given: unknown): Record<string, number | string> {
  if (given === undefined) return {};
  const where = "createGrpcServer's options.channelOptions";
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw invalidType(where, 'an object of gRPC channel arguments', given);
  for (const [key, value] of Object.entries(given)) {
    if (!CHANNEL_ARGUMENT.test(key)) throw invalidType(`${where}'s key`, "a gRPC channel argument name ('grpc.max_connection_age_ms', ...)", key);
    const problem = channelValueProblem(key, value);
    if (problem !== null) throw invalidType(`${where}['${key}']`, problem, value);
  }
  return given as Record<string, number | string>;
}

/**
 * TensorFlow Serving's SSLConfig (tensorflow_serving/config/ssl_config.proto): the PEM texts
 * themselves, not file names, as TensorFlow Serving's --ssl_config_file holds them.
 */
export interface SslConfig {
  /** The server's private key, PEM. */
  serverKey: string;
  /** The server's certificate (chain), PEM. */
  serverCert: string;
  /** Certificate authorities that client certificates are checked against, PEM. Required with clientVerify. */
  customCa?: string;
  /** Require a client certificate, signed by customCa (mutual TLS). Default false. */
  clientVerify?: boolean;
}

/** The most certificates SSLConfig.custom_ca may hold. */
const MAX_CA_CERTIFICATES = 1000;

/**
 * gRPC server credentials from TensorFlow Serving's SSLConfig, as tensorflow_model_server builds
 * them (BuildServerCredentialsFromSSLConfigFile): the key and certificate, and with clientVerify
 * a client certificate required and verified against customCa. For bindGrpc().
 * @throws TypeError (ERR_INVALID_ARG_VALUE) naming the field when a PEM text cannot be read,
 *   the key does not match the certificate, or clientVerify comes without customCa (where
 *   TensorFlow Serving would take any client certificate a public CA signed)
 */
export function sslServerCredentials(config: SslConfig): grpc.ServerCredentials {
  const field = (name: string, value: unknown, required: boolean): string => {
    if (value === undefined && !required) return '';
    if (typeof value !== 'string' || (required && value.trim() === '')) throw invalidType(`SSLConfig.${name}`, 'a PEM text', value);
    return value;
  };
  if (config === null || typeof config !== 'object') throw invalidType('sslServerCredentials(config)', 'an SslConfig object', config);
  const key = field('server_key', config.serverKey, true);
  const cert = field('server_cert', config?.serverCert, true);
  const ca = field('custom_ca', config.customCa, false);
  const clientVerify = config.clientVerify ?? false;
  if (typeof clientVerify !== 'boolean') throw invalidType('SSLConfig.client_verify', 'true or false', clientVerify);
  // TensorFlow Serving would check client certificates against the public CAs: any certificate a
  // public CA signed would be let in, and a company's own none (found by a trial, helper-69).
  if (clientVerify && !ca.trim()) throw invalidValue('SSLConfig.custom_ca', 'client_verify needs the certificate of the CA that signs your clients\' certificates here (else any certificate a public CA signed would be let in)');
  // grpc-js reads the PEM texts only when it binds; read them now, naming the one that fails.
  const check = (name: string, options: { key?: string; cert?: string; ca?: string }) => {
    try {
      createSecureContext(options);
    } catch (error) {
      // An encrypted key: tensorflow_model_server takes none either (SSLConfig has no passphrase).
      const encrypted = options.key !== undefined && /ENCRYPTED/.test(options.key) ? '; the key is encrypted: give it decrypted (openssl pkey -in key.pem -out plain.pem)' : '';
      throw invalidValue(`SSLConfig.${name}`, `${(error as Error).message}${encrypted}`);
    }
  };
  check('server_cert', { cert });
  check('server_key', { key });
  check('server_key (with server_cert)', { key, cert });
  // A CA text without a certificate in it is taken by createSecureContext as none at all.
  if (ca) {
    const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw invalidValue('SSLConfig.custom_ca', 'no PEM certificate in it (-----BEGIN CERTIFICATE-----)');
    // (A public bundle holds about 150; 40 000 took 2 GB and broke every handshake: helper-69.)
    if (blocks.length > MAX_CA_CERTIFICATES) throw invalidValue('SSLConfig.custom_ca', `${blocks.length} certificates in it, more than ${MAX_CA_CERTIFICATES}: give the CAs that sign your clients' certificates`);
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (error) {
        throw invalidValue('SSLConfig.custom_ca', (error as Error).message);
      }
    }
  }
  return grpc.ServerCredentials.createSsl(ca ? Buffer.from(ca) : null, [{ private_key: Buffer.from(key), cert_chain: Buffer.from(cert) }], clientVerify);
}

/**
 * Binds `server` to host:port (0 picks a free port); resolves with the port. `credentials`:
 * sslServerCredentials() for TLS; default plain text (grpc-js's createInsecure()). The port
 * takes at most createGrpcServer()'s maxConnections at once and closes a connection not set up
 * within its handshakeTimeoutMs. Rejects with the listen error (EADDRINUSE, ...), and with
 * FAILED_PRECONDITION for a server closeGrpc() closed (as grpc-js's bindAsync after a shutdown).
 */
export function bindGrpc(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  if (closedServers.has(server) || (server as unknown as { shutdown?: unknown }).shutdown === true) {
    return Promise.reject(new TensorFlowError('FAILED_PRECONDITION', 'bindGrpc: this gRPC server was shut down (closeGrpc); create another with createGrpcServer()'));
  }
  // The port is tfslice's own net.Server, whose connections go to grpc-js through its connection
  // injector: grpc-js bounds neither how many are open nor how long one may take to set up
  // (helper-87: connections that never sent a byte were held until the process ran out of file
  // descriptors, and REST, the version polls and the health service failed with it).
  const limits = connectionLimits.get(server) ?? CONNECTION_LIMITS;
  const injector = server.createConnectionInjector(credentials);
  // noDelay, as Node's own servers set it: with Nagle's algorithm on, h2load's 64 streams on one
  // connection were capped at ~9400 calls/s (12 000-18 000 with it off, as with bindAsync).
  const listener = net.createServer({ noDelay: true }, (socket) => {
    const limit = limits.handshakeTimeoutMs;
    if (limit > 0 && limit <= MAX_TIMER_MS) {
      // Set up within the limit (TLS, the HTTP/2 preface, the client's SETTINGS), or closed: one
      // byte sent and then nothing held a connection for good (helper-88).
      port_.pending.add(socket);
      const timer = setTimeout(() => {
        if (!established(port_, socket)) socket.destroy();
        port_.pending.delete(socket);
      }, limit);
      socket.once('close', () => {
        clearTimeout(timer);
        port_.pending.delete(socket);
      });
    }
    injector.injectConnection(socket);
  });
  const port_: GrpcPort = { listener, injector, pending: new Set(), sessions: watchSessions(server) };
  if (limits.maxConnections > 0) listener.maxConnections = limits.maxConnections;
  return new Promise((resolve, reject) => {
    listener.once('error', (error) => {
      injector.destroy();
      reject(error);
    });
    listener.listen({ host: host.replace(/^\[(.*)\]$/, '$1'), port }, () => {
      listener.removeAllListeners('error');
      listener.on('error', () => {}); // accept() failures (EMFILE) are Node's to retry
      listeners.set(server, [...(listeners.get(server) ?? []), port_]);
      resolve((listener.address() as net.AddressInfo).port);
    });
  });
}

/** A port bindGrpc() opened: its socket, grpc-js's injector, and its connections not yet set up. */
interface GrpcPort {
  readonly listener: net.Server;
  readonly injector: grpc.ConnectionInjector;
  readonly pending: Set<net.Socket>;
  /** Connections whose client's HTTP/2 SETTINGS arrived, by remote address and port; null where grpc-js's sessions cannot be seen. */
  readonly sessions: Set<string> | null;
}

const remoteKey = (socket: { remoteAddress?: string; remotePort?: number }) => `${socket.remoteAddress}|${socket.remotePort}`;

/**
 * Whether a connection is set up: its client's HTTP/2 SETTINGS arrived (after TLS and the
 * preface). Where grpc-js's sessions cannot be seen: the preface and a SETTINGS frame's worth of
 * bytes arrived (33).
 */
function established(port: GrpcPort, socket: net.Socket): boolean {
  return port.sessions !== null ? port.sessions.has(remoteKey(socket)) : socket.bytesRead >= 33;
}

/**
 * The remote keys of the sessions set up on the HTTP/2 server grpc-js made last for `server` (the
 * connection injector's, just made): grpc-js 1.14 keeps its servers in a private `http2Servers`
 * map. Null where a later grpc-js keeps them otherwise.
 */
function watchSessions(server: grpc.Server): Set<string> | null {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return null;
  const http2Server = [...servers.keys()].pop() as { on?: unknown };
  if (typeof http2Server?.on !== 'function') return null;
  const sessions = new Set<string>();
  (http2Server as http2.Http2Server).on('session', (session: http2.ServerHttp2Session) => {
    const key = remoteKey(session.socket);
    session.once('remoteSettings', () => sessions.add(key));
    session.once('close', () => sessions.delete(key));
  });
  return sessions;
}

/**
 * The first interceptor, around grpc-js's own call (it sees every call to a method served, and
 * its end), for two things:
 * - `ms` > 0: a call whose request message has not arrived `ms` after its metadata ends
 *   DEADLINE_EXCEEDED, and grpc-js lets go of what it holds of it (helper-87: 300 streams each
 *   sending 2 MiB of a 2 GiB message held 600 MB for as long as their connection stayed open).
 * - `metrics`: a call that ended before any handler of ours ran, and that no interceptor of ours
 *   counted, is counted under no model, as the REST side counts a 413 or a client gone mid-body
 *   (helper-124, helper-126: counted nowhere): a message past --grpc_max_message_bytes
 *   (RESOURCE_EXHAUSTED), none or two for a unary method (grpc-js's UNIMPLEMENTED), one that
 *   does not decompress, the client's deadline (DEADLINE_EXCEEDED) or cancel (CANCELLED) before
 *   its message came. Not in TensorFlow Serving's series: its PredictionServiceImpl never sees
 *   such a call. (A method no service has is answered by grpc-js before any interceptor:
 *   counted nowhere.)
 * One interceptor, not two: each wraps every call in objects of its own.
 */
function callGuard(ms: number, metrics: ServerMetrics | null): grpc.ServerInterceptor {
  return (method, call) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    // Whether a handler or an interceptor of ours counts the call (countedElsewhere()).
    const state = { counted: false };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, forward) => {
          COUNTED.set(metadata, state);
          if (ms > 0) {
            timer = setTimeout(() => {
              timer = undefined;
              state.counted = true;
              if (metrics) countWithoutModel(metrics, method.path, 'DEADLINE_EXCEEDED');
              call.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: `the request message did not arrive within ${ms} ms of the call's start (--grpc_read_timeout_ms)` });
              // The answer ends the server's half of the stream only: grpc-js keeps reading the
              // client's half, and holds what came of the message, until the client ends it. A
              // RST_STREAM with NO_ERROR after the complete answer asks it to stop sending (RFC
              // 9113 8.1), and lets go of the stream.
              streamOf(call)?.close(http2.constants.NGHTTP2_NO_ERROR);
            }, ms);
          }
          forward(metadata);
        },
        onReceiveMessage: (message, forward) => {
          done();
          forward(message);
        },
        onReceiveHalfClose: (forward) => {
          done();
          forward();
        },
        // Called once the call has ended, however it did.
        onCancel: () => {
          done();
          if (state.counted || metrics === null) return;
          // Ended before any handler of ours ran: a message past the limit, none or two for a
          // unary method (grpc-js's answers), the client's deadline or cancel while its message
          // had not all come. (A trailers-only answer says its status in its headers.)
          const stream = streamOf(call);
          const sent = stream?.sentTrailers?.['grpc-status'] ?? stream?.sentHeaders?.['grpc-status'];
          const code = Number(sent);
          const status = sent !== undefined && Number.isInteger(code) ? codeName(code) : deadlinePassed(call, DEADLINE_SLACK_MS) ? 'DEADLINE_EXCEEDED' : 'CANCELLED';
          if (status !== 'OK') countWithoutModel(metrics, method.path, status);
        },
      }),
      sendStatus: (status, next) => {
        done();
        next(status);
      },
    });
  };
}

/** Counts a call to method `path` that ended before any handler ran: under no model or version. */
function countWithoutModel(metrics: ServerMetrics, path: string, status: string): void {
  metrics.requests.inc({ model: '', version: '', api: apiOfMethod(path), status });
}

/** Each call's callGuard state, by the call's metadata (the one object its interceptors and handler all see). */
const COUNTED = new WeakMap<grpc.Metadata, { counted: boolean }>();

/** Tells callGuard that the call of `metadata` is counted by whoever calls this (a handler, the token's interceptor). */
function countedElsewhere(metadata: grpc.Metadata): void {
  const state = COUNTED.get(metadata);
  if (state !== undefined) state.counted = true;
}

/**
 * The HTTP/2 stream of a call, as grpc-js 1.14 keeps it (BaseServerInterceptingCall's `stream`,
 * the innermost of a chain of `nextCall`s); undefined where a later grpc-js keeps it otherwise.
 */
function streamOf(call: grpc.ServerInterceptingCallInterface): http2.ServerHttp2Stream | undefined {
  let inner: unknown = call;
  for (let depth = 0; depth < 16 && inner !== null && typeof inner === 'object'; depth++) {
    const stream = (inner as { stream?: unknown }).stream;
    // (Node exports no Http2Stream class to test against.)
    if (stream !== null && typeof stream === 'object' && 'rstCode' in stream && typeof (stream as { close?: unknown }).close === 'function') return stream as http2.ServerHttp2Stream;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/** The connection limits bindGrpc() applies: createGrpcServer()'s defaults, and a plain grpc.Server's. */
const CONNECTION_LIMITS = Object.freeze({ maxConnections: 4096, handshakeTimeoutMs: 10_000 });
/** The connection limits of each server createGrpcServer() made (bindGrpc applies them). */
const connectionLimits = new WeakMap<grpc.Server, { maxConnections: number; handshakeTimeoutMs: number }>();
/** The ports bindGrpc() opened for each server, with their injectors (closeGrpc closes them). */
const listeners = new WeakMap<grpc.Server, GrpcPort[]>();
/** Servers closeGrpc() closed: bindGrpc() refuses them, as grpc-js's bindAsync does after a shutdown. */
const closedServers = new WeakSet<grpc.Server>();

/** The codec threads of each server createGrpcServer() made (closeGrpc stops them). */
const codecs = new WeakMap<grpc.Server, Codec>();

/**
 * Stops taking calls (closing the ports bindGrpc() opened) and resolves once the calls in flight
 * have finished and the server's codec threads have stopped; `force`: ends the calls in flight
 * at once (grpc-js's forceShutdown).
 */
export async function closeGrpc(server: grpc.Server, { force = false }: { force?: boolean } = {}): Promise<void> {
  const ports = listeners.get(server) ?? [];
  listeners.delete(server);
  closedServers.add(server);
  // Resolved once every connection has closed too (net.Server's close).
  const closed = ports.map(({ listener }) => new Promise<void>((resolve) => listener.close(() => resolve())));
  // Connections not set up carry no call: closed now, not at their handshake limit (a client that
  // sent part of the preface held a graceful close until then, or for good; helper-88).
  for (const port of ports) for (const socket of port.pending) if (!established(port, socket)) socket.destroy();
  if (force) {
    server.forceShutdown();
    // Its sessions: grpc-js 1.14's forceShutdown destroys only those it counts for channelz (off
    // here); an injector's drain(0) destroys its own (its destroy() only closes them gracefully).
    for (const { injector } of ports) injector.drain(0);
  } else {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
  await Promise.all([...closed, codecs.get(server)?.close()]);
}

