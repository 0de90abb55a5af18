/**
 * How the REST server reports errors: TensorFlow Serving's HTTP status for each code, and an
 * error's code and message as a client sees them. Apart from server.ts so that the codec threads
 * (codec-worker.ts), which do not load fastify, report errors as the event loop does.
 */
import { NotFoundError, ServableNotFoundError } from '../errors';
import { unrecognizedLabel } from '../manager/state';
import { JsonSyntaxError } from './json';
import type { ServingApi } from './metrics';

/** HTTP status by TensorFlow status code, as TensorFlow Serving maps them (http_server.cc ToHTTPStatusCode); tfslice's codes beside. */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  OK: 200, CANCELLED: 499, UNKNOWN: 500, INVALID_ARGUMENT: 400, DEADLINE_EXCEEDED: 504, NOT_FOUND: 404, ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429, FAILED_PRECONDITION: 400, ABORTED: 409, OUT_OF_RANGE: 400, UNIMPLEMENTED: 501,
  INTERNAL: 500, UNAVAILABLE: 503, DATA_LOSS: 500, UNAUTHENTICATED: 401,
  // A model whose host died, or that was unloaded under the request, or whose GPU budget
  // cannot be had now: the service is there, this model is not (retry, or after a reload).
  MODEL_CRASHED: 503, MODEL_DISPOSED: 503, GPU_BUDGET_EXCEEDED: 503, GPU_CONFIG_CONFLICT: 503,
  LIBRARY_NOT_FOUND: 500, LIBRARY_INCOMPATIBLE: 500,
};

// TensorFlow's status codes by number (gRPC's numbers are TensorFlow's).
const CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;

/** @internal TensorFlow's status code number by name (gRPC's numbers); tfslice's own codes as the REST API maps them. */
export function statusCode(code: string): number {
  const at = (CODES as readonly string[]).indexOf(code);
  if (at >= 0) return at;
  return HTTP_STATUS[code] === 503 ? CODES.indexOf('UNAVAILABLE') : CODES.indexOf('INTERNAL');
}

/** @internal The name of TensorFlow's (gRPC's) status code `code`; UNKNOWN for a number that is none. */
export function codeName(code: number): string {
  return CODES[code] ?? 'UNKNOWN';
}

/** @internal The TensorFlow code an answer with `code` carries: TensorFlow's as it is, tfslice's own as statusCode() maps it (MODEL_CRASHED: UNAVAILABLE). */
export function tensorFlowCode(code: string): string {
  return CODES[statusCode(code)]!;
}

/** @internal The HTTP status for an error code (500 for anything unknown); server.ts exports it as httpStatus. */
export function statusOf(code: string): number {
  return HTTP_STATUS[code] ?? 500;
}

// The TensorFlow code that says what an HTTP error means, for the status label of
// tfslice_requests_total (the answer keeps its HTTP status).
const HTTP_ERROR_CODE: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 405: 'UNIMPLEMENTED',
  408: 'DEADLINE_EXCEEDED', 411: 'INVALID_ARGUMENT', 413: 'RESOURCE_EXHAUSTED', 414: 'RESOURCE_EXHAUSTED', 415: 'UNIMPLEMENTED',
  431: 'RESOURCE_EXHAUSTED',
};

/**
 * @internal The status label of an answer with `code` (describeError's): TensorFlow's code or
 * tfslice's own; an HTTP error (HTTP_413, ...) as the TensorFlow code that means it (413, 431:
 * RESOURCE_EXHAUSTED, as gRPC answers a message past its limit; 408: DEADLINE_EXCEEDED; 415:
 * UNIMPLEMENTED; other 4xx: INVALID_ARGUMENT).
 */
export function statusLabel(code: string): string {
  if (!code.startsWith('HTTP_')) return code;
  return HTTP_ERROR_CODE[Number(code.slice(5))] ?? 'INVALID_ARGUMENT';
}

/**
 * @internal A version's error code as both APIs report it in its status: TensorFlow's codes and
 * tfslice's own as they are; a library's argument check (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE:
 * a bad warm-up request, say) INVALID_ARGUMENT; any other (a file system's EISDIR, ...) UNKNOWN,
 * TensorFlow's code for an error from elsewhere.
 */
export function versionErrorCode(code: string): string {
  if (code in HTTP_STATUS) return code;
  return code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_OUT_OF_RANGE' ? 'INVALID_ARGUMENT' : 'UNKNOWN';
}

/**
 * @internal An error as the server reports it: a code, and a message without a stack (INTERNAL for what is
 * not the client's; HTTP_4xx for an HTTP error fastify raised). The codec threads report theirs
 * the same way.
 */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof JsonSyntaxError) return { code: 'INVALID_ARGUMENT', message: `JSON Parse error: ${error.message}` };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code in HTTP_STATUS) return { code, message: error.message };
    // A TypeError/RangeError from the library's checks names the bad field: the client's.
    if (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_OUT_OF_RANGE') return { code: 'INVALID_ARGUMENT', message: error.message };
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) return { code: `HTTP_${status}`, message: error.message };
  }
  return { code: 'INTERNAL', message: 'internal error (see the server log)' };
}

/**
 * @internal An error as `api` reports it. For an API of TensorFlow Serving's (REST /v1, gRPC
 * tensorflow.serving.*), a ModelManager's NOT_FOUND for a model or version it does not have is put
 * in TensorFlow Serving's words (its ServingMap: "Servable not found for request: Latest(name)",
 * or "Specific(name, version)"), which clients match on: health checks that post to a model that
 * does not exist, for one. KServe v2 (REST and gRPC) keeps tfslice's wording; any other error is
 * as it is.
 */
export function servingError(api: ServingApi, error: unknown): unknown {
  if (!(error instanceof ServableNotFoundError) || api.startsWith('v2_') || api.startsWith('grpc_v2_')) return error;
  // A label of a model it does not know: TensorFlow Serving resolves the label first
  // (ServerCore::GetModelVersionForLabel), and answers as the status API does for it.
  if (error.label !== undefined) return unrecognizedLabel(error.label);
  const request = error.version === undefined ? `Latest(${error.model})` : `Specific(${error.model}, ${error.version})`;
  return new NotFoundError(`Servable not found for request: ${request}`);
}
