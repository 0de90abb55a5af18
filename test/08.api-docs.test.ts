// Every public declaration has a TSDoc comment: what each package entry point exports (tfslice,
// tfslice/serve), and every public member of the classes, interfaces and object types among
// them, read from the published declarations (types/) with TypeScript's own checker, as an
// editor shows them on hover.
import * as path from 'node:path';
import t from 'tap';
import ts from 'typescript';

import { ROOT } from './helpers';

const ENTRY_POINTS = ['types/index.d.ts', 'types/serve/index.d.ts'];

/** The public declarations of the entry points that have no documentation comment, as "entry/Name.member (file:line)". */
function undocumented(): { missing: string[]; checked: number } {
  const roots = ENTRY_POINTS.map((file) => path.join(ROOT, file));
  const program = ts.createProgram(roots, { strict: true, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const ours = `${path.join(ROOT, 'types')}${path.sep}`;
  const seen = new Set<ts.Symbol>();
  const missing: string[] = [];
  const visit = (given: ts.Symbol, name: string, members: boolean): void => {
    const symbol = given.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(given) : given;
    const declaration = symbol.declarations?.[0];
    // What comes from elsewhere (prom-client's Registry, Node's types) is documented there.
    if (seen.has(symbol) || declaration === undefined || !declaration.getSourceFile().fileName.startsWith(ours)) return;
    seen.add(symbol);
    if (ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '') {
      const file = declaration.getSourceFile();
      missing.push(`${name} (${path.relative(ROOT, file.fileName)}:${file.getLineAndCharacterOfPosition(declaration.getStart()).line + 1})`);
    }
    if (!members || !(symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias))) return;
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const instance = type.flags & ts.TypeFlags.Object ? checker.getPropertiesOfType(type) : [];
    const statics = symbol.flags & ts.SymbolFlags.Class ? [...(symbol.exports?.values() ?? [])] : [];
    for (const member of [...instance, ...statics]) {
      const key = member.getName();
      if (key === 'prototype' || key.startsWith('#')) continue; // a class's #private fields, as .d.ts declares them
      const d = member.declarations?.[0];
      if (d !== undefined && ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      visit(member, `${name}.${key}`, false);
    }
  };
  for (const [i, root] of roots.entries()) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(root)!)!;
    const entry = i === 0 ? 'tfslice' : 'tfslice/serve';
    for (const exported of checker.getExportsOfModule(module)) visit(exported, `${entry} ${exported.getName()}`, true);
  }
  return { missing, checked: seen.size };
}

t.test('every export of tfslice and tfslice/serve, and every public member of their types, has a TSDoc comment', async (t) => {
  const { missing, checked } = undocumented();
  t.ok(checked > 300, `${checked} declarations checked (the entry points were read)`);
  t.same(missing, [], 'none lacks one (the list: each name, and where types/ declares it)');
});
