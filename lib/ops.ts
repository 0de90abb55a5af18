/**
 * What a SavedModel can execute, found from its saved_model.pb before TensorFlow sees the
 * graph, and the op policy (LoadOptions.opPolicy) that refuses a model reaching ops it
 * should not.
 *
 * A SavedModel is a program: its graph can read and write files, and TensorFlow's loader
 * runs part of it (the saver's restore op and the init op) during the load itself. So the
 * check reads the graph with lib/proto.ts's schema (TensorFlow's field numbers: graph.proto,
 * node_def.proto, attr_value.proto, function.proto, meta_graph.proto, saver.proto) and
 * walks, for each entry point TensorFlow runs:
 *   - back from every output tensor of each signature through node inputs and control
 *     inputs (a session run executes what its fetches depend on);
 *   - into every function a node calls (an op that names a library function, and every
 *     function-valued attribute: StatefulPartitionedCall's `f`, While's `cond`/`body`,
 *     If's branches, Case's `branches`, a dataset's map function, ...), transitively. A
 *     called function counts whole: TensorFlow keeps a function's stateful nodes whether or
 *     not its outputs need them (PruneFunctionBody), so a WriteFile that hangs only on a
 *     function's control outputs is found;
 *   - the same from the init op (TF2's `__saved_model_init_op` signature, TF1's
 *     `saved_model_main_op` / `legacy_init_op` collection) and from the saver's restore op.
 * The saver's own SaveV2 nodes, which no entry reaches, do not count.
 */
import { readdirSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { InvalidArgumentError, invalidType, TensorFlowError } from './errors';
import { readGraphFile } from './files';
import { PACKAGE_ROOT } from './native';
import { assetFileDefs, sameTags } from './loader';
import { GRAPH_META_GRAPH, GRAPH_SAVED_MODEL, lengthDelimitedFields } from './proto';

interface NameAttrList { name?: string; attr?: Record<string, AttrValue> }
interface AttrValue {
  list?: { func?: NameAttrList[] } | null;
  s?: Uint8Array;
  tensor?: { stringVal?: Uint8Array[] } | null;
  placeholder?: string;
  func?: NameAttrList | null;
}
interface NodeDef { name?: string; op?: string; input?: string[]; attr?: Record<string, AttrValue> }
interface FunctionDef { signature?: { name?: string; inputArg?: { name?: string }[] } | null; nodeDef?: NodeDef[]; attr?: Record<string, AttrValue> }
interface TensorInfo {
  name?: string;
  cooSparse?: { valuesTensorName?: string; indicesTensorName?: string; denseShapeTensorName?: string } | null;
  compositeTensor?: { components?: TensorInfo[] } | null;
}
interface MetaGraph {
  metaInfoDef?: { tags?: string[] } | null;
  graphDef?: { node?: NodeDef[]; library?: { function?: FunctionDef[]; gradient?: { functionName?: string; gradientFunc?: string }[] } | null } | null;
  saverDef?: { filenameTensorName?: string; restoreOpName?: string } | null;
  assetFileDef?: { tensorInfo?: TensorInfo | null; filename?: string }[];
  collectionDef?: Record<string, { nodeList?: { value?: string[] } | null; anyList?: { value?: { typeUrl?: string; value?: Uint8Array }[] } | null }>;
  signatureDef?: Record<string, { outputs?: Record<string, TensorInfo> }>;
}

/**
 * Which ops a model may reach. `'serve'` refuses the file-system and process ops no
 * inference needs (SERVE_DENIED_OPS); `{ deny }` refuses the op types listed; `{ allow }`
 * refuses every op type not listed; `'none'` checks nothing. Op type names are TensorFlow's
 * (NodeDef.op), e.g. 'ReadFile'.
 */
export type OpPolicy = 'serve' | 'none'
  | {
    /** Op types refused (NodeDef.op names, e.g. 'ReadFile'); every other is allowed. */
    readonly deny: readonly string[];
  }
  | {
    /** The only op types allowed (NodeDef.op names); every other is refused. */
    readonly allow: readonly string[];
  };

/**
 * The ops `opPolicy: 'serve'` refuses, with the reason an error gives. TensorFlow's
 * file-system ops (io_ops, dataset readers and writers, summary and debug writers,
 * checkpoint ops outside the restore op), the ops that call out of the graph (py_func,
 * RemoteCall) or run a graph the check cannot see (DatasetFromGraph), and Abort. Besides these,
 * PrintV2 is refused when its output_stream is a file (`file://...`) or set by an attribute
 * placeholder, DecodeProtoV2/EncodeProto when their descriptor_source is a file, and
 * FixedUnigramCandidateSampler when it reads a vocab_file. A list of
 * names cannot know every op (custom op libraries least of all): where that matters, use
 * `{ allow }`, which refuses whatever it does not name.
 */
export const SERVE_DENIED_OPS: Readonly<Record<string, string>> = Object.freeze({
  ...reasons('reads files', [
    'ReadFile', 'MatchingFiles', 'ImmutableConst', 'WholeFileReader', 'WholeFileReaderV2', 'TextLineReader',
    'TextLineReaderV2', 'FixedLengthRecordReader', 'FixedLengthRecordReaderV2', 'TFRecordReader', 'TFRecordReaderV2',
    'LMDBReader', 'RecordInput', 'TFRecordDataset', 'TFRecordDatasetV2', 'TextLineDataset', 'FixedLengthRecordDataset',
    'FixedLengthRecordDatasetV2', 'CSVDataset', 'CSVDatasetV2', 'ExperimentalCSVDataset', 'LMDBDataset',
    'ExperimentalLMDBDataset', 'SqlDataset', 'ExperimentalSqlDataset', 'MatchingFilesDataset',
    'ExperimentalMatchingFilesDataset', 'LoadDataset', 'SnapshotDataset', 'SnapshotDatasetV2', 'SnapshotDatasetReader',
    'Restore', 'RestoreV2', 'RestoreSlice', 'LoadAndRemapMatrix', 'GenerateVocabRemapping',
    'InitializeTableFromTextFile', 'InitializeTableFromTextFileV2', 'Skipgram', 'SnapshotChunkDataset',
    'ListSnapshotChunksDataset', 'DTensorRestoreV2',
  ]),
  ...reasons('writes files', [
    'WriteFile', 'Save', 'SaveV2', 'SaveSlices', 'MergeV2Checkpoints', 'SaveDataset', 'SaveDatasetV2',
    'DatasetToTFRecord', 'ExperimentalDatasetToTFRecord', 'CacheDataset', 'CacheDatasetV2',
    'CreateSummaryFileWriter', 'CreateSummaryDbWriter', 'WriteSummary', 'WriteScalarSummary', 'WriteHistogramSummary',
    'WriteImageSummary', 'WriteAudioSummary', 'WriteGraphSummary', 'WriteRawProtoSummary', 'ImportEvent',
    'DebugIdentity', 'DebugIdentityV2', 'DebugIdentityV3', 'DebugNanCount', 'DebugNumericSummary', 'DebugNumericSummaryV2',
    'CalibrationStatisticsSaver', 'DistributedSave', 'DumpTensor',
  ]),
  ...reasons('talks to other machines', [
    'RpcServer', 'RpcServerStart', 'RpcServerRegister', 'RpcClient', 'RpcCall', 'RpcCheckStatus', 'RpcGetValue',
    'DataServiceDataset', 'DataServiceDatasetV2', 'DataServiceDatasetV3', 'DataServiceDatasetV4', 'RegisterDataset',
    'RegisterDatasetV2',
  ]),
  ...reasons('configures the file system', ['FileSystemSetConfiguration', 'GcsConfigureCredentials', 'GcsConfigureBlockCache']),
  ...reasons('calls code outside the graph', ['PyFunc', 'PyFuncStateless', 'EagerPyFunc', 'RemoteCall']),
  ...reasons('runs a graph held in a tensor, which this check cannot see', ['DatasetFromGraph']),
  ...reasons('ends the process', ['Abort']),
});

function reasons(reason: string, ops: readonly string[]): Record<string, string> {
  return Object.fromEntries(ops.map((op) => [op, reason]));
}

// What an entry point does by its nature, allowed whatever the policy when the file it reads is
// the one TensorFlow's loader feeds: the restore op reads the SavedModel's variables/ (the
// saver's filename tensor), the init op its assets/ (the asset tensors). Which input names the file.
const ENTRY_FILE_OPS: Readonly<Record<EntryKind, ReadonlyMap<string, { input: number; from: 'saver' | 'asset' }>>> = {
  signature: new Map(),
  init: new Map([['InitializeTableFromTextFile', { input: 1, from: 'asset' }], ['InitializeTableFromTextFileV2', { input: 1, from: 'asset' }]]),
  restore: new Map([['Restore', { input: 0, from: 'saver' }], ['RestoreV2', { input: 0, from: 'saver' }], ['RestoreSlice', { input: 0, from: 'saver' }]]),
};

/** What TensorFlow runs of a SavedModel: a signature, the init op at load, the saver's restore op at load. */
export type EntryKind = 'signature' | 'init' | 'restore';

/**
 * Why opPolicy 'serve' refuses op type `op` when an entry of `kind` reaches it (e.g. 'reads
 * files'), or null; for the restore and init ops' own file ops, null stands for "when they read
 * what the loader feeds", which the check itself traces.
 */
export function serveRefusal(kind: EntryKind, op: string): string | null {
  return ENTRY_FILE_OPS[kind].has(op) ? null : SERVE_DENIED_OPS[op] ?? null;
}

/** One entry point and the op types it reaches, each with the first path found to it. */
export interface EntryOps {
  /** 'signature' for a signature, 'init' for the init op (the saved_model_main_op or legacy_init_op collection's, or TF2's __saved_model_init_op), 'restore' for the variables' restore op. */
  readonly kind: EntryKind;
  /** The signature's name; the op's node name for 'init' and 'restore'. */
  readonly name: string;
  /** Op type → the steps from the entry to a node of that type, e.g. ["output 'y'", "node 'MatMul' (MatMul)"]. */
  readonly ops: ReadonlyMap<string, readonly string[]>;
}

/** Where an entry is described in messages: "signature 'x'", "the init op 'main_op'". */
export function entryLabel(entry: { kind: EntryKind; name: string }): string {
  if (entry.kind === 'signature') return `signature '${entry.name}'`;
  return entry.kind === 'init' ? `the init op '${entry.name}'` : `the saver's restore op '${entry.name}'`;
}

// A linked list of steps (a label, or a node named when the path is), so a path costs one
// object per step and is written out only when it is named.
interface Trail { readonly step: string | NodeDef; readonly prev: Trail | null }

function steps(trail: Trail | null): string[] {
  const out: string[] = [];
  for (let t = trail; t; t = t.prev) out.push(typeof t.step === 'string' ? t.step : `node '${t.step.name ?? ''}' (${t.step.op ?? ''})`);
  return out.reverse();
}

function nodeName(input: string): string {
  const start = input.startsWith('^') ? 1 : 0;
  const colon = input.indexOf(':', start);
  return input.slice(start, colon < 0 ? undefined : colon);
}

/** The library functions a node calls: its op, when that names one, and its function-valued attributes. */
function calledFunctions(graph: Graph, node: NodeDef): string[] {
  const names: string[] = [];
  if (node.op && graph.functions.has(node.op)) names.push(node.op);
  attrFunctions(node.attr, names);
  return names;
}

function attrFunctions(attrs: Record<string, AttrValue> | undefined, out: string[]): void {
  if (!attrs) return;
  for (const key of Object.keys(attrs)) {
    const value = attrs[key]!;
    if (value.func?.name) {
      out.push(value.func.name);
      attrFunctions(value.func.attr, out);
    }
    for (const f of value.list?.func ?? []) {
      if (f.name) out.push(f.name);
      attrFunctions(f.attr, out);
    }
  }
}

/** A reached node as a policy sees it: the function it is in (null: the graph itself). */
interface ReachedNode { readonly node: NodeDef; readonly scope: FunctionDef | null; readonly trail: Trail }

/**
 * Walks one entry: back from `starts` (tensor or node names of the top-level graph) through
 * inputs and control inputs, into every function called and every gradient function registered
 * for one (SymbolicGradient runs those), calling `visit` once per node.
 */
function walk(graph: Graph, starts: readonly { label: string; name: string }[], visit: (reached: ReachedNode) => void): void {
  const seenNodes = new Set<string>();
  const seenFunctions = new Set<string>();
  const queue: { node?: NodeDef; fn?: FunctionDef; trail: Trail }[] = [];
  const enqueue = (name: string, trail: Trail, how: string): void => {
    const fn = graph.functions.get(name);
    if (!fn || seenFunctions.has(name)) return;
    seenFunctions.add(name);
    const at = { step: `${how} '${name}'`, prev: trail };
    queue.push({ fn, trail: at });
    for (const gradient of graph.gradients.get(name) ?? []) enqueue(gradient, at, 'its gradient function');
    // Grappler's implementation selector runs, in a call's place, another function of the library
    // that implements the same API (api_implements) for the device (helper-135: a call of an
    // identity function ran a ReadFile one that nothing named).
    const implemented = utf8(fn.attr?.['api_implements']?.s);
    if (implemented) for (const other of graph.implementations.get(implemented) ?? []) enqueue(other, at, `a function of the same api_implements ('${implemented}') TensorFlow may run in its place,`);
  };
  const callees = (node: NodeDef, trail: Trail): void => {
    for (const name of calledFunctions(graph, node)) enqueue(name, trail, 'function');
  };
  for (const start of starts) {
    const name = nodeName(start.name);
    const node = graph.nodes.get(name);
    if (!node || seenNodes.has(name)) continue;
    seenNodes.add(name);
    queue.push({ node, trail: { step: start.label, prev: null } });
  }
  // Each queue item carries its consumer's trail: paths run from the entry to the node.
  for (let i = 0; i < queue.length; i++) {
    const item = queue[i]!;
    if (item.fn) {
      for (const node of item.fn.nodeDef ?? []) {
        const trail = { step: node, prev: item.trail };
        visit({ node, scope: item.fn, trail });
        callees(node, trail);
      }
      continue;
    }
    const node = item.node!;
    const trail = { step: node, prev: item.trail };
    visit({ node, scope: null, trail });
    callees(node, trail);
    for (const input of node.input ?? []) {
      const name = nodeName(input);
      const next = graph.nodes.get(name);
      if (!next || seenNodes.has(name)) continue;
      seenNodes.add(name);
      queue.push({ node: next, trail });
    }
  }
}

interface Graph {
  readonly nodes: ReadonlyMap<string, NodeDef>;
  readonly functions: ReadonlyMap<string, FunctionDef>;
  /** Function name → the gradient functions registered for it (FunctionDefLibrary.gradient). */
  readonly gradients: ReadonlyMap<string, readonly string[]>;
  /** An api_implements value → the library's functions that implement it (any may run for any). */
  readonly implementations: ReadonlyMap<string, readonly string[]>;
  /**
   * Tensors TensorFlow's loader feeds with a file of the SavedModel: its assets (tensor → the
   * file name the loader joins onto assets/), and the saver's filename.
   */
  readonly assets: ReadonlyMap<string, string>;
  readonly saverFilename: string | null;
  /** Function name → the nodes that call it, and where they are (built on first use). */
  callers?: Map<string, { node: NodeDef; scope: FunctionDef | null }[]>;
  /** Every AssignVariableOp that runs at load (restore and init ops), and where it is (built on first use). */
  assignments?: { node: NodeDef; scope: FunctionDef | null }[];
  /** The nodes the restore and init ops reach: what runs at load, before any table is read. */
  atLoad?: ReadonlySet<NodeDef>;
}

function tensorNames(info: TensorInfo, out: string[]): void {
  if (info.name) out.push(info.name);
  const sparse = info.cooSparse;
  if (sparse) for (const name of [sparse.valuesTensorName, sparse.indicesTensorName, sparse.denseShapeTensorName]) if (name) out.push(name);
  for (const part of info.compositeTensor?.components ?? []) tensorNames(part, out);
}

/** The entries of one meta graph with their start nodes, in a stable order. */
function entries(meta: MetaGraph): { kind: EntryKind; name: string; starts: { label: string; name: string }[] }[] {
  const out: { kind: EntryKind; name: string; starts: { label: string; name: string }[] }[] = [];
  const signatures = meta.signatureDef ?? {};
  for (const name of Object.keys(signatures).sort()) {
    const starts: { label: string; name: string }[] = [];
    const outputs = signatures[name]!.outputs ?? {};
    for (const key of Object.keys(outputs).sort()) {
      const names: string[] = [];
      tensorNames(outputs[key]!, names);
      for (const tensor of names) starts.push({ label: `output '${key}'`, name: tensor });
    }
    // TF2's init op is a signature by name; TensorFlow hides it from users, and so do we.
    if (name === '__saved_model_init_op') out.push({ kind: 'init', name, starts });
    else out.push({ kind: 'signature', name, starts });
  }
  // TF1's init op is named in a collection (TF2 writes its NoOp there too: listed once).
  const listed = new Set(out.flatMap((e) => (e.kind === 'init' ? e.starts.map((s) => nodeName(s.name)) : [])));
  for (const key of ['saved_model_main_op', 'legacy_init_op']) {
    for (const op of meta.collectionDef?.[key]?.nodeList?.value ?? []) {
      if (listed.has(nodeName(op))) continue;
      listed.add(nodeName(op));
      out.push({ kind: 'init', name: nodeName(op), starts: [{ label: `${key} collection`, name: op }] });
    }
  }
  const restore = meta.saverDef?.restoreOpName;
  if (restore) out.push({ kind: 'restore', name: nodeName(restore), starts: [{ label: 'saver_def.restore_op_name', name: restore }] });
  return out;
}

// A tensor's name as TensorFlow spells a feed: "node:0" for "node".
function tensorName(ref: string): string {
  const name = ref.startsWith('^') ? ref.slice(1) : ref;
  return name.includes(':') ? name : `${name}:0`;
}

function graphOf(meta: MetaGraph): Graph {
  const nodes = new Map<string, NodeDef>();
  for (const node of meta.graphDef?.node ?? []) if (node.name) nodes.set(node.name, node);
  const functions = new Map<string, FunctionDef>();
  const implementations = new Map<string, string[]>();
  for (const fn of meta.graphDef?.library?.function ?? []) {
    if (!fn.signature?.name) continue;
    functions.set(fn.signature.name, fn);
    const implemented = utf8(fn.attr?.['api_implements']?.s);
    if (implemented) implementations.set(implemented, [...(implementations.get(implemented) ?? []), fn.signature.name]);
  }
  const gradients = new Map<string, string[]>();
  for (const g of meta.graphDef?.library?.gradient ?? []) {
    if (g.functionName && g.gradientFunc) gradients.set(g.functionName, [...(gradients.get(g.functionName) ?? []), g.gradientFunc]);
  }
  const assets = new Map<string, string>();
  for (const asset of assetFileDefs(meta)) if (asset.tensor) assets.set(tensorName(asset.tensor), asset.filename);
  const saver = meta.saverDef?.filenameTensorName;
  return { nodes, functions, gradients, implementations, assets, saverFilename: saver ? tensorName(saver) : null };
}

// Ops whose output 0 is their input 0: a file name passes through them unchanged.
const PASS_THROUGH: ReadonlySet<string> = new Set(['Identity', 'Snapshot', 'StopGradient', 'PlaceholderWithDefault']);
// Calls whose inputs are their function's arguments, in order.
const CALLS: ReadonlySet<string> = new Set(['PartitionedCall', 'StatefulPartitionedCall']);

function callersOf(graph: Graph, fn: string): { node: NodeDef; scope: FunctionDef | null }[] {
  if (!graph.callers) {
    const callers = new Map<string, { node: NodeDef; scope: FunctionDef | null }[]>();
    const add = (node: NodeDef, scope: FunctionDef | null) => {
      for (const name of calledFunctions(graph, node)) {
        const list = callers.get(name);
        if (list) list.push({ node, scope });
        else callers.set(name, [{ node, scope }]);
      }
    };
    for (const node of graph.nodes.values()) add(node, null);
    for (const f of graph.functions.values()) for (const node of f.nodeDef ?? []) add(node, f);
    graph.callers = callers;
  }
  return graph.callers.get(fn) ?? [];
}

/** What a tensor comes from once identities and function arguments are followed; `why` when they cannot be. */
type Origin = { node: NodeDef; scope: FunctionDef | null; tensor: string } | { why: string };

function origins(graph: Graph, scope: FunctionDef | null, ref: string | undefined, depth: number): Origin[] {
  if (ref === undefined) return [{ why: 'no input' }];
  if (depth > 64) return [{ why: 'a chain too long to follow' }];
  if (scope === null) {
    const node = graph.nodes.get(nodeName(ref));
    if (!node) return [{ why: `tensor '${ref}', which the graph does not have` }];
    // A tensor the loader feeds is where a trace ends, whatever its node would compute unfed.
    const fed = graph.assets.has(tensorName(ref)) || tensorName(ref) === graph.saverFilename;
    if (!fed && PASS_THROUGH.has(node.op ?? '')) return origins(graph, null, node.input?.[0], depth + 1);
    return [{ node, scope: null, tensor: tensorName(ref) }];
  }
  const fnName = scope.signature?.name ?? '';
  if (!ref.includes(':')) {
    // A function argument: what each caller passes in its place.
    const index = (scope.signature?.inputArg ?? []).findIndex((arg) => arg.name === ref);
    const callers = callersOf(graph, fnName);
    if (index < 0 || callers.length === 0) return [{ why: `argument '${ref}' of function '${fnName}', which nothing passes` }];
    return callers.flatMap(({ node, scope: outer }) => {
      if (!(CALLS.has(node.op ?? '') || node.op === fnName)) return [{ why: `argument '${ref}' of function '${fnName}', called by '${node.name}' (${node.op}), which this check does not follow` }];
      return origins(graph, outer, (node.input ?? []).filter((input) => !input.startsWith('^'))[index], depth + 1);
    });
  }
  const node = (scope.nodeDef ?? []).find((n) => n.name === nodeName(ref));
  if (!node) return [{ why: `tensor '${ref}', which function '${fnName}' does not have` }];
  if (PASS_THROUGH.has(node.op ?? '')) return origins(graph, scope, node.input?.[0], depth + 1);
  return [{ node, scope, tensor: ref }];
}

const describeOrigin = (o: Origin): string => ('why' in o ? o.why : `node '${o.node.name}' (${o.node.op})${o.scope ? ` in function '${o.scope.signature?.name ?? ''}'` : ''}`);

// A resource variable as TensorFlow shares it: its VarHandleOp's shared_name (else its node).
function variableOf(graph: Graph, scope: FunctionDef | null, ref: string | undefined, depth: number): string | null {
  const found = origins(graph, scope, ref, depth).map((o) => {
    if ('why' in o || o.node.op !== 'VarHandleOp') return null;
    // TensorFlow shares a variable by (container, shared_name). The container is left out here:
    // '' is 'localhost' to TensorFlow, and a check that told them apart let an assignment through
    // one handle escape a read through the other (helper-135); merging variables of one
    // shared_name can only make the check stricter, as does counting every handle with an empty
    // shared_name as one.
    return utf8(o.node.attr?.['shared_name']?.s);
  });
  return found.length > 0 && found.every((key) => key !== null && key === found[0]) ? found[0]! : null;
}

const variableLabel = (key: string): string => (key === '' ? 'a variable without a shared_name' : `variable '${key}'`);

function assignmentsOf(graph: Graph): { node: NodeDef; scope: FunctionDef | null }[] {
  if (!graph.assignments) {
    const all: { node: NodeDef; scope: FunctionDef | null }[] = [];
    const runs = (node: NodeDef) => node.op === 'AssignVariableOp' && (!graph.atLoad || graph.atLoad.has(node));
    for (const node of graph.nodes.values()) if (runs(node)) all.push({ node, scope: null });
    for (const f of graph.functions.values()) for (const node of f.nodeDef ?? []) if (runs(node)) all.push({ node, scope: f });
    graph.assignments = all;
  }
  return graph.assignments;
}

/**
 * Where the file a node reads comes from: null when input `ref` of a node in `scope` is,
 * through identities, function calls and resource variables, always the tensor TensorFlow's
 * loader feeds (`from`: an asset, or the saver's filename); otherwise what it comes from
 * instead, for the message. (TF2 keeps an asset's path in a variable that the init op assigns
 * from the fed placeholder, and reads it back in the table's initializer.)
 */
function untracedFile(graph: Graph, scope: FunctionDef | null, ref: string | undefined, from: 'saver' | 'asset', depth = 0): string | null {
  for (const origin of origins(graph, scope, ref, depth)) {
    if ('why' in origin) return origin.why;
    if (origin.scope === null && from === 'saver' && origin.tensor === graph.saverFilename) continue;
    const asset = origin.scope === null && from === 'asset' ? graph.assets.get(origin.tensor) : undefined;
    if (asset !== undefined) {
      // The loader joins an asset's file name onto assets/ as it is: '../' would leave it.
      if (asset === '' || asset.startsWith('/') || asset.split(/[\\/]/).includes('..')) return `asset '${asset}', a file name that leaves the SavedModel's assets/`;
      continue;
    }
    if (origin.node.op !== 'ReadVariableOp' || depth > 64) return describeOrigin(origin);
    const variable = variableOf(graph, origin.scope, origin.node.input?.[0], depth + 1);
    if (variable === null) return `${describeOrigin(origin)}, of a variable this check cannot name`;
    let assigned = 0;
    for (const a of assignmentsOf(graph)) {
      const target = variableOf(graph, a.scope, a.node.input?.[0], depth + 1);
      // An assignment at load whose variable cannot be named might be to this one.
      if (target === null) return `${describeOrigin(origin)}, a variable that '${a.node.name}' (AssignVariableOp${a.scope ? ` in function '${a.scope.signature?.name ?? ''}'` : ''}) may assign, through what this check does not follow`;
      if (target !== variable) continue;
      assigned++;
      const why = untracedFile(graph, a.scope, a.node.input?.[1], from, depth + 1);
      if (why !== null) return `${variableLabel(variable)}, assigned from ${why}`;
    }
    if (assigned === 0) return `${variableLabel(variable)}, which nothing assigns at load`;
  }
  return null;
}

/**
 * The meta graph of saved_model.pb bytes that TensorFlow's loader picks for `tags` (the one
 * whose tag-set equals it), or null when none does (the load fails in TensorFlow then).
 */
function pickMetaGraph(savedModel: Uint8Array, tags: readonly string[]): MetaGraph | null {
  const decoded = GRAPH_SAVED_MODEL.decode(savedModel) as unknown as { metaGraphs?: MetaGraph[] };
  return (decoded.metaGraphs ?? []).find((m) => sameTags(m.metaInfoDef?.tags ?? [], tags)) ?? null;
}

/**
 * The op types each entry of a meta graph reaches: every signature, the init op and the
 * saver's restore op, with the first path found to each op type (breadth first: a shortest one).
 */
function reachOf(meta: MetaGraph): EntryOps[] {
  const graph = graphOf(meta);
  return entries(meta).map(({ kind, name, starts }) => {
    const ops = new Map<string, readonly string[]>();
    walk(graph, starts, ({ node, trail }) => {
      const op = node.op ?? '';
      if (!ops.has(op)) ops.set(op, steps(trail));
    });
    return { kind, name, ops: new Map([...ops].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  });
}

/**
 * The op types each entry of the meta graph with tag-set `tags` reaches (`tfslice show --ops`).
 * @param savedModel the bytes of saved_model.pb
 * @returns null when no meta graph has that tag-set
 * @throws ERR_INVALID_ARG_TYPE (`savedModel` not a Uint8Array, `tags` not an array of strings),
 *   INVALID_ARGUMENT (bytes that are no SavedModel protobuf)
 */
export function reachedOps(savedModel: Uint8Array, tags: readonly string[]): EntryOps[] | null {
  if (!(savedModel instanceof Uint8Array)) throw invalidType('savedModel', "a Uint8Array (saved_model.pb's bytes)", savedModel);
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) throw invalidType('tags', "an array of strings (a tag-set, e.g. ['serve'])", tags);
  let meta: MetaGraph | null;
  try {
    meta = pickMetaGraph(savedModel, tags);
  } catch (error) {
    throw new InvalidArgumentError(`savedModel: its bytes are no SavedModel protobuf (${(error as Error).message})`);
  }
  return meta ? reachOf(meta) : null;
}

/**
 * PERMISSION_DENIED: the model reaches an op its opPolicy refuses. `op`, `entry` and `path`
 * name the first one found; the message lists the others.
 */
export class PermissionDeniedError extends TensorFlowError {
  /** Always 'PERMISSION_DENIED'. */
  declare readonly code: 'PERMISSION_DENIED';
  /** The refused op type, e.g. 'ReadFile'; '' when what is refused is an asset file that leads outside the SavedModel. */
  readonly op: string;
  /** What reaches it: "signature 'read_file'", "the init op 'main_op'", ... */
  readonly entry: string;
  /** The steps from the entry to the node (outputs, nodes, functions). */
  readonly path: readonly string[];
  /** The fields as documented above, for the first refused op found. */
  constructor(message: string, op: string, entry: string, path: readonly string[]) {
    super('PERMISSION_DENIED', message);
    this.op = op;
    this.entry = entry;
    this.path = path;
  }
}

function policyName(policy: OpPolicy): string {
  if (typeof policy === 'string') return `'${policy}'`;
  return 'deny' in policy ? '{ deny }' : '{ allow }';
}

const utf8 = (bytes: Uint8Array | undefined): string => (bytes ? Buffer.from(bytes).toString('utf8') : '');

// Ops that touch files only with some attribute values: why 'serve' refuses this node, or null.
function attrRefusal(node: NodeDef): string | null {
  const attr = node.attr ?? {};
  if (node.op === 'PrintV2') {
    const stream = attr['output_stream'];
    if (stream?.placeholder) return `its output_stream is set by its caller (attribute placeholder '${stream.placeholder}')`;
    const target = utf8(stream?.s);
    return target.startsWith('file://') ? `it writes to ${target}` : null;
  }
  if (node.op === 'FixedUnigramCandidateSampler') {
    const vocab = attr['vocab_file'];
    if (vocab?.placeholder) return `its vocab_file is set by its caller (attribute placeholder '${vocab.placeholder}')`;
    return utf8(vocab?.s) === '' ? null : `it reads ${utf8(vocab?.s)}`;
  }
  if (node.op === 'DecodeProtoV2' || node.op === 'EncodeProto') {
    const source = attr['descriptor_source'];
    if (source?.placeholder) return `its descriptor_source is set by its caller (attribute placeholder '${source.placeholder}')`;
    const target = utf8(source?.s);
    return target === '' || target === 'local://' || target.startsWith('bytes://') ? null : `it reads the descriptors in ${target}`;
  }
  return null;
}

/** Why `policy` refuses a node an entry of `kind` reaches, or null. */
function refusal(policy: Exclude<OpPolicy, 'none'>, kind: EntryKind, reached: ReachedNode, graph: Graph, allow: ReadonlySet<string> | null, deny: ReadonlySet<string> | null): string | null {
  const { node, scope } = reached;
  const op = node.op ?? '';
  const own = ENTRY_FILE_OPS[kind].get(op);
  if (own) {
    const source = untracedFile(graph, scope, (node.input ?? []).filter((input) => !input.startsWith('^'))[own.input], own.from);
    if (source === null) return null;
    if (policy === 'serve') {
      return `it reads a file its graph names (from ${source}), not ${own.from === 'saver' ? "the variables the loader feeds" : "one of the SavedModel's assets"}`;
    }
  }
  if (policy === 'serve') {
    const reason = SERVE_DENIED_OPS[op];
    return reason ? `it ${reason}` : attrRefusal(node);
  }
  if (allow) return allow.has(op) ? null : 'it is not in opPolicy.allow';
  return deny!.has(op) ? 'it is in opPolicy.deny' : null;
}

/**
 * Checks the meta graph of saved_model.pb bytes that TensorFlow would load for `tags` against
 * `policy`. Does nothing for 'none' or when no meta graph has that tag-set (TensorFlow then
 * fails the load itself).
 *
 * @throws PermissionDeniedError (PERMISSION_DENIED) naming the op, the entry that reaches it
 *   and the path, with the model's directory `exportDir` and how to allow it
 */
export function checkOpPolicy(savedModel: Uint8Array, tags: readonly string[], policy: OpPolicy, exportDir: string): void {
  if (policy === 'none') return;
  const meta = pickMetaGraph(savedModel, tags);
  if (meta) checkMetaGraph(meta, policy, exportDir);
}

/** checkOpPolicy on the MetaGraphDef bytes TF_LoadSessionFromSavedModel returned (what it did load). */
export function checkLoadedMetaGraph(metaGraph: Uint8Array, policy: OpPolicy, exportDir: string): void {
  if (policy === 'none') return;
  checkMetaGraph(GRAPH_META_GRAPH.decode(metaGraph) as unknown as MetaGraph, policy, exportDir);
}

function checkMetaGraph(meta: MetaGraph, policy: Exclude<OpPolicy, 'none'>, exportDir: string): void {
  const allow = typeof policy === 'object' && 'allow' in policy ? new Set(policy.allow) : null;
  const deny = typeof policy === 'object' && 'deny' in policy ? new Set(policy.deny) : null;
  const graph = graphOf(meta);
  checkAssetFiles(graph, policy, exportDir);
  const all = entries(meta);
  const atLoad = new Set<NodeDef>();
  for (const { kind, starts } of all) if (kind !== 'signature') walk(graph, starts, ({ node }) => atLoad.add(node));
  graph.atLoad = atLoad;
  const found: { op: string; entry: string; path: string[]; why: string }[] = [];
  const named = new Set<string>();
  for (const { kind, name, starts } of all) {
    walk(graph, starts, (reached) => {
      const { node, trail } = reached;
      const why = refusal(policy, kind, reached, graph, allow, deny);
      const key = `${kind}\0${name}\0${node.op ?? ''}`;
      if (why === null || named.has(key)) return;
      named.add(key);
      found.push({ op: node.op ?? '', entry: entryLabel({ kind, name }), path: steps(trail), why });
    });
  }
  if (found.length === 0) return;
  const [first] = found as [typeof found[0]];
  const others = found.slice(1, 9).map((f) => `'${f.op}' from ${f.entry}`);
  const more = found.length > 9 ? `, and ${found.length - 9} more` : '';
  throw new PermissionDeniedError(
    `opPolicy ${policyName(policy)} refuses the SavedModel at ${exportDir}: ${first.entry} reaches op '${first.op}' (${first.why}), ` +
    `via ${shortPath(first.path)}.` +
    (others.length > 0 ? ` It also reaches ${others.join(', ')}${more}.` : '') +
    ' If you trust this model, load it with an opPolicy that allows these ops ({ allow: [...] } or { deny: [...] }; ' +
    '`tfslice show --ops` lists what each signature reaches), or opPolicy: \'none\'.',
    first.op, first.entry, first.path,
  );
}

// The files the loader feeds as assets stay inside the SavedModel once links are followed: the
// names are checked (untracedFile), but assets/vocab.txt as a symbolic link to /etc/hostname read
// that file into a table a signature could return (helper-135). Inside the SavedModel's directory,
// not only assets/: a volume that mounts the model may make its files links within it.
function checkAssetFiles(graph: Graph, policy: Exclude<OpPolicy, 'none'>, exportDir: string): void {
  let root: string;
  try {
    root = realpathSync(exportDir);
  } catch {
    return; // TensorFlow's load says what is missing
  }
  const refuse = (what: string, why: string, fix: string): never => {
    throw new PermissionDeniedError(
      `opPolicy ${policyName(policy)} refuses the SavedModel at ${exportDir}: ${what} ${why}, which TensorFlow's loader would read. ` +
      `${fix} (or, if you trust this model, load it with opPolicy: 'none').`, '', what, [what]);
  };
  // Whether `file` is there (false: absent); refused when, links followed, it leads outside.
  const inside = (what: string, file: string, fix: string): boolean => {
    let real: string;
    try {
      real = realpathSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false; // TensorFlow's load fails on it, or never reads it
      return refuse(what, `cannot be followed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, fix);
    }
    if (real !== root && !real.startsWith(`${root}${path.sep}`)) refuse(what, `is a link to ${real}, outside the SavedModel`, fix);
    return true;
  };
  for (const file of new Set(graph.assets.values())) {
    const shown = file.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    const what = `its asset '${shown}'`;
    // A NUL ends the name where TensorFlow opens it (helper-137: 'lnk\0x' opened assets/lnk, a
    // link out, while the check could not follow the name and passed it).
    if (shown !== file) refuse(what, 'has a control character in its name', 'Name the file plainly');
    inside(what, path.join(exportDir, 'assets', file), 'Put the file itself in assets/');
  }
  // The restore op reads variables/ (helper-137: a link to another model's checkpoint was restored
  // and returned by a signature).
  const variables = path.join(exportDir, 'variables');
  if (inside("its 'variables' directory", variables, 'Put the checkpoint itself in variables/')) {
    let names: string[] = [];
    try {
      names = readdirSync(variables);
    } catch {
      // not a directory: TensorFlow's restore fails on it
    }
    for (const name of names) inside(`its variables file '${name}'`, path.join(variables, name), 'Put the checkpoint itself in variables/');
  }
}

// Long paths (deep function nesting) keep their two ends.
function shortPath(path: readonly string[]): string {
  return (path.length > 10 ? [...path.slice(0, 4), '…', ...path.slice(-5)] : path).join(' → ');
}

/**
 * Validates an opPolicy value.
 * @throws TypeError (ERR_INVALID_ARG_TYPE) naming `field` and what it accepts
 */
export function resolveOpPolicy(value: unknown, field: string): OpPolicy {
  if (value === 'serve' || value === 'none') return value;
  const expected = "'serve', 'none', { deny: string[] } or { allow: string[] }";
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidType(field, expected, value);
  const keys = Object.keys(value);
  if (keys.length !== 1 || (keys[0] !== 'deny' && keys[0] !== 'allow')) throw invalidType(field, `${expected} (exactly one of deny or allow)`, value);
  const key = keys[0] as 'deny' | 'allow';
  const list = (value as Record<string, unknown>)[key];
  if (!Array.isArray(list) || list.some((op) => typeof op !== 'string' || !/^[A-Za-z_][A-Za-z0-9_>.-]*$/.test(op))) {
    throw invalidType(`${field}.${key}`, 'an array of TensorFlow op type names (e.g. "ReadFile")', list);
  }
  return key === 'deny' ? Object.freeze({ deny: Object.freeze([...list as string[]]) }) : Object.freeze({ allow: Object.freeze([...list as string[]]) });
}

/**
 * Graph bytes up to this size are checked on the calling thread; bigger ones on a worker
 * thread, so a load never stalls the event loop for long. The cost is per node, about 3 µs
 * (measured: 150 000 of the smallest nodes, 4 MiB, took 500 ms): 256 KiB of the smallest nodes
 * is about 30 ms, of ordinary ones (shapes, dtypes, names in their attributes) a few ms.
 */
export const INLINE_CHECK_BYTES = 256 << 10;

/**
 * What the worker (lib/ops-worker.ts) is given and answers: an op policy check, or (`custom`
 * set) the outputs that reach no keyed wait (outputsWithoutKeyedWaits).
 */
export type OpsJob =
  | { readonly bytes: Uint8Array; readonly loaded: boolean; readonly tags: readonly string[]; readonly policy: OpPolicy; readonly exportDir: string; readonly custom?: undefined }
  | { readonly bytes: Uint8Array; readonly custom: readonly string[] };
export type OpsAnswer = null | { denied: true; message: string; op: string; entry: string; path: string[] } | { denied: false; message: string } | { calm: string[] };

/** Runs a job here; the worker runs the same. */
export function runOpsJob(job: OpsJob): OpsAnswer {
  if (job.custom !== undefined) return { calm: calmOutputs(job.bytes, new Set(job.custom)) };
  try {
    if (job.loaded) checkLoadedMetaGraph(job.bytes, job.policy, job.exportDir);
    else checkOpPolicy(job.bytes, job.tags, job.policy, job.exportDir);
    return null;
  } catch (error) {
    if (error instanceof PermissionDeniedError) return { denied: true, message: error.message, op: error.op, entry: error.entry, path: [...error.path] };
    return { denied: false, message: error instanceof Error ? error.message : String(error) };
  }
}

// A job's answer: here for small graphs, on a worker thread for big ones (INLINE_CHECK_BYTES).
// `movable`: the bytes are the caller's to give away (they move to the worker without a copy
// when they are a buffer of their own).
async function answerOf(job: OpsJob, movable: boolean): Promise<OpsAnswer> {
  if (job.bytes.length <= INLINE_CHECK_BYTES) return runOpsJob(job);
  return new Promise<OpsAnswer>((resolve, reject) => {
    const own = movable && job.bytes.byteOffset === 0 && job.bytes.byteLength === job.bytes.buffer.byteLength && job.bytes.buffer instanceof ArrayBuffer;
    const worker = new Worker(path.join(PACKAGE_ROOT, 'dist', 'ops-worker.js'), { workerData: job, transferList: own ? [job.bytes.buffer as ArrayBuffer] : [] });
    worker.once('message', (message: OpsAnswer) => resolve(message));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the op policy worker exited (code ${code}) without an answer`)));
  });
}

