#!/usr/bin/env node
// Regenerates what the op registry (src/ops/registry.ts) determines: the primitives section of
// docs/language.md and the native tables (native/ops.generated.h, native/fused_steps.generated.inc).
// Reads the compiled dist/ (run `npx tsc -p tsconfig.json` first); tests/docs.test.ts and
// tests/ops-native.test.ts fail when a committed file is stale.
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');

function load(module) {
  try {
    return require(path.join(ROOT, 'dist', module));
  } catch (err) {
    console.error(`generate: cannot load dist/${module} (${err.message}); run \`npx tsc -p tsconfig.json\` first`);
    process.exit(1);
  }
}

const { PRIMITIVES } = load('ops/index.js');
const { nativeFiles } = load('ops/native-tables.js');
const { renderPrimitiveTable, replaceGenerated } = load('docs/primitive-table.js');

function write(relative, text) {
  const file = path.join(ROOT, relative);
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (before === text) return console.log(`generate: ${relative} is up to date`);
  fs.writeFileSync(file, text);
  console.log(`generate: wrote ${relative}`);
}

const doc = path.join('docs', 'language.md');
try {
  write(doc, replaceGenerated(fs.readFileSync(path.join(ROOT, doc), 'utf8'), renderPrimitiveTable(PRIMITIVES)));
} catch (err) {
  console.error(`generate: ${doc}: ${err.message}`);
  process.exit(1);
}
for (const { path: relative, text } of nativeFiles()) write(relative, text);
