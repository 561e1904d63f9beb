// `neuralc spec`: the language as data from the registry, and the guide's worked examples run.
import { runMain } from './helpers/cli';
import { run } from '../src/api';
import { DIAGNOSTIC_CODES } from '../src/diagnostics';
import { USAGE } from '../src/frontend/forms';
import { PRIMITIVES } from '../src/ops';
import { SHAPE_WORDS, shapeWords, staleShapeWords } from '../src/ops/shape-words';
import { LANGUAGE_GUIDE, WORKED_EXAMPLES } from '../src/tools/guide';
import { languageSpec } from '../src/tools/spec';

const cli = runMain;

test('every primitive has its shape rule in words, and no entry is left over', () => {
  for (const p of PRIMITIVES) expect(shapeWords(p)).toMatch(/\S/);
  expect(staleShapeWords()).toEqual([]);
  expect(Object.keys(SHAPE_WORDS).length).toBeGreaterThan(20);
});

test('spec --json holds every primitive, form, diagnostic code and limit', async () => {
  const r = await cli('spec', '--json');
  expect(r.code).toBe(0);
  const spec = JSON.parse(r.stdout) as ReturnType<typeof languageSpec>;
  expect(spec.primitives.map((p) => p.name)).toEqual(PRIMITIVES.map((p) => p.name));
  expect(spec.primitives.find((p) => p.name === 'clamp')).toEqual({
    name: 'clamp',
    group: 'arithmetic',
    minArgs: 3,
    maxArgs: 3,
    arity: '3',
    shape: expect.stringContaining('elementwise'),
    doc: '`(clamp x lo hi)`: x limited to [lo, hi].',
    example: '(clamp 5 0 1)',
    gradient: 'selection',
  });
  expect(spec.primitives.find((p) => p.name === '+')).toMatchObject({ minArgs: 1, maxArgs: null, arity: 'at least 1' });
  expect(spec.primitives.find((p) => p.name === 'matvec')!.shape).toBe('matrix[a x b], vector[b] -> vector[a]');
  expect(spec.forms.map((f) => f.name)).toEqual([...Object.keys(USAGE), 'recur']);
  for (const f of spec.forms) expect(f.meaning).toMatch(/\S/);
  expect(spec.forms.find((f) => f.name === 'let')!.usage).toBe('(let ((name value) ...) body)');
  expect(spec.diagnostics).toHaveLength(Object.keys(DIAGNOSTIC_CODES).length);
  expect(spec.diagnostics).toContainEqual({
    code: 'E0040',
    severity: 'error',
    template: "'{name}' expects {expected} argument(s), got {got}",
  });
  expect(spec.limits.limit.value).toBe(10000);
  expect(spec.limits.maxSteps.value).toBe(1_000_000);
  expect(spec.limits.sourceLength.value).toBe(2_000_000);
});

test('spec without --json prints the guide; it takes no arguments', async () => {
  const r = await cli('spec');
  expect(r).toEqual({ code: 0, stdout: LANGUAGE_GUIDE, stderr: '' });
  expect(r.stdout).toContain('Example 3: Square root by Newton iterations');
  expect((await cli('spec', 'x')).code).toBe(2);
  expect((await cli('spec', '--help')).stdout).toContain('neuralc spec [--json]');
});

test.each(WORKED_EXAMPLES.map((e) => [e.title, e]))('the worked example "%s" gives the value shown', (_title, e) => {
  const result = run(e.source, { inputs: e.inputs, params: e.params, dtype: 'float64' });
  expect(result.value).toBeCloseTo(e.value as number, 10);
  expect(LANGUAGE_GUIDE).toContain(e.source.replace(/^/gm, '    '));
});

test('the servers load their dependencies lazily: requiring the library or the CLI loads none of them', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('child_process') as typeof import('child_process');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { tsHook } = require('../src/runtime/loader') as typeof import('../src/runtime/loader');
  const root = require('path').join(__dirname, '..');
  const script = `${tsHook()}
require(${JSON.stringify(`${root}/src/index.ts`)}); require(${JSON.stringify(`${root}/src/cli/main.ts`)});
console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /@modelcontextprotocol|vscode-languageserver|[\\\\/]zod[\\\\/]/.test(f))));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual([]);
});