async function checkJob(job: OpsJob & { custom?: undefined }): Promise<void> {
  const answer = await answerOf(job, !job.loaded);
  if (answer === null || 'calm' in answer) return;
  if (answer.denied) throw new PermissionDeniedError(answer.message, answer.op, answer.entry, answer.path);
  const what = job.loaded ? 'the MetaGraphDef TensorFlow loaded' : path.join(job.exportDir, 'saved_model.pb');
  throw new InvalidArgumentError(`${what} is not a readable SavedModel (${answer.message}): the file is corrupt or not a SavedModel; opPolicy reads it before TensorFlow does`);
}

/**
 * Checks the SavedModel at `exportDir` against `policy` before TensorFlow reads it (loadModel
 * calls this). TensorFlow reads saved_model.pb first and falls back to other encodings, which
 * this check does not read: a model that has only those is refused under a policy.
 *
 * @throws PermissionDeniedError (PERMISSION_DENIED) when the model reaches a refused op, or has
 *   no saved_model.pb to check; InvalidArgumentError when saved_model.pb cannot be decoded
 */
export async function checkSavedModelOps(exportDir: string, tags: readonly string[], policy: OpPolicy): Promise<void> {
  if (policy === 'none') return;
  const file = path.join(exportDir, 'saved_model.pb');
  const found = await stat(file).then((s) => s.isFile(), () => false);
  if (!found) {
    for (const other of ['saved_model.pbtxt', 'saved_model.cpb']) {
      if (await stat(path.join(exportDir, other)).then(() => true, () => false)) {
        throw new PermissionDeniedError(
          `opPolicy ${policyName(policy)} cannot check ${path.join(exportDir, other)}: tfslice reads only saved_model.pb; ` +
          're-save the model in binary (tf.saved_model.save), or load it with opPolicy: \'none\' if you trust it',
          '', '', [],
        );
      }
    }
    return; // Nothing there: TensorFlow's load fails and says so.
  }
  await checkJob({ bytes: await readGraphFile(file), loaded: false, tags, policy, exportDir });
}

