// ModelManager: named, versioned SavedModels on disk, as TensorFlow Serving's model manager
// serves them. Every version here is a real SavedModel copied into a temporary base path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import {
  gpuLedger, InvalidArgumentError, loadModel, type Model, ModelManager, type ModelManagerConfig, NotFoundError, NotStartedError, selectVersions, type StateEvent, Tensor, TensorFlowError,
} from '../lib/index';
import { resetLedgerForTests } from '../lib/gpu';
import { filesSaid, lookAt, type Look } from '../lib/manager/versions';
import { callListeners } from '../lib/listeners';
import { expectOutput, fixture, slowN, toTensor } from './helpers';

const tiny = fixture('tiny');
const slow = fixture('slow').dir;
const golden = tiny.golden.cases[0]!;
const feeds = { x: toTensor(golden.inputs.x!) };

function basePath(t: tap.Test, versions: number[] = [], from = tiny.dir): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-manager-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const v of versions) addVersion(dir, v, from);
  return dir;
}

function addVersion(base: string, version: number, from = tiny.dir): void {
  fs.cpSync(from, path.join(base, String(version)), { recursive: true });
}

// A version that fails to load, renamed into place whole (as exporters should): 'graph' has
// junk for saved_model.pb, 'variables' has its variables' data cut to half.
function addBroken(base: string, version: number, how: 'graph' | 'variables' = 'graph'): void {
  const tmp = path.join(base, `tmp-${version}`);
  fs.cpSync(tiny.dir, tmp, { recursive: true });
  if (how === 'graph') {
    fs.writeFileSync(path.join(tmp, 'saved_model.pb'), 'not a SavedModel');
  } else {
    for (const name of fs.readdirSync(path.join(tmp, 'variables')).filter((n) => n.startsWith('variables.data'))) {
      const file = path.join(tmp, 'variables', name);
      fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    }
  }
  fs.renameSync(tmp, path.join(base, String(version)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A writer that keeps changing `file` (a byte more, a byte less, every 20 ms) until the function
// it returns is called (or the test ends), then puts it back as it was.
function keepWriting(t: tap.Test, file: string): () => Promise<void> {
  const bytes = fs.readFileSync(file);
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      fs.writeFileSync(file, Buffer.concat([bytes, Buffer.alloc(i % 2)]));
      await sleep(20);
    }
    fs.writeFileSync(file, bytes);
  })();
  const stop = async () => { writing = false; await writer; };
  t.teardown(stop);
  return stop;
}

async function until(what: string, condition: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A manager whose events are recorded, stopped when the test ends.
function manager(t: tap.Test, config: ModelManagerConfig): { mm: ModelManager; events: StateEvent[]; failures: { name: string; version: number | null; error: Error }[] } {
  const mm = new ModelManager(config);
  const events: StateEvent[] = [];
  const failures: { name: string; version: number | null; error: Error }[] = [];
  mm.on('state', (e) => events.push(e));
  mm.on('failure', (e) => failures.push(e));
  t.teardown(() => mm.stop());
  return { mm, events, failures };
}

const states = (events: StateEvent[], version: number) => events.filter((e) => e.version === version).map((e) => e.state);
const stateOf = (mm: ModelManager, name: string, version: number) => mm.status(name).versions.find((v) => v.version === version)?.state;
// [version, state, 'failed' when status() has its error] for every version of a model, ascending.
const table = (mm: ModelManager, name: string) => mm.status(name).versions.map((v) => [v.version, v.state, v.error === null ? null : 'failed']);

// Concurrent run() loops until stopped (at the latest when the test ends, so that a failed
// wait cannot leave them spinning): every failure and which version served each run.
function traffic(t: tap.Test, mm: ModelManager, name: string, loops = 4) {
  let running = true;
  const served = new Map<number, number>();
  const failed: unknown[] = [];
  const done = Promise.all(Array.from({ length: loops }, async () => {
    while (running) {
      try {
        const r = await mm.predict(name, feeds);
        served.set(r.version, (served.get(r.version) ?? 0) + 1);
      } catch (error) {
        failed.push(error);
      }
      await new Promise((r) => setImmediate(r));
    }
  }));
  const stop = async () => { running = false; await done; };
  t.teardown(stop);
  return { served, failed, stop };
}

t.beforeEach(() => resetLedgerForTests());

t.test('configuration: every field is checked and named by its path; JSON files; unknown keys refused', async (t) => {
  const ok = { name: 'a', basePath: '/models/a' };
  const cases: [unknown, RegExp, string][] = [
    [{ models: {} }, /^config\.models must be an array of model configs \(\[\] for none yet\), got an object \(Object\)/, 'TypeError'],
    [{ models: [ok, { name: 'b' }] }, /^models\[1\]\.basePath must be a directory path \(non-empty, without NUL characters\), got undefined/, 'TypeError'],
    // path.resolve made s3://bucket/m a local ./s3:/bucket/m, and the server served nothing (found by a trial, helper-37).
    [{ models: [ok, { name: 'b', basePath: 's3://bucket/models/b' }] }, /^models\[1\]\.basePath must be a directory path on this machine: tfslice reads models from the local file system, not s3:\/\/ \(copy the model to a local directory, or mount the bucket/, 'TypeError'],
    [{ models: [ok, { name: 'b', basePath: 'GS://bucket/b' }] }, /not gs:\/\//, 'TypeError'],
    [{ models: [ok, { name: 'b', basePath: '/models/b\0x' }] }, /^models\[1\]\.basePath must be a directory path \(non-empty, without NUL characters\), got "\/models\/b\\u0000x"/, 'TypeError'],
    [{ models: [{ ...ok, base_path: '/x' }] }, /^models\[0\]\.base_path is not a known key \(did you mean basePath\?\); the keys are name, basePath/, 'TypeError'],
    [{ models: [ok], poll: 1 }, /^config\.poll is not a known key/, 'TypeError'],
    [{ models: [{ ...ok, gpuMemoryFraction: 2 }] }, /^models\[0\]\.gpuMemoryFraction must be a fraction in \(0, 1\], got 2/, 'RangeError'],
    [{ models: [{ ...ok, isolation: 'thread' }] }, /^models\[0\]\.isolation must be 'none' or 'process'/, 'TypeError'],
    [{ models: [{ ...ok, tags: [''] }] }, /^models\[0\]\.tags must be an array of non-empty strings/, 'TypeError'],
    [{ models: [{ ...ok, versionPolicy: 'newest' }] }, /^models\[0\]\.versionPolicy must be 'latest', 'all', \{ latest: n \} or \{ specific: \[versions\] \}/, 'TypeError'],
    [{ models: [{ ...ok, versionPolicy: { latest: 0 } }] }, /^models\[0\]\.versionPolicy\.latest must be an integer ≥ 1, got 0/, 'RangeError'],
    [{ models: [{ ...ok, versionPolicy: { specific: [1, '2'] } }] }, /^models\[0\]\.versionPolicy\.specific\[1\] must be an integer/, 'TypeError'],
    [{ models: [ok, { ...ok }] }, /^models\[1\]\.name must be unique, got "a"/, 'RangeError'],
    [{ models: [{ ...ok, loadOptions: { maxConcurrentRuns: 0 } }] }, /^models\[0\]\.loadOptions\.maxConcurrentRuns must be an integer from 1 to 4294967295, or Infinity/, 'RangeError'],
    [{ models: [{ ...ok, loadOptions: { gpuMemoryFraction: 0.5 } }] }, /^models\[0\]\.loadOptions\.gpuMemoryFraction must be absent \(set models\[0\]\.gpuMemoryFraction instead\)/, 'TypeError'],
    [{ models: [{ ...ok, loadOptions: { threads: 2 } }] }, /^models\[0\]\.loadOptions\.threads is not a known key/, 'TypeError'],
    [{ models: [{ ...ok, warmup: { feeds: {}, runs: 0 } }] }, /^models\[0\]\.warmup\.runs must be an integer ≥ 1, got 0/, 'RangeError'],
    [{ models: [{ ...ok, warmup: { feeds: 3 } }] }, /^models\[0\]\.warmup\.feeds must be an object of feeds/, 'TypeError'],
    [{ models: [{ ...ok, warmup: {} }] }, /^models\[0\]\.warmup\.feeds must be an object of feeds by input key, or a function returning one \(or give run instead\)/, 'TypeError'],
    [{ models: [{ ...ok, warmup: { run: 'file' } }] }, /^models\[0\]\.warmup\.run must be a function \(model, \{ version, path \}\) returning a promise/, 'TypeError'],
    [{ models: [{ ...ok, warmup: { run: async () => {}, feeds: {} } }] }, /^models\[0\]\.warmup\.feeds must be absent when models\[0\]\.warmup\.run is given/, 'TypeError'],
    [{ models: [ok], swapPolicy: 'wait' }, /^config\.swapPolicy must be 'refuse' or 'unload-first', got "wait"/, 'TypeError'],
    [{ models: [ok], pollIntervalMs: 0 }, /^config\.pollIntervalMs must be an integer ≥ 1, got 0/, 'RangeError'],
    [{ models: [ok], watch: 'yes' }, /^config\.watch must be a boolean/, 'TypeError'],
  ];
  for (const [config, message, name] of cases) {
    t.throws(() => new ModelManager(config as ModelManagerConfig), { name, message }, message.source);
  }

  const dir = basePath(t);
  const file = path.join(dir, 'models.json');
  fs.writeFileSync(file, JSON.stringify({
    models: [{ name: 'tiny', basePath: 'tiny', gpuMemoryFraction: 0.3, isolation: 'process', versionPolicy: { latest: 2 } }],
    requireGpuFraction: true, swapPolicy: 'unload-first',
  }));
  const fromFile = await ModelManager.fromFile(file);
  t.same(fromFile.names, ['tiny']);
  t.equal(fromFile.status('tiny').basePath, path.join(dir, 'tiny'), 'a relative basePath is resolved against the file\'s directory');
  fs.writeFileSync(file, JSON.stringify({ models: [{ name: 'tiny', basePath: `file://${dir}/tiny%20x` }] }));
  t.equal((await ModelManager.fromFile(file)).status('tiny').basePath, path.join(dir, 'tiny x'), 'a file:// URL is its local path');
  // TensorFlow Serving's text format: against the working directory, as TensorFlow Serving reads it.
  const textFile = path.join(dir, 'models.config');
  fs.writeFileSync(textFile, "model_config_list { config { name: 'tiny' base_path: 'some/models/tiny' } }");
  t.equal((await ModelManager.fromFile(textFile)).status('tiny').basePath, path.resolve('some/models/tiny'), "a text-format config's relative base_path: against the working directory");
  fs.writeFileSync(file, JSON.stringify({ models: [{ name: 'tiny', basePath: 'tiny', versionPolicy: { specific: [] } }] }));
  await t.rejects(ModelManager.fromFile(file), { name: 'TypeError', message: /^\S*models\.json: models\[0\]\.versionPolicy\.specific must be a non-empty array/ }, 'a bad field, named with its file');
  fs.writeFileSync(file, '{\n  "models": [\n    {"name": "a",}');
  await t.rejects(ModelManager.fromFile(file), { name: 'SyntaxError', code: 'INVALID_ARGUMENT', message: /models\.json is not valid JSON: .* at position 33 \(line 3, column 18\)$/ }, 'a syntax error, with its line and column');
  await t.rejects(ModelManager.fromFile(path.join(dir, 'missing.json')), { code: 'NOT_FOUND', message: /^no model config file at .*missing\.json/ }, 'a missing file: NOT_FOUND naming it');
  await t.rejects(ModelManager.fromFile('/dev/zero'), { name: 'RangeError', code: 'ERR_FS_FILE_TOO_LARGE', message: '/dev/zero holds more than 16777216 bytes (16 MiB), the most a configuration file may hold' }, 'a file that never ends: read up to 16 MiB, then refused');
  fs.writeFileSync(textFile, 'model_config_list { config { name: ');
  await t.rejects(ModelManager.fromFile(textFile), { name: 'TextFormatError', code: 'INVALID_ARGUMENT' });

  t.same(selectVersions('latest', [3, 10, 2]), [10]);
  t.same(selectVersions({ latest: 2 }, [3, 10, 2]), [3, 10], 'numeric order, not string order');
  t.same(selectVersions({ specific: [2, 7] }, [3, 10, 2]), [2]);
  t.same(selectVersions('all', [3, 10, 2]), [2, 3, 10]);
});

t.test('version policies choose among the numeric directories; runs go to the newest AVAILABLE version', async (t) => {
  const base = basePath(t, [1, 2, 3, 10]);
  fs.mkdirSync(path.join(base, 'tmp-11'));
  fs.writeFileSync(path.join(base, '12'), 'a file, not a version');
  const { mm } = manager(t, {
    models: [
      { name: 'latest', basePath: base },
      { name: 'latest2', basePath: base, versionPolicy: { latest: 2 } },
      { name: 'specific', basePath: base, versionPolicy: { specific: [1, 3, 7] } },
      { name: 'all', basePath: base, versionPolicy: 'all' },
    ],
    settleMs: 50,
  });
  await t.rejects(mm.run('all', feeds), { code: 'UNAVAILABLE', message: "model 'all': the model manager has not started; call start() first (it loads the models)" },
    'a run before start(): UNAVAILABLE, saying to start it (helper-73: "versions: none")');
  t.throws(() => mm.get('all'), { code: 'UNAVAILABLE', message: /^model 'all': the model manager has not started; call start\(\) first/ }, 'get() too');
  const starting = mm.start();
  const early = await mm.predict('all', feeds);
  t.equal(early.version, 10, 'a run made during start() waits for the first load');
  const status = await starting;
  const available = (name: string) => status.find((s) => s.name === name)!.versions.filter((v) => v.state === 'AVAILABLE').map((v) => v.version);
  t.same(available('latest'), [10], "'latest': the highest number (10 > 3, not string order)");
  t.same(available('latest2'), [3, 10], '{ latest: 2 }');
  t.same(available('specific'), [1, 3], '{ specific: [1, 3, 7] }: those that exist');
  t.same(available('all'), [1, 2, 3, 10], "'all': every numeric directory, nothing else");

  for (const name of ['latest', 'latest2', 'specific', 'all']) {
    const r = await mm.predict(name, feeds);
    expectOutput(t, r.outputs.y, golden.outputs.y!, `${name} v${r.version}`);
  }
  t.equal((await mm.predict('specific', feeds)).version, 3, 'the newest of the loaded versions serves');
  t.equal((await mm.predict('all', feeds, { version: 2 })).version, 2, 'or the version asked for');
  await t.rejects(mm.run('latest', feeds, { version: 3 }), { name: 'ServableNotFoundError', code: 'NOT_FOUND', model: 'latest', version: 3, message: /version 3 of model 'latest' is not served: its directory is there, but the version policy \("latest"\) does not choose it now; version 10 serves; it has 10 AVAILABLE/ });
  await t.rejects(mm.run('nope', feeds), { name: 'ServableNotFoundError', code: 'NOT_FOUND', model: 'nope', version: undefined, message: /no model named "nope"; the models are 'latest', 'latest2', 'specific', 'all'/ });
  // The version asked for goes with it (tfslice serve's "Specific(nope, 2)", as TensorFlow Serving's).
  await t.rejects(mm.run('nope', feeds, { version: 2 }), { name: 'ServableNotFoundError', model: 'nope', version: 2 });
  t.throws(() => mm.get('nope', 2), { name: 'ServableNotFoundError', model: 'nope', version: 2 });
  await t.rejects(async () => mm.run(5 as never, feeds), { code: 'ERR_INVALID_ARG_TYPE', message: /^name must be a model name \(one of 'latest', 'latest2', 'specific', 'all'\), got 5/ }, 'a name that is not a string is a TypeError');
  await t.rejects(mm.run('all', feeds, { version: -1 }), { name: 'RangeError' });
  t.equal(mm.get('all').path, path.join(base, '10'), 'get() returns the newest Model');
});

t.test("zero-padded version directories load from their own names (TensorFlow Serving's strtoll); `3` wins over `003`", async (t) => {
  const base = basePath(t, []);
  for (const name of ['001', '010', '3', '003']) fs.cpSync(tiny.dir, path.join(base, name), { recursive: true });
  const { mm } = manager(t, { models: [{ name: 'padded', basePath: base, versionPolicy: 'all' }], settleMs: 50 });
  const status = await mm.start();
  const versions = status[0]!.versions.map((v) => [v.version, v.state]);
  t.same(versions.sort((a, b) => (a[0] as number) - (b[0] as number)), [[1, 'AVAILABLE'], [3, 'AVAILABLE'], [10, 'AVAILABLE']], 'versions 1, 3 and 10');
  t.equal(mm.get('padded').path, path.join(base, '010'), 'version 10 is the directory 010');
  t.equal(mm.get('padded', 3).path, path.join(base, '3'));
  expectOutput(t, (await mm.predict('padded', feeds, { version: 1 })).outputs.y, golden.outputs.y!, 'version 1 (001) runs');
});

t.test('a basePath that is a SavedModel itself: NOT_FOUND that says where the versions go', async (t) => {
  const base = basePath(t, [1]);
  const { mm } = manager(t, { models: [{ name: 'direct', basePath: path.join(base, '1') }] });
  const [status] = await mm.start();
  t.match(status!.error, { code: 'NOT_FOUND', message: /no versions of model 'direct' found under .*\/1 \(versions are numeric sub-directories\); .*\/1 is itself a SavedModel, and basePath is the directory above a model's versions \(TensorFlow Serving's layout\): put it at <dir>\/1 and give <dir>/ });
});

t.test('requireGpuFraction: NOT_FOUND "Fraction not set for model X"; each version gets its model\'s fraction', async (t) => {
  const a = basePath(t, [1]);
  const b = basePath(t, [1]);
  const { mm, failures } = manager(t, {
    models: [{ name: 'a', basePath: a, gpuMemoryFraction: 0.3, isolation: 'process' }, { name: 'b', basePath: b }],
    requireGpuFraction: true, settleMs: 50,
  });
  await mm.start();
  t.same(mm.status('b'), { name: 'b', basePath: b, versions: [], error: { code: 'NOT_FOUND', message: 'Fraction not set for model b' } }, 'b is refused, naming it');
  t.match(failures, [{ name: 'b', version: null, error: { code: 'NOT_FOUND', message: 'Fraction not set for model b' } }], 'and a failure event says so');
  const refused = await mm.load('b').catch((e: unknown) => e);
  t.type(refused, NotFoundError);
  t.match(refused, { code: 'NOT_FOUND', message: 'Fraction not set for model b' }, 'load() throws it');
  await t.rejects(mm.load('b', 1), { code: 'NOT_FOUND', message: 'Fraction not set for model b' });
  await t.rejects(mm.run('b', feeds), { code: 'UNAVAILABLE', message: /model 'b' has no AVAILABLE version \(versions: none\); Fraction not set for model b/ });

  const model = mm.get('a');
  t.same({ fraction: model.gpu.requestedFraction, isolation: model.isolation }, { fraction: 0.3, isolation: 'process' }, 'a version loads with its model\'s fraction, in its own host');
  t.same(gpuLedger()[0]!.holders, [{ model: path.join(a, '1'), fraction: 0.3, isolation: 'process' }], 'and is charged in the ledger');
  expectOutput(t, (await mm.run('a', feeds)).y, golden.outputs.y!, 'a runs');
  await mm.stop();
  t.same(gpuLedger(), [], 'stop() gives the share back');
});

t.test('unload() of a version that a load() is still bringing in: the load ends, then the unload', async (t) => {
  // It was NOT_FOUND (the version is not listed during the load's settle check), and the version
  // became AVAILABLE anyway (found by a trial, helper-38).
  const base = basePath(t, [1, 2]);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base }], settleMs: 200 });
  await mm.start();
  t.same(mm.status('m').versions.map((v) => v.version), [2], 'only 2 is listed');
  const loading = mm.load('m', 1);
  await new Promise((r) => setTimeout(r, 50));
  await mm.unload('m', 1);
  t.ok((await loading).disposed, "the load resolved first; the unload then disposed its Model");
  t.same(mm.status('m').versions.map((v) => [v.version, v.state]), [[1, 'END'], [2, 'AVAILABLE']], 'version 1 is END: the last call wins');
});

