// The stability check of explicit diffusion steps (W0004): an update u + c (laplacian (pad u 1) h)
// is stable only while r = c / h^2 stays within 1/(2 rank) (forward Euler on the standard stencil).
// It reads the lowered graph, before folding and fusion, and warns only when every factor of c and
// h is known at compile time (constants, arithmetic on them, params with declared values): a factor
// known only at run time gives no warning, so there is never a false alarm.
import { diag, type Diagnostic } from '../diagnostics';
import { applyPointwise, op, pointwiseForm } from '../ops';
import type { IrGraph, IrNode, IrRegion } from './ir';

/** The values a known node may take (a constant field: its smallest and largest element). */
interface Range {
  lo: number;
  hi: number;
}

/** A coefficient no compile-time value bounds. */
const UNKNOWN = null;
type Known = Range | typeof UNKNOWN;

const point = (x: number): Range => ({ lo: x, hi: x });
const of = (values: ArrayLike<number>): Known => {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  return lo <= hi ? { lo, hi } : UNKNOWN; // NaN or no elements: nothing is known
};
const isPoint = (a: Range) => a.lo === a.hi;
/**
 * Two fields combine into a range wider than their values take (the largest products need not sit
 * at one element): only a field with numbers is bounded exactly, so only that is known.
 */
const combinable = (a: Known, b: Known): a is Range => !!a && !!b && (isPoint(a) || isPoint(b));
const union = (a: Known, b: Known): Known => a && b && { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
const add = (a: Known, b: Known): Known => (combinable(a, b) ? { lo: a.lo + b!.lo, hi: a.hi + b!.hi } : UNKNOWN);
const negate = (a: Known): Known => a && { lo: -a.hi, hi: -a.lo };
function mul(a: Known, b: Known): Known {
  if (!combinable(a, b) || !b) return UNKNOWN;
  const ends = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi];
  return ends.some(Number.isNaN) ? UNKNOWN : { lo: Math.min(...ends), hi: Math.max(...ends) };
}
const reciprocal = (a: Known): Known => (a && (a.lo > 0 || a.hi < 0) ? { lo: 1 / a.hi, hi: 1 / a.lo } : UNKNOWN);

/** An explicit step's grid operators: a pad by one cell of the stepped field u. */
const PADS = new Set(['pad-edge', 'pad-wrap', 'pad-const']);

/** The limit of r = c dt / h^2 on a grid of this rank; a step exactly at it is (marginally) stable. */
const limitOf = (rank: number): number => 1 / (2 * rank);
/** Rounding in c and h must not turn a step exactly at the limit into a warning. */
const TOLERANCE = 1e-9;

const show = (x: number): string => String(Number(x.toPrecision(6)));

/**
 * W0004 for each explicit diffusion step of the graph whose coefficient exceeds its limit.
 * `paramValues[i]` is the declared value of the graph's param i (undefined: known only at run time).
 */
export function stabilityWarnings(
  graph: IrGraph,
  paramValues: readonly (ArrayLike<number> | undefined)[],
): Diagnostic[] {
  // Where each sub-region's captured arguments come from: a loop body's after its state, a branch's after the test.
  const captures = new Map<number, { parent: RegionCheck; args: number[] }>();
  const checks = graph.regions.map((region, r) => new RegionCheck(region, r, paramValues, captures));
  checks.forEach((check, r) =>
    graph.regions[r].nodes.forEach((n) => {
      if (n.op === 'loop')
        captures.set(n.regions[0], { parent: check, args: n.args.map((a, i) => (i < n.state ? -1 : a)) });
      if (n.op === 'if') n.regions.forEach((b) => captures.set(b, { parent: check, args: n.args.slice(1) }));
    }),
  );
  return checks.flatMap((check) => check.warnings());
}

class RegionCheck {
  // By node id, filled in order (arguments come first), so a long chain of defines needs no deep recursion.
  private readonly values: Known[] = [];
  /** The laplacians each node is linear in, with their coefficients; undefined: none. */
  private readonly coefficients: (Map<number, Known> | undefined)[] = [];

  constructor(
    private readonly region: IrRegion,
    private readonly regionIndex: number,
    private readonly paramValues: readonly (ArrayLike<number> | undefined)[],
    /** By region index; a function's arguments differ from call to call, so its regions have none. */
    private readonly captures: ReadonlyMap<number, { parent: RegionCheck; args: number[] }>,
  ) {}

  warnings(): Diagnostic[] {
    const out: Diagnostic[] = [];
    const checked = new Set<number>();
    this.region.nodes.forEach((node, id) => {
      const linear = this.coefficientsOf(id);
      if (node.op !== '+' || !linear) return;
      for (const [lap, c] of linear) {
        // The innermost `+` that adds the laplacian of a padded argument to that argument is the step.
        const padded = this.region.nodes[this.region.nodes[lap].args[0]];
        if (checked.has(lap) || !PADS.has(padded.op) || padded.attrs[0] !== 1 || !node.args.includes(padded.args[0]))
          continue;
        checked.add(lap);
        const w = c && this.check(this.region.nodes[lap], c);
        if (w) out.push(w);
      }
    });
    return out;
  }