/**
 * Checks the MetaGraphDef TF_LoadSessionFromSavedModel returned, the graph TensorFlow did load:
 * a saved_model.pb replaced between checkSavedModelOps and TensorFlow's own read is caught here
 * for its signatures (its init op has run by then).
 * @throws PermissionDeniedError, InvalidArgumentError as checkSavedModelOps
 */
export async function checkLoadedOps(metaGraph: Uint8Array, policy: OpPolicy, exportDir: string): Promise<void> {
  if (policy === 'none') return;
  await checkJob({ bytes: metaGraph, loaded: true, tags: [], policy, exportDir });
}

// -- ops that loop or block -------------------------------------------------------------------

/**
 * Op types whose run time a graph's values, not its shapes, decide, or that wait on something
 * outside the run: loops (functional While and For, v1 control flow's frames), datasets and
 * their iterators (a dataset may repeat for ever), queues and the readers that take from them,
 * barriers, staging areas and their peeks, accumulators, mutexes, send/receive pairs,
 * collectives, in-graph batching (which waits for other runs' rows), and calls out of the
 * graph. On the inter-op pool TensorFlow's run timeout stops most of them (a loop between
 * iterations, a wait that listens for cancellation; a staging area's wait it cannot stop there
 * either): a session whose graph has one keeps its runs with a timeout there (native
 * MayRunOnCaller), and a model host never runs them on its JS thread (lib/host.ts).
 */
