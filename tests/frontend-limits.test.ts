// Large and deep inputs: no stack overflow, a result or a limit diagnostic, in reasonable time.
import { parseProgram, MAX_DEPTH } from '../src/frontend';

const timed = (text: string) => {
  const t = Date.now();
  const r = parseProgram(text);
  return { ...r, ms: Date.now() - t };
};

test('nesting depth 10,000 reports the depth limit', () => {
  const r = timed(`${'(+ 1 '.repeat(10000)}x${')'.repeat(10000)}`);
  expect(r.diagnostics.map((d) => d.code)).toEqual(['E0008']);
  expect(r.ms).toBeLessThan(10000);
  expect(r.program).toBeUndefined();
});

test(`nesting at the limit (${MAX_DEPTH}) checks`, () => {
  const r = timed(`${'(+ 1 '.repeat(MAX_DEPTH)}x${')'.repeat(MAX_DEPTH)}`);
  expect(r.diagnostics).toEqual([]);
  expect(r.program).toBeDefined();
});

test('100,000 forms in one expression check', () => {
  const r = timed(`(+ ${Array.from({ length: 100000 }, (_, i) => `(* x ${i})`).join(' ')})`);
  expect(r.diagnostics).toEqual([]);
  expect(r.program!.inputs).toEqual(['x']);
  expect(r.ms).toBeLessThan(20000);
});

test('a 1 MB program of definitions checks', () => {
  const defs = Array.from({ length: 40000 }, (_, i) => `(define v${i} (+ x ${i}))`).join('\n');
  const text = `${defs}\nv39999`;
  expect(text.length).toBeGreaterThan(1_000_000);
  const r = timed(text);
  expect(r.diagnostics).toEqual([]);
  expect(r.program!.values).toHaveLength(40000);
});
