// The quick Feynman, heat and heat2d experiments end to end through the runner: files written, constants
// recovered within 1 %, the PINN baseline's error reported.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { silent } from '../src/experiments/progress';
import { runExperiments, selectExperiments } from '../src/experiments/runner';

interface Row {
  model: string;
  parameter?: string;
  rel_error?: number;
  metric?: string;
  value?: number;
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-experiments-'));
const rows = (name: string): Row[] => JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')).rows;

beforeAll(async () => {
  await runExperiments(
    selectExperiments(['feynman', 'heat', 'heat2d']),
    { quick: true, out, command: 'test', log: () => undefined },
    { quick: true, progress: silent },
  );
}, 420_000);

afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test('writes JSON rows, tables, plots and a summary', () => {
  for (const f of ['feynman.json', 'feynman.md', 'heat.json', 'heat.md', 'heat_training.svg', 'summary.md'])
    expect(fs.existsSync(path.join(out, f))).toBe(true);
  expect(fs.readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(
    /\| \[heat\]\(heat.md\) \| Heat equation alpha/,
  );
});

test('Feynman: all 18 constants within 1 % with the remedy; hand-coded training equals compiled', () => {
  const constants = rows('feynman').filter((r) => r.parameter !== undefined);
  const remedy = constants.filter((r) => r.model.endsWith(': compiled, starts + L-BFGS'));
  expect(remedy).toHaveLength(18);
  for (const r of remedy)
    expect({ at: `${r.model} ${r.parameter}`, ok: r.rel_error! < 0.01 }).toEqual({
      at: `${r.model} ${r.parameter}`,
      ok: true,
    });
  const compiled = constants.filter((r) => r.model.endsWith(': compiled'));
  const hand = constants.filter((r) => r.model.endsWith(': hand-coded'));
  expect(hand.map((r) => r.rel_error)).toEqual(compiled.map((r) => r.rel_error));
});

test('heat: alpha within 1 % from batched rollouts; the PINN baseline is reported and worse', () => {
  const heat = rows('heat');
  const compiled = heat.find((r) => r.model === 'compiled' && r.parameter === 'alpha')!;
  expect(compiled.rel_error).toBeLessThan(0.01);
  const pinn = heat.find((r) => r.model.startsWith('PINN') && r.parameter === 'alpha')!;
  expect(Number.isFinite(pinn.rel_error)).toBe(true);
  expect(pinn.rel_error!).toBeGreaterThan(compiled.rel_error!);
  expect(heat.some((r) => r.model.startsWith('PINN') && r.metric !== undefined && Number.isFinite(r.value))).toBe(true);
});

test('heat: the training plot has one line and one legend entry per model, and a label at every decade', () => {
  const svg = fs.readFileSync(path.join(out, 'heat_training.svg'), 'utf8');
  expect(svg.match(/<polyline /g)).toHaveLength(4);
  for (const name of ['compiled', 'neural step', 'PINN (+ residual)', 'hybrid (source MLP)'])
    expect(svg).toContain(`>${name}</text>`);
  const decades = [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => Math.log10(Number(m[1])));
  expect(decades.length).toBeGreaterThanOrEqual(4);
  decades.forEach((d, i) => expect(d).toBeCloseTo(decades[0] + i, 9));
});

test('heat2d: alpha within 1 % on 256 x 256 from one noisy snapshot; heat maps written; the source MLP learns', () => {
  for (const f of ['heat2d.md', 'heat2d_fields.svg', 'heat2d_source.svg', 'heat2d_hybrid_training.svg'])
    expect(fs.existsSync(path.join(out, f))).toBe(true);
  const heat2d = rows('heat2d');
  const compiled = heat2d.find((r) => r.model === 'compiled' && r.parameter === 'alpha')!;
  expect(compiled.rel_error).toBeLessThan(0.01);
  // against the noise-free truth, the compiled fit is closer than the data (noise 0.01)
  const fitted = heat2d.find((r) => r.model === 'compiled' && r.metric?.startsWith('RMSE'))!;
  expect(fitted.value).toBeLessThan(0.01);
  // a zero source is off by the source's RMS, 1; the hybrid's learned one is closer
  const source = heat2d.find((r) => r.metric?.startsWith('source RMSE'))!;
  expect(source.value).toBeLessThan(1);
});

test("Feynman's equations spread over two processes give the rows and report of one", async () => {
  const split = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-experiments-split-'));
  try {
    await runExperiments(
      selectExperiments(['feynman']),
      { quick: true, out: split, jobs: 2, command: 'test', log: () => undefined },
      { quick: true, progress: silent },
    );
    const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
    expect(JSON.parse(read(split, 'feynman.json')).rows).toEqual(rows('feynman'));
    // Past its first lines (the title and the run time), the page is the same.
    const body = (dir: string) => read(dir, 'feynman.md').split('\n').slice(3).join('\n');
    expect(body(split)).toBe(body(out));
    expect(read(split, 'feynman_gravity_training.svg')).toBe(read(out, 'feynman_gravity_training.svg'));
  } finally {
    fs.rmSync(split, { recursive: true, force: true });
  }
}, 120_000);
