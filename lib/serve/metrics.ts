/**
 * The server's metrics, in Prometheus' text format through prom-client: one registry per
 * server, each metric declared once. Names follow Prometheus' conventions (tfslice_ prefix,
 * _total for counters, _seconds for durations); labels have bounded values (model, version,
 * API, status code; never a request). TensorFlow Serving's three request metrics come too, under
 * its names and labels (:tensorflow:serving:request_count, ...), and Node's process metrics.
 */
import { collectDefaultMetrics, Counter, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';

import { gpuLedger } from '../gpu';
import type { ModelManager, ModelStatus } from '../manager';
import type { Model } from '../model';
import { tensorFlowCode } from './status';

/** The APIs a request is counted under. */
export type ServingApi = 'predict' | 'classify' | 'regress' | 'status' | 'metadata' | 'v2_infer' | 'v2_metadata' | 'v2_ready'
  // The same over gRPC (lib/serve/grpc.ts), and gRPC's health checks.
  | 'grpc_predict' | 'grpc_classify' | 'grpc_regress' | 'grpc_multi_inference' | 'grpc_status' | 'grpc_metadata' | 'grpc_reload' | 'grpc_v2_infer' | 'grpc_v2_metadata' | 'grpc_v2_ready' | 'grpc_health';

// Batch sizes in rows: powers of two up to TensorFlow Serving's default maxBatchSize.
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

// From 100 µs (a tiny model in-process) to 60 s (a request past its timeout).
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * How TensorFlow Serving names a request of each API in its own metrics (`API` and `entrypoint`
 * labels: http_server.cc, prediction_service_impl.cc; REST's API is the path's method, none for
 * a status or metadata GET) and in its runtime_latency (`run`: predict_util.cc, classifier.cc,
 * regressor.cc). The APIs TensorFlow Serving does not count there (KServe v2, health, gRPC
 * status and metadata) are not in its series here either.
 */
const TFS_NAMES: Partial<Record<ServingApi, { api: string; entrypoint: 'REST' | 'GRPC'; run?: string }>> = {
  predict: { api: 'predict', entrypoint: 'REST', run: 'Predict' },
  classify: { api: 'classify', entrypoint: 'REST', run: 'Classify' },
  regress: { api: 'regress', entrypoint: 'REST', run: 'Regress' },
  status: { api: '', entrypoint: 'REST' },
  metadata: { api: '', entrypoint: 'REST' },
  grpc_predict: { api: 'Predict', entrypoint: 'GRPC', run: 'Predict' },
  grpc_classify: { api: 'Classify', entrypoint: 'GRPC', run: 'Classify' },
  grpc_regress: { api: 'Regress', entrypoint: 'GRPC', run: 'Regress' },
  // (not MultiInference nor GetModelMetadata: prediction_service_impl.cc counts neither)
};

// TensorFlow Serving's latency buckets, in µs: Buckets::Exponential(10, 1.8, 33), 10 µs to ~20 minutes.
const TFS_LATENCY_BUCKETS = exponentialBuckets(10, 1.8, 33);

/**
 * @internal A bucket bound as TensorFlow Serving's Prometheus exporter writes it
 * (prometheus_exporter.cc: absl::StrCat of the double, six significant digits as C's %g):
 * 188.9568 is "188.957", 1274823.6 "1.27482e+06". prom-client writes the bound whole
 * ("188.95680000000002"), and a `le` label is a string to PromQL before Prometheus 3: the
 * series of a tfslice replica and a tensorflow_model_server one would not sum by `le`.
 */
export function sixDigits(x: number): string {
  const [mantissa, exponent] = x.toPrecision(6).split('e') as [string, string | undefined];
  const trimmed = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
  if (exponent === undefined) return trimmed;
  const e = Number(exponent);
  return `${trimmed}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

type Exported = { values: { labels: Record<string, string | number> }[] };
// prom-client's registry reads a histogram through getForPromString() (get() through it too),
// which it does not declare.
const exportOf = (Histogram.prototype as unknown as { getForPromString(): Promise<Exported> }).getForPromString;

/** A histogram whose bucket bounds are written as TensorFlow Serving writes them (sixDigits). */
class TfsHistogram<T extends string> extends Histogram<T> {
  async getForPromString(): Promise<Exported> {
    const data = await exportOf.call(this);
    for (const value of data.values) {
      const { le } = value.labels;
      if (typeof le === 'number') value.labels = { ...value.labels, le: sixDigits(le) };
    }
    return data;
  }
}

/**
 * The `model` label of a request naming `name`: the name when the manager serves such a model,
 * else "". Any client may name anything; only configured models get series of their own.
 */
export function modelLabel(manager: ModelManager, name: string): string {
  return manager.has(name) ? name : '';
}

/**
 * A server's Prometheus metrics (prom-client), registered in one registry: the counters and
 * histograms the server updates per request, and gauges read from the manager and the GPU
 * ledger at each scrape. createServer() makes one unless given its own; README's "Model server"
 * section (Metrics) lists every series.
 */
export class ServerMetrics {
  /** The registry every metric is in: serve `await registry.metrics()` (content type `registry.contentType`). */
  readonly registry: Registry;
  /** tfslice_requests_total: requests by model, version, API and status code (OK, INVALID_ARGUMENT, ..., or tfslice's MODEL_CRASHED, ...). */
  readonly requests: Counter<'model' | 'version' | 'api' | 'status'>;
  /** tfslice_request_duration_seconds: from a request received to its response written, in seconds. */
  readonly requestSeconds: Histogram<'model' | 'api'>;
  /** tfslice_run_duration_seconds: a successful request's run in its model (queue included), in seconds. */
  readonly runSeconds: Histogram<'model' | 'version'>;
  /** tfslice_host_crashes_total: isolated versions whose host process died. */
  readonly hostCrashes: Counter<'model'>;
  /** tfslice_batch_size: rows per batch run, padding included (dynamic batching). */
  readonly batchSize: Histogram<'model' | 'version' | 'signature'>;
  /** tfslice_batch_queue_delay_seconds: how long each request waited for its batch to start, in seconds. */
  readonly batchQueueSeconds: Histogram<'model' | 'version' | 'signature'>;
  /** tfslice_batch_padding_rows_total: rows added to reach an allowed batch size. */
  readonly batchPaddingRows: Counter<'model' | 'version' | 'signature'>;
  /** tfslice_batches_retried_total: batches that failed in TensorFlow and were run again in halves. */
  readonly batchesRetried: Counter<'model' | 'version' | 'signature'>;
  /** HTTP the server could not parse as a request (answered on the socket), by status. */
  readonly unparsedRequests: Counter<'status'>;
  /**
   * TensorFlow Serving's own request metrics, under its names, so that dashboards and alerts
   * written for tensorflow_model_server keep working (helper-122): `:tensorflow:serving:request_count`
   * {model_name, status}, `:tensorflow:serving:request_latency` {model_name, API, entrypoint} and
   * `:tensorflow:serving:runtime_latency` {model_name, API, runtime}, in µs with its buckets.
   */
  readonly #tfs: {
    requests: Counter<'model_name' | 'status'>;
    requestMicros: Histogram<'model_name' | 'API' | 'entrypoint'>;
    runMicros: Histogram<'model_name' | 'API' | 'runtime'>;
  };

  /**
   * @param manager whose models' states, runs in flight and queues are read at each scrape
   * @param registry where to register (default: a new one; pass prom-client's global
   *   `register` to serve them beside your own metrics). Node's default metrics are collected
   *   into it unless it has them already. One ServerMetrics per registry (a second one's
   *   metrics are already registered: prom-client throws).
   */
  constructor(manager: ModelManager, registry = new Registry()) {
    this.registry = registry;
    // Once per registry: an application that collects them already on the one it passes
    // (prom-client's global register, say) keeps its own (collecting twice throws).
    if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) collectDefaultMetrics({ register: registry });
    this.requests = new Counter({
      name: 'tfslice_requests_total',
      help: 'Requests served, by model, version, API and status (a TensorFlow status code: OK, INVALID_ARGUMENT, ...; or tfslice\'s own: MODEL_CRASHED, ...)',
      labelNames: ['model', 'version', 'api', 'status'],
      registers: [registry],
    });
    this.requestSeconds = new Histogram({
      name: 'tfslice_request_duration_seconds',
      help: 'Time from a request received to its response written, in seconds',
      labelNames: ['model', 'api'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.runSeconds = new Histogram({
      name: 'tfslice_run_duration_seconds',
      help: "Time a request's run took in the model (TensorFlow, and its queue), in seconds; requests that failed are not in it",
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.hostCrashes = new Counter({
      name: 'tfslice_host_crashes_total',
      help: "Isolated versions whose host process died (MODEL_CRASHED)",
      labelNames: ['model'],
      registers: [registry],
    });
    this.batchSize = new Histogram({
      name: 'tfslice_batch_size',
      help: 'Rows per batch run, padding included (dynamic batching)',
      labelNames: ['model', 'version', 'signature'],
      buckets: BATCH_SIZE_BUCKETS,
      registers: [registry],
    });
    this.batchQueueSeconds = new Histogram({
      name: 'tfslice_batch_queue_delay_seconds',
      help: 'Time a request waited for its batch to start, in seconds (dynamic batching)',
      labelNames: ['model', 'version', 'signature'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.batchPaddingRows = new Counter({
      name: 'tfslice_batch_padding_rows_total',
      help: 'Rows added to batches to reach an allowed batch size',
      labelNames: ['model', 'version', 'signature'],
      registers: [registry],
    });
    this.batchesRetried = new Counter({
      name: 'tfslice_batches_retried_total',
      help: 'Batches that failed in TensorFlow and whose requests were run again in halves',
      labelNames: ['model', 'version', 'signature'],
      registers: [registry],
    });
    this.unparsedRequests = new Counter({
      name: 'tfslice_http_unparsed_requests_total',
      help: 'HTTP that could not be parsed as a request, answered on the socket: INVALID_ARGUMENT (400, invalid HTTP), ' +
        'RESOURCE_EXHAUSTED (431, headers too large), DEADLINE_EXCEEDED (408, headers not complete in time)',
      labelNames: ['status'],
      registers: [registry],
    });
    this.#tfs = {
      requests: new Counter({
        name: ':tensorflow:serving:request_count',
        help: "The total number of requests (TensorFlow Serving's metric: REST's /v1 API and gRPC's Predict, Classify and Regress, by TensorFlow status code)",
        labelNames: ['model_name', 'status'],
        registers: [registry],
      }),
      requestMicros: new TfsHistogram({
        name: ':tensorflow:serving:request_latency',
        help: "Distribution of wall time (in microseconds) for Tensorflow Serving request (TensorFlow Serving's metric: requests answered OK)",
        labelNames: ['model_name', 'API', 'entrypoint'],
        buckets: TFS_LATENCY_BUCKETS,
        registers: [registry],
      }),
      runMicros: new TfsHistogram({
        name: ':tensorflow:serving:runtime_latency',
        help: "Distribution of wall time (in microseconds) for Tensorflow runtime (TensorFlow Serving's metric: a successful request's run, its queue included)",
        labelNames: ['model_name', 'API', 'runtime'],
        buckets: TFS_LATENCY_BUCKETS,
        registers: [registry],
      }),
    };
    manager.on('batch', (event) => {
      const labels = { model: event.name, version: String(event.version), signature: event.signature };
      this.batchSize.observe(labels, event.size);
      for (const delay of event.queueDelaysSeconds) this.batchQueueSeconds.observe(labels, delay);
      if (event.paddingRows > 0) this.batchPaddingRows.inc(labels, event.paddingRows);
      if (event.retried) this.batchesRetried.inc(labels);
    });
    manager.on('failure', (event) => {
      if ((event.error as { code?: unknown }).code === 'MODEL_CRASHED') this.hostCrashes.inc({ model: event.name });
    });
    // Read at each scrape: what the manager and the ledger say now.
    const pruned = [this.requests, this.requestSeconds, this.runSeconds, this.hostCrashes, this.batchSize, this.batchQueueSeconds, this.batchPaddingRows, this.batchesRetried,
      this.#tfs.requests, this.#tfs.requestMicros, this.#tfs.runMicros] as PrunedMetric[];
    new Gauge({
      name: 'tfslice_model_version_state',
      help: "A state set: for each version the manager has (not END; a model's newest one when it has no other), 1 for its state and 0 for the others (TensorFlow Serving's ModelVersionStatus: START, LOADING, AVAILABLE, UNLOADING, END); a model with no version has version \"\" with every state 0",
      labelNames: ['model', 'version', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        const models = servedAndDraining(manager);
        for (const m of models) {
          const live = m.versions.filter((v) => v.state !== 'END');
          const shown = live.length > 0 ? live : m.versions.slice(-1); // (status() lists versions ascending: the newest)
          for (const v of shown) for (const state of VERSION_STATES) this.set({ model: m.name, version: String(v.version), state }, state === v.state ? 1 : 0);
          // A model with no version at all (its base path missing or empty, its policy's
          // versions not there) is in no state: version "" with every state 0, so that an alert
          // on AVAILABLE == 0 fires for it too (helper-124: it had no series).
          if (shown.length === 0) for (const state of VERSION_STATES) this.set({ model: m.name, version: '', state }, 0);
        }
        // The series of versions that ended and of models a reload removed go once the first
        // scrape that finds them gone has them (the metrics above are read before this gauge:
        // that scrape shows their last counts, the next none). Kept for ever, they grew ~67 a
        // removed model and several a version rollout (helper-91).
        await pruneGone(pruned, models);
      },
    });
    new Gauge({
      name: 'tfslice_runs_in_flight',
      help: 'Runs routed to a version and not finished, executing or queued',
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset();
        for (const m of servedAndDraining(manager)) for (const v of m.versions) if (v.state === 'AVAILABLE' || v.inflight > 0) this.set({ model: m.name, version: String(v.version) }, v.inflight);
      },
    });
    new Gauge({
      name: 'tfslice_batch_queued_requests',
      help: "Requests (or pieces of split ones) waiting in a signature's batch queue (--enable_batching); they are in tfslice_runs_in_flight, not in tfslice_runs_queued",
      labelNames: ['model', 'version', 'signature'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, model] of availableModels(manager)) {
          for (const [signature, q] of Object.entries(model.stats().batching)) this.set({ ...labels, signature }, q.queued);
        }
      },
    });
    new Gauge({
      name: 'tfslice_runs_queued',
      help: "Runs waiting to execute: for their turn (a model's maxConcurrentRuns), for a runner thread (every one busy), or in an isolated model's host (not yet taken by it); requests in a batch queue are in tfslice_batch_queued_requests",
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, model] of availableModels(manager)) this.set(labels, model.runsQueued);
      },
    });
    new Gauge({
      name: 'tfslice_gpu_memory_fraction',
      help: "The share of each GPU's memory held, by holder (an isolated model's path, or this process's TensorFlow), from the GPU ledger",
      labelNames: ['gpu', 'holder'],
      registers: [registry],
      collect() {
        this.reset();
        // Shares of one path summed (two configured models on one base path, one model loaded
        // twice): set() one after the other kept the last, and the series summed short of the
        // ledger (helper-127).
        for (const budget of gpuLedger()) {
          const byHolder = new Map<string, number>();
          for (const holder of budget.holders) byHolder.set(holder.model, (byHolder.get(holder.model) ?? 0) + holder.fraction);
          for (const [holder, fraction] of byHolder) this.set({ gpu: String(budget.device), holder }, fraction);
        }
      },
    });
  }

  /**
   * @internal Counts a request answered: tfslice_requests_total and its durations, and TensorFlow
   * Serving's series for the APIs it keeps them for (request_latency only for OK, as
   * tensorflow_model_server).
   * @param model the model label (modelLabel()); version null where none served; status the
   *   status label; seconds from the request received to its answer; runSeconds its successful
   *   run's, else null; tfServing false for a request TensorFlow Serving would not count (a path
   *   outside its REST API's /v1)
   */
  answered(api: ServingApi, model: string, version: number | null, status: string, seconds: number, runSeconds: number | null, tfServing = true): void {
    this.requests.inc({ model, version: version === null ? '' : String(version), api, status });
    this.requestSeconds.observe({ model, api }, seconds);
    if (runSeconds !== null && version !== null) this.runSeconds.observe({ model, version: String(version) }, runSeconds);
    const tfs = tfServing ? TFS_NAMES[api] : undefined;
    if (tfs === undefined) return;
    this.#tfs.requests.inc({ model_name: model, status: tensorFlowCode(status) });
    if (status === 'OK') this.#tfs.requestMicros.observe({ model_name: model, API: tfs.api, entrypoint: tfs.entrypoint }, seconds * 1e6);
    if (tfs.run !== undefined && runSeconds !== null && version !== null) this.#tfs.runMicros.observe({ model_name: model, API: tfs.run, runtime: 'TF1' }, runSeconds * 1e6);
  }

  /** The metrics in Prometheus' text format, and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

// Each AVAILABLE version's Model, with its metric labels; one that leaves AVAILABLE meanwhile is skipped.
function* availableModels(manager: ModelManager): Generator<[{ model: string; version: string }, Model]> {
  for (const m of manager.status()) {
    for (const v of m.versions) {
      if (v.state !== 'AVAILABLE') continue;
      let model: Model;
      try {
        model = manager.get(m.name, v.version);
      } catch {
        continue;
      }
      yield [{ model: m.name, version: String(v.version) }, model];
    }
  }
}

const VERSION_STATES = ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'] as const;

// A counter or histogram with a `model` label (and maybe `version`), as pruneGone sees it.
interface PrunedMetric {
  get(): Promise<{ values: { labels: Record<string, string | number | undefined> }[] }>;
  remove(labels: Record<string, string | number>): void;
}

// Removes the series of (model, version) pairs whose version is END or gone, and of models the
// manager no longer has. Series without a model (model="") and without a version (version="")
// of a served model stay.
async function pruneGone(metrics: readonly PrunedMetric[], models: readonly ModelStatus[]): Promise<void> {
  const served = new Set(['', ...models.map((m) => m.name)]);
  const live = new Set(models.flatMap((m) => m.versions.filter((v) => v.state !== 'END').map((v) => `${m.name}\0${v.version}`)));
  for (const metric of metrics) {
    const stale = new Map<string, Record<string, string | number>>();
    for (const { labels } of (await metric.get()).values) {
      const { le: _bucket, ...series } = labels;
      // (TensorFlow Serving's series name it model_name)
      const model = String(series.model ?? series.model_name ?? '');
      const version = series.version === undefined || series.version === '' ? null : String(series.version);
      if (served.has(model) && (version === null || live.has(`${model}\0${version}`))) continue;
      stale.set(JSON.stringify(series), series as Record<string, string | number>);
    }
    for (const series of stale.values()) metric.remove(series);
  }
}

// Every model's status, and those of models a reload removed while their versions still unload
// (runs in flight finishing, as the status API shows them), until they are END.
function servedAndDraining(manager: ModelManager): ModelStatus[] {
  return [...manager.status(), ...manager.drainingRemoved()];
}
