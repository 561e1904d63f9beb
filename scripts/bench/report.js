// The Markdown report: each figure beside its anchors, as ratios measured in the same run.
'use strict';

const fmt = (us) =>
  us === undefined
    ? '—'
    : us >= 1e4
      ? `${(us / 1e3).toFixed(1)} ms`
      : us >= 100
        ? `${us.toFixed(0)} us`
        : `${us.toFixed(2)} us`;
const ratio = (a, b) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}x`);
const row = (cells) => `| ${cells.join(' | ')} |`;
const table = (head, rows) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');

function compileTable(results) {
  return table(
    ['program', 'nodes', 'parse', 'lower + check', 'passes', 'fuse', 'native build', 'total'],
    results.map((r) => [
      r.name,
      r.nodes,
      fmt(r.parse),
      fmt(r.lower),
      fmt(r.passes),
      fmt(r.fuse),
      fmt(r.native),
      fmt(r.total),
    ]),
  );
}

/** One table per mode ('forward' or 'backward'): ours fused and unfused against each anchor. */
function runtimeTable(results, mode) {
  return table(
    [
      'program',
      'batch',
      'ours',
      'ours, fuse: false',
      'libtorch C++',
      'ours / C++',
      'unfused / C++',
      'PyTorch',
      'ours / PyTorch',
      'JS float64',
      'ours / JS',
    ],
    results.map((r) => [
      r.program,
      r.batch.toLocaleString('en-US'),
      fmt(r.ours[mode]),
      fmt(r.unfused?.[mode]),
      fmt(r.eager?.[mode]),
      ratio(r.ours[mode], r.eager?.[mode]),
      ratio(r.unfused?.[mode], r.eager?.[mode]),
      fmt(r.torch?.[mode]),
      ratio(r.ours[mode], r.torch?.[mode]),
      fmt(r.js?.[mode]),
      ratio(r.ours[mode], r.js?.[mode]),
    ]),
  );
}

function chainTable(results) {
  return table(
    ['chain ops', 'ours fwd / op', 'C++ fwd / op', 'ratio', 'ours fwd+bwd / op', 'C++ fwd+bwd / op', 'ratio'],
    results.map((r) => [
      r.ops,
      fmt(r.ours.forward / r.ops),
      fmt(r.eager?.forward / r.ops),
      ratio(r.ours.forward, r.eager?.forward),
      fmt(r.ours.backward / r.ops),
      fmt(r.eager?.backward / r.ops),
      ratio(r.ours.backward, r.eager?.backward),
    ]),
  );
}

module.exports = { compileTable, runtimeTable, chainTable, fmt, ratio, table };
