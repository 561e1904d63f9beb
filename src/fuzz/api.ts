// Garbage at the public API: every exported function, and every method of the objects a user holds
// (tensors, modules, MLPs, optimizers, schedules), called with arguments drawn from a pool of bad
// values: wrong types, NaN and infinities, huge and negative sizes, disposed tensors. Each call must
// return or throw an Error, and the process must live, so each run is a child process
// (`npm run fuzz -- --api`, tests/api-fuzz.test.ts). Left out: save (it writes files) and fit
// (asynchronous, with argument tests of its own).
import { spawnSync } from 'child_process';
import * as api from '../index';
import { loader } from '../runtime/loader';
import { Rng } from './random';

export interface ApiFuzzReport {
  calls: number;
  /** Calls that threw something other than an Error. */
  nonErrors: string[];
}

const SKIP = new Set(['save', 'fit']);

/** Makes a value lazily, so that a failing factory only loses that value. */
type Make = () => unknown;

function fixtures(): Make[] {
  return [
    () => api.tensor([1, 2, 3]),
    () =>
      api.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: 'float64' },
      ),
    () => api.zeros([0]),
    () => api.tensor(5),
    () => api.randn([2, 3], { seed: 1, requiresGrad: true }),
    () => {
      const t = api.tensor([1]);
      t.dispose();
      return t;
    },
  ];
}

const POOL: readonly unknown[] = [
  undefined,
  null,
  NaN,
  Infinity,
  -Infinity,
  -1,
  0,
  1,
  2.5,
  1e308,
  2 ** 53,
  -0,
  '',
  'x',
  'float64',
  'cuda',
  'cpu',
  '(+ x',
  [],
  [1],
  [[1, 2], [3]],
  [-1],
  [2 ** 40],
  [1e9, 1e9],
  [NaN],
  {},
  { data: [1], shape: [5] },
  { x: 1 },
  { shape: [-1] },
  true,
  Symbol('s'),
  () => 1,
  new Float32Array(3),
  new Float64Array(0),
  new Uint8Array(2),
  10n,
];

/** Each function and method as [name, function, receiver]. */
function targets(objects: object[]): [string, (...args: unknown[]) => unknown, unknown][] {
  const out: [string, (...args: unknown[]) => unknown, unknown][] = [];
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'function' && !/^[A-Z]/.test(k) && !SKIP.has(k))
        out.push([prefix + k, v as (...args: unknown[]) => unknown, o]);
      else if (v && typeof v === 'object' && !Array.isArray(v) && prefix === '')
        walk(v as Record<string, unknown>, `${k}.`);
    }
  };
  walk(api as unknown as Record<string, unknown>, '');
  for (const o of objects) {
    const proto = Object.getPrototypeOf(o);
    for (const k of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, k);
      if (k !== 'constructor' && typeof d?.value === 'function') out.push([`${o.constructor.name}#${k}`, d.value, o]);
    }
  }
  return out;
}

function show(v: unknown): string {
  if (typeof v === 'symbol' || typeof v === 'bigint' || typeof v === 'function') return typeof v;
  if (v instanceof api.Tensor) return 'Tensor';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return '?';
  }
}

/** `calls` random calls; `log` hears each before it is made, so a crash can be traced to it. */
export function apiFuzz(seed: number, calls: number, log: (call: string) => void = () => {}): ApiFuzzReport {
  const rng = new Rng(seed);
  const made = fixtures();
  const value = (): unknown => {
    if (rng.chance(0.2)) {
      try {
        return rng.pick(made)();
      } catch {
        return undefined;
      }
    }
    return rng.pick(POOL);
  };
  const objects: object[] = [];
  const add = (make: () => object) => {
    try {
      objects.push(make());
    } catch {
      // a fixture this build cannot make is simply not exercised
    }
  };
  add(() => api.compile('(* k x)', { params: { k: 1 } }));
  add(() =>
    api.compile('(+ (* a x) (f x))', { params: { a: 1 }, functions: { f: api.nn.mlp([1, 3, 1], { seed: 1 }) } }),
  );
  add(() => api.nn.mlp([2, 3, 1], { seed: 1 }));
  const p = api.tensor([1, 2], { requiresGrad: true });
  objects.push(p);
  add(() => api.optim.adam([p], { lr: 0.1 }));
  add(() => api.optim.lbfgs([p], { lr: 0.1 }));
  add(() => api.schedules.cosine(api.optim.sgd([p], { lr: 0.1 }), { steps: 10 }));
  const all = targets(objects);
  const report: ApiFuzzReport = { calls: 0, nonErrors: [] };
  for (let i = 0; i < calls; i++) {
    const [name, f, self] = rng.pick(all);
    const args = Array.from({ length: rng.int(0, 3) }, value);
    const call = `${name}(${args.map(show).join(', ')})`;
    log(call);
    report.calls++;
    try {
      const r = f.apply(self, args);
      if (r instanceof Promise) r.catch(() => {});
    } catch (e) {
      if (!(e instanceof Error)) report.nonErrors.push(`${call} threw ${show(e)}`);
    }
  }
  return report;
}

/** One run of `apiFuzz` in a child process; a failure says how the child ended and its last call. */
export function apiFuzzIsolated(seed: number, calls: number): { ok: boolean; detail: string } {
  const script = `${loader()}
const { apiFuzz } = require(${JSON.stringify(__filename)});
process.stdout.write(JSON.stringify(apiFuzz(${seed}, ${calls}, (call) => process.stderr.write(call + '\\n'))));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120000, maxBuffer: 1 << 28 });
  if (r.status !== 0)
    return {
      ok: false,
      detail: `seed ${seed}: the child ended (code ${r.status}, signal ${r.signal}) at ${r.stderr.trim().split('\n').pop()}`,
    };
  const report = JSON.parse(r.stdout) as ApiFuzzReport;
  if (report.nonErrors.length > 0) return { ok: false, detail: `seed ${seed}: ${report.nonErrors.join('; ')}` };
  return { ok: true, detail: `seed ${seed}: ${report.calls} calls` };
}
