// Our side of the runtime figures: a compiled module (fused or not) called from JS as a user would,
// forward without gradient, and forward plus out.sum().backward() with every input and param
// requiring a gradient (as the anchors do).
'use strict';
const fs = require('fs');
const path = require('path');
const { timeUs } = require('./measure');
const { EXAMPLES } = require('./programs');

/** Deterministic uniform numbers in [lo, hi), so every run sees the same data. */
function uniform(n, lo, hi, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}

function build(api, prog, options) {
  const inputs = Object.fromEntries(
    Object.entries(prog.inputs).map(([name, i]) => [name, i.shape.length === 0 ? 'scalar' : i.shape]),
  );
  if (!prog.composition) return api.compile(prog.source, { inputs, params: prog.params, ...options });
  // As chain() composes, with our options on the composite.
  const stages = prog.composition.map((name) =>
    api.compile(fs.readFileSync(path.join(EXAMPLES, 'composition', `${name}.neural`), 'utf8'), {
      inputs: { x: 'scalar' },
    }),
  );
  const call = stages.reduce((inner, _, k) => `(stage${k + 1} ${inner})`, 'x');
  return api.compile(call, {
    inputs,
    functions: Object.fromEntries(stages.map((m, k) => [`stage${k + 1}`, m])),
    ...options,
  });
}

function makeInputs(api, prog, batch) {
  return Object.fromEntries(
    Object.entries(prog.inputs).map(([name, i], k) => {
      const shape = i.batched ? [batch, ...i.shape] : i.shape;
      const n = shape.reduce((a, b) => a * b, 1);
      return [name, api.tensor(uniform(n, i.lo, i.hi, k + 1), { shape, requiresGrad: true })];
    }),
  );
}

/** Median microseconds of forward and of forward+backward for one program at one batch size. */
function measureModule(api, prog, batch, options, minMs) {
  const m = build(api, prog, options);
  const inputs = makeInputs(api, prog, batch);
  const forward = timeUs(() => m.forward(inputs, { grad: false }).dispose(), minMs);
  const backward = timeUs(() => {
    const out = m.forward(inputs, { grad: true });
    const total = out.sum();
    total.backward();
    total.dispose();
    out.dispose();
  }, minMs);
  const graph = m.graph;
  for (const t of Object.values(inputs)) t.dispose();
  m.dispose();
  return { forward, backward, graph };
}

module.exports = { measureModule, build, makeInputs, uniform };
