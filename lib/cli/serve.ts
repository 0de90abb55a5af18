/**
 * `tfslice serve`: the model server, with tensorflow_model_server's flag names where they mean
 * the same. One model (--model_name, --model_base_path) or a config file (--model_config_file:
 * the ModelManager's JSON, or TensorFlow Serving's own text-format model config). Prints the URL
 * once every model has been tried, then serves until SIGTERM or SIGINT: readiness goes false,
 * no new connections, requests in flight finish (up to --shutdown_grace_period_seconds), the
 * manager stops (isolated hosts exit), exit code 0; a second signal exits at once (128 + its
 * number, as a shell reports a process a signal ended: 130 for SIGINT, 143 for SIGTERM).
 * --enable_batching (with --batching_parameters_file, TensorFlow Serving's text format) batches
 * every model whose config sets no `batching` of its own. --op_policy (default 'serve') is the
 * opPolicy of every model whose loadOptions set none: a model reaching file-system or process
 * ops is refused at load (lib/ops.ts).
 */
import * as os from 'node:os';
import * as path from 'node:path';

import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';

import { type BatchingOptions, resolveBatching } from '../batching';
import type { OpPolicy } from '../ops';
import { type ManagedModelConfig, ModelManager, type ModelManagerConfig } from '../manager';
import { readConfigFile, readConfigText } from '../manager/config';
import { MAX_TIMER_MS, timerFor } from '../abort';
import { MAX_POOL_THREADS } from '../options';
import { BATCHING_FIELDS, parseBatchingParameters, parseMonitoringConfig, parseSslConfig } from '../manager/tfs-config';
import { CHANNEL_ARGUMENT, channelValueProblem, checkMetricsPath } from '../serve/options';
import { type AuthOptions, readTokenFile } from '../serve/auth';
import { packageVersion, parseTags } from './common';
import { UsageError } from './errors';
import { NotFoundError } from '../errors';

// fastify, grpc-js, protobufjs and prom-client take about a quarter of a second to load: only
// `tfslice serve` itself loads them, not every command that defines its flags.
const servers = () => Promise.all([import('../serve/grpc'), import('../serve/metrics'), import('../serve/server')]);

/** The flags, as commander names them (tensorflow_model_server's names, underscores kept). */
export interface ServeFlags {
  model_config_file?: string;
  model_name?: string;
  model_base_path?: string;
  gpu_memory_fraction?: number;
  isolation?: 'none' | 'process';
  rest_api_port: number;
  rest_api_host: string;
  rest_api_timeout_in_ms: number;
  file_system_poll_wait_seconds?: number;
  model_config_file_poll_wait_seconds?: number;
  rest_api_max_body_bytes: number;
  offload_bytes: number;
  codec_threads?: number;
  shutdown_grace_period_seconds: number;
  enable_batching?: boolean;
  rest_api_enable_cors_support?: boolean;
  enable_model_warmup: boolean;
  num_request_iterations_for_warmup: number;
  strict_readiness: boolean;
  saved_model_tags?: string[];
  monitoring_config_file?: string;
  enable_signature_method_name_check?: boolean;
  allow_version_labels_for_unavailable_models?: boolean;
  ssl_config_file?: string;
  grpc_channel_arguments?: Record<string, number | string>;
  batching_parameters_file?: string;
  port: number;
  enable_serialization_as_tensor_content?: boolean;
  op_policy: 'serve' | 'none';
  auth_token_file?: string;
  auth_protect_health?: boolean;
  tensorflow_intra_op_parallelism?: number;
  tensorflow_inter_op_parallelism?: number;
  tensorflow_session_parallelism?: number;
  host_hang_timeout_ms?: number;
  rest_api_read_timeout_ms: number;
  rest_api_keep_alive_timeout_ms: number;
  rest_api_header_timeout_ms: number;
  rest_api_max_header_bytes: number;
  rest_api_max_connections: number;
  max_queued_requests_per_model: number;
  grpc_max_message_bytes: number;
  grpc_read_timeout_ms: number;
  grpc_max_connections: number;
}

function nonNegativeInt(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected ${what}`);
    return n;
  };
}

// A byte count, or Infinity (offloadBytes: never).
function byteCountOrInfinity(value: string): number {
  return value.trim() === 'Infinity' ? Infinity : nonNegativeInt('a byte count, or Infinity')(value);
}

// A timer's milliseconds: 0 to 2^31 - 1 (what setTimeout keeps).
function timerMs(value: string): number {
  const n = nonNegativeInt(`milliseconds from 0 to ${MAX_TIMER_MS}`)(value);
  if (n > MAX_TIMER_MS) throw new InvalidArgumentError(`expected milliseconds from 0 to ${MAX_TIMER_MS}`);
  return n;
}

function positiveInt(what: string) {
  return (value: string): number => {
    const n = nonNegativeInt(what)(value);
    if (n === 0) throw new InvalidArgumentError(`expected ${what} > 0`);
    return n;
  };
}

function threadCount(value: string): number {
  const n = positiveInt('a thread count')(value);
  if (n > 64) throw new InvalidArgumentError('expected a thread count from 1 to 64');
  return n;
}

function port(value: string): number {
  const n = nonNegativeInt('a port number from 0 to 65535')(value);
  if (n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

function fraction(value: string): number {
  const f = Number(value);
  if (value.trim() === '' || !(f > 0 && f <= 1)) throw new InvalidArgumentError('expected a fraction in (0, 1]');
  return f;
}

// A boolean flag's value as tensorflow_model_server takes it (absl: --enable_batching,
// --enable_batching=true, --enable_batching=false).
function flagBool(value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new InvalidArgumentError('expected true or false');
}

// A TensorFlow pool size as TensorFlow Serving's --tensorflow_*_op_parallelism flags give it.
function poolSize(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > MAX_POOL_THREADS) {
      throw new InvalidArgumentError(`expected a thread count from ${min} to ${MAX_POOL_THREADS} (0: TensorFlow picks${min < 0 ? '; -1: ops inline on the calling thread' : ''})`);
    }
    return n;
  };
}

/**
 * --grpc_channel_arguments: `key=value` pairs joined by ',', as tensorflow_model_server splits
 * them; a value that reads as a 32-bit integer is passed as a number (as there), else as a string.
 */
function channelArguments(value: string): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const at = part.indexOf('=');
    const key = part.slice(0, at).trim();
    if (at < 0) throw new InvalidArgumentError(`expected gRPC channel arguments, name=value joined by ',' (grpc.max_connection_age_ms=60000), got '${part}'`);
    // (Names are case-sensitive, and gRPC ignores one it does not know: a typo would pass unseen.)
    if (!CHANNEL_ARGUMENT.test(key)) throw new InvalidArgumentError(`'${key}' is not a gRPC channel argument name: they start with 'grpc.' (or grpc-js's 'grpc-node.'), in lower case, as grpc_types.h spells them`);
    const text = part.slice(at + 1).trim();
    const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
    out[key] = Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 ? n : text;
    const problem = channelValueProblem(key, out[key]);
    if (problem !== null) throw new InvalidArgumentError(`${key} takes ${problem}, got '${text}'`);
  }
  return out;
}

