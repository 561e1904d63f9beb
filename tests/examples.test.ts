// Every program in examples/ checks clean: no errors and no warnings.
import fs from 'fs';
import path from 'path';
import { renderDiagnostics } from '../src/diagnostics';
import { parseProgram } from '../src/frontend';

const ROOT = path.join(__dirname, '..', 'examples');
const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.neural') ? [path.join(dir, e.name)] : [],
    );

test.each(files(ROOT).map((f) => path.relative(ROOT, f)))('%s checks clean', (file) => {
  const { program, diagnostics, source } = parseProgram(fs.readFileSync(path.join(ROOT, file), 'utf8'), { file });
  expect(renderDiagnostics(diagnostics, source)).toBe('');
  expect(program).toBeDefined();
});
