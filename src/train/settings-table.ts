// The settings section of docs/training.md, rendered from settings.ts by `npm run generate`;
// tests/train-settings.test.ts fails when the committed section differs.
import {
  DEFAULT_LOSS,
  DEFAULT_ODE_METHOD,
  DEFAULT_ODE_SENSITIVITIES,
  DEFAULT_OPTIMIZER,
  DEFAULT_SCHEDULE,
  LBFGS_DEFAULT_MAX_PARAMETERS,
  LOSSES,
  ODE_METHODS,
  ODE_SENSITIVITIES,
  OPTIMIZERS,
  SCHEDULES,
} from './settings';
import { cell, type Markers } from '../docs/markdown';

export const SETTINGS_MARKERS: Markers = {
  start: '<!-- training-settings:start -->',
  end: '<!-- training-settings:end -->',
};

const ADAPTIVE = 'adaptive: `rtol`, `atol`';
const FIXED = 'fixed: `step`';

const named = (name: string, fallback: string): string => `\`${name}\`${name === fallback ? ' (default)' : ''}`;

function table(title: string, columns: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [`### ${title}`, '', line(columns), `|${columns.map(() => '---|').join('')}`, ...rows.map(line)].join('\n');
}

export function renderTrainingSettings(): string {
  const sections = [
    table(
      'Optimizers (`optimizer`)',
      ['name', "fit's lr", 'meaning'],
      OPTIMIZERS.map((o) => [named(o.name, DEFAULT_OPTIMIZER), String(o.fit.lr), o.doc]),
    ) +
      `\n\nWhen neither an optimizer nor \`lr\` is given, a full-batch fit of at most ${LBFGS_DEFAULT_MAX_PARAMETERS} trainable numbers uses` +
      ' `lbfgs` (it converges in a few steps and says so); others use the default above.',
    table(
      'Losses (`loss`)',
      ['name', 'meaning'],
      LOSSES.map((l) => [named(l.name, DEFAULT_LOSS), l.doc]),
    ),
    table(
      'Schedules (`schedule`)',
      ['name', 'meaning'],
      SCHEDULES.map((e) => [named(e.name, DEFAULT_SCHEDULE), e.doc]),
    ),
    table(
      'ODE methods (`method`, `ode.method`)',
      ['name', 'steps', 'meaning'],
      ODE_METHODS.map((m) => [named(m.name, DEFAULT_ODE_METHOD), m.adaptive ? ADAPTIVE : FIXED, m.doc]),
    ),
    table(
      "ODE fits' gradients on the small-program tier (`ode.sensitivities`)",
      ['name', 'meaning'],
      ODE_SENSITIVITIES.map((e) => [named(e.name, DEFAULT_ODE_SENSITIVITIES), e.doc]),
    ),
  ];
  return `${sections.join('\n\n')}\n`;
}
