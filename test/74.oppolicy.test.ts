// The op policy (LoadOptions.opPolicy, lib/ops.ts): the op types each signature, the init op
// and the saver's restore op reach, found from saved_model.pb before TensorFlow sees it, and a
// model that reaches refused ops failing its load with PERMISSION_DENIED naming the op, the
// entry and the path. Fixtures: file_io (ReadFile in a function, WriteFile on a function's
// control outputs only), init_writes (a TF1 main_op that writes a file at load); graphs of our
// own for what the fixtures do not show (While/If/Case functions, the restore op, PrintV2, cycles).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { loadModel, PermissionDeniedError, reachedOps, SERVE_DENIED_OPS, Tensor } from '../lib/index';
import { Reader } from 'protobufjs/light';

import { checkLoadedOps, checkSavedModelOps, INLINE_CHECK_BYTES, keyedWaitOp, loopingAndKeyedWaitOps, loopingOrBlockingOp, outputsWithoutKeyedWaits, runOpsJob } from '../lib/ops';
import { GRAPH_META_GRAPH, GRAPH_SAVED_MODEL } from '../lib/proto';
import { fixture, FIXTURES, fixtureTags, jsonOf, startServe, tfslice, toTensor } from './helpers';

const FILE_IO = fixture('file_io').dir;
const pb = (dir: string) => fs.readFileSync(path.join(dir, 'saved_model.pb'));
const str = (s: string) => new Tensor('string', [Buffer.from(s)], []);

function tmp(t: tap.Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-ops-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A fresh copy of init_writes: loading it lets TensorFlow run its main op, which writes
// assets/marker.txt.written.
function initWrites(t: tap.Test): { dir: string; written: string } {
  const dir = path.join(tmp(t), 'model');
  fs.cpSync(fixture('init_writes').dir, dir, { recursive: true });
  return { dir, written: path.join(dir, 'assets', 'marker.txt.written') };
}

t.test('reachedOps: what each signature, the init op and the restore op reach', async (t) => {
  const entries = reachedOps(pb(FILE_IO), ['serve'])!;
  const by = (kind: string, name: string) => entries.find((e) => e.kind === kind && e.name === name)!;
  const read = by('signature', 'read_file');
  t.ok(read.ops.has('ReadFile'), 'ReadFile, inside the function the signature calls');
  t.match(read.ops.get('ReadFile'), ["output 'contents'", /PartitionedCall/, /^function '/, /^node '.*' \(PartitionedCall\)$/, /^function '/, "node 'ReadFile' (ReadFile)"]);
  t.ok(by('signature', 'write_file').ops.has('WriteFile'), "WriteFile, which hangs only on the function's control outputs");
  t.notOk(read.ops.has('WriteFile'), 'one signature does not reach the other one\'s ops');
  const restore = entries.find((e) => e.kind === 'restore')!;
  t.ok(restore.ops.has('RestoreV2'), 'the restore op reaches RestoreV2');
  t.notOk(entries.some((e) => e.ops.has('SaveV2') || e.ops.has('MergeV2Checkpoints')), "the saver's save path is reached by nothing");
  t.equal(reachedOps(pb(FILE_IO), ['other']), null, 'no meta graph with that tag-set');

  const tf1 = reachedOps(pb(fixture('tf1_vocab').dir), ['serve'])!;
  t.ok(tf1.find((e) => e.kind === 'init')!.ops.has('InitializeTableFromTextFileV2'), "TF1: the main op reads the vocabulary asset");
  t.ok(tf1.find((e) => e.kind === 'restore')!.ops.has('RestoreV2'), "TF1: the saver's restore op");
  const writes = reachedOps(pb(fixture('init_writes').dir), ['serve'])!.find((e) => e.kind === 'init')!;
  t.same(writes.ops.get('WriteFile'), ['saved_model_main_op collection', "node 'main_op' (NoOp)", "node 'write_at_load' (WriteFile)"]);
});

t.test("opPolicy 'serve' loads every ordinary fixture: TF1 saver graphs, vocabulary assets, Keras exports", async (t) => {
  for (const name of FIXTURES.filter((f) => f !== 'file_io')) {
    const { dir, golden } = fixture(name);
    await t.resolves(checkSavedModelOps(dir, golden.tags[0]!, 'serve'), name);
  }
  for (const name of ['tf1_vocab', 'keras_export', 'half_plus_two', 'tiny']) {
    const { dir, golden } = fixture(name);
    const model = await loadModel(dir, { opPolicy: 'serve', ...fixtureTags(golden) });
    const c = golden.cases[0]!;
    t.ok(await model.run(Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toTensor(v)])), { signature: c.signature }), `${name} loads and runs`);
    await model.dispose();
  }
});

t.test("opPolicy 'serve' refuses file_io at load, naming the op, the signature and the path", async (t) => {
  const error = await loadModel(FILE_IO, { opPolicy: 'serve' }).then(() => null, (e: unknown) => e);
  t.type(error, PermissionDeniedError);
  const denied = error as PermissionDeniedError;
  t.equal(denied.code, 'PERMISSION_DENIED');
  t.equal(denied.op, 'ReadFile');
  t.equal(denied.entry, "signature 'read_file'");
  t.equal(denied.path.at(-1), "node 'ReadFile' (ReadFile)");
  t.match(denied.message, /opPolicy 'serve' refuses the SavedModel at .*file_io\/model: signature 'read_file' reaches op 'ReadFile' \(it reads files\), via output 'contents' → .*ReadFile/);
  t.match(denied.message, /It also reaches 'WriteFile' from signature 'write_file'/);
  t.match(denied.message, /tfslice show --ops/, 'and how to see and allow what it reaches');
  await t.rejects(loadModel(FILE_IO, { opPolicy: { deny: ['WriteFile'] } }), { code: 'PERMISSION_DENIED', op: 'WriteFile', message: /opPolicy \{ deny \} .*'WriteFile' \(it is in opPolicy.deny\)/ });
  await t.rejects(loadModel(FILE_IO, { opPolicy: { allow: ['Identity', 'PartitionedCall', 'Placeholder'] } }), { code: 'PERMISSION_DENIED', message: /it is not in opPolicy.allow/ });
  await t.rejects(loadModel(FILE_IO, { opPolicy: 'serve', isolation: 'process' }), { code: 'PERMISSION_DENIED', op: 'ReadFile' }, 'isolated: refused in this process, before a host starts');
});

