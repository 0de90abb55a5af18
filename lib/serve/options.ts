/**
 * Checks of the options that tfsliceServing, createServer() and createGrpcServer() take, so a
 * mistake in a server's own configuration is a typed error at once, naming the field, and not an
 * error every request would get (a bad timeoutMs answered each one 400, blaming its client).
 */
import { invalidType, outOfRange, wholeExpected } from '../errors';
import { ModelManager } from '../manager';

// Options that are a whole number of ms or bytes (0 allowed where it means "none").
const COUNTS: Readonly<Record<string, string>> = {
  timeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
  requestTimeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
  keepAliveTimeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
  headersTimeoutMs: 'a whole number of milliseconds ≥ 0',
  bodyLimit: 'a whole number of bytes ≥ 1',
  maxHeaderBytes: 'a whole number of bytes ≥ 1',
  maxMessageBytes: 'a whole number of bytes ≥ 1',
  maxConnections: 'a whole number ≥ 0 (0: no limit)',
  readTimeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
  handshakeTimeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
};
// Options that are true or false.
const BOOLEANS = new Set(['tensorContent', 'signatureMethodNameCheck', 'strictReadiness']);
// offloadBytes and codecThreads are checked where they are read (codecOptions: Infinity is an offloadBytes).
const AT_LEAST_ONE = new Set(['bodyLimit', 'maxHeaderBytes', 'maxMessageBytes']);

/**
 * @internal Throws for options that are not an object, a `manager` that is not a ModelManager, a
 * key not in `known`, or a count (COUNTS) that is not a whole number in range.
 * @param where the function's name, for messages ('createServer')
 * @throws TypeError (ERR_INVALID_ARG_TYPE) for a wrong type or an unknown key; RangeError
 *   (ERR_OUT_OF_RANGE) for a count out of range
 */
export function checkServingOptions(where: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object') throw invalidType(`${where}'s options`, 'an object with at least { manager }', options);
  const record = options as Record<string, unknown>;
  if (!(record.manager instanceof ModelManager)) throw invalidType(`${where}'s options.manager`, 'a ModelManager (new ModelManager(config), or ModelManager.fromFile())', record.manager);
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      const error = new TypeError(`${where}'s options have an unknown key '${key}'; the keys are ${known.join(', ')}`);
      (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
      throw error;
    }
    const value = record[key];
    if (key === 'metricsPath' && value !== undefined) checkMetricsPath(`${where}'s options.metricsPath`, value);
    if (BOOLEANS.has(key) && value !== undefined && typeof value !== 'boolean') throw invalidType(`${where}'s options.${key}`, 'true or false', value);
    if ((key === 'onReload' || key === 'draining') && value !== undefined && typeof value !== 'function') throw invalidType(`${where}'s options.${key}`, 'a function', value);
    const expected = COUNTS[key];
    if (expected === undefined || value === undefined) continue;
    if (typeof value !== 'number') throw invalidType(`${where}'s options.${key}`, expected, value);
    if (!Number.isSafeInteger(value) || value < (AT_LEAST_ONE.has(key) ? 1 : 0)) throw outOfRange(`${where}'s options.${key}`, wholeExpected(expected, value), value);
  }
}

/**
 * @internal A path to serve the metrics at besides the two they have: absolute, without a query,
 * and not where the APIs are (/v1/, /v2/).
 * @throws TypeError (ERR_INVALID_ARG_TYPE) naming `where`
 */
export function checkMetricsPath(where: string, value: unknown): void {
  if (typeof value !== 'string' || !/^\/[^?#\s]*$/.test(value)) throw invalidType(where, "a path starting with '/' (no query, no spaces)", value);
  if (/^\/v[12](\/|$)/i.test(value)) throw invalidType(where, "a path outside the serving API's (/v1/..., /v2/...)", value);
  // A client that normalizes URLs (most) would never reach /metrics/../x as written (helper-71).
  if (/(^|\/)\.\.?(\/|$)|\/\//.test(value)) throw invalidType(where, "a path without '.' or '..' segments or '//'", value);
}

/** @internal A gRPC channel argument's name: `grpc.` or `grpc-node.` and words joined by dots. */
export const CHANNEL_ARGUMENT = /^grpc(-node)?(\.[A-Za-z0-9_-]+)+$/;

// gRPC's channel arguments whose values are strings (grpc_types.h, grpc-js's ChannelOptions);
// the others are integers.
const STRING_CHANNEL_ARGUMENTS = new Set([
  'grpc.ssl_target_name_override', 'grpc.primary_user_agent', 'grpc.secondary_user_agent', 'grpc.default_authority',
  'grpc.service_config', 'grpc.http_connect_target', 'grpc.http_connect_creds', 'grpc.lb_policy_name',
  'grpc.optimization_target',
]);

// Channel arguments for which 0 is no server at all: grpc-js answers no call with no stream
// allowed (max_concurrent_streams: every call hangs) and sends GOAWAY after every call with no
// idle time allowed (max_connection_idle_ms); gRPC's C++ server ignores an idle time under 1 ms.
const POSITIVE_CHANNEL_ARGUMENTS = new Set(['grpc.max_concurrent_streams', 'grpc.max_connection_idle_ms']);

/**
 * @internal What gRPC wants of channel argument `key` when `value` is not it ('a 32-bit
 * integer', 'a string'); null when it is. grpc-js does arithmetic on a string given for a number
 * (a timer of "3000000000" + jitter ms fired at once), where gRPC's C++ server ignores it.
 */
export function channelValueProblem(key: string, value: unknown): string | null {
  if (STRING_CHANNEL_ARGUMENTS.has(key)) return typeof value === 'string' ? null : 'a string';
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)) return 'a 32-bit integer';
  // No count or size is negative; a message length's -1 is gRPC's "no limit" (helper-70: a
  // negative grpc.max_concurrent_streams made Node's HTTP/2 throw at the first connection, and
  // took the process down).
  if (value < 0 && !(value === -1 && /_message_length$/.test(key))) return /_message_length$/.test(key) ? 'a whole number of bytes, or -1 (no limit)' : 'a whole number ≥ 0';
  if (value === 0 && POSITIVE_CHANNEL_ARGUMENTS.has(key)) return 'a whole number ≥ 1 (0 would serve no call)';
  // A time: grpc-js sets a timer of it, ± 10 % (max_connection_age_ms), and a timer past
  // 2^31 - 1 ms fires at once. 2^31 - 1 itself is gRPC's "never", as there.
  if (key.endsWith('_ms') && value !== 2 ** 31 - 1 && (value < 0 || value > MAX_CHANNEL_MS)) return `a time in ms from 0 to ${MAX_CHANNEL_MS}, or 2147483647 (never)`;
  return null;
}

// The longest time a channel argument may give (ms), its timer's 10 % jitter included: 22 days.
const MAX_CHANNEL_MS = 1_900_000_000;
