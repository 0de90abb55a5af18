// The shipped prebuild and what it needs from the host, read from the binary itself:
// the highest GLIBC_ and GLIBCXX_ symbol versions in its ELF version-needs section
// (readelf -V). Used by `npm pack` (scripts/check-prebuild.js) and test/05.prebuild.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
/** What `npm run prebuild` writes (prebuildify --napi --tag-libc) and the tarball ships. */
const PREBUILD = path.join(ROOT, 'prebuilds', 'linux-x64', 'tfslice.glibc.node');

function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** { glibc: '2.34', glibcxx: '3.4.30' }: the newest version of each the file asks for (null: none). */
function requirements(file) {
  const out = execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8' });
  const needs = out.slice(out.indexOf('.gnu.version_r'));
  const newest = (prefix) => [...needs.matchAll(new RegExp(`Name: ${prefix}_([0-9.]+)`, 'g'))]
    .map((m) => m[1]).sort(compareVersions).pop() ?? null;
  return { glibc: newest('GLIBC'), glibcxx: newest('GLIBCXX') };
}

/** What package.json declares for the linux-x64 prebuild (binary.prebuilds). */
function declared() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  return pkg.binary.prebuilds['linux-x64'];
}

module.exports = { ROOT, PREBUILD, compareVersions, requirements, declared };
