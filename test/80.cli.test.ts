// The tfslice command, driven as a user drives it: the real bin/tfslice.js in a child
// process, on the fixture models, with numpy as the oracle for .npy files. Every child
// gets its own TFSLICE_HOME, so no test reads or writes the real ~/.cache.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import * as tar from 'tar';

import { basePath, type CliResult, fixture, inParallel, jsonOf, maxRelativeError, PYTHON, python, ROOT, tfslice } from './helpers';

const tmp = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `tfslice-cli-${prefix}-`));
const HOME = tmp('home');
const WHEEL = execFileSync(PYTHON, ['-c', "import importlib.util as u; print(u.find_spec('tensorflow').submodule_search_locations[0])"], { encoding: 'utf8' }).trim();

/** Runs `tfslice ...args` with this file's TFSLICE_HOME. */
const cli = (args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; bare?: boolean; timeoutMs?: number } = {}): Promise<CliResult> => tfslice(args, { home: HOME, ...options });
const json = jsonOf;

const tiny = fixture('tiny');
const multi = fixture('multi_sig');
const dtypes = fixture('dtypes');

t.test('--help on the program and every command', async (t) => {
  const top = await cli(['--help']);
  t.equal(top.code, 0);
  for (const command of ['show', 'run', 'bench', 'doctor', 'install-tensorflow']) t.match(top.stdout, command);
  const flags: Record<string, string[]> = {
    show: ['--tags', '--signature', '--json'],
    run: ['--input', '--signature', '--outputs', '--gpu-fraction', '--isolation', '--out-dir'],
    bench: ['--batch', '--concurrency', '--duration', '--iterations', '--gpu-fraction', '--isolation', '--json'],
    doctor: ['--json'],
    'install-tensorflow': ['--gpu', '--from', '--version', '--dir', '--base-url', '--dry-run'],
  };
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const command of [...Object.keys(flags), 'serve']) {
    const help = await cli([command, '--help']);
    t.equal(help.code, 0, `${command} --help exits 0`);
    t.match(help.stdout, `Usage: tfslice ${command}`);
    for (const option of flags[command] ?? []) t.match(help.stdout, option, `${command} --help lists ${option}`);
    // Every flag the help lists is in README (its option lines: the flag's own column).
    const listed = [...help.stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!).filter((f) => f !== '--help');
    t.ok(listed.length > 0, `${command} --help lists flags`);
    t.same(listed.filter((f) => !new RegExp(`${f}(?![\\w-])`).test(readme)), [], `README names each flag of ${command}`);
  }
  t.match((await cli(['--version'])).stdout.trim(), /^\d+\.\d+\.\d+/);
});

t.test('a reader that closes the pipe early (| head) loses the output, not the command: it ends with its own exit code, no EPIPE stack', async (t) => {
  // stdout (and stderr) pipes whose read ends are closed before the command starts (as `| head`
  // does once it has read enough): every write fails with EPIPE. Python makes them (Node has no
  // pipe()); the command runs without tap's hooks (NODE_OPTIONS), which would catch the error.
  const cases: [string[], boolean, number][] = [
    [['serve', '--help'], false, 0],
    [['show', tiny.dir], false, 0],
    [['show', multi.dir, '--json'], true, 0],
    // A failure stays one when the pipe its message goes to is closed.
    [['frobnicate'], true, 2],
    [['show', '/nonexistent/model'], true, 2],
  ];
  const runs = python<{ code: number; stderr: string }[]>(`
import json, os, subprocess, sys
runs = []
for args, both in json.loads(sys.argv[1]):
    r, w = os.pipe()
    os.close(r)
    p = subprocess.run(args, stdout=w, stderr=w if both else subprocess.PIPE, env={**os.environ, 'NODE_OPTIONS': ''})
    os.close(w)
    runs.append({'code': p.returncode, 'stderr': (p.stderr or b'').decode()})
print(json.dumps(runs))
`, undefined, [JSON.stringify(cases.map(([args, both]) => [[process.execPath, path.join(ROOT, 'bin', 'tfslice.js'), ...args], both]))]);
  t.equal(runs.length, cases.length, 'every command ran');
  for (const [i, [args, both, code]] of cases.entries()) {
    t.equal(runs[i]!.code, code, `tfslice ${args.join(' ')} (stdout${both ? ' and stderr' : ''} closed) exits ${code}`);
    t.equal(runs[i]!.stderr, '', 'and says nothing of it');
  }

  // A server whose log reader went away serves on: its lines to stdout are lost, not the server.
  const models = tmp('closed-pipe');
  t.teardown(() => fs.rmSync(models, { recursive: true, force: true }));
  const base = basePath(models, 'half', { 1: 'half_plus_two' });
  const served = python<{ status: number; body: string; code: number; stderr: string }>(`
import json, os, signal, socket, subprocess, sys, time, urllib.request
probe = socket.socket(); probe.bind(('127.0.0.1', 0)); port = probe.getsockname()[1]; probe.close()
r, w = os.pipe()
os.close(r)
server = subprocess.Popen(sys.argv[1:] + ['--rest_api_port', str(port)], stdout=w, stderr=subprocess.PIPE, env={**os.environ, 'NODE_OPTIONS': ''})
os.close(w)
url = f'http://127.0.0.1:{port}/v1/models/half'
deadline = time.time() + 60
while True:
    try:
        urllib.request.urlopen(url, timeout=5).read()
        break
    except Exception:
        if server.poll() is not None or time.time() > deadline: break
        time.sleep(0.1)
status, body = 0, ''
if server.poll() is None:
    request = urllib.request.Request(url + ':predict', data=b'{"instances": [1.0, 2.0, 5.0]}', method='POST')
    with urllib.request.urlopen(request, timeout=30) as response:
        status, body = response.status, response.read().decode()
    server.send_signal(signal.SIGTERM)
code = server.wait(timeout=60)
print(json.dumps({'status': status, 'body': body, 'code': code, 'stderr': server.stderr.read().decode()}))
`, undefined, [process.execPath, path.join(ROOT, 'bin', 'tfslice.js'), 'serve', '--model_name', 'half', '--model_base_path', base, '--port', '0']);
  t.equal(served.status, 200, `the server answered (stderr: ${served.stderr})`);
  t.equal(served.body, '{"predictions":[2.5,3.0,4.5]}', 'its predictions');
  t.equal(served.code, 0, 'SIGTERM: exit 0');
  t.notMatch(served.stderr, /EPIPE|\n\s+at /, 'no EPIPE, no stack');
});

t.test('output to a full disk (/dev/full): exit 1 and one line naming stdout, not an uncaught ENOSPC stack (helper-141)', async (t) => {
  const cases: string[][] = [['show', tiny.dir], ['show', tiny.dir, '--json'], ['doctor', '--json'], ['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--json']];
  for (const args of cases) {
    const full = fs.openSync('/dev/full', 'w');
    let r: ReturnType<typeof spawnSync>;
    try {
      r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tfslice.js'), ...args], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', TFSLICE_HOME: HOME }, timeout: 120_000 });
    } finally {
      fs.closeSync(full);
    }
    t.equal(r.status, 1, `tfslice ${args.join(' ')} > /dev/full exits 1`);
    t.match(r.stderr, /^tfslice: cannot write to stdout: ENOSPC: no space left on device/m);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

t.test('show: tag-sets and signatures, as text and as JSON', async (t) => {
  const text = await cli(['show', tiny.dir]);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, 'tag-sets: [serve]');
  t.match(text.stdout, "signature 'serving_default' (default), method tensorflow/serving/predict");
  t.match(text.stdout, /x\s+float32\s+\[-1, 4\]\s+serving_default_x:0/);
  t.match(text.stdout, /y\s+float32\s+\[-1, 3\]\s+StatefulPartitionedCall:0/);

  const all = await cli(['show', multi.dir, '--json']);
  const shown = json<{ metaGraphs: { tags: string[]; signatures: unknown; defaultSignature: string }[] }>(all);
  t.same(shown.metaGraphs.map((m) => m.tags), multi.golden.tags, 'the tag-sets TensorFlow saved');
  t.same(shown.metaGraphs[0]!.signatures, multi.golden.signatures, 'every signature as Python TensorFlow lists it');
  t.equal(shown.metaGraphs[0]!.defaultSignature, 'serving_default');

  const one = json<{ metaGraphs: { signatures: Record<string, unknown> }[] }>(await cli(['show', multi.dir, '--json', '--signature', 'concat', '--tags', 'serve']));
  t.same(Object.keys(one.metaGraphs[0]!.signatures), ['concat'], '--signature picks one');

  const badTags = await cli(['show', tiny.dir, '--tags', 'serve,gpu']);
  t.equal(badTags.code, 2);
  t.match(badTags.stderr, /--tags serve,gpu: no meta graph has that tag-set; .* has \[serve\]/);
  const badSig = await cli(['show', multi.dir, '--signature', 'nope']);
  t.equal(badSig.code, 2);
  t.match(badSig.stderr, /--signature nope: no such signature; .* has concat, double, serving_default/);
});

