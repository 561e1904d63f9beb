// Generator 2: structural mutations of the example programs: delete, duplicate, swap subtrees,
// numbers to extremes, renamed identifiers, deeper nesting. Several mutations may stack.
import * as fs from 'fs';
import * as path from 'path';
import { PRIMITIVES } from '../ops';
import { Rng } from './random';
import { get, parse, paths, printAll, replace, type Node } from './sexpr';

const EXTREMES = [
  '0',
  '-0',
  '-0.0',
  '1e308',
  '-1e308',
  '1e309',
  '-1e309',
  '1e-320',
  '4.9e-324',
  '1000000',
  '-1',
  '1e6',
  '2147483648',
  '0.5',
  '3',
  '1e15',
];
const NAMES = [
  'x',
  'y',
  'n',
  'v',
  'pi',
  'acc',
  'define',
  'if',
  'loop',
  'recur',
  'lambda',
  'else',
  ...PRIMITIVES.map((p) => p.name),
];

let examples: { file: string; forms: Node[] }[] | undefined;

/** The example programs under examples/, parsed once. */
export function exampleForms(): { file: string; forms: Node[] }[] {
  if (examples) return examples;
  const root = path.join(__dirname, '..', '..', 'examples');
  const files: string[] = [];
  const visit = (d: string) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .forEach((e) =>
        e.isDirectory() ? visit(path.join(d, e.name)) : e.name.endsWith('.neural') && files.push(path.join(d, e.name)),
      );
  visit(root);
  examples = files
    .sort()
    .map((file) => ({ file: path.relative(root, file), forms: parse(fs.readFileSync(file, 'utf8'))! }));
  return examples;
}

const isNumber = (n: Node) => typeof n === 'string' && /^[-+]?(\d|\.\d)/.test(n);

function mutateOnce(forms: Node[], rng: Rng): Node[] {
  const all = paths(forms);
  if (all.length === 0) return forms;
  const at = rng.pick(all);
  const node = get(forms, at);
  switch (rng.int(0, 6)) {
    case 0:
      return replace(forms, at, []);
    case 1:
      return replace(forms, at, [node, node]);
    case 2: {
      const other = rng.pick(all);
      // Swapping a node with one inside it would lose one of them; skip those pairs.
      if (
        other.join() === at.join() ||
        other.join().startsWith(at.join() + ',') ||
        at.join().startsWith(other.join() + ',')
      )
        return forms;
      return replace(replace(forms, at, [get(forms, other)]), other, [node]);
    }
    case 3: {
      const numbers = all.filter((p) => isNumber(get(forms, p)));
      return numbers.length > 0 ? replace(forms, rng.pick(numbers), [rng.pick(EXTREMES)]) : forms;
    }
    case 4: {
      const names = all.filter((p) => typeof get(forms, p) === 'string' && !isNumber(get(forms, p)));
      return names.length > 0
        ? replace(forms, rng.pick(names), [rng.chance(0.8) ? rng.pick(NAMES) : `z${rng.int(0, 9)}`])
        : forms;
    }
    case 5: {
      let deep: Node = node;
      for (let i = rng.int(1, 20); i > 0; i--)
        deep = rng.chance(0.5)
          ? { open: '(', items: ['+', '0', deep] }
          : { open: '(', items: ['let', { open: '(', items: [{ open: '(', items: ['t', deep] }] }, 't'] };
      return replace(forms, at, [deep]);
    }
    default:
      return typeof node === 'string'
        ? forms
        : replace(forms, at, [{ open: node.open === '(' ? '[' : '(', items: node.items }]);
  }
}

export interface MutatedCase {
  source: string;
  example: string;
}

export function mutateCase(seed: number): MutatedCase {
  const rng = new Rng(seed);
  const example = rng.pick(exampleForms());
  let forms = example.forms;
  for (let n = rng.int(1, 4); n > 0; n--) forms = mutateOnce(forms, rng);
  const source = printAll(forms);
  // Nesting around the depth limit, made as text: trees this deep would overflow the tree walks here.
  if (!rng.chance(0.05)) return { source, example: example.file };
  const levels = rng.int(900, 3000);
  return { source: `${'(+ 0 '.repeat(levels)}${source}${')'.repeat(levels)}`, example: example.file };
}