/**
 * tensorflow_model_server's flags that size or tune what tfslice does not have, and change nothing
 * a client sees: taken and ignored, with a line in the log each, so that a migrated command line
 * (a Kubernetes manifest) starts (helper-91: they exited 2, a crash loop).
 */
const IGNORED_TFS_FLAGS: Readonly<Record<string, string>> = {
  rest_api_num_threads: 'one event loop serves REST; bodies of --offload_bytes or more are read on --codec_threads worker threads',
  num_load_threads: 'tfslice has no load thread pool to size',
  num_unload_threads: 'tfslice has no unload thread pool to size',
  max_num_load_retries: "a version that fails to load is END with its error, and with --file_system_poll_wait_seconds it is loaded again once its files change; there are no timed retries",
  load_retry_interval_micros: 'a version that fails to load is loaded again once its files change, not after an interval',
  flush_filesystem_caches: 'tfslice keeps no file system cache to flush',
  enable_profiler: "tfslice serves no TensorFlow profiler; /metrics has each model's request and run latencies",
  grpc_max_threads: 'gRPC is served on the event loop, its big messages decoded on --codec_threads worker threads',
  xla_cpu_compilation_enabled: "tfslice turns no XLA auto-clustering on; session options go in a JSON --model_config_file's loadOptions",
  // (the last flag of tensorflow_model_server's main.cc that tfslice did not know: helper-122)
  xla_gpu_compilation_enabled: "tfslice turns no XLA auto-clustering on; session options go in a JSON --model_config_file's loadOptions",
  remove_unused_fields_from_bundle_metagraph: 'tfslice has no such option',
  enable_grpc_healthcheck_service: 'grpc.health.v1.Health is always served',
  prefer_tflite_model: 'only TensorFlow SavedModels are served: a TensorFlow Lite model beside one is passed by',
  num_tflite_pools: 'tfslice serves no TensorFlow Lite models',
  num_tflite_interpreters_per_pool: 'tfslice serves no TensorFlow Lite models',
  skip_initialize_tpu: 'tfslice uses no TPU',
  allow_version_labels: 'version labels are always allowed',
};

/**
 * tensorflow_model_server's flags that tfslice serve does not take because ignoring them would
 * change what clients get (a GPU limit, a socket, TLS, the model's numbers), and what to do
 * instead: each is refused with its line, not a bare "unknown option".
 */
const TFS_ONLY_FLAGS: Readonly<Record<string, string>> = {
  per_process_gpu_memory_fraction: "tfslice gives each model its own fraction: --gpu_memory_fraction with --model_name, or gpuMemoryFraction per model in a JSON --model_config_file",
  platform_config_file: "only TensorFlow SavedModels are served; session options go in a JSON --model_config_file's loadOptions",
  tensorflow_intra_op_parallelism_threads: 'the flag is --tensorflow_intra_op_parallelism',
  tensorflow_inter_op_parallelism_threads: 'the flag is --tensorflow_inter_op_parallelism',
  // More of tensorflow_model_server's flags, seen on its stock command lines (helper-80).
  tensorflow_session_config_file: "session options go in a JSON --model_config_file's loadOptions (intraOpThreads, interOpThreads, ...), or --tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism",
  thread_pool_factory_config_file: "session thread pools are set per model: intraOpThreads and interOpThreads in a JSON --model_config_file's loadOptions, or --tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism",
  grpc_socket_path: 'gRPC listens on TCP only: --port (and --rest_api_host for its interface)',
  mixed_precision: 'tfslice runs each SavedModel as it was saved: export the model in the precision to serve',
  use_tflite_model: 'only TensorFlow SavedModels are served, not TensorFlow Lite models',
  use_alts_credentials: 'gRPC over TLS: --ssl_config_file',
  enable_per_model_batching_parameters: "a model's own batching goes in a JSON --model_config_file (batching per model), not in a file inside its SavedModel",
};

// TFS_ONLY_FLAGS at tensorflow_model_server's own defaults (main.cc), where they change nothing:
// templates (Helm charts) write every flag with its default, and such a command line must start
// (helper-139: each exited 2). How its flag parser reads them: a bool is true/false/1/0.
const isFalse = (value: unknown): boolean => value === 'false' || value === '0';
const isEmpty = (value: unknown): boolean => value === '';
const TFS_ONLY_DEFAULTS: Readonly<Record<string, (value: unknown) => boolean>> = {
  per_process_gpu_memory_fraction: (value) => typeof value === 'string' && value.trim() !== '' && Number(value) === 0,
  platform_config_file: isEmpty,
  tensorflow_session_config_file: isEmpty,
  thread_pool_factory_config_file: isEmpty,
  grpc_socket_path: isEmpty,
  mixed_precision: isEmpty,
  use_tflite_model: isFalse,
  use_alts_credentials: isFalse,
  enable_per_model_batching_parameters: isFalse,
};

