// The front end's public entry points: source text -> typed AST (or diagnostics), and the raw
// syntax tree for `neuralc parse`.
import type { Program } from '../ast';
import { diag, hasErrors, type Diagnostic } from '../diagnostics';
import { parseSyntax } from './parser';
import { checkProgram } from './program';
import { readTree } from './reader';
import { Resolver, type ExternalFunction } from './resolve';
import { SourceFile } from './source';

export { SourceFile, type Position } from './source';
export { parseTree } from './parser';
export { MAX_DEPTH } from './reader';
export type { ExternalFunction } from './resolve';

export interface ParseOptions {
  file?: string;
  /** Declared inputs; when given, a free identifier that is neither an input nor a param is an error. */
  inputs?: string[];
  /** Declared trainable params. */
  params?: string[];
  /** Functions supplied by the caller, callable by name. */
  functions?: Record<string, ExternalFunction>;
}

export interface ParseResult {
  /** Present iff there are no errors. */
  program?: Program;
  diagnostics: Diagnostic[];
  source: SourceFile;
}

/** Longest source accepted, in characters: far beyond any hand-written program, and parsed in seconds. */
export const MAX_SOURCE_LENGTH = 2_000_000;

export function parseProgram(text: string, options: ParseOptions = {}): ParseResult {
  if (typeof text !== 'string')
    throw new TypeError(`parseProgram: the source must be a string, got ${text === null ? 'null' : typeof text}`);
  if (options === null || typeof options !== 'object')
    throw new TypeError(`parseProgram: options must be an object, got ${options === null ? 'null' : typeof options}`);
  const source = new SourceFile(text, options.file);
  if (text.length > MAX_SOURCE_LENGTH) {
    const where = { start: MAX_SOURCE_LENGTH, end: MAX_SOURCE_LENGTH + 1 };
    const size = { length: text.length.toLocaleString('en-US'), limit: MAX_SOURCE_LENGTH.toLocaleString('en-US') };
    return {
      diagnostics: [diag('E0009', where, size, 'split the program, or pass large data as inputs rather than literals')],
      source,
    };
  }
  const encoding = encodingProblems(text);
  if (encoding.length > 0) return { diagnostics: encoding, source };

  const read = readTree(parseSyntax(text), source);
  if (hasErrors(read.diagnostics)) return { diagnostics: read.diagnostics, source };

  const resolver = new Resolver(options);
  resolver.diagnostics.push(...declarationProblems(options));
  const program = checkProgram(read.forms, resolver, text.length);
  if (program && !hasErrors(resolver.diagnostics)) resolver.diagnostics.push(...unusedDeclarations(options, program));
  const diagnostics = resolver.diagnostics.sort((a, b) => (a.span?.start ?? -1) - (b.span?.start ?? -1));
  return hasErrors(diagnostics) || !program ? { diagnostics, source } : { program, diagnostics, source };
}

/** NUL bytes mean binary input; U+FFFD is what decoding invalid UTF-8 leaves behind. */
function encodingProblems(text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const nul = text.indexOf('\0');
  if (nul >= 0) out.push(diag('E0001', { start: nul, end: nul + 1 }));
  const bad = text.indexOf('\uFFFD');
  if (bad >= 0) out.push(diag('E0002', { start: bad, end: bad + 1 }, {}, 'save the file as UTF-8'));
  return out;
}

function declarationProblems(options: ParseOptions): Diagnostic[] {
  const params = new Set(options.params ?? []);
  return (options.inputs ?? []).filter((n) => params.has(n)).map((name) => diag('E0037', undefined, { name }));
}

function unusedDeclarations(options: ParseOptions, program: Program): Diagnostic[] {
  const used = new Set([...program.inputs, ...program.params]);
  const unused = (names: string[] | undefined, role: string) =>
    (names ?? []).filter((name) => !used.has(name)).map((name) => diag('W0002', undefined, { name, role }));
  return [...unused(options.inputs, 'input'), ...unused(options.params, 'param')];
}
