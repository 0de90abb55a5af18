// Calling a user's listeners from tfslice's own work (a load, a version swap, a batch, a host's
// exit), where an exception must not leave that work half done.

import { describe } from './errors';

// Listeners whose error was reported already: each is reported once.
const reported = new WeakSet<object>();

/**
 * @internal Calls each of `listeners` with `args`, in order. One that throws stops neither the
 * others nor the caller: the ModelManager whose 'state' listener threw went on with a version
 * half made AVAILABLE, and stop() never ended (helper-120). One that returns a promise (an async
 * listener) is not waited for, and its rejection is taken here too (helper-121: unhandled, it
 * ended the process). Its first error is reported as a process warning (`process.emitWarning`,
 * code `TFSLICE_LISTENER_ERROR`: Node prints it on stderr; `process.on('warning')` sees it), its
 * later ones are dropped, so a listener that throws at every batch does not flood stderr.
 */
export function callListeners<A extends unknown[]>(listeners: Iterable<(...args: A) => unknown>, args: A, what: string): void {
  for (const listener of [...listeners]) {
    try {
      const returned = listener(...args);
      if (returned instanceof Promise) returned.catch((error: unknown) => report(listener, error, what));
      else if (isThenable(returned)) returned.then(undefined, (error: unknown) => report(listener, error, what));
    } catch (error) {
      // (a once() listener is its wrapper here, itself called once)
      report(listener, error, what);
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  try {
    return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false; // (a getter that throws: not something to wait for)
  }
}

function report(listener: unknown, error: unknown, what: string): void {
  // (A WeakSet takes objects only: something else given as a listener is reported each time.)
  const keyed = (typeof listener === 'object' && listener !== null) || typeof listener === 'function';
  if (keyed && reported.has(listener)) return;
  if (keyed) reported.add(listener);
  const { message, detail } = said(error);
  process.emitWarning(`a ${what} listener threw, and tfslice went on without it (its later errors are not reported): ${message}`, {
    code: 'TFSLICE_LISTENER_ERROR',
    ...(detail === undefined ? {} : { detail }),
  });
}

// What was thrown, for the warning. Anything may be thrown, and reading it may throw too (an
// object without a prototype has no string form; a getter, a revoked Proxy; a Symbol in a
// template literal).
function said(thrown: unknown): { message: string; detail?: string } {
  if (typeof thrown === 'string') return { message: cut(thrown) };
  if (typeof thrown === 'symbol') return { message: cut(thrown.toString()) };
  if (typeof thrown === 'object' && thrown !== null) {
    const message = read(thrown, 'message');
    if (typeof message === 'string') {
      const name = read(thrown, 'name');
      const stack = read(thrown, 'stack');
      return { message: cut(typeof name === 'string' && name !== '' ? `${name}: ${message}` : message), ...(typeof stack === 'string' ? { detail: cut(stack) } : {}) };
    }
  }
  try {
    return { message: describe(thrown) };
  } catch {
    return { message: 'a value that cannot be read' };
  }
}

function read(object: object, key: string): unknown {
  try {
    return (object as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

// At most 1000 characters of a message or stack (a 100 000-character string thrown was printed
// whole; an Error's stack repeats its message).
function cut(text: string): string {
  // By code point (a cut never splits a surrogate pair); 1000 of them are at most 2000 units.
  const chars = [...text.slice(0, 2002)];
  if (text.length <= 2002 && chars.length <= 1000) return text;
  return `${chars.slice(0, 1000).join('')}… (the first 1000 of its ${[...text].length} characters)`;
}
