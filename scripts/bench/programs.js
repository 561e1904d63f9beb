// The benchmark programs: source, inputs (per-sample shape, sampling range, batched or not) and
// params, in the order native/tools/bench_eager.cpp and scripts/bench/torch_anchor.py write them.
'use strict';
const fs = require('fs');
const path = require('path');

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');
const example = (file) => fs.readFileSync(path.join(EXAMPLES, file), 'utf8');

const scalar = (lo, hi) => ({ shape: [], lo, hi, batched: true });

/** Runtime programs: each has a hand-written anchor of the same name. */
const PROGRAMS = {
  gravity: {
    source: example('feynman/gravity.neural'),
    inputs: { m1: scalar(1e3, 1e6), m2: scalar(1e3, 1e6), r: scalar(1, 100) },
    params: { G: 6.674e-11 },
  },
  relativistic_energy: {
    source: example('feynman/relativistic_energy.neural'),
    inputs: { m0: scalar(1, 10), v: scalar(1e7, 2e8) },
    params: { c: 2.99792458e8 },
  },
  barometric: {
    source: example('feynman/barometric.neural'),
    inputs: { x: scalar(0, 1e4), T: scalar(200, 300) },
    params: { n0: 2.5e25, m: 4.8e-26, g: 9.81, kB: 1.380649e-23 },
  },
  gaussian: { source: example('feynman/gaussian.neural'), inputs: { x: scalar(-3, 3) }, params: { sigma: 1 } },
  harmonic_oscillator: {
    source: example('feynman/harmonic_oscillator.neural'),
    inputs: { t: scalar(0, 10) },
    params: { A: 1.5, omega: 2, phi: 0.3 },
  },
  composition: {
    composition: ['add_one', 'square', 'sin', 'double', 'exp', 'negate', 'cube'],
    inputs: { x: scalar(-1, 1) },
    params: {},
  },
  heat_step: {
    source: example('heat_step.neural'),
    inputs: {
      u: { shape: [8], lo: 0, hi: 1, batched: true },
      L: { shape: [8, 8], lo: -1, hi: 1, batched: false },
      dt: { shape: [], lo: 1e-3, hi: 1e-2, batched: false },
    },
    params: { alpha: 0.5 },
  },
  gravity_3d: {
    source: example('gravity_3d.neural'),
    inputs: { r: { shape: [3], lo: 1, hi: 10, batched: true }, m1: scalar(1e3, 1e6), m2: scalar(1e3, 1e6) },
    params: { G: 6.674e-11 },
  },
};

/** chainN: v = x, then N ops in turn: sin v, a*v, v+x, v*v (bounded for x in [0, 1], a = 1.1). */
function chainSource(n) {
  const ops = (v) => [`(sin ${v})`, `(* a ${v})`, `(+ ${v} x)`, `(* ${v} ${v})`];
  const bindings = Array.from({ length: n }, (_, k) => `(v${k + 1} ${ops(`v${k}`)[k % 4]})`);
  return `(let ((v0 x) ${bindings.join(' ')}) v${n})`;
}

function chain(n) {
  return { source: chainSource(n), inputs: { x: scalar(0, 1) }, params: { a: 1.1 } };
}

/** Every Feynman example, for compile latency (no anchor needed). */
function feynmanSources() {
  const dir = path.join(EXAMPLES, 'feynman');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.neural'))
    .sort()
    .map((f) => ({ name: f.replace('.neural', ''), source: example(`feynman/${f}`) }));
}

module.exports = { PROGRAMS, chain, chainSource, feynmanSources, EXAMPLES };