t.test('an explicit policy allows file_io: it reads and writes files', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'note.txt');
  fs.writeFileSync(file, 'hello from a file');
  const all = [...reachedOps(pb(FILE_IO), ['serve'])!.flatMap((e) => [...e.ops.keys()])];
  for (const opPolicy of [{ allow: all }, { deny: ['PyFunc'] }, 'none' as const, undefined]) {
    const model = await loadModel(FILE_IO, opPolicy === undefined ? {} : { opPolicy });
    const out = await model.run({ path: str(file) }, { signature: 'read_file' });
    t.equal(Buffer.from(out.contents!.bytes()[0]!).toString(), 'hello from a file', `read with opPolicy ${JSON.stringify(opPolicy)}`);
    await model.dispose();
  }
  const model = await loadModel(FILE_IO, { opPolicy: { allow: all }, isolation: 'process' });
  await model.run({ path: str(path.join(dir, 'out.txt')), contents: str('written') }, { signature: 'write_file' });
  t.equal(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'written', 'isolated host: the load-time recheck passes too');
  await model.dispose();
});

t.test('a graph that writes at load: refused before TensorFlow sees it', async (t) => {
  const { dir, written } = initWrites(t);
  await t.rejects(loadModel(dir, { opPolicy: 'serve' }), { code: 'PERMISSION_DENIED', op: 'WriteFile', entry: "the init op 'main_op'", message: /the init op 'main_op' reaches op 'WriteFile' \(it writes files\)/ });
  t.notOk(fs.existsSync(written), 'the main op did not run: nothing written');
  await t.rejects(loadModel(dir, { opPolicy: 'serve', isolation: 'process' }), { code: 'PERMISSION_DENIED' });
  t.notOk(fs.existsSync(written), 'nor in a host');
  const model = await loadModel(dir);
  t.ok(fs.existsSync(written), 'without a policy TensorFlow runs the main op at load: the danger is real');
  await model.dispose();
});

t.test('a saved_model.pb replaced during the load is caught from the graph TensorFlow loaded', async (t) => {
  // TF_LoadSessionFromSavedModel returns the MetaGraphDef it loaded, which loadModel checks
  // again: here the first meta graph of file_io's saved_model.pb (field 2 of SavedModel).
  const reader = Reader.create(pb(FILE_IO));
  t.equal(reader.uint32(), (1 << 3) | 0, 'SavedModel.saved_model_schema_version');
  reader.int64();
  t.equal(reader.uint32(), (2 << 3) | 2, 'SavedModel.meta_graphs');
  const metaGraph = reader.bytes();
  await t.rejects(checkLoadedOps(metaGraph, 'serve', FILE_IO), { code: 'PERMISSION_DENIED', op: 'ReadFile' });
  await t.resolves(checkLoadedOps(metaGraph, 'none', FILE_IO));
});

// A SavedModel of our own graph: nodes [name, op, inputs, attrs], functions by name.
interface N { name: string; op: string; input?: string[]; attr?: Record<string, unknown> }
interface GraphOptions {
  functions?: Record<string, N[] | { args: string[]; body: N[]; attr?: Record<string, unknown> }>;
  /** Function name → its registered gradient function (FunctionDefLibrary.gradient). */
  gradients?: Record<string, string>;
  outputs?: Record<string, string>;
  restore?: string;
  /** The saver's filename tensor, which the loader feeds with the variables' path. */
  saverFilename?: string;
  /** Tensors the loader feeds with asset paths (asset_file_def), with their file names (default vocab.txt). */
  assets?: string[] | Record<string, string>;
  mainOp?: string;
  pad?: number;
}
function savedModel(nodes: N[], options: GraphOptions = {}): Uint8Array {
  const graph = {
    node: nodes.map((n) => ({ ...n, attr: n.attr ?? {} })),
    library: {
      function: Object.entries(options.functions ?? {}).map(([name, f]) => (Array.isArray(f)
        ? { signature: { name }, nodeDef: f }
        : { signature: { name, inputArg: f.args.map((arg) => ({ name: arg })) }, nodeDef: f.body, attr: f.attr ?? {} })),
      gradient: Object.entries(options.gradients ?? {}).map(([functionName, gradientFunc]) => ({ functionName, gradientFunc })),
    },
  };
  const metaGraph: Record<string, unknown> = {
    metaInfoDef: { tags: ['serve'] },
    graphDef: graph,
    signatureDef: { serving_default: { outputs: Object.fromEntries(Object.entries(options.outputs ?? { y: 'y:0' }).map(([k, v]) => [k, { name: v }])) } },
  };
  if (options.restore) metaGraph.saverDef = { restoreOpName: options.restore, filenameTensorName: options.saverFilename ?? '' };
  if (options.assets) {
    const assets = Array.isArray(options.assets) ? Object.fromEntries(options.assets.map((name) => [name, 'vocab.txt'])) : options.assets;
    metaGraph.assetFileDef = Object.entries(assets).map(([name, filename]) => ({ tensorInfo: { name }, filename }));
  }
  if (options.mainOp) metaGraph.collectionDef = { saved_model_main_op: { nodeList: { value: [options.mainOp] } } };
  if (options.pad) graph.node.push({ name: 'padding', op: 'Const', attr: { value: { s: Buffer.alloc(options.pad, 65) } } });
  return GRAPH_SAVED_MODEL.encode(GRAPH_SAVED_MODEL.fromObject({ metaGraphs: [metaGraph] })).finish();
}
const fn = (name: string) => ({ func: { name } });

