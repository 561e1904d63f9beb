// Loads the neural grammar's Node binding, once, and parses with it. The binding compiles in the
// tree-sitter C runtime and returns the whole syntax tree from one native call as a flat array (see
// tree-sitter-neural/DESIGN.md, "The flat tree"), so reading the tree crosses into native code once.
import path from 'path';
import { SourceFile } from './source';

const GRAMMAR_DIR = path.join(__dirname, '..', '..', 'tree-sitter-neural');

interface GrammarBinding {
  /** Type names by type id; the last one is `ERROR`. */
  types: string[];
  /** Field names by field id; id 0 (no field) is ''. */
  fields: string[];
  nodeWords: number;
  parse(text: string): Uint32Array;
  sexp(text: string): string;
}

/** Words per node in `SyntaxTree.nodes`, and the meaning of word 0's bits. */
export const NODE_WORDS = 4;
export const TYPE_MASK = 0xffff;
export const FIELD_SHIFT = 16;
export const FLAG_NAMED = 1 << 24;
export const FLAG_MISSING = 1 << 25; // (1 << 26 marks extras, comments; the reader knows them by type)

/**
 * A syntax tree in preorder, NODE_WORDS words per node: node i has `nodes[4i]` = type id | field id << 16
 * | flags, `nodes[4i+1]`, `nodes[4i+2]` = start and end (UTF-16 offsets, so they index the JS string),
 * `nodes[4i+3]` = the index just past its subtree (its children are the nodes from i + 1 up to that,
 * each child followed by its own subtree). Node 0 is the root.
 */
export interface SyntaxTree {
  nodes: Uint32Array;
  count: number;
  types: readonly string[];
  fields: readonly string[];
}

let binding: GrammarBinding | undefined;

function grammar(): GrammarBinding {
  if (binding) return binding;
  let loaded: GrammarBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(GRAMMAR_DIR) as GrammarBinding;
  } catch (err) {
    throw new Error(
      `the neural grammar's Node binding is not built (${(err as Error).message.split('\n')[0]}); ` +
        'run `npm install` or `npm run build` in the project folder',
    );
  }
  if (typeof loaded.parse !== 'function' || loaded.nodeWords !== NODE_WORDS) {
    throw new Error("the neural grammar's Node binding is out of date; run `npm run build` in the project folder");
  }
  binding = loaded;
  return loaded;
}

/** Parses text; the tree's offsets are UTF-16 offsets, as JS strings index. */
export function parseSyntax(text: string): SyntaxTree {
  const g = grammar();
  const nodes = g.parse(text);
  return { nodes, count: nodes.length / NODE_WORDS, types: g.types, fields: g.fields };
}

/** The tree-sitter runtime's own S-expression of the tree (named nodes, fields, MISSING), as `tree-sitter parse` prints it. */
export function syntaxSexp(text: string): string {
  return grammar().sexp(text);
}

/** The syntax tree as an S-expression, one node per line with its field name (`neuralc parse`). */
export function parseTree(text: string): string {
  const { nodes, count, types, fields } = parseSyntax(text);
  const source = new SourceFile(text);
  const lines: string[] = [];
  const ends: number[] = []; // subtree ends of the nodes on the path to the current one
  for (let i = 0; i < count; i++) {
    while (ends.length > 0 && ends[ends.length - 1] <= i) ends.pop();
    const word = nodes[i * NODE_WORDS];
    const next = nodes[i * NODE_WORDS + 3];
    const missing = (word & FLAG_MISSING) !== 0;
    if ((word & FLAG_NAMED) !== 0 || missing) {
      const fieldName = fields[(word >>> FIELD_SHIFT) & 0xff];
      const field = fieldName ? `${fieldName}: ` : '';
      const type = missing ? `MISSING "${types[word & TYPE_MASK]}"` : types[word & TYPE_MASK];
      let namedChildren = 0;
      for (let c = i + 1; c < next; c = nodes[c * NODE_WORDS + 3])
        if ((nodes[c * NODE_WORDS] & FLAG_NAMED) !== 0) namedChildren++;
      const start = nodes[i * NODE_WORDS + 1];
      const leaf =
        namedChildren === 0 && !missing ? ` ${JSON.stringify(text.slice(start, nodes[i * NODE_WORDS + 2]))}` : '';
      const at = source.position(start);
      lines.push(`${'  '.repeat(ends.length)}${field}(${type} ${at.line}:${at.column}${leaf})`);
    }
    ends.push(next);
  }
  return lines.join('\n');
}
