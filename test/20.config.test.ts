// loadModel options -> ConfigProto bytes, checked with TensorFlow's own Python parser.
import t from 'tap';

import { decodeConfig, encodeConfig, InvalidArgumentError, loadModel, loadOpLibrary, type LoadOptions, reachedOps } from '../lib/index';
import { resolveLoadOptions } from '../lib/options';
import { fixture, python, TF_PROTOS_ONLY } from './helpers';

const PARSE = `${TF_PROTOS_ONLY}
import sys, json
from tensorflow.core.protobuf import config_pb2
from google.protobuf import json_format
out = []
for hexed in json.load(sys.stdin):
    msg = config_pb2.ConfigProto.FromString(bytes.fromhex(hexed))
    out.append(json_format.MessageToDict(msg, preserving_proto_field_name=True))
print(json.dumps(out))
`;

// Raw ConfigProto bytes serialized by TensorFlow, for the sessionConfig merge case.
const BASE = `${TF_PROTOS_ONLY}
import json
from tensorflow.core.protobuf import config_pb2
c = config_pb2.ConfigProto(device_count={'GPU': 0}, operation_timeout_in_ms=1234, intra_op_parallelism_threads=7)
c.gpu_options.allocator_type = 'BFC'
c.gpu_options.per_process_gpu_memory_fraction = 0.9
print(json.dumps([c.SerializeToString().hex(), config_pb2.ConfigProto(inter_op_parallelism_threads=3).SerializeToString().hex()]))
`;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('option sets decode, in TensorFlow, to exactly what was asked', async (t) => {
  const [baseHex, interOpHex] = python<[string, string]>(BASE);
  const base = new Uint8Array(Buffer.from(baseHex, 'hex'));
  const baseWithInterOp = new Uint8Array(Buffer.from(interOpHex, 'hex'));
  const cases: { options: number | LoadOptions | undefined; expected: Record<string, unknown> }[] = [
    // tfslice's one default: ops inline on the calling thread (inter_op -1).
    { options: undefined, expected: { inter_op_parallelism_threads: -1 } },
    { options: 0.3, expected: { gpu_options: { per_process_gpu_memory_fraction: 0.3 }, inter_op_parallelism_threads: -1 } },
    { options: { interOpThreads: 0 }, expected: {} },
    { options: { interOpThreads: 4 }, expected: { inter_op_parallelism_threads: 4 } },
    { options: { interOpThreads: -1, intraOpThreads: 1 }, expected: { inter_op_parallelism_threads: -1, intra_op_parallelism_threads: 1 } },
    {
      options: { gpuMemoryFraction: 0.6, allowGrowth: true, gpuDevice: 1, intraOpThreads: 2, interOpThreads: 3, allowSoftPlacement: true, logDevicePlacement: true },
      expected: {
        gpu_options: { per_process_gpu_memory_fraction: 0.6, allow_growth: true, visible_device_list: '1' },
        intra_op_parallelism_threads: 2, inter_op_parallelism_threads: 3, allow_soft_placement: true, log_device_placement: true,
      },
    },
    { options: { gpuMemoryFraction: 1, allowGrowth: false }, expected: { gpu_options: { per_process_gpu_memory_fraction: 1 }, inter_op_parallelism_threads: -1 } },
    {
      // Typed fields win over sessionConfig; its other fields survive the merge.
      options: { sessionConfig: base, gpuMemoryFraction: 0.5, intraOpThreads: 3 },
      expected: {
        device_count: { GPU: 0 }, operation_timeout_in_ms: '1234', intra_op_parallelism_threads: 3, inter_op_parallelism_threads: -1,
        gpu_options: { allocator_type: 'BFC', per_process_gpu_memory_fraction: 0.5 },
      },
    },
    { options: { sessionConfig: base }, expected: { device_count: { GPU: 0 }, operation_timeout_in_ms: '1234', intra_op_parallelism_threads: 7, inter_op_parallelism_threads: -1, gpu_options: { allocator_type: 'BFC', per_process_gpu_memory_fraction: 0.9 } } },
    // sessionConfig that chooses the inter-op pool itself keeps its choice.
    { options: { sessionConfig: baseWithInterOp }, expected: { inter_op_parallelism_threads: 3 } },
    { options: { operationTimeoutMs: 5000 }, expected: { inter_op_parallelism_threads: -1, operation_timeout_in_ms: '5000' } },
    // A remote session gets a deadline for blocking operations unless it has one, and variables of its own.
    { options: { target: 'grpc://127.0.0.1:2222' }, expected: { inter_op_parallelism_threads: -1, operation_timeout_in_ms: '60000', isolate_session_state: true } },
    { options: { target: 'grpc://127.0.0.1:2222', sessionConfig: base }, expected: { device_count: { GPU: 0 }, operation_timeout_in_ms: '1234', intra_op_parallelism_threads: 7, inter_op_parallelism_threads: -1, isolate_session_state: true, gpu_options: { allocator_type: 'BFC', per_process_gpu_memory_fraction: 0.9 } } },
  ];
  const bytes = cases.map((c) => resolveLoadOptions(c.options).configBytes);
  const decoded = python<Record<string, unknown>[]>(PARSE, JSON.stringify(bytes.map(hex)));
  cases.forEach((c, i) => t.same(decoded[i], c.expected, `options ${JSON.stringify(c.options, (_k, v) => (v instanceof Uint8Array ? '<bytes>' : v))}`));
  t.same(decodeConfig(encodeConfig({ interOpParallelismThreads: -1 })), { interOpParallelismThreads: -1 }, 'our decoder reads back our encoder');
});