t.test('the walk: control inputs, While/If/Case functions, nested function attributes, cycles, recursion', async (t) => {
  const bytes = savedModel([
    { name: 'x', op: 'Placeholder' },
    { name: 'loop', op: 'While', input: ['x', '^guard'], attr: { cond: fn('cond'), body: fn('body') } },
    { name: 'guard', op: 'NoOp', input: ['^cycle_a'] },
    { name: 'cycle_a', op: 'Merge', input: ['cycle_b:1'] },
    { name: 'cycle_b', op: 'NextIteration', input: ['cycle_a'] },
    { name: 'branch', op: 'Case', input: ['x'], attr: { branches: { list: { func: [{ name: 'b0' }, { name: 'b1', attr: { inner: fn('deep') } }] } } } },
    { name: 'y', op: 'AddN', input: ['loop', 'branch:0'] },
    { name: 'unreached', op: 'WriteFile' },
  ], {
    functions: {
      cond: [{ name: 'c', op: 'Less' }],
      body: [{ name: 'b', op: 'body' }], // calls itself by op name: recursion ends
      b0: [{ name: 'z', op: 'ZerosLike' }],
      b1: [{ name: 'o', op: 'OnesLike' }],
      deep: [{ name: 'p', op: 'PrintV2', attr: { output_stream: { s: Buffer.from('file:///tmp/log') } } }],
    },
  });
  const [entry] = reachedOps(bytes, ['serve'])!;
  t.same([...entry!.ops.keys()], ['AddN', 'Case', 'Less', 'Merge', 'NextIteration', 'NoOp', 'OnesLike', 'Placeholder', 'PrintV2', 'While', 'ZerosLike', 'body']);
  t.same(entry!.ops.get('PrintV2'), ["output 'y'", "node 'y' (AddN)", "node 'branch' (Case)", "function 'deep'", "node 'p' (PrintV2)"], 'a function named inside another function attribute');
  t.notOk(entry!.ops.has('WriteFile'), 'a node no output depends on does not count');
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), bytes);
  await t.rejects(checkSavedModelOps(dir, ['serve'], 'serve'), { code: 'PERMISSION_DENIED', op: 'PrintV2', message: /it writes to file:\/\/\/tmp\/log/ });
  const toStderr = savedModel([{ name: 'y', op: 'PrintV2', attr: { output_stream: { s: Buffer.from('stderr') } } }]);
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), toStderr);
  await t.resolves(checkSavedModelOps(dir, ['serve'], 'serve'), 'PrintV2 to stderr is allowed');
});

t.test('loopingOrBlockingOp: the first op that loops or blocks, in the graph or in any function of its library (a timed run of a graph with none may skip the inter-op pool)', async (t) => {
  const meta = (saved: Uint8Array) => GRAPH_META_GRAPH.encode((GRAPH_SAVED_MODEL.decode(saved) as unknown as { metaGraphs: object[] }).metaGraphs[0]!).finish();
  const plain: N[] = [{ name: 'x', op: 'Placeholder' }, { name: 'y', op: 'AddN', input: ['x'] }];
  t.equal(await loopingOrBlockingOp(meta(savedModel(plain))), null, 'plain ops');
  t.equal(await loopingOrBlockingOp(meta(savedModel(plain, { pad: 8 << 20 }))), null, 'an 8 MiB constant is skipped, not read');
  const called = (op: string) => meta(savedModel([{ name: 'y', op: 'StatefulPartitionedCall', attr: { f: fn('f') } }], { functions: { f: [{ name: 'n', op }] } }));
  for (const op of ['StatelessWhile', 'While', 'For', 'Enter', 'NextIteration', 'QueueDequeueV2', 'FIFOQueueV2', 'IteratorGetNext', 'ReduceDataset', 'MutexLock', '_Recv', 'CollectiveReduceV2', 'Unstage', 'MapPeek', 'OrderedMapPeek', 'BarrierTakeMany', 'ConditionalAccumulator', 'EagerPyFunc', 'BatchFunction', 'Batch', 'Unbatch', 'ReaderReadV2']) {
    t.equal(await loopingOrBlockingOp(called(op)), op, `${op} in a called function`);
  }
  for (const op of ['BatchMatMulV2', 'FusedBatchNormV3', 'BatchToSpaceND', 'ReaderReset']) t.equal(await loopingOrBlockingOp(called(op)), null, `${op}: not batching, not a read`);
  t.equal(await loopingOrBlockingOp(meta(savedModel(plain, { functions: { unused: [{ name: 'q', op: 'QueueDequeueV2' }] } }))), 'QueueDequeueV2', 'in a function nothing calls too (any function counts)');
  t.equal(await loopingOrBlockingOp(meta(savedModel([...plain, { name: 'c', op: 'MyCustomOp' }])), new Set(['MyCustomOp'])), 'MyCustomOp', "an op library's op: nothing is known of it");
  t.equal(await loopingOrBlockingOp(meta(savedModel([...plain, { name: 'c', op: 'MyCustomOp' }]))), null);
  t.equal(await loopingOrBlockingOp(Uint8Array.of(0x12, 0x05, 0x0a)), 'unreadable graph', 'a message cut short counts as one that may loop');
  t.equal(await loopingOrBlockingOp(Uint8Array.of(0x13)), 'unreadable graph', 'so does an unknown wire type');
  const many = meta(savedModel(Array.from({ length: 40_000 }, (_, i) => ({ name: `n${i}`, op: 'Relu' }))));
  let turns = 0;
  let scanning = true;
  const turn = () => {
    if (!scanning) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  t.equal(await loopingOrBlockingOp(many), null, '40 000 nodes');
  scanning = false;
  t.ok(turns >= 4, `the event loop turned ${turns} times during the scan (every 4096 nodes)`);
  const functions = meta(savedModel(plain, { functions: Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`f${i}`, []])) }));
  turns = 0;
  scanning = true;
  setImmediate(turn);
  t.equal(await loopingOrBlockingOp(functions), null, '40 000 empty functions');
  scanning = false;
  t.ok(turns >= 4, `and ${turns} times during a scan of as many empty functions`);
  const first = (dir: string) => loopingOrBlockingOp(meta(pb(dir)));
  t.same(Object.fromEntries(await Promise.all(['tiny', 'half_plus_two', 'half_plus_two_tf2', 'conv', 'tf2_vocab', 'runaway', 'slow', 'queue'].map(async (name) => [name, await first(fixture(name).dir)]))), {
    tiny: null, half_plus_two: null, half_plus_two_tf2: null, conv: null, tf2_vocab: null, runaway: 'StatelessWhile', slow: 'StatelessWhile', queue: 'FIFOQueueV2',
  }, 'the fixtures');
});

