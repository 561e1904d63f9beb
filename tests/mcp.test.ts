// The MCP server as a client drives it: a child process speaking JSON-RPC over stdio (the SDK's own
// client and transport). Every tool is listed and called, bad programs included.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { cliArgs } from './helpers/cli-process';

jest.setTimeout(120_000);

async function connect(timeoutSeconds: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: cliArgs('mcp', '--timeout', timeoutSeconds),
    stderr: 'pipe',
  });
  const c = new Client({ name: 'test', version: '1.0.0' });
  await c.connect(transport, { timeout: 60_000 });
  return c;
}

let client: Client;
beforeAll(async () => {
  client = await connect('20');
});
afterAll(async () => {
  await client?.close();
});

type Structured = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
async function call(
  name: string,
  args: Record<string, unknown>,
  to = client,
): Promise<{ isError: boolean; data: Structured; text: string }> {
  const r = await to.callTool({ name, arguments: args }, undefined, { timeout: 60_000 });
  const text = (r.content as { type: string; text: string }[])[0].text;
  // Data comes as structured content and as its JSON text; an error as JSON text only.
  if (!r.isError) expect(JSON.parse(text)).toEqual(r.structuredContent);
  return { isError: r.isError === true, data: JSON.parse(text), text };
}

test('the server lists its five tools, each with an input and an output schema, and gives the guide as instructions', async () => {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(['check', 'eval', 'fit', 'graph', 'spec']);
  for (const t of tools) {
    expect(t.inputSchema.type).toBe('object');
    expect(t.outputSchema?.type).toBe('object');
    expect(t.description).toMatch(/\S/);
  }
  expect(tools.find((t) => t.name === 'eval')!.inputSchema.required).toEqual(['source']);
  expect(client.getInstructions()).toContain('The neural language');
});

test('check: inputs and params of a good program; a bad one is an error with codes, positions, hints and fixes', async () => {
  const good = await call('check', { source: '(* G (/ m x))', params: ['G'] });
  expect(good).toMatchObject({
    isError: false,
    data: { ok: true, inputs: ['m', 'x'], params: ['G'], shapesChecked: false, diagnostics: [] },
  });
  const bad = await call('check', { source: '(* 0.5 m velocty)', inputs: ['m', 'velocity'] });
  expect(bad.isError).toBe(true);
  expect(bad.data.diagnostics).toEqual([
    expect.objectContaining({
      code: 'E0030',
      line: 1,
      column: 10,
      hint: "did you mean 'velocity'?",
      fixes: [expect.objectContaining({ title: "change to 'velocity'", safe: true })],
    }),
  ]);
  expect(bad.data.error).toBe('the program has 1 error(s)');
});

test('check with declared shapes reports shape errors', async () => {
  const r = await call('check', { source: '(dot v m)', inputs: { v: [3], m: 'scalar' } });
  expect(r.isError).toBe(true);
  expect(r.data.diagnostics[0]).toMatchObject({
    code: 'E0100',
    line: 1,
    column: 1,
    message: "'dot': argument 2 must be a vector, got scalar",
  });
  expect((await call('check', { source: '(dot v v)', inputs: { v: [3] } })).data).toMatchObject({
    ok: true,
    shapesChecked: true,
  });
});

test('eval: a value and gradients; a runtime limit and a bad input are errors with diagnostics', async () => {
  const r = await call('eval', {
    source: '(* G x x)',
    inputs: { x: 3 },
    params: { G: 2 },
    grad: true,
    dtype: 'float64',
  });
  expect(r).toMatchObject({ isError: false, data: { value: 18, shape: [], grad: { G: 9, x: 12 } } });
  expect((await call('eval', { source: '(/ 1 x)', inputs: { x: 0 } })).data.value).toBe('Infinity');
  const loop = await call('eval', { source: '(loop ((i 0)) (if (< i 0) i (recur (+ i 1))))', limit: 50 });
  expect(loop.isError).toBe(true);
  expect(loop.data.diagnostics[0]).toMatchObject({ code: 'E0205', line: 1, column: 1 });
  const missing = await call('eval', { source: '(+ x y)', inputs: { x: 1 } });
  expect(missing.isError).toBe(true);
  expect(missing.data.error).toContain('y');
});

