// Module.toSource: the program printed back with its parameter values written in compiles to the
// same values, bit for bit in float64, for every example and every Feynman equation after a fit.
import fs from 'fs';
import path from 'path';
import { compile, type Module } from '../src/api';
import { EQUATIONS } from '../src/experiments/feynman';
import type { Nested } from '../src/runtime/host-data';
import { fit } from '../src/train';
import { main } from '../src/cli/main';
import os from 'os';
import { numberText, valueText } from '../src/tools/print-source';

const EXAMPLES = path.join(__dirname, '..', 'examples');
const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.neural') ? [path.join(dir, e.name)] : [],
    );

const flat = (v: Nested): number[] => (typeof v === 'number' ? [v] : v.flatMap(flat));
/** Elementwise Object.is: NaN equals NaN, -0 differs from 0. */
const bitEqual = (a: Nested, b: Nested) => {
  const x = flat(a);
  const y = flat(b);
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
};

function output(module: Module, inputs: Record<string, Nested>, batch = false): Nested {
  const t = module.forward(inputs, { batch, grad: false });
  try {
    return t.toArray();
  } finally {
    t.dispose();
  }
}

/** Both printed forms compile, without params, to the module's values. */
function expectRoundTrip(module: Module, inputs: Record<string, Nested>, batch = false) {
  const expected = output(module, inputs, batch);
  for (const style of ['defines', 'literals'] as const) {
    const printed = compile(module.toSource({ params: style }), { dtype: 'float64', inputs: [...module.inputs] });
    try {
      expect(printed.namedParameters()).toEqual({});
      const got = output(printed, inputs, batch);
      if (!bitEqual(got, expected))
        throw new Error(
          `${style}: ${JSON.stringify(got)} differs from ${JSON.stringify(expected)}\n${module.toSource({ params: style })}`,
        );
    } finally {
      printed.dispose();
    }
  }
}

test('numbers print so they read back exactly, non-finite values and -0 as expressions', () => {
  expect(
    [0.1, 1 / 3, 6.02214076e23, 5e-324, -0, NaN, Infinity, -Infinity].map((x) => numberText(x, 'float64')),
  ).toEqual(['0.1', '0.3333333333333333', '6.02214076e+23', '5e-324', '(- 0)', '(/ 0 0)', '(/ 1 0)', '(/ -1 0)']);
  expect(numberText(Math.fround(0.1), 'float32')).toBe('0.1');
  expect(
    valueText(
      [
        [1, -0],
        [2.5, 3],
      ],
      'float64',
    ),
  ).toBe('(mat [1 (- 0)] [2.5 3])');
});

test('defines go after the header comments; literals replace each use', () => {
  const m = compile('; Hooke\n(define k2 (* k 2))\n(* k2 x k)', { params: { k: -2.5 }, dtype: 'float64' });
  try {
    expect(m.toSource()).toBe('; Hooke\n(define k -2.5)\n(define k2 (* k 2))\n(* k2 x k)');
    expect(m.toSource({ params: 'literals' })).toBe('; Hooke\n(define k2 (* -2.5 2))\n(* k2 x -2.5)');
    expect(() => m.toSource({ params: 'inline' as never })).toThrow(
      "toSource: params must be 'defines' or 'literals', got the string \"inline\"",
    );
    expect(() => m.toSource({ style: 'x' } as never)).toThrow("toSource: unknown option 'style'");
  } finally {
    m.dispose();
  }
});

test('a module that calls given functions says it cannot be printed alone', () => {
  const inner = compile('(* a x)', { params: ['a'] });
  const outer = compile('(f y)', { functions: { f: inner } });
  expect(() => outer.toSource()).toThrow(
    'toSource: this module calls functions given at compile time (f); print each of them separately',
  );
  outer.dispose();
  inner.dispose();
});

// Inputs are 3 unless an example needs a vector or a matrix; params get awkward values, -0 and infinity included.
/** A rows x cols field of uneven values, times scale. */
const field = (rows: number, cols: number, scale = 1): number[][] =>
  Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => scale * (1 + Math.sin(3 * i + 7 * j))));
