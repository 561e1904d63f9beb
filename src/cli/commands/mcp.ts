// `neuralc mcp [--timeout SECONDS]`: the Model Context Protocol server on stdio (src/tools/mcp).
import { parseArgs, UsageError, type Command } from '../command';

const DEFAULT_TIMEOUT_S = 30;

export const mcp: Command = {
  summary: 'serve the Model Context Protocol on stdio (tools check, eval, fit, graph, spec)',
  usage:
    'neuralc mcp [--timeout SECONDS]\n' +
    '      A Model Context Protocol server for language models, on stdin/stdout. A bad program is a tool result\n' +
    `      with isError and its diagnostics. --timeout bounds each eval, graph and fit call (default ${DEFAULT_TIMEOUT_S} s;\n` +
    '      a fit that reaches it returns the params so far).',
  async run(args) {
    const { positional, options } = parseArgs(args, ['timeout'], []);
    if (positional.length > 0) throw new UsageError(`mcp takes no arguments, got ${positional.join(' ')}`);
    const timeout = options.has('timeout') ? Number(options.get('timeout')) : DEFAULT_TIMEOUT_S;
    if (!(timeout > 0) || !Number.isFinite(timeout))
      throw new UsageError(`--timeout must be a number of seconds > 0, got ${options.get('timeout')}`);
    // Loaded here, so that the SDK costs nothing to `require('neural-compiler')` or the other commands.
    const { serveStdio } = await import('../../tools/mcp/server');
    await serveStdio(timeout * 1000);
    return 0;
  },
};
