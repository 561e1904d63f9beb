// The experiments' programs are the files in examples/, so the programs shown to users are the ones measured.
import fs from 'fs';
import path from 'path';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

export function program(name: string): string {
  return fs.readFileSync(path.join(EXAMPLES, `${name}.neural`), 'utf8');
}

/**
 * The names an example's header declares, as in "; Inputs: x, T. Params: n0, m." (notes in parentheses
 * and "none" left out); undefined for a file without such a header.
 */
export function headerNames(text: string): { inputs: string[]; params: string[] } | undefined {
  const m = /Inputs: ([^.]*)\. Params: ([^.]*)\./.exec(text);
  if (!m) return undefined;
  const names = (s: string) =>
    s
      .replace(/\([^)]*\)/g, '')
      .split(',')
      .map((x) => x.trim().split(' ')[0])
      .filter((x) => x !== '' && x !== 'none');
  return { inputs: names(m[1]), params: names(m[2]) };
}
