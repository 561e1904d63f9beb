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
