// `neuralc lsp --stdio`: the Language Server Protocol server (src/tools/lsp).
import { parseArgs, UsageError, type Command } from '../command';

export const lsp: Command = {
  summary: 'serve the Language Server Protocol on stdio, for editors',
  usage:
    'neuralc lsp --stdio\n' +
    '      Diagnostics as you type (with shape errors where the file declares its input shapes in comment lines\n' +
    '      "; @inputs v[3] L[3 3] dt" and "; @params G"; a name without a shape is a scalar), hover, completion,\n' +
    '      go to definition, quick fixes and inlay hints of shapes. --stdio (the only transport) is required.',
  run(args) {
    const { positional, options } = parseArgs(args, [], ['stdio']);
    if (positional.length > 0) throw new UsageError(`lsp takes no arguments, got ${positional.join(' ')}`);
    if (!options.has('stdio')) throw new UsageError('lsp needs --stdio (the transport editors start it with)');
    // Loaded here, so that the server's dependencies cost nothing to `require('neural-compiler')`.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { serveStdio } = require('../../tools/lsp/server') as typeof import('../../tools/lsp/server');
    serveStdio();
    return new Promise<number>(() => {}); // serves until the client ends the process (exit notification)
  },
};
