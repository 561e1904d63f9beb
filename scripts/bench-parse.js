// Front-end benchmark: parse + check time of a generated 10,000-line program (median of repeated
// runs, after warm-up). Run after a build: `node scripts/bench-parse.js [--lines N] [--runs N]`.
'use strict';
const path = require('path');
const { parseProgram } = require(path.join(__dirname, '..', 'dist', 'frontend'));

function argument(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** N lines: a chain of defined values and functions, each line a small physics-like expression. */
function program(lines) {
  const out = ['(define (f a b) (+ (* a (sin b)) (/ b (+ 1 (* a a)))))'];
  for (let i = 1; i < lines - 1; i++) {
    const prev = i === 1 ? 'x' : `v${i - 1}`;
    out.push(`(define v${i} (let ((s (* ${prev} 0.5))) (if (> s 0) (f s k) (- (sqrt (+ 1 (square s))) k))))`);
  }
  out.push(`(+ v${lines - 2} x)`);
  return out.join('\n');
}

const lines = argument('--lines', 10000);
const runs = argument('--runs', 15);
const source = program(lines);
const once = () => {
  const t0 = process.hrtime.bigint();
  const r = parseProgram(source, { params: ['k'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!r.program) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return ms;
};
for (let i = 0; i < 3; i++) once();
const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(
  `parse + check of a ${lines}-line program (${(source.length / 1024).toFixed(0)} KiB): median ${median.toFixed(1)} ms over ${runs} runs (min ${times[0].toFixed(1)}, max ${times[times.length - 1].toFixed(1)})`,
);
