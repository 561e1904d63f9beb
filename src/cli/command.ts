// What a subcommand looks like; commands are registered in main.ts's table.
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile: (path: string) => Buffer;
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

/** A file's text; a missing file whose name looks like source text gets a pointer to -e. */
export function readText(io: Io, file: string): string {
  try {
    return io.readFile(file).toString('utf8');
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
