// The op registry holds together: the generated native files are current, the native kernel table
// provides exactly the registry's kernels, every derivative formula agrees with finite differences
// of the op's own float64 semantics, and every documented example runs natively as in the reference.
import fs from 'fs';
import path from 'path';
import { run } from '../src';
import { parseProgram } from '../src/frontend';
import { evaluate } from '../src/ops/formula';

import { nativeFiles } from '../src/ops/native-tables';
import {
  FUSED_FORMS,
  KERNEL_OPS,
  OPS,
  PRIMITIVES,
  formValue,
  pointwiseForm,
  type OpDef,
  type Pointwise,
} from '../src/ops';
import { DOMAIN } from '../src/fuzz/typed';
import { evaluateReference } from '../src/reference';
import { native } from '../src/runtime/native';

const ROOT = path.join(__dirname, '..');

describe('generated native tables', () => {
  test.each(nativeFiles().map((f) => [f.path, f.text]))('%s is what `npm run generate` writes', (file, text) => {
    expect(fs.readFileSync(path.join(ROOT, file), 'utf8')).toBe(text);
  });

  test('the native kernel table provides exactly the registry kernels', () => {
    expect([...native().kernelNames()].sort()).toEqual(KERNEL_OPS.map((op) => op.name).sort());
  });

  test('every fused form has a derivative per argument and a forward formula', () => {
    for (const f of FUSED_FORMS) expect(f.form.derivative).toHaveLength(f.arity);
  });
});

/** Points inside each op's domain, away from kinks, where a central difference is accurate. */
const POINTS: Record<string, number[][]> = {
  sqrt: [[0.7], [2.3]],
  rsqrt: [[0.7], [2.3]],
  'safe-sqrt': [[0.7], [2.3]],
  log: [[0.7], [2.3]],
  'safe-log': [[0.7], [2.3]],
  log1p: [[0.3], [1.7]],
  asin: [[0.3], [-0.6]],
  acos: [[0.3], [-0.6]],
  tan: [[0.4], [-1.1]],
  pow: [
    [1.3, 2.5],
    [0.7, -1.5],
  ],
  modulo: [
    [7.3, 2.1],
    [-7.3, 2.1],
  ],
  remainder: [
    [7.3, 2.1],
    [-7.3, 2.1],
  ],
  '/': [
    [1.5, 0.7],
    [-2.1, 1.9],
  ],
  'pow-scalar': [[1.3], [0.6]],
};
const DEFAULT_POINTS = [
  [0.6, 1.7, -0.4],
  [-1.3, 0.45, 2.2],
];

function checkForm(def: OpDef, form: Pointwise, arity: number, attrs: number[]): string[] {
  const wrong: string[] = [];
  for (const point of (POINTS[def.name] ?? DEFAULT_POINTS).map((p) => p.slice(0, arity))) {
    const out = formValue(form, point, attrs);
    form.derivative!.forEach((d, k) => {
      const h = 1e-6 * Math.max(1, Math.abs(point[k]));
      const at = (delta: number) =>
        formValue(
          form,
          point.map((v, j) => (j === k ? v + delta : v)),
          attrs,
        );
      const numeric = (at(h) - at(-h)) / (2 * h);
      const analytic = evaluate(d, { args: point, out, g: 1, attrs });
      if (!(Math.abs(analytic - numeric) <= 1e-6 * Math.max(1, Math.abs(numeric))))
        wrong.push(
          `${def.name}(${point.join(', ')}) argument ${k + 1}: formula ${analytic}, finite difference ${numeric}`,
        );
    });
  }
  return wrong;
}

test('every derivative formula agrees with central differences of the op value', () => {
  const wrong: string[] = [];
  for (const def of OPS.filter((op) => op.gradient === 'formula')) {
    const attrs = def.name === 'pow-scalar' ? [2.7] : [];
    const arities = def.maxArgs === Infinity ? [1, 2] : [def.minArgs];
    for (const arity of arities) {
      const form = pointwiseForm(def, arity)!;
      expect(form.derivative).toHaveLength(arity);
      wrong.push(...checkForm(def, form, arity, attrs));
    }
  }
  expect(wrong).toEqual([]);
});

test('the derivative is scaled by the upstream gradient', () => {
  for (const def of OPS.filter((op) => op.gradient === 'formula' && op.maxArgs !== Infinity)) {
    const form = def.pointwise!;
    const args = (POINTS[def.name] ?? DEFAULT_POINTS)[0].slice(0, def.minArgs);
    const attrs = def.name === 'pow-scalar' ? [2.7] : [];
    const out = formValue(form, args, attrs);
    for (const d of form.derivative!)
      expect(evaluate(d, { args, out, g: -3, attrs })).toBeCloseTo(-3 * evaluate(d, { args, out, g: 1, attrs }), 12);
  }
});

test('every op that is NaN for some finite arguments has a domain in the fuzzer', () => {
  const samples = [-3, -2.5, -1, -0.5, 0, 0.5, 1, 2.5, 3];
  const partial = OPS.filter((def) => def.group !== 'internal' && def.pointwise && def.maxArgs !== Infinity).filter(
    (def) => {
      const tuples =
        def.minArgs === 1 ? samples.map((a) => [a]) : samples.flatMap((a) => samples.map((b) => [a, b, b]));
      return tuples.some((t) => Number.isNaN(formValue(def.pointwise!, t.slice(0, def.minArgs), [])));
    },
  );
  expect(partial.map((def) => def.name).filter((name) => !(name in DOMAIN))).toEqual([]);
});

describe('documented examples run natively as in the reference', () => {
  const examples = PRIMITIVES.map((p) => [p.name, p.example] as const);
  test.each(examples)('%s: %s', (name, example) => {
    expect(example).toContain(`(${name} `);
    const native = run(example, { dtype: 'float64' });
    const parsed = parseProgram(example);
    const reference = evaluateReference(parsed.program!, {});
    expect(native.value).toEqual(reference.value);
  });
});
