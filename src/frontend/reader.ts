// Reads a tree-sitter syntax tree into Datums, reporting syntax problems: unbalanced brackets,
// unexpected tokens, malformed numbers and nesting beyond MAX_DEPTH. Iterative, so any depth of
// input is safe; MAX_DEPTH then protects the recursive passes that follow (ours and the compiler's).
import type { Span } from '../ast';
import { diag, withFixes, type Diagnostic } from '../diagnostics';
import type { Datum } from './datum';
import { FLAG_MISSING, FLAG_NAMED, NODE_WORDS, TYPE_MASK, type SyntaxTree } from './parser';
import type { SourceFile } from './source';

/** Deepest nesting of lists and vectors accepted; deeper programs get E0008. */
export const MAX_DEPTH = 1000;

const CLOSER: Record<string, string> = { '(': ')', '[': ']' };
const ATOM_TYPES = new Set(['number', 'invalid_number', 'boolean', 'symbol']);

/** What the reader does with a node, decided once per (type, named) pair. */
const enum Role {
  Descend, // `program`, ERROR's children, anonymous tokens that are neither brackets nor keywords
  Error,
  Bracket,
  Skip, // comments
  Atom,
  List,
  Vector,
}

export interface ReadResult {
  forms: Datum[];
  diagnostics: Diagnostic[];
}

/** Roles by `type id * 2 + named`, per type table (one grammar, so in practice one table). */
const roleTables = new WeakMap<readonly string[], Uint8Array>();

function rolesFor(types: readonly string[]): Uint8Array {
  let roles = roleTables.get(types);
  if (roles) return roles;
  roles = new Uint8Array(types.length * 2);
  types.forEach((type, id) => {
    for (const named of [false, true]) {
      let role = Role.Descend;
      if (type === 'ERROR') role = Role.Error;
      else if (type === '(' || type === ')' || type === '[' || type === ']') role = Role.Bracket;
      else if (type === 'line_comment' || type === 'block_comment') role = Role.Skip;
      // Keyword tokens (`let`, `if`, ...) read as symbols; which form they head is decided later.
      else if (ATOM_TYPES.has(type) || (!named && /^[a-z]/.test(type))) role = Role.Atom;
      // Every other named node is a bracketed group (see DESIGN.md): `vector` with `[`, the rest `(`.
      else if (type !== 'program' && named) role = type === 'vector' ? Role.Vector : Role.List;
      roles![id * 2 + (named ? 1 : 0)] = role;
    }
  });
  roleTables.set(types, roles);
  return roles;
}

export function readTree(tree: SyntaxTree, source: SourceFile): ReadResult {
  const diagnostics: Diagnostic[] = [];
  const brackets: number[] = []; // bracket tokens as (type id, start, end) triples: no object per token
  const errorSpans: Span[] = [];
  const forms: Datum[] = [];
  const stack: Datum[][] = [forms]; // the item lists being filled, innermost last
  const ends: number[] = []; // per entry of `stack` after the first: the index just past that group's subtree
  let depthReported = false;
  let contentEnd = 0; // the end of the last token that is not a comment: where missing closers go

  const { nodes, count, types } = tree;
  const text = source.text;
  const roles = rolesFor(types);

  let i = 0;
  while (i < count) {
    // Close the groups whose subtrees end here.
    while (ends.length > 0 && ends[ends.length - 1] <= i) {
      ends.pop();
      stack.pop();
    }
    const at = i * NODE_WORDS;
    const word = nodes[at];
    const next = nodes[at + 3];
    if ((word & FLAG_MISSING) !== 0) {
      i = next; // MISSING brackets are found by the bracket balance below
      continue;
    }
    const typeId = word & TYPE_MASK;
    const role = roles[typeId * 2 + ((word & FLAG_NAMED) !== 0 ? 1 : 0)];
    switch (role) {
      case Role.Error:
        errorSpans.push({ start: nodes[at + 1], end: nodes[at + 2] });
        i++;
        break;
      case Role.Bracket:
        brackets.push(typeId, nodes[at + 1], nodes[at + 2]);
        contentEnd = Math.max(contentEnd, nodes[at + 2]);
        i++;
        break;
      case Role.Skip:
        i = next;
        break;
      case Role.Atom: {
        const span = { start: nodes[at + 1], end: nodes[at + 2] };
        contentEnd = Math.max(contentEnd, span.end);
        stack[stack.length - 1].push(atom(types[typeId], text.slice(span.start, span.end), span, diagnostics));
        i = next;
        break;
      }
      case Role.List:
      case Role.Vector: {
        const span = { start: nodes[at + 1], end: nodes[at + 2] };
        const items: Datum[] = [];
        if (ends.length < MAX_DEPTH) {
          stack[stack.length - 1].push({ kind: role === Role.Vector ? 'vector' : 'list', items, span });
        } else if (!depthReported) {
          diagnostics.push(diag('E0008', { start: span.start, end: span.start + 1 }, { limit: MAX_DEPTH }));
          depthReported = true;
        }
        stack.push(items); // beyond MAX_DEPTH, a list nobody reads
        ends.push(next);
        i++;
        break;
      }
      default:
        i++;
    }
  }
  return finish();

  function finish(): ReadResult {
    const bracketErrors = balanceBrackets(brackets, types, contentEnd);
    for (const d of bracketErrors) diagnostics.push(d); // not push(...): there may be more than the stack holds
    // Stray tokens are only worth reporting when the brackets are fine; otherwise they are
    // usually the parser's recovery from the bracket error.
    if (bracketErrors.length === 0) {
      for (const span of outermost(errorSpans)) {
        const text = source.text.slice(span.start, span.end).trim().split(/\s+/)[0] ?? '';
        const start = span.start + source.text.slice(span.start, span.end).indexOf(text);
        diagnostics.push(diag('E0006', { start, end: start + Math.max(1, text.length) }, { text: text.slice(0, 40) }));
      }
    }
    diagnostics.sort((a, b) => a.span!.start - b.span!.start); // syntax diagnostics always have a place
    return { forms, diagnostics };
  }
}

