// Compile latency, split: parse (text to resolved AST), lower (AST to op graph, shape checks),
// passes (fold/CSE/DCE), fuse, native (the libtorch module built from the spec); the addon is
// loaded beforehand, so its load time is excluded.
'use strict';
const { median } = require('./measure');

function stagesOf(dist) {
  const { parseProgram } = require(`${dist}/frontend`);
  const { lowerProgram } = require(`${dist}/compiler/lower`);
  const { optimize } = require(`${dist}/compiler/passes`);
  const { fuseElementwise } = require(`${dist}/compiler/fuse`);
  const { native } = require(`${dist}/runtime/native`);
  const { nativeSpec } = require(`${dist}/runtime/spec`);
  const { tensor } = require(`${dist}/runtime/tensor`);
  return { parseProgram, lowerProgram, optimize, fuseElementwise, native, nativeSpec, tensor };
}

/** One compile of `source` with scalar inputs, batched, and scalar params, timed per stage (microseconds). */
function compileOnce(s, source, inputs, params) {
  const t = [process.hrtime.bigint()];
  const mark = () => t.push(process.hrtime.bigint());
  const parsed = s.parseProgram(source, { inputs, params: params.map((p) => p.name) });
  if (!parsed.program)
    throw new Error(`bench: program does not parse: ${parsed.diagnostics.map((d) => d.message).join('; ')}`);
  mark();
  const lowered = s.lowerProgram(parsed.program, {
    inputs: inputs.map((name) => ({ name, shape: [], batched: true })),
    params: params.map((p) => ({ name: p.name, shape: [] })),
    limit: 10000,
    source: parsed.source,
  });
  mark();
  const optimized = s.optimize(lowered);
  const nodes = optimized.regions.reduce((n, r) => n + r.nodes.length, 0); // before fusion rewrites the graph
  mark();
  const graph = s.fuseElementwise(optimized);
  mark();
  const g = new (s.native().NativeGraph)(
    s.nativeSpec(graph, 1_000_000),
    params.map((p) => ({ name: p.name, tensor: p.tensor.handle })),
    'float32',
    'cpu',
    [],
  );
  mark();
  g.dispose();
  const us = (k) => Number(t[k + 1] - t[k]) / 1e3;
  return {
    parse: us(0),
    lower: us(1),
    passes: us(2),
    fuse: us(3),
    native: us(4),
    total: Number(t[5] - t[0]) / 1e3,
    nodes,
  };
}

/** Median of each stage over `reps` compiles (after warm-up). */
function compileLatency(dist, source, inputs, paramNames, reps) {
  const s = stagesOf(dist);
  const params = paramNames.map((name) => ({ name, tensor: s.tensor(1, { requiresGrad: true }) }));
  for (let i = 0; i < 20; i++) compileOnce(s, source, inputs, params);
  const runs = Array.from({ length: reps }, () => compileOnce(s, source, inputs, params));
  for (const p of params) p.tensor.dispose();
  const out = {};
  for (const key of Object.keys(runs[0])) out[key] = median(runs.map((r) => r[key]));
  return out;
}

module.exports = { compileLatency };
