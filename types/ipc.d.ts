/**
 * The wire between a parent and a model host (isolation: 'process'): length-prefixed
 * JSON frames on a socket for control, tensor bytes in shared memory (native/shm.h).
 * A frame carries only metadata (dtypes, shapes, offsets), so its size does not grow
 * with a tensor's, and no element is touched on the way.
 */
import type { Socket } from 'node:net';
import type { NativeData, NativeTensors } from './native';
/** Where a tensor's bytes are in a segment. Strings: offsets (n+1 float64) then bytes. */
export interface TensorRef {
    dtype: number;
    shape: number[];
    /** Byte offset of the data (numeric) or of the n+1 offsets (strings). */
    at: number;
    /** Bytes of numeric data, or of the string bytes. */
    bytes: number;
    /** Strings only: byte offset of the packed string bytes. */
    strings?: number;
    /** Direct-path feeds only: the shared feed segment the bytes are in (absent: the run's slot). */
    segment?: number;
}
/** A shared segment as the peer opens it: /proc/<pid>/fd/<fd>, <bytes> long. */
export interface SegmentRef {
    pid: number;
    fd: number;
    bytes: number;
}
export declare const ALIGNMENT = 64;
export declare function align(n: number): number;
/** Bytes a tensor takes in a segment, alignment included. */
export declare function footprint(data: NativeData): number;
/** Bytes a tensor written at `ref` takes, alignment included (footprint of what it came from). */
export declare function refFootprint(ref: TensorRef): number;
/** Bytes the tensors of a flat [dtype, shape, data, ...] list take in a segment. */
export declare function footprintOf(flat: NativeTensors): number;
/** Copies every tensor of a flat list into a segment, one after the other from `at`. */
export declare function writeTensors(segment: ArrayBuffer, at: number, flat: NativeTensors): TensorRef[];
/** Copies a tensor into a segment at `at` (one memcpy per buffer); returns its ref. */
export declare function writeTensor(segment: ArrayBuffer, at: number, dtype: number, shape: readonly number[], data: NativeData): TensorRef;
/** A view of a tensor in a segment (no copy): what the host feeds TensorFlow. */
export declare function viewTensor(segment: ArrayBuffer, ref: TensorRef): NativeData;
/** A copy of a tensor out of a segment, in fresh JS memory: what the parent returns. */
export declare function copyTensor(segment: ArrayBuffer, ref: TensorRef): NativeData;
/** Writes one frame: a 4-byte little-endian length, then the JSON. */
export declare function sendFrame(socket: Socket, message: unknown): void;
/** A message from the peer that breaks the protocol (a bug or a hostile peer). */
export declare class ProtocolError extends Error {
}
/** Frames carry metadata only (tensors travel in segments): far below this. */
export declare const MAX_FRAME_BYTES: number;
/**
 * Calls onFrames with every complete frame (a JSON object) of each chunk the socket
 * delivers. A frame that is not one, or a length past MAX_FRAME_BYTES, stops reading and
 * calls onError once: what follows cannot be trusted to be framed.
 */
export declare function readFrames(socket: Socket, onFrames: (frames: Record<string, unknown>[]) => void, onError: (error: ProtocolError) => void): void;
/**
 * Checks a tensor a peer describes against the segment it lies in: a known dtype, a shape
 * TensorFlow accepts, a byte count that matches it, within `segmentBytes`.
 * @throws ProtocolError naming what is wrong
 */
