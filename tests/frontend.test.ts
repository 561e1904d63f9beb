import type { Expr } from '../src/ast';
import { editDistance, suggest } from '../src/diagnostics';
import { parseProgram, parseTree, SourceFile, type ParseOptions } from '../src/frontend';

const ok = (text: string, options: ParseOptions = {}) => {
  const r = parseProgram(text, options);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.program!;
};
const codes = (text: string, options: ParseOptions = {}) => parseProgram(text, options).diagnostics.map((d) => d.code);

describe('AST shape', () => {
  test('numbers, booleans and vectors', () => {
    const p = ok('[3 -2.5 .5 6.674e-11 1E3 +4 #t]');
    expect(p.result.kind).toBe('call');
    const call = p.result as Extract<Expr, { kind: 'call' }>;
    expect(call.callee).toEqual({ kind: 'primitive', name: 'vec' });
    expect(call.args.map((a) => (a as { value: unknown }).value)).toEqual([3, -2.5, 0.5, 6.674e-11, 1000, 4, true]);
  });

  test('let is sequential and gives unique local ids', () => {
    const p = ok('(let ((a 1) (b a)) (let ((a b)) a))');
    const outer = p.result as Extract<Expr, { kind: 'let' }>;
    const b = outer.bindings[1];
    expect(b.value).toMatchObject({ kind: 'var', ref: { kind: 'local', id: outer.bindings[0].binding.id } });
    const inner = outer.body as Extract<Expr, { kind: 'let' }>;
    expect(inner.bindings[0].binding.id).not.toBe(outer.bindings[0].binding.id);
    expect(inner.body).toMatchObject({ ref: { kind: 'local', id: inner.bindings[0].binding.id } });
  });

  test('defines, functions and result', () => {
    const p = ok('(define (sq x) (* x x)) (define g 9.8) (sq g)');
    expect(p.functions.map((f) => f.name)).toEqual(['sq']);
    expect(p.values.map((v) => v.name)).toEqual(['g']);
    expect(p.result).toMatchObject({
      kind: 'call',
      callee: { kind: 'function', name: 'sq' },
      args: [{ ref: { kind: 'define', name: 'g' } }],
    });
  });

  test('letrec functions get program-unique names', () => {
    const p = ok('(define (f x) x) (letrec ((f (lambda (n) (f n)))) (f 1))');
    const letrec = p.result as Extract<Expr, { kind: 'letrec' }>;
    expect(letrec.functions[0].name).toBe('f#2');
    expect(letrec.body).toMatchObject({ callee: { kind: 'function', name: 'f#2' } });
  });

  test('cond, if, loop and recur', () => {
    const p = ok('(loop ((i 0)) (cond ((> i 3) i) (else (if #t (recur (+ i 1)) i))))');
    const loop = p.result as Extract<Expr, { kind: 'loop' }>;
    expect(loop.body.kind).toBe('cond');
    const recur = ((loop.body as Extract<Expr, { kind: 'cond' }>).otherwise as Extract<Expr, { kind: 'if' }>)
      .consequent;
    expect(recur).toMatchObject({ kind: 'recur', loop: loop.id });
  });

  test('pi is a constant unless shadowed', () => {
    expect(ok('pi').result).toMatchObject({ ref: { kind: 'pi' } });
    expect(ok('pi', { inputs: ['pi'] }).result).toMatchObject({ ref: { kind: 'free', role: 'input' } });
    expect(ok('(let ((pi 3)) pi)').result).toMatchObject({ body: { ref: { kind: 'local' } } });
  });

  test('external functions', () => {
    const p = ok('(f x)', { functions: { f: { minArgs: 1, maxArgs: 1 } } });
    expect(p.result).toMatchObject({ callee: { kind: 'external', name: 'f' } });
    expect(codes('(f x x)', { functions: { f: { minArgs: 1, maxArgs: 1 } } })).toEqual(['E0040']);
  });

  test('nested block comments and line comments', () => {
    expect(ok('#| a #| b |# c |# ; d\n x').inputs).toEqual(['x']);
  });
});

