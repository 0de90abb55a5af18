/**
 * The server's metrics, in Prometheus' text format through prom-client: one registry per
 * server, each metric declared once. Names follow Prometheus' conventions (tfslice_ prefix,
 * _total for counters, _seconds for durations); labels have bounded values (model, version,
 * API, status code; never a request). TensorFlow Serving's three request metrics come too, under
 * its names and labels (:tensorflow:serving:request_count, ...), and Node's process metrics.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { ModelManager } from '../manager';
/** The APIs a request is counted under. */
export type ServingApi = 'predict' | 'classify' | 'regress' | 'status' | 'metadata' | 'v2_infer' | 'v2_metadata' | 'v2_ready' | 'grpc_predict' | 'grpc_classify' | 'grpc_regress' | 'grpc_multi_inference' | 'grpc_status' | 'grpc_metadata' | 'grpc_reload' | 'grpc_v2_infer' | 'grpc_v2_metadata' | 'grpc_v2_ready' | 'grpc_health';
/**
 * The `model` label of a request naming `name`: the name when the manager serves such a model,
 * else "". Any client may name anything; only configured models get series of their own.
 */
export declare function modelLabel(manager: ModelManager, name: string): string;
/**
 * A server's Prometheus metrics (prom-client), registered in one registry: the counters and
 * histograms the server updates per request, and gauges read from the manager and the GPU
 * ledger at each scrape. createServer() makes one unless given its own; README's "Model server"
 * section (Metrics) lists every series.
 */
export declare class ServerMetrics {
    #private;
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
     * @param manager whose models' states, runs in flight and queues are read at each scrape
     * @param registry where to register (default: a new one; pass prom-client's global
     *   `register` to serve them beside your own metrics). Node's default metrics are collected
     *   into it unless it has them already. One ServerMetrics per registry (a second one's
     *   metrics are already registered: prom-client throws).
     */
    constructor(manager: ModelManager, registry?: Registry<"text/plain; version=0.0.4; charset=utf-8">);
    /** The metrics in Prometheus' text format, and its content type. */
    render(): Promise<{
        body: string;
        contentType: string;
    }>;
}
