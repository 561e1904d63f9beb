// The typed AST: what the front end produces from a syntax tree and every later phase reads.
// Names are already resolved (each variable reference says what it refers to), every special form's
// shape is already checked, and `[a b]` is already a `vec` call. Spans are UTF-16 offsets into the
// source text; `SourceFile.position` turns them into 1-based line:column.

export interface Span {
  start: number;
  end: number;
}

/** What an identifier refers to, decided once by the front end. */
export type Ref =
  | { kind: 'local'; id: number } // a let/let*/loop binding or a function parameter (ids unique per program)
  | { kind: 'define'; name: string } // a top-level `(define name expr)`
  | { kind: 'free'; name: string; role: 'input' | 'param' } // the program's interface
  | { kind: 'pi' }; // the built-in constant, when nothing shadows it

/** What an operator position refers to. */
export type Callee =
  | { kind: 'primitive'; name: string }
  | { kind: 'function'; name: string } // a `define`d function or a letrec lambda (names unique per program)
  | { kind: 'external'; name: string }; // supplied by the caller (compile option `functions`)

export interface LocalBinding {
  id: number;
  name: string;
  span: Span; // the name's span
}

export type Expr =
  | { kind: 'number'; value: number; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'var'; name: string; ref: Ref; span: Span }
  | { kind: 'call'; callee: Callee; calleeSpan: Span; args: Expr[]; span: Span }
  /** let and let* alike: sequential, each binding sees the ones before it. */
  | { kind: 'let'; bindings: { binding: LocalBinding; value: Expr }[]; body: Expr; span: Span }
  | { kind: 'if'; test: Expr; consequent: Expr; alternative: Expr; span: Span }
  /** cond always has an else clause (the front end requires it). */
  | { kind: 'cond'; clauses: { test: Expr; body: Expr; span: Span }[]; otherwise: Expr; span: Span }
  | { kind: 'letrec'; functions: FunctionDef[]; body: Expr; span: Span }
  /** `recur` targets the innermost enclosing loop; its argument count equals the loop's bindings. */
  | { kind: 'loop'; id: number; bindings: { binding: LocalBinding; init: Expr }[]; body: Expr; span: Span }
  | { kind: 'recur'; loop: number; args: Expr[]; span: Span };

export interface FunctionDef {
  name: string;
  nameSpan: Span;
  params: LocalBinding[];
  body: Expr;
  span: Span;
}

export interface ValueDef {
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

export interface Program {
  /** `define`d functions; visible everywhere, mutually recursive. */
  functions: FunctionDef[];
  /** `(define name expr)` in source order; each sees the ones before it. */
  values: ValueDef[];
  result: Expr;
  /** Free identifiers in order of first use, with their role. */
  inputs: string[];
  params: string[];
}
