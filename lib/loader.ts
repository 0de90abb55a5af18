/**
 * Loading a SavedModel by hand, so its graph can be placed on a device first.
 *
 * TF_LoadSessionFromSavedModel cannot place a graph, so for a partition (lib/partitions.ts) the
 * native side imports the GraphDef with a default device (TF_ImportGraphDefOptionsSetDefaultDevice),
 * creates the session and runs the steps planned here, which are those of TensorFlow's loader
 * (tensorflow/cc/saved_model/loader.cc, RestoreSession):
 * 1. the saver's restore op, feeding its filename tensor `<dir>/variables/variables` and every
 *    asset's path, skipped (as TensorFlow does) when variables/variables.index does not exist;
 * 2. the init op, feeding the assets: the `__saved_model_init_op` signature's output of that name
 *    (TF2), else the one node of the `saved_model_main_op` collection, else of `legacy_init_op`.
 * Assets come from asset_file_def, else TF1's `saved_model_assets` collection, as there.
 */
import { access } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';

import { Reader } from 'protobufjs/light';

import { InvalidArgumentError, NotFoundError, TensorFlowError } from './errors';
import { readGraphFile } from './files';
import { ASSET_FILE_DEF, lengthDelimitedFields, LOADER_META_GRAPH } from './proto';

/** One step the native loader runs: `target` with scalar string feeds ([name, value, ...]). */
export interface LoadStep {
  readonly feeds: readonly string[];
  readonly target: string;
  /** For errors: "restoring the variables", "running the init op ...". */
  readonly what: string;
}

/** What the native loader needs, and the MetaGraphDef it stands for. */
export interface LoadPlan {
  /** The meta graph's GraphDef as saved, but for nodes pinned to a device of the partition's type. */
  readonly graphDef: Uint8Array;
  /** The whole MetaGraphDef's bytes (what TF_LoadSessionFromSavedModel would hand back). */
  readonly metaGraph: Uint8Array;
  readonly steps: readonly LoadStep[];
}

interface TensorInfoLite { name?: string }
interface LoaderMeta {
  metaInfoDef?: { tags?: string[] } | null;
  saverDef?: { filenameTensorName?: string; restoreOpName?: string } | null;
  collectionDef?: Record<string, { nodeList?: { value?: string[] } | null; anyList?: { value?: { typeUrl?: string; value?: Uint8Array }[] } | null }>;
  signatureDef?: Record<string, { outputs?: Record<string, TensorInfoLite> }>;
  assetFileDef?: { tensorInfo?: TensorInfoLite | null; filename?: string }[];
}

const INIT_OP_KEY = '__saved_model_init_op';

/** The length-delimited fields numbered `field` of a message's bytes, as views (no copies). */
function fieldsOf(bytes: Uint8Array, field: number): Uint8Array[] {
  return Array.from(lengthDelimitedFields(bytes, field), ([, value]) => value);
}

function varint(value: number): Buffer {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** `bytes` with each length-delimited field numbered `field` replaced by edit(its bytes); the rest as it was. */
function editFields(bytes: Uint8Array, field: number, edit: (value: Uint8Array) => Uint8Array): Buffer {
  const reader = Reader.create(bytes);
  const chunks: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) {
      const length = reader.uint32();
      const edited = edit(bytes.subarray(reader.pos, reader.pos + length));
      reader.skip(length);
      chunks.push(varint(tag), varint(edited.length), edited);
    } else {
      reader.skipType(tag & 7);
      chunks.push(bytes.subarray(start, reader.pos));
    }
  }
  return Buffer.concat(chunks);
}

const NODE_DEVICE = 4;
// A device's type in any of the spellings TensorFlow parses: "/device:GPU:0", "/gpu:0",
// "/job:localhost/replica:0/task:0/device:GPU:0", "GPU:*".
const DEVICE_TYPE = /(?:^|\/)(?:device:)?(CPU|GPU):(?:\d+|\*)$/i;

/**
 * The GraphDef with every node (of the graph and of its functions) that is pinned to a device of
 * `type` moved to `device`. The import's default device reaches only nodes that name none; a
 * TF1 export saved with its devices (Builder's clear_devices=False) pins nodes to
 * /device:GPU:0, which would put a partition's model on partition 0's allocator.
 */