// Nested loops: 10^4 x 10^4 iterations, stopped by the step budget (E0207) after a second or so.
const SLOW =
  '(loop ((i 0) (s 0)) (if (>= i 9999) s (recur (+ i 1) (+ s (loop ((j 0)) (if (>= j 9999) j (recur (+ j 1))))))))';

test('eval: a run beyond the step budget is its diagnostic', async () => {
  const r = await call('eval', { source: SLOW });
  expect(r.isError).toBe(true);
  expect(r.data.diagnostics[0]).toMatchObject({ code: 'E0207' });
});

test('eval: a call past the time limit ends with an error, and the server carries on', async () => {
  const hasty = await connect('0.2');
  try {
    const r = await call('eval', { source: SLOW }, hasty);
    expect(r).toMatchObject({
      isError: true,
      data: { error: expect.stringContaining('longer than its time limit of 0.2 s'), diagnostics: [] },
    });
    expect((await call('eval', { source: '(+ 1 2)' }, hasty)).data.value).toBe(3);
  } finally {
    await hasty.close();
  }
});

test('fit: CSV text or a file; the fitted program comes back printed', async () => {
  const csv = `x,target\n${[-2, -1, 1, 2].map((x) => `${x},${-2.5 * x}`).join('\n')}\n`;
  const r = await call('fit', { source: '(* k x)', params: { k: 1 }, data: csv, optimizer: 'lbfgs', epochs: 20 });
  expect(r.isError).toBe(false);
  expect(r.data.params.k).toBeCloseTo(-2.5, 4);
  // L-BFGS converges on exact data long before its 20 epochs
  expect(r.data).toMatchObject({
    stopped: 'early',
    source: expect.stringMatching(/^\(define k -2\.\d+\)\n\(\* k x\)$/),
  });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-')), 'data.csv');
  fs.writeFileSync(file, csv);
  expect((await call('fit', { source: '(* k x)', params: { k: 1 }, dataPath: file, epochs: 5 })).isError).toBe(false);
  const both = await call('fit', { source: '(* k x)', params: { k: 1 } });
  expect(both).toMatchObject({
    isError: true,
    data: { error: 'give the data either as CSV text (data) or as a file (dataPath), not both or neither' },
  });
  const bad = await call('fit', { source: '(* k (sqr x))', params: { k: 1 }, data: csv });
  expect(bad.isError).toBe(true);
  expect(bad.data.diagnostics[0]).toMatchObject({
    code: 'E0031',
    fixes: [expect.objectContaining({ title: "change to 'sqrt'" })],
  });
});

test('graph and spec', async () => {
  const g = await call('graph', { source: '(+ u 1)', inputs: { u: [3] } });
  expect(g.isError).toBe(false);
  expect(g.data.text).toContain('vector[3]');
  expect((await call('graph', { source: '(+ u' })).data.diagnostics[0]).toMatchObject({
    code: 'E0003',
    fixes: [expect.objectContaining({ safe: true })],
  });
  const s = await call('spec', {});
  expect(s.data.spec.primitives.length).toBeGreaterThan(70);
  expect(s.data.guide).toContain('Example 1');
});

test('arguments that do not fit the schema are errors, not crashes', async () => {
  const r = await client.callTool({ name: 'eval', arguments: { source: 42 } });
  expect(r.isError).toBe(true);
  expect(JSON.stringify(r.content)).toContain('source');
  await expect(client.callTool({ name: 'nope', arguments: {} })).resolves.toMatchObject({ isError: true });
  expect((await call('check', { source: '(+ 1 2)' })).isError).toBe(false);
});
