// The check of a CUDA build on a machine with a GPU (scripts/gpu-check.sh runs it after `npm run build`):
//   1. every example program on cuda against cpu, both float64: values and gradients (input and param);
//   2. the fused CUDA kernels against the unfused steps on cuda (the same program with fuse: false);
//   3. a data-parallel fit in 2 processes (`neuralc fit --nproc 2 --device cuda`, one GPU each) summed by
//      NCCL against the same fit summed by Gloo, and Gloo's against one process;
//   4. benchmarks against PyTorch eager on CUDA (when --python names a Python whose torch sees the GPU):
//      2-D heat at 2048 x 2048 (forward+backward to alpha, float32) and gravity at batch 1e7.
// Prints one report; exits 1 if a comparison fails, 2 if there is no CUDA device to check.
// Usage: node scripts/gpu-check.js [--python PATH] [--device cuda:N] [--quick]
// (--device cpu runs the script where there is no GPU, cpu against cpu, to check the script itself.)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const api = require(path.join(ROOT, 'dist'));
const { native } = require(path.join(ROOT, 'dist', 'runtime', 'native'));
const { readDirectives } = require(path.join(ROOT, 'dist', 'tools', 'analysis'));
const { headerNames } = require(path.join(ROOT, 'dist', 'experiments', 'programs'));
const { Rng } = require(path.join(ROOT, 'dist', 'runtime', 'random'));
const { median } = require('./bench/measure');
const heat = require('./bench/heat2d-problem');

const BATCH = 64;
const STEPS = 4; // a grid program's `steps` input
// float64; gradients of params are sums over every element, added in another order on a GPU (atomics).
const TOLERANCE = 1e-7;
// Params are 2 (v < c in the relativistic equations), but where a step size needs a small one to be stable.
const PARAM = 2;
const PARAMS = { 'heat2d_zero_flux.neural': 0.002 };
// The shapes a header says in words ("r (a 3-vector)").
const SHAPES = { 'gravity_3d.neural': { r: [3] }, 'heat_step.neural': { u: [8], L: [8, 8] } };

function parseArgs(argv) {
  const args = { device: 'cuda', quick: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') args.quick = true;
    else if (argv[i] === '--python' || argv[i] === '--device') args[argv[i].slice(2)] = argv[++i];
    else throw new Error(`gpu-check: unknown argument ${argv[i]} (expected --python PATH, --device cuda:N, --quick)`);
  }
  return args;
}

/** Seeded values in [0.5, 1.5] (every example is finite there), or whole numbers 1 to 6 for the loops' counters. */
function uniform(n, seed, whole = false) {
  const rng = new Rng(seed);
  return whole ? Float64Array.from({ length: n }, () => rng.int(1, 6)) : rng.uniforms(n, 0.5, 1.5);
}

const examples = (dir) =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? examples(path.join(dir, e.name)) : e.name.endsWith('.neural') ? [path.join(dir, e.name)] : [],
    );

/**
 * The inputs and params a file declares: "; @inputs u0[64 64] steps" / "; @params alpha" lines, or a
 * header "; Inputs: x, T. Params: n0, m." (scalars, but for the shapes SHAPES gives). Undefined when
 * it declares neither, or a vector or matrix SHAPES does not size.
 */
function declarations(file, text) {
  const { inputs, params } = readDirectives(text).declarations;
  if (inputs) return { inputs: new Map(inputs), params: new Map(params ?? []) };
  const names = headerNames(text);
  if (!names) return undefined;
  const sized = SHAPES[path.basename(file)] ?? {};
  if (/Inputs:[^.]*(vector|matrix)/.test(text) && Object.keys(sized).length === 0) return undefined;
  return {
    inputs: new Map(names.inputs.map((n) => [n, sized[n] ?? []])),
    params: new Map(names.params.map((n) => [n, []])),
  };
}

