// What an experiment produces: rows (recovered constants and error metrics), markdown tables, plots,
// and its claims set beside the paper's; and how they are rendered to files.
export interface ConstantRow {
  model: string;
  parameter: string;
  true: number;
  learned: number;
  rel_error: number;
}

export interface MetricRow {
  model: string;
  metric: string;
  range: string;
  value: number;
}

export type Row = ConstantRow | MetricRow;

/** One line of summary.md: what the paper reports, what we got, and whether we match it. */
export interface Claim {
  claim: string;
  paper: string;
  ours: string;
  /** 'partly': some of the claim holds in our numbers, some does not. */
  verdict: 'matches' | 'beats' | 'partly' | 'short' | 'info';
  /** Why we may fall short here; shown in summary.md when we do, wholly or partly. */
  why?: string;
}

export interface Result {
  rows: Row[];
  /** Markdown sections (a heading and a table or a paragraph each). */
  sections: string[];
  /** SVG plots by file name. */
  plots: Record<string, string>;
  claims: Claim[];
  /** Settings used, and anything scaled down from the paper's setup. */
  setup: string[];
}

export function constantRow(model: string, parameter: string, truth: number, learned: number): ConstantRow {
  return { model, parameter, true: truth, learned, rel_error: Math.abs(learned - truth) / Math.abs(truth) };
}

export const isConstant = (row: Row): row is ConstantRow => 'parameter' in row;

/** A number for a table: fixed for moderate magnitudes, exponent form otherwise. */
export function num(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? Number(v.toPrecision(digits)).toString() : v.toExponential(digits - 2);
}

export const percent = (v: number): string => (Number.isFinite(v) ? `${num(100 * v, 3)} %` : String(v));

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) =>
    `| ${cells.map((c) => (typeof c === 'number' ? num(c) : c)).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/** The constants table of a set of rows. */
export function constantsTable(rows: Row[]): string {
  const constants = rows.filter(isConstant);
  return table(
    ['model', 'parameter', 'true', 'learned', 'error'],
    constants.map((r) => [r.model, r.parameter, r.true, r.learned, percent(r.rel_error)]),
  );
}

/** Metrics as a model x range table, one per metric. */
export function metricsTables(rows: Row[]): string {
  const metrics = rows.filter((r): r is MetricRow => !isConstant(r));
  const names = [...new Set(metrics.map((r) => r.metric))];
  return names
    .map((metric) => {
      const of = metrics.filter((r) => r.metric === metric);
      const ranges = [...new Set(of.map((r) => r.range))];
      const models = [...new Set(of.map((r) => r.model))];
      const cell = (m: string, g: string) => of.find((r) => r.model === m && r.range === g)?.value ?? '';
      return `**${metric}**\n\n${table(
        ['model', ...ranges],
        models.map((m) => [m, ...ranges.map((g) => cell(m, g))]),
      )}`;
    })
    .join('\n\n');
}

export function experimentMarkdown(title: string, result: Result, seconds: number): string {
  return (
    [
      `# ${title}`,
      `Run time ${seconds.toFixed(1)} s.`,
      `## Setup\n\n${result.setup.map((s) => `- ${s}`).join('\n')}`,
      ...result.sections,
      Object.keys(result.plots).length > 0
        ? `## Plots\n\n${Object.keys(result.plots)
            .map((f) => `![${f}](${f})`)
            .join('\n')}`
        : '',
    ]
      .filter((s) => s.length > 0)
      .join('\n\n') + '\n'
  );
}