t.test("keyedWaitOp: the first op whose wait TensorFlow cancels by the step's cancellation manager address (queues, barriers, accumulators), where loops alone do not count", async (t) => {
  const meta = (saved: Uint8Array) => GRAPH_META_GRAPH.encode((GRAPH_SAVED_MODEL.decode(saved) as unknown as { metaGraphs: object[] }).metaGraphs[0]!).finish();
  const plain: N[] = [{ name: 'x', op: 'Placeholder' }, { name: 'y', op: 'AddN', input: ['x'] }];
  const called = (op: string) => meta(savedModel([{ name: 'y', op: 'StatefulPartitionedCall', attr: { f: fn('f') } }], { functions: { f: [{ name: 'n', op }] } }));
  for (const op of ['QueueDequeueV2', 'QueueDequeueManyV2', 'QueueEnqueueV2', 'FIFOQueueV2', 'BarrierTakeMany', 'ConditionalAccumulator', 'AccumulatorTakeGradient', 'ResourceAccumulatorTakeGradient', 'ReaderReadV2', 'ReaderRead', 'ReaderReadUpTo', 'ReaderReadUpToV2']) {
    t.equal(await keyedWaitOp(called(op)), op, `${op} in a called function`);
  }
  for (const op of ['StatelessWhile', 'While', 'Enter', 'IteratorGetNext', 'MutexLock', '_Recv', 'Unstage', 'ReaderReset', 'ReaderNumRecordsProducedV2']) {
    t.equal(await keyedWaitOp(called(op)), null, `${op}: loops or blocks, but not keyed so`);
  }
  t.equal(await keyedWaitOp(meta(savedModel(plain))), null, 'plain ops');
  t.equal(await keyedWaitOp(meta(savedModel([...plain, { name: 'c', op: 'MyCustomOp' }])), new Set(['MyCustomOp'])), 'MyCustomOp', "an op library's op: nothing is known of it");
  t.equal(await keyedWaitOp(Uint8Array.of(0x13)), 'unreadable graph', 'a malformed graph counts as one that may');
});

t.test('loopingAndKeyedWaitOps: both answers in one pass, each as its own function gives it', async (t) => {
  const meta = (saved: Uint8Array) => GRAPH_META_GRAPH.encode((GRAPH_SAVED_MODEL.decode(saved) as unknown as { metaGraphs: object[] }).metaGraphs[0]!).finish();
  const plain: N[] = [{ name: 'x', op: 'Placeholder' }, { name: 'y', op: 'AddN', input: ['x'] }];
  const graphs: [string, Uint8Array][] = [
    ['plain', meta(savedModel(plain))],
    ['a loop', meta(savedModel([...plain, { name: 'w', op: 'While' }]))],
    ['a loop, then a queue', meta(savedModel([...plain, { name: 'w', op: 'While' }, { name: 'q', op: 'QueueDequeueV2' }]))],
    ['a queue, then a loop', meta(savedModel([{ name: 'q', op: 'QueueDequeueV2' }, { name: 'w', op: 'While' }]))],
    ['a queue in a function', meta(savedModel(plain, { functions: { f: [{ name: 'q', op: 'BarrierTakeMany' }] } }))],
    ['cut short', Uint8Array.of(0x12, 0x05, 0x0a)],
    ['a loop, then cut short', Uint8Array.from([...meta(savedModel([{ name: 'w', op: 'While' }])), 0x12, 0x05, 0x0a])],
  ];
  for (const [what, graph] of graphs) {
    for (const custom of [new Set<string>(), new Set(['AddN'])]) {
      t.strictSame(
        await loopingAndKeyedWaitOps(graph, custom),
        { loopingOrBlocking: await loopingOrBlockingOp(graph, custom), keyedWait: await keyedWaitOp(graph, custom) },
        `${what}${custom.size > 0 ? ', AddN from an op library' : ''}`,
      );
    }
  }
  t.strictSame(await loopingAndKeyedWaitOps(graphs[2]![1]), { loopingOrBlocking: 'While', keyedWait: 'QueueDequeueV2' });
  t.strictSame(await loopingAndKeyedWaitOps(graphs[1]![1]), { loopingOrBlocking: 'While', keyedWait: null });
  t.strictSame(await loopingAndKeyedWaitOps(graphs[6]![1]), { loopingOrBlocking: 'While', keyedWait: 'unreadable graph' });
});

