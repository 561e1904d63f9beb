// Generator 3: random well-typed programs. Primitive calls are drawn from the op registry, with
// argument shapes found by asking each primitive's own shape rule, so a new primitive is generated
// as soon as it is in the table. Forms (let, if, cond, loop, define, letrec, recursion) are built
// here. A few primitives get their arguments wrapped into a domain where float64 results are stable
// (see DOMAIN): the point is to compare native and reference arithmetic, not to probe poles.
import { PRIMITIVES, type Primitive, type Shape } from '../ops';
import type { Case } from './differential';
import type { Nested } from '../runtime/host-data';
import { Rng } from './random';

const SHAPES: Shape[] = [[], [], [], [2], [3], [3], [2, 2], [2, 3], [3, 2], [3, 3]];
const UNIVERSE: Shape[] = [[], [2], [3], [2, 2], [2, 3], [3, 2], [3, 3]];
const key = (s: Shape) => s.join('x');
/** Results of recursive functions. */
const RECURSIVE_RESULTS: Shape[] = SHAPES;

interface Signature {
  p: Primitive;
  args: Shape[];
  /** Values of the constant (size) arguments, by index. */
  consts: (number | undefined)[];
}

/** Every (primitive, argument shapes) in the shape universe that the table accepts, by result shape. */
function signatures(): Map<string, Map<string, Signature[]>> {
  const out = new Map<string, Map<string, Signature[]>>();
  const add = (sig: Signature, result: Shape) => {
    const byPrim = out.get(key(result)) ?? out.set(key(result), new Map()).get(key(result))!;
    (byPrim.get(sig.p.name) ?? byPrim.set(sig.p.name, []).get(sig.p.name)!).push(sig);
  };
  const tuples = (n: number): Shape[][] =>
    n === 0 ? [[]] : tuples(n - 1).flatMap((t) => UNIVERSE.map((s) => [...t, s]));
  for (const p of PRIMITIVES)
    for (let n = p.minArgs; n <= Math.min(p.maxArgs, p.minArgs + 2); n++)
      for (const size of p.constArgs ? [2, 3] : [undefined])
        for (const args of tuples(n)) {
          const consts = args.map((_, i) =>
            p.constArgs?.includes(i) ? size : INDEX_ARG[p.name] === i ? 0 : undefined,
          );
          const result = p.shape(args, consts);
          const sig = { p, args, consts };
          if (typeof result !== 'string' && UNIVERSE.some((u) => key(u) === key(result))) add(sig, result);
        }
  return out;
}

/** Arguments that are indices: generated as whole numbers in range. */
const INDEX_ARG: Record<string, number> = { ref: 1 };

const pos = (e: string) => `(+ 0.25 (abs ${e}))`;
const bounded = (k: number) => (e: string) => `(* ${k} (tanh ${e}))`;
const wellConditioned = (e: string, s: Shape) => `(+ (scale 4 (eye ${s[0]})) (scale 0.5 (tanh ${e})))`;
type Wrap = (e: string, s: Shape) => string;
const same: Wrap = (e) => e;

/**
 * Argument wrappers keeping float64 well-conditioned; unlisted primitives take raw arguments. An op
 * that is NaN for some finite arguments must be listed (tests/ops.test.ts checks the registry's).
 */
export const DOMAIN: Record<string, Wrap[] | ((i: number) => Wrap)> = {
  sqrt: [pos],
  rsqrt: [pos],
  log: [pos],
  exp: [bounded(5)],
  expm1: [bounded(5)],
  sinh: [bounded(5)],
  cosh: [bounded(5)],
  asin: [bounded(0.9)],
  acos: [bounded(0.9)],
  tan: [bounded(1.2)],
  log1p: [(e) => `(- ${pos(e)} 0.5)`],
  '/': (i) => (i === 0 ? same : pos),
  quotient: [same, pos],
  modulo: [same, pos],
  remainder: [same, pos],
  pow: [(e) => `(+ 0.5 (sigmoid ${e}))`, bounded(2)],
  det: [wellConditioned],
  inv: [wellConditioned],
  solve: [wellConditioned, same],
  // off-diagonals in (-1, 1), the diagonal in (2, 4): diagonally dominant, so every pivot is far from 0
  'tridiagonal-solve': [bounded(1), (e) => `(+ 3 (tanh ${e}))`, bounded(1), same],
};

