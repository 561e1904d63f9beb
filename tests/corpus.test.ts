// The grammar's corpus (tree-sitter-neural/test/corpus), run against the committed parser through the
// grammar's Node binding (the runtime's own S-expression of the tree), so CI checks it even where the tree-sitter CLI cannot be built.
import fs from 'fs';
import path from 'path';
import { syntaxSexp } from '../src/frontend/parser';

const CORPUS = path.join(__dirname, '..', 'tree-sitter-neural', 'test', 'corpus');
const RULE = /^={3,}$/;
const DIVIDER = /^-{3,}$/;

interface Entry {
  file: string;
  name: string;
  source: string;
  expected: string;
}

/** The corpus format: a `===` header around the name, the source, a `---` line, the expected tree. */
function readCorpus(file: string): Entry[] {
  const lines = fs.readFileSync(path.join(CORPUS, file), 'utf8').split('\n');
  const entries: Entry[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!RULE.test(lines[i])) {
      i++;
      continue;
    }
    const name = lines[i + 1];
    i += 3;
    const start = i;
    while (!DIVIDER.test(lines[i])) i++;
    const source = lines.slice(start, i).join('\n').trim();
    const after = ++i;
    while (i < lines.length && !RULE.test(lines[i])) i++;
    entries.push({ file, name, source, expected: lines.slice(after, i).join('\n') });
  }
  return entries;
}

/** Whitespace-insensitive, as `tree-sitter test` compares. */
const normalise = (tree: string) => tree.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();

const entries = fs
  .readdirSync(CORPUS)
  .filter((f) => f.endsWith('.txt'))
  .flatMap(readCorpus);

test('the corpus is there', () => {
  expect(entries.length).toBeGreaterThan(10);
});

test.each(entries.map((e) => [`${e.file}: ${e.name}`, e] as const))('%s', (_name, e) => {
  expect(normalise(syntaxSexp(e.source))).toBe(normalise(e.expected));
});
