// docs/language.md stays in step with the code: the generated primitives section, the special forms'
// usage lines and the list of primitives the Python reference lacks.
import fs from 'fs';
import path from 'path';
import { END_MARKER, renderPrimitiveTable, replaceGenerated, START_MARKER } from '../src/docs/primitive-table';
import { USAGE } from '../src/frontend/forms';
import { PRIMITIVES } from '../src/ops';

const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'language.md'), 'utf8');

// The Python reference's 43 primitive names (../shared/REFERENCE-SEMANTICS.md).
const PYTHON_REFERENCE = `+ - * / pow abs min max modulo remainder sqrt log exp sin cos = < > <= >= and or not
  vec ref dot cross norm normalize vsum scale vlen mat matmul matvec transpose trace det inv outer eye zeros ones`.split(
  /\s+/,
);

test('the primitives section is what `npx tsc -p tsconfig.json && node scripts/gen-language-docs.js` generates', () => {
  expect(doc).toBe(replaceGenerated(doc, renderPrimitiveTable(PRIMITIVES)));
});

test('the table has one row per primitive with its arity and doc line', () => {
  const table = renderPrimitiveTable(PRIMITIVES);
  expect(table.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(PRIMITIVES.length);
  expect(table).toContain('### matrix\n\n| name | arguments | meaning |\n|---|---|---|\n| `mat` | at least 1 |');
  expect(table).toContain('| `clamp` | 3 | `(clamp x lo hi)`: x limited to [lo, hi]. |');
});

test('replaceGenerated keeps the text around the markers and needs both markers', () => {
  const around = `intro\n${START_MARKER}\nold\n${END_MARKER}\noutro\n`;
  expect(replaceGenerated(around, 'new\n')).toBe(`intro\n${START_MARKER}\nnew\n${END_MARKER}\noutro\n`);
  expect(() => replaceGenerated('no markers', 'x')).toThrow('missing or out of order');
});

test('every special form is documented with its usage', () => {
  for (const usage of Object.values(USAGE)) {
    const shown = usage.split(' or ');
    for (const u of shown) expect(doc).toContain(u);
  }
});

test('the "more primitives" list is exactly the primitives the Python reference lacks', () => {
  const bullet = doc.slice(doc.indexOf('**More primitives**')).split(/\n(?:- |\n)/)[0];
  const listed = [...bullet.matchAll(/`([^`]+)`/g)].flatMap((m) => m[1].split(/\s+/));
  const extra = PRIMITIVES.map((p) => p.name).filter((n) => !PYTHON_REFERENCE.includes(n));
  expect([...listed].sort()).toEqual([...extra].sort());
});
