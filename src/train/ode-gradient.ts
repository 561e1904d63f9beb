// How fit() on the small-program tier takes an ODE fit's gradient: the choice between a reverse
// sweep over the kept steps and forward sensitivities carried through the solve
// (native/tier_fit.cpp), made here, once, from the state's components.
import { choose } from './settings';

export const ODE_SENSITIVITIES = [
  { name: 'auto', doc: 'Forward sensitivities for a state of one component, else the reverse sweep (odeGradient).' },
  { name: 'forward', doc: 'Forward sensitivities: dy/dθ carried through every stage of the solve.' },
  { name: 'reverse', doc: 'A reverse sweep over the accepted steps (the discrete adjoint).' },
] as const;

export type OdeSensitivities = (typeof ODE_SENSITIVITIES)[number]['name'];
export type OdeGradientMode = Exclude<OdeSensitivities, 'auto'>;

/** fit's ode.sensitivities, checked (default 'auto'). */
export const sensitivitiesOption = (who: string, value: unknown): OdeSensitivities =>
  choose(who, 'ode.sensitivities', value, ODE_SENSITIVITIES, 'auto');

/**
 * The mode that runs for `asked`: 'auto' picks forward sensitivities for a state of one component
 * and the reverse sweep for more. Per stage of every accepted step and sample, the reverse sweep
 * recomputes the stage (a forward pass of the tape) and runs one reverse pass; forward sensitivities
 * run n reverse passes (the Jacobian's rows), products of O(n^2 P + stages n P) for P gradient
 * columns, and recompute nothing. A reverse pass costs the tier more than a forward one, so forward
 * wins at n = 1, where it trades the recomputation for the products (5 to 30 % less time per
 * integration step), and loses from n = 2 (11 to 45 % more; twice as much at n = 3). The columns P,
 * the method, the steps and the samples scale both costs alike: at n = 1 forward stayed ahead from
 * 1 column to an MLP's 4,354. Measured by scripts/ode-gradient-study.js (docs/benchmarks.md, gaps).
 */
export function odeGradient(asked: OdeSensitivities, components: number): OdeGradientMode {
  if (asked !== 'auto') return asked;
  return components === 1 ? 'forward' : 'reverse';
}
