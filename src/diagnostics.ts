// Diagnostics as data: every problem has a stable code, a message template and a span. One table
// holds every code so codes are never reused and messages stay consistent.
import type { Span } from './ast';
import type { SourceFile } from './frontend/source';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  /** Where in the source; absent for problems that have no place in it (a declared name, an extra input). */
  span?: Span;
  hint?: string;
  /** Machine-applicable repairs, when the repair is obvious (src/tools/fixes.ts applies them). */
  fixes?: Fix[];
}

/** Replace the text in `span` by `text` (an insertion when the span is empty). */
export interface TextEdit {
  span: Span;
  text: string;
}

export interface Fix {
  title: string;
  edits: TextEdit[];
  /** Applying it as it is repairs the problem without guessing (`neuralc check --fix` applies only these). */
  safe: boolean;
}

interface CodeInfo {
  severity: Severity;
  template: string; // `{name}` placeholders are filled from the arguments
}

const error = (template: string): CodeInfo => ({ severity: 'error', template });
const warning = (template: string): CodeInfo => ({ severity: 'warning', template });

export const DIAGNOSTIC_CODES = {
  // ---- E0001–E0099: front end -------------------------------------------------------------
  // Input and syntax
  E0001: error('the source contains a NUL byte; is it a binary file?'),
  E0002: error('the source is not valid UTF-8'),
  E0003: error("unclosed '{open}'"),
  E0004: error("unexpected '{close}'"),
  E0005: error("'{close}' does not match '{open}'"),
  E0006: error("unexpected '{text}'"),
  E0007: error("malformed number '{text}'"),
  E0008: error('expressions are nested more than {limit} levels deep'),
  E0009: error('the source is {length} characters long, more than the limit of {limit}'),
  E0015: error("the number '{text}' is {problem}"),
  // Program structure
  E0010: error('the program is empty: it needs a result expression'),
  E0011: error('a program has one result expression, found {count}'),
  E0012: error('definitions must come before the result expression'),
  E0013: error('the program has definitions but no result expression'),
  E0014: error("'define' is only allowed at the top level of a program"),
  // Special forms
  E0020: error("malformed '{form}': {problem}"),
  E0021: error("'cond' needs a final (else ...) clause"),
  E0022: error("'lambda' is only allowed as the value of a 'letrec' binding"),
  E0023: error("'recur' outside of a 'loop'"),
  E0024: error("'recur' passes {got} value(s) but the loop binds {expected}"),
  E0025: error("'recur' must be in tail position of its loop's body"),
  E0026: error("'{name}' is a reserved word and cannot be used as {use}"),
  // Names
  E0030: error("unbound identifier '{name}'"),
  E0031: error("unknown function '{name}'"),
  E0032: error("'{name}' is bound twice in the same {where}"),
  E0033: error("'{name}' is {what}, not a function"),
  E0034: error("'{name}' is a function and cannot be used as a value (the language is first-order)"),
  E0035: error('the operator of an application must be a function name'),
  E0036: error('empty application ()'),
  E0037: error("'{name}' is declared both as an input and as a param"),
  E0038: error("value '{name}' is used before it is defined"),
  E0039: error("'{name}' is declared as a {role} but the program defines it, which would hide the {role}"),
  // Calls
  E0040: error("'{name}' expects {expected} argument(s), got {got}"),

  W0001: warning("free identifier '{name}' is taken as an input"),
  W0002: warning("declared {role} '{name}' is never used"),
  W0003: warning("'{directive}' entry '{text}' is ignored: {problem}"),

  // ---- E0100–E0199: checker and compiler (shapes, constants) ----------------------------------
  E0100: error("'{name}': {problem}"),
  E0101: error("'recur' passes {got} where the loop variable is {expected}"),
  E0102: error('a test that decides whether a loop goes on must be a scalar, got {shape}'),
  E0103: error('the branches give different shapes: {a} and {b}'),
  E0104: error('this loop never produces a value: every way through its body ends in recur'),
  E0105: error("cannot infer the result shape of the recursive function '{name}'"),
  E0106: error("in '{name}' ({file}:{line}:{column}): {message}"),
  E0107: error("argument {k} of '{name}' is {got}, but '{name}' declares its input '{input}' as {expected}"),
  E0108: error("'{name}': {problem}"),
  E0109: error('the program grows a graph of more than {limit}'),
  W0004: warning(
    'explicit diffusion step is unstable: its coefficient alpha*dt/h^2 = {r} exceeds {limit}, the limit for a {rank}-D grid',
  ),

  // ---- E0200–E0299: runtime inputs and limits -------------------------------------------------
  E0200: error("input '{name}' is missing"),
  E0201: error("'{name}' is not an input of this program"),
  E0202: error("input '{name}' should be {expected}, got shape [{got}]"),
  E0203: error("batched inputs disagree on the batch size: '{a}' has {n}, '{b}' has {m}"),
  E0204: error("param '{name}': {problem}"),
  E0205: error('{what} exceeded its limit of {limit}'),
  E0206: error("input '{name}': {problem}"),
  E0207: error('this run took more than {limit} loop iterations and function calls in all'),
  E0208: error(
    "this run needs about {need} for the values it computes, more than the limit of {limit} (half of this machine's memory)",
  ),
  E0209: error("'{name}': {problem}"),
  E0299: error('{message}'),
} satisfies Record<string, CodeInfo>;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

