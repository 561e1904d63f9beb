#!/usr/bin/env node
// Regenerates the primitives section of docs/language.md from the primitive table.
// Reads the compiled dist/ (run `npx tsc -p tsconfig.json` first); tests/docs.test.ts fails when the
// committed section is stale.
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const DOC = path.join(ROOT, 'docs', 'language.md');

function load(module) {
  try {
    return require(path.join(ROOT, 'dist', module));
  } catch (err) {
    console.error(
      `gen-language-docs: cannot load dist/${module} (${err.message}); run \`npx tsc -p tsconfig.json\` first`,
    );
    process.exit(1);
  }
}

const { PRIMITIVES } = load('primitives.js');
const { renderPrimitiveTable, replaceGenerated } = load('docs/primitive-table.js');

const before = fs.readFileSync(DOC, 'utf8');
let after;
try {
  after = replaceGenerated(before, renderPrimitiveTable(PRIMITIVES));
} catch (err) {
  console.error(`gen-language-docs: docs/language.md: ${err.message}`);
  process.exit(1);
}
if (after === before) {
  console.log('gen-language-docs: docs/language.md is up to date');
} else {
  fs.writeFileSync(DOC, after);
  console.log(
    `gen-language-docs: rewrote the primitives section of docs/language.md (${PRIMITIVES.length} primitives)`,
  );
}
