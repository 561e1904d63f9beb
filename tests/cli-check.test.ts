// Runs the CLI in-process with captured output.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { runMain } from './helpers/cli';

const run = runMain;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

describe('neuralc check', () => {
  const good = file('good.neural', '(* G (/ m x))\n');
  const bad = file('bad.neural', '(* 0.5 m velocty)\n');

  test('lists inputs and params on success', async () => {
    const r = await run('check', good, '--params', 'G');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      `${good}: inputs m, x; params G; shapes not checked (give them: --inputs '{"m": [3]}' or a "; @inputs" line)\n`,
    );
  });

  test('renders errors to stderr and exits 1', async () => {
    const r = await run('check', bad, '--inputs', 'm,velocity');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:1:10: error[E0030]: unbound identifier 'velocty'`);
    expect(r.stderr).toContain("help: did you mean 'velocity'?");
  });

  test('--json prints diagnostics as JSON on stdout', async () => {
    const r = await run('check', bad, '--inputs=m,velocity', '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, files: [{ file: bad, inputs: null, params: null, shapesChecked: false }] });
    expect(doc.files[0].diagnostics).toEqual([
      {
        severity: 'error',
        code: 'E0030',
        message: "unbound identifier 'velocty'",
        file: bad,
        line: 1,
        column: 10,
        endLine: 1,
        endColumn: 17,
        hint: "did you mean 'velocity'?",
        fixes: [
          {
            title: "change to 'velocity'",
            safe: true,
            edits: [{ line: 1, column: 10, endLine: 1, endColumn: 17, start: 9, end: 16, text: 'velocity' }],
          },
        ],
      },
    ]);
  });

  test('warnings alone exit 0', async () => {
    const r = await run('check', file('warn.neural', '(let ((velocity 1)) velocty)'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning[W0001]');
  });

  test('usage errors exit 2', async () => {
    expect((await run('check')).code).toBe(2);
    expect((await run('check', good, '--nope')).stderr).toContain('unknown option --nope');
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('--help')).stdout).toContain('neuralc check FILE...');
  });

  test('a missing file is reported', async () => {
    const r = await run('check', path.join(dir, 'missing.neural'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read');
  });
});

describe('neuralc parse', () => {
  test('prints the syntax tree', async () => {
    const r = await run('parse', file('p.neural', '(f x)'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(call 1:1)');
  });
});