/** Adds `serve` to the program. */
export function serveCommand(cli: Command, done: (code: number) => void): void {
  cli.command('serve')
    .description("a model server: TensorFlow Serving's REST API (/v1) and KServe's v2 protocol (/v2), Prometheus metrics, a GPU memory fraction per model")
    .option('--model_config_file <file>', "the models: the ModelManager's JSON config, or TensorFlow Serving's text-format model config")
    .option('--model_name <name>', 'one model: its name (with --model_base_path)', undefined)
    .option('--model_base_path <dir>', 'one model: the directory of its numbered versions')
    .option('--gpu_memory_fraction <f>', "one model: its share of the GPU's memory, in (0, 1]", fraction)
    .addOption(new Option('--isolation <mode>', "one model: in this process ('none') or a host process of its own ('process')").choices(['none', 'process']))
    .option('--port <port>', "the gRPC port (TensorFlow Serving's PredictionService and ModelService, KServe's GRPCInferenceService, gRPC health); 0 picks a free one", port, 8500)
    .option('--rest_api_port <port>', 'the HTTP port; 0 picks a free one', port, 8501)
    .option('--rest_api_host <host>', 'the interface to listen on; 0.0.0.0 exposes the server beyond this machine', '127.0.0.1')
    .option('--rest_api_timeout_in_ms <ms>', "longest a request may take in its model before it is answered 504; 0 for none", nonNegativeInt('milliseconds'), 30_000)
    .option('--file_system_poll_wait_seconds <s>', "how often to look for new versions (watch mode also loads a crashed isolated model again at once); 0 looks once, at start, and a crashed model stays down until a reload (default: 1, or a JSON config's watch and pollIntervalMs)", nonNegativeInt('seconds'))
    .option('--model_config_file_poll_wait_seconds <s>', 'how often to read --model_config_file again, and serve what it lists when it changed; 0 reads it once, at start', nonNegativeInt('seconds'), 0)
    .option('--rest_api_max_body_bytes <n>', 'largest request body (413 beyond)', nonNegativeInt('a byte count'), 64 * 1024 * 1024)
    .option('--offload_bytes <n>', 'REST bodies, gRPC messages with tensors or tf.Examples, and responses this big are read and written on worker threads, so the event loop serves on (REST and gRPC each have a pool of --codec_threads); Infinity: never', byteCountOrInfinity, 256 * 1024)
    .option('--codec_threads <n>', 'the most worker threads for that, 1 to 64 (default: the cores but one, 1 to 4)', threadCount)
    // 25, not 30: Kubernetes SIGKILLs a pod terminationGracePeriodSeconds (30 by default) after its
    // SIGTERM, and a run still inside TensorFlow may hold the exit 2 s more (helper-80).
    .option('--shutdown_grace_period_seconds <s>', 'on SIGTERM/SIGINT, how long requests in flight may take to finish', nonNegativeInt('seconds'), 25)
    .option('--grpc_max_message_bytes <n>', 'largest gRPC request message (RESOURCE_EXHAUSTED beyond); at most 2147483647', positiveInt('a byte count'), 2 ** 31 - 1)
    .option('--enable_serialization_as_tensor_content [bool]', 'gRPC responses carry tensors as tensor_content (raw bytes) instead of the typed fields', flagBool)
    .option('--ssl_config_file <file>', "TensorFlow Serving's SSLConfig (text format: server_key, server_cert, custom_ca, client_verify): gRPC over TLS (REST stays plain HTTP, as in TensorFlow Serving)")
    .option('--grpc_channel_arguments <k=v,...>', "gRPC server settings, as tensorflow_model_server takes them: grpc.max_connection_age_ms=60000,grpc.keepalive_time_ms=10000 (whole numbers passed as numbers)", channelArguments)
    .option('--monitoring_config_file <file>', "TensorFlow Serving's MonitoringConfig (text format): the metrics are served at its prometheus_config.path too (they are always on, at /monitoring/prometheus/metrics and /metrics)")
    .option('--allow_version_labels_for_unavailable_models [bool]', 'a config reload (gRPC, --model_config_file_poll_wait_seconds) may give a new label a version that is not AVAILABLE yet; moving a label still needs its new version AVAILABLE', flagBool)
    .option('--enable_signature_method_name_check [bool]', "a signature's method_name must fit the API: predict, classify or regress for predict; classify for classify, regress for regress (off by default, as in TensorFlow Serving: TensorFlow 2 writes every signature as predict)", flagBool)
    .option('--saved_model_tags <t1,t2>', "the tag-set of the meta graph to load, for models whose config sets no tags ('' for the empty tag-set; default: serve)", parseTags)
    .option('--enable_model_warmup [bool]', "run each version's assets.extra/tf_serving_warmup_requests (TensorFlow Serving's warm-up file) before it serves, where a model's JSON config sets no warmup of its own", flagBool, true)
    .option('--num_request_iterations_for_warmup <n>', 'how many times each request of that file runs', positiveInt('a whole number of times, 1 or more'), 1)
    .option('--enable_batching [bool]', "batch concurrent requests (every model that sets no batching of its own; TensorFlow Serving's defaults)", flagBool)
    .option('--batching_parameters_file <file>', "with --enable_batching: TensorFlow Serving's BatchingParameters, text format")
    .option('--rest_api_enable_cors_support [bool]', "CORS headers on every REST answer (Access-Control-Allow-Origin: *), and preflights answered, so that web pages of any origin can call the server (TensorFlow Serving's flag)", flagBool)
    .option('--auth_token_file <file>', 'require a bearer token (REST: Authorization: Bearer <token>; gRPC: authorization metadata) from this file, one per line')
    .option('--strict_readiness [bool]', 'KServe v2 and gRPC health readiness: only while every configured model has an AVAILABLE version (false: while the server is up and not draining, as Triton\'s --strict-readiness=false)', flagBool, true)
    .option('--auth_protect_health [bool]', 'with --auth_token_file: health endpoints need the token too (default: open for probes)', flagBool)
    .option('--rest_api_read_timeout_ms <ms>', 'longest a client may take to send a whole request (408 beyond)', positiveInt('milliseconds'), 60_000)
    .option('--rest_api_keep_alive_timeout_ms <ms>', "how long an idle keep-alive connection stays open (TensorFlow Serving's libevent: 50 s); keep it above a load balancer's idle timeout; 0 for no limit", nonNegativeInt('milliseconds'), 50_000)
    .option('--rest_api_header_timeout_ms <ms>', "longest a client may take to send a request's headers", positiveInt('milliseconds'), 10_000)
    .option('--rest_api_max_header_bytes <n>', 'largest request line and headers (431 beyond)', positiveInt('a byte count'), 16 * 1024)
    .option('--rest_api_max_connections <n>', 'HTTP connections open at once (more are closed); 0 for no limit', nonNegativeInt('a count'), 4096)
    .option('--grpc_read_timeout_ms <ms>', "longest a gRPC client may take to send a call's request message (DEADLINE_EXCEEDED beyond); 0 for no limit", nonNegativeInt('milliseconds'), 60_000)
    .option('--grpc_max_connections <n>', 'gRPC connections open at once (more are closed; one not set up, TLS and HTTP/2 preface, within 10 s is closed too); 0 for no limit', nonNegativeInt('a count'), 4096)
    .option('--max_queued_requests_per_model <n>', "requests one model holds at once (waiting or running) before it answers 503 / UNAVAILABLE; a model's maxQueuedRequests wins", positiveInt('a count'), 1024)
    .option('--tensorflow_intra_op_parallelism <n>', 'threads of each op (intraOpThreads) for models whose config sets none; 0: TensorFlow picks', poolSize(0))
    .option('--tensorflow_session_parallelism <n>', "both of the two above at once (TensorFlow Serving's older flag; it excludes them)", poolSize(0))
    .option('--tensorflow_inter_op_parallelism <n>', "threads running ops side by side (interOpThreads) for models whose config sets none; 0: TensorFlow's pool, which run timeouts need; -1: inline (tfslice's default)", poolSize(-1))
    .option('--host_hang_timeout_ms <ms>', "models in a host process of their own (isolation 'process') whose config sets none: a host that has not answered a run given up on (its time limit and 1 s more passed) this many ms later is killed as hung (hostHangTimeoutMs; watch mode loads the model again); needs --tensorflow_inter_op_parallelism 0; 0: never", timerMs)
    .addOption(new Option('--op_policy <policy>', "the opPolicy of models whose config sets none: 'serve' refuses models that reach file-system or process ops; 'none' checks nothing").choices(['serve', 'none']).default('serve'))
    .action(async (flags: ServeFlags) => {
      done(await serve(flags));
    });
  const serveCli = cli.commands.find((c) => c.name() === 'serve')!;
  for (const name of [...Object.keys(TFS_ONLY_FLAGS), ...Object.keys(IGNORED_TFS_FLAGS)]) serveCli.addOption(new Option(`--${name} [value]`).hideHelp());
  // tensorflow_model_server --version prints its version and exits 0: so does this.
  serveCli.addOption(new Option('--version').hideHelp());
}

