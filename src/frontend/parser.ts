// Loads the tree-sitter runtime and the neural grammar's Node binding, once.
import path from 'path';
import type Parser from 'tree-sitter';

const GRAMMAR_DIR = path.join(__dirname, '..', '..', 'tree-sitter-neural');

let parser: Parser | undefined;

export function getParser(): Parser {
  if (parser) return parser;
  // Required lazily so that merely importing the front end never touches native code.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const TreeSitter = require('tree-sitter') as typeof Parser;
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
