// The work the MCP tools do on the sandbox thread (eval, graph): plain data in, plain data out, so
// it crosses a worker boundary. A bad program comes back as its diagnostics.
import { compile, run, type InputShape } from '../../api';
import { CompileError, diagnosticToJson, renderDiagnostics, type DiagnosticJson } from '../../diagnostics';
import { parseProgram } from '../../frontend';
import type { Nested } from '../../runtime/host-data';

export interface EvalArgs {
  source: string;
  inputs?: Record<string, Nested>;
  params?: Record<string, Nested>;
  batch?: boolean;
  grad?: boolean;
  dtype?: 'float32' | 'float64';
  limit?: number;
  maxSteps?: number;
}

export interface GraphArgs {
  source: string;
  inputs?: Record<string, InputShape>;
  params?: Record<string, Nested>;
  optimize?: boolean;
}

export type Outcome = { ok: true; data: Record<string, unknown> } | { ok: false; error: ToolError };

export interface ToolError {
  message: string;
  /** The program's diagnostics (codes, line:column, hints, fixes); empty for errors outside the program. */
  diagnostics: DiagnosticJson[];
}

export function toolError(err: unknown): ToolError {
  if (err instanceof CompileError)
    return {
      message: renderDiagnostics(err.diagnostics, err.source),
      diagnostics: err.diagnostics.map((d) => diagnosticToJson(d, err.source)),
    };
  return { message: (err as Error).message ?? String(err), diagnostics: [] };
}

// JSON has no NaN or infinities: they travel as strings, as in `neuralc eval --json`.
const jsonSafe = (v: Nested): unknown =>
  typeof v === 'number' ? (Number.isFinite(v) ? v : String(v)) : v.map(jsonSafe);

function evalProgram(args: EvalArgs): Record<string, unknown> {
  const result = run(args.source, {
    file: '<source>',
    inputs: args.inputs ?? {},
    params: args.params,
    batch: args.batch,
    grad: args.grad,
    dtype: args.dtype,
    limit: args.limit,
    maxSteps: args.maxSteps,
  });
  const grad = result.grad && Object.fromEntries(Object.entries(result.grad).map(([k, g]) => [k, jsonSafe(g)]));
  return { value: jsonSafe(result.value), shape: result.shape, ...(grad && { grad }) };
}

/** Without declared inputs, every free identifier that is not a param is a scalar input (as `neuralc graph`). */
function graphText(args: GraphArgs): Record<string, unknown> {
  let inputs = args.inputs;
  if (!inputs) {
    const parsed = parseProgram(args.source, { file: '<source>', params: args.params && Object.keys(args.params) });
    if (!parsed.program) throw new CompileError(parsed.diagnostics, parsed.source);
    inputs = Object.fromEntries(parsed.program.inputs.map((name) => [name, 'scalar' as const]));
  }
  const module = compile(args.source, { file: '<source>', inputs, params: args.params, optimize: args.optimize });
  try {
    return { inputs, text: module.graphText() };
  } finally {
    module.dispose();
  }
}

export const WORK = { eval: evalProgram, graph: graphText };
export type WorkName = keyof typeof WORK;

export function doWork(name: WorkName, args: never): Outcome {
  try {
    return { ok: true, data: WORK[name](args) };
  } catch (err) {
    return { ok: false, error: toolError(err) };
  }
}