t.test('outputsWithoutKeyedWaits: the outputs of signatures that reach no queue, barrier or accumulator, whatever else the graph holds', async (t) => {
  const meta = (saved: Uint8Array) => GRAPH_META_GRAPH.encode((GRAPH_SAVED_MODEL.decode(saved) as unknown as { metaGraphs: object[] }).metaGraphs[0]!).finish();
  const plain: N[] = [{ name: 'x', op: 'Placeholder' }, { name: 'y', op: 'AddN', input: ['x'] }];
  t.strictSame(await outputsWithoutKeyedWaits(meta(savedModel(plain))), ['y:0'], 'plain ops');
  t.strictSame(await outputsWithoutKeyedWaits(meta(savedModel(plain, { outputs: { y: 'y' } }))), ['y', 'y:0'], 'as the SignatureDef spells it, and as a feed is spelled');
  t.strictSame(await outputsWithoutKeyedWaits(meta(savedModel([...plain, { name: 'q', op: 'QueueDequeueV2' }]))), ['y:0'], 'a queue no signature reaches');
  const through = (op: string) => meta(savedModel([{ name: 'y', op: 'StatefulPartitionedCall', input: ['^c'], attr: { f: fn('f') } }, { name: 'c', op: 'NoOp' }], { functions: { f: [{ name: 'n', op }] } }));
  for (const op of ['QueueDequeueV2', 'BarrierTakeMany', 'ConditionalAccumulator']) {
    t.strictSame(await outputsWithoutKeyedWaits(through(op)), [], `${op} in a function the output calls`);
  }
  t.strictSame(await outputsWithoutKeyedWaits(through('StatelessWhile')), ['y:0'], 'a loop is not a keyed wait');
  // helper-108: the queue's handle reaches the reader through a resource variable, filled at load.
  const viaVariable = meta(savedModel([
    { name: 'holder', op: 'VarHandleOp' }, { name: 'handle', op: 'ReadVariableOp', input: ['holder'] },
    { name: 'reader', op: 'IdentityReaderV2' }, { name: 'y', op: 'ReaderReadV2', input: ['reader', 'handle'] },
    { name: 'q', op: 'FIFOQueueV2' },
  ]));
  t.strictSame(await outputsWithoutKeyedWaits(viaVariable), [], 'a reader, whose queue no edge leads to, waits in one');
  const control = meta(savedModel([...plain, { name: 'q', op: 'QueueEnqueueV2' }, { name: 'z', op: 'Identity', input: ['y', '^q'] }], { outputs: { y: 'y:0', z: 'z:0' } }));
  t.strictSame(await outputsWithoutKeyedWaits(control), [], 'a queue on one output\'s control input: the signature counts whole');
  t.strictSame(await outputsWithoutKeyedWaits(meta(savedModel(plain)), new Set(['AddN'])), [], "an op library's op: nothing is known of it");
  t.strictSame(await outputsWithoutKeyedWaits(Uint8Array.of(0x13)), [], 'an unreadable graph: none');
  const big = meta(savedModel([...plain, { name: 'q', op: 'QueueDequeueV2' }], { pad: INLINE_CHECK_BYTES * 2 }));
  t.strictSame(await outputsWithoutKeyedWaits(big), ['y:0'], 'a graph past INLINE_CHECK_BYTES, read on a worker thread');
  // The queue fixture: only `count` (a loop of its own) reaches no queue.
  const reader = Reader.create(pb(fixture('queue').dir));
  reader.uint32();
  reader.int64();
  reader.uint32();
  t.strictSame(await outputsWithoutKeyedWaits(reader.bytes()), ['Identity:0'], "the queue fixture: `count`'s output alone");
});

t.test("the restore op and the init op: checked; their own file ops only on the files the loader feeds", async (t) => {
  const dir = tmp(t);
  const write = (bytes: Uint8Array) => fs.writeFileSync(path.join(dir, 'saved_model.pb'), bytes);
  const check = (policy: Parameters<typeof checkSavedModelOps>[2] = 'serve') => checkSavedModelOps(dir, ['serve'], policy);
  const restoring = (prefix: string, extra: N[] = []) => savedModel([
    { name: 'y', op: 'Placeholder' },
    { name: 'save/filename', op: 'PlaceholderWithDefault', input: ['save/filename/input'] },
    { name: 'save/filename/input', op: 'Const' },
    { name: 'elsewhere', op: 'Const' },
    { name: 'restore_all', op: 'NoOp', input: ['^restore', ...extra.map((n) => `^${n.name}`)] },
    { name: 'restore', op: 'RestoreV2', input: [prefix, 'names', 'slices'] },
    ...extra,
  ], { restore: 'restore_all', saverFilename: 'save/filename:0' });
  write(restoring('save/filename', [{ name: 'sneaky', op: 'WriteFile' }]));
  await t.rejects(check(), { code: 'PERMISSION_DENIED', op: 'WriteFile', entry: "the saver's restore op 'restore_all'" }, 'a WriteFile riding on the restore op');
  write(restoring('save/filename'));
  await t.resolves(check(), "RestoreV2 on the saver's filename, which the loader feeds with variables/: its job");
  await t.resolves(check({ allow: ['Placeholder', 'PlaceholderWithDefault', 'Const', 'NoOp'] }), 'whatever the policy');
  write(restoring('elsewhere'));
  await t.rejects(check(), { code: 'PERMISSION_DENIED', op: 'RestoreV2', message: /it reads a file its graph names \(from node 'elsewhere' \(Const\)\), not the variables the loader feeds/ }, 'RestoreV2 on a path of its own');
  write(savedModel([{ name: 'y', op: 'RestoreV2' }]));
  await t.rejects(check(), { code: 'PERMISSION_DENIED', op: 'RestoreV2', message: /signature 'serving_default' reaches op 'RestoreV2' \(it reads files\)/ }, 'and never from a signature');

  const table = (filename: string, assets: string[]) => savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path', op: 'Const' }, { name: 'secret_path', op: 'Const' },
    { name: 'init', op: 'InitializeTableFromTextFileV2', input: ['table', filename] },
  ], { mainOp: 'init', assets });
  write(table('asset_path', ['asset_path:0']));
  await t.resolves(check(), 'a table from a vocabulary asset in the init op (TF1)');
  write(table('secret_path', ['asset_path:0']));
  await t.rejects(check(), { op: 'InitializeTableFromTextFileV2', message: /from node 'secret_path' \(Const\)\), not one of the SavedModel's assets/ }, 'but not from a path the graph names');
  // TF2: the init op assigns the fed asset path to a variable, and a function reads it back.
  const tf2 = (assigned: string) => savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path_initializer', op: 'Placeholder' }, { name: 'other', op: 'Const' },
    { name: 'v', op: 'VarHandleOp', attr: { shared_name: { s: Buffer.from('asset_var') } } },
    { name: 'assign', op: 'AssignVariableOp', input: ['v', assigned] },
    { name: 'call', op: 'StatefulPartitionedCall', input: ['v', '^assign'], attr: { f: fn('initializer') } },
    { name: 'init', op: 'NoOp', input: ['^call'] },
  ], {
    mainOp: 'init', assets: ['asset_path_initializer:0'],
    functions: { initializer: { args: ['handle'], body: [{ name: 'read', op: 'ReadVariableOp', input: ['handle'] }, { name: 'table_init', op: 'InitializeTableFromTextFileV2', input: ['table', 'read:value:0'] }] } },
  });
  write(tf2('asset_path_initializer'));
  await t.resolves(check(), 'TF2: through the variable and the function argument to the asset');
  write(tf2('other'));
  await t.rejects(check(), { op: 'InitializeTableFromTextFileV2', message: /variable 'asset_var', assigned from node 'other' \(Const\)/ });
  write(savedModel([{ name: 'y', op: 'InitializeTableFromTextFileV2' }]));
  await t.rejects(check(), { code: 'PERMISSION_DENIED', op: 'InitializeTableFromTextFileV2' }, 'never from a signature, where the path would come from a request');
});

