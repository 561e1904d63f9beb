// One analysis of a program text for the editor and MCP servers: the front end's diagnostics, and,
// when every input's shape is declared, the lowering's too (shape errors) with the per-sample shape
// of each expression it lowered. Pure: no addon, so it runs on every keystroke.
import type { Expr, Program, Span } from '../ast';
import { CompileError, diag, type Diagnostic } from '../diagnostics';
import { compileGraph } from '../compiler/pipeline';
import { parseProgram, type SourceFile } from '../frontend';
import { MAX_RANK, type Shape } from '../ops';
import { DEFAULT_LIMIT, type InputShape } from '../api/module';
import { flatten, type Nested } from '../runtime/host-data';

/** What the caller declares; an input without a shape is declared by name only. */
export interface Declarations {
  inputs?: Map<string, Shape | undefined>;
  /** Params and their shapes (scalars unless said). */
  params?: Map<string, Shape>;
  /** Params' initial values, where given (the stability check of explicit steps reads them). */
  paramValues?: Map<string, Nested>;
}

export interface Analysis {
  source: SourceFile;
  diagnostics: Diagnostic[];
  program?: Program;
  declarations: Declarations;
  /** Per-sample shapes by span (`start:end`), when the shapes could be worked out; absent otherwise. */
  shapes?: Map<string, Shape>;
}

const shapeOf = (s: InputShape | null | undefined): Shape | undefined => (s === 'scalar' ? [] : (s ?? undefined));
/** A param's shape from its initial value: scalar, [n] or [r, c]. */
const valueShape = (v: Nested): Shape => (typeof v === 'number' ? [] : [v.length, ...valueShape(v[0] ?? 0)]);

/** Declarations from names (shapes unknown; params scalars), or inputs with shapes and params with initial values. */
export function declarationsOf(
  inputs: string[] | Record<string, InputShape | null> | undefined,
  params: string[] | Record<string, Nested> | undefined,
): Declarations {
  return {
    inputs:
      inputs &&
      (Array.isArray(inputs)
        ? new Map(inputs.map((n) => [n, undefined]))
        : new Map(Object.entries(inputs).map(([n, s]) => [n, shapeOf(s)]))),
    params:
      params &&
      (Array.isArray(params)
        ? new Map(params.map((n): [string, Shape] => [n, []]))
        : new Map(Object.entries(params).map(([n, v]) => [n, valueShape(v)]))),
    paramValues: params && !Array.isArray(params) ? new Map(Object.entries(params)) : undefined,
  };
}

/** A declared value's elements; undefined when it is not a well-formed array (the shape check reports that). */
function valueData(value: Nested | undefined): Float64Array | undefined {
  try {
    return value === undefined ? undefined : flatten(value, 'its value').data;
  } catch {
    return undefined;
  }
}

export const spanKey = (span: Span): string => `${span.start}:${span.end}`;

export function analyse(text: string, file: string, declarations: Declarations): Analysis {
  const parsed = parseProgram(text, {
    file,
    inputs: declarations.inputs && [...declarations.inputs.keys()],
    params: declarations.params && [...declarations.params.keys()],
  });
  const analysis: Analysis = {
    source: parsed.source,
    diagnostics: parsed.diagnostics,
    program: parsed.program,
    declarations,
  };
  const program = parsed.program;
  const inputs = declarations.inputs;
  if (!program || !inputs || [...inputs.values()].some((s) => s === undefined)) return analysis;
  try {
    const warnings: Diagnostic[] = [];
    const graph = compileGraph(program, {
      inputs: [...inputs].map(([name, shape]) => ({ name, shape: shape!, batched: false })),
      params: program.params.map((name) => ({ name, shape: declarations.params?.get(name) ?? [] })),
      limit: DEFAULT_LIMIT,
      source: parsed.source,
      optimize: false,
      fuse: false,
      warnings,
      paramValues: program.params.map((name) => valueData(declarations.paramValues?.get(name))),
    });
    analysis.diagnostics = [...analysis.diagnostics, ...warnings];
    analysis.shapes = nodeShapes(graph.regions.flatMap((r) => r.nodes));
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    analysis.diagnostics = [...analysis.diagnostics, ...err.diagnostics];
  }
  return analysis;
}

/** Shapes by span; a span lowered at different shapes (a function called at two) has none. */
function nodeShapes(nodes: readonly { span?: Span; shape: Shape }[]): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  const ambiguous = new Set<string>();
  for (const node of nodes) {
    if (!node.span) continue;
    const key = spanKey(node.span);
    const seen = shapes.get(key);
    if (seen && seen.join('x') !== node.shape.join('x')) ambiguous.add(key);
    else shapes.set(key, node.shape);
  }
  for (const key of ambiguous) shapes.delete(key);
  return shapes;
}

/** The shape of an expression, where the lowering knows it (a let's is its body's). */
export function exprShape(analysis: Analysis, e: Expr): Shape | undefined {
  const shape = analysis.shapes?.get(spanKey(e.span));
  if (shape || !analysis.shapes) return shape;
  if (e.kind === 'let' || e.kind === 'letrec') return exprShape(analysis, e.body);
  if (e.kind === 'var' && e.ref.kind === 'free')
    return e.ref.role === 'input'
      ? analysis.declarations.inputs?.get(e.name)
      : (analysis.declarations.params?.get(e.name) ?? []);
  return undefined;
}

const DIRECTIVE = /^[ \t]*;+[ \t]*@(inputs|params)\b(.*)$/gm;
const ENTRY = /([^\s[\],]+)\s*(\[[^\]]*\]?)?/g;

/**
 * Declarations written in the file: comment lines `; @inputs v[3] L[3 3] dt` and `; @params G`.
 * A name without a shape is a scalar; bad entries are warnings (W0003) and skipped.
 */
export function readDirectives(text: string): { declarations: Declarations; diagnostics: Diagnostic[] } {
  const declarations: Declarations = {};
  const diagnostics: Diagnostic[] = [];
  for (const line of text.matchAll(DIRECTIVE)) {
    const kind = line[1] as 'inputs' | 'params';
    const table = (declarations[kind] ??= new Map<string, Shape>());
    const bodyStart = line.index! + line[0].length - line[2].length;
    for (const entry of line[2].matchAll(ENTRY)) {
      const span = { start: bodyStart + entry.index!, end: bodyStart + entry.index! + entry[0].length };
      const shape = parseShape(entry[2]);
      if (typeof shape === 'string')
        diagnostics.push(
          diag(
            'W0003',
            span,
            { directive: `@${kind}`, text: entry[0].trim(), problem: shape },
            'write a name, optionally followed by [n] or [rows columns]',
          ),
        );
      else table.set(entry[1], shape);
    }
  }
  return { declarations, diagnostics };
}

function parseShape(text: string | undefined): Shape | string {
  if (text === undefined) return [];
  if (!text.endsWith(']')) return "the shape has no closing ']'";
  const dims = text
    .slice(1, -1)
    .split(/[\s,]+/)
    .filter((d) => d.length > 0);
  if (dims.length > MAX_RANK) return `a shape has at most ${MAX_RANK} sizes`;
  if (!dims.every((d) => /^[1-9]\d*$/.test(d))) return 'sizes must be whole numbers from 1';
  return dims.map(Number);
}
