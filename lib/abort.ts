/**
 * Noticing that a run's signal (RunOptions.signal) was aborted while the run waits, without
 * listening to it: the signals of waiting runs are read every SWEEP_MS by one timer (unref'd,
 * running only while some wait), so a run is dropped up to SWEEP_MS after its signal is aborted,
 * and a run that waits costs a Set entry. Listening would tie the option to AbortSignal, and in
 * Node 20 an AbortSignal costs ~6 µs to make and as much to listen to: the server, whose every
 * request would need one, cancels through a plain object whose `aborted` reads the connection.
 */

/** How often the signals of waiting runs are looked at, ms. */
export const SWEEP_MS = 20;

/**
 * What RunOptions.signal is read for: an AbortSignal, or any object whose `aborted` becomes true
 * (read while the run waits, every 20 ms).
 */
export interface RunSignal {
  readonly aborted: boolean;
}

interface Watch {
  readonly signal: RunSignal;
  readonly onAbort: () => void;
}

const watched = new Set<Watch>();
let timer: NodeJS.Timeout | null = null;

function sweep(): void {
  for (const watch of watched) {
    if (!watch.signal.aborted) continue;
    watched.delete(watch);
    watch.onAbort();
  }
  if (watched.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

/**
 * @internal Calls `onAbort` once, within SWEEP_MS of `signal` being aborted, unless the returned
 * function (stop watching) was called first.
 */
export function watchAbort(signal: RunSignal, onAbort: () => void): () => void {
  const watch: Watch = { signal, onAbort };
  watched.add(watch);
  if (timer === null) {
    timer = setInterval(sweep, SWEEP_MS);
    timer.unref();
  }
  return () => { watched.delete(watch); };
}