t.test('run: JSON literal, .json file and .npy inputs; numpy reads the .npy outputs', async (t) => {
  const dir = tmp('run');
  const [first, second] = tiny.golden.cases;

  // A JSON literal, printed as a preview.
  const literal = await cli(['run', tiny.dir, '--input', `x=${JSON.stringify([first!.inputs.x!.data])}`]);
  t.equal(literal.code, 0, literal.stderr);
  // Each float32 as its shortest decimal (1.35 is 1.3499999 one ulp down: compare within 1e-6).
  const printed = /^y: float32 \[1, 3\]\n {2}\[\[(-?[\d.e+-]+), (-?[\d.e+-]+), (-?[\d.e+-]+)\]\]\n$/.exec(literal.stdout);
  t.ok(printed, literal.stdout);
  t.ok(maxRelativeError(printed?.slice(1).map(Number) ?? [], first!.outputs.y!.data as number[]) < 1e-6, 'the golden outputs');

  // A .json file of nested arrays, --json out.
  const rows = (data: unknown[], width: number): unknown[][] => Array.from({ length: data.length / width }, (_, i) => data.slice(i * width, i * width + width));
  fs.writeFileSync(path.join(dir, 'x.json'), JSON.stringify(rows(second!.inputs.x!.data, 4)));
  const fromJson = json<{ outputs: { y: { dtype: string; shape: number[]; data: number[][] } } }>(
    await cli(['run', tiny.dir, '--input', `x=${path.join(dir, 'x.json')}`, '--json']));
  t.same(fromJson.outputs.y.shape, second!.outputs.y!.shape);
  t.ok(maxRelativeError(fromJson.outputs.y.data.flat(), second!.outputs.y!.data as number[]) < 1e-6, 'the golden outputs');

  // .npy written by numpy in every layout the reader handles; outputs back through numpy.
  python<null>(`
import json, sys, numpy as np
x = np.array(json.loads(sys.stdin.read()), dtype=np.float32).reshape(3, 4)
np.save('${dir}/c.npy', x)
np.save('${dir}/fortran.npy', np.asfortranarray(x))
np.save('${dir}/big.npy', x.astype('>f4'))
np.lib.format.write_array(open('${dir}/v2.npy', 'wb'), x, version=(2, 0))
np.lib.format.write_array(open('${dir}/v3.npy', 'wb'), x, version=(3, 0))
np.save('${dir}/f64.npy', x.astype(np.float64))
print('null')`, JSON.stringify(second!.inputs.x!.data));
  const layouts = ['c', 'fortran', 'big', 'v2', 'v3'];
  const runs = await inParallel(layouts, 2, (layout) => cli(['run', tiny.dir, '--input', `x=${path.join(dir, `${layout}.npy`)}`, '--out-dir', path.join(dir, `out-${layout}`)]));
  for (const [i, layout] of layouts.entries()) {
    const out = path.join(dir, `out-${layout}`);
    const r = runs[i]!;
    t.equal(r.code, 0, `${layout}.npy: ${r.stderr}`);
    t.match(r.stdout, `y: float32 [3, 3] -> ${path.join(out, 'y.npy')}`);
    const back = python<{ dtype: string; shape: number[]; data: number[] }>(
      `import json, numpy as np; y = np.load('${out}/y.npy'); print(json.dumps({'dtype': str(y.dtype), 'shape': list(y.shape), 'data': y.ravel().tolist()}))`);
    t.same([back.dtype, back.shape], ['float32', second!.outputs.y!.shape], `${layout}: numpy reads y.npy`);
    t.ok(maxRelativeError(back.data, second!.outputs.y!.data as number[]) < 1e-6, `${layout}: y is the golden output`);
  }
  const wrongType = await cli(['run', tiny.dir, '--input', `x=${path.join(dir, 'f64.npy')}`]);
  t.equal(wrongType.code, 2);
  t.match(wrongType.stderr, /--input x: .*f64\.npy holds float64, the signature wants float32; save it with \.astype\('float32'\)/);
  const tooBig = await cli(['run', tiny.dir, '--input', 'x=[[1e39, 1, 2, 3]]']);
  t.equal(tooBig.code, 2, 'JSON read as the server reads it: a float32 past its range is refused, not Infinity');
  t.match(tooBig.stderr, /--input x: element 0: Cannot convert JSON value: 1e39 to float without loss of precision\./);
});

t.test('run: --signature, --outputs and a scalar', async (t) => {
  const concat = multi.golden.cases.find((c) => c.signature === 'concat')!;
  const r = json<{ signature: string; outputs: Record<string, { data: number[] }> }>(await cli(['run', multi.dir, '--signature', 'concat', '--json',
    '--input', `a=${JSON.stringify(concat.inputs.a!.data)}`, '--input', `b=${JSON.stringify(concat.inputs.b!.data)}`]));
  t.equal(r.signature, 'concat');
  t.same(r.outputs.c!.data, concat.outputs.c!.data);

  const sd = multi.golden.cases.find((c) => c.signature === 'serving_default')!;
  const x = sd.inputs.x!;
  const rowsOf = Array.from({ length: x.shape[0]! }, (_, i) => x.data.slice(i * 2, i * 2 + 2));
  const only = await cli(['run', multi.dir, '--input', `x=${JSON.stringify(rowsOf)}`, '--outputs', 'sum']);
  t.equal(only.code, 0, only.stderr);
  t.match(only.stdout, /^sum: float32/);
  t.notMatch(only.stdout, /prod/, '--outputs fetched only sum');

  const scalar = json<{ outputs: { y: { shape: number[]; data: number } } }>(await cli(['run', dtypes.dir, '--signature', 'scalar', '--input', 'x=2.5', '--json']));
  t.same(scalar.outputs.y.shape, [], 'a scalar in, a scalar out');
  t.equal(typeof scalar.outputs.y.data, 'number');

  const badOutput = await cli(['run', multi.dir, '--input', `x=${JSON.stringify(rowsOf)}`, '--outputs', 'sum,nope']);
  t.equal(badOutput.code, 2);
  t.match(badOutput.stderr, /--outputs nope: signature 'serving_default' has no output 'nope'; its outputs are prod, sum/);
});

t.test('run: every dtype through .npy (numpy) and JSON, outputs equal to the goldens', async (t) => {
  const dir = tmp('dtypes');
  const golden = dtypes.golden.cases.find((c) => c.signature === 'serving_default' && c.inputs.f32!.shape[0]! > 0)!;
  // numpy writes each numeric input from the golden values; strings and bfloat16 go as JSON.
  python<null>(`
import base64, json, sys, numpy as np
case = json.loads(sys.stdin.read())
for key, t in case['inputs'].items():
    if t['dtype'] in ('string', 'bfloat16'): continue
    if t['dtype'] == 'float16': a = np.array(t['data'], dtype=np.uint16).view(np.float16)
    elif t['dtype'] in ('int64', 'uint64'): a = np.array([int(v) for v in t['data']], dtype=t['dtype'])
    else: a = np.array(t['data'], dtype=t['dtype'])
    np.save('${dir}/%s.npy' % key, a.reshape(t['shape']))
print('null')`, JSON.stringify(golden));
  const args = ['run', dtypes.dir, '--out-dir', path.join(dir, 'out')];
  for (const [key, tensor] of Object.entries(golden.inputs)) {
    if (tensor.dtype === 'string') {
      const values = (tensor.data as string[]).map((b64) => {
        const bytes = Buffer.from(b64, 'base64');
        return bytes.equals(Buffer.from(bytes.toString('utf8'))) ? bytes.toString('utf8') : { base64: b64 };
      });
      args.push('--input', `${key}=${JSON.stringify(values)}`);
    } else if (tensor.dtype === 'bfloat16') {
      const f = new Float32Array(new Uint32Array((tensor.data as number[]).map((bits) => bits << 16)).buffer);
      args.push('--input', `${key}=${JSON.stringify(Array.from(f))}`);
    } else {
      args.push('--input', `${key}=${path.join(dir, `${key}.npy`)}`);
    }
  }
  const r = await cli(args);
  t.equal(r.code, 0, r.stderr);
  const back = python<Record<string, { dtype: string; shape: number[]; data: unknown[] }>>(`
import glob, json, os, numpy as np
out = {}
for f in glob.glob('${dir}/out/*.npy'):
    a = np.load(f)
    data = a.view(np.uint16) if a.dtype == np.float16 else a
    data = [str(v) for v in data.ravel().tolist()] if a.dtype in (np.int64, np.uint64) else data.ravel().tolist()
    out[os.path.basename(f)[:-4]] = {'dtype': 'bool' if a.dtype == np.bool_ else str(a.dtype), 'shape': list(a.shape), 'data': data}
print(json.dumps(out))`);
  for (const [key, expected] of Object.entries(golden.outputs)) {
    if (expected.dtype === 'string' || expected.dtype === 'bfloat16') {
      const values = JSON.parse(fs.readFileSync(path.join(dir, 'out', `${key}.json`), 'utf8')) as unknown[];
      const got = expected.dtype === 'string'
        ? values.map((v) => (typeof v === 'string' ? Buffer.from(v).toString('base64') : (v as { base64: string }).base64))
        // ml_dtypes reads each decimal as bfloat16 (rounding to nearest, as TensorFlow does).
        : python<number[]>('import json, sys, ml_dtypes, numpy as np; print(json.dumps(np.array([float(v) for v in json.load(sys.stdin)]).astype(ml_dtypes.bfloat16).view(np.uint16).tolist()))', JSON.stringify(values));
      t.same(got, expected.data, `${key}.json holds the golden ${expected.dtype} values`);
      continue;
    }
    t.same(back[key], { dtype: expected.dtype, shape: expected.shape, data: expected.data }, `numpy reads ${key}.npy as the golden ${expected.dtype}`);
  }
});

t.test('run: each float prints as the shortest decimal that reads back to its bits in its dtype, as text and as JSON', async (t) => {
  const double = ['run', multi.dir, '--signature', 'double'];
  // 2 × 277778.75 = 555557.5 (7 digits) and 2 × 0.50000006 = 1.0000001 (8) in float32; 2 × 2e38 overflows it.
  const x = `x=${JSON.stringify([277778.75, 0.50000006, 0.1, 2e38, 'NaN', '-Infinity'])}`;
  const text = await cli([...double, '--input', x]);
  t.equal(text.code, 0, text.stderr);
  t.equal(text.stdout, 'y: float32 [6]\n  [555557.5, 1.0000001, 0.2, Infinity, NaN, -Infinity]\n');
  const once = json<{ outputs: { y: { data: unknown[] } } }>(await cli([...double, '--input', x, '--json']));
  t.same(once.outputs.y.data, [555557.5, 1.0000001, 0.2, 'Infinity', 'NaN', '-Infinity'], '--json: the same decimals, NaN and ±Infinity as strings');

  // numpy prints a float32 as its shortest round-trip decimal: the oracle across magnitudes,
  // powers of two included (their lower neighbour is nearer, so the shortest may lie above).
  const oracle = python<{ x: number[]; y: string[] }>(`
import json, numpy as np
rng = np.random.default_rng(7)
x = (rng.standard_normal(400) * 10.0 ** rng.integers(-30, 30, 400)).astype(np.float32)
x = np.concatenate([x, np.float32(2) ** np.arange(-120, 126, 3, dtype=np.float32), -np.float32(2) ** np.arange(-117, 126, 11, dtype=np.float32)])
print(json.dumps({'x': [float(v) for v in x], 'y': [str(v) for v in x * np.float32(2)]}))`);
  const many = json<{ outputs: { y: { data: number[] } } }>(await cli([...double, '--input', `x=${JSON.stringify(oracle.x)}`, '--json']));
  const differ = oracle.y.filter((y, i) => many.outputs.y.data[i] !== Number(y)).length;
  t.equal(differ, 0, `${oracle.y.length} float32 values print as numpy's shortest decimals`);
});

