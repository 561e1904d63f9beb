// The addon's ODE export, typed here rather than in the shared runtime interface.
import { native, NativeGraph, NativeTensor } from '../runtime/native';
import type { OdeMethod } from './settings';

/** What one program input receives at each stage of the integrator. */
export type OdeSlot =
  | { kind: 'state' }
  | { kind: 'component'; index: number }
  | { kind: 'time' }
  | { kind: 'constant'; tensor: NativeTensor };

export interface OdeProblem {
  /** One per program input, in program order. */
  slots: OdeSlot[];
  /** Whether the specialised program's result carries the batch dimension. */
  resultBatched: boolean;
  /** [B] start times added to the integration time (the time input is then batched). */
  timeOffsets?: NativeTensor;
}

export interface OdeConfig {
  method: OdeMethod;
  /** Euler/RK4: the largest step; 0 for one step per reported interval. */
  step: number;
  rtol: number;
  atol: number;
  maxSteps: number;
  needGrad: boolean;
}

interface OdeAddon {
  odeint(graph: NativeGraph, y0: NativeTensor, times: number[], problem: OdeProblem, config: OdeConfig): NativeTensor;
}

export const odeAddon = (): OdeAddon => native() as unknown as OdeAddon;
