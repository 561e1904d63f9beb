// The primitives section of docs/language.md, rendered from the primitive table. The generator script
// (scripts/gen-language-docs.js, through dist/) and the staleness test both use these functions, so
// the committed docs can only be what the table says.
import { arityText, type Primitive } from '../ops';

export const START_MARKER = '<!-- primitives:start -->';
export const END_MARKER = '<!-- primitives:end -->';

const cell = (text: string): string => text.replace(/\|/g, '\\|');

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

/** `markdown` with the text between the markers replaced by `generated`. */
export function replaceGenerated(markdown: string, generated: string): string {
  const start = markdown.indexOf(START_MARKER);
  const end = markdown.indexOf(END_MARKER);
  if (start < 0 || end < start)
    throw new Error(`the markers ${START_MARKER} and ${END_MARKER} are missing or out of order`);
  return `${markdown.slice(0, start + START_MARKER.length)}\n${generated}${markdown.slice(end)}`;
}
