// `neuralc mcp`: a Model Context Protocol server over stdio with the tools check, eval, fit, graph and
// spec. A bad program is a tool result with isError and its diagnostics as data, so a model can
// correct itself; each call is bounded by the compiler's limits and a time limit.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { LANGUAGE_GUIDE } from '../guide';
import { check, evaluate, fitProgram, graph, spec } from './handlers';
import { Sandbox } from './sandbox';
import type { Outcome } from './work';

const source = z.string().max(2_000_000).describe('the program text, e.g. "(* G (/ m1 m2))"');
const value = z
  .any()
  .describe('a number, or nested arrays of numbers (vector, matrix, rank-3 array; with batch, one more level)');
const shape = z
  .union([z.literal('scalar'), z.array(z.number().int().min(1)).min(1).max(3)])
  .describe('"scalar", [n], [rows, columns] or [a, b, c]');
const diagnostic = z.object({
  severity: z.string(),
  code: z.string(),
  message: z.string(),
  file: z.string(),
  line: z.number().nullable(),
  column: z.number().nullable(),
  endLine: z.number().nullable(),
  endColumn: z.number().nullable(),
  hint: z.string().nullable(),
  fixes: z.array(z.any()),
});

const checkInput = {
  source,
  inputs: z
    .union([z.array(z.string()), z.record(z.string(), shape.nullable())])
    .optional()
    .describe('input names, or names with shapes; with every shape given, shapes are checked too'),
  params: z
    .union([z.array(z.string()), z.record(z.string(), value)])
    .optional()
    .describe('param names, or initial values'),
};
const evalInput = {
  source,
  inputs: z.record(z.string(), value).optional().describe('a value for every input'),
  params: z.record(z.string(), value).optional().describe('param values (each param starts at 1.0 otherwise)'),
  batch: z.boolean().optional().describe('every input has a leading batch dimension'),
  grad: z.boolean().optional().describe('also return d(sum of the value)/d(each input and param)'),
  dtype: z.enum(['float32', 'float64']).optional(),
  limit: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .describe('loop iterations and recursion depth per sample (default 10000)'),
};
const fitInput = {
  source,
  params: z.record(z.string(), value).describe('the params to fit, with their initial values'),
  data: z.string().optional().describe('CSV text: a header row, a column per input and a target column'),
  dataPath: z.string().optional().describe('a CSV file to read instead of data'),
  target: z
    .string()
    .optional()
    .describe('the target column (default: target, else the last column that is not an input)'),
  epochs: z.number().int().min(1).max(100_000).optional().describe('default 1000 (Adam) or 50 (L-BFGS)'),
  lr: z.number().positive().optional(),
  optimizer: z.enum(['adam', 'adamw', 'sgd', 'lbfgs']).optional(),
};
const graphInput = {
  source,
  inputs: z.record(z.string(), shape).optional().describe('input shapes (default: every free identifier a scalar)'),
  params: z.record(z.string(), value).optional().describe('params with initial values (their shapes shape the graph)'),
  optimize: z.boolean().optional().describe('constant folding, CSE and dead-code removal (default true)'),
};

/**
 * A tool result: the data as structured content and as JSON text. An error is isError with
 * `{error, diagnostics}` as JSON text only: structured content would have to fit the output schema.
 */
function result(outcome: Outcome) {
  if (!outcome.ok) {
    const text = JSON.stringify({ error: outcome.error.message, diagnostics: outcome.error.diagnostics }, null, 2);
    return { content: [{ type: 'text' as const, text }], isError: true };
  }
  return {
    content: [{ type: 'text' as const, text: JSON.stringify(outcome.data, null, 2) }],
    structuredContent: outcome.data,
  };
}

export function createServer(timeLimitMs: number): { server: McpServer; sandbox: Sandbox } {
  const sandbox = new Sandbox(timeLimitMs);
  const server = new McpServer({ name: 'neural-compiler', version: '0.1.0' }, { instructions: LANGUAGE_GUIDE });
  server.registerTool(
    'check',
    {
      description:
        'Check a program: diagnostics (codes, line:column, hints, fixes), its inputs and params; shapes too when every input shape is given.',
      inputSchema: checkInput,
      outputSchema: {
        ok: z.boolean(),
        inputs: z.array(z.string()),
        params: z.array(z.string()),
        shapesChecked: z.boolean(),
        diagnostics: z.array(diagnostic),
      },
    },
    async (args) => result(check(args)),
  );
  server.registerTool(
    'eval',
    {
      description:
        'Compile and run a program once on given input values; returns its value (and gradients). NaN and infinities are the strings "NaN", "Infinity", "-Infinity".',
      inputSchema: evalInput,
      outputSchema: { value: z.any(), shape: z.array(z.number()), grad: z.record(z.string(), z.any()).optional() },
    },
    async (args) => result(await evaluate(sandbox, args)),
  );
  server.registerTool(
    'fit',
    {
      description:
        'Fit the params of a program to a CSV table (a column per input, and the target); returns the fitted params, the loss and the program printed with the fitted values.',
      inputSchema: fitInput,
      outputSchema: {
        params: z.record(z.string(), z.any()),
        loss: z.number().nullable(),
        steps: z.number(),
        stopped: z.string(),
        source: z.string(),
      },
    },
    async (args) => result(await fitProgram(args, timeLimitMs)),
  );
  server.registerTool(
    'graph',
    {
      description: 'The op graph a program compiles to, as text.',
      inputSchema: graphInput,
      outputSchema: { inputs: z.record(z.string(), shape), text: z.string() },
    },
    async (args) => result(await graph(sandbox, args)),
  );
  server.registerTool(
    'spec',
    {
      description:
        'The whole language as data (forms, primitives with arity, shape rule, doc and example, diagnostic codes, limits) and a short guide.',
      inputSchema: {},
      outputSchema: { spec: z.any(), guide: z.string() },
    },
    async () => result(spec()),
  );
  return { server, sandbox };
}

/** Serves on stdin/stdout until the client closes them. */
export async function serveStdio(timeLimitMs: number): Promise<void> {
  const { server, sandbox } = createServer(timeLimitMs);
  const transport = new StdioServerTransport();
  await server.connect(transport);
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
  });
  sandbox.stop();
  await server.close();
}
