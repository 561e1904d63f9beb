// `neuralc experiments [NAME ...] [--quick] [--out DIR] [--jobs N]`: reproduces the paper's
// experiments, spread over N processes (default: one per core), each on 1 libtorch thread.
import os from 'os';
import { EXPERIMENTS, runExperiments, selectExperiments } from '../../experiments/runner';
import { Progress } from '../../experiments/progress';
import { parseArgs, UsageError, type Command } from '../command';
import { wholeOption } from './eval';

export const experiments: Command = {
  summary: "reproduce the paper's experiments (tables, JSON rows, SVG plots, summary.md)",
  usage: `neuralc experiments [NAME ...] [--quick] [--out DIR] [--jobs N]   (NAME: ${EXPERIMENTS.map((e) => e.name).join(', ')}; DIR default results; N processes, default one per core)`,
  async run(args, io) {
    const { positional, options } = parseArgs(args, ['out', 'jobs'], ['quick']);
    const jobs = wholeOption('jobs', options.get('jobs')) ?? os.availableParallelism();
    let selected;
    try {
      selected = selectExperiments(positional);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const quick = options.has('quick');
    const out = (options.get('out') as string | undefined) ?? 'results';
    const progress = new Progress(io.stderr, process.stderr.isTTY === true);
    const command = ['neuralc experiments', ...args].join(' ');
    const log = (line: string) => io.stderr(`${line}\n`);
    await runExperiments(selected, { quick, out, jobs, command, log }, { quick, progress });
    io.stdout(`wrote ${out}/summary.md\n`);
    return 0;
  },
};
