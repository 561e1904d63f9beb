// `neuralc experiments` through the CLI, for the experiments tests/experiments.test.ts does not run
// (it runs feynman and heat through the runner): Lotka-Volterra, the damped pendulum, 3-D gravity
// and composition, quick settings, spread over two processes. Recovered constants are checked against the true values the
// experiments simulate with, and each reported relative error against |learned - true| / true.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { runMain } from './helpers/cli';

interface Row {
  model: string;
  parameter?: string;
  true?: number;
  learned?: number;
  rel_error?: number;
  metric?: string;
  range?: string;
  value?: number;
}

const NAMES = ['lotka_volterra', 'pendulum', 'vector', 'composition'];
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-experiments-cli-'));
let run: { code: number; stdout: string; stderr: string };

const cli = runMain;
const rows = (name: string): Row[] => JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')).rows;
const constant = (name: string, model: string, parameter: string): Row => {
  const r = rows(name).find((x) => x.model === model && x.parameter === parameter);
  if (!r) throw new Error(`${name}.json has no row for ${model} ${parameter}`);
  return r;
};

beforeAll(async () => {
  run = await cli('experiments', ...NAMES, '--quick', '--out', out, '--jobs', '2');
}, 300_000);
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test('runs the named experiments and writes their files and a summary', () => {
  expect(run.code).toBe(0);
  expect(run.stdout).toBe(`wrote ${out}/summary.md\n`);
  for (const name of NAMES) {
    expect(run.stderr).toContain(`${name}: done in `);
    for (const ext of ['json', 'md']) expect(fs.existsSync(path.join(out, `${name}.${ext}`))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8'))).toMatchObject({ name, quick: true });
  }
  for (const plot of ['lotka_volterra_trajectories.svg', 'pendulum_trajectories.svg', 'composition_chain_errors.svg'])
    expect(fs.readFileSync(path.join(out, plot), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  expect(summary).toContain(`Made with \`neuralc experiments ${NAMES.join(' ')} --quick --out ${out} --jobs 2\``);
  expect(summary).toMatch(
    /in \d+ s \(2 processes of 1 libtorch thread each; the experiments' own times: lotka_volterra /,
  );
  for (const name of NAMES) expect(summary).toContain(`| [${name}](${name}.md) |`);
});

test('every reported relative error is |learned - true| / |true|', () => {
  for (const name of ['lotka_volterra', 'pendulum', 'vector'])
    for (const r of rows(name).filter((x) => x.parameter !== undefined)) {
      const exact = Math.abs(r.learned! - r.true!) / Math.abs(r.true!);
      const at = `${name} ${r.model} ${r.parameter}`;
      expect({ at, err: Math.abs(r.rel_error! - exact) <= 1e-12 * Math.max(exact, 1e-12) }).toEqual({ at, err: true });
    }
});

test('Lotka-Volterra: the compiled model recovers alpha, beta, delta, gamma within 2 %', () => {
  const truth = { alpha: 1, beta: 0.5, delta: 0.25, gamma: 0.5 };
  for (const [p, v] of Object.entries(truth)) {
    const r = constant('lotka_volterra', 'compiled (4 parameters)', p);
    expect(r.true).toBe(v);
    expect(r.rel_error).toBeLessThan(0.02);
  }
});

test('pendulum: g/L and b within 1 %; the fitted trajectory error is far below the MLP baselines', () => {
  for (const [p, v] of [
    ['g_L', 9.81],
    ['b', 0.3],
  ] as const) {
    const r = constant('pendulum', 'compiled (2 parameters)', p);
    expect(r.true).toBe(v);
    expect(r.rel_error).toBeLessThan(0.01);
  }
  const mse = (model: string) =>
    rows('pendulum').find((r) => r.model.startsWith(model) && r.range === '1x horizon')!.value!;
  expect(mse('compiled')).toBeLessThan(mse('MLP rhs') / 100);
});

test('Lotka-Volterra and pendulum: the compiled model and the hybrids train with fit() on the small-program tier', () => {
  for (const name of ['lotka_volterra', 'pendulum']) {
    const setup: string[] = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')).setup;
    const ran = setup.find((line) => line.startsWith('Where the shooting fits ran:'));
    for (const model of ['compiled', 'hybrid: compiled + MLPs', 'hybrid + weight penalty', 'noise floor'])
      expect(ran).toContain(`${model} on the small-program tier`);
  }
});

test("the hybrids report their noise floor: the same data with the MLPs' part known, fitted within 2 %", () => {
  const model = "noise floor: hybrid data, the MLPs' part known";
  const learned = { lotka_volterra: ['beta', 'delta'], pendulum: ['g_L', 'b'] };
  const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  for (const [name, params] of Object.entries(learned)) {
    expect(
      rows(name)
        .filter((r) => r.model === model && r.parameter !== undefined)
        .map((r) => r.parameter),
    ).toEqual(params);
    for (const p of params) expect(constant(name, model, p).rel_error).toBeLessThan(0.02);
    expect(summary).toContain(`(noise floor, the MLPs' part known: ${params[0]} `);
  }
});

test('3-D gravity: G within 0.1 % with Adam + L-BFGS', () => {
  const r = constant('vector', 'compiled (Adam + L-BFGS)', 'G');
  expect(r.true).toBe(6.674);
  expect(r.rel_error).toBeLessThan(0.001);
});

test('composition: compiled chains equal the hand-coded float32 chains exactly', () => {
  const metric = 'largest |compiled - hand-coded float32|';
  const r = rows('composition').find((x) => x.model === 'compiled chains' && x.metric === metric)!;
  expect(r.value).toBe(0);
});

test('composition: the MLP-chain verdict is stated with its rank correlation at every range', () => {
  const rho = rows('composition').filter((x) => x.metric === 'Spearman rho of MSE with depth');
  expect(rho.map((r) => r.range)).toEqual(['1x', '2x', '4x']);
  for (const r of rho) expect(Math.abs(r.value!)).toBeLessThanOrEqual(1);
  const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  expect(summary).toMatch(
    /\| MLP chains accumulate error that grows with depth[^|]*\| [^|]* \| MSE against depth over \d+ chains: 1x [^|]*rho [^|]* \| (matches|partly|short) \|/,
  );
});

test('an unknown experiment is a usage error naming the known ones', async () => {
  const r = await cli('experiments', 'nope', '--out', out);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(
    "unknown experiment 'nope' (expected one of feynman, lotka_volterra, pendulum, heat, heat2d, vector, composition)",
  );
});

test('one process gives the same rows as two (each experiment has its own seeds)', async () => {
  const alone = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-experiments-cli-1-'));
  try {
    const r = await cli('experiments', 'vector', 'composition', '--quick', '--out', alone, '--jobs', '1');
    expect(r.code).toBe(0);
    for (const name of ['vector', 'composition'])
      expect(JSON.parse(fs.readFileSync(path.join(alone, `${name}.json`), 'utf8')).rows).toEqual(rows(name));
    expect(fs.readFileSync(path.join(alone, 'summary.md'), 'utf8')).toMatch(
      /, on 1 libtorch thread, in \d+ s \(vector /,
    );
  } finally {
    fs.rmSync(alone, { recursive: true, force: true });
  }
}, 120_000);

test('--jobs wants a whole number of processes, as every whole-number option', async () => {
  for (const bad of ['0', '1.5', 'two']) {
    const r = await cli('experiments', 'vector', '--jobs', bad, '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--jobs must be a whole number >= 1, got ${bad}`);
  }
});
