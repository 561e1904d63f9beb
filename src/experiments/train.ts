// The training loops the experiments share: fit() for a compiled model (on the small-program tier
// when its program and data qualify), and for what fit() cannot express Adam (optionally with cosine
// decay and gradient clipping) and an L-BFGS refinement, each step's intermediates freed with tidy().
import { Module } from '../api';
import { Tensor, tidy } from '../runtime/tensor';
import {
  clipGradNorm,
  fit,
  optim,
  schedules,
  type AlgebraicData,
  type FitOptions,
  type FitResult,
  type OdeData,
} from '../train';
import { Progress } from './progress';

/**
 * The hybrids' weight penalty (fit's weightPenalty: an L2 penalty on the MLPs' hidden layers, relative to the
 * data's variance), one value for every experiment, chosen on the pendulum hybrid, the one that needs it
 * (docs/training.md: the study over noise seeds, `node scripts/hybrid-study.js pendulum seed=N`).
 */
export const WEIGHT_PENALTY = 1e-4;

/**
 * Trains a compiled model with fit() (full batch: one step per epoch); returns the loss of every step
 * (before its update, as adamFit's) and fit's result, whose `tier` says where it ran.
 */
export async function fitCompiled(
  model: Module,
  data: AlgebraicData | OdeData,
  options: Omit<FitOptions, 'onProgress' | 'batchSize'>,
  progress?: { display: Progress; label: string },
): Promise<{ history: number[]; result: FitResult }> {
  const history: number[] = [];
  const result = await fit(model, data, {
    ...options,
    onProgress: ({ step, loss }) => {
      history.push(loss);
      progress?.display.update(progress.label, step, options.epochs);
    },
  });
  return { history, result };
}

export interface AdamRun {
  params: Tensor[];
  steps: number;
  lr: number;
  /** Cosine decay to zero over the run. */
  cosine?: boolean;
  /** Largest gradient norm. */
  clip?: number;
  progress?: { display: Progress; label: string };
  /** Further parameters at learning rates of their own (a physical constant beside network weights). */
  groups?: { params: Tensor[]; lr: number }[];
}

/** Minimises loss(step) with Adam; returns the loss of every step. */
export function adamFit(loss: (step: number) => Tensor, o: AdamRun): number[] {
  const groups = [{ params: o.params, lr: o.lr }, ...(o.groups ?? [])];
  const opts = groups.map((g) => optim.adam(g.params, { lr: g.lr }));
  const scheds = o.cosine ? opts.map((opt) => schedules.cosine(opt, { steps: o.steps })) : [];
  const params = groups.flatMap((g) => g.params);
  const history: number[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      history.push(
        tidy(() => {
          for (const opt of opts) opt.zeroGrad();
          const l = loss(step);
          l.backward();
          if (o.clip !== undefined) clipGradNorm(params, o.clip);
          for (const opt of opts) opt.step();
          return l.item();
        }),
      );
      for (const sched of scheds) sched.step();
      if (o.progress && step % 25 === 0) o.progress.display.update(o.progress.label, step, o.steps);
    }
  } finally {
    for (const opt of opts) opt.dispose();
  }
  return history;
}

/** Full-batch L-BFGS with a strong Wolfe line search; returns the final loss. */
export function lbfgsRefine(loss: () => Tensor, params: Tensor[], iterations = 200, lr = 1): number {
  const opt = optim.lbfgs(params, { lr, maxIter: iterations, lineSearch: 'strong_wolfe', historySize: 50 });
  try {
    opt.step(() => {
      opt.zeroGrad();
      const l = loss();
      l.backward();
      return l;
    });
    return tidy(() => loss().item());
  } finally {
    opt.dispose();
  }
}
