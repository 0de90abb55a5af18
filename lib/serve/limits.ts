/**
 * How many of a request's inputs and outputs are worth reading. A request naming more inputs (or
 * outputs) than any signature served has cannot succeed: at least one of its names is not the
 * signature's, or one is given twice. Yet each input used to become a tensor, and each output
 * name cross a thread, before that was said: 50 000 one-element inputs in a 2 MB gRPC message held
 * a codec thread for 1.6-2.2 s and then the event loop for 300 ms, and a million output names in
 * a REST v2 request held the event loop for 1.2 s. Such a request is read only as far as its first
 * `limit + 1` inputs (or outputs), in order, which hold the whole request's error: the first name
 * the signature lacks, or the first given twice. Its other mistakes, past that point, go unread.
 */
import { TensorFlowError } from '../errors';
import type { ModelManager } from '../manager';
import { unknownInputError } from '../model';
import type { SignatureInfo } from '../proto';

/** How many inputs and outputs a request may name before the rest of them is not read (signatureLimits()). */
export interface SignatureLimits {
  readonly inputs: number;
  readonly outputs: number;
}

/** A request may name as many without being cut short whatever is loaded (a request waiting for a version still loading may name more than the AVAILABLE ones have). */
const FLOOR = 64;

const cache = new WeakMap<ModelManager, { value: SignatureLimits | undefined }>();

/**
 * @internal The most inputs, and the most outputs, that a signature of an AVAILABLE version of
 * `manager`'s models has (at least 64 each); kept until a version changes state.
 */
export function signatureLimits(manager: ModelManager): SignatureLimits {
  let entry = cache.get(manager);
  if (entry === undefined) {
    const fresh: { value: SignatureLimits | undefined } = { value: undefined };
    manager.on('state', () => { fresh.value = undefined; });
    cache.set(manager, (entry = fresh));
  }
  return (entry.value ??= largestSignatures(manager));
}

function largestSignatures(manager: ModelManager): SignatureLimits {
  let inputs = FLOOR;
  let outputs = FLOOR;
  for (const { name, versions } of manager.status()) {
    for (const v of versions) {
      if (v.state !== 'AVAILABLE') continue;
      let model;
      try {
        model = manager.get(name, v.version);
      } catch {
        continue; // gone since status(): it has no signatures to count
      }
      for (const info of Object.values(model.signatures)) {
        inputs = Math.max(inputs, Object.keys(info.inputs).length);
        outputs = Math.max(outputs, Object.keys(info.outputs).length);
      }
    }
  }
  return { inputs, outputs };
}

/**
 * @internal The error for a request cut short (it names `count` inputs or outputs, and only a
 * part was read) whose part holds no mistake: a version with more of them than any before became
 * AVAILABLE while it was read. UNAVAILABLE: sent again, it is read whole.
 */
export function cutShort(count: number, what: 'inputs' | 'outputs'): TensorFlowError {
  return new TensorFlowError('UNAVAILABLE', `the request names ${count} ${what}, more than any signature served had when it was read; send it again`);
}

/**
 * @internal For a request with `count` inputs of which only `read` (the first, in order) were
 * read: the error to answer for running `signature`, run()'s for the first name the signature
 * lacks (or cutShort()'s). Null when the whole request was read.
 */
export function partialInputsError(count: number, read: readonly string[], signature: string, info: SignatureInfo): TensorFlowError | null {
  if (read.length >= count) return null;
  const unknown = read.find((key) => !Object.hasOwn(info.inputs, key));
  return unknown !== undefined ? unknownInputError(signature, unknown, Object.keys(info.inputs)) : cutShort(count, 'inputs');
}