const wrapFor = (name: string, i: number): Wrap => {
  const d = DOMAIN[name];
  return (typeof d === 'function' ? d(i) : d?.[i]) ?? same;
};

interface Var {
  name: string;
  shape: Shape;
}
interface Fn {
  name: string;
  params: Shape[];
  result: Shape;
  recursive: boolean;
}

export interface TypedCase {
  source: string;
  /** Inputs for a batch (every input batched); sample 0 alone is the unbatched case. */
  batched: Case;
  unbatched: Case;
  primitives: string[];
  forms: string[];
}

let table: Map<string, Map<string, Signature[]>> | undefined;

class Generator {
  private counter = 0;
  readonly primitives = new Set<string>();
  readonly forms = new Set<string>();
  readonly fns: Fn[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly globals: Var[],
  ) {}

  private fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  expr(shape: Shape, env: Var[], depth: number): string {
    const r = this.rng;
    if (depth <= 0 || r.chance(0.2)) return this.leaf(shape, env);
    const choice = r.next();
    if (choice < 0.6) return this.call(shape, env, depth);
    if (choice < 0.68) return this.let(shape, env, depth);
    if (choice < 0.78) return this.if(shape, env, depth);
    if (choice < 0.82) return this.cond(shape, env, depth);
    if (choice < 0.88) return this.loop(shape, env, depth);
    if (choice < 0.91) return this.letrec(shape, env, depth);
    return this.callFunction(shape, env, depth);
  }

  private leaf(shape: Shape, env: Var[]): string {
    const r = this.rng;
    const vars = env.filter((v) => key(v.shape) === key(shape));
    if (vars.length > 0 && r.chance(0.75)) return r.pick(vars).name;
    if (shape.length === 0) return this.number();
    if (r.chance(0.15) && shape.length === 1) return this.sized(r.pick(['zeros', 'ones']), shape[0]);
    if (r.chance(0.15) && shape[0] === shape[1]) return this.sized('eye', shape[0]);
    const row = (n: number) =>
      `[${Array.from({ length: n }, () => (r.chance(0.7) ? this.number() : this.leaf([], env))).join(' ')}]`;
    if (shape.length === 1) return row(shape[0]);
    return `(mat ${Array.from({ length: shape[0] }, () => row(shape[1])).join(' ')})`;
  }

  /** The constant-size primitives (zeros, ones, eye). */
  private sized(name: string, n: number): string {
    this.primitives.add(name);
    return `(${name} ${n})`;
  }

  private number(): string {
    const r = this.rng;
    const n = r.next();
    if (n < 0.05) return 'pi';
    if (n < 0.1) return r.pick(['#t', '#f', '#true', '#false']);
    if (n < 0.4) return String(r.int(-3, 3));
    if (n < 0.45) return r.pick(['.5', '1.', '+2', '-0.0', '1e-3', '2.5E-1']);
    return r.uniform(-3, 3).toFixed(r.int(1, 4));
  }

  private call(shape: Shape, env: Var[], depth: number): string {
    const byPrim = (table ??= signatures()).get(key(shape));
    if (!byPrim) return this.leaf(shape, env);
    const r = this.rng;
    const sig = r.pick(r.pick([...byPrim.values()]));
    this.primitives.add(sig.p.name);
    const args = sig.args.map((s, i) => {
      if (sig.consts[i] !== undefined && sig.p.constArgs?.includes(i)) return String(sig.consts[i]);
      if (INDEX_ARG[sig.p.name] === i) return this.index(sig.args[0], env, depth);
      return wrapFor(sig.p.name, i)(this.expr(s, env, depth - 1), s);
    });
    return `(${sig.p.name} ${args.join(' ')})`;
  }

