// Where the tree-sitter C runtime's sources are: the `lib` folder vendored in the npm package
// `tree-sitter` (a dependency of the project). binding.gyp compiles lib/src/lib.c from there, and
// scripts/build-grammar.js checks it before building. TREE_SITTER_RUNTIME=/path/to/lib overrides.
// Run as a script, prints the folder (binding.gyp calls it that way).
'use strict';
const fs = require('fs');
const path = require('path');

const GRAMMAR_DIR = path.join(__dirname, '..', '..');

function runtimeDir() {
  const override = process.env.TREE_SITTER_RUNTIME;
  const candidates = [];
  if (override) candidates.push(path.resolve(override));
  else {
    try {
      // Resolved from the grammar's folder first, then from the project root above it.
      const pkg = require.resolve('tree-sitter/package.json', { paths: [GRAMMAR_DIR, path.join(GRAMMAR_DIR, '..')] });
      candidates.push(path.join(path.dirname(pkg), 'vendor', 'tree-sitter', 'lib'));
    } catch (_) {
      // not installed: reported below
    }
  }
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'src', 'lib.c')) && fs.existsSync(path.join(dir, 'include', 'tree_sitter', 'api.h')));
  if (!found) {
    throw new Error(
      `tree-sitter-neural: cannot find the tree-sitter C runtime (${candidates.length ? `no src/lib.c in ${candidates.join(', ')}` : 'the npm package `tree-sitter` is not installed'}); ` +
        'run `npm install` in the project folder, or set TREE_SITTER_RUNTIME to a tree-sitter `lib` folder',
    );
  }
  return found;
}

module.exports = { runtimeDir };

if (require.main === module) {
  try {
    process.stdout.write(runtimeDir());
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
