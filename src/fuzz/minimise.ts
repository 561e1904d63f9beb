// Delta debugging of a failing case: structural reductions of the program tree (drop a node, hoist
// a child into its parent's place, replace a subtree by 0), then chunk deletion on the raw text for
// inputs that do not even parse. A candidate is kept when it fails the same way (same signature).
import type { FuzzCase, Outcome } from './evaluate';
import { get, parse, paths, printAll, replace, type Node } from './sexpr';

/** What a failure is, without the numbers and names that vary as the program shrinks. */
export const signature = (o: Outcome): string =>
  `${o.kind}:${o.detail
    .split('\n')[0]
    .replace(/-?\d+(\.\d+)?(e[-+]?\d+)?/gi, 'N')
    .replace(/\b[a-z]\d+\b/g, 'ID')
    .slice(0, 80)}`;

export interface Minimised {
  fuzzCase: FuzzCase;
  outcome: Outcome;
  tries: number;
}

export async function minimise(
  c: FuzzCase,
  failure: Outcome,
  run: (c: FuzzCase) => Promise<Outcome>,
  budget: number,
): Promise<Minimised> {
  const want = signature(failure);
  let best = { fuzzCase: c, outcome: failure, tries: 0 };
  const attempt = async (source: string): Promise<boolean> => {
    if (best.tries >= budget || source.length >= best.fuzzCase.source.length) return false;
    best.tries++;
    const candidate = { ...best.fuzzCase, source };
    const outcome = await run(candidate);
    if (outcome.ok || signature(outcome) !== want) return false;
    best = { fuzzCase: candidate, outcome, tries: best.tries };
    return true;
  };
  for (let progress = true; progress && best.tries < budget;) {
    progress = false;
    const forms = parse(best.fuzzCase.source);
    if (forms) {
      // Pre-order: the largest subtrees are tried first.
      reduce: for (const p of paths(forms)) {
        for (const f of reductions(forms, p))
          if (await attempt(printAll(f))) {
            progress = true;
            break reduce;
          }
      }
    }
    if (!progress) progress = await chunks(best.fuzzCase.source, attempt);
  }
  return best;
}

/** Smaller trees in place of the node at `p`: without it, one of its children, a zero. */
function reductions(forms: Node[], p: number[]): Node[][] {
  const node = get(forms, p);
  const out = [replace(forms, p, [])];
  if (typeof node !== 'string')
    out.push(...node.items.map((child) => replace(forms, p, [child])), replace(forms, p, ['0']));
  return out;
}

/** ddmin-style: remove chunks of the text, halving the chunk size down to one character. */
async function chunks(text: string, attempt: (s: string) => Promise<boolean>): Promise<boolean> {
  for (let size = Math.max(1, Math.floor(text.length / 2)); size >= 1; size = Math.floor(size / 2)) {
    for (let start = 0; start < text.length; start += size)
      if (await attempt(text.slice(0, start) + text.slice(start + size))) return true;
    if (size === 1) break;
  }
  return false;
}