t.test('run --out-dir: output keys that come out alike get files of their own; long keys are cut; no file is written through a symbolic link (helper-132)', async (t) => {
  const { fileNames } = await import('../lib/cli/run');
  const { Tensor } = await import('../lib/index');
  const f = new Tensor('float32', new Float32Array(1), [1]);
  const s = new Tensor('string', ['x'], [1]);
  const long = 'k'.repeat(300);
  const names = fileNames('/out', { 'a/b': f, a_b: f, 'a b': f, '..': f, text: s, [long]: f });
  t.same(Object.fromEntries(Object.entries(names).map(([k, v]) => [k === long ? 'long' : k, path.basename(v)])), {
    'a/b': 'a_b_2.npy', a_b: 'a_b.npy', 'a b': 'a_b_3.npy', '..': '__.npy', text: 'text.json',
    long: `${'k'.repeat(180)}_${require('node:crypto').createHash('sha256').update(long).digest('hex').slice(0, 12)}.npy`,
  });
  const dir = tmp('out-link');
  fs.mkdirSync(dir, { recursive: true });
  const victim = path.join(tmp('victim'), 'victim.txt');
  fs.mkdirSync(path.dirname(victim), { recursive: true });
  fs.writeFileSync(victim, 'mine');
  fs.symlinkSync(victim, path.join(dir, 'y.npy'));
  const refused = await cli(['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--out-dir', dir]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, `--out-dir: ${path.join(dir, 'y.npy')} is a symbolic link, and tfslice writes no output through one`);
  t.equal(fs.readFileSync(victim, 'utf8'), 'mine', 'the file it pointed to is untouched');
  t.same(Object.keys(fileNames('/out', { 'a/b': f, a_b: f })), ['a/b', 'a_b'], "in the outputs' order; a key whose name needs no change keeps it (helper-134)");
});

t.test('run on a saved_model.pb with no meta graph says so, not to pass the tag-set that failed (helper-132)', async (t) => {
  const dir = tmp('empty-graph');
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), '');
  fs.mkdirSync(path.join(dir, 'variables'));
  const ran = await cli(['run', dir, '--input', 'x=[1]']);
  t.equal(ran.code, 2);
  t.match(ran.stderr, `${dir} holds no meta graph at all (its saved_model.pb is empty of them): it is no SavedModel tfslice can load; export it again`);
  t.notMatch(ran.stderr, /--tags serve/);
});

t.test('show and run on a saved_model.pb that is a FIFO or a link to /dev/zero: an error at once, not a wait without end', async (t) => {
  const fifo = tmp('fifo-graph');
  execFileSync('mkfifo', [path.join(fifo, 'saved_model.pb')]);
  const zero = tmp('zero-graph');
  fs.symlinkSync('/dev/zero', path.join(zero, 'saved_model.pb'));
  for (const [dir, kind] of [[fifo, 'a FIFO (named pipe)'], [zero, 'a character device']] as const) {
    for (const args of [['show', dir], ['show', dir, '--json'], ['run', dir, '--input', 'x=[[1,2,3,4]]']]) {
      const shown = await cli(args, { timeoutMs: 60_000 });
      t.not(shown.code, 0, `${args.join(' ')}: exit ${shown.code}`);
      t.match(shown.stderr, `${path.join(dir, 'saved_model.pb')} is ${kind}, not a regular file`, `${args[0]}: says what the file is`);
    }
  }
});

t.test("run --json: an output's { dtype, shape, data } goes back in as --input as it is; -0 keeps its sign (helper-132)", async (t) => {
  const passthrough = fixture('passthrough');
  const first = json<{ outputs: Record<string, unknown> }>(await cli(['run', passthrough.dir, '--input', 'x=[-0.0, 1.5]', '--input', 'key=["a","b"]', '--json']));
  t.same(first.outputs.x_out, { dtype: 'float32', shape: [2], data: [-0, 1.5] });
  t.ok(Object.is((first.outputs.x_out as { data: number[] }).data[0], -0), 'written as -0.0, read back as -0');
  const again = await cli(['run', passthrough.dir, '--input', `x=${JSON.stringify({ ...first.outputs.x_out as object, data: [1, 2] })}`, '--input', `key=${JSON.stringify(first.outputs.key)}`, '--json']);
  t.equal(again.code, 0, again.stderr);
  t.same(json<{ outputs: Record<string, unknown> }>(again).outputs.key, { dtype: 'string', shape: [2], data: ['a', 'b'] });
  const wrongType = await cli(['run', passthrough.dir, '--input', 'x={"dtype":"float64","data":[1]}', '--input', 'key=["a"]']);
  t.match(wrongType, { code: 2, stderr: /--input x: its dtype is "float64", the signature wants float32/ });
  const wrongShape = await cli(['run', passthrough.dir, '--input', 'x={"shape":[3],"data":[1,2]}', '--input', 'key=["a","b"]']);
  t.match(wrongShape, { code: 2, stderr: /--input x: its shape is \[3\], but its data is nested as \[2\]/ });
});

t.test('run: NaN and ±Infinity as "NaN", "Infinity", "-Infinity" for every float dtype, out (text, --json, --out-dir) and back in', async (t) => {
  const dir = tmp('floats');
  const special = ['NaN', 'Infinity', '-Infinity'];
  const floats = ['f32', 'f64', 'f16', 'bf16'];
  const others = ['i32=[1,2,3,4]', 'i64=[1,2,3,4]', 'u8=[1,2,3,4]', 'b=[true,false,true,false]', 's=["a","b","c","d"]'];
  const transform = (inputs: Record<string, string>): string[] => ['run', dtypes.dir, '--signature', 'transform', '--outputs', floats.map((k) => `${k}_out`).join(','),
    ...[...others, ...floats.map((k) => `${k}=${inputs[k]}`)].flatMap((input) => ['--input', input])];
  const literal = JSON.stringify([...special, 0.1]);
  const inputs = Object.fromEntries(floats.map((k) => [k, literal]));

  const text = await cli(transform(inputs));
  t.equal(text.code, 0, text.stderr);
  for (const [key, dtype] of [['f32', 'float32'], ['f64', 'float64'], ['f16', 'float16'], ['bf16', 'bfloat16']]) {
    t.match(text.stdout, `${key}_out: ${dtype} [4]\n  [NaN, Infinity, -Infinity, 0.2]\n`, `${dtype} prints as the others do`);
  }
  const out = json<{ outputs: Record<string, { dtype: string; data: unknown[] }> }>(await cli([...transform(inputs), '--json', '--out-dir', dir]));
  for (const key of floats) t.same(out.outputs[`${key}_out`]!.data, [...special, 0.2], `--json ${out.outputs[`${key}_out`]!.dtype}: the same strings`);
  const written = JSON.parse(fs.readFileSync(path.join(dir, 'bf16_out.json'), 'utf8')) as unknown[];
  t.same(written, [...special, 0.2], '--out-dir bf16_out.json: the same strings');
  // The oracles: numpy reads float16's .npy; ml_dtypes rounds the bfloat16 JSON to TensorFlow's bits for 2 × bfloat16(x).
  const check = python<{ f16: string[]; bf16: number[]; expected: number[] }>(`
import json, ml_dtypes, numpy as np
values = [float(v) for v in json.load(open('${dir}/bf16_out.json'))]
x = np.array([np.nan, np.inf, -np.inf, 0.1], dtype=ml_dtypes.bfloat16)
print(json.dumps({'f16': [str(v) for v in np.load('${dir}/f16_out.npy')],
                  'bf16': np.array(values).astype(ml_dtypes.bfloat16).view(np.uint16).tolist(),
                  'expected': (x * x.dtype.type(2)).view(np.uint16).tolist()}))`);
  t.same(check.f16, ['nan', 'inf', '-inf', '0.2'], 'numpy reads f16_out.npy');
  t.same(check.bf16, check.expected, 'bf16_out.json holds the bits of 2 × bfloat16(x)');

  // What --json wrote goes back in as it is: a .json file per input, and bfloat16's --out-dir file.
  const again: Record<string, string> = {};
  for (const key of floats) {
    again[key] = path.join(dir, `${key}.json`);
    fs.writeFileSync(again[key]!, JSON.stringify(out.outputs[`${key}_out`]!.data));
  }
  again.bf16 = path.join(dir, 'bf16_out.json');
  const twice = json<{ outputs: Record<string, { data: unknown[] }> }>(await cli([...transform(again), '--json']));
  for (const key of floats) t.same(twice.outputs[`${key}_out`]!.data, [...special, 0.4], `${key}: fed back, doubled again`);
});

