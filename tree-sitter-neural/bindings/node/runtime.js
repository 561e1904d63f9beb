// Where the tree-sitter C runtime's sources are: the copy committed in vendor/ (see its README.md),
// or TREE_SITTER_RUNTIME=/path/to/lib (a tree-sitter `lib` folder, with src/ and include/).
// binding.gyp compiles lib/src/lib.c from there, and scripts/build-grammar.js checks it before
// building. Run as a script, prints the folder (binding.gyp calls it that way).
'use strict';
const fs = require('fs');
const path = require('path');

const VENDORED = path.join(__dirname, '..', '..', 'vendor', 'tree-sitter-0.25.1', 'lib');

const isRuntime = (dir) =>
  fs.existsSync(path.join(dir, 'src', 'lib.c')) && fs.existsSync(path.join(dir, 'include', 'tree_sitter', 'api.h'));

function runtimeDir() {
  const override = process.env.TREE_SITTER_RUNTIME;
  const dir = override ? path.resolve(override) : VENDORED;
  if (!isRuntime(dir)) {
    throw new Error(
      override
        ? `tree-sitter-neural: TREE_SITTER_RUNTIME=${override} is not a tree-sitter runtime (no src/lib.c and include/tree_sitter/api.h in it); point it at the \`lib\` folder of a tree-sitter checkout, or unset it to use the copy in ${VENDORED}`
        : `tree-sitter-neural: the tree-sitter C runtime is missing from ${VENDORED}; restore it (\`git checkout -- ${VENDORED}\`, or reinstall the package), or set TREE_SITTER_RUNTIME to a tree-sitter \`lib\` folder`,
    );
  }
  return dir;
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
