// Every public declaration has a TSDoc comment: what each package entry point exports
// (package.json's exports: tfslice, tfslice/serve), every public member and constructor of
// the classes, interfaces and object types among them (the members of union and intersection
// types, and of object types written inline, included), and each overload of a function or
// method. Read from the published declarations (types/; test/00 holds them to lib/) with
// TypeScript's own checker, as an editor shows them on hover.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import ts from 'typescript';

import { ROOT } from './helpers';

/** The declaration files of package.json's exports, by the name a consumer imports. */
function entryPoints(): [string, string][] {
  const exports = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).exports as Record<string, { types?: string }>;
  return Object.entries(exports)
    .filter(([, target]) => typeof target === 'object' && target.types !== undefined)
    .map(([key, target]) => [path.posix.join('tfslice', key), path.join(ROOT, target.types!)]);
}

/** The public declarations that have no documentation comment, as "entry Name.member (file:line)". */
function undocumented(): { missing: string[]; checked: number } {
  const entries = entryPoints();
  const program = ts.createProgram(entries.map(([, file]) => file), { strict: true, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const ours = (node: ts.Node) => node.getSourceFile().fileName.startsWith(`${path.join(ROOT, 'types')}${path.sep}`);
  const seen = new Set<ts.Symbol>();
  const missing: string[] = [];
  const report = (name: string, node: ts.Node) => {
    const file = node.getSourceFile();
    missing.push(`${name} (${path.relative(ROOT, file.fileName)}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1})`);
  };
  const hasDoc = (node: ts.Node) => ts.getJSDocCommentsAndTags(node).length > 0;

  // The properties of an object type, and of each member of a union or intersection of them.
  const propertiesOf = (type: ts.Type): ts.Symbol[] => {
    const plain = checker.getNonNullableType(type);
    if (plain.isUnionOrIntersection()) return plain.types.flatMap(propertiesOf);
    return plain.flags & ts.TypeFlags.Object ? checker.getPropertiesOfType(plain) : [];
  };
  // The members of the object types written inline ({ a: number }) in our declarations that a
  // property's type is, holds (an array of them) or unites; each type once (types may nest
  // themselves).
  const expanded = new Set<ts.Type>();
  const inlineMembers = (type: ts.Type): ts.Symbol[] => {
    const plain = checker.getNonNullableType(type);
    if (expanded.has(plain)) return [];
    expanded.add(plain);
    if (plain.isUnionOrIntersection()) return plain.types.flatMap(inlineMembers);
    if (checker.isArrayType(plain)) return inlineMembers(checker.getTypeArguments(plain as ts.TypeReference)[0]!);
    const declaration = plain.symbol?.declarations?.[0];
    return declaration !== undefined && ts.isTypeLiteralNode(declaration) && ours(declaration) ? checker.getPropertiesOfType(plain) : [];
  };

  const visit = (given: ts.Symbol, name: string, top: boolean): void => {
    const symbol = given.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(given) : given;
    const declarations = symbol.declarations ?? [];
    // What comes from elsewhere (prom-client's Registry, Node's types) is documented there.
    if (seen.has(symbol) || declarations.length === 0 || !ours(declarations[0]!)) return;
    seen.add(symbol);
    if (ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '') report(name, declarations[0]!);
    else if (symbol.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Method) && declarations.length > 1) {
      // Overloads: each its own comment (the symbol's merges them all).
      for (const d of declarations) if (!hasDoc(d)) report(`${name} (an overload)`, d);
    }
    const members: ts.Symbol[] = [];
    if (top && symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
      members.push(...propertiesOf(checker.getDeclaredTypeOfSymbol(symbol)));
      if (symbol.flags & ts.SymbolFlags.Class) {
        members.push(...(symbol.exports?.values() ?? []));
        for (const c of symbol.members?.get(ts.InternalSymbolName.Constructor)?.declarations ?? []) if (!hasDoc(c)) report(`${name} constructor`, c);
      }
    }
    if (!top && symbol.flags & ts.SymbolFlags.Property) members.push(...inlineMembers(checker.getTypeOfSymbol(symbol)));
    for (const member of members) {
      const key = member.getName();
      if (key === 'prototype' || key.startsWith('#')) continue; // a class's #private fields, as .d.ts declares them
      const d = member.declarations?.[0];
      if (d !== undefined && ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      visit(member, `${name}.${key}`, false);
    }
  };
  for (const [entry, file] of entries) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    for (const exported of checker.getExportsOfModule(module)) visit(exported, `${entry} ${exported.getName()}`, true);
  }
  return { missing, checked: seen.size };
}

t.test('every export of tfslice and tfslice/serve, and every public member of their types, has a TSDoc comment', async (t) => {
  const { missing, checked } = undocumented();
  t.ok(checked > 300, `${checked} declarations checked (the entry points were read)`);
  t.same(missing, [], 'none lacks one (the list: each name, and where types/ declares it)');
});