t.test('run: integer inputs refuse what is not an integer, NaN included, naming the input', async (t) => {
  const ints = fixture('ints').dir;
  const cases: [string[], RegExp][] = [
    [['a=[1.5]', 'b=[1]'], /--input a: element 0: 1\.5 is not an integer in \[-2147483648, 2147483647\] \(int32\)/],
    [['a=["NaN"]', 'b=[1]'], /--input a: element 0: "NaN" is not an integer in \[-2147483648, 2147483647\] \(int32\)/],
    [['a=[1]', 'b=["NaN"]'], /--input b: element 0: "NaN" is not an integer \(int64; past 2\^53 give a bigint, a string of digits, or the digits in JSON\)/],
    [['a=[1]', 'b=[1e300]'], /--input b: element 0: 1e\+300 is not an integer \(int64; past 2\^53/],
    [['a=[1]', 'b=["9223372036854775808"]'], /--input b: element 0: "9223372036854775808" is not in the range of int64/],
  ];
  const results = await inParallel(cases, 2, ([inputs]) => cli(['run', ints, ...inputs.flatMap((input) => ['--input', input])]));
  for (const [i, [inputs, message]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, `${inputs.join(' ')}: exit 2`);
    t.match(r.stderr, message, r.stderr.split('\n')[0] ?? '');
  }
  const float = await cli(['run', multi.dir, '--signature', 'double', '--input', 'x=["nan"]']);
  t.equal(float.code, 2);
  t.match(float.stderr, /--input x: element 0: "nan" is not a number \(float32; NaN and ±Infinity are "NaN", "Infinity", "-Infinity"\)/);
});

t.test('run: bad arguments exit non-zero with a message naming the flag', async (t) => {
  // A 17 MiB text-format config (sparse: nothing written): refused by its size, not parsed for seconds.
  const huge = path.join(tmp('huge'), 'ssl.config');
  fs.writeFileSync(huge, '');
  fs.truncateSync(huge, 17 * 1024 * 1024);
  const cases: [string[], number, RegExp][] = [
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
    [['run'], 2, /missing required argument 'dir'/],
    [['run', '/nonexistent/model', '--input', 'x=[1]'], 2, /\/nonexistent\/model does not exist \(nor does \/nonexistent\)/],
    [['run', ROOT, '--input', 'x=[1]'], 2, /has no saved_model\.pb \(it holds .*\); pass the directory a SavedModel was saved to/],
    [['run', path.join(tiny.dir, 'saved_model.pb'), '--input', 'x=[1]'], 2, /saved_model\.pb is a file, not a SavedModel directory; pass its directory, .*tiny\/model/],
    [['run', tiny.dir, '--input', 'x'], 2, /--input "x": expected key=value/],
    [['run', tiny.dir, '--input', 'x=[[1,2'], 2, /--input x: neither a file nor JSON/],
    [['run', tiny.dir, '--input', 'x=missing.npy'], 2, /--input x: no such file missing\.npy/],
    [['run', tiny.dir, '--input', 'z=[[1,2,3,4]]'], 2, /--input z: signature 'serving_default' has no input 'z'; its inputs are x \(float32 \[-1, 4\]\)/],
    [['run', tiny.dir], 2, /missing --input for x \(float32 \[-1, 4\]\)/],
    [['run', tiny.dir, '--input', 'x=[[1,2],[3]]'], 2, /--input x: ragged array/],
    [['run', tiny.dir, '--input', 'x=[["a",2,3,4]]'], 2, /--input x: element 0: "a" is not a number \(float32; NaN and ±Infinity are "NaN", "Infinity", "-Infinity"\)/],
    [['run', tiny.dir, '--input', 'x=[[1,2,3]]'], 2, /--input x expects shape \[-1, 4\], got \[1, 3\] \(dimension 1 must be 4\)/],
    [['run', tiny.dir, '--input', 'x=[1,2,3,4]'], 2, /--input x expects rank 2 \[-1, 4\], got rank 1 \[4\]/],
    [['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--gpu-fraction', '1.5'], 2, /option '--gpu-fraction <f>' argument '1\.5' is invalid\. expected a fraction in \(0, 1\]/],
    [['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--gpu-fraction', 'half'], 2, /'--gpu-fraction <f>' argument 'half' is invalid/],
    [['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--isolation', 'thread'], 2, /argument 'thread' is invalid\. Allowed choices are none, process/],
    [['run', multi.dir, '--signature', 'nope', '--input', 'x=[1]'], 2, /--signature nope: no such signature in .*; it has concat, double, serving_default/],
    [['bench', tiny.dir, '--iterations', '0'], 2, /'--iterations <n>' argument '0' is invalid\. expected an integer ≥ 1/],
    [['bench', tiny.dir, '--iterations', '5', '--duration', '1'], 2, /--duration and --iterations exclude each other/],
    // helper-132: no timed run at all, and a stack trace (the percentiles of nothing).
    [['bench', tiny.dir, '--duration', '0.000001', '--warmup', '0'], 2, /^tfslice bench: no timed run started within --duration 0\.000001 s; give a longer --duration, or --iterations$/m],
    // Too large to make: a bad argument named by its flag (was exit 1, naming neither; helper-58).
    [['bench', tiny.dir, '--iterations', '1', '--batch', '99999999999'], 2, /^tfslice bench: --batch 99999999999: input x would be float32 of shape \[99999999999, 4\], which cannot be made \(.+\); give a smaller one$/m],
    [['install-tensorflow', '--from', 'conda'], 2, /argument 'conda' is invalid\. Allowed choices are pip, archive/],
    [['serve', '--model_name', 'm', '--model_base_path', tiny.dir, '--offload_bytes', '-1'], 2, /'--offload_bytes <n>' argument '-1' is invalid\. expected a byte count, or Infinity/],
    // tensorflow_model_server's flags that serve lacks: what to do instead, not "unknown option" (found by a trial, helper-37).
    [['serve', '--model_base_path', tiny.dir, '--monitoring_config_file=/nonexistent/monitoring.config'], 2, /^tfslice serve: --monitoring_config_file \/nonexistent\/monitoring\.config: ENOENT: no such file or directory/m],
    [['serve', '--model_base_path', tiny.dir, '--ssl_config_file', huge], 2, /^tfslice serve: --ssl_config_file \S+ssl\.config: \S+ssl\.config holds more than 16777216 bytes \(16 MiB\), the most a configuration file may hold$/m],
    // A file that never ends: read up to the limit, not until memory runs out.
    [['serve', '--model_base_path', tiny.dir, '--enable_batching', '--batching_parameters_file', '/dev/zero'], 2, /^tfslice serve: --batching_parameters_file \/dev\/zero: \/dev\/zero holds more than 16777216 bytes/m],
    [['serve', '--model_config_file', '/dev/zero'], 2, /^tfslice serve: cannot read --model_config_file \/dev\/zero: \/dev\/zero holds more than 16777216 bytes/m],
    [['serve', '--model_base_path', tiny.dir, '--auth_token_file', '/dev/zero'], 2, /^tfslice serve: --auth_token_file: \/dev\/zero holds more than 16777216 bytes/m],
    [['serve', '--model_base_path', tiny.dir, '--enable_batching', '--batching_parameters_file', '/nonexistent/batching.config'], 2, /^tfslice serve: --batching_parameters_file \/nonexistent\/batching\.config: ENOENT: no such file or directory/m],
    [['serve', '--model_base_path', tiny.dir, '--platform_config_file=/etc/platform.config'], 2, /^tfslice serve: --platform_config_file is tensorflow_model_server's; tfslice serve has no such flag: only TensorFlow SavedModels are served/m],
    // (all three above 0, as TensorFlow Serving refuses; one of the newer two beside the old one is taken: test/97)
    [['serve', '--model_base_path', tiny.dir, '--tensorflow_session_parallelism', '4', '--tensorflow_intra_op_parallelism', '2', '--tensorflow_inter_op_parallelism', '1'], 2, /^tfslice serve: Either configure --tensorflow_session_parallelism or \(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism\) separately\. You cannot configure all\. \(TensorFlow Serving's rule\)$/m],
    [['serve', '--model_base_path', tiny.dir, '--grpc_socket_path', '/tmp/tfs.sock'], 2, /^tfslice serve: --grpc_socket_path is tensorflow_model_server's; tfslice serve has no such flag: gRPC listens on TCP only/m],
    // Off their defaults they would change what clients get (at them, they are ignored: test/97).
    [['serve', '--model_base_path', tiny.dir, '--use_alts_credentials'], 2, /^tfslice serve: --use_alts_credentials is tensorflow_model_server's; tfslice serve has no such flag: gRPC over TLS/m],
    [['serve', '--model_base_path', tiny.dir, '--per_process_gpu_memory_fraction=0.5'], 2, /^tfslice serve: --per_process_gpu_memory_fraction is tensorflow_model_server's; tfslice serve has no such flag: tfslice gives each model its own fraction/m],
    [['serve', '--model_base_path', tiny.dir, '--rest_api_enable_cors_support=sometimes'], 2, /'--rest_api_enable_cors_support \[bool\]' argument 'sometimes' is invalid\. expected true or false/],
    [['serve', '--model_base_path', tiny.dir, '--tensorflow_session_config_file', '/etc/session.config'], 2, /--tensorflow_session_config_file is tensorflow_model_server's; .*loadOptions/],
    [['serve', '--model_base_path', tiny.dir, '--per_process_gpu_memory_fraction=0.5'], 2, /--per_process_gpu_memory_fraction is tensorflow_model_server's; .*--gpu_memory_fraction with --model_name/],
    [['serve', '--model_base_path', tiny.dir, '--enable_batching=maybe'], 2, /'--enable_batching \[bool\]' argument 'maybe' is invalid\. expected true or false/],
    [['serve', '--model_base_path', tiny.dir, '--port', '18555', '--rest_api_port', '18555'], 2, /^tfslice serve: --port and --rest_api_port are both 18555: gRPC and REST need ports of their own$/m],
    [['serve', '--model_base_path', tiny.dir, '--model_config_file_poll_wait_seconds', '5'], 2, /^tfslice serve: --model_config_file_poll_wait_seconds is set without --model_config_file: it says how often to read that file again$/m],
    [['serve', '--model_base_path', tiny.dir, '--model_config_file_poll_wait_seconds', '-1'], 2, /'--model_config_file_poll_wait_seconds <s>' argument '-1' is invalid\. expected seconds/],
    [['serve', '--model_base_path', tiny.dir, '--tensorflow_inter_op_parallelism', '-2'], 2, /'--tensorflow_inter_op_parallelism <n>' argument '-2' is invalid\. expected a thread count from -1 to 1024/],
    // --host_hang_timeout_ms kills a host, whose runs TensorFlow must be able to stop at their limit.
    [['serve', '--model_base_path', tiny.dir, '--host_hang_timeout_ms', '1000'], 2, /^tfslice serve: --host_hang_timeout_ms kills a model's host process: give --isolation process with it$/m],
    [['serve', '--model_base_path', tiny.dir, '--isolation', 'process', '--host_hang_timeout_ms', '1000'], 2, /^tfslice serve: --host_hang_timeout_ms needs an inter-op pool, .*: add --tensorflow_inter_op_parallelism 0$/m],
    [['serve', '--model_base_path', tiny.dir, '--host_hang_timeout_ms', '2147483648'], 2, /'--host_hang_timeout_ms <ms>' argument '2147483648' is invalid\. expected milliseconds from 0 to 2147483647/],
  ];
  const results = await inParallel(cases, 2, ([args]) => cli(args));
  for (const [i, [args, code, message]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, code, `tfslice ${args.join(' ')} exits ${code}`);
    t.match(r.stderr, message, `tfslice ${args.join(' ')}: ${r.stderr.split('\n')[0]}`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    t.equal(r.stdout, '', 'nothing on stdout');
  }
  // --version, as tensorflow_model_server's: the version, exit 0.
  t.match(await cli(['serve', '--version']), { code: 0, stdout: /^\d+\.\d+\.\d+\n$/, stderr: '' }, 'serve --version prints the version');
  // --help is pointed to where it can help: flags that cannot work together, not a file's contents.
  const said = (args: string[]) => results[cases.findIndex(([given]) => given.join(' ') === args.join(' '))]!.stderr;
  t.match(said(['serve', '--model_base_path', tiny.dir, '--port', '18555', '--rest_api_port', '18555']), /\n\(run tfslice serve --help for usage\)\n$/, 'flags that exclude each other: --help named');
  t.notMatch(said(['serve', '--model_config_file', '/dev/zero']), /--help/, 'a config file that cannot be read: not');
  t.notMatch(said(['serve', '--model_base_path', tiny.dir, '--ssl_config_file', huge]), /--help/, 'nor one too big');
  // With --json a failure is JSON on stdout too (the message stays on stderr): the error's code,
  // USAGE for a bad argument, the exit code.
  const jsonCases: [string[], string, number, RegExp][] = [
    [['run', tiny.dir, '--input', 'x=[[1,2,3]]', '--json'], 'USAGE', 2, /--input x expects shape \[-1, 4\], got \[1, 3\]/],
    [['show', '/nonexistent/model', '--json'], 'USAGE', 2, /\/nonexistent\/model does not exist/],
    [['run', multi.dir, '--signature', 'nope', '--input', 'x=[1]', '--json'], 'USAGE', 2, /--signature nope: no such signature/],
    [['bench', tiny.dir, '--duration', '0.000001', '--warmup', '0', '--json'], 'USAGE', 2, /no timed run started within --duration/],
  ];
  for (const [args, code, exitCode, message] of jsonCases) {
    const r = await cli(args);
    t.equal(r.code, exitCode, `tfslice ${args.join(' ')} exits ${exitCode}`);
    t.match(r.stderr, message);
    const failure = json<{ error: { code: string | null; message: string; exitCode: number } }>(r);
    t.match(failure, { error: { code, exitCode, message } }, `and prints {"error": {"code": "${code}", ...}} on stdout`);
  }
});

t.test('--json: a failure while the arguments are read (commander, an option parser) is JSON on stdout too; --json as an option\'s value is none (helper-141)', async (t) => {
  type Failure = { error: { code: string | null; message: string; exitCode: number } };
  // Before, only a failure in the command's action printed {"error": ...}: these printed nothing on stdout.
  const cases: [string[], RegExp][] = [
    [['run', tiny.dir, '--json', '--bogus'], /^unknown option '--bogus'$/],
    [['bench', tiny.dir, '--json', '--batch', '0'], /^option '--batch <n>' argument '0' is invalid/],
    [['show', '--json'], /^missing required argument 'dir'$/],
    [['run', tiny.dir, '--json', '--input', 'bad'], /^--input "bad": expected key=value/],
    [['run', tiny.dir, '--input=bad', '--json'], /^--input "bad": expected key=value/],
    [['doctor', '--json', '--gpu-partitions', 'x'], /^option '--gpu-partitions <spec>' argument 'x' is invalid/],
    [['install-tensorflow', '--from', 'nope', '--json'], /^option '--from <source>' argument 'nope' is invalid/],
  ];
  await inParallel(cases, 2, async ([args, message]) => {
    const r = await cli(args);
    t.equal(r.code, 2, `tfslice ${args.join(' ')} exits 2`);
    t.match(json<Failure>(r), { error: { code: 'USAGE', exitCode: 2, message } }, `and prints {"error": {"code": "USAGE", ...}} on stdout`);
  });
  // --json taken as a value (--input --json), or after --: not asked for, stdout stays empty.
  for (const args of [['run', tiny.dir, '--input', '--json'], ['run', tiny.dir, '--', '--json'], ['show', '--tags', '--json']]) {
    const r = await cli(args);
    t.equal(r.code, 2, `tfslice ${args.join(' ')} exits 2`);
    t.equal(r.stdout, '', 'nothing on stdout: --json was no flag there');
  }
});

t.test('run and bench --json: a model whose dispose() fails after the run prints one JSON document, the error (helper-141)', async (t) => {
  // A dispose() that rejects, preloaded into the CLI: the outputs (or the summary) were printed
  // before dispose(), then {"error": ...} after them, two JSON documents on stdout.
  const dir = tmp('dispose-fails');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const preload = path.join(dir, 'fail-dispose.js');
  fs.writeFileSync(preload, `const { Model } = require(${JSON.stringify(path.join(ROOT, 'dist', 'model.js'))});
const dispose = Model.prototype.dispose;
Model.prototype.dispose = function (...args) {
  return dispose.apply(this, args).then(() => { throw new Error('dispose failed here'); });
};
`);
  const env = { NODE_OPTIONS: `--require ${preload}` };
  for (const args of [['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--json'], ['bench', tiny.dir, '--iterations', '2', '--warmup', '0', '--json']]) {
    const r = await cli(args, { env });
    t.equal(r.code, 1, `tfslice ${args.join(' ')} exits 1`);
    t.match(r.stderr, /dispose failed here/);
    t.match(json<{ error: { message: string; exitCode: number } }>(r), { error: { message: 'dispose failed here', exitCode: 1 } }, 'stdout holds one JSON document: the error');
  }
});

t.test('TFSLICE_DEBUG=1 adds the stack on stderr and keeps the exit code, --json\'s exitCode too (helper-141)', async (t) => {
  const r = await cli(['show', '/nonexistent/model', '--json'], { env: { TFSLICE_DEBUG: '1' } });
  t.equal(r.code, 2, 'a bad argument exits 2, as without TFSLICE_DEBUG (1 before)');
  t.match(r.stderr, /UsageError: \/nonexistent\/model does not exist[^]*\n +at /, 'with the stack');
  t.match(json<{ error: { code: string; exitCode: number } }>(r), { error: { code: 'USAGE', exitCode: 2 } });
});

t.test('run and bench --isolation process --gpu-fraction: the model runs in a host of its own', async (t) => {
  const r = await cli(['run', tiny.dir, '--input', 'x=[[1,2,3,4]]', '--isolation', 'process', '--gpu-fraction', '0.4']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^y: float32 \[1, 3\]/, 'run prints the output');
  const b = await cli(['bench', tiny.dir, '--iterations', '50', '--isolation', 'process', '--gpu-fraction', '0.4', '--json']);
  t.equal(b.code, 0, b.stderr);
  t.match(json<Record<string, unknown>>(b), { runs: 50 }, 'bench runs through the host');
  t.notMatch(r.stderr + b.stderr, /\n\s+at /, 'no stack traces');
});

t.test('bench: synthesized inputs, percentiles and throughput', async (t) => {
  const r = await cli(['bench', tiny.dir, '--iterations', '200', '--batch', '8', '--concurrency', '2', '--json']);
  t.equal(r.code, 0, r.stderr);
  const s = json<{
    runs: number; batch: number; concurrency: number; inputs: Record<string, { dtype: string; shape: number[] }>;
    latencyMs: Record<'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'max', number>; runsPerSecond: number; samplesPerSecond: number; signature: string;
  }>(r);
  t.equal(s.runs, 200);
  t.equal(s.concurrency, 2);
  t.equal(s.signature, 'serving_default');
  t.same(s.inputs, { x: { dtype: 'float32', shape: [8, 4] } }, 'the unknown batch dimension from --batch');
  const l = s.latencyMs;
  t.ok(l.min > 0 && l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, `ordered percentiles ${JSON.stringify(l)}`);
  t.ok(s.runsPerSecond > 0);
  t.equal(s.batch, 8);
  t.ok(Math.abs(s.samplesPerSecond - 8 * s.runsPerSecond) < 1e-6 * s.samplesPerSecond, 'samples/s = batch × runs/s');
  t.notMatch(r.stderr, /bench \|/, 'no progress bar off a terminal');

  // Text, by duration, strings, and the bar forced on.
  const text = await cli(['bench', fixture('tf1_vocab').dir, '--duration', '0.5', '--progress']);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /inputs\s+words string \[1\]/);
  t.match(text.stdout, /latency ms\s+p50 [\d.]+\s+p90 [\d.]+\s+p99 [\d.]+\s+max [\d.]+/);
  t.match(text.stdout, /throughput\s+[\d.]+ runs\/s/);
  t.match(text.stderr, /bench \|.*\| 100% \| \d+ runs/, 'cli-progress drew the bar on stderr');

  const unknownShape = await cli(['bench', multi.dir, '--shape', 'q=1', '--iterations', '1']);
  t.equal(unknownShape.code, 2);
  t.match(unknownShape.stderr, /--shape q: signature 'serving_default' has no input 'q'/);
  const shaped = json<{ inputs: Record<string, { shape: number[] }> }>(await cli(['bench', multi.dir, '--shape', 'x=5,2', '--iterations', '3', '--json']));
  t.same(shaped.inputs.x!.shape, [5, 2], '--shape sets an exact shape');
});

t.test('doctor: what tfslice runs on, and the fix when it cannot run', async (t) => {
  const ok = await cli(['doctor']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /libtensorflow\s+\S+libtensorflow_cc\.so\.2/);
  t.match(ok.stdout, /found by\s+a pip-installed TensorFlow/);
  t.match(ok.stdout, /TensorFlow\s+2\.21\.0, oneDNN (on|off)/);
  t.match(ok.stdout, /CUDA build\s+no \(is_cuda_build in .*build_info\.py\)/);
  t.match(ok.stdout, /devices\s+CPU\s+\/job:localhost\/replica:0\/task:0\/device:CPU:0, \d+/);
  // node-gyp-build prefers a matching prebuild (.ci/run builds one before the tests).
  const picked = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(ROOT);
  const how = picked.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuilt \\(prebuilds/\\)' : 'built here';
  t.match(ok.stdout, new RegExp(`addon\\s+${picked.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, ${how}.*targets N-API 8`));
  t.match(ok.stdout, new RegExp(`Node.js\\s+${process.version.replace(/\./g, '\\.')}`));
  t.match(ok.stdout, `cache          ${HOME}`);
  const report = json<{ ok: boolean; tensorflow: { source: string; tensorflowVersion: string }; devices: { type: string }[] }>(await cli(['doctor', '--json']));
  t.equal(report.ok, true);
  t.equal(report.tensorflow.source, 'python');
  t.equal(report.devices[0]!.type, 'CPU');

  const missing = await cli(['doctor'], { env: { TFSLICE_LIBTENSORFLOW: '/nonexistent/libtensorflow.so.2' } });
  t.equal(missing.code, 1);
  t.match(missing.stdout, /libtensorflow\s+not found/);
  t.match(missing.stderr, /tfslice cannot run: tfslice could not load libtensorflow\. Tried:\n\s+- TFSLICE_LIBTENSORFLOW=\/nonexistent/);
  t.match(missing.stderr, /Fix: TFSLICE_LIBTENSORFLOW is set, so nothing else is tried/);

  // No env var, no Python TensorFlow, an empty cache: run fails with the library's full story.
  const bare = await cli(['run', tiny.dir, '--input', 'x=[[1,2,3,4]]'], { bare: true, cwd: tmp('empty'), env: { PATH: tmp('bin') } });
  t.equal(bare.code, 1);
  t.match(bare.stderr, /^tfslice run: tfslice could not load libtensorflow/);
  t.match(bare.stderr, /npx tfslice install-tensorflow/);
});

/**
 * A libtensorflow C archive in the official layout, made from the pip wheel's libraries:
 * ./lib/libtensorflow.so.2.21.0 (the wheel's libtensorflow_cc.so.2, which exports the C API) and
 * ./lib/libtensorflow_framework.so.2.21.0, each followed by the chain of links to it
 * (.so.2 -> .so.2.21.0, then .so -> .so.2), plus a header; every name starts with "./", as in
 * the official archives. The libraries are real files: ~200 MB at gzip level 1.
 */
async function buildArchive(into: string, stage: string): Promise<string> {
  fs.mkdirSync(path.join(stage, 'lib'));
  fs.mkdirSync(path.join(stage, 'include', 'tensorflow', 'c'), { recursive: true });
  const entries = ['./', './include/', './include/tensorflow/', './include/tensorflow/c/', './include/tensorflow/c/c_api.h', './lib/'];
  for (const [wheel, name] of [['libtensorflow_cc.so.2', 'libtensorflow'], ['libtensorflow_framework.so.2', 'libtensorflow_framework']] as const) {
    const file = path.join(stage, 'lib', `${name}.so.2.21.0`);
    try {
      fs.linkSync(fs.realpathSync(path.join(WHEEL, wheel)), file); // same file system: no copy
    } catch {
      fs.copyFileSync(path.join(WHEEL, wheel), file);
    }
    fs.symlinkSync(`${name}.so.2.21.0`, path.join(stage, 'lib', `${name}.so.2`));
    fs.symlinkSync(`${name}.so.2`, path.join(stage, 'lib', `${name}.so`));
    // The order of the official archives: the file, then each link after the one it points to.
    entries.push(`./lib/${name}.so.2.21.0`, `./lib/${name}.so.2`, `./lib/${name}.so`);
  }
  fs.copyFileSync(path.join(WHEEL, 'include', 'tensorflow', 'c', 'c_api.h'), path.join(stage, 'include', 'tensorflow', 'c', 'c_api.h'));
  const file = path.join(into, 'libtensorflow-cpu-linux-x86_64.tar.gz');
  // Stored, not compressed (gzip level 0): the archive is 800 MB of TensorFlow, and squeezing it is not what this tests.
  await tar.c({ gzip: { level: 0 }, file, cwd: stage, portable: true, noDirRecurse: true }, entries);
  const names = (await listArchive(file)).map((e) => e.path);
  if (names.join() !== entries.join()) throw new Error(`the test archive holds ${names.join(', ')}, not the official layout`);
  return file;
}

/**
 * A small archive in the same layout for the tests of where an install goes (--dir), which
 * unpack it again and again: its lib/libtensorflow.so.2.21.0 is an empty shared library that
 * needs the wheel's libtensorflow_cc.so.2 (found through its rpath), so loading it loads that
 * TensorFlow, and the C API is found in its dependencies (dlsym on a handle searches them, as the
 * pip wheel's split into two libraries needs). ~20 KB instead of 800 MB written, read and
 * unpacked per install: the full archive's test above is the one about what an install unpacks.
 */
async function buildSmallArchive(into: string, stage: string): Promise<string> {
  fs.mkdirSync(path.join(stage, 'lib'), { recursive: true });
  const source = path.join(stage, 'stand-in.c');
  fs.writeFileSync(source, '/* nothing: all it brings is what it needs */\n');
  // $CC may carry arguments of its own (CC='ccache gcc').
  const [cc, ...ccArgs] = (process.env.CC ?? 'cc').trim().split(/\s+/);
  execFileSync(cc!, [...ccArgs, '-shared', '-fPIC', '-o', path.join(stage, 'lib', 'libtensorflow.so.2.21.0'), source,
    '-Wl,--no-as-needed', path.join(WHEEL, 'libtensorflow_cc.so.2'), `-Wl,-rpath,${WHEEL}`, `-Wl,-rpath-link,${WHEEL}`]);
  fs.symlinkSync('libtensorflow.so.2.21.0', path.join(stage, 'lib', 'libtensorflow.so.2'));
  const file = path.join(into, 'libtensorflow-cpu-linux-x86_64.tar.gz');
  await tar.c({ gzip: true, file, cwd: stage, portable: true }, ['lib']);
  return file;
}

/** The entries of a .tar.gz as tar reads them: path, type, and a link's target. */
async function listArchive(file: string): Promise<{ path: string; type: string; linkpath: string }[]> {
  const entries: { path: string; type: string; linkpath: string }[] = [];
  await tar.t({ file, onReadEntry: (e) => entries.push({ path: e.path, type: e.type, linkpath: e.linkpath ?? '' }) });
  return entries;
}

t.test('install-tensorflow --from archive: from a server on 127.0.0.1 into the cache, found with no env var', async (t) => {
  const served = tmp('served');
  const stage = tmp('stage');
  const home = tmp('archive-home');
  t.teardown(() => [served, stage, home].forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  // Served as the official layout: <base>/<version>/libtensorflow-cpu-linux-x86_64.tar.gz.
  fs.mkdirSync(path.join(served, '2.21.0'));
  await buildArchive(path.join(served, '2.21.0'), stage);
  fs.mkdirSync(path.join(served, '0.0.1'));
  fs.writeFileSync(path.join(stage, 'README'), 'not TensorFlow');
  await tar.c({ gzip: true, file: path.join(served, '0.0.1', 'libtensorflow-cpu-linux-x86_64.tar.gz'), cwd: stage }, ['README']);
  const requests: string[] = [];
  const base = await serve(t, served, requests);

  const installed = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', base, '--progress'], { env: { TFSLICE_HOME: home } });
  t.equal(installed.code, 0, installed.stderr);
  t.same(requests, ['/2.21.0/libtensorflow-cpu-linux-x86_64.tar.gz'], 'the official layout under --base-url');
  const dir = path.join(home, 'tensorflow', 'archive-2.21.0');
  const library = path.join(dir, 'lib', 'libtensorflow.so.2');
  t.match(installed.stdout, `Installed TensorFlow 2.21.0 (archive, CPU) in ${dir}`);
  t.match(installed.stderr, /download \|.*\| 100%/, 'a download progress bar');
  const record = JSON.parse(fs.readFileSync(path.join(home, 'tensorflow', 'current.json'), 'utf8')) as Record<string, unknown>;
  t.match(record, { library, from: 'archive', version: '2.21.0', gpu: false, dir, url: `${base}/2.21.0/libtensorflow-cpu-linux-x86_64.tar.gz` });
  t.ok(fs.existsSync(path.join(dir, 'include', 'tensorflow', 'c', 'c_api.h')), 'the headers are unpacked too');
  t.equal(fs.readlinkSync(library), 'libtensorflow.so.2.21.0', "the archive's own symlinks are kept");
  t.equal(fs.readlinkSync(path.join(dir, 'lib', 'libtensorflow.so')), 'libtensorflow.so.2', 'and the link to a link');
  t.equal(fs.realpathSync(path.join(dir, 'lib', 'libtensorflow.so')), path.join(dir, 'lib', 'libtensorflow.so.2.21.0'), 'the chain leads to the library');
  t.same(fs.readdirSync(path.join(home, 'tensorflow')).sort(), ['archive-2.21.0', 'current.json'], 'no download or staging left behind');

  // A fresh process with no .venv in sight, no Python TensorFlow, no env var: the cache is found.
  const bare = { bare: true, cwd: tmp('empty'), env: { PATH: tmp('bin'), TFSLICE_HOME: home } };
  const probe = `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))}).loadTensorFlow().then((r) => console.log(JSON.stringify(r)))`;
  const found = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: bare.cwd, env: { PATH: bare.env.PATH, HOME: process.env.HOME, TFSLICE_HOME: home }, encoding: 'utf8' })) as { source: string; path: string };
  t.same(found, { ...found, source: 'cache', path: library });
  const ran = await cli(['run', tiny.dir, '--input', `x=${JSON.stringify([tiny.golden.cases[0]!.inputs.x!.data])}`, '--json'], bare);
  t.equal(ran.code, 0, ran.stderr);
  t.ok(maxRelativeError(json<{ outputs: { y: { data: number[][] } } }>(ran).outputs.y.data.flat(), tiny.golden.cases[0]!.outputs.y!.data as number[]) < 1e-6, 'runs the model');
  const doctor = await cli(['doctor'], bare);
  t.equal(doctor.code, 0, doctor.stderr);
  t.match(doctor.stdout, /found by\s+the per-user cache of tfslice install-tensorflow/);
  t.match(doctor.stdout, `libtensorflow  ${library}`);

  const missing = await cli(['install-tensorflow', '--from', 'archive', '--version', '9.9.9', '--base-url', base], { env: { TFSLICE_HOME: home } });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot download http:\/\/127\.0\.0\.1:\d+\/9\.9\.9\/libtensorflow-cpu-linux-x86_64\.tar\.gz: HTTP 404/);
  t.match(missing.stderr, /Fix: official C archives exist for some TensorFlow versions only/);
  const wrong = await cli(['install-tensorflow', '--from', 'archive', '--version', '0.0.1'], { env: { TFSLICE_HOME: home, TFSLICE_TF_ARCHIVE_BASE_URL: base } });
  t.equal(wrong.code, 1, 'the base URL from TFSLICE_TF_ARCHIVE_BASE_URL');
  t.match(wrong.stderr, /\/0\.0\.1\/libtensorflow-cpu-linux-x86_64\.tar\.gz has no lib\/libtensorflow\.so\.2; it holds README/);
  t.equal(JSON.parse(fs.readFileSync(path.join(home, 'tensorflow', 'current.json'), 'utf8')).version, '2.21.0', 'failures leave the recorded install alone');
  // A port nothing listens on: one the system just handed out and took back.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const refused = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', `http://127.0.0.1:${port}`], { env: { TFSLICE_HOME: tmp('refused') } });
  t.equal(refused.code, 1);
  t.match(refused.stderr, /cannot download http:\/\/127\.0\.0\.1:\d+\/2\.21\.0\/libtensorflow-cpu-linux-x86_64\.tar\.gz: connect ECONNREFUSED/);
  t.match(refused.stderr, /Fix: check the network, set --base-url/);

  // helper-132: --dir of a directory of the user's was emptied (with --force before a download
  // that then failed), and a file given as --dir was replaced. From here on the small archive.
  const small = tmp('served-small');
  fs.mkdirSync(path.join(small, '2.21.0'), { recursive: true });
  const smallStage = tmp('stage-small');
  t.teardown(() => [small, smallStage].forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  await buildSmallArchive(path.join(small, '2.21.0'), smallStage);
  const smallBase = await serve(t, small);
  const mine = tmp('mine');
  fs.mkdirSync(mine, { recursive: true });
  fs.writeFileSync(path.join(mine, 'precious.txt'), 'keep me');
  for (const extra of [[], ['--force'], ['--dry-run']]) {
    const kept = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', smallBase, '--dir', mine, ...extra], { env: { TFSLICE_HOME: home } });
    t.equal(kept.code, 2, `a directory of the user's ${extra.join(' ')}`);
    t.match(kept.stderr, `--dir ${mine} holds files that no install-tensorflow put there, and an install would replace them; give a new or empty directory`);
  }
  t.same(fs.readdirSync(mine), ['precious.txt'], 'left as it was');
  const file = path.join(mine, 'precious.txt');
  const notDir = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', smallBase, '--dir', file], { env: { TFSLICE_HOME: home } });
  t.equal(notDir.code, 2);
  t.match(notDir.stderr, `--dir ${file} is a file, not a directory`);
  t.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  const own = path.join(tmp('own'), 'tf');
  for (const round of ['a new directory', 'the install made before, replaced']) {
    const done = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', smallBase, '--dir', own], { env: { TFSLICE_HOME: home } });
    t.equal(done.code, 0, `${round}: ${done.stderr}`);
  }
  t.ok(fs.existsSync(path.join(own, '.tfslice-install')), 'an install marks its directory as its own');
  // helper-134: a link to it was refused as "a symbolic link, not a directory"; a marker that is
  // no file (a directory, a link) made a directory of the user's replaceable; --dir '' was the cache.
  const link = path.join(tmp('link'), 'tf');
  fs.symlinkSync(own, link);
  const viaLink = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', smallBase, '--dir', link], { env: { TFSLICE_HOME: home } });
  t.equal(viaLink.code, 0, `a link to an install: ${viaLink.stderr}`);
  t.equal(fs.lstatSync(link).isSymbolicLink(), true, 'the link stays a link');
  t.ok(fs.existsSync(path.join(own, 'lib', 'libtensorflow.so.2')), 'and the install it names was replaced');
  fs.mkdirSync(path.join(mine, '.tfslice-install'));
  const dirMarker = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', smallBase, '--dir', mine, '--dry-run'], { env: { TFSLICE_HOME: home } });
  t.equal(dirMarker.code, 2, 'a marker that is a directory marks nothing');
  fs.rmdirSync(path.join(mine, '.tfslice-install'));
  const empty = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', smallBase, '--dir', '', '--dry-run'], { env: { TFSLICE_HOME: home } });
  t.match(empty, { code: 2, stderr: /--dir is empty; give a directory, or leave --dir out for the per-user cache/ });

  // A download cut off mid-body: said in one message, with no stack (undici's "terminated").
  const cut = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': 1_000_000 });
    res.write(Buffer.alloc(100));
    setTimeout(() => res.socket?.destroy(), 20);
  });
  await new Promise<void>((resolve) => cut.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => cut.close(() => resolve())));
  const broke = await cli(['install-tensorflow', '--from', 'archive', '--version', '2.21.0', '--base-url', `http://127.0.0.1:${(cut.address() as AddressInfo).port}`], { env: { TFSLICE_HOME: tmp('cut') } });
  t.equal(broke.code, 1);
  t.match(broke.stderr, /the download of http:\/\/127\.0\.0\.1:\d+\/2\.21\.0\/libtensorflow-cpu-linux-x86_64\.tar\.gz broke off after 0\.0 MiB of 1\.0 MiB: /);
  t.notMatch(broke.stderr, /\n\s+at /, 'no stack');
});

/**
 * Serves the files under `root` at http://127.0.0.1:<port>/<path> until the test ends (404 for
 * anything else); resolves to that base URL. Each request's path goes into `requests`.
 */
async function serve(t: tap.Test, root: string, requests: string[] = []): Promise<string> {
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = path.join(root, decodeURIComponent(req.url ?? '/'));
    if (!file.startsWith(`${root}${path.sep}`) || !fs.existsSync(file)) {
      res.writeHead(404).end('no such archive');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type ArchiveEntry = { name: string; dir: true } | { name: string; text: string } | { name: string; symlink: string } | { name: string; hardlink: string };

/** Writes each archive as <root>/<version>/libtensorflow-cpu-linux-x86_64.tar.gz with Python's tarfile, which stores names and link targets as given. */
function writeArchives(root: string, archives: Record<string, ArchiveEntry[]>): void {
  python<null>(`
import io, json, os, sys, tarfile
for version, entries in json.loads(sys.stdin.read()).items():
    os.makedirs(os.path.join('${root}', version))
    with tarfile.open(os.path.join('${root}', version, 'libtensorflow-cpu-linux-x86_64.tar.gz'), 'w:gz') as out:
        for e in entries:
            info = tarfile.TarInfo(e['name'])
            data = None
            if 'dir' in e: info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif 'symlink' in e: info.type, info.linkname = tarfile.SYMTYPE, e['symlink']
            elif 'hardlink' in e: info.type, info.linkname = tarfile.LNKTYPE, e['hardlink']
            else:
                data = e['text'].encode()
                info.size = len(data)
            out.addfile(info, io.BytesIO(data) if data is not None else None)
print('null')`, JSON.stringify(archives));
}

t.test('install-tensorflow --from archive: a chain of links with ./ names unpacks; entries and links that lead outside are refused', async (t) => {
  const served = tmp('served-small');
  const outside = tmp('outside');
  t.teardown(() => [served, outside].forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  const top: ArchiveEntry[] = [{ name: './', dir: true }, { name: './lib/', dir: true }];
  // Each archive is a version; the official layout first (it unpacks, but holds no TensorFlow).
  const archives: Record<string, ArchiveEntry[]> = {
    '0.1.0': [...top, { name: './lib/libx.so.2.0', text: 'x' }, { name: './lib/libx.so.2', symlink: 'libx.so.2.0' }, { name: './lib/libx.so', symlink: 'libx.so.2' }],
    '0.2.0': [...top, { name: `${outside}/escaped.txt`, text: 'x' }],
    '0.3.0': [...top, { name: './lib/../../escaped.txt', text: 'x' }],
    '0.4.0': [...top, { name: './lib/libtensorflow.so.2', symlink: `${outside}/libtensorflow.so.2` }],
    '0.5.0': [...top, { name: './lib/up', symlink: '../../escaped.txt' }],
    // a -> lib/b/.. stays inside until lib/b -> .. (inside too) arrives; then a is the parent of the top.
    '0.6.0': [...top, { name: './a', symlink: 'lib/b/..' }, { name: './lib/b', symlink: '..' }, { name: './a/escaped.txt', text: 'x' }],
    '0.7.0': [...top, { name: './a', symlink: 'lib/b/..' }, { name: './lib/b', symlink: '..' }],
    // A hard link to a symbolic link is that link (same target text) read from another directory.
    '0.8.0': [...top, { name: './lib/s', symlink: '../escaped.txt' }, { name: './h', hardlink: './lib/s' }],
  };
  writeArchives(served, archives);
  const base = await serve(t, served);

  const install = async (version: string, ...more: string[]): Promise<CliResult & { home: string }> => {
    const home = tmp(`archive-${version}${more.join('')}`);
    t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
    return { ...await cli(['install-tensorflow', '--from', 'archive', '--version', version, '--base-url', base, ...more], { env: { TFSLICE_HOME: home } }), home };
  };
  const chain = await install('0.1.0');
  t.equal(chain.code, 1);
  t.notMatch(chain.stderr, /TAR_SYMLINK_ERROR|refused/, 'the link to a link unpacks');
  t.match(chain.stderr, /\/0\.1\.0\/libtensorflow-cpu-linux-x86_64\.tar\.gz has no lib\/libtensorflow\.so\.2; it holds lib\. Is it a libtensorflow C archive\?/);

  const refusals: [string, RegExp][] = [
    ['0.2.0', /refused to unpack \/.*\/escaped\.txt: its path is absolute\./],
    ['0.3.0', /refused to unpack \.\/lib\/\.\.\/\.\.\/escaped\.txt: its path climbs with '\.\.'\./],
    ['0.4.0', /refused to unpack \.\/lib\/libtensorflow\.so\.2 -> \/.*\/libtensorflow\.so\.2: the link is absolute\./],
    ['0.5.0', /refused to unpack \.\/lib\/up -> \.\.\/\.\.\/escaped\.txt: the link climbs out of the archive with '\.\.'\./],
    ['0.6.0', /refused to unpack \.\/a\/escaped\.txt: its path goes through the symbolic link a\./],
    ['0.7.0', /refused to unpack \.\/a -> lib\/b\/\.\.: followed through the archive's other links, it leads outside the archive\./],
    ['0.8.0', /refused to unpack \.\/h \(a hard link to \.\/lib\/s\): the file it links to is, or goes through, the symbolic link lib\/s\./],
  ];
  const installed = await inParallel(refusals, 2, ([version]) => install(version));
  for (const [i, [version, message]] of refusals.entries()) {
    const r = installed[i]!;
    t.equal(r.code, 1, `${version}: exit 1`);
    t.match(r.stderr, message, `${version}: ${r.stderr.split('\n')[0]}`);
    t.match(r.stderr, /\nFix: the official libtensorflow archives have no such entry; check that --base-url/);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    t.same(fs.readdirSync(path.join(r.home, 'tensorflow')), [], `${version}: nothing recorded, no staging left, nothing beside it`);
  }
  t.same(fs.readdirSync(outside), [], 'nothing written outside');
  // With --json the failure is JSON on stdout too, with the refusal's code, for a script to read.
  const asJson = await install('0.5.0', '--json');
  t.equal(asJson.code, 1);
  t.match(asJson.stderr, /refused to unpack \.\/lib\/up/, 'the message stays on stderr');
  const failure = json<{ error: { code: string | null; message: string; exitCode: number } }>(asJson);
  t.equal(failure.error.code, 'ARCHIVE_UNSAFE_ENTRY');
  t.equal(failure.error.exitCode, 1);
  t.match(failure.error.message, /refused to unpack \.\/lib\/up -> \.\.\/\.\.\/escaped\.txt/);
});

t.test('install-tensorflow --from pip: the exact commands, run through a stand-in python/pip', async (t) => {
  // The real `pip install tensorflow-cpu` takes minutes and gigabytes; a stand-in python3 makes
  // the venv, and its pip records its arguments and lays out a tensorflow package of symlinks.
  const bin = tmp('fake-python');
  const venvPython = path.join(bin, 'venv-python3');
  fs.writeFileSync(path.join(bin, 'python3'), `#!/bin/bash
[ "$1" = -m ] && [ "$2" = venv ] || exit 3
mkdir -p "$3/bin" && cp ${JSON.stringify(venvPython)} "$3/bin/python3"
`, { mode: 0o755 });
  fs.writeFileSync(venvPython, `#!/bin/bash
venv="$(cd "$(dirname "$0")/.." && pwd)"
tf="$venv/lib/python3/site-packages/tensorflow"
if [ "$1" = -m ] && [ "$2" = pip ]; then
  shift 2; echo "$*" >> "$venv/pip.log"
  [ -n "$FAKE_PIP_FAIL" ] && { echo "ERROR: No matching distribution" >&2; exit 1; }
  mkdir -p "$tf" && ln -sf ${JSON.stringify(WHEEL)}/libtensorflow_cc.so.2 ${JSON.stringify(WHEEL)}/libtensorflow_framework.so.2 "$tf/"
  exit 0
fi
[ "$1" = -c ] && { [ -d "$tf" ] && echo "$tf"; exit 0; }
exit 3
`, { mode: 0o755 });
  const home = tmp('pip-home');
  const python3 = path.join(bin, 'python3');
  const venv = path.join(home, 'tensorflow', 'pip-2.21.0', 'venv');

  const dry = await cli(['install-tensorflow', '--dry-run', '--gpu', '--python', python3], { env: { TFSLICE_HOME: home, TFSLICE_PIP_ARGS: '--retries 0' } });
  t.equal(dry.code, 0, dry.stderr);
  t.equal(dry.stdout, [
    `${python3} -m venv ${path.join(home, 'tensorflow', 'pip-2.21.0-gpu', 'venv')}`,
    `${path.join(home, 'tensorflow', 'pip-2.21.0-gpu', 'venv', 'bin', 'python3')} -m pip install --retries 0 'tensorflow[and-cuda]==2.21.0'`,
    `record the library in ${path.join(home, 'tensorflow', 'current.json')}`,
    '',
  ].join('\n'));
  t.notOk(fs.existsSync(path.join(home, 'tensorflow')), '--dry-run does nothing');

  const installed = await cli(['install-tensorflow', '--python', python3], { env: { TFSLICE_HOME: home } });
  t.equal(installed.code, 0, installed.stderr);
  t.equal(fs.readFileSync(path.join(venv, 'pip.log'), 'utf8'), 'install tensorflow-cpu==2.21.0\n', 'pip install tensorflow-cpu==<version> in the private venv');
  const library = path.join(venv, 'lib', 'python3', 'site-packages', 'tensorflow', 'libtensorflow_cc.so.2');
  t.match(JSON.parse(fs.readFileSync(path.join(home, 'tensorflow', 'current.json'), 'utf8')), { library, from: 'pip', version: '2.21.0', gpu: false, requirement: 'tensorflow-cpu==2.21.0' });
  t.match(installed.stdout, 'Installed TensorFlow 2.21.0 (pip, CPU)');

  const failed = await cli(['install-tensorflow', '--python', python3, '--version', '2.20.0'], { env: { TFSLICE_HOME: home, FAKE_PIP_FAIL: '1' } });
  t.equal(failed.code, 1);
  t.match(failed.stderr, /ERROR: No matching distribution/, "pip's own output is shown");
  t.match(failed.stderr, /-m pip install tensorflow-cpu==2\.20\.0 failed \(exit 1\)\nFix: check pip can reach its index/);
  const noPython = await cli(['install-tensorflow', '--python', '/nonexistent/python3'], { env: { TFSLICE_HOME: home } });
  t.equal(noPython.code, 1);
  t.match(noPython.stderr, /cannot run \/nonexistent\/python3: .*ENOENT\nFix: install python3 with venv/);
  t.equal(JSON.parse(fs.readFileSync(path.join(home, 'tensorflow', 'current.json'), 'utf8')).version, '2.21.0', 'failures leave the recorded install alone');
});

t.test('SavedModels of every kind: ragged/sparse outputs, the empty tag-set, plug-in ops, shapes TensorFlow would abort on', async (t) => {
  const composite = fixture('composite');
  const shown = await cli(['show', composite.dir]);
  t.match(shown.stdout, /r\s+ragged int64\s+\[-1, -1\]\s+\(its components:\)\n\s+r\.flat_values\s+int64\s+\[-1\]\s+StatefulPartitionedCall(_\d+)?:\d+\n\s+r\.nested_row_splits\.0/, 'show lists a ragged output and its components');
  t.match(shown.stdout, /s\s+sparse float32\s+\[1, -1\]\s+\(its components:\)\n\s+s\.indices\s+int64\s+\[-1, 2\]/, 'and a sparse one');
  const shownJson = json<{ metaGraphs: { signatures: Record<string, unknown> }[] }>(await cli(['show', composite.dir, '--json']));
  t.same(shownJson.metaGraphs[0]!.signatures, composite.golden.signatures, '--json as Python TensorFlow describes them');
  const ran = json<{ outputs: Record<string, { data: unknown }> }>(await cli(['run', composite.dir, '--input', 'lens=[2,0,1]', '--json']));
  t.same(ran.outputs['r.nested_row_splits.0']!.data, ['0', '2', '2', '3'], 'run returns the components');

  const tagless = fixture('tagless').dir;
  const refused = await cli(['run', tagless, '--input', 'words=["b"]']);
  t.match(refused.stderr, /--tags serve: .* has no meta graph with that tag-set; its tag-sets are \[\]; pass one, e.g. --tags ''/, 'without --tags: the error lists the empty tag-set and the flag that selects it');
  const ids = await cli(['run', tagless, '--tags', '', '--input', 'words=["b","zz"]']);
  t.equal(ids.code, 0);
  t.match(ids.stdout, /ids: int64 \[2\]\n\s+\[2, -1\]/, "--tags '' loads it");
  t.match((await cli(['show', tagless, '--tags', ''])).stdout, /tag-set \[\]: 1 signature/);

  const tensorflow = WHEEL;
  const dir = tmp('op');
  const library = path.join(dir, 'add_one.so');
  execFileSync('c++', ['-std=c++17', '-shared', '-fPIC', '-o', library, path.join(ROOT, 'test', 'fixtures', 'custom_op', 'add_one.cc'),
    `-I${path.join(tensorflow, 'include')}`, `-L${tensorflow}`, '-l:libtensorflow_framework.so.2', `-Wl,-rpath,${tensorflow}`]);
  const missing = await cli(['run', fixture('custom_op').dir, '--input', 'x=[1]']);
  t.match(missing.stderr, /uses op 'TfsliceAddOne'.*--op-library/s, 'without the library: the op and the flag');
  const added = await cli(['run', fixture('custom_op').dir, '--op-library', library, '--input', 'x=[1,2]']);
  t.match(added.stdout, /y: float32 \[2\]\n\s+\[2, 3\]/, '--op-library loads it');

  // counter's delta has unknown rank: only TensorFlow's own rules stop these shapes.
  const npy = path.join(dir, 'overflow.npy');
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }";
  const padded = header.padEnd(64 - 10 - 1) + '\n';
  fs.writeFileSync(npy, Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, padded.length, 0]), Buffer.from(padded)]));
  const counter = fixture('counter').dir;
  const overflow = await cli(['run', counter, '--signature', 'incr_counter_by', '--input', `delta=${npy}`]);
  t.not(overflow.code, 0);
  t.match(overflow.stderr, /multiply past 2\^63-1/, 'a .npy shape that overflows int64 is refused');
  const deep = `${'['.repeat(255)}1${']'.repeat(255)}`;
  const tooDeep = await cli(['run', counter, '--signature', 'incr_counter_by', '--input', `delta=${deep}`]);
  t.not(tooDeep.code, 0);
  t.match(tooDeep.stderr, /255 dimensions; TensorFlow allows at most 254/, 'a JSON input of rank 255 is refused');
  t.notMatch(overflow.stderr + tooDeep.stderr, /\n\s+at |Aborted|SIGABRT/, 'no crash, no stack');
});