  /** W0004 when the coefficient c of (laplacian P h) over h^2 exceeds the limit of its rank. */
  private check(lap: IrNode, c: Range): Diagnostic | undefined {
    const h = this.valueOf(lap.args[1]);
    if (!h || !(h.lo > 0 || h.hi < 0)) return undefined;
    const hMin = Math.min(Math.abs(h.lo), Math.abs(h.hi));
    const r = c.hi / (hMin * hMin);
    const rank = lap.attrs[0];
    const limit = limitOf(rank);
    if (!(r > limit * (1 + TOLERANCE)) || !Number.isFinite(r)) return undefined;
    const n = Math.ceil(r / limit - TOLERANCE);
    const implicit =
      rank === 1
        ? 'an implicit (backward Euler) step with tridiagonal-solve'
        : 'an implicit ADI step (a tridiagonal-solve along each axis in turn)';
    return diag(
      'W0004',
      lap.span,
      { r: show(r), limit: `1/${2 * rank}`, rank },
      `take ${n} substeps of dt/${n} (alpha*dt/h^2 = ${show(r / n)} each), or ${implicit}, which is stable for any dt`,
    );
  }

  /** What a node's value is known to be at compile time. */
  valueOf(id: number): Known {
    while (this.values.length <= id) this.values.push(this.computeValue(this.region.nodes[this.values.length]));
    return this.values[id];
  }

  private computeValue(node: IrNode): Known {
    const args = () => node.args.map((a) => this.valueOf(a));
    switch (node.op) {
      case 'const':
        return of(node.data);
      case 'param':
        return this.paramValues[node.index] ? of(this.paramValues[node.index]!) : UNKNOWN;
      case 'arg': {
        const from = this.captures.get(this.regionIndex);
        const outer = from?.args[node.index] ?? -1; // -1: a loop's state, which changes from step to step
        return outer >= 0 ? from!.parent.valueOf(outer) : UNKNOWN;
      }
      case 'unsqueeze-tail':
        return this.valueOf(node.args[0]);
      case 'vec':
      case 'mat':
        return args().reduce(union);
      case '+':
        return args().reduce(add);
      case '*':
        return args().reduce(mul);
      case '-': {
        const [first, ...rest] = args();
        return rest.length === 0 ? negate(first) : rest.reduce((acc, b) => add(acc, negate(b)), first);
      }
      case '/': {
        const [first, ...rest] = args();
        return rest.length === 0 ? reciprocal(first) : rest.reduce((acc, b) => mul(acc, reciprocal(b)), first);
      }
    }
    // Any other pointwise op on known numbers: its float64 value.
    const def = op(node.op);
    const known = args();
    if (!def || !pointwiseForm(def, known.length) || !known.every((k) => k && isPoint(k))) return UNKNOWN;
    return point(
      applyPointwise(
        def,
        known.map((k) => k!.lo),
        node.attrs,
      ),
    );
  }

  /** The laplacians a node is a linear combination of, through +, -, *, / by known factors. */
  private coefficientsOf(id: number): Map<number, Known> | undefined {
    for (let next = this.coefficients.length; next <= id; next++) {
      const node = this.region.nodes[next];
      this.coefficients.push(node.op === 'laplacian' ? new Map([[next, point(1) as Known]]) : this.combine(node));
    }
    return this.coefficients[id];
  }

  private combine(node: IrNode): Map<number, Known> | undefined {
    const parts = node.args.map((a) => this.coefficientsOf(a));
    const terms = parts.filter((p) => p !== undefined);
    if (terms.length === 0) return undefined;
    const scaled = (m: Map<number, Known>, f: (c: Known) => Known) =>
      new Map([...m].map(([lap, c]) => [lap, f(c)] as const));
    const sum = (ms: Map<number, Known>[]) => {
      const out = new Map<number, Known>();
      for (const m of ms) for (const [lap, c] of m) out.set(lap, out.has(lap) ? add(out.get(lap)!, c) : c);
      return out;
    };
    // A product or quotient of two terms with laplacians is not linear in them: nothing is known.
    const others = (i: number) => node.args.filter((_, j) => j !== i).map((a) => this.valueOf(a));
    switch (node.op) {
      case 'unsqueeze-tail':
        return parts[0];
      case 'neg':
        return scaled(parts[0]!, negate);
      case '+':
        return sum(terms);
      case '-':
        return node.args.length === 1
          ? scaled(parts[0]!, negate)
          : sum(parts.flatMap((p, i) => (p === undefined ? [] : [i === 0 ? p : scaled(p, negate)])));
      case '*': {
        const i = parts.findIndex((p) => p !== undefined);
        const factor = terms.length === 1 ? others(i).reduce(mul, point(1)) : UNKNOWN;
        return scaled(sum(terms), (c) => mul(c, factor));
      }
      case '/': {
        const divisor =
          parts[0] && terms.length === 1 && node.args.length > 1 ? others(0).reduce(mul, point(1)) : UNKNOWN;
        return scaled(sum(terms), (c) => mul(c, reciprocal(divisor)));
      }
      default:
        return undefined; // a laplacian inside any other op is not an explicit diffusion term
    }
  }
}
