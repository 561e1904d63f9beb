// `neuralc spec [--json]`: the language as data, or the short guide for a language model.
import { LANGUAGE_GUIDE } from '../../tools/guide';
import { languageSpec } from '../../tools/spec';
import { parseArgs, UsageError, type Command } from '../command';

export const spec: Command = {
  summary: 'print the language: a short guide for a language model, or all of it as JSON',
  usage:
    'neuralc spec [--json]\n' +
    '      Without --json: a plain-text guide (what a program is, how inputs and params are declared, worked examples).\n' +
    '      --json: special forms, every primitive (arity, shape rule, doc line, example), the diagnostic codes with\n' +
    '      their message templates, and the limits, generated from the registry.',
  run(args, io) {
    const { positional, options } = parseArgs(args, [], ['json']);
    if (positional.length > 0) throw new UsageError(`spec takes no arguments, got ${positional.join(' ')}`);
    io.stdout(options.has('json') ? `${JSON.stringify(languageSpec(), null, 2)}\n` : LANGUAGE_GUIDE);
    return 0;
  },
};
