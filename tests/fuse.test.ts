// The fused elementwise path (src/compiler/fuse.ts, native/fused.cpp): what the pass fuses and what it
// leaves alone, and fused against unfused values and gradients (inputs and params) on the Feynman
// equations and composition chains. Below native kFusedMinElements (4096) a fused node replays its
// steps through the kernel table, so batches 1 and 1,000 must match bit for bit; at 100,000 and
// 4,099 (a partial last block) the block kernels run, so values match within float rounding.
import { readFileSync } from 'fs';
import path from 'path';
import { chain, compile, grad, tensor, type Module, type DType } from '../src';
import type { FusedNode } from '../src/compiler/ir';
import { FEYNMAN, declaredNames, feynmanSource, uniform } from './helpers/feynman';
import { worstRelative } from './helpers/finite-diff';

const EXAMPLES = path.resolve(__dirname, '..', 'examples');
const read = (file: string) => readFileSync(path.join(EXAMPLES, file), 'utf8');

const stage = (name: string, dtype: DType) =>
  compile(read(`composition/${name}.neural`), { inputs: { x: 'scalar' }, dtype });

interface Case {
  build: (fuse: boolean, dtype: DType) => Module;
  inputs: string[];
}

// Every input in [0.5, 1.5] and every param 2 keeps all 15 equations finite (v/c < 1 in the
// relativistic ones) without cancellation that would magnify rounding.
const CASES: Record<string, Case> = Object.fromEntries([
  ...FEYNMAN.map((name): [string, Case] => {
    const source = feynmanSource(name);
    const { inputs, params } = declaredNames(source);
    const scalars = Object.fromEntries(inputs.map((i) => [i, 'scalar' as const]));
    return [
      name,
      {
        inputs,
        build: (fuse, dtype) =>
          compile(source, {
            inputs: scalars,
            params: Object.fromEntries(params.map((p) => [p, 2])),
            dtype,
            fuse,
            tier: false,
          }),
      },
    ];
  }),
  [
    'composition chain',
    {
      inputs: ['x'],
      // chain() has no options: compose as it does, with the fuse option on the composite.
      build: (fuse, dtype) => {
        const stages = ['add_one', 'square', 'sin', 'double', 'exp', 'negate', 'cube', 'sqrt_abs'].map((n) =>
          stage(n, dtype),
        );
        const call = stages.reduce((inner, _, k) => `(s${k} ${inner})`, 'x');
        return compile(call, {
          inputs: { x: 'scalar' },
          functions: Object.fromEntries(stages.map((m, k) => [`s${k}`, m])),
          dtype,
          fuse,
          tier: false,
        });
      },
    },
  ],
]);

/**
 * Values and d(sum)/d(every input and param) of a module on a batch; with `weighted`, of the sum of
 * the outputs times weights in [0.5, 1.5] (a full upstream gradient instead of a sum's broadcast one).
 */
function evaluate(m: Module, inputNames: string[], batch: number, dtype: DType, weighted = false) {
  const leaves = inputNames.map((name, k) =>
    tensor(uniform(batch, k + 7), { shape: [batch], dtype, requiresGrad: true }),
  );
  const out = m.forward(Object.fromEntries(inputNames.map((name, k) => [name, leaves[k]])));
  const total = out.sum();
  const weights = tensor(uniform(batch, 99), { shape: [batch], dtype });
  if (weighted) out.backward(weights);
  else total.backward();
  weights.dispose();
  const result = {
    value: out.toTypedArray(),
    inputGrads: leaves.map((t) => t.grad!.toTypedArray()),
    paramGrads: m.parameters().map((p) => p.grad!.item()),
  };
  for (const t of [total, out, ...leaves]) t.dispose();
  return result;
}

/** Largest |a - b| / max(|b|, floor) over the elements. */
const fusedNodes = (m: Module) =>
  m.graph!.regions.flatMap((r) => r.nodes).filter((n) => n.op === 'fused') as FusedNode[];

