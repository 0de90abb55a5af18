#!/usr/bin/env node
// The failed assertions of the last tap run, read back from the results tap keeps per test file
// (.tap/test-results/**/*.tap), each with its subtest path and its diagnostic block. .ci/run prints
// them after a failing run, so that the end of CI's output, which is what a CI summary shows,
// names the failures (a run of thousands of tests otherwise ends with tap's counts and the time).
//
//   node scripts/tap-failures.js [--since MS] [results dir]
//     prints nothing and exits 0 when none failed; --since: only result files written from that
//     time on (ms since the epoch), for a run of some files (tap keeps the other files' results)
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const sinceAt = args.indexOf('--since');
const since = sinceAt >= 0 ? Number(args.splice(sinceAt, 2)[1]) : 0;
if (!Number.isFinite(since)) {
  process.stderr.write('tap-failures: --since takes a time in ms since the epoch\n');
  process.exit(2);
}
const root = path.resolve(args[0] ?? path.join(__dirname, '..', '.tap', 'test-results'));
const MAX_LINES = 400; // of the whole report: a run where everything failed stays readable
const BLOCK_LINES = 24; // of one diagnostic block

function files(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.tap') ? [path.join(dir, e.name)] : []));
}

const out = [];
for (const file of files(root).sort().filter((f) => fs.statSync(f).mtimeMs >= since)) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  // The subtests open at each depth ("# Subtest: name", indented 4 spaces a level).
  const open = [];
  const reported = []; // per depth: a failure was reported inside the subtest open there
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const subtest = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (subtest) {
      const depth = subtest[1].length / 4;
      open.length = depth;
      open[depth] = subtest[2];
      reported.length = depth;
      reported[depth] = false;
      continue;
    }
    const failed = /^(\s*)not ok \d+ - (.*?)(?: # time=.*)?$/.exec(line);
    if (!failed) continue;
    const depth = failed[1].length / 4;
    // The line that ends a failed subtest: the assertions that failed in it are reported, unless
    // none was (a spawned test that crashed or timed out: its block says the signal, exit code).
    if (open[depth] === failed[2] && reported[depth]) continue;
    for (let d = 0; d <= depth; d++) reported[d] = true;
    out.push(`${path.relative(root, file).replace(/\.tap$/, '')}: ${[...open.slice(0, depth), failed[2]].filter(Boolean).join(' > ')}`);
    if (!/^\s*---$/.test(lines[i + 1] ?? '')) continue;
    // Its diagnostic block (YAML), but for where it is in the source (at, stack, source).
    const block = [];
    const base = /^\s*/.exec(lines[i + 2] ?? '')[0].length;
    let skipping = false;
    for (let j = i + 2; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]); j++) {
      const indent = /^\s*/.exec(lines[j])[0].length;
      if (indent === base) skipping = /^\s*(at|stack|source):/.test(lines[j]);
      if (!skipping) block.push(`    ${lines[j].slice(Math.min(indent, base))}`);
    }
    out.push(...block.slice(0, BLOCK_LINES));
    if (block.length > BLOCK_LINES) out.push('    (cut)');
  }
}
if (out.length > 0) {
  process.stdout.write(`\nfailed (from ${path.relative(process.cwd(), root) || root}):\n${out.slice(0, MAX_LINES).join('\n')}\n`);
  if (out.length > MAX_LINES) process.stdout.write(`... ${out.length - MAX_LINES} more lines\n`);
}