function atom(type: string, text: string, span: Span, diagnostics: Diagnostic[]): Datum {
  switch (type) {
    case 'number': {
      const value = Number(text);
      const problem = !Number.isFinite(value)
        ? 'too large for a float64 (the largest is about 1.8e308)'
        : value === 0 && /[1-9]/.test(text.replace(/[eE].*$/, ''))
          ? 'too small for a float64 and would be 0 (the smallest is about 5e-324)'
          : undefined;
      if (problem) diagnostics.push(diag('E0015', span, { text, problem }, 'write it with an exponent in range'));
      return { kind: 'number', value, span };
    }
    case 'invalid_number':
      diagnostics.push(diag('E0007', span, { text }));
      return { kind: 'invalid', span };
    case 'boolean':
      return { kind: 'bool', value: text === '#t' || text === '#true', span };
    default:
      return { kind: 'symbol', name: text, span };
  }
}

/**
 * Matches bracket tokens in source order (`(type id, start, end)` triples); reports unclosed openers,
 * stray and mismatched closers, each with its fix: a missing closer goes after the last token
 * (`contentEnd`), a stray one is deleted, a mismatched one becomes the expected one.
 */
function balanceBrackets(tokens: number[], types: readonly string[], contentEnd: number): Diagnostic[] {
  const out: Diagnostic[] = [];
  const open: number[] = []; // indices of the unmatched openers' triples
  const text = (t: number) => types[tokens[t]];
  const span = (t: number): Span => ({ start: tokens[t + 1], end: tokens[t + 2] });
  for (let t = 0; t < tokens.length; t += 3) {
    const close = text(t);
    if (close in CLOSER) {
      open.push(t);
    } else if (open.length === 0) {
      out.push(
        withFixes(diag('E0004', span(t), { close }), [
          { title: `remove '${close}'`, edits: [{ span: span(t), text: '' }], safe: true },
        ]),
      );
    } else if (CLOSER[text(open[open.length - 1])] !== close) {
      const opener = text(open.pop()!);
      const expected = CLOSER[opener];
      const fix = { title: `change to '${expected}'`, edits: [{ span: span(t), text: expected }], safe: true };
      out.push(withFixes(diag('E0005', span(t), { close, open: opener }, `expected '${expected}'`), [fix]));
    } else {
      open.pop();
    }
  }
  // Several closers inserted at one place: src/tools/fixes.ts puts later edits first, so the
  // innermost opener (reported last) is closed first.
  for (const t of open) {
    const closer = CLOSER[text(t)];
    const fix = {
      title: `add '${closer}' at the end`,
      edits: [{ span: { start: contentEnd, end: contentEnd }, text: closer }],
      safe: true,
    };
    out.push(withFixes(diag('E0003', span(t), { open: text(t) }, `add a matching '${closer}'`), [fix]));
  }
  return out;
}

/** Drops spans nested inside an earlier one (ERROR nodes can contain ERROR nodes). */
function outermost(spans: Span[]): Span[] {
  const out: Span[] = [];
  for (const s of [...spans].sort((a, b) => a.start - b.start || b.end - a.end)) {
    const last = out[out.length - 1];
    if (!last || s.start >= last.end) out.push(s);
  }
  return out;
}