t.test("a partition layout's fields decode in TensorFlow as virtual devices and device counts", async (t) => {
  const layout = encodeConfig({
    deviceCount: { CPU: 3 }, allowSoftPlacement: true,
    gpuOptions: { visibleDeviceList: '0,1', experimental: { virtualDevices: [{ memoryLimitMb: [256, 512] }, { memoryLimitMb: [1024] }] } },
  });
  t.same(python<Record<string, unknown>[]>(PARSE, JSON.stringify([hex(layout)]))[0], {
    device_count: { CPU: 3 }, allow_soft_placement: true,
    gpu_options: { visible_device_list: '0,1', experimental: { virtual_devices: [{ memory_limit_mb: [256, 512] }, { memory_limit_mb: [1024] }] } },
  });
});

t.test('gpuMemoryFraction outside (0, 1] or NaN is a RangeError naming the field', async (t) => {
  for (const bad of [0, -0.1, 1.0001, 2, Number.NaN, Infinity]) {
    await t.rejects(loadModel(fixture('tiny').dir, bad), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /gpuMemoryFraction must be a fraction in \(0, 1\]/ }, String(bad));
    await t.rejects(loadModel(fixture('tiny').dir, { gpuMemoryFraction: bad }), RangeError);
  }
});

t.test('other bad options are TypeErrors or RangeErrors naming the field', async (t) => {
  const dir = fixture('tiny').dir;
  await t.rejects(loadModel(dir, { gpuMemoryFraction: '0.5' as unknown as number }), { name: 'TypeError', message: /^gpuMemoryFraction must be a number, got "0.5"/ });
  await t.rejects(loadModel(dir, { allowGrowth: 1 as unknown as boolean }), { name: 'TypeError', message: /^allowGrowth must be a boolean/ });
  // The message gives the whole range (helper-73: it said [0, 2147483647] below it, and 1024 above).
  await t.rejects(loadModel(dir, { intraOpThreads: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /^intraOpThreads must be a thread count from 0 \(TensorFlow picks one per core\) to 1024; .*got -1$/ });
  await t.rejects(loadModel(dir, { interOpThreads: 1.5 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /^interOpThreads must be a thread count from 0 .* to 1024, or -1 \(ops run inline.*got 1\.5$/ });
  // A NUL ends the path for TensorFlow's C strings: it loaded the directory before the NUL.
  await t.rejects(loadModel('gs://bucket/model'), { name: 'TypeError', message: /^modelPath must be a SavedModel directory path on this machine: tfslice reads models from the local file system, not gs:\/\// });
  await t.rejects(loadModel(`file://${dir}%00-not-there`), { name: 'TypeError', message: /^modelPath must be a SavedModel directory path \(non-empty, without NUL characters; %00 in a file:\/\/ URL is one\)/ }, '%00 decoded from a file:// URL is a NUL too (found by helper-40)');
  await t.rejects(loadModel(`${dir}\0-not-there`), { name: 'TypeError', message: /^modelPath must be a SavedModel directory path \(non-empty, without NUL characters\)/ });
  await t.rejects(loadModel(dir, { opLibraries: ['/x.so\0'] }), { name: 'TypeError', message: /^opLibraries must be an array of paths to op libraries \(\.so\), without NUL characters/ });
  await t.rejects(loadOpLibrary('/x.so\0y'), { name: 'TypeError', message: /^libraryPath must be a path to a shared library \(without NUL characters\)/ });
  // TensorFlow starts a pool's threads at load: 1e9 crashed the process, 16384 aborted it.
  await t.rejects(loadModel(dir, { intraOpThreads: 1e9 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /^intraOpThreads must be a thread count from 0 \(TensorFlow picks one per core\) to 1024; TensorFlow starts them all at load .*got 1000000000$/ });
  await t.rejects(loadModel(dir, { runTimeoutMs: 1e308 }), { code: 'ERR_OUT_OF_RANGE', message: /^runTimeoutMs must be a whole number of milliseconds ≥ 0 \(0: no limit\) and at most 9007199254740991, got 1e\+308$/ });
  await t.rejects(loadModel(dir, { interOpThreads: 1025, isolation: 'process' }), { name: 'RangeError', message: /^interOpThreads must be a thread count from 0 \(TensorFlow picks one per core\) to 1024, or -1 \(ops run inline/ });
  await t.rejects(loadModel(dir, { sessionConfig: encodeConfig({ intraOpParallelismThreads: 5000 }) }), { name: 'RangeError', message: /^sessionConfig's intra_op_parallelism_threads must be from 0 to 1024 threads/ });
  // session_inter_op_thread_pool: 5000 started 5000 threads; -5000 aborted the process (a CHECK; found by helper-40).
  await t.rejects(loadModel(dir, { sessionConfig: encodeConfig({ sessionInterOpThreadPool: [{ numThreads: 5000 }] }) }), { name: 'RangeError', message: /^sessionConfig's session_inter_op_thread_pool\[0\]\.num_threads must be from 0 to 1024 threads/ });
  await t.rejects(loadModel(dir, { sessionConfig: encodeConfig({ sessionInterOpThreadPool: [{ numThreads: 2 }, { numThreads: -5000 }] }), isolation: 'process' }), { name: 'RangeError', message: /^sessionConfig's session_inter_op_thread_pool\[1\]\.num_threads must be from 0 to 1024 threads .*got -5000$/ });
  await t.rejects(loadModel(dir, { gpuDevice: -1 }), { name: 'RangeError', message: /^gpuDevice/ });
  await t.rejects(loadModel(dir, { tags: [''] }), { name: 'TypeError', message: /^tags must be an array of non-empty strings \(\[\] for the empty tag-set\)/ });
  await t.rejects(loadModel(dir, { opLibraries: 'x.so' as unknown as string[] }), { name: 'TypeError', message: /^opLibraries must be an array of paths to op libraries/ });
  await t.rejects(loadModel(dir, { gpuFraction: 0.5 } as unknown as LoadOptions), { name: 'TypeError', message: /^option "gpuFraction" must be one of gpuMemoryFraction/ });
  await t.rejects(loadModel(dir, { sessionConfig: [1, 2] as unknown as Uint8Array }), { name: 'TypeError', message: /^sessionConfig must be a Uint8Array/ });
  await t.rejects(loadModel(42 as unknown as string), { name: 'TypeError', message: /^modelPath must be a SavedModel directory path/ });
});

t.test('malformed ConfigProto bytes are refused by TF_SetConfig as an error, not a crash', async (t) => {
  const garbage = new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
  const error = await loadModel(fixture('tiny').dir, { sessionConfig: garbage }).catch((e: unknown) => e);
  t.type(error, InvalidArgumentError);
  t.match(error, { code: 'INVALID_ARGUMENT', message: /Unparseable ConfigProto/ });
  const model = await loadModel(fixture('tiny').dir);
  t.ok(model.signatures.serving_default, 'the process is fine and loads models afterwards');
  await model.dispose();
});

t.test('encodeConfig(), decodeConfig() and reachedOps() refuse what they cannot read with coded errors naming the argument (helper-125: protobufjs\'s own, without a code)', async (t) => {
  t.throws(() => encodeConfig(null as never), { code: 'ERR_INVALID_ARG_TYPE', message: /^config must be an object \(a SessionConfig/ });
  t.throws(() => encodeConfig({ gpuOptions: 5 } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /^config is invalid: ConfigProto\.gpuOptions: object expected/ });
  t.throws(() => encodeConfig({}, [1] as never), { code: 'ERR_INVALID_ARG_TYPE', message: /^base must be a Uint8Array/ });
  t.throws(() => decodeConfig(Uint8Array.of(0xff, 0xff)), { code: 'INVALID_ARGUMENT', message: /^bytes are no ConfigProto \(/ });
  t.throws(() => decodeConfig('x' as never), { code: 'ERR_INVALID_ARG_TYPE', message: /^bytes must be a Uint8Array/ });
  t.same(decodeConfig(encodeConfig({ intraOpParallelismThreads: 2 })), { intraOpParallelismThreads: 2 }, 'and still read what they write');
  t.throws(() => reachedOps(Uint8Array.of(1, 2, 3), ['serve']), { code: 'INVALID_ARGUMENT', message: /^savedModel: its bytes are no SavedModel protobuf \(/ });
  t.throws(() => reachedOps(Uint8Array.of(), 'serve' as never), { code: 'ERR_INVALID_ARG_TYPE', message: /^tags must be an array of strings/ });
  t.throws(() => reachedOps(null as never, ['serve']), { code: 'ERR_INVALID_ARG_TYPE', message: /^savedModel must be a Uint8Array/ });
  t.equal(reachedOps(Uint8Array.of(), ['serve']), null, 'no meta graph in empty bytes: null, as documented');
});

t.test('every combination of the typed options (with and without sessionConfig) decodes in TensorFlow as asked', async (t) => {
  const [baseHex] = python<[string, string]>(BASE);
  const base = new Uint8Array(Buffer.from(baseHex, 'hex'));
  // One value per typed option, each with the ConfigProto field TensorFlow must show.
  const fields: [keyof LoadOptions, unknown, (e: Record<string, any>) => void][] = [
    ['gpuMemoryFraction', 0.25, (e) => { e.gpu_options.per_process_gpu_memory_fraction = 0.25; }],
    ['allowGrowth', true, (e) => { e.gpu_options.allow_growth = true; }],
    ['gpuDevice', 2, (e) => { e.gpu_options.visible_device_list = '2'; }],
    ['intraOpThreads', 3, (e) => { e.intra_op_parallelism_threads = 3; }],
    ['interOpThreads', 5, (e) => { e.inter_op_parallelism_threads = 5; }],
    ['allowSoftPlacement', true, (e) => { e.allow_soft_placement = true; }],
    ['logDevicePlacement', true, (e) => { e.log_device_placement = true; }],
  ];
  const cases: { options: LoadOptions; expected: Record<string, any> }[] = [];
  for (let mask = 0; mask < 1 << (fields.length + 1); mask++) {
    const withBase = (mask & (1 << fields.length)) !== 0;
    const options: Record<string, unknown> = withBase ? { sessionConfig: base } : {};
    const expected: Record<string, any> = withBase
      ? { device_count: { GPU: 0 }, operation_timeout_in_ms: '1234', intra_op_parallelism_threads: 7, gpu_options: { allocator_type: 'BFC', per_process_gpu_memory_fraction: 0.9 } }
      : { gpu_options: {} };
    fields.forEach(([key, value, apply], i) => {
      if (mask & (1 << i)) {
        options[key] = value;
        apply(expected);
      }
    });
    expected.inter_op_parallelism_threads ??= -1;
    if (Object.keys(expected.gpu_options).length === 0) delete expected.gpu_options;
    // isolation picks where the session lives, never what it is configured with.
    if (mask % 3 === 0) options.isolation = 'process';
    cases.push({ options: options as LoadOptions, expected });
  }
  const decoded = python<Record<string, unknown>[]>(PARSE, JSON.stringify(cases.map((c) => hex(resolveLoadOptions(c.options).configBytes))));
  let matching = 0;
  cases.forEach((c, i) => {
    if (JSON.stringify(sortKeys(decoded[i])) === JSON.stringify(sortKeys(c.expected))) matching++;
    else t.same(decoded[i], c.expected, `options ${JSON.stringify(c.options, (_k, v) => (v instanceof Uint8Array ? '<bytes>' : v))}`);
  });
  t.equal(matching, cases.length, `all ${cases.length} combinations decode as asked`);
});

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
}

t.test("loadTensorFlow() sets up every protobuf message type's coders while dlopen runs, so the first loadModel() does not (the op policy's graph types cost ~20 ms there)", async (t) => {
  const { primeProtobuf, GRAPH_SAVED_MODEL } = await import('../lib/proto');
  const { loadTensorFlow } = await import('../lib/index');
  await loadTensorFlow();
  primeProtobuf(); // idempotent: a no-op when loadTensorFlow() primed already
  // protobufjs' Type#setup() replaces the prototype's lazy decode with the type's own.
  const types: { name: string; set: boolean }[] = [];
  const walk = (ns: { nestedArray: readonly unknown[] }): void => {
    for (const nested of ns.nestedArray) {
      const n = nested as { name: string; nestedArray?: readonly unknown[]; fieldsArray?: unknown };
      if (n.fieldsArray !== undefined) types.push({ name: n.name, set: Object.hasOwn(n, 'decode') });
      if (n.nestedArray) walk(n as { nestedArray: readonly unknown[] });
    }
  };
  walk(GRAPH_SAVED_MODEL.root);
  t.ok(types.length >= 40, `${types.length} message types`);
  t.same(types.filter((x) => !x.set).map((x) => x.name), [], 'no type left to set up on first use');
});
