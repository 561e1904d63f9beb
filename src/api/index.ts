// The public API: compile a program into a Module, run one once, chain modules.
export {
  compile,
  chain,
  Module,
  type CompileOptions,
  type InputShape,
  type InputValue,
  type ForwardOptions,
} from './module';
export { run, type RunOptions, type RunResult } from './run';
export type { ValueAndGrad, ValueAndGradOptions } from './value-and-grad';
