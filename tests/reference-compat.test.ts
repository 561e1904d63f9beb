// Programs of the Python reference's own test suite that the language used to refuse: an input
// named like a primitive (its tests use `exp`), and a batch of [B, 1] scales given to `scale`.
// Reference: hand-computed values, and this project's reference interpreter.
import { compile } from '../src/api';
import { parseProgram } from '../src/frontend';
import { evaluateReference } from '../src/reference';

describe('an input may shadow a primitive name where it is used as a value', () => {
  test("'exp' as a value is an input; in the head of a call it is still the primitive", () => {
    const m = compile('(+ (exp x) (* 2 exp))');
    expect(m.inputs).toEqual(['x', 'exp']);
    expect(m.forward({ x: 0, exp: 3 }).toArray()).toBe(7);
    m.dispose();
  });
  test('a defined function used as a value is still an error', () => {
    expect(() => compile('(define (f a) a) (+ f 1)')).toThrow(
      /E0034.*'f' is a function and cannot be used as a value/s,
    );
  });
});

describe('scale takes a one-element vector as its scalar, so [B, 1] batches broadcast', () => {
  test('batched [B, 1] against vectors and matrices, and unbatched [1]', () => {
    const m = compile('(scale s v)');
    const s = [[2], [3]];
    expect(
      m
        .forward(
          {
            s,
            v: [
              [1, 1],
              [1, 2],
            ],
          },
          { batch: true },
        )
        .toArray(),
    ).toEqual([
      [2, 2],
      [3, 6],
    ]);
    const matrices = [
      [
        [1, 1],
        [0, 1],
      ],
      [
        [1, 2],
        [1, 0],
      ],
    ];
    expect(m.forward({ s, v: matrices }, { batch: true }).toArray()).toEqual([
      [
        [2, 2],
        [0, 2],
      ],
      [
        [3, 6],
        [3, 0],
      ],
    ]);
    expect(m.forward({ s: [2], v: [1, -1] }).toArray()).toEqual([2, -2]);
    m.dispose();
  });
  test('the reference interpreter agrees; a longer vector is still refused', () => {
    const program = parseProgram('(scale s v)', { params: [] }).program!;
    expect(evaluateReference(program, { s: [2], v: [1, -1] }).value).toEqual([2, -2]);
    expect(() => compile('(scale s v)').forward({ s: [1, 2], v: [1, 2] })).toThrow(
      /argument 1 must be a scalar, got vector\[2\]/,
    );
  });
});

describe('tail calls run as loops, with no call-depth limit', () => {
  const sum = '(define (sum n acc) (if (= n 0) acc (sum (- n 1) (+ acc n)))) (sum k 0)';

  test('a tail-recursive function called 50,000 deep gives the reference value, value and gradient', () => {
    const m = compile(sum, { inputs: { k: 'scalar' }, dtype: 'float64', limit: 60_000 });
    const k = 50_000;
    // every term n = k - j carries d/dk = 1, so the gradient of the sum is the number of terms
    expect(m.valueAndGrad({ k }, { wrt: ['k'] })).toEqual({ value: (k * (k + 1)) / 2, grads: { k } });
    const parsed = parseProgram(sum, { inputs: ['k'] });
    const reference = evaluateReference(parsed.program!, { k: 500 }, { limit: 60_000 });
    expect([reference.value, reference.grad.k]).toEqual([(500 * 501) / 2, 500]);
    expect(m.graph?.regions.flatMap((r) => r.nodes).some((n) => n.op === 'call') ?? false).toBe(false);
    m.dispose();
  });

  test('batched, each sample leaves the loop on its own, and the loop limit still names the function', () => {
    const m = compile(sum, { inputs: { k: 'scalar' }, dtype: 'float64', limit: 100 });
    const out = m.forward({ k: [3, 10, 0] });
    expect(Array.from(out.toTypedArray())).toEqual([6, 55, 0]);
    out.dispose();
    expect(() => m.forward({ k: 1000 })).toThrow(/error\[E0205\]: function 'sum' exceeded its limit of 100/);
    m.dispose();
  });

  test('a self-call that is not in tail position stays a call', () => {
    const fact = compile('(define (f n) (if (<= n 1) 1 (* n (f (- n 1))))) (f k)', {
      inputs: { k: 'scalar' },
      dtype: 'float64',
    });
    const out = fact.forward({ k: 5 });
    expect(out.item()).toBe(120);
    expect(fact.graph!.regions.flatMap((r) => r.nodes).some((n) => n.op === 'call')).toBe(true);
    out.dispose();
    fact.dispose();
  });
});
