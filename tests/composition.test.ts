// Compiled modules as functions of other programs: inlined into one graph, exact, and trained together.
import { chain, compile, run } from '../src/api';
import { CompileError } from '../src/diagnostics';

const f64 = { dtype: 'float64' as const };

describe('composition', () => {
  const square = compile('(* x x)', f64);
  const sine = compile('(sin x)', f64);
  const addOne = compile('(+ x 1)', f64);
  const double = compile('(* 2 x)', f64);
  const negate = compile('(- 0 x)', f64);
  const cube = compile('(* x (* x x))', f64);

  test('a chain of depth 6 equals direct evaluation, value and gradient', () => {
    const c = chain(square, sine, addOne, double, negate, cube);
    const direct = compile(
      '(* (- 0 (* 2 (+ (sin (* x x)) 1))) (* (- 0 (* 2 (+ (sin (* x x)) 1))) (- 0 (* 2 (+ (sin (* x x)) 1)))))',
      f64,
    );
    const xs = [-1.7, -0.3, 0, 0.4, 1.1, 2.6];
    expect(c.forward({ x: xs }, { batch: true }).toArray()).toEqual(
      direct.forward({ x: xs }, { batch: true }).toArray(),
    );
    const viaChain = run('(c x)', { functions: { c }, inputs: { x: xs }, batch: true, grad: true, ...f64 });
    expect(viaChain.value).toEqual(direct.forward({ x: xs }, { batch: true }).toArray());
    // the chain is inlined: one graph, no calls
    expect(c.graphText()).not.toContain('call');
  });

  test('composition is one graph whose parameters include the callee’s, trained together', () => {
    const gravity = compile('(/ (* G (* m1 m2)) (pow r 2))', { params: { G: 2 }, ...f64 });
    const weight = compile('(* (gravity m 5.972 (+ R h)) k)', { functions: { gravity }, params: { k: 3 }, ...f64 });
    expect(Object.keys(weight.namedParameters())).toEqual(['k', 'gravity.G']);
    const out = weight.forward({ m: 2, R: 1, h: 1 });
    expect(out.item()).toBeCloseTo(((2 * 2 * 5.972) / 4) * 3, 12);
    out.backward();
    expect(weight.namedParameters()['gravity.G'].grad!.item()).toBeCloseTo(((2 * 5.972) / 4) * 3, 12);
    // the callee's own tensor is the one that was trained
    expect(gravity.namedParameters().G.grad!.item()).toBeCloseTo(((2 * 5.972) / 4) * 3, 12);
  });

  test('nested functions and their own local functions', () => {
    const fact = compile('(define (f n) (if (<= n 1) 1 (* n (f (- n 1))))) (f k)', f64);
    const outer = compile('(define (f z) (* 10 z)) (f (fact k))', { functions: { fact }, ...f64 });
    expect(outer.forward({ k: [3, 4] }, { batch: true }).toArray()).toEqual([60, 240]);
    const outermost = compile('(outer (+ j 1))', { functions: { outer }, ...f64 });
    expect(outermost.forward({ j: 4 }).item()).toBe(1200);
  });

  test('arity and shape errors name the call', () => {
    const g = compile('(dot u w)', { inputs: { u: [3], w: [3] }, ...f64 });
    expect(() => compile('(g a)', { functions: { g }, ...f64 })).toThrow(/'g' expects 2 argument/);
    const diagnose = (f: () => unknown): CompileError => {
      try {
        f();
      } catch (e) {
        return e as CompileError;
      }
      throw new Error('no error');
    };
    // the callee declared vector[3] inputs
    const declared = diagnose(() => compile('(+ 1 (g a b))', { functions: { g }, inputs: { a: [2], b: [2] }, ...f64 }));
    expect(declared.diagnostics[0].code).toBe('E0107');
    expect(declared.message).toContain(
      "<input>:1:6: error[E0107]: argument 1 of 'g' is vector[2], but 'g' declares its input 'u' as vector[3]",
    );
    // an undeclared callee fails inside its own text: reported at the call, naming the place in the callee
    const h = compile('\n(dot u w)', { file: 'h.neural', ...f64 });
    const inner = diagnose(() => compile('(h a b)', { functions: { h }, inputs: { a: [2], b: [3] }, ...f64 }));
    expect(inner.message).toContain(
      "<input>:1:1: error[E0106]: in 'h' (h.neural:2:1): 'dot': vectors of different lengths 2 and 3",
    );
  });

  test('functions must be modules of the same dtype', () => {
    expect(() => compile('(g x)', { functions: { g: 3 as never } })).toThrow(/must be a compiled Module or an nn.mlp/);
    expect(() => compile('(g x)', { functions: { g: compile('(* 2 x)') }, ...f64 })).toThrow(
      /is float32, but this module is float64/,
    );
    expect(() => chain(compile('(* a b)', f64), compile('(+ x y)', f64))).toThrow(/exactly one input/);
  });
});
