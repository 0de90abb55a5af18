/**
 * Request bodies, read as fastify's own `parseAs: 'buffer'` reads them (the same limit, the same
 * 413 and Content-Length errors), except that a body of at least `offloadBytes` is not joined on
 * the event loop: its chunks go to a codec thread as they came (lib/serve/codec.ts). Joining a
 * 30 MiB body into one fresh buffer held the event loop for ~115 ms on a VM where each new page
 * faults; the chunks are already buffers of their own, which a worker can be given without a copy.
 */
import type { Readable } from 'node:stream';

import { errorCodes } from 'fastify';

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

/**
 * A fastify content-type parser (request, payload, done) that reads the whole body, at most
 * `limit` bytes, into a Buffer, or into BodyChunks from `offloadBytes` on.
 */
export function bodyParser(limit: number, offloadBytes: number) {
  return (request: { headers: Record<string, string | string[] | undefined> }, payload: Readable, done: (error: Error | null, body?: Body) => void): void => {
    const contentLength = Number(request.headers['content-length']);
    if (contentLength > limit) {
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    let received = 0;
    const chunks: Buffer[] = [];
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
        done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      chunks.push(bytes);
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
      done(null, received >= offloadBytes ? new BodyChunks(chunks, received) : Buffer.concat(chunks, received));
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  };
}
