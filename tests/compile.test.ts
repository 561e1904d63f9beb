// The compile/run API: modules, parameters, batching, the graph and its passes, and every input or
// program error as a diagnostic.
import { compile, run, Module } from '../src/api';
import { CompileError } from '../src/diagnostics';
import { codes } from './helpers/codes';
import { tensor, Tensor } from '../src/runtime/tensor';
import { native } from '../src/runtime/native';
import { noCudaDevice } from './helpers/cuda';

describe('modules', () => {
  const GRAVITY = '(/ (* G (* m1 m2)) (pow r 2))';

  test('forward on one sample and on a batch, with the parameter shared', () => {
    const m = compile(GRAVITY, { params: { G: 6.674 }, dtype: 'float64' });
    expect(m.forward({ m1: 2, m2: 3, r: 2 }).item()).toBeCloseTo((6.674 * 6) / 4, 12);
    const out = m.forward({ m1: [1, 2], m2: [3, 4], r: [1, 2] }, { batch: true });
    expect(out.toArray()).toEqual([6.674 * 3, (6.674 * 8) / 4].map((v) => expect.closeTo(v, 12)));
  });

  test('alternating input signatures each run their own specialisation', () => {
    const m = compile('(* k x)', { params: { k: 2 }, dtype: 'float64' });
    const calls: [Record<string, number | number[] | number[][]>, boolean, unknown][] = [
      [{ x: 3 }, false, 6],
      [{ x: [1, 2] }, true, [2, 4]],
      [{ x: [1, 2] }, false, [2, 4]],
      [
        {
          x: [
            [1, 2],
            [3, 4],
          ],
        },
        true,
        [
          [2, 4],
          [6, 8],
        ],
      ],
      [{ x: 3 }, false, 6],
      [{ x: [5] }, true, [10]],
      [{ x: [1, 2] }, true, [2, 4]],
    ];
    for (const [inputs, batch, expected] of [...calls, ...calls]) {
      const out = m.forward(inputs, { batch });
      expect(out.toArray()).toEqual(expected);
      out.dispose();
    }
    m.dispose();
  });

  test('parameters are real leaves with gradients; freeze stops them', () => {
    const m = compile(GRAVITY, { params: { G: 6.674 }, dtype: 'float64' });
    const [G] = m.parameters();
    expect(m.namedParameters().G).toBe(G);
    expect(G.requiresGrad).toBe(true);
    m.forward({ m1: [1, 2], m2: [3, 4], r: [1, 2] }, { batch: true })
      .sum()
      .backward();
    expect(G.grad!.item()).toBeCloseTo(3 + 8 / 4, 12);
    m.freeze();
    expect(G.requiresGrad).toBe(false);
    expect(m.forward({ m1: 1, m2: 1, r: 1 }).requiresGrad).toBe(false);
    m.unfreeze();
    expect(m.forward({ m1: 1, m2: 1, r: 1 }).requiresGrad).toBe(true);
  });

  test('params given as names start at 1.0, as in the reference', () => {
    const m = compile('(* k x)', { params: ['k'] });
    expect(m.namedParameters().k.item()).toBe(1);
  });

  test('declared shapes build the graph at compile time and detect the batch dimension per input', () => {
    const m = compile('(+ u (scale (* dt alpha) (matvec L u)))', {
      inputs: { u: [3], L: [3, 3], dt: 'scalar' },
      params: { alpha: 0.5 },
      dtype: 'float64',
    });
    expect(m.graph).toBeDefined();
    const L = [
      [-2, 1, 0],
      [1, -2, 1],
      [0, 1, -2],
    ];
    const one = m.forward({ u: [1, 2, 3], L, dt: 0.1 }).toArray();
    expect(one).toEqual([1 + 0.05 * 0, 2 + 0.05 * 0, 3 + 0.05 * -4].map((v) => expect.closeTo(v, 12)));
    // u batched, L and dt shared: the mix the reference cannot batch
    const two = m
      .forward({
        u: [
          [1, 2, 3],
          [0, 0, 1],
        ],
        L,
        dt: 0.1,
      })
      .toArray() as number[][];
    expect(two[1]).toEqual([0, 0.05, 1 - 0.1].map((v) => expect.closeTo(v, 12)));
  });

  test('inputs may be tensors (converted to the module dtype), typed arrays with shapes, or nested arrays', () => {
    const m = compile('(* 2 x)', { dtype: 'float64' });
    expect(m.forward({ x: tensor([1, 2], { dtype: 'float32' }) }).dtype).toBe('float64');
    expect(m.forward({ x: { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] } }).toArray()).toEqual([
      [2, 4],
      [6, 8],
    ]);
  });

  test('dispose frees the module; using it afterwards is an error', () => {
    const m = compile('(* k x)', { params: { k: 2 } });
    const [k] = m.parameters();
    m.dispose();
    m.dispose();
    expect(k.disposed).toBe(true);
    expect(() => m.forward({ x: 1 })).toThrow(/disposed/);
  });
});