/** Values and gradients of a weighted sum of the output on one device: one batch of scalars, or the declared grids as they are. */
function evaluate(file, source, decl, device, fuse) {
  const whole = path.basename(path.dirname(file)) === 'loops';
  const param = PARAMS[path.basename(file)] ?? PARAM;
  const batched = [...decl.inputs.values()].every((s) => !s || s.length === 0) && !decl.inputs.has('steps');
  const ones = (shape) => (shape.length === 0 ? 1 : Array.from({ length: shape[0] }, () => ones(shape.slice(1))));
  const scaled = (v, k) => (Array.isArray(v) ? v.map((x) => scaled(x, k)) : v * k);
  const module = api.compile(source, {
    params: Object.fromEntries([...decl.params].map(([n, s]) => [n, scaled(ones(s ?? []), param)])),
    dtype: 'float64',
    device,
    fuse,
  });
  const leaves = {};
  let seed = 7;
  for (const [name, shape] of decl.inputs) {
    if (name === 'steps') leaves[name] = STEPS;
    else {
      const dims = batched ? [BATCH] : (shape ?? []);
      const size = dims.reduce((a, b) => a * b, 1);
      leaves[name] = api.tensor(uniform(size, seed++, whole), {
        shape: dims,
        dtype: 'float64',
        device,
        requiresGrad: !whole,
      });
    }
  }
  const out = module.forward(leaves, { batch: batched });
  // Weighted, not a plain sum: the total heat a conservative stencil keeps has no gradient to compare.
  const weights = api.tensor(
    uniform(
      out.shape.reduce((a, b) => a * b, 1),
      99,
    ),
    { shape: out.shape, dtype: 'float64', device },
  );
  const total = out.mul(weights).sum();
  if (total.requiresGrad) total.backward(); // a loop over whole-number counters has nothing to differentiate
  const grads = Object.entries(leaves)
    .filter(([, t]) => typeof t !== 'number')
    .map(([name, t]) => [`d/d${name}`, t.grad ? Array.from(t.grad.toTypedArray()) : []]);
  for (const [name, p] of Object.entries(module.namedParameters()))
    grads.push([`d/d${name}`, p.grad ? Array.from(p.grad.toTypedArray()) : []]);
  const result = { value: Array.from(out.toTypedArray()), grads };
  module.dispose();
  return result;
}

/**
 * The largest difference relative to the reference's largest magnitude (a gradient that is zero up to
 * rounding, as d(total heat)/d(alpha) under zero flux, has no relative error of its own). NaN matches NaN.
 */
function worst(a, b) {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 1e-300;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / scale;
}

function compare(a, b) {
  let w = worst(a.value, b.value);
  a.grads.forEach(([, g], k) => (w = Math.max(w, worst(g, b.grads[k][1]))));
  return w;
}

function programChecks(device) {
  const rows = [];
  for (const file of examples(path.join(ROOT, 'examples'))) {
    const name = path.relative(ROOT, file);
    const text = fs.readFileSync(file, 'utf8');
    const decl = declarations(file, text);
    if (!decl) {
      rows.push({ name, status: 'skipped', detail: 'no declared input shapes' });
      continue;
    }
    try {
      const cpu = evaluate(file, text, decl, 'cpu', true);
      const gpu = evaluate(file, text, decl, device, true);
      const unfused = evaluate(file, text, decl, device, false);
      const vsCpu = compare(gpu, cpu);
      const vsUnfused = compare(gpu, unfused);
      const ok = vsCpu <= TOLERANCE && vsUnfused <= TOLERANCE;
      rows.push({
        name,
        status: ok ? 'ok' : 'FAIL',
        detail: `cuda vs cpu ${vsCpu.toExponential(1)}, fused vs unfused ${vsUnfused.toExponential(1)}`,
      });
    } catch (err) {
      rows.push({ name, status: 'FAIL', detail: err.message.split('\n')[0] });
    }
  }
  return rows;
}

