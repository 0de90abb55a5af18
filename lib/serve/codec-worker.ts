/**
 * The codec pool's worker thread (lib/serve/codec.ts): reads big request bodies into tensors and
 * writes big responses, with the same functions the event loop uses for small ones, so a 64 MiB
 * JSON body does not stop the server answering others (health probes included) for seconds.
 * Each export is one kind of task (Piscina's `name`). Nothing here touches TensorFlow or the
 * addon: tensors arrive and leave in their flat form (typed arrays moved, not copied).
 */
import { Piscina } from 'piscina';

import { TensorFlowError } from '../errors';
import { Tensor } from '../tensor';
import {
  type CodecAnswer, type ExamplesResponseTask, type ExamplesTask, fromWire, type GrpcExamplesRead, type GrpcExamplesResponseTask, type GrpcExamplesTask, type GrpcInferRead, type GrpcInferResponseTask, type GrpcPredictRead, type GrpcPredictResponseTask, type GrpcTask,
  type InferResponseTask, type InferTask, type PredictRead, type PredictResponseTask, type PredictTask, type TaskBody, type TaskError, toWire, whole,
} from './codec';
import { parseJson } from './json';
import { describeError } from './status';
import { classifyResponse, feedsFromPayload, predictResponse, readExamplesRequest, readPredictRequest, regressResponse, signatureNotFound } from './tfs';
import { decodeMessage, examplesMessage, inferFeeds, inferHead, type Message, modelSpecOf, predictAliases, predictFeeds, protos, serializedExamples, tensorToProto } from './tensor-proto';
import { inferResponse, outputBytes, readInferRequest, splitBody } from './v2';

/**
 * An error as the event loop rethrows it: its code and message as the server reports them
 * (status.ts; a structured clone would drop `code`), and for what is not the client's, the stack
 * for the server's log.
 */
function taskError(error: unknown): TaskError {
  const { code, message } = describeError(error);
  if (code !== 'INTERNAL' || error instanceof TensorFlowError) return { code, message };
  return { code, message, detail: error instanceof Error ? error.stack ?? error.message : String(error) };
}

/** Answers `work()`'s value with the buffers `transfer` names moved, or its error as a TaskError. */
function answer<T>(work: () => { value: T; transfer: ArrayBuffer[] }): unknown {
  let result: { value: CodecAnswer<T>; transfer: ArrayBuffer[] };
  try {
    const { value, transfer } = work();
    result = { value: { ok: value }, transfer };
  } catch (error) {
    result = { value: { error: taskError(error) }, transfer: [] };
  }
  // Piscina's Transferable interface (the buffers to move, and the value), marked for moving.
  return Piscina.move({ [Piscina.transferableSymbol]: result.transfer, [Piscina.valueSymbol]: result.value } as never);
}

/** Bytes to move back: their own buffer (a Buffer may be a view of Node's shared pool). */
function moved(bytes: Uint8Array): { value: Uint8Array; transfer: ArrayBuffer[] } {
  const own = whole(bytes);
  return { value: own, transfer: [own.buffer as ArrayBuffer] };
}

function utf8(text: string): { value: Uint8Array; transfer: ArrayBuffer[] } {
  return moved(Buffer.from(text));
}

/** A task's body in one buffer (its chunks joined here, not on the event loop). */
function bytesOf(body: TaskBody): Uint8Array {
  return Array.isArray(body) ? Buffer.concat(body) : body;
}

function wire(tensors: Readonly<Record<string, Tensor>>) {
  return toWire(tensors, false);
}

/** A conversion that may fail: its value and buffers, or its error to raise later, in order. */
function attempt<T>(work: () => { tensors: T; transfer: ArrayBuffer[] }): { value: T | null; error: TaskError | null; transfer: ArrayBuffer[] } {
  try {
    const { tensors, transfer } = work();
    return { value: tensors, error: null, transfer };
  } catch (error) {
    return { value: null, error: taskError(error), transfer: [] };
  }
}

/** A Predict body into its signature, format and feeds (tfs.ts, as on the event loop). */
export function predict(task: PredictTask): unknown {
  return answer<PredictRead>(() => {
    const parsed = readPredictRequest(parseJson(bytesOf(task.body)));
    const name = parsed.signatureName ?? task.defaultSignature ?? 'serving_default';
    // What does not fit the signature is the model's to refuse (the event loop refuses it in
    // the model's hands, where it counts under the version): reported, not thrown.
    const feeds = attempt(() => {
      const inputs = Object.hasOwn(task.signatures, name) ? task.signatures[name] : undefined;
      if (!inputs) throw signatureNotFound(name, Object.keys(task.signatures));
      return wire(feedsFromPayload(parsed.format, parsed.payload, inputs));
    });
    return { value: { signature: name, format: parsed.format, feeds: feeds.value, feedsError: feeds.error }, transfer: feeds.transfer };
  });
}

/** A Classify or Regress body into its serialized tf.Examples. */
export function examples(task: ExamplesTask): unknown {
  return answer(() => {
    const parsed = readExamplesRequest(parseJson(bytesOf(task.body)), task.api);
    const { tensors, transfer } = wire({ inputs: parsed.examples });
    return { value: { signatureName: parsed.signatureName, examples: tensors, count: parsed.count }, transfer };
  });
}

/** A v2 inference body (its JSON header, and the binary part after it) into the request. */
export function infer(task: InferTask): unknown {
  return answer(() => {
    const { header, binary } = splitBody(bytesOf(task.body), task.headerLength);
    // Binary inputs into plain memory (movable), not the addon's aligned memory.
    const { feeds, ...rest } = readInferRequest(header, binary, false, task.limits);
    const { tensors, transfer } = wire(feeds);
    return { value: { ...rest, feeds: tensors }, transfer };
  });
}

