// Runs experiments by name, writes each one's NAME.json, NAME.md and plots, and a summary.md that
// sets our numbers beside the paper's claims.
import fs from 'fs';
import path from 'path';
import { ProcessPool } from '../runtime/process-pool';
import { setNumThreads } from '../runtime/tensor';
import { composition } from './composition';
import { Context, Experiment } from './context';
import { feynman } from './feynman';
import { heat } from './heat';
import { heat2d } from './heat2d';
import { Claim, experimentMarkdown, Result, table } from './report';
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
  /** Processes to spread the experiments over (1, the default: all in this one). */
  jobs?: number;
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

/** A piece of work for a process: a whole experiment, or one part of a split one. */
export interface Task {
  experiment: string;
  part?: number;
  quick: boolean;
}

export async function runExperiments(selected: Experiment[], o: RunOptions, ctx: Context): Promise<Outcome[]> {
  setNumThreads(1);
  fs.mkdirSync(o.out, { recursive: true });
  const start = Date.now();
  const tasks = selected.reduce((n, e) => n + (e.split?.count ?? 1), 0);
  const jobs = Math.min(o.jobs ?? 1, tasks);
  const outcomes = jobs > 1 ? await inProcesses(selected, o, ctx, jobs) : await inThisProcess(selected, o, ctx);
  const wall = (Date.now() - start) / 1000;
  fs.writeFileSync(path.join(o.out, 'summary.md'), summary(outcomes, o, wall, jobs));
  return outcomes;
}

async function inThisProcess(selected: Experiment[], o: RunOptions, ctx: Context): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const e of selected) {
    ctx.progress.begin(e.name);
    const start = Date.now();
    const result = await e.run(ctx);
    ctx.progress.clear();
    outcomes.push(record(e, result, (Date.now() - start) / 1000, o));
  }
  return outcomes;
}

/**
 * Every task in a pool of `jobs` processes (one libtorch thread each): the whole experiments first,
 * then the parts of the split ones, which fill the processes that finish early. An experiment's time
 * is the sum of its tasks' times. A task that fails stops the run with its error.
 */
async function inProcesses(selected: Experiment[], o: RunOptions, ctx: Context, jobs: number): Promise<Outcome[]> {
  const queue = [
    ...selected.filter((e) => !e.split).map((e) => ({ e, part: undefined as number | undefined })),
    ...selected.flatMap((e) => Array.from({ length: e.split?.count ?? 0 }, (_, part) => ({ e, part }))),
  ];
  /** Per split experiment: its parts' outcomes so far, their time, and how many are still to come. */
  const parts = new Map<Experiment, { outcomes: unknown[]; seconds: number; left: number }>();
  for (const e of selected) if (e.split) parts.set(e, { outcomes: [], seconds: 0, left: e.split.count });
  const outcomes = new Map<Experiment, Outcome>();
  const running = new Set<string>();
  const pool = new ProcessPool<Task, unknown>(path.join(__dirname, 'worker'), jobs);
  ctx.progress.begin('experiments');
  const show = () => ctx.progress.update(`running ${[...running].join(', ')}`, outcomes.size, selected.length);
  try {
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { e, part } = next;
          const name = part === undefined ? e.name : `${e.name} ${part + 1}/${e.split!.count}`;
          running.add(name);
          show();
          const answer = await pool.run({ experiment: e.name, part, quick: ctx.quick });
          running.delete(name);
          if (!answer.ok) {
            queue.length = 0; // the other processes start nothing more
            throw new Error(`experiment ${name} failed (${answer.kind}): ${answer.detail}`);
          }
          const seconds = answer.ms / 1000;
          if (part === undefined) outcomes.set(e, record(e, answer.reply as Result, seconds, o));
          else {
            const p = parts.get(e)!;
            p.outcomes[part] = answer.reply;
            p.seconds += seconds;
            if (--p.left === 0) outcomes.set(e, record(e, e.split!.combine(ctx, p.outcomes), p.seconds, o));
          }
          show();
        }
      }),
    );
  } finally {
    pool.close();
    ctx.progress.clear();
  }
  return selected.map((e) => outcomes.get(e)!);
}

/** Writes an experiment's NAME.json, NAME.md and plots; its outcome for the summary. */
function record(e: Experiment, result: Result, seconds: number, o: RunOptions): Outcome {
  fs.writeFileSync(
    path.join(o.out, `${e.name}.json`),
    `${JSON.stringify({ name: e.name, title: e.title, quick: o.quick, seconds, rows: result.rows, claims: result.claims, setup: result.setup }, null, 1)}\n`,
  );
  fs.writeFileSync(path.join(o.out, `${e.name}.md`), experimentMarkdown(e.title, result, seconds));
  for (const [file, svg] of Object.entries(result.plots)) fs.writeFileSync(path.join(o.out, file), svg);
  o.log(`${e.name}: done in ${seconds.toFixed(1)} s -> ${path.join(o.out, `${e.name}.md`)}`);
  return { name: e.name, title: e.title, seconds, claims: result.claims };
}

function summary(outcomes: Outcome[], o: RunOptions, wall: number, jobs: number): string {
  const own = outcomes.map((x) => `${x.name} ${x.seconds.toFixed(0)} s`).join(', ');
  const sum = outcomes.reduce((s, x) => s + x.seconds, 0);
  const where =
    jobs > 1
      ? `in ${wall.toFixed(0)} s (${jobs} processes of 1 libtorch thread each; the experiments' own times: ${own}; ${sum.toFixed(0)} s in all)`
      : `on 1 libtorch thread, in ${wall.toFixed(0)} s (${own})`;
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
      `Made with \`${o.command}\`${o.quick ? " (quick settings: fewer epochs, see each file's setup)" : ''}, ${where}.`,
      "## Our numbers beside the paper's\n\nThe paper's numbers are those its reference implementation reports. Each experiment's own file has the full tables, the setup and where it differs from the paper's.",
      table(['experiment', 'claim', 'paper', 'ours', 'verdict'], claims),
      short.length > 0
        ? `## Where we fall short\n\n${short.join('\n')}`
        : '## Where we fall short\n\nNowhere in this run.',
    ].join('\n\n') + '\n'
  );
}
