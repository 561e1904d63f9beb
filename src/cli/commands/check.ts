// `neuralc check FILE... [--inputs a,b|JSON] [--params G|JSON] [--json] [--fix]`: diagnostics for each file,
// the shape checker's included when the input shapes are known.
import { diagnosticToJson, hasErrors, renderDiagnostic } from '../../diagnostics';
import { parseProgram, type ParseOptions } from '../../frontend';
import { applyFixes, safeFixes } from '../../tools/fixes';
import type { InputShape } from '../../api';
import type { Shape } from '../../ops';
import {
  analyse,
  declarationsOf,
  exprShape,
  readDirectives,
  type Analysis,
  type Declarations,
} from '../../tools/analysis';
import { nameList, parseArgs, readText, UsageError, type Command, type Io } from '../command';
import { jsonObjectOption, looksLikeJson, paramsOption } from './eval';

/** Rounds of fixing at most: a fixed bracket can reveal a misspelt name behind it. */
const FIX_ROUNDS = 10;

/** Applies safe fixes until none is left; returns the new text and how many were applied. */
function fixText(text: string, options: ParseOptions): { text: string; count: number } {
  let count = 0;
  for (let round = 0; round < FIX_ROUNDS; round++) {
    const fixes = safeFixes(parseProgram(text, options).diagnostics);
    if (fixes.length === 0) break;
    const applied = applyFixes(text, fixes);
    text = applied.text;
    count += applied.fixes.length;
  }
  return { text, count };
}

function writeFixed(io: Io, file: string, text: string): void {
  if (!io.writeFile) throw new UsageError('--fix cannot write files here');
  io.writeFile(file, text);
}

/** --inputs as names (shapes unknown), or JSON with shapes (`[3]`, `[3, 3]`, `"scalar"`); undefined when absent. */
function inputsOption(value: string | true | undefined): string[] | Record<string, InputShape | null> | undefined {
  if (typeof value !== 'string') return undefined;
  if (!looksLikeJson(value)) return nameList(value);
  const inputs = jsonObjectOption('inputs', value);
  for (const [name, shape] of Object.entries(inputs))
    if (!(
      shape === null ||
      shape === 'scalar' ||
      (Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d > 0))
    ))
      throw new UsageError(
        `--inputs: the shape of '${name}' must be "scalar", [n], [rows, columns] or [a, b, c], got ${JSON.stringify(shape)}`,
      );
  return inputs as Record<string, InputShape | null>;
}

/**
 * The analysis with the declarations given, else the file's `; @inputs` lines; a program with no
 * free inputs at all has every shape known, so it is shape-checked too.
 */
function analyseFile(text: string, file: string, given: Declarations): Analysis {
  const directives = readDirectives(text).declarations;
  const declarations = {
    inputs: given.inputs ?? directives.inputs,
    params: given.params ?? directives.params,
    paramValues: given.paramValues,
  };
  const analysis = analyse(text, file, declarations);
  if (declarations.inputs || analysis.program?.inputs.length !== 0) return analysis;
  return analyse(text, file, { ...declarations, inputs: new Map() });
}

const shapeText = (shape: Shape | undefined): string | null =>
  shape === undefined ? null : shape.length === 0 ? 'scalar' : `[${shape.join(' ')}]`;

function fileJson(file: string, a: Analysis): object {
  return {
    file,
    inputs: a.program
      ? Object.fromEntries(a.program.inputs.map((n) => [n, shapeText(a.declarations.inputs?.get(n))]))
      : null,
    params: a.program?.params ?? null,
    shapesChecked: a.shapes !== undefined,
    result: a.program && a.shapes ? shapeText(exprShape(a, a.program.result)) : null,
    diagnostics: a.diagnostics.map((d) => diagnosticToJson(d, a.source)),
  };
}