const LOOPING_OR_BLOCKING_OPS: ReadonlySet<string> = new Set([
  'While', 'StatelessWhile', '_While', 'For', 'NextIteration', 'RefNextIteration', 'Enter', 'RefEnter', 'Exit', 'RefExit', 'LoopCond',
  'RemoteCall', 'PyFunc', 'PyFuncStateless', 'EagerPyFunc',
  // In-graph batching waits for other runs' rows, up to its batch_timeout_micros (helper-109).
  'Batch', 'Unbatch', 'UnbatchGrad', 'BatchFunction',
]);
const LOOPING_OR_BLOCKING_NAMES = /Dataset|Iterator|Queue|Barrier|Stage|Unstage|Peek|Accumulator|Mutex|Send|Recv|Collective|Nccl|TPU|Rendezvous|^ReaderRead/;

/** Whether op type `op` may loop or block (LOOPING_OR_BLOCKING_OPS), or comes from a loaded op library (`custom`), whose ops nothing here knows. */
function loopsOrBlocks(op: string, custom: ReadonlySet<string>): boolean {
  return LOOPING_OR_BLOCKING_OPS.has(op) || LOOPING_OR_BLOCKING_NAMES.test(op) || custom.has(op);
}

/**
 * The first op type in a serialized MetaGraphDef that may loop or block (above): in its graph's
 * nodes or in any function of its library, whether or not a signature reaches it; null when none
 * does. `custom`: op types of loaded op libraries, counted as such. Reads only the op fields,
 * skipping the rest (tensor contents, attributes) by their lengths, so a graph of hundreds of
 * megabytes costs no decoding; it yields to the event loop every SCAN_NODES_PER_TURN nodes (a
 * graph of 200 000 nodes takes ~100 ms). Never rejects: a malformed message counts as one whose
 * ops may loop ('unreadable graph').
 */
