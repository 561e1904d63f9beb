// Fixes on diagnostics: each obvious repair, applied, gives the program it should; `check --fix`
// applies the safe ones and `check --json` carries them all.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { main } from '../src/cli/main';
import type { Fix } from '../src/diagnostics';
import { parseProgram, type ParseOptions } from '../src/frontend';
import { applyFixes, safeFixes } from '../src/tools/fixes';

const fixesOf = (text: string, options: ParseOptions = {}): Fix[] =>
  parseProgram(text, options).diagnostics.flatMap((d) => d.fixes ?? []);
/** The text after applying the first fix of each diagnostic with fixes. */
const firstFixes = (text: string, options: ParseOptions = {}): string =>
  applyFixes(
    text,
    parseProgram(text, options).diagnostics.flatMap((d) => d.fixes?.[0] ?? []),
  ).text;

describe('fixes', () => {
  test.each([
    [
      'a missing closing bracket, after the last token and before a trailing comment',
      '(+ 1 (* 2 x)\n; done\n',
      '(+ 1 (* 2 x))\n; done\n',
    ],
    ['nested missing closers come out innermost first', '(vec 1 [2 3', '(vec 1 [2 3])'],
    ['a stray closer is removed', '(+ 1 2))', '(+ 1 2)'],
    ['a mismatched closer becomes the expected one', '(+ 1 2]', '(+ 1 2)'],
    ['let bindings without their brackets', '(let (y 1) (+ y 2))', '(let ((y 1)) (+ y 2))'],
    ['several loop bindings without their brackets', '(loop (i 0 acc 1) acc)', '(loop ((i 0) (acc 1)) acc)'],
  ])('%s (safe)', (_what, text, fixed) => {
    const fixes = fixesOf(text);
    expect(fixes.length).toBeGreaterThan(0);
    expect(fixes.every((f) => f.safe)).toBe(true);
    expect(applyFixes(text, safeFixes(parseProgram(text).diagnostics)).text).toBe(fixed);
    expect(parseProgram(fixed).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  test('a misspelt input with one suggestion is a safe rename; a misspelt function too', () => {
    const text = '(* 0.5 m (squar velocty))';
    const fixes = fixesOf(text, { inputs: ['m', 'velocity'] });
    expect(fixes).toEqual([
      { title: "change to 'square'", edits: [{ span: { start: 10, end: 15 }, text: 'square' }], safe: true },
      { title: "change to 'velocity'", edits: [{ span: { start: 16, end: 23 }, text: 'velocity' }], safe: true },
    ]);
    expect(applyFixes(text, fixes).text).toBe('(* 0.5 m (square velocity))');
  });

  test('several suggestions are offered, none safe; a typo warning is never safe', () => {
    const ambiguous = fixesOf('(+ abc1 ab)', { inputs: ['abc2', 'abc3', 'ab'] });
    expect(ambiguous.map((f) => [f.title, f.safe])).toEqual([
      ["change to 'abc2'", false],
      ["change to 'abc3'", false],
    ]);
    const warning = parseProgram('(let ((velocity 1)) velocty)').diagnostics;
    expect(warning.map((d) => [d.code, d.fixes?.map((f) => [f.edits[0].text, f.safe])])).toEqual([
      ['W0001', [['velocity', false]]],
    ]);
  });

  test('one argument missing or extra: an unsafe edit that makes the arity right', () => {
    expect(firstFixes('(clamp x 0)')).toBe('(clamp x 0 0)');
    expect(firstFixes('(atan2 y x z)')).toBe('(atan2 y x)');
    expect(firstFixes('(define (f a b) (+ a b)) (f 1 2 3)')).toBe('(define (f a b) (+ a b)) (f 1 2)');
    expect(fixesOf('(clamp x 0)').map((f) => f.safe)).toEqual([false]);
    expect(fixesOf('(clamp x)')).toEqual([]); // two missing: no obvious repair
  });

  test('a replacement and an insertion at one offset: the insertion goes in front', () => {
    const text = '(let (velocty 1) velocty)';
    const rename: Fix = { title: 'rename', edits: [{ span: { start: 6, end: 13 }, text: 'v' }], safe: true };
    const bracket: Fix = {
      title: 'bracket',
      edits: [
        { span: { start: 6, end: 6 }, text: '(' },
        { span: { start: 15, end: 15 }, text: ')' },
      ],
      safe: true,
    };
    expect(applyFixes(text, [bracket, rename]).text).toBe('(let ((v 1)) velocty)');
    const overlapping: Fix = { title: 'other', edits: [{ span: { start: 8, end: 10 }, text: 'x' }], safe: true };
    expect(applyFixes(text, [rename, overlapping])).toEqual({ text: '(let (v 1) velocty)', fixes: [rename] });
  });
});

describe('neuralc check --fix and --json', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-fix-'));
  async function run(...argv: string[]) {
    let stdout = '';
    let stderr = '';
    const io = {
      stdout: (t: string) => (stdout += t),
      stderr: (t: string) => (stderr += t),
      readFile: (p: string) => fs.readFileSync(p),
      writeFile: (p: string, t: string) => fs.writeFileSync(p, t),
    };
    const code = await main(argv, io);
    return { code, stdout, stderr };
  }

  test('--fix applies safe fixes in rounds, rewrites the file and reports what is left', async () => {
    const file = path.join(dir, 'broken.neural');
    fs.writeFileSync(file, '(let (v2 (dot velocty velocty))\n  (* 0.5 m v2)\n');
    const r = await run('check', file, '--inputs', 'm,velocity', '--fix');
    expect(fs.readFileSync(file, 'utf8')).toBe('(let ((v2 (dot velocity velocity)))\n  (* 0.5 m v2))\n');
    expect(r.stderr).toBe(`${file}: applied 4 fixes\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: inputs velocity, m; params none; shapes not checked`,
      ),
    );
  });

  test('--fix leaves unsafe fixes alone and exits 1 while errors remain', async () => {
    const file = path.join(dir, 'arity.neural');
    fs.writeFileSync(file, '(clamp x 0)\n');
    const r = await run('check', file, '--fix');
    expect(r.code).toBe(1);
    expect(fs.readFileSync(file, 'utf8')).toBe('(clamp x 0)\n');
    expect(r.stderr).toContain('error[E0040]');
  });

  test('--json carries each fix with 1-based positions and offsets', async () => {
    const file = path.join(dir, 'json.neural');
    fs.writeFileSync(file, '(+ 1\n   2]\n');
    const r = await run('check', file, '--json');
    expect(r.code).toBe(1);
    const [d] = JSON.parse(r.stdout).files[0].diagnostics;
    expect(d).toMatchObject({ code: 'E0005', line: 2, column: 5 });
    expect(d.fixes).toEqual([
      {
        title: "change to ')'",
        safe: true,
        edits: [{ line: 2, column: 5, endLine: 2, endColumn: 6, start: 9, end: 10, text: ')' }],
      },
    ]);
  });

  test('--fix without a way to write files is a usage error', async () => {
    const file = path.join(dir, 'readonly.neural');
    fs.writeFileSync(file, '(+ 1 2))');
    let stderr = '';
    const code = await main(['check', file, '--fix'], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      readFile: (p) => fs.readFileSync(p),
    });
    expect(code).toBe(2);
    expect(stderr).toContain('--fix cannot write files here');
  });
});