// --enable_batching [--batching_parameters_file]: the batching every model gets unless its
// own config says otherwise (TensorFlow Serving applies one BatchingParameters to all).
async function batchingOf(flags: ServeFlags): Promise<boolean | BatchingOptions | undefined> {
  if (flags.batching_parameters_file !== undefined && !flags.enable_batching) {
    throw new UsageError('--batching_parameters_file is set without --enable_batching (TensorFlow Serving refuses this too); add --enable_batching');
  }
  if (!flags.enable_batching) return undefined;
  if (flags.batching_parameters_file === undefined) return true;
  return readTextConfig('batching_parameters_file', flags.batching_parameters_file, (text) => {
    try {
      const parameters = parseBatchingParameters(text);
      resolveBatching(parameters, 'BatchingParameters');
      return parameters;
    } catch (error) {
      // resolveBatching names loadModel's options; the file has BatchingParameters' fields.
      (error as Error).message = (error as Error).message.replace(/BatchingParameters\.(\w+)/g, (_, option: string) => `BatchingParameters.${BATCHING_FIELDS[option as keyof typeof BATCHING_FIELDS] ?? option}`)
        .replace(/must be (maxBatchSize|maxExecutionBatchSize)/g, (_, option: 'maxBatchSize' | 'maxExecutionBatchSize') => `must be ${BATCHING_FIELDS[option]}`);
      throw error;
    }
  });
}

// Reads the text-format file --flag names (at most 16 MiB: readConfigText) and parses it; a file
// that cannot be read or parsed is a UsageError naming the flag and the file.
async function readTextConfig<T>(flag: string, file: string, parse: (text: string) => T): Promise<T> {
  try {
    return parse(await readConfigText(file));
  } catch (error) {
    throw new UsageError(`--${flag} ${file}: ${(error as Error).message}`, false);
  }
}

/** What the flags give every model whose config leaves it out: batching, opPolicy, pool sizes. */
type ModelDefaults = Pick<ManagedModelConfig, 'batching' | 'maxQueuedRequests' | 'warmup' | 'tags'> & {
  loadOptions: { opPolicy: OpPolicy; intraOpThreads?: number; interOpThreads?: number };
  /** --host_hang_timeout_ms: for models in a host process of their own only (the option is refused for others). */
  hostHangTimeoutMs?: number;
};

function withDefaults(model: ManagedModelConfig, defaults: ModelDefaults): ManagedModelConfig {
  const out = { ...model };
  if (out.batching === undefined && defaults.batching !== undefined) out.batching = defaults.batching;
  if (out.warmup === undefined && defaults.warmup !== undefined) out.warmup = defaults.warmup;
  if (out.tags === undefined && defaults.tags !== undefined) out.tags = defaults.tags;
  if (out.maxQueuedRequests === undefined) out.maxQueuedRequests = defaults.maxQueuedRequests;
  const loadOptions: Record<string, unknown> = { ...defaults.loadOptions };
  if (defaults.hostHangTimeoutMs !== undefined && out.isolation === 'process' && out.loadOptions?.hostHangTimeoutMs === undefined) {
    // Only where TensorFlow can stop a run at its limit (an inter-op pool): a model whose ops run
    // inline would be refused the option, in words naming a key its config does not have.
    const interOp = out.loadOptions?.interOpThreads ?? defaults.loadOptions.interOpThreads;
    if (typeof interOp === 'number' && interOp >= 0) loadOptions.hostHangTimeoutMs = defaults.hostHangTimeoutMs;
    else log(`--host_hang_timeout_ms is not given to model ${JSON.stringify(out.name)}: its ops run inline, where TensorFlow cannot stop a run at its limit; give it "interOpThreads": 0 in its loadOptions, or --tensorflow_inter_op_parallelism 0`);
  }
  for (const [key, value] of Object.entries(loadOptions)) {
    // A model's own loadOptions win, and so does the same option given at its top level.
    if ((out.loadOptions as Record<string, unknown> | undefined)?.[key] === undefined && (out as Record<string, unknown>)[key] === undefined) {
      out.loadOptions = { ...out.loadOptions, [key]: value };
    }
  }
  return out;
}

