// neuralc: a subcommand dispatcher. Adding a command is one file in commands/ plus a line in COMMANDS.
import fs from 'fs';
import { errorJson, packageVersion, UsageError, type Command, type Io } from './command';
import { check } from './commands/check';
import { demo } from './commands/demo';
import { doctor } from './commands/doctor';
import { evalCommand } from './commands/eval';
import { experiments } from './commands/experiments';
import { fitCommand } from './commands/fit';
import { graph } from './commands/graph';
import { lsp } from './commands/lsp';
import { mcp } from './commands/mcp';
import { parse } from './commands/parse';
import { spec } from './commands/spec';

export const COMMANDS: Record<string, Command> = {
  check,
  parse,
  eval: evalCommand,
  graph,
  fit: fitCommand,
  demo,
  experiments,
  spec,
  lsp,
  mcp,
  doctor,
};

const processIo: Io = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readFile: (p) => fs.readFileSync(p),
  writeFile: (p, text) => fs.writeFileSync(p, text),
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}\n      ${c.usage}`);
  return (
    `usage: neuralc COMMAND [ARGS]   (neuralc --version prints the version)\n\ncommands:\n${lines.join('\n')}\n\n` +
    `exit codes: 0 success, 1 the program, data or fit failed (diagnostics say why), 2 bad command-line arguments.\n` +
    `with --json, every command prints exactly one JSON document on stdout, errors included ({"error": {...}}).\n`
  );
}

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`neuralc ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`neuralc: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    const code = err instanceof UsageError ? 2 : 1;
    io.stderr(`neuralc ${name}: ${(err as Error).message}\n${code === 2 ? `usage: ${command.usage}\n` : ''}`);
    // A --json caller reads stdout only: the usage error is its one document there too.
    if (rest.includes('--json')) io.stdout(`${JSON.stringify(errorJson(err, code === 2 ? 'usage' : undefined))}\n`);
    return code;
  }
}

/** Runs the CLI on this process's arguments; a closed stdout (`neuralc ... | head`) ends it quietly. */
export function runProcess(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

if (require.main === module) runProcess();