function moveDevices(graphDef: Uint8Array, device: string, type: 'GPU' | 'CPU'): Uint8Array {
  const moved = Buffer.concat([varint((NODE_DEVICE << 3) | 2), varint(Buffer.byteLength(device)), Buffer.from(device)]);
  const moveNode = (node: Uint8Array): Uint8Array => {
    const pinned = fieldsOf(node, NODE_DEVICE).map((d) => Buffer.from(d).toString()).filter((d) => d !== '').pop();
    if (pinned === undefined || DEVICE_TYPE.exec(pinned)?.[1]?.toUpperCase() !== type) return node;
    return Buffer.concat([editFields(node, NODE_DEVICE, () => new Uint8Array(0)), moved]);
  };
  const nodesMoved = editFields(graphDef, 1, moveNode);
  return editFields(nodesMoved, 2, (library) => editFields(library, 1, (fn) => editFields(fn, 3, moveNode)));
}

/** @internal Whether two tag-sets are the same set (how TensorFlow's loader picks a meta graph). */
export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((tag) => set.has(tag));
}

/** The parts of a MetaGraphDef that list its assets. */
export interface AssetSource {
  assetFileDef?: { tensorInfo?: { name?: string } | null; filename?: string }[];
  collectionDef?: Record<string, { anyList?: { value?: { typeUrl?: string; value?: Uint8Array }[] } | null }>;
}

/**
 * @internal A meta graph's assets as TensorFlow's loader finds them (GetAssetFileDefs):
 * asset_file_def, else TF1's saved_model_assets collection. The tensor each is fed to, and its
 * file name under assets/.
 */
export function assetFileDefs(meta: AssetSource): { tensor: string; filename: string }[] {
  let defs = meta.assetFileDef ?? [];
  if (defs.length === 0) {
    defs = (meta.collectionDef?.['saved_model_assets']?.anyList?.value ?? [])
      .filter((any) => any.typeUrl?.endsWith('/tensorflow.AssetFileDef') && any.value)
      .map((any) => ASSET_FILE_DEF.decode(any.value!) as { tensorInfo?: TensorInfoLite | null; filename?: string });
  }
  return defs.map((def) => ({ tensor: def.tensorInfo?.name ?? '', filename: def.filename ?? '' }));
}

/**
 * The asset files (paths under assets/, normalized) that any meta graph of the SavedModel at
 * `exportDir` names: what TensorFlow's loader may open there. Empty when saved_model.pb cannot
 * be read or parsed (TensorFlow's load then fails on it first).
 */
export async function namedAssetFiles(exportDir: string): Promise<ReadonlySet<string>> {
  const names = new Set<string>();
  try {
    const bytes = await readGraphFile(path.join(exportDir, 'saved_model.pb'));
    for (const metaGraph of fieldsOf(bytes, 2)) {
      for (const def of assetFileDefs(LOADER_META_GRAPH.decode(metaGraph) as unknown as AssetSource)) names.add(path.normalize(def.filename.split('\0')[0]!)); // a NUL ends the name where TensorFlow opens it
    }
  } catch {
    // Unreadable: TensorFlow says so as it loads.
  }
  return names;
}

/** The asset files TensorFlow's loader feeds: [tensor name, path under assets/]. */
function assetFeeds(meta: LoaderMeta, exportDir: string): string[] {
  return assetFileDefs(meta).flatMap((def) => [def.tensor, path.join(exportDir, 'assets', def.filename)]);
}

/** The init op's name as TensorFlow's loader finds it ('' for none). */
function initOpOf(meta: LoaderMeta, exportDir: string): string {
  const signature = meta.signatureDef?.[INIT_OP_KEY];
  if (signature) {
    const output = signature.outputs?.[INIT_OP_KEY];
    if (!output) throw new TensorFlowError('FAILED_PRECONDITION', `${exportDir}: the ${INIT_OP_KEY} signature has no output named ${INIT_OP_KEY}`);
    return output.name ?? '';
  }
  const key = meta.collectionDef?.['saved_model_main_op'] ? 'saved_model_main_op' : 'legacy_init_op';
  const nodes = meta.collectionDef?.[key]?.nodeList?.value;
  if (!nodes) return '';
  if (nodes.length !== 1) throw new TensorFlowError('FAILED_PRECONDITION', `${exportDir}: expected exactly one node in the ${key} collection, found ${nodes.length}`);
  return nodes[0]!;
}