async function managerConfig(flags: ServeFlags): Promise<{ config: ModelManagerConfig; defaults: ModelDefaults; read?: string }> {
  const { config, read } = await modelsOf(flags);
  const batching = await batchingOf(flags);
  const defaults: ModelDefaults = { loadOptions: { opPolicy: flags.op_policy }, maxQueuedRequests: flags.max_queued_requests_per_model };
  // TensorFlow Serving's rules (server.cc): all three above 0 is an error; either of the two
  // newer flags above 0 wins over the old one, which is then ignored, and sets both pools with
  // the other's value or its flag's default, 0 (so an inter-op pool, where tfslice's own default
  // is ops inline); else the old one sets both (helper-122: any newer one beside it was refused).
  const session = flags.tensorflow_session_parallelism;
  const intra = flags.tensorflow_intra_op_parallelism;
  const inter = flags.tensorflow_inter_op_parallelism;
  if (session !== undefined && session > 0 && (intra ?? 0) > 0 && (inter ?? 0) > 0) {
    throw new UsageError('Either configure --tensorflow_session_parallelism or (--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) separately. You cannot configure all. (TensorFlow Serving\'s rule)');
  }
  if (session !== undefined && ((intra ?? 0) > 0 || (inter ?? 0) > 0)) {
    log(`--tensorflow_session_parallelism ignored: --tensorflow_${(intra ?? 0) > 0 ? 'intra' : 'inter'}_op_parallelism is given (as tensorflow_model_server does)`);
    defaults.loadOptions.intraOpThreads = intra ?? 0;
    defaults.loadOptions.interOpThreads = inter ?? 0;
  } else if (session !== undefined) {
    defaults.loadOptions.intraOpThreads = session;
    defaults.loadOptions.interOpThreads = session;
  }
  if (intra !== undefined && defaults.loadOptions.intraOpThreads === undefined) defaults.loadOptions.intraOpThreads = intra;
  if (inter !== undefined && defaults.loadOptions.interOpThreads === undefined) defaults.loadOptions.interOpThreads = inter;
  if (flags.host_hang_timeout_ms !== undefined && flags.host_hang_timeout_ms > 0) {
    // One model from flags: refused where it cannot apply (a config file's models are told one by one, in withDefaults).
    if (flags.model_config_file === undefined) {
      if (flags.isolation !== 'process') throw new UsageError("--host_hang_timeout_ms kills a model's host process: give --isolation process with it");
      if (!((defaults.loadOptions.interOpThreads ?? -1) >= 0)) {
        throw new UsageError('--host_hang_timeout_ms needs an inter-op pool, where TensorFlow stops a run at its limit (with ops inline a long run would be killed as hung): add --tensorflow_inter_op_parallelism 0');
      }
    }
    defaults.hostHangTimeoutMs = flags.host_hang_timeout_ms;
  }
  if (batching !== undefined) defaults.batching = batching;
  if (flags.enable_model_warmup) defaults.warmup = savedModelWarmup(flags.enable_signature_method_name_check ?? false, flags.num_request_iterations_for_warmup);
  if (flags.saved_model_tags !== undefined) defaults.tags = flags.saved_model_tags;
  const labels = flags.allow_version_labels_for_unavailable_models === undefined ? {} : { allowVersionLabelsForUnavailableModels: flags.allow_version_labels_for_unavailable_models };
  // What is not an array of objects is left for the ModelManager to name.
  return { config: { ...config, ...labels, models: modelsWithDefaults(config, defaults) }, defaults, read };
}

// A config's models with what the flags give them; what is not an array of objects is left for
// the ModelManager to name.
function modelsWithDefaults(config: ModelManagerConfig, defaults: ModelDefaults): readonly ManagedModelConfig[] {
  return Array.isArray(config.models)
    ? config.models.map((m: unknown) => (m !== null && typeof m === 'object' ? withDefaults(m as ManagedModelConfig, defaults) : m) as ManagedModelConfig)
    : config.models;
}

/**
 * --enable_model_warmup: TensorFlow Serving's warm-up requests file of each version, run before
 * it serves (lib/serve/warmup.ts, loaded only when a version loads), and logged when there was one.
 */
const savedModelWarmup = (signatureMethodNameCheck: boolean, iterations: number): NonNullable<ManagedModelConfig['warmup']> => ({
  run: async (model, { path: dir }) => {
    const { runSavedModelWarmup, WARMUP_REQUESTS_FILE } = await import('../serve/warmup');
    const count = await runSavedModelWarmup(model, dir, { signatureMethodNameCheck, iterations });
    if (count > 0) log(`warm-up: ${count} request${count > 1 ? 's' : ''} of ${path.join(dir, WARMUP_REQUESTS_FILE)} ran`);
  },
});

/** --file_system_poll_wait_seconds when not given (TensorFlow Serving's default). */
const DEFAULT_POLL_SECONDS = 1;

// The models the flags name, and --model_config_file's contents as read (JSON of what it parsed
// to, so that a change of layout or comments alone is no change).
async function modelsOf(flags: ServeFlags): Promise<{ config: ModelManagerConfig; read?: string }> {
  // The flag when given; else a JSON config's own watch and pollIntervalMs over serve's default, every second.
  const seconds = flags.file_system_poll_wait_seconds;
  const polling = (s: number) => ({ watch: s > 0, pollIntervalMs: Math.max(1, s * 1000) });
  if (flags.model_config_file !== undefined) {
    // tensorflow_model_server ignores them beside a config file, and its Docker image's
    // entrypoint always passes both (helper-86: refused, a migrated command line did not start).
    const ignored = (['model_name', 'model_base_path'] as const).filter((flag) => flags[flag] !== undefined).map((flag) => `--${flag}`);
    if (ignored.length > 0) log(`${ignored.join(' and ')} ignored: --model_config_file names the models (as tensorflow_model_server does)`);
    if (flags.gpu_memory_fraction !== undefined || flags.isolation !== undefined) {
      throw new UsageError('--gpu_memory_fraction and --isolation are for one model (--model_name); in a config file, give each model its own gpuMemoryFraction and isolation (JSON)');
    }
    let config: ModelManagerConfig;
    try {
      config = await readConfigFile(flags.model_config_file);
    } catch (error) {
      // The file itself (missing, a directory, unreadable): a bad argument, named by its flag.
      if (typeof (error as NodeJS.ErrnoException).syscall === 'string' || error instanceof NotFoundError || (error as NodeJS.ErrnoException).code === 'ERR_FS_FILE_TOO_LARGE') {
        throw new UsageError(`cannot read --model_config_file ${flags.model_config_file}: ${(error as Error).message}`, false);
      }
      throw error;
    }
    const read = JSON.stringify(config);
    if (seconds !== undefined) return { config: { ...config, ...polling(seconds) }, read };
    // serve's default, under what the config itself sets of it.
    const byDefault = polling(DEFAULT_POLL_SECONDS);
    return { config: { ...config, watch: config.watch ?? byDefault.watch, pollIntervalMs: config.pollIntervalMs ?? byDefault.pollIntervalMs }, read };
  }
  if (flags.model_config_file_poll_wait_seconds) throw new UsageError('--model_config_file_poll_wait_seconds is set without --model_config_file: it says how often to read that file again');
  if (flags.model_base_path === undefined) {
    throw new UsageError('give --model_base_path (and --model_name, default "default") for one model, or --model_config_file for several');
  }
  const model: ManagedModelConfig = { name: flags.model_name ?? 'default', basePath: flags.model_base_path };
  if (flags.gpu_memory_fraction !== undefined) model.gpuMemoryFraction = flags.gpu_memory_fraction;
  if (flags.isolation !== undefined) model.isolation = flags.isolation;
  return { config: { models: [model], ...polling(seconds ?? DEFAULT_POLL_SECONDS) } };
}

