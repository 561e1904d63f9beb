// What rebuilding a compiled Module needs beyond its public surface: its own parameters (apart from
// its functions'), its functions, its declared input shapes, limit and optimize setting. Module keeps
// these private; this is the one place that reads them, so that a public accessor on Module can
// replace it in one edit.
import type { Module } from '../compiler/module';
import type { Shape } from '../primitives';
import type { Tensor } from '../runtime/tensor';

export interface ModuleState {
  params: { name: string; tensor: Tensor }[];
  functions: Map<string, unknown>;
  declared: Map<string, Shape | undefined>;
  limit: number;
  optimize: boolean;
}

export const moduleState = (m: Module): ModuleState => m as unknown as ModuleState;