/** `neuralc fit ...args --json` from this build, in the given number of processes (1: no launcher). */
function cliFit(args, nproc) {
  const launch = nproc > 1 ? ['--nproc', String(nproc), '--timeout', '60'] : [];
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'neuralc.js'), 'fit', ...args, '--json', ...launch], {
    encoding: 'utf8',
  });
  const out = r.stdout.trim().split('\n').pop() || '{}';
  const result = JSON.parse(out);
  if (r.status !== 0 || result.error)
    throw new Error(result.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`));
  return result;
}

/** The largest relative difference between two fits' params (a param's size the scale). */
function paramGap(a, b) {
  return Math.max(
    ...Object.keys(b.params).map((k) => Math.abs(a.params[k] - b.params[k]) / Math.max(1e-12, Math.abs(b.params[k]))),
  );
}

// float32 L-BFGS in two processes stops a few ulps from one process (tests/distributed.test.ts: 2e-5).
const FIT_TOLERANCE = 2e-5;

/**
 * A full-batch fit in 2 processes against one process: Gloo on the device (its gradients copied to
 * the CPU), and NCCL on the GPUs (cuda:LOCAL_RANK each), which needs 2 visible devices.
 */
function distributedChecks(device, devices, nccl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-gpu-check-'));
  const rows = [];
  try {
    const noise = new Rng(11).uniforms(400, -0.1, 0.1);
    const lines = Array.from(noise, (e, i) => {
      const x = (i / 400) * 4;
      return `${x},${2 * x + 0.5 * Math.sin(3 * x) + e}`;
    });
    const data = path.join(dir, 'fit.csv');
    fs.writeFileSync(data, ['x,y', ...lines].join('\n') + '\n');
    // --device cuda: each rank of the launcher takes cuda:LOCAL_RANK; with one GPU, Gloo's ranks share it.
    const on = device === 'cpu' ? 'cpu' : devices >= 2 ? 'cuda' : 'cuda:0';
    const args = ['-e', '(+ (* a x) (* b (sin (* 3 x))))', '--data', data, '--params', '{"a": 1, "b": 1}', '--device'];
    const row = (name, run) => {
      try {
        rows.push({ name, ...run() });
      } catch (err) {
        rows.push({ name, status: 'FAIL', detail: err.message.split('\n')[0] });
      }
    };
    let gloo;
    row(`2 processes, Gloo (--device ${on}) against 1 process`, () => {
      const one = cliFit([...args, device], 1);
      gloo = cliFit([...args, on, '--backend', 'gloo'], 2);
      const gap = paramGap(gloo, one);
      const ok = gap <= FIT_TOLERANCE && gloo.backend === 'gloo' && gloo.worldSize === 2;
      return { status: ok ? 'ok' : 'FAIL', detail: `params ${gap.toExponential(1)} apart, ${gloo.steps} steps` };
    });
    const why =
      device === 'cpu'
        ? 'NCCL needs CUDA devices (--device cpu)'
        : !nccl
          ? 'this build has no NCCL (`npx neuralc doctor` says why)'
          : devices < 2
            ? `NCCL puts one rank on a GPU, and ${devices} is visible`
            : undefined;
    if (why) rows.push({ name: '2 processes, NCCL against Gloo', status: 'skipped', detail: why });
    else
      row('2 processes, NCCL (cuda:0, cuda:1) against Gloo', () => {
        const ran = cliFit([...args, 'cuda', '--backend', 'nccl'], 2);
        if (!gloo) throw new Error('no Gloo fit to compare with');
        const gap = paramGap(ran, gloo);
        const ok = gap <= FIT_TOLERANCE && ran.backend === 'nccl' && ran.steps === gloo.steps;
        const detail = `params ${gap.toExponential(1)} apart, ${ran.steps} steps, ${ran.communicationSeconds.toFixed(3)} s communicating (Gloo ${gloo.communicationSeconds.toFixed(3)} s)`;
        return { status: ok ? 'ok' : 'FAIL', detail };
      });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** Median ms of f, which must read a result back (so the GPU has finished). */
function time(f, reps) {
  f();
  const samples = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

function oursHeat(device, n, steps, reps) {
  const module = api.compile(heat.heatSource(steps), {
    inputs: { u0: [n, n], h: 'scalar', dt: 'scalar' },
    params: { alpha: 1 },
    device,
  });
  const values = {
    u0: api.tensor(heat.initialField(n), { shape: [n, n], device }),
    h: heat.spacing(n),
    dt: heat.timeStep(n),
  };
  const alpha = module.namedParameters().alpha;
  return time(() => {
    const loss = module.forward(values);
    loss.backward();
    alpha.grad.item();
    alpha.zeroGrad();
    loss.dispose();
  }, reps);
}

function oursGravity(device, batch, reps) {
  const module = api.compile('(/ (* G (* m1 m2)) (pow r 2))', {
    inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' },
    params: { G: 1 },
    device,
  });
  const data = (seed) => api.tensor(new Float32Array(uniform(batch, seed)), { shape: [batch], device });
  const inputs = { m1: data(1), m2: data(2), r: data(3) };
  const G = module.namedParameters().G;
  return time(() => {
    const y = module.forward(inputs);
    const total = y.sum();
    total.backward();
    G.grad.item();
    G.zeroGrad();
    for (const t of [y, total]) t.dispose();
  }, reps);
}

// PyTorch eager on the same GPU: the programs as a person writes them, float32, synchronised.
const TORCH = `
import json, statistics, sys, time, torch
import torch.nn.functional as F
dev = torch.device(sys.argv[1]); n, steps, batch, reps = map(int, sys.argv[2:6])
sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
def timed(f):
    f(); sync(); s = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); sync(); s.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(s)
