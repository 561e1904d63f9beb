// `neuralc fit PROGRAM --data FILE.csv --params JSON ...`: fits a program's parameters to a CSV table,
// either as a function of its input columns (algebraic) or as the right-hand side of an ODE whose
// observed states are columns (--ode).
import { compile, type Module } from '../../api';
import { column, parseCsv, type NumericTable } from '../../io/csv';
import { fit, type FitOptions, type FitProgress, type FitResult } from '../../train/fit';
import {
  DEFAULT_LOSS,
  DEFAULT_ODE_METHOD,
  DEFAULT_OPTIMIZER,
  LOSSES,
  names,
  ODE_METHODS,
  OPTIMIZERS,
  SCHEDULES,
  unknownChoice,
} from '../../train/settings';
import { nameList, readText, UsageError, type Command, type Io } from '../command';
import { paramsOption, programArgs, programText, reportError } from './eval';

const VALUED = [
  'data',
  'params',
  'target',
  'state',
  'time',
  'method',
  'window',
  'epochs',
  'lr',
  'optimizer',
  'loss',
  'schedule',
  'seed',
];
const FLAGS = ['ode', 'json', 'print'];

function whole(flag: string, value: string | true | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${flag} must be a whole number >= ${min}, got ${value}`);
  return Number(value);
}

function positive(flag: string, value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (typeof value !== 'string' || !(x > 0) || !Number.isFinite(x))
    throw new UsageError(`--${flag} must be a number > 0, got ${value}`);
  return x;
}

/** The value of --flag as one of the list's names; `what` names the setting in the message. */
function choice<N extends string>(
  flag: string,
  what: string,
  value: string | true | undefined,
  list: readonly { name: N }[],
): N | undefined {
  if (value === undefined) return undefined;
  const entry = list.find((e) => e.name === value);
  if (!entry) throw new UsageError(`--${flag}: ${unknownChoice(what, value, list)}`);
  return entry.name;
}

const alternatives = (list: readonly { name: string }[]): string => names(list).join('|');

/** The program's inputs from their columns, and the target column (named, else 'target', else the last other column). */
function algebraicData(model: Module, table: NumericTable, file: string, target: string | undefined) {
  const name =
    target ??
    (table.columns.includes('target') ? 'target' : [...table.columns].reverse().find((c) => !model.inputs.includes(c)));
  if (name === undefined)
    throw new Error(`${file}: every column is an input of the program; add a target column (or name it with --target)`);
  if (model.inputs.includes(name)) throw new Error(`--target ${name} is an input of the program, not a target`);
  return {
    inputs: Object.fromEntries(model.inputs.map((input) => [input, column(table, input, file)])),
    target: column(table, name, file),
  };
}

/** A one-line bar redrawn in place on a terminal. */
function progressBar(io: Io, total: number): (p: FitProgress) => void {
  return ({ step, loss }) => {
    const width = 30;
    const done = Math.round((width * step) / total);
    io.stderr(
      `\r[${'#'.repeat(done)}${'-'.repeat(width - done)}] ${String(step).padStart(String(total).length)}/${total} loss ${loss.toPrecision(4)}`,
    );
  };
}

function summary(result: FitResult): string {
  const width = Math.max(...Object.keys(result.params).map((n) => n.length));
  const lines = Object.entries(result.params).map(([name, v]) => `  ${name.padEnd(width)} = ${JSON.stringify(v)}`);
  const stop = result.converged ? ` (converged: ${result.stopReason})` : '';
  return `fitted in ${result.steps} steps${stop}, final loss ${result.loss.toPrecision(6)}\n${lines.join('\n')}\n`;
}

/** Said on stderr when the fit stopped without converging, so that its numbers are not taken as the answer. */
function notConverged(result: FitResult, lbfgs: boolean): string {
  const why = result.stopReason === 'aborted' ? 'it was stopped' : `its ${result.steps} steps ran out`;
  const fix = lbfgs ? 'more --epochs' : 'more --epochs, or --optimizer lbfgs (often far better on a few parameters)';
  return `warning: the fit did not converge (${why}); the values are not a minimum of the loss: try ${fix}\n`;
}

export const fitCommand: Command = {
  summary: "fit a program's parameters to the columns of a CSV file",
  usage:
    'neuralc fit PROGRAM --data FILE.csv --params JSON [--target COLUMN]\n' +
    '                     [--ode --state x,y [--time t] [--method M] [--window N]]\n' +
    `                     [--epochs N] [--lr X] [--optimizer ${alternatives(OPTIMIZERS)}]\n` +
    `                     [--loss ${alternatives(LOSSES)}] [--schedule ${alternatives(SCHEDULES)}]\n` +
    '                     [--seed N] [--json] [--print]\n' +
    '      --params \'{"G": 1}\' names the parameters and their initial values (a bare list starts each at 1.0).\n' +
    '      Algebraic: the CSV has a column per program input and the target column (default: target, else the last).\n' +
    '      --ode: the program returns d[state]/dt from the --state inputs (and the --time input, default t); the CSV\n' +
    '      has the time column and the observed states. It is integrated from the first row\n' +
    `      (--method ${alternatives(ODE_METHODS)}, default ${DEFAULT_ODE_METHOD}), or from every window of N rows\n` +
    '      with --window N (multiple shooting).\n' +
    `      Default ${DEFAULT_OPTIMIZER}, loss ${DEFAULT_LOSS}; every optimizer but L-BFGS defaults to 1000 epochs,\n` +
    '      a cosine schedule and gradients clipped at norm 5; L-BFGS to 50 epochs, no schedule.\n' +
    '      docs/training.md lists the choices.\n' +
    '      --json prints {"params", "loss", "steps", "converged", "stopReason"}. A fit that did not converge\n' +
    '      says so on stderr. A progress bar shows on stderr when it is a terminal.\n' +
    '      --print also prints the program with the fitted values written in as defines (with --json: "source").',
  async run(args, io) {
    const program = programArgs(args, VALUED, FLAGS);
    const { file, options } = program;
    const dataFile = options.get('data');
    if (typeof dataFile !== 'string') throw new UsageError('--data FILE.csv is required');
    const params = paramsOption(options.get('params'));
    if (!params) throw new UsageError(`--params is required, e.g. --params '{"k": 1}'`);
    const ode = options.has('ode');
    for (const flag of ['state', 'time', 'method', 'window'])
      if (!ode && options.has(flag)) throw new UsageError(`--${flag} needs --ode`);
    if (ode && options.has('target'))
      throw new UsageError('--target is for algebraic fits; with --ode the --state columns are the targets');
    const optimizer = choice('optimizer', 'optimizer', options.get('optimizer'), OPTIMIZERS) ?? DEFAULT_OPTIMIZER;
    const lbfgs = optimizer === 'lbfgs';
    const schedule = choice('schedule', 'schedule', options.get('schedule'), SCHEDULES);
    const method = choice('method', 'ODE method', options.get('method'), ODE_METHODS);
    const settings: FitOptions = {
      optimizer,
      loss: choice('loss', 'loss', options.get('loss'), LOSSES),
      epochs: whole('epochs', options.get('epochs'), 1) ?? (lbfgs ? 50 : 1000),
      lr: positive('lr', options.get('lr')),
      seed: whole('seed', options.get('seed'), 0),
      ...(lbfgs ? {} : { schedule: 'cosine', clip: 5 }),
      ...(schedule && { schedule }),
    };
    const state = nameList(options.get('state'));
    if (ode && (!state || state.length === 0))
      throw new UsageError('--ode needs --state x,y naming the state inputs (and their columns)');
    const json = options.has('json');

    let model: Module | undefined;
    try {
      model = compile(programText(program, io), { file, params });
      const known = Object.keys(model.namedParameters());
      for (const name of Object.keys(params))
        if (!known.includes(name))
          throw new Error(
            `unknown param '${name}': the program never reads it${known.length ? ` (its parameters are ${known.join(', ')})` : ''}`,
          );
      const table = parseCsv(readText(io, dataFile), dataFile);
      if (table.rows.length < 2)
        throw new Error(`${dataFile}: at least 2 data rows are needed, got ${table.rows.length}`);
      let data;
      if (ode) {
        const time = typeof options.get('time') === 'string' ? (options.get('time') as string) : 't';
        const window = whole('window', options.get('window'), 1);
        if (window !== undefined && window >= table.rows.length)
          throw new Error(`${dataFile}: --window ${window} needs more than ${window} rows, got ${table.rows.length}`);
        const columns = state!.map((name) => column(table, name, dataFile));
        data = { t: column(table, time, dataFile), observations: table.rows.map((_, i) => columns.map((c) => c[i])) };
        settings.ode = { state, method, windowSteps: window, ...(model.inputs.includes(time) ? { time } : {}) };
      } else {
        data = algebraicData(model, table, dataFile, options.get('target') as string | undefined);
      }
      // A bar on an interactive stderr only (never with --json), redrawn about a hundred times.
      const bar = !json && process.stderr.isTTY;
      if (bar)
        Object.assign(settings, {
          onProgress: progressBar(io, settings.epochs),
          progressEvery: Math.max(1, Math.floor(settings.epochs / 100)),
        });
      const result = await fit(model, data, settings);
      if (bar) io.stderr('\n');
      if (!result.converged) io.stderr(notConverged(result, lbfgs));
      const source = options.has('print') ? model.toSource() : undefined;
      const { params: fitted, loss, steps, converged, stopReason } = result;
      io.stdout(
        json
          ? `${JSON.stringify({ params: fitted, loss, steps, converged, stopReason, source })}\n`
          : summary(result) + (source ?? ''),
      );
      return 0;
    } catch (err) {
      reportError(err, io);
      return 1;
    } finally {
      model?.dispose();
    }
  },
};
