// The diagnostic codes a call fails with (it must fail with a CompileError).
import { CompileError } from '../../src/diagnostics';

export function codes(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostics.map((d) => d.code);
    throw e;
  }
  throw new Error('expected a CompileError');
}