export async function loopingOrBlockingOp(metaGraph: Uint8Array, custom: ReadonlySet<string> = new Set()): Promise<string | null> {
  return (await firstOps(metaGraph, [(op) => loopsOrBlocks(op, custom)]))[0]!;
}

/**
 * Op types whose wait TensorFlow finds, to cancel it, by the step's cancellation manager address
 * and token, in a list that outlives the step (queues' enqueue and dequeue, a barrier's take, an
 * accumulator's take: QueueBase::Cancel and its likes), where a stale attempt can shadow a later
 * run's (native/session.cc, AtFreshStackDepth). Named, not traced: a reader takes its work from
 * a queue (ReaderBase::Read, the queue's TryDequeue) whose handle may come from anywhere, a
 * resource variable filled at load among them (helper-108), so a walk along the graph's edges
 * cannot tell which queue an op waits on, only that it waits on one.
 */
const KEYED_WAIT_NAMES = /Queue|Barrier|Accumulator|^Reader(?:Read|ReadUpTo)(?:V2)?$/;

/**
 * The first op type in a serialized MetaGraphDef whose wait TensorFlow cancels by the step's
 * cancellation manager address (KEYED_WAIT_NAMES), or of a loaded op library (`custom`); null
 * when none. Read as loopingOrBlockingOp reads.
 */