  /** A whole number in range for the last dimension: a literal, or computed from data. */
  private index(of: Shape, env: Var[], depth: number): string {
    const n = of[of.length - 1];
    if (this.rng.chance(0.6)) return String(this.rng.int(0, n - 1));
    return `(clamp (floor (* ${n} (sigmoid ${this.expr([], env, depth - 1)}))) 0 ${n - 1})`;
  }

  private let(shape: Shape, env: Var[], depth: number): string {
    this.forms.add('let');
    const bindings: string[] = [];
    const inner = [...env];
    for (let i = this.rng.int(1, 2); i > 0; i--) {
      const v = { name: this.fresh('l'), shape: this.rng.pick(SHAPES) };
      bindings.push(`(${v.name} ${this.expr(v.shape, inner, depth - 1)})`);
      inner.push(v);
    }
    return `(${this.rng.pick(['let', 'let*'])} (${bindings.join(' ')}) ${this.expr(shape, inner, depth - 1)})`;
  }

  /** A scalar test, or (rarely) one of the result's shape: an elementwise choice. */
  private test(shape: Shape, env: Var[], depth: number): string {
    const s = shape.length > 0 && this.rng.chance(0.2) ? shape : [];
    if (this.rng.chance(0.3)) return this.expr(s, env, depth - 1);
    const op = this.rng.pick(['<', '>', '<=', '>=', '=']);
    return `(${op} ${this.expr(s, env, depth - 1)} ${this.expr(s, env, depth - 1)})`;
  }

  private if(shape: Shape, env: Var[], depth: number): string {
    this.forms.add('if');
    return `(if ${this.test(shape, env, depth)} ${this.expr(shape, env, depth - 1)} ${this.expr(shape, env, depth - 1)})`;
  }

  private cond(shape: Shape, env: Var[], depth: number): string {
    this.forms.add('cond');
    const clauses = Array.from(
      { length: this.rng.int(1, 2) },
      () => `(${this.test([], env, depth)} ${this.expr(shape, env, depth - 1)})`,
    );
    return `(cond ${clauses.join(' ')} (else ${this.expr(shape, env, depth - 1)}))`;
  }

  /** An iteration count from 0 to 3: a literal, or per sample from data. */
  private count(env: Var[], depth: number): string {
    if (this.rng.chance(0.5)) return String(this.rng.int(0, 3));
    return `(floor (* 4 (sigmoid ${this.expr([], env, depth - 1)})))`;
  }

  /** A step that keeps the state's shape, squashed so repeated steps cannot blow up. */
  private step(state: Var, env: Var[], depth: number): string {
    return `(tanh ${this.expr(state.shape, [...env, state], depth - 1)})`;
  }

  private loop(shape: Shape, env: Var[], depth: number): string {
    this.forms.add('loop');
    const i = { name: this.fresh('i'), shape: [] };
    const acc = { name: this.fresh('a'), shape };
    const inner = [...env, i];
    return (
      `(loop ((${i.name} 0) (${acc.name} ${this.expr(shape, env, depth - 1)})) ` +
      `(if (< ${i.name} ${this.count(env, depth)}) (recur (+ ${i.name} 1) ${this.step(acc, inner, depth)}) ${acc.name}))`
    );
  }

  private recursiveBody(name: string, k: Var, acc: Var, env: Var[], depth: number): string {
    return `(if (<= ${k.name} 0) ${acc.name} (${name} (- ${k.name} 1) ${this.step(acc, [...env, k], depth)}))`;
  }

  private letrec(shape: Shape, env: Var[], depth: number): string {
    if (!RECURSIVE_RESULTS.some((s) => key(s) === key(shape))) return this.call(shape, env, depth);
    this.forms.add('letrec');
    const name = this.fresh('g');
    const k = { name: this.fresh('k'), shape: [] };
    const acc = { name: this.fresh('a'), shape };
    return (
      `(letrec ((${name} (lambda (${k.name} ${acc.name}) ${this.recursiveBody(name, k, acc, env, depth)}))) ` +
      `(${name} ${this.count(env, depth)} ${this.expr(shape, env, depth - 1)}))`
    );
  }