t.test("what the first trial found: gradients, attribute placeholders, graphs in tensors, more file ops", async (t) => {
  const dir = tmp(t);
  const refused = async (bytes: Uint8Array, op: string, message: RegExp, what: string) => {
    fs.writeFileSync(path.join(dir, 'saved_model.pb'), bytes);
    await t.rejects(checkSavedModelOps(dir, ['serve'], 'serve'), { code: 'PERMISSION_DENIED', op, message }, what);
  };
  await refused(savedModel([{ name: 'y', op: 'SymbolicGradient', attr: { f: fn('F') } }], {
    functions: { F: [{ name: 'same', op: 'Identity' }], G: [{ name: 'w', op: 'WriteFile' }] }, gradients: { F: 'G' },
  }), 'WriteFile', /function 'F' → its gradient function 'G' → node 'w' \(WriteFile\)/, "the gradient function registered for a function it calls");
  await refused(savedModel([{ name: 'y', op: 'P', attr: { stream: { s: Buffer.from('file:///tmp/x') } } }], {
    functions: { P: [{ name: 'print', op: 'PrintV2', attr: { output_stream: { placeholder: 'stream' } } }] },
  }), 'PrintV2', /its output_stream is set by its caller \(attribute placeholder 'stream'\)/, 'PrintV2 whose stream its caller sets');
  await refused(savedModel([{ name: 'y', op: 'DatasetFromGraph' }]), 'DatasetFromGraph', /runs a graph held in a tensor/, 'a dataset rebuilt from a GraphDef in a tensor');
  await refused(savedModel([{ name: 'y', op: 'DecodeProtoV2', attr: { descriptor_source: { s: Buffer.from('/etc/passwd') } } }]), 'DecodeProtoV2', /reads the descriptors in \/etc\/passwd/, 'descriptors from a file');
  for (const op of ['Abort', 'Skipgram', 'CalibrationStatisticsSaver', 'RemoteCall', 'SnapshotChunkDataset', 'DTensorRestoreV2']) {
    await refused(savedModel([{ name: 'y', op }]), op, new RegExp(`'${op}' \\(it `), op);
  }
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ name: 'y', op: 'DecodeProtoV2', attr: { descriptor_source: { s: Buffer.from('local://') } } }]));
  await t.resolves(checkSavedModelOps(dir, ['serve'], 'serve'), 'DecodeProtoV2 with the descriptors linked in');
});

t.test("what the second trial found: asset names leaving assets/, assignments the trace cannot follow, unnamed variables", async (t) => {
  const dir = tmp(t);
  const check = async (bytes: Uint8Array) => {
    fs.writeFileSync(path.join(dir, 'saved_model.pb'), bytes);
    return checkSavedModelOps(dir, ['serve'], 'serve');
  };
  const table = (filename: string) => savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path', op: 'Const' },
    { name: 'init', op: 'InitializeTableFromTextFileV2', input: ['table', 'asset_path'] },
  ], { mainOp: 'init', assets: { 'asset_path:0': filename } });
  await t.resolves(check(table('vocab.txt')));
  await t.resolves(check(table('sub/vocab.txt')), 'a file in a folder of assets/');
  for (const name of ['../../../../tmp/secret.txt', 'sub/../../secret.txt', '/etc/passwd', '']) {
    await t.rejects(check(table(name)), { op: 'InitializeTableFromTextFileV2', message: /a file name that leaves the SavedModel's assets\// }, `asset file name ${JSON.stringify(name)}`);
  }
  // The asset variable assigned once from the asset, and again where the trace cannot follow.
  const variable = (extra: N[], shared = 'asset_var', functions: GraphOptions['functions'] = {}) => savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path_initializer', op: 'Placeholder' }, { name: 'secret', op: 'Const' },
    { name: 'v', op: 'VarHandleOp', attr: { shared_name: { s: Buffer.from(shared) } } },
    { name: 'assign', op: 'AssignVariableOp', input: ['v', 'asset_path_initializer'] },
    ...extra,
    { name: 'read', op: 'ReadVariableOp', input: ['v', '^assign', ...extra.map((n) => `^${n.name}`)] },
    { name: 'table_init', op: 'InitializeTableFromTextFileV2', input: ['table', 'read'] },
  ], { mainOp: 'table_init', assets: ['asset_path_initializer:0'], functions });
  await t.resolves(check(variable([])));
  await t.rejects(check(variable([{ name: 'branch', op: 'If', input: ['cond', 'v'], attr: { then_branch: fn('then'), else_branch: fn('else') } }], 'asset_var', {
    then: { args: ['handle'], body: [{ name: 'again', op: 'AssignVariableOp', input: ['handle', 'path:output:0'] }, { name: 'path', op: 'Const' }] },
    else: [],
  })), { op: 'InitializeTableFromTextFileV2', message: /a variable that 'again' \(AssignVariableOp in function 'then'\) may assign, through what this check does not follow/ }, 'a second assignment in an If branch');
  await t.rejects(check(variable([
    { name: 'v2', op: 'VarHandleOp', attr: { shared_name: { s: Buffer.from('') } } },
    { name: 'other', op: 'AssignVariableOp', input: ['v2', 'secret'] },
  ], '')), { op: 'InitializeTableFromTextFileV2', message: /assigned from node 'secret' \(Const\)/ }, 'handles with an empty shared_name count as one variable');
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ name: 'y', op: 'FixedUnigramCandidateSampler', attr: { vocab_file: { s: Buffer.from('/etc/passwd') } } }]));
  await t.rejects(checkSavedModelOps(dir, ['serve'], 'serve'), { op: 'FixedUnigramCandidateSampler', message: /it reads \/etc\/passwd/ });
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ name: 'y', op: 'FixedUnigramCandidateSampler', attr: { unigrams: {} } }]));
  await t.resolves(checkSavedModelOps(dir, ['serve'], 'serve'), 'with unigrams given in the graph');
});

