// Lexical scopes. One namespace for values and functions, as in Scheme: a local `exp` shadows the
// primitive `exp`, and calling it is then an error (the language is first-order).

export type Binding =
  | { kind: 'local'; id: number }
  | { kind: 'function'; name: string; arity: number } // name is unique per program
  | { kind: 'value'; name: string; index: number }; // a top-level (define name expr)

export class Scope {
  private readonly names = new Map<string, Binding>();

  constructor(readonly parent?: Scope) {}

  define(name: string, binding: Binding): void {
    this.names.set(name, binding);
  }

  lookup(name: string): Binding | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const b = s.names.get(name);
      if (b) return b;
    }
    return undefined;
  }

  /** Every name visible here, for did-you-mean suggestions. */
  *visibleNames(): Iterable<string> {
    for (let s: Scope | undefined = this; s; s = s.parent) yield* s.names.keys();
  }
}

export const RESERVED = new Set(['define', 'let', 'let*', 'letrec', 'lambda', 'if', 'cond', 'else', 'loop', 'recur']);
