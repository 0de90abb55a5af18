#!/usr/bin/env node
// The tests whose outcome could depend on the host's CPU, run once with TensorFlow's
// oneDNN kernels forced off and once forced on (TF_ENABLE_ONEDNN_OPTS, read when TensorFlow
// loads, inherited by model hosts). TensorFlow 2.21 turns oneDNN on by itself on
// AVX512-VNNI/BF16 and AMX CPUs and leaves it off on AVX2 ones; oneDNN changes float
// rounding, the default maxConcurrentRuns and kernel speed. So whichever kind this host is,
// both kinds of run happen here. Each pass ends with tap's summary; the exit code is the
// first failing pass's.
//
// test/timing/72 (run limits) is not here: its file runs both states itself, side by side, in
// npm test.
//
//   node scripts/test-isa.js [--onednn 0|1]   one pass only (CI runs `npm test` with oneDNN
//                                             forced off, then only the forced-on pass here)
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const files = ['30.model', '50.tensors', '55.batching', '70.robustness', '95.isolation', 'timing/40.eventloop'].map((name) => `test/${name}.test.ts`);
// Two at a time (tap --jobs 2, as npm test), then those whose assertions are about time
// (package.json's tap.serial, test/timing/: the event loop's delay, when a run was dropped) alone.
const serial = require('../package.json').tap.serial;
const isSerial = (file) => serial.some((entry) => file === entry || file.startsWith(`${entry}/`));
const groups = [files.filter((file) => !isSerial(file)), files.filter(isSerial)];
const tap = path.join(root, 'node_modules', '.bin', 'tap');

const at = process.argv.indexOf('--onednn');
const only = at >= 0 ? process.argv[at + 1] : undefined;
if (at >= 0 && only !== '0' && only !== '1') {
  process.stderr.write(`test-isa: --onednn takes 0 or 1, not ${only ?? 'nothing'}\n`);
  process.exit(2);
}

let status = 0;
for (const oneDnn of only === undefined ? ['0', '1'] : [only]) {
  for (const [i, group] of groups.entries()) {
    process.stdout.write(`# TF_ENABLE_ONEDNN_OPTS=${oneDnn}: ${group.join(' ')}\n`);
    const started = Date.now();
    const result = spawnSync(tap, ['--disable-coverage', '--jobs', i === 0 ? '2' : '1', ...group], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, TF_ENABLE_ONEDNN_OPTS: oneDnn },
    });
    // A failing group's failed assertions, now: the next group's tap run replaces the results
    // they are read from.
    if (result.status !== 0) spawnSync(process.execPath, [path.join(__dirname, 'tap-failures.js'), '--since', String(started)], { cwd: root, stdio: 'inherit' });
    if (status === 0) status = result.status ?? 1;
  }
}
process.exit(status);