t.test('load, unload and reload by hand', async (t) => {
  const base = basePath(t, [1, 2]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base }], settleMs: 50 });
  await mm.start();
  t.same(mm.status('m').versions.map((v) => [v.version, v.state]), [[2, 'AVAILABLE']], "'latest' loads 2");
  t.same(states(events, 2), ['START', 'LOADING', 'AVAILABLE'], 'through the states TensorFlow Serving names');

  const loading = mm.load('m', 1);
  const during = mm.predict('m', feeds, { version: 1 }); // before the load has even looked at the directory
  const one = await loading;
  t.equal(one.path, path.join(base, '1'), 'load(name, version) loads an older version too');
  t.equal((await during).version, 1, 'a run for that version called meanwhile waited for the load');
  t.equal((await mm.predict('m', feeds)).version, 2, 'the newest still serves by default');
  t.equal((await mm.predict('m', feeds, { version: 1 })).version, 1, 'the pinned one on request');

  await mm.unload('m', 2);
  t.same(states(events, 2).slice(-2), ['UNLOADING', 'END']);
  const unloaded = "unload('m', 2) let it go; load('m', 2) brings it back";
  t.same(events.filter((e) => e.version === 2).slice(-2).map((e) => e.reason), [unloaded, unloaded], 'UNLOADING and END say why');
  t.equal((await mm.predict('m', feeds)).version, 1, 'after unload(m, 2), 1 serves');
  await t.rejects(mm.run('m', feeds, { version: 2 }), { code: 'NOT_FOUND', message: `version 2 of model 'm' is END: ${unloaded}` }, 'an unloaded version is NOT_FOUND (TensorFlow Serving: not in its serving map), saying why');
  const again = mm.load('m', 2);
  const whileEnd = mm.predict('m', feeds, { version: 2 }); // the version is END until the load reaches it
  await again;
  t.equal((await whileEnd).version, 2, 'a run for an END version that load() is bringing back waits for it');

  await mm.unload('m');
  t.same(mm.status('m').versions.map((v) => v.state), ['END', 'END'], 'unload(m): every version');
  t.ok(one.disposed, 'and its Model is disposed');
  await t.rejects(mm.run('m', feeds), { code: 'UNAVAILABLE', message: /no AVAILABLE version \(versions: 1 END, 2 END\)/ });
  t.throws(() => mm.get('m'), { code: 'UNAVAILABLE' });

  const reloading = mm.load('m');
  const meanwhile = mm.predict('m', feeds); // called at once: waits for the load (helper-59: it failed UNAVAILABLE)
  const reloaded = await reloading;
  t.equal((await meanwhile).version, 2, 'a run called right after load(m) waited for it');
  t.equal(reloaded.path, path.join(base, '2'), 'load(m) puts the model back under its policy');
  t.equal(mm.get('m'), reloaded);
  t.equal((await mm.predict('m', feeds)).version, 2);
  const nine = mm.load('m', 9);
  const forNine = mm.run('m', feeds, { version: 9 });
  await t.rejects(nine, { code: 'NOT_FOUND', message: /model 'm' has no version 9/ });
  await t.rejects(forNine, { code: 'NOT_FOUND', message: /model 'm' has no version 9/ }, 'a run waiting for a load that fails gets NOT_FOUND');
  await t.rejects(mm.unload('m', 9), { code: 'NOT_FOUND' });
});

t.test('unload(name, version) of a version its base path holds but that is not loaded keeps it from loading, until load(name, version) (helper-118: NOT_FOUND "has no version 2" while a look settled it)', async (t) => {
  const base = basePath(t, [1, 2]);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  t.same(mm.status('m').versions.map((v) => [v.version, v.state]), [[2, 'AVAILABLE']], "'latest' loads 2 only");
  await mm.unload('m', 1); // there, not loaded
  t.same(mm.status('m').versions.map((v) => [v.version, v.state]), [[2, 'AVAILABLE']], 'nothing to unload: 2 serves on');
  const held = "version 1 of model 'm' is not served: unload('m', 1) keeps it from loading; load('m', 1) loads it";
  await t.rejects(mm.run('m', feeds, { version: 1 }), { code: 'NOT_FOUND', message: held }, 'a run for it says why');
  // The policy would now choose 1: the looks after 2's directory went do not load it.
  fs.rmSync(path.join(base, '2'), { recursive: true });
  await until('2 let go of', () => stateOf(mm, 'm', 2) === 'END');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(stateOf(mm, 'm', 1), undefined, 'version 1 was not loaded by the looks since');
  await t.rejects(mm.run('m', feeds, { version: 1 }), { code: 'NOT_FOUND', message: held });
  t.equal((await mm.load('m', 1)).path, path.join(base, '1'), 'load(m, 1) loads it');
  t.equal((await mm.predict('m', feeds)).version, 1);
  await t.rejects(mm.unload('m', 9), { code: 'NOT_FOUND', message: /model 'm' has no version 9/ }, 'a version with no directory is still NOT_FOUND');
});

t.test('watch: versions swapped in and out under continuous run() traffic, without one failed call', async (t) => {
  const base = basePath(t, [1]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  const load = traffic(t, mm, 'm');
  await until('traffic on v1', () => (load.served.get(1) ?? 0) > 50);

  addVersion(base, 2);
  await until('v2 in, v1 out', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 1) === 'END');
  await until('traffic on v2', () => (load.served.get(2) ?? 0) > 50);
  addVersion(base, 3);
  await until('v3 in, v2 out', () => stateOf(mm, 'm', 3) === 'AVAILABLE' && stateOf(mm, 'm', 2) === 'END');
  await until('traffic on v3', () => (load.served.get(3) ?? 0) > 50);
  fs.rmSync(path.join(base, '3'), { recursive: true });
  await until('v3 gone, v2 back', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 3) === 'END');
  const before = load.served.get(2)!;
  await until('traffic on v2 again', () => load.served.get(2)! > before + 50);
  await load.stop();

  t.same(load.failed, [], 'no run failed');
  t.same([...load.served.keys()].sort(), [1, 2, 3], `every version served (${JSON.stringify([...load.served])})`);
  const order = events.map((e) => `${e.version}:${e.state}`);
  const at = (s: string) => order.indexOf(s);
  t.ok(at('2:AVAILABLE') < at('1:UNLOADING') && at('3:AVAILABLE') < at('2:UNLOADING'), 'the old version is unloaded only after the new one is AVAILABLE');
  t.ok(order.lastIndexOf('2:AVAILABLE') < at('3:UNLOADING'), 'a deleted version is unloaded once the one replacing it is AVAILABLE');
  t.same(mm.status('m').versions.map((v) => [v.version, v.state, v.inflight]), [[1, 'END', 0], [2, 'AVAILABLE', 0], [3, 'END', 0]], 'the deleted version stays END');
});

t.test('watch: a broken version leaves the old one serving and reports its error; fixed, it is loaded', async (t) => {
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  const broken = path.join(base, '2');
  fs.cpSync(tiny.dir, broken, { recursive: true });
  fs.writeFileSync(path.join(broken, 'saved_model.pb'), 'not a SavedModel');
  await until('v2 failure', () => failures.length > 0);
  t.match(failures, [{ name: 'm', version: 2, error: { code: /./ } }], 'a failure event names the version');
  const v2 = mm.status('m').versions.find((v) => v.version === 2)!;
  t.equal(v2.state, 'END');
  t.match(v2.error, { code: /^[A-Z_]+$/, message: /./ }, `status() keeps its error (${v2.error?.code}: ${v2.error?.message.split('\n')[0]})`);
  t.equal(stateOf(mm, 'm', 1), 'AVAILABLE', 'v1 still serves');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(failures.length, 1, 'a failed version is not retried while its files stay the same');
  expectOutput(t, (await mm.predict('m', feeds)).outputs.y, golden.outputs.y!, 'runs go to v1');
  t.equal((await mm.predict('m', feeds)).version, 1);

  fs.copyFileSync(path.join(tiny.dir, 'saved_model.pb'), path.join(broken, 'saved_model.pb'));
  await until('fixed v2 in, v1 out', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 1) === 'END');
  t.equal(mm.status('m').versions.find((v) => v.version === 2)!.error, null, 'the fixed version has no error');
  t.equal((await mm.predict('m', feeds)).version, 2);
});

t.test('watch: assets.extra/ counts as variables/ does: a version whose warm-up file is fixed is loaded; one whose warm-up file is still being copied is not loaded yet', async (t) => {
  // helper-111: only saved_model.pb and variables/ were looked at: a version that failed on its
  // warm-up file stayed END once it was fixed, and a half-copied one was loaded (and failed).
  const base = basePath(t, [1]);
  const warmupFile = (version: number) => path.join(base, String(version), 'assets.extra', 'warmup');
  const { mm, failures } = manager(t, {
    models: [{ name: 'm', basePath: base, warmup: { run: async (_model, { path: dir }) => {
      const file = path.join(dir, 'assets.extra', 'warmup');
      if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') !== 'good') throw new TensorFlowError('DATA_LOSS', 'truncated record');
    } } }],
    watch: true, pollIntervalMs: 30, settleMs: 200,
  });
  await mm.start();
  const two = path.join(base, '2');
  fs.cpSync(tiny.dir, two, { recursive: true });
  fs.mkdirSync(path.dirname(warmupFile(2)));
  fs.writeFileSync(warmupFile(2), 'go');
  await until('v2 failure', () => failures.length > 0);
  t.match(failures, [{ version: 2, error: { code: 'DATA_LOSS' } }], 'version 2 failed on its warm-up file');
  await sleep(300);
  t.equal(failures.length, 1, 'not tried again while its files stay the same');
  fs.writeFileSync(warmupFile(2), 'good');
  await until('fixed v2 in', () => stateOf(mm, 'm', 2) === 'AVAILABLE');
  t.pass('tried again once its warm-up file changed, and loaded');
  // Version 3, complete but for its warm-up file, still growing: not loaded meanwhile.
  const three = path.join(base, '3');
  fs.cpSync(tiny.dir, three, { recursive: true });
  fs.mkdirSync(path.dirname(warmupFile(3)));
  for (let i = 0; i < 8; i++) {
    fs.appendFileSync(warmupFile(3), i < 7 ? 'goo' : 'd');
    await sleep(60);
    t.equal(stateOf(mm, 'm', 3), undefined, `not loaded while assets.extra/warmup is still written (${i})`);
  }
  fs.writeFileSync(warmupFile(3), 'good');
  await until('v3 in once its files settled', () => stateOf(mm, 'm', 3) === 'AVAILABLE');
});

t.test('watch: version directories that are never served are said once each: a number past 2^53 - 1, one without saved_model.pb', async (t) => {
  // helper-86: both were passed over without a word (TensorFlow Serving fails the second).
  const base = basePath(t, [1]);
  fs.mkdirSync(path.join(base, '6'));
  fs.mkdirSync(path.join(base, '16', 'export'), { recursive: true }); // a common packaging mistake
  fs.cpSync(tiny.dir, path.join(base, '16', 'export'), { recursive: true });
  fs.cpSync(tiny.dir, path.join(base, '9007199254740993'), { recursive: true });
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  await until('both directories said', () => failures.length >= 3);
  await sleep(1200); // more looks: not said again
  const said = failures.map((f) => `${f.version} ${f.error.message}`).sort();
  t.same(said.length, 3, `said once each: ${said.join(' | ')}`);
  t.match(said, [
    new RegExp(`^null model 'm': version directory ${path.join(base, '16')} is not served: it has had no saved_model.pb \\(or .pbtxt\\) for \\d+ s`),
    new RegExp(`^null model 'm': version directory ${path.join(base, '6')} is not served: it has had no saved_model.pb`),
    new RegExp(`^null model 'm': version directory ${path.join(base, '9007199254740993')} is not served: its number is past 2\\^53 - 1`),
  ]);
  t.same(mm.status('m').versions.map((v) => [v.version, v.state]), [[1, 'AVAILABLE']], 'version 1 serves, as before');
  // Made a SavedModel, 6 loads.
  fs.cpSync(tiny.dir, path.join(base, '6'), { recursive: true });
  await until('6 loads once it is a SavedModel', () => stateOf(mm, 'm', 6) === 'AVAILABLE');
});

t.test("a look reads the files of the versions its policy can serve: the newest under 'latest' (helper-138: 3000 old exports were each read every poll, 70 % of a core)", async (t) => {
  const base = basePath(t);
  for (let v = 1; v <= 40; v++) {
    fs.mkdirSync(path.join(base, String(v)));
    fs.writeFileSync(path.join(base, String(v), 'saved_model.pb'), `graph ${v}`);
  }
  fs.writeFileSync(path.join(base, '41'), 'a file, not a version');
  const twice = async (wanted?: Parameters<typeof lookAt>[3]): Promise<Look> => lookAt(base, (await lookAt(base, new Map(), 0, wanted)).seen, 0, wanted);
  const latest = (serves: number) => { let found = 0; return { consider: () => true, enough: () => ++found >= serves }; };
  const all = await twice();
  t.equal(all.ready.size, 40, 'without a policy every version is read');
  t.notOk(all.partial);
  const one = await twice(latest(1));
  t.same([...one.ready.keys()], [40], "'latest': the newest is read, and no older one once it is ready");
  t.equal(one.present.size, 40, 'the others are present all the same (41 is a file)');
  t.ok(one.partial);
  t.same([...(await twice(latest(3))).ready.keys()], [40, 39, 38], '{ latest: 3 }: the three newest');
  t.same([...(await twice({ consider: (v) => v === 7 || v === 70, enough: () => false })).ready.keys()], [7], "'specific': its versions only");
});

