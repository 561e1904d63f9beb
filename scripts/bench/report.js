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

const ns = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ns` : '—');

/** valueAndGrad and forward+backward on the tier against the batch-1 forward+backward anchors of `runtime`. */
function tierTable(rows, runtime) {
  return table(
    [
      'program',
      'valueAndGrad, params',
      'valueAndGrad, all',
      'all / C++ fwd+bwd',
      'all / PyTorch fwd+bwd',
      'all / JS fwd+bwd',
      'batch 1,000, all',
      'Tensors fwd+bwd (tier)',
      '/ PyTorch',
    ],
    rows.map((r) => {
      const anchor = runtime.find((x) => x.program === r.program && x.batch === 1 && !x.ops);
      return [
        r.program,
        fmt(r.params),
        fmt(r.all),
        ratio(r.all, anchor?.eager?.backward),
        ratio(r.all, anchor?.torch?.backward),
        ratio(r.all, anchor?.js?.backward),
        fmt(r.batch1000),
        fmt(r.tensors),
        ratio(r.tensors, anchor?.torch?.backward),
      ];
    }),
  );
}

/** The tier's cost per op beside the libtorch path's per-op cost at batch 1 (from the chain rows). */
function tierOpTable(rows, chains) {
  return table(
    [
      'chain ops',
      'tier valueAndGrad / op, batch 1',
      'tier / op / element, batch 1,000',
      'libtorch fwd+bwd / op, batch 1',
    ],
    rows.map((r) => {
      const c = chains.find((x) => x.ops === r.n);
      return [r.n, ns(r.perOpNs), ns(r.perElementOpNs), fmt(c && c.ours.backward / c.ops)];
    }),
  );
}

module.exports = { compileTable, runtimeTable, chainTable, tierTable, tierOpTable, fmt, ratio, table };