const INPUTS: Record<string, Record<string, Nested>> = {
  'gravity_3d.neural': { r: [1, 2, 2] },
  'heat_step.neural': {
    u: [1, 2, 3],
    L: [
      [-2, 1, 0],
      [1, -2, 1],
      [0, 1, -2],
    ],
  },
  // grids: small fields; every free name is an input here
  'heat2d_zero_flux.neural': { u0: field(4, 5), s: field(4, 5, 0.1), steps: 3, alpha: 0.002 },
  'heat2d_periodic.neural': { u0: field(5, 4), steps: 3, alpha: 0.7 },
  'heat1d_implicit.neural': { u0: field(1, 128)[0], steps: 2, alpha: 0.7 },
  'learned_stencil.neural': { u0: field(4, 4), steps: 2, K: field(3, 3, 0.01) },
  'gray_scott.neural': { u0: field(4, 4), v0: field(4, 4, 0.5), steps: 2, F: 0.04, k: 0.06 },
};
const AWKWARD = [1 / 3, -1.5e-7, 6.02214076e23, -0, Infinity];
const declaredParams = (text: string): string[] =>
  (/Params: ([^.]*)\./.exec(text)?.[1] ?? 'none')
    .replace(/\([^)]*\)/g, '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'none');

test.each(files(EXAMPLES).map((f) => path.relative(EXAMPLES, f)))('%s round-trips', (file) => {
  const text = fs.readFileSync(path.join(EXAMPLES, file), 'utf8');
  const names = declaredParams(text);
  const probe = compile(text, { params: names, dtype: 'float64' });
  const params = Object.fromEntries(
    Object.keys(probe.namedParameters()).map((name, i) => [name, AWKWARD[i % AWKWARD.length]]),
  );
  const inputs = Object.fromEntries(probe.inputs.map((name) => [name, INPUTS[path.basename(file)]?.[name] ?? 3]));
  probe.dispose();
  const module = compile(text, { params, dtype: 'float64', inputs: Object.keys(inputs) });
  try {
    expectRoundTrip(module, inputs);
  } finally {
    module.dispose();
  }
});

test.each(EQUATIONS.map((eq) => [eq.name, eq]))('the Feynman equation %s round-trips after a fit', async (name, eq) => {
  const text = fs.readFileSync(path.join(EXAMPLES, 'feynman', `${name}.neural`), 'utf8');
  const samples = 32;
  // Deterministic samples across each input's range.
  const inputs = Object.fromEntries(
    Object.entries(eq.inputs).map(([input, { lo, hi }], k) => [
      input,
      Array.from({ length: samples }, (_, i) => lo + ((hi - lo) * ((i * (7 + 2 * k)) % samples)) / (samples - 1)),
    ]),
  );
  const truth = compile(text, { params: eq.constants, dtype: 'float64', inputs: Object.keys(inputs) });
  const target = output(truth, inputs, true);
  truth.dispose();
  const module = compile(text, { params: Object.keys(eq.constants), dtype: 'float64', inputs: Object.keys(inputs) });
  try {
    const result = await fit(module, { inputs, target }, { epochs: 30, lr: 0.05 });
    expect(result.steps).toBe(30);
    expect(Object.values(module.namedParameters()).some((t) => t.toArray() !== 1)).toBe(true); // the fit moved them
    expectRoundTrip(module, inputs, true);
  } finally {
    module.dispose();
  }
});

test('neuralc fit --print prints the fitted program, which gives the fitted values', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-print-'));
  const program = path.join(dir, 'hooke.neural');
  fs.writeFileSync(program, '; Hooke\n(* neg_k x)\n');
  const data = path.join(dir, 'hooke.csv');
  fs.writeFileSync(data, `x,target\n${[-2, -1, 1, 2].map((x) => `${x},${-2.5 * x}`).join('\n')}\n`);
  const run = async (...argv: string[]) => {
    let stdout = '';
    const code = await main(argv, {
      stdout: (t) => (stdout += t),
      stderr: () => {},
      readFile: (p) => fs.readFileSync(p),
    });
    return { code, stdout };
  };
  // Adam's five steps end between float32's round numbers (L-BFGS, the default here, lands on -2.5).
  const adam = ['--optimizer', 'adam', '--epochs', '5'];
  const r = await run('fit', program, '--data', data, '--params', '{"neg_k": 1}', ...adam, '--json', '--print');
  expect(r.code).toBe(0);
  const { params, source } = JSON.parse(r.stdout);
  const printed = /^; Hooke\n\(define neg_k (\S+)\)\n\(\* neg_k x\)\n$/.exec(source)![1];
  expect(Math.fround(Number(printed))).toBe(params.neg_k); // the shortest float32 decimal
  expect(printed.length).toBeLessThan(String(params.neg_k).length);
  const text = await run('fit', program, '--data', data, '--params', '{"neg_k": 1}', ...adam, '--print');
  expect(text.stdout).toMatch(
    /final loss [^\n]*\n  neg_k = [^\n]*\n; Hooke\n\(define neg_k -?[\d.e+-]+\)\n\(\* neg_k x\)\n$/,
  );
});
