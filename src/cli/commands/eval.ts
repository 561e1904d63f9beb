// `neuralc eval FILE|-e SOURCE ...`: compiles and runs a program once, printing its value (and gradients).
// Also exports the program-reading and option helpers that `graph` shares.
import { run, type RunResult } from '../../api';
import type { Nested } from '../../runtime/host-data';
import type { DType } from '../../runtime/tensor';
import { formatNumber } from '../../tools/numbers';
import { fail, jsonText, nameList, parseArgs, readText, UsageError, type Command, type Io } from '../command';

export interface ProgramArgs {
  file: string;
  /** The source given with -e; a FILE is read by `programText`. */
  inline?: string;
  options: Map<string, string | true>;
}

/** Options plus where the program is: one FILE, or `-e SOURCE` (which parseArgs would take as positional). */
export function programArgs(args: string[], valued: string[], flags: string[]): ProgramArgs {
  const e = args.indexOf('-e');
  if (e >= 0 && args[e + 1] === undefined) throw new UsageError('-e needs the program source as its value');
  const { positional, options } = parseArgs(e >= 0 ? [...args.slice(0, e), ...args.slice(e + 2)] : args, valued, flags);
  if (e >= 0) {
    if (positional.length > 0)
      throw new UsageError(`give either FILE or -e SOURCE, not both (got ${positional.join(' ')})`);
    return { file: '<-e>', inline: args[e + 1], options };
  }
  if (positional.length !== 1)
    throw new UsageError(`needs exactly one FILE or -e SOURCE, got ${positional.length} arguments`);
  return { file: positional[0], options };
}

export function programText(program: ProgramArgs, io: Io): string {
  if (program.inline !== undefined) return program.inline;
  return readText(io, program.file);
}

// JSON has no NaN or infinities: they travel as these strings, both ways.
const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

/** A JSON object option; anything else is a usage error naming the flag. */
export function jsonObjectOption(flag: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text, (_key, v) => (typeof v === 'string' && NON_FINITE.has(v) ? Number(v) : v));
  } catch (err) {
    throw new UsageError(
      `--${flag} is not valid JSON (${(err as Error).message}); example: --${flag} '{"x": [1, 2, 3]}'`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError(`--${flag} must be a JSON object mapping names to values, e.g. --${flag} '{"x": 2}'`);
  return value as Record<string, unknown>;
}

/** Whether an option that takes either names or JSON was given JSON (names never start like this). */
export const looksLikeJson = (value: string): boolean => /^\s*[{\["\d]/.test(value);

/** `--params G,k` (each starts at 1.0) or `--params '{"G": 6.674}'` (initial values). */
export function paramsOption(value: string | true | undefined): Record<string, Nested> | undefined {
  if (typeof value !== 'string') return undefined;
  if (looksLikeJson(value)) return jsonObjectOption('params', value) as Record<string, Nested>;
  return Object.fromEntries(nameList(value)!.map((name) => [name, 1]));
}

function dtypeOption(value: string | true | undefined): DType | undefined {
  if (value === undefined || value === 'float32' || value === 'float64') return value;
  throw new UsageError(`--dtype must be float32 or float64, got ${value}`);
}

/** A whole-number option >= `min`; undefined when absent. */
export function wholeOption(flag: string, value: string | true | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${flag} must be a whole number >= ${min}, got ${value}`);
  return Number(value);
}

/** --batch (every input batched), with --shared p,q naming the inputs every sample shares. */
function batchOption(options: Map<string, string | true>, inputs: Record<string, unknown>): boolean | string[] {
  const shared = nameList(options.get('shared'));
  if (!shared) return options.has('batch');
  if (!options.has('batch')) throw new UsageError('--shared needs --batch (it names the inputs that are not batched)');
  for (const name of shared)
    if (!(name in inputs)) throw new UsageError(`--shared ${name}: there is no input '${name}' in --inputs`);
  return Object.keys(inputs).filter((name) => !shared.includes(name));
}

/** Vectors on one line; matrices (and batches of them) one row per line, aligned under the first. */
function formatValue(v: Nested, dtype: DType, indent: number): string {
  if (typeof v === 'number') return formatNumber(v, dtype);
  if (v.every((x) => typeof x === 'number')) return `[${v.map((x) => formatNumber(x as number, dtype)).join(', ')}]`;
  return `[${v.map((row) => formatValue(row, dtype, indent + 1)).join(`,\n${' '.repeat(indent + 1)}`)}]`;
}

function formatResult(result: RunResult, dtype: DType): string {
  const lines = [formatValue(result.value, dtype, 0)];
  for (const [name, g] of Object.entries(result.grad ?? {})) {
    const label = `grad ${name}: `;
    lines.push(label + formatValue(g, dtype, label.length));
  }
  return `${lines.join('\n')}\n`;
}

export const evalCommand: Command = {
  summary: 'compile and run a program once, printing its value (and gradients)',
  usage:
    'neuralc eval FILE|-e SOURCE [--inputs JSON] [--params G,k|JSON] [--batch [--shared a,b]] [--grad]\n' +
    '                           [--dtype float32|float64] [--limit N] [--max-steps N] [--json]\n' +
    '      --inputs \'{"x": [1, 2, 3]}\' gives input values; with --batch each has a leading batch dimension,\n' +
    '      except the inputs --shared names, which every sample shares (a parameter vector beside a batch).\n' +
    '      --params \'{"G": 6.674}\' gives initial values (a bare name list starts each at 1.0); a define of\n' +
    '      the same name in the program is an error, not a silent override.\n' +
    '      --grad also prints d(sum of the value)/d(each param and input). --limit caps loop iterations\n' +
    '      and recursion depth per sample (default 10000); --max-steps caps the loop iterations and\n' +
    '      function calls of the whole run (default 1000000, error E0207).\n' +
    '      --json prints {"value", "shape", "grad"?} on stdout, or {"error": {"code", "message", "line", "column",\n' +
    '      "diagnostics"}} (code E0299 and null line and column for errors without a source location; "usage"\n' +
    '      for bad arguments). JSON has no NaN or infinities, so they are written as the strings "NaN",\n' +
    '      "Infinity" and "-Infinity"; --inputs and --params accept the same strings.\n' +
    '      Exit codes: 0 success, 1 the program failed, 2 bad arguments.',
  run(args, io) {
    const valued = ['inputs', 'params', 'dtype', 'limit', 'max-steps', 'shared'];
    const program = programArgs(args, valued, ['batch', 'grad', 'json']);
    const { file, options } = program;
    const inputs = options.has('inputs') ? jsonObjectOption('inputs', options.get('inputs') as string) : {};
    const params = paramsOption(options.get('params'));
    const dtype = dtypeOption(options.get('dtype')) ?? 'float32';
    const limit = wholeOption('limit', options.get('limit'));
    const maxSteps = wholeOption('max-steps', options.get('max-steps'));
    const batch = batchOption(options, inputs);
    const json = options.has('json');
    try {
      const result = run(programText(program, io), {
        file,
        inputs: inputs as Record<string, Nested>,
        params,
        dtype,
        limit,
        maxSteps,
        batch,
        grad: options.has('grad'),
      });
      io.stdout(json ? `${jsonText(result)}\n` : formatResult(result, dtype));
      return 0;
    } catch (err) {
      return fail(err, io, json);
    }
  },
};