  /** Calls a top-level function of this result shape, defining one first if there is none. */
  private callFunction(shape: Shape, env: Var[], depth: number): string {
    const fits = this.fns.filter((f) => key(f.result) === key(shape));
    if (fits.length === 0) return this.call(shape, env, depth);
    const f = this.rng.pick(fits);
    this.forms.add(f.recursive ? 'recursive define' : 'define function');
    const args = f.recursive
      ? [this.count(env, depth), this.expr(shape, env, depth - 1)]
      : f.params.map((s) => this.expr(s, env, depth - 1));
    return `(${f.name} ${args.join(' ')})`;
  }

  /** Top-level definitions: functions (some recursive) and values, seeing the program's free names. */
  definitions(): { text: string[]; values: Var[] } {
    const r = this.rng;
    const text: string[] = [];
    for (let n = r.int(0, 2); n > 0; n--) {
      const name = this.fresh('f');
      const recursive = r.chance(0.4);
      const result = r.pick(recursive ? RECURSIVE_RESULTS : SHAPES);
      if (recursive) {
        const k = { name: this.fresh('k'), shape: [] };
        const acc = { name: this.fresh('a'), shape: result };
        text.push(`(define (${name} ${k.name} ${acc.name}) ${this.recursiveBody(name, k, acc, this.globals, 2)})`);
        this.fns.push({ name, params: [[], result], result, recursive: true });
      } else {
        const params = Array.from({ length: r.int(1, 3) }, () => ({ name: this.fresh('q'), shape: r.pick(SHAPES) }));
        text.push(
          `(define (${name} ${params.map((p) => p.name).join(' ')}) ${this.expr(result, [...this.globals, ...params], 3)})`,
        );
        this.fns.push({ name, params: params.map((p) => p.shape), result, recursive: false });
      }
    }
    const values: Var[] = [];
    if (r.chance(0.3)) {
      const v = { name: this.fresh('d'), shape: r.pick(SHAPES) };
      text.push(`(define ${v.name} ${this.expr(v.shape, [...this.globals, ...values], 2)})`);
      values.push(v);
    }
    return { text, values };
  }
}

const valueOf = (shape: Shape, rng: Rng): Nested =>
  shape.length === 0
    ? Number(rng.uniform(-2, 2).toFixed(6))
    : Array.from({ length: shape[0] }, () => valueOf(shape.slice(1), rng));

/** One random well-typed program with inputs for a batch of 1 to 3 and for one sample. */
export function typedCase(seed: number): TypedCase {
  const rng = new Rng(seed);
  const inputs: Var[] = Array.from({ length: rng.int(1, 3) }, (_, i) => ({ name: `x${i}`, shape: rng.pick(SHAPES) }));
  const params: Var[] = Array.from({ length: rng.int(0, 2) }, (_, i) => ({ name: `p${i}`, shape: rng.pick(SHAPES) }));
  const gen = new Generator(rng, [...inputs, ...params]);
  const defs = gen.definitions();
  const result = gen.expr(rng.pick(SHAPES), [...inputs, ...params, ...defs.values], rng.int(2, 5));
  const source = [...defs.text, result].join('\n');
  // Names the program ended up not using are left out, so the case matches the program exactly.
  const used = (v: Var) => new RegExp(`(^|[\\s()[\\]])${v.name}($|[\\s()[\\]])`).test(source);
  const batch = rng.int(1, 3);
  const batchedInputs = Object.fromEntries(
    inputs.filter(used).map((v) => [v.name, Array.from({ length: batch }, () => valueOf(v.shape, rng))]),
  );
  const paramValues = Object.fromEntries(params.filter(used).map((v) => [v.name, valueOf(v.shape, rng)]));
  return {
    source,
    batched: { inputs: batchedInputs, params: paramValues, batch: true },
    unbatched: {
      inputs: Object.fromEntries(Object.entries(batchedInputs).map(([k, v]) => [k, (v as Nested[])[0]])),
      params: paramValues,
    },
    primitives: [...gen.primitives],
    forms: [...gen.forms],
  };
}