t.test("broken newest versions at start: 'latest' serves the highest versions that load; 'specific' and 'all' keep their gap", async (t) => {
  const base = basePath(t, [1, 2]);
  addBroken(base, 3, 'variables');
  addBroken(base, 4, 'graph');
  const none = basePath(t);
  addBroken(none, 1, 'variables');
  addBroken(none, 2, 'graph');
  const { mm, events, failures } = manager(t, {
    models: [
      { name: 'latest', basePath: base },
      { name: 'latest2', basePath: base, versionPolicy: { latest: 2 } },
      { name: 'specific', basePath: base, versionPolicy: { specific: [1, 4] } },
      { name: 'all', basePath: base, versionPolicy: 'all' },
      { name: 'none', basePath: none },
    ],
    settleMs: 50,
  });
  const starting = mm.start();
  const early = await mm.predict('latest', feeds);
  t.equal(early.version, 2, 'a run made during start() is served by the older version, not refused');
  await starting;
  t.same(table(mm, 'latest'), [[2, 'AVAILABLE', null], [3, 'END', 'failed'], [4, 'END', 'failed']], "'latest': 4 and 3 fail, 2 serves (1 is not loaded)");
  t.same(table(mm, 'latest2'), [[1, 'AVAILABLE', null], [2, 'AVAILABLE', null], [3, 'END', 'failed'], [4, 'END', 'failed']], '{ latest: 2 }: the two highest that load');
  t.same(table(mm, 'specific'), [[1, 'AVAILABLE', null], [4, 'END', 'failed']], '{ specific: [1, 4] }: 4 stays failed, nothing takes its place');
  t.same(table(mm, 'all'), [[1, 'AVAILABLE', null], [2, 'AVAILABLE', null], [3, 'END', 'failed'], [4, 'END', 'failed']], "'all': the broken ones stay failed");
  t.same(table(mm, 'none'), [[1, 'END', 'failed'], [2, 'END', 'failed']], 'every version broken: every one reported');
  const errors = mm.status().flatMap((s) => s.versions).flatMap((v) => (v.error ? [v.error] : []));
  t.ok(errors.every((e) => /^[A-Z_]+$/.test(e.code) && e.message !== ''), `each with TensorFlow's code and message (${errors[0]!.code}: ${errors[0]!.message.split('\n')[0]})`);

  const failedVersions = (name: string) => failures.filter((f) => f.name === name).map((f) => f.version);
  t.same(failedVersions('latest'), [4, 3], "a 'failure' event for each broken version, newest first");
  t.same(failedVersions('latest2'), [4, 3]);
  t.same(failedVersions('specific'), [4]);
  t.same(failedVersions('none'), [2, 1]);
  t.same(events.filter((e) => e.name === 'latest' && e.version === 4).map((e) => e.state), ['START', 'LOADING', 'END'], 'the broken one goes LOADING -> END');
  t.ok(events.find((e) => e.name === 'latest' && e.version === 4 && e.state === 'END')?.error, 'with its error in the state event');

  expectOutput(t, (await mm.predict('latest', feeds)).outputs.y, golden.outputs.y!, "'latest' runs on v2");
  t.equal((await mm.predict('latest2', feeds)).version, 2, 'the newest of the loaded versions serves');
  t.equal((await mm.predict('specific', feeds)).version, 1);
  await t.rejects(mm.run('latest', feeds, { version: 4 }), { code: 'UNAVAILABLE', message: /^version 4 of model 'latest' is END: / }, 'asking for the broken one names its error');
  await t.rejects(mm.run('none', feeds), { code: 'UNAVAILABLE', message: /model 'none' has no AVAILABLE version \(versions: 1 END \(.+\), 2 END \(.+\)\)/s });

  const before = failures.length;
  t.equal((await mm.load('latest')).path, path.join(base, '2'), 'load(name) looks again and resolves with v2');
  await t.rejects(mm.load('none'), { code: /^[A-Z_]+$/ }, 'load(name) rejects when no version loads');
  t.equal(failures.length, before, 'a broken version is not tried again while its files stay the same');
});

t.test('watch: a broken newest version at start: the older one serves (even once its directory is gone) until the fixed one is AVAILABLE', async (t) => {
  const base = basePath(t, [1]);
  addBroken(base, 2);
  const { mm, events, failures } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  t.same(table(mm, 'm'), [[1, 'AVAILABLE', null], [2, 'END', 'failed']], 'v2 failed, v1 serves');
  const load = traffic(t, mm, 'm', 2);
  await until('traffic on v1', () => (load.served.get(1) ?? 0) > 20);
  await sleep(200);
  t.same(failures.map((f) => f.version), [2], 'polls do not try v2 again while its files stay the same');

  fs.rmSync(path.join(base, '1'), { recursive: true });
  await sleep(200);
  t.equal(stateOf(mm, 'm', 1), 'AVAILABLE', 'v1 serves on without its directory: the version to replace it failed');

  fs.copyFileSync(path.join(tiny.dir, 'saved_model.pb'), path.join(base, '2', 'saved_model.pb'));
  await until('fixed v2 in, v1 out', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 1) !== 'AVAILABLE');
  await until('traffic on v2', () => (load.served.get(2) ?? 0) > 20);
  await load.stop();
  t.same(load.failed, [], 'no run failed');
  await until('v1 unloaded', () => stateOf(mm, 'm', 1) === 'END');
  t.same(states(events, 2), ['START', 'LOADING', 'END', 'START', 'LOADING', 'AVAILABLE'], 'the fixed v2 is picked up by a later look');
  t.same(states(events, 1), ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'], 'v1 is unloaded once v2 is AVAILABLE');
  t.same(table(mm, 'm'), [[1, 'END', null], [2, 'AVAILABLE', null]], 'the fixed version has no error; v1, its directory deleted, stays END (as TensorFlow Serving keeps END states)');
});

t.test('watch: a broken newest version found later leaves the versions serving as they are', async (t) => {
  const base = basePath(t, [1, 2]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: { latest: 2 } }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  const load = traffic(t, mm, 'm', 2);
  await until('traffic on v2', () => (load.served.get(2) ?? 0) > 20);
  addBroken(base, 3, 'variables');
  await until('v3 failure', () => failures.length > 0);
  await sleep(200);
  t.same(table(mm, 'm'), [[1, 'AVAILABLE', null], [2, 'AVAILABLE', null], [3, 'END', 'failed']], '{ latest: 2 }: v1 and v2 stay, the two highest that load');
  t.equal(failures.length, 1);

  addVersion(base, 4);
  await until('v4 in, v1 out', () => stateOf(mm, 'm', 4) === 'AVAILABLE' && stateOf(mm, 'm', 1) === 'END');
  await until('traffic on v4', () => (load.served.get(4) ?? 0) > 20);
  await load.stop();
  t.same(load.failed, [], 'no run failed');
  t.same(table(mm, 'm'), [[1, 'END', null], [2, 'AVAILABLE', null], [3, 'END', 'failed'], [4, 'AVAILABLE', null]], 'a good v4 serves with v2; v3 stays reported');
});

t.test('a version whose files keep changing is said to be held back, naming the files: watch mode once per spell, load(name, version) in its error', async (t) => {
  // helper-112: a writer that kept touching a file in variables/ held the version back without a
  // word, and load()'s "still being written" named no file.
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  addVersion(base, 2);
  const stopWriting = keepWriting(t, path.join(base, '2', 'variables', 'variables.index'));
  await until('held back, said', () => failures.some((f) => /kept changing/.test(f.error.message)), 10_000);
  const said = failures.filter((f) => /kept changing/.test(f.error.message));
  t.match(said, [{ name: 'm', version: null, error: { code: 'UNAVAILABLE', message: new RegExp(`^model 'm': version directory ${path.join(base, '2')} is not served: its files have kept changing for \\d+ s \\(lately variables/variables\\.index\\); it is loaded once they are unchanged for settleMs \\(60 ms\\)$`) } }], 'said, naming the file');
  t.equal(stateOf(mm, 'm', 2), undefined, 'version 2 is not loaded meanwhile');
  await t.rejects(mm.load('m', 2), { code: 'UNAVAILABLE', message: `version 2 of model 'm' is still being written: within 60 ms (settleMs) variables/variables.index changed in ${path.join(base, '2')}; load it once its files are complete` }, 'load(name, version) names the file too');
  await sleep(1500);
  t.equal(failures.filter((f) => /kept changing/.test(f.error.message)).length, 1, 'said once while the spell lasts');
  await stopWriting();
  await until('v2 in once its files settled', () => stateOf(mm, 'm', 2) === 'AVAILABLE');
  t.pass('loaded once they settled');
});

t.test('a saved_model.pb rewritten in place again and again is said to be held back too; a version unload() let go of is not', async (t) => {
  // helper-115: a look that caught the graph empty started the spell again, so it was never said;
  // and a version excluded by unload(name, version) was said to be "loaded once they are unchanged".
  const base = basePath(t, [1, 2]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  await mm.unload('m', 2);
  addVersion(base, 3);
  const graph = (v: number) => path.join(base, String(v), 'saved_model.pb');
  const bytes = fs.readFileSync(graph(3));
  let writing = true;
  const writer = (async () => {
    while (writing) {
      for (const v of [2, 3]) {
        fs.writeFileSync(graph(v), ''); // truncated, then written again
        fs.writeFileSync(graph(v), bytes);
      }
      await sleep(5);
    }
  })();
  t.teardown(async () => { writing = false; await writer; });
  await until('version 3 said', () => failures.some((f) => /3 is not served: its files have kept changing/.test(f.error.message)), 10_000);
  t.match(failures.filter((f) => /kept changing/.test(f.error.message)).map((f) => f.error.message), [/3 is not served: its files have kept changing for \d+ s \(lately saved_model\.pb\)/], 'version 3 is said, naming its graph; version 2, unloaded, is not');
  writing = false;
  await writer;
  await until('v3 in once its graph settled', () => stateOf(mm, 'm', 3) === 'AVAILABLE');
  t.equal(stateOf(mm, 'm', 2), 'END', 'version 2 stays unloaded');
});

t.test("a changed file's name reaches a message quoted, with characters past printable ASCII escaped (no control or bidi character)", async (t) => {
  const base = basePath(t, [1, 2]);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: { specific: [1] } }], settleMs: 200 });
  await mm.start();
  const odd = path.join(base, '2', 'variables', 'a\u202Eb\n"c"');
  const loading = mm.load('m', 2).then(() => 'resolved', (e: Error) => e.message);
  await sleep(50);
  fs.writeFileSync(odd, 'x');
  t.equal(await loading, `version 2 of model 'm' is still being written: within 200 ms (settleMs) "variables/a\\u{202e}b\\u{a}\\u{22}c\\u{22}" changed in ${path.join(base, '2')}; load it once its files are complete`);
});

t.test('watch: a version still being written is not loaded until it is complete', async (t) => {
  const base = basePath(t, [1]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 25, settleMs: 400 });
  await mm.start();
  const v2 = path.join(base, '2');
  fs.cpSync(path.join(tiny.dir, 'variables'), path.join(v2, 'variables'), { recursive: true });
  await new Promise((r) => setTimeout(r, 300));
  t.same(states(events, 2), [], 'a directory with only variables/ is not loaded');

  // saved_model.pb written in pieces, one every 20 ms: never still for 400 ms.
  const bytes = fs.readFileSync(path.join(tiny.dir, 'saved_model.pb'));
  const pieces = 30;
  const file = path.join(v2, 'saved_model.pb');
  fs.writeFileSync(file, bytes.subarray(0, 1));
  for (let i = 1; i <= pieces; i++) {
    await new Promise((r) => setTimeout(r, 20));
    if (i === pieces) t.same(states(events, 2), [], 'a half-written saved_model.pb is never loaded');
    fs.appendFileSync(file, bytes.subarray(1 + Math.floor(((bytes.length - 1) * (i - 1)) / pieces), 1 + Math.floor(((bytes.length - 1) * i) / pieces)));
  }
  const complete = Date.now();
  await until('v2 AVAILABLE', () => stateOf(mm, 'm', 2) === 'AVAILABLE');
  t.ok(Date.now() - complete >= 400, 'it is loaded once its files have been still for settleMs');
  t.same(states(events, 2), ['START', 'LOADING', 'AVAILABLE'], 'in one go, without a failed attempt');
  t.equal((await mm.predict('m', feeds)).version, 2);
});

t.test('the GPU ledger during a swap: isolated versions both count; refuse or unload-first', async (t) => {
  t.test("swapPolicy 'refuse' (default): the new version fails with GPU_BUDGET_EXCEEDED, the old keeps serving", async (t) => {
    const base = basePath(t, [1]);
    const { mm, failures } = manager(t, {
      models: [{ name: 'm', basePath: base, gpuMemoryFraction: 0.6, isolation: 'process' }], watch: true, pollIntervalMs: 30, settleMs: 60,
    });
    await mm.start();
    t.equal(gpuLedger()[0]!.used, 0.6);
    addVersion(base, 2);
    await until('v2 refused', () => failures.length > 0);
    t.match(failures[0], { version: 2, error: { code: 'GPU_BUDGET_EXCEEDED', message: /asks for 0.6 of GPU 0, but 0.6 of it is held by/ } });
    t.same(mm.status('m').versions.map((v) => [v.version, v.state, v.error?.code ?? null]), [[1, 'AVAILABLE', null], [2, 'END', 'GPU_BUDGET_EXCEEDED']]);
    t.equal((await mm.predict('m', feeds)).version, 1, 'v1 serves on');
    t.equal(gpuLedger()[0]!.used, 0.6, 'and holds its 0.6 alone');
    await mm.stop();
    t.same(gpuLedger(), []);
  });

  t.test("swapPolicy 'unload-first': the old version drains and goes, runs wait, none fails", async (t) => {
    const base = basePath(t, [1]);
    const { mm, events, failures } = manager(t, {
      models: [{ name: 'm', basePath: base, gpuMemoryFraction: 0.6, isolation: 'process' }],
      watch: true, pollIntervalMs: 30, settleMs: 60, swapPolicy: 'unload-first',
    });
    await mm.start();
    const load = traffic(t, mm, 'm', 2);
    // A run asking for version 2 as version 1 starts to go: it waits for version 2 (helper-112:
    // NOT_FOUND while no load but that swap's was under way).
    let forTwo: Promise<string> | undefined;
    mm.on('state', (e) => {
      if (e.version === 1 && e.state === 'UNLOADING') forTwo ??= mm.run('m', feeds, { version: 2 }).then(() => 'ran', (error: { code?: string }) => String(error.code));
    });
    await until('traffic on v1', () => (load.served.get(1) ?? 0) > 20);
    addVersion(base, 2);
    await until('v2 AVAILABLE', () => stateOf(mm, 'm', 2) === 'AVAILABLE');
    t.equal(await forTwo, 'ran', 'a run for version 2 during the swap waited for it');
    await until('traffic on v2', () => (load.served.get(2) ?? 0) > 20);
    await load.stop();
    t.same(load.failed, [], 'no run failed during the gap');
    const order = events.map((e) => `${e.version}:${e.state}${e.error ? ` ${(e.error as { code?: string }).code}` : ''}`);
    t.same(order.slice(3), ['1:UNLOADING', '1:END', '2:START', '2:LOADING', '2:AVAILABLE'],
      'the ledger cannot hold both: v1 goes first, then v2 loads, without a refused attempt');
    t.same(failures, [], "no 'failure' event");
    t.same(gpuLedger()[0]!.holders, [{ model: path.join(base, '2'), fraction: 0.6, isolation: 'process' }], 'only v2 is charged');
  });

  t.test("swapPolicy 'unload-first': a new version that cannot fit even alone leaves the old one serving, and a rollback loads the old one with the share it ran with (helper-127: the model served nothing)", async (t) => {
    const base = basePath(t, [1]);
    const other = basePath(t, [1]);
    const { mm, events } = manager(t, {
      models: [{ name: 'm', basePath: base, gpuMemoryFraction: 0.6, isolation: 'process' }, { name: 'other', basePath: other, gpuMemoryFraction: 0.3, isolation: 'process' }],
      watch: true, pollIntervalMs: 30, settleMs: 60, swapPolicy: 'unload-first',
    });
    await mm.start();
    // The model's share raised past what its old version frees: its next version cannot fit.
    await mm.reconfigure([{ name: 'm', basePath: base, gpuMemoryFraction: 0.8, isolation: 'process' }, { name: 'other', basePath: other, gpuMemoryFraction: 0.3, isolation: 'process' }]);
    addVersion(base, 2);
    await until('v2 refused', () => stateOf(mm, 'm', 2) === 'END');
    t.match(mm.status('m').versions, [{ version: 1, state: 'AVAILABLE' }, { version: 2, state: 'END', error: { code: 'GPU_BUDGET_EXCEEDED' } }]);
    t.notOk(events.some((e) => e.name === 'm' && e.version === 1 && e.state === 'UNLOADING'), 'v1 was never let go of');
    t.equal((await mm.predict('m', feeds)).version, 1, 'v1 serves on');
    t.same(gpuLedger()[0]!.holders.map((h) => h.fraction).sort(), [0.3, 0.6], 'with its 0.6');
    // helper-128: once 'other' is gone, v2 fits in v1's place; it stayed END (the retry counted v1 as held).
    await mm.reconfigure([{ name: 'm', basePath: base, gpuMemoryFraction: 0.8, isolation: 'process' }]);
    await until('v2 swapped in', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 1) === 'END');
    t.same(gpuLedger()[0]!.holders.map((h) => h.fraction), [0.8], 'v2 alone, with its 0.8');
    // A share that fits once v2 is gone (0.5 beside its 0.8 does not): v2 goes, v3 fails to load
    // (its files), and v2 comes back with the 0.8 it ran with, not the model's new 0.5.
    await mm.reconfigure([{ name: 'm', basePath: base, gpuMemoryFraction: 0.5, isolation: 'process' }]);
    addBroken(base, 3);
    await until('v3 failed, v2 back', () => stateOf(mm, 'm', 3) === 'END' && stateOf(mm, 'm', 2) === 'AVAILABLE' && events.some((e) => e.name === 'm' && e.version === 2 && e.state === 'END'));
    t.same(gpuLedger()[0]!.holders.map((h) => h.fraction), [0.8], 'v2 back with its own 0.8');
  });

  t.test('watch: a version refused for its share loads once the ledger can hold it, without a change to its files (helper-127: it stayed END under tfslice serve)', async (t) => {
    const a = basePath(t, [1]);
    const b = basePath(t, [1]);
    const isolated = (name: string, base: string) => ({ name, basePath: base, gpuMemoryFraction: 0.6, isolation: 'process' as const });
    const { mm } = manager(t, { models: [isolated('a', a)], watch: true, pollIntervalMs: 30, settleMs: 60 });
    await mm.start();
    await mm.reconfigure([isolated('a', a), isolated('b', b)]);
    t.match(mm.status('b').versions, [{ version: 1, state: 'END', error: { code: 'GPU_BUDGET_EXCEEDED' } }]);
    await new Promise((r) => setTimeout(r, 200));
    t.equal(stateOf(mm, 'b', 1), 'END', 'not tried again while it does not fit');
    await mm.reconfigure([isolated('b', b)]);
    await until("b's version loads once a's share is back", () => stateOf(mm, 'b', 1) === 'AVAILABLE');
    t.equal((await mm.predict('b', feeds)).version, 1);
    t.same(gpuLedger()[0]!.holders.map((h) => h.fraction), [0.6]);
  });

  t.test('in-process versions share the process slice; another fraction is GPU_CONFIG_CONFLICT', async (t) => {
    t.teardown(() => resetLedgerForTests());
    const base = basePath(t, [1]);
    const other = basePath(t, [1]);
    const m = { name: 'm', basePath: base, gpuMemoryFraction: 0.3 };
    const { mm } = manager(t, { models: [m], watch: true, pollIntervalMs: 30, settleMs: 60 });
    await mm.start(); // 'm' alone first, so that its 0.3 is the one that fixes the process's options
    const status = await mm.reconfigure([m, { name: 'other', basePath: other, gpuMemoryFraction: 0.5 }]);
    t.match(status.find((s) => s.name === 'other')!.versions, [{ version: 1, state: 'END', error: { code: 'GPU_CONFIG_CONFLICT', message: /asks for gpuMemoryFraction 0.5, but this process's TensorFlow already runs with gpuMemoryFraction 0.3/ } }]);
    await t.rejects(mm.load('other'), { code: 'GPU_CONFIG_CONFLICT' });
    addVersion(base, 2);
    await until('v2 in, v1 out', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 1) === 'END');
    t.same(gpuLedger()[0]!.holders, [{ model: 'in-process TensorFlow', fraction: 0.3, isolation: 'none' }], 'both versions used the one slice of 0.3');
  });
});

t.test('watch: an isolated version whose host died is reloaded', async (t) => {
  const base = basePath(t, [1]);
  const { mm, events, failures } = manager(t, {
    models: [{ name: 'm', basePath: base, gpuMemoryFraction: 0.5, isolation: 'process' }], watch: true, pollIntervalMs: 30, settleMs: 60,
  });
  await mm.start();
  const pid = mm.get('m').hostPid!;
  process.kill(pid, 'SIGKILL');
  await t.rejects(mm.run('m', feeds), { code: 'MODEL_CRASHED', message: /was killed by SIGKILL.*; version 1 is being loaded again \(watch mode\), and runs without a version wait for it$/ }, 'the run that finds the host dead fails, and says what follows');
  t.match(failures, [{ version: 1, error: { code: 'MODEL_CRASHED' } }], 'the version is reported crashed');
  await until('v1 reloaded', () => stateOf(mm, 'm', 1) === 'AVAILABLE');
  t.same(states(events, 1), ['START', 'LOADING', 'AVAILABLE', 'END', 'START', 'LOADING', 'AVAILABLE']);
  t.not(mm.get('m').hostPid, pid, 'in a new host');
  t.equal((await mm.predict('m', feeds)).version, 1, 'and serves again');
  t.same(gpuLedger()[0]!.holders.map((h) => h.fraction), [0.5], 'charged once');
});

t.test('watch: runs that come while a crashed host is loaded again wait for it, whenever the next look would be', async (t) => {
  // helper-91: between a crash and the next look they failed at once (UNAVAILABLE), ~1000 a second under load.
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, isolation: 'process' }], watch: true, pollIntervalMs: 600_000 });
  await mm.start();
  const pid = mm.get('m').hostPid!;
  process.kill(pid, 'SIGKILL');
  await until('the failure event', () => failures.length > 0);
  const during = await Promise.all([mm.predict('m', feeds), mm.predict('m', feeds, { version: 1 })]);
  t.same(during.map((p) => p.version), [1, 1], 'served by the reloaded version, not refused');
  t.not(mm.get('m').hostPid, pid, 'in a new host');
});

