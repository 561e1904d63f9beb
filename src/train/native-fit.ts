// The addon's fit export, typed here rather than in the shared runtime interface.
import { native, NativeGraph, NativeTape, NativeTensor } from '../runtime/native';
import type { NativeOptimizerConfig } from './native-optim';
import type { OdeConfig, OdeSlot } from './native-ode';
import type { GroupSpec } from './distributed';
import type { LossKind, OdeGradientMode } from './settings';

/** The program on the small-program tier, where fit() runs it, with every param it reads in its order. */
export interface NativeFitTier {
  tape?: NativeTape;
  tapeParams?: NativeTensor[];
}

export interface NativeAlgebraicData extends NativeFitTier {
  /** One per program input, in program order, samples in dimension 0. */
  inputs: NativeTensor[];
  target: NativeTensor;
}

/** The integrator's settings as odeint takes them; fit decides whether a step needs gradients. */
export interface NativeOdeData extends Omit<OdeConfig, 'needGrad'>, NativeFitTier {
  observations: NativeTensor;
  times: Float64Array;
  /** 0 for one trajectory from the first observation. */
  windowSteps: number;
  /** Trained start states [windows, n] (one row for the whole trajectory), also the last of the params. */
  starts?: NativeTensor;
  /** How the tier takes the gradient (native/fit.h, OdeGradient); the libtorch path ignores it. */
  gradient: OdeGradientMode;
  slots: OdeSlot[];
  resultBatched: boolean;
}

export interface NativeFitConfig {
  epochs: number;
  /** 0 for the full batch. */
  batchSize: number;
  seed: number;
  /** The learning rate of each step; empty keeps the optimizer's. */
  lrs: Float64Array;
  /** 0 for no clipping. */
  clip: number;
  loss: LossKind;
  /** 0 for no reports. */
  progressEvery: number;
  /** 0 for no early stopping. */
  patience: number;
  minDelta: number;
  stopOnNonFinite: boolean;
  /** Full-batch first-order optimizers: stop at this largest absolute gradient entry (0: never). */
  gradientTolerance: number;
  /** The penalty strength * sum(p^2) over the params marked in `penalised`; 0 for none. */
  weightPenalty: number;
  /** One per param. */
  penalised: boolean[];
  /** A data-parallel fit: its group, and what the ranks must hold alike ([what, text] pairs). */
  distributed?: { group: NativeDistributedGroup; agreement: [string, string][] };
}

/** A handle on a distributed fit's process group (native/distributed.h). */
export type NativeDistributedGroup = { readonly __brand: 'NativeDistributedGroup' };

/** Why a fit stopped (native/fit.h's kFitStopNames). */
export type StopReason = 'epochs' | 'gradient-tolerance' | 'loss-plateau' | 'aborted';

export interface NativeFitResult {
  loss: number;
  steps: number;
  stopReason: StopReason;
  /** Seconds in collectives (0 unless distributed). */
  communicationSeconds: number;
  /** Every gradient of the loss taken in one fused pass over the rows (native/fused.cpp's fused_loss_grad). */
  fused: boolean;
}

interface FitAddon {
  fit(
    graph: NativeGraph,
    params: NativeTensor[],
    names: string[],
    optimizer: NativeOptimizerConfig,
    data: NativeAlgebraicData | NativeOdeData,
    config: NativeFitConfig,
    /** The parameters' values as flat copies, in the order of `params`. */
    onProgress?: (step: number, loss: number, params: (Float32Array | Float64Array)[]) => void,
  ): { promise: Promise<NativeFitResult>; cancel: () => void };
  /** Cancels this thread's running fits and waits for each to finish its current step. */
  stopFits(): void;
  /** How many fits of the process train at once (native/fit.h, FitTurn). */
  setMaxConcurrentFits(n: number): void;
  getMaxConcurrentFits(): number;
  /** Connects at the first fit that uses it. */
  distributedGroup(spec: GroupSpec): NativeDistributedGroup;
  closeDistributedGroup(group: NativeDistributedGroup): void;
  /** Empty when libtorch's ProcessGroupGloo has the layout the addon was compiled with (native/distributed.h). */
  glooLayoutProblem(): string;
}

export const fitAddon = (): FitAddon => native() as unknown as FitAddon;
