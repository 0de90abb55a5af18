/**
 * The server's metrics, in Prometheus' text format through prom-client: one registry per
 * server, each metric declared once. Names follow Prometheus' conventions (tfslice_ prefix,
 * _total for counters, _seconds for durations); labels have bounded values (model, version,
 * API, status code; never a request). Node's own process metrics come with them.
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
export declare class ServerMetrics {
    readonly registry: Registry;
    readonly requests: Counter<'model' | 'version' | 'api' | 'status'>;
    readonly requestSeconds: Histogram<'model' | 'api'>;
    readonly runSeconds: Histogram<'model' | 'version'>;
    readonly hostCrashes: Counter<'model'>;
    readonly batchSize: Histogram<'model' | 'signature'>;
    readonly batchQueueSeconds: Histogram<'model' | 'signature'>;
    readonly batchPaddingRows: Counter<'model' | 'signature'>;
    readonly batchesRetried: Counter<'model' | 'signature'>;
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
