// Calling a user's listeners from tfslice's own work (a load, a version swap, a batch, a host's
// exit), where an exception must not leave that work half done.

import { describe } from './errors';

// Listeners whose error was reported already: each is reported once.
const reported = new WeakSet<object>();

/**
 * @internal Calls each of `listeners` with `args`, in order. One that throws stops neither the
 * others nor the caller: the ModelManager whose 'state' listener threw went on with a version
 * half made AVAILABLE, and stop() never ended (helper-120). Its first error is reported as a
 * process warning (`process.emitWarning`, code `TFSLICE_LISTENER_ERROR`: Node prints it on
 * stderr; `process.on('warning')` sees it), its later ones are dropped, so a listener that throws
 * at every batch does not flood stderr.
 */
export function callListeners<A extends unknown[]>(listeners: Iterable<(...args: A) => void>, args: A, what: string): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch (error) {
      // (a once() listener is its wrapper here, itself called once)
      if (reported.has(listener)) continue;
      reported.add(listener);
      const { message, detail } = said(error);
      process.emitWarning(`a ${what} listener threw, and tfslice went on without it (its later errors are not reported): ${message}`, {
        code: 'TFSLICE_LISTENER_ERROR',
        ...(detail === undefined ? {} : { detail }),
      });
    }
  }
}

// What was thrown, for the warning. Anything may be thrown, and reading it may throw too (an
// object without a prototype has no string form; a getter, a revoked Proxy).
function said(thrown: unknown): { message: string; detail?: string } {
  try {
    if (thrown instanceof Error) return { message: `${thrown.name}: ${thrown.message}`, ...(typeof thrown.stack === 'string' ? { detail: thrown.stack } : {}) };
    return { message: typeof thrown === 'string' ? thrown : describe(thrown) };
  } catch {
    return { message: 'a value that cannot be read' };
  }
}