export async function keyedWaitOp(metaGraph: Uint8Array, custom: ReadonlySet<string> = new Set()): Promise<string | null> {
  return (await firstOps(metaGraph, [(op) => waitsKeyed(op, custom)]))[0]!;
}

/**
 * loopingOrBlockingOp and keyedWaitOp of one MetaGraphDef in one pass over its nodes (a graph
 * that loops is read once, not twice, when a session is opened).
 */
export async function loopingAndKeyedWaitOps(metaGraph: Uint8Array, custom: ReadonlySet<string> = new Set()): Promise<{ loopingOrBlocking: string | null; keyedWait: string | null }> {
  const [loopingOrBlocking, keyedWait] = await firstOps(metaGraph, [(op) => loopsOrBlocks(op, custom), (op) => waitsKeyed(op, custom)]);
  return { loopingOrBlocking: loopingOrBlocking!, keyedWait: keyedWait! };
}

/**
 * The output tensors of a serialized MetaGraphDef's signatures from which no op waiting keyed by
 * the step's cancellation manager can be reached (as keyedWaitOp judges an op type: a loaded op
 * library's ops count as waiting), walking back from each signature's outputs as the op policy
 * walks (inputs, control inputs, every function a node calls, whole). A signature that reaches
 * one counts whole, all of its outputs left out. Tensor names as the SignatureDef spells them
 * and as a feed is spelled ("node:0"). Runs that fetch only these may enter TensorFlow at any
 * stack address (native/session.cc, AtFreshStackDepth), whatever else the graph holds. Graphs
 * over INLINE_CHECK_BYTES are read on a worker thread; an unreadable one has none.
 */
