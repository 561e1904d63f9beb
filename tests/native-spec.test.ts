// The binding reads the compiler's graph spec strictly: a missing or mistyped field is an Error
// naming the node and the field, never a default.
import { compile } from '../src';
import { native } from '../src/runtime/native';
import { nativeSpec } from '../src/runtime/spec';

function specOf(source: string) {
  const module = compile(source, { inputs: { x: 'scalar' }, dtype: 'float64' });
  const spec = nativeSpec(module.graph!, 1000);
  module.dispose();
  return JSON.parse(
    JSON.stringify(spec, (_k, v) => (v instanceof Float64Array ? { f64: Array.from(v) } : v)),
    (_k, v) => (v && typeof v === 'object' && 'f64' in v ? Float64Array.from(v.f64) : v),
  );
}

const build = (spec: unknown) => new (native().NativeGraph)(spec, [], 'float64', 'cpu', []);

test('an intact spec builds and runs', () => {
  const graph = build(specOf('(* 2 (sin x))'));
  const out = graph.forward([native().fromHost(Float64Array.of(0.5), [], 'float64', 'cpu')], false);
  expect(out.item()).toBe(2 * Math.sin(0.5));
  graph.dispose();
});

test.each([
  ['a missing index', (s: any) => delete s.regions[0].nodes[0].index, /region 0, node 0: 'index' is missing/],
  [
    'a wrong batched flag',
    (s: any) => (s.regions[0].nodes[0].batched = 1),
    /region 0, node 0: 'batched' must be a boolean/,
  ],
  ['missing attrs', (s: any) => delete s.regions[0].nodes[1].attrs, /region 0, node 1: 'attrs' is missing/],
  [
    'args of strings',
    (s: any) => (s.regions[0].nodes[2].args = ['0']),
    /region 0, node 2: 'args' must hold whole numbers/,
  ],
  ['const data as an array', (s: any) => (s.regions[0].nodes[1].data = [2]), /'data' must be a Float64Array/],
  ['no maxSteps', (s: any) => delete s.maxSteps, /the graph: 'maxSteps' is missing/],
  ['results missing', (s: any) => delete s.regions[0].results, /region 0: 'results' is missing/],
])('%s is an Error naming the field', (_what, spoil, message) => {
  const spec = specOf('(* 2 (sin x))');
  spoil(spec);
  expect(() => build(spec)).toThrow(message);
});