/**
 * Reads saved_model.pb and plans the load of the meta graph whose tag-set is `tags` onto
 * `device` (nodes saved pinned to a device of its type are moved onto it).
 * NOT_FOUND when there is no saved_model.pb or no such tag-set (naming the ones there),
 * UNIMPLEMENTED for a text-format saved_model.pbtxt, DATA_LOSS when it does not parse.
 */
export async function planLoad(exportDir: string, tags: readonly string[], device: { name: string; type: 'GPU' | 'CPU' }): Promise<LoadPlan> {
  const file = path.join(exportDir, 'saved_model.pb');
  let bytes: Uint8Array;
  try {
    bytes = await readGraphFile(file);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    if (await access(path.join(exportDir, 'saved_model.pbtxt')).then(() => true, () => false)) {
      throw new TensorFlowError('UNIMPLEMENTED', `${exportDir} holds saved_model.pbtxt (text format); a partition load reads saved_model.pb: ` +
        're-save it in binary (tf.saved_model.save), or load it without partition');
    }
    throw new NotFoundError(`could not read ${file}: ${(error as Error).message}`);
  }
  try {
    return await plan(bytes, exportDir, tags, device);
  } catch (error) {
    if (error instanceof TensorFlowError) throw error;
    throw new TensorFlowError('DATA_LOSS', `${file} is not a readable SavedModel (${(error as Error).message}): it is truncated or corrupt; copy it again from the source`);
  }
}

async function plan(bytes: Uint8Array, exportDir: string, tags: readonly string[], device: { name: string; type: 'GPU' | 'CPU' }): Promise<LoadPlan> {
  const found: string[] = [];
  for (const metaGraph of fieldsOf(bytes, 2)) {
    const meta = LOADER_META_GRAPH.decode(metaGraph) as unknown as LoaderMeta;
    const its = meta.metaInfoDef?.tags ?? [];
    found.push(`[${its.join(', ')}]`);
    if (!sameTags(its, tags)) continue;
    const graphDef = moveDevices(fieldsOf(metaGraph, 2)[0] ?? new Uint8Array(0), device.name, device.type);
    const assets = assetFeeds(meta, exportDir);
    const steps: LoadStep[] = [];
    const saver = meta.saverDef;
    const index = path.join(exportDir, 'variables', 'variables.index');
    if (saver?.restoreOpName && await access(index).then(() => true, () => false)) {
      steps.push({
        feeds: [saver.filenameTensorName ?? '', path.join(exportDir, 'variables', 'variables'), ...assets],
        target: saver.restoreOpName,
        what: `restoring the variables from ${path.join(exportDir, 'variables')}`,
      });
    }
    const init = initOpOf(meta, exportDir);
    if (init) steps.push({ feeds: assets, target: init, what: `running the init op '${init}'` });
    return { graphDef, metaGraph, steps };
  }
  throw new NotFoundError(`${exportDir} has no meta graph with the tag-set [${tags.join(', ')}]; its tag-sets are ${found.join(', ') || '(none)'}`);
}

/**
 * Fails fast with UNAVAILABLE when nothing listens at a grpc://host:port target (TensorFlow
 * would retry until the session's operation timeout). A connection that neither opens nor fails
 * within `waitMs` is left to TensorFlow.
 */
export function checkReachable(target: string, waitMs = 5000): Promise<void> {
  const address = target.slice('grpc://'.length);
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (error?: Error & { code?: string }) => {
      socket.destroy();
      clearTimeout(timer);
      if (!error) return resolve();
      reject(new TensorFlowError('UNAVAILABLE', `nothing answers at ${target} (${error.code ?? error.message}): start the TensorFlow worker ` +
        '(tf.distribute.Server) there first, or correct the target'));
    };
    const timer = setTimeout(() => done(), waitMs);
    socket.once('connect', () => done());
    socket.once('error', done);
  });
}