describe('free identifiers', () => {
  test('undeclared: inputs in order of first use', () => {
    expect(ok('(* m (+ x m))').inputs).toEqual(['m', 'x']);
  });
  test('params declared alone: the rest are inputs', () => {
    const p = ok('(* G (/ m x))', { params: ['G'] });
    expect(p.inputs).toEqual(['m', 'x']);
    expect(p.params).toEqual(['G']);
  });
  test('declared: other free names are errors with suggestions', () => {
    const r = parseProgram('(* 0.5 m velocty)', { inputs: ['m', 'velocity'] });
    expect(r.program).toBeUndefined();
    expect(r.diagnostics[0]).toMatchObject({ code: 'E0030', hint: "did you mean 'velocity'?" });
  });
  test('declared but unused gives W0002; declared twice gives E0037', () => {
    expect(codes('x', { inputs: ['x', 'y'] })).toEqual(['W0002']);
    expect(codes('x', { inputs: ['x'], params: ['x'] })).toContain('E0037');
  });
});

describe('diagnostics', () => {
  test.each([
    ['(+ 1 2', 'E0003'],
    ['(+ 1 2))', 'E0004'],
    ['[1 2)', 'E0005'],
    ['(+ 1 {)', 'E0006'],
    ['(+ 1e 2)', 'E0007'],
    ['', 'E0010'],
    ['1 2', 'E0011'],
    ['1 (define x 2)', 'E0012'],
    ['(define x 2)', 'E0013'],
    ['(+ (define x 2) 1)', 'E0014'],
    ['(let x)', 'E0020'],
    ['(let ((x 1)) x x)', 'E0020'],
    ['(if a b)', 'E0020'],
    ['(letrec ((f 1)) 2)', 'E0020'],
    ['(letrec ((f (lambda x 1))) 2)', 'E0020'],
    ['(loop () 1 2)', 'E0020'],
    ['(define (f) 1 2) 1', 'E0020'],
    ['(define 1 2) 1', 'E0020'],
    ['(cond (a 1))', 'E0021'],
    ['(+ 1 (lambda (x) x))', 'E0022'],
    ['(recur 1)', 'E0023'],
    ['(loop ((i 0)) (recur))', 'E0024'],
    ['(loop ((i 0)) (+ 1 (recur i)))', 'E0025'],
    ['(let ((if 1)) 2)', 'E0026'],
    ['(sqr x)', 'E0031'],
    ['(let ((x 1) (x 2)) x)', 'E0032'],
    ['(letrec ((f (lambda (a a) a))) (f 1 2))', 'E0032'],
    ['(define a 1) (define a 2) a', 'E0032'],
    ['(let ((k 1)) (k 2))', 'E0033'],
    ['(define k 1) (k 2)', 'E0033'],
    ['(define (f a) a) (+ f 1)', 'E0034'],
    ['((f) 1)', 'E0035'],
    ['()', 'E0036'],
    ['(define a b) (define b 1) a', 'E0038'],
    ['(pow 2)', 'E0040'],
    ['(define (f a) a) (f)', 'E0040'],
    ['(+ 1 \0)', 'E0001'],
    ['(+ 1 \uFFFD)', 'E0002'],
  ])('%j reports %s', (text, code) => {
    const r = parseProgram(text);
    expect(r.diagnostics.map((d) => d.code)).toContain(code);
    expect(r.program).toBeUndefined();
  });

  test('reports every error, not just the first', () => {
    expect(codes('(+ (pow 1) (sqr 2) (let x))')).toEqual(['E0040', 'E0031', 'E0020']);
  });

  test('unclosed paren points at the opening paren', () => {
    const r = parseProgram('(define (f x)\n  (* x 2)\n(f 1)');
    expect(r.diagnostics[0]).toMatchObject({ code: 'E0003', span: { start: 0, end: 1 } });
  });

  test('recur in a nested loop init targets the outer loop, not in tail position', () => {
    expect(codes('(loop ((i 0)) (loop ((j (recur 1))) j))')).toEqual(['E0025']);
  });

  test('recur inside a letrec lambda does not see an outer loop', () => {
    expect(codes('(loop ((i 0)) (letrec ((f (lambda (n) (recur n)))) (f i)))')).toEqual(['E0023']);
  });
});

describe('helpers', () => {
  test('SourceFile positions are 1-based', () => {
    const s = new SourceFile('ab\ncd\n', 'f');
    expect(s.position(0)).toEqual({ line: 1, column: 1 });
    expect(s.position(4)).toEqual({ line: 2, column: 2 });
    expect(s.lineText(2)).toBe('cd');
  });
  test('edit distance and suggestions', () => {
    expect(editDistance('velocty', 'velocity')).toBe(1);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(suggest('velocty', ['velocity', 'x', 'm'])).toEqual(['velocity']);
    expect(suggest('x', ['y'])).toEqual([]);
  });
  test('parseTree prints fields', () => {
    expect(parseTree('(f x)')).toContain('operator: (symbol 1:2 "f")');
  });
});
