// What a subcommand looks like; commands are registered in main.ts's table.
import fs from 'fs';
import path from 'path';
import { CompileError, diagnosticToJson, renderDiagnostics } from '../diagnostics';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile: (path: string) => Uint8Array;
  /** Only commands that rewrite files use it (`check --fix`); without it they report a usage error. */
  writeFile?: (path: string, text: string) => void;
}

export interface Command {
  summary: string;
  usage: string;
  /** Returns the exit code. Throw UsageError for bad arguments. */
  run(args: string[], io: Io): number | Promise<number>;
}

export class UsageError extends Error {}

/** The package's version, read from package.json next to src/ and dist/. */
export function packageVersion(): string {
  const pkg = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/** JSON has no NaN or infinities: they travel as the strings "NaN", "Infinity" and "-Infinity". */
export const jsonText = (value: unknown): string =>
  JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));

/**
 * The --json form of a failure: the first diagnostic's code and position (null for errors without a
 * source location; code E0299 for those, 'usage' for bad arguments) and every diagnostic.
 */
export function errorJson(err: unknown, code?: 'usage'): object {
  if (err instanceof CompileError && err.diagnostics.length > 0) {
    const diagnostics = err.diagnostics.map((d) => diagnosticToJson(d, err.source));
    const { message, line, column } = diagnostics[0];
    return { error: { code: diagnostics[0].code, message, line, column, diagnostics } };
  }
  return { error: { code: code ?? 'E0299', message: (err as Error).message, line: null, column: null } };
}

/** Reports a failed run (rendered on stderr; with --json also its one document on stdout) and returns exit code 1. */
export function fail(err: unknown, io: Io, json: boolean): number {
  if (err instanceof CompileError) io.stderr(`${renderDiagnostics(err.diagnostics, err.source)}\n`);
  else io.stderr(`error: ${(err as Error).message}\n`);
  if (json) io.stdout(`${jsonText(errorJson(err))}\n`);
  return 1;
}

/** A file's text; a missing file whose name looks like source text gets a pointer to -e. */
export function readText(io: Io, file: string): string {
  try {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(io.readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT' && /^\s*[([]/.test(file) ? ' (to run source text rather than a file, pass it with -e)' : '';
    throw new Error(`cannot read ${file}: ${code ?? (err as Error).message}${hint}`);
  }
}

/** Splits `--name value`, `--name=value` and `--flag` options from positional arguments. */
export function parseArgs(
  args: string[],
  valued: string[],
  flags: string[],
): { positional: string[]; options: Map<string, string | true> } {
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (flags.includes(name) && inline === undefined) options.set(name, true);
    else if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      options.set(name, value);
    } else throw new UsageError(`unknown option --${name}`);
  }
  return { positional, options };
}

/** `a,b, c` -> ['a', 'b', 'c']; undefined when the option is absent. */
export const nameList = (value: string | true | undefined): string[] | undefined =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : undefined;
