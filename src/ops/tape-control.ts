// The small-program tier's instructions beyond the registry's forms, and the ways autograd's graph
// passes through an instruction: named, numbered and described here once, for src/compiler/tape.ts
// and, through native/ops.generated.h's NC_TAPE_CONTROL and NC_TAPE_PATHS, for native/tape.h.
import { TAPE_FORMS } from './registry';

/**
 * Control instructions, numbered after the forms in this order, and what each writes from its
 * operands a, b, c (TapeInstr).
 */
export const TAPE_CONTROL = {
  JumpIfZero: 'nothing: goes to instruction b when register a is 0 (an if per sample)',
  Jump: 'nothing: goes to instruction b',
  DenseRow: "row b of dense layer a (TapeProgram::dense): a learned component's layer",
  Loop: 'the result of loop a (TapeProgram::loops) run on its inputs for this sample: its first element',
  LoopRest: 'a further element of the Loop before it (whose registers the Loop writes)',
  BlockRead: 'element b of weight block a: a vector or matrix param the program reads',
  Call: 'the result of call a (TapeProgram::calls): its function run on its arguments for this sample; its first element',
  CallRest: 'a further element of the Call before it (whose registers the Call writes)',
  Extremum:
    'the maximum (attr 0) or minimum (attr 1) of the b registers from a: NaN if any is, as at::amax and at::amin; its gradient is shared evenly among the elements equal to it, as theirs is',
  Solve: 'X with A X = B for solve a (TapeProgram::solves): its first element',
  SolveRest: 'a further element of the Solve before it (whose registers the Solve writes)',
} as const;

export type TapeControl = keyof typeof TAPE_CONTROL;

/** A control instruction's op number. */
export const controlOp = (name: TapeControl): number =>
  TAPE_FORMS.length + (Object.keys(TAPE_CONTROL) as TapeControl[]).indexOf(name);

/** How autograd's graph passes through an instruction (TapeInstr::path), numbered in this order. */
export const TAPE_PATHS = {
  Through: "the operands are on the result's gradient path (autograd's graph holds them)",
  None: 'no operand is: a comparison, whose result autograd holds as a boolean',
  Taken: "a branch's where (a, b, c: the test, then, else): only the branch the sample took is",
} as const;

export type TapePath = keyof typeof TAPE_PATHS;

export const pathNumber = (name: TapePath): number => (Object.keys(TAPE_PATHS) as TapePath[]).indexOf(name);