x = torch.arange(n, dtype=torch.float64, device=dev) / (n - 1)
u0 = torch.exp(-(((x - 0.35) ** 2).unsqueeze(1) + ((x - 0.6) ** 2).unsqueeze(0)) / 0.02).float()
alpha = torch.tensor(1.0, device=dev, requires_grad=True)
h = 1.0 / (n - 1); dt = 0.2 * h * h
def heat():
    u = u0
    for _ in range(steps):
        p = F.pad(u[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
        u = u + alpha * dt * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u) / (h * h)
    (u * u).sum().backward(); alpha.grad = None
m1, m2, r = (torch.rand(batch, device=dev) + 0.5 for _ in range(3))
G = torch.tensor(1.0, device=dev, requires_grad=True)
def gravity():
    (G * (m1 * m2) / r.pow(2)).sum().backward(); G.grad.item(); G.grad = None
print(json.dumps({"heat": timed(heat), "gravity": timed(gravity)}))
`;

function torchTimes(python, device, n, steps, batch, reps) {
  const r = spawnSync(python, ['-c', TORCH, device, String(n), String(steps), String(batch), String(reps)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const info = native().buildInfo();
  // --device cpu: a dry run of the script itself where there is no GPU (cpu against cpu).
  if (args.device !== 'cpu' && (!info.cudaBuilt || info.cudaDevices === 0)) {
    console.log(
      `gpu-check: nothing to check: ${info.cudaBuilt ? 'this CUDA build sees no GPU' : 'this build has no CUDA'}` +
        ' (build with `NC_TORCH=cuda npm install` on a machine with a GPU; `npx neuralc doctor` says more).',
    );
    process.exit(2);
  }
  const report = [
    `# GPU check: libtorch ${info.loadedTorchVersion}, ${info.cudaDevices} device(s), on ${args.device}`,
    '',
  ];
  report.push('## Programs: cuda against cpu (float64), fused kernels against unfused steps', '');
  const rows = programChecks(args.device);
  for (const r of rows) report.push(`- ${r.status.padEnd(7)} ${r.name}: ${r.detail}`);
  report.push('', '## Data-parallel fits: 2 processes against 1, NCCL against Gloo', '');
  const fits = distributedChecks(args.device, info.cudaDevices, info.ncclVersion !== null);
  for (const r of fits) report.push(`- ${r.status.padEnd(7)} ${r.name}: ${r.detail}`);
  rows.push(...fits);
  const n = args.quick ? 512 : 2048;
  const steps = args.quick ? 20 : 100;
  const batch = args.quick ? 1e6 : 1e7;
  const reps = args.quick ? 3 : 10;
  report.push('', `## Benchmarks (median ms of ${reps}, float32)`, '');
  const ours = { heat: oursHeat(args.device, n, steps, reps), gravity: oursGravity(args.device, batch, reps) };
  const torch = args.python
    ? torchTimes(args.python, args.device, n, steps, batch, reps)
    : { error: 'no --python given' };
  const line = (what, key) =>
    `- ${what}: ours ${ours[key].toFixed(2)} ms` +
    (torch.error
      ? ` (PyTorch eager: ${torch.error})`
      : `, PyTorch eager ${torch[key].toFixed(2)} ms, ratio ${(ours[key] / torch[key]).toFixed(2)}`);
  report.push(line(`2-D heat ${n} x ${n}, ${steps} steps, forward+backward`, 'heat'));
  report.push(line(`gravity at batch ${batch.toExponential(0)}, forward+backward`, 'gravity'));
  const failed = rows.filter((r) => r.status === 'FAIL').length;
  report.push('', failed === 0 ? 'all comparisons passed' : `${failed} comparison(s) FAILED`);
  console.log(report.join('\n'));
  process.exit(failed === 0 ? 0 : 1);
}

main();