export async function outputsWithoutKeyedWaits(metaGraph: Uint8Array, custom: ReadonlySet<string> = new Set()): Promise<string[]> {
  const answer = await answerOf({ bytes: metaGraph, custom: [...custom] }, false).catch(() => null);
  return answer !== null && 'calm' in answer ? answer.calm : [];
}

function calmOutputs(metaGraph: Uint8Array, custom: ReadonlySet<string>): string[] {
  let meta: MetaGraph;
  try {
    meta = GRAPH_META_GRAPH.decode(metaGraph) as unknown as MetaGraph;
  } catch {
    return [];
  }
  const graph = graphOf(meta);
  const calm: string[] = [];
  for (const { kind, starts } of entries(meta)) {
    if (kind !== 'signature') continue;
    let waits = false;
    walk(graph, starts, ({ node }) => {
      waits ||= waitsKeyed(node.op ?? '', custom);
    });
    if (!waits) for (const { name } of starts) calm.push(name, tensorName(name));
  }
  return [...new Set(calm)];
}

/** Whether op type `op` waits keyed by the step's cancellation manager (KEYED_WAIT_NAMES), or comes from a loaded op library (`custom`). */
function waitsKeyed(op: string, custom: ReadonlySet<string>): boolean {
  return KEYED_WAIT_NAMES.test(op) || custom.has(op);
}

// For each of `predicates`, the first op type of `metaGraph`'s nodes and functions that it
// matches, or null; the scan stops once every one has matched. 'unreadable graph' for each that
// had not matched when a malformed message was met.
async function firstOps(metaGraph: Uint8Array, predicates: ReadonlyArray<(op: string) => boolean>): Promise<(string | null)[]> {
  const found: (string | null)[] = predicates.map(() => null);
  let left = predicates.length;
  const seen = new Set<string>();
  let nodes = 0;
  try {
    for (const node of nodeDefs(metaGraph)) {
      if (++nodes % SCAN_NODES_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      if (node === null) continue;
      // One op a node (NodeDef.op = 2): its inputs and attributes are not read.
      for (const [, name] of lengthDelimitedFields(node, 2)) {
        // Op names are ASCII: read as Latin-1.
        const op = latin1.decode(name);
        if (!seen.has(op)) {
          seen.add(op);
          for (let i = 0; i < predicates.length; i++) {
            if (found[i] === null && predicates[i]!(op)) {
              found[i] = op;
              left--;
            }
          }
          if (left === 0) return found;
        }
        break;
      }
    }
  } catch {
    return found.map((op) => op ?? 'unreadable graph');
  }
  return found;
}

/** Nodes (and functions) loopingOrBlockingOp reads between two turns of the event loop (~2 ms). */
const SCAN_NODES_PER_TURN = 4096;

const latin1 = new TextDecoder('latin1');

// A MetaGraphDef's NodeDefs, and null at each function of its library (a library of many empty
// functions is no less work): MetaGraphDef.graph_def = 2; GraphDef.node = 1, .library = 2;
// FunctionDefLibrary.function = 1; FunctionDef.node_def = 3.
function* nodeDefs(metaGraph: Uint8Array): Generator<Uint8Array | null> {
  for (const [, graph] of lengthDelimitedFields(metaGraph, 2)) {
    for (const [field, value] of lengthDelimitedFields(graph)) {
      if (field === 1) yield value;
      if (field !== 2) continue;
      for (const [, fn] of lengthDelimitedFields(value, 1)) {
        yield null;
        for (const [, node] of lengthDelimitedFields(fn, 3)) yield node;
      }
    }
  }
}