t.test('watch: a host that dies while the version loads again is a crash too: tried again by the next looks, at most 5 times in a row', async (t) => {
  // helper-92: killed during the reload after a crash, it was END for good (a load that failed,
  // tried again only once its files changed).
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, isolation: 'process' }], watch: true, pollIntervalMs: 100 });
  await mm.start();
  const saved = process.env.TFSLICE_ADDON;
  const restore = () => {
    if (saved === undefined) delete process.env.TFSLICE_ADDON;
    else process.env.TFSLICE_ADDON = saved;
  };
  t.teardown(restore);
  // Hosts started from now on die before they load (they cannot load this addon).
  process.env.TFSLICE_ADDON = '/nonexistent/tfslice.node';
  process.kill(mm.get('m').hostPid!, 'SIGKILL');
  const loadCrashes = () => failures.filter((f) => /before it loaded/.test(f.error.message));
  await until('a reload whose host died', () => loadCrashes().length >= 1);
  t.match(loadCrashes()[0]!.error, { code: 'MODEL_CRASHED', message: /before it loaded .*; loaded again by the next look for versions \(1 of 5 such tries in a row\)$/ });
  restore();
  await until('loaded by a later look', () => stateOf(mm, 'm', 1) === 'AVAILABLE');
  t.equal((await mm.predict('m', feeds)).version, 1, 'and serves');
  // Hosts that always die: 5 more tries after the first, then it waits for its files to change.
  process.env.TFSLICE_ADDON = '/nonexistent/tfslice.node';
  const before = loadCrashes().length;
  process.kill(mm.get('m').hostPid!, 'SIGKILL');
  await until('six tries', () => loadCrashes().length - before >= 6);
  t.match(loadCrashes().at(-1)!.error.message, /its host died loading it 6 times in a row: not tried again until its files change, load\(\) or a reload$/);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(loadCrashes().length - before, 6, 'and no more after them');
  restore();
});

t.test("a version disposed behind the manager's back (dispose() on what get() returned) leaves routing at its next run, and watch mode loads it again", async (t) => {
  // It stayed AVAILABLE, every run rejected MODEL_DISPOSED, until unloaded (helper-84 #7, documented only).
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 600_000 });
  await mm.start();
  const disposed = mm.get('m');
  await disposed.dispose();
  await t.rejects(mm.run('m', feeds), { code: 'MODEL_DISPOSED', message: /^version 1 of model 'm' was disposed outside the manager \(dispose\(\) on a Model that get\(\) returned: the manager owns it, unload\(\) lets it go\); version 1 is being loaded again/ }, 'the run that finds it says so');
  t.match(failures, [{ version: 1, error: { code: 'MODEL_DISPOSED' } }], 'a failure event');
  t.equal((await mm.predict('m', feeds)).version, 1, 'the next run waits for it, loaded again');
  t.not(mm.get('m'), disposed, 'a new Model');
});

t.test('an isolated version whose host dies is END in status() at once, before any run finds it', async (t) => {
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, isolation: 'process' }] });
  await mm.start();
  process.kill(mm.get('m').hostPid!, 'SIGKILL');
  await until('the failure event', () => failures.length > 0);
  t.match(mm.status('m').versions, [{ version: 1, state: 'END', error: { code: 'MODEL_CRASHED', message: /was killed by SIGKILL; version 1 is END until it is loaded again: load\('m'\)/ } }],
    'status() says so without a run');
  await t.rejects(mm.run('m', feeds), { code: 'UNAVAILABLE', message: /was killed by SIGKILL/ }, 'and runs are refused with why');
});

t.test('an isolated version whose host dies with runs waiting on it: every one of them fails MODEL_CRASHED', async (t) => {
  const base = basePath(t, [1], slow);
  const { mm } = manager(t, { models: [{ name: 's', basePath: base, isolation: 'process', loadOptions: { maxConcurrentRuns: 1 } }] });
  await mm.start();
  const n = await slowN(mm.get('s'), 3000);
  const runs = Array.from({ length: 5 }, () => mm.run('s', { n: new Tensor('int32', new Int32Array([n]), []) }).then(() => 'ran', (e: { code?: string }) => e.code));
  await new Promise((r) => setTimeout(r, 300));
  process.kill(mm.get('s').hostPid!, 'SIGKILL');
  t.same(await Promise.all(runs), Array(5).fill('MODEL_CRASHED'), 'the executing run and the four waiting behind it');
  // Without watch mode nothing reloads it by itself: the error says what does (not the Model's "load it again").
  await t.rejects(mm.run('s', { n: new Tensor('int32', new Int32Array([1]), []) }), {
    code: 'UNAVAILABLE',
    message: /^model 's' has no AVAILABLE version \(versions: 1 END \(.*was killed by SIGKILL.*; version 1 is END until it is loaded again: load\('s'\) or reconfigure\(\) \(tfslice serve: ModelService\/HandleReloadConfigRequest\)\)\)$/,
  });
  t.notMatch(mm.status('s').versions[0]!.error?.message, /stays failed/);
});

t.test('warm-up runs before AVAILABLE; a failing warm-up fails the version', async (t) => {
  const base = basePath(t, [1]);
  let calls = 0;
  let callsWhenAvailable = -1;
  const { mm } = manager(t, {
    models: [
      { name: 'fn', basePath: base, warmup: { feeds: () => { calls++; return feeds; }, runs: 3 } },
      { name: 'json', basePath: base, warmup: { feeds: { x: [[1, 2, 3, 4], [5, 6, 7, 8]] } } },
      { name: 'bad', basePath: base, warmup: { feeds: { x: [[1, 2, 3]] } } },
      { name: 'own', basePath: base, warmup: { run: async (model, { version, path: at, signal }) => { seen.push([{ version, path: at }, Object.keys(model.signatures), stateOf(mm, 'own', 1), signal.aborted]); }, runs: 2 } },
      { name: 'refused', basePath: base, warmup: { run: async () => { throw new TensorFlowError('DATA_LOSS', 'the warm-up data is not what it should be'); } } },
    ],
    settleMs: 50,
  });
  const seen: unknown[] = [];
  mm.on('state', (e) => { if (e.name === 'fn' && e.state === 'AVAILABLE') callsWhenAvailable = calls; });
  await mm.start();
  t.equal(callsWhenAvailable, 3, 'three warm-up runs, all before AVAILABLE');
  t.equal(stateOf(mm, 'json', 1), 'AVAILABLE', 'JSON warm-up feeds take their dtype from the signature');
  t.match(mm.status('bad').versions[0], { state: 'END', error: { code: 'INVALID_ARGUMENT', message: /^warm-up of version 1 of model 'bad' failed: feed 'x' of signature 'serving_default' expects shape \[-1, 4\]/ } });
  t.same(seen, [[{ version: 1, path: path.join(base, '1') }, ['serving_default'], 'LOADING', false], [{ version: 1, path: path.join(base, '1') }, ['serving_default'], 'LOADING', false]],
    'a warm-up function of its own: called runs times with the model and its version, before AVAILABLE');
  t.equal(stateOf(mm, 'own', 1), 'AVAILABLE');
  t.match(mm.status('refused').versions[0], { state: 'END', error: { code: 'DATA_LOSS', message: "warm-up of version 1 of model 'refused' failed: the warm-up data is not what it should be" } });
});

// A started manager of one isolated model whose host is stopped (SIGSTOP) with a run in flight on it.
async function stoppedHost(t: tap.Test): Promise<{ mm: ModelManager; pid: number; inflight: Promise<unknown> }> {
  const base = basePath(t, [1], slow);
  const { mm } = manager(t, { models: [{ name: 'slow', basePath: base, isolation: 'process' }] });
  await mm.start();
  const pid = mm.get('slow').hostPid!;
  const n = await slowN(mm.get('slow'), 3000);
  const inflight = mm.run('slow', { n: new Tensor('int32', new Int32Array([n]), []) }).catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 50));
  process.kill(pid, 'SIGSTOP');
  return { mm, pid, inflight };
}