/**
 * --model_config_file_poll_wait_seconds (TensorFlow Serving's flag): reads the config file every
 * `seconds` and, when what it says changed since it was last served, serves the models it lists
 * as gRPC's HandleReloadConfigRequest does (ModelManager.reconfigure: a model left out is
 * unloaded, a new one loaded, labels moved). A file that cannot be read or is refused is logged
 * (once until it changes) and tried again at the next poll; the models of before serve on.
 * Only the models are taken: a JSON config's manager-level settings stay as read at start.
 * Returns a function that stops polling (and waits for a reload under way).
 */
function pollModelConfig(file: string, seconds: number, manager: ModelManager, defaults: ModelDefaults, served: string): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass = Promise.resolve();
  let logged = '';
  // What the file said when last tried (a reload that failed is tried again at each poll, quietly).
  let tried = served;
  // The models as a reload whose labels wait left them (null when none waits): another reload
  // (gRPC's HandleReloadConfigRequest) changes them, and then stays until the file changes.
  let waiting: string | null = null;
  const configured = () => JSON.stringify(manager.names.map((name) => [name, manager.modelConfig(name), [...manager.labels(name)]]));
  // The models as the file last left them: a reload through gRPC since then changed them.
  let servedModels = configured();
  const failed = (message: string, after: string) => {
    if (stopped || message === logged) return;
    logged = message;
    log(`--model_config_file ${file}: ${message}; ${after}`);
  };
  const poll = async () => {
    let config: ModelManagerConfig;
    try {
      config = await readConfigFile(file);
    } catch (error) {
      return failed((error as Error).message, `still serving the models of before (read again in ${seconds} s)`);
    }
    const read = JSON.stringify(config);
    if (read === served) {
      // helper-86: said "its models serve on" when a gRPC reload had changed them meanwhile.
      const since = configured() === servedModels ? 'its models serve on' : 'the models a reload through gRPC set since it was served serve on until the file changes';
      if (logged !== '') log(`--model_config_file ${file} can be read again, unchanged: ${since}`);
      logged = '';
      return;
    }
    if (read === tried && waiting !== null && configured() !== waiting) {
      // helper-71: the next try applied the file again, and brought back the models the gRPC reload had let go.
      log(`--model_config_file ${file}: a reload through gRPC changed the models while its labels waited; the file is served again when it changes`);
      served = read;
      servedModels = '';
      waiting = null;
      logged = '';
      return;
    }
    if (read !== tried) log(`--model_config_file ${file} changed: serving the models it lists`);
    tried = read;
    try {
      await manager.reconfigure(modelsWithDefaults(config, defaults));
      if (waiting !== null) log(`--model_config_file ${file}: its labels apply now`);
      served = read;
      servedModels = configured();
      waiting = null;
      logged = '';
    } catch (error) {
      // A label on a version not AVAILABLE (FAILED_PRECONDITION) fails the reload once the
      // models' other changes are made (its message says so); anything else before any change.
      const labels = (error as { code?: unknown }).code === 'FAILED_PRECONDITION';
      waiting = labels ? configured() : null;
      failed((error as Error).message, labels ? `tried again every ${seconds} s until it applies, or a reload through gRPC changes the models` : `still serving the models of before (read again in ${seconds} s)`);
    }
  };
  const next = () => {
    // (Held within what a timer takes: past 24.8 days Node fires at once.)
    if (!stopped) timer = timerFor(() => { pass = poll().finally(next); }, seconds * 1000);
  };
  next();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await pass;
  };
}

// --monitoring_config_file: the path TensorFlow Serving's MonitoringConfig gives the metrics, if another.
async function metricsPathOf(flags: ServeFlags): Promise<string | undefined> {
  const file = flags.monitoring_config_file;
  if (file === undefined) return undefined;
  const config = await readTextConfig('monitoring_config_file', file, (text) => {
    const parsed = parseMonitoringConfig(text);
    checkMetricsPath('prometheus_config.path', parsed.path);
    return parsed;
  });
  if (!config.enable) log(`--monitoring_config_file ${file}: prometheus_config is not enabled; the metrics are served anyway, at /monitoring/prometheus/metrics and /metrics`);
  return config.path;
}

// --ssl_config_file: TensorFlow Serving's SSLConfig, read before the servers start.
async function sslConfigOf(flags: ServeFlags): Promise<ReturnType<typeof parseSslConfig> | undefined> {
  const file = flags.ssl_config_file;
  if (file === undefined) return undefined;
  return readTextConfig('ssl_config_file', file, parseSslConfig);
}

// --auth_token_file [--auth_protect_health]: the tokens both protocols require.
async function authOf(flags: ServeFlags): Promise<AuthOptions | undefined> {
  if (flags.auth_token_file === undefined) {
    if (flags.auth_protect_health) throw new UsageError('--auth_protect_health is set without --auth_token_file; add --auth_token_file');
    return undefined;
  }
  try {
    return { tokens: await readTokenFile(flags.auth_token_file), openHealth: !flags.auth_protect_health };
  } catch (error) {
    throw new UsageError(`--auth_token_file: ${(error as Error).message}`, false);
  }
}

