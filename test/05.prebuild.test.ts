// What the published package supports and contains: the Node / N-API range, the npm
// tarball's files whitelist, and what the linux-x64 prebuild needs from the host (read
// from its symbol versions; package.json and README must state the same).
// The install itself, from the tarball with no compiler, is scripts/consumer-test.js (.ci/run).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { ROOT } from './helpers';

interface PrebuildInfo {
  PREBUILD: string;
  requirements(file: string): { glibc: string | null; glibcxx: string | null };
  declared(): { glibc: string; glibcxx: string };
  compareVersions(a: string, b: string): number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const info = require('../scripts/prebuild-info.js') as PrebuildInfo;

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  binary: { napi_versions: number[] };
  files: string[];
  scripts: Record<string, string>;
};
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The declaration files a consumer can reach: those of 'tfslice' and 'tfslice/serve', and what they import, transitively. */
function publicTypes(): string[] {
  const seen = new Set<string>();
  const queue = ['types/index.d.ts', 'types/serve/index.d.ts'];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const match of fs.readFileSync(path.join(ROOT, file), 'utf8').matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) {
      const target = path.posix.join(path.posix.dirname(file), match[1]!);
      queue.push(fs.existsSync(path.join(ROOT, `${target}.d.ts`)) ? `${target}.d.ts` : `${target}/index.d.ts`);
    }
  }
  return [...seen].sort();
}

t.test('the supported Node.js and N-API range', async (t) => {
  const min = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
  t.ok(min, `engines.node is a lower bound (${pkg.engines.node})`);
  t.ok(info.compareVersions(process.versions.node, min!) >= 0, `this Node ${process.versions.node} is in range`);
  t.same(pkg.binary.napi_versions, [8], 'package.json declares N-API 8');
  t.ok(Number(process.versions.napi) >= 8, `this Node offers N-API ${process.versions.napi}`);
  t.match(fs.readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8'), /'NAPI_VERSION=8'/, 'node-gyp builds against N-API 8');
  t.match(fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8'), /NAPI_VERSION=8/, 'cmake-js builds against N-API 8');
  t.match(README, new RegExp(`Node\\.js ≥ ${min!.replace(/\./g, '\\.')}`), 'README states the Node range');
  t.match(README, /N-API 8/, 'README states the N-API version');
});

t.test('npm pack ships the runtime, the types, the prebuild and the sources, nothing else', async (t) => {
  // --ignore-scripts: list what is here now; prepack (scripts/check-prebuild.js) is not the subject.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
  const under = (dir: string, ext: string) => (fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[])
    .filter((f) => f.endsWith(ext)).map((f) => `${dir}/${f}`);
  const dist = under('dist', '.js');
  const types = publicTypes();
  const native = fs.readdirSync(path.join(ROOT, 'native')).map((f) => `native/${f}`);
  for (const f of ['package.json', 'README.md', 'binding.gyp', 'CMakeLists.txt', 'bin/tfslice.js', ...dist, ...types, ...native]) {
    t.ok(files.includes(f), `ships ${f}`);
  }
  if (fs.existsSync(info.PREBUILD)) t.ok(files.includes(path.relative(ROOT, info.PREBUILD)), 'ships the prebuild');
  const allowed = /^(package\.json|README\.md|binding\.gyp|CMakeLists\.txt|bin\/tfslice\.js|dist\/((cli|manager|serve)\/)?[^/]+\.js|types\/((manager|serve)\/)?[^/]+\.d\.ts|native\/[^/]+|proto\/[^/]+\.proto|prebuilds\/[^/]+\/[^/]+\.node)$/;
  t.same(files.filter((f) => !allowed.test(f)), [], 'nothing outside the whitelist (no tests, fixtures, scripts, maps, venv, builds)');
  t.same(files.filter((f) => f.startsWith('types/')), types, 'the declarations index.d.ts reaches, and no internal ones');
  t.equal(pkg.scripts.install, 'node-gyp-build', 'install uses a matching prebuild, else builds from source');
});

t.test("README's numbers about the package are npm pack's (within 20 %)", async (t) => {
  if (!fs.existsSync(info.PREBUILD)) {
    t.pass(`no ${path.relative(ROOT, info.PREBUILD)}: the numbers are for the package with its prebuild (.ci/run builds it first)`, { skip: true });
    return;
  }
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const pack = (JSON.parse(out) as { size: number; unpackedSize: number; entryCount: number }[])[0]!;
  const stated = /\(about (\d+) KiB, stripped\)[\s\S]*?: (\d+) files, about (\d+) KiB packed, (\d+) KiB\s+unpacked/.exec(README);
  t.ok(stated, 'README states the prebuild size, the file count and the packed and unpacked sizes');
  const [prebuild, count, packed, unpacked] = stated!.slice(1).map(Number) as [number, number, number, number];
  const near = (actual: number, said: number) => Math.abs(actual - said) <= said * 0.2;
  const kib = (bytes: number) => Math.round(bytes / 1024);
  t.ok(near(kib(fs.statSync(info.PREBUILD).size), prebuild), `prebuild ${kib(fs.statSync(info.PREBUILD).size)} KiB, README says about ${prebuild}`);
  t.equal(pack.entryCount, count, `${pack.entryCount} files`);
  t.ok(near(kib(pack.size), packed), `packed ${kib(pack.size)} KiB, README says about ${packed}`);
  t.ok(near(kib(pack.unpackedSize), unpacked), `unpacked ${kib(pack.unpackedSize)} KiB, README says about ${unpacked}`);
});

t.test('the linux-x64 prebuild needs what package.json and README state', async (t) => {
  if (!fs.existsSync(info.PREBUILD)) {
    t.pass(`no ${path.relative(ROOT, info.PREBUILD)} (npm run prebuild; .ci/run builds it before the tests)`, { skip: true });
    return;
  }
  const needs = info.requirements(info.PREBUILD);
  const stated = info.declared();
  t.equal(needs.glibc, stated.glibc, `the prebuild needs GLIBC_${needs.glibc}, package.json states ${stated.glibc}`);
  t.equal(needs.glibcxx, stated.glibcxx, `the prebuild needs GLIBCXX_${needs.glibcxx}, package.json states ${stated.glibcxx}`);
  t.match(README, new RegExp(`glibc ≥ ${stated.glibc.replace(/\./g, '\\.')}\\b`), 'README states the glibc');
  t.match(README, new RegExp(`GLIBCXX_${stated.glibcxx.replace(/\./g, '\\.')}\\b`), 'README states the libstdc++');
  const dynamic = execFileSync('readelf', ['-d', info.PREBUILD], { encoding: 'utf8' });
  t.notMatch(dynamic, /tensorflow/i, 'links nothing from TensorFlow');
  t.notMatch(execFileSync('readelf', ['-S', '-W', info.PREBUILD], { encoding: 'utf8' }), /\.debug_|\.symtab/, 'is stripped');
  // It loads in this Node without TensorFlow, and exports the addon's functions.
  const exported = execFileSync(process.execPath, ['-p', `Object.getOwnPropertyNames(require(${JSON.stringify(info.PREBUILD)})).sort().join(' ')`], {
    encoding: 'utf8', env: { PATH: process.env.PATH },
  });
  t.match(exported, /loadLibrary/, `loads: ${exported.trim()}`);
});