t.test('stop({ killAfterMs }): a run on a host that answers nothing (SIGSTOP) does not hold it; the host is killed', async (t) => {
  const { mm, pid, inflight } = await stoppedHost(t);
  await t.rejects(mm.stop({ killAfterMs: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /killAfterMs must be a whole number of milliseconds from 0 to 2147483647/ });
  await t.rejects(mm.stop({ killAfterMs: '5' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  const started = performance.now();
  await mm.stop({ killAfterMs: 300 });
  const took = performance.now() - started;
  t.ok(took >= 290 && took < 3000, `stop() resolved after ${took.toFixed(0)} ms, the run's 300 ms and the kill`);
  t.match(await inflight, { code: 'MODEL_DISPOSED' }, 'the run in flight rejects MODEL_DISPOSED');
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the host is gone');
  t.same(mm.status('slow').versions.map((v) => v.state), ['END']);
});

t.test('stop() then stop({ killAfterMs }): the later limit bounds the first call too', async (t) => {
  const { mm, pid, inflight } = await stoppedHost(t);
  const first = mm.stop();
  await new Promise((r) => setTimeout(r, 200));
  const started = performance.now();
  t.equal(mm.stop({ killAfterMs: 300 }), first, 'the same stop');
  await first;
  const took = performance.now() - started;
  t.ok(took >= 290 && took < 3000, `it resolved ${took.toFixed(0)} ms after the limit was given`);
  t.match(await inflight, { code: 'MODEL_DISPOSED' });
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the host is gone');
});

t.test("a version let go of with a long run in flight drains on its own: the model's next version loads and a reconfigure() resolves meanwhile; stop() waits for it (helper-138)", async (t) => {
  const base = basePath(t, [1], slow);
  const { mm, events } = manager(t, { models: [{ name: 'slow', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  const n = new Tensor('int32', new Int32Array([await slowN(mm.get('slow'), 4000)]), []);
  let ended = false;
  const long = mm.run('slow', { n }).then((r) => { ended = true; return r; });
  await sleep(50);
  addVersion(base, 2, slow);
  await until('version 2 serving and 1 draining', () => stateOf(mm, 'slow', 2) === 'AVAILABLE' && stateOf(mm, 'slow', 1) === 'UNLOADING');
  // helper-138: a version that came while version 1 drained waited for the drain (the model's looks did).
  addVersion(base, 3, slow);
  await until('version 3 serving', () => stateOf(mm, 'slow', 3) === 'AVAILABLE');
  t.notOk(ended, 'version 3 served before the long run on version 1 ended');
  t.equal(stateOf(mm, 'slow', 1), 'UNLOADING', 'version 1 still drains');
  // And a reconfigure() keeping the model (its look) does not wait for that drain either.
  await mm.reconfigure([{ name: 'slow', basePath: base, versionPolicy: { latest: 2 } }]);
  t.notOk(ended, 'reconfigure() resolved before the run ended');
  const stopped = mm.stop();
  t.ok((await long).y, 'the run in flight finished on version 1');
  await stopped;
  t.same(states(events, 1), ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'], 'and stop() waited for version 1 to end');
});

t.test("a version the GPU ledger cannot hold beside one still draining waits for the drain, not fail GPU_BUDGET_EXCEEDED (helper-140)", async (t) => {
  const base = basePath(t, [1], slow);
  const { mm, events, failures } = manager(t, { models: [{ name: 'm', basePath: base, gpuMemoryFraction: 0.4, isolation: 'process' }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  const loading = Date.now();
  await mm.start();
  // The long run must outlast version 2's load (a host process starting): 3 s, or four times
  // what version 1's took where the cores are busy (in CI a 3 s run ended before version 2 was
  // AVAILABLE).
  const loadMs = Date.now() - loading;
  const n = new Tensor('int32', new Int32Array([await slowN(mm.get('m'), Math.max(3000, 4 * loadMs))]), []);
  let ended = false;
  const long = mm.run('m', { n }).then(() => { ended = true; });
  await sleep(50);
  addVersion(base, 2, slow); // 0.4 beside version 1's 0.4: it fits
  const swapping = Date.now();
  await until('version 2 serving, 1 draining', () => stateOf(mm, 'm', 2) === 'AVAILABLE' && stateOf(mm, 'm', 1) === 'UNLOADING', 30_000);
  t.notOk(ended, `version 1 still drains (version 2 served ${Date.now() - swapping} ms after it was added; version 1 loaded in ${loadMs} ms)`);
  addVersion(base, 3, slow); // a third 0.4 fits once version 1 has gone
  await until('version 3 serving', () => stateOf(mm, 'm', 3) === 'AVAILABLE', 30_000);
  await long;
  t.same(states(events, 3), ['START', 'LOADING', 'AVAILABLE'], 'version 3 loaded once, after the drain');
  t.same(failures.filter((f) => (f.error as { code?: string }).code === 'GPU_BUDGET_EXCEEDED'), [], 'and no GPU_BUDGET_EXCEEDED on the way');
});

t.test('load(name, v) of a version that still drains loads it anew; the old one ends unseen, with no END event after the new AVAILABLE (helper-140)', async (t) => {
  const base = basePath(t, [1], slow);
  const { mm, events } = manager(t, { models: [{ name: 'slow', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  const n = new Tensor('int32', new Int32Array([await slowN(mm.get('slow'), 3000)]), []);
  const long = mm.run('slow', { n });
  await sleep(50);
  addVersion(base, 2, slow);
  await until('version 1 draining', () => stateOf(mm, 'slow', 1) === 'UNLOADING');
  await mm.load('slow', 1);
  t.equal(stateOf(mm, 'slow', 1), 'AVAILABLE');
  await long;
  await sleep(200);
  t.equal(stateOf(mm, 'slow', 1), 'AVAILABLE', 'still AVAILABLE once the old one drained');
  const ones = states(events, 1);
  t.equal(ones[ones.length - 1], 'AVAILABLE', `the last event of version 1 is AVAILABLE (${ones.join(', ')})`);
});

t.test('watch: a version whose directory is deleted while it loads does not take the place of the version serving (helper-138: it did, which was then loaded again)', async (t) => {
  const base = basePath(t, [1]);
  // Its directory goes while its warm-up runs: the load itself succeeds.
  const warmup = { run: async (_model: unknown, { version }: { version: number }) => { if (version === 2) fs.rmSync(path.join(base, '2'), { recursive: true }); } };
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base, warmup }], watch: true, pollIntervalMs: 30, settleMs: 60 });
  await mm.start();
  addVersion(base, 2);
  await until('version 2 let go of', () => states(events, 2).includes('END'));
  await sleep(300); // a few more looks
  t.same(states(events, 1), ['START', 'LOADING', 'AVAILABLE'], 'version 1 served throughout, never unloaded and loaded again');
  t.match(mm.status('m').versions.find((v) => v.version === 2), { state: 'END', error: null });
  t.equal((await mm.predict('m', feeds)).version, 1);
});

t.test('stop(): runs in flight finish, runs called later reject with UNAVAILABLE', async (t) => {
  const base = basePath(t, [1], slow);
  const { mm, events } = manager(t, { models: [{ name: 'slow', basePath: base }], settleMs: 50 });
  await mm.start();
  const n = new Tensor('int32', new Int32Array([3000]), []);
  const inflight = mm.run('slow', { n });
  await new Promise((r) => setTimeout(r, 20));
  const stopped = mm.stop();
  await new Promise((r) => setTimeout(r, 20));
  t.match(mm.status('slow').versions[0], { state: 'UNLOADING', inflight: 1 }, 'the version drains');
  await t.rejects(mm.run('slow', { n }), { code: 'UNAVAILABLE', message: /the model manager is stopped/ });
  t.ok((await inflight).y, 'the run in flight finished');
  await stopped;
  t.same(states(events, 1), ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END']);
  t.equal(mm.stop(), stopped, 'stop() is idempotent');
  t.equal(mm[Symbol.asyncDispose](), stopped, '`await using` stops it as stop() does');
  await t.rejects(mm.start(), { code: 'UNAVAILABLE' }, 'a stopped manager does not start again (a rejection, as every other call)');
  await t.rejects(mm.unload('slow'), { code: 'UNAVAILABLE' }, 'nor unloads');
  await t.rejects(mm.load('slow', 1), { code: 'UNAVAILABLE' }, 'nor loads');

  const again = manager(t, { models: [{ name: 'slow', basePath: base }], settleMs: 50 }).mm;
  void again.start();
  const waiting = again.run('slow', { n });
  await again.stop();
  await t.rejects(waiting, { code: 'UNAVAILABLE' }, 'a run waiting for the first load is rejected by stop()');
});

t.test('reconfigure() with a new model whose base path is not there yet: resolves at once with its error, and watch loads it when it appears', async (t) => {
  const a = basePath(t, [1]);
  const parent = basePath(t);
  const later = path.join(parent, 'later');
  const { mm } = manager(t, { models: [{ name: 'a', basePath: a }], watch: true, pollIntervalMs: 100 });
  await mm.start();
  // TensorFlow Serving holds HandleReloadConfigRequest until a new model loads (and until the
  // client's deadline when its base path never appears); here the call answers, and says why.
  const status = await mm.reconfigure([{ name: 'a', basePath: a }, { name: 'b', basePath: later }]);
  t.match(status.find((m) => m.name === 'b'), { versions: [], error: { code: 'NOT_FOUND', message: /model 'b': cannot read its basePath .*later/ } });
  await t.rejects(mm.run('b', feeds), { code: 'UNAVAILABLE', message: /model 'b' has no AVAILABLE version .*cannot read its basePath/ }, 'runs meanwhile: UNAVAILABLE, saying why');
  // The base path appears whole, with its version in it (a rename, as exporters should).
  const staging = path.join(parent, 'staging');
  fs.mkdirSync(staging);
  addVersion(staging, 3);
  fs.renameSync(staging, later);
  await until("b's version 3 AVAILABLE", () => stateOf(mm, 'b', 3) === 'AVAILABLE');
  t.equal(mm.status('b').error, null, 'its error is gone');
  expectOutput(t, (await mm.run('b', feeds)).y, golden.outputs.y!, 'it serves');
});

t.test('no model yet ([], as TensorFlow Serving\'s empty model_config_list): start() resolves with none; reconfigure() adds them, and [] unloads them all', async (t) => {
  const a = basePath(t, [1]);
  const { mm } = manager(t, { models: [] });
  t.same(await mm.start(), [], 'started with no model');
  t.same(mm.names, []);
  await t.rejects(mm.run('a', feeds), { code: 'NOT_FOUND', message: "no model named \"a\"; none is configured (an empty model list; reconfigure() adds models, as a reload of tfslice serve's model config does)" },
    'a run for a model not configured: NOT_FOUND, saying there are none (helper-73: "the models are " and nothing)');
  const status = await mm.reconfigure([{ name: 'a', basePath: a }]);
  t.match(status, [{ name: 'a', versions: [{ version: 1, state: 'AVAILABLE' }] }], 'a model added by reconfigure() loads');
  expectOutput(t, (await mm.run('a', feeds)).y, golden.outputs.y!, 'and serves');
  expectOutput(t, (await mm.run('a', feeds, null as never)).y, golden.outputs.y!, 'options null: none, as Model.run()');
  t.same(await mm.reconfigure([]), [], 'reconfigure([]): every model let go');
  await t.rejects(mm.run('a', feeds), { code: 'NOT_FOUND', message: /^no model named "a"; a reload removed it from the configuration; none is configured/ }, 'its runs: NOT_FOUND, saying a reload removed it');
});

t.test('reconfigure() that moves a label off a version it retires: runs by the label are answered throughout, and the version goes once the label has moved (helper-133: NOT_FOUND in between)', async (t) => {
  const a = basePath(t, [1, 2, 3]);
  const { mm } = manager(t, { models: [{ name: 'a', basePath: a, versionPolicy: { specific: [1, 2, 3] }, versionLabels: { canary: 1 } }] });
  await mm.start();
  let running = true;
  const byLabel = new Map<number, number>();
  const failed: unknown[] = [];
  const loops = Promise.all(Array.from({ length: 4 }, async () => {
    while (running) {
      try {
        const r = await mm.predict('a', feeds, { label: 'canary' });
        byLabel.set(r.version, (byLabel.get(r.version) ?? 0) + 1);
      } catch (error) {
        failed.push(error);
      }
      await new Promise((r) => setImmediate(r));
    }
  }));
  t.teardown(async () => { running = false; await loops; });
  await sleep(50);
  await mm.reconfigure([{ name: 'a', basePath: a, versionPolicy: { specific: [2, 3] }, versionLabels: { canary: 2 } }]);
  t.equal(mm.versionOfLabel('a', 'canary'), 2, 'the label moved');
  await until('version 1 goes once the label has moved', () => stateOf(mm, 'a', 1) === 'END');
  await sleep(50);
  running = false;
  await loops;
  t.same(failed, [], 'no run by the label failed');
  t.ok((byLabel.get(1) ?? 0) > 0 && (byLabel.get(2) ?? 0) > 0, `served by 1, then 2: ${JSON.stringify([...byLabel])}`);
  t.same(table(mm, 'a'), [[1, 'END', null], [2, 'AVAILABLE', null], [3, 'AVAILABLE', null]]);
});

t.test('reconfigure(): models left out are unloaded (runs in flight finish), new ones loaded, kept ones take their new policy', async (t) => {
  const a = basePath(t, [1, 2]);
  const b = basePath(t, [1], slow);
  const c = basePath(t, [5]);
  const manager = new ModelManager({ models: [{ name: 'a', basePath: a }, { name: 'b', basePath: b }] });
  t.teardown(() => manager.stop());
  await manager.start();
  await t.rejects(manager.reconfigure([{ name: 'a', basePath: a }, { name: 'a', basePath: c }]), { message: /models\[1\]\.name must be unique/ }, 'a bad list changes nothing');
  t.same(manager.names, ['a', 'b']);
  t.same([manager.has('a'), manager.has('c')], [true, false]);
  const n = await slowN(manager.get('b'), 2500);
  let ended = false;
  const long = manager.run('b', { n: new Tensor('int32', new Int32Array([n]), []) }).finally(() => { ended = true; });
  const status = await manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: 'all', versionLabels: { old: 1 } }, { name: 'c', basePath: c }]);
  t.equal(ended, false, "reconfigure() answered without waiting for the removed model's run in flight (TensorFlow Serving's reload waits for the models it adds, not for those it removes)");
  t.same(status.map((m) => [m.name, m.versions.filter((v) => v.state === 'AVAILABLE').map((v) => v.version)]), [['a', [1, 2]], ['c', [5]]], "a takes 'all' (versions ascending), c is loaded, b is gone");
  t.ok(await long, 'the run in flight on the removed model finished');
  await t.rejects(manager.run('b', feeds), { code: 'NOT_FOUND', message: /no model named "b"/ });
  t.same([manager.has('b'), manager.has('c')], [false, true], 'has() follows the new list');
  t.equal(manager.versionOfLabel('a', 'old'), 1, 'new labels apply');
  await t.rejects(manager.run('a', feeds, { versoin: 1 } as never), { name: 'TypeError', message: /^run option "versoin" must be one of version, label, signature, outputs/ }, "a misspelt option: the manager's keys are listed too");
  const unknownLabel = await manager.run('a', feeds, { label: 'nope' }).catch((e: unknown) => e);
  t.match(unknownLabel, { code: 'INVALID_ARGUMENT', message: /Unrecognized servable version label: nope/ });
  t.type(unknownLabel, InvalidArgumentError, 'an InvalidArgumentError, as README says of INVALID_ARGUMENT');
  expectOutput(t, (await manager.run('c', feeds)).y, golden.outputs.y!, 'the new model serves');
  // TensorFlow Serving's rule: a label must name a version AVAILABLE once the reload settled.
  await t.rejects(manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: { specific: [1] }, versionLabels: { old: 1, canary: 7 } }, { name: 'c', basePath: c }]),
    { code: 'FAILED_PRECONDITION', message: /Request to assign label to version 7 of model a, which is not currently available for inference/ });
  t.same([...manager.labels('a')], [['old', 1]], 'no label changed');
  t.same(manager.status().find((m) => m.name === 'a')!.versions.filter((v) => v.state === 'AVAILABLE').map((v) => v.version), [1], 'the policy did change');
  await t.rejects(manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: { specific: [1] }, versionLabels: { stable: 2 } }]),
    { code: 'FAILED_PRECONDITION', message: /version 2 of model a/ }, 'a version the new policy unloads is not available either');
  await manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: 'all', versionLabels: { stable: 2, old: 1 } }, { name: 'c', basePath: c, versionLabels: { now: 5 } }]);
  t.same([manager.versionOfLabel('a', 'stable'), manager.versionOfLabel('c', 'now')], [2, 5], 'labels on AVAILABLE versions apply');
});

t.test("allowVersionLabelsForUnavailableModels (TensorFlow Serving's --allow_version_labels_for_unavailable_models): a new label may name a version not AVAILABLE yet; a moved one may not", async (t) => {
  const a = basePath(t, [1]);
  const manager = new ModelManager({ models: [{ name: 'a', basePath: a, versionLabels: { stable: 1 } }], allowVersionLabelsForUnavailableModels: true, watch: true, pollIntervalMs: 50, settleMs: 0 });
  t.teardown(() => manager.stop());
  await manager.start();
  await manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: 'all', versionLabels: { stable: 1, canary: 2 } }]);
  t.equal(manager.versionOfLabel('a', 'canary'), 2, 'a new label on a version not there yet applies');
  await t.rejects(manager.run('a', feeds, { label: 'canary' }), { code: 'NOT_FOUND', message: /model 'a' has no version 2/ }, 'a run by it: NOT_FOUND until the version comes');
  addVersion(a, 2);
  await until('version 2 AVAILABLE', () => manager.status()[0]!.versions.some((v) => v.version === 2 && v.state === 'AVAILABLE'));
  expectOutput(t, (await manager.run('a', feeds, { label: 'canary' })).y, golden.outputs.y!, 'then the label serves it');
  await t.rejects(manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: 'all', versionLabels: { stable: 3, canary: 2 } }]),
    { code: 'FAILED_PRECONDITION', message: /Request to assign label to version 3 of model a, which is not currently available for inference/ }, 'moving a label to a version not AVAILABLE: refused, as without the option');
  t.same([...manager.labels('a')], [['stable', 1], ['canary', 2]], 'no label changed');
  t.throws(() => new ModelManager({ models: [{ name: 'a', basePath: a }], allowVersionLabelsForUnavailableModels: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /config\.allowVersionLabelsForUnavailableModels must be a boolean/ });
});

t.test('stop() waits for the models that reconfigure() removed to unload; a model added back waits for its removal', async (t) => {
  const b = basePath(t, [1], slow);
  const manager = new ModelManager({ models: [{ name: 'b', basePath: b }] });
  t.teardown(() => manager.stop());
  await manager.start();
  const model = manager.get('b');
  const n = await slowN(model, 1500);
  let ended = false;
  const long = manager.run('b', { n: new Tensor('int32', new Int32Array([n]), []) }).finally(() => { ended = true; });
  await manager.reconfigure([]);
  t.equal(ended, false, 'removed, its run still executing');
  const back = await manager.reconfigure([{ name: 'b', basePath: b }]);
  t.equal(ended, true, 'added back: loaded once the removal had ended');
  t.equal(model.disposed, true, 'the old version was disposed first');
  t.same(back.map((m) => [m.name, m.versions.map((v) => v.state)]), [['b', ['AVAILABLE']]]);
  t.not(manager.get('b'), model, 'a new session');
  t.ok(await long);
  const again = manager.get('b');
  const n2 = await slowN(again, 1500);
  let ended2 = false;
  const long2 = manager.run('b', { n: new Tensor('int32', new Int32Array([n2]), []) }).finally(() => { ended2 = true; });
  await manager.reconfigure([]);
  await manager.stop();
  t.equal(ended2, true, "stop() resolved after the removed model's run");
  t.equal(again.disposed, true, 'and after its unload');
  t.ok(await long2);
});

t.test('watch mode: a model added back while its removal drains loads once that has ended (not by a poll meanwhile), and status() shows the old version draining', async (t) => {
  const b = basePath(t, [1], slow);
  const { mm, events } = manager(t, { models: [{ name: 'b', basePath: b }], watch: true, pollIntervalMs: 40, settleMs: 0 });
  await mm.start();
  const n = await slowN(mm.get('b'), 1500);
  const long = mm.run('b', { n: new Tensor('int32', new Int32Array([n]), []) });
  await mm.reconfigure([]);
  const back = mm.reconfigure([{ name: 'b', basePath: b }]);
  await sleep(300); // several polls
  t.same(mm.status('b').versions.map((v) => [v.version, v.state, v.inflight]), [[1, 'UNLOADING', 1]], 'added back: its old version drains, shown');
  await back;
  t.ok(await long);
  const order = states(events, 1);
  t.same(order, ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END', 'START', 'LOADING', 'AVAILABLE'], 'loaded again only after END, once');
});

t.test('a reload that swaps one model for another: the new one waits for the GPU share of the one removed instead of being refused for it', async (t) => {
  const a = basePath(t, [1], slow);
  const c = basePath(t, [1]);
  const mm = new ModelManager({ models: [{ name: 'a', basePath: a, gpuMemoryFraction: 0.6, isolation: 'process' }] });
  t.teardown(() => mm.stop());
  await mm.start();
  const n = await slowN(mm.get('a'), 1500);
  let ended = false;
  const long = mm.run('a', { n: new Tensor('int32', new Int32Array([n]), []) }).finally(() => { ended = true; });
  const status = await mm.reconfigure([{ name: 'c', basePath: c, gpuMemoryFraction: 0.6, isolation: 'process' }]);
  t.equal(ended, true, 'c loaded once a had drained');
  t.same(status.map((m) => [m.name, m.versions.map((v) => [v.state, v.error?.code ?? null])]), [['c', [['AVAILABLE', null]]]], 'not GPU_BUDGET_EXCEEDED');
  t.ok(await long);
  expectOutput(t, (await mm.run('c', feeds)).y, golden.outputs.y!, 'c serves');
});

t.test('watch mode: a version that failed, moved away and back with the same files, is tried again (END kept in status, its files forgotten)', async (t) => {
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }], watch: true, pollIntervalMs: 40, settleMs: 0 });
  addBroken(base, 2);
  await mm.start();
  t.same(table(mm, 'm'), [[1, 'AVAILABLE', null], [2, 'END', 'failed']]);
  await sleep(200);
  t.equal(failures.length, 1, 'not tried again while its files stay');
  const away = path.join(path.dirname(base), `${path.basename(base)}-away`);
  fs.renameSync(path.join(base, '2'), away);
  t.teardown(() => fs.rmSync(away, { recursive: true, force: true }));
  await sleep(200);
  t.same(table(mm, 'm'), [[1, 'AVAILABLE', null], [2, 'END', 'failed']], 'gone: still END with its error');
  fs.renameSync(away, path.join(base, '2'));
  await until('tried again', () => failures.length === 2);
  t.equal(failures[1]!.version, 2);
});

