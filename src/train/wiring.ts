// How a compiled right-hand side's inputs receive an integrator's state, time and constants, and
// the check of its result against the state: shared by odeint, multipleShooting and fit.
import { Module, type InputValue } from '../api';
import { showShape } from '../ops';
import { describe } from '../runtime/host-data';
import { Tensor } from '../runtime/tensor';
import type { OdeSlot } from './native-ode';

/** Who asks, for messages: the function's name, where its ODE options live, and what holds the state. */
export interface WireCaller {
  /** 'odeint', 'multipleShooting', 'fit'. */
  who: string;
  /** The options object's name in messages: 'options' (odeint) or 'ode' (fit's options.ode). */
  options: string;
  /** What has the state's n components: 'y0', 'each observation'. */
  state: string;
}

/** The options that decide the wiring. */
export interface WireOptions {
  state?: string[];
  time?: string;
  inputs?: Record<string, InputValue>;
}

export interface Wiring {
  /** Per-sample shapes and batching of the program's inputs, for its specialisation. */
  inputs: { name: string; shape: number[]; batched: boolean }[];
  slots: OdeSlot[];
  hasTime: boolean;
  /** Whether a constant input requires a gradient. */
  constantGrad: boolean;
  /** Constant tensors made here, for the caller to free after the run. */
  owned: Tensor[];
}

/**
 * Assigns every program input its role: the state (whole, as the vector input `y`, or one
 * component), the time, or a constant. `batched`: the state carries a batch dimension;
 * `timeBatched`: so does the time (each sample has its own start time).
 */
export function wire(
  caller: WireCaller,
  rhs: Module,
  n: number,
  batched: boolean,
  o: WireOptions,
  timeBatched: boolean,
): Wiring {
  const { who, options: opts } = caller;
  const names = rhs.inputs;
  const listing = names.length > 0 ? `the inputs are ${names.join(', ')}` : 'the program has no inputs';
  const input = (name: unknown, role: string): string => {
    const shown = typeof name === 'string' ? `'${name}'` : describe(name);
    if (typeof name !== 'string' || !names.includes(name))
      throw new Error(`${who}: ${role} ${shown} is not an input of the program (${listing})`);
    return name;
  };
  const constants = o.inputs ?? {};
  if (typeof constants !== 'object' || constants === null || Array.isArray(constants) || constants instanceof Tensor)
    throw new TypeError(
      `${who}: ${opts}.inputs must be an object mapping input names to values, got ${describe(constants)}`,
    );
  const given = Object.keys(constants).map((name) => input(name, `${opts}.inputs names`));

  const vector = o.state === undefined;
  if (vector && !names.includes('y'))
    throw new Error(
      `${who}: the program has no input 'y' to hold the state; name its scalar state inputs with ${opts}.state (${listing})`,
    );
  if (!vector && (!Array.isArray(o.state) || o.state.length === 0))
    throw new TypeError(`${who}: ${opts}.state must be a non-empty array of input names, got ${describe(o.state)}`);
  // A state component the right-hand side does not read (a compartment that only accumulates) is
  // still integrated: it simply has no input.
  const state = vector
    ? ['y']
    : o.state!.map((name) => {
        if (typeof name !== 'string' || name === '')
          throw new TypeError(`${who}: ${opts}.state must name the state's components, got ${describe(name)}`);
        return name;
      });
  const repeated = state.find((name, i) => state.indexOf(name) !== i);
  if (repeated) throw new Error(`${who}: ${opts}.state names '${repeated}' twice`);
  if (!vector && state.length !== n)
    throw new RangeError(`${who}: ${opts}.state names ${state.length} inputs but ${caller.state} has ${n} components`);

  const time =
    o.time !== undefined
      ? input(o.time, 'the time input')
      : names.includes('t') && !given.includes('t') && !state.includes('t')
        ? 't'
        : undefined;
  for (const name of given)
    if (state.includes(name) || name === time)
      throw new Error(
        `${who}: '${name}' is the ${name === time ? 'time' : 'state'} input and cannot also be given in ${opts}.inputs`,
      );
  if (time !== undefined && state.includes(time))
    throw new Error(`${who}: '${time}' cannot be both the time and part of the state`);

  const missing = names.filter((name) => !state.includes(name) && name !== time && !given.includes(name));
  if (missing.length > 0)
    throw new Error(
      `${who}: no value for the input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; give constant values in ${opts}.inputs`,
    );

  const wiring: Wiring = { inputs: [], slots: [], hasTime: time !== undefined, constantGrad: false, owned: [] };
  try {
    for (const name of names) {
      const k = state.indexOf(name);
      if (k >= 0 && vector) add(wiring, name, { kind: 'state' }, [n], batched);
      else if (k >= 0) add(wiring, name, { kind: 'component', index: k }, [], batched);
      else if (name === time) add(wiring, name, { kind: 'time' }, [], timeBatched);
      else {
        const { tensor: c, owned } = rhs.inputTensor(name, constants[name]);
        if (owned) wiring.owned.push(c);
        wiring.constantGrad ||= c.requiresGrad;
        add(wiring, name, { kind: 'constant', tensor: c.handle }, c.shape, false);
      }
    }
  } catch (e) {
    for (const c of wiring.owned) c.dispose();
    throw e;
  }
  return wiring;
}

function add(w: Wiring, name: string, slot: OdeSlot, shape: number[], batched: boolean): void {
  w.inputs.push({ name, shape, batched });
  w.slots.push(slot);
}

/**
 * Checks the specialised program's result against the state (call right after `nativeGraph()`,
 * which makes that specialisation the module's current graph); returns whether it carries the
 * batch dimension.
 */
export function checkResult(who: string, rhs: Module, n: number): boolean {
  const main = rhs.graph!.regions[0];
  const out = main.nodes[main.results[0]];
  const fits = out.shape.length === 1 ? out.shape[0] === n : out.shape.length === 0 && n === 1;
  if (!fits)
    throw new RangeError(
      `${who}: the right-hand side returns a ${showShape(out.shape)} but the state has ${n} component${n > 1 ? 's' : ''}; ` +
        `it must return a vector[${n}]${n === 1 ? ' or a scalar' : ''}`,
    );
  return out.batched;
}
