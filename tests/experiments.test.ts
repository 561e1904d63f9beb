// The quick Feynman and heat experiments end to end through the runner: files written, constants
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

beforeAll(() => {
  runExperiments(
    selectExperiments(['feynman', 'heat']),
    { quick: true, out, command: 'test', log: () => undefined },
    { quick: true, progress: silent },
  );
}, 300_000);

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
