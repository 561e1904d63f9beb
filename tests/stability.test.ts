// The stability check of explicit diffusion steps (W0004, src/compiler/stability.ts): r = c dt / h^2
// against 1/(2 rank), computed here in float64 from the program's numbers; the check must find the
// step (a variant of each stable form above its limit warns) and stay silent when any factor is
// known only at run time.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { compile, type InputShape } from '../src/api';
import type { Diagnostic } from '../src/diagnostics';
import type { Nested } from '../src/runtime/host-data';
import { analyse, declarationsOf, readDirectives } from '../src/tools/analysis';
import { runMain } from './helpers/cli';

const GRIDS = path.join(__dirname, '..', 'examples', 'grids');
const example = (name: string) => fs.readFileSync(path.join(GRIDS, name), 'utf8');

/** The W0004 warnings of a program, shape-checked with these inputs and param values. */
function unstable(text: string, inputs: Record<string, InputShape>, params?: Record<string, Nested>): Diagnostic[] {
  const a = analyse(text, 'step.neural', declarationsOf(inputs, params));
  expect(a.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return a.diagnostics.filter((d) => d.code === 'W0004');
}

/** The message for coefficient r on a grid of this rank, r printed to 6 significant digits. */
const message = (r: number, rank: number) =>
  `explicit diffusion step is unstable: its coefficient alpha*dt/h^2 = ${Number(r.toPrecision(6))} exceeds 1/${2 * rank}, the limit for a ${rank}-D grid`;

/** An explicit heat step of a field of this shape, alpha, dt and h defined. */
const heatStep = (alpha: number, dt: number, h: number, pad = 'pad-wrap u 1') =>
  `(define alpha ${alpha})\n(define dt ${dt})\n(define h ${h})\n(+ u (* (* alpha dt) (laplacian (${pad}) h)))\n`;

describe('the limit of each rank', () => {
  test.each([
    [[16], 1, 0.1, 0.005001, 0.004999],
    [[8, 8], 2, 1, 0.2501, 0.2499],
    [[4, 4, 4], 3, 1, 0.1667, 0.1666],
  ])('a %j grid: just above 1/(2 rank) warns with r, just below does not', (shape, rank, h, above, below) => {
    const alpha = 1;
    const w = unstable(heatStep(alpha, above, h), { u: shape });
    expect(w).toHaveLength(1);
    expect(w[0].message).toBe(message((alpha * above) / (h * h), rank));
    expect(unstable(heatStep(alpha, below, h), { u: shape })).toEqual([]);
  });

  test('a step exactly at the limit is stable (no warning from rounding)', () => {
    expect(unstable(heatStep(0.1, 0.05, 0.1, 'pad-edge u 1'), { u: [16] })).toEqual([]); // 0.1*0.05/0.01 = 0.5
    expect(unstable(heatStep(1, 0.25, 1), { u: [8, 8] })).toEqual([]);
  });

  test('the span is the laplacian call; the hint gives n = ceil(r / limit) substeps', () => {
    const text = heatStep(1, 0.9, 1);
    const [w] = unstable(text, { u: [8, 8] });
    expect(text.slice(w.span!.start, w.span!.end)).toBe('(laplacian (pad-wrap u 1) h)');
    // r = 0.9, limit 1/4: 3.6 -> 4 substeps of 0.225 each
    expect(w.hint).toBe(
      'take 4 substeps of dt/4 (alpha*dt/h^2 = 0.225 each), or an implicit ADI step (a tridiagonal-solve along each axis in turn), which is stable for any dt',
    );
    const [w1] = unstable(heatStep(1, 1.5, 1), { u: [8] }); // 3 -> 3 substeps of exactly the limit
    expect(w1.hint).toMatch(
      /^take 3 substeps of dt\/3 \(alpha\*dt\/h\^2 = 0.5 each\), or an implicit \(backward Euler\) step with tridiagonal-solve/,
    );
  });
});

describe('the forms of the shipped examples', () => {
  test('(+ u (* dt (+ (* alpha (laplacian (pad-edge u 1) h)) s))): the source does not change r', () => {
    const text = (alpha: number) =>
      `(define h (/ 1 255))\n(define dt 0.0015)\n(define alpha ${alpha})\n(+ u (* dt (+ (* alpha (laplacian (pad-edge u 1) h)) s)))\n`;
    const h = 1 / 255;
    const [w] = unstable(text(0.003), { u: [8, 8], s: [8, 8] });
    expect(w.message).toBe(message((0.0015 * 0.003) / (h * h), 2));
    expect(unstable(text(0.002), { u: [8, 8], s: [8, 8] })).toEqual([]); // r = 0.195
  });

  test('a constant field of diffusivities: its largest value decides', () => {
    const text = (k: string) =>
      `(define kappa [0.1 ${k} 0.2 0.3])\n(+ u (* 0.5 (* kappa (laplacian (pad-const u 1 0) 1))))\n`;
    expect(unstable(text('1.2'), { u: [4] }).map((d) => d.message)).toEqual([message(0.6, 1)]);
    expect(unstable(text('0.9'), { u: [4] })).toEqual([]);
  });

  test('gray_scott (Du, Dv through -, + and *) is stable; with Du, Dv = 0.3 both steps warn', () => {
    const text = example('gray_scott.neural');
    const inputs: Record<string, InputShape> = { u0: [16, 16], v0: [16, 16], steps: 'scalar' };
    expect(unstable(text, inputs, { F: 0.04, k: 0.06 })).toEqual([]);
    const hot = text.replace('(define Du 0.16)', '(define Du 0.3)').replace('(define Dv 0.08)', '(define Dv 0.27)');
    expect(unstable(hot, inputs, { F: 0.04, k: 0.06 }).map((d) => d.message)).toEqual([
      message(0.3, 2),
      message(0.27, 2),
    ]);
  });

  test('params: their declared values count, names alone (run-time values) do not', () => {
    const text = example('heat2d_periodic.neural'); // h = 1/64, dt = 5e-5: r = alpha * 0.2048
    const inputs: Record<string, InputShape> = { u0: [64, 64], steps: 'scalar' };
    const [w] = unstable(text, inputs, { alpha: 2 });
    expect(w.message).toBe(message((2 * 0.00005) / ((1 / 64) * (1 / 64)), 2));
    expect(unstable(text, inputs, { alpha: 1.2 })).toEqual([]);
    const a = analyse(text, 'p.neural', declarationsOf({ u0: [64, 64], steps: 'scalar' }, ['alpha']));
    expect(a.diagnostics).toEqual([]);
  });

  test('a coefficient known only at run time (an input) gives no warning', () => {
    const text = '(define dt 100)\n(+ u (* (* alpha dt) (laplacian (pad-wrap u 1) 0.01)))\n';
    expect(unstable(text, { u: [8, 8], alpha: 'scalar' })).toEqual([]);
    expect(unstable('(+ u (* 100 (laplacian (pad-wrap u 1) h)))', { u: [8], h: 'scalar' })).toEqual([]);
    // and with it known, the same step warns (the check did find it)
    expect(unstable(text.replace('alpha', '1'), { u: [8, 8] })).toHaveLength(1);
  });

  test('a long chain of defines is followed without deep recursion', () => {
    const defines = Array.from({ length: 20000 }, (_, i) => `(define a${i + 1} (* a${i} 1))`).join('\n');
    const text = `(define a0 0.07)\n${defines}\n(+ u (* a20000 (laplacian (pad-wrap u 1) 0.1)))\n`;
    expect(unstable(text, { u: [8] }).map((d) => d.message)).toEqual([message(0.07 / (0.1 * 0.1), 1)]);
  });

  test('anti-diffusion (a negative r) and a laplacian not added to its own field are out of scope', () => {
    expect(unstable('(- u (* 9 (laplacian (pad-wrap u 1) 1)))', { u: [8] })).toEqual([]);
    expect(unstable('(+ v (* 9 (laplacian (pad-wrap u 1) 1)))', { u: [8], v: [8] })).toEqual([]);
  });

  test('every shipped grid example, with the values its tests use, gives no W0004', () => {
    const values: Record<string, Record<string, Nested>> = {
      'heat2d_zero_flux.neural': { alpha: 0.002 },
      'heat2d_periodic.neural': { alpha: 0.7 },
      'heat1d_implicit.neural': { alpha: 0.7 },
      'learned_stencil.neural': {
        K: [
          [0, 0.1, 0],
          [0.1, -0.4, 0.1],
          [0, 0.1, 0],
        ],
      },
      'gray_scott.neural': { F: 0.04, k: 0.06 },
    };
    expect(fs.readdirSync(GRIDS).sort()).toEqual(Object.keys(values).sort());
    for (const [file, params] of Object.entries(values)) {
      const text = example(file);
      const inputs = readDirectives(text).declarations.inputs!;
      const a = analyse(text, file, { ...declarationsOf(undefined, params), inputs });
      expect([file, a.diagnostics]).toEqual([file, []]);
    }
  });
});

describe('reaching users', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-stab-'));
  const text =
    '; @inputs u0[16] steps\n(define alpha 1)\n(define dt 0.006)\n(define h 0.1)\n' +
    '(loop ((k 0) (u u0))\n  (if (>= k steps)\n      u\n      (recur (+ k 1) (+ u (* (* alpha dt) (laplacian (pad-wrap u 1) h))))))\n';
  const file = path.join(dir, 'hot.neural');
  fs.writeFileSync(file, text);
  const lines = text.split('\n');
  const column = lines[7].indexOf('(laplacian') + 1;

  test('neuralc check prints W0004 at line:column with its hint, and exits 0', async () => {
    const r = await runMain('check', file);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${file}:8:${column}: warning[W0004]: ${message(0.006 / (0.1 * 0.1), 1)}`);
    expect(r.stderr).toContain('help: take 2 substeps of dt/2 (alpha*dt/h^2 = 0.3 each)');
    const json = JSON.parse((await runMain('check', file, '--json')).stdout);
    expect(json.files[0].diagnostics).toMatchObject([{ code: 'W0004', line: 8, column }]);
  });

  test('neuralc check --params: JSON values count, names do not', async () => {
    const periodic = path.join(GRIDS, 'heat2d_periodic.neural');
    expect((await runMain('check', periodic, '--params', 'alpha')).stderr).toBe('');
    const r = await runMain('check', periodic, '--params', '{"alpha": 2}');
    expect(r.stderr).toContain('warning[W0004]');
  });

  test('Module.warnings: at compile with declared shapes, after the first forward otherwise, once', () => {
    const declared = compile(text.replace(/^; @inputs.*\n/, ''), { inputs: { u0: [16], steps: 'scalar' } });
    expect(declared.warnings.map((d) => d.code)).toEqual(['W0004']);
    declared.dispose();
    const lazy = compile(text.replace(/^; @inputs.*\n/, ''));
    expect(lazy.warnings).toEqual([]);
    const u0 = Array.from({ length: 16 }, (_, i) => Math.sin(i));
    lazy.forward({ u0, steps: 1 }).dispose();
    lazy.forward({ u0: [u0, u0], steps: [1, 2] }, { batch: true }).dispose(); // another specialisation, the same step
    expect(lazy.warnings.map((d) => [d.code, d.message])).toEqual([['W0004', message(0.6, 1)]]);
    lazy.dispose();
  });

  test('Module.warnings: a param given an initial value at compile', () => {
    const m = compile(example('heat2d_periodic.neural'), {
      inputs: { u0: [64, 64], steps: 'scalar' },
      params: { alpha: 2 },
    });
    expect(m.warnings.map((d) => d.message)).toEqual([message(2 * 0.00005 * 64 * 64, 2)]);
    m.dispose();
  });
});
