/**
 * tfslice/serve: the model server. TensorFlow Serving's REST API and KServe's v2 protocol over a
 * ModelManager, as a fastify plugin (tfsliceServing) or a ready server (createServer), and their
 * gRPC services (createGrpcServer); the `tfslice serve` command runs both. Imported apart from 'tfslice' so the library's types
 * need neither fastify's nor Node's.
 */
export { CLOSE_LINGER_MS, closeServer, createServer, httpStatus, type ServerOptions, type ServingOptions, tfsliceServing } from './server';
export { ServerMetrics, type ServingApi } from './metrics';
export { type AuthOptions, BearerAuth, readTokenFile } from './auth';
export { bindGrpc, closeGrpc, createGrpcServer, type GrpcServingOptions, PROTO_DIR, type SslConfig, sslServerCredentials } from './grpc';
export { MAX_WARMUP_RECORDS, runSavedModelWarmup, type SavedModelWarmupOptions, WARMUP_REQUESTS_FILE } from './warmup';
