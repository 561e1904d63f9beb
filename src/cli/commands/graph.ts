// `neuralc graph FILE|-e SOURCE ...`: prints the op graph a program compiles to.
import { compile, type InputShape } from '../../api';
import { CompileError, renderDiagnostic } from '../../diagnostics';
import { parseProgram } from '../../frontend';
import type { Shape } from '../../ops';
import type { Nested } from '../../runtime/host-data';
import { readDirectives } from '../../tools/analysis';
import { fail, nameList, UsageError, type Command } from '../command';
import { jsonObjectOption, looksLikeJson, paramsOption, programArgs, programText } from './eval';

/**
 * `--inputs u,dt` (scalars) or `--inputs '{"u": [3], "dt": "scalar"}'`; undefined when absent.
 * Null shapes are scalars too: a graph needs every shape.
 */
function inputShapes(value: string | true | undefined): Record<string, InputShape> | undefined {
  if (typeof value !== 'string') return undefined;
  if (!looksLikeJson(value)) return Object.fromEntries(nameList(value)!.map((name) => [name, 'scalar']));
  return Object.fromEntries(
    Object.entries(jsonObjectOption('inputs', value)).map(([name, s]) => [name, (s ?? 'scalar') as InputShape]),
  );
}

/** Without --inputs, every free identifier that is not a param is a scalar input. */
function freeInputs(text: string, file: string, params: string[] | undefined): Record<string, InputShape> {
  const parsed = parseProgram(text, { file, params });
  if (!parsed.program) throw new CompileError(parsed.diagnostics, parsed.source);
  return Object.fromEntries(parsed.program.inputs.map((name) => [name, 'scalar']));
}

/** The file's `; @inputs` and `; @params` lines as compile options (a declared param starts at ones). */
function directiveOptions(text: string): { inputs?: Record<string, InputShape>; params?: Record<string, Nested> } {
  const { inputs, params } = readDirectives(text).declarations;
  const ones = (shape: Shape): Nested =>
    shape.length === 0 ? 1 : Array.from({ length: shape[0] }, () => ones(shape.slice(1)));
  return {
    inputs: inputs && Object.fromEntries([...inputs].map(([n, s]) => [n, s?.length ? [...s] : 'scalar'])),
    params: params && Object.fromEntries([...params].map(([n, s]) => [n, ones(s)])),
  };
}

export const graph: Command = {
  summary: 'print the op graph a program compiles to',
  usage:
    'neuralc graph FILE|-e SOURCE [--inputs a,b|JSON] [--params G,k|JSON] [--format text|dot] [--no-optimize]\n' +
    '      The graph depends on input shapes: --inputs \'{"u": [3], "L": [3, 3], "dt": "scalar"}\'. Inputs given\n' +
    '      by name only are scalars. Without --inputs (--params), the file\'s "; @inputs u0[64 64] steps"\n' +
    '      ("; @params alpha") lines declare them, and every other free identifier is a scalar input.\n' +
    '      --params names the params (starting at 1), or gives initial values whose shapes the graph uses.\n' +
    '      --no-optimize shows the graph before constant folding, CSE and dead-code removal.',
  run(args, io) {
    const program = programArgs(args, ['inputs', 'params', 'format'], ['no-optimize']);
    const { file, options } = program;
    const format = options.get('format') ?? 'text';
    if (format !== 'text' && format !== 'dot') throw new UsageError(`--format must be text or dot, got ${format}`);
    try {
      const text = programText(program, io);
      const directives = directiveOptions(text);
      const params = paramsOption(options.get('params')) ?? directives.params;
      const inputs = inputShapes(options.get('inputs')) ?? {
        ...freeInputs(text, file, params && Object.keys(params)),
        ...directives.inputs,
      };
      const module = compile(text, { file, inputs, params, optimize: !options.has('no-optimize') });
      try {
        for (const w of module.warnings) io.stderr(`${renderDiagnostic(w, module.source)}\n\n`);
        io.stdout(module.graphText(format));
      } finally {
        module.dispose();
      }
      return 0;
    } catch (err) {
      return fail(err, io, false);
    }
  },
};
