import * as grpc from '@grpc/grpc-js';
import type { ManagedModelConfig, ModelManager } from '../manager';
import { type AuthOptions } from './auth';
import { type ServerMetrics } from './metrics';
/** Where the .proto files are (shipped with the package). */
export declare const PROTO_DIR: string;
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
    onReload?: ((event: {
        before: readonly string[];
        after: readonly string[];
        error: Error | null;
        code: string | null;
    }) => void | Promise<void>) | undefined;
}
/**
 * A grpc-js Server with tfslice's services over `options.manager`, not yet bound. Messages may
 * be up to 2 GiB each way (grpc-js takes 4 MiB by default).
 */
export declare function createGrpcServer(options: GrpcServingOptions): grpc.Server;
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
/**
 * gRPC server credentials from TensorFlow Serving's SSLConfig, as tensorflow_model_server builds
 * them (BuildServerCredentialsFromSSLConfigFile): the key and certificate, and with clientVerify
 * a client certificate required and verified against customCa. For bindGrpc().
 * @throws TypeError (ERR_INVALID_ARG_VALUE) naming the field when a PEM text cannot be read,
 *   the key does not match the certificate, or clientVerify comes without customCa (where
 *   TensorFlow Serving would take any client certificate a public CA signed)
 */
export declare function sslServerCredentials(config: SslConfig): grpc.ServerCredentials;
/**
 * Binds `server` to host:port (0 picks a free port); resolves with the port. `credentials`:
 * sslServerCredentials() for TLS; default plain text (grpc-js's createInsecure()). The port
 * takes at most createGrpcServer()'s maxConnections at once and closes a connection not set up
 * within its handshakeTimeoutMs. Rejects with the listen error (EADDRINUSE, ...), and with
 * FAILED_PRECONDITION for a server closeGrpc() closed (as grpc-js's bindAsync after a shutdown).
 */
export declare function bindGrpc(server: grpc.Server, host: string, port: number, credentials?: grpc.ServerCredentials): Promise<number>;
/**
 * Stops taking calls (closing the ports bindGrpc() opened) and resolves once the calls in flight
 * have finished and the server's codec threads have stopped; `force`: ends the calls in flight
 * at once (grpc-js's forceShutdown).
 */
export declare function closeGrpc(server: grpc.Server, { force }?: {
    force?: boolean;
}): Promise<void>;
