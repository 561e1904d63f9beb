// Visiting every sub-expression of an AST, iteratively: programs may nest deeper than the JS stack.
import type { Expr } from '../ast';

export function walk(root: Expr, visit: (e: Expr) => void): void {
  const stack: Expr[] = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    visit(e);
    switch (e.kind) {
      case 'call':
      case 'recur':
        stack.push(...e.args);
        break;
      case 'let':
        stack.push(e.body, ...e.bindings.map((b) => b.value));
        break;
      case 'if':
        stack.push(e.test, e.consequent, e.alternative);
        break;
      case 'cond':
        stack.push(e.otherwise, ...e.clauses.flatMap((c) => [c.test, c.body]));
        break;
      case 'letrec':
        stack.push(e.body, ...e.functions.map((f) => f.body));
        break;
      case 'loop':
        stack.push(e.body, ...e.bindings.map((b) => b.init));
        break;
    }
  }
}
