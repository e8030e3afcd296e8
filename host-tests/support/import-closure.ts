/*
 * What a module imports at run time, read from the source (Node only), for the tests that
 * check what an app's firmware carries (host-tests/mqtt/imports.test.ts,
 * host-tests/mqttsn/imports.test.ts) and that a module folder keeps no state of its own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

export function sourceFile(file: string): ts.SourceFile {
  return ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
}

/** Runtime imports of `file` (type-only ones left out: erased when compiled), resolved to .ts paths (relative ones only: host modules are the SDK's). */
export function runtimeImports(file: string): string[] {
  const out: string[] = [];
  for (const st of sourceFile(file).statements) {
    if (!ts.isImportDeclaration(st) && !ts.isExportDeclaration(st)) continue;
    if (ts.isImportDeclaration(st) && st.importClause?.isTypeOnly) continue;
    if (ts.isImportDeclaration(st) && st.importClause && !st.importClause.name) {
      const b = st.importClause.namedBindings;
      if (b && ts.isNamedImports(b) && b.elements.length && b.elements.every((e) => e.isTypeOnly)) continue;
    }
    if (ts.isExportDeclaration(st) && (st.isTypeOnly || !st.moduleSpecifier)) continue;
    const spec = (st.moduleSpecifier as ts.StringLiteral).text;
    if (!spec.startsWith(".")) continue;
    const f = path.resolve(path.dirname(file), spec);
    out.push(fs.existsSync(f + ".ts") ? f + ".ts" : fs.existsSync(f + "/index.ts") ? f + "/index.ts" : f + ".js");
  }
  return out;
}

/** Every .ts file `entry` reaches through runtime imports, itself included. */
export function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f) || !f.endsWith(".ts")) continue;
    seen.add(f);
    todo.push(...runtimeImports(f));
  }
  return seen;
}

/**
 * What would make `file` unsafe to preload or choose its features by side effect: a
 * side-effect import, a top-level let/var or Map/Set/WeakMap/WeakSet, an assignment into an
 * imported binding or onto a prototype after load.
 */
export function moduleStateProblems(file: string): string[] {
  const problems: string[] = [];
  const imported = new Set<string>();
  for (const st of sourceFile(file).statements) {
    if (ts.isImportDeclaration(st)) {
      if (!st.importClause) problems.push("side-effect import " + st.getText());
      const b = st.importClause?.namedBindings;
      if (b && ts.isNamedImports(b)) for (const e of b.elements) imported.add(e.name.text);
      if (st.importClause?.name) imported.add(st.importClause.name.text);
    } else if (ts.isVariableStatement(st)) {
      if (!(st.declarationList.flags & ts.NodeFlags.Const)) problems.push("top-level let/var: " + st.getText().slice(0, 60));
      for (const d of st.declarationList.declarations) {
        const init = d.initializer?.getText() ?? "";
        if (/^new (Map|Set|WeakMap|WeakSet)\b/.test(init)) problems.push("top-level " + init.slice(0, 40));
      }
    } else if (ts.isExpressionStatement(st)) {
      const e = st.expression;
      if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
        const target = e.left.getText();
        if (imported.has(target.split(/[.[]/)[0]) || /\.prototype\b/.test(target)) problems.push("assignment after load: " + target);
      }
    }
  }
  return problems;
}
