// The CLI run in process, its output captured: what every CLI test that needs no child process uses
// (tests/helpers/cli-process.ts runs the real bin/neuralc.js).
import fs from 'fs';
import { main } from '../../src/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runMain(...argv: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t: string) => void (stdout += t),
    stderr: (t: string) => void (stderr += t),
    readFile: (p: string) => fs.readFileSync(p),
  });
  return { code, stdout, stderr };
}
