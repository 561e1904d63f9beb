// Golden files: each tests/golden/diagnostics/NAME.neural has NAME.txt, the rendered diagnostics.
// A first line `; declared: inputs a, b; params c` declares the interface. UPDATE_GOLDEN=1 rewrites
// them; a .neural file without its .txt fails (tests/helpers/golden.ts).
import fs from 'fs';
import os from 'os';
import path from 'path';
import { renderDiagnostics } from '../src/diagnostics';
import { parseProgram, type ParseOptions } from '../src/frontend';
import { expectGolden } from './helpers/golden';

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
  test('there are cases, and each has its golden file', () => {
    expect(cases.length).toBeGreaterThan(0);
    const missing = cases.filter((f) => !fs.existsSync(path.join(DIR, f.replace(/\.neural$/, '.txt'))));
    if (process.env.UPDATE_GOLDEN !== '1') expect(missing).toEqual([]);
  });

  test.each(cases)('%s', (file) => {
    const text = fs.readFileSync(path.join(DIR, file)).toString('utf8');
    const { diagnostics, source } = parseProgram(text, { file, ...declared(text) });
    const rendered = `${renderDiagnostics(diagnostics, source)}\n`;
    const golden = path.join(DIR, file.replace(/\.neural$/, '.txt'));
    expect(diagnostics.length).toBeGreaterThan(0);
    expectGolden(golden, rendered);
  });
});

test('a missing golden file fails with how to create it, and is not written', () => {
  if (process.env.UPDATE_GOLDEN === '1') return; // updating writes it by design
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nc-golden-')), 'absent.txt');
  expect(() => expectGolden(file, 'text')).toThrow(
    /^golden file .*absent\.txt is missing: create it with UPDATE_GOLDEN=1 npx jest tests\/diagnostics\.golden\.test/,
  );
  expect(fs.existsSync(file)).toBe(false);
  fs.rmSync(path.dirname(file), { recursive: true });
});
