// The primitives section of docs/language.md, rendered from the op registry. The generator script
// (scripts/generate.js, through dist/) and the staleness test both use these functions, so
// the committed docs can only be what the table says.
import { arityText, type Primitive } from '../ops';
import { cell, replaceSection, type Markers } from './markdown';

export const PRIMITIVE_MARKERS: Markers = { start: '<!-- primitives:start -->', end: '<!-- primitives:end -->' };

/** One markdown table per group, in table order. */
export function renderPrimitiveTable(primitives: readonly Primitive[]): string {
  const groups = [...new Set(primitives.map((p) => p.group))];
  const sections = groups.map((group) => {
    const rows = primitives
      .filter((p) => p.group === group)
      .map((p) => `| \`${cell(p.name)}\` | ${arityText(p)} | ${cell(p.doc)} |`);
    return [`### ${group}`, '', '| name | arguments | meaning |', '|---|---|---|', ...rows].join('\n');
  });
  return `${sections.join('\n\n')}\n`;
}

/** docs/language.md with its primitives section replaced by `generated`. */
export const replaceGenerated = (markdown: string, generated: string): string =>
  replaceSection(markdown, PRIMITIVE_MARKERS, generated);
