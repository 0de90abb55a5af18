#!/usr/bin/env node
// Throughput of a fixture under concurrency: runs/s for `runs` runs of one session, one at
// a time (inflight 1) or with `inflight` in flight, oneDNN custom ops on and off. Every
// configuration runs in its own child process (TF_ENABLE_ONEDNN_OPTS is read once, when
// TensorFlow loads) after `warmup` untimed runs: oneDNN caches its primitives per thread,
// so the first runs on each thread pay for primitive creation. Like concurrency-probe.js,
// it needs a model with one float32 input (--model: a fixture name, or a SavedModel path with
// a /); unknown input dimensions are filled with --batch.
//
//   node scripts/throughput.js [--model conv] [--batch 1,8] [--runs 2000] [--inflight 1,2]
//        [--onednn 1,0] [--warmup 300] [--repeat 1] [--json]
//
// Each row carries the host's load average before it ran; with --repeat N the repeats go
// round all configurations and a summary row per configuration gives the median and best.
'use strict';

const { spawnSync } = require('node:child_process');
const os = require('node:os');

const { args, list, loadFixture, opt, parentOrChild, singleInputFeeds } = require('./probe-common');

parentOrChild('TFSLICE_THROUGHPUT_CHILD', parent, child);

async function child() {
  const model = await loadFixture(opt('model', 'conv'));
  const batch = Number(process.env.TP_BATCH);
  const inflight = Number(process.env.TP_INFLIGHT);
  const runs = Number(opt('runs', 2000));
  const feeds = singleInputFeeds(model, batch);
  for (let i = 0; i < Number(opt('warmup', 300)); i++) await model.run(feeds);
  let next = 0;
  async function lane() {
    while (next < runs) {
      next++;
      await model.run(feeds);
    }
  }
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inflight }, lane));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ seconds }));
  process.exit(0);
}

function parent() {
  const rows = [];
  const json = args.includes('--json');
  // Repeats go round all configurations, so a burst of load from elsewhere hits them alike.
  for (let rep = 0; rep < Number(opt('repeat', 1)); rep++) {
    for (const batch of list('batch', '1,8')) {
      for (const onednn of list('onednn', '1,0')) {
        for (const inflight of list('inflight', '1,2')) {
          const env = {
            ...process.env,
            TFSLICE_THROUGHPUT_CHILD: '1',
            TF_ENABLE_ONEDNN_OPTS: onednn,
            TP_BATCH: batch,
            TP_INFLIGHT: inflight,
            UV_THREADPOOL_SIZE: String(Math.max(4, Number(inflight))),
          };
          // The host's 1-minute load average before the run: other work on the cores skews runs/s.
          const load = Number(os.loadavg()[0].toFixed(2));
          const r = spawnSync(process.execPath, [__filename, ...args], { env, encoding: 'utf8' });
          const runs = Number(opt('runs', 2000));
          const row = { model: opt('model', 'conv'), batch: Number(batch), onednn: Number(onednn), inflight: Number(inflight), runs, load };
          if (r.status === 0) {
            const { seconds } = JSON.parse(r.stdout);
            Object.assign(row, { seconds: Number(seconds.toFixed(3)), runsPerSecond: Number((runs / seconds).toFixed(1)) });
          } else {
            Object.assign(row, { error: r.signal ?? `exit ${r.status}`, stderr: r.stderr.slice(-500) });
          }
          rows.push(row);
          console.log(json ? JSON.stringify(row) : row);
        }
      }
    }
  }
  if (Number(opt('repeat', 1)) > 1) summarize(rows, json);
}

// Median and best runs/s per configuration over the repeats (best: least disturbed by other load).
function summarize(rows, json) {
  const groups = new Map();
  for (const row of rows) {
    if (row.runsPerSecond === undefined) continue;
    const key = `${row.batch}/${row.onednn}/${row.inflight}`;
    if (!groups.has(key)) groups.set(key, { model: row.model, batch: row.batch, onednn: row.onednn, inflight: row.inflight, rates: [] });
    groups.get(key).rates.push(row.runsPerSecond);
  }
  for (const g of groups.values()) {
    const sorted = [...g.rates].sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    const summary = { summary: true, model: g.model, batch: g.batch, onednn: g.onednn, inflight: g.inflight, n: sorted.length, median, best: sorted[sorted.length - 1] };
    console.log(json ? JSON.stringify(summary) : summary);
  }
}
