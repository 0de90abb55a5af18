// The targets of the issue "Performance on an AVX512 host" (#18), judged from one
// `npm run bench` run's summary (bench/run.js), so that a run says by itself which hold:
//
// - every row: tfslice-async at or below tfjs-node and Python TF1/TF2 (same model, same options);
// - tiny with an inter-op pool (tf-default): tfslice-async ≤ 2.5 × C;
// - tiny inline, 2 in flight ≥ 1.6 × single flight; never below 1 × (tiny, both option sets);
// - mlp b32: tfslice-async ≤ 1.08 × C; runSync ≤ 1.3 × C on tiny (both option sets);
// - isolated big tensors: ≤ in-process + one 4 MiB copy each way, the copy measured as a warm
//   Buffer.copy on the same host in the same run (`copyUs`); 2 in flight ≥ 1 in flight;
// - load ≤ 1.3 × C.
//
// Each returns { target, measured, met }; a target whose rows did not run (--only, no tfjs-node)
// is left out. Ratios are p50 to p50 and calls/s to calls/s, as in the table.
'use strict';

const PEERS = ['tfjs-node', 'python-tf1', 'python-tf2'];

function r2(x) {
  return x.toFixed(2);
}

function us(x) {
  return x >= 1000 ? x.toFixed(0) : x.toFixed(1);
}

/**
 * @param {Record<string, {p50_us: number, calls_per_s: number, load_ms: number}>} summary rows by
 *   `model|options|contender`
 * @param {{ floors: Record<string, string>, copyUs?: number }} context each model's floor
 *   contender (`c`, `c-nocopy` for big_io), and a warm 4 MiB copy's p50 in µs
 * @returns {{ target: string, measured: string, met: boolean }[]}
 */
function evaluate(summary, context) {
  const row = (model, options, contender) => summary[`${model}|${options}|${contender}`];
  const cells = Object.keys(summary).map((key) => key.split('|'));
  const pairs = [...new Set(cells.map(([model, options]) => `${model}|${options}`))].map((p) => p.split('|'));
  const out = [];
  const add = (target, parts) => {
    const measured = parts.filter(Boolean);
    if (measured.length === 0) return;
    out.push({ target, measured: measured.map((p) => p.text).join('; '), met: measured.every((p) => p.met) });
  };

  add('every row: tfslice-async at or below tfjs-node and Python TF1/TF2', pairs.map(([model, options]) => {
    const ours = row(model, options, 'tfslice-async');
    const peers = PEERS.map((name) => [name, row(model, options, name)]).filter(([, s]) => s);
    if (!ours || peers.length === 0) return null;
    const [bestName, best] = peers.reduce((a, b) => (b[1].p50_us < a[1].p50_us ? b : a));
    return { text: `${model} ${options} ${us(ours.p50_us)} µs vs ${bestName} ${us(best.p50_us)}`, met: ours.p50_us <= best.p50_us };
  }));

  const ratioToFloor = (model, options, contender, limit) => {
    const s = row(model, options, contender);
    const floor = row(model, options, context.floors[model] ?? 'c');
    if (!s || !floor) return null;
    const ratio = s.p50_us / floor.p50_us;
    return { text: `${model} ${options} ${r2(ratio)} × (${us(s.p50_us)} vs ${us(floor.p50_us)} µs)`, met: ratio <= limit };
  };
  add('tiny tf-default: tfslice-async ≤ 2.5 × C', [ratioToFloor('tiny', 'tf-default', 'tfslice-async', 2.5)]);

  const inFlight = (model, options, one, two, limit) => {
    const a = row(model, options, one);
    const b = row(model, options, two);
    if (!a || !b) return null;
    const ratio = b.calls_per_s / a.calls_per_s;
    return { text: `${model} ${options} ${r2(ratio)} × (${b.calls_per_s.toFixed(0)} vs ${a.calls_per_s.toFixed(0)} calls/s)`, met: ratio >= limit };
  };
  add('tiny inline: 2 in flight ≥ 1.6 × single flight', [inFlight('tiny', 'inline', 'tfslice-async', 'tfslice-async-2', 1.6)]);
  add('tiny: 2 in flight never below single flight', ['inline', 'tf-default'].map((o) => inFlight('tiny', o, 'tfslice-async', 'tfslice-async-2', 1)));
  add('mlp b32: tfslice-async ≤ 1.08 × C', ['inline', 'tf-default'].map((o) => ratioToFloor('mlp', o, 'tfslice-async', 1.08)));
  add('tiny: runSync ≤ 1.3 × C', ['inline', 'tf-default'].map((o) => ratioToFloor('tiny', o, 'tfslice-sync', 1.3)));

  if (context.copyUs !== undefined) {
    add('big_io isolated ≤ in-process + one 4 MiB copy each way', ['inline', 'tf-default'].map((o) => {
      const isolated = row('big_io', o, 'tfslice-isolated');
      const local = row('big_io', o, 'tfslice-async');
      if (!isolated || !local) return null;
      const budget = local.p50_us + 2 * context.copyUs;
      return { text: `${o} ${us(isolated.p50_us)} µs vs ${us(local.p50_us)} + 2 × ${us(context.copyUs)} = ${us(budget)}`, met: isolated.p50_us <= budget };
    }));
  }
  add('big_io isolated: 2 in flight ≥ 1 in flight', ['inline', 'tf-default'].map((o) => inFlight('big_io', o, 'tfslice-isolated', 'tfslice-isolated-2', 1)));

  add('load ≤ 1.3 × C', pairs.map(([model, options]) => {
    const ours = row(model, options, 'tfslice-async');
    const floor = row(model, options, 'c');
    if (!ours || !floor) return null;
    const ratio = ours.load_ms / floor.load_ms;
    return { text: `${model} ${options} ${r2(ratio)} ×`, met: ratio <= 1.3 };
  }));
  return out;
}

/** The targets as lines of text: each met or missed, with what was measured. */
function report(targets) {
  return ['Targets (issue "Performance on an AVX512 host"):', ...targets.map((t) => `- ${t.met ? 'met' : 'MISSED'}: ${t.target}: ${t.measured}`)].join('\n');
}

module.exports = { evaluate, report };