t.test("what the third trial found (helper-135): a function Grappler may run in a call's place, a container that aliases a variable, DumpTensor, an asset that links outside", async (t) => {
  const dir = tmp(t);
  const check = async (bytes: Uint8Array) => {
    fs.writeFileSync(path.join(dir, 'saved_model.pb'), bytes);
    return checkSavedModelOps(dir, ['serve'], 'serve');
  };
  const implementsIo = (device: string) => ({ api_implements: { s: Buffer.from('io') }, api_preferred_device: { s: Buffer.from(device) } });
  // The signature calls an identity; the library's other implementation of 'io' reads a file.
  await t.rejects(check(savedModel([
    { name: 'x', op: 'Placeholder' },
    { name: 'y', op: 'StatefulPartitionedCall', input: ['x'], attr: { f: fn('benign') } },
  ], { functions: {
    benign: { args: ['p'], body: [{ name: 'same', op: 'Identity', input: ['p'] }], attr: implementsIo('GPU') },
    evil: { args: ['p'], body: [{ name: 'read', op: 'ReadFile', input: ['p'] }], attr: implementsIo('CPU') },
  } })), { op: 'ReadFile', message: /a function of the same api_implements \('io'\) TensorFlow may run in its place, 'evil'/ });
  // One variable through two handles: container '' is 'localhost' to TensorFlow.
  const aliased = savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path_initializer', op: 'Placeholder' }, { name: 'secret', op: 'Const' },
    { name: 'b', op: 'VarHandleOp', attr: { shared_name: { s: Buffer.from('p') }, container: { s: Buffer.from('localhost') } } },
    { name: 'a', op: 'VarHandleOp', attr: { shared_name: { s: Buffer.from('p') } } },
    { name: 'first', op: 'AssignVariableOp', input: ['b', 'asset_path_initializer'] },
    { name: 'second', op: 'AssignVariableOp', input: ['a', 'secret', '^first'] },
    { name: 'read', op: 'ReadVariableOp', input: ['b', '^second'] },
    { name: 'table_init', op: 'InitializeTableFromTextFileV2', input: ['table', 'read'] },
  ], { mainOp: 'table_init', assets: ['asset_path_initializer:0'] });
  await t.rejects(check(aliased), { op: 'InitializeTableFromTextFileV2', message: /assigned from node 'secret' \(Const\)/ });
  await t.rejects(check(savedModel([{ name: 'x', op: 'Placeholder' }, { name: 'y', op: 'DumpTensor', input: ['x'] }])), { op: 'DumpTensor', message: /it writes files/ });
  t.equal(SERVE_DENIED_OPS.RpcClient, 'talks to other machines');
  // A well-named asset that is a link to a file outside the SavedModel.
  const table = savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path', op: 'Const' },
    { name: 'init', op: 'InitializeTableFromTextFileV2', input: ['table', 'asset_path'] },
  ], { mainOp: 'init', assets: { 'asset_path:0': 'vocab.txt' } });
  const outside = path.join(tmp(t), 'secret.txt');
  fs.writeFileSync(outside, 'secret\n');
  fs.mkdirSync(path.join(dir, 'assets'), { recursive: true });
  fs.symlinkSync(outside, path.join(dir, 'assets', 'vocab.txt'));
  await t.rejects(check(table), { code: 'PERMISSION_DENIED', op: '', entry: "its asset 'vocab.txt'", message: /its asset 'vocab\.txt' is a link to .*secret\.txt, outside the SavedModel/ });
  fs.rmSync(path.join(dir, 'assets', 'vocab.txt'));
  fs.writeFileSync(path.join(dir, 'real.txt'), 'a\n');
  fs.symlinkSync(path.join(dir, 'real.txt'), path.join(dir, 'assets', 'vocab.txt'));
  await t.resolves(check(table), 'a link that stays inside the SavedModel (as a volume mount makes them) loads');
  // helper-137: a NUL ends the name where TensorFlow opens it (assets/lnk, a link out), and the
  // check could not follow the name; a variables/ that links to another checkpoint.
  fs.symlinkSync(outside, path.join(dir, 'assets', 'lnk'));
  const nul = savedModel([
    { name: 'y', op: 'Placeholder' }, { name: 'asset_path', op: 'Const' },
    { name: 'init', op: 'InitializeTableFromTextFileV2', input: ['table', 'asset_path'] },
  ], { mainOp: 'init', assets: { 'asset_path:0': 'lnk\0x' } });
  await t.rejects(check(nul), { code: 'PERMISSION_DENIED', message: /its asset 'lnk\\x00x' has a control character in its name/ });
  const elsewhere = path.join(tmp(t), 'checkpoint');
  fs.mkdirSync(elsewhere);
  fs.symlinkSync(elsewhere, path.join(dir, 'variables'));
  await t.rejects(check(table), { code: 'PERMISSION_DENIED', message: /its 'variables' directory is a link to .*checkpoint, outside the SavedModel/ });
  fs.rmSync(path.join(dir, 'variables'));
  fs.mkdirSync(path.join(dir, 'variables'));
  fs.writeFileSync(path.join(elsewhere, 'variables.index'), '');
  fs.symlinkSync(path.join(elsewhere, 'variables.index'), path.join(dir, 'variables', 'variables.index'));
  await t.rejects(check(table), { code: 'PERMISSION_DENIED', message: /its variables file 'variables\.index' is a link to .*, outside the SavedModel/ });
});

t.test('a TF2 vocabulary asset read by the init op loads under opPolicy serve, and runs', async (t) => {
  const { dir, golden } = fixture('tf2_vocab');
  const model = await loadModel(dir, { opPolicy: 'serve' });
  const c = golden.cases[0]!;
  const out = await model.run({ words: toTensor(c.inputs.words!) });
  t.same([...out.ids!.data as BigInt64Array], (c.outputs.ids!.data as string[]).map(BigInt));
  await model.dispose();
});

