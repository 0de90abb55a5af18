/**
 * Request bodies, read as fastify's own `parseAs: 'buffer'` reads them (the same limit, the same
 * 413 and Content-Length errors), except that a body of at least `offloadBytes` is not joined on
 * the event loop: its chunks go to a codec thread as they came (lib/serve/codec.ts). Joining a
 * 30 MiB body into one fresh buffer held the event loop for ~115 ms on a VM where each new page
 * faults; the chunks are already buffers of their own, which a worker can be given without a copy.
 */
import type { Readable } from 'node:stream';
import * as zlib from 'node:zlib';

import { errorCodes } from 'fastify';

/**
 * Chunks are kept in blocks of at least this many bytes: a client that sends a body a few bytes
 * at a time would otherwise make hundreds of thousands of buffers, and handing a worker that many
 * (one transfer each) costs the event loop more than joining them (Node's postMessage is
 * quadratic in the number of transferables).
 */
const BLOCK_BYTES = 64 * 1024;

/** A body too big to join on the event loop: its chunks, in order. */
export class BodyChunks {
  constructor(readonly chunks: readonly Buffer[], readonly byteLength: number) {}

  /** The body in one buffer (on the calling thread). */
  join(): Buffer {
    return Buffer.concat(this.chunks, this.byteLength);
  }
}

/** A request's body: one buffer, or the chunks of a big one. */
export type Body = Buffer | BodyChunks;

/** The body in one buffer. */
export function contiguous(body: Body): Buffer {
  return body instanceof BodyChunks ? body.join() : body;
}

/** An HTTP error a body gets before it is read (the server answers `statusCode`). */
function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { statusCode });
}

/**
 * A fastify content-type parser (request, payload, done) that reads the whole body, at most
 * `limit` bytes (after decompression: `Content-Encoding: gzip` and `deflate` are undone, as
 * TensorFlow Serving's HTTP server does; any other encoding is 415), into a Buffer, or into
 * BodyChunks from `offloadBytes` on.
 */
export function bodyParser(limit: number, offloadBytes: number) {
  return (request: { headers: Record<string, string | string[] | undefined> }, compressed: Readable, done: (error: Error | null, body?: Body) => void): void => {
    let contentLength = Number(request.headers['content-length']);
    if (contentLength > limit) {
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    const encoding = String(request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    let payload = compressed;
    if (encoding === 'gzip' || encoding === 'x-gzip' || encoding === 'deflate') {
      // Decompressed on libuv's threads; the limit counts what comes out (a small bomb is refused
      // once it passes it), and Content-Length, the compressed size, is Node's to check.
      const inflate = encoding === 'deflate' ? zlib.createInflate() : zlib.createGunzip();
      compressed.on('error', (error) => inflate.destroy(error));
      inflate.on('error', (error: Error & { code?: unknown }) => {
        if (typeof error.code === 'string' && error.code.startsWith('Z_')) error.message = `the body is not valid ${encoding} data (${error.message})`;
      });
      payload = compressed.pipe(inflate);
      contentLength = Number.NaN;
    } else if (encoding !== 'identity') {
      done(httpError(415, `Content-Encoding ${JSON.stringify(encoding)} is not supported; send the body as it is, or gzip or deflate it`));
      return;
    }
    let received = 0;
    const chunks: Buffer[] = [];
    // Chunks smaller than a block wait here until they make one.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (pending.length > 0) chunks.push(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    const stop = () => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onEnd);
    };
    function onData(chunk: Buffer | string): void {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += bytes.byteLength;
      if (received > limit) {
        stop();
        if (payload !== compressed) payload.destroy();
        done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      if (bytes.byteLength >= BLOCK_BYTES && pending.length === 0) {
        chunks.push(bytes);
        return;
      }
      pending.push(bytes);
      pendingBytes += bytes.byteLength;
      if (pendingBytes >= BLOCK_BYTES) flush();
    }
    function onEnd(error?: Error & { statusCode?: number }): void {
      stop();
      if (error) {
        if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
        done(error);
        return;
      }
      if (!Number.isNaN(contentLength) && received !== contentLength) {
        done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        return;
      }
      flush();
      done(null, received >= offloadBytes ? new BodyChunks(chunks, received) : Buffer.concat(chunks, received));
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  };
}
