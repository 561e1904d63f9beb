// Runs experiments by name, writes each one's NAME.json, NAME.md and plots, and a summary.md that
// sets our numbers beside the paper's claims.
import fs from 'fs';
import path from 'path';
import { setNumThreads } from '../runtime/tensor';
import { composition } from './composition';
import { Context, Experiment } from './context';
import { feynman } from './feynman';
import { heat } from './heat';
import { heat2d } from './heat2d';
import { Claim, experimentMarkdown, table } from './report';
import { lotkaVolterra, pendulum } from './systems';
import { vector } from './vector';

export const EXPERIMENTS: Experiment[] = [feynman, lotkaVolterra, pendulum, heat, heat2d, vector, composition];

export interface Outcome {
  name: string;
  title: string;
  seconds: number;
  claims: Claim[];
}

export interface RunOptions {
  names?: string[];
  quick: boolean;
  out: string;
  /** The command line recorded in summary.md. */
  command: string;
  log: (line: string) => void;
}

export function selectExperiments(names: string[] | undefined): Experiment[] {
  if (!names || names.length === 0) return EXPERIMENTS;
  return names.map((n) => {
    const e = EXPERIMENTS.find((x) => x.name === n);
    if (!e) throw new Error(`unknown experiment '${n}' (expected one of ${EXPERIMENTS.map((x) => x.name).join(', ')})`);
    return e;
  });
}

export async function runExperiments(selected: Experiment[], o: RunOptions, ctx: Context): Promise<Outcome[]> {
  setNumThreads(1);
  fs.mkdirSync(o.out, { recursive: true });
  const outcomes: Outcome[] = [];
  for (const e of selected) {
    ctx.progress.begin(e.name);
    const start = Date.now();
    const result = await e.run(ctx);
    const seconds = (Date.now() - start) / 1000;
    ctx.progress.clear();
    fs.writeFileSync(
      path.join(o.out, `${e.name}.json`),
      `${JSON.stringify({ name: e.name, title: e.title, quick: o.quick, seconds, rows: result.rows, claims: result.claims, setup: result.setup }, null, 1)}\n`,
    );
    fs.writeFileSync(path.join(o.out, `${e.name}.md`), experimentMarkdown(e.title, result, seconds));
    for (const [file, svg] of Object.entries(result.plots)) fs.writeFileSync(path.join(o.out, file), svg);
    o.log(`${e.name}: done in ${seconds.toFixed(1)} s -> ${path.join(o.out, `${e.name}.md`)}`);
    outcomes.push({ name: e.name, title: e.title, seconds, claims: result.claims });
  }
  fs.writeFileSync(path.join(o.out, 'summary.md'), summary(outcomes, o));
  return outcomes;
}

function summary(outcomes: Outcome[], o: RunOptions): string {
  const total = outcomes.reduce((s, x) => s + x.seconds, 0);
  const claims = outcomes.flatMap((x) =>
    x.claims.map((c) => [`[${x.name}](${x.name}.md)`, c.claim, c.paper, c.ours, c.verdict]),
  );
  const short = outcomes.flatMap((x) =>
    x.claims
      .filter((c) => c.verdict === 'short' || c.verdict === 'partly')
      .map((c) => `- **${x.name}: ${c.claim}**: ${c.ours}.${c.why ? ` ${c.why}` : ''}`),
  );
  return (
    [
      "# Reproducing the paper's experiments",
      `Made with \`${o.command}\`${o.quick ? " (quick settings: fewer epochs, see each file's setup)" : ''}, on 1 libtorch thread, in ${total.toFixed(0)} s (${outcomes.map((x) => `${x.name} ${x.seconds.toFixed(0)} s`).join(', ')}).`,
      "## Our numbers beside the paper's\n\nThe paper's numbers are those its reference implementation reports. Each experiment's own file has the full tables, the setup and where it differs from the paper's.",
      table(['experiment', 'claim', 'paper', 'ours', 'verdict'], claims),
      short.length > 0
        ? `## Where we fall short\n\n${short.join('\n')}`
        : '## Where we fall short\n\nNowhere in this run.',
    ].join('\n\n') + '\n'
  );
}
