// `neuralc fit ... --nproc N`: a launcher, as torchrun's --nproc-per-node. It starts this machine's
// N ranks of one distributed fit as child processes, each the same `neuralc fit` command with its
// --rank, --world-size and --init, and passes rank 0's output on (the others' only when they fail).
import { spawn } from 'child_process';
import * as path from 'path';
import { freePort } from '../../train/distributed';
import type { Io } from '../command';
import { loader } from '../../runtime/loader';

export interface Launch {
  /** Ranks on this machine. */
  nproc: number;
  /** Machines, each running the same command with its own nodeRank. */
  nnodes: number;
  nodeRank: number;
  /** Rank 0's `tcp://host:port`; on one machine, a free port of 127.0.0.1 when not given. */
  init?: string;
}

/** `node -e` arguments that run `neuralc ...args` from this build (the TypeScript sources under tests). */
function cliArgs(args: string[]): string[] {
  const main = path.join(__dirname, '..', 'main');
  return [
    '-e',
    `${loader()}\nrequire(${JSON.stringify(main)}).main(${JSON.stringify(args)}).then((code) => { process.exitCode = code; });`,
  ];
}

/** Runs this machine's ranks of `neuralc fit ...args` and waits for them; the exit code is the first failure's, else 0. */
export async function launchRanks(args: string[], launch: Launch, io: Io): Promise<number> {
  const worldSize = launch.nproc * launch.nnodes;
  const init = launch.init ?? `tcp://127.0.0.1:${await freePort()}`;
  const ranks = Array.from({ length: launch.nproc }, (_, i) => launch.nodeRank * launch.nproc + i);
  const codes = await Promise.all(
    ranks.map(
      (rank) =>
        new Promise<number>((resolve) => {
          const child = spawn(
            process.execPath,
            cliArgs([...args, '--rank', `${rank}`, '--world-size', `${worldSize}`, '--init', init]),
            { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOCAL_RANK: `${rank % launch.nproc}` } },
          );
          let errors = '';
          child.stdout.setEncoding('utf8').on('data', (text: string) => rank === 0 && io.stdout(text));
          child.stderr
            .setEncoding('utf8')
            .on('data', (text: string) => (rank === 0 ? io.stderr(text) : (errors += text)));
          child.on('error', (e) => {
            io.stderr(`rank ${rank}: could not start: ${e.message}\n`);
            resolve(1);
          });
          child.on('close', (code, signal) => {
            const failed = code !== 0;
            if (failed && rank !== 0)
              io.stderr(errors.replace(/^(?=.)/gm, `[rank ${rank}] `) + (errors.endsWith('\n') || !errors ? '' : '\n'));
            if (signal) io.stderr(`rank ${rank} was ended by ${signal}\n`);
            resolve(failed ? (code ?? 1) : 0);
          });
        }),
    ),
  );
  return codes.find((c) => c !== 0) ?? 0;
}
