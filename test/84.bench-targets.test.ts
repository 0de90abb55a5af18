// bench/targets.js: which targets of the issue "Performance on an AVX512 host" one `npm run bench`
// run meets, judged from its summary rows (no benchmark runs here: the rows are made up).
import t from 'tap';

const { evaluate, report } = require('../bench/targets.js') as {
  evaluate: (summary: Record<string, Row>, context: { floors: Record<string, string>; copyUs?: number }) => Target[];
  report: (targets: Target[]) => string;
};

interface Row { p50_us: number; calls_per_s: number; load_ms: number }
interface Target { target: string; measured: string; met: boolean }

const FLOORS = { tiny: 'c', mlp: 'c', big_io: 'c-nocopy' };
const row = (p50: number, callsPerS = 1e6 / p50, loadMs = 50): Row => ({ p50_us: p50, calls_per_s: callsPerS, load_ms: loadMs });

// A run where every target holds.
function passing(): Record<string, Row> {
  return {
    'tiny|tf-default|c': row(20), 'tiny|tf-default|tfslice-sync': row(22), 'tiny|tf-default|tfslice-async': row(25, 40000),
    'tiny|tf-default|tfslice-async-2': row(30, 70000), 'tiny|tf-default|tfjs-node': row(40), 'tiny|tf-default|python-tf1': row(100),
    'tiny|inline|c': row(5), 'tiny|inline|tfslice-sync': row(6), 'tiny|inline|tfslice-async': row(15, 50000),
    'tiny|inline|tfslice-async-2': row(18, 90000), 'tiny|inline|python-tf1': row(50),
    'mlp|inline|c': row(600), 'mlp|inline|tfslice-async': row(620),
    'big_io|inline|c-nocopy': row(90), 'big_io|inline|c': row(400), 'big_io|inline|tfslice-async': row(250),
    'big_io|inline|tfslice-isolated': row(400, 2000), 'big_io|inline|tfslice-isolated-2': row(500, 2100),
  };
}

const byTarget = (targets: Target[]) => Object.fromEntries(targets.map((x) => [x.target, x]));

t.test('a run that meets every target says so, target by target, with what it measured', async (t) => {
  const targets = evaluate(passing(), { floors: FLOORS, copyUs: 90 });
  t.ok(targets.length >= 9, 'each target with rows in the run');
  t.ok(targets.every((x) => x.met), report(targets));
  const got = byTarget(targets);
  t.match(got['tiny inline: 2 in flight ≥ 1.6 × single flight']!.measured, '1.80 × (90000 vs 50000 calls/s)');
  t.match(got['big_io isolated ≤ in-process + one 4 MiB copy each way']!.measured, '400.0 µs vs 250.0 + 2 × 90.0 = 430.0');
  t.match(got['tiny: runSync ≤ 1.3 × C']!.measured, 'tiny inline 1.20 × (6.0 vs 5.0 µs)');
  t.match(report(targets), /^Targets \(issue "Performance on an AVX512 host"\):\n- met: /);
});

t.test('each target missed on its own', async (t) => {
  const cases: [string, (s: Record<string, Row>) => void, string][] = [
    ['every row: tfslice-async at or below tfjs-node and Python TF1/TF2', (s) => { s['tiny|tf-default|tfjs-node'] = row(24); }, 'tiny tf-default 25.0 µs vs tfjs-node 24.0'],
    ['tiny tf-default: tfslice-async ≤ 2.5 × C', (s) => { s['tiny|tf-default|tfslice-async'] = row(51, 40000); s['tiny|tf-default|tfjs-node'] = row(60); }, '2.55 ×'],
    ['tiny inline: 2 in flight ≥ 1.6 × single flight', (s) => { s['tiny|inline|tfslice-async-2'] = row(18, 79000); }, '1.58 ×'],
    ['tiny: 2 in flight never below single flight', (s) => { s['tiny|tf-default|tfslice-async-2'] = row(30, 39000); }, 'tiny tf-default 0.97 ×'],
    ['mlp b32: tfslice-async ≤ 1.08 × C', (s) => { s['mlp|inline|tfslice-async'] = row(660); }, '1.10 ×'],
    ['tiny: runSync ≤ 1.3 × C', (s) => { s['tiny|inline|tfslice-sync'] = row(6.6); }, '1.32 ×'],
    ['big_io isolated ≤ in-process + one 4 MiB copy each way', (s) => { s['big_io|inline|tfslice-isolated'] = row(431, 2000); }, '= 430.0'],
    ['big_io isolated: 2 in flight ≥ 1 in flight', (s) => { s['big_io|inline|tfslice-isolated-2'] = row(500, 1990); }, '0.99 ×'],
    ['load ≤ 1.3 × C', (s) => { s['mlp|inline|tfslice-async'] = row(620, undefined, 66); }, 'mlp inline 1.32 ×'],
  ];
  for (const [name, spoil, measured] of cases) {
    const summary = passing();
    spoil(summary);
    const targets = evaluate(summary, { floors: FLOORS, copyUs: 90 });
    const missed = targets.filter((x) => !x.met);
    t.same(missed.map((x) => x.target), [name], name);
    t.match(missed[0]?.measured ?? '', measured);
    t.match(report(targets), `- MISSED: ${name}: `);
  }
});

t.test('targets whose rows did not run are left out, not counted as met', async (t) => {
  const tinyOnly = Object.fromEntries(Object.entries(passing()).filter(([key]) => key.startsWith('tiny|')));
  const names = evaluate(tinyOnly, { floors: FLOORS }).map((x) => x.target);
  t.notOk(names.some((n) => n.startsWith('mlp') || n.startsWith('big_io')), names.join(', '));
  t.notOk(evaluate(passing(), { floors: FLOORS }).some((x) => x.target.startsWith('big_io isolated ≤')), 'no copy measured: no copy budget');
  const noPeers = passing();
  for (const key of Object.keys(noPeers)) if (/tfjs-node|python/.test(key)) delete noPeers[key];
  t.notOk(evaluate(noPeers, { floors: FLOORS }).some((x) => x.target.startsWith('every row')), 'no peer ran');
});
