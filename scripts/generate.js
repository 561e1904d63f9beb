#!/usr/bin/env node
// Regenerates what the op registry (src/ops/registry.ts) and the training settings
// (src/train/settings.ts) determine: the primitives section of docs/language.md, the native tables
// (native/ops.generated.h, native/fused_steps.generated.inc) and the settings tables of
// docs/training.md. Reads the compiled dist/ (`npm run generate` compiles it first); tests/docs,
// tests/ops and tests/train-settings fail when a committed file is stale.
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
const { replaceSection } = load('docs/markdown.js');
const { renderTrainingSettings, SETTINGS_MARKERS } = load('train/settings-table.js');

function write(relative, text) {
  const file = path.join(ROOT, relative);
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (before === text) return console.log(`generate: ${relative} is up to date`);
  fs.writeFileSync(file, text);
  console.log(`generate: wrote ${relative}`);
}

/** Rewrites the generated section of a doc. */
function section(relative, replace) {
  try {
    write(relative, replace(fs.readFileSync(path.join(ROOT, relative), 'utf8')));
  } catch (err) {
    console.error(`generate: ${relative}: ${err.message}`);
    process.exit(1);
  }
}

section(path.join('docs', 'language.md'), (md) => replaceGenerated(md, renderPrimitiveTable(PRIMITIVES)));
section(path.join('docs', 'training.md'), (md) => replaceSection(md, SETTINGS_MARKERS, renderTrainingSettings()));
for (const { path: relative, text } of nativeFiles()) write(relative, text);
