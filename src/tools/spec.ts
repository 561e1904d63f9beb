// The whole language as data (`neuralc spec --json`, the MCP tool `spec`): special forms, every
// primitive with its arity, shape rule in words, doc line and example, the diagnostic codes with
// their message templates, and the limits. Generated from the tables the compiler itself reads.
import { DEFAULT_LIMIT, DEFAULT_MAX_STEPS } from '../api/module';
import { MAX_GRAPH_CONSTANTS, MAX_GRAPH_NODES } from '../compiler/lower';
import { DIAGNOSTIC_CODES } from '../diagnostics';
import { MAX_DEPTH, MAX_SOURCE_LENGTH } from '../frontend';
import { USAGE } from '../frontend/forms';
import { RESERVED } from '../frontend/scope';
import { arityText, PRIMITIVES } from '../ops';
import { shapeWords } from '../ops/shape-words';

/** What each special form means; usage lines come from the front end's own table. */
const FORM_MEANINGS: Record<string, string> = {
  define: 'Top level only, before the result: a value, or a function (top-level functions may be mutually recursive).',
  let: 'Binds names in order (each value sees the names before it) and evaluates the body.',
  'let*': 'The same as let.',
  if: 'Chooses per sample for a scalar test (true is nonzero); elementwise for a vector or matrix test. Both branches have one shape.',
  cond: 'The first clause whose test is nonzero; (else expr) is required and last.',
  letrec: 'Local functions, visible to each other and to themselves (recursion).',
  lambda: 'Only as the value of a letrec binding.',
  loop: 'Evaluates the body with the names bound to their initial values; (recur ...) in tail position starts the next iteration.',
  recur:
    'Inside a loop body, in tail position: the next iteration, one new value per loop name, each of its initial shape.',
};
const FORM_USAGE: Record<string, string> = { ...USAGE, recur: '(recur value ...)' };

export interface LanguageSpec {
  language: string;
  syntax: Record<string, string>;
  reserved: string[];
  forms: { name: string; usage: string; meaning: string }[];
  primitives: {
    name: string;
    group: string;
    minArgs: number;
    /** null: any number (n-ary). */
    maxArgs: number | null;
    arity: string;
    shape: string;
    doc: string;
    example: string;
    gradient: string;
  }[];
  diagnostics: { code: string; severity: string; template: string }[];
  limits: Record<string, { value: number | string; meaning: string }>;
}

export function languageSpec(): LanguageSpec {
  return {
    language:
      'neural: a first-order Scheme-like language over scalars, vectors and matrices, compiled to differentiable libtorch modules',
    syntax: {
      comments: '; to the end of the line, and #| ... |# block comments (they nest)',
      numbers: '3, -2.5, .5, 1., 6.674e-11, 1E3, +4',
      booleans: '#t and #true are 1, #f and #false are 0',
      vectors: '[a b c] is (vec a b c)',
      pi: 'pi is the constant 3.14159... in the module dtype',
      program: 'zero or more (define ...) forms, then exactly one result expression',
      inputs:
        'a free identifier is an input (given per call) or a param (trainable, held by the module); the caller says which',
      truth: 'a test is true where it is nonzero; comparisons and and/or/not give 1 or 0',
    },
    reserved: [...RESERVED],
    forms: Object.entries(FORM_USAGE).map(([name, usage]) => ({ name, usage, meaning: FORM_MEANINGS[name] })),
    primitives: PRIMITIVES.map((p) => ({
      name: p.name,
      group: p.group,
      minArgs: p.minArgs,
      maxArgs: p.maxArgs === Infinity ? null : p.maxArgs,
      arity: arityText(p),
      shape: shapeWords(p),
      doc: p.doc,
      example: p.example,
      gradient: p.gradient,
    })),
    diagnostics: Object.entries(DIAGNOSTIC_CODES).map(([code, info]) => ({
      code,
      severity: info.severity,
      template: info.template,
    })),
    limits: {
      sourceLength: { value: MAX_SOURCE_LENGTH, meaning: 'characters in a program (E0009)' },
      nesting: { value: MAX_DEPTH, meaning: 'levels of nested brackets (E0008)' },
      graphNodes: { value: MAX_GRAPH_NODES, meaning: 'nodes in a compiled graph (E0109)' },
      graphConstants: { value: MAX_GRAPH_CONSTANTS, meaning: 'constant elements in a compiled graph (E0109)' },
      limit: {
        value: DEFAULT_LIMIT,
        meaning: 'default loop iterations and recursion depth per sample (compile option limit, E0205)',
      },
      maxSteps: {
        value: DEFAULT_MAX_STEPS,
        meaning: 'default loop iterations and calls in all per run (compile option maxSteps, E0207)',
      },
      memory: { value: 'half of the machine memory', meaning: 'the values one run computes (E0208)' },
    },
  };
}
