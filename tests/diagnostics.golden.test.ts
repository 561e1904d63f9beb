// Golden files: each tests/golden/diagnostics/NAME.neural has NAME.txt, the rendered diagnostics.
// A first line `; declared: inputs a, b; params c` declares the interface. UPDATE_GOLDEN=1 rewrites.
import fs from 'fs';
import path from 'path';
import { renderDiagnostics } from '../src/diagnostics';
import { parseProgram, type ParseOptions } from '../src/frontend';

const DIR = path.join(__dirname, 'golden', 'diagnostics');
const cases = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.neural'))
  .sort();

function declared(text: string): ParseOptions {
  const line = /^; declared: (.*)$/m.exec(text)?.[1];
  if (!line) return {};
  const options: ParseOptions = {};
  for (const part of line.split(';')) {
    const [role, ...names] = part.trim().split(/[\s,]+/);
    if (role === 'inputs' || role === 'params') options[role] = names;
  }
  return options;
}

describe('diagnostics golden files', () => {
  test.each(cases)('%s', (file) => {
    const text = fs.readFileSync(path.join(DIR, file)).toString('utf8');
    const { diagnostics, source } = parseProgram(text, { file, ...declared(text) });
    const rendered = `${renderDiagnostics(diagnostics, source)}\n`;
    const golden = path.join(DIR, file.replace(/\.neural$/, '.txt'));
    if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(golden)) fs.writeFileSync(golden, rendered);
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(rendered).toBe(fs.readFileSync(golden, 'utf8'));
  });
});
