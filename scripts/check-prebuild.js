#!/usr/bin/env node
// prepack: refuse to pack a tarball whose linux-x64 prebuild is missing, older than
// the native sources, or needs another glibc/libstdc++ than package.json declares.
// TFSLICE_PACK_WITHOUT_PREBUILD=1 packs anyway (installs then build from source).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { ROOT, PREBUILD, requirements, declared } = require('./prebuild-info');

function fail(message) {
  console.error(`prepack: ${message}`);
  process.exit(1);
}

if (process.env.TFSLICE_PACK_WITHOUT_PREBUILD === '1') {
  console.error('prepack: TFSLICE_PACK_WITHOUT_PREBUILD=1: packing without checking prebuilds/');
  process.exit(0);
}
const rel = path.relative(ROOT, PREBUILD);
if (!fs.existsSync(PREBUILD)) fail(`${rel} is missing: run \`npm run prebuild\` first`);

const built = fs.statSync(PREBUILD).mtimeMs;
const sources = ['binding.gyp', ...fs.readdirSync(path.join(ROOT, 'native')).map((f) => path.join('native', f))];
const newer = sources.filter((f) => fs.statSync(path.join(ROOT, f)).mtimeMs > built);
if (newer.length > 0) fail(`${rel} is older than ${newer.join(', ')}: run \`npm run prebuild\` again`);

const needs = requirements(PREBUILD);
const stated = declared();
if (needs.glibc !== stated.glibc || needs.glibcxx !== stated.glibcxx) {
  fail(`${rel} needs GLIBC_${needs.glibc} and GLIBCXX_${needs.glibcxx}, but package.json ` +
    `(binary.prebuilds.linux-x64) states ${stated.glibc} and ${stated.glibcxx}: update it and README "Supported hosts"`);
}
console.error(`prepack: ${rel} (needs glibc ${needs.glibc}, libstdc++ GLIBCXX_${needs.glibcxx})`);
