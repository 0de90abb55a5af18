/**
 * RunOptions.signal: what a run listens to while it waits for its turn or in a batch queue.
 * An AbortSignal will do; so will any object with `aborted` and the two listener methods, which
 * is what tfslice serve passes (its connection's or call's state, made per request at no cost:
 * in Node 20 an AbortSignal costs ~6 µs to make and as much again to listen to, a third of a
 * `tiny` request's time at 64 in flight). The listener is added only when a run waits, and held
 * by the signal alone: a global registry of waiting runs' signals (swept on a timer) was tried
 * and cost 30 % of run()'s throughput at 64 in flight whenever the signals referenced their
 * requests (old space pointing at each request's young objects kept the scavenger busy).
 */
/**
 * An AbortSignal, or an object that behaves as one for run(): `aborted` true once aborted, and
 * 'abort' listeners called then (each at most once).
 */
export interface RunSignal {
    /**
     * True once aborted. Read when the run is called (CANCELLED at once); a waiting run learns of
     * a later abort only through its 'abort' listener, which the signal must call.
     */
    readonly aborted: boolean;
    /** Adds `listener` for 'abort' (run() adds one with `{ once: true }` while its run waits). */
    addEventListener(type: 'abort', listener: () => void, options?: {
        once?: boolean;
    }): void;
    /** Removes a listener added by addEventListener (run() removes its own once the run starts or ends). */
    removeEventListener(type: 'abort', listener: () => void): void;
}
