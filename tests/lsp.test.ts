// The language server as an editor drives it: a child process speaking framed JSON-RPC over stdio
// (vscode-jsonrpc, what VS Code's client uses): initialize, open a document with errors, hover,
// complete, go to definition, apply a quick fix, inlay hints.
import { spawn, type ChildProcess } from 'child_process';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { cliArgs } from './helpers/cli-process';

jest.setTimeout(120_000);

const URI = 'file:///work/energy.neural';
const TEXT = [
  '; @inputs v[3] m',
  '; @params k',
  '(define half 0.5)',
  '(let ((v2 (dot v v)))',
  '  (* half m v2 (sqr k)))',
  '',
].join('\n');

let child: ChildProcess;
let rpc: MessageConnection;
const published: { uri: string; diagnostics: any[] }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  child = spawn(process.execPath, cliArgs('lsp', '--stdio'), { stdio: ['pipe', 'pipe', 'inherit'] });
  rpc = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  rpc.onNotification('textDocument/publishDiagnostics', (p) => published.push(p));
  rpc.listen();
  const init = await rpc.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
  expect(init).toMatchObject({
    capabilities: {
      hoverProvider: true,
      definitionProvider: true,
      inlayHintProvider: true,
      completionProvider: expect.any(Object),
    },
  });
  await rpc.sendNotification('initialized', {});
});

afterAll(async () => {
  await rpc?.sendRequest('shutdown').catch(() => {});
  await rpc?.sendNotification('exit').catch(() => {});
  const exited = new Promise((resolve) => child.once('exit', resolve));
  setTimeout(() => child.kill(), 10_000).unref();
  await exited;
  rpc.dispose();
});