describe('fused against unfused', () => {
  for (const [name, c] of Object.entries(CASES)) {
    describe(name, () => {
      for (const dtype of ['float64', 'float32'] as DType[]) {
        const fused = c.build(true, dtype);
        const plain = c.build(false, dtype);
        afterAll(() => {
          fused.dispose();
          plain.dispose();
        });

        test.each([1, 1000])(`${dtype}, batch %i: identical bits (the steps replay the unfused kernels)`, (batch) => {
          expect(evaluate(fused, c.inputs, batch, dtype)).toEqual(evaluate(plain, c.inputs, batch, dtype));
        });

        test(`${dtype}, batch 100,000: equal within rounding, values and gradients`, () => {
          const a = evaluate(fused, c.inputs, 100000, dtype);
          const b = evaluate(plain, c.inputs, 100000, dtype);
          // float64: 1e-12 relative; float32: a few ulp per op (2^-23 is 1.2e-7) along the chain.
          const tol = dtype === 'float64' ? 1e-12 : 2e-6;
          expect(worstRelative(a.value, b.value, 1e-30)).toBeLessThan(tol);
          a.inputGrads.forEach((g, k) => expect(worstRelative(g, b.inputGrads[k], 1e-30)).toBeLessThan(tol));
          // Param gradients are sums over the batch, accumulated in a different order.
          expect(worstRelative(a.paramGrads, b.paramGrads, 1e-30)).toBeLessThan(dtype === 'float64' ? 1e-12 : 1e-4);
        });

        if (dtype === 'float64')
          test('float64, batch 4,099 (a partial block) with a full upstream gradient: equal within rounding', () => {
            const a = evaluate(fused, c.inputs, 4099, dtype, true);
            const b = evaluate(plain, c.inputs, 4099, dtype, true);
            expect(worstRelative(a.value, b.value, 1e-30)).toBeLessThan(1e-12);
            a.inputGrads.forEach((g, k) => expect(worstRelative(g, b.inputGrads[k], 1e-30)).toBeLessThan(1e-12));
            expect(worstRelative(a.paramGrads, b.paramGrads, 1e-30)).toBeLessThan(1e-12);
          });
      }
    });
  }
});

