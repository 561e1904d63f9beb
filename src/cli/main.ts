// neuralc: a subcommand dispatcher. Adding a command is one file in commands/ plus a line in COMMANDS.
import fs from 'fs';
import { UsageError, type Command, type Io } from './command';
import { check } from './commands/check';
import { demo } from './commands/demo';
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
  return `usage: neuralc COMMAND [ARGS]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(help());
    return name === undefined ? 2 : 0;
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
    if (err instanceof UsageError) {
      io.stderr(`neuralc ${name}: ${err.message}\nusage: ${command.usage}\n`);
      return 2;
    }
    io.stderr(`neuralc ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