t.test('big graphs are checked off the event loop; other encodings and corrupt files', async (t) => {
  const dir = tmp(t);
  // A chain of 150 000 nodes ending in a ReadFile: a graph that takes a while to decode and walk.
  const chain: N[] = Array.from({ length: 150_000 }, (_, i) => ({ name: `n${i}`, op: i === 0 ? 'ReadFile' : 'Identity', input: i === 0 ? [] : [`n${i - 1}`] }));
  chain.push({ name: 'y', op: 'Identity', input: ['n149999'] });
  const big = savedModel(chain);
  t.ok(big.length > INLINE_CHECK_BYTES, `${big.length} bytes`);
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), big);
  // What the check costs on the event loop when done there, against the longest stall while a
  // worker thread does it.
  const started = performance.now();
  t.match(runOpsJob({ bytes: big, loaded: false, tags: ['serve'], policy: 'serve', exportDir: dir }), { denied: true, op: 'ReadFile' });
  const inline = performance.now() - started;
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => { const now = performance.now(); stall = Math.max(stall, now - last); last = now; }, 1);
  await t.rejects(checkSavedModelOps(dir, ['serve'], 'serve'), { code: 'PERMISSION_DENIED', op: 'ReadFile', constructor: PermissionDeniedError }, 'a worker thread answers with the same error');
  clearInterval(timer);
  t.ok(stall < Math.max(inline / 2, 20), `longest event-loop stall ${stall.toFixed(1)} ms; the check on the loop takes ${inline.toFixed(1)} ms`);
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), savedModel([{ name: 'y', op: 'Identity' }], { pad: INLINE_CHECK_BYTES + 1 }));
  await t.resolves(checkSavedModelOps(dir, ['serve'], 'serve'));
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), Buffer.from([0x12, 0xff, 0xff, 0xff, 0x0f, 1, 2]));
  await t.rejects(checkSavedModelOps(dir, ['serve'], 'serve'), { code: 'INVALID_ARGUMENT', message: /saved_model\.pb is not a readable SavedModel \(.*\): the file is corrupt or not a SavedModel; opPolicy reads it before TensorFlow does$/ });
  fs.rmSync(path.join(dir, 'saved_model.pb'));
  await t.resolves(checkSavedModelOps(dir, ['serve'], 'serve'), 'no SavedModel at all: TensorFlow says so at load');
  fs.writeFileSync(path.join(dir, 'saved_model.pbtxt'), 'meta_graphs {}');
  await t.rejects(checkSavedModelOps(dir, ['serve'], 'serve'), { code: 'PERMISSION_DENIED', message: /cannot check .*saved_model.pbtxt: tfslice reads only saved_model.pb/ });
  await t.resolves(checkSavedModelOps(dir, ['serve'], 'none'));
});

t.test('opPolicy values are checked, naming the field', async (t) => {
  for (const bad of ['strict', { deny: 'ReadFile' }, { allow: [1] }, { deny: [], allow: [] }, {}, ['ReadFile'], null, { deny: ['Read File'] }]) {
    await t.rejects(loadModel(FILE_IO, { opPolicy: bad as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /^opPolicy(\.deny|\.allow)? must be/ }, JSON.stringify(bad));
  }
  t.ok(Object.isFrozen(SERVE_DENIED_OPS) && SERVE_DENIED_OPS.WriteFile === 'writes files');
});

t.test('tfslice show --ops', async (t) => {
  const home = tmp(t);
  const text = await tfslice(['show', FILE_IO, '--ops'], { home });
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /signature 'read_file'[\s\S]*ops \(4\): Identity, PartitionedCall, Placeholder, ReadFile \(opPolicy 'serve' refuses: reads files\)/);
  t.match(text.stdout, /at load:\n.*the init op '__saved_model_init_op' reaches \(1\): NoOp\n.*the saver's restore op '[^']+' reaches \(\d+\): .*RestoreV2, /, "RestoreV2 is not marked in the restore op");
  const json = jsonOf<{ metaGraphs: { ops: { kind: string; name: string; ops: Record<string, string[]> }[] }[] }>(await tfslice(['show', FILE_IO, '--ops', '--json', '--signature', 'write_file'], { home }));
  const entries = json.metaGraphs[0]!.ops;
  t.same(entries.map((e) => e.kind).sort(), ['init', 'restore', 'signature']);
  t.ok(entries.find((e) => e.kind === 'signature')!.ops.WriteFile, 'JSON: op type → path');
});

t.test("tfslice serve applies opPolicy 'serve' unless told otherwise", async (t) => {
  const base = tmp(t);
  fs.cpSync(FILE_IO, path.join(base, '1'), { recursive: true });
  const refused = await startServe(['--model_name', 'io', '--model_base_path', base, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0']);
  t.teardown(() => { refused.child.kill('SIGKILL'); });
  const status = await (await fetch(`${refused.url}/v1/models/io`)).json() as { model_version_status: { state: string; status: { error_code: string; error_message: string } }[] };
  t.equal(status.model_version_status[0]!.status.error_code, 'PERMISSION_DENIED');
  t.match(status.model_version_status[0]!.status.error_message, /opPolicy 'serve' refuses .* reaches op 'ReadFile'/);
  t.match(refused.stderr(), /version 1 failed: opPolicy 'serve' refuses/);
  refused.child.kill('SIGTERM');
  await refused.exited;
  const allowed = await startServe(['--model_name', 'io', '--model_base_path', base, '--rest_api_port', '0', '--file_system_poll_wait_seconds', '0', '--op_policy', 'none']);
  t.teardown(() => { allowed.child.kill('SIGKILL'); });
  const ok = await (await fetch(`${allowed.url}/v1/models/io`)).json() as { model_version_status: { state: string }[] };
  t.equal(ok.model_version_status[0]!.state, 'AVAILABLE', '--op_policy none serves it');
  allowed.child.kill('SIGTERM');
  await allowed.exited;
});
