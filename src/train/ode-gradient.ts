// How fit() on the small-program tier takes an ODE fit's gradient: the choice between a reverse
// sweep over the kept steps and forward sensitivities carried through the solve
// (native/tier_fit.cpp), made here, once.
import { choose, DEFAULT_ODE_SENSITIVITIES, ODE_SENSITIVITIES, type OdeGradientMode } from './settings';

/**
 * The mode that runs for fit's ode.sensitivities `value` (checked; default 'auto'): 'auto' picks
 * the reverse sweep. Per stage of every accepted step
 * and sample, it runs one reverse pass over the stage's register file, which the solve kept;
 * forward sensitivities run n reverse passes (the Jacobian's rows) and products of O(n^2 P +
 * stages n P) for P gradient columns. They took longer per fit() step in every problem
 * scripts/ode-gradient-study.js measures (docs/benchmarks.md, gaps), n = 1 included, where they had
 * been the faster while the sweep recomputed each stage. They keep memory flat: past the sweep's 64 MB of
 * register files, which it then recomputes, 'forward' may be the faster for one component.
 */
export function odeGradientOption(who: string, value: unknown): OdeGradientMode {
  const asked = choose(who, 'ode.sensitivities', value, ODE_SENSITIVITIES, DEFAULT_ODE_SENSITIVITIES);
  return asked === 'auto' ? 'reverse' : asked;
}
