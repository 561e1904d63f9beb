// The plain-JS anchor for batch 1: a program's (unfused) op graph written out as straight-line
// float64 code, forward and forward plus reverse-mode gradients, as one would by hand. Programs with
// anything but scalar elementwise ops have no JS anchor.
'use strict';

/** Forward expression of node i over value names v<k>; undefined when the op is not supported. */
function forwardExpr(node, v) {
  const a = node.args.map(v);
  const n = a.length;
  switch (node.op) {
    case 'input':
      return `x[${node.index}]`;
    case 'param':
      return `p[${node.index}]`;
    case 'const':
      return node.shape.length === 0 ? String(node.data[0]) : undefined;
    case '+':
      return a.join(' + ');
    case '*':
      return a.join(' * ');
    case '-':
      return n === 1 ? `-${a[0]}` : a.join(' - ');
    case '/':
      return n === 1 ? `1 / ${a[0]}` : a.join(' / ');
    case 'neg':
      return `-${a[0]}`;
    case 'square':
      return `${a[0]} * ${a[0]}`;
    case 'pow-scalar':
      return node.attrs[0] === 2 ? `${a[0]} * ${a[0]}` : `Math.pow(${a[0]}, ${node.attrs[0]})`;
    case 'sqrt':
    case 'exp':
    case 'log':
    case 'sin':
    case 'cos':
      return `Math.${node.op}(${a[0]})`;
    default:
      return undefined;
  }
}

/** Adjoint statements of node i (d<k> are adjoints); undefined when not supported. */
function reverseStmts(node, i, v, d) {
  const [a, b] = node.args;
  const g = d(i);
  const unary = node.args.length === 1;
  switch (node.op) {
    case 'input':
    case 'param':
    case 'const':
      return [];
    case '+':
      return node.args.map((k) => `${d(k)} += ${g};`);
    case '-':
      return unary ? [`${d(a)} -= ${g};`] : node.args.map((k, j) => `${d(k)} ${j === 0 ? '+' : '-'}= ${g};`);
    case '*':
      return node.args.length === 2 ? [`${d(a)} += ${g} * ${v(b)};`, `${d(b)} += ${g} * ${v(a)};`] : undefined;
    case '/':
      if (unary) return [`${d(a)} -= ${g} * ${v(i)} * ${v(i)};`];
      return node.args.length === 2
        ? [`${d(a)} += ${g} / ${v(b)};`, `${d(b)} -= ${g} * ${v(i)} / ${v(b)};`]
        : undefined;
    case 'neg':
      return [`${d(a)} -= ${g};`];
    case 'square':
      return [`${d(a)} += 2 * ${v(a)} * ${g};`];
    case 'pow-scalar':
      return [`${d(a)} += ${g} * ${node.attrs[0]} * Math.pow(${v(a)}, ${node.attrs[0] - 1});`];
    case 'sqrt':
      return [`${d(a)} += ${g} / (2 * ${v(i)});`];
    case 'exp':
      return [`${d(a)} += ${g} * ${v(i)};`];
    case 'log':
      return [`${d(a)} += ${g} / ${v(a)};`];
    case 'sin':
      return [`${d(a)} += ${g} * Math.cos(${v(a)});`];
    case 'cos':
      return [`${d(a)} -= ${g} * Math.sin(${v(a)});`];
    default:
      return undefined;
  }
}

/**
 * {forward(x, p), backward(x, p, grads)} for a single-region graph of scalar ops, or undefined.
 * grads receives d(out)/d(inputs) then d(out)/d(params).
 */
function jsAnchor(graph) {
  if (graph.regions.length !== 1) return undefined;
  const { nodes, results } = graph.regions[0];
  if (nodes.some((n) => n.shape.length > 0)) return undefined;
  const v = (k) => `v${k}`;
  const d = (k) => `d${k}`;
  const fwd = nodes.map((n, i) => forwardExpr(n, v) && `const v${i} = ${forwardExpr(n, v)};`);
  const rev = nodes.map((n, i) => reverseStmts(n, i, v, d)).reverse();
  if (fwd.some((s) => s === undefined) || rev.some((s) => s === undefined)) return undefined;
  const out = results[0];
  const inputs = graph.inputs.length;
  const grads = nodes.flatMap((n, i) =>
    n.op === 'input' ? [`g[${n.index}] = d${i};`] : n.op === 'param' ? [`g[${inputs + n.index}] = d${i};`] : [],
  );
  const body = fwd.join('\n');
  const adjoints = nodes.map((_, i) => `let d${i} = ${i === out ? 1 : 0};`).join('\n');
  return {
    forward: new Function('x', 'p', `${body}\nreturn v${out};`),
    backward: new Function(
      'x',
      'p',
      'g',
      `${body}\n${adjoints}\n${rev.flat().join('\n')}\n${grads.join('\n')}\nreturn v${out};`,
    ),
  };
}

module.exports = { jsAnchor };
