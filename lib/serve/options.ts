/**
 * Checks of the options that tfsliceServing, createServer() and createGrpcServer() take, so a
 * mistake in a server's own configuration is a typed error at once, naming the field, and not an
 * error every request would get (a bad timeoutMs answered each one 400, blaming its client).
 */
import { invalidType, outOfRange } from '../errors';
import { ModelManager } from '../manager';

// Options that are a whole number of ms or bytes (0 allowed where it means "none").
const COUNTS: Readonly<Record<string, string>> = {
  timeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
  requestTimeoutMs: 'a whole number of milliseconds ≥ 0 (0: no limit)',
  keepAliveTimeoutMs: 'a whole number of milliseconds ≥ 0',
  headersTimeoutMs: 'a whole number of milliseconds ≥ 0',
  bodyLimit: 'a whole number of bytes ≥ 1',
  maxHeaderBytes: 'a whole number of bytes ≥ 1',
  maxMessageBytes: 'a whole number of bytes ≥ 1',
  maxConnections: 'a whole number ≥ 0 (0: no limit)',
};
// Options that are true or false.
const BOOLEANS = new Set(['tensorContent', 'signatureMethodNameCheck']);
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
    const expected = COUNTS[key];
    if (expected === undefined || value === undefined) continue;
    if (typeof value !== 'number') throw invalidType(`${where}'s options.${key}`, expected, value);
    if (!Number.isSafeInteger(value) || value < (AT_LEAST_ONE.has(key) ? 1 : 0)) throw outOfRange(`${where}'s options.${key}`, expected, value);
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
}

/** @internal A gRPC channel argument's name: `grpc.` or `grpc-node.` and words joined by dots. */
export const CHANNEL_ARGUMENT = /^grpc(-node)?(\.[A-Za-z0-9_-]+)+$/;