t.test('reconfigure() calls made together apply in order: the last one made stays', async (t) => {
  // TensorFlow Serving applies reloads under one lock. Here, a list that added a model with many
  // versions, one that removed it and one that kept one version used to interleave: the last
  // answered first, the removal was lost, and the first list's versions came back after every
  // call had resolved (found by a trial, helper-37).
  const a = basePath(t, [1, 2, 3, 4]);
  const c = basePath(t, [5]);
  const manager = new ModelManager({ models: [{ name: 'c', basePath: c }] });
  t.teardown(() => manager.stop());
  await manager.start();
  const answered: string[] = [];
  const calls = [
    manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: 'all' }, { name: 'c', basePath: c }]).then(() => answered.push('add all')),
    manager.reconfigure([{ name: 'c', basePath: c }]).then(() => answered.push('remove')),
    manager.reconfigure([{ name: 'a', basePath: a, versionPolicy: { specific: [1] } }]).then(() => answered.push('keep 1')),
  ];
  await t.rejects(manager.reconfigure([{ name: 'a', basePath: '' }]), { name: 'TypeError', message: /basePath/ }, 'a bad list is refused at once, in no queue');
  await Promise.all(calls);
  t.same(answered, ['add all', 'remove', 'keep 1'], 'answered in the order made');
  const state = () => manager.status().map((m) => [m.name, m.versions.filter((v) => v.state === 'AVAILABLE').map((v) => v.version)]);
  t.same(state(), [['a', [1]]], 'the last list: a with version 1 only, c gone');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.same(state(), [['a', [1]]], 'and nothing changes after the calls resolved');
});

t.test('run() waiting for a version to load keeps its own bounds: runTimeoutMs (DEADLINE_EXCEEDED) and signal (CANCELLED), and gives its place back', async (t) => {
  // Before, only queueTimeoutMs bounded that wait: a run whose caller had given up held its place
  // (maxQueuedRequests) until the load ended, and then ran (helper-84).
  let release!: () => void;
  const warmed = new Promise<void>((resolve) => { release = resolve; });
  const { mm } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1]), warmup: { run: () => warmed }, maxQueuedRequests: 2 }], settleMs: 10 });
  const starting = mm.start();
  await sleep(20);
  const controller = new AbortController();
  const started = performance.now();
  const limited = mm.run('m', feeds, { runTimeoutMs: 50 }).catch((e: unknown) => e);
  const aborted = mm.run('m', feeds, { signal: controller.signal }).catch((e: unknown) => e);
  setTimeout(() => controller.abort(new Error('client gone')), 30);
  const notStarted = await limited;
  t.ok(notStarted instanceof NotStartedError && notStarted instanceof TensorFlowError, "a NotStartedError, exported by 'tfslice' (helper-90: callers could not tell it from a run that ran)");
  t.match(notStarted, { code: 'DEADLINE_EXCEEDED', name: 'NotStartedError', waitedFor: 'a version to load', message: /^the run waited \d+ ms for a version of model 'm' to load, past its runTimeoutMs of 50 ms, and was not started$/ });
  t.match(await aborted, { code: 'CANCELLED', message: 'the run was aborted (RunOptions.signal) before it started', cause: { message: 'client gone' } });
  t.ok(performance.now() - started < 1000, 'both at their bounds, not when the load ended');
  // Their places (maxQueuedRequests 2) are free again: two more wait, and run once it is AVAILABLE.
  const waiting = [mm.run('m', feeds), mm.predict('m', feeds, { runTimeoutMs: 60_000 })];
  await sleep(20);
  release();
  await starting;
  for (const out of await Promise.all(waiting)) t.ok('y' in out || 'outputs' in out, 'ran once the version was AVAILABLE');
  await t.rejects(mm.run('m', feeds, { signal: 'stop' as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /^signal must be an AbortSignal/ }, 'a bad signal is refused as Model.run() refuses it');
  await t.rejects(mm.run('m', feeds, { runTimeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE' });
});

t.test('a run for a version that no look can bring is NOT_FOUND at once while another version of the model loads; one for the loading version, or for none, waits', async (t) => {
  // helper-111: any load of the model (here watch mode's of a new version 2, held in its warm-up)
  // made runs for a version without an entry wait, up to queueTimeoutMs or their runTimeoutMs
  // (tfslice serve: 504 after 30 s), where TensorFlow Serving answers 404 at once.
  let release!: () => void;
  const warmed = new Promise<void>((resolve) => { release = resolve; });
  const base = basePath(t, [1]);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, warmup: { run: (_model, { version }) => (version === 2 ? warmed : Promise.resolve()) } }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  addVersion(base, 2);
  const deadline = performance.now() + 10_000;
  while (stateOf(mm, 'm', 2) !== 'LOADING' && performance.now() < deadline) await sleep(10);
  t.equal(stateOf(mm, 'm', 2), 'LOADING', 'version 2 is loading (held in its warm-up)');
  const started = performance.now();
  await t.rejects(mm.run('m', feeds, { version: 999, runTimeoutMs: 5000 }), { name: 'ServableNotFoundError', code: 'NOT_FOUND', version: 999, message: /model 'm' has no version 999/ });
  t.ok(performance.now() - started < 1000, `at once (${(performance.now() - started).toFixed(0)} ms), not at the run's limit`);
  const forTwo = mm.run('m', feeds, { version: 2 }).then(() => 'ran');
  t.ok('y' in await mm.run('m', feeds), 'a run for no version goes to version 1, AVAILABLE');
  await sleep(50);
  release();
  t.equal(await forTwo, 'ran', 'a run for the loading version waited for it');
});

t.test("start() has chosen its versions once it has looked: a run for a version it did not choose is NOT_FOUND at once, though the chosen ones are still loading; runs for those, or for none, wait", async (t) => {
  // helper-112: start()'s look held runs for any version without an entry until its loads and
  // warm-ups had ended (up to queueTimeoutMs: tfslice serve answered 404 only after them).
  let release!: () => void;
  const warmed = new Promise<void>((resolve) => { release = resolve; });
  const base = basePath(t, [1, 2, 3]);
  // 'specific' [1, 3]: both load (3 first), and 1's warm-up holds the start; 2 is there but not chosen.
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: { specific: [1, 3] }, warmup: { run: (_model, { version }) => (version === 1 ? warmed : Promise.resolve()) } }] });
  const starting = mm.start();
  await until('version 1 loading', () => stateOf(mm, 'm', 1) === 'LOADING');
  for (const version of [2, 999]) {
    const started = performance.now();
    await t.rejects(mm.run('m', feeds, { version, runTimeoutMs: 5000 }), { name: 'ServableNotFoundError', code: 'NOT_FOUND', version }, `version ${version}`);
    t.ok(performance.now() - started < 1000, `version ${version}: NOT_FOUND at once (${(performance.now() - started).toFixed(0)} ms), not at the run's limit`);
  }
  const outcomes: string[] = [];
  const forOne = mm.run('m', feeds, { version: 1 }).then(() => { outcomes.push('1 ran'); });
  const forThree = mm.run('m', feeds, { version: 3 }).then(() => { outcomes.push('3 ran'); });
  await sleep(100);
  t.same(outcomes, ['3 ran'], 'a run for version 3, AVAILABLE, ran; the one for version 1 waits for its load');
  release();
  await Promise.all([forOne, forThree, starting]);
  t.same(outcomes, ['3 ran', '1 ran'], 'and ran once it was AVAILABLE');
});

t.test('watch: models are polled apart: one whose new version warms up for long does not hold back another\'s new version', async (t) => {
  // The polls of every model waited for each other: a new version of g waited for the end of
  // s's warm-up before it was even looked for.
  let release!: () => void;
  const warmed = new Promise<void>((resolve) => { release = resolve; });
  t.teardown(() => release());
  const slowBase = basePath(t, [1]);
  const otherBase = basePath(t, [1]);
  const { mm } = manager(t, { models: [
    { name: 's', basePath: slowBase, warmup: { run: (_model, { version }) => (version === 2 ? warmed : Promise.resolve()) } },
    { name: 'g', basePath: otherBase },
  ], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  addVersion(slowBase, 2);
  await until('s version 2 loading', () => stateOf(mm, 's', 2) === 'LOADING');
  addVersion(otherBase, 2);
  await until('g version 2 in (and 1 out) while s still warms up', () => stateOf(mm, 'g', 2) === 'AVAILABLE' && stateOf(mm, 'g', 1) === 'END', 10_000);
  t.same([stateOf(mm, 's', 2), stateOf(mm, 'g', 2), stateOf(mm, 'g', 1)], ['LOADING', 'AVAILABLE', 'END'], "g swapped to version 2 while s's version 2 still warms up");
  release();
  await until('s version 2 in', () => stateOf(mm, 's', 2) === 'AVAILABLE');
});

t.test("a look queued behind another load holds no run for an unknown version; a crashed version the policy let go of meanwhile is NOT_FOUND; a version there but not chosen says so", async (t) => {
  // helper-115: a crash reload's (or load(name)'s) look, queued behind a 15 s warm-up, held runs
  // for version 999 until then (404 after 15 s, or 503 at queueTimeoutMs); the crashed version,
  // which the policy no longer chose once version 2 was in, stayed "being loaded again" (503).
  let release!: () => void;
  const warmed = new Promise<void>((resolve) => { release = resolve; });
  t.teardown(() => release());
  const base = basePath(t, [1]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base, isolation: 'process', warmup: { run: (_model, { version }) => (version === 2 ? warmed : Promise.resolve()) } }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  addVersion(base, 2);
  await until('version 2 loading', () => stateOf(mm, 'm', 2) === 'LOADING');
  process.kill(mm.get('m', 1).hostPid!, 'SIGKILL');
  await until('version 1 END (crashed)', () => stateOf(mm, 'm', 1) === 'END');
  const loading = mm.load('m'); // its look too waits for version 2's load
  let started = performance.now();
  await t.rejects(mm.run('m', feeds, { version: 999, runTimeoutMs: 5000 }), { code: 'NOT_FOUND', message: /^model 'm' has no version 999; / });
  t.ok(performance.now() - started < 1000, `version 999: NOT_FOUND at once (${(performance.now() - started).toFixed(0)} ms), while the looks wait for version 2's warm-up`);
  const forOne = mm.run('m', feeds, { version: 1 }).then(() => 'ran', (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);
  release();
  await loading;
  await until('version 2 in', () => stateOf(mm, 'm', 2) === 'AVAILABLE');
  const letGo = `its host died, and the version policy ("latest") chooses version 2 now`;
  // (A run says why now, an event why then.)
  const now = `the version policy ("latest") does not choose it now; version 2 serves`;
  t.equal(await forOne, `NOT_FOUND: version 1 of model 'm' is END: ${now}`, 'the run for crashed version 1 waited for the look after the crash, which let it go (version 2 took its place)');
  t.same(mm.status('m').versions.map((v) => [v.version, v.state, v.error]), [[1, 'END', null], [2, 'AVAILABLE', null]], 'version 1 END, no longer "being loaded again"');
  // helper-116: the let-go was not said (serve's log kept "being loaded again" with no follow-up).
  const ones = events.filter((e) => e.version === 1 && e.state === 'END');
  t.same(ones.map((e) => [e.error === undefined ? null : (e.error as { code?: string }).code, e.reason ?? null]), [['MODEL_CRASHED', null], [null, letGo]], 'END with the crash, then END again without an error, saying why it was let go');
  started = performance.now();
  await t.rejects(mm.run('m', feeds, { version: 1 }), { code: 'NOT_FOUND', message: `version 1 of model 'm' is END: ${now}` });
  // A version whose directory is there, that the policy does not choose:
  addVersion(base, 0);
  await until('version 0 seen', () => (mm.status('m').versions.length === 2 && performance.now() - started > 300));
  await t.rejects(mm.run('m', feeds, { version: 0 }), { code: 'NOT_FOUND', message: /^version 0 of model 'm' is not served: its directory is there, but the version policy \("latest"\) does not choose it now; version 2 serves; it has / });
});

t.test('a reload that removes a model stops its warm-up at once, as stop() does: the version never serves, and the model added back loads without waiting for it', async (t) => {
  // helper-115: the removed model's 16 s warm-up ran on, its version went AVAILABLE, and the
  // reconfigure() adding it back waited for all of it.
  const probe = await loadModel(slow, { interOpThreads: 0 });
  const long = await slowN(probe, 20_000);
  await probe.dispose();
  const n = new Tensor('int32', new Int32Array([long]), []);
  const base = basePath(t, [1], slow);
  const config = { name: 's', basePath: base, loadOptions: { interOpThreads: 0 }, warmup: { run: async (model: Model, { version }: { version: number }) => { if (version === 2) await model.run({ n }); } } };
  const { mm, events } = manager(t, { models: [config, { name: 'g', basePath: basePath(t, [1]) }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  addVersion(base, 2, slow);
  await until('s version 2 warming up', () => stateOf(mm, 's', 2) === 'LOADING');
  await sleep(200);
  const started = performance.now();
  await mm.reconfigure([{ name: 'g', basePath: basePath(t, [1]) }]);
  await until('the removed model is END', () => mm.retiredStatus('s')?.versions.every((v) => v.state === 'END') === true, 10_000);
  t.ok(performance.now() - started < 5000, `its warm-up stopped at once (${(performance.now() - started).toFixed(0)} ms, not the ~20 s it would take)`);
  t.notOk(events.some((e) => e.name === 's' && e.version === 2 && e.state === 'AVAILABLE'), 'version 2 never went AVAILABLE');
  t.match(mm.retiredStatus('s')?.versions.find((v) => v.version === 2)?.error, { message: /a reload removed it from the configuration while this load was under way/ });
  const back = performance.now();
  await mm.reconfigure([{ name: 'g', basePath: basePath(t, [1]) }, { ...config, warmup: undefined }]);
  t.ok(performance.now() - back < 10_000, `added back in ${(performance.now() - back).toFixed(0)} ms`);
  t.equal(stateOf(mm, 's', 2), 'AVAILABLE');
});

t.test('stop() while load(name, version) waits for its turn or settles its files: no load starts', async (t) => {
  // helper-115: a version went START after stop() (and an isolated one started a host).
  const base = basePath(t, [1, 2]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: { specific: [1] } }], settleMs: 300 });
  await mm.start();
  const loading = mm.load('m', 2).then(() => 'resolved', (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);
  await sleep(50); // in its settle check
  const stopping = mm.stop();
  t.equal(await loading, "UNAVAILABLE: model 'm': the model manager was stopped while this load was under way; its versions are unloaded");
  await stopping;
  t.same(states(events, 2), [], 'version 2 never started');
});

t.test('reconfigure() is not held by a kept model that is loading a version, with its base path and policy unchanged; the other models change at once', async (t) => {
  // helper-111: a kept model's look queued behind its long warm-up, and reconfigure() (tfslice
  // serve's config-file reloads, one after another) waited for it: for good behind a warm-up that
  // never ends. TensorFlow Serving's reload waits for the models it adds only.
  let release!: () => void;
  const warmed = new Promise<void>((resolve) => { release = resolve; });
  const slowBase = basePath(t, [1]);
  const slow = { name: 's', basePath: slowBase, warmup: { run: (_model: unknown, { version }: { version: number }) => (version === 2 ? warmed : Promise.resolve()) } };
  const { mm } = manager(t, { models: [slow, { name: 'g', basePath: basePath(t, [1]) }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  addVersion(slowBase, 2);
  await until('s version 2 loading', () => stateOf(mm, 's', 2) === 'LOADING');
  const started = performance.now();
  const outcome = await Promise.race([mm.reconfigure([slow, { name: 'h', basePath: basePath(t, [1]) }]).then(() => 'applied'), sleep(5000).then(() => 'held')]);
  t.equal(outcome, 'applied', `applied in ${(performance.now() - started).toFixed(0)} ms, while s still loads`);
  t.same([mm.has('g'), stateOf(mm, 'h', 1), stateOf(mm, 's', 2)], [false, 'AVAILABLE', 'LOADING'], 'g removed, h serving, s still loading');
  t.ok('y' in await mm.run('s', feeds), 's serves version 1 meanwhile');
  release();
  await until('s version 2 in', () => stateOf(mm, 's', 2) === 'AVAILABLE');
});

for (const isolation of ['none', 'process'] as const) {
  t.test(`stop() while a version warms up ends the warm-up at once, not when its run would end (isolation: '${isolation}')`, async (t) => {
    // helper-111: stop() waited for the load's lock until a 20 s warm-up run had ended, and
    // tfslice serve, past its grace period, exited 1 "requests still in flight" with none.
    const probe = await loadModel(slow, { interOpThreads: 0 });
    const long = await slowN(probe, 20_000);
    await probe.dispose();
    const n = new Tensor('int32', new Int32Array([long]), []);
    const stopped = /^model 'm': the model manager was stopped while this load was under way/;
    // start()'s load of version 1, then load('m', 2) (helper-112: it rejected MODEL_DISPOSED, from
    // the warm-up run stop() cut, where load() says UNAVAILABLE).
    for (const pinned of [false, true]) {
      const { mm } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1, 2], slow), isolation, versionPolicy: { specific: [1] }, loadOptions: { interOpThreads: 0 },
        warmup: { run: async (model, { version }) => { if (version === (pinned ? 2 : 1)) await model.run({ n }); } } }] });
      const starting = mm.start();
      const loading = pinned ? starting.then(() => mm.load('m', 2)).then(() => 'resolved', (e: { code?: string; message: string }) => `${e.code}: ${e.message}`) : null;
      await until('version loading', () => stateOf(mm, 'm', pinned ? 2 : 1) === 'LOADING');
      await sleep(isolation === 'process' ? 1500 : 500); // loaded; its warm-up run executes
      const started = performance.now();
      await mm.stop();
      const took = performance.now() - started;
      t.ok(took < 8000, `stopped in ${took.toFixed(0)} ms (the warm-up run takes ~20 s)`);
      const [status] = await starting;
      if (pinned) {
        t.match(await loading, new RegExp(`^UNAVAILABLE: ${stopped.source.slice(1)}`), 'load(name, version) rejects UNAVAILABLE');
      } else {
        t.match(status!.versions, [{ version: 1, state: 'END', error: { code: 'UNAVAILABLE', message: stopped } }], 'the version ended, saying the manager stopped while it loaded');
      }
    }
  });
}

t.test("stop() during a custom warm-up (warmup.run) aborts its signal and ends the version at once, without waiting for the function; no 'failure' event (helper-133)", async (t) => {
  let signal: AbortSignal | undefined;
  let returned = false;
  const { mm, events, failures } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1]),
    warmup: { run: async (_model, version) => {
      t.type(version.signal, AbortSignal, 'an AbortSignal, though typed as RunSignal');
      signal = version.signal as AbortSignal;
      await sleep(3000); // work that does not look at the signal
      returned = true;
    } } }] });
  const starting = mm.start();
  await until('warming up', () => signal !== undefined);
  const begun = performance.now();
  await mm.stop();
  t.ok(performance.now() - begun < 1500, `stop() took ${(performance.now() - begun).toFixed(0)} ms (the function takes 3000)`);
  t.equal(returned, false, 'the function had not returned');
  t.equal(signal!.aborted, true, 'its signal aborted');
  const [status] = await starting;
  t.match(status!.versions, [{ version: 1, state: 'END', error: { code: 'UNAVAILABLE', message: /the model manager was stopped while this load was under way/ } }]);
  t.notOk(states(events, 1).includes('AVAILABLE'), `never AVAILABLE: ${states(events, 1).join(' ')}`);
  t.same(failures, [], "a stop is no 'failure'");
});

