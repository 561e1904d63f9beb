// Resource limits end in clear errors, checked before the work or the allocation; and the
// "safe" primitives have finite gradients at zero.
import { compile, run } from '../src/api';
import { codes } from './helpers/codes';
import { full, randn, zeros, MAX_TENSOR_BYTES } from '../src/runtime/tensor';

describe('tensor sizes are checked before allocating', () => {
  test.each([
    ['zeros', () => zeros([1e6, 1e6])],
    ['full', () => full([100000, 100000, 10], 1, { dtype: 'float64' })],
    ['randn', () => randn([4e9])],
  ])('%s of a shape larger than half the memory is a RangeError', (_name, make) => {
    const start = Date.now();
    expect(make).toThrow(/needs [\d.]+ GB, more than the limit of [\d.]+ GB \(half of this machine's memory\)/);
    expect(Date.now() - start).toBeLessThan(5000); // a hang guard, not a speed test
  });

  test('just under the limit the check passes (the size is what decides)', () => {
    const elements = Math.floor(MAX_TENSOR_BYTES / 4);
    expect(() => zeros([elements + 1])).toThrow(RangeError);
    const t = zeros([1000]);
    expect(t.shape).toEqual([1000]);
    t.dispose();
  });
});

describe('program limits are diagnostics', () => {
  test('nesting deeper than the front end allows (E0008)', () => {
    expect(codes(() => compile(`${'(+ 1 '.repeat(5000)}x${')'.repeat(5000)}`))).toEqual(['E0008']);
  });

  test('constant sizes above 1,000,000 (E0100)', () => {
    expect(codes(() => compile('(vsum (zeros 2000000))'))).toEqual(['E0100']);
  });

  test('a loop that never ends stops at the iteration limit, naming the loop (E0205)', () => {
    const start = Date.now();
    const m = compile('(loop ((k 0)) (if (< k -1) k (recur (+ k 1))))', { limit: 5000 });
    expect(codes(() => m.forward({}))).toEqual(['E0205']);
    expect(Date.now() - start).toBeLessThan(10000);
    m.dispose();
  });

  test('unbounded recursion stops at the depth limit, naming the function (E0205)', () => {
    const m = compile('(define (f n) (+ 1 (f (+ n 1)))) (f x)', { inputs: { x: 'scalar' }, limit: 20000 });
    expect(() => m.forward({ x: 0 })).toThrow(/function 'f' exceeded its limit of 20000/);
    m.dispose();
  });

  test('work that multiplies within each limit stops at the step budget (E0207), at the loop or call that ran out', () => {
    // Each call below recurses only 40 deep, but makes 2^40 calls in all.
    let source = '(define (f0 x) (+ x 1))\n';
    for (let i = 1; i <= 40; i++) source += `(define (f${i} x) (+ (f${i - 1} x) (f${i - 1} (* 2 x))))\n`;
    const start = Date.now();
    const m = compile(`${source}(f40 x)`, { maxSteps: 5000 });
    expect(codes(() => m.forward({ x: 1 }))).toEqual(['E0207']);
    // Nested loops: 200 x 200 iterations, each loop well within `limit`.
    const nested = compile(
      '(loop ((i 0) (s 0)) (if (< i 200) (recur (+ i 1) (+ s (loop ((j 0)) (if (< j 200) (recur (+ j 1)) j)))) s))',
      { maxSteps: 10000 },
    );
    let error: unknown;
    try {
      nested.forward({});
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).toMatch(
      /^<input>:1:55: error\[E0207\]: this run took more than 10000 loop iterations and function calls in all/,
    );
    expect(Date.now() - start).toBeLessThan(10000);
    // Within the budget the same program runs: 200 * 200 summed, 40,401 steps.
    const enough = compile(nested.source.text, { maxSteps: 40401 });
    expect(enough.forward({}).item()).toBe(40000);
    for (const x of [m, nested, enough]) x.dispose();
  });

  test('maxSteps must be a whole number >= 1', () => {
    expect(() => compile('x', { maxSteps: 0 })).toThrow(/maxSteps must be a whole number >= 1, got number 0/);
  });

  test('a run whose values would exceed half the memory is refused before allocating (E0208), at its largest value', () => {
    const m = compile('(vsum (vsum (* 2 (outer x x))))');
    const x = zeros([200000]); // the outer product alone would be 149 GB
    const start = Date.now();
    let error: unknown;
    try {
      m.forward({ x });
    } catch (e) {
      error = e;
    }
    expect(Date.now() - start).toBeLessThan(5000); // a hang guard, not a speed test
    expect((error as Error).message).toMatch(
      /error\[E0208\]: this run needs about 298\.\d GB for the values it computes, more than the limit of [\d.]+ GB/,
    );
    expect((error as Error).message).toMatch(/^<input>:1:18: /);
    // A batch multiplies the per-sample values: 50,000 samples of a 1,000 x 1,000 outer product.
    const batch = zeros([50000, 1000]);
    expect(codes(() => m.forward({ x: batch }, { batch: true }))).toEqual(['E0208']);
    const small = m.forward({ x: full([1000], 0.5) });
    expect(small.item()).toBe(2 * 0.25 * 1000 * 1000);
    for (const t of [x, batch, small]) t.dispose();
    m.dispose();
  });

  test('a graph beyond its size limit is a diagnostic, not an exhausted heap (E0109)', () => {
    // Each (eye 1000) holds a million constants; 101 of them pass the limit of 100,000,000.
    expect(codes(() => compile(`(+ ${'(eye 1000) '.repeat(101)})`))).toEqual(['E0109']);
  });

  test('a 1 MB source of balanced forms ends in diagnostics in bounded time', () => {
    const start = Date.now();
    expect(codes(() => compile('(+ x [1 2 (sin 3)]) '.repeat(60000)))).toEqual(['E0011']);
    expect(Date.now() - start).toBeLessThan(20000);
  });

  test('a source beyond 2,000,000 characters is refused before parsing (E0009)', () => {
    const start = Date.now();
    expect(codes(() => compile('(+ 1 2) '.repeat(300000)))).toEqual(['E0009']);
    expect(Date.now() - start).toBeLessThan(5000); // a hang guard, not a speed test
  });

  test('200,000 unclosed brackets end in diagnostics, not a RangeError, in bounded time', () => {
    const start = Date.now();
    expect(codes(() => compile('('.repeat(200000)))).toContain('E0003');
    expect(Date.now() - start).toBeLessThan(20000);
  });
});

describe('numerical hygiene: finite gradients at zero', () => {
  test.each([
    ['safe-sqrt', '(safe-sqrt x)', 0],
    ['safe-log', '(safe-log x)', 0],
    ['norm', '(norm v)', [0, 0, 0]],
    ['normalize', '(vsum (normalize v))', [0, 0, 0]],
  ])('%s', (_name, source, at) => {
    for (const dtype of ['float32', 'float64'] as const) {
      const name = Array.isArray(at) ? 'v' : 'x';
      const r = run(source, { inputs: { [name]: at }, grad: true, dtype });
      const values = [r.value, r.grad![name]].flat(2) as number[];
      expect(values.every(Number.isFinite)).toBe(true);
    }
  });
  test('their values at zero are the documented clamps', () => {
    expect(run('(safe-sqrt x)', { inputs: { x: 0 }, dtype: 'float64' }).value).toBeCloseTo(1e-4, 12);
    expect(run('(safe-log x)', { inputs: { x: 0 }, dtype: 'float64' }).value).toBeCloseTo(Math.log(1e-8), 12);
    expect(run('(normalize v)', { inputs: { v: [0, 0] }, dtype: 'float64' }).value).toEqual([0, 0]);
  });
});
