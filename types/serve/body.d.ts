/**
 * Request bodies, read as fastify's own `parseAs: 'buffer'` reads them (the same limit, the same
 * 413 and Content-Length errors), except that a body of at least `offloadBytes` is not joined on
 * the event loop: its chunks go to a codec thread as they came (lib/serve/codec.ts). Joining a
 * 30 MiB body into one fresh buffer held the event loop for ~115 ms on a VM where each new page
 * faults; the chunks are already buffers of their own, which a worker can be given without a copy.
 */
import type { Readable } from 'node:stream';
/** A body too big to join on the event loop: its chunks, in order. */
export declare class BodyChunks {
    readonly chunks: readonly Buffer[];
    readonly byteLength: number;
    constructor(chunks: readonly Buffer[], byteLength: number);
    /** The body in one buffer (on the calling thread). */
    join(): Buffer;
}
/** A request's body: one buffer, or the chunks of a big one. */
export type Body = Buffer | BodyChunks;
/** The body in one buffer. */
export declare function contiguous(body: Body): Buffer;
/**
 * A fastify content-type parser (request, payload, done) that reads the whole body, at most
 * `limit` bytes (after decompression: `Content-Encoding: gzip` and `deflate` are undone, as
 * TensorFlow Serving's HTTP server does; any other encoding is 415), into a Buffer, or into
 * BodyChunks from `offloadBytes` on.
 */
export declare function bodyParser(limit: number, offloadBytes: number): (request: {
    headers: Record<string, string | string[] | undefined>;
}, compressed: Readable, done: (error: Error | null, body?: Body) => void) => void;
