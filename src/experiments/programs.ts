// The experiments' programs are the files in examples/, so the programs shown to users are the ones measured.
import fs from 'fs';
import path from 'path';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

export function program(name: string): string {
  return fs.readFileSync(path.join(EXAMPLES, `${name}.neural`), 'utf8');
}