/** A Predict response, as UTF-8 JSON. */
export function predictResponseJson(task: PredictResponseTask): unknown {
  return answer(() => utf8(predictResponse(fromWire(task.outputs), task.format)));
}

/** A Classify or Regress response, as UTF-8 JSON. */
export function examplesResponseJson(task: ExamplesResponseTask): unknown {
  return answer(() => {
    const outputs = fromWire(task.outputs);
    return utf8(task.api === 'classify' ? classifyResponse(outputs, task.count) : regressResponse(outputs, task.count));
  });
}

/** A v2 inference response: its JSON as UTF-8, then the binary parts. */
export function inferResponseJson(task: InferResponseTask): unknown {
  return answer(() => {
    const response = inferResponse(task.model, task.version, task.request, fromWire(task.outputs));
    const { value: json, transfer } = utf8(response.json);
    // The binary parts are views of the outputs this task was given, its own copies: moved back.
    for (const part of response.binary ?? []) transfer.push(part.buffer as ArrayBuffer);
    return { value: { json, binary: response.binary }, transfer: [...new Set(transfer)] };
  });
}

// -- gRPC: Predict and ModelInfer messages, and their responses ---------------------------

/** A Predict message: its model_spec, output_filter and inputs as feeds (tensor-proto.ts, as on the event loop). */
export function grpcPredict(task: GrpcTask): unknown {
  return answer<GrpcPredictRead>(() => {
    const decoded = decodeMessage(protos().lookupType('tensorflow.serving.PredictRequest'), bytesOf(task.body));
    if ('unreadable' in decoded) return { value: { unreadable: decoded.unreadable, filter: [], filterCount: 0, aliases: [], inputCount: 0, feeds: null, feedsError: null }, transfer: [] };
    const request = decoded.message;
    const filter = (request.output_filter as string[] | undefined) ?? [];
    const aliases = predictAliases(request);
    const read: GrpcPredictRead = {
      filter: filter.slice(0, task.limits.outputs + 1), filterCount: filter.length,
      aliases: aliases.slice(0, task.limits.inputs + 1), inputCount: aliases.length, feeds: null, feedsError: null,
    };
    try {
      read.spec = modelSpecOf(request);
    } catch (error) {
      read.specError = taskError(error);
    }
    const feeds = attempt(() => wire(predictFeeds(request, false, task.limits.inputs)));
    return { value: { ...read, feeds: feeds.value, feedsError: feeds.error }, transfer: feeds.transfer };
  });
}

/** A ModelInfer message: its fields and inputs as feeds. */
export function grpcInfer(task: GrpcTask): unknown {
  return answer<GrpcInferRead>(() => {
    const decoded = decodeMessage(protos().lookupType('inference.ModelInferRequest'), bytesOf(task.body));
    if ('unreadable' in decoded) return { value: { unreadable: decoded.unreadable, feeds: null, feedsError: null }, transfer: [] };
    const request = decoded.message;
    const feeds = attempt(() => wire(inferFeeds(request, false, task.limits.inputs)));
    return { value: { head: inferHead(request, task.limits.outputs), feeds: feeds.value, feedsError: feeds.error }, transfer: feeds.transfer };
  });
}

/** A Classify, Regress or MultiInference message: the message but its input (encoded again, small), and its tf.Examples serialized. */
export function grpcExamples(task: GrpcExamplesTask): unknown {
  return answer<GrpcExamplesRead>(() => {
    const type = protos().lookupType(task.type);
    const decoded = decodeMessage(type, bytesOf(task.body));
    if ('unreadable' in decoded) return { value: { unreadable: decoded.unreadable, examples: null, examplesError: null }, transfer: [] };
    const { input, ...rest } = decoded.message;
    const examples = attempt(() => wire({ inputs: new Tensor('string', serializedExamples(input as Message | undefined, task.method)) }));
    const head = moved(type.encode(rest).finish());
    return { value: { head: head.value, examples: examples.value, examplesError: examples.error }, transfer: [...head.transfer, ...examples.transfer] };
  });
}

/** A Classify, Regress or MultiInference response, built from its runs' outputs and encoded. */
export function grpcExamplesResponse(task: GrpcExamplesResponseTask): unknown {
  return answer(() => encoded(task.type, examplesMessage(task.runs.map((run) => ({ ...run, outputs: fromWire(run.outputs) })), task.multi)));
}

/** The encoded bytes of a message, moved back. */
function encoded(type: string, message: Message): { value: Uint8Array; transfer: ArrayBuffer[] } {
  return moved(protos().lookupType(type).encode(message).finish());
}

/** A PredictResponse, encoded. */
export function grpcPredictResponse(task: GrpcPredictResponseTask): unknown {
  return answer(() => {
    const outputs: Record<string, Message> = {};
    for (const [key, tensor] of Object.entries(fromWire(task.outputs))) outputs[key] = tensorToProto(tensor, task.content);
    return encoded('tensorflow.serving.PredictResponse', { model_spec: task.modelSpec, outputs });
  });
}

/** A ModelInferResponse, encoded, with its outputs' raw bytes. */
export function grpcInferResponse(task: GrpcInferResponseTask): unknown {
  return answer(() => {
    const outputs = fromWire(task.outputs);
    return encoded('inference.ModelInferResponse', { ...task.message, raw_output_contents: task.names.map((name) => outputBytes(outputs[name]!)) });
  });
}
