// Generator 1: random bytes (decoded as UTF-8 or Latin-1, so NULs, U+FFFD and lone surrogates
// appear) and random soups of the language's own tokens, which get much further into the front end.
import { PRIMITIVES } from '../ops';
import { Rng } from './random';

const FORMS = ['define', 'let', 'let*', 'letrec', 'lambda', 'if', 'cond', 'else', 'loop', 'recur'];
const NUMBERS = [
  '0',
  '-0',
  '1',
  '-2.5',
  '.5',
  '1.',
  '1e308',
  '1e309',
  '-1e309',
  '1e-320',
  '4.9e-324',
  '1e',
  '1.2.3',
  '3x',
  '+4',
  '1000000',
  '999999999999',
  'NaN',
  'inf',
];
const ATOMS = [
  'x',
  'y',
  'v',
  'theta_dot',
  'even?',
  '-x',
  'pi',
  '#t',
  '#f',
  '#true',
  '#x',
  '#',
  "'",
  '"',
  '`',
  ',',
  '\\',
  '|#',
  '#|',
  ';',
  '\n',
  '\t',
  ' ',
  '.',
];
const VOCABULARY = [...FORMS, ...NUMBERS, ...ATOMS, ...PRIMITIVES.map((p) => p.name)];
const BRACKETS = ['(', '(', '(', ')', ')', ')', '[', ']'];

export function bytesCase(seed: number): string {
  const rng = new Rng(seed);
  if (rng.chance(0.3)) {
    const bytes = Buffer.from(
      Array.from({ length: rng.int(0, 200) }, () => (rng.chance(0.7) ? rng.int(32, 126) : rng.int(0, 255))),
    );
    return bytes.toString(rng.chance(0.5) ? 'utf8' : 'latin1');
  }
  if (rng.chance(0.1)) return String.fromCharCode(...Array.from({ length: rng.int(1, 50) }, () => rng.int(0, 0xffff)));
  const out: string[] = [];
  for (let n = rng.int(1, 60); n > 0; n--) out.push(rng.chance(0.35) ? rng.pick(BRACKETS) : rng.pick(VOCABULARY));
  return out.join(rng.chance(0.8) ? ' ' : '');
}
