// Loads the tree-sitter runtime and the neural grammar's Node binding, once.
import path from 'path';
import type Parser from 'tree-sitter';

const GRAMMAR_DIR = path.join(__dirname, '..', '..', 'tree-sitter-neural');

let parser: Parser | undefined;

export function getParser(): Parser {
  if (parser) return parser;
  const TreeSitter = loadTreeSitter();
  let language: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    language = require(GRAMMAR_DIR);
  } catch (err) {
    throw new Error(
      `the neural grammar's Node binding is not built (${(err as Error).message.split('\n')[0]}); ` +
        'run `npm install` or `npm run build` in the project folder',
    );
  }
  const p = new TreeSitter();
  p.setLanguage(language as Parser.Language);
  parser = p;
  return p;
}

/**
 * node-tree-sitter's index.js patches the prototypes of its native classes. Native modules load once
 * per process, but hosts with several module registries (jest gives each test file its own) would
 * run index.js again over already-patched classes and break them. So the first evaluation is kept on
 * the native binding itself and reused. Required lazily: importing the front end touches no native code.
 */
function loadTreeSitter(): typeof Parser {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const dir = path.dirname(require.resolve('tree-sitter/package.json'));
  const binding = require(require.resolve('node-gyp-build', { paths: [dir] }))(dir) as { neuralCompilerModule?: typeof Parser };
  binding.neuralCompilerModule ??= require('tree-sitter') as typeof Parser;
  return binding.neuralCompilerModule;
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** Parses text; node-tree-sitter reads JS strings as UTF-16, so node offsets are UTF-16 offsets. */
export function parseSyntax(text: string): Parser.Tree {
  return getParser().parse(text);
}

/** The syntax tree as an S-expression, one node per line with its field name (`neuralc parse`). */
export function parseTree(text: string): string {
  const cursor = parseSyntax(text).walk();
  const lines: string[] = [];
  let depth = 0;
  for (;;) {
    if (cursor.nodeIsNamed || cursor.nodeIsMissing) {
      const field = cursor.currentFieldName ? `${cursor.currentFieldName}: ` : '';
      const type = cursor.nodeIsMissing ? `MISSING "${cursor.nodeType}"` : cursor.nodeType;
      const leaf = cursor.currentNode.namedChildCount === 0 && !cursor.nodeIsMissing ? ` ${JSON.stringify(cursor.nodeText)}` : '';
      const start = cursor.startPosition;
      lines.push(`${'  '.repeat(depth)}${field}(${type} ${start.row + 1}:${start.column + 1}${leaf})`);
    }
    if (cursor.gotoFirstChild()) {
      depth++;
      continue;
    }
    while (!cursor.gotoNextSibling()) {
      if (!cursor.gotoParent()) return lines.join('\n');
      depth--;
    }
  }
}
