// The CLI as a child process running the TypeScript sources, as an editor or an MCP client starts it.
import path from 'path';
import { tsHook } from '../../src/runtime/loader';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.ts');

/** `node -e SCRIPT`: the arguments that run `neuralc ...args` from the sources. */
export const cliArgs = (...args: string[]): string[] => [
  '-e',
  `${tsHook()}\nrequire(${JSON.stringify(MAIN)}).main(${JSON.stringify(args)}).then((code) => { process.exitCode = code; });`,
];
