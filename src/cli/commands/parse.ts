// `neuralc parse FILE`: prints the tree-sitter syntax tree.
import { parseTree } from '../../frontend';
import { parseArgs, readText, UsageError, type Command } from '../command';

export const parse: Command = {
  summary: 'print the syntax tree of a program',
  usage: 'neuralc parse FILE',
  run(args, io) {
    const { positional } = parseArgs(args, [], []);
    if (positional.length !== 1) throw new UsageError('parse needs exactly one FILE');
    io.stdout(`${parseTree(readText(io, positional[0]))}\n`);
    return 0;
  },
};
