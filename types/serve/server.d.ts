import { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { ModelManager } from '../manager';
import { type AuthOptions } from './auth';
import { ServerMetrics } from './metrics';
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
export declare function httpStatus(code: string): number;
/**
 * Why the server is not ready (KServe's readiness, gRPC's health), or null when it is: the
 * server is not shutting down, and (`strict`, ServingOptions.strictReadiness) every configured
 * model has an AVAILABLE version.
 */
export declare function notReadyReason(manager: ModelManager, draining: () => boolean, strict?: boolean): string | null;
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
export declare const tfsliceServing: FastifyPluginAsync<ServingOptions>;
/** How long closeServer() keeps idle keep-alive connections open by default, in ms. */
export declare const CLOSE_LINGER_MS = 500;
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
export declare function closeServer(app: FastifyInstance, options?: {
    lingerMs?: number | undefined;
}): Promise<void>;
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
export declare function createServer(options: ServerOptions): Promise<FastifyInstance>;
