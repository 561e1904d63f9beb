// neural-compiler's public API.
export * from './api';
export type { IrGraph, IrNode, IrRegion } from './compiler/ir';
export { graphToText, graphToDot } from './compiler/print';
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  randn,
  tidy,
  setNumThreads,
  getNumThreads,
  cudaAvailable,
  type DType,
  type Device,
  type TensorOptions,
} from './runtime/tensor';
export { cpuMemoryStats, emptyCpuCache, resetCpuPeak, type CpuMemoryStats } from './runtime/memory';
export { CompileError, renderDiagnostic, diagnosticToJson, type Diagnostic } from './diagnostics';
export { parseProgram } from './frontend';
export { OPS, PRIMITIVES, type OpDef, type Primitive } from './ops';
export * from './train';
export * from './nn';
export * from './io';
