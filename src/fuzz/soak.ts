// Memory soak: many forward calls and compile/dispose cycles, measuring resident memory after a
// warm-up and at the end. Node runs native finalizers only between event-loop turns, so the loops
// yield and collect garbage periodically (run node with --expose-gc).
import { compile } from '../compiler/module';
import { tensor } from '../runtime/tensor';

export interface Growth {
  what: string;
  iterations: number;
  /** Resident memory (MB) after the first tenth of the iterations, and at the end. */
  warmMb: number;
  endMb: number;
  percent: number;
  seconds: number;
}

const SOURCE = '(+ (scale G (matvec A v)) (sin v))';
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

async function measure(what: string, iterations: number, step: (i: number) => void): Promise<Growth> {
  const start = Date.now();
  let warmMb = 0;
  for (let i = 0; i < iterations; i++) {
    step(i);
    if ((i + 1) % 1000 === 0) await settle();
    if (i + 1 === Math.ceil(iterations / 10)) (await settle(), (warmMb = rssMb()));
  }
  await settle();
  const endMb = rssMb();
  return { what, iterations, warmMb, endMb, percent: (100 * (endMb - warmMb)) / warmMb, seconds: (Date.now() - start) / 1000 };
}

/** Forward calls of one module (with a gradient-recording graph each time), outputs disposed. */
export async function soakForward(iterations: number): Promise<Growth> {
  const m = compile(SOURCE, { inputs: { A: [3, 3], v: [3] }, params: { G: 0.5 } });
  const A = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  const result = await measure('forward calls', iterations, (i) => {
    const out = m.forward({ A, v: [i % 7, 1, 2] });
    out.dispose();
  });
  A.dispose();
  m.dispose();
  return result;
}

/** Compile, one forward call, dispose. */
export async function soakCompile(iterations: number): Promise<Growth> {
  return measure('compile/dispose cycles', iterations, (i) => {
    const m = compile(SOURCE, { inputs: { A: [3, 3], v: [3] }, params: { G: i } });
    m.forward({ A: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], v: [1, 2, 3] }).dispose();
    m.dispose();
  });
}
