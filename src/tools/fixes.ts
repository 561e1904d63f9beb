// Applying the fixes diagnostics carry to a source text (`neuralc check --fix`, the MCP tools).
import type { Diagnostic, Fix, TextEdit } from '../diagnostics';

export interface Applied {
  text: string;
  /** The fixes applied; a fix whose edits overlap an earlier fix's is left for the next round. */
  fixes: Fix[];
}

/**
 * Applies fixes in the order given, skipping any that overlaps one already taken. Insertions at one
 * offset go in reverse order of their fixes: closers for nested openers, reported outermost first,
 * come out innermost first.
 */
export function applyFixes(text: string, fixes: readonly Fix[]): Applied {
  const taken: { edit: TextEdit; order: number }[] = [];
  const overlaps = (a: TextEdit, b: TextEdit) => a.span.start < b.span.end && b.span.start < a.span.end;
  const applied: Fix[] = [];
  fixes.forEach((fix, order) => {
    if (fix.edits.some((e) => taken.some((t) => overlaps(e, t.edit)))) return;
    applied.push(fix);
    for (const edit of fix.edits) taken.push({ edit, order });
  });
  // Back to front, so earlier offsets stay valid. At one offset a replacement goes before an insertion
  // (which then lands in front of the new text), and the earliest fix first (so it ends up last).
  taken.sort((a, b) => b.edit.span.start - a.edit.span.start || b.edit.span.end - a.edit.span.end || a.order - b.order);
  let out = text;
  for (const { edit } of taken) out = out.slice(0, edit.span.start) + edit.text + out.slice(edit.span.end);
  return { text: out, fixes: applied };
}

/** The safe fixes of a list of diagnostics, in order (one per diagnostic: the first safe one). */
export const safeFixes = (diagnostics: readonly Diagnostic[]): Fix[] =>
  diagnostics.flatMap((d) => d.fixes?.find((f) => f.safe) ?? []);
