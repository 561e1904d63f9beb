// Loads the compiled grammar (built by scripts/build-grammar.js at the project root).
const path = require('path');

const binary = path.join(__dirname, '..', '..', 'build', 'Release', 'tree_sitter_neural_binding.node');

module.exports = require(binary);
module.exports.binaryPath = binary;

try {
  module.exports.nodeTypeInfo = require('../../src/node-types.json');
} catch (_) {
  // node-types.json is optional at run time
}
