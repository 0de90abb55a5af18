#!/usr/bin/env node
// How long run() spends on the event loop turning plain values (numbers, bigints, digit strings,
// booleans) into a tensor: lib/values.ts's tensorFromValue, 1M elements per dtype, best of 5.
// A typed array of the input's dtype skips this. `node bench/values.js` after `npx tsc -p .`.
'use strict';

const { tensorFromValue } = require('../dist/values');

const n = 1_000_000;
const ints = Array.from({ length: n }, (_, i) => i);
const cases = [
  ['float32', 'numbers', ints.map((i) => i * 0.5)],
  ['float16', 'numbers', ints.map((i) => i * 0.5)],
  ['bfloat16', 'numbers', ints.map((i) => i * 0.5)],
  ['int32', 'numbers', ints],
  ['int64', 'numbers', ints],
  ['int64', 'bigints', ints.map(BigInt)],
  ['int64', 'digit strings', ints.map(String)],
  ['bool', 'booleans', ints.map((i) => i % 2 === 0)],
];
for (const [dtype, what, values] of cases) {
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    tensorFromValue(values, { dtype, shape: [-1] }, "feed 'x'");
    best = Math.min(best, performance.now() - start);
  }
  console.log(`${dtype.padEnd(8)} from ${n} ${what.padEnd(13)} ${best.toFixed(1).padStart(7)} ms (${(best * 1e6 / n).toFixed(0)} ns an element)`);
}
