// `neuralc experiments [NAME ...] [--quick] [--out DIR]`: reproduces the paper's experiments.
import { EXPERIMENTS, runExperiments, selectExperiments } from '../../experiments/runner';
import { Progress } from '../../experiments/progress';
import { parseArgs, UsageError, type Command } from '../command';

export const experiments: Command = {
  summary: "reproduce the paper's experiments (tables, JSON rows, SVG plots, summary.md)",
  usage: `neuralc experiments [NAME ...] [--quick] [--out DIR]   (NAME: ${EXPERIMENTS.map((e) => e.name).join(', ')}; DIR default results)`,
  async run(args, io) {
    const { positional, options } = parseArgs(args, ['out'], ['quick']);
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
    await runExperiments(selected, { quick, out, command, log: (line) => io.stderr(`${line}\n`) }, { quick, progress });
    io.stdout(`wrote ${out}/summary.md\n`);
    return 0;
  },
};