// One line of the log on stderr; a multi-line message's lines after the first are indented.
function log(message: string): void {
  // Control characters other than line feeds (which continue the line, indented) are written as
  // escapes: a name a client gave (a gRPC reload's model) cannot forge or overwrite a line.
  const text = message.replace(/[\x00-\x09\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  process.stderr.write(`tfslice serve: ${text.replace(/\n/g, '\n    ')}\n`);
}

/**
 * A signal within this long of the first is that one delivered twice, not a second (ms): GNU
 * `timeout` signals the server and its process group, and a terminal's Ctrl-C reaches both npm
 * (or npx) and the server, and npm passes it on.
 */
const SIGNAL_REPEAT_MS = 1000;

// A second signal, while starting or draining: exit at once with 128 + its number (130 for
// SIGINT, 143 for SIGTERM: what a shell reports for a process that signal ended), unless it is
// the first one again (SIGNAL_REPEAT_MS after `firstMs`).
function exitNow(signal: NodeJS.Signals, firstMs: number): void {
  if (performance.now() - firstMs < SIGNAL_REPEAT_MS) {
    log(`${signal} again within ${SIGNAL_REPEAT_MS} ms: taken as the same signal (send it later to exit now)`);
    return;
  }
  log(`${signal} again: exiting now`);
  process.exit(128 + os.constants.signals[signal]);
}

/** Runs the server until a signal stops it; resolves to the exit code. */
export async function serve(flags: ServeFlags): Promise<number> {
  const given = (name: string) => (flags as unknown as Record<string, unknown>)[name] !== undefined;
  if (given('version')) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const valueOf = (name: string) => (flags as unknown as Record<string, unknown>)[name];
  const atDefault = (name: string) => TFS_ONLY_DEFAULTS[name]?.(valueOf(name)) === true;
  const tfsOnly = Object.keys(TFS_ONLY_FLAGS).find((name) => given(name) && !atDefault(name));
  if (tfsOnly !== undefined) throw new UsageError(`--${tfsOnly} is tensorflow_model_server's; tfslice serve has no such flag: ${TFS_ONLY_FLAGS[tfsOnly]}`);
  for (const name of Object.keys(TFS_ONLY_FLAGS).filter((n) => given(n) && atDefault(n))) {
    log(`--${name}=${String(valueOf(name))} (tensorflow_model_server's, at its default) ignored: it changes nothing there either`);
  }
  for (const name of Object.keys(IGNORED_TFS_FLAGS).filter(given)) log(`--${name} (tensorflow_model_server's) ignored: ${IGNORED_TFS_FLAGS[name]}`);
  // Found before the models load, not as a bind error after (TensorFlow Serving refuses it too).
  if (flags.port === flags.rest_api_port && flags.port !== 0) throw new UsageError(`--port and --rest_api_port are both ${flags.port}: gRPC and REST need ports of their own`);
  // A bad request that fails inside TensorFlow is answered with TensorFlow's message; its
  // warning line in the log as well would be one per bad request. Errors stay (the user's
  // TF_CPP_MIN_LOG_LEVEL, or TFSLICE_TF_LOGS=1, decides otherwise).
  if (process.env.TFSLICE_TF_LOGS !== '1' && !process.env.TF_CPP_MIN_LOG_LEVEL) process.env.TF_CPP_MIN_LOG_LEVEL = '2';
  // A signal before the server listens (reading the config, loading the models, binding): the
  // models stop loading, nothing listens, exit 0; a second signal exits at once (128 + its number). Swapped
  // for the draining handlers below with no moment between them.
  let manager: ModelManager | undefined;
  let interrupted = false;
  let firstSignalMs = 0;
  // Reading the flags' files: nothing is loaded, bound or running yet, so a signal exits at once
  // (a --model_config_file that is a FIFO no writer has opened would otherwise hold the start,
  // and the first signal with it, until one came).
  let reading = true;
  const early = (signal: NodeJS.Signals) => {
    if (interrupted) return exitNow(signal, firstSignalMs);
    interrupted = true;
    firstSignalMs = performance.now();
    if (reading) {
      log(`${signal} while reading the configuration: stopped`);
      process.exit(0);
    }
    log(`${signal} while starting: stopping (${signal} again to exit now)`);
    // No request is served yet: what is left is loads (their warm-ups stop at once, ModelManager.stop),
    // and they get the grace period too (helper-111: a long load held the exit to its end).
    setTimeout(() => {
      log(`models still loading after ${flags.shutdown_grace_period_seconds} s: exiting`);
      process.exit(1);
    }, flags.shutdown_grace_period_seconds * 1000).unref();
    void manager?.stop();
  };
  process.on('SIGTERM', early);
  process.on('SIGINT', early);
  const stopEarly = async (close: () => Promise<unknown> = async () => {}) => {
    await close();
    await manager?.stop();
    process.off('SIGTERM', early);
    process.off('SIGINT', early);
    log('stopped');
    return 0;
  };
  let defaults: ModelDefaults;
  let read: string | undefined;
  try {
    const given = await managerConfig(flags);
    defaults = given.defaults;
    read = given.read;
    manager = new ModelManager(given.config);
  } catch (error) {
    // A config whose contents are wrong (its own message names the file and the field).
    if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) throw new UsageError(error.message, !flags.model_config_file);
    throw error;
  }
  const auth = await authOf(flags);
  const metricsPath = await metricsPathOf(flags);
  const ssl = await sslConfigOf(flags);
  const [{ bindGrpc, closeGrpc, createGrpcServer, sslServerCredentials }, { ServerMetrics }, { CLOSE_LINGER_MS, closeServer, createServer }] = await servers();
  let credentials: ReturnType<typeof sslServerCredentials> | undefined;
  try {
    credentials = ssl && sslServerCredentials(ssl);
  } catch (error) {
    throw new UsageError(`--ssl_config_file ${flags.ssl_config_file}: ${(error as Error).message}`, false);
  }
  reading = false;
  let draining = false;
  // One registry for both protocols: /metrics counts REST and gRPC calls alike.
  const metrics = new ServerMetrics(manager);
  const app = await createServer({
    manager,
    metrics,
    metricsPath,
    signatureMethodNameCheck: flags.enable_signature_method_name_check ?? false,
    timeoutMs: flags.rest_api_timeout_in_ms,
    bodyLimit: flags.rest_api_max_body_bytes,
    offloadBytes: flags.offload_bytes,
    codecThreads: flags.codec_threads,
    draining: () => draining,
    strictReadiness: flags.strict_readiness,
    auth,
    requestTimeoutMs: flags.rest_api_read_timeout_ms,
    keepAliveTimeoutMs: flags.rest_api_keep_alive_timeout_ms,
    headersTimeoutMs: flags.rest_api_header_timeout_ms,
    maxHeaderBytes: flags.rest_api_max_header_bytes,
    maxConnections: flags.rest_api_max_connections,
    corsSupport: flags.rest_api_enable_cors_support ?? false,
  });
  const status = await manager.start().catch((error: unknown) => {
    if (interrupted) return null;
    throw error;
  });
  if (interrupted || status === null) return stopEarly(() => app.close());
  if (status.length === 0) log('no model configured yet (model_config_list {}): models come with a reload, gRPC\'s HandleReloadConfigRequest or a --model_config_file_poll_wait_seconds read');
  for (const model of status) {
    const serving = model.versions.filter((v) => v.state === 'AVAILABLE').map((v) => v.version);
    const failed = model.versions.filter((v) => v.error);
    const line = serving.length ? `serving version${serving.length > 1 ? 's' : ''} ${serving.join(', ')}` : 'no version serving';
    log(`model '${model.name}' (${model.basePath}): ${line}${model.error ? `; ${model.error.message}` : ''}`);
    for (const v of failed) log(`  version ${v.version} failed: ${v.error!.message}`);
    // Taken, as TensorFlow Serving takes it, whose REST paths cannot name it either (helper-86).
    if (model.name.includes('/')) log(`  the name has a '/': REST paths cannot name this model (/v1/models/<name> ends at a '/'); gRPC can`);
    // TensorFlow Serving would not start (server_core.cc's UpdateModelVersionLabelMap); here
    // the models that load serve, as with a version that failed, and the label is named.
    for (const [label, version] of manager.labels(model.name)) {
      if (!serving.includes(version)) log(`  label '${label}' names version ${version}, which is not AVAILABLE: requests for the label fail until it is`);
    }
  }
  // From here on, what changes (watch mode, reloads, a host that died) is logged as it happens,
  // as TensorFlow Serving logs each servable's loads and unloads.
  manager.on('state', (e) => {
    if (e.state === 'AVAILABLE' || e.state === 'END') log(`model '${e.name}' version ${e.version}: ${e.state}${e.error ? `: ${e.error.message}` : e.reason ? `: ${e.reason}` : ''}`);
  });
  manager.on('failure', (e) => {
    // The manager's own message names the model already.
    if (e.version === null) log(e.error.message.startsWith(`model '${e.name}'`) ? e.error.message : `model '${e.name}': ${e.error.message}`);
  });
  let address: string;
  const grpcServer = createGrpcServer({
    manager, metrics, tensorContent: flags.enable_serialization_as_tensor_content ?? false, timeoutMs: flags.rest_api_timeout_in_ms, draining: () => draining,
    strictReadiness: flags.strict_readiness, auth,
    maxMessageBytes: Math.min(flags.grpc_max_message_bytes, 2 ** 31 - 1),
    offloadBytes: flags.offload_bytes,
    codecThreads: flags.codec_threads,
    // A model a reload adds gets --enable_batching's batching and --op_policy, as the others.
    modelDefaults: defaults,
    channelOptions: flags.grpc_channel_arguments,
    readTimeoutMs: flags.grpc_read_timeout_ms,
    maxConnections: flags.grpc_max_connections,
    signatureMethodNameCheck: flags.enable_signature_method_name_check ?? false,
    // Said as a config file's change is (helper-91: a reload through gRPC left no line).
    onReload: ({ before, after, error, code }) => {
      const names = (list: readonly string[]) => (list.length === 0 ? 'none' : list.map((n) => `'${n}'`).join(', '));
      const removed = before.filter((n) => !after.includes(n));
      const added = after.filter((n) => !before.includes(n));
      const change = [added.length > 0 ? `added ${names(added)}` : '', removed.length > 0 ? `removed ${names(removed)}` : ''].filter(Boolean).join(', ');
      const serving = `serving ${names(after)}${change === '' ? '' : ` (${change})`}`;
      log(error === null ? `gRPC HandleReloadConfigRequest: ${serving}` : `gRPC HandleReloadConfigRequest answered ${code}: ${error.message}${before.join() === after.join() ? '' : `; ${serving}`}`);
    },
  });
  let grpcPort: number;
  try {
    grpcPort = await bindGrpc(grpcServer, flags.rest_api_host, flags.port, credentials);
  } catch (error) {
    await manager.stop();
    throw new UsageError(`cannot listen on ${flags.rest_api_host}:${flags.port} for gRPC (--port): ${(error as Error).message}`, false);
  }
  try {
    address = await app.listen({ host: flags.rest_api_host, port: flags.rest_api_port });
  } catch (error) {
    await closeGrpc(grpcServer, { force: true });
    await manager.stop();
    throw new UsageError(`cannot listen on ${flags.rest_api_host}:${flags.rest_api_port} for REST (--rest_api_port): ${(error as Error).message}`, false);
  }
  if (interrupted) return stopEarly(() => Promise.all([app.close(), closeGrpc(grpcServer)]));
  const grpcAddress = `${flags.rest_api_host.includes(':') ? `[${flags.rest_api_host}]` : flags.rest_api_host}:${grpcPort}`;
  const tls = !ssl ? '' : ssl.clientVerify ? ' over TLS, client certificates required' : ' over TLS';
  process.stdout.write(`tfslice serve: gRPC at ${grpcAddress}${tls} (tensorflow.serving.PredictionService, tensorflow.serving.ModelService, inference.GRPCInferenceService, grpc.health.v1.Health)\n`);
  process.stdout.write(`tfslice serve: REST API at ${address} (TensorFlow Serving: ${address}/v1/models/<name>, KServe v2: ${address}/v2, metrics: ${address}/metrics)\n`);
  const seconds = flags.model_config_file_poll_wait_seconds ?? 0;
  const stopPolling = flags.model_config_file !== undefined && read !== undefined && seconds > 0
    ? pollModelConfig(flags.model_config_file, seconds, manager, defaults, read)
    : async () => {};

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return exitNow(signal, firstSignalMs);
      stopping = true;
      firstSignalMs = performance.now();
      draining = true;
      log(`${signal}: draining (requests in flight finish; ${signal} again to exit now)`);
      // What the grace period ran out on: requests, or then the models' unloading (a load under
      // way finishing first; a warm-up is stopped at once).
      let waitingFor = 'requests still in flight';
      const force = setTimeout(() => {
        log(`${waitingFor} after ${flags.shutdown_grace_period_seconds} s: exiting`);
        process.exit(1);
      }, flags.shutdown_grace_period_seconds * 1000);
      force.unref();
      void (async () => {
        // Kept-alive REST connections get a moment to be told (503, Connection: close) instead
        // of closed under a request just sent (helper-91: 1-3 resets at each SIGTERM under load).
        const lingerMs = Math.min(CLOSE_LINGER_MS, flags.shutdown_grace_period_seconds * 1000);
        await Promise.all([closeServer(app, { lingerMs }), closeGrpc(grpcServer), stopPolling()]);
        waitingFor = 'models still loading or unloading';
        // Every request has been answered: a run still executing is one whose request timed out
        // (504, DEADLINE_EXCEEDED), which nobody waits for. It is stopped, not waited for
        // (the grace period is for requests; helper-60: such a run held the drain to its end).
        await manager.stop({ killAfterMs: 0 });
        clearTimeout(force);
        log('stopped');
        resolve(0);
      })();
    };
    process.off('SIGTERM', early);
    process.off('SIGINT', early);
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