t.test("a warm-up failing with an error whose message cannot be set (a DOMException) keeps that error's words (helper-134: the assignment's TypeError replaced them)", async (t) => {
  const frozen = Object.freeze(Object.assign(new Error('frozen words'), { code: 'DEADLINE_EXCEEDED' }));
  const { mm, failures } = manager(t, { models: [
    { name: 'dom', basePath: basePath(t, [1]), warmup: { run: async () => { throw new DOMException('my warm-up gave up', 'TimeoutError'); } } },
    { name: 'frozen', basePath: basePath(t, [1]), warmup: { run: async () => { throw frozen; } } },
  ] });
  await mm.start();
  t.match(mm.status('dom').versions[0], { state: 'END', error: { message: "warm-up of version 1 of model 'dom' failed: my warm-up gave up" } });
  t.match(mm.status('frozen').versions[0], { state: 'END', error: { code: 'DEADLINE_EXCEEDED', message: "warm-up of version 1 of model 'frozen' failed: frozen words" } });
  t.equal(failures.length, 2);
});

t.test('reconfigure() that a stop() overtakes rejects UNAVAILABLE for the stop, not for a label the stop left unplaced (helper-134)', async (t) => {
  const base = basePath(t, [1, 2]);
  const { mm } = manager(t, { models: [{ name: 'v', basePath: base, versionPolicy: { specific: [1] }, versionLabels: { stable: 1 } }] });
  await mm.start();
  const reloading = mm.reconfigure([{ name: 'v', basePath: base, versionPolicy: { specific: [1, 2] }, versionLabels: { stable: 2 } }]);
  await sleep(5);
  const stopping = mm.stop();
  await t.rejects(reloading, { code: 'UNAVAILABLE', message: /the model manager is stopped/ });
  await stopping;
});

t.test('load() under way when stop() is called rejects UNAVAILABLE, not with a disposed Model', async (t) => {
  const { mm } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1, 2]), versionPolicy: { specific: [2] } }] });
  await mm.start();
  for (const version of [1, undefined]) {
    const mm2 = version === undefined ? new ModelManager({ models: [{ name: 'n', basePath: basePath(t, [1]) }] }) : mm;
    if (version === undefined) await mm2.start();
    if (version === undefined) await mm2.unload('n');
    const loading = mm2.load(version === undefined ? 'n' : 'm', version).then((model) => `resolved (disposed: ${model.disposed})`, (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);
    const stopped = mm2.stop();
    t.match(await loading, /^UNAVAILABLE: model '[mn]': the model manager was stopped while this load was under way; its versions are unloaded$/, `load(name${version === undefined ? '' : ', 1'})`);
    await stopped;
  }
});

t.test('removed models are remembered for status (END) up to the 1024 most recent: a reload loop with new names does not grow the manager for ever', async (t) => {
  // helper-87: ~6 MB more per 300 models added and removed with new names each time.
  const empty = basePath(t);
  const { mm } = manager(t, { models: [] });
  await mm.start();
  const names = Array.from({ length: 1030 }, (_, i) => `m${i}`);
  await mm.reconfigure(names.map((name) => ({ name, basePath: empty })));
  await mm.reconfigure([]);
  t.equal(mm.retiredStatus('m0'), undefined, 'the first removed are forgotten');
  t.equal(mm.retiredStatus('m5'), undefined);
  t.equal(mm.retiredStatus('m6')?.name, 'm6', 'the 1024 most recent are kept');
  t.equal(mm.retiredStatus('m1029')?.name, 'm1029');
});

t.test('a version let go of says why, in its UNLOADING and END events and to runs that ask for it: the policy, a gone directory, a reload that removed the model, stop()', async (t) => {
  // A run for a version the policy dropped was answered "version 1 of model 'm' is END", and
  // tfslice serve's log said END with nothing more.
  const base = basePath(t, [1, 2, 3]);
  const other = basePath(t, [1]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }, { name: 'o', basePath: other }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  const said = (name: string, version: number) => events.filter((e) => e.name === name && e.version === version && (e.state === 'UNLOADING' || e.state === 'END')).map((e) => `${e.state}: ${e.reason}`);

  await mm.reconfigure([{ name: 'm', basePath: base, versionPolicy: { specific: [2, 3] } }, { name: 'o', basePath: other }]);
  await until('version 1 END', () => stateOf(mm, 'm', 1) === 'END');
  const policy = 'the version policy ({"specific":[2,3]}) chooses versions 3, 2 now';
  t.same(said('m', 1), [`UNLOADING: ${policy}`, `END: ${policy}`], 'a policy that no longer chooses it');
  await t.rejects(mm.run('m', feeds, { version: 1 }), { code: 'NOT_FOUND', message: `version 1 of model 'm' is END: the version policy ({"specific":[2,3]}) does not choose it now; versions 3, 2 serve` }, 'a run says why now');

  fs.rmSync(path.join(base, '3'), { recursive: true });
  await until('version 3 END', () => stateOf(mm, 'm', 3) === 'END');
  t.same(said('m', 3), ['UNLOADING: its directory is gone', 'END: its directory is gone'], 'its directory removed');
  await t.rejects(mm.run('m', feeds, { version: 3 }), { code: 'NOT_FOUND', message: "version 3 of model 'm' is END: its directory is gone" });
  // Back, but incomplete (helper-117: still "its directory is gone").
  fs.mkdirSync(path.join(base, '3'));
  await sleep(200); // looks every 30 ms
  await t.rejects(mm.run('m', feeds, { version: 3 }), { code: 'NOT_FOUND', message: "version 3 of model 'm' is END: its directory has no saved_model.pb (or .pbtxt) yet" }, 'back without its graph');
  t.equal((await mm.predict('m', feeds)).version, 2, 'version 2 serves');

  await mm.reconfigure([{ name: 'm', basePath: base, versionPolicy: { specific: [2, 3] } }]);
  await until('o END', () => mm.retiredStatus('o')?.versions.every((v) => v.state === 'END') === true);
  t.same(said('o', 1), ["UNLOADING: a reload removed model 'o' from the configuration", "END: a reload removed model 'o' from the configuration"], 'a reload that removed the model');

  await mm.stop();
  t.same(said('m', 2), ['UNLOADING: the model manager stopped', 'END: the model manager stopped'], 'stop()');
  t.same(events.filter((e) => e.state !== 'UNLOADING' && e.state !== 'END').map((e) => e.reason), events.filter((e) => e.state !== 'UNLOADING' && e.state !== 'END').map(() => undefined), 'no reason with START, LOADING, AVAILABLE');
});

t.test("start() with the only version's files still being written: status() and runs without a version say why no version serves, from the first look on", async (t) => {
  // helper-115: tfslice serve's start-up said "no version serving" and nothing more; why came
  // ~10 looks later (10 s under its 1 s poll), as a 'failure'.
  const base = basePath(t, [1]);
  fs.mkdirSync(path.join(base, '2'));
  const stopWriting = keepWriting(t, path.join(base, '1', 'variables', 'variables.index'));
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }], watch: true, pollIntervalMs: 30, settleMs: 100, queueTimeoutMs: 200 });
  const [status] = await mm.start();
  const why = /^version 2 of model 'm' is not served yet: its directory has no saved_model\.pb \(or \.pbtxt\) yet; version 1 of model 'm' is not served yet: its files are still being written \(lately variables\/variables\.index\)$/;
  t.match(status, { versions: [], error: { code: 'UNAVAILABLE', message: why } }, "start()'s status says why");
  await t.rejects(mm.run('m', feeds), { code: 'UNAVAILABLE', message: new RegExp(`^model 'm' has no AVAILABLE version \\(versions: none\\); ${why.source.slice(1)}`) }, 'so does a run without a version');
  await stopWriting();
  await until('version 1 in once its files settled', () => stateOf(mm, 'm', 1) === 'AVAILABLE');
  t.equal(mm.status('m').error, null, 'no model error once a version serves');
});

t.test('a crashed version that unload(), a reload or stop() lets go of is NOT_FOUND saying so, not "loaded again" (UNAVAILABLE)', async (t) => {
  // helper-117: without watch mode a crashed version stayed END with "until it is loaded again:
  // load('m')" (a 503 clients retry) after unload('m', 1), in a removed model's status, and after stop().
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1]), isolation: 'process' }, { name: 'r', basePath: basePath(t, [1]), isolation: 'process' }] });
  await mm.start();
  for (const name of ['m', 'r']) {
    process.kill(mm.get(name, 1).hostPid!, 'SIGKILL');
    await until(`${name} version 1 END (crashed)`, () => stateOf(mm, name, 1) === 'END');
    await t.rejects(mm.run(name, feeds, { version: 1 }), { code: 'UNAVAILABLE', message: /is END until it is loaded again/ }, `${name}: crashed, to be loaded again`);
  }
  await mm.unload('m', 1);
  const unloaded = "its host died, and unload('m', 1) let it go; load('m', 1) brings it back";
  t.match(events.filter((e) => e.name === 'm').at(-1), { version: 1, state: 'END', reason: unloaded, error: undefined }, 'said END again, with why');
  await t.rejects(mm.run('m', feeds, { version: 1 }), { code: 'NOT_FOUND', message: "version 1 of model 'm' is END: unload('m', 1) let it go; load('m', 1) brings it back" });
  t.same(mm.status('m').versions.map((v) => [v.state, v.error]), [['END', null]], 'no error left in status()');
  await mm.reconfigure([{ name: 'm', basePath: mm.status('m').basePath, isolation: 'process' }]);
  t.match(events.filter((e) => e.name === 'r').at(-1), { version: 1, state: 'END', reason: "its host died, and a reload removed model 'r' from the configuration" });
  t.same(mm.retiredStatus('r')?.versions.map((v) => [v.state, v.error]), [['END', null]], "the removed model's status has no error left");
});

t.test("why no version serves yet: files first seen (not 'being written'), a look that will not come again without watch mode, a 'specific' version with no directory, many versions listed in part; nothing of it once stopped", async (t) => {
  // helper-117's findings on the first version of this message.
  const base = basePath(t);
  for (let v = 1; v <= 6; v++) fs.mkdirSync(path.join(base, String(v)));
  fs.writeFileSync(path.join(base, '6', 'saved_model.pb'), '');
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }, { name: 's', basePath: basePath(t, [1]), versionPolicy: { specific: [7, 1] } }], queueTimeoutMs: 100 });
  const [m] = await mm.start();
  const last = " (as of the last look: without watch mode only load('m') or a reload looks again)";
  t.equal(m!.error?.message, `version 6 of model 'm' is not served yet: its directory has an empty saved_model.pb; version 5 of model 'm' is not served yet: its directory has no saved_model.pb (or .pbtxt) yet; version 4 of model 'm' is not served yet: its directory has no saved_model.pb (or .pbtxt) yet; and 3 more versions not complete yet${last}`, 'the first three named (an empty saved_model.pb too), then how many more; without watch mode, as of the last look');
  t.equal(mm.status('s').error, null, "'specific' with a version serving: no model error");
  await mm.unload('s', 1);
  t.equal(mm.status('s').error?.message, `the version policy ({"specific":[7,1]}) names version 7, with no directory under ${mm.status('s').basePath}; unload('s', 1) let it go; load('s', 1) brings it back`,
    "'specific' naming a version with no directory, and the one unload(name, version) holds (helper-118: only the first was said, as a run without a version says both)");
  await mm.unload('s');
  await t.rejects(mm.run('s', feeds), { code: 'UNAVAILABLE', message: "model 's' has no AVAILABLE version (versions: 1 END); unload('s') let the model's versions go; load('s') puts it back under its version policy" }, 'a run without a version after unload(name) says so');
  // A complete version put in place whole: first seen, not "being written".
  const look = mm.load('m').catch((e: Error) => e);
  fs.cpSync(tiny.dir, path.join(base, '7.tmp'), { recursive: true });
  fs.renameSync(path.join(base, '7.tmp'), path.join(base, '7'));
  await look;
  await mm.stop();
  t.equal(mm.status('m').error, null, 'once stopped, no model error');
});

t.test('watch: a version renamed into place whole is said to be first seen, not still being written, until the next look', async (t) => {
  const base = basePath(t);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 300, settleMs: 50 });
  await mm.start();
  fs.cpSync(tiny.dir, path.join(base, '1.tmp'), { recursive: true });
  fs.renameSync(path.join(base, '1.tmp'), path.join(base, '1'));
  await until('version 1 seen', () => mm.status('m').error?.message.includes('version 1') === true, 2000);
  t.equal(mm.status('m').error?.message, "version 1 of model 'm' is not served yet: it was first seen at the last look, and loads once its files are seen unchanged for settleMs");
  await until('version 1 in', () => stateOf(mm, 'm', 1) === 'AVAILABLE');
  t.equal(mm.status('m').error, null);
});

t.test('watch: many version directories never served at once are said in one failure, the first few named', async (t) => {
  // helper-117: 2000 empty version directories made 2000 lines in tfslice serve's log at once.
  const base = basePath(t, [1]);
  for (let v = 10; v < 60; v++) fs.mkdirSync(path.join(base, String(v)));
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  await until('said', () => failures.length > 0);
  await sleep(300);
  t.equal(failures.length, 1, 'one failure');
  t.match(failures[0], { name: 'm', version: null, error: { code: 'NOT_FOUND', message: new RegExp(`^model 'm': 50 version directories are not served: version directory ${path.join(base, '\\d+')} is not served: it has had no saved_model\\.pb \\(or \\.pbtxt\\) for \\d+ s.*; and 47 more$`) } });
  t.equal(failures[0]!.error.message.match(/version directory /g)?.length, 3, 'three named');
});

t.test("files named in a message: bare only when nothing in the name reads as the list's punctuation", async (t) => {
  // helper-117: 'a, b and 3 more' and names with '"' or '\' were listed as they were.
  t.equal(filesSaid(['variables/variables.index', 'assets.extra/tf_serving_warmup_requests']), 'variables/variables.index, assets.extra/tf_serving_warmup_requests');
  t.equal(filesSaid(['variables/a, b and 3 more', 'variables/q"uo\\te', 'variables/x y']), '"variables/a, b and 3 more", "variables/q\\u{22}uo\\u{5c}te", "variables/x y"');
  t.equal(filesSaid(['a', 'b', 'c', 'd', 'e']), 'a, b, c and 2 more');
  t.equal(filesSaid([]), 'its files');
  // A long name is cut, and says so outside its quotes: a name that itself ends in '...' is not
  // taken for a cut one (helper-118), and the cut never splits a character in two.
  t.equal(filesSaid([`variables/${'a'.repeat(120)}`]), `"variables/${'a'.repeat(90)}" (the first 100 of its 130 characters)`);
  t.equal(filesSaid(['variables/x...']), 'variables/x...');
  t.equal(filesSaid([`${'b'.repeat(99)}\u{1f600}tail`]), `"${'b'.repeat(99)}\\u{1f600}" (the first 100 of its 104 characters)`);
});

