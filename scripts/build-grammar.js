#!/usr/bin/env node
// Compiles the tree-sitter-neural Node binding with node-gyp: the generated parser, the scanner, the
// binding and the tree-sitter C runtime (committed in tree-sitter-neural/vendor/, or
// $TREE_SITTER_RUNTIME; tree-sitter-neural/bindings/node/runtime.js says which). Run standalone or
// through scripts/build.js (`require('./build-grammar').buildGrammar()`); skips the work when the
// binary is newer than every source it is built from.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const GRAMMAR_DIR = path.join(__dirname, '..', 'tree-sitter-neural');
const BINARY = path.join(GRAMMAR_DIR, 'build', 'Release', 'tree_sitter_neural_binding.node');
const SOURCES = [
  'src/parser.c',
  'src/scanner.c',
  'bindings/node/binding.cc',
  'bindings/node/runtime.c',
  'bindings/node/runtime.js',
  'binding.gyp',
].map((f) => path.join(GRAMMAR_DIR, f));
// The tree-sitter C runtime compiled into the binding.
const { runtimeDir } = require(path.join(GRAMMAR_DIR, 'bindings', 'node', 'runtime.js'));

const mtime = (file) => fs.statSync(file).mtimeMs;

function isUpToDate(runtime) {
  const sources = [
    ...SOURCES,
    path.join(runtime, 'src', 'lib.c'),
    path.join(runtime, 'include', 'tree_sitter', 'api.h'),
  ];
  return fs.existsSync(BINARY) && sources.every((src) => mtime(src) <= mtime(BINARY));
}

/** node-gyp's entry script: npm's own during lifecycle scripts, else the one bundled with npm. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(
      path.join(
        path.dirname(require.resolve('npm/package.json', { paths: [path.dirname(process.execPath)] })),
        'node_modules',
        'node-gyp',
        'bin',
        'node-gyp.js',
      ),
    );
  } catch (_) {
    // npm is not resolvable from node's folder; try the usual global locations below
  }
  const prefix = path.join(path.dirname(process.execPath), '..');
  candidates.push(
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  );
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found)
    throw new Error(
      'build-grammar: cannot find node-gyp; install npm (it bundles node-gyp) or set npm_config_node_gyp',
    );
  return found;
}

function buildGrammar({ force = false, log = console.log, quiet = false } = {}) {
  const runtime = runtimeDir(); // throws with a clear message when the runtime's sources are missing
  if (!force && isUpToDate(runtime)) {
    log('tree-sitter-neural: binding is up to date');
    return BINARY;
  }
  const args = [findNodeGyp(), 'rebuild'];
  // Debian ships Node's headers in /usr/include/node; point node-gyp there instead of downloading.
  if (fs.existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  log(`tree-sitter-neural: building the Node binding (${path.basename(args[0])} rebuild)`);
  // binding.gyp asks bindings/node/runtime.js for the runtime's folder; pass the one found here.
  // quiet: node-gyp's output only in the error (execFileSync puts stderr in it).
  execFileSync(process.execPath, args, {
    cwd: GRAMMAR_DIR,
    stdio: quiet ? 'pipe' : 'inherit',
    maxBuffer: 1 << 26,
    env: { ...process.env, TREE_SITTER_RUNTIME: runtime },
  });
  return BINARY;
}

module.exports = { buildGrammar, GRAMMAR_BINARY: BINARY };

if (require.main === module) {
  try {
    buildGrammar({ force: process.argv.includes('--force') });
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
