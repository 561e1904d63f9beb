// The MCP tools' behaviour, without the protocol: each takes its validated arguments and returns an
// Outcome (data, or an error with the program's diagnostics). server.ts wires them to the SDK.
import fs from 'fs';
import { compile, type InputShape, type Module } from '../../api';
import { diagnosticToJson, hasErrors } from '../../diagnostics';
import { column, parseCsv } from '../../io/csv';
import type { Nested } from '../../runtime/host-data';
import { fit } from '../../train/fit';
import { analyse, declarationsOf } from '../analysis';
import { LANGUAGE_GUIDE } from '../guide';
import { languageSpec } from '../spec';
import type { Sandbox } from './sandbox';
import { toolError, type EvalArgs, type GraphArgs, type Outcome } from './work';

export interface CheckArgs {
  source: string;
  /** Input names, or names with shapes (shapes also check the program's shapes). */
  inputs?: string[] | Record<string, InputShape | null>;
  params?: string[] | Record<string, Nested>;
}

export interface FitArgs {
  source: string;
  params: Record<string, Nested>;
  /** CSV text with a header row; or `dataPath`. */
  data?: string;
  dataPath?: string;
  target?: string;
  epochs?: number;
  lr?: number;
  optimizer?: 'adam' | 'adamw' | 'sgd' | 'lbfgs';
}

export function check(args: CheckArgs): Outcome {
  const a = analyse(args.source, '<source>', declarationsOf(args.inputs, args.params));
  const diagnostics = a.diagnostics.map((d) => diagnosticToJson(d, a.source));
  if (hasErrors(a.diagnostics))
    return {
      ok: false,
      error: {
        message: `the program has ${diagnostics.filter((d) => d.severity === 'error').length} error(s)`,
        diagnostics,
      },
    };
  return {
    ok: true,
    data: {
      ok: true,
      inputs: a.program!.inputs,
      params: a.program!.params,
      shapesChecked: a.shapes !== undefined,
      diagnostics,
    },
  };
}

export const evaluate = (sandbox: Sandbox, args: EvalArgs): Promise<Outcome> => sandbox.run('eval', args);
export const graph = (sandbox: Sandbox, args: GraphArgs): Promise<Outcome> => sandbox.run('graph', args);
export const spec = (): Outcome => ({ ok: true, data: { spec: languageSpec(), guide: LANGUAGE_GUIDE } });

const MAX_EPOCHS = 100_000;

/** An algebraic fit of the params to a CSV table (a column per input, and the target), stopped at the time limit. */
export async function fitProgram(args: FitArgs, timeLimitMs: number): Promise<Outcome> {
  let model: Module | undefined;
  try {
    if ((args.data === undefined) === (args.dataPath === undefined))
      throw new Error('give the data either as CSV text (data) or as a file (dataPath), not both or neither');
    if (args.epochs !== undefined && args.epochs > MAX_EPOCHS)
      throw new Error(`epochs must be at most ${MAX_EPOCHS}, got ${args.epochs}`);
    const file = args.dataPath ?? 'data';
    const table = parseCsv(args.data ?? fs.readFileSync(args.dataPath!, 'utf8'), file);
    model = compile(args.source, { file: '<source>', params: args.params });
    const inputs = model.inputs;
    const target =
      args.target ??
      (table.columns.includes('target') ? 'target' : [...table.columns].reverse().find((c) => !inputs.includes(c)));
    if (target === undefined)
      throw new Error(`${file}: every column is an input of the program; add a target column (or name it with target)`);
    if (inputs.includes(target)) throw new Error(`target '${target}' is an input of the program, not a target`);
    const data = {
      inputs: Object.fromEntries(inputs.map((name) => [name, column(table, name, file)])),
      target: column(table, target, file),
    };
    const lbfgs = args.optimizer === 'lbfgs';
    const result = await fit(model, data, {
      epochs: args.epochs ?? (lbfgs ? 50 : 1000),
      optimizer: args.optimizer,
      lr: args.lr,
      ...(lbfgs ? {} : { schedule: 'cosine' as const, clip: 5 }),
      signal: AbortSignal.timeout(timeLimitMs),
    });
    const stopped = result.stopped === 'aborted' ? 'time limit' : result.stopped;
    return {
      ok: true,
      data: { params: result.params, loss: result.loss, steps: result.steps, stopped, source: model.toSource() },
    };
  } catch (err) {
    return { ok: false, error: toolError(err) };
  } finally {
    model?.dispose();
  }
}