describe('the fuse pass', () => {
  test('a Feynman equation on a batch becomes one fused node over its inputs and scalar params', () => {
    const m = compile(read('feynman/relativistic_energy.neural'), {
      inputs: { m0: 'scalar', v: 'scalar' },
      params: { c: 3 },
      tier: false,
    });
    m.forward({ m0: [1, 2], v: [0.5, 1] }, { batch: true }).dispose();
    const [f] = fusedNodes(m);
    expect(m.graph!.regions[0].results).toEqual([m.graph!.regions[0].nodes.indexOf(f)]);
    expect(f.steps.map((s) => s.op)).toEqual(['*', '/', 'pow-scalar', '-', 'sqrt', '/']);
    // the unbatched (pow c 2) stays a kernel node computed once, an operand of the fused node
    const operands = f.args.map((a) => m.graph!.regions[0].nodes[a].op);
    expect(operands.sort()).toEqual(['const', 'input', 'input', 'param', 'pow-scalar']);
    m.dispose();
  });

  test('non-elementwise ops stay: norm and scale in 3-D gravity, matvec in the heat step', () => {
    const g = compile(read('gravity_3d.neural'), { inputs: { r: [3], m1: 'scalar', m2: 'scalar' }, params: ['G'] });
    g.forward({ r: [[1, 2, 3]], m1: [1], m2: [2] }).dispose();
    const ops = g.graph!.regions[0].nodes.map((n) => n.op);
    expect(ops).toEqual(expect.arrayContaining(['norm', 'scale', 'fused']));
    // the scalar part (G m1 m2 / |r|^3, negated) is the fused chain
    expect(fusedNodes(g)[0].steps.map((s) => s.op)).toEqual(['*', '*', 'pow-scalar', '/', '-']);
    const h = compile(read('heat_step.neural'), { inputs: { u: [3], L: [3, 3], dt: 'scalar' }, params: ['alpha'] });
    h.forward({
      u: [[1, 2, 3]],
      L: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      dt: 0.1,
    }).dispose();
    expect(fusedNodes(h)).toEqual([]);
    expect(h.graph!.regions[0].nodes.map((n) => n.op)).toContain('matvec');
    g.dispose();
    h.dispose();
  });

  test('a value also read outside a chain ends the chain there', () => {
    const m = compile('(let ((s (* x x))) (vec (exp (sin s)) s))', { inputs: { x: 'scalar' } });
    m.forward({ x: [1, 2] }, { batch: true }).dispose();
    const nodes = m.graph!.regions[0].nodes;
    const [f] = fusedNodes(m);
    expect(f.steps.map((s) => s.op)).toEqual(['sin', 'exp']);
    expect(nodes[f.args[0]].op).toBe('*');
    expect(m.forward({ x: [1, 2] }, { batch: true }).toArray()).toEqual([
      [Math.fround(Math.exp(Math.sin(1))), 1],
      [(m.forward({ x: [2] }, { batch: true }).toArray() as number[][])[0][0], 4],
    ]);
    m.dispose();
  });

  test('unbatched programs and fuse: false have no fused nodes', () => {
    const source = read('feynman/gravity.neural');
    const options = { inputs: { m1: 'scalar' as const, m2: 'scalar' as const, r: 'scalar' as const }, params: ['G'] };
    expect(fusedNodes(compile(source, options))).toEqual([]);
    const off = compile(source, { ...options, fuse: false, tier: false });
    off.forward({ m1: [1, 2], m2: [3, 4], r: [5, 6] }).dispose();
    expect(fusedNodes(off)).toEqual([]);
    expect(off.graph!.regions[0].nodes.map((n) => n.op)).toEqual([
      'input',
      'input',
      'input',
      'param',
      '*',
      '*',
      'pow-scalar',
      '/',
    ]);
    off.dispose();
  });

  test('n-ary + - * / become left-folded binary steps', () => {
    const m = compile('(- (* x x x) x 1)', { inputs: { x: 'scalar' }, dtype: 'float64', tier: false });
    m.forward({ x: [1, 2] }, { batch: true }).dispose();
    const [f] = fusedNodes(m);
    expect(f.steps).toEqual([
      { op: '*', args: [0, 0], attrs: [] },
      { op: '*', args: [2, 0], attrs: [] },
      { op: '-', args: [3, 0], attrs: [] },
      { op: '-', args: [4, 1], attrs: [] },
    ]);
    const xs = Array.from(uniform(10000, 3));
    expect(m.forward({ x: xs }, { batch: true }).toArray()).toEqual(xs.map((x) => x * x * x - x - 1));
    m.dispose();
  });
});

test('second derivatives through a large fused node go through the recorded unfused steps', () => {
  const n = 10000;
  const second = (fuse: boolean) => {
    const m = compile('(* x (sin x))', { inputs: { x: 'scalar' }, dtype: 'float64', fuse });
    const x = tensor(uniform(n, 5), { shape: [n], dtype: 'float64', requiresGrad: true });
    const y = m.forward({ x });
    const [dy] = grad(y, [x], { createGraph: true });
    const [d2y] = grad(dy, [x]);
    const out = d2y.toTypedArray();
    for (const t of [m, x, y, dy, d2y]) t.dispose();
    return out;
  };
  const fused = second(true);
  expect(worstRelative(fused, second(false), 1e-30)).toBeLessThan(1e-12);
  // d2/dx2 x sin x = 2 cos x - x sin x
  const xs = uniform(n, 5);
  expect(
    worstRelative(
      fused,
      xs.map((x) => 2 * Math.cos(x) - x * Math.sin(x)),
      1e-30,
    ),
  ).toBeLessThan(1e-12);
});

test('chain() composites fuse across the inlined modules', () => {
  const c = chain(stage('add_one', 'float32'), stage('sin', 'float32'), stage('exp', 'float32'));
  // a batch above forward's small-program tier (chain() has no options), so that libtorch's graph runs
  c.forward({ x: Array.from(uniform(4096, 1)) }, { batch: true }).dispose();
  expect(fusedNodes(c).map((f) => f.steps.map((s) => s.op))).toEqual([['+', 'sin', 'exp']]);
  c.dispose();
});
