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

import { invalidType, TensorFlowError } from './errors';

/** @internal The longest delay Node's setTimeout keeps: 2^31 − 1 ms (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * @internal setTimeout with the delay held within MAX_TIMER_MS: Node fires a longer one after
 * 1 ms (with a TimeoutOverflowWarning), so a limit past 24.8 days would expire at once; held, it
 * waits 24.8 days, as good as none.
 */
export function timerFor(callback: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(callback, Math.min(ms, MAX_TIMER_MS));
}

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
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  /** Removes a listener added by addEventListener (run() removes its own once the run starts or ends). */
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * @internal Whether `value` can be a RunSignal. One whose `aborted` (or a listener method's)
 * getter throws is none: a TypeError (ERR_INVALID_ARG_TYPE) saying so, with what it threw as
 * its `cause`, rather than that raw throw.
 */
export function isRunSignal(value: unknown): value is RunSignal {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<Record<keyof RunSignal, unknown>>;
  try {
    return typeof v.aborted === 'boolean' && typeof v.addEventListener === 'function' && typeof v.removeEventListener === 'function';
  } catch (thrown) {
    throw signalThrew('reading its aborted, addEventListener or removeEventListener', thrown);
  }
}

/**
 * @internal RunOptions.signal's type checked: undefined, or a RunSignal (aborted or not).
 * @throws ERR_INVALID_ARG_TYPE (TypeError) for anything else
 */
export function checkSignalType(signal: unknown): RunSignal | undefined {
  if (signal === undefined) return undefined;
  if (!isRunSignal(signal)) throw invalidType('signal', 'an AbortSignal (or an object with `aborted` and addEventListener/removeEventListener for "abort")', signal);
  return signal;
}

/**
 * @internal RunOptions.signal checked: undefined, or a RunSignal; an AbortSignal aborted already
 * is CANCELLED (abortedRun).
 * @throws ERR_INVALID_ARG_TYPE (TypeError) for anything else; CANCELLED
 */
export function checkSignal(signal: unknown): RunSignal | undefined {
  const checked = checkSignalType(signal);
  if (checked?.aborted) throw abortedRun(checked);
  return checked;
}

// The coded TypeError for a signal that threw while `doing` something run() needs of it.
function signalThrew(doing: string, thrown: unknown): TypeError {
  const error = new TypeError(`signal must be an AbortSignal (or an object that listens for "abort"), but ${doing} threw: ${thrown instanceof Error ? thrown.message : String(thrown)}`, { cause: thrown });
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

/**
 * @internal Calls `onAbort` once when `signal` is aborted, unless the returned function (stop
 * listening) was called first. A signal whose addEventListener throws cannot be watched: a
 * TypeError (ERR_INVALID_ARG_TYPE) naming the option, with what it threw as its `cause`, as
 * run() rejects every failure with a code. What its removeEventListener throws is dropped (the
 * caller is cleaning up after a run: `onAbort` must then do nothing, and does).
 */
export function watchAbort(signal: RunSignal, onAbort: () => void): () => void {
  try {
    signal.addEventListener('abort', onAbort, { once: true });
  } catch (thrown) {
    throw signalThrew("its addEventListener('abort')", thrown);
  }
  return () => {
    try {
      signal.removeEventListener('abort', onAbort);
    } catch {
      // a signal that cannot stop listening: nothing of the run's depends on it any more
    }
  };
}

/**
 * @internal run()'s error for a run whose signal was aborted before it started (RunOptions.signal),
 * with the signal's `reason` (AbortSignal's, what abort() was given) as its `cause`, where it has one.
 */
export function abortedRun(signal?: RunSignal): TensorFlowError {
  const reason = (signal as { reason?: unknown } | undefined)?.reason;
  return new TensorFlowError('CANCELLED', 'the run was aborted (RunOptions.signal) before it started', reason === undefined ? undefined : { cause: reason });
}

/**
 * @internal A RunSignal that a server aborts itself, listening to what it watches (a
 * connection's close, a call's cancel) only from when a run first listens to it: a request whose
 * run never waits never adds a listener.
 */
export abstract class LazySignal implements RunSignal {
  #listeners: (() => void)[] | null = null;
  #fired = false;

  /** Whether what the signal watches has ended. */
  abstract get aborted(): boolean;

  /** Calls `fire` when what the signal watches ends (once). */
  protected abstract watch(fire: () => void): void;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#listeners === null) {
      this.#listeners = [];
      this.watch(() => this.#fire());
    }
    this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners?.indexOf(listener) ?? -1;
    if (at >= 0) this.#listeners!.splice(at, 1);
  }

  #fire(): void {
    if (this.#fired || !this.aborted) return;
    this.#fired = true;
    const listeners = this.#listeners ?? [];
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}
