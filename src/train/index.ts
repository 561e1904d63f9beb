// Training: optimizers, gradient clipping, learning-rate schedules and losses.
export * as optim from './optim';
export { Optimizer } from './optim';
export * as schedules from './schedules';
export { Schedule } from './schedules';
export * as losses from './losses';
export { clipGradNorm } from './clip';
export {
  odeint,
  multipleShooting,
  type OdeintOptions,
  type MultipleShootingOptions,
  type ShootingResult,
  type OdeMethod,
} from './odeint';
export { grad, type GradOptions } from './autograd';
export { OPTIMIZERS, LOSSES, SCHEDULES, ODE_METHODS, ODE_SENSITIVITIES, ODE_BLOWUP } from './settings';
export type { OptimizerKind, LossKind, ScheduleKind, OdeSensitivities, OdeGradientMode } from './settings';
export {
  fit,
  setMaxConcurrentFits,
  getMaxConcurrentFits,
  type FitOptions,
  type AbortSignalLike,
  type FitOdeOptions,
  type FitProgress,
  type FitResult,
  type StartReport,
  type AlgebraicData,
  type OdeData,
} from './fit';
export { penaltyStrength, variance, weightPenalty } from './penalty';
export { DISTRIBUTED_FAILURE, type DistributedOptions } from './distributed';
