/**
 * Tree-sitter grammar for the neural language: a small first-order Scheme.
 *
 * Well-formed special forms get dedicated rules with fields (for queries and editors). A
 * parenthesized form headed by a keyword that does not fit its rule still parses, as an
 * `invalid_special_form`, so the TypeScript front end can say precisely what is wrong instead of
 * facing an ERROR node. Both parses are explored by GLR; dynamic precedence prefers the
 * dedicated rule. See DESIGN.md.
 */

// Scheme identifier characters, minus the ones that start numbers or delimit tokens. Any Unicode
// letter is one too (θ, ω, Δt), and after the first, Unicode marks and digits (x₀, a combining accent).
const INITIAL = /[a-zA-Z\p{L}!$%&*\/:<=>?^_~]/.source;
const SUBSEQUENT = /[a-zA-Z0-9\p{L}\p{M}\p{N}!$%&*\/:<=>?^_~+\-.]/.source;
const DELIMITER_FREE = /[^\s()\[\];]/.source;

const KEYWORDS = ['define', 'let', 'let*', 'letrec', 'lambda', 'if', 'cond', 'else', 'loop', 'recur'];

const parens = (...items) => seq('(', ...items, ')');
const special = (...items) => prec.dynamic(1, parens(...items));

module.exports = grammar({
  name: 'neural',

  extras: ($) => [/\s/, $.line_comment, $.block_comment],
  externals: ($) => [$.block_comment],
  word: ($) => $.symbol,

  conflicts: ($) => [
    [$._expression, $.function_binding],
    [$.else_clause, $.invalid_special_form],
    [$._expression, $.binding],
    [$._expression, $.parameters],
    [$.signature, $._expression],
    [$.recur, $.invalid_special_form],
    [$.if, $.invalid_special_form],
    [$.value_definition, $._expression],
    [$.call, $.bindings],
    [$.call, $.function_bindings],
    [$.call, $.parameters],
    [$.call, $.cond_clause],
  ],

  rules: {
    // Order of definitions and the single result expression is checked by the front end.
    program: ($) => repeat(choice($.function_definition, $.value_definition, $._expression)),

    function_definition: ($) => special('define', field('signature', $.signature), field('body', $._expression)),
    signature: ($) => parens(field('name', $.symbol), repeat(field('param', $.symbol))),
    value_definition: ($) => special('define', field('name', $.symbol), field('value', $._expression)),

    _expression: ($) =>
      choice(
        $.number,
        $.invalid_number,
        $.boolean,
        $.symbol,
        $.vector,
        $.let,
        $.if,
        $.cond,
        $.letrec,
        $.lambda,
        $.loop,
        $.recur,
        $.call,
        $.invalid_special_form,
      ),

    let: ($) => special(field('keyword', choice('let', 'let*')), field('bindings', $.bindings), field('body', $._expression)),
    bindings: ($) => parens(repeat($.binding)),
    binding: ($) => parens(field('name', $.symbol), field('value', $._expression)),

    if: ($) =>
      special('if', field('test', $._expression), field('consequent', $._expression), field('alternative', $._expression)),

    cond: ($) => special('cond', repeat(field('clause', $.cond_clause)), field('else', $.else_clause)),
    cond_clause: ($) => parens(field('test', $._expression), field('body', $._expression)),
    else_clause: ($) => parens('else', field('body', $._expression)),

    letrec: ($) => special('letrec', field('bindings', $.function_bindings), field('body', $._expression)),
    function_bindings: ($) => parens(repeat($.function_binding)),
    function_binding: ($) => parens(field('name', $.symbol), field('value', $.lambda)),
    lambda: ($) => special('lambda', field('params', $.parameters), field('body', $._expression)),
    parameters: ($) => parens(repeat(field('param', $.symbol))),

    loop: ($) => special('loop', field('bindings', $.bindings), field('body', $._expression)),
    recur: ($) => special('recur', repeat(field('arguments', $._expression))),

    call: ($) => parens(optional(seq(field('operator', $._expression), repeat(field('arguments', $._expression))))),
    invalid_special_form: ($) => parens(field('keyword', choice(...KEYWORDS)), repeat(field('arguments', $._expression))),

    vector: ($) => seq('[', repeat(field('elements', $._expression)), ']'),

    number: (_) => token(/[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?/),
    // Anything else starting like a number (`1.2.3`, `1e`, `3x`): one token, so the front end can
    // report it as a malformed number rather than as two atoms.
    invalid_number: (_) => token(new RegExp(`[+-]?\\.?[0-9]${DELIMITER_FREE}*`)),
    boolean: (_) => choice('#t', '#f', '#true', '#false'),
    symbol: (_) => token(choice(/[+-]/, new RegExp(`[+-]?${INITIAL}${SUBSEQUENT}*`))),

    line_comment: (_) => token(seq(';', /.*/)),
  },
});