/** The next diagnostics published for `version` of the document. */
async function diagnosticsFor(version: number) {
  for (let i = 0; i < 600; i++) {
    const found = published.find((p) => p.uri === URI && (p as { version?: number }).version === version);
    if (found) return found.diagnostics;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no diagnostics for version ${version}`);
}

const at = (line: number, character: number) => ({ textDocument: { uri: URI }, position: { line, character } });

test('opening a document with an error publishes it with its code, range, hint and fixes', async () => {
  await rpc.sendNotification('textDocument/didOpen', {
    textDocument: { uri: URI, languageId: 'neural', version: 1, text: TEXT },
  });
  const diagnostics = await diagnosticsFor(1);
  expect(diagnostics).toEqual([
    expect.objectContaining({
      code: 'E0031',
      severity: 1,
      source: 'neural',
      range: { start: { line: 4, character: 16 }, end: { line: 4, character: 19 } },
      message: "unknown function 'sqr'\nhelp: did you mean 'sqrt'?",
    }),
  ]);
});

test('a quick fix from the diagnostic, applied, clears it', async () => {
  const [d] = await diagnosticsFor(1);
  const actions = (await rpc.sendRequest('textDocument/codeAction', {
    textDocument: { uri: URI },
    range: d.range,
    context: { diagnostics: [d] },
  })) as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(actions.map((a) => [a.title, a.kind, a.isPreferred])).toEqual([["change to 'sqrt'", 'quickfix', true]]);
  const edits = actions[0].edit.changes[URI];
  expect(edits).toEqual([{ range: d.range, newText: 'sqrt' }]);
  await rpc.sendNotification('textDocument/didChange', {
    textDocument: { uri: URI, version: 2 },
    contentChanges: [{ range: edits[0].range, text: edits[0].newText }],
  });
  expect(await diagnosticsFor(2)).toEqual([]);
});

test('hover: a primitive, a binding with its shape, an input, an expression', async () => {
  const hover = async (line: number, ch: number) =>
    ((await rpc.sendRequest('textDocument/hover', at(line, ch))) as { contents: { value: string } } | null)?.contents
      .value;
  expect(await hover(3, 11)).toContain('`dot`: 2 argument(s)\n\nDot product of two vectors.');
  expect(await hover(4, 12)).toBe('`v2`: local bound at 4:8, scalar');
  expect(await hover(3, 15)).toBe('`v`: input, vector[3]');
  expect(await hover(4, 5)).toBe('`half`: value bound at 3:9, scalar');
  expect(await hover(3, 1)).toContain('(let ((name value) ...) body)');
  expect(await hover(3, 8)).toBe('`v2`: local bound at 4:8, scalar'); // the binding name itself
  expect(await hover(3, 11)).toContain('`dot`');
  expect(await hover(3, 10)).toBe('shape: scalar'); // the expression (dot v v)
  expect(await hover(0, 3)).toBe(undefined); // a comment has nothing to say (hover null)
});

test('a shape error appears where the shapes are declared, and goes when fixed', async () => {
  await rpc.sendNotification('textDocument/didChange', {
    textDocument: { uri: URI, version: 3 },
    contentChanges: [{ range: { start: { line: 3, character: 15 }, end: { line: 3, character: 16 } }, text: 'm' }],
  });
  const [d] = await diagnosticsFor(3);
  expect(d).toMatchObject({
    code: 'E0100',
    message: "'dot': argument 1 must be a vector, got scalar",
    range: { start: { line: 3, character: 10 } },
  });
  await rpc.sendNotification('textDocument/didChange', {
    textDocument: { uri: URI, version: 4 },
    contentChanges: [{ range: { start: { line: 3, character: 15 }, end: { line: 3, character: 16 } }, text: 'v' }],
  });
  expect(await diagnosticsFor(4)).toEqual([]);
});

test('completion offers names in scope, defined values, primitives and special forms', async () => {
  const items = (await rpc.sendRequest('textDocument/completion', at(4, 14))) as { label: string; detail?: string }[];
  const detail = (label: string) => items.find((i) => i.label === label)?.detail;
  expect(detail('v2')).toBe('local');
  expect(detail('half')).toBe('value');
  expect(detail('v')).toBe('input');
  expect(detail('k')).toBe('param');
  expect(detail('matvec')).toBe('2 argument(s)');
  expect(detail('letrec')).toBe('(letrec ((name (lambda (param ...) body)) ...) body)');
  const outside = (await rpc.sendRequest('textDocument/completion', at(3, 2))) as { label: string }[];
  expect(outside.map((i) => i.label)).not.toContain('v2'); // the let's name is not in scope in its own binding list
});

test('go to definition: a let binding, a define', async () => {
  expect(await rpc.sendRequest('textDocument/definition', at(4, 12))).toEqual({
    uri: URI,
    range: { start: { line: 3, character: 7 }, end: { line: 3, character: 9 } },
  });
  expect(await rpc.sendRequest('textDocument/definition', at(4, 6))).toEqual({
    uri: URI,
    range: { start: { line: 2, character: 8 }, end: { line: 2, character: 12 } },
  });
  expect(await rpc.sendRequest('textDocument/definition', at(4, 3))).toBe(null); // a primitive has no definition in the file
});

test('inlay hints show the shapes of bindings', async () => {
  const hints = (await rpc.sendRequest('textDocument/inlayHint', {
    textDocument: { uri: URI },
    range: { start: { line: 0, character: 0 }, end: { line: 6, character: 0 } },
  })) as { label: string; position: object }[];
  expect(hints.map((h) => [h.label, h.position])).toEqual([
    [': scalar', { line: 2, character: 12 }],
    [': scalar', { line: 3, character: 9 }],
  ]);
});

test('a malformed request gets a JSON-RPC error and the server carries on', async () => {
  await expect(rpc.sendRequest('textDocument/hover', { nonsense: true })).rejects.toThrow();
  await expect(rpc.sendRequest('no/such/method', {})).rejects.toMatchObject({ code: -32601 });
  const d = await rpc.sendRequest('textDocument/hover', at(3, 11));
  expect(d).not.toBe(null);
});
