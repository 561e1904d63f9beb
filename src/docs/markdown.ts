// Generated sections of the docs: a section lives between two HTML comment markers, and the
// generator (scripts/generate.js) and the staleness tests replace it the same way.

/** A table cell's text, with pipes escaped. */
export const cell = (text: string): string => text.replace(/\|/g, '\\|');

export interface Markers {
  start: string;
  end: string;
}

/** `markdown` with the text between the markers replaced by `generated`. */
export function replaceSection(markdown: string, markers: Markers, generated: string): string {
  const start = markdown.indexOf(markers.start);
  const end = markdown.indexOf(markers.end);
  if (start < 0 || end < start)
    throw new Error(`the markers ${markers.start} and ${markers.end} are missing or out of order`);
  return `${markdown.slice(0, start + markers.start.length)}\n${generated}${markdown.slice(end)}`;
}
