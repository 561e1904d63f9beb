// Large and deep inputs: no stack overflow, a result or a limit diagnostic (jest's timeout guards
// against a hang).
import { parseProgram, MAX_DEPTH } from '../src/frontend';

// No clock: jest's timeout is the hang guard, and a loaded machine must not fail a correct parse.
const timed = (text: string) => parseProgram(text);

test('nesting depth 10,000 reports the depth limit', () => {
  const r = timed(`${'(+ 1 '.repeat(10000)}x${')'.repeat(10000)}`);
  expect(r.diagnostics.map((d) => d.code)).toEqual(['E0008']);
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
});

test('a 1 MB program of definitions checks', () => {
  const defs = Array.from({ length: 40000 }, (_, i) => `(define v${i} (+ x ${i}))`).join('\n');
  const text = `${defs}\nv39999`;
  expect(text.length).toBeGreaterThan(1_000_000);
  const r = timed(text);
  expect(r.diagnostics).toEqual([]);
  expect(r.program!.values).toHaveLength(40000);
});
