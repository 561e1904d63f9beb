// Data-parallel fits (fit's `distributed` option) in 1 and 2 processes on this machine: a larger
// algebraic fit on libtorch's path (1,000,000 samples, Adam, full batch) and a multiple-shooting ODE
// fit on the small-program tier (Lotka-Volterra, 500 windows of 50 RK4 intervals), beside a fit of
// 2 samples, whose step is the communication alone. Each process is
// a child running dist/ with one libtorch thread. A step is rank 0's time from its progress report
// after the first `few` steps to the one after `more` further steps (so the start, the rendezvous
// included, is left out), the median of five fits, taken in turn with the other process count; the
// communication per step is rank 0's time in collectives over all its steps, which includes waiting
// for the slower rank.
'use strict';
const path = require('path');
const { spawn } = require('child_process');
const net = require('net');
const os = require('os');
const { median } = require('./measure');
const { EXAMPLES } = require('./programs');

const DIST = path.resolve(__dirname, '..', '..', 'dist');
const REPEATS = 5;

const CASES = [
  {
    name: 'algebraic, 2 samples (the communication alone)',
    few: 10,
    more: 500,
    setup: `
const model = api.compile('(* a x)', { params: { a: 0.5 } });
const data = { inputs: { x: [1, 2] }, target: [3, 6] };
const options = { optimizer: 'adam', lr: 1e-4 };`,
  },
  {
    name: 'algebraic, 1,000,000 samples, libtorch path (Adam)',
    few: 5,
    more: 40,
    setup: `
const n = 1000000, xs = Array.from({ length: n }, (_, i) => (4 * i) / n);
const model = api.compile('(+ (* a (sin (* w x))) (* b (exp (* -0.5 x))) (* c (tanh x)))', { params: { a: 1, w: 1, b: 1, c: 1 } });
const data = { inputs: { x: xs }, target: xs.map((x) => 2 * Math.sin(1.5 * x) + 0.5 * Math.exp(-0.5 * x) - Math.tanh(x)) };
const options = { optimizer: 'adam', lr: 0.01 };`,
  },
  {
    name: 'ODE, 500 shooting windows of 50 RK4 intervals, small-program tier (Adam)',
    few: 10,
    more: 100,
    setup: `
const source = require('fs').readFileSync(${JSON.stringify(path.join(EXAMPLES, 'lotka_volterra.neural'))}, 'utf8');
const truth = api.compile(source, { params: { alpha: 1.1, beta: 0.4, delta: 0.1, gamma: 0.4 } });
truth.freeze();
const t = Array.from({ length: 25001 }, (_, k) => k * 0.004);
const observed = api.odeint(truth, [10, 5], t, { state: ['x', 'y'], method: 'rk4', maxSteps: 100000 });
const data = { t, observations: observed.toArray() };
const model = api.compile(source, { params: { alpha: 1, beta: 0.5, delta: 0.2, gamma: 0.5 } });
const options = { optimizer: 'adam', lr: 0.01, ode: { state: ['x', 'y'], method: 'rk4', windowSteps: 50 } };`,
  },
];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One rank's script: milliseconds per step and communication milliseconds per step, as JSON on stdout. */
function rankScript(c, distributed) {
  return `
const api = require(${JSON.stringify(DIST)});
api.setNumThreads(1);
${c.setup}
const at = {};
const onProgress = (p) => (at[p.step] = process.hrtime.bigint());
api.fit(model, data, { ...options, epochs: ${c.few + c.more}, seed: 1, onProgress, progressEvery: ${c.few}${distributed ? `, distributed: ${JSON.stringify(distributed)}` : ''} }).then((r) => {
  const ms = Number(at[${c.few + c.more}] - at[${c.few}]) / 1e6 / ${c.more};
  const commMs = r.distributed ? (r.distributed.communicationSeconds * 1e3) / r.steps : 0;
  console.log(JSON.stringify({ ms, commMs }));
});`;
}

function runChild(script) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t) => (out += t));
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`a rank exited with ${code}`)),
    );
  });
}

/**
 * Rank 0's figures for the fit in `world` processes (1: a plain fit, no distributed option), or
 * with `copies`, the first of that many plain fits run at once: what the machine gives a process
 * while another computes beside it, whatever else runs.
 */
async function runFit(c, world, copies = 1) {
  if (world === 1) return (await Promise.all(Array.from({ length: copies }, () => runChild(rankScript(c)))))[0];
  const init = `tcp://127.0.0.1:${await freePort()}`;
  const ranks = Array.from({ length: world }, (_, rank) =>
    runChild(rankScript(c, { rank, worldSize: world, init, timeout: 120 })),
  );
  return (await Promise.all(ranks))[0];
}

const summary = (runs) => ({ ms: median(runs.map((r) => r.ms)), commMs: median(runs.map((r) => r.commMs)) });

async function distributedSection(log) {
  const rows = [];
  const load = [os.loadavg()[0]];
  for (const c of CASES) {
    log(`distributed: ${c.name}`);
    // 1 and 2 processes in turn, so that both see the same load from whatever else runs.
    const one = [];
    const beside = [];
    const two = [];
    for (let i = 0; i < REPEATS; i++) {
      one.push(await runFit(c, 1));
      beside.push(await runFit(c, 1, 2));
      two.push(await runFit(c, 2));
    }
    rows.push({ name: c.name, one: summary(one), beside: summary(beside), two: summary(two) });
  }
  load.push(os.loadavg()[0]);
  return { rows, load };
}

function distributedReport({ rows, load }) {
  const lines = [
    `Load average (1 min) at the start and the end of this section: ${load.map((l) => l.toFixed(2)).join(' and ')}.`,
    '',
    '| fit | 1 process: ms per step | the same, 2 copies at once | 2 processes: ms per step | speed-up | communication per step (rank 0) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.name} | ${r.one.ms.toFixed(3)} | ${r.beside.ms.toFixed(3)} | ${r.two.ms.toFixed(3)} | ${(r.one.ms / r.two.ms).toFixed(2)}x | ${r.two.commMs.toFixed(3)} ms |`,
    );
  return lines.join('\n');
}

module.exports = { distributedSection, distributedReport };
