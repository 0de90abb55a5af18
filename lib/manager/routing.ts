/**
 * Routing: which version a run goes to when it is called. The newest AVAILABLE version, or the
 * one asked for; a run that finds none while a load is under way waits for it (up to
 * queueTimeoutMs); every routed run is counted on its version (inflight), which is not disposed
 * until its count is back to zero. Lifecycle (manager.ts) calls settle() whenever a state changes.
 */
import { abortedRun, type RunSignal, timerFor, watchAbort } from '../abort';
import { NotStartedError, notStartedMessage, VERSION_LOAD } from '../batching';
import { ServableNotFoundError } from '../errors';
import { describeVersions, type Entry, letGoWhy, type Managed, noneServesYet, notServed, unavailable, unloadedBy, unloadedVersions, type Waiter } from './state';

/** @internal The newest AVAILABLE version. */
export function newest(m: Managed): Entry | undefined {
  let best: Entry | undefined;
  for (const entry of m.versions.values()) {
    if (entry.state === 'AVAILABLE' && (!best || entry.version > best.version)) best = entry;
  }
  return best;
}

/** @internal The version a run goes to now; null: wait (a load is under way); an Error: fail. */
export function route(m: Managed, version: number | undefined, stopped: boolean): Entry | Error | null {
  const name = m.config.name;
  if (stopped) return unavailable(`model '${name}': the model manager is stopped`);
  if (version === undefined) {
    const best = newest(m);
    if (best) return best;
    if (m.busy > 0) return null;
    const why = m.error?.message ?? (m.held ? unloadedBy(name) : noneServesYet(m)?.message ?? unloadedVersions(m));
    return unavailable(`model '${name}' has no AVAILABLE version (versions: ${describeVersions(m)})${why ? `; ${why}` : ''}`);
  }
  const entry = m.versions.get(version);
  if (entry?.state === 'AVAILABLE') return entry;
  // A version not known yet waits for a look reading the base path that may bring it
  // (m.reading: start(), load(name), a new model's first look), not for a load of another version
  // (helper-111: 504 after 30 s where TensorFlow Serving answers 404 at once); a crashed one
  // waits for the look after its crash from the crash on (m.looking: watch mode looks again at once).
  if (entry?.state === 'START' || entry?.state === 'LOADING' || m.loading.has(version) || (!entry && m.reading > 0) || (entry?.crashed && m.looking > 0)) return null;
  if (!entry) return new ServableNotFoundError(`${notServed(m, version)}; it has ${describeVersions(m)}`, name, version);
  const why = entry.error?.message ?? letGoWhy(m, entry);
  const said = `version ${version} of model '${name}' is ${entry.state}${why ? `: ${why}` : ''}`;
  // UNLOADING, or END without an error: let go of (unload(), a swap, left out of the policy or the
  // configuration), so waiting brings nothing back. NOT_FOUND, as TensorFlow Serving answers for a
  // version not in its serving map (UNAVAILABLE would have clients retry for ever). END with its
  // error (a failed load, a crashed host) is a version meant to serve: UNAVAILABLE, saying why.
  if (entry.state === 'UNLOADING' || !entry.error) return new ServableNotFoundError(said, name, version);
  return unavailable(said);
}

/** @internal route(), counted on the version; null: wait(). Throws the route's error. */
export function acquire(m: Managed, version: number | undefined, stopped: boolean): Entry | null {
  const routed = route(m, version, stopped);
  if (routed instanceof Error) throw routed;
  if (routed) routed.inflight++;
  return routed;
}

/**
 * @internal A version for a run that found none, once settle() has one, or UNAVAILABLE after
 * `timeoutMs` (queueTimeoutMs). A run's own bounds hold while it waits too, as they do while it
 * waits for its turn in the model (helper-84: it kept its place, maxQueuedRequests, until the
 * load ended): `limitMs` > 0, its runTimeoutMs (DEADLINE_EXCEEDED, a NotStartedError), and its
 * `signal` (CANCELLED once aborted), whichever comes first.
 */
export function wait(m: Managed, version: number | undefined, timeoutMs: number, limitMs = 0, signal?: RunSignal): Promise<Entry> {
  return new Promise<Entry>((resolve, reject) => {
    const started = performance.now();
    let limit: NodeJS.Timeout | undefined;
    let unwatch: (() => void) | undefined;
    const timer = timerFor(() => leave(unavailable(`model '${m.config.name}': no version became AVAILABLE within ${timeoutMs} ms (versions: ${describeVersions(m)})`)), timeoutMs);
    const waiter: Waiter = {
      version, resolve, reject,
      release: () => {
        clearTimeout(timer);
        clearTimeout(limit);
        unwatch?.();
      },
    };
    const leave = (error: Error) => {
      if (!m.waiters.delete(waiter)) return;
      waiter.release();
      reject(error);
    };
    m.waiters.add(waiter);
    if (limitMs > 0) {
      limit = timerFor(() => leave(new NotStartedError(notStartedMessage(performance.now() - started, `for a version of model '${m.config.name}' to load`, limitMs), VERSION_LOAD)), limitMs);
    }
    if (signal !== undefined) {
      try {
        unwatch = watchAbort(signal, () => leave(abortedRun(signal)));
      } catch (error) {
        leave(error as Error);
      }
    }
  });
}

/** @internal Hands waiting runs a version, or their error, once there is one. */
export function settle(m: Managed, stopped: boolean): void {
  for (const waiter of m.waiters) {
    const routed = route(m, waiter.version, stopped);
    if (routed === null) continue;
    m.waiters.delete(waiter);
    waiter.release();
    if (routed instanceof Error) {
      waiter.reject(routed);
    } else {
      routed.inflight++;
      waiter.resolve(routed);
    }
  }
}