function fileLine(file: string, a: Analysis): string {
  const program = a.program!;
  const list = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
  const shapes = a.shapes
    ? `; result ${shapeText(exprShape(a, program.result)) ?? 'of unknown shape'}`
    : program.inputs.length > 0
      ? `; shapes not checked (give them: --inputs '{"${program.inputs[0]}": [3]}' or a "; @inputs" line)`
      : '';
  return `${file}: inputs ${list(program.inputs)}; params ${list(program.params)}${shapes}\n`;
}

export const check: Command = {
  summary: 'check programs (names, forms and, given input shapes, shapes) and list their inputs and params',
  usage:
    'neuralc check FILE... [--inputs a,b|JSON] [--params G,k|JSON] [--json] [--fix]\n' +
    '      --inputs declares the inputs (a misspelt name is then an error with a suggestion); with shapes,\n' +
    '      --inputs \'{"r": [3], "m": "scalar"}\', it also checks every shape (mismatched operands, branches of\n' +
    "      different shapes, loop tests that are not scalars), as eval would. Without --inputs the file's\n" +
    '      "; @inputs r[3] m" lines declare them; a program with no inputs is always shape-checked.\n' +
    '      --params names the params, or gives initial values whose shapes the shape check uses (and\n' +
    '      whose values the stability check of explicit diffusion steps, W0004, uses).\n' +
    '      check cannot find a loop that never ends or a run that exceeds its limits: that depends on the\n' +
    '      values (eval stops it with E0205 or E0207).\n' +
    '      --json prints one document on stdout: {"ok", "files": [{"file", "inputs": {name: shape|null},\n' +
    '      "params", "shapesChecked", "result", "diagnostics"}]}, each diagnostic with its fixes (exact text\n' +
    '      edits, some marked safe).\n' +
    '      --fix applies the safe fixes (missing or stray brackets, an unambiguous misspelt name, let bindings without\n' +
    '      their brackets), rewrites each FILE, and reports what is left.\n' +
    '      Exit codes: 0 no errors, 1 errors (or a file that cannot be read), 2 bad arguments.',
  run(args, io) {
    const { positional, options } = parseArgs(args, ['inputs', 'params'], ['json', 'fix']);
    if (positional.length === 0) throw new UsageError('check needs at least one FILE');
    const json = options.has('json');
    // Names alone declare no values (eval's default of 1 is not what the program will be given).
    const paramsText = options.get('params');
    const params =
      typeof paramsText === 'string' && !looksLikeJson(paramsText) ? nameList(paramsText) : paramsOption(paramsText);
    const declarations = declarationsOf(inputsOption(options.get('inputs')), params);
    const files: object[] = [];
    let failed = false;
    for (const file of positional) {
      let text: string;
      try {
        text = readText(io, file);
      } catch (err) {
        io.stderr(`neuralc: ${(err as Error).message}\n`);
        if (json) files.push({ file, error: (err as Error).message });
        failed = true;
        continue;
      }
      if (options.has('fix')) {
        const names = (m?: Map<string, unknown>) => m && [...m.keys()];
        const fixed = fixText(text, { file, inputs: names(declarations.inputs), params: names(declarations.params) });
        if (fixed.count > 0) {
          writeFixed(io, file, fixed.text);
          io.stderr(`${file}: applied ${fixed.count} fix${fixed.count === 1 ? '' : 'es'}\n`);
          text = fixed.text;
        }
      }
      const analysis = analyseFile(text, file, declarations);
      failed ||= hasErrors(analysis.diagnostics);
      if (json) files.push(fileJson(file, analysis));
      else {
        for (const d of analysis.diagnostics) io.stderr(`${renderDiagnostic(d, analysis.source)}\n\n`);
        if (analysis.program && !hasErrors(analysis.diagnostics)) io.stdout(fileLine(file, analysis));
      }
    }
    if (json) io.stdout(`${JSON.stringify({ ok: !failed, files }, null, 2)}\n`);
    return failed ? 1 : 0;
  },
};