const fill = (template: string, args: Record<string, string | number>): string =>
  template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in args ? String(args[key]) : whole));

export function diag(
  code: DiagnosticCode,
  span: Span | undefined,
  args: Record<string, string | number> = {},
  hint?: string,
): Diagnostic {
  const info: CodeInfo = DIAGNOSTIC_CODES[code];
  const d: Diagnostic = { severity: info.severity, code, message: fill(info.template, args) };
  if (span !== undefined) d.span = span;
  if (hint !== undefined) d.hint = hint;
  return d;
}

/** The diagnostic with these fixes attached (none: unchanged). */
export function withFixes(d: Diagnostic, fixes: Fix[]): Diagnostic {
  if (fixes.length > 0) d.fixes = fixes;
  return d;
}

/** One fix per name a did-you-mean hint offers, renaming `span`; safe only when there is one choice and it repairs an error. */
export function renameFixes(span: Span, names: string[], error: boolean): Fix[] {
  return names.map((name) => ({
    title: `change to '${name}'`,
    edits: [{ span, text: name }],
    safe: error && names.length === 1,
  }));
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

/** Guards the public renderers against values that are not a diagnostic and its source. */
function checkDiagnostic(who: string, d: unknown, source: unknown): void {
  const isObject = (v: unknown) => v !== null && typeof v === 'object';
  if (
    !isObject(d) ||
    typeof (d as Diagnostic).code !== 'string' ||
    !isObject(source) ||
    typeof (source as SourceFile).position !== 'function'
  )
    throw new TypeError(
      `${who}: expected a diagnostic and its source, as a CompileError holds them (error.diagnostics[i], error.source)`,
    );
}

/** `file:line:col: severity[code]: message`, the source line with carets under the span, and the hint. */
export function renderDiagnostic(d: Diagnostic, source: SourceFile): string {
  checkDiagnostic('renderDiagnostic', d, source);
  if (!d.span)
    return [`${source.file}: ${d.severity}[${d.code}]: ${d.message}`, ...(d.hint ? [`help: ${d.hint}`] : [])].join(
      '\n',
    );
  const start = source.position(d.span.start);
  const end = source.position(Math.max(d.span.start, d.span.end));
  const fullLine = source.lineText(start.line);
  // Carets stop at the end of the first line for spans that run across lines.
  const lastColumn = end.line === start.line ? end.column : fullLine.length + 1;
  // A long line shows a window around the span, so output stays proportional to what it points at.
  const from = fullLine.length > MAX_SHOWN ? Math.max(0, start.column - 1 - CONTEXT) : 0;
  const lineText = fullLine.length > MAX_SHOWN ? fullLine.slice(from, from + MAX_SHOWN) : fullLine;
  const width = Math.max(1, Math.min(lastColumn - start.column, lineText.length - (start.column - 1 - from)));
  const lineNumber = String(start.line).padStart(4);
  const out = [
    `${source.file}:${start.line}:${start.column}: ${d.severity}[${d.code}]: ${d.message}`,
    `${lineNumber} | ${lineText}`,
    `${' '.repeat(lineNumber.length)} | ${' '.repeat(start.column - 1 - from)}${'^'.repeat(width)}`,
  ];
  if (d.hint) out.push(`help: ${d.hint}`);
  return out.join('\n');
}

/** Longest source line shown in full, and how much of a longer one to show before the span. */
const MAX_SHOWN = 160;
const CONTEXT = 40;
/** Rendered diagnostics at most; the rest are counted (all stay in the data). */
const MAX_RENDERED = 50;

export const renderDiagnostics = (ds: readonly Diagnostic[], source: SourceFile): string => {
  const shown = ds.slice(0, MAX_RENDERED).map((d) => renderDiagnostic(d, source));
  if (ds.length > MAX_RENDERED) shown.push(`... and ${ds.length - MAX_RENDERED} more`);
  return shown.join('\n\n');
};

export interface DiagnosticJson {
  severity: Severity;
  code: string;
  message: string;
  file: string;
  line: number | null;
  column: number | null;
  endLine: number | null;
  endColumn: number | null;
  hint: string | null;
  fixes: FixJson[];
}

export interface FixJson {
  title: string;
  safe: boolean;
  /** 1-based, as the diagnostic's own position; `start`/`end` are UTF-16 offsets into the source. */
  edits: {
    line: number;
    column: number;
    endLine: number;
    endColumn: number;
    start: number;
    end: number;
    text: string;
  }[];
}

function fixToJson(fix: Fix, source: SourceFile): FixJson {
  const edits = fix.edits.map(({ span, text }) => {
    const start = source.position(span.start);
    const end = source.position(span.end);
    return {
      line: start.line,
      column: start.column,
      endLine: end.line,
      endColumn: end.column,
      start: span.start,
      end: span.end,
      text,
    };
  });
  return { title: fix.title, safe: fix.safe, edits };
}

export function diagnosticToJson(d: Diagnostic, source: SourceFile): DiagnosticJson {
  checkDiagnostic('diagnosticToJson', d, source);
  const start = d.span ? source.position(d.span.start) : undefined;
  const end = d.span ? source.position(d.span.end) : undefined;
  return {
    severity: d.severity,
    code: d.code,
    message: d.message,
    file: source.file,
    line: start?.line ?? null,
    column: start?.column ?? null,
    endLine: end?.line ?? null,
    endColumn: end?.column ?? null,
    hint: d.hint ?? null,
    fixes: (d.fixes ?? []).map((f) => fixToJson(f, source)),
  };
}

export class CompileError extends Error {
  constructor(
    readonly diagnostics: Diagnostic[],
    readonly source: SourceFile,
  ) {
    super(renderDiagnostics(diagnostics, source));
    this.name = 'CompileError';
  }
}

/** Optimal string alignment distance: edits, with a swap of neighbours counting as one. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/**
 * Candidates close enough to `name` to be a likely typo, best first (at most three). Short names
 * are never matched: `x` and `y` are one edit apart but rarely a typo for each other.
 */
export function suggest(name: string, candidates: Iterable<string>): string[] {
  if (name.length < 3) return [];
  const limit = name.length <= 5 ? 1 : 2;
  const scored = new Map<string, number>();
  for (const c of candidates) {
    if (c === name || c.length < 2 || scored.has(c)) continue;
    const d = editDistance(name, c);
    if (d <= limit) scored.set(c, d);
  }
  return [...scored]
    .sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
    .slice(0, 3)
    .map(([c]) => c);
}

/** "did you mean 'a'?" or "did you mean 'a' or 'b'?" */
export function didYouMean(names: string[]): string | undefined {
  if (names.length === 0) return undefined;
  const quoted = names.map((n) => `'${n}'`);
  return `did you mean ${quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`}?`;
}
