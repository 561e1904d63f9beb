// The integrator's settings, checked once for odeint, multipleShooting and fit's options.ode: the
// same default method, the same options per method, the same messages.
import { numberIn } from '../runtime/validate';
import type { OdeConfig } from './native-ode';
import { choose, DEFAULT_ODE_METHOD, ODE_METHODS, odeMethod, type OdeMethod } from './settings';

export interface OdeSolverOptions {
  /** 'euler' or 'rk4' (fixed steps), or 'dopri5' (adaptive Dormand-Prince 5(4), the default). */
  method?: OdeMethod;
  /** Euler/RK4: the largest step between reported times (default: one step per interval). */
  step?: number;
  /** dopri5: relative tolerance of the local error (default 1e-6). */
  rtol?: number;
  /** dopri5: absolute tolerance of the local error (default 1e-8). */
  atol?: number;
  /** Most steps (dopri5: step attempts) over the whole integration before failing (default 10,000). */
  maxSteps?: number;
}

export const SOLVER_OPTIONS = ['method', 'step', 'rtol', 'atol', 'maxSteps'] as const;

export const ODE_DEFAULTS = { rtol: 1e-6, atol: 1e-8, maxSteps: 10000 } as const;

/**
 * The native settings from `o`, every default filled in. `who` names the caller and `path` the
 * options' place in its arguments ('' for odeint's own options, 'ode.' for fit's).
 */
export function solverConfig(who: string, path: string, o: OdeSolverOptions): Omit<OdeConfig, 'needGrad'> {
  const method = choose(who, `${path}method`, o.method, ODE_METHODS, DEFAULT_ODE_METHOD);
  const fixed = ODE_METHODS.filter((m) => !m.adaptive)
    .map((m) => `'${m.name}'`)
    .join(' and ');
  if (odeMethod(method).adaptive) {
    if (o.step !== undefined)
      throw new RangeError(
        `${who}: ${path}step sets the fixed step of ${fixed}; '${method}' chooses its own steps from rtol and atol`,
      );
  } else if (o.rtol !== undefined || o.atol !== undefined) {
    throw new RangeError(
      `${who}: ${path}rtol and ${path}atol control the adaptive methods only; '${method}' takes a fixed step`,
    );
  }
  const rtol = o.rtol === undefined ? ODE_DEFAULTS.rtol : numberIn(who, `${path}rtol`, o.rtol, { min: 0 });
  const atol = o.atol === undefined ? ODE_DEFAULTS.atol : numberIn(who, `${path}atol`, o.atol, { min: 0 });
  if (rtol === 0 && atol === 0)
    throw new RangeError(`${who}: ${path}rtol and ${path}atol cannot both be 0; the error control needs a tolerance`);
  const maxSteps = o.maxSteps === undefined ? ODE_DEFAULTS.maxSteps : o.maxSteps;
  return {
    method,
    step: o.step === undefined ? 0 : numberIn(who, `${path}step`, o.step, { min: 0, above: true }),
    rtol,
    atol,
    maxSteps: numberIn(who, `${path}maxSteps`, maxSteps, { min: 1, below: 1e12, integer: true }),
  };
}
