// Reads a tree-sitter syntax tree into Datums, reporting syntax problems: unbalanced brackets,
// unexpected tokens, malformed numbers and nesting beyond MAX_DEPTH. Iterative, so any depth of
// input is safe; MAX_DEPTH then protects the recursive passes that follow (ours and the compiler's).
import type Parser from 'tree-sitter';
import type { Span } from '../ast';
import { diag, type Diagnostic } from '../diagnostics';
import type { Datum } from './datum';
import type { SourceFile } from './source';

/** Deepest nesting of lists and vectors accepted; deeper programs get E0008. */
export const MAX_DEPTH = 1000;

const CLOSER: Record<string, string> = { '(': ')', '[': ']' };
const ATOM_TYPES = new Set(['number', 'invalid_number', 'boolean', 'symbol']);

export interface ReadResult {
  forms: Datum[];
  diagnostics: Diagnostic[];
}

export function readTree(tree: Parser.Tree, source: SourceFile): ReadResult {
  const diagnostics: Diagnostic[] = [];
  const brackets: { text: string; span: Span }[] = [];
  const errorSpans: Span[] = [];
  const forms: Datum[] = [];
  const stack: Datum[][] = [forms]; // the item lists being filled, innermost last
  let depthReported = false;

  const cursor = tree.walk();
  let depth = 0; // of list/vector nesting along the cursor's path
  const entered: boolean[] = []; // per cursor level: whether that node pushed onto `stack`

  for (;;) {
    const type = cursor.nodeType;
    const span = { start: cursor.startIndex, end: cursor.endIndex };
    let descend = true;
    let pushed = false;

    if (cursor.nodeIsMissing) {
      descend = false; // MISSING brackets are found by the bracket balance below
    } else if (type === 'ERROR') {
      errorSpans.push(span);
    } else if (type === '(' || type === ')' || type === '[' || type === ']') {
      brackets.push({ text: type, span });
    } else if (type === 'line_comment' || type === 'block_comment') {
      descend = false;
    } else if (ATOM_TYPES.has(type) || (!cursor.nodeIsNamed && /^[a-z]/.test(type))) {
      // Keyword tokens (`let`, `if`, ...) read as symbols; which form they head is decided later.
      stack[stack.length - 1].push(atom(type, cursor.nodeText, span, diagnostics));
      descend = false;
    } else if (type !== 'program' && cursor.nodeIsNamed) {
      // Every other named node is a bracketed group (see DESIGN.md): `vector` with `[`, the rest `(`.
      depth++;
      const items: Datum[] = [];
      if (depth <= MAX_DEPTH) {
        stack[stack.length - 1].push({ kind: type === 'vector' ? 'vector' : 'list', items, span });
      } else if (!depthReported) {
        diagnostics.push(diag('E0008', { start: span.start, end: span.start + 1 }, { limit: MAX_DEPTH }));
        depthReported = true;
      }
      stack.push(items); // beyond MAX_DEPTH, a list nobody reads
      pushed = true;
    }

    if (descend && cursor.gotoFirstChild()) {
      entered.push(pushed);
      continue;
    }
    if (pushed) {
      stack.pop();
      depth--;
    }
    while (!cursor.gotoNextSibling()) {
      if (!cursor.gotoParent()) return finish();
      if (entered.pop()) {
        stack.pop();
        depth--;
      }
    }
  }

  function finish(): ReadResult {
    const bracketErrors = balanceBrackets(brackets);
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
    case 'number':
      return { kind: 'number', value: Number(text), span };
    case 'invalid_number':
      diagnostics.push(diag('E0007', span, { text }));
      return { kind: 'invalid', span };
    case 'boolean':
      return { kind: 'bool', value: text === '#t' || text === '#true', span };
    default:
      return { kind: 'symbol', name: text, span };
  }
}

/** Matches bracket tokens in source order; reports unclosed openers, stray and mismatched closers. */
function balanceBrackets(tokens: { text: string; span: Span }[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const open: { text: string; span: Span }[] = [];
  for (const t of tokens) {
    if (t.text in CLOSER) {
      open.push(t);
    } else if (open.length === 0) {
      out.push(diag('E0004', t.span, { close: t.text }));
    } else if (CLOSER[open[open.length - 1].text] !== t.text) {
      const opener = open.pop()!;
      out.push(diag('E0005', t.span, { close: t.text, open: opener.text }, `expected '${CLOSER[opener.text]}'`));
    } else {
      open.pop();
    }
  }
  for (const t of open) out.push(diag('E0003', t.span, { open: t.text }, `add a matching '${CLOSER[t.text]}'`));
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
