// The heat 2-D section of `npm run bench` (issue 14): forward+backward of sum(u_N^2) to alpha
// through N explicit zero-flux steps (scripts/bench/heat2d-problem.js), ours beside PyTorch eager
// and hand-written libtorch C++, with the per-step cost against the machine's streaming bandwidth.
// Every figure comes from a fresh process: one for the time (median of REPS runs after a warm-up),
// another for the peak memory (the growth of the resident set over one run, the same probe on every
// side: the kernel's peak mark, reset after a small warm-up run).
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { heatSource } = require('./heat2d-problem');
const report = require('./report');
const { nativeTool } = require('./anchors');

const FLOAT = 4;
// Bytes a step must move at least, in fields: forward reads u and writes the next u; backward reads
// the incoming gradient and u (for alpha's gradient) and writes the outgoing gradient.
const FIELDS_PER_STEP = { forward: 2, backward: 3 };
// For the anchors' memory runs: every tensor's block is mapped and unmapped at free (as the addon
// does for blocks from 128 KiB), so the kernel's peak mark is exact and no reuse of malloc's heap
// goes unseen; timing runs keep glibc's defaults.
const MEMORY_ENV = { ...process.env, MALLOC_MMAP_THRESHOLD_: '4096' };

/** Runs one measurement process; its JSON line, or {error} with the reason. */
function measure(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  if (r.status === 0 && line) return JSON.parse(line);
  // The thrown error's own line (Node prints the source line above it), else the last line.
  const lines = (r.error?.message ?? r.stderr ?? '').split('\n').filter((l) => l.trim());
  const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.pop() ?? `exit ${r.status}`;
  return { error: why.trim() };
}

/** Time and memory of one implementation: `args(mode)` gives the command's arguments. */
function side(name, cmd, args) {
  const time = measure(cmd, args('time'));
  const memory = time.error ? time : measure(cmd, args('memory'), MEMORY_ENV);
  return {
    name,
    ms: time.ms,
    peakMb: memory.peakKb && memory.peakKb / 1024,
    loss: time.loss,
    grad: time.grad,
    error: time.error ?? memory.error,
  };
}

function heat2dSection(cfg, python) {
  const { n, steps, reps, threads } = cfg.heat2d;
  const dims = [String(n), String(steps)];
  const timing = (mode) => (mode === 'time' ? [String(reps), String(threads)] : [String(threads)]);
  const heatEager = nativeTool('heat2d_eager');
  const rows = [];
  if (python.python)
    rows.push(
      side('PyTorch eager', python.python, (m) => [path.join(__dirname, 'heat2d_torch.py'), m, ...dims, ...timing(m)]),
    );
  rows.push(side('libtorch C++ (hand-written)', heatEager, (m) => [m, ...dims, ...timing(m)]));
  for (const checkpoint of ['default', 'off'])
    rows.push(
      side(`ours, checkpoint ${checkpoint === 'default' ? 'default' : `'${checkpoint}'`}`, process.execPath, (m) => [
        path.join(__dirname, 'heat2d_ours.js'),
        m,
        ...dims,
        ...timing(m),
        checkpoint,
      ]),
    );
  const bandwidth = measure(heatEager, ['bandwidth', String(n), '50']);
  return { n, steps, reps, threads, rows, bandwidth, source: heatSource(steps) };
}

/** Microseconds a step needs at least: the fields it must move at a bandwidth in GB/s. */
function boundUs(n, gbPerS) {
  const bytes = (FIELDS_PER_STEP.forward + FIELDS_PER_STEP.backward) * n * n * FLOAT;
  return bytes / (gbPerS * 1e3);
}

const num = (x, digits) => (x === undefined ? '—' : x.toFixed(digits));

/** Whether every side computed the same loss and gradient (float32 sums over the field: 1e-3). */
function agreement(rows) {
  const ok = rows.filter((r) => !r.error);
  const ref = ok[0];
  if (!ref) return 'no side ran';
  const close = (a, b) => Math.abs(a - b) <= 1e-3 * Math.abs(b);
  const bad = ok.filter((r) => !close(r.loss, ref.loss) || !close(r.grad, ref.grad));
  return bad.length === 0
    ? `every side gives loss ${ref.loss.toPrecision(7)} and d loss / d alpha ${ref.grad.toPrecision(7)} (to 1e-3)`
    : `**disagreement**: ${bad.map((r) => `${r.name} gives ${r.loss} and ${r.grad}`).join('; ')}, ${ref.name} ${ref.loss} and ${ref.grad}`;
}

