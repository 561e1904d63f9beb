// Resource limits end in clear errors, checked before the work or the allocation; and the
// "safe" primitives have finite gradients at zero.
import { compile, run } from '../src/compiler/module';
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
    expect(Date.now() - start).toBeLessThan(1000);
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

  test('a 1 MB source of balanced forms ends in diagnostics in bounded time', () => {
    const start = Date.now();
    expect(codes(() => compile('(+ x [1 2 (sin 3)]) '.repeat(60000)))).toEqual(['E0011']);
    expect(Date.now() - start).toBeLessThan(20000);
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