describe('run', () => {
  test('returns value, shape and gradients for every input and param', () => {
    const r = run('(* a (sin x))', {
      inputs: { x: [0, 1] },
      params: { a: 2 },
      batch: true,
      grad: true,
      dtype: 'float64',
    });
    expect(r.shape).toEqual([2]);
    expect(r.value).toEqual([0, 2 * Math.sin(1)]);
    expect(r.grad!.x).toEqual([2, 2 * Math.cos(1)]);
    expect(r.grad!.a).toBeCloseTo(Math.sin(0) + Math.sin(1), 14);
  });

  test('gradients are zero where the output does not depend on a value', () => {
    const r = run('(> x 0)', { inputs: { x: 3 }, grad: true });
    expect(r.value).toBe(1);
    expect(r.grad).toEqual({ x: 0 });
  });

  test('a NaN in the branch not taken poisons neither value nor gradient', () => {
    // a NaN in one sample's taken branch (log of 0.5 - 4) stays in that sample
    const r = run('(if (> x 0) (+ (sqrt x) (* 0 (log (- 0.5 x)))) (* 2 x))', {
      inputs: { x: [4, -1] },
      batch: true,
      grad: true,
      dtype: 'float64',
    });
    expect(r.value).toEqual([NaN, -2]);
    const s = run('(if (> x 0) (sqrt x) (* 2 x))', {
      inputs: { x: [4, -1] },
      batch: true,
      grad: true,
      dtype: 'float64',
    });
    expect(s.value).toEqual([2, -2]);
    expect(s.grad!.x).toEqual([0.25, 2]);
  });

  test('the caller’s tensors are not modified by a gradient run', () => {
    const x = tensor([1, 2]);
    run('(* x x)', { inputs: { x }, batch: true, grad: true });
    expect(x.requiresGrad).toBe(false);
    expect(x.grad).toBeUndefined();
  });
});

describe('the op graph', () => {
  test('constant folding, common subexpressions and dead code', () => {
    const src = '(let ((unused (exp x)) (two-pi (* 2 pi))) (+ (* two-pi (sin x)) (* two-pi (sin x))))';
    const m = compile(src, { inputs: { x: 'scalar' } });
    const text = m.graphText();
    expect(text).toContain(`const ${2 * Math.PI}`);
    expect(text.match(/ sin /g)).toHaveLength(1);
    expect(text).not.toContain('exp');
    const plain = compile(src, { inputs: { x: 'scalar' }, optimize: false }).graphText();
    expect(plain.match(/ sin /g)).toHaveLength(2);
    expect(plain).toContain('exp');
    // the optimised and unoptimised graphs agree
    const a = compile(src, { dtype: 'float64' }).forward({ x: 0.3 }).item();
    const b = compile(src, { dtype: 'float64', optimize: false }).forward({ x: 0.3 }).item();
    expect(a).toBe(b);
  });

  test('DOT output', () => {
    const dot = compile('(if (> x 0) x (- x))', { inputs: { x: 'scalar' } }).graphText('dot');
    expect(dot.startsWith('digraph program {')).toBe(true);
    expect(dot).toContain('cluster_1');
  });
});