function heat2dReport(s) {
  const torch = s.rows.find((r) => r.name.startsWith('PyTorch'));
  const eager = s.rows.find((r) => r.name.startsWith('libtorch'));
  const bw = s.bandwidth;
  const l2Bound = bw.error ? undefined : boundUs(s.n, Math.max(bw.fieldCopy, bw.fieldTriad));
  const dramBound = bw.error ? undefined : boundUs(s.n, Math.max(bw.dramCopy, bw.dramTriad));
  const perStep = (r) => r.ms && (r.ms * 1e3) / s.steps;
  const table = report.table(
    [
      'implementation',
      'fwd+bwd (ms)',
      'per step (us)',
      'peak MiB',
      'time / PyTorch',
      'time / C++',
      'memory / PyTorch',
      'per step / cache-bandwidth bound',
    ],
    s.rows.map((r) =>
      r.error
        ? [r.name, `not run: ${r.error}`, '', '', '', '', '', '']
        : [
            r.name,
            num(r.ms, 1),
            num(perStep(r), 0),
            num(r.peakMb, 1),
            report.ratio(r.ms, torch?.ms),
            report.ratio(r.ms, eager?.ms),
            report.ratio(r.peakMb, torch?.peakMb),
            report.ratio(perStep(r), l2Bound),
          ],
    ),
  );
  const bwLine = bw.error
    ? `Bandwidth not measured: ${bw.error}.`
    : `Streaming bandwidth (native/tools/heat2d_eager.cpp, best of 50 passes, bytes read + written): ${num(bw.fieldCopy, 1)} GB/s copy and ${num(bw.fieldTriad, 1)} GB/s triad on arrays of one field's size (${((s.n * s.n * FLOAT) / 2 ** 20).toFixed(2)} MiB, cache-resident), ${num(bw.dramCopy, 1)} and ${num(bw.dramTriad, 1)} GB/s on 256 MiB arrays (memory). A step must move at least ${FIELDS_PER_STEP.forward + FIELDS_PER_STEP.backward} fields (forward: read u, write the next; backward: read the gradient and u, write the gradient): ${num(l2Bound, 0)} us at cache bandwidth, ${num(dramBound, 0)} us at memory bandwidth.`;
  return [
    `${s.n}x${s.n} field, ${s.steps} explicit zero-flux steps u <- u + alpha dt/h^2 lap5(pad_edge(u)), loss sum(u_N^2), forward + backward to the scalar parameter alpha; float32, ${s.threads} thread(s). Times: median of ${s.reps} runs after a warm-up, one process per side. Peak MiB: growth of the resident set (VmHWM after resetting it through /proc/self/clear_refs) over one forward+backward in a fresh process, after a warm-up on a 16x16 field; the anchors' processes map every block (MALLOC_MMAP_THRESHOLD_=4096) so none hides in malloc's heap; ours empties its block cache before the run. Check: ${agreement(s.rows)}.`,
    '',
    'Our program (scripts/bench/heat2d-problem.js; the compiler fuses each step into one `stencil-step` pass, and the loop is checkpointed unless said):',
    '',
    '```scheme',
    s.source,
    '```',
    '',
    table,
    '',
    bwLine,
  ].join('\n');
}

/** The issue's targets for the checkpointed default: time at most PyTorch's, peak memory at most a quarter. */
function heat2dTargets(s) {
  const torch = s.rows.find((r) => r.name.startsWith('PyTorch'));
  const ours = s.rows.find((r) => r.name === 'ours, checkpoint default');
  if (!torch || torch.error || !ours || ours.error) return [];
  const size = `heat 2-D ${s.n}x${s.n}x${s.steps}`;
  return [
    `- ${size} forward+backward, time at most 1.0x PyTorch eager: **${ours.ms <= torch.ms ? 'met' : 'not met'}** (${report.ratio(ours.ms, torch.ms)})`,
    `- ${size}, peak memory at most 0.25x PyTorch eager: **${ours.peakMb <= 0.25 * torch.peakMb ? 'met' : 'not met'}** (${report.ratio(ours.peakMb, torch.peakMb)})`,
  ];
}

module.exports = { heat2dSection, heat2dReport, heat2dTargets };