export declare function checkRef(ref: TensorRef, segmentBytes: number): void;
/** Longest message either way; a run that needs more goes as a JSON frame. */
export declare const DIRECT_MESSAGE_BYTES: number;
/** A plan number that runs nothing: the request only maps or forgets shared feed segments. */
export declare const NO_PLAN = 0;
/** A run as the direct path carries it (feeds numeric only). */
export interface DirectRun {
    id: number;
    plan: number;
    slot: number;
    /** Bytes of the segment the feeds use; outputs go after them when they fit. */
    used: number;
    /** The slot's segment, when the host's direct path has not mapped it yet. */
    segment?: SegmentRef;
    /** The plan's tensor names, until the host has answered a run of it. */
    names?: {
        inputs: readonly string[];
        outputs: readonly string[];
    };
    /** Shared feed segments for the host to map (those the feeds name and it may not hold yet). */
    shared?: readonly {
        id: number;
        ref: SegmentRef;
    }[];
    /** Shared feed segments this process freed: the host unmaps them once no run reads them. */
    released?: readonly number[];
    /**
     * Slots whose segments this process let go of (free past KEPT_FREE_SLOTS): the host forgets
     * its mappings of them, as it reads the request (before any later request is served).
     */
    dropped?: readonly number[];
    /** The run starts only until `untilMs` (monotonicMs()): its runTimeoutMs (`limitMs`) from when it was sent. */
    wait?: RunWait;
    /** TensorFlow's run timeout in ms (RunOptions.timeout_in_ms), a whole number from 1; 0 or none: no timeout. */
    timeoutMs?: number;
    /**
     * A run sent ahead of its turn (lib/model.ts, maxConcurrentRuns): the host starts it only once
     * fewer than this many of the runs it read before it are executing there, and after the runs
     * sent ahead before it; 0 or none: at once.
     * Sent with the time it was made (monotonicMs()): its wait there, in the socket too, is taken
     * off its timeoutMs.
     */
    startBelow?: number;
    feeds: readonly TensorRef[];
}
/**
 * How long a run sent to a model host may wait there before it starts: until `untilMs`
 * (monotonicMs(), the same clock in both processes), its caller's runTimeoutMs (`limitMs`) from
 * when it was sent. The host does not start one later (code NOT_STARTED).
 */
export interface RunWait {
    untilMs: number;
    limitMs: number;
}
/**
 * Run words: a model host's parent shares a control segment with it, one int32 per slot
 * (CONTROL_WORDS; a slot past them is not cancellable). Before a run is sent the parent sets
 * its slot's word to runTag(id) (queued); the host takes it (takeRun: queued → RUN_STARTED)
 * before it starts the run, and the parent cancels it (cancelRun: queued → -runTag(id)) when
 * its caller gives up while it waits there. Both are compare-and-swaps, so exactly one of them
 * wins: a cancelled run is never started, and a started one is never reported cancelled.
 * native/channel.cc mirrors this for the direct path.
 */
export declare const CONTROL_WORDS = 16384;
/** A run's word once its host took it (or before any run used the slot). */
export declare const RUN_STARTED = 0;
/** The queued word of run `id`: 1 … 2^31 - 2 (never RUN_STARTED, and its negation never one either). */
export declare function runTag(id: number): number;
/** Host: whether run `id` in `slot` may start (not cancelled first); see CONTROL_WORDS. */
export declare function takeRun(words: Int32Array, slot: number, id: number): boolean;
/** Parent: cancels run `id` in `slot` if its host has not taken it yet; see CONTROL_WORDS. */
export declare function cancelRun(words: Int32Array, slot: number, id: number): boolean;
/**
 * CLOCK_MONOTONIC in ms (libuv's hrtime; std::chrono::steady_clock in the addon): the same clock
 * in a model host as in its parent, unlike performance.now(), whose origin is each process's start.
 */
export declare function monotonicMs(): number;
/**
 * A direct-path reply. 'done': u32 id, u32 status 0, u32 flags (bit 0: the slot moved to
 * `segment`), u32 `micros`, the segment when moved, u32 count, the outputs. `micros`: how long
 * the request took in the host, from its receipt to its reply (its wait for a turn, the run, the
 * output copies; not the round trip's wake-ups), when the plan's next run goes to the host's
 * serving thread; 0 when it goes to an inter-op pool, or nothing ran (native/channel.cc).
 */
export type DirectReply = {
    op: 'done';
    id: number;
    outputs: TensorRef[];
    segment?: SegmentRef;
    micros: number;
} | {
    op: 'error';
    id: number;
    code: string;
    message: string;
}
/** Nothing ran: the plan has outputs the direct path cannot carry (strings). */
 | {
    op: 'fallback';
    id: number;
};
/** Reads and writes one message in a fixed buffer. */
export declare class Wire {
    #private;
    readonly bytes: Uint8Array;
    at: number;
    constructor(buffer: ArrayBuffer);
    u32(value: number): void;
    i32(value: number): void;
    f64(value: number): void;
    string(text: string): void;
    /** Where reading must stop: the length of the message received. */
    end: number;
    readU32(): number;
    readI32(): number;
    readF64(): number;
    readString(): string;
}
/** Writes a run request from the start of `wire`; its length, or 0 when it does not fit. */
export declare function encodeRun(wire: Wire, run: DirectRun): number;
/**
 * Reads a reply of `length` bytes the host wrote (native/channel.cc).
 * @throws ProtocolError when it is cut short or malformed
 */
export declare function decodeReply(wire: Wire, length: number): DirectReply;
