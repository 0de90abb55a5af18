// README.md's code, as a reader copies it: every ts/js block is type-checked against the
// shipped declarations and run from the repository root, every JSON block that is a
// ModelManager config is validated by ModelManager. A block preceded by
// `<!-- readme-test: skip (why) -->` is left out, with its reason in the test output.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import * as ts from 'typescript';

import * as library from '../lib/index';
import { ModelManager } from '../lib/index';
import * as serve from '../lib/serve/index';
import { ROOT } from './helpers';

interface Block {
  lang: string;
  code: string;
  line: number;
  skip: string | null;
}

/** Fenced blocks, indented ones (in lists) too, with the language of their fence. */
function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && lines[j]!.trim() !== '```'; j++) body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const skip = k >= 0 ? /<!--\s*readme-test:\s*skip\s*(.*?)\s*-->/.exec(lines[k]!)?.[1] ?? null : null;
    found.push({ lang: open[2]!, code: body.join('\n'), line: i + 1, skip });
    i = j;
  }
  return found;
}

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const all = blocks(README);
const code = all.filter((b) => ['ts', 'typescript', 'js', 'javascript'].includes(b.lang));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfslice-readme-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The block as a program: its imports first, the rest inside an async main() (the README uses top-level await). */
function program(block: Block): string {
  const lines = block.code.split('\n');
  const imports = lines.filter((l) => /^import\s/.test(l));
  const body = lines.filter((l) => !/^import\s/.test(l));
  return [...imports, 'export {};', 'async function main(): Promise<void> {', ...body.map((l) => `  ${l}`), '}', 'void main().catch((error: unknown) => {', '  console.error(error);', '  process.exitCode = 1;', '});', ''].join('\n');
}

t.test('README has code to check', async (t) => {
  t.ok(code.length >= 4, `${code.length} ts/js blocks`);
  t.ok(all.some((b) => b.lang === 'json'), 'and JSON config blocks');
});

t.test('every TypeScript block type-checks against the shipped declarations (types/index.d.ts as "tfslice")', async (t) => {
  const tsBlocks = code.filter((b) => b.lang.startsWith('t') && !b.skip);
  const files = tsBlocks.map((b) => {
    const file = path.join(dir, `check-${b.line}.ts`);
    fs.writeFileSync(file, program(b));
    return file;
  });
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'commonjs', moduleResolution: 'node', skipLibCheck: true,
      types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      baseUrl: dir,
      // 'tfslice' and 'tfslice/serve' as shipped; other packages (fastify) from this repository's node_modules, as a user's own.
      paths: { 'tfslice': [path.join(ROOT, 'types', 'index.d.ts')], 'tfslice/serve': [path.join(ROOT, 'types', 'serve', 'index.d.ts')], '*': [path.join(ROOT, 'node_modules', '*')] },
    },
    files,
  }));
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
  const lineOf = (file: string) => tsBlocks[files.indexOf(file)]?.line;
  const report = tsc.stdout.replace(/(\S+check-\d+\.ts)\((\d+),\d+\)/g, (_, file: string, n: string) => `README.md block at line ${lineOf(file)} (its line ${Number(n) - 2})`);
  t.equal(tsc.status, 0, report || `${files.length} blocks type-check`);
});

for (const block of code) {
  t.test(`README.md block at line ${block.line} runs`, async (t) => {
    if (block.skip) {
      t.pass(`marked not runnable: ${block.skip}`, { skip: true });
      return;
    }
    const source = block.lang.startsWith('t') ? program(block) : `(async () => {\n${block.code}\n})();\n`;
    let js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    // Inside the repository 'tfslice' is this package (its exports, dist/index.js).
    js = js.replace(/require\((["'])tfslice\1\)/g, `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})`);
    js = js.replace(/require\((["'])tfslice\/serve\1\)/g, `require(${JSON.stringify(path.join(ROOT, 'dist', 'serve', 'index.js'))})`);
    const file = path.join(dir, `run-${block.line}.js`);
    fs.writeFileSync(file, js);
    const run = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '', NODE_PATH: path.join(ROOT, 'node_modules') } });
    t.equal(run.status, 0, `exit 0 (stderr: ${run.stderr.trim().slice(-2000) || 'none'})`);
    t.notMatch(run.stderr, /Error|Warning: /, 'nothing on stderr but what TensorFlow itself may print');
    t.ok(run.stdout.trim().length > 0, `it printed: ${run.stdout.trim().replace(/\s+/g, ' ').slice(0, 300)}`);
  });
}

t.test('every JSON block that is a ModelManager config is one', async (t) => {
  const configs = all.filter((b) => b.lang === 'json').map((b) => ({ b, value: JSON.parse(b.code) as Record<string, unknown> })).filter(({ value }) => 'models' in value);
  t.ok(configs.length > 0, 'README shows a JSON config');
  for (const { b, value } of configs) t.doesNotThrow(() => new ModelManager(value as never), `block at line ${b.line} is a valid ModelManager config`);
});

t.test('every export of tfslice and tfslice/serve is named in README, as code', async (t) => {
  // The README's code: its blocks, and its inline spans outside them.
  const spans = README.split(/^\s*```.*$/m).filter((_, i) => i % 2 === 0).join('\n').match(/`[^`]+`/g) ?? []; // (a span may wrap)
  const asCode = [...all.map((block) => block.code), ...spans].join('\n');
  for (const [entry, module] of [['tfslice', library], ['tfslice/serve', serve]] as const) {
    const names = Object.keys(module).filter((name) => name !== 'default' && name !== '__esModule');
    t.ok(names.length > 10, `${entry}: ${names.length} exports`);
    const absent = names.filter((name) => !new RegExp(`\\b${name}\\b`).test(asCode));
    t.same(absent, [], `${entry}: each appears in a code span or block`);
  }
});
