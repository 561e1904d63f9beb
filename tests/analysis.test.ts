// The editor's and MCP server's analysis: declarations from `; @inputs` lines, shapes per span.
import { analyse, readDirectives, spanKey } from '../src/tools/analysis';

test('directives declare inputs with shapes and params; bad entries are warnings', () => {
  const { declarations, diagnostics } = readDirectives(
    '; @inputs v[3] L[3, 3] dt\n;; @params G w[2]\n; @inputs bad[0] worse[1 2 3 4] open[2\n(+ 1 2)',
  );
  expect([...declarations.inputs!]).toEqual([
    ['v', [3]],
    ['L', [3, 3]],
    ['dt', []],
  ]);
  expect([...declarations.params!]).toEqual([
    ['G', []],
    ['w', [2]],
  ]);
  expect(diagnostics.map((d) => [d.code, d.message, d.span])).toEqual([
    ['W0003', "'@inputs' entry 'bad[0]' is ignored: sizes must be whole numbers from 1", { start: 54, end: 60 }],
    ['W0003', "'@inputs' entry 'worse[1 2 3 4]' is ignored: a shape has at most 3 sizes", { start: 61, end: 75 }],
    ['W0003', "'@inputs' entry 'open[2' is ignored: the shape has no closing ']'", { start: 76, end: 82 }],
  ]);
});

test('with every input shape declared, shapes are known per span and shape errors are diagnostics', () => {
  const text = '(let ((n (norm v))) (* n G))';
  const a = analyse(text, 'f', { inputs: new Map([['v', [3]]]), params: new Map([['G', []]]) });
  expect(a.diagnostics).toEqual([]);
  expect(a.shapes!.get(spanKey({ start: 9, end: 17 }))).toEqual([]);
  const bad = analyse('(norm v)', 'f', { inputs: new Map([['v', []]]) });
  expect(bad.diagnostics.map((d) => [d.code, d.message])).toEqual([
    ['E0100', "'norm': argument 1 must be a vector, got scalar"],
  ]);
  expect(analyse('(norm v)', 'f', { inputs: new Map([['v', undefined]]) }).shapes).toBeUndefined();
});
