// The command line and the package as a new user meets them (issue 16): the real bin/neuralc.js in a
// child process, on dist/ compiled from the sources first, and the packed file list and published types.
import { execFileSync, spawn, spawnSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'neuralc.js');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-bin-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  execFileSync(process.execPath, [TSC, '-p', path.join(ROOT, 'tsconfig.json')], { cwd: ROOT, timeout: 300_000 });
}, 300_000);

function neuralc(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (...args: string[]) => {
  const r = neuralc(...args, '--json');
  return { ...r, out: JSON.parse(r.stdout) };
};

describe('neuralc (bin/neuralc.js)', () => {
  test('--version prints the package version', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(neuralc('--version')).toMatchObject({ code: 0, stdout: `neuralc ${version}\n` });
  });

  test('--help of every command documents its flags, and the top level the exit codes', () => {
    expect(neuralc('--help').stdout).toContain('exit codes: 0 success');
    const evalHelp = neuralc('eval', '--help').stdout;
    for (const flag of ['--max-steps', '--shared', '--batch', '--json']) expect(evalHelp).toContain(flag);
    const fitHelp = neuralc('fit', '--help').stdout;
    for (const flag of ['--inputs', '--patience', '--min-delta', '--rtol', '--atol', '--max-steps'])
      expect(fitHelp).toContain(flag);
  });

  test('--json: one document on stdout for success, program errors (exit 1) and usage errors (exit 2)', () => {
    const ok = json('eval', '-e', '(* 2 x)', '--inputs', '{"x": 3}');
    expect(ok).toMatchObject({ code: 0, out: { value: 6, shape: [] } });
    const bad = json('eval', '-e', '(+ [1 2] [1 2 3])');
    expect(bad.code).toBe(1);
    expect(bad.out.error).toMatchObject({ line: 1, column: 1 });
    const usage = json('eval', '-e', 'x', '--nope');
    expect(usage).toMatchObject({ code: 2, out: { error: { code: 'usage', message: 'unknown option --nope' } } });
    const data = file('lin.csv', 'x,target\n1,2\n2,4\n3,6\n');
    const fitBad = json('fit', '-e', '(* k y)', '--data', data, '--params', '{"k": 1}', '--epochs', '2');
    expect(fitBad.code).toBe(1);
    expect(fitBad.out.error.message).toContain("no column 'y'");
    const fitUsage = json('fit', '-e', '(* k x)', '--params', '{"k": 1}');
    expect(fitUsage).toMatchObject({
      code: 2,
      out: { error: { code: 'usage', message: '--data FILE.csv is required' } },
    });
  });

  test('eval --max-steps caps the run (E0207) and its hint names the flag', () => {
    const loop = '(loop ((i 0)) (if (< i 100) (recur (+ i 1)) i))';
    expect(json('eval', '-e', loop, '--max-steps', '1000').out).toEqual({ value: 100, shape: [] });
    const r = json('eval', '-e', loop, '--max-steps', '50');
    expect(r.out.error.code).toBe('E0207');
    expect(r.stderr).toContain('--max-steps');
  });

  test('eval --batch --shared: a shared parameter vector beside a batch of angles', () => {
    const r = json(
      'eval',
      '-e',
      '(* (dot w w) a)',
      '--inputs',
      '{"w": [1, 2], "a": [1, 2, 3]}',
      '--batch',
      '--shared',
      'w',
    );
    expect(r.out).toEqual({ value: [5, 10, 15], shape: [3] });
    expect(neuralc('eval', '-e', 'a', '--inputs', '{"a": 1}', '--shared', 'a').code).toBe(2);
  });

  test('a closed stdout (| head) ends the command quietly, without an EPIPE trace', async () => {
    const big = `[${Array.from({ length: 20000 }, (_, i) => i).join(' ')}]`;
    const child = spawn(process.execPath, [BIN, 'eval', '-e', big, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });

  test('fit: constant ODE inputs with --inputs; without them the message names the flag', () => {
    const data = file('decay.csv', 't,y\n0,1\n0.1,0.9048\n0.2,0.8187\n0.3,0.7408\n');
    const args = ['fit', '-e', '(* -1 k c y)', '--data', data, '--params', '{"k": 0.5}', '--ode', '--state', 'y'];
    const missing = json(...args, '--method', 'rk4', '--epochs', '1');
    expect(missing.code).toBe(1);
    expect(missing.out.error.message).toContain(`--inputs '{"c": 1}'`);
    const r = json(...args, '--inputs', '{"c": 2}', '--optimizer', 'lbfgs', '--epochs', '20', '--patience', '2');
    expect(r.code).toBe(0);
    expect(r.out.params.k).toBeCloseTo(0.5, 2); // y' = -k c y with k c = 1
  });

  test('a semicolon- or tab-separated CSV is read; a decimal comma gets a hint', () => {
    const program = file('lin.neural', '(* k x)\n');
    for (const [name, text] of [
      ['semi.csv', 'x;target\n1;2\n2;4\n3;6\n'],
      ['tab.csv', 'x\ttarget\n1\t2\n2\t4\n3\t6\n'],
    ]) {
      const r = json('fit', program, '--data', file(name, text), '--params', '{"k": 1}', '--optimizer', 'lbfgs');
      expect(r.code).toBe(0);
      expect(r.out.params.k).toBeCloseTo(2, 6);
    }
    const comma = json('fit', program, '--data', file('dec.csv', 'x;target\n0,5;1\n1;2\n'), '--params', 'k');
    expect(comma.out.error.message).toContain('decimal point, not a comma: 0.5');
  });

  test('Unicode identifiers, out-of-range numbers, a define hiding a param', () => {
    expect(json('eval', '-e', '(* 2 θ)', '--inputs', '{"θ": 1.5}').out).toEqual({ value: 3, shape: [] });
    const big = json('eval', '-e', '(* 1e400 x)', '--inputs', '{"x": 1}');
    expect(big.out.error).toMatchObject({ code: 'E0015', line: 1, column: 4 });
    expect(big.out.error.message).toContain("'1e400' is too large");
    expect(json('eval', '-e', '1e-400').out.error.code).toBe('E0015');
    expect(json('eval', '-e', '0e-400').out).toEqual({ value: 0, shape: [] });
    const shadow = json('eval', '-e', '(define g 9.81)\n(* g t)', '--inputs', '{"t": 1}', '--params', 'g');
    expect(shadow.out.error).toMatchObject({ code: 'E0039', line: 1, column: 9 });
  });

  test('check finds shape errors with input shapes, lists them in its JSON, and says what it cannot find', () => {
    const noInputs = json('check', file('add.neural', '(+ [1 2] [1 2 3])\n'));
    expect(noInputs.code).toBe(1);
    expect(noInputs.out.files[0].diagnostics[0]).toMatchObject({ severity: 'error', line: 1 });
    const branch = file('branch.neural', '(if (> m 0) r 1)\n');
    const shaped = json('check', branch, '--inputs', '{"r": [3], "m": "scalar"}');
    expect(shaped.code).toBe(1);
    expect(shaped.out.files[0].diagnostics.map((d: { code: string }) => d.code)).toContain('E0103');
    const good = json('check', file('norm.neural', '(* m (dot r r))\n'), '--inputs', '{"r": [3], "m": "scalar"}');
    expect(good).toMatchObject({ code: 0, out: { ok: true } });
    expect(good.out.files[0]).toMatchObject({ inputs: { m: 'scalar', r: '[3]' }, params: [], shapesChecked: true });
    expect(good.out.files[0].result).toBe('scalar');
    expect(neuralc('check', '--help').stdout).toContain('cannot find a loop that never ends');
  });
});

describe('the package', () => {
  test('npm pack leaves out build output and nested node_modules', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const files: string[] = JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('tree-sitter-neural/src/parser.c');
    expect(files).toContain('tree-sitter-neural/vendor/tree-sitter-0.25.1/lib/src/lib.c');
    expect(files).toContain('dist/index.d.ts');
    expect(files.filter((f) => /(^|\/)(build|node_modules)\//.test(f))).toEqual([]);
  });

  test('the published types compile without @types/node', () => {
    const app = fs.mkdtempSync(path.join(dir, 'app-'));
    fs.writeFileSync(
      path.join(app, 'main.ts'),
      `import { compile, type Module } from ${JSON.stringify(path.join(ROOT, 'dist', 'index'))};\n` +
        `const m: Module = compile('(* 2 x)');\nexport const out = m.inputs.length;\n`,
    );
    // Neither @types/node nor the DOM library: the published types must stand on ES2022 alone.
    const compilerOptions = {
      noEmit: true,
      strict: true,
      types: [],
      lib: ['es2022'],
      target: 'es2022',
      module: 'commonjs',
    };
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
    const r = spawnSync(process.execPath, [TSC, '-p', app], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});