describe('diagnostics for bad programs and inputs', () => {
  test('shape errors point at the expression', () => {
    try {
      compile('(+ 1 (dot u w))', { inputs: { u: [3], w: [2] } });
      throw new Error('no error');
    } catch (e) {
      const err = e as CompileError;
      expect(err.diagnostics[0].code).toBe('E0100');
      expect(err.message).toContain("'dot': vectors of different lengths 3 and 2");
      expect(err.message).toContain('<input>:1:6');
    }
  });

  test('branches of different shapes, recur of a different shape, non-scalar loop test', () => {
    expect(codes(() => compile('(if (> x 0) v 0)', { inputs: { x: 'scalar', v: [3] } }))).toEqual(['E0103']);
    expect(codes(() => compile('(loop ((i 0)) (if (< i 3) (recur v) i))', { inputs: { v: [2] } }))).toEqual(['E0101']);
    expect(codes(() => compile('(loop ((i 0)) (if (< v 3) (recur (+ i 1)) i))', { inputs: { v: [2] } }))).toEqual([
      'E0102',
    ]);
    expect(codes(() => compile('(zeros n)', { inputs: { n: 'scalar' } }))).toEqual(['E0100']);
  });

  test('missing, extra, misshapen, ragged and batch-mismatched inputs', () => {
    const m = compile('(+ (* a x) y)', { inputs: { x: 'scalar', y: 'scalar' }, params: { a: 1 } });
    expect(codes(() => m.forward({ x: 1 }))).toEqual(['E0200']);
    expect(codes(() => m.forward({ x: 1, y: 2, z: 3 }))).toEqual(['E0201']);
    expect(codes(() => m.forward({ x: [[1, 2]], y: 2 }))).toEqual(['E0202']);
    expect(codes(() => m.forward({ x: [[1, 2], [3]] as never, y: 2 }))).toEqual(['E0206']);
    expect(codes(() => m.forward({ x: [1, 2, 3], y: [1, 2] }))).toEqual(['E0203']);
    expect(() => m.forward([1] as never)).toThrow(/takes an object mapping input names/);
  });

  test('the missing-input diagnostic points at the input’s first use', () => {
    const m = compile('(+ x\n   velocity)', { inputs: ['x', 'velocity'] });
    expect(() => m.forward({ x: 1 })).toThrow(CompileError);
    expect(() => m.forward({ x: 1 })).toThrow(/^<input>:2:4: error\[E0200\]: input 'velocity' is missing/);
    m.dispose();
  });

  test('NaN and malformed parameter values', () => {
    expect(codes(() => compile('(* k x)', { params: { k: NaN } }))).toEqual(['E0204']);
    expect(codes(() => compile('(* k x)', { params: { k: [[1], [2, 3]] } }))).toEqual(['E0204']);
    expect(codes(() => compile('(* k x)', { params: { k: 'one' as never } }))).toEqual(['E0204']);
  });

  test('loop and recursion limits are diagnostics naming the loop or function, never a truncated result', () => {
    expect(
      codes(() => run('(loop ((i 0)) (if (< i n) (recur (+ i 1)) i))', { inputs: { n: 1e6 }, limit: 1000 })),
    ).toEqual(['E0205']);
    expect(run('(loop ((i 0)) (if (< i n) (recur (+ i 1)) i))', { inputs: { n: 999 }, limit: 1000 }).value).toBe(999);
    const down = '(define (down n) (if (= n 0) 0 (down (- n 1)))) (down k)';
    expect(() => run(down, { inputs: { k: 50 }, limit: 20 })).toThrow(
      /error\[E0205\]: function 'down' exceeded its limit of 20/,
    );
    // a batch: one sample over the limit fails the whole call
    expect(
      codes(() =>
        run('(loop ((i 0)) (if (< i n) (recur (+ i 1)) i))', { inputs: { n: [1, 5000] }, batch: true, limit: 1000 }),
      ),
    ).toEqual(['E0205']);
  });

  test('deep recursion up to the default limit runs without exhausting the stack', () => {
    expect(
      run('(define (down n) (if (= n 0) 0 (+ 1 (down (- n 1))))) (down k)', { inputs: { k: 9000 }, dtype: 'float64' })
        .value,
    ).toBe(9000);
  });

  test('cross keeps antisymmetry exact: v x v is exactly 0, in float64 and float32, batched', () => {
    const v = [
      [1.012087, 0.112555, 1.642009],
      [-3.5, 1e-3, 7.25],
    ];
    for (const dtype of ['float64', 'float32'] as const) {
      const r = run('(cross v v)', { inputs: { v }, batch: true, dtype });
      expect((r.value as number[][]).flat().every((x) => x === 0)).toBe(true);
    }
    expect(run('(cross a b)', { inputs: { a: [1, 0, 0], b: [0, 1, 0] }, dtype: 'float64' }).value).toEqual([0, 0, 1]);
  });

  test('a ref index known only at run time is checked there, as a diagnostic at the call (E0209)', () => {
    const source = '(define (pick v k) (* 2 (ref v k)))\n(pick v i)';
    const m = compile(source, { inputs: { v: [3], i: 'scalar' } });
    expect(m.forward({ v: [1, 2, 3], i: 2 }).item()).toBe(6);
    for (const [i, problem] of [
      [1.5, 'the index is not a whole number'],
      [3, 'index out of range for a last dimension of size 3'],
    ] as const) {
      let error: unknown;
      try {
        m.forward({ v: [1, 2, 3], i });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CompileError);
      expect((error as CompileError).diagnostics.map((d) => [d.code, d.message])).toEqual([
        ['E0209', `'ref': ${problem}`],
      ]);
      expect((error as Error).message).toMatch(/^<input>:1:25: error\[E0209\]/);
    }
    // one bad sample in a batch fails the call
    expect(
      codes(() =>
        m.forward(
          {
            v: [
              [1, 2, 3],
              [4, 5, 6],
            ],
            i: [0, -1],
          },
          { batch: true },
        ),
      ),
    ).toEqual(['E0209']);
    m.dispose();
  });

  test('mutual recursion with vector results: each function is lowered again when a guess it rests on changes', () => {
    // f(3, x) = g(2, 2x) = f(1, 2x + 1) = g(0, 4x + 2) = -(4x + 2). Lowering f guesses a scalar result,
    // lowers g against that guess, then retries f with a vector: g must be lowered again (the fuzzer
    // found the stale instance as a segfault: a call of a region that never got its results).
    const source =
      '(define (f k v) (if (<= k 0) v (g (- k 1) (* 2 v)))) (define (g k v) (if (<= k 0) (- v) (f (- k 1) (+ v 1)))) (f n x)';
    expect(run(source, { inputs: { n: 3, x: [1, 2] }, dtype: 'float64', grad: true })).toEqual({
      value: [-6, -10],
      shape: [2],
      grad: { n: 0, x: [-4, -4] },
    });
    expect(
      run(source, {
        inputs: {
          n: [3, 2],
          x: [
            [1, 2],
            [1, 2],
          ],
        },
        batch: true,
        dtype: 'float64',
      }).value,
    ).toEqual([
      [-6, -10],
      [3, 5],
    ]);
    // Without the optimisation passes too: the regions of abandoned guesses never reach the native side.
    expect(run(source, { inputs: { n: 3, x: [1, 2] }, dtype: 'float64', optimize: false }).value).toEqual([-6, -10]);
    expect(
      run('(define (down n v) (if (<= n 0) v (down (- n 1) (* 2 v)))) (down k x)', {
        inputs: { k: 3, x: [1, 2] },
        optimize: false,
      }).value,
    ).toEqual([8, 16]);
    // Vector tests evaluate both branches, so this mutual recursion never ends: a limit, not a crash.
    const parity =
      '(letrec ((even? (lambda (k) (if (= k 0) 1 (odd? (- k 1))))) (odd? (lambda (k) (if (even? (- k 1)) 0 (= k 0))))) (even? n))';
    expect(codes(() => run(parity, { inputs: { n: [1.5, 2, 3] }, limit: 200 }))).toEqual(['E0205']);
  });

  test("the native side checks a graph's wiring before running it: a malformed graph is an Error, not a crash", () => {
    const node = (op: string, extra: object = {}) => ({ op, args: [], attrs: [], shape: [], batched: false, ...extra });
    const spec = (regions: object[]) => ({ numInputs: 0, recursive: true, maxSteps: 100, regions });
    const region = (nodes: object[], results: number[]) => ({
      nodes,
      results,
      resultBatched: results.map(() => false),
    });
    const build = (s: object) => new (native().NativeGraph)(s, [], 'float64', 'cpu', []);
    const callee = region([], []); // a function body that gives nothing
    const call = node('call', { args: [], regions: [1], argBatched: [], limit: 10, label: "function 'f'" });
    expect(() => build(spec([region([call], [0]), callee]))).toThrow(
      /internal: malformed graph \(region 0, node 0\): a call of a function body that gives no result/,
    );
    expect(() => build(spec([region([node('sin', { args: [0] })], [0])]))).toThrow(
      /an argument does not refer to an earlier node/,
    );
    expect(() => build(spec([region([node('input', { index: 2 })], [0])]))).toThrow(/a missing input/);
    expect(() => build(spec([region([node('const', { data: new Float64Array([1]) })], [3])]))).toThrow(
      /a result refers to a missing node/,
    );
  });

  test('front-end errors surface through compile', () => {
    expect(codes(() => compile('(+ x velocty)', { inputs: ['x', 'velocity'] }))).toContain('E0030');
  });

  test('bad options', () => {
    expect(() => compile('x', { limit: 0 })).toThrow(/limit must be a whole number >= 1/);
    expect(() => compile('x', { inputs: { x: [0] } })).toThrow(/shape of input 'x'/);
    expect(() => compile('x', { device: 'cuda' }).forward({ x: 1 })).toThrow(noCudaDevice());
  });
});

test('Module is exported as a class', () => {
  expect(compile('x')).toBeInstanceOf(Module);
  expect(compile('(* 2 x)').forward({ x: 1 })).toBeInstanceOf(Tensor);
});

test('declared inputs that the program does not read are still inputs (given, checked, ignored)', () => {
  const m = compile('(* 2 v)', { inputs: { x: 'scalar', v: 'scalar' } });
  expect(m.inputs).toEqual(['x', 'v']);
  expect(m.forward({ x: 5, v: 3 }).item()).toBe(6);
  expect(codes(() => m.forward({ v: 3 }))).toEqual(['E0200']);
});