t.test('a version the policy does not choose: the versions that serve instead, the first three then how many more', async (t) => {
  const { mm } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1, 2, 3, 4, 5, 6]), versionPolicy: { specific: [2, 3, 4, 5, 6, 70, 80] } }] });
  await mm.start();
  await t.rejects(mm.run('m', feeds, { version: 1 }), { code: 'NOT_FOUND', message: /^version 1 of model 'm' is not served: its directory is there, but the version policy \({"specific":\[2,3,4,\.\.\. 4 more\]}\) does not choose it now; versions 6, 5, 4 and 2 more serve; it has / }, 'a long specific list is cut too');
});

t.test("what a run is told of a version is true now: its directory gone after it was let go of, unload(name, version) of the only one serving, a model held by unload(name), a base path moved twice; a graph emptied under a serving version is not 'not served'", async (t) => {
  // helper-118's findings on the reasons of the day before.
  const base = basePath(t, [1]);
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base }, { name: 'k', basePath: basePath(t, [1]) }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  addVersion(base, 2);
  await until('version 2 in, 1 let go', () => stateOf(mm, 'm', 1) === 'END');
  const run = (name: string, version?: number) => mm.run(name, feeds, version === undefined ? {} : { version }).then(() => 'ran', (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);
  t.equal(await run('m', 1), `NOT_FOUND: version 1 of model 'm' is END: the version policy ("latest") does not choose it now; version 2 serves`);
  fs.rmSync(path.join(base, '1'), { recursive: true });
  await sleep(200);
  t.equal(await run('m', 1), "NOT_FOUND: version 1 of model 'm' is END: its directory is gone", 'let go of by the policy, then its directory removed: gone, not the policy');

  await mm.unload('k', 1);
  t.match(await run('k'), /^UNAVAILABLE: model 'k' has no AVAILABLE version \(versions: 1 END\); unload\('k', 1\) let it go; load\('k', 1\) brings it back/, 'a run without a version after unload(name, version) of the only one serving says so');
  fs.rmSync(path.join(mm.status('k').basePath, '1'), { recursive: true });
  await sleep(200);
  t.equal(await run('k', 1), "NOT_FOUND: version 1 of model 'k' is END: its directory is gone", "not 'load(k, 1) brings it back', which would fail");

  // A serving version whose graph is emptied in place: it keeps the files it loaded.
  fs.writeFileSync(path.join(base, '2', 'saved_model.pb'), '');
  await sleep(1500);
  t.same(failures.filter((f) => /not served/.test(f.error.message)).map((f) => f.error.message), [], 'not said to be not served');
  t.equal(stateOf(mm, 'm', 2), 'AVAILABLE');

  // Held by unload(name): a version directory that appears meanwhile is not looked at.
  await mm.unload('m');
  addVersion(base, 3);
  await sleep(200);
  t.equal(await run('m', 3), "NOT_FOUND: model 'm' has no version 3 known: unload('m') let the model's versions go; load('m') puts it back under its version policy, and its base path is not looked at meanwhile; it has 1 END, 2 END");

  // Moved twice: the base path of now.
  await mm.load('m');
  const b = basePath(t, [5]);
  const c = basePath(t, [6]);
  const k = { name: 'k', basePath: mm.status('k').basePath };
  addVersion(k.basePath, 1);
  await mm.load('k', 1);
  await mm.reconfigure([{ name: 'm', basePath: b }, k]);
  await mm.reconfigure([{ name: 'm', basePath: c }, k]);
  t.equal(await run('m', 5), `NOT_FOUND: version 5 of model 'm' is END: a reload moved model 'm' to base path ${c}`);
});

t.test('a graph that is empty, or not a file, is named so', async (t) => {
  const base = basePath(t, [1]);
  fs.mkdirSync(path.join(base, '2'));
  fs.writeFileSync(path.join(base, '2', 'saved_model.pb'), '');
  fs.mkdirSync(path.join(base, '3', 'saved_model.pb'), { recursive: true });
  const { mm, failures } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  await t.rejects(mm.run('m', feeds, { version: 2 }), { code: 'NOT_FOUND', message: /^version 2 of model 'm' is not served yet: its directory has an empty saved_model\.pb; / });
  await t.rejects(mm.run('m', feeds, { version: 3 }), { code: 'NOT_FOUND', message: /^version 3 of model 'm' is not served yet: its directory has a saved_model\.pb that is not a file; / });
  await until('said', () => failures.length >= 2, 5000);
  t.match(failures.map((f) => f.error.message).sort(), [/2 is not served: it has had an empty saved_model\.pb for \d+ s/, /3 is not served: it has had a saved_model\.pb that is not a file for \d+ s/]);
});

t.test("reconfigure() of a model it keeps holds a run without a version while its look may bring one, as load() does", async (t) => {
  // helper-118: with no version serving, a run failed at once while the reload's look was about to load one.
  const base = basePath(t);
  const config = { name: 'm', basePath: base };
  const { mm } = manager(t, { models: [config], settleMs: 300 });
  await mm.start();
  addVersion(base, 1);
  const reloading = mm.reconfigure([config]);
  await sleep(50); // its look under way (settleMs 300)
  const ran = await mm.predict('m', feeds).then((r) => `version ${r.version}`, (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);
  await reloading;
  t.equal(ran, 'version 1', 'the run waited for the version the look loaded');
});

t.test("a model's versions in a message: past four, the newest three after how many older", async (t) => {
  const { mm } = manager(t, { models: [{ name: 'm', basePath: basePath(t, [1, 2, 3, 4, 5, 6]), versionPolicy: 'all' }] });
  await mm.start();
  await t.rejects(mm.run('m', feeds, { version: 99 }), { code: 'NOT_FOUND', message: "model 'm' has no version 99; it has 3 older, 4 AVAILABLE, 5 AVAILABLE, 6 AVAILABLE" });
});

t.test('reconfigure() of a model it keeps answers a run for an unknown version at once, while its look waits for a directory to settle', async (t) => {
  // helper-119: each such run waited out the look's settle pause (~1 s here, under a reload loop
  // every run), where TensorFlow Serving answers 404 at once.
  const base = basePath(t, [1]);
  fs.mkdirSync(path.join(base, '6')); // never a SavedModel: every look waits settleMs for it
  const config = { name: 'm', basePath: base };
  const { mm } = manager(t, { models: [config], settleMs: 1000 });
  await mm.start();
  const reloading = mm.reconfigure([config]);
  await sleep(50);
  const started = performance.now();
  await t.rejects(mm.run('m', feeds, { version: 99 }), { code: 'NOT_FOUND' });
  const took = performance.now() - started;
  t.ok(took < 500, `NOT_FOUND in ${took.toFixed(0)} ms, not after the look's 1 s pause`);
  t.ok('y' in await mm.run('m', feeds), 'runs without a version go to version 1 meanwhile');
  await reloading;
});

t.test("a basePath given as a file:// URL ending in '/' is the directory's path (no '/'), and its versions are its own", async (t) => {
  // helper-119: the '/' stayed, and every version let go of said "a reload moved model 'm'".
  const base = basePath(t, [1]);
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: `file://${base}/` }], watch: true, pollIntervalMs: 30, settleMs: 30 });
  await mm.start();
  t.equal(mm.status('m').basePath, base);
  addVersion(base, 2);
  await until('version 1 END', () => stateOf(mm, 'm', 1) === 'END');
  t.equal(events.find((e) => e.version === 1 && e.state === 'END')?.reason, 'the version policy ("latest") chooses version 2 now');
});

t.test('listeners that throw: the manager goes on (versions load, swap and stop), each error is reported once as a process warning (helper-120)', async (t) => {
  // helper-120: a 'state' listener that threw left version 2 UNLOADING for good, start()
  // rejected with the listener's error, and stop() never resolved.
  const base = basePath(t, [1, 2]);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.teardown(() => { process.off('warning', onWarning); });
  const { mm, events } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all' }, { name: 'gone', basePath: path.join(base, 'none') }] });
  let thrown = 0;
  mm.on('state', (e) => {
    if (e.state === 'AVAILABLE' || e.state === 'UNLOADING') {
      thrown++;
      throw new Error(`listener bug at ${e.name}/${e.version}`);
    }
  });
  mm.on('failure', () => { throw new TypeError('failure listener bug'); });
  // (what no String() can read: an object without a prototype)
  mm.once('state', () => { throw Object.create(null); });
  // helper-121: an async listener's rejection, unhandled, ended the process.
  mm.on('state', async (e) => {
    await sleep(1);
    if (e.state === 'AVAILABLE') throw new RangeError('async listener bug');
  });
  const later: StateEvent[] = [];
  mm.on('state', (e) => later.push(e));
  const status = await mm.start();
  t.same(status.find((s) => s.name === 'm')!.versions.map((v) => v.state), ['AVAILABLE', 'AVAILABLE'], 'both versions AVAILABLE');
  t.ok(thrown >= 2, 'the listener threw');
  t.same(later.filter((e) => e.name === 'm').map((e) => [e.version, e.state]), events.filter((e) => e.name === 'm').map((e) => [e.version, e.state]), 'a listener added after it still sees every event');
  t.same((await mm.predict('m', feeds)).version, 2);
  await mm.unload('m', 1);
  t.equal(stateOf(mm, 'm', 1), 'END', 'unload() ends the version');
  await mm.stop();
  t.same(mm.status('m').versions.map((v) => v.state), ['END', 'END'], 'stop() resolves with every version END');
  // helper-123: something not a function among the listeners threw out of callListeners (a
  // WeakSet takes no number), and an Error's stack went out uncut, its 100 000-character message in it.
  const called: number[] = [];
  t.doesNotThrow(() => callListeners([123 as never, () => { throw new Error('y'.repeat(100_000)); }, (n: number) => called.push(n)], [7], 'test'));
  t.same(called, [7], 'the listeners after them are called');
  await sleep(10); // (process warnings are emitted on the next tick)
  const long = warnings.find((w) => w.message.includes('y'.repeat(100)));
  t.ok(long && long.message.length < 1200 && String((long as Error & { detail?: string }).detail).length < 1200, 'message and stack cut at 1000 characters');
  const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'TFSLICE_LISTENER_ERROR' && !w.message.startsWith('a test listener'));
  t.equal(ours.length, 4, 'one warning per listener that threw, however often');
  t.match(ours.map((w) => w.message).sort(), [/^a ModelManager 'failure' listener threw, .*: TypeError: failure listener bug$/,
    /^a ModelManager 'state' listener threw, and tfslice went on without it \(its later errors are not reported\): Error: listener bug at m\/\d$/,
    /^a ModelManager 'state' listener threw, .*: RangeError: async listener bug$/,
    /^a ModelManager 'state' listener threw, .*: an object \(Object\)$/]);
});

t.test('before start(), load() and unload() reject UNAVAILABLE as runs do; labels() is a copy; use(), stop(), versionOfLabel() check their arguments (helper-120)', async (t) => {
  const base = basePath(t, [1, 2]);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: 'all', versionLabels: { stable: 1 } }] });
  const notStarted = { code: 'UNAVAILABLE', message: "model 'm': the model manager has not started; call start() first (it loads the models)" };
  // helper-120: load('m', 1) loaded it, status() said AVAILABLE and its runs were refused.
  await t.rejects(mm.load('m', 1), notStarted, 'load(name, version) before start()');
  await t.rejects(mm.load('m'), notStarted, 'load(name)');
  await t.rejects(mm.unload('m', 1), notStarted, 'unload(name, version)');
  t.same(mm.status('m').versions, [], 'nothing loaded');
  await mm.start();
  // helper-120: the live Map: set() moved the label past reconfigure()'s checks.
  const labels = mm.labels('m') as Map<string, number>;
  labels.set('stable', 2);
  labels.set('bogus', 7);
  t.same([...mm.labels('m')], [['stable', 1]], 'changing what labels() returned changes no label');
  t.equal((await mm.predict('m', feeds, { label: 'stable' })).version, 1);
  t.throws(() => mm.versionOfLabel('m', 42 as never), { code: 'ERR_INVALID_ARG_TYPE', message: /^label must be a string, got/ });
  const work = async () => 1;
  for (const [which, message] of [
    [undefined, /^which must be an object \(\{ version\?, label\?, waitLimitMs\?, signal\? \}; \{\} for the newest AVAILABLE version\), got undefined/],
    [null, /^which must be an object/],
    [{ verison: 1 }, /^use option "verison" must be one of version, label, waitLimitMs, signal/],
    [{ waitLimitMs: -1 }, /^waitLimitMs must be a whole number of milliseconds ≥ 0/],
    [{ waitLimitMs: 0.5 }, /^waitLimitMs must be a whole number of milliseconds ≥ 0/],
    [{ waitLimitMs: 'x' }, /^waitLimitMs must be a number of milliseconds, got/],
    [{ signal: 'x' }, /^signal must be an AbortSignal/],
  ] as const) {
    await t.rejects(mm.use('m', which as never, work), { message }, `use('m', ${JSON.stringify(which)}): refused though a version is AVAILABLE`);
  }
  await t.rejects(mm.use('m', {}, 5 as never), { code: 'ERR_INVALID_ARG_TYPE', message: /^work must be a function/ });
  t.equal(await mm.use('m', { waitLimitMs: 10 }, work), 1, 'good arguments still work');
  // An aborted signal is CANCELLED at once, as Model.run() answers it: work ran under it when a
  // version was AVAILABLE (helper-120).
  let called = 0;
  const reason = new Error('client gone');
  await t.rejects(mm.use('m', { signal: AbortSignal.abort(reason) }, async () => ++called), { code: 'CANCELLED', cause: reason }, 'use() with a signal aborted already');
  await t.rejects(mm.predict('m', feeds, { signal: AbortSignal.abort() }), { code: 'CANCELLED' }, 'predict() the same');
  t.equal(called, 0, 'work was not called');
  // helper-126: the arguments and the lookups come first, as in Model.run().
  await t.rejects(mm.use('m', { signal: AbortSignal.abort() }, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' }, 'a bad work before CANCELLED');
  await t.rejects(mm.use('nope', { signal: AbortSignal.abort() }, async () => 1), { code: 'NOT_FOUND' }, 'an unknown model before CANCELLED');
  await t.rejects(mm.predict('nope', feeds, { signal: AbortSignal.abort() }), { code: 'NOT_FOUND' }, 'predict() too');
  // (2^53: the message names the upper bound that the value breaks)
  await t.rejects(mm.load('m', 2 ** 53), { code: 'ERR_OUT_OF_RANGE', message: 'version must be an integer ≥ 0 and at most 2^53 − 1 (Number.MAX_SAFE_INTEGER), got 9007199254740992' });
  await t.rejects(mm.load('m', -1), { code: 'ERR_OUT_OF_RANGE', message: 'version must be an integer ≥ 0, got -1' });
  // helper-120: thrown, not rejected, and stop(5) and stop({ kill: 1 }) passed.
  for (const [options, message] of [
    [5, /^options must be an object \(\{ killAfterMs \}\), got/],
    [{ kill: 1 }, /^stop option "kill" must be killAfterMs/],
    [{ killAfterMs: 2 ** 31 }, /^killAfterMs must be a whole number of milliseconds from 0 to 2147483647, got 2147483648/],
  ] as const) {
    const stopping = mm.stop(options as never);
    t.ok(stopping instanceof Promise, `stop(${JSON.stringify(options)}) returns a promise`);
    await t.rejects(stopping, { message }, 'that rejects, naming what is wrong');
  }
  t.equal(mm.status('m').versions.filter((v) => v.state === 'AVAILABLE').length, 2, 'and stops nothing');
});

t.test('a manager of 100 000 models is made (its names checked unique) in seconds, not the minutes of a search of the list per name', async (t) => {
  // Not a speed test: ~1 s here, and the bound catches only the quadratic (40 000 took 2.6 s, 100 000 ~16 s).
  const models = Array.from({ length: 100_000 }, (_, i) => ({ name: `m${i}`, basePath: `/models/m${i}` }));
  let started = performance.now();
  t.equal(new ModelManager({ models }).names.length, 100_000);
  t.ok(performance.now() - started < 8_000, `made in ${(performance.now() - started).toFixed(0)} ms`);
  started = performance.now();
  t.throws(() => new ModelManager({ models: [...models, { name: 'm7', basePath: '/x' }] }), { code: 'ERR_OUT_OF_RANGE', message: 'models[100000].name must be unique, got "m7"' });
  t.ok(performance.now() - started < 8_000, `a name given twice found in ${(performance.now() - started).toFixed(0)} ms`);
});

t.test('stop() ends the settle periods under way at once: a start() and a load(name, version) waiting for files to settle (settleMs 60 s) do not hold it (helper-121)', async (t) => {
  // Before, stop() waited out each settle period (and one past 2^31 - 1 ms lasted 1 ms).
  const base = basePath(t, [1, 2]);
  const { mm } = manager(t, { models: [{ name: 'm', basePath: base, versionPolicy: { specific: [1] } }], settleMs: 60_000, watch: false });
  const starting = mm.start();
  await sleep(300);
  const loading = mm.load('m', 2);
  await sleep(100);
  const before = performance.now();
  await mm.stop();
  const took = performance.now() - before;
  t.ok(took < 10_000, `stop() took ${took.toFixed(0)} ms`);
  t.same((await starting).map((s) => s.versions), [[]], 'start() resolves, nothing loaded');
  await t.rejects(loading, { code: 'UNAVAILABLE', message: /the model manager was stopped while this load was under way/ });
});
